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

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import datasets
import numpy as np

from plantllm.core import console as con
from plantllm.core.errors import InputFileError, PlantLLMError
from plantllm.core.sequence import dinucleotide_shuffle, encode
from plantllm.core.tables import number, read_key_values
from plantllm.data.promoter_window import PromoterWindow
from plantllm.data.sampling import BALANCE, gc_match, gc_of, keep_rates, random_loci
from plantllm.data.splits import SPLITS, Splitter
from plantllm.data.writer import build_inputs, current_manifest, file_records, write_dataset
from plantllm.species.assembly import Assembly

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
    def window(self) -> PromoterWindow:
        return PromoterWindow(self.upstream, self.downstream)

    @property
    def length(self) -> int:
        return self.window.length

    def check(self) -> None:
        self.window  # noqa: B018 -- validates upstream/downstream
        if self.negatives not in NEGATIVES:
            raise PlantLLMError(f"negatives '{self.negatives}' must be one of {NEGATIVES}")
        if self.balance not in BALANCE:
            raise PlantLLMError(f"balance '{self.balance}' must be one of {', '.join(BALANCE)}")


def read_strength(path: str | Path) -> dict[str, float]:
    """Gene -> value from a two-column TSV (header optional); bad, NaN or duplicate values name their line."""
    return read_key_values(path, "strength table", number, columns=("gene", "value"))


def _n_ok(seq: str, limit: float) -> bool:
    return float((encode(seq) == 4).mean()) <= limit


def _row(asm: Assembly, chrom: str, s: int, e: int, strand: str, seq: str, label: int, source: str,
         gene: str = "", tss_offset: int = -1, strength: float = math.nan) -> dict:
    return {"chrom": chrom, "start": s, "end": e, "strand": strand, "subgenome": asm.card.subgenome_of(chrom) or "",
            "gene": gene, "seq": seq, "label": label, "tss_offset": tss_offset, "gc": gc_of(seq), "source": source,
            "strength": strength}


def positives(asm: Assembly, params: PromoterParams, splitter: Splitter, strength: dict[str, float]
              ) -> tuple[dict[str, list[dict]], dict]:
    """One window per gene around its canonical TSS, by split; and the counts of what was skipped."""
    g, win = asm.genome, params.window
    chroms = set(g.chromosomes())
    by_split: dict[str, list[dict]] = {s: [] for s in SPLITS}
    skipped = {"edge_or_n": 0, "straddling": 0}
    for gene in asm.annotation.genes:
        t = gene.canonical
        if t is None or gene.chrom not in chroms or (params.coding_only and not t.coding):
            continue
        s, e = win.interval(t.tss, t.strand)
        seq = g.fetch(gene.chrom, s, e, t.strand) if s >= 0 and e <= g.length(gene.chrom) else ""
        if not seq or not _n_ok(seq, params.max_n_fraction):
            skipped["edge_or_n"] += 1
            continue
        split = splitter.assign(gene.chrom, s, e)
        if split is None:
            skipped["straddling"] += 1
            continue
        value = next((strength[k] for k in (gene.locus, gene.id, gene.name) if k in strength), math.nan)
        by_split[split].append(_row(asm, gene.chrom, s, e, t.strand, seq, 1, "annotated_tss", gene.locus,
                                    params.upstream, value))
    if not any(by_split.values()):
        raise PlantLLMError(f"no promoter windows: the annotation of {asm.card.name} has no usable TSS on "
                            f"{', '.join(sorted(chroms))}")
    return by_split, skipped


def unknown_genes(asm: Assembly, strength: dict[str, float]) -> list[str]:
    """Genes of the strength table that no annotated gene carries as its locus, ID or name (table order)."""
    if not strength:
        return []
    known = set()
    for gene in asm.annotation.genes:
        known.update((gene.locus, gene.id, gene.name))
    return [k for k in strength if k not in known]


def balance_subgenomes(by_split: dict[str, list[dict]], params: PromoterParams, rng) -> dict[str, float]:
    """Thin the positives of larger subgenomes (polyploids) with the one balance rule; returns the rates."""
    counts: dict[str, int] = {}
    for rows in by_split.values():
        for r in rows:
            counts[r["subgenome"]] = counts.get(r["subgenome"], 0) + 1
    keep = keep_rates(counts, params.balance, params.subgenome_weights)
    for split, rows in by_split.items():
        by_split[split] = [r for r in rows if rng.random() < keep[r["subgenome"]]]
    return {k: round(v, 4) for k, v in keep.items()}


