"""Variant prioritization on real data: consequences (TAIR10), zero-shot scores, ranked outputs (maize VCF)."""

from __future__ import annotations

import json

import numpy as np
import pysam
import pytest

from conftest import DATA
from plantllm.species.assembly import Assembly
from plantllm.cli import main
from plantllm.apps.consequence import ConsequenceAnnotator
from plantllm.core.errors import InputFileError
from plantllm.species.card import load_card
from plantllm.data.splits import Splitter
from plantllm.training.config import TrainConfig
from plantllm.training.trainer import run
from plantllm.apps.variant_report import consequence_auroc, prioritize, write_saturation_vcf
from plantllm.apps.variant_scoring import VariantScorer, score_vcf
from plantllm.apps.variant_shards import run_scoring
from plantllm.data.tasks.pretrain import WindowParams, build_pretrain

ROOT = DATA.parent.parent


@pytest.fixture(scope="module")
def asm():
    return Assembly(load_card(DATA / "cards" / "tair10_slice.yaml"))


@pytest.fixture(scope="module")
def mlm(asm, tmp_path_factory):
    d = tmp_path_factory.mktemp("mlm")
    build_pretrain(asm, d / "c", WindowParams(128, 128), Splitter(0.1, 0.1, block_size=100_000))
    s = run(TrainConfig(task="mlm", model=str(ROOT / "configs/models/tiny-bert-char.yaml"), dataset=str(d / "c"),
                        output_dir=str(d / "run"), max_steps=15, per_device_train_batch_size=16, max_length=130,
                        eval_steps=100, save_steps=100, max_eval_samples=32))
    return s["model"]


def _snv(asm, ann, pos, alt):
    ref = asm.genome.fetch("1", pos, pos + 1).upper()
    return ann.annotate("1", pos, ref, alt)


def test_coding_consequences_of_real_nac001(asm):
    """AT1G01010 (NAC001): CDS 3,760..5,630 (+), first intron 3,914..3,995, 429 amino acids."""
    ann = ConsequenceAnnotator(asm)
    c = _snv(asm, ann, 3759, "G")
    assert (c.term, c.gene, c.aa_change) == ("start_lost", "AT1G01010", "M1V")
    assert _snv(asm, ann, 5628, "C").term == "stop_lost" and _snv(asm, ann, 5628, "C").aa_change == "*430S"
    assert _snv(asm, ann, 3913, "A").term == "splice_donor_variant"
    # SnpEff's ordering: within MODIFIER, downstream of AT1G01020 (2.8 kb away) outranks the intron
    c = _snv(asm, ann, 3950, "A")
    assert c.term == "downstream_gene_variant" and c.gene == "AT1G01020"
    assert [e.term for e in c.entries if e.gene_id == "AT1G01010"] == ["intron_variant"]
    assert c.entries[-1].rank == "1/5" and c.entries[-1].format().split("|")[9] == "c.154+38T>A"
    assert _snv(asm, ann, 3500, "A").term == "upstream_gene_variant"
    assert _snv(asm, ann, 5700, "A").term == "3_prime_UTR_variant"
    assert _snv(asm, ann, 3700, "A").term == "5_prime_UTR_variant"
    assert ann.annotate("1", 3771, "A", "AT").term == "frameshift_variant"


def test_saturation_classes_follow_the_genetic_code(asm, tmp_path):
    """Every SNV of real CDSs: third codon positions are mostly synonymous, first/second never are
    (except stop codon changes), and stop-gained SNVs create TAA/TAG/TGA."""
    ann = ConsequenceAnnotator(asm)
    g = next(x for x in asm.annotation.genes if x.locus == "AT1G01010").canonical
    cds = np.concatenate([np.arange(s, e) for s, e in g.cds])
    by_frame = {0: [], 1: [], 2: []}
    for i, pos in enumerate(cds[:-3]):
        ref = asm.genome.fetch("1", int(pos), int(pos) + 1).upper()
        for alt in "ACGT":
            if alt != ref:
                by_frame[i % 3].append(ann.annotate("1", int(pos), ref, alt).term)
    third = by_frame[2]
    assert third.count("synonymous_variant") / len(third) > 0.5
    assert "synonymous_variant" not in by_frame[1]
    assert by_frame[0].count("stop_gained") + by_frame[1].count("stop_gained") + third.count("stop_gained") > 10


