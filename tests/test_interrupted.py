"""kill -9 in the middle of a run: nothing half-written is left that looks complete, and a rerun finishes.

(Training's kill -9 resume is in test_train.py; disk-full while checkpointing in
test_train.test_incomplete_checkpoint_is_set_aside.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import datasets

from conftest import CARDS

CARD = CARDS / "tair10_slice.yaml"
ROOT = Path(__file__).resolve().parent.parent


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "plantllm.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ, PLANTLLM_QUIET="1"))


def _kill_when(p: subprocess.Popen, ready, timeout: float = 120) -> None:
    t = time.time()
    while not ready():
        assert p.poll() is None, p.stderr.read().decode()[-2000:]
        assert time.time() - t < timeout
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()


def test_dataset_build_killed_leaves_nothing_and_reruns(tmp_path):
    out = tmp_path / "corpus"
    args = ["data", "pretrain", CARD, "--out", out, "--length", "128", "--stride", "8", "--block-size", "100000"]
    p = _start(args)
    _kill_when(p, lambda: any(tmp_path.glob(".corpus.*.tmp")))  # killed while writing
    assert not out.exists()  # no dataset that looks complete
    stale = list(tmp_path.glob(".corpus.*.tmp"))
    assert stale  # the killed process's temporary ...
    r = subprocess.run([sys.executable, "-m", "plantllm.cli", *map(str, args)], capture_output=True, text=True,
                       env=dict(os.environ, PLANTLLM_QUIET="1"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert not any(s.exists() for s in stale)  # ... is removed by the rerun
    ds = datasets.load_from_disk(str(out))
    assert len(ds["train"]) > 10_000


def test_variant_scoring_killed_writes_no_outputs(tmp_path):
    from plantllm.models import checkpoint as M
    from plantllm.species.assembly import Assembly
    from plantllm.species.card import load_card
    from plantllm.apps.variant_report import write_saturation_vcf

    spec = M.load_spec(ROOT / "configs/models/tiny-bert-char.yaml")
    tok = M.build_tokenizer(spec)
    M.save(M.create(spec, tok, task="mlm"), tok, tmp_path / "mlm")
    vcf = write_saturation_vcf(Assembly(load_card(CARD)), [("1", 3_000, 9_000)], tmp_path / "sat.vcf")
    out = tmp_path / "scored"
    p = _start(["variants", "score", vcf, CARD, "--model", tmp_path / "mlm", "--out", out])
    _kill_when(p, lambda: out.exists())  # killed while scoring: the folder exists from the start, the files come at the end
    assert not any((out / f).exists() for f in ("ranked.tsv", "scored.vcf.gz", "summary.json", "summary.png"))


def test_scratch_folder_of_a_killed_process_is_removed(tmp_path):
    """A process killed (-9) inside ``core.io.scratch_dir`` (the merge's external sort) leaves its folder; the next
    process that opens one of the same name removes it, and its own is gone when its block ends."""
    code = ("import sys, time; from plantllm.core.io import scratch_dir\n"
            "with scratch_dir(sys.argv[1], 'tsv-sort') as d:\n"
            "    (d / 'run-0000.arrow').write_bytes(b'x' * 1000); print(d, flush=True); time.sleep(600)\n")
    p = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    left = Path(p.stdout.readline().strip())
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert left.is_dir() and left.parent == tmp_path  # the killed process's folder stays behind ...
    from plantllm.core.io import scratch_dir

    with scratch_dir(tmp_path, "tsv-sort") as mine:
        assert not left.exists() and mine.is_dir()  # ... until the next one of the same name
        (mine / "run").write_text("x")
    assert not mine.exists() and not any(tmp_path.iterdir())
