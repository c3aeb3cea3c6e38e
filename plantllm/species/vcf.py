"""VCF/BCF reading through pysam (htslib): plain, bgzip or BCF, any ploidy, many samples.

Each record is split into one ``Variant`` per ALT allele. Coordinates: VCF POS is
1-based; ``Variant.pos`` is 0-based. Chromosome names are translated to the card's
canonical names. REF is checked against the genome by the caller (``check_ref``):
a mismatch is reported and the variant is never used silently.

Values outside their domain: POS 0 (or below) and a genotype allele index beyond the listed
ALTs (htslib reads it as a missing call, which would change dosage and carrier counts) are
errors naming the line; a site whose ALT equals its REF, a REF that does not match the genome
and a variant past the chromosome end are left out, counted in ``VcfStats`` (and the summary)
and reported by one warning each with the count and the first example. Genotypes whose ploidy
contradicts the card's on every nuclear record (a diploid card with tetraploid calls) stop the
read with a fix for the card; mixed ploidy (haploid organelle or sex-chromosome calls) is fine.
With ``strict_ploidy`` (``variants score``) every genotype is checked: a nuclear genotype with more
alleles than the card's ploidy (per subgenome for a subgenome-resolved polyploid), or with fewer but
more than one, is an error naming its line; haploid calls (one allele: organelles, doubled-haploid or
inbred lines called haploid, hemizygous regions) are allowed.

With ``structural`` the alleles that are not a base sequence come back too, as variants of their own
``category`` (``symbolic``: ``<DEL>``, ``<INS>``, ``<DUP>``, ``<INV>``, ``<CNV>``...; ``breakend``; ``star``:
the ``*`` of an overlapping deletion) with ``end`` (from INFO END, else POS + |SVLEN|) and ``svlen``,
so a caller can annotate and count every allele; without it they are only counted (dataset builders).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pysam

from plantllm.core import console as con
from plantllm.core.errors import ChromosomeError, InputFileError, did_you_mean
from plantllm.core.io import require_file
from plantllm.species.card import SpeciesCard
from plantllm.species.genotypes import (PLOIDY_EVIDENCE, GenotypeError, check_genotype_ploidy, dosage_of,
                                        expected_ploidy, note_ploidy)

__all__ = ["Variant", "VcfStats", "read_vcf", "dosage_of", "expected_ploidy", "PLOIDY_EVIDENCE", "SV_MIN"]

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
    record: int = 0  # ordinal of the record in the file (or in the region read)
    end: int = -1  # symbolic alleles: 0-based exclusive end of the reference span (= the VCF's END)
    svlen: int | None = None  # symbolic alleles: INFO SVLEN of this ALT, when given

    @property
    def kind(self) -> str:
        return "snv" if len(self.ref) == 1 and len(self.alt) == 1 else "indel"

    @property
    def category(self) -> str:
        """snv, mnv (equal-length substitution), indel, sv (a sequence-resolved change of ``SV_MIN`` bp or
        more), symbolic, breakend or star."""
        a = self.alt
        if a.startswith("<"):
            return "symbolic"
        if a == "*":
            return "star"
        if "[" in a or "]" in a or a.startswith(".") or a.endswith("."):
            return "breakend"
        if len(self.ref) == len(a):
            return "snv" if len(a) == 1 else ("mnv" if len(a) < SV_MIN else "sv")
        return "indel" if abs(len(a) - len(self.ref)) < SV_MIN else "sv"


#: the conventional size from which a change is a structural variant (bp)
SV_MIN = 50


@dataclass
class VcfStats:
    records: int = 0
    variants: int = 0
    symbolic: int = 0
    breakend: int = 0
    no_alt: int = 0
    ref_mismatch: int = 0
    first_mismatch: str = ""
    past_end: int = 0
    first_past_end: str = ""
    alt_equals_ref: int = 0
    first_alt_equals_ref: str = ""
    indels_skipped: int = 0
    outside_regions: int = 0
    unknown_chrom: int = 0
    absent_from_fasta: int = 0
    absent: dict = field(default_factory=dict)  # chromosome -> first VCF line, for the error message

    def merge(self, other: "VcfStats") -> "VcfStats":
        """Add another reader's counts (a shard's): numbers are summed, the first example of each kind kept."""
        for name, value in vars(other).items():
            mine = getattr(self, name)
            if isinstance(value, dict):
                for k, v in value.items():
                    mine.setdefault(k, v)
            elif isinstance(value, str):
                setattr(self, name, mine or value)
            else:
                setattr(self, name, mine + value)
        return self


def read_vcf(path: str | Path, card: SpeciesCard, stats: VcfStats | None = None, *,
             region: tuple[str, int, int] | None = None, first_line: int | None = None,
             source: str | Path | None = None, structural: bool = False,
             strict_ploidy: bool = False) -> Iterator[Variant]:
    """Variants of a VCF/BCF, one per ALT allele, with canonical chromosome names.

    ``region``: (the file's contig name, 0-based start, end): only records whose POS lies in
    ``[start, end)``, read through the file's tabix/CSI index (the shards of the inference engine);
    their ``line`` is then the record's ordinal within the region, or its line in the file when
    ``first_line`` (the line of the region's first record) is known. ``source``: the file errors name
    when ``path`` is a working copy of it (the engine's indexed copy keeps the user's line numbers).
    ``structural`` and ``strict_ploidy``: see the module doc.
    """
    p = require_file(path, "VCF")
    shown = Path(source) if source is not None else p
    st = stats if stats is not None else VcfStats()
    pysam.set_verbosity(0)  # htslib's own warnings (e.g. contigs missing from the header) are not errors here
    try:
        vf = pysam.VariantFile(str(p))
    except (OSError, ValueError) as e:
        raise InputFileError(f"cannot read VCF header ({e})", path=shown,
                             fix="check that the file is VCF/BCF with a ##fileformat line and a #CHROM header") from None
    header_lines = header_line_count(p) if region is None else (first_line - 1 if first_line else None)
    unknown: dict[str, int] = {}
    ploidy_seen = {"agree": 0, "other": {}, "first": None}  # nuclear records: agreeing / ploidy -> count
    it = iter(vf) if region is None else _starting_in(vf.fetch(*region), region[1])
    index = 0
    while True:
        try:
            rec = next(it)
            info = {key: rec.info[key] for key in rec.info}  # text decodes here (UTF-8), not mid-record
            _ = rec.chrom, rec.ref, rec.alts, rec.id
        except StopIteration:
            break
        except UnicodeDecodeError:
            raise InputFileError("is not UTF-8 text at this record (a corrupt byte, or UTF-16?)", path=shown,
                                 line=header_lines + index + 1 if header_lines is not None else None,
                                 fix="repair the line, or re-create the file (bcftools view -Oz)") from None
        except (OSError, ValueError) as e:
            raise InputFileError(f"malformed VCF record: htslib cannot parse it ({e})", path=shown,
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
            raise InputFileError(f"REF '{ref[:20]}' is not a DNA sequence", path=shown, line=line)
        if rec.pos < 1 and any(_BASES.match(a) for a in rec.alts):
            raise InputFileError(f"POS {rec.pos} is not a position: VCF positions are 1-based (the first base is 1)",
                                 path=shown, line=line,
                                 fix="write 1-based positions (a 0-based file needs +1 on every POS)")
        checked_ploidy = False
        if strict_ploidy:
            check_genotype_ploidy(rec, card, canon, shown, line)
        for k, alt in enumerate(rec.alts, 1):
            special = None
            if alt.startswith("<") or alt == "*":
                st.symbolic += 1
                special = "symbolic"
            elif "[" in alt or "]" in alt or alt.startswith(".") or alt.endswith("."):
                st.breakend += 1
                special = "breakend"
            if special is not None:
                if structural:
                    dose, called, carriers, ploidy = _dosage(rec, k, shown, line)
                    st.variants += 1
                    end, svlen = _sv_span(rec, k, info)
                    yield Variant(canon, rec.pos - 1, ref.upper(), alt, rec.id or "", k, dict(info), dose, called,
                                  carriers, ploidy, line, index, end, svlen)
                continue
            if not _BASES.match(alt):
                raise InputFileError(f"ALT '{alt[:20]}' is not a DNA sequence, symbolic or breakend allele",
                                     path=shown, line=line)
            if alt.upper() == ref.upper():
                st.alt_equals_ref += 1
                if not st.first_alt_equals_ref:
                    st.first_alt_equals_ref = f"{rec.chrom}:{rec.pos} REF {ref} ALT {alt} (VCF line {line})"
                continue
            dose, called, carriers, ploidy = _dosage(rec, k, shown, line)
            if called and not checked_ploidy:
                checked_ploidy = True
                note_ploidy(ploidy_seen, card, canon, ploidy, rec.chrom, line, shown)
            st.variants += 1
            yield Variant(canon, rec.pos - 1, ref.upper(), alt.upper(), rec.id or "", k,
                          dict(info), dose, called, carriers, ploidy, line, index)
    vf.close()
    note_ploidy(ploidy_seen, card, None, 0, "", 0, shown, final=True)
    if st.records and st.unknown_chrom == st.records:
        first = next(iter(unknown))
        raise ChromosomeError(
            f"no VCF chromosome matches the card {card.name}: {', '.join(list(unknown)[:3])}"
            f"{did_you_mean(first, card._alias)}", path=shown, line=unknown[first],
            fix=f"add '{first}' to the aliases of the right chromosome in {card.source or 'the card'}")
    if region is None:  # a region's reader is one shard of many: who merges the shards' stats warns once
        warn_skipped(st)


def _dosage(rec, k: int, shown: Path, line: int) -> tuple[float, int, int, int]:
    try:
        return dosage_of(rec, k)
    except GenotypeError as e:
        raise InputFileError(f"genotype allele index beyond the listed ALTs: {e}", path=shown, line=line,
                             fix="list every ALT allele the genotypes use, or correct the genotypes") from None
    except (ValueError, TypeError) as e:
        raise InputFileError(f"malformed genotype ({e})", path=shown, line=line) from None


def _sv_span(rec, k: int, info: dict) -> tuple[int, int | None]:
    """(0-based exclusive end of the reference span, SVLEN of ALT ``k``) of a symbolic allele: END when given
    (htslib reads it into the record's end), else POS + |SVLEN| (an insertion, or neither given: the padding
    base only)."""
    svlen = info.get("SVLEN")
    if isinstance(svlen, (tuple, list)):
        svlen = svlen[k - 1] if len(svlen) >= k else (svlen[0] if svlen else None)
    try:
        svlen = int(svlen) if svlen is not None else None
    except (TypeError, ValueError):
        svlen = None
    if rec.stop > rec.pos:  # END given (pysam keeps it out of info)
        return int(rec.stop), svlen
    if svlen is not None and not rec.alts[k - 1].upper().startswith("<INS"):
        return rec.pos + abs(svlen), svlen
    return rec.pos, svlen


def warn_skipped(st: VcfStats) -> None:
    """One warning per kind of variant left out, with the count and the first example (the counts are in
    ``VcfStats``, which the commands write to their summary)."""
    if st.alt_equals_ref:
        con.warn(f"{st.alt_equals_ref:,} ALT allele(s) left out: ALT equals REF, not a variant "
                 f"(first: {st.first_alt_equals_ref})")
    if st.past_end:
        con.warn(f"{st.past_end:,} variant(s) left out: past the chromosome end (first: {st.first_past_end})")
    if st.ref_mismatch:
        con.warn(f"{st.ref_mismatch:,} variant(s) left out: REF does not match the genome (first: {st.first_mismatch})")


def _starting_in(records, start: int):
    """Records of an indexed fetch that start at or after ``start`` (a fetch also returns records that
    begin before the region and reach into it: each record belongs to the region holding its POS)."""
    return (rec for rec in records if rec.start >= start)


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
    """Does the genome carry REF at the variant? Mismatches and variants past the chromosome end are counted
    (apart), the first of each kept."""
    n = genome.length(v.chrom)
    if v.pos + len(v.ref) > n:
        st.past_end += 1
        if not st.first_past_end:
            st.first_past_end = (f"{v.chrom}:{v.pos + 1} REF {v.ref}, past the end of {v.chrom} in the FASTA "
                                 f"({n:,} bp) (VCF line {v.line})")
        return False
    seen = genome.fetch(v.chrom, v.pos, v.pos + len(v.ref)).upper()
    ok = seen == v.ref
    if not ok:
        st.ref_mismatch += 1
        if not st.first_mismatch:
            st.first_mismatch = f"{v.chrom}:{v.pos + 1} REF {v.ref} but the genome has {seen}" + (
                f" (VCF line {v.line})" if v.line else "")
    return ok
