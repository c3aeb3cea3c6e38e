"""One rank of an inference job started by a launcher: ``python -m plantllm.apps.worker --job DIR``.

The job folder's ``plan.json`` says what to compute; the rank takes its shards (rank modulo world
size, from the launcher's environment) and writes their parts. The command that planned the job
merges the parts once every rank has finished.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError


def _threads() -> None:
    """Share the cores between the ranks of one host (torch would otherwise start one thread per core each)."""
    import torch

    local = int(os.environ.get("LOCAL_SIZE") or os.environ.get("LOCAL_WORLD_SIZE") or 1)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))


def _work(kind: str, spec: dict, job: Path):
    """The shard function of a job kind and its progress label."""
    if kind == "variants":
        from plantllm.apps.variant_shards import ShardScorer, VariantJobSpec

        return ShardScorer(VariantJobSpec(**spec)), "scoring variants"
    if kind == "scan":
        from plantllm.apps.promoter_predict import ScanJobSpec, ShardScanner

        return ShardScanner(ScanJobSpec(**spec)), "scanning"
    if kind == "tracks":
        from plantllm.apps.score_tracks import ShardTracker, TrackJobSpec

        return ShardTracker(TrackJobSpec(**spec)), "scoring positions"
    if kind == "embed":
        from plantllm.apps.embeddings import EmbedJobSpec, ShardEmbedder

        return ShardEmbedder(EmbedJobSpec(**spec)), "embedding windows"
    raise PlantLLMError(f"unknown job kind '{kind}' in {job}/plan.json")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="plantllm.apps.worker")
    ap.add_argument("--job", required=True, type=Path)
    ap.add_argument("--local_rank", type=int, default=None)  # passed by the deepspeed launcher
    a = ap.parse_args(argv)
    try:
        plan = json.loads((a.job / "plan.json").read_text())
        _threads()
        from plantllm.inference.engine import Job, Shard

        job = Job(a.job.parent, plan["kind"], plan["plan"], [Shard(**s) for s in plan["shards"]])
        if job.fingerprint != plan["fingerprint"]:
            raise PlantLLMError(f"{a.job}/plan.json was changed by hand: rerun the command that made it")
        job.run(*_work(plan["kind"], plan["plan"]["spec"], a.job))
    except PlantLLMError as e:
        con.error(str(e))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
