"""The inference engine: shards, parts and markers, resume after kill -9, and ranks that do not change a byte."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from conftest import CARDS
from plantllm.core.errors import PlantLLMError
from plantllm.inference.engine import Job, genome_shards, rank_world

CARD = CARDS / "tair10_slice.yaml"


def test_shards_are_cut_from_the_genome():
    s = genome_shards([("1", 0, 2500), ("2", 100, 1100)], 1000)
    assert [(x.index, x.chrom, x.start, x.end) for x in s] == [(0, "1", 0, 1000), (1, "1", 1000, 2000),
                                                                (2, "1", 2000, 2500), (3, "2", 100, 1100)]
    with pytest.raises(PlantLLMError):
        genome_shards([("1", 0, 10)], 0)


def test_rank_world_from_launchers(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"):
        monkeypatch.delenv(k, raising=False)
    assert rank_world() == (0, 1, 0)
    monkeypatch.setenv("SLURM_PROCID", "3"), monkeypatch.setenv("SLURM_NTASKS", "8")
    assert rank_world() == (3, 8, 0)
    monkeypatch.setenv("RANK", "1"), monkeypatch.setenv("WORLD_SIZE", "2"), monkeypatch.setenv("LOCAL_RANK", "1")
    assert rank_world() == (1, 2, 1)  # the launcher's variables win


def test_job_resumes_and_restarts_when_the_plan_changes(tmp_path):
    shards = genome_shards([("1", 0, 3000)], 1000)
    job = Job(tmp_path, "test", {"x": 1}, shards)
    assert job.prepare() == 0
    calls = []

    def work(shard):
        calls.append(shard.index)
        return pa.table({"v": [shard.index]})

    assert job.todo(0, 2) == [shards[0], shards[2]] and job.todo(1, 2) == [shards[1]]
    job.run(work, "test")
    assert calls == [0, 1, 2] and not job.missing()
    assert [t.column("v").to_pylist() for _, t in job.parts()] == [[0], [1], [2]]
    assert Job(tmp_path, "test", {"x": 1}, shards).prepare() == 3  # the same plan: all done
    job.part_path(shards[1]).write_bytes(b"truncated")  # a part that does not match its marker is not done
    again = Job(tmp_path, "test", {"x": 1}, shards)
    assert [s.index for s in again.missing()] == [1]
    other = Job(tmp_path, "test", {"x": 2}, shards)  # other parameters: start over
    assert other.prepare() == 0 and len(other.missing()) == 3


def _cli(args, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "plantllm.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ, PLANTLLM_QUIET="1", **(env or {})))


def _outputs(folder: Path) -> dict[str, bytes]:
    """What a user gets, byte for byte (the scored VCF decompressed: bgzip blocks carry no timestamps, but the
    comparison should not depend on that), and the summary without timings."""
    s = json.loads((folder / "summary.json").read_text())
    for k in ("seconds", "variants_per_s", "processes"):
        s.pop(k, None)
    return {"ranked.tsv": (folder / "ranked.tsv").read_bytes(),
            "scored.vcf": gzip.decompress((folder / "scored.vcf.gz").read_bytes()),
            "summary": json.dumps(s, sort_keys=True).encode()}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from plantllm.apps.variant_report import write_saturation_vcf
    from plantllm.models import checkpoint as M
    from plantllm.species.assembly import Assembly
    from plantllm.species.card import load_card

    d = tmp_path_factory.mktemp("engine")
    spec = M.load_spec(Path(__file__).resolve().parents[1] / "configs/models/tiny-bert-char.yaml")
    tok = M.build_tokenizer(spec)
    M.save(M.create(spec, tok, task="mlm"), tok, d / "mlm")
    vcf = write_saturation_vcf(Assembly(load_card(CARD)), [("1", 3_000, 4_200)], d / "sat.vcf")
    args = ["variants", "score", vcf, CARD, "--model", d / "mlm", "--window", "64", "--shard-size", "150",
            "--region", "Chr1:3001-4200"]  # 8 shards
    ref = d / "reference"
    r = subprocess.run([sys.executable, "-m", "plantllm.cli", *map(str, args), "--out", ref], capture_output=True,
                       text=True, env=dict(os.environ, PLANTLLM_QUIET="1"))
    assert r.returncode == 0, r.stderr[-3000:]
    return d, args, _outputs(ref)


def test_kill_9_then_rerun_gives_the_uninterrupted_outputs(setup, tmp_path):
    d, args, want = setup
    out = tmp_path / "scored"
    p = _cli([*args, "--out", out])
    job = out / ".plantllm-job"
    t = time.time()
    while len(list(job.glob("part-*.done"))) < 2:  # some shards done, others not
        assert p.poll() is None, p.stderr.read().decode()[-2000:]
        assert time.time() - t < 300
        time.sleep(0.02)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    done_before = {m.name: m.stat().st_mtime_ns for m in job.glob("part-*.done")}
    assert 2 <= len(done_before) < 8 and not (out / "ranked.tsv").exists()
    r = subprocess.run([sys.executable, "-m", "plantllm.cli", *map(str, args), "--out", out], capture_output=True,
                       text=True, env=dict(os.environ, PLANTLLM_QUIET="1"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming" in r.stderr
    for name, mtime in done_before.items():  # finished shards were not recomputed
        assert (job / name).stat().st_mtime_ns == mtime
    assert _outputs(out) == want
    assert (out / "scored.vcf.gz.tbi").exists()
    # other parameters into the same folder start over (and keep the new plan's indexed copy of the VCF)
    other = [("48" if a == "64" else a) for a in args]
    r = subprocess.run([sys.executable, "-m", "plantllm.cli", *map(str, other), "--out", out], capture_output=True,
                       text=True, env=dict(os.environ, PLANTLLM_QUIET="1"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "starting over" in r.stderr and _outputs(out) != want


@pytest.mark.slow
def test_two_processes_write_the_same_bytes(setup, tmp_path):
    d, args, want = setup
    out = tmp_path / "two"
    r = subprocess.run([sys.executable, "-m", "plantllm.cli", *map(str, args), "--out", out, "--nproc", "2"],
                       capture_output=True, text=True, env=dict(os.environ, PLANTLLM_QUIET="1"))
    assert r.returncode == 0, r.stderr[-3000:]
    ranks = {json.loads(m.read_text())["rank"] for m in (out / ".plantllm-job").glob("part-*.done")}
    assert ranks == {0, 1}  # both ranks did work
    assert _outputs(out) == want


@pytest.mark.slow
def test_srun_ranks_from_the_environment(setup, tmp_path):
    """Under srun every task runs the same command; rank 1 scores its shards and leaves, rank 0 merges."""
    d, args, want = setup
    out = tmp_path / "srun"
    env = {"SLURM_NTASKS": "2"}
    r1 = _cli([*args, "--out", out], env={**env, "SLURM_PROCID": "1"})
    r0 = _cli([*args, "--out", out], env={**env, "SLURM_PROCID": "0"})
    assert r1.wait(timeout=600) == 0, r1.stderr.read().decode()[-2000:]
    assert r0.wait(timeout=600) == 0, r0.stderr.read().decode()[-2000:]
    assert _outputs(out) == want


def test_score_tracks_and_their_lookup(setup, tmp_path):
    """Tracks of every position's LLR: bigWig + tabix table; variants score with --tracks takes the stored
    LLR, equal to what the model gives when it scores the SNVs itself."""
    import pyBigWig

    from plantllm.cli import main

    d, args, want = setup
    out = tmp_path / "tracks"
    assert main(["variants", "tracks", str(CARD), "--model", str(d / "mlm"), "--region", "Chr1:3001-4200",
                 "--window", "64", "--out", str(out), "--shard-size", "400"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["positions"] == 1200 and s["shards"] == 3
    bw = pyBigWig.open(str(out / "llr_min.bw"))
    vals = bw.values("NC_003070.9", 3000, 4200)
    rows = [x.split("\t") for x in gzip.decompress((out / "scores.tsv.gz").read_bytes()).decode().splitlines()[1:]]
    assert len(rows) == 1200 and all(abs(v - float(r[7])) < 1e-4 for v, r in zip(vals, rows))
    assert all(float(r[3 + "ACGT".index(r[2])]) == 0 and float(r[7]) <= float(r[8]) for r in rows)
    looked = tmp_path / "looked"
    r = subprocess.run([sys.executable, "-m", "plantllm.cli", *map(str, args), "--out", looked, "--tracks", out],
                       capture_output=True, text=True, env=dict(os.environ, PLANTLLM_QUIET="1"))
    assert r.returncode == 0, r.stderr[-2000:]
    scored = {tuple(x.split("\t")[2:7]): float(x.split("\t")[14]) for x in (looked / "ranked.tsv").read_text().splitlines()[1:]}
    ref = {tuple(x.split("\t")[2:7]): float(x.split("\t")[14]) for x in want["ranked.tsv"].decode().splitlines()[1:]}
    assert scored.keys() == ref.keys() and max(abs(scored[k] - ref[k]) for k in ref) < 1e-5


def test_last_layer_at_the_read_tokens_equals_the_full_forward(setup):
    """``logits_at`` runs BERT's last layer at the read tokens only: the same logits as the full forward (fp32),
    with and without padding, on real windows."""
    import torch

    from plantllm.models import masked_logits
    from plantllm.models.runner import ModelRunner
    from plantllm.species.assembly import Assembly
    from plantllm.species.card import load_card

    d = setup[0]
    runner = ModelRunner(d / "mlm", "mlm", precision="exact")
    assert masked_logits.supports(runner.model)
    g = Assembly(load_card(CARD)).genome
    seqs = [g.fetch("1", 5_000 + 97 * i, 5_064 + 97 * i) for i in range(6)] + [g.fetch("1", 9_000, 9_040)]
    enc = runner.encode(seqs)  # the last row is shorter: padded
    rows, cols = torch.tensor([0, 1, 2, 3, 4, 5, 6, 6]), torch.tensor([33, 1, 64, 10, 20, 30, 5, 40])
    enc["input_ids"][rows, cols] = runner.tok.mask_token_id
    full = runner.logits(enc)[rows, cols]
    assert torch.allclose(runner.logits_at(enc, rows, cols), full, atol=1e-5, rtol=0)
    lp = runner.masked_log_probs(enc["input_ids"][:6], enc["attention_mask"][:6], [33, 1, 64, 10, 20, 30])
    assert torch.allclose(lp, torch.log_softmax(full[:6], -1), atol=1e-5, rtol=0)


def test_fast_encoder_codes_and_char_positions_with_n():
    """Windows kept as base codes tokenize to the HF ids; a char tokenizer's token of a base is known even when
    the window holds N (the encoder falls back to HF for those rows)."""
    import numpy as np

    from plantllm.models.tokenizers import FastDnaEncoder, build

    for kind, kw in (("char", {}), ("kmer", {"k": 3})):
        tok = build(kind, **kw)
        enc = FastDnaEncoder(tok)
        seqs = ["ACGTTGCAAGt", "TTGACCAGTcA"]
        codes = enc.lut[np.frombuffer("".join(seqs).encode(), dtype=np.uint8)].reshape(2, -1)
        ids = enc.from_codes(codes)["input_ids"].tolist()
        assert ids == tok(seqs)["input_ids"]
        assert enc.from_codes(np.where(codes == 0, 4, codes)) is None  # an N: the caller tokenizes strings
    enc = FastDnaEncoder(build("char"))
    withn = ["ACNNTGCA", "ACGTRGCA"]
    assert enc.token_of(withn, [2, 7]).tolist() == [3, 8]
    assert enc(withn)["input_ids"].tolist() == build("char")(withn)["input_ids"]


def test_scan_from_codes_equals_the_string_path(setup):
    """The vectorized scan (windows as codes, N windows through strings) scores the same windows, in the same
    order, with the same scores as the string path."""
    import numpy as np

    from plantllm.apps.promoter_scan import ModelScorer, ScanParams, scan
    from plantllm.models import checkpoint as M
    from plantllm.species.assembly import Assembly
    from plantllm.species.card import load_card

    d = setup[0]
    spec = M.load_spec(Path(__file__).resolve().parents[1] / "configs/models/tiny-bert-char.yaml")
    tok = M.build_tokenizer(spec)
    M.save(M.create(spec, tok, task="classification", num_labels=2), tok, d / "cls")
    scorer = ModelScorer(d / "cls")

    class Strings:  # the same model through the generic (string) path
        name = "model"
        encode, forward = scorer.encode, scorer.forward

    asm = Assembly(load_card(CARD))
    p = ScanParams(upstream=40, downstream=20, stride=7, batch_size=16, max_n_fraction=0.5)
    regions = [("1", 3_000, 3_900), ("1", 10_000, 10_333)]
    a, b = scan(asm, scorer, regions, p), scan(asm, Strings(), regions, p)
    from plantllm.data.windows import count

    assert len(a["score"]) == len(b["score"]) == 2 * sum(count(s, e, p.window, p.stride) for _, s, e in regions)
    for k in ("chrom", "tss", "strand"):
        assert (a[k] == b[k]).all(), k
    assert np.array_equal(a["score"], b["score"])


def test_embeddings_on_the_engine_resume_and_ranks(setup, tmp_path):
    """``model embed``: windows' embeddings as Parquet; a rerun after some shards finished computes only the
    others, and srun-style ranks write the same bytes as one process."""
    import numpy as np
    import pyarrow.parquet as pq

    from plantllm.cli import main

    d = setup[0]
    args = ["model", "embed", str(CARD), "--model", str(d / "mlm"), "--region", "Chr1:3001-4200", "--window", "100",
            "--stride", "50", "--shard-size", "300"]
    one = tmp_path / "one"
    assert main([*args, "--out", str(one)]) == 0
    t = pq.read_table(one / "embeddings.parquet")
    assert t.num_rows == 23 and t.column("start").to_pylist()[:2] == [3000, 3050]
    assert np.stack(t.column("embedding").to_numpy(zero_copy_only=False)).shape == (23, 64)
    done = sorted((one / ".plantllm-job").glob("part-*.done"))
    for m in done[1:]:  # as if killed after the first shard: only the others are recomputed
        m.unlink()
    first = done[0].stat().st_mtime_ns
    assert main([*args, "--out", str(one)]) == 0
    assert done[0].stat().st_mtime_ns == first and pq.read_table(one / "embeddings.parquet").equals(t)
    ranks = tmp_path / "ranks"
    env = dict(os.environ, PLANTLLM_QUIET="1", SLURM_NTASKS="2")
    r1 = subprocess.Popen([sys.executable, "-m", "plantllm.cli", *args, "--out", str(ranks)],
                          env={**env, "SLURM_PROCID": "1"}, stderr=subprocess.PIPE)
    r0 = subprocess.Popen([sys.executable, "-m", "plantllm.cli", *args, "--out", str(ranks)],
                          env={**env, "SLURM_PROCID": "0"}, stderr=subprocess.PIPE)
    assert r1.wait(timeout=600) == 0 and r0.wait(timeout=600) == 0, r0.stderr.read().decode()[-2000:]
    assert (ranks / "embeddings.parquet").read_bytes() == (one / "embeddings.parquet").read_bytes()
    assert (ranks / "windows.bed").read_bytes() == (one / "windows.bed").read_bytes()
