"""``plantllm predict promoters``: a genome scan on the inference engine, browser tracks, calls, evaluation.

The scanned regions are cut into shards (chromosome chunks, a multiple of the stride, so every
shard sees the windows of one global grid); each shard's scores are a part of the job, so a scan
resumes after a kill and spreads over ranks like variant scoring. The merge streams the parts in
genome order into one bigWig per strand (pyBigWig; bedGraph on request), keeps only what calling
needs (bins above the threshold, or the best ``top_k``), and writes the calls as a sorted BED, also
bgzipped with a tabix index.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pysam

from plantllm.apps.promoter_eval import evaluate as evaluate_scan
from plantllm.apps.promoter_scan import ModelScorer, ScanParams, scan, write_calls
from plantllm.apps.scan_tracks import Candidates, write_bedgraphs, write_bigwigs
from plantllm.core import console as con
from plantllm.core.io import atomic_path, atomic_write, tabix_index
from plantllm.apps import WORKER
from plantllm.inference.engine import Job, Shard, genome_shards, input_fingerprint, rank_world
from plantllm.species.assembly import Assembly
from plantllm.models.runner import forwards_per_site

SHARD_SIZE = 1_000_000


@dataclass
class ScanJobSpec:
    """What a rank needs to scan its shards (the job's plan)."""

    model: str
    card: str
    fasta: str | None
    gff: str | None
    params: dict
    region_ends: dict[str, int]  # shard name -> end of the region it belongs to (windows may not pass it)
    precision: str = "auto"

    def assembly(self) -> Assembly:
        return Assembly(self.card, fasta=self.fasta, gff=self.gff)


class ShardScanner:
    """A rank's model; ``__call__`` scans one shard (windows starting inside it) into a part table."""

    def __init__(self, spec: ScanJobSpec):
        self.spec, self.asm = spec, spec.assembly()
        self.params = ScanParams(**spec.params)
        self.scorer = ModelScorer(spec.model, precision=spec.precision)

    def __call__(self, shard: Shard) -> pa.Table:
        p = self.params
        end = min(shard.end + p.window - 1, self.spec.region_ends[shard.name])
        res = scan(self.asm, self.scorer, [(shard.chrom, shard.start, end)], p)
        return pa.table({"tss": pa.array(res["tss"], pa.int64()),
                         "strand": pa.array(res["strand"].astype(str), pa.string()),
                         "score": pa.array(res["score"], pa.float32())})


def plan_scan(asm: Assembly, model_dir: str | Path, out: Path, regions: list[tuple[str, int, int]], params: ScanParams,
              shard_size: int, precision: str = "auto") -> Job:
    size = max(params.stride, shard_size // params.stride * params.stride)  # one window grid across shards
    shards, ends = [], {}
    for chrom, s, e in regions:
        for sh in genome_shards([(chrom, s, max(s + 1, e - params.window + 1))], size):
            sh = Shard(len(shards), sh.chrom, sh.start, sh.end)
            shards.append(sh)
            ends[sh.name] = e
    spec = ScanJobSpec(str(model_dir), str(asm.card.source), str(asm.card.fasta) if asm.card.fasta else None,
                       str(asm.card.gff) if asm.card.gff else None, asdict(params), ends, precision)
    fingerprints = input_fingerprint({"fasta": asm.card.fasta, "model": Path(model_dir) / "config.json",
                                      "weights": Path(model_dir) / "model.safetensors"})
    return Job(out, "scan", {"spec": asdict(spec), "inputs": fingerprints}, shards)


def merged_scan(job: Job) -> dict[str, np.ndarray]:
    """All parts as the arrays ``scan`` returns (chrom, tss, strand, score): for the evaluation, which needs the
    whole scan at once (its held-out blocks); the outputs stream (``scan_tracks``)."""
    chroms, tss, strands, scores = [], [], [], []
    for shard, t in job.parts():
        n = t.num_rows
        chroms.append(np.full(n, shard.chrom, dtype=object))
        tss.append(t.column("tss").to_numpy())
        strands.append(np.array(t.column("strand").to_pylist(), dtype=object))
        scores.append(t.column("score").to_numpy())
    cat = lambda xs, dt: np.concatenate(xs) if xs else np.empty(0, dtype=dt)  # noqa: E731
    return {"chrom": cat(chroms, object), "tss": cat(tss, np.int64), "strand": cat(strands, object),
            "score": cat(scores, np.float32)}


def index_bed(path: Path) -> Path:
    """``path.gz`` (bgzip) with a tabix index, next to the plain BED (its first line is the track line)."""
    gz = Path(str(path) + ".gz")
    with atomic_path(gz) as tmp:
        pysam.tabix_compress(str(path), str(tmp), force=True)
        tabix_index(tmp, gz, seq_col=0, start_col=1, end_col=2, zerobased=True, line_skip=1)  # skip: track line
    return gz


def predict_promoters(model_dir: str | Path, asm: Assembly, out: str | Path, *,
                      regions: list[tuple[str, int, int]] | None = None, params: ScanParams | None = None,
                      threshold: float | None = 0.5, top_k: int | None = None, evaluate: str | Path | None = None,
                      baselines: bool = True, bedgraph: bool = False, shard_size: int = SHARD_SIZE, nproc: int = 1,
                      hostfile: str | Path | None = None, precision: str = "auto") -> dict:
    """Scan, call and (with ``evaluate`` = a promoter dataset) evaluate against the annotation and baselines."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    params = params or ScanParams.for_model(model_dir)
    regions = regions or [(c, 0, asm.genome.length(c)) for c in asm.genome.chromosomes()]
    job = plan_scan(asm, model_dir, out, regions, params, shard_size, precision)
    job.prepare()
    spec = ScanJobSpec(**job.plan["plan"]["spec"])

    def merge(seconds: float) -> dict:
        write_bigwigs(asm, job, params.stride, out)
        if bedgraph:
            write_bedgraphs(asm, job, params.stride, out)
        candidates, rows = Candidates(asm, params, threshold, top_k, job.dir / "calls.bed"), 0
        for shard, t in con.track(job.parts(), "calling from the parts", total=len(job.shards), unit="shards"):
            candidates.add(shard, t)
            rows += t.num_rows
        calls = candidates.calls()
        index_bed(write_calls(asm, calls, out))
        windows = rows // 2
        summary: dict = {"model": str(model_dir), "species": asm.card.name,
                         "regions_bp": sum(e - s for _, s, e in regions), "windows": windows,
                         "seconds": round(seconds, 1), "shards": len(job.shards),
                         "processes": max(nproc, rank_world()[1]),
                         "windows_per_s": round(windows / max(seconds, 1e-9), 1),
                         "forwards_per_window": forwards_per_site(model_dir),  # 1: RC-equivariant, both strands
                         "window": {"upstream": params.upstream, "downstream": params.downstream,
                                    "stride": params.stride},
                         "calls": len(calls), "threshold": threshold, "top_k": top_k, "precision": precision}
        if evaluate is not None and asm.has_annotation:
            ev = evaluate_scan(asm, ModelScorer(model_dir), merged_scan(job), calls, regions, params, evaluate, out,
                               baselines=baselines)
            with atomic_write(out / "evaluation.json") as fh:
                json.dump(ev, fh, indent=2)
            summary["evaluation"] = ev
        return summary

    return job.complete(lambda: ShardScanner(spec), "scanning", merge, worker=WORKER, nproc=nproc, hostfile=hostfile)

