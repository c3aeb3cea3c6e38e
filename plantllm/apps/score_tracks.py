"""Genome-wide zero-shot score tracks: every position (or every ``step``-th) of chosen regions scored
by a masked LM for all three alternative bases, on the inference engine.

Each scored position is the GPN-style masked log-likelihood ratio log P(ALT) - log P(REF) of each
ALT at the masked base, averaged over the forward window and its reverse complement (the same
``VariantScorer`` ``llr`` as ``variants score``, so a looked-up score equals a computed one). Outputs:

* ``llr_min.bw`` / ``llr_mean.bw``: per-base bigWig tracks of the most negative and the mean LLR over
  the three ALTs (constraint: strongly negative = every change is unlikely);
* ``scores.tsv.gz`` (+ ``.tbi``): chrom, pos (1-based), ref, the LLR of A, C, G, T (0 for the reference
  base), min, mean; bgzipped and tabix-indexed, so ``variants score --tracks`` (and tabix) look
  positions up without a model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pysam

from plantllm.apps.variant_scoring import VariantScorer
from plantllm.core.errors import PlantLLMError
from plantllm.core.io import atomic_path, tabix_index
from plantllm.core.tracks import bigwig
from plantllm.data.tasks.variants import site_windows
from plantllm.apps import WORKER
from plantllm.inference.engine import Job, Shard, genome_shards, input_fingerprint
from plantllm.species.assembly import Assembly

ACGT = "ACGT"
SHARD_SIZE = 100_000


@dataclass
class TrackJobSpec:
    model: str
    card: str
    fasta: str | None
    window: int
    batch_size: int
    step: int
    precision: str = "auto"

    def assembly(self) -> Assembly:
        return Assembly(self.card, fasta=self.fasta)


class ShardTracker:
    """A rank's masked LM; ``__call__`` scores the positions of one shard into a part table."""

    def __init__(self, spec: TrackJobSpec):
        self.spec, self.asm = spec, spec.assembly()
        self.scorer = VariantScorer(spec.model, "llr", spec.window, spec.batch_size, precision=spec.precision)

    def __call__(self, shard: Shard) -> pa.Table:
        g, w = self.asm.genome, self.spec.window
        seq = g.fetch(shard.chrom, shard.start, shard.end).upper()
        pos, refs, llr = [], [], []
        sites: list[tuple[str, list[str], int]] = []
        for i in range(0, len(seq), self.spec.step):
            ref = seq[i]
            if ref not in ACGT:
                continue
            p = shard.start + i
            alts = [b for b in ACGT if b != ref]
            sites.append(site_windows(g, shard.chrom, p, ref, alts, w))
            pos.append(p)
            refs.append(ref)
        for k in range(0, len(sites), self.spec.batch_size):
            llr.extend(self.scorer.score_sites(sites[k:k + self.spec.batch_size]))
        full = np.zeros((len(pos), 4), dtype=np.float32)
        for r, (ref, vals) in enumerate(zip(refs, llr)):
            cols = [ACGT.index(b) for b in ACGT if b != ref]
            full[r, cols] = vals
        alt_only = np.where(np.eye(4, dtype=bool)[[ACGT.index(r) for r in refs]], np.nan, full) if pos else full
        return pa.table({"pos": pa.array(pos, pa.int64()), "ref": pa.array(refs, pa.string()),
                         **{b: pa.array(full[:, j], pa.float32()) for j, b in enumerate(ACGT)},
                         "min": pa.array(np.nanmin(alt_only, 1) if pos else [], pa.float32()),
                         "mean": pa.array(np.nanmean(alt_only, 1) if pos else [], pa.float32())})


