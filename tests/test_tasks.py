"""Task datasets on real data: promoter (TAIR10), motif (JASPAR, peaks), variants (maize SNPs)."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pytest

from conftest import DATA
from plantllm.species.assembly import Assembly
from plantllm.core.errors import ChromosomeError, InputFileError
from plantllm.species.genome import Genome
from plantllm.core.sequence import reverse_complement
from plantllm.species.card import load_card
from plantllm.data.splits import Splitter
from plantllm.core.sequence import dinucleotide_shuffle
from plantllm.data.tasks.motif import MotifParams, build_motif
from plantllm.data.tasks.promoter import PromoterParams, build_promoter
from plantllm.data.tasks.variants import VariantParams, build_variants


@pytest.fixture(scope="module")
def asm():
    return Assembly(load_card(DATA / "cards" / "tair10_slice.yaml"))


def _rows(out):
    ds = datasets.load_from_disk(str(out))
    return {s: ds[s].to_list() for s in ds}


@pytest.mark.parametrize("negatives", ["gc_matched", "random", "shuffle", "gene_body"])
def test_promoter_windows_hold_the_tss(asm, tmp_path, negatives):
    m = build_promoter(asm, tmp_path / "p", PromoterParams(negatives=negatives), Splitter(block_size=100_000))
    rows = _rows(tmp_path / "p")
    g = Genome(asm.card)
    tss = {(t.chrom, t.tss, t.strand) for t in asm.annotation.transcripts}
    for split, rs in rows.items():
        pos = [r for r in rs if r["label"] == 1]
        neg = [r for r in rs if r["label"] == 0]
        assert len(pos) == len(neg) > 20, (split, len(pos), len(neg))  # balanced
        for r in pos:
            assert len(r["seq"]) == 300 and r["tss_offset"] == 249
            t = r["start"] + 249 if r["strand"] == "+" else r["end"] - 1 - 249
            assert (r["chrom"], t, r["strand"]) in tss
            fwd = g.fetch(r["chrom"], r["start"], r["end"])
            assert r["seq"] == (fwd if r["strand"] == "+" else reverse_complement(fwd))
    if negatives in ("random", "gc_matched", "gene_body"):
        tss_pos = np.array(sorted(p for _, p, _ in tss))
        for r in (r for rs in rows.values() for r in rs if r["label"] == 0):
            i = np.searchsorted(tss_pos, r["start"])
            near = min(abs(tss_pos[min(i, len(tss_pos) - 1)] - r["start"]), abs(tss_pos[max(i - 1, 0)] - r["start"]))
            assert near >= 1000 - 300
    if negatives in ("gc_matched", "shuffle"):
        for s, gc in m["gc"].items():
            assert abs(gc["promoter"] - gc["negative"]) < 0.01


def test_promoter_splits_do_not_overlap(asm, tmp_path):
    build_promoter(asm, tmp_path / "p", PromoterParams(), Splitter(0.2, 0.2, block_size=100_000))
    rows = _rows(tmp_path / "p")
    loci = {s: [(r["start"], r["end"]) for r in rs] for s, rs in rows.items()}
    tr = np.array(loci["train"])
    for s in ("validation", "test"):
        for a, b in loci[s]:
            assert not ((tr[:, 0] < b) & (tr[:, 1] > a)).any()


def test_dinucleotide_shuffle_preserves_counts():
    rng = np.random.default_rng(0)
    seq = "ATGCGTATATATGCGCGCTTAGGCATCGATCGATTTAAACCCGGG" * 3
    sh = dinucleotide_shuffle(seq, rng)
    di = lambda s: Counter(s[i:i + 2] for i in range(len(s) - 1))
    assert sh != seq and di(sh) == di(seq) and sh[0] == seq[0] and sh[-1] == seq[-1]


def test_promoter_strength_table(asm, tmp_path):
    genes = [g for g in asm.annotation.genes if g.canonical and g.canonical.coding][:30]
    table = tmp_path / "strength.tsv"
    table.write_text("gene\tvalue\n" + "".join(f"{g.locus}\t{i / 10}\n" for i, g in enumerate(genes)))
    m = build_promoter(asm, tmp_path / "p", PromoterParams(strength_table=str(table)), Splitter(block_size=100_000))
    assert m["strength_genes"] == 30
    vals = {r["gene"]: r["strength"] for rs in _rows(tmp_path / "p").values() for r in rs if r["label"] == 1}
    assert vals[genes[5].locus] == pytest.approx(0.5) and math.isnan(vals[next(iter(set(vals) - {g.locus for g in genes}))])
    table.write_text("nosuchgene\t1.0\n")
    with pytest.raises(InputFileError, match="no gene in the strength table"):
        build_promoter(asm, tmp_path / "q", PromoterParams(strength_table=str(table)), Splitter())


def test_motif_from_jaspar(asm, tmp_path):
    m = build_motif(asm, tmp_path / "m", MotifParams(jaspar=("MA0931.1", "TCP4")), Splitter(block_size=100_000))
    assert m["jaspar_release"].startswith("JASPAR") and m["label_names"][0] == "MA0931.1 ABI5"
    rows = [r for rs in _rows(tmp_path / "m").values() for r in rs]
    pos = [r for r in rows if r["labels"][0] == 1]
    # ABI5 binds the ABRE core ACGT: every ABI5-labelled promoter must contain it.
    assert len(pos) > 20 and all("ACGT" in r["seq"].upper() for r in pos)


def test_motif_from_peaks(asm, tmp_path):
    genes = asm.annotation.genes[:80]
    bed = tmp_path / "peaks.narrowPeak"
    bed.write_text("".join(f"Chr1\t{g.start}\t{g.start + 300}\tp{i}\t0\t.\t0\t0\t0\t150\n" for i, g in enumerate(genes)))
    build_motif(asm, tmp_path / "m", MotifParams(peaks={"TF1": str(bed)}), Splitter(block_size=100_000))
    rows = [r for rs in _rows(tmp_path / "m").values() for r in rs]
    summits = {g.start + 150 for g in genes}
    for r in rows:
        if r["label"]:
            assert r["start"] + 100 in summits
        else:
            assert all(not (g.start < r["end"] and g.start + 300 > r["start"]) for g in genes)
    assert Counter(r["label"] for r in rows)[0] == Counter(r["label"] for r in rows)[1]


# --------------------------------------------------------------- variants (real maize B73 v5 SNPs)
def _maize_genome(tmp_path: Path, shift: int = 0) -> Path:
    """The real 4,075 bp of B73 v5 chr1 placed at its real coordinates (N before it)."""
    seq = "".join(x.strip() for x in open(DATA / "maize_b73v5_chr1_2520304-2524378.fa") if not x.startswith(">"))
    full = "N" * (2520304 - 1 + shift) + seq
    p = tmp_path / "chr1.fa"
    with open(p, "w") as w:
        w.write(">chr1\n")
        for i in range(0, len(full), 60):
            w.write(full[i:i + 60] + "\n")
    return p


def _maize(tmp_path, shift=0):
    asm = Assembly("zea_mays", fasta=_maize_genome(tmp_path, shift))
    asm.card.partial = True
    return asm


def test_variant_windows_on_real_maize_snps(tmp_path):
    asm = _maize(tmp_path)
    m = build_variants(asm, DATA / "maize_b73v5_chr1_snps.vcf", tmp_path / "v", VariantParams(window=101, label_info="TYPE"),
                       Splitter(0.2, 0.2, block_size=500))
    rows = [r for rs in _rows(tmp_path / "v").values() for r in rs]
    assert m["vcf"]["records"] == 190 and m["vcf"]["ref_mismatch"] == 0
    assert len(rows) == m["vcf"]["variants"] >= 190  # multi-allelic sites split
    for r in rows:
        assert r["ref_seq"][50] == r["ref"][0] and r["alt_seq"][50] == r["alt"][0] and r["chrom"] == "1"
        assert r["ref_seq"][:50] == r["alt_seq"][:50]
    assert Counter(r["label"] for r in rows)["missense_variant"] == 5


def test_ref_mismatch_stops_a_wrong_genome(tmp_path):
    asm = _maize(tmp_path, shift=3)  # the same sequence 3 bp off: another "assembly"
    with pytest.raises(InputFileError, match=r"REF does not match the genome at \d+ of 197 variants \(first: 1:25\d+ REF [ACGT] but the genome has"):
        build_variants(asm, DATA / "maize_b73v5_chr1_snps.vcf", tmp_path / "v", VariantParams(window=101), Splitter())
    assert not (tmp_path / "v").exists()  # nothing half-written


def test_polyploid_genotypes_multiallelic_symbolic_and_indels(tmp_path):
    asm = _maize(tmp_path)
    g = asm.genome
    b = lambda p: g.fetch("1", p - 1, p).upper()
    p1, p2, p3 = 2520559, 2520600, 2520700
    vcf = tmp_path / "t.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr1>\n##FORMAT=<ID=GT,Number=1,Type=String,Description=\"GT\">\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\ts2\ts3\n"
        f"chr1\t{p1}\tv1\t{b(p1)}\tG,T\t.\t.\t.\tGT\t0/0/1/1\t0/1/1/1/1/1\t./.\n"
        f"chr1\t{p2}\tv2\t{b(p2)}\t<DEL>\t.\t.\t.\tGT\t0/1\t0/0\t0/0\n"
        f"chr1\t{p2 + 1}\tv3\t{b(p2 + 1)}\t{b(p2 + 1)}]chr1:5]\t.\t.\t.\tGT\t0/1\t0/0\t0/0\n"
        f"chr1\t{p3}\tv4\t{g.fetch('1', p3 - 1, p3 + 2).upper()}\t{b(p3)}\t.\t.\t.\tGT\t0|1\t1|1\t0|0\n")
    m = build_variants(asm, vcf, tmp_path / "v", VariantParams(window=41), Splitter(0, 0))
    rows = {(r["id"], r["alt"]): r for r in _rows(tmp_path / "v")["train"]}
    assert m["vcf"]["symbolic"] == 1 and m["vcf"]["breakend"] == 1
    g_row, t_row = rows[("v1", "G")], rows[("v1", "T")]
    # s1 tetraploid 0/0/1/1 -> 2/4 of allele 1; s2 hexaploid 0/1/1/1/1/1 -> 5/6; s3 missing
    assert g_row["dosage"] == pytest.approx((0.5 + 5 / 6) / 2) and g_row["ploidy"] == 6
    assert t_row["dosage"] == 0.0
    d = rows[("v4", b(p3))]
    assert d["kind"] == "indel" and d["alt_seq"][:20] == d["ref_seq"][:20] and len(d["alt_seq"]) == 41
    assert d["alt_seq"][21:] == g.fetch("1", p3 + 2, p3 + 22)  # deletion: the bases after REF move in
    assert d["dosage"] == pytest.approx(0.5)


def test_vcf_with_wrong_chromosome_names(tmp_path):
    asm = _maize(tmp_path)
    vcf = tmp_path / "t.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nChr01\t5\t.\tA\tG\t.\t.\t.\n")
    with pytest.raises(ChromosomeError, match=r"no VCF chromosome matches the card zea_mays: Chr01.*add 'Chr01'"):
        build_variants(asm, vcf, tmp_path / "v", VariantParams(window=41), Splitter())
