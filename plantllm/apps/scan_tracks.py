"""The merge of a promoter scan, streamed from the job's parts: bigWig (and bedGraph) tracks per strand and the
bins for calling (spilled to a BED file that bedtools sorts and merges, or the running top k), in memory bounded
by one part, never by the genome.

A part holds one shard's rows (tss, strand, score), sorted by TSS within each strand. The shards of a
chromosome usually cover disjoint, increasing stretches (one grid per region, regions apart), so taking the
parts in order of their start gives every strand's bins in genome order and a bin's start is clipped by the
previous bin's end carried from part to part. Overlapping regions (two grids over the same bases) are the one
case that needs a chromosome's rows at once: its parts are then concatenated and stably sorted, exactly as a
whole-genome sort would order them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from plantllm.apps.promoter_scan import call_regions, merge_bins
from plantllm.core.io import atomic_write
from plantllm.core.tracks import bigwig
from plantllm.inference.engine import Job, Shard


def _strand_rows(t: pa.Table, strand: str) -> tuple[np.ndarray, np.ndarray]:
    sel = pc.equal(t.column("strand"), strand).to_numpy(zero_copy_only=False)
    return t.column("tss").to_numpy()[sel], t.column("score").to_numpy()[sel]


def chromosome_rows(job: Job, chrom: str, strand: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(tss, score) pieces of one chromosome and strand in genome order (a stable sort by TSS of all its rows in
    shard order), one part at a time unless the chromosome's shards overlap."""
    shards = [s for s in job.shards if s.chrom == chrom]
    by_start = sorted(shards, key=lambda s: (s.start, s.index))
    if all(a.end <= b.start for a, b in zip(by_start, by_start[1:])):
        for s in by_start:  # disjoint stretches: each part is a run of the sorted order
            t, sc = _strand_rows(job.read_part(s), strand)
            order = np.argsort(t, kind="stable")
            yield t[order], sc[order]
        return
    pieces = [_strand_rows(job.read_part(s), strand) for s in shards]  # overlapping regions: the whole chromosome
    t = np.concatenate([p[0] for p in pieces])
    sc = np.concatenate([p[1] for p in pieces])
    order = np.argsort(t, kind="stable")
    yield t[order], sc[order]


