"""A task from genome intervals with signals: peaks vs matched background, bigWig signal as regression.

* ``--bed NAME=peaks.bed`` (BED or narrowPeak; repeatable): windows of ``length`` centred on each peak's
  summit (narrowPeak column 10) or middle, labelled 1 for every track whose peak covers the centre,
  against GC-matched random windows (2% GC bins) that overlap no peak of any track, one per peak window
  within each split -- the peak sampler of the motif task (``motif.peak_examples``). One track: a binary
  task (``label``); several: multi-label (``labels``, one 0/1 per track, and ``label`` = any).
* ``--bigwig NAME=signal.bw`` (repeatable): the mean signal over each window (pyBigWig, exact) as a
  regression target (``label``; several tracks: ``labels``, one value per track), optionally log1p. The
  windows are the peak and background windows when ``--bed`` is given, else tiles of ``length`` every
  ``stride`` bases over the nuclear chromosomes. Windows without signal data are skipped (counted).

Splits: the genome-block (or chromosome, or homeolog-group) splitter of every other builder; a window
straddling blocks of two splits is dropped.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
import numpy as np

from plantllm.core import console as con
from plantllm.core.errors import InputFileError, PlantLLMError
from plantllm.core.io import require_file
from plantllm.data.sampling import gc_of
from plantllm.data.splits import SPLITS, Splitter
from plantllm.data.tasks.motif import MotifParams, peak_examples
from plantllm.data.windows import tile
from plantllm.data.writer import build_inputs, current_manifest, file_records, write_dataset
from plantllm.species.assembly import Assembly


@dataclass
class RegionParams:
    beds: dict[str, str] = field(default_factory=dict)  # track name -> BED / narrowPeak path
    bigwigs: dict[str, str] = field(default_factory=dict)  # track name -> bigWig path
    length: int = 500
    stride: int = 500  # tiles (bigWig without --bed)
    log1p: bool = False
    max_n_fraction: float = 0.05

    def check(self) -> None:
        if not self.beds and not self.bigwigs:
            raise PlantLLMError("give peaks (--bed NAME=peaks.bed) and/or signal (--bigwig NAME=signal.bw)")
        if self.length < 10 or self.stride < 1:
            raise PlantLLMError(f"--length must be at least 10 bp and --stride at least 1, got {self.length}, "
                                f"{self.stride}")
        for what, paths in (("peak file", self.beds), ("bigWig", self.bigwigs)):
            for p in paths.values():
                require_file(p, what)

    @property
    def task(self) -> str:
        return "regression" if self.bigwigs else "multilabel" if len(self.beds) > 1 else "binary"


class Signals:
    """Mean signal of each bigWig over a window, chromosome names matched through the card's aliases."""

    def __init__(self, asm: Assembly, bigwigs: dict[str, str]):
        import pyBigWig

        self.names = list(bigwigs)
        self.files, self.chrom_of = [], []
        for name, path in bigwigs.items():
            try:
                bw = pyBigWig.open(str(path))
            except RuntimeError:
                bw = None
            if bw is None or not bw.isBigWig():
                raise InputFileError("not a bigWig file", path=path, fix="convert bedGraph with bedGraphToBigWig")
            mapping = {}
            for c in bw.chroms():
                try:
                    mapping[asm.card.canonical(c)] = c
                except PlantLLMError:
                    continue  # contigs the card does not name
            if not mapping:
                raise InputFileError(f"no chromosome of the bigWig is in the card of {asm.card.name} "
                                     f"(e.g. '{next(iter(bw.chroms()), '')}')", path=path,
                                     fix="add the name as an alias in the species card")
            self.files.append(bw)
            self.chrom_of.append(mapping)

    def mean(self, chrom: str, start: int, end: int, log1p: bool) -> list[float] | None:
        """One value per track, or None when a track has no data over the window."""
        out = []
        for bw, names in zip(self.files, self.chrom_of):
            if chrom not in names:
                return None
            v = bw.stats(names[chrom], start, end, type="mean", exact=True)[0]
            if v is None or not math.isfinite(v):
                return None
            out.append(math.log1p(max(v, 0.0)) if log1p else float(v))
        return out

    def close(self) -> None:
        for bw in self.files:
            bw.close()


def tiles(asm: Assembly, params: RegionParams, splitter: Splitter) -> list[tuple[str, dict]]:
    """Windows of ``length`` every ``stride`` bases over the nuclear chromosomes, by split."""
    g, L = asm.genome, params.length
    rows = []
    for c in g.chromosomes():
        for a, seq, kept in tile(g, c, 0, g.length(c), L, params.stride, max_n_fraction=params.max_n_fraction):
            for ws in kept:
                split = splitter.assign(c, ws, ws + L)
                if split is not None:
                    s = seq[ws - a:ws - a + L]
                    rows.append((split, {"chrom": c, "start": ws, "end": ws + L, "strand": "+", "seq": s,
                                         "gc": gc_of(s), "source": "tile", "labels": []}))
    return rows


