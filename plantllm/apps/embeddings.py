"""Window embeddings of genome regions on the inference engine: ``plantllm model embed``.

The regions are tiled into windows (``window`` bp every ``stride`` bp; windows with more than
``max_n_fraction`` N skipped); each window's embedding is the model's last hidden layer, mean-pooled
over its bases (or its first token, ``pooling="cls"``), through the model runner. Shards are genome
chunks (a multiple of the stride, so shards share one window grid), each shard's embeddings a part of
the job, so a run resumes after a kill and spreads over ranks (``--nproc``, srun) with byte-identical
outputs. The merge streams the parts, in genome order, into ``embeddings.parquet`` (chrom, start,
end, embedding as a list of float32; pandas, pyarrow, polars and R arrow read it) and ``windows.bed``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from plantllm.apps import WORKER
from plantllm.core.errors import PlantLLMError
from plantllm.core.io import atomic_path, atomic_write
from plantllm.data.windows import tile
from plantllm.inference.engine import Job, Shard, genome_shards, input_fingerprint
from plantllm.models.runner import POOLINGS, ModelRunner
from plantllm.species.assembly import Assembly

SHARD_SIZE = 1_000_000


@dataclass
class EmbedJobSpec:
    model: str
    card: str
    fasta: str | None
    window: int
    stride: int
    pooling: str
    batch_size: int
    max_n_fraction: float
    region_ends: dict[str, int]  # shard name -> end of its region (windows may not pass it)
    precision: str = "auto"
    trust_remote_code: bool = False

    def assembly(self) -> Assembly:
        return Assembly(self.card, fasta=self.fasta)


class ShardEmbedder:
    """A rank's model; ``__call__`` embeds the windows starting inside one shard into a part table."""

    def __init__(self, spec: EmbedJobSpec):
        self.spec, self.asm = spec, spec.assembly()
        self.runner = ModelRunner(spec.model, "embedding", trust_remote_code=spec.trust_remote_code,
                                  precision=spec.precision)

    def __call__(self, shard: Shard) -> pa.Table:
        s = self.spec
        end = min(shard.end + s.window - 1, s.region_ends[shard.name])
        starts, seqs = [], []
        for a, seq, kept in tile(self.asm.genome, shard.chrom, shard.start, end, s.window, s.stride,
                                 max_n_fraction=s.max_n_fraction):
            starts += kept
            seqs += [seq[w - a:w - a + s.window] for w in kept]
        vecs = (self.runner.embed(seqs, pooling=s.pooling, batch_size=s.batch_size) if seqs
                else np.zeros((0, 0), np.float32)).astype(np.float32)
        dim = vecs.shape[1] if len(vecs) else 0
        flat = pa.array(vecs.reshape(-1), pa.float32())
        emb = pa.FixedSizeListArray.from_arrays(flat, dim) if dim else pa.array([], pa.list_(pa.float32(), 0))
        return pa.table({"start": pa.array(starts, pa.int64()), "embedding": emb})


def plan_embed(asm: Assembly, model_dir: str | Path, out: Path, regions: list[tuple[str, int, int]], *,
               window: int, stride: int, pooling: str, batch_size: int, max_n_fraction: float, shard_size: int,
               precision: str, trust_remote_code: bool = False) -> Job:
    if pooling not in POOLINGS:
        raise PlantLLMError(f"pooling '{pooling}' must be one of {', '.join(POOLINGS)}")
    if window < 1 or stride < 1:
        raise PlantLLMError(f"window and stride must be positive, got {window} and {stride}")
    size = max(stride, shard_size // stride * stride)  # one window grid across shards
    shards, ends = [], {}
    for chrom, s, e in regions:
        for sh in genome_shards([(chrom, s, max(s + 1, e - window + 1))], size):
            sh = Shard(len(shards), sh.chrom, sh.start, sh.end)
            shards.append(sh)
            ends[sh.name] = e
    spec = EmbedJobSpec(str(model_dir), str(asm.card.source), str(asm.card.fasta) if asm.card.fasta else None, window,
                        stride, pooling, batch_size, max_n_fraction, ends, precision, trust_remote_code)
    fingerprints = input_fingerprint({"fasta": asm.card.fasta, "model": Path(model_dir) / "config.json",
                                      "weights": Path(model_dir) / "model.safetensors"})
    return Job(out, "embed", {"spec": asdict(spec), "inputs": fingerprints}, shards)


def write_embeddings(asm: Assembly, job: Job, out: Path, window: int) -> dict:
    """``embeddings.parquet`` and ``windows.bed`` from the parts, in genome order, one part in memory at a time."""
    n, dim, writer = 0, 0, None
    with atomic_path(out / "embeddings.parquet") as tpq, atomic_write(out / "windows.bed") as bed:
        for shard, t in job.parts():
            if not t.num_rows:
                continue
            name = asm.genome.file_name(shard.chrom)
            start = t.column("start").to_numpy()
            dim = t.schema.field("embedding").type.list_size
            table = pa.table({"chrom": pa.array([name] * t.num_rows, pa.string()), "start": start,
                              "end": pa.array(start + window, pa.int64()), "embedding": t.column("embedding")})
            if writer is None:
                writer = pq.ParquetWriter(str(tpq), table.schema)
            writer.write_table(table)
            bed.write("".join(f"{name}\t{s}\t{s + window}\n" for s in start.tolist()))
            n += t.num_rows
        if writer is None:
            raise PlantLLMError("no window to embed: the regions are shorter than the window or all N")
        writer.close()
    return {"windows": n, "dimension": dim}


def embed_regions(model_dir: str | Path, asm: Assembly, out: str | Path, *, regions: list[tuple[str, int, int]],
                  window: int = 512, stride: int = 512, pooling: str = "mean", batch_size: int = 16,
                  max_n_fraction: float = 0.5, shard_size: int = SHARD_SIZE, nproc: int = 1,
                  hostfile: str | Path | None = None, precision: str = "auto", trust_remote_code: bool = False) -> dict:
    """Embed every window of ``regions``; writes embeddings.parquet, windows.bed and summary.json in ``out``."""
    if not regions:
        raise PlantLLMError("give the regions to embed (--region, --bed or --chromosomes)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    job = plan_embed(asm, model_dir, out, regions, window=window, stride=stride, pooling=pooling,
                     batch_size=batch_size, max_n_fraction=max_n_fraction, shard_size=shard_size, precision=precision,
                     trust_remote_code=trust_remote_code)
    job.prepare()
    spec = EmbedJobSpec(**job.plan["plan"]["spec"])

    def merge(seconds: float) -> dict:
        summary = {"model": str(model_dir), "species": asm.card.name, "window": window, "stride": stride,
                   "pooling": pooling, "regions_bp": sum(e - s for _, s, e in regions), "shards": len(job.shards),
                   "seconds": round(seconds, 1), "precision": precision, **write_embeddings(asm, job, out, window)}
        summary["windows_per_s"] = round(summary["windows"] / max(seconds, 1e-9), 1)
        return summary

    return job.complete(lambda: ShardEmbedder(spec), "embedding windows", merge, worker=WORKER, nproc=nproc,
                        hostfile=hostfile)
