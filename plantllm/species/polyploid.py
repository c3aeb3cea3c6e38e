"""Polyploid genomes: combined subgenome references, homeolog groups, leak-free group splits.

* ``combine``: build one reference from several assemblies, one per subgenome (as the
  A. suecica reference joins its A. thaliana-like T and A. arenosa-like A subgenomes):
  sequences renamed ``<label>_<chrom>``, annotation IDs prefixed, a card with subgenomes.
* ``find_homeologs``: best reciprocal hits between subgenomes (or, for a diploid, gene
  families within the genome) by protein k-mer similarity. Proteins are translated from
  the annotation's canonical CDS; similarity is the cosine of binary 5-mer vectors
  (scikit-learn's CountVectorizer, sparse products), so no external aligner is needed and
  all pairs of ~10^4 x 10^4 genes are scored in seconds. Pairs above ``min_similarity``
  are joined into groups (union-find).
* ``GroupSplitter``: every locus touching a gene (+/- flank) takes the split of that
  gene's group, so a model is never tested on the homeolog of a training gene.
* ``leakage``: how many groups a naive split would have cut across train and test.
"""

from __future__ import annotations

import csv
import gzip
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pysam
import yaml

from plantllm.core import console as con
from plantllm.species.annotation import Annotation
from plantllm.species.assembly import Assembly
from plantllm.core.errors import InputFileError, PlantLLMError
from plantllm.species.genome import Genome
from plantllm.core.io import atomic_path, atomic_write, open_text, require_file
from plantllm.core.sequence import reverse_complement
from plantllm.species.card import SpeciesCard, get_card
from plantllm.data.splits import Splitter, _unit


