"""Leak-free splits of sequences without coordinates: groups of identical and overlapping sequences.

A table of sequences (a benchmark CSV, a lab's STARR-seq library) often holds the same sequence
twice, a sequence and its reverse complement, or overlapping windows tiled from one locus. Splitting
rows at random would put such pairs on both sides of train/test. Here every sequence is reduced to
its canonical (strand-free) minimizers -- for each window of ``w`` consecutive ``k``-mers the k-mer
whose hash of min(k-mer, reverse complement) is smallest -- and sequences that share a minimizer
are joined into one group (union-find). Two sequences sharing a stretch of at least ``k + w - 1``
bases (51 by default), on either strand, always share a minimizer, so identical sequences, reverse
complements and windows overlapping by >= 50 bp land in one group. Minimizers found in more than
``max_shared`` sequences (repeats, low-complexity stretches such as poly-A) are ignored so that they
do not chain unrelated sequences into one group. Each group goes to one split by a seeded hash.

Written with numpy here (not a library) because the field's minimizer tools (e.g. mmseqs2, minimap2)
are external binaries that cluster by alignment identity; what is needed is only exact shared stretches.
"""

from __future__ import annotations

import hashlib

import numpy as np

from plantllm.core import console as con
from plantllm.core.sequence import encode

K, W = 32, 20
_MASK = np.uint64((1 << 64) - 1)


def _hash(x: np.ndarray) -> np.ndarray:
    """A 64-bit mix (splitmix64's finalizer) so that minimizers are not biased to poly-A."""
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def minimizers(seq: str, w: int = W) -> np.ndarray:
    """The distinct canonical minimizer hashes of ``seq``'s 32-mers (k-mers holding N are skipped)."""
    codes = encode(seq).astype(np.int64)
    n = len(codes) - K + 1
    if n <= 0:
        return np.array([int.from_bytes(hashlib.blake2b(canonical(seq).encode(), digest_size=8).digest(), "big")],
                        dtype=np.uint64)
    # a 32-mer as two exact 16-mer codes (16 x 2 bits each), by convolution: no Python loop over positions
    c = np.minimum(codes, 3)
    kern = 4 ** np.arange(16, dtype=np.int64)
    f16 = np.convolve(c, kern, "valid").astype(np.uint64)          # sum_j c[i+j] 4^(15-j)
    r16 = np.convolve(3 - c, kern[::-1], "valid").astype(np.uint64)  # reverse complement of the same 16 bases
    s32 = np.uint64(32)
    fwd = (f16[:n] << s32) | f16[16:16 + n]
    rev = (r16[16:16 + n] << s32) | r16[:n]
    h = _hash(np.minimum(fwd, rev))
    h[np.convolve((codes == 4).astype(np.int64), np.ones(K, np.int64), "valid") > 0] = _MASK
    if len(h) > w:
        h = np.lib.stride_tricks.sliding_window_view(h, w).min(1)
    h = np.unique(h)
    return h[h != _MASK]


def canonical(seq: str) -> str:
    """The smaller of the sequence and its reverse complement (upper case): one key for both strands."""
    from plantllm.core.sequence import reverse_complement

    s = seq.upper()
    return min(s, reverse_complement(s))


def groups(seqs: list[str], max_shared: int | None = None) -> tuple[np.ndarray, dict]:
    """A group index per sequence (identical, reverse-complement and overlapping sequences share one) and
    counts for the manifest."""
    n = len(seqs)
    max_shared = max_shared or max(20, n // 1000)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    per_seq = [minimizers(s) for s in con.track(seqs, "minimizers of the sequences", total=n, unit="sequences")]
    allm = np.concatenate(per_seq) if per_seq else np.empty(0, np.uint64)
    owner = np.repeat(np.arange(n), [len(m) for m in per_seq])
    order = np.argsort(allm, kind="stable")
    allm, owner = allm[order], owner[order]
    starts = np.flatnonzero(np.r_[True, np.diff(allm) != 0])
    runs = np.diff(np.r_[starts, len(allm)])  # sequences holding each minimizer (distinct within a sequence)
    ignored = int((runs > max_shared).sum())
    for a, m in zip(starts[(runs >= 2) & (runs <= max_shared)].tolist(), runs[(runs >= 2) & (runs <= max_shared)].tolist()):
        members = owner[a:a + m]
        root = find(int(members[0]))
        for j in members[1:]:
            r = find(int(j))
            if r != root:
                parent[r] = root
    roots = np.array([find(i) for i in range(n)])
    _, gid = np.unique(roots, return_inverse=True)
    sizes = np.bincount(gid)
    return gid, {"k": K, "w": W, "groups": int(len(sizes)), "rows_in_shared_groups": int(sizes[sizes > 1].sum()),
                 "largest_group": int(sizes.max()) if n else 0, "max_shared": max_shared,
                 "minimizers_ignored_as_repeats": ignored}


def group_keys(seqs: list[str], gid: np.ndarray) -> dict[int, str]:
    """A key per group that does not depend on row order: the smallest canonical sequence of its members."""
    keys: dict[int, str] = {}
    for s, g in zip(seqs, gid.tolist()):
        c = canonical(s)
        if g not in keys or c < keys[g]:
            keys[g] = c
    return keys


def group_unit(key: str, seed: int) -> float:
    """A number in [0, 1) from a group's key and the seed (stable across runs and machines): the draw that
    ``Splitter.by_fraction`` turns into the group's split."""
    h = hashlib.blake2b(f"table-group|{seed}|{key}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64
