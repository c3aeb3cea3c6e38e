"""Orthologous regions across species: reference genes' promoters (or BED regions) found in other genomes.

For each reference gene (or region) and each other species, one orthologous region:

* between annotated species, the ortholog gene is the best reciprocal hit of the two proteomes (the protein
  k-mer similarity of ``species.homeologs``, there used between subgenomes), and its region is the same promoter
  window (``data.promoter_window``) around the ortholog's TSS;
* for a genome without annotation (or ``method="map"``, or BED regions), the reference region is mapped onto the
  genome with minimap2 (PyPI ``mappy``, the minimap2 library's own binding; preset ``asm20`` for ~5-20 %
  divergence). A promoter is mapped with ``anchor`` bp (default 1,000) of its gene's 5' end attached, then the
  window is projected through the alignment: the gene anchors the syntenic position where the promoter alone is
  too diverged to map (on the 300-promoter check, thaliana -> lyrata: 134 found without an anchor, 176 with
  300 bp, 252 with 1,000), which is also what the protein route gives; how much of the window really aligns is
  measured by ``compare conserved`` (``--min-aligned``);
* or a user table (group, species, chrom, start, end, strand; 0-based half-open, as BED).

Outputs (``write_orthologs``): ``orthologs.tsv`` (one row per group and species, coordinates 0-based half-open
with the FASTA's chromosome names), ``fasta/<species>.fa`` (each region in its strand's orientation, header
``>group``), ``summary.json`` (species, their cards, the parameters, counts).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from plantllm.core import console as con
from plantllm.core.cache import cache_dir
from plantllm.core.errors import InputFileError, PlantLLMError
from plantllm.core.io import atomic_path, atomic_write, fingerprint
from plantllm.core.tables import integer, read_rows
from plantllm.data.promoter_window import PromoterWindow
from plantllm.species.assembly import Assembly
from plantllm.species.homeologs import best_reciprocal_hits, proteins

METHODS = ("auto", "proteins", "map")
TABLE = "orthologs.tsv"
COLUMNS = ("group", "species", "chrom", "start", "end", "strand", "gene", "method", "score")


@dataclass(frozen=True)
class OrthoRegion:
    """One species' region of an ortholog group; 0-based half-open, canonical chromosome name."""

    group: str
    species: str
    chrom: str
    start: int
    end: int
    strand: str
    gene: str = "."
    method: str = "reference"
    score: float = float("nan")

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass
class OrthologParams:
    upstream: int = 1000          # promoter window of the genes (bp before the TSS)
    downstream: int = 0           # and after it
    method: str = "auto"          # auto: proteins between annotated species, map otherwise; proteins; map
    min_similarity: float = 0.3   # protein 5-mer cosine of a best reciprocal hit
    k: int = 5
    preset: str = "asm20"         # minimap2 preset
    anchor: int = 1000            # bp of the gene's 5' end mapped with its promoter
    min_mapq: int = 1
    min_coverage: float = 0.3     # share of the mapped query that aligns

    def check(self) -> None:
        if self.method not in METHODS:
            raise PlantLLMError(f"unknown ortholog method '{self.method}'", fix=f"use one of {', '.join(METHODS)}")
        if not 0 < self.min_coverage <= 1:
            raise PlantLLMError(f"--min-coverage must be in (0, 1], got {self.min_coverage}")
        PromoterWindow(self.upstream, self.downstream)


# ------------------------------------------------------------------ reference genes and regions
def reference_genes(asm: Assembly, genes: list[str] | None = None, n_genes: int | None = None,
                    seed: int = 0) -> list:
    """The coding genes asked for (locus, ID or name), or ``n_genes`` drawn at random (seeded), in genome order."""
    ann = asm.annotation
    present = set(asm.genome.chromosomes())
    coding = [g for g in ann.genes if g.canonical is not None and g.canonical.coding and g.chrom in present]
    if genes:
        by = {}
        for g in coding:
            for key in (g.locus, g.id, g.name):
                by.setdefault(key, g)
        missing = [x for x in genes if x not in by]
        if missing:
            raise PlantLLMError(f"{len(missing)} of the genes are not coding genes of {asm.card.name}'s annotation "
                                f"(first: {missing[0]})", path=asm.card.gff, fix="give gene loci such as AT1G01010")
        chosen = [by[x] for x in dict.fromkeys(genes)]
    elif n_genes:
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(coding), size=min(n_genes, len(coding)), replace=False)
        chosen = [coding[i] for i in idx]
    else:
        raise PlantLLMError("choose the reference genes (--genes) or how many to draw (--n-genes), or give --bed "
                            "or --table")
    order = {c.name: i for i, c in enumerate(asm.card.chromosomes)}
    return sorted(chosen, key=lambda g: (order[g.chrom], g.start, g.locus))


