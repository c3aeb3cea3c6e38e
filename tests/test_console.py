"""Progress: a bar on a terminal, plain periodic lines in a log, nothing when quiet, and no library's tqdm bars."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import CARDS
from plantllm.core import console as con

ROOT = CARDS.parent.parent.parent
TQDM_MARKS = ("\r", "█", "it/s]", "s/it]", "|##")


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_plain_lines_at_most_every_n_seconds_then_a_final_line(capsys):
    clock = Clock()
    t = con.Tracker("scanning", total=40_000, unit="windows", every=10, clock=clock, mode="lines")
    for done, at in ((3_000, 3), (6_000, 6), (9_000, 9.9)):
        clock.t = 100 + at
        t.update(done)
    assert capsys.readouterr().err == ""  # nothing before 10 s
    clock.t = 110.0
    t.update(12_000)
    clock.t = 115.0
    t.advance(1_000)  # 5 s after the last line: none
    assert capsys.readouterr().err == "plantllm scanning: 12,000/40,000 windows (30%), 1,200 windows/s, ETA 23 s\n"
    clock.t = 133.0
    t.update(40_000)
    t.close()
    t.close()  # once only
    err = capsys.readouterr().err.splitlines()
    assert err == ["plantllm scanning: 40,000/40,000 windows (100%), 1,212 windows/s",
                   "plantllm scanning: 40,000 windows in 33 s (1,212 windows/s)"]


def test_plain_lines_without_a_total_and_when_stopped(capsys):
    clock = Clock()
    with pytest.raises(KeyboardInterrupt):
        with con.Tracker("scoring variants", unit="variants", every=1, clock=clock, mode="lines") as t:
            clock.t += 2
            t.advance(500)
            raise KeyboardInterrupt
    assert capsys.readouterr().err.splitlines() == [
        "plantllm scoring variants: 500 variants, 250 variants/s",
        "plantllm scoring variants: stopped at 500 variants after 2.0 s"]
    assert con.duration(0.42) == "0.4 s" and con.duration(65) == "1 min 05 s" and con.duration(7260) == "2 h 01 min"
    assert con.rate(2950.4, "windows") == "2,950 windows/s" and con.rate(0.53, "sequences") == "0.53 sequences/s"


def test_track_in_a_log_and_quiet(monkeypatch, capsys):
    monkeypatch.delenv("PLANTLLM_QUIET", raising=False)
    monkeypatch.setenv("PLANTLLM_PROGRESS_SECONDS", "0")  # a line at every item
    assert con.progress_mode() == "lines"  # captured stderr is not a terminal
    assert list(con.track(range(3), "reading", total=3, unit="records")) == [0, 1, 2]
    lines = capsys.readouterr().err.splitlines()
    assert [x.split(",")[0] for x in lines[:3]] == [f"plantllm reading: {i}/3 records ({p}%)" for i, p in
                                                    ((1, 33), (2, 67), (3, 100))]
    assert lines[3].startswith("plantllm reading: 3 records in ") and len(lines) == 4
    for _ in con.track(range(5), "reading"):  # a consumer that stops early has finished, not failed
        break
    assert "stopped" not in capsys.readouterr().err
    monkeypatch.setenv("PLANTLLM_QUIET", "1")
    assert list(con.track(range(3), "reading", total=3)) == [0, 1, 2]
    with con.status("one step"):
        pass
    assert capsys.readouterr().err == "plantllm one step\n"


def test_quiet_libraries_switches_off_their_bars(monkeypatch):
    import datasets
    import huggingface_hub.utils as hub
    import transformers.utils.logging as tl

    for k in con.LIBRARY_ENV:
        monkeypatch.setenv(k, "0")  # restored afterwards
    datasets.enable_progress_bars()
    con.quiet_libraries()
    assert all(os.environ[k] == "1" for k in con.LIBRARY_ENV)
    assert datasets.is_progress_bar_enabled() is False
    assert hub.are_progress_bars_disabled() and not tl.is_progress_bar_enabled()


def _train_config(tmp, dataset) -> str:
    cfg = tmp / "ft.yaml"
    cfg.write_text(f"task: classification\nmodel: {ROOT / 'configs/models/tiny-esm-6mer.yaml'}\n"
                   f"dataset: {dataset}\noutput_dir: {tmp / 'run'}\ndeepspeed: null\nmax_steps: 12\n"
                   "per_device_train_batch_size: 32\nmax_length: 32\neval_steps: 6\nsave_steps: 100\n"
                   "logging_steps: 3\nlearning_rate: 1.0e-3\n")
    return str(cfg)


def test_a_real_run_logs_plantllm_lines_and_no_tqdm_bar(tmp_path):
    """Data, fine-tuning (HF Trainer) and a genome scan through plantllm's main, stderr into a file, as in a
    Slurm job: plantllm's progress lines are there, no library's tqdm bar is."""
    card = str(CARDS / "tair10_slice.yaml")
    commands = [
        ["data", "pretrain", card, "-o", str(tmp_path / "corpus"), "--length", "512", "--stride", "8192"],
        ["data", "promoter", card, "-o", str(tmp_path / "ds"), "--upstream", "99", "--downstream", "20",
         "--block-size", "100000", "--val-fraction", "0.2", "--test-fraction", "0.2"],
        ["finetune", _train_config(tmp_path, tmp_path / "ds")],
        ["predict", "promoters", str(tmp_path / "run" / "model"), card, "--region", "1:100001-120000",
         "--stride", "200", "-o", str(tmp_path / "scan")],
    ]
    script = ("import sys\nfrom plantllm.cli import main\n"
              f"for argv in {commands!r}:\n    rc = main(argv)\n    if rc:\n        sys.exit(rc)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PLANTLLM_QUIET", *con.LIBRARY_ENV)}
    env["PLANTLLM_PROGRESS_SECONDS"] = "0"
    log = tmp_path / "stderr.log"
    with open(log, "w") as fh:
        r = subprocess.run([sys.executable, "-c", script], stderr=fh, stdout=subprocess.DEVNULL, env=env,
                           cwd=tmp_path, timeout=900)
    text = log.read_text()
    assert r.returncode == 0, text[-3000:]
    for mark in TQDM_MARKS:
        assert mark not in text, f"a tqdm bar in the log ({mark!r}):\n{text[-3000:]}"
    lines = text.splitlines()
    assert any(x.startswith("plantllm pretraining windows: ") and "windows/s, ETA" in x for x in lines), text
    scan = [x for x in lines if x.startswith("plantllm scanning with ")]
    assert len(scan) >= 2 and " windows in " in scan[-1] and "windows/s" in scan[-1], text
    assert (tmp_path / "scan" / "promoters.bed").exists()
