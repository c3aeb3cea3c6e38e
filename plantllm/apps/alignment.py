"""Ortholog groups aligned to the reference, column by column in reference coordinates, and elements called
from the columns.

Each species' region is aligned pairwise to the reference region (Biopython's ``PairwiseAligner``, global with
free end gaps, blastn-like scores), and projected onto the reference: for every reference base, the aligned base
of that species and its offset in the species' region (-1 under a gap). A star alignment to one reference is what
the tracks need (every column is a reference base) and avoids an external MSA tool.

Calling (pure numpy): a column is conserved in sequence when the identity over a sliding window is at least
``min_identity`` in every species of the group; constrained when the windowed mean LLR (the model's zero-shot
score, more negative = more constrained) is at or below each species' own threshold, in the reference and in every
other species. Elements are runs of at least ``min_length`` such columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSES = ("sequence", "constraint", "both")


def aligner():
    """Global alignment with free end gaps (regions' ends need not match), blastn's match/mismatch/gap scores."""
    from Bio.Align import PairwiseAligner

    a = PairwiseAligner(mode="global", match_score=2, mismatch_score=-3, open_gap_score=-5, extend_gap_score=-2)
    a.end_insertion_score = a.end_deletion_score = 0.0  # free end gaps (Biopython >= 1.85 names)
    return a


@dataclass
class Projection:
    """One species' region on the reference's columns: ``offset[i]`` (in the species' oriented region, -1 under
    a gap) and ``match[i]`` for every reference base ``i``."""

    offset: np.ndarray
    match: np.ndarray

    @property
    def aligned_fraction(self) -> float:
        return float((self.offset >= 0).mean()) if len(self.offset) else 0.0

    @property
    def identity(self) -> float:
        """Matches over aligned reference columns."""
        n = int((self.offset >= 0).sum())
        return float(self.match.sum()) / n if n else 0.0


def project(ref: str, other: str, al=None) -> Projection:
    """Align ``other`` to ``ref`` (both in their orientation, upper case) and project it onto ``ref``'s bases."""
    al = al or aligner()
    offset = np.full(len(ref), -1, dtype=np.int64)
    if ref and other:
        aln = al.align(ref, other)[0]
        for (rs, re_), (os_, _oe) in zip(*aln.aligned):
            offset[rs:re_] = np.arange(os_, os_ + (re_ - rs))
    r = np.frombuffer(ref.encode(), np.uint8)
    o = np.frombuffer(other.encode(), np.uint8) if other else np.zeros(0, np.uint8)
    ok = offset >= 0
    match = np.zeros(len(ref), bool)
    match[ok] = (r[ok] == o[offset[ok]]) & (r[ok] != ord("N"))
    return Projection(offset, match)


def windowed(values: np.ndarray, window: int) -> np.ndarray:
    """Centred sliding mean over ``window`` columns ignoring NaN (NaN where the window holds no value)."""
    v = np.asarray(values, float)
    ok = ~np.isnan(v)
    kernel = np.ones(max(1, window))
    s = np.convolve(np.where(ok, v, 0.0), kernel, mode="same")
    n = np.convolve(ok.astype(float), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def runs(mask: np.ndarray, min_length: int) -> list[tuple[int, int]]:
    """(start, end) of each run of True at least ``min_length`` long."""
    m = np.concatenate(([False], np.asarray(mask, bool), [False]))
    d = np.diff(m.astype(np.int8))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return [(int(s), int(e)) for s, e in zip(starts, ends) if e - s >= min_length]


@dataclass
class GroupColumns:
    """Per-column tracks of one group in reference coordinates (index = reference region offset)."""

    identity: dict[str, np.ndarray]      # windowed identity of each other species
    constraint: dict[str, np.ndarray]    # windowed mean LLR of every species (reference included), projected
    raw_constraint: dict[str, np.ndarray]  # per-base mean LLR, projected (NaN under gaps)
    seq_conserved: np.ndarray
    constrained: np.ndarray

    def elements(self, min_length: int) -> dict[str, list[tuple[int, int]]]:
        return {"sequence": runs(self.seq_conserved, min_length), "constraint": runs(self.constrained, min_length),
                "both": runs(self.seq_conserved & self.constrained, min_length)}


def group_columns(reference: str, projections: dict[str, Projection], llr: dict[str, np.ndarray],
                  thresholds: dict[str, float], *, window: int, min_identity: float) -> GroupColumns:
    """Identity and constraint columns of one group. ``llr[species]`` is the per-base mean LLR along each species'
    oriented region (the reference's under ``reference``); ``thresholds`` the species' constraint cut-offs."""
    n = len(next(iter(llr.values()))) if reference in llr else 0
    ident, cons, raw = {}, {}, {}
    for sp, p in projections.items():
        ident[sp] = windowed(p.match.astype(float), window)
    if reference in llr:
        raw[reference] = np.asarray(llr[reference], float)
    for sp, p in projections.items():
        if sp in llr:
            v = np.full(len(p.offset), np.nan)
            ok = p.offset >= 0
            v[ok] = np.asarray(llr[sp], float)[p.offset[ok]]
            raw[sp] = v
    for sp, v in raw.items():
        cons[sp] = windowed(v, window)
    n = len(next(iter(projections.values())).offset) if projections else n
    seq = np.ones(n, bool) if projections else np.zeros(n, bool)
    for sp in projections:
        seq &= ident[sp] >= min_identity
    con = np.ones(n, bool) if cons else np.zeros(n, bool)
    for sp, v in cons.items():
        with np.errstate(invalid="ignore"):
            con &= np.nan_to_num(v, nan=np.inf) <= thresholds[sp]
    return GroupColumns(ident, cons, raw, seq, con)


def to_genome(start: int, end: int, strand: str, a: int, b: int) -> tuple[int, int]:
    """Genome interval of offsets ``[a, b)`` of an oriented region ``[start, end)`` on ``strand``."""
    return (start + a, start + b) if strand != "-" else (end - b, end - a)
