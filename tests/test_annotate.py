"""SnpEff-standard annotation without a model (real TAIR10 slice): ANN read by SnpSift and bcftools,
every record back, symbolic SVs, existing ANN/CSQ reused, and agreement with SnpEff itself (slow)."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pysam
import pytest

from plantllm.apps.annotate_vcf import ExistingAnnotation, annotate_vcf
from plantllm.apps.consequence import ConsequenceAnnotator
from plantllm.apps.effects import ANN_HEADER
from plantllm.species.assembly import Assembly
from plantllm.species.card import load_card

DATA = Path(__file__).parent / "data"
ROOT = DATA.parent
SNPSIFT = shutil.which("SnpSift") or shutil.which("snpSift")


@pytest.fixture(scope="module")
def asm():
    return Assembly(load_card(DATA / "cards" / "tair10_slice.yaml"))


def _vcf(asm, path: Path) -> Path:
    """Real NAC001 (AT1G01010) sites: start codon, CDS SNV, splice donor, a 2-bp MNV, a frameshift, an
    intergenic site, and a symbolic deletion over the gene's first exon."""
    g = asm.genome

    def b(p, n=1):
        return g.fetch("1", p - 1, p - 1 + n).upper()
    rows = [(3760, b(3760), "G"), (3800, b(3800), "T" if b(3800) != "T" else "A"),
            (3914, b(3914), "A" if b(3914) != "A" else "C"), (4000, b(4000, 2), "".join("A" if x != "A" else "C"
                                                                                    for x in b(4000, 2))),
            (3771, b(3771), b(3771) + "T"), (20_000, b(20_000), "A" if b(20_000) != "A" else "C")]
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=NC_003070.9,length=30427671>",
             '##INFO=<ID=END,Number=1,Type=Integer,Description="End">',
             '##INFO=<ID=SVLEN,Number=A,Type=Integer,Description="SV length">',
             '##ALT=<ID=DEL,Description="Deletion">', "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    lines += [f"NC_003070.9\t{p}\t.\t{r}\t{a}\t.\t.\t." for p, r, a in rows]
    lines.append(f"NC_003070.9\t3600\tsv1\t{b(3600)}\t<DEL>\t.\t.\tEND=3950;SVLEN=-350")
    lines.sort(key=lambda x: (x[0] != "#", int(x.split("\t")[1]) if not x.startswith("#") else 0))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_annotate_writes_snpeff_standard_ann(asm, tmp_path):
    src = _vcf(asm, tmp_path / "in.vcf")
    s = annotate_vcf(asm, src, tmp_path / "out.vcf.gz")
    assert s["records"] == 7 and s["symbolic"] == 1 and (tmp_path / "out.vcf.gz.tbi").exists()
    with pysam.VariantFile(str(tmp_path / "out.vcf.gz")) as v:
        assert v.header.info["ANN"].description == ANN_HEADER.strip() or \
            v.header.info["ANN"].description == ANN_HEADER
        recs = list(v)
    assert len(recs) == 7  # every record comes back
    first = {r.pos: r.info["ANN"][0].split("|") for r in recs}
    assert first[3760][1:4] == ["start_lost", "HIGH", "NAC001"] and first[3760][4] == "AT1G01010"
    assert first[3760][9] == "c.1A>G" and first[3760][10] == "p.Met1?"
    assert first[3914][1].startswith("splice_donor_variant") and first[3914][2] == "HIGH"
    assert first[3771][1] == "frameshift_variant" and first[3771][13].endswith("/429")
    assert first[20_000][1] in ("upstream_gene_variant", "downstream_gene_variant", "intergenic_region")
    assert first[3600][1].split("&")[0] == "exon_loss_variant" and first[3600][2] == "HIGH"
    assert all(len(e.split("|")) == 16 for r in recs for e in r.info["ANN"])
    assert any("LOF" in r.info for r in recs)
    with gzip.open(tmp_path / "out.ann.tsv.gz", "rt") as fh:
        rows = fh.read().splitlines()
    assert rows[0].split("\t")[:6] == ["CHROM", "POS", "REF", "ALT", "Allele", "Annotation"]
    assert len(rows) - 1 == s["entries"] == sum(len(r.info["ANN"]) for r in recs)
    r = subprocess.run(["bcftools", "view", "-H", str(tmp_path / "out.vcf.gz")], capture_output=True, text=True)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 7


