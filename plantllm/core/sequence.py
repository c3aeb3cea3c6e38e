"""Pure sequence functions over strings and numpy uint8 arrays (no torch here).

Lookup tables of 256 entries turn bytes into codes in one numpy call, as in GPN's
``gpn/data.py``. Case is meaningful: lowercase marks soft-masked repeats.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

ACGT = "ACGT"
#: IUPAC nucleotide codes (upper case); anything else in a FASTA is an error.
IUPAC = set("ACGTUNRYSWKMBDHVN")
AMBIGUOUS = set("RYSWKMBDHVU")

_COMP_FROM = "ACGTUNRYSWKMBDHVacgtunryswkmbdhv"
_COMP_TO = "TGCAANYRSWMKVHDBtgcaanyrswmkvhdb"
_COMP = str.maketrans(_COMP_FROM, _COMP_TO)

#: byte -> 0..3 for ACGT (either case), 4 for N and other IUPAC codes, 255 for invalid bytes.
CODE = np.full(256, 255, dtype=np.uint8)
for _c in IUPAC:
    CODE[ord(_c)] = CODE[ord(_c.lower())] = 4
for _i, _c in enumerate(ACGT):
    CODE[ord(_c)] = CODE[ord(_c.lower())] = _i
#: byte -> 1 when lowercase (soft-masked)
LOWER = np.zeros(256, dtype=bool)
LOWER[np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)] = True
#: byte -> 1 for G/C (either case)
GC = np.zeros(256, dtype=bool)
GC[np.frombuffer(b"GCgc", dtype=np.uint8)] = True
#: byte -> 1 for A/C/G/T (either case): the bases GC content is measured over
DEFINITE = np.zeros(256, dtype=bool)
DEFINITE[np.frombuffer(b"ACGTacgt", dtype=np.uint8)] = True
#: upper-case ambiguity codes (besides N) -> N, case kept
_TO_N = str.maketrans({c: "N" for c in "RYSWKMBDHVU"} | {c.lower(): "n" for c in "RYSWKMBDHVU"})


def as_bytes(seq: str | bytes | np.ndarray) -> np.ndarray:
    if isinstance(seq, np.ndarray):
        return seq.astype(np.uint8, copy=False)
    if isinstance(seq, str):
        seq = seq.encode("ascii", errors="replace")
    return np.frombuffer(seq, dtype=np.uint8)


def reverse_complement(seq: str) -> str:
    """Reverse complement, keeping case (soft-mask) and IUPAC codes (R<->Y, K<->M, B<->V, D<->H)."""
    return seq.translate(_COMP)[::-1]


def encode(seq: str | bytes | np.ndarray) -> np.ndarray:
    """uint8 codes: A=0, C=1, G=2, T=3, N/ambiguous=4, invalid byte=255."""
    return CODE[as_bytes(seq)]


def gc_content(seq: str | bytes | np.ndarray) -> float:
    """G+C over A+C+G+T (N and ambiguous codes excluded); NaN for a sequence without definite bases."""
    b = as_bytes(seq)
    definite = int(DEFINITE[b].sum())
    if definite == 0:
        return float("nan")
    return float(GC[b].sum()) / definite


def n_fraction(seq: str | bytes | np.ndarray) -> float:
    b = as_bytes(seq)
    return float((CODE[b] == 4).mean()) if len(b) else 0.0


def soft_mask(seq: str | bytes | np.ndarray) -> np.ndarray:
    """Boolean per-base mask of lowercase (soft-masked) bases."""
    return LOWER[as_bytes(seq)]


def invalid_positions(seq: str | bytes | np.ndarray) -> np.ndarray:
    """0-based offsets of characters that are not IUPAC nucleotide codes."""
    return np.flatnonzero(CODE[as_bytes(seq)] == 255)


def ambiguous_positions(seq: str | bytes | np.ndarray) -> np.ndarray:
    """0-based offsets of IUPAC ambiguity codes other than N (R, Y, S, W, ...)."""
    b = as_bytes(seq)
    upper = b & 0xDF  # ASCII upper-casing
    return np.flatnonzero((CODE[b] == 4) & (upper != ord("N")))


def ambiguity_to_n(seq: str) -> str:
    return seq.translate(_TO_N)


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