# ---------------------------------------------------------------- combine
def combine(name: str, parts: dict[str, SpeciesCard | str], out_dir: str | Path, *, ploidy: int | None = None) -> Path:
    """Write ``out_dir/<name>.fa.gz`` (bgzip), ``<name>.gff3.gz`` and ``<name>.yaml`` joining
    each part as one subgenome; returns the card path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cards = {label: (c if isinstance(c, SpeciesCard) else get_card(c)) for label, c in parts.items()}
    fasta, gff = out_dir / f"{name}.fa.gz", out_dir / f"{name}.gff3.gz"
    nuclear, subgenomes = [], {}
    with atomic_path(fasta) as tmp_fa:
        with pysam.BGZFile(str(tmp_fa), "wb") as w:
            for label, card in cards.items():
                g = Genome(card)
                subgenomes[label] = []
                for chrom in g.chromosomes():
                    new = f"{label}_{chrom}"
                    n = g.length(chrom)
                    nuclear.append({"name": new, "length": n,
                                    "aliases": [f"{label}_{a}" for a in card.chromosome(chrom).aliases]})
                    subgenomes[label].append(new)
                    w.write(f">{new} {card.scientific_name or card.name} {card.assembly} chromosome {chrom}\n".encode())
                    for off, seq in g.iter_chunks(chrom, chunk=60 * 100_000):
                        w.write("".join(seq[i:i + 60] + "\n" for i in range(0, len(seq), 60)).encode())
                g.close()
    with atomic_path(gff) as tmp_gff:
        with gzip.open(tmp_gff, "wt") as w:
            w.write("##gff-version 3\n")
            for label, card in cards.items():
                if card.gff is None:
                    continue
                ann = Annotation(card)
                _write_prefixed_gff(card, ann, label, w)
    card_path = out_dir / f"{name}.yaml"
    total_ploidy = ploidy or sum(c.ploidy for c in cards.values())
    data = {
        "name": name, "scientific_name": " x ".join(c.scientific_name or c.name for c in cards.values()),
        "assembly": "+".join(f"{k}:{c.assembly}" for k, c in cards.items()), "ploidy": total_ploidy,
        "genome": {"fasta": fasta.name, "soft_masked": all(c.soft_masked for c in cards.values()), "partial": True},
        "annotation": {"gff": gff.name, "format": "gff3"},
        "repeats": {"source": "soft_mask"},
        "chromosomes": {"nuclear": nuclear},
        "subgenomes": subgenomes,
    }
    with atomic_write(card_path) as fh:
        fh.write(f"# Combined reference: {', '.join(f'{k} = {c.name}' for k, c in cards.items())} "
                 "(written by plantllm species combine)\n")
        yaml.safe_dump(data, fh, sort_keys=False, default_flow_style=None, width=120)
    return card_path


def _esc(value: str) -> str:
    """GFF3 column-9 escaping of the reserved characters."""
    for ch, code in (("%", "%25"), (";", "%3B"), ("=", "%3D"), (",", "%2C"), ("&", "%26"), ("\t", "%09")):
        value = value.replace(ch, code)
    return value


def _write_prefixed_gff(card: SpeciesCard, ann: Annotation, label: str, w) -> None:
    """Copy a GFF3/GTF as GFF3 gene/mRNA/exon/CDS lines with seqids and IDs prefixed by the label."""
    for gene in ann.genes:
        gid = f"{label}_{gene.locus}"
        seq = f"{label}_{gene.chrom}"
        w.write(f"{seq}\tplantllm\tgene\t{gene.start + 1}\t{gene.end}\t.\t{gene.strand}\t.\t"
                f"ID={_esc(gid)};Name={_esc(gene.name)};locus_tag={_esc(gid)};gene_biotype={_esc(gene.biotype)}\n")
        for t in gene.transcripts:
            tid = _esc(f"{label}_{t.id}")
            w.write(f"{seq}\tplantllm\tmRNA\t{t.start + 1}\t{t.end}\t.\t{t.strand}\t.\tID={tid};Parent={_esc(gid)}\n")
            for i, (s, e) in enumerate(t.exons, 1):
                w.write(f"{seq}\tplantllm\texon\t{s + 1}\t{e}\t.\t{t.strand}\t.\tID={tid}.exon{i};Parent={tid}\n")
            for s, e in t.cds:
                w.write(f"{seq}\tplantllm\tCDS\t{s + 1}\t{e}\t.\t{t.strand}\t.\tID={tid}.cds;Parent={tid}\n")


# ---------------------------------------------------------------- homeologs
def proteins(asm: Assembly, min_length: int = 50) -> dict[str, tuple[str, str, str]]:
    """gene locus -> (protein, chromosome, subgenome) from the canonical CDS of coding genes."""
    from Bio.Seq import Seq

    out = {}
    for gene in asm.annotation.genes:
        t = gene.canonical
        if t is None or not t.coding or gene.chrom not in asm.genome.chromosomes():
            continue
        dna = "".join(asm.genome.fetch(gene.chrom, s, e) for s, e in t.cds).upper()
        if t.strand == "-":
            dna = reverse_complement(dna)
        dna = dna[: len(dna) // 3 * 3]
        prot = str(Seq(dna).translate()).rstrip("*")
        if len(prot) >= min_length and prot.count("*") <= 1:
            out[gene.locus] = (prot, gene.chrom, asm.card.subgenome_of(gene.chrom) or "")
    return out


@dataclass
class HomeologResult:
    pairs: list[tuple[str, str, float]]
    groups: dict[str, str]  # gene -> group id
    genes_scored: dict[str, int] = field(default_factory=dict)


def _similarity(a: list[str], b: list[str], k: int):
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.preprocessing import normalize

    vec = CountVectorizer(analyzer="char", ngram_range=(k, k), binary=True, lowercase=False, dtype=np.float32)
    vec.fit(a + b)
    A = normalize(vec.transform(a))
    B = normalize(vec.transform(b))
    return (A @ B.T).tocsr()


def find_homeologs(asm: Assembly, *, k: int = 5, min_similarity: float = 0.3, families: bool = False) -> HomeologResult:
    """Best reciprocal hits between every pair of subgenomes (``families=False``), or, for a diploid
    or with ``families=True``, all gene pairs within the genome above ``min_similarity`` (gene families)."""
    prots = proteins(asm)
    by_sub: dict[str, list[str]] = defaultdict(list)
    for gene, (_, _, sg) in prots.items():
        by_sub[sg].append(gene)
    pairs: list[tuple[str, str, float]] = []
    labels = sorted(by_sub)
    if families or len(labels) < 2:
        genes = sorted(prots)
        if len(genes) > 1:
            S = _similarity([prots[g][0] for g in genes], [prots[g][0] for g in genes], k).tocoo()
            for i, j, v in zip(S.row, S.col, S.data):
                if i < j and v >= min_similarity:
                    pairs.append((genes[i], genes[j], float(v)))
    else:
        for x in range(len(labels)):
            for y in range(x + 1, len(labels)):
                ga, gb = by_sub[labels[x]], by_sub[labels[y]]
                S = _similarity([prots[g][0] for g in ga], [prots[g][0] for g in gb], k)
                best_b = np.asarray(S.argmax(axis=1)).ravel()
                best_a = np.asarray(S.argmax(axis=0)).ravel()
                for i, j in enumerate(best_b):
                    v = S[i, j]
                    if v >= min_similarity and best_a[j] == i:
                        pairs.append((ga[i], gb[j], float(v)))
    groups = _union_find(pairs, list(prots))
    con.info(f"homeologs: {len(pairs):,} pairs, {len(set(groups.values())):,} groups over {len(prots):,} genes")
    return HomeologResult(pairs, groups, {k2: len(v) for k2, v in by_sub.items()})


def _union_find(pairs: list[tuple[str, str, float]], genes: list[str]) -> dict[str, str]:
    parent = {g: g for g in genes}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, _ in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[str, list[str]] = defaultdict(list)
    for g in genes:
        members[root(g)].append(g)
    out = {}
    for i, (_, ms) in enumerate(sorted(members.items(), key=lambda kv: min(kv[1]))):
        if len(ms) > 1:
            for g in ms:
                out[g] = f"HG{i:06d}"
    return out


def write_groups(result: HomeologResult, path: str | Path) -> Path:
    with atomic_write(path) as fh:
        fh.write("gene\tgroup\n")
        for g, grp in sorted(result.groups.items(), key=lambda kv: (kv[1], kv[0])):
            fh.write(f"{g}\t{grp}\n")
    return Path(path)


def read_groups(path: str | Path) -> dict[str, str]:
    """gene -> group from a two-column TSV (header optional)."""
    p = require_file(path, "homeolog table")
    out: dict[str, str] = {}
    with open_text(p) as fh:
        for lineno, row in enumerate(csv.reader(fh, delimiter="\t"), 1):
            if not row or row[0].startswith("#") or (lineno == 1 and row[:2] == ["gene", "group"]):
                continue
            if len(row) < 2 or not row[0] or not row[1]:
                raise InputFileError("expected two tab-separated columns: gene, group", path=p, line=lineno)
            if row[0] in out and out[row[0]] != row[1]:
                raise InputFileError(f"gene '{row[0]}' is in groups {out[row[0]]} and {row[1]}", path=p, line=lineno)
            out[row[0]] = row[1]
    if not out:
        raise InputFileError("no gene-group rows found", path=p)
    return out


# ---------------------------------------------------------------- splits
class GroupSplitter(Splitter):
    """A Splitter where loci near a grouped gene take the split of the gene's group.

    Loci touching genes of groups in different splits are dropped; loci touching no
    grouped gene fall back to the block / chromosome rules of the base splitter.
    """

    def __init__(self, base: Splitter, asm: Assembly, groups: dict[str, str], flank: int = 0):
        super().__init__(base.val_fraction, base.test_fraction, base.block_size, base.val_chroms,
                         base.test_chroms, base.seed)
        self.groups = groups
        self.flank = flank
        known = {g.locus for g in asm.annotation.genes} | {g.id for g in asm.annotation.genes}
        missing = [g for g in groups if g not in known]
        if len(missing) == len(groups):
            raise PlantLLMError(f"no gene of the homeolog table is in the annotation (e.g. {missing[0]})",
                                fix="use the gene IDs of the GFF (locus tags)")
        self._iv: dict[str, tuple[np.ndarray, np.ndarray, list[str]]] = {}
        tmp: dict[str, list] = defaultdict(list)
        for g in asm.annotation.genes:
            grp = groups.get(g.locus) or groups.get(g.id)
            if grp:
                tmp[g.chrom].append((g.start - flank, g.end + flank, grp))
        for c, rows in tmp.items():
            rows.sort()
            self._iv[c] = (np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), [r[2] for r in rows])
        self.unmatched = len(missing)
        self.naive_leakage = leakage(asm, groups, base)

    def group_split(self, group: str) -> str:
        return self.by_fraction(_unit("group", group, seed=self.seed))

    def assign(self, chrom: str, start: int, end: int) -> str | None:
        if chrom in self._iv:
            starts, ends, grps = self._iv[chrom]
            i = int(np.searchsorted(starts, end))
            hit = {grps[j] for j in range(max(0, i - 200), i) if ends[j] > start and starts[j] < end}
            if hit:
                splits = {self.group_split(g) for g in hit}
                if len(splits) == 1:
                    return splits.pop()
                self.dropped += 1
                return None
        return super().assign(chrom, start, end)

    def describe(self) -> dict:
        return {**super().describe(), "groups": len(set(self.groups.values())), "group_flank": self.flank,
                "naive_split_leakage": self.naive_leakage}


def leakage(asm: Assembly, groups: dict[str, str], splitter: Splitter) -> dict:
    """Groups whose genes a (naive) splitter puts on both sides of train/test."""
    by_group: dict[str, set[str]] = defaultdict(set)
    for g in asm.annotation.genes:
        grp = groups.get(g.locus) or groups.get(g.id)
        if grp:
            s = splitter.assign(g.chrom, g.start, g.end)
            if s:
                by_group[grp].add(s)
    split_groups = [k for k, v in by_group.items() if len(v) > 1]
    test_and_train = [k for k, v in by_group.items() if {"train", "test"} <= v]
    return {"groups": len(by_group), "groups_across_splits": len(split_groups),
            "groups_in_train_and_test": len(test_and_train),
            "fraction_in_train_and_test": round(len(test_and_train) / max(len(by_group), 1), 4)}

