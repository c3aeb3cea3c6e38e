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
from pathlib import Path

import pysam

from plantllm.core.errors import InputFileError
from plantllm.species.card import SpeciesCard


def dosage_of(rec: pysam.VariantRecord, alt_index: int) -> tuple[float, int, int, int]:
    """(mean dosage, samples called, carriers, ploidy) for one ALT allele over all samples.

    Dosage of a sample = copies of the allele / number of called alleles (so 0/0/1/1 is 0.5,
    0/1/1/1/1/1 is 5/6); samples with missing genotypes are left out.
    """
    total, called, carriers, ploidy = 0.0, 0, 0, 0
    n_alleles = len(rec.alleles or ())
    for s in rec.samples.values():
        gt = s.get("GT")
        if gt is None:
            continue
        if None in gt:
            _check_gt_text(rec, n_alleles)
        alleles = [a for a in gt if a is not None]
        if not alleles:
            continue
        ploidy = max(ploidy, len(gt))
        k = sum(1 for a in alleles if a == alt_index)
        total += k / len(alleles)
        called += 1
        carriers += k > 0
    return (total / called if called else math.nan), called, carriers, ploidy


class GenotypeError(ValueError):
    """A genotype allele index beyond the record's alleles."""


def _check_gt_text(rec: pysam.VariantRecord, n_alleles: int) -> None:
    """htslib reads an allele index beyond the listed ALTs as a missing call; the record's text tells them apart."""
    cols = str(rec).rstrip("\r\n").split("\t")
    if len(cols) < 10:
        return
    keys = cols[8].split(":")
    if "GT" not in keys:
        return
    k = keys.index("GT")
    for name, field_ in zip(rec.samples, cols[9:]):
        parts = field_.split(":")
        gt = parts[k] if k < len(parts) else "."
        for a in re.split(r"[/|]", gt):
            if a.isdigit() and int(a) >= n_alleles:
                raise GenotypeError(f"sample {name} has genotype {gt} but the site lists {n_alleles - 1} ALT "
                                    f"allele{'s' if n_alleles != 2 else ''} (allele index {a} does not exist)")


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
    for name, s in rec.samples.items():
        try:
            gt = s.get("GT")
        except (ValueError, TypeError):
            return  # malformed genotypes are reported by the dosage reader with their own message
        if gt is None or len(gt) in (want, 1) or all(a is None for a in gt):
            continue
        shown_gt = "/".join("." if a is None else str(a) for a in gt)
        per = f" ({want} per subgenome)" if want != card.ploidy else ""
        what = "more" if len(gt) > want else "fewer"
        raise InputFileError(
            f"sample {name} has the {len(gt)}-ploid genotype {shown_gt} on {rec.chrom}:{rec.pos}, {what} alleles "
            f"than the card {card.name}'s ploidy {card.ploidy}{per} (only haploid calls may have fewer)",
            path=shown, line=line,
            fix=f"set 'ploidy: {len(gt) * (card.ploidy // want)}' in {card.source or 'the card'} if the samples "
                f"are {len(gt)}-ploid, or call the genotypes with the species' ploidy")


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
