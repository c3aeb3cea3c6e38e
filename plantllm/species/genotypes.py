"""Genotypes of a VCF record: ALT dosage, and the ploidy of the calls against the species card.

Dosage of a sample = copies of the allele / number of called alleles. The card's ploidy is checked in
two ways (see ``read_vcf``): ``note_ploidy`` stops a read whose nuclear genotypes all have one other
ploidy (the dataset builders' check), ``check_genotype_ploidy`` checks every genotype (``variants score``):
more alleles than the card's ploidy, or fewer but more than one, is an error naming the line; haploid
calls are allowed.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import pysam

from plantllm.core.errors import InputFileError
from plantllm.species.card import SpeciesCard


class GenotypeError(ValueError):
    """A genotype allele index beyond the record's alleles."""


_SEP = re.compile(r"[/|]")


class RecordGenotypes:
    """The GT calls of one record as its distinct genotype strings and how many samples carry each.

    Read from the record's text (one ``str(rec)`` in htslib, ~20 us), not through pysam's per-sample proxies:
    those cost ~45 us a sample, 22 ms per ALT of a 480-sample panel, which would cap a breeding panel at ~45
    variants/s. A panel has few distinct calls (0/0, 0/1, 1/1, ./., phased forms), so every per-sample
    quantity is a sum over distinct strings (``collections.Counter`` counts them in C). The text keeps allele
    indices beyond the listed ALTs, which htslib's binary form reads as missing calls.
    """

    __slots__ = ("rec", "gts", "counts", "alleles")

    def __init__(self, rec: pysam.VariantRecord):
        self.rec, self.gts, self.counts, self.alleles = rec, [], Counter(), {}
        if not len(rec.header.samples):  # a sites-only VCF: no text to format
            return
        cols = str(rec).rstrip("\r\n").split("\t")
        keys = cols[8].split(":") if len(cols) > 9 else []
        if "GT" not in keys:
            return
        k = keys.index("GT")
        samples = cols[9:]
        self.gts = ([f.partition(":")[0] for f in samples] if k == 0 else
                    [(f.split(":")[k] if f.count(":") >= k else ".") for f in samples])
        self.counts = Counter(self.gts)
        n_alleles = len(rec.alleles or ())
        beyond = []
        for gt in self.counts:
            alleles = [None if a == "." else int(a) for a in _SEP.split(gt)]  # a malformed call: ValueError
            if any(a is not None and a >= n_alleles for a in alleles):
                beyond.append(gt)
            self.alleles[gt] = alleles
        if beyond:  # named by the first sample in file order that has one
            gt = min(beyond, key=self.gts.index)
            index = next(a for a in self.alleles[gt] if a is not None and a >= n_alleles)
            raise GenotypeError(f"sample {self.first_sample(gt)} has genotype {gt} but the site lists "
                                f"{n_alleles - 1} ALT allele{'s' if n_alleles != 2 else ''} (allele index {index} "
                                f"does not exist)")

    def first_sample(self, gt: str) -> str:
        return list(self.rec.header.samples)[self.gts.index(gt)]


_LAST: list = [None]


def genotypes_of(rec: pysam.VariantRecord) -> RecordGenotypes:
    """The record's ``RecordGenotypes``, parsed once for all its ALTs and checks (the last record is kept)."""
    got = _LAST[0]
    if got is None or got.rec is not rec:
        got = _LAST[0] = RecordGenotypes(rec)
    return got


def dosage_of(rec: pysam.VariantRecord, alt_index: int) -> tuple[float, int, int, int]:
    """(mean dosage, samples called, carriers, ploidy) for one ALT allele over all samples.

    Dosage of a sample = copies of the allele / number of called alleles (so 0/0/1/1 is 0.5,
    0/1/1/1/1/1 is 5/6); samples with missing genotypes are left out. The mean is summed exactly
    (``math.fsum``) over the distinct calls.
    """
    g = genotypes_of(rec)
    terms, called, carriers, ploidy = [], 0, 0, 0
    for gt, n in g.counts.items():
        alleles = g.alleles[gt]
        seen = [a for a in alleles if a is not None]
        if not seen:
            continue
        ploidy = max(ploidy, len(alleles))
        k = sum(1 for a in seen if a == alt_index)
        terms.append(n * k / len(seen))
        called += n
        carriers += n if k else 0
    return (math.fsum(terms) / called if called else math.nan), called, carriers, ploidy