@pytest.mark.skipif(SNPSIFT is None, reason="SnpSift (Debian package snpsift) is not installed")
def test_snpsift_reads_the_ann_field(asm, tmp_path):
    annotate_vcf(asm, _vcf(asm, tmp_path / "in.vcf"), tmp_path / "out.vcf.gz")
    r = subprocess.run([SNPSIFT, "extractFields", str(tmp_path / "out.vcf.gz"), "CHROM", "POS", "ANN[0].EFFECT",
                        "ANN[0].IMPACT", "ANN[0].GENEID"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = [x.split("\t") for x in r.stdout.splitlines()]
    assert rows[0] == ["CHROM", "POS", "ANN[0].EFFECT", "ANN[0].IMPACT", "ANN[0].GENEID"]
    by_pos = {int(x[1]): x[2:] for x in rows[1:]}
    assert by_pos[3760] == ["start_lost", "HIGH", "AT1G01010"] and len(by_pos) == 7


def test_existing_ann_and_csq_are_used_as_they_are(asm, tmp_path):
    annotate_vcf(asm, _vcf(asm, tmp_path / "in.vcf"), tmp_path / "a.vcf.gz")
    s = annotate_vcf(asm, tmp_path / "a.vcf.gz", tmp_path / "b.vcf.gz", use_existing=True)
    assert s["source"] == "ANN"
    assert gzip.open(tmp_path / "a.ann.tsv.gz", "rt").read() == gzip.open(tmp_path / "b.ann.tsv.gz", "rt").read()
    # a VEP CSQ: its most severe term and gene are taken, not recomputed
    vep = tmp_path / "vep.vcf"
    vep.write_text("##fileformat=VCFv4.2\n##contig=<ID=NC_003070.9>\n"
                   '##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from Ensembl VEP. '
                   'Format: Allele|Consequence|IMPACT|SYMBOL|Gene|Feature_type|Feature|BIOTYPE">\n'
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   "NC_003070.9\t3760\t.\tA\tG\t.\t.\tCSQ=G|intron_variant|MODIFIER|X|GENEX|Transcript|T1|"
                   "protein_coding,G|missense_variant|MODERATE|Y|GENEY|Transcript|T2|protein_coding\n")
    ex = ExistingAnnotation.from_vcf(vep)
    rec = next(iter(pysam.VariantFile(str(vep))))
    c = ex.most_severe(dict(rec.info), "G")
    assert (c.term, c.gene, c.impact) == ("missense_variant", "GENEY", "MODERATE")
    ann = ConsequenceAnnotator(asm, existing=ex)
    assert ann.annotate("1", 3759, "A", "G", info=dict(rec.info)).term == "missense_variant"
    assert ann.annotate("1", 3759, "A", "G").term == "start_lost"  # no info: computed


def test_cli_annotate(asm, tmp_path):
    from typer.testing import CliRunner

    from plantllm.cli import app

    src = _vcf(asm, tmp_path / "in.vcf")
    r = CliRunner().invoke(app, ["variants", "annotate", str(src), str(DATA / "cards" / "tair10_slice.yaml"),
                                 "-o", str(tmp_path / "o.vcf.gz")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o.vcf.gz.tbi").exists() and (tmp_path / "o.ann.tsv.gz").exists()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("snpEff") is None, reason="snpEff (Debian package snpeff) is not installed")
def test_agreement_with_snpeff_on_the_slice():
    """SnpEff 5.1 itself, on a database built from the slice's FASTA and GTF/GFF3: the most severe term
    and its gene agree (see benchmarks/results/snpeff_agreement.md for the full-chromosome numbers)."""
    r = subprocess.run([sys.executable, str(ROOT.parent / "benchmarks" / "snpeff_agreement.py"), "--small", "--n", "12",
                        "--seed", "1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)
    gtf = res["gtf"]["total"]
    assert gtf["term"] / gtf["n"] >= 0.9 and gtf["gene"] / gtf["n"] >= 0.9
    assert res["gff3_vs_gtf"]["total"]["term"] / res["gff3_vs_gtf"]["total"]["n"] >= 0.95
    # every difference is one of SnpEff's reader artefacts, each checked against the annotation: none left
    for fmt in ("gff3", "gtf"):
        adj = res[fmt]["total_without_explained"]
        assert "other" not in res[fmt]["causes"] and adj["term"] == adj["gene"] == adj["n"], res[fmt]["causes"]
    assert res["gff3_vs_gtf"]["ann0_same"] == res["gff3_vs_gtf"]["total"]["n"]
