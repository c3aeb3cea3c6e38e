"""Promoter prediction: scans on real TAIR10, browser-ready outputs, evaluation with baselines."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest

from conftest import DATA
from plantllm.species.assembly import Assembly
from plantllm.core.errors import PlantLLMError
from plantllm.apps.promoter_predict import predict_promoters
from plantllm.apps.promoter_scan import KmerScorer, ModelScorer, ScanParams, scan, score_fasta
from plantllm.data.splits import held_out_regions
from plantllm.species.regions import parse_region
from plantllm.core.sequence import reverse_complement
from plantllm.species.card import load_card
from plantllm.data.splits import Splitter
from plantllm.data.tasks.promoter import PromoterParams, build_promoter
from plantllm.training.config import TrainConfig
from plantllm.training.trainer import run

ROOT = DATA.parent.parent


@pytest.fixture(scope="module")
def asm():
    return Assembly(load_card(DATA / "cards" / "tair10_slice.yaml"))


@pytest.fixture(scope="module")
def trained(asm, tmp_path_factory):
    d = tmp_path_factory.mktemp("prom")
    build_promoter(asm, d / "ds", PromoterParams(upstream=99, downstream=20), Splitter(0.2, 0.2, block_size=100_000))
    s = run(TrainConfig(task="classification", model=str(ROOT / "configs/models/tiny-esm-6mer.yaml"),
                        dataset=str(d / "ds"), output_dir=str(d / "run"), max_steps=20, per_device_train_batch_size=32,
                        max_length=32, eval_steps=20, save_steps=100, learning_rate=1e-3))
    return d, s["model"]


def test_window_geometry_matches_the_promoter_dataset(asm, trained):
    d, _ = trained
    ds = datasets.load_from_disk(str(d / "ds"))
    pos = {(r["strand"], r["seq"]) for r in ds["train"] if r["label"] == 1}
    p = ScanParams(99, 20, stride=1)
    for t in asm.annotation.canonical_transcripts()[:40]:
        if not t.coding:
            continue
        ws = t.tss - 99 if t.strand == "+" else t.tss - 20  # the scan's window whose candidate TSS is t
        if ws < 0:
            continue
        fwd = asm.genome.fetch("1", ws, ws + p.window)
        seq = fwd if t.strand == "+" else reverse_complement(fwd)
        tss = ws + p.upstream if t.strand == "+" else ws + p.window - 1 - p.upstream
        assert tss == t.tss
        if any(r_seq == seq for _, r_seq in pos):
            return
    pytest.fail("no scan window reproduced a training promoter window")


def test_scan_outputs_are_browser_ready(asm, trained, tmp_path):
    d, model = trained
    s = predict_promoters(model, asm, tmp_path, regions=[parse_region("Chr1:1-60000", asm.card, asm.genome.length)],
                          params=ScanParams(99, 20, stride=25), threshold=None, top_k=50, bedgraph=True,
                          shard_size=7_000)
    assert s["windows"] == (60_000 - 120) // 25 + 1 and s["shards"] == 9
    for name in ("plus", "minus"):
        import pyBigWig

        bw = pyBigWig.open(str(tmp_path / f"scores.{name}.bw"))
        assert bw.chroms("NC_003070.9") == asm.genome.length("1")
        graph = [line.split("\t") for line in (tmp_path / f"scores.{name}.bedGraph").read_text().splitlines()[1:]]
        assert [(int(a), int(b), round(v, 4)) for a, b, v in bw.intervals("NC_003070.9")] == \
            [(int(r[1]), int(r[2]), round(float(r[3]), 4)) for r in graph]  # the track and the bedGraph agree
    assert (tmp_path / "promoters.bed.gz.tbi").exists()
    import pysam

    with pysam.TabixFile(str(tmp_path / "promoters.bed.gz")) as tb:
        assert len(list(tb.fetch("NC_003070.9", 0, 60_000))) == len((tmp_path / "promoters.bed").read_text().splitlines()) - 1
    for name in ("plus", "minus"):
        lines = (tmp_path / f"scores.{name}.bedGraph").read_text().splitlines()
        assert lines[0].startswith("track type=bedGraph")
        rows = [line.split("\t") for line in lines[1:]]
        assert all(r[0] == "NC_003070.9" for r in rows)
        starts = [int(r[1]) for r in rows]
        ends = [int(r[2]) for r in rows]
        assert starts == sorted(starts) and all(e > s for s, e in zip(starts, ends))
        assert all(ends[i] <= starts[i + 1] for i in range(len(rows) - 1))  # non-overlapping
        assert all(0 <= float(r[3]) <= 1 for r in rows)
    bed = (tmp_path / "promoters.bed").read_text().splitlines()
    assert bed[0].startswith("track") and 0 < len(bed) - 1 <= 50
    calls = [b.split("\t") for b in bed[1:]]
    for c in calls:
        assert len(c) == 6 and 0 <= int(c[4]) <= 1000 and c[5] in "+-" and int(c[1]) < int(c[2])
    for strand in "+-":
        iv = sorted((int(c[1]), int(c[2])) for c in calls if c[5] == strand)
        assert all(iv[i][1] <= iv[i + 1][0] for i in range(len(iv) - 1))  # merged per strand


def test_both_strands_scored_in_one_pass(asm, trained):
    _, model = trained
    sc = ModelScorer(model)
    p = ScanParams(99, 20, stride=500)
    res = scan(asm, sc, [("1", 10_000, 12_000)], p)
    ws = 10_000
    fwd = asm.genome.fetch("1", ws, ws + p.window)
    expect = sc.score([fwd, reverse_complement(fwd)])
    assert res["tss"][0] == ws + 99 and res["strand"][0] == "+" and np.isclose(res["score"][0], expect[0], atol=1e-5)
    assert res["tss"][1] == ws + 119 - 99 and res["strand"][1] == "-" and np.isclose(res["score"][1], expect[1], atol=1e-5)


def test_evaluation_with_baselines_on_held_out_blocks(asm, trained, tmp_path):
    d, model = trained
    regions = held_out_regions(asm, d / "ds")
    test = datasets.load_from_disk(str(d / "ds"))["test"]
    assert all(any(c == r["chrom"] and s <= r["start"] and r["end"] <= e for c, s, e in regions) for r in test)
    s = predict_promoters(model, asm, tmp_path, regions=regions[:1], params=ScanParams(99, 20, stride=50),
                          evaluate=d / "ds")
    ev = json.loads((tmp_path / "evaluation.json").read_text())
    assert set(ev["held_out_task"]) == {"model", "6-mer logistic", "TATA-box PWM"}
    assert ev["held_out_task"]["6-mer logistic"]["auroc"] > 0.6  # the baseline learns real promoters
    assert ev["tss_recovery"]["model"]["annotated_tss"] > 10
    assert (tmp_path / "evaluation.png").stat().st_size > 10_000
    assert s["evaluation"]["genome_scan_top_k"] == 2 * ev["tss_recovery"]["model"]["annotated_tss"]


def test_candidate_fasta(trained, tmp_path):
    d, model = trained
    test = datasets.load_from_disk(str(d / "ds"))["test"].select(range(6))
    fa = tmp_path / "c.fa"
    fa.write_text("".join(f">c{i}\n{r['seq']}\n" for i, r in enumerate(test)))
    path = score_fasta(ModelScorer(model), fa, tmp_path)
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:]]
    assert [r[0] for r in rows] == [f"c{i}" for i in range(6)]
    direct = ModelScorer(model).score([test[0]["seq"]])[0]
    assert abs(float(rows[0][2]) - direct) < 1e-4


def test_kmer_baseline_separates_real_promoters(trained):
    d, _ = trained
    ds = datasets.load_from_disk(str(d / "ds"))
    from sklearn.metrics import roc_auc_score

    k = KmerScorer(ds["train"]["seq"], np.array(ds["train"]["label"]))
    assert roc_auc_score(ds["test"]["label"], k.score(ds["test"]["seq"])) > 0.6


def test_region_parsing(asm):
    assert parse_region("Chr1:1,001-2,000", asm.card, asm.genome.length) == ("1", 1000, 2000)
    with pytest.raises(PlantLLMError, match="outside"):
        parse_region("Chr1:1-99999999", asm.card, asm.genome.length)
    with pytest.raises(PlantLLMError, match="must look like"):
        parse_region("Chr1:abc", asm.card, asm.genome.length)


def test_scan_resumes_after_kill_9(asm, trained, tmp_path):
    """A scan killed after some shards resumes with only the others and writes the uninterrupted outputs."""
    import os
    import signal
    import subprocess
    import sys
    import time

    d, model = trained
    args = [sys.executable, "-m", "plantllm.cli", "predict", "promoters", str(model), str(DATA / "cards" / "tair10_slice.yaml"),
            "--region", "Chr1:1-60000", "--stride", "25", "--shard-size", "6000", "--top-k", "40"]
    env = dict(os.environ, PLANTLLM_QUIET="1")
    ref = subprocess.run(args + ["--out", str(tmp_path / "ref")], capture_output=True, text=True, env=env)
    assert ref.returncode == 0, ref.stderr[-2000:]
    p = subprocess.Popen(args + ["--out", str(tmp_path / "cut")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    job = tmp_path / "cut" / ".plantllm-job"
    t = time.time()
    while len(list(job.glob("part-*.done"))) < 2:
        assert p.poll() is None and time.time() - t < 300, p.stderr.read().decode()[-2000:]
        time.sleep(0.02)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert not (tmp_path / "cut" / "promoters.bed").exists()
    again = subprocess.run(args + ["--out", str(tmp_path / "cut")], capture_output=True, text=True, env=env)
    assert again.returncode == 0 and "resuming" in again.stderr, again.stderr[-2000:]
    for f in ("promoters.bed", "scores.plus.bw", "scores.minus.bw"):
        assert (tmp_path / "cut" / f).read_bytes() == (tmp_path / "ref" / f).read_bytes(), f