def test_scores_ranked_tsv_and_vcf(asm, mlm, tmp_path):
    vcf = write_saturation_vcf(asm, [("1", 3700, 3800), ("1", 20_000, 20_050)], tmp_path / "sat.vcf")
    s = run_scoring(asm, vcf, mlm, tmp_path / "out", method="llr", window=64, batch_size=16)
    assert s["scored"] == 3 * 150 and s["vcf_stats"]["ref_mismatch"] == 0
    assert not list((tmp_path / "out" / ".plantllm-job").glob(".tsv-sort*"))  # the merge's sort runs are gone
    rows = [line.split("\t") for line in (tmp_path / "out" / "ranked.tsv").read_text().splitlines()]
    head, body = rows[0], rows[1:]
    assert head[:3] == ["rank", "priority", "chrom"] and [int(r[0]) for r in body] == list(range(1, 451))
    pr = [float(r[1]) for r in body]
    assert pr == sorted(pr, reverse=True)
    assert body[0][7] in ("start_lost", "stop_gained", "missense_variant")  # severe first
    with pysam.VariantFile(str(tmp_path / "out" / "scored.vcf.gz")) as v:
        assert "PLLM_SCORE" in v.header.info and "PLLM_RANK" in v.header.info
        assert v.header.info["ANN"].description.startswith("Functional annotations: 'Allele | Annotation |")
        recs = list(v)
    # SnpEff-standard ANN beside the scores: every ALT of every record, one entry per ALT x transcript
    assert all({e.split("|")[0] for e in r.info["ANN"]} == set(r.alts) for r in recs)
    assert len(recs) == 150 and all(len(r.info["PLLM_SCORE"]) == 3 for r in recs)
    assert (tmp_path / "out" / "summary.png").stat().st_size > 10_000
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["by_consequence"] and summary["models"][0]["forwards_per_site"] == 2  # BERT: both strands


def test_multiallelic_site_shares_the_masked_pass(asm, mlm, tmp_path):
    """The three ALTs of a site scored together equal the ALTs scored one per record."""
    vcf_multi = write_saturation_vcf(asm, [("1", 3760, 3761)], tmp_path / "m.vcf")
    ref = asm.genome.fetch("1", 3760, 3761).upper()
    single = tmp_path / "s.vcf"
    lines = vcf_multi.read_text().splitlines()
    single.write_text("\n".join(lines[:-1] + [lines[-1].replace(lines[-1].split("\t")[4], a)
                                              for a in "ACGT" if a != ref]) + "\n")
    sc = VariantScorer(mlm, "llr", window=64)
    a = sorted((r.variant.alt, r.score) for r in score_vcf(asm, vcf_multi, sc))
    b = sorted((r.variant.alt, r.score) for r in score_vcf(asm, single, sc))
    assert [x for x, _ in a] == [x for x, _ in b] and np.allclose([y for _, y in a], [y for _, y in b], atol=1e-5)