def _candidates(asm: Assembly, params: PromoterParams, splitter: Splitter, split: str, need: int, kind: str,
                rng) -> list[dict]:
    """Random (or gene-body) windows of ``split``, far from every annotated TSS, at most ``need``."""
    g, L, ann = asm.genome, params.length, asm.annotation
    chroms = g.chromosomes()
    genes = [x for x in ann.genes if x.chrom in chroms and x.end - x.start > L] if kind == "gene_body" else []
    if kind == "gene_body" and not genes:
        raise PlantLLMError("no gene longer than the window for gene-body negatives")
    loci = random_loci(asm, chroms, L, rng)
    pool: list[dict] = []
    for _ in range(need * 200):
        if len(pool) >= need:
            break
        if kind == "gene_body":
            x = genes[int(rng.integers(len(genes)))]
            c, st, strand = x.chrom, int(rng.integers(x.start, x.end - L)), x.strand
        else:
            c, st, strand = next(loci)
        if min(ann.tss_distance(c, st), ann.tss_distance(c, st + L)) < params.exclusion \
                or splitter.assign(c, st, st + L) != split:
            continue
        seq = g.fetch(c, st, st + L, strand)
        if _n_ok(seq, params.max_n_fraction):
            pool.append(_row(asm, c, st, st + L, strand, seq, 0, kind))
    return pool


def negatives(asm: Assembly, params: PromoterParams, splitter: Splitter, pos: list[dict], split: str,
              rng) -> list[dict]:
    """One negative per positive of ``split`` by the chosen strategy."""
    if not pos:
        return []
    if params.negatives == "shuffle":
        return [{**p, "seq": dinucleotide_shuffle(p["seq"], rng), "label": 0, "tss_offset": -1, "gene": "",
                 "source": "dinucleotide_shuffle", "strength": math.nan} for p in pos]
    if params.negatives == "gc_matched":
        pool = _candidates(asm, params, splitter, split, 10 * len(pos), "random", rng)
        idx = gc_match(np.array([p["gc"] for p in pos]), np.array([q["gc"] for q in pool]), rng)
        return [{**pool[i], "source": "gc_matched"} for i in idx if i >= 0]
    return _candidates(asm, params, splitter, split, len(pos), params.negatives, rng)


def build_promoter(asm: Assembly, out: str | Path, params: PromoterParams, splitter: Splitter,
                   seed: int = 0, force: bool = False) -> dict:
    """Write the promoter task as a DatasetDict (train/validation/test) at ``out``."""
    params.check()
    inputs = build_inputs({"fasta": asm.card.fasta, "gff": asm.card.gff,
                           "strength": Path(params.strength_table) if params.strength_table else None},
                          params, splitter, seed)
    if not force and (done := current_manifest(Path(out), inputs)) is not None:
        return done
    rng = np.random.default_rng(seed)
    strength = read_strength(params.strength_table) if params.strength_table else {}
    pos, skipped = positives(asm, params, splitter, strength)
    matched = sum(not math.isnan(r["strength"]) for rows in pos.values() for r in rows)
    if strength and matched == 0:
        raise InputFileError("no gene in the strength table matches the annotation's gene IDs or names",
                             path=params.strength_table, fix="use locus IDs such as those in the GFF")
    unknown = unknown_genes(asm, strength)
    if unknown:
        con.warn(f"{len(unknown):,} of {len(strength):,} genes in the strength table {params.strength_table} are not in "
                 f"the annotation and are left out (first: '{unknown[0]}')")
    if params.balance not in ("none", "proportional") and asm.card.subgenomes:
        skipped["subgenome_balance"] = balance_subgenomes(pos, params, rng)
    neg = {split: negatives(asm, params, splitter, rows, split, rng) for split, rows in pos.items()}
    for split in SPLITS:
        if len(neg[split]) < len(pos[split]):
            con.warn(f"{split}: only {len(neg[split])} negatives for {len(pos[split])} promoters")

    def examples():
        for split in SPLITS:
            rows = pos[split] + neg[split]
            for i in rng.permutation(len(rows)):
                yield split, rows[i]

    def mean_gc(rows):
        return round(float(np.mean([r["gc"] for r in rows])), 4) if rows else None

    def manifest():
        return {"species": asm.card.name, "assembly": asm.card.assembly, "card": str(asm.card.source),
                "files": file_records({"fasta": asm.card.fasta, "gff": asm.card.gff}),
                "params": asdict(params), "split": splitter.describe(), "seed": seed, "skipped": skipped,
                "window": params.window.describe(),
                "gc": {s: {"promoter": mean_gc(pos[s]), "negative": mean_gc(neg[s])} for s in SPLITS},
                "strength_genes": matched, "strength_unknown_genes": len(unknown),
                "strength_first_unknown": unknown[0] if unknown else ""}

    return write_dataset(out, "promoter", FEATURES, examples(), manifest, inputs)
