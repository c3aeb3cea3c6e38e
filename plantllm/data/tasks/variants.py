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

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

import datasets
import numpy as np

from plantllm.core import console as con
from plantllm.species.assembly import Assembly
from plantllm.data.writer import build_inputs, current_manifest, file_records, write_dataset
from plantllm.core.errors import InputFileError, PlantLLMError
from plantllm.core.io import open_text, require_file
from plantllm.data.splits import Splitter
from plantllm.species.vcf import VcfStats, check_ref, in_fasta, read_vcf, require_in_fasta
from plantllm.data.background import TssIndex

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
    p = require_file(path, "label table")
    out = {}
    with open_text(p) as fh:
        for lineno, row in enumerate(csv.reader(fh, delimiter="\t"), 1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 5:
                raise InputFileError("expected 5 tab-separated columns: chrom, pos, ref, alt, label", path=p,
                                     line=lineno)
            try:
                pos = int(row[1])
            except ValueError:
                if lineno == 1:
                    continue
                raise InputFileError(f"pos '{row[1]}' is not an integer", path=p, line=lineno) from None
            out[(row[0], pos, row[2].upper(), row[3].upper())] = row[4]
    return out


def variant_windows(genome, chrom: str, pos: int, ref: str, alt: str, w: int) -> tuple[str, str, int]:
    """(ref_seq, alt_seq, center): windows of length ``w`` with the variant's first base at ``center``."""
    center = w // 2
    s = pos - center
    ref_seq = genome.fetch_padded(chrom, s, s + w)
    # ALT: left flank + ALT + right flank after REF, cut back to w
    tail = genome.fetch_padded(chrom, pos + len(ref), pos + len(ref) + w)
    alt_seq = (ref_seq[:center] + alt + tail)[:w]
    return ref_seq, alt_seq, center


class GeneIndex:
    """Nearest gene (by gene body) for positions on a chromosome."""

    def __init__(self, asm: Assembly):
        self.by: dict[str, tuple[np.ndarray, np.ndarray, list[str]]] = {}
        tmp: dict[str, list] = {}
        for g in asm.annotation.genes:
            tmp.setdefault(g.chrom, []).append((g.start, g.end, g.locus))
        for c, rows in tmp.items():
            rows.sort()
            self.by[c] = (np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), [r[2] for r in rows])

    def nearest(self, chrom: str, pos: int) -> str:
        if chrom not in self.by:
            return ""
        starts, ends, names = self.by[chrom]
        i = int(np.searchsorted(starts, pos, side="right"))
        best, bd = "", 1 << 62
        for j in range(max(0, i - 50), min(len(starts), i + 1)):
            d = 0 if starts[j] <= pos < ends[j] else min(abs(int(starts[j]) - pos), abs(int(ends[j]) - 1 - pos))
            if d < bd:
                best, bd = names[j], d
        return best


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
    tss = TssIndex(asm) if has_ann else None
    genes = GeneIndex(asm) if has_ann else None
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
                "gene": genes.nearest(v.chrom, v.pos) if genes else "",
                "tss_distance": tss.distance(v.chrom, v.pos) if tss else -1,
                "ref_seq": ref_seq, "alt_seq": alt_seq, "center": center,
                "dosage": v.dosage, "n_carriers": v.n_carriers, "ploidy": v.ploidy or asm.card.ploidy,
                "label": label}
        require_in_fasta(st, vcf, g)
        checked = st.variants - st.indels_skipped
        if checked and st.ref_mismatch / max(checked, 1) > params.max_ref_mismatch:
            raise InputFileError(
                f"REF does not match the genome at {st.ref_mismatch} of {checked} variants (first: {st.first_mismatch})",
                path=vcf, fix="the VCF was called against another assembly; use its FASTA or lift the VCF over")

    def manifest():
        if st.ref_mismatch:
            con.warn(f"{st.ref_mismatch} variants left out: REF does not match the genome (first: {st.first_mismatch})")
        return {"species": asm.card.name, "assembly": asm.card.assembly, "card": str(asm.card.source),
                "files": file_records({"fasta": asm.card.fasta, "gff": asm.card.gff, "vcf": vcf}),
                "params": asdict(params), "split": splitter.describe(), "seed": seed, "vcf": asdict(st),
                "kept": rows_seen["kept"]}

    result = write_dataset(out, "variants", FEATURES, examples(), manifest, inputs)
    if result["kept"] == 0:
        raise PlantLLMError(f"no variant of {vcf} could be used: {result['vcf']}")
    return result
