"""Writing datasets: streamed Arrow splits, a manifest, atomic save, skip when current.

Every builder yields examples split by split; they are streamed into Arrow files with
``datasets``' ArrowWriter (memory stays bounded by one writer batch), assembled into a
``DatasetDict`` layout (as ``save_to_disk`` writes it) in a temporary folder that is
renamed into place. ``datasets.load_from_disk(out)`` opens the result without plantllm.

``manifest.json`` beside the data records the species card, each input file with its
SHA-256, the parameters, split sizes, seed and plantllm version. A rerun with the same
inputs and parameters finds a matching manifest and skips the work.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Callable, Iterable

import datasets
from datasets.arrow_writer import ArrowWriter

from plantllm import __version__
from plantllm.core import console as con
from plantllm.core.io import atomic_path, fingerprint, sha256

MANIFEST = "manifest.json"
SHARD = "data-00000-of-00001.arrow"


def file_records(paths: dict[str, Path | None], checksums: bool = True) -> dict:
    out = {}
    for role, p in paths.items():
        if p is None:
            continue
        p = Path(p)
        out[role] = {"path": str(p), "fingerprint": fingerprint(p), **({"sha256": sha256(p)} if checksums else {})}
    return out


def build_inputs(files: dict[str, Path | None], params, splitter, seed: int, **extra) -> dict:
    """What a dataset build depends on (file fingerprints, parameters, split rules, seed): a rerun with
    the same inputs is skipped. Counts gathered while building (straddling windows) are not inputs."""
    from dataclasses import asdict

    return {"files": file_records(files, checksums=False), "params": asdict(params),
            "split": {k: v for k, v in splitter.describe().items() if k != "straddling_dropped"}, "seed": seed,
            **extra}


def current_manifest(out: Path, inputs: dict) -> dict | None:
    """The manifest in ``out`` if it was made from exactly ``inputs`` (files + parameters)."""
    m = Path(out) / MANIFEST
    if not m.exists():
        return None
    try:
        data = json.loads(m.read_text())
    except json.JSONDecodeError:
        return None
    # compare as JSON sees it: tuples become lists, Paths strings
    return data if data.get("inputs") == json.loads(json.dumps(inputs, default=str)) else None


def write_dataset(out: str | Path, kind: str, features: datasets.Features,
                  examples: Iterable[tuple[str, dict]], manifest: Callable[[], dict] | dict,
                  inputs: dict, split_names: tuple[str, ...] = ("train", "validation", "test"),
                  writer_batch_size: int = 1000) -> dict:
    """Stream ``(split, example)`` pairs to one Arrow file per split, in a single pass over the
    genome, and save a DatasetDict atomically at ``out``. ``manifest`` may be a callable,
    evaluated after streaming (so it can report counts gathered on the way).

    Returns the manifest written (with ``split_sizes``).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    datasets.disable_progress_bars()
    t0 = time.time()
    with atomic_path(out) as dest:
        # Arrow files are streamed straight into the save_to_disk layout (split/data-00000-of-00001.arrow
        # + dataset_info.json + state.json), so the data is written once and never loaded or copied: the
        # memory of a build does not grow with the genome.
        dest.mkdir()
        writers = {}
        for name in split_names:
            (dest / name).mkdir()
            writers[name] = ArrowWriter(features=features, path=str(dest / name / SHARD),
                                        writer_batch_size=writer_batch_size)
        try:
            for split, ex in examples:
                writers[split].write(ex)
            sizes = {name: w.finalize()[0] for name, w in writers.items()}
        finally:
            for w in writers.values():
                w.close()
        for name in split_names:
            datasets.DatasetInfo(features=features).write_to_directory(str(dest / name))
            (dest / name / "state.json").write_text(json.dumps({
                "_data_files": [{"filename": SHARD}], "_fingerprint": uuid.uuid4().hex[:16],
                "_format_columns": None, "_format_kwargs": {}, "_format_type": None,
                "_output_all_columns": False, "_split": name}, indent=2))
        (dest / "dataset_dict.json").write_text(json.dumps({"splits": list(split_names)}))
        check = datasets.load_from_disk(str(dest))  # memory-mapped: proves the layout loads, reads nothing
        if {k: len(v) for k, v in check.items()} != sizes:
            raise RuntimeError(f"dataset layout check failed for {out}: {sizes}")
        del check
        meta = manifest() if callable(manifest) else manifest
        full = {"kind": kind, "plantllm": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "seconds": round(time.time() - t0, 1), "split_sizes": sizes, "inputs": inputs, **meta}
        (dest / MANIFEST).write_text(json.dumps(full, indent=2, default=str) + "\n")
    con.info(f"wrote {kind} dataset {out}: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))
    return full


def load(out: str | Path) -> datasets.DatasetDict:
    return datasets.load_from_disk(str(out))
