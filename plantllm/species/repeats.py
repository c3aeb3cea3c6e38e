"""Repeats: one interval set from the soft-mask, RepeatMasker, a TE GFF3 or a BED.

Every source is read into a pybedtools BedTool with canonical chromosome names,
then sorted and merged by bedtools. Downstream stages ask for a per-base mask,
a per-window repeat fraction or a per-base loss weight (repeats down-weighted by
the card's ``repeats.weight``, as GPN does during pretraining).

Coordinates: 0-based half-open (BED); readers convert 1-based inputs once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pybedtools

from plantllm.core import sequence as sq
from plantllm.core.errors import ChromosomeError, InputFileError, did_you_mean
from plantllm.species.genome import Genome
from plantllm.core.io import open_text, require_file
from plantllm.core.intervals import IntervalIndex
from plantllm.core.tables import checked_lines  # UTF-16 / truncated gzip -> one line
from plantllm.species.card import SpeciesCard
from plantllm.species.regions import NameMap, bed_records


def _ints(path: Path, lineno: int, *vals: str) -> list[int]:
    try:
        return [int(v) for v in vals]
    except ValueError:
        raise InputFileError(f"expected integer coordinates, got {vals}", path=path, line=lineno) from None


def read_rmsk_out(r: NameMap) -> list[tuple[str, int, int]]:
    """RepeatMasker ``.out``: 3 header lines, whitespace columns, query begin/end 1-based (cols 5-7)."""
    out = []
    with open_text(r.path) as fh:
        for lineno, line in enumerate(checked_lines(r.path, fh), 1):
            f = line.split()
            if not f or f[0] in ("SW", "score") or not f[0].replace(".", "").isdigit():
                continue
            if len(f) < 14:
                raise InputFileError(f"RepeatMasker .out line has {len(f)} fields, expected at least 14",
                                     path=r.path, line=lineno)
            chrom = r(f[4], lineno)
            if chrom:
                s, e = _ints(r.path, lineno, f[5], f[6])
                out.append(r.check_interval(chrom, s - 1, e, lineno))
    return out


def read_rmsk_table(r: NameMap) -> list[tuple[str, int, int]]:
    """UCSC ``rmsk`` table (tab separated, genoName/genoStart/genoEnd columns, genoStart 0-based)."""
    out = []
    cols = None
    with open_text(r.path) as fh:
        for lineno, line in enumerate(checked_lines(r.path, fh), 1):
            f = line.rstrip("\n").split("\t")
            if cols is None:
                if line.startswith("#"):
                    names = [c.lstrip("#") for c in f]
                    if not {"genoName", "genoStart", "genoEnd"} <= set(names):
                        raise InputFileError("UCSC rmsk header lacks genoName/genoStart/genoEnd", path=r.path,
                                             line=lineno)
                    cols = [names.index(c) for c in ("genoName", "genoStart", "genoEnd")]
                    continue
                cols = [5, 6, 7]  # the UCSC table layout without a header
            if len(f) <= max(cols):
                raise InputFileError(f"rmsk line has {len(f)} columns", path=r.path, line=lineno)
            chrom = r(f[cols[0]], lineno)
            if chrom:
                s, e = _ints(r.path, lineno, f[cols[1]], f[cols[2]])
                out.append(r.check_interval(chrom, s, e, lineno))
    return out


def read_te_gff(r: NameMap) -> list[tuple[str, int, int]]:
    """TE annotation GFF3 (EDTA and similar): every feature is repeat sequence; 1-based closed."""
    out = []
    with open_text(r.path) as fh:
        for lineno, line in enumerate(checked_lines(r.path, fh), 1):
            if line.startswith("#") or not line.strip():
                continue
            f = line.rstrip("\n").split("\t")
            if len(f) != 9:
                raise InputFileError(f"expected 9 tab-separated columns, found {len(f)}", path=r.path, line=lineno)
            chrom = r(f[0], lineno)
            if chrom:
                s, e = _ints(r.path, lineno, f[3], f[4])
                if s > e:
                    raise InputFileError(f"start {s} > end {e} (wrong coordinate order)", path=r.path, line=lineno)
                out.append(r.check_interval(chrom, s - 1, e, lineno))
    return out


def read_bed(r: NameMap) -> list[tuple[str, int, int]]:
    recs, _ = bed_records(r.path, r.card, "BED", strict=False, names=r)
    return [(chrom, rec.start, rec.end) for chrom, rec in recs]


def soft_mask_intervals(genome: Genome) -> list[tuple[str, int, int]]:
    """Runs of lowercase bases, chromosome by chromosome in bounded chunks."""
    out: list[tuple[str, int, int]] = []
    for chrom in genome.chromosomes(nuclear_only=False):
        carry = None  # a run open at the end of the previous chunk
        for off, seq in genome.iter_chunks(chrom):
            m = sq.soft_mask(seq).astype(np.int8)
            d = np.diff(np.concatenate(([0], m, [0])))
            starts, ends = np.flatnonzero(d == 1) + off, np.flatnonzero(d == -1) + off
            for s, e in zip(starts.tolist(), ends.tolist()):
                if carry is not None and s == carry[1]:
                    carry = (carry[0], e)
                    continue
                if carry is not None:
                    out.append((chrom, *carry))
                carry = (s, e)
        if carry is not None:
            out.append((chrom, *carry))
    return out


READERS = {"rmsk_out": read_rmsk_out, "rmsk_table": read_rmsk_table, "te_gff": read_te_gff, "bed": read_bed}


class Repeats:
    """Merged repeat intervals of a species, from the source its card names.

    Parameters
    ----------
    card : SpeciesCard
    genome : Genome, optional
        Needed for ``source: soft_mask``.
    source, path : optional
        Override the card's ``repeats.source`` / ``repeats.path``.
    """

    def __init__(self, card: SpeciesCard, genome: Genome | None = None, *, source: str | None = None,
                 path: str | Path | None = None, weight: float | None = None):
        self.card = card
        self.source = source or card.repeats.source
        self.weight = card.repeats.weight if weight is None else weight
        self.path = Path(path) if path else card.repeats.path
        self.unknown: dict[str, int] = {}
        if self.source == "none":
            rows: list[tuple[str, int, int]] = []
        elif self.source == "soft_mask":
            if genome is None:
                genome = Genome(card)
            rows = soft_mask_intervals(genome)
        else:
            if self.path is None:
                raise InputFileError(f"repeats.source '{self.source}' needs a file", path=card.source,
                                     fix="set repeats.path in the card or pass --repeats")
            reader = READERS[self.source]
            r = NameMap(card, require_file(self.path, "repeat annotation"))
            rows = reader(r)
            self.unknown = r.unknown
            if not rows:
                names = ", ".join(sorted(self.unknown)[:3])
                if self.unknown:
                    first = sorted(self.unknown)[0]
                    raise ChromosomeError(
                        f"no repeat sequence names match the card: {names}{did_you_mean(first, card._alias)}",
                        path=self.path, line=self.unknown[first],
                        fix=f"add '{first}' as an alias in {card.source or 'the card'}")
                raise InputFileError("no repeat intervals found (empty or truncated file)", path=self.path)
        order = {c.name: i for i, c in enumerate(card.chromosomes)}
        rows.sort(key=lambda x: (order[x[0]], x[1]))
        self.bedtool = pybedtools.BedTool(rows).sort().merge() if rows else pybedtools.BedTool([])
        self.index = IntervalIndex((iv.chrom, iv.start, iv.end) for iv in self.bedtool)

    def intervals(self, chrom: str) -> tuple[np.ndarray, np.ndarray]:
        """Sorted, merged (starts, ends) of one chromosome (canonical or alias)."""
        return self.index.intervals(self.card.canonical(chrom))

    def mask(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Boolean per-base repeat mask of ``chrom[start:end]``."""
        return self.index.mask(self.card.canonical(chrom), start, end)

    def fraction(self, chrom: str, start: int, end: int) -> float:
        return float(self.mask(chrom, start, end).mean()) if end > start else 0.0

    def weights(self, chrom: str, start: int, end: int) -> np.ndarray:
        """float32 per-base loss weight: ``weight`` on repeats, 1.0 elsewhere."""
        w = np.ones(end - start, dtype=np.float32)
        w[self.mask(chrom, start, end)] = self.weight
        return w

    def coverage(self) -> dict[str, int]:
        return {c: self.index.coverage(c) for c in self.index.keys()}

    def to_bed(self, path: str | Path) -> Path:
        from plantllm.core.io import atomic_path

        with atomic_path(path) as tmp:
            self.bedtool.saveas(str(tmp))
        return Path(path)
