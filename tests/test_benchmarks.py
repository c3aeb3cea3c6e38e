"""Every benchmark has a small mode that runs here, so the scripts never rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("[a-z]*.py")))
def test_benchmark_small_mode(script):
    r = subprocess.run([sys.executable, str(BENCH / script), "--small"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