def write_tracks(asm: Assembly, job: Job, out: Path, step: int) -> dict:
    """bigWigs of min and mean LLR, and the indexed table, streamed from the parts in genome order."""
    header = [(asm.genome.file_name(c), asm.genome.length(c)) for c in asm.genome.chromosomes(nuclear_only=False)]
    n = 0
    with bigwig(out / "llr_min.bw", header) as bmin, bigwig(out / "llr_mean.bw", header) as bmean, \
            atomic_path(out / "scores.tsv.gz") as ttab:
        with pysam.BGZFile(str(ttab), "wb") as tab:
            tab.write(b"#chrom\tpos\tref\tA\tC\tG\tT\tmin\tmean\n")
            for shard, t in job.parts():
                if not t.num_rows:
                    continue
                name = asm.genome.file_name(shard.chrom)
                pos = t.column("pos").to_numpy()
                for k, bw in (("min", bmin), ("mean", bmean)):
                    values = t.column(k).to_numpy()
                    if _regular(pos, step):
                        bw.add_steps(name, int(pos[0]), values, step=step)
                    else:
                        bw.add(name, pos, pos + 1, values)
                cols = [t.column(c).to_pylist() for c in ("ref", "A", "C", "G", "T", "min", "mean")]
                tab.write("".join(f"{name}\t{p + 1}\t{r}\t{a:.7g}\t{c:.7g}\t{g_:.7g}\t{tt:.7g}\t{mn:.7g}\t{me:.7g}\n"
                                  for p, r, a, c, g_, tt, mn, me in zip(pos.tolist(), *cols)).encode())
                n += t.num_rows
        tabix_index(ttab, out / "scores.tsv.gz", seq_col=0, start_col=1, end_col=1, meta_char="#")
    return {"positions": n}


def _regular(pos: np.ndarray, step: int) -> bool:
    return len(pos) > 0 and bool((np.diff(pos) == step).all())


def score_tracks(model_dir: str | Path, asm: Assembly, out: str | Path, *, regions: list[tuple[str, int, int]],
                 window: int = 128, step: int = 1, batch_size: int = 64, shard_size: int = SHARD_SIZE, nproc: int = 1,
                 hostfile: str | Path | None = None, precision: str = "auto") -> dict:
    """Score every ``step``-th position of ``regions`` and write the tracks and the table in ``out``."""
    if step < 1:
        raise PlantLLMError(f"step must be at least 1, got {step}")
    if not regions:
        raise PlantLLMError("give the regions to score (--region, --bed or --chromosomes)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    size = max(step, shard_size // step * step)  # one position grid across shards
    shards = genome_shards(regions, size)
    spec = TrackJobSpec(str(model_dir), str(asm.card.source), str(asm.card.fasta), window, batch_size, step, precision)
    job = Job(out, "tracks", {"spec": asdict(spec), "inputs": input_fingerprint(
        {"fasta": asm.card.fasta, "model": Path(model_dir) / "config.json",
         "weights": Path(model_dir) / "model.safetensors"})}, shards)
    job.prepare()

    def merge(seconds: float) -> dict:
        summary = {"model": str(model_dir), "species": asm.card.name, "window": window, "step": step,
                   "regions_bp": sum(e - s for _, s, e in regions), "shards": len(shards),
                   "seconds": round(seconds, 1), "precision": precision, **write_tracks(asm, job, out, step)}
        summary["positions_per_s"] = round(summary["positions"] / max(seconds, 1e-9), 1)
        return summary

    return job.complete(lambda: ShardTracker(spec), "scoring positions", merge, worker=WORKER, nproc=nproc,
                        hostfile=hostfile)


class TrackLookup:
    """Precomputed LLRs of SNVs from a ``scores.tsv.gz`` (tabix), by canonical chromosome and 0-based position."""

    def __init__(self, folder: str | Path, asm: Assembly):
        path = Path(folder) / "scores.tsv.gz"
        if not Path(str(path) + ".tbi").exists():
            raise PlantLLMError(f"{folder}: no score tracks (scores.tsv.gz with its .tbi)",
                                fix="make them with 'plantllm variants tracks'")
        self.tabix, self.asm = pysam.TabixFile(str(path)), asm
        self.hits = 0

    def llr(self, chrom: str, pos: int, ref: str, alt: str) -> float | None:
        if len(ref) != 1 or len(alt) != 1 or alt not in ACGT:
            return None
        name = self.asm.genome.file_name(chrom)
        if name not in self.tabix.contigs:
            return None
        for row in self.tabix.fetch(name, pos, pos + 1):
            f = row.split("\t")
            if int(f[1]) == pos + 1 and f[2] == ref:
                self.hits += 1
                return float(f[3 + ACGT.index(alt)])
        return None