def promoter_of(asm: Assembly, gene, window: PromoterWindow) -> tuple[str, int, int, str] | None:
    """(chrom, start, end, strand) of the gene's promoter window, clipped to the chromosome; None if empty."""
    t = gene.canonical
    a, b = window.interval(t.tss, t.strand)
    a, b = max(0, a), min(asm.genome.length(gene.chrom), b)
    return (gene.chrom, a, b, t.strand) if b > a else None


# ------------------------------------------------------------------ minimap2
class GenomeMapper:
    """A genome indexed by minimap2 (the index cached beside plantllm's other derived files)."""

    def __init__(self, asm: Assembly, preset: str = "asm20"):
        import mappy

        self.asm = asm
        fasta = Path(asm.card.fasta)
        idx = cache_dir("minimap2", f"{fasta.resolve()}|{fingerprint(fasta)}|{preset}") / "genome.mmi"
        with con.status(f"indexing {asm.card.name} for minimap2" if not idx.exists() else
                        f"loading the minimap2 index of {asm.card.name}"):
            if idx.exists():
                self.aligner = mappy.Aligner(str(idx), preset=preset)
            else:
                with atomic_path(idx) as tmp:
                    self.aligner = mappy.Aligner(str(fasta), preset=preset, fn_idx_out=str(tmp))
        if not self.aligner:
            raise InputFileError("minimap2 could not index the genome", path=fasta, fix="check the FASTA")

    def map(self, seq: str, keep: tuple[int, int], min_mapq: int, min_coverage: float):
        """Best hit of ``seq`` on a card chromosome: (chrom, start, end, hit strand, mapq, identity) of the target
        interval that ``seq[keep[0]:keep[1]]`` projects onto, or None."""
        card = self.asm.card
        for h in self.aligner.map(seq):
            chrom = card.try_canonical(h.ctg)
            if not h.is_primary or chrom is None or h.mapq < min_mapq:
                continue
            if (h.q_en - h.q_st) < min_coverage * len(seq):
                return None
            a, b = project(h, keep[0], len(seq)), project(h, keep[1] - 1, len(seq))
            s, e = max(0, min(a, b)), min(h.ctg_len, max(a, b) + 1)
            if e <= s:
                return None
            return chrom, s, e, h.strand, h.mapq, h.mlen / max(h.blen, 1)
        return None


def project(hit, qpos: int, qlen: int) -> int:
    """Target position of query position ``qpos`` through a minimap2 hit (its CIGAR), extrapolated linearly
    beyond the aligned part; a base in an insertion maps to the target base after it."""
    if hit.strand < 0:  # the CIGAR walks the target forward along the query's reverse complement
        q, qs, qe = qlen - 1 - qpos, qlen - hit.q_en, qlen - hit.q_st
    else:
        q, qs, qe = qpos, hit.q_st, hit.q_en
    if q < qs:
        return hit.r_st - (qs - q)
    if q >= qe:
        return hit.r_en + (q - qe)
    qi, ti = qs, hit.r_st
    for n, op in hit.cigar:
        if op in (0, 7, 8):  # M, =, X
            if q < qi + n:
                return ti + (q - qi)
            qi, ti = qi + n, ti + n
        elif op == 1:  # I
            if q < qi + n:
                return ti
            qi += n
        elif op in (2, 3):  # D, N
            ti += n
    return ti


# ------------------------------------------------------------------ finding orthologs
@dataclass
class OrthologResult:
    regions: list[OrthoRegion]
    reference: str
    species: list[str]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def protein_orthologs(ref: Assembly, other: Assembly, k: int, min_similarity: float,
                      only: set[str] | None = None) -> dict[str, tuple[str, float]]:
    """Reference locus -> (ortholog locus, similarity) for best reciprocal protein hits (of the ``only`` genes)."""
    with con.status(f"proteins of {ref.card.name} and {other.card.name}"):
        pa = {g: v[0] for g, v in proteins(ref).items()}
        pb = {g: v[0] for g, v in proteins(other).items()}
    with con.status(f"best reciprocal hits of {len(only) if only else len(pa):,} of {len(pa):,} proteins among {len(pb):,}"):
        pairs = best_reciprocal_hits(pa, pb, k=k, min_similarity=min_similarity, only=only)
    return {a: (b, s) for a, b, s in pairs}


