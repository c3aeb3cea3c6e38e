"""Motif task: sequences labelled by transcription-factor binding.

Two sources:

* peaks (ChIP-seq / DAP-seq BED or narrowPeak, one file per TF): windows centred on
  each peak's summit (narrowPeak column 10) or middle, against GC-matched random
  windows that overlap no peak of any TF; ``labels`` has one 0/1 per TF.
* JASPAR (pyjaspar ships it offline): promoter windows of the annotated genes scanned
  with chosen Plantae matrices (Biopython PSSMs, both strands); ``labels`` has one 0/1
  per matrix, 1 when the best log-odds score reaches ``rel_score`` of the matrix's
  range (0.85 by default, the usual relative threshold of JASPAR's own scanner).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
import numpy as np

from plantllm.core.errors import InputFileError, PlantLLMError
from plantllm.core.intervals import IntervalIndex
from plantllm.data import jaspar
from plantllm.data.promoter_window import PromoterWindow
from plantllm.data.sampling import gc_match, gc_of, random_loci
from plantllm.data.splits import SPLITS, Splitter
from plantllm.data.writer import build_inputs, current_manifest, file_records, write_dataset
from plantllm.species.assembly import Assembly
from plantllm.species.regions import bed_records


@dataclass
class MotifParams:
    length: int = 200
    peaks: dict[str, str] = field(default_factory=dict)  # TF name -> BED path
    jaspar: tuple[str, ...] = ()  # matrix IDs (e.g. MA0931.1) or names (ABI5)
    upstream: int = 500
    downstream: int = 100
    rel_score: float = 0.85
    max_n_fraction: float = 0.05

    def check(self) -> None:
        if bool(self.peaks) == bool(self.jaspar):
            raise PlantLLMError("give either peak files (--peaks TF=file.bed) or JASPAR matrices (--jaspar ID)")
        if not 0 < self.rel_score <= 1:
            raise PlantLLMError("rel_score must be in (0, 1]")


def _features(names: list[str]) -> datasets.Features:
    return datasets.Features({
        "chrom": datasets.Value("string"), "start": datasets.Value("int64"), "end": datasets.Value("int64"),
        "strand": datasets.Value("string"), "subgenome": datasets.Value("string"), "seq": datasets.Value("string"),
        "labels": datasets.Sequence(datasets.Value("int8"), length=len(names)), "label": datasets.Value("int8"),
        "gene": datasets.Value("string"), "gc": datasets.Value("float32"), "source": datasets.Value("string"),
    })


def read_peaks(path: str | Path, asm: Assembly) -> list[tuple[str, int, int, int]]:
    """(chrom, start, end, summit) of a BED/narrowPeak file; summit = column 10 offset when present."""
    recs, _ = bed_records(path, asm.card, "peak file")
    if not recs:
        raise InputFileError("no peaks found", path=path, fix="give a BED or narrowPeak file with one peak per line")
    return [(chrom, r.start, r.end, r.summit) for chrom, r in recs]


def _row(asm: Assembly, chrom: str, s: int, e: int, strand: str, seq: str, labels: list[int], source: str,
         gene: str = "") -> dict:
    return {"chrom": chrom, "start": s, "end": e, "strand": strand, "subgenome": asm.card.subgenome_of(chrom) or "",
            "seq": seq, "labels": labels, "label": int(any(labels)), "gene": gene, "gc": gc_of(seq), "source": source}


def peak_examples(asm: Assembly, params: MotifParams, splitter: Splitter, rng) -> tuple[list, list[str]]:
    """Summit windows labelled with every TF whose peak covers the centre, and GC-matched background
    windows overlapping no peak of any TF."""
    g, L = asm.genome, params.length
    chroms = g.chromosomes()
    names = list(params.peaks)
    peaks = {tf: read_peaks(path, asm) for tf, path in params.peaks.items()}
    by_tf = {tf: IntervalIndex((c, s, e) for c, s, e, _ in ps) for tf, ps in peaks.items()}
    anywhere = IntervalIndex((c, s, e) for ps in peaks.values() for c, s, e, _ in ps)
    pos: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for k, (tf, ps) in enumerate(peaks.items()):
        for c, _s, _e, summit in ps:
            ws = summit - L // 2
            if c not in chroms or ws < 0 or ws + L > g.length(c):
                continue
            split = splitter.assign(c, ws, ws + L)
            if split is None:
                continue
            lab = [int(j == k or len(by_tf[tf2].containing(c, summit)) > 0) for j, tf2 in enumerate(names)]
            pos[split].append(_row(asm, c, ws, ws + L, "+", g.fetch(c, ws, ws + L), lab, f"peak:{tf}"))
    loci = random_loci(asm, chroms, L, rng)
    rows = []
    for split, prows in pos.items():
        pool: list[dict] = []
        for _ in range(500 * max(len(prows), 1)):
            if len(pool) >= 10 * len(prows):
                break
            c, s, _strand = next(loci)
            if anywhere.any_overlap(c, s, s + L) or splitter.assign(c, s, s + L) != split:
                continue
            pool.append(_row(asm, c, s, s + L, "+", g.fetch(c, s, s + L), [0] * len(names), "gc_matched_background"))
        idx = gc_match(np.array([r["gc"] for r in prows]), np.array([r["gc"] for r in pool]), rng) if prows else []
        rows += [(split, r) for r in prows + [pool[i] for i in idx if i >= 0]]
    return rows, names


def jaspar_examples(asm: Assembly, params: MotifParams, splitter: Splitter) -> tuple[list, list[str], dict]:
    """Promoter windows labelled by which JASPAR matrices hit them (best score >= rel_score of the range)."""
    g, win = asm.genome, PromoterWindow(params.upstream, params.downstream)
    chroms = set(g.chromosomes())
    motifs = jaspar.fetch(params.jaspar)
    names = [f"{m.matrix_id} {m.name}" for m in motifs]
    pssms = jaspar.pssms(motifs)
    thresholds = [f.min + params.rel_score * (f.max - f.min) for f, _ in pssms]
    rows = []
    for gene in asm.annotation.genes:
        t = gene.canonical
        if t is None or not t.coding or gene.chrom not in chroms:
            continue
        s, e = win.interval(t.tss, t.strand)
        if s < 0 or e > g.length(gene.chrom) or (split := splitter.assign(gene.chrom, s, e)) is None:
            continue
        seq = g.fetch(gene.chrom, s, e, t.strand)
        lab = [int(sc >= th) for sc, th in zip(jaspar.best_scores(pssms, seq), thresholds)]
        rows.append((split, _row(asm, gene.chrom, s, e, t.strand, seq, lab, "jaspar_scan", gene.locus)))
    extra = {"jaspar_release": jaspar.release(), "thresholds": dict(zip(names, map(float, thresholds)))}
    return rows, names, extra


def build_motif(asm: Assembly, out: str | Path, params: MotifParams, splitter: Splitter, seed: int = 0,
                force: bool = False) -> dict:
    """Write the motif task as a DatasetDict (train/validation/test) at ``out``."""
    params.check()
    inputs = build_inputs({"fasta": asm.card.fasta, "gff": asm.card.gff,
                           **{f"peaks:{k}": Path(v) for k, v in params.peaks.items()}}, params, splitter, seed)
    if not force and (done := current_manifest(Path(out), inputs)) is not None:
        return done
    rng = np.random.default_rng(seed)
    if params.peaks:
        (rows, names), extra = peak_examples(asm, params, splitter, rng), {}
    else:
        rows, names, extra = jaspar_examples(asm, params, splitter)
    if not rows:
        raise PlantLLMError("no motif examples could be made (check chromosome names and window length)")

    def examples():
        for i in rng.permutation(len(rows)):
            yield rows[i]

    def manifest():
        pos = np.array([r["labels"] for _, r in rows])
        return {"species": asm.card.name, "assembly": asm.card.assembly, "card": str(asm.card.source),
                "files": file_records({"fasta": asm.card.fasta, "gff": asm.card.gff,
                                       **{f"peaks:{k}": Path(v) for k, v in params.peaks.items()}}),
                "params": asdict(params), "split": splitter.describe(), "seed": seed, "label_names": names,
                "positives_per_label": dict(zip(names, pos.sum(axis=0).tolist())), **extra}

    return write_dataset(out, "motif", _features(names), examples(), manifest, inputs)
