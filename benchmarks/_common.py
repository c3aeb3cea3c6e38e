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
ROOT = Path(__file__).resolve().parent.parent
#: the peers' Python (GPN, DNALLM): a separate virtual environment, see shared/PEERS.md
PEER = Path(os.environ.get("PLANTLLM_PEER_PYTHON", ROOT / ".bench-venv" / "bin" / "python"))


def peer_available(module: str, what: str) -> str | None:
    """None when ``module`` imports in the peer environment, else why it cannot run here."""
    import subprocess

    if not PEER.exists():
        return f"no peer environment at {PEER} (see shared/PEERS.md)"
    r = subprocess.run([str(PEER), "-c", f"import {module}"], capture_output=True, text=True)
    if r.returncode:
        return f"{what} does not import in {PEER}: {(r.stderr.strip().splitlines() or [str(r.returncode)])[-1]}"
    return None


def char_bert(tmp: Path, small: bool, task: str) -> Path:
    """A character-level BERT both plantllm and the peers read (one token per base, [CLS] ... [SEP]),
    random init (speed and agreement do not depend on the weights): tiny, or 3.4 M parameters."""
    import yaml

    from plantllm.models import checkpoint as M

    cfg = {"name": f"char-bert-{task}", "architecture": "bert", "objective": "mlm", "tokenizer": {"kind": "char"},
           "max_length": 514,
           "config": ({"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 256}
                      if small else
                      {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 1024})}
    (tmp / "model.yaml").write_text(yaml.safe_dump(cfg))
    spec = M.load_spec(tmp / "model.yaml")
    tok = M.build_tokenizer(spec)
    M.save(M.create(spec, tok, task=task, num_labels=2 if task == "classification" else None, seed=0), tok,
           tmp / "model")
    return tmp / "model"


def promoters(asm, n: int) -> list[str]:
    """Up to ``n`` real promoters, -249..+50 around protein-coding TSSs, upper case, without N."""
    out = []
    for g in asm.annotation.genes:
        t = g.canonical
        if t is None or not t.coding or t.tss < 300:
            continue
        s = (asm.genome.fetch(t.chrom, t.tss - 249, t.tss + 51) if t.strand == "+" else
             asm.genome.fetch(t.chrom, t.tss - 50, t.tss + 250, "-")).upper()
        if len(s) == 300 and "N" not in s:
            out.append(s)
        if len(out) == n:
            break
    return out


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


def report(name: str, result: dict, args, markdown) -> int:
    """A benchmark's end: its parameters (all but --work) into ``result``; with --small the table is printed only,
    else it is written with the machine to ``results/NAME.md`` and ``.json`` (``write``) and printed."""
    result["parameters"] = {k: v for k, v in vars(args).items() if k != "work"}
    if args.small:
        print(markdown(result, args))
        return 0
    result["machine"] = machine()
    print(write(name, result, markdown(result, args)))
    return 0