def expected_ploidy(card: SpeciesCard, chrom: str) -> int | None:
    """Genotype ploidy the card implies on a nuclear chromosome (per subgenome for a subgenome-resolved
    polyploid: hexaploid wheat is called diploid on each of 1A, 1B, 1D); None for organelles."""
    c = next((x for x in card.chromosomes if x.name == chrom), None)
    if c is None or not c.nuclear:
        return None
    if card.subgenomes and c.subgenome and card.ploidy % len(card.subgenomes) == 0:
        return card.ploidy // len(card.subgenomes)
    return card.ploidy


#: nuclear records with genotypes that all contradict the card's ploidy before the read stops
PLOIDY_EVIDENCE = 200


def check_genotype_ploidy(rec, card: SpeciesCard, canon: str, shown: Path, line: int) -> None:
    """Every genotype of a nuclear record has the card's ploidy, or is haploid (see the module doc)."""
    want = expected_ploidy(card, canon)
    if want is None:
        return
    try:
        g = genotypes_of(rec)
    except (ValueError, TypeError):
        return  # malformed genotypes are reported by the dosage reader with their own message
    n_alleles = len(rec.alleles or ())
    bad = [gt for gt, al in g.alleles.items() if not (len(al) in (want, 1) or all(a is None for a in al))]
    if not bad:
        return
    gt = min(bad, key=g.gts.index)  # the first sample's, in file order
    al = g.alleles[gt]
    shown_gt = "/".join("." if a is None or a >= n_alleles else str(a) for a in al)
    per = f" ({want} per subgenome)" if want != card.ploidy else ""
    what = "more" if len(al) > want else "fewer"
    raise InputFileError(
        f"sample {g.first_sample(gt)} has the {len(al)}-ploid genotype {shown_gt} on {rec.chrom}:{rec.pos}, {what} "
        f"alleles than the card {card.name}'s ploidy {card.ploidy}{per} (only haploid calls may have fewer)",
        path=shown, line=line,
        fix=f"set 'ploidy: {len(al) * (card.ploidy // want)}' in {card.source or 'the card'} if the samples "
            f"are {len(al)}-ploid, or call the genotypes with the species' ploidy")


def note_ploidy(seen: dict, card: SpeciesCard, chrom: str | None, ploidy: int, name: str, line: int, p: Path,
                 final: bool = False) -> None:
    """Count nuclear records whose genotype ploidy agrees with the card; stop when every one so far
    (at least ``PLOIDY_EVIDENCE``, or all of a smaller file) has one other ploidy."""
    if not final:
        want = expected_ploidy(card, chrom)
        if want is None or ploidy == want:
            seen["agree"] += want is not None
            return
        seen["other"][ploidy] = seen["other"].get(ploidy, 0) + 1
        if seen["first"] is None:
            seen["first"] = (name, line, want)
    other = seen["other"]
    n = sum(other.values())
    if seen["agree"] or len(other) != 1 or (not final and n < PLOIDY_EVIDENCE) or not n:
        return
    (got,) = other
    name, first_line, want = seen["first"]
    raise InputFileError(
        f"the genotypes are {got}-ploid on every nuclear record ({n:,} read, first on {name}) but the card "
        f"{card.name} says ploidy {card.ploidy}" + (f" ({want} per subgenome)" if want != card.ploidy else ""),
        path=p, line=first_line,
        fix=f"set 'ploidy: {got * (card.ploidy // want) if want else got}' in {card.source or 'the card'} if the "
            f"samples are {got}-ploid, or give the VCF called for this species")