def _features(params: RegionParams) -> datasets.Features:
    f = {"chrom": datasets.Value("string"), "start": datasets.Value("int64"), "end": datasets.Value("int64"),
         "strand": datasets.Value("string"), "seq": datasets.Value("string"), "gc": datasets.Value("float32"),
         "source": datasets.Value("string")}
    if params.beds:
        f["peaks"] = datasets.Sequence(datasets.Value("int8"), length=len(params.beds))
    if params.bigwigs:
        f["label" if len(params.bigwigs) == 1 else "labels"] = (
            datasets.Value("float32") if len(params.bigwigs) == 1
            else datasets.Sequence(datasets.Value("float32"), length=len(params.bigwigs)))
    elif len(params.beds) == 1:
        f["label"] = datasets.ClassLabel(names=["background", list(params.beds)[0]])
    else:
        f["labels"] = datasets.Sequence(datasets.Value("int8"), length=len(params.beds))
        f["label"] = datasets.Value("int8")
    return datasets.Features(f)


def build_regions(asm: Assembly, out: str | Path, params: RegionParams, splitter: Splitter, seed: int = 0,
                  force: bool = False) -> dict:
    """Write the regions task as a DatasetDict (train/validation/test) with a manifest at ``out``."""
    params.check()
    files = {"fasta": asm.card.fasta, **{f"bed:{k}": Path(v) for k, v in params.beds.items()},
             **{f"bigwig:{k}": Path(v) for k, v in params.bigwigs.items()}}
    inputs = build_inputs(files, params, splitter, seed)
    if not force and (done := current_manifest(Path(out), inputs)) is not None:
        return done
    rng = np.random.default_rng(seed)
    if params.beds:
        rows, _ = peak_examples(asm, MotifParams(length=params.length, peaks=dict(params.beds)), splitter, rng)
    else:
        rows = tiles(asm, params, splitter)
    skipped = {"no_signal": 0}
    if params.bigwigs:
        sig = Signals(asm, params.bigwigs)
        kept = []
        for split, r in con.track(rows, "mean signal per window", total=len(rows), unit="windows"):
            v = sig.mean(r["chrom"], r["start"], r["end"], params.log1p)
            if v is None:
                skipped["no_signal"] += 1
                continue
            kept.append((split, {**r, "values": v}))
        sig.close()
        rows = kept
    if not rows:
        raise PlantLLMError("no windows could be made (check the chromosome names of the tracks against the card, "
                            "and the window length)")
    multi_sig, task = len(params.bigwigs) > 1, params.task
    label_col = "labels" if (multi_sig or (task == "multilabel")) else "label"

    def example(r: dict) -> dict:
        ex = {k: r[k] for k in ("chrom", "start", "end", "strand", "seq", "gc", "source")}
        if params.beds:
            ex["peaks"] = r["labels"]
        if params.bigwigs:
            ex[label_col] = r["values"] if multi_sig else r["values"][0]
        elif task == "multilabel":
            ex.update(labels=r["labels"], label=int(any(r["labels"])))
        else:
            ex["label"] = int(r["labels"][0])
        return ex

    def examples():
        for i in rng.permutation(len(rows)):
            yield rows[i][0], example(rows[i][1])

    def manifest():
        counts = {s: sum(1 for sp, _ in rows if sp == s) for s in SPLITS}
        extra = {}
        if params.beds:
            lab = np.array([r["labels"] for _, r in rows])
            extra["peak_windows_per_track"] = dict(zip(params.beds, lab.sum(0).tolist()))
            extra["background_windows"] = int((lab.sum(1) == 0).sum())
        if params.bigwigs:
            v = np.array([r["values"] for _, r in rows])
            extra["signal_mean"] = dict(zip(params.bigwigs, np.round(v.mean(0), 5).tolist()))
        names = list(params.bigwigs) or list(params.beds)
        return {"species": asm.card.name, "assembly": asm.card.assembly, "card": str(asm.card.source),
                "files": file_records(files), "params": asdict(params), "split": splitter.describe(), "seed": seed,
                "task": {"type": task, "train_task": "classification" if task == "binary" else task,
                         "label_column": label_col, "label_names": names},
                "windows": counts, "skipped": skipped, **extra}

    return write_dataset(out, "regions", _features(params), examples(), manifest, inputs)
