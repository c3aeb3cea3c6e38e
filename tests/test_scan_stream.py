"""Promoter scans at genome scale: the classifier's last layer at [CLS] only, and a merge that streams the parts
(bigWig, bedGraph, calls) with the outputs of a whole-scan sort, whatever the sharding and region layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import CARDS
from plantllm.apps.promoter_predict import merged_scan, plan_scan, predict_promoters
from plantllm.apps.promoter_scan import ScanParams, call_regions, write_calls
from plantllm.species.assembly import Assembly
from plantllm.species.card import load_card

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def asm():
    return Assembly(load_card(CARDS / "tair10_slice.yaml"))


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """tiny-bert-char (2 layers) with a classification head, initialized wide (initializer_range 0.2) so that its
    scores spread: at the default init every window scores ~0.5 and ties would hide ordering mistakes."""
    import yaml

    from plantllm.models import checkpoint as M

    d = tmp_path_factory.mktemp("scancls")
    cfg = yaml.safe_load((ROOT / "configs/models/tiny-bert-char.yaml").read_text())
    cfg["config"]["initializer_range"] = 0.2
    (d / "model.yaml").write_text(yaml.safe_dump(cfg))
    spec = M.load_spec(d / "model.yaml")
    tok = M.build_tokenizer(spec)
    M.save(M.create(spec, tok, task="classification", num_labels=2, seed=3), tok, d / "cls")
    return d / "cls"


def test_classifier_last_layer_at_cls_equals_the_full_forward(asm, classifier):
    """The runner computes a BERT classifier's last layer at [CLS] only: the logits of the full forward (fp32),
    with and without padding, on real windows."""
    import torch

    from plantllm.models import masked_logits
    from plantllm.models.runner import ModelRunner

    runner = ModelRunner(classifier, "classification", precision="exact")
    assert masked_logits.supports_classifier(runner.model) and not masked_logits.supports(runner.model)
    g = asm.genome
    same = [g.fetch("1", 20_000 + 301 * i, 20_300 + 301 * i) for i in range(8)]
    for seqs in (same, same[:5] + [g.fetch("1", 40_000, 40_120), g.fetch("1", 41_000, 41_007)]):  # padded
        enc = runner.encode(seqs)
        with torch.inference_mode():
            full = runner.model(**runner._inputs(enc)).logits
        fast = runner.logits(enc)
        assert torch.allclose(fast, full, atol=1e-5, rtol=0)
        assert torch.softmax(fast, -1)[:, 1].std() > 0.03  # the scores spread: the comparison means something


def _files(folder: Path) -> dict[str, bytes]:
    names = ("scores.plus.bw", "scores.minus.bw", "scores.plus.bedGraph", "scores.minus.bedGraph", "promoters.bed")
    return {n: (folder / n).read_bytes() for n in names}


def _bins(asm, res: dict, p: ScanParams, strand: str) -> list[tuple[int, int, float]]:
    """The track a whole-scan sort gives: every row of the strand sorted by TSS (stable), one stride bin each,
    a bin clipped by the previous one's end, empty bins dropped."""
    sel = res["strand"] == strand
    order = np.argsort(res["tss"][sel], kind="stable")
    out, last = [], 0
    for t, s in zip(res["tss"][sel][order].tolist(), res["score"][sel][order].tolist()):
        a, b = max(0, t - p.stride // 2, last), min(asm.genome.length("1"), t - p.stride // 2 + p.stride)
        last = max(last, b)
        if b > a:
            out.append((a, b, s))
    return out


def test_streamed_merge_equals_a_whole_scan_sort(asm, classifier, tmp_path):
    """Regions given out of order and overlapping on another grid: the streamed tracks, bedGraphs and top-k calls
    are those of one sort of all rows, and the same bytes however the regions are sharded."""
    import pyBigWig

    p = ScanParams(99, 20, stride=25)
    regions = [("1", 30_000, 45_000), ("1", 5_000, 20_000), ("1", 12_010, 26_000)]  # the third overlaps the second
    outs = {}
    for size in (3_000, 1_000_000):
        out = tmp_path / str(size)
        s = predict_promoters(classifier, asm, out, regions=regions, params=p, threshold=None, top_k=60,
                              bedgraph=True, shard_size=size)
        assert s["windows"] == sum((e - s_ - p.window) // p.stride + 1 for _, s_, e in regions)
        outs[size] = _files(out)
    assert outs[3_000] == outs[1_000_000]
    out = tmp_path / "3000"
    job = plan_scan(asm, classifier, out, regions, p, 3_000)
    res = merged_scan(job)
    assert len(job.shards) > 10 and res["score"].std() > 0.03
    for strand, name in (("+", "plus"), ("-", "minus")):
        expect = _bins(asm, res, p, strand)
        bw = pyBigWig.open(str(out / f"scores.{name}.bw"))
        got = bw.intervals("NC_003070.9")
        bw.close()
        assert [(a, b) for a, b, _ in got] == [(a, b) for a, b, _ in expect]
        assert np.allclose([v for *_, v in got], [v for *_, v in expect], atol=1e-6)
        graph = [line.split("\t") for line in (out / f"scores.{name}.bedGraph").read_text().splitlines()[1:]]
        assert [(int(r[1]), int(r[2]), r[3]) for r in graph] == [(a, b, f"{v:.4f}") for a, b, v in expect]
    whole = tmp_path / "whole"
    whole.mkdir()
    write_calls(asm, call_regions(asm, res, p, top_k=60), whole)
    assert (whole / "promoters.bed").read_bytes() == outs[3_000]["promoters.bed"]


def test_threshold_calls_stream_part_by_part(asm, classifier, tmp_path):
    """Calls above a threshold from the parts one at a time equal the calls of the whole scan."""
    p = ScanParams(99, 20, stride=50)
    regions = [("1", 60_000, 90_000)]
    predict_promoters(classifier, asm, tmp_path / "run", regions=regions, params=p, threshold=0.6, shard_size=4_000)
    res = merged_scan(plan_scan(asm, classifier, tmp_path / "run", regions, p, 4_000))
    assert 0 < (res["score"] >= 0.6).sum() < len(res["score"])
    whole = tmp_path / "whole"
    whole.mkdir()
    write_calls(asm, call_regions(asm, res, p, threshold=0.6), whole)
    assert (whole / "promoters.bed").read_bytes() == (tmp_path / "run" / "promoters.bed").read_bytes()


@pytest.mark.slow
def test_two_processes_scan_the_same_bytes(classifier, tmp_path):
    """``--nproc 2`` (two CPU ranks through the launcher) writes the tracks and calls of one process, byte for byte."""
    import json
    import os
    import subprocess
    import sys

    args = [sys.executable, "-m", "plantllm.cli", "predict", "promoters", str(classifier), str(CARDS / "tair10_slice.yaml"),
            "--region", "Chr1:20001-60000", "--stride", "25", "--shard-size", "5000", "--top-k", "30", "--bedgraph"]
    env = dict(os.environ, PLANTLLM_QUIET="1")
    for name, extra in (("one", []), ("two", ["--nproc", "2"])):
        r = subprocess.run(args + ["--out", str(tmp_path / name), *extra], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr[-3000:]
    ranks = {json.loads(m.read_text())["rank"] for m in (tmp_path / "two" / ".plantllm-job").glob("part-*.done")}
    assert ranks == {0, 1}
    assert _files(tmp_path / "two") == _files(tmp_path / "one")
