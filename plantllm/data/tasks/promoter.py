"""Promoter task: windows centred on annotated TSSs vs. stated negatives.

Positives: one window per gene around the canonical transcript's TSS, strand-aware
(reverse-complemented on '-'), by default the PDLLMs' core promoter window -249..+50
(300 bp with the TSS at offset ``upstream``). Negatives, one per positive within the
same split (balanced):

* ``random``: random genomic windows at least ``exclusion`` bp from every annotated TSS;
* ``gc_matched``: as random, then matched to the positives' GC content (2% bins);
* ``shuffle``: each positive shuffled with its dinucleotide counts preserved;
* ``gene_body``: windows inside gene bodies, on the gene's strand, far from any TSS.

Optionally a promoter strength / expression value per gene from a user table (TSV:
gene, value), for a regression task as in the Plant Genomic Benchmark.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import datasets
import numpy as np

from plantllm.core import console as con
from plantllm.species.assembly import Assembly
from plantllm.data.writer import build_inputs, current_manifest, file_records, write_dataset
from plantllm.core.errors import InputFileError, PlantLLMError
from plantllm.core.io import open_text, require_file
from plantllm.core.sequence import encode
from plantllm.data.splits import Splitter
from plantllm.data.background import TssIndex, dinucleotide_shuffle, gc_match, gc_of, random_loci

NEGATIVES = ("random", "gc_matched", "shuffle", "gene_body")

FEATURES = datasets.Features({
    "chrom": datasets.Value("string"), "start": datasets.Value("int64"), "end": datasets.Value("int64"),
    "strand": datasets.Value("string"), "subgenome": datasets.Value("string"), "gene": datasets.Value("string"),
    "seq": datasets.Value("string"), "label": datasets.ClassLabel(names=["non_promoter", "promoter"]),
    "tss_offset": datasets.Value("int32"), "gc": datasets.Value("float32"), "source": datasets.Value("string"),
    "strength": datasets.Value("float32"),
})


@dataclass
class PromoterParams:
    upstream: int = 249
    downstream: int = 50
    negatives: str = "gc_matched"
    exclusion: int = 1000
    coding_only: bool = True
    max_n_fraction: float = 0.05
    strength_table: str | None = None
    balance: str = "none"  # none | equal | weights: subgenome shares of the positives (polyploids)
    subgenome_weights: dict | None = None

    @property
    def length(self) -> int:
        return self.upstream + self.downstream + 1

    def check(self) -> None:
        if self.upstream < 0 or self.downstream < 0:
            raise PlantLLMError("promoter window: upstream and downstream must be >= 0")
        if self.negatives not in NEGATIVES:
            raise PlantLLMError(f"negatives '{self.negatives}' must be one of {NEGATIVES}")


def tss_window(tss: int, strand: str, up: int, down: int) -> tuple[int, int]:
    """0-based half-open genomic interval of the window -up..+down around a TSS."""
    if strand == "-":
        return tss - down, tss + up + 1
    return tss - up, tss + down + 1


def read_strength(path: str | Path) -> dict[str, float]:
    """Gene -> value from a two-column TSV (header optional); bad numbers name their line."""
    p = require_file(path, "strength table")
    out: dict[str, float] = {}
    with open_text(p) as fh:
        for lineno, row in enumerate(csv.reader(fh, delimiter="\t"), 1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 2:
                raise InputFileError("expected two tab-separated columns: gene, value", path=p, line=lineno)
            try:
                out[row[0]] = float(row[1])
            except ValueError:
                if lineno == 1:
                    continue  # header
                raise InputFileError(f"value '{row[1]}' is not a number", path=p, line=lineno) from None
    if not out:
        raise InputFileError("no gene values found", path=p)
    return out


def _n_ok(seq: str, limit: float) -> bool:
    return float((encode(seq) == 4).mean()) <= limit


def build_promoter(asm: Assembly, out: str | Path, params: PromoterParams, splitter: Splitter,
                   seed: int = 0, force: bool = False) -> dict:
    params.check()
    inputs = build_inputs({"fasta": asm.card.fasta, "gff": asm.card.gff,
                           "strength": Path(params.strength_table) if params.strength_table else None},
                          params, splitter, seed)
    if not force and (done := current_manifest(Path(out), inputs)) is not None:
        return done
    rng = np.random.default_rng(seed)
    g = asm.genome
    chroms = g.chromosomes()
    strength = read_strength(params.strength_table) if params.strength_table else {}
    L = params.length

    # ---- positives
    pos_by_split: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    skipped = {"edge_or_n": 0, "straddling": 0}
    matched_strength = 0
    for gene in asm.annotation.genes:
        t = gene.canonical
        if t is None or gene.chrom not in chroms or (params.coding_only and not t.coding):
            continue
        s, e = tss_window(t.tss, t.strand, params.upstream, params.downstream)
        if s < 0 or e > g.length(gene.chrom):
            skipped["edge_or_n"] += 1
            continue
        seq = g.fetch(gene.chrom, s, e, t.strand)
        if not _n_ok(seq, params.max_n_fraction):
            skipped["edge_or_n"] += 1
            continue
        split = splitter.assign(gene.chrom, s, e)
        if split is None:
            skipped["straddling"] += 1
            continue
        value = next((strength[k] for k in (gene.locus, gene.id, gene.name) if k in strength), math.nan)
        matched_strength += not math.isnan(value)
        pos_by_split[split].append({
            "chrom": gene.chrom, "start": s, "end": e, "strand": t.strand,
            "subgenome": asm.card.subgenome_of(gene.chrom) or "", "gene": gene.locus, "seq": seq, "label": 1,
            "tss_offset": params.upstream, "gc": gc_of(seq), "source": "annotated_tss", "strength": value})
    if not any(pos_by_split.values()):
        raise PlantLLMError(f"no promoter windows: the annotation of {asm.card.name} has no usable TSS on "
                            f"{', '.join(chroms)}")
    if strength and matched_strength == 0:
        raise InputFileError("no gene in the strength table matches the annotation's gene IDs or names",
                             path=params.strength_table, fix="use locus IDs such as those in the GFF")

    # ---- subgenome balance (polyploids): thin the positives of larger subgenomes, per split
    if params.balance != "none" and asm.card.subgenomes:
        # keep rates so each subgenome contributes its share of positives (equal, or by weight)
        counts: dict[str, int] = {}
        for rows in pos_by_split.values():
            for r in rows:
                counts[r["subgenome"]] = counts.get(r["subgenome"], 0) + 1
        if params.balance == "equal":
            target = {k: 1.0 for k in counts}
        else:
            target = {k: float((params.subgenome_weights or {}).get(k, 0)) for k in counts}
        top = max(target[k] / counts[k] for k in counts)
        keep = {k: (target[k] / counts[k]) / top for k in counts}
        for split, rows in pos_by_split.items():
            pos_by_split[split] = [r for r in rows if rng.random() < keep[r["subgenome"]]]
        skipped["subgenome_balance"] = {k: round(v, 4) for k, v in keep.items()}

    # ---- negatives
    tss_index = TssIndex(asm)

    def far(chrom: str, s: int) -> bool:
        return (tss_index.distance(chrom, s) >= params.exclusion and
                tss_index.distance(chrom, s + L) >= params.exclusion)

    def candidate_pool(split: str, need: int, kind: str) -> list[dict]:
        pool: list[dict] = []
        tries = 0
        if kind == "gene_body":
            genes = [x for x in asm.annotation.genes if x.chrom in chroms and x.end - x.start > L]
            if not genes:
                raise PlantLLMError("no gene longer than the window for gene-body negatives")
        loci = random_loci(asm, chroms, L, rng)
        while len(pool) < need and tries < need * 200:
            tries += 1
            if kind == "gene_body":
                x = genes[int(rng.integers(len(genes)))]
                c, st = x.chrom, int(rng.integers(x.start, x.end - L))
                strand = x.strand
            else:
                c, st, strand = next(loci)
            if not far(c, st) or splitter.assign(c, st, st + L) != split:
                continue
            seq = g.fetch(c, st, st + L, strand)
            if not _n_ok(seq, params.max_n_fraction):
                continue
            pool.append({"chrom": c, "start": st, "end": st + L, "strand": strand,
                         "subgenome": asm.card.subgenome_of(c) or "", "gene": "", "seq": seq, "label": 0,
                         "tss_offset": -1, "gc": gc_of(seq), "source": kind, "strength": math.nan})
        return pool

    neg_by_split: dict[str, list[dict]] = {}
    for split, pos in pos_by_split.items():
        if not pos:
            neg_by_split[split] = []
            continue
        if params.negatives == "shuffle":
            neg_by_split[split] = [{**p, "seq": dinucleotide_shuffle(p["seq"], rng), "label": 0, "tss_offset": -1,
                                    "gene": "", "source": "dinucleotide_shuffle", "strength": math.nan,
                                    "gc": p["gc"]} for p in pos]
        elif params.negatives == "gc_matched":
            pool = candidate_pool(split, 10 * len(pos), "random")
            idx = gc_match(np.array([p["gc"] for p in pos]), np.array([q["gc"] for q in pool]), rng)
            neg_by_split[split] = [{**pool[i], "source": "gc_matched"} for i in idx if i >= 0]
        else:
            neg_by_split[split] = candidate_pool(split, len(pos), params.negatives)
        if len(neg_by_split[split]) < len(pos):
            con.warn(f"{split}: only {len(neg_by_split[split])} negatives for {len(pos)} promoters")

    def examples():
        for split in pos_by_split:
            rows = pos_by_split[split] + neg_by_split[split]
            for i in rng.permutation(len(rows)):
                yield split, rows[i]

    def manifest():
        def mean_gc(rows):
            return round(float(np.mean([r["gc"] for r in rows])), 4) if rows else None
        return {"species": asm.card.name, "assembly": asm.card.assembly, "card": str(asm.card.source),
                "files": file_records({"fasta": asm.card.fasta, "gff": asm.card.gff}),
                "params": asdict(params), "split": splitter.describe(), "seed": seed, "skipped": skipped,
                "window": f"-{params.upstream}..+{params.downstream} around the TSS ({L} bp, TSS at offset "
                          f"{params.upstream}, reverse-complemented on '-')",
                "gc": {s: {"promoter": mean_gc(pos_by_split[s]), "negative": mean_gc(neg_by_split[s])}
                       for s in pos_by_split},
                "strength_genes": matched_strength}

    return write_dataset(out, "promoter", FEATURES, examples(), manifest, inputs)