def _bins(t: np.ndarray, half: int, stride: int, length: int, last_end: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin [start, end) of each TSS: stride wide around it, within the chromosome, never overlapping the previous
    bin (``last_end``: the end of the bins before ``t[0]``, carried from the previous piece)."""
    starts = np.maximum(0, t - half)
    ends = np.minimum(length, t - half + stride)
    if len(t):
        starts[0] = max(int(starts[0]), last_end)
        starts[1:] = np.maximum(starts[1:], ends[:-1])
    return starts, ends


def track_bins(pieces, half: int, stride: int, length: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(starts, ends, scores) of the stride bins of consecutive (tss, score) pieces of one chromosome and strand in
    genome order (``chromosome_rows``), bins left empty by the clipping dropped. A bin's start is clipped by the
    furthest end of every bin before it, kept or dropped, carried from piece to piece as a running maximum: the rule
    of one sort of the whole strand, whatever the pieces (a piece whose bins are all dropped never moves it back)."""
    last = 0
    for t, s in pieces:
        if not len(t):
            continue
        starts, ends = _bins(t, half, stride, length, last)
        last = max(last, int(ends.max()))
        keep = ends > starts
        if keep.any():
            yield starts[keep], ends[keep], s[keep]


def strand_track(asm, job: Job, stride: int, strand: str, chroms: list[str]
                 ) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(chromosome as the FASTA names it, starts, ends, scores) pieces of one strand's track, the canonical
    chromosomes ``chroms`` in the order given, streamed part by part: what the bigWig and the bedGraph hold."""
    for c in chroms:
        name, length = asm.genome.file_name(c), asm.genome.length(c)
        for starts, ends, scores in track_bins(chromosome_rows(job, c, strand), stride // 2, stride, length):
            yield name, starts, ends, scores


STRANDS = (("+", "plus"), ("-", "minus"))


def write_bigwigs(asm, job: Job, stride: int, out: Path) -> list[Path]:
    """One bigWig per strand (``scores.plus.bw``, ``scores.minus.bw``): the score of each stride bin at its
    candidate TSS, in the FASTA's chromosome names and order, for IGV / JBrowse / UCSC; streamed part by part."""
    header = [(asm.genome.file_name(c), asm.genome.length(c)) for c in asm.genome.chromosomes(nuclear_only=False)]
    scanned = {s.chrom for s in job.shards}
    chroms = [canon for canon in (asm.card.canonical(c) for c, _ in header) if canon in scanned]
    paths = []
    for strand, name in STRANDS:
        paths.append(out / f"scores.{name}.bw")
        with bigwig(paths[-1], header) as bw:
            for chrom, starts, ends, scores in strand_track(asm, job, stride, strand, chroms):
                bw.add(chrom, starts, ends, scores)
    return paths


def write_bedgraphs(asm, job: Job, stride: int, out: Path, label: str = "plantllm") -> list[Path]:
    """``scores.plus.bedGraph`` / ``scores.minus.bedGraph`` (on request: large), chromosomes in the order of their
    canonical names, bins as in the bigWigs; streamed part by part."""
    chroms = sorted({s.chrom for s in job.shards})
    paths = []
    for strand, name in STRANDS:
        paths.append(out / f"scores.{name}.bedGraph")
        with atomic_write(paths[-1]) as fh:
            fh.write(f'track type=bedGraph name="{label} promoter {strand}" description="P(promoter), TSS on '
                     f'{strand} strand" visibility=full autoScale=on\n')
            for chrom, starts, ends, scores in strand_track(asm, job, stride, strand, chroms):
                # one formatted line per bin (Python's own float formatting, as the file always had)
                fh.write("".join(f"{chrom}\t{a}\t{b}\t{v:.4f}\n" for a, b, v in
                                 zip(starts.tolist(), ends.tolist(), scores.tolist())))
    return paths


def bin_runs(chrom: str, length: int, tss: np.ndarray, plus: np.ndarray, score: np.ndarray, stride: int) -> str:
    """BED6 lines of the stride bins of one part's rows (``promoter_scan.bin_lines``' bins) with the overlapping or
    touching bins of a strand already joined into one line that keeps the best score: what ``merge_bins`` (bedtools
    merge -s, max) makes of them, so the spill holds a line per run of called bins instead of one per bin and
    bedtools joins the runs across parts into the same calls. Joined in numpy because one line per bin through
    bedtools cost more than the scan's forward with a permissive threshold."""
    half, lines = stride // 2, []
    for strand, sel in (("+", plus), ("-", ~plus)):
        if not sel.any():
            continue
        a = np.maximum(0, tss[sel] - half)
        b = np.minimum(length, tss[sel] - half + stride)
        order = np.lexsort((b, a))
        a, b, sc = a[order], b[order], score[sel][order]
        first = np.flatnonzero(np.r_[True, a[1:] > np.maximum.accumulate(b)[:-1]])  # a run starts past every end
        for x, y, v in zip(a[first].tolist(), np.maximum.reduceat(b, first).tolist(),
                           np.maximum.reduceat(sc, first).tolist()):
            lines.append(f"{chrom}\t{x}\t{y}\tpromoter\t{v:.6f}\t{strand}\n")
    return "".join(lines)


class Candidates:
    """The bins calling selects, gathered part by part: with ``top_k``, every row that can still be among the k
    best (ties at the k-th score kept, in part order) in memory; else the bins at or above ``threshold`` (all
    bins when None) as BED lines in ``spill``, a file, so that a genome of calls never sits in memory."""

    def __init__(self, asm, params, threshold: float | None, top_k: int | None, spill: Path):
        self.asm, self.params, self.threshold, self.top_k, self.spill = asm, params, threshold, top_k, spill
        self.parts: list[dict[str, np.ndarray]] = []
        self.fh = None if top_k else open(spill, "w")

    def add(self, shard: Shard, t: pa.Table) -> None:
        score = t.column("score").to_numpy()
        keep = np.ones(len(score), bool) if self.top_k or self.threshold is None else score >= self.threshold
        if not keep.any():
            return
        if self.fh is not None:
            plus = pc.equal(t.column("strand"), "+").to_numpy(zero_copy_only=False)[keep]
            self.fh.write(bin_runs(shard.chrom, self.asm.genome.length(shard.chrom), t.column("tss").to_numpy()[keep],
                                   plus, score[keep], self.params.stride))
            return
        rows = {"chrom": np.full(int(keep.sum()), shard.chrom, dtype=object), "tss": t.column("tss").to_numpy()[keep],
                "strand": np.array(t.column("strand").filter(pa.array(keep)).to_pylist(), dtype=object),
                "score": score[keep]}
        self.parts.append(rows)
        res = self.result()
        if len(res["score"]) > self.top_k:
            kth = np.partition(res["score"], len(res["score"]) - self.top_k)[len(res["score"]) - self.top_k]
            self.parts = [{k: v[res["score"] >= kth] for k, v in res.items()}]

    def result(self) -> dict[str, np.ndarray]:
        types = {"chrom": object, "tss": np.int64, "strand": object, "score": np.float32}
        return {k: np.concatenate([p[k] for p in self.parts]) if self.parts else np.empty(0, dtype=dt)
                for k, dt in types.items()}

    def calls(self):
        """The called regions (``call_regions``' BedTool)."""
        import pybedtools

        if self.fh is None:
            return call_regions(self.asm, self.result(), self.params, top_k=self.top_k)
        self.fh.close()
        calls = merge_bins(pybedtools.BedTool(str(self.spill))) if self.spill.stat().st_size else pybedtools.BedTool([])
        self.spill.unlink()  # bedtools wrote the merged calls to a file of their own
        return calls
