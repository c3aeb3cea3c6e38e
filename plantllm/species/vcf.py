"""VCF/BCF reading through pysam (htslib): plain, bgzip or BCF, any ploidy, many samples.

Each record is split into one ``Variant`` per ALT allele. Coordinates: VCF POS is
1-based; ``Variant.pos`` is 0-based. Chromosome names are translated to the card's
canonical names. REF is checked against the genome by the caller (``check_ref``):
a mismatch is reported and the variant is never used silently.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pysam

from plantllm.core.errors import ChromosomeError, InputFileError, did_you_mean
from plantllm.core.io import require_file
from plantllm.species.card import SpeciesCard

_BASES = re.compile(r"^[ACGTNacgtn]+$")


@dataclass
class Variant:
    chrom: str
    pos: int  # 0-based
    ref: str
    alt: str
    id: str = ""
    alt_index: int = 1  # 1 = first ALT
    info: dict = field(default_factory=dict)
    dosage: float = math.nan  # mean over called samples of (copies of this ALT / ploidy)
    n_called: int = 0
    n_carriers: int = 0
    ploidy: int = 0
    line: int = 0

    @property
    def kind(self) -> str:
        return "snv" if len(self.ref) == 1 and len(self.alt) == 1 else "indel"


@dataclass
class VcfStats:
    records: int = 0
    variants: int = 0
    symbolic: int = 0
    breakend: int = 0
    no_alt: int = 0
    ref_mismatch: int = 0
    first_mismatch: str = ""
    indels_skipped: int = 0
    outside_regions: int = 0
    unknown_chrom: int = 0
    absent_from_fasta: int = 0
    absent: dict = field(default_factory=dict)  # chromosome -> first VCF line, for the error message


def dosage_of(rec: pysam.VariantRecord, alt_index: int) -> tuple[float, int, int, int]:
    """(mean dosage, samples called, carriers, ploidy) for one ALT allele over all samples.

    Dosage of a sample = copies of the allele / number of called alleles (so 0/0/1/1 is 0.5,
    0/1/1/1/1/1 is 5/6); samples with missing genotypes are left out.
    """
    total, called, carriers, ploidy = 0.0, 0, 0, 0
    for s in rec.samples.values():
        gt = s.get("GT")
        if gt is None:
            continue
        alleles = [a for a in gt if a is not None]
        if not alleles:
            continue
        ploidy = max(ploidy, len(gt))
        k = sum(1 for a in alleles if a == alt_index)
        total += k / len(alleles)
        called += 1
        carriers += k > 0
    return (total / called if called else math.nan), called, carriers, ploidy


def read_vcf(path: str | Path, card: SpeciesCard, stats: VcfStats | None = None) -> Iterator[Variant]:
    """Variants of a VCF/BCF, one per ALT allele, with canonical chromosome names."""
    p = require_file(path, "VCF")
    st = stats if stats is not None else VcfStats()
    pysam.set_verbosity(0)  # htslib's own warnings (e.g. contigs missing from the header) are not errors here
    try:
        vf = pysam.VariantFile(str(p))
    except (OSError, ValueError) as e:
        raise InputFileError(f"cannot read VCF header ({e})", path=p,
                             fix="check that the file is VCF/BCF with a ##fileformat line and a #CHROM header") from None
    header_lines = header_line_count(p)
    unknown: dict[str, int] = {}
    it = iter(vf)
    index = 0
    while True:
        try:
            rec = next(it)
        except StopIteration:
            break
        except (OSError, ValueError) as e:
            raise InputFileError(f"malformed VCF record: htslib cannot parse it ({e})", path=p,
                                 line=header_lines + index + 1 if header_lines is not None else None,
                                 fix=f"check the columns and genotype fields of record {index + 1}") from None
        index += 1
        st.records += 1
        line = header_lines + index if header_lines is not None else index
        canon = card.try_canonical(rec.chrom)
        if canon is None:
            unknown.setdefault(rec.chrom, line)
            st.unknown_chrom += 1
            continue
        if not rec.alts:
            st.no_alt += 1
            continue
        ref = rec.ref or ""
        if not _BASES.match(ref):
            raise InputFileError(f"REF '{ref[:20]}' is not a DNA sequence", path=p, line=line)
        for k, alt in enumerate(rec.alts, 1):
            if alt.startswith("<") or alt == "*":
                st.symbolic += 1
                continue
            if "[" in alt or "]" in alt or alt.startswith(".") or alt.endswith("."):
                st.breakend += 1
                continue
            if not _BASES.match(alt):
                raise InputFileError(f"ALT '{alt[:20]}' is not a DNA sequence, symbolic or breakend allele",
                                     path=p, line=line)
            try:
                dose, called, carriers, ploidy = dosage_of(rec, k)
            except (ValueError, TypeError) as e:
                raise InputFileError(f"malformed genotype ({e})", path=p, line=line) from None
            st.variants += 1
            yield Variant(canon, rec.pos - 1, ref.upper(), alt.upper(), rec.id or "", k,
                          {key: rec.info[key] for key in rec.info}, dose, called, carriers, ploidy, line)
    vf.close()
    if st.records and st.unknown_chrom == st.records:
        first = next(iter(unknown))
        raise ChromosomeError(
            f"no VCF chromosome matches the card {card.name}: {', '.join(list(unknown)[:3])}"
            f"{did_you_mean(first, card._alias)}", path=p, line=unknown[first],
            fix=f"add '{first}' to the aliases of the right chromosome in {card.source or 'the card'}")


def header_line_count(p: Path) -> int | None:
    """Meta-information and header lines at the top of a text VCF (plain or bgzip), so errors can name
    the file's own line numbers (pysam's header text adds lines of its own); None for BCF."""
    import gzip

    with open(p, "rb") as fh:
        magic = fh.read(4)
    if magic[:3] == b"BCF":
        return None
    n = 0
    try:
        opener = gzip.open if magic[:2] == b"\x1f\x8b" else open
        with opener(p, "rb") as fh:
            head = fh.read(5)
            if head[:3] == b"BCF":
                return None
            fh.seek(0)
            for raw in fh:
                if not raw.startswith(b"#"):
                    break
                n += 1
    except (OSError, EOFError):
        return n
    return n


def in_fasta(genome, v: Variant, st: VcfStats) -> bool:
    """Is the variant's chromosome (known to the card) in the FASTA? Absent ones are counted."""
    if v.chrom in genome.chromosomes(nuclear_only=False):
        return True
    st.absent_from_fasta += 1
    st.absent.setdefault(v.chrom, v.line)
    return False


def require_in_fasta(st: VcfStats, vcf: str | Path, genome) -> None:
    """Stop with one clear line when every variant lies on chromosomes the FASTA does not hold."""
    if st.absent_from_fasta and st.absent_from_fasta >= st.variants:
        chrom, line = next(iter(st.absent.items()))
        raise ChromosomeError(f"the variants are on chromosome {', '.join(st.absent)}, known to the card but not "
                              f"in the FASTA {genome.path}", path=vcf, line=line,
                              fix="give the FASTA that holds them with --fasta")


def check_ref(genome, v: Variant, st: VcfStats) -> bool:
    """Does the genome carry REF at the variant? Mismatches are counted, first one kept."""
    n = genome.length(v.chrom)
    if v.pos + len(v.ref) > n:
        ok = False
        seen = "beyond the chromosome end"
    else:
        seen = genome.fetch(v.chrom, v.pos, v.pos + len(v.ref)).upper()
        ok = seen == v.ref
    if not ok:
        st.ref_mismatch += 1
        if not st.first_mismatch:
            st.first_mismatch = f"{v.chrom}:{v.pos + 1} REF {v.ref} but the genome has {seen} (VCF line {v.line})"
    return ok