def test_repeat_flag_is_the_soft_mask(asm, mlm, tmp_path):
    """Each scored allele's ``repeat`` says whether its base is soft-masked (the card's repeat source) in the
    FASTA, over a stretch where repeats start and end."""
    seq = asm.genome.fetch("1", 0, 1_500_000)
    lower = np.frombuffer(seq.encode(), np.uint8) >= ord("a")
    edges = np.flatnonzero(np.diff(lower.astype(np.int8)))
    start = int(edges[len(edges) // 2]) - 20  # a repeat's border in the middle of the slice
    vcf = write_saturation_vcf(asm, [("1", start, start + 40)], tmp_path / "r.vcf")
    rows = list(score_vcf(asm, vcf, VariantScorer(mlm, "llr", window=64)))
    assert len(rows) == 120 and {r.repeat for r in rows} == {True, False}
    assert all(r.repeat == bool(lower[r.variant.pos]) for r in rows)


def test_llr_reverse_complement_symmetry(asm, mlm):
    """GPN's LLR averages both strands: for the same site, log P(alt) - log P(ref) must be the mean of the
    forward and reverse-complement masked predictions, so swapping the model's view of the strand is neutral."""
    sc = VariantScorer(mlm, "llr", window=64)
    ref = asm.genome.fetch("1", 10_000 - 32, 10_000 + 32).upper()
    alt = ref[:32] + ("A" if ref[32] != "A" else "C") + ref[33:]
    from plantllm.core.sequence import reverse_complement as rc

    s1 = sc.score_sites([(ref, [alt], 32)])[0][0]
    s2 = sc.score_sites([(rc(ref), [rc(alt)], 64 - 1 - 32)])[0][0]
    assert s1 == pytest.approx(s2, abs=1e-5)


def test_dosage_weighting_and_wrong_genome(tmp_path, mlm):
    from test_tasks import _maize

    asm = _maize(tmp_path)
    asm.card.gff = None
    s = run_scoring(asm, DATA / "maize_b73v5_chr1_snps.vcf", mlm, tmp_path / "o", window=64)
    rows = (tmp_path / "o" / "ranked.tsv").read_text().splitlines()
    assert s["scored"] >= 190 and rows[1].split("\t")[7] == "intergenic_variant"  # no GFF: intergenic
    (tmp_path / "b").mkdir()
    bad = _maize(tmp_path / "b", shift=2)
    with pytest.raises(InputFileError, match="REF does not match the genome"):
        run_scoring(bad, DATA / "maize_b73v5_chr1_snps.vcf", mlm, tmp_path / "o2", window=64)
    assert not (tmp_path / "o2" / "ranked.tsv").exists()


def test_priority_documented_order():
    import pyarrow as pa

    table = pa.table({"consequence": ["synonymous_variant", "stop_gained", "intergenic_variant"],
                      "score0": [-5.0, -0.1, 2.0], "dosage": [1.0, 1.0, 0.5]})
    ranked, order = prioritize(table)
    assert [ranked.column("consequence")[int(i)].as_py() for i in order] == \
        ["stop_gained", "synonymous_variant", "intergenic_variant"]
    assert ranked.column("rank").to_pylist() == [2, 1, 3]
    assert ranked.column("dosage_weighted_score")[2].as_py() == pytest.approx(1.0)
    p = ranked.column("priority").to_pylist()  # 0.5 * impact + 0.5 * evidence percentile
    assert p[1] == pytest.approx(0.5 * 1.0 + 0.5 * 0.5) and p[0] == pytest.approx(0.5 * 0.15 + 0.5 * 1.0)
    assert consequence_auroc(["stop_gained", "synonymous_variant"], [-3.0, 1.0])["damaging_vs_neutral"] == 1.0


def test_evaluation_against_real_maize_labels(tmp_path, mlm):
    """The maize VCF's TYPE labels (MaizeGDB consequences) as a user label table."""
    from plantllm.cli import main
    from test_tasks import _maize_genome

    table = tmp_path / "labels.tsv"
    with pysam.VariantFile(str(DATA / "maize_b73v5_chr1_snps.vcf")) as v:
        table.write_text("".join(f"{r.chrom}\t{r.pos}\t{r.ref}\t{a}\t{r.info['TYPE'][0]}\n"
                                 for r in v for a in r.alts))  # TYPE has Number=.: the first term
    fa = _maize_genome(tmp_path)
    assert main(["variants", "score", str(DATA / "maize_b73v5_chr1_snps.vcf"), "zea_mays", "--model", mlm,
                 "-o", str(tmp_path / "o"), "--fasta", str(fa), "--window", "64", "--labels", str(table)]) == 0
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["labels"]["labelled"] >= 190 and s["labels"]["unmatched_labels"] == s["vcf_stats"]["indels_skipped"]
    per_label = {k: v for k, v in s["labels"].items() if isinstance(v, dict)}
    assert "missense_variant" in per_label and all(0 <= v["auroc_score"] <= 1 for v in per_label.values())


def test_several_models_in_one_pass(asm, mlm, tmp_path):
    """Two models (a masked LM by llr, a causal LM by clm) score the same windows; each keeps its own
    column and INFO field, the priority averages their percentiles, and model 1 alone gives the same scores."""
    from plantllm.models import checkpoint as M

    spec = M.load_spec(ROOT / "configs/models/tiny-llama-char.yaml")
    tok = M.build_tokenizer(spec)
    M.save(M.create(spec, tok, task="clm"), tok, tmp_path / "clm")
    vcf = write_saturation_vcf(asm, [("1", 3700, 3740)], tmp_path / "sat.vcf")
    rc = main(["variants", "score", str(vcf), str(DATA / "cards" / "tair10_slice.yaml"), "--model", mlm,
               "--model", str(tmp_path / "clm"), "--method", "llr", "--method", "clm", "--window", "64",
               "--out", str(tmp_path / "two")])
    assert rc == 0
    rows = [line.split("\t") for line in (tmp_path / "two" / "ranked.tsv").read_text().splitlines()]
    head = rows[0]
    assert head[head.index("score") + 1:head.index("score") + 3] == ["score_model", "score_clm"]
    s = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert [m["method"] for m in s["models"]] == ["llr", "clm"] and len(s["score_correlation"]) == 2
    one = run_scoring(asm, vcf, mlm, tmp_path / "one", method="llr", window=64)
    single = {(r[2], r[3], r[6]): float(r[head.index("score")]) for r in
              (x.split("\t") for x in (tmp_path / "one" / "ranked.tsv").read_text().splitlines()[1:])}
    both = {(r[2], r[3], r[6]): float(r[head.index("score_model")]) for r in rows[1:]}
    assert one["scored"] == len(both) == 120
    assert all(abs(single[k] - both[k]) < 1e-5 for k in both)
    with pysam.VariantFile(str(tmp_path / "two" / "scored.vcf.gz")) as v:
        assert "PLLM_SCORE2" in v.header.info and "clm" in v.header.info["PLLM_SCORE2"].description
        rec = next(iter(v))
        assert len(rec.info["PLLM_SCORE1"]) == len(rec.info["PLLM_SCORE2"]) == 3
    assert main(["variants", "score", str(vcf), str(DATA / "cards" / "tair10_slice.yaml"), "--model", mlm,
                 "--model", str(tmp_path / "clm"), "--method", "llr", "--method", "clm", "--method", "llr",
                 "--out", str(tmp_path / "bad")]) == 2


# ------------------------------------------------------------------ issue #20: VCF values outside their domain
def _small_vcf(tmp_path, rows: list[str], samples: int = 2):
    head = ["##fileformat=VCFv4.2", "##contig=<ID=NC_003070.9,length=30427671>",
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(f"S{i}" for i in range(samples))]
    p = tmp_path / "u.vcf"
    p.write_text("\n".join(head + rows) + "\n")
    return p


def test_genotype_allele_beyond_alts_is_an_error_not_a_missing_call(tmp_path):
    from plantllm.species.vcf import read_vcf

    card = load_card(DATA / "cards" / "tair10_slice.yaml")
    ok = _small_vcf(tmp_path, ["NC_003070.9\t3701\t.\tA\tC,G\t.\t.\t.\tGT\t0/2\t./."])
    (v1, v2) = list(read_vcf(ok, card))
    assert (v1.n_called, v1.n_carriers, v2.n_carriers, v2.dosage) == (1, 0, 1, 0.5)  # ./. is missing, 2 is G
    bad = _small_vcf(tmp_path, ["NC_003070.9\t3701\t.\tA\tC\t.\t.\t.\tGT\t0/1\t0|2"])
    with pytest.raises(InputFileError, match=r"u.vcf:5: genotype allele index beyond the listed ALTs: sample S1 has "
                                             r"genotype 0\|2"):
        list(read_vcf(bad, card))


def test_alt_equal_to_ref_is_left_out_and_counted(tmp_path, capsys):
    from plantllm.species.vcf import VcfStats, read_vcf

    card = load_card(DATA / "cards" / "tair10_slice.yaml")
    p = _small_vcf(tmp_path, ["NC_003070.9\t3701\t.\tA\ta,C\t.\t.\t.\tGT\t0/1\t1/2"])
    st = VcfStats()
    assert [v.alt for v in read_vcf(p, card, st)] == ["C"]
    assert st.alt_equals_ref == 1 and "REF A ALT a (VCF line 5)" in st.first_alt_equals_ref
    assert "1 ALT allele(s) left out: ALT equals REF" in capsys.readouterr().err


def test_pos_zero_is_an_error(tmp_path):
    from plantllm.species.vcf import read_vcf

    card = load_card(DATA / "cards" / "tair10_slice.yaml")
    p = _small_vcf(tmp_path, ["NC_003070.9\t0\t.\tA\tC\t.\t.\t.\tGT\t0/1\t1/1"])
    with pytest.raises(InputFileError, match="u.vcf:5: POS 0 is not a position"):
        list(read_vcf(p, card))


def test_ploidy_against_the_card(tmp_path):
    """Consistent tetraploid calls on a diploid card stop the read; haploid organelle calls and mixed
    ploidy do not; a subgenome-resolved hexaploid (wheat) is called diploid per chromosome."""
    import dataclasses

    from plantllm.species.vcf import expected_ploidy, read_vcf

    card = load_card(DATA / "cards" / "tair10_slice.yaml")
    tet = _small_vcf(tmp_path, [f"NC_003070.9\t{3701 + i}\t.\tA\tC\t.\t.\t.\tGT\t0/0/1/1\t./././." for i in range(3)])
    with pytest.raises(InputFileError, match=r"4-ploid on every nuclear record \(3 read.*fix: set 'ploidy: 4'"):
        list(read_vcf(tet, card))
    assert len(list(read_vcf(tet, dataclasses.replace(card, ploidy=4)))) == 3
    organelle = _small_vcf(tmp_path, ["NC_000932.1\t10\t.\tA\tC\t.\t.\t.\tGT\t1\t0"])
    assert len(list(read_vcf(organelle, card))) == 1
    mixed = _small_vcf(tmp_path, ["NC_003070.9\t3701\t.\tA\tC\t.\t.\t.\tGT\t0/1\t1/1",
                                  "NC_003070.9\t3702\t.\tA\tC\t.\t.\t.\tGT\t1\t0"])
    assert len(list(read_vcf(mixed, card))) == 2
    wheat = load_card(DATA.parent.parent / "species" / "triticum_aestivum.yaml")
    nuclear = next(c.name for c in wheat.chromosomes if c.nuclear and c.subgenome)
    assert wheat.ploidy == 6 and expected_ploidy(wheat, nuclear) == 2


def test_past_the_end_counted_apart_from_ref_mismatch(tmp_path):
    from plantllm.species.genome import Genome
    from plantllm.species.vcf import VcfStats, check_ref, read_vcf

    card = load_card(DATA / "cards" / "tair10_slice.yaml")
    p = _small_vcf(tmp_path, ["NC_003070.9\t1600000\t.\tA\tC\t.\t.\t.\tGT\t0/1\t1/1"])
    st = VcfStats()
    with Genome(card) as g:
        assert [check_ref(g, v, st) for v in read_vcf(p, card, st)] == [False]
    assert st.past_end == 1 and st.ref_mismatch == 0 and "past the end of 1 in the FASTA (1,500,000 bp)" in \
        st.first_past_end


def test_stats_merge_and_shown_source(tmp_path):
    from plantllm.species.vcf import VcfStats, read_vcf

    a = VcfStats(records=2, past_end=1, first_past_end="x", absent={"2": 5})
    b = VcfStats(records=3, past_end=2, first_past_end="y", first_mismatch="z", absent={"2": 9, "Pt": 1})
    m = a.merge(b)
    assert (m.records, m.past_end, m.first_past_end, m.first_mismatch, m.absent) == (5, 3, "x", "z", {"2": 5, "Pt": 1})
    card = load_card(DATA / "cards" / "tair10_slice.yaml")
    p = _small_vcf(tmp_path, ["NC_003070.9\t0\t.\tA\tC\t.\t.\t.\tGT\t0/1\t1/1"])
    with pytest.raises(InputFileError, match=r"^user.vcf:5: POS 0"):
        list(read_vcf(p, card, source="user.vcf"))


def test_variant_label_table_domain(tmp_path):
    from plantllm.data.tasks.variants import read_labels

    p = tmp_path / "l.tsv"
    for label in ("nan", "NaN", "inf", "-Infinity"):
        p.write_text(f"chrom\tpos\tref\talt\tlabel\n1\t5\tA\tC\t{label}\n")
        with pytest.raises(InputFileError, match=f"l.tsv:2: label '{label}' is a missing or infinite value"):
            read_labels(p)
    p.write_text("1\t-3\tA\tC\tdamaging\n")
    with pytest.raises(InputFileError, match="l.tsv:1: pos -3 is not a position"):
        read_labels(p)
    p.write_text("1\t5\ta\tc\t0.5\n")
    assert read_labels(p) == {("1", 5, "A", "C"): "0.5"}


def test_score_keeps_an_existing_vep_annotation(asm, mlm, tmp_path):
    """--use-existing-annotation: the VCF's own VEP CSQ gives the consequence (not recomputed) and stays in
    the scored VCF; without the flag plantllm's own annotation replaces it."""
    ref = asm.genome.fetch("1", 3759, 3760).upper()
    alt = "G" if ref != "G" else "C"
    vep = tmp_path / "vep.vcf"
    vep.write_text("##fileformat=VCFv4.2\n##contig=<ID=NC_003070.9>\n"
                   '##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from Ensembl VEP. '
                   'Format: Allele|Consequence|IMPACT|SYMBOL|Gene|Feature_type|Feature|BIOTYPE">\n'
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   f"NC_003070.9\t3760\t.\t{ref}\t{alt}\t.\t.\tCSQ={alt}|missense_variant|MODERATE|LAB1|LABGENE|"
                   "Transcript|T1|protein_coding\n")
    s = run_scoring(asm, vep, mlm, tmp_path / "kept", method="llr", window=64, use_existing_annotation=True)
    assert s["scored"] == 1
    row = dict(zip(*[x.split("\t") for x in (tmp_path / "kept" / "ranked.tsv").read_text().splitlines()]))
    assert row["consequence"] == "missense_variant" and row["gene"] == "LABGENE"
    with pysam.VariantFile(str(tmp_path / "kept" / "scored.vcf.gz")) as v:
        rec = next(iter(v))
        assert "CSQ" in rec.info and "ANN" not in rec.info
    run_scoring(asm, vep, mlm, tmp_path / "own", method="llr", window=64)
    row = dict(zip(*[x.split("\t") for x in (tmp_path / "own" / "ranked.tsv").read_text().splitlines()]))
    assert row["consequence"] == "start_lost"


def test_alt_equal_to_ref_is_counted_and_the_record_still_written(asm, mlm, tmp_path):
    """A multi-allelic record whose first ALT repeats the REF (some callers write that): the ALT is left out of
    scoring and counted, the real ALT is scored, and the scored VCF carries ANN for the real ALT only."""
    ref = asm.genome.fetch("1", 3799, 3800).upper()
    alt = "A" if ref != "A" else "C"
    src = tmp_path / "in.vcf"
    src.write_text("##fileformat=VCFv4.2\n##contig=<ID=NC_003070.9,length=30427671>\n"
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   f"NC_003070.9\t3800\t.\t{ref}\t{ref},{alt}\t.\t.\t.\n")
    s = run_scoring(asm, src, mlm, tmp_path / "out", method="llr", window=64, batch_size=16)
    assert s["scored"] == 1 and s["vcf_stats"]["alt_equals_ref"] == 1
    with pysam.VariantFile(str(tmp_path / "out" / "scored.vcf.gz")) as v:
        (rec,) = list(v)
    assert {e.split("|")[0] for e in rec.info["ANN"]} == {alt}
