"""Genome regions named by a user: ``Chr1:1000-2000`` on the command line, BED files of regions,
repeats or peaks, all translated to canonical chromosome names and checked against the card.

BED lines are read by the one BED reader (``plantllm.core.tables.read_bed``); this module
adds what only the species layer knows: aliases, chromosome lengths, and the fix to suggest
when a file uses a name the card does not know.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from plantllm.core.errors import ChromosomeError, InputFileError, PlantLLMError, did_you_mean
from plantllm.core.intervals import merge
from plantllm.core.tables import BedRecord, read_bed
from plantllm.species.card import SpeciesCard


class NameMap:
    """Translates a file's sequence names to canonical card names, remembering unknown names and the
    first line each was seen on (so a file whose names all miss can be reported with a fix)."""

    def __init__(self, card: SpeciesCard, path: str | Path):
        self.card, self.path = card, Path(path)
        self.unknown: dict[str, int] = {}

    def __call__(self, name: str, lineno: int) -> str | None:
        canon = self.card.try_canonical(name)
        if canon is None:
            self.unknown.setdefault(name, lineno)
        return canon

    def check_interval(self, chrom: str, start: int, end: int, lineno: int) -> tuple[str, int, int]:
        if start < 0 or end <= start:
            raise InputFileError(f"bad interval {start}-{end} (start must be < end and >= 0)", path=self.path,
                                 line=lineno, fix="check the coordinate columns")
        n = self.card.chromosome(chrom).length
        if end > n:
            raise InputFileError(f"interval ends at {end:,}, beyond {chrom}'s length {n:,}", path=self.path,
                                 line=lineno, fix="the file belongs to another assembly")
        return chrom, start, end

    def raise_unknown(self, what: str) -> None:
        """The error for a file none of whose names the card knows."""
        first = min(self.unknown, key=self.unknown.get)
        raise ChromosomeError(
            f"{what}: sequence '{first}' is not a chromosome or alias of {self.card.name}"
            f"{did_you_mean(first, self.card._alias)}", path=f"{self.path}:{self.unknown[first]}",
            fix=f"add '{first}' to the aliases of the right chromosome in {self.card.source or 'the card'}")


def bed_records(path: str | Path, card: SpeciesCard, what: str = "BED", *, strict: bool = True,
                names: NameMap | None = None) -> tuple[list[tuple[str, BedRecord]], NameMap]:
    """(canonical chromosome, record) of each BED line on a chromosome of the card, checked against
    its length. ``strict``: a name the card does not know is an error; else it is counted in the
    returned NameMap's ``unknown`` (e.g. repeats on unplaced scaffolds the card leaves out)."""
    names = names or NameMap(card, path)
    out = []
    for rec in read_bed(path, what):
        chrom = names(rec.chrom, rec.line)
        if chrom is None:
            if strict:
                names.raise_unknown(what)
            continue
        names.check_interval(chrom, rec.start, rec.end, rec.line)
        out.append((chrom, rec))
    return out, names


def read_bed_regions(path: str | Path, card: SpeciesCard, what: str = "BED") -> list[tuple[str, int, int]]:
    """Sorted, merged (canonical chrom, start, end) regions of a BED file."""
    recs, _ = bed_records(path, card, what)
    order = {c.name: i for i, c in enumerate(card.chromosomes)}
    by: dict[str, list[tuple[int, int]]] = {}
    for chrom, r in recs:
        by.setdefault(chrom, []).append((r.start, r.end))
    return [(c, s, e) for c in sorted(by, key=order.get) for s, e in merge(by[c])]


def parse_region(text: str, card: SpeciesCard, length_of: Callable[[str], int] | None = None
                 ) -> tuple[str, int, int]:
    """'Chr1:1000-2000' (1-based, inclusive, as genome browsers write it) or 'Chr1' -> canonical 0-based
    half-open. ``length_of``: chromosome lengths of the FASTA (``Genome.length``) where they may differ
    from the card's (a partial genome)."""
    name, _, span = text.partition(":")
    chrom = card.canonical(name)
    n = length_of(chrom) if length_of is not None else card.chromosome(chrom).length
    if not span:
        return chrom, 0, n
    try:
        a, b = (int(x.replace(",", "")) for x in span.split("-"))
    except ValueError:
        raise PlantLLMError(f"region '{text}' must look like Chr1:1000-2000") from None
    if not 1 <= a <= b <= n:
        raise PlantLLMError(f"region '{text}' is outside {chrom} (1..{n:,})")
    return chrom, a - 1, b

