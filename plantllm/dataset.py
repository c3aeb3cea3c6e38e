"""Writing datasets: streamed Arrow splits, a manifest, atomic save, skip when current.

Every builder yields examples split by split; they are streamed into Arrow files with
``datasets``' ArrowWriter (memory stays bounded by one writer batch), assembled into a
``DatasetDict`` and saved with ``save_to_disk`` into a temporary folder that is renamed
into place. ``datasets.load_from_disk(out)`` opens the result without plantllm.

``manifest.json`` beside the data records the species card, each input file with its
SHA-256, the parameters, split sizes, seed and plantllm version. A rerun with the same
inputs and parameters finds a matching manifest and skips the work.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

import datasets
from datasets.arrow_writer import ArrowWriter

from . import __version__
from . import console as con
from .io import atomic_path, fingerprint, sha256

MANIFEST = "manifest.json"


def file_records(paths: dict[str, Path | None], checksums: bool = True) -> dict:
    out = {}
    for role, p in paths.items():
        if p is None:
            continue
        p = Path(p)
        out[role] = {"path": str(p), "fingerprint": fingerprint(p), **({"sha256": sha256(p)} if checksums else {})}
    return out


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
    datasets.disable_progress_bars()  # our own progress is shown while streaming; saving is quick
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix=".plantllm-build-", dir=out.parent) as tmp:
        writers = {name: ArrowWriter(features=features, path=str(Path(tmp) / f"{name}.arrow"),
                                     writer_batch_size=writer_batch_size) for name in split_names}
        try:
            for split, ex in examples:
                writers[split].write(ex)
            sizes = {name: w.finalize()[0] for name, w in writers.items()}
        finally:
            for w in writers.values():
                w.close()
        dd = datasets.DatasetDict({name: datasets.Dataset.from_file(str(Path(tmp) / f"{name}.arrow"))
                                   for name in split_names})
        meta = manifest() if callable(manifest) else manifest
        full = {"kind": kind, "plantllm": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "seconds": round(time.time() - t0, 1), "split_sizes": sizes, "inputs": inputs, **meta}
        with atomic_path(out) as dest:
            dd.save_to_disk(str(dest), num_shards={name: 1 for name in split_names})  # 1: empty splits load too
            (dest / MANIFEST).write_text(json.dumps(full, indent=2, default=str) + "\n")
        del dd
    con.info(f"wrote {kind} dataset {out}: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))
    return full


def load(out: str | Path) -> datasets.DatasetDict:
    return datasets.load_from_disk(str(out))


def remove(out: str | Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
