"""--snpeff-compatible: SnpEff 5.1's reader convention (a transcript it reads as protein coding but that has no CDS
line is translated from its exons), checked against SnpEff's own ANN kept in tests/data; the default stays
annotation-faithful. Real TAIR10 slice data, real SnpEff output (snpeff51_tair10_ann.tsv)."""

from __future__ import annotations

import gzip

import pysam
import pytest

from conftest import DATA
from plantllm.apps import snpeff_compat
from plantllm.apps.consequence import ConsequenceAnnotator
from plantllm.cli import main
from plantllm.species.assembly import Assembly
from plantllm.species.card import load_card

CARD = DATA / "cards" / "tair10_slice.yaml"
# NC_003070.9:433606 C>A lies in the only exon of gnl|JCVI|mRNA.AT1G02228.1, the 'mRNA' of the pseudogene
# AT1G02228, which the annotation gives no CDS line
SITE = ("NC_003070.9", 433606, "C", "A")


def snpeff_rows(fmt: str, site=SITE) -> list[list[str]]:
    """SnpEff 5.1's ANN entries of ``site`` (database built from the same NCBI ``fmt`` file), 16 fields each:
    Feature_IDs holding '|' (gnl|JCVI|...) are joined back as plantllm writes them ('_')."""
    for line in (DATA / "snpeff51_tair10_ann.tsv").read_text().splitlines():
        f = line.split("\t")
        if f[0] == fmt and (f[1], int(f[2]), f[3], f[4]) == site:
            out = []
            for e in f[5].removeprefix("ANN=").split(","):
                p = e.split("|")
                k = len(p) - 16
                out.append(p[:6] + ["_".join(p[6:7 + k])] + p[7 + k:])
            return out
    raise AssertionError(f"{site} not in snpeff51_tair10_ann.tsv")


@pytest.fixture(scope="module")
def asm():
    return Assembly(load_card(CARD))


@pytest.fixture(scope="module")
def annotators(asm):
    return ConsequenceAnnotator(asm), ConsequenceAnnotator(asm, snpeff_compatible=True)


def _entries(ann, site=SITE):
    chrom, pos, ref, alt = site
    return [e.row() for e in ann.effects(ann.asm.card.try_canonical(chrom), pos - 1, ref, alt)]


def test_compat_translates_a_no_cds_mrna_as_snpeff_does(annotators):
    """SnpEff reads NCBI's 'mRNA' as protein_coding and, with no CDS line, translates the exons from the first
    base: stop_gained c.214G>T p.Glu72* with WARNING_TRANSCRIPT_NO_START_CODON. Every field but the gene name
    (SnpEff's GTF reader has none) is SnpEff's."""
    default, compat = annotators
    ours = _entries(compat)
    theirs = snpeff_rows("gtf")
    assert ours[0][1] == theirs[0][1] == "stop_gained"
    keep = [1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]  # all but Allele... Gene_Name
    assert [ours[0][i] for i in keep] == [theirs[0][i] for i in keep]
    assert ours[0][6] == "gnl_JCVI_mRNA.AT1G02228.1" and ours[0][15] == "WARNING_TRANSCRIPT_NO_START_CODON"
    # the GFF3 database agrees on the translated transcript (its IDs carry the GFF3 'gene-'/'rna-' prefixes)
    g = snpeff_rows("gff3")[0]
    assert g[1:3] + g[7:16] == ours[0][1:3] + ours[0][7:16]
    c = compat.annotate("1", SITE[1] - 1, SITE[2], SITE[3])
    assert (c.term, c.gene, c.impact, c.aa_change) == ("stop_gained", "AT1G02228", "HIGH", "E72*")


def test_default_keeps_the_annotation(annotators):
    """Default: the transcript has no CDS in the annotation, so it is non-coding (biotype from the pseudogene)
    and ANN[0] is the neighbouring gene's upstream entry, as before the compatible mode existed."""
    default, _ = annotators
    ours = _entries(default)
    assert ours[0][1] == "upstream_gene_variant" and ours[0][4] == "AT1G02220"
    mine = [e for e in ours if e[6] == "gnl_JCVI_mRNA.AT1G02228.1"]
    assert [(e[1], e[7], e[9], e[15]) for e in mine] == [("non_coding_transcript_exon_variant", "pseudogene",
                                                           "n.214G>T", "")]
    assert not default.compat and default.annotate("1", SITE[1] - 1, "C", "A").term == "upstream_gene_variant"


def test_snpeff_biotype_rule_on_real_transcripts(asm):
    """SnpEff's BioType.parse of the transcript's type: mRNA and tRNA are protein coding (translated when the
    annotation has no CDS), lnc_RNA is unknown to SnpEff (written 'pseudogene'), ncRNA becomes lincRNA."""
    by_type: dict = {}
    for t in asm.annotation.transcripts:
        by_type.setdefault((t.biotype, bool(t.cds)), t)
    trna = by_type[("tRNA", False)]
    assert snpeff_compat.is_coding(trna) and snpeff_compat.biotype(trna) == "protein_coding"
    assert snpeff_compat.coding_model(trna) == trna.exons
    lnc = by_type[("lnc_RNA", False)]
    assert not snpeff_compat.is_coding(lnc) and snpeff_compat.biotype(lnc) == "pseudogene"
    assert snpeff_compat.coding_model(lnc) is None
    coding = by_type[("mRNA", True)]
    assert snpeff_compat.is_coding(coding) and snpeff_compat.coding_model(coding) is None  # its own CDS
    assert snpeff_compat.parse_biotype("ncRNA") == "lincRNA" and snpeff_compat.parse_biotype("misc_RNA") == "misc_RNA"


