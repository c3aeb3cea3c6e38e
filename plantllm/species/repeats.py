"""Repeats: one interval set from the soft-mask, RepeatMasker, a TE GFF3 or a BED.

Every source is read into a pybedtools BedTool with canonical chromosome names,
then sorted and merged by bedtools. Downstream stages ask for a per-base mask,
a per-window repeat fraction or a per-base loss weight (repeats down-weighted by
the card's ``repeats.weight``, as GPN does during pretraining).

Coordinates: 0-based half-open (BED); readers convert 1-based inputs once.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np
import pybedtools

from plantllm.core import sequence as sq
from plantllm.core.cache import cache_dir
from plantllm.core.errors import ChromosomeError, InputFileError, did_you_mean
from plantllm.species.genome import Genome
from plantllm.core.io import atomic_path, fingerprint, open_text, require_file
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


CACHE_VERSION = 1  # of the cached arrays' layout
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
        if self.source == "soft_mask" and genome is None:
            genome = Genome(card)
        cache = self._cache_file(genome)
        tracks = self._load(cache) if cache is not None else None
        if tracks is None:
            tracks = self._merged(self._read(genome))
            if cache is not None:
                self._save(cache, tracks)
        self.index = IntervalIndex.from_tracks(tracks)

    # ------------------------------------------------------------ reading, once per source file
    def _read(self, genome: Genome | None) -> list[tuple[str, int, int]]:
        card = self.card
        if self.source == "none":
            rows: list[tuple[str, int, int]] = []
        elif self.source == "soft_mask":
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
        return rows

    def _merged(self, rows: list[tuple[str, int, int]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """bedtools sort + merge; (starts, ends) per chromosome in card order."""
        order = {c.name: i for i, c in enumerate(self.card.chromosomes)}
        by: dict[str, tuple[list[int], list[int]]] = {}
        for iv in (pybedtools.BedTool(rows).sort().merge() if rows else ()):
            got = by.setdefault(iv.chrom, ([], []))
            got[0].append(iv.start)
            got[1].append(iv.end)
        return {c: (np.array(by[c][0], np.int64), np.array(by[c][1], np.int64))
                for c in sorted(by, key=order.__getitem__)}

    def _cache_file(self, genome: Genome | None) -> Path | None:
        """Where the merged intervals of this source are kept (``core.cache``): keyed by the file, its size and
        modification time and the card's chromosome names, so every later process (each rank of a genome-wide
        job) loads arrays instead of reading a whole genome's soft-mask or repeat file again."""
        src = genome.path if self.source == "soft_mask" else self.path
        if self.source == "none" or src is None or not Path(src).exists():
            return None
        key = json.dumps({"version": CACHE_VERSION, "source": self.source, "file": str(Path(src).resolve()),
                          "fingerprint": fingerprint(src), "chromosomes": [c.name for c in self.card.chromosomes],
                          "aliases": sorted(self.card._alias.items())}, sort_keys=True)
        return cache_dir("repeats", key) / "repeats.npz"

    def _load(self, path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                chroms = json.loads(str(z["chromosomes"]))
                self.unknown = json.loads(str(z["unknown"]))
                return {c: (z[f"s{i}"], z[f"e{i}"]) for i, c in enumerate(chroms)}
        except (OSError, ValueError, KeyError):  # cut short or of another layout: read the source again
            return None

    def _save(self, path: Path, tracks: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        arrays = {"chromosomes": np.array(json.dumps(list(tracks))), "unknown": np.array(json.dumps(self.unknown))}
        for i, (s, e) in enumerate(tracks.values()):
            arrays[f"s{i}"], arrays[f"e{i}"] = s, e
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:  # a file object: numpy adds no suffix
            np.savez_compressed(fh, **arrays)

    @cached_property
    def bedtool(self) -> pybedtools.BedTool:
        """The merged intervals as bedtools sorts them (chromosome name, then start)."""
        rows = [(c, int(s), int(e)) for c in sorted(self.index.keys())
                for s, e in zip(*(a.tolist() for a in self.index.intervals(c)))]
        return pybedtools.BedTool(rows) if rows else pybedtools.BedTool([])

    def intervals(self, chrom: str) -> tuple[np.ndarray, np.ndarray]:
        """Sorted, merged (starts, ends) of one chromosome (canonical or alias)."""
        return self.index.intervals(self.card.canonical(chrom))

    def mask(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Boolean per-base repeat mask of ``chrom[start:end]``."""
        return self.index.mask(self.card.canonical(chrom), start, end)

    def covers(self, chrom: str, pos: int) -> bool:
        """Is the 0-based base ``pos`` of ``chrom`` repeat sequence?"""
        return self.index.covered(self.card.canonical(chrom), pos)

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