def find_orthologs(ref: Assembly, others: list[Assembly], params: OrthologParams, *, genes: list[str] | None = None,
                   n_genes: int | None = None, bed: list[tuple[str, str, int, int, str]] | None = None,
                   seed: int = 0) -> OrthologResult:
    """Orthologous regions of the reference genes' promoters (or of ``bed``: (name, chrom, start, end, strand))."""
    params.check()
    window = PromoterWindow(params.upstream, params.downstream)
    names = [ref.card.name] + [o.card.name for o in others]
    if len(set(names)) != len(names):
        raise PlantLLMError(f"a species is given twice: {', '.join(names)}", fix="name each species once")
    # the reference regions: (group, chrom, start, end, strand, gene, mapping query interval)
    refs = []
    if bed is not None:
        for name, c, s, e, strand in bed:
            refs.append((name, c, s, e, strand, ".", (s, e)))
        ref_genes = {}
    else:
        ref_genes = {g.locus: g for g in reference_genes(ref, genes, n_genes, seed)}
        for locus, g in ref_genes.items():
            r = promoter_of(ref, g, window)
            if r is None:
                continue
            c, s, e, strand = r
            n = ref.genome.length(c)
            q = (s, min(n, e + params.anchor)) if strand != "-" else (max(0, s - params.anchor), e)
            refs.append((locus, c, s, e, strand, locus, q))
    regions = [OrthoRegion(grp, ref.card.name, c, s, e, st, gene, "reference", 1.0) for grp, c, s, e, st, gene, _ in refs]
    counts = {ref.card.name: {"regions": len(refs)}}
    for other in others:
        use_proteins = bed is None and params.method != "map" and other.has_annotation
        if params.method == "proteins" and not other.has_annotation:
            raise PlantLLMError(f"method 'proteins' needs an annotation for {other.card.name}", path=other.card.source,
                                fix="set annotation.gff in the card, or use --method map (minimap2)")
        found = 0
        if use_proteins:
            hits = protein_orthologs(ref, other, params.k, params.min_similarity, only={x[5] for x in refs})
            by_locus = {g.locus: g for g in other.annotation.genes}
            for grp, *_, gene, _q in con.track(refs, f"orthologs in {other.card.name} (proteins)", unit="genes"):
                if gene not in hits:
                    continue
                og, sim = hits[gene]
                r = promoter_of(other, by_locus[og], window)
                if r is not None:
                    regions.append(OrthoRegion(grp, other.card.name, *r, og, "proteins", round(sim, 4)))
                    found += 1
        else:
            mapper = GenomeMapper(other, params.preset)
            for grp, c, s, e, strand, gene, (qa, qb) in con.track(refs, f"mapping onto {other.card.name} (minimap2)",
                                                                   unit="regions"):
                seq = ref.genome.fetch(c, qa, qb).upper()
                hit = mapper.map(seq, (s - qa, e - qa), params.min_mapq, params.min_coverage)
                if hit is None:
                    continue
                oc, os_, oe, hstrand, _mapq, ident = hit
                ostrand = strand if hstrand > 0 else {"+": "-", "-": "+"}.get(strand, "-")
                regions.append(OrthoRegion(grp, other.card.name, oc, os_, oe, ostrand, ".", "minimap2",
                                           round(ident, 4)))
                found += 1
        counts[other.card.name] = {"regions": found, "method": "proteins" if use_proteins else "minimap2"}
        con.info(f"{other.card.name}: {found:,} of {len(refs):,} reference regions have an ortholog "
                 f"({counts[other.card.name]['method']})")
    return OrthologResult(regions, ref.card.name, names, counts)


