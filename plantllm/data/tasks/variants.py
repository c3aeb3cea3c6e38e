"""Variant task: REF/ALT windows centred on each variant of a VCF.

REF is checked against the genome: mismatching variants are reported (count and the
first one) and left out; when most variants mismatch the genome is the wrong assembly
and the build stops. Multi-allelic sites are split. Indels up to ``max_indel`` bp are
kept (the ALT window is re-cut to the same length around the variant), longer ones and
symbolic/breakend alleles are skipped with a count. Each variant carries its region
class and nearest gene from the annotation, distance to the nearest TSS, subgenome and
genotype dosage (mean over samples of ALT copies / ploidy).

Labels come from a TSV (chrom, pos, ref, alt, label; pos 1-based) or a VCF INFO key.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import datasets
import numpy as np

from plantllm.species.assembly import Assembly
from plantllm.data.writer import build_inputs, current_manifest, file_records, write_dataset
from plantllm.core.errors import InputFileError, PlantLLMError
from plantllm.core.io import require_file
from plantllm.core.tables import integer, read_rows
from plantllm.data.splits import Splitter
from plantllm.species.vcf import VcfStats, check_ref, in_fasta, read_vcf, require_in_fasta

FEATURES = datasets.Features({
    "chrom": datasets.Value("string"), "pos": datasets.Value("int64"), "id": datasets.Value("string"),
    "ref": datasets.Value("string"), "alt": datasets.Value("string"), "kind": datasets.Value("string"),
    "subgenome": datasets.Value("string"), "region": datasets.Value("string"), "gene": datasets.Value("string"),
    "tss_distance": datasets.Value("int64"), "ref_seq": datasets.Value("string"), "alt_seq": datasets.Value("string"),
    "center": datasets.Value("int32"), "dosage": datasets.Value("float32"), "n_carriers": datasets.Value("int32"),
    "ploidy": datasets.Value("int32"), "label": datasets.Value("string"),
})


@dataclass
class VariantParams:
    window: int = 512
    max_indel: int = 50
    label_table: str | None = None
    label_info: str | None = None
    max_ref_mismatch: float = 0.05

    def check(self) -> None:
        if self.window < 3:
            raise PlantLLMError("variant window must be at least 3 bp")


def read_labels(path: str | Path) -> dict[tuple[str, int, str, str], str]:
    """(chrom, 1-based pos, REF, ALT) -> label from a TSV (chrom, pos, ref, alt, label; header optional).
    A variant listed twice with different labels is an error naming both lines."""
    out: dict[tuple[str, int, str, str], str] = {}
    first: dict[tuple[str, int, str, str], int] = {}
    for lineno, (chrom, pos, ref, alt, label) in read_rows(
            path, "label table", {"chrom": str, "pos": integer, "ref": str.upper, "alt": str.upper, "label": str}):
        if pos < 1:
            raise InputFileError(f"pos {pos} is not a position: label positions are 1-based, as in the VCF", path=path,
                                 line=lineno, fix="write the VCF's POS (the first base is 1)")
        if _not_finite(label):
            raise InputFileError(f"label '{label}' is a missing or infinite value, not a label", path=path,
                                 line=lineno, fix="give the variant a label, or leave its row out")
        key = (chrom, pos, ref, alt)
        if key in out and out[key] != label:
            raise InputFileError(f"variant {chrom}:{pos} {ref}>{alt} is labelled twice: '{out[key]}' (line "
                                 f"{first[key]}) and '{label}'", path=path, line=lineno, fix="keep one row per variant")
        out.setdefault(key, label)
        first.setdefault(key, lineno)
    return out


def _not_finite(text: str) -> bool:
    """NaN / infinity as text (a spreadsheet's or pandas' missing value), which no label may be."""
    try:
        return not math.isfinite(float(text))
    except ValueError:
        return False


def variant_windows(genome, chrom: str, pos: int, ref: str, alt: str, w: int) -> tuple[str, str, int]:
    """(ref_seq, alt_seq, center): windows of length ``w`` with the variant's first base at ``center``."""
    ref_seq, (alt_seq,), center = site_windows(genome, chrom, pos, ref, [alt], w)
    return ref_seq, alt_seq, center


