"""Shared by the benchmark scripts: machine facts and writing results down."""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    import importlib.metadata as md

    versions = {}
    for pkg in ("plantllm", "gffutils", "pybedtools", "pysam", "torch", "transformers", "deepspeed"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "versions": versions, "command": " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name] + sys.argv[1:])}


def write(name: str, result: dict, markdown: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    m = result["machine"]
    md = (f"# {name}\n\n{markdown}\n\nMachine: {m['cpus']} CPUs, {m['platform']}, Python {m['python']}; "
          f"{', '.join(f'{k} {v}' for k, v in m['versions'].items())}. Date: {m['date']}.\n"
          f"Command: `python benchmarks/{m['command']}`\n")
    path = RESULTS / f"{name}.md"
    path.write_text(md)
    return path