# ------------------------------------------------------------------ tables and FASTAs
def read_table(path: str | Path, assemblies: dict[str, Assembly]) -> list[OrthoRegion]:
    """A user's ortholog table: group, species, chrom, start, end, strand (0-based half-open, as BED)."""
    out: list[OrthoRegion] = []
    seen = set()
    cols = {"group": str, "species": str, "chrom": str, "start": integer, "end": integer, "strand": str}
    for line, (grp, sp, chrom, s, e, strand) in read_rows(path, "ortholog table", cols):
        if sp not in assemblies:
            raise InputFileError(f"species '{sp}' is not one of {', '.join(assemblies)}", path=path, line=line,
                                 fix="give the species (card names) on the command line, reference first")
        asm = assemblies[sp]
        canon = asm.card.try_canonical(chrom)
        if canon is None or canon not in asm.genome.chromosomes(nuclear_only=False):
            raise InputFileError(f"chromosome '{chrom}' is not in {sp}'s genome", path=path, line=line,
                                 fix=f"use a name or alias of {asm.card.source}")
        n = asm.genome.length(canon)
        if not 0 <= s < e <= n:
            raise InputFileError(f"bad interval {s}-{e} on {chrom} (length {n:,}; 0-based half-open, start < end)",
                                 path=path, line=line, fix="correct the coordinates")
        if strand not in ("+", "-"):
            raise InputFileError(f"strand must be + or -, got '{strand}'", path=path, line=line)
        if (grp, sp) in seen:
            raise InputFileError(f"group {grp} has two regions of {sp}", path=path, line=line,
                                 fix="one region per species and group")
        seen.add((grp, sp))
        out.append(OrthoRegion(grp, sp, canon, s, e, strand, ".", "table", float("nan")))
    if not out:
        raise InputFileError("the ortholog table has no rows", path=path)
    return out


def write_orthologs(result: OrthologResult, assemblies: dict[str, Assembly], out: str | Path,
                    params: OrthologParams | None = None) -> dict:
    """``orthologs.tsv``, ``fasta/<species>.fa`` and ``summary.json`` in ``out`` (each written atomically)."""
    out = Path(out)
    (out / "fasta").mkdir(parents=True, exist_ok=True)
    groups = list(dict.fromkeys(r.group for r in result.regions))
    order = {g: i for i, g in enumerate(groups)}
    regions = sorted(result.regions, key=lambda r: (order[r.group], result.species.index(r.species)))
    for sp in result.species:
        g = assemblies[sp].genome
        with atomic_write(out / "fasta" / f"{sp}.fa") as fh:
            for r in regions:
                if r.species == sp:
                    seq = g.fetch(r.chrom, r.start, r.end, r.strand).upper()
                    fh.write(f">{r.group} {sp}:{g.file_name(r.chrom)}:{r.start + 1}-{r.end}({r.strand})\n")
                    fh.writelines(seq[i:i + 60] + "\n" for i in range(0, len(seq), 60))
    with atomic_write(out / TABLE) as fh:
        fh.write("#" + "\t".join(COLUMNS) + "\n")
        for r in regions:
            score = "." if math.isnan(r.score) else f"{r.score:.4g}"
            fh.write(f"{r.group}\t{r.species}\t{assemblies[r.species].genome.file_name(r.chrom)}\t{r.start}\t{r.end}\t"
                     f"{r.strand}\t{r.gene}\t{r.method}\t{score}\n")
    per = {sp: sum(r.species == sp for r in regions) for sp in result.species}
    complete = sum(1 for grp in groups if all((grp, sp) in {(r.group, r.species) for r in regions}
                                              for sp in result.species))
    summary = {"reference": result.reference, "species": result.species,
               "cards": {sp: str(assemblies[sp].card.source) for sp in result.species},
               "params": asdict(params) if params else None, "groups": len(groups), "regions_per_species": per,
               "groups_in_every_species": complete, "methods": result.counts}
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=2)
    return summary


def load_orthologs(folder: str | Path, assemblies: dict[str, Assembly] | None = None
                   ) -> tuple[list[OrthoRegion], dict[str, Assembly], str]:
    """The regions, assemblies (from the stored card paths unless given) and reference of ``compare orthologs``'s
    output folder."""
    folder = Path(folder)
    sj = folder / "summary.json"
    if not sj.exists() or not (folder / TABLE).exists():
        raise PlantLLMError(f"{folder}: not an ortholog folder (orthologs.tsv with summary.json)",
                            fix="make it with 'plantllm compare orthologs'")
    s = json.loads(sj.read_text())
    if assemblies is None:
        assemblies = {sp: Assembly(s["cards"][sp]) for sp in s["species"]}
    return read_table(folder / TABLE, assemblies), assemblies, s["reference"]