def site_windows(genome, chrom: str, pos: int, ref: str, alts: list[str], w: int) -> tuple[str, list[str], int]:
    """The REF window and one window per ALT of a site, from one read of the genome: the left flank,
    the ALT, then the bases after REF, cut back to ``w`` (so indels keep the window length)."""
    center = w // 2
    s = pos - center
    buf = genome.fetch_padded(chrom, s, pos + len(ref) + w)
    ref_seq, tail = buf[:w], buf[center + len(ref):]
    return ref_seq, [(ref_seq[:center] + alt + tail)[:w] for alt in alts], center


def _nearest_locus(asm: Assembly, chrom: str, pos: int) -> str:
    gene = asm.annotation.nearest_gene(chrom, pos)
    return gene.locus if gene is not None else ""


def build_variants(asm: Assembly, vcf: str | Path, out: str | Path, params: VariantParams, splitter: Splitter,
                   seed: int = 0, force: bool = False) -> dict:
    params.check()
    vcf = require_file(vcf, "VCF")
    inputs = build_inputs({"fasta": asm.card.fasta, "gff": asm.card.gff, "vcf": vcf,
                           "labels": Path(params.label_table) if params.label_table else None}, params, splitter, seed)
    if not force and (done := current_manifest(Path(out), inputs)) is not None:
        return done
    labels = read_labels(params.label_table) if params.label_table else {}
    st = VcfStats()
    g = asm.genome
    has_ann = asm.has_annotation
    rows_seen = {"kept": 0}

    def examples():
        for v in read_vcf(vcf, asm.card, st):
            if not in_fasta(g, v, st):
                continue
            if not check_ref(g, v, st):
                continue
            if v.kind == "indel" and max(len(v.ref), len(v.alt)) - 1 > params.max_indel:
                st.indels_skipped += 1
                continue
            split = splitter.assign(v.chrom, v.pos, v.pos + len(v.ref))
            if split is None:
                continue
            ref_seq, alt_seq, center = variant_windows(g, v.chrom, v.pos, v.ref, v.alt, params.window)
            label = labels.get((v.chrom, v.pos + 1, v.ref, v.alt)) or labels.get(
                (asm.genome.file_name(v.chrom), v.pos + 1, v.ref, v.alt), "")
            if not label and params.label_info:
                val = v.info.get(params.label_info, "")
                label = ",".join(map(str, val)) if isinstance(val, tuple) else str(val)
            rows_seen["kept"] += 1
            yield split, {
                "chrom": v.chrom, "pos": v.pos, "id": v.id, "ref": v.ref, "alt": v.alt, "kind": v.kind,
                "subgenome": asm.card.subgenome_of(v.chrom) or "",
                "region": asm.annotation.regions.classify(v.chrom, np.array([v.pos]))[0] if has_ann else "",
                "gene": _nearest_locus(asm, v.chrom, v.pos) if has_ann else "",
                "tss_distance": asm.annotation.tss_distance(v.chrom, v.pos) if has_ann else -1,
                "ref_seq": ref_seq, "alt_seq": alt_seq, "center": center,
                "dosage": v.dosage, "n_carriers": v.n_carriers, "ploidy": v.ploidy or asm.card.ploidy,
                "label": label}
        require_in_fasta(st, vcf, g)
        checked = st.variants - st.indels_skipped
        if checked and st.ref_mismatch / max(checked, 1) > params.max_ref_mismatch:
            raise InputFileError(
                f"REF does not match the genome at {st.ref_mismatch} of {checked} variants (first: {st.first_mismatch})",
                path=vcf, fix="the VCF was called against another assembly; use its FASTA or lift the VCF over")

    def manifest():  # the VCF reader has warned about the variants it left out (count and first example)
        return {"species": asm.card.name, "assembly": asm.card.assembly, "card": str(asm.card.source),
                "files": file_records({"fasta": asm.card.fasta, "gff": asm.card.gff, "vcf": vcf}),
                "params": asdict(params), "split": splitter.describe(), "seed": seed, "vcf": asdict(st),
                "kept": rows_seen["kept"]}

    result = write_dataset(out, "variants", FEATURES, examples(), manifest, inputs)
    if result["kept"] == 0:
        raise PlantLLMError(f"no variant of {vcf} could be used: {result['vcf']}")
    return result
