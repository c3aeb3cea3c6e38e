"""Pieces shared by the task builders: random loci, TSS exclusion, GC matching, shuffles."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from plantllm.core import sequence as sq
from plantllm.species.assembly import Assembly


class TssIndex:
    """Sorted TSS positions per chromosome (all transcripts) for distance queries."""

    def __init__(self, asm: Assembly):
        by: dict[str, list[int]] = defaultdict(list)
        for t in asm.annotation.transcripts:
            by[t.chrom].append(t.tss)
        self.pos = {c: np.array(sorted(v), dtype=np.int64) for c, v in by.items()}

    def distance(self, chrom: str, pos: int) -> int:
        arr = self.pos.get(chrom)
        if arr is None or arr.size == 0:
            return 1 << 62
        i = int(np.searchsorted(arr, pos))
        d = []
        if i < arr.size:
            d.append(abs(int(arr[i]) - pos))
        if i > 0:
            d.append(abs(int(arr[i - 1]) - pos))
        return min(d)


def random_loci(asm: Assembly, chroms: list[str], length: int, rng: np.random.Generator):
    """Endless uniform random (chrom, start, strand) over the given chromosomes, by length."""
    lengths = np.array([asm.genome.length(c) - length for c in chroms], dtype=np.float64)
    if (lengths <= 0).all():
        return
    p = np.clip(lengths, 0, None) / np.clip(lengths, 0, None).sum()
    while True:
        k = rng.choice(len(chroms), size=4096, p=p)
        for ci in k:
            c = chroms[ci]
            yield c, int(rng.integers(0, int(lengths[ci]))), "+" if rng.random() < 0.5 else "-"


def gc_match(target_gc: np.ndarray, pool_gc: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices into ``pool_gc`` (without replacement) whose GC best matches each target.

    Bins both on 2% GC and draws from the same bin, falling back to the nearest bin with
    candidates left; returns -1 for targets left unmatched.
    """
    bins = np.linspace(0, 1, 51)
    tb = np.clip(np.digitize(target_gc, bins) - 1, 0, 49)
    pb = np.clip(np.digitize(pool_gc, bins) - 1, 0, 49)
    avail = {b: list(rng.permutation(np.flatnonzero(pb == b))) for b in range(50)}
    out = np.full(len(target_gc), -1, dtype=np.int64)
    for i in rng.permutation(len(target_gc)):
        b = int(tb[i])
        for d in range(50):
            for cand in (b - d, b + d):
                if 0 <= cand < 50 and avail[cand]:
                    out[i] = avail[cand].pop()
                    break
            if out[i] >= 0:
                break
    return out


def dinucleotide_shuffle(seq: str, rng: np.random.Generator) -> str:
    """Shuffle preserving dinucleotide counts exactly (Altschul & Erickson 1985, Euler path).

    Written here because the field's implementations (tangermeme, MEME's fasta-shuffle-letters)
    work on one-hot tensors or need an external binary; this is the textbook algorithm on a string.
    Case is dropped (the result is upper case).
    """
    s = seq.upper()
    if len(s) < 3:
        return s
    edges: dict[str, list[str]] = defaultdict(list)
    for a, b in zip(s, s[1:]):
        edges[a].append(b)
    last = s[-1]
    while True:
        # a random last exit edge for every vertex but the final one; they must form a tree into `last`
        last_exit = {v: int(rng.integers(len(out))) for v, out in edges.items() if v != last}
        ok = True
        for v in last_exit:
            seen, u = set(), v
            while u != last:
                if u in seen:
                    ok = False
                    break
                seen.add(u)
                u = edges[u][last_exit[u]]
            if not ok:
                break
        if ok:
            break
    order: dict[str, list[str]] = {}
    for v, out in edges.items():
        out = list(out)
        keep = out.pop(last_exit[v]) if v in last_exit else None
        rng.shuffle(out)
        if keep is not None:
            out.append(keep)
        order[v] = out
    res, u = [s[0]], s[0]
    ptr = defaultdict(int)
    for _ in range(len(s) - 1):
        nxt = order[u][ptr[u]]
        ptr[u] += 1
        res.append(nxt)
        u = nxt
    return "".join(res)


def gc_of(seq: str) -> float:
    g = sq.gc_content(seq)
    return 0.0 if g != g else g