def _vcf(tmp_path):
    vcf = tmp_path / "in.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=NC_003070.9>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   + "\t".join([SITE[0], str(SITE[1]), ".", SITE[2], SITE[3], ".", ".", "."]) + "\n")
    return vcf


def test_cli_annotate_flag(tmp_path):
    vcf = _vcf(tmp_path)
    for flag, want in (([], "upstream_gene_variant"), (["--snpeff-compatible"], "stop_gained")):
        out = tmp_path / f"out{len(flag)}.vcf.gz"
        assert main(["variants", "annotate", str(vcf), str(CARD), "-o", str(out), *flag]) == 0
        with pysam.VariantFile(str(out)) as v:
            rec = next(iter(v))
            assert rec.info["ANN"][0].split("|")[1] == want
            assert ("##plantllm_annotation=snpeff-compatible" in str(v.header)) == bool(flag)
        with gzip.open(str(out).replace(".vcf.gz", ".ann.tsv.gz"), "rt") as fh:
            assert fh.read().splitlines()[1].split("\t")[5] == want


@pytest.fixture(scope="module")
def mlm(tmp_path_factory):
    """An untrained tiny masked LM: the flag's path is under test, not the score."""
    from plantllm.models import checkpoint as M

    spec = M.load_spec(DATA.parent.parent / "configs/models/tiny-bert-char.yaml")
    tok = M.build_tokenizer(spec)
    d = tmp_path_factory.mktemp("m") / "mlm"
    M.save(M.create(spec, tok, task="mlm"), tok, d)
    return d


def test_cli_score_flag(tmp_path, mlm):
    vcf = _vcf(tmp_path)
    for flag, want in (([], "upstream_gene_variant"), (["--snpeff-compatible"], "stop_gained")):
        out = tmp_path / f"score{len(flag)}"
        assert main(["variants", "score", str(vcf), str(CARD), "--model", str(mlm), "-o", str(out), "--window", "32",
                     *flag]) == 0
        row = dict(zip(*[x.split("\t") for x in (out / "ranked.tsv").read_text().splitlines()]))
        assert row["consequence"] == want
        with pysam.VariantFile(str(out / "scored.vcf.gz")) as v:
            assert next(iter(v)).info["ANN"][0].split("|")[1] == want
            assert ("##plantllm_annotation=snpeff-compatible" in str(v.header)) == bool(flag)


# ---------------------------------------------------------------- deletions over 10 bp (SnpEff standard, both modes)
def _deletion_rows() -> dict:
    """SnpEff 5.1's ANN (GTF database) of real 11-30 bp deletions: (pos, ref, alt) -> entries, 16 fields each."""
    out = {}
    for line in (DATA / "snpeff51_tair10_deletions.tsv").read_text().splitlines():
        if not line.startswith("#"):
            f = line.split("\t")
            out[(int(f[2]), f[3], f[4])] = [e.split("|") for e in f[5].removeprefix("ANN=").split(",")]
    return out


@pytest.fixture(scope="module")
def gtf_annotators():
    asm = Assembly(load_card(CARD), gff=DATA / "tair10_chr1_1-500000.gtf.gz")
    return ConsequenceAnnotator(asm), ConsequenceAnnotator(asm, snpeff_compatible=True)


def test_deletion_from_one_gene_into_another_is_a_gene_fusion(gtf_annotators):
    """SnpEff treats a deletion over 10 bp as structural: its ends in two genes give a gene_fusion entry
    (bidirectional_gene_fusion for genes on opposite strands), written first; field for field SnpEff's."""
    rows = _deletion_rows()
    kinds = set()
    for (pos, ref, alt), theirs in rows.items():
        fusion = [e for e in theirs if e[5] == "gene_variant"]
        for ann in gtf_annotators:
            ours = [e.row() for e in ann.effects("1", pos - 1, ref, alt)]
            assert [e for e in ours if e[5] == "gene_variant"] == fusion
            assert ours[0][1].split("&")[0] == theirs[0][1].split("&")[0]
        kinds |= {e[1] for e in fusion}
    assert kinds == {"gene_fusion", "bidirectional_gene_fusion"}


def test_whole_exon_deletions_as_snpeff_writes_them(gtf_annotators):
    """A coding exon deleted whole: exon_loss_variant (HIGH) first; an exon deleted within the 5' UTR:
    5_prime_UTR_truncation&exon_loss_variant (MODERATE), so the splice acceptor leads, as in SnpEff."""
    rows = _deletion_rows()
    default, _ = gtf_annotators
    for pos, want in ((407532, "exon_loss_variant"), (37370, "splice_acceptor_variant")):
        (key, theirs), = [(k, v) for k, v in rows.items() if k[0] == pos]
        ours = [e.row() for e in default.effects("1", pos - 1, key[1], key[2])]
        assert ours[0][1].split("&")[0] == theirs[0][1].split("&")[0] == want
        assert (ours[0][4], ours[0][6]) == (theirs[0][4], theirs[0][6])
    utr = [e for e in ours if e[6] == "NM_001035847.1"][0]
    assert "5_prime_UTR_truncation&exon_loss_variant" in utr[1] and utr[2] == "HIGH"  # HIGH from the splice sites
    assert "5_prime_UTR_truncation&exon_loss_variant" in theirs[0][1]
