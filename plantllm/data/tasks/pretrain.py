"""Pretraining windows: tiles over nuclear chromosomes or chosen regions, or over spliced coding sequences.

Streams chromosome by chromosome in bounded chunks, so memory does not grow with
genome size. Each window carries its locus, subgenome, sequence (case kept: lowercase
is the soft-mask), a per-base repeat mask from the card's repeat source and the
repeat loss weight, so training can down-weight repeats without re-reading the genome.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import datasets
import numpy as np

from plantllm.core import console as con
from plantllm.core import sequence as sq
from plantllm.species.assembly import Assembly
from plantllm.data.writer import build_inputs, current_manifest, file_records, write_dataset
from plantllm.core.errors import PlantLLMError
from plantllm.core.intervals import merge
from plantllm.data.sampling import BALANCE, keep_rates
from plantllm.data.splits import Splitter
from plantllm.data.windows import tile

#: ``cds`` is not a set of genome intervals but the spliced coding sequence of each gene (``cds_windows``)
REGION_KINDS = ("all", "genes", "coding", "cds", "promoters", "intergenic")

PRETRAIN_FEATURES = datasets.Features({
    "chrom": datasets.Value("string"),
    "start": datasets.Value("int64"),
    "end": datasets.Value("int64"),
    "strand": datasets.Value("string"),
    "subgenome": datasets.Value("string"),
    "seq": datasets.Value("string"),
    "repeat_mask": datasets.Sequence(datasets.Value("uint8")),
    "repeat_fraction": datasets.Value("float32"),
    "repeat_weight": datasets.Value("float32"),
})


@dataclass
class WindowParams:
    length: int = 512
    stride: int = 512
    max_n_fraction: float = 0.1
    regions: str = "all"
    flank: int = 1000
    rc_augment: bool = False
    balance: str = "none"  # none | equal | proportional | weights
    subgenome_weights: dict[str, float] = field(default_factory=dict)
    chromosomes: tuple[str, ...] = ()

    def check(self) -> None:
        if self.length <= 0 or self.stride <= 0:
            raise PlantLLMError(f"window length and stride must be positive (got {self.length}, {self.stride})")
        if not 0 <= self.max_n_fraction <= 1:
            raise PlantLLMError("max_n_fraction must be within [0, 1]")
        if self.regions not in REGION_KINDS:
            raise PlantLLMError(f"regions '{self.regions}' must be one of {REGION_KINDS}")
        if self.balance not in BALANCE:
            raise PlantLLMError(f"balance '{self.balance}' must be one of {', '.join(BALANCE)}")


def region_intervals(asm: Assembly, chrom: str, kind: str, flank: int) -> list[tuple[int, int]]:
    """Intervals of one chromosome to tile: whole chromosome, genes +/- flank, coding exons +/- flank (canonical
    transcripts' CDS segments: codon structure, the signal of zero-shot coding-variant scores), promoters, or
    intergenic."""
    n = asm.genome.length(chrom)
    if kind == "all":
        return [(0, n)]
    genes = [g for g in asm.annotation.genes if g.chrom == chrom]
    if kind == "genes":
        return merge([(max(0, g.start - flank), min(n, g.end + flank)) for g in genes])
    if kind == "coding":
        return merge([(max(0, s - flank), min(n, e + flank)) for g in genes if g.canonical is not None
                      and g.canonical.coding for s, e in g.canonical.cds])
    if kind == "promoters":
        out = []
        for g in genes:
            t = g.canonical
            if t is None:
                continue
            s = t.tss - asm.card.promoter_upstream if t.strand != "-" else t.tss - flank
            e = t.tss + flank if t.strand != "-" else t.tss + asm.card.promoter_upstream
            out.append((max(0, s), min(n, e + 1)))
        return merge(out)
    # intergenic: complement of genes +/- flank
    occupied = merge([(max(0, g.start - flank), min(n, g.end + flank)) for g in genes])
    out, pos = [], 0
    for s, e in occupied:
        if s > pos:
            out.append((pos, s))
        pos = max(pos, e)
    if pos < n:
        out.append((pos, n))
    return out


def sampling_rates(asm: Assembly, chroms: list[str], p: WindowParams) -> dict[str | None, float]:
    """Per-subgenome keep probability so each subgenome contributes its share of bases (``keep_rates``)."""
    sizes: dict[str | None, int] = {}
    for c in chroms:
        sg = asm.card.subgenome_of(c)
        sizes[sg] = sizes.get(sg, 0) + asm.genome.length(c)
    return keep_rates(sizes, p.balance, p.subgenome_weights)


def chromosome_windows(asm: Assembly, chrom: str, p: WindowParams, *, batch: int = 8192) -> Iterator[dict]:
    """Windows of one chromosome (forward strand) with their repeat masks, N-heavy ones dropped."""
    # Soft-mask repeats are read from the sequence's case block by block; a genome-wide interval
    # set is only built for file sources (RepeatMasker, TE GFF, BED).
    from_case = asm.card.repeats.source == "soft_mask"
    rep = None if from_case else asm.repeats
    weight = float(asm.card.repeats.weight)
    sg = asm.card.subgenome_of(chrom) or ""
    for rs, re_ in region_intervals(asm, chrom, p.regions, p.flank):
        for a, seq, kept in tile(asm.genome, chrom, rs, re_, p.length, p.stride, max_n_fraction=p.max_n_fraction,
                                 batch=batch):
            mask = sq.soft_mask(seq) if from_case else rep.mask(chrom, a, a + len(seq))
            for ws in kept:
                o = ws - a
                m = mask[o:o + p.length]
                yield {"chrom": chrom, "start": ws, "end": ws + p.length, "strand": "+", "subgenome": sg,
                       "seq": seq[o:o + p.length], "repeat_mask": m.astype(np.uint8),
                       "repeat_fraction": float(m.mean()), "repeat_weight": weight}


def cds_windows(asm: Assembly, chrom: str, p: WindowParams) -> Iterator[dict]:
    """Windows of spliced coding sequences: the canonical transcript of every coding gene, its CDS segments joined
    and read in the transcript's sense, tiled from the start codon (in frame when the stride is a multiple of 3).

    A genomic window over an exon is cut by introns every ~200 bp in plant genes, so the reading frame a masked LM
    must infer to learn codons keeps breaking; joined CDS keep one frame over the whole window, which a small model
    learns within minutes (the demo's zero-shot stop-gained vs synonymous signal). Coordinates (start, end) are the
    CDS span on the chromosome, so the split is the one of the whole coding locus; CDS shorter than a window are
    skipped.
    """
    from_case = asm.card.repeats.source == "soft_mask"
    rep = None if from_case else asm.repeats
    weight = float(asm.card.repeats.weight)
    sg = asm.card.subgenome_of(chrom) or ""
    genes = sorted((g for g in asm.annotation.genes if g.chrom == chrom), key=lambda g: (g.start, g.id))
    for g in genes:
        t = g.canonical
        if t is None or not t.coding or t.cds_length < p.length:
            continue
        seq = "".join(asm.genome.fetch(chrom, s, e) for s, e in t.cds)
        mask = sq.soft_mask(seq) if from_case else np.concatenate([rep.mask(chrom, s, e) for s, e in t.cds])
        if t.strand == "-":
            seq, mask = sq.reverse_complement(seq), mask[::-1]
        is_n = sq.encode(seq) == 4
        for o in range(0, len(seq) - p.length + 1, p.stride):
            if float(is_n[o:o + p.length].mean()) > p.max_n_fraction:
                continue
            m = mask[o:o + p.length]
            yield {"chrom": chrom, "start": t.cds[0][0], "end": t.cds[-1][1], "strand": t.strand or "+",
                   "subgenome": sg, "seq": seq[o:o + p.length], "repeat_mask": m.astype(np.uint8),
                   "repeat_fraction": float(m.mean()), "repeat_weight": weight}


def reverse_window(w: dict) -> dict:
    return {**w, "strand": "-", "seq": sq.reverse_complement(w["seq"]), "repeat_mask": w["repeat_mask"][::-1]}


def build_pretrain(asm: Assembly, out: str | Path, params: WindowParams, splitter: Splitter,
                   seed: int = 0, force: bool = False) -> dict:
    """Write the pretraining corpus as a DatasetDict (train/validation/test) at ``out``."""
    params.check()
    chroms = list(params.chromosomes) or asm.genome.chromosomes()
    for c in chroms:
        asm.genome.length(c)  # raises a clear error for a chromosome not in the FASTA
    chroms = [asm.card.canonical(c) for c in chroms]
    inputs = build_inputs({"fasta": asm.card.fasta, "gff": asm.card.gff if params.regions != "all" else None,
                           "repeats": asm.card.repeats.path}, params, splitter, seed, repeats=asm.card.repeats.source)
    done = None if force else current_manifest(Path(out), inputs)
    if done is not None:
        return done
    rates = sampling_rates(asm, chroms, params)
    rng = np.random.default_rng(seed)

    def examples():
        for c in chroms:
            rate = rates.get(asm.card.subgenome_of(c), 1.0)
            for w in (cds_windows if params.regions == "cds" else chromosome_windows)(asm, c, params):
                if rate < 1.0 and rng.random() >= rate:
                    continue
                split = splitter.assign(c, w["start"], w["end"])
                if split is None:
                    continue
                yield split, w
                if params.rc_augment and split == "train":
                    yield split, reverse_window(w)

    def manifest():
        return {"species": asm.card.name, "assembly": asm.card.assembly, "card": str(asm.card.source),
                "files": file_records({"fasta": asm.card.fasta, "gff": asm.card.gff,
                                       "repeats": asm.card.repeats.path}),
                "params": asdict(params), "split": splitter.describe(), "seed": seed, "chromosomes": chroms,
                "subgenome_keep_rates": {str(k): v for k, v in rates.items()}}

    expected = sum(max(0, (asm.genome.length(c) - params.length) // params.stride + 1) for c in chroms)
    total = None if params.regions == "cds" else expected * (2 if params.rc_augment else 1)  # cds: not known ahead
    stream = con.track(examples(), "pretraining windows", total=total, unit="windows")
    return write_dataset(out, "pretrain", PRETRAIN_FEATURES, stream, manifest, inputs)
