"""A multi-species corpus: several plantllm datasets of one kind (e.g. each species' pretraining windows)
combined split by split into one dataset, which ``plantllm pretrain`` trains on as on any other.

Each part keeps its own splits (a window held out in its species stays held out). ``max_per_part`` caps what
one part contributes to each split (a seeded random subset), so a large genome does not drown a small one.
The manifest lists every part with its species, card and manifest, and the rows each contributed.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np

from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError
from plantllm.data.writer import MANIFEST, current_manifest, write_dataset


def _part(path: Path) -> tuple[dict, datasets.DatasetDict]:
    m = path / MANIFEST
    if not m.exists():
        raise PlantLLMError(f"{path}: not a plantllm dataset (no {MANIFEST})",
                            fix="build each species' dataset with 'plantllm data pretrain' first")
    return json.loads(m.read_text()), datasets.load_from_disk(str(path))


def combine_datasets(parts: list[str | Path], out: str | Path, *, max_per_part: int | None = None, seed: int = 0,
                     force: bool = False) -> dict:
    """Write the union of ``parts`` (same kind and columns) at ``out``; returns its manifest."""
    if len(parts) < 2:
        raise PlantLLMError("give at least two datasets to combine")
    paths = [Path(p).resolve() for p in parts]
    loaded = [_part(p) for p in paths]
    kinds = {m.get("kind") for m, _ in loaded}
    if len(kinds) != 1:
        raise PlantLLMError(f"the datasets are of different kinds ({', '.join(sorted(map(str, kinds)))})",
                            fix="combine datasets built by the same 'plantllm data' command")
    features = loaded[0][1]["train"].features
    splits = tuple(loaded[0][1])
    for p, (_, d) in zip(paths[1:], loaded[1:]):
        if tuple(d) != splits or d["train"].features != features:
            raise PlantLLMError(f"{p}: its splits or columns differ from {paths[0]}'s",
                                fix="build every part with the same command and options")
    inputs = {"parts": [{"path": str(p), "created": m.get("created")} for p, (m, _) in zip(paths, loaded)],
              "max_per_part": max_per_part, "seed": seed}
    done = None if force else current_manifest(Path(out), inputs)
    if done is not None:
        return done
    rng = np.random.default_rng(seed)
    plan = []  # (part index, split, row indices)
    for i, (_, d) in enumerate(loaded):
        for split in splits:
            n = len(d[split])
            idx = np.arange(n) if not max_per_part or n <= max_per_part else np.sort(
                rng.choice(n, max_per_part, replace=False))
            plan.append((i, split, idx))
    total = sum(len(idx) for *_, idx in plan)

    def examples():
        for i, split, idx in plan:
            ds = loaded[i][1][split]
            for k in range(0, len(idx), 1000):
                batch = ds[idx[k:k + 1000]]
                for r in range(len(batch[next(iter(batch))])):
                    yield split, {c: batch[c][r] for c in batch}

    manifest = {"species": ",".join(str(m.get("species")) for m, _ in loaded),
                "parts": [{"path": str(p), "species": m.get("species"), "card": m.get("card"),
                           "rows": {s: int(len(idx)) for i2, s, idx in plan if i2 == i}}
                          for i, (p, (m, _)) in enumerate(zip(paths, loaded))]}
    con.info(f"combining {len(paths)} datasets: {total:,} rows")
    return write_dataset(out, loaded[0][0].get("kind", "combined"), features,
                         con.track(examples(), "combining", total=total, unit="rows"), manifest, inputs, splits)
