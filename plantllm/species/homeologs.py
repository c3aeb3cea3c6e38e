"""Homeologous genes (polyploids) and gene families (diploids), for leak-free splits.

``find_homeologs``: best reciprocal hits between subgenomes (or, for a diploid, gene
families within the genome) by protein k-mer similarity. Proteins are translated from
the annotation's canonical CDS; similarity is the cosine of binary 5-mer vectors
(scikit-learn's CountVectorizer, sparse products), so no external aligner is needed and
all pairs of ~10^4 x 10^4 genes are scored in seconds. Pairs above ``min_similarity``
are joined into groups (union-find). The groups keep whole families on one side of a
split (``plantllm.data.splits.GroupSplitter``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plantllm.core import console as con
from plantllm.core.io import atomic_write
from plantllm.core.sequence import reverse_complement
from plantllm.core.tables import read_key_values
from plantllm.species.assembly import Assembly


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


def _vectors(a: list[str], b: list[str], k: int):
    """L2-normalised binary k-mer vectors of ``a`` and ``b`` (one pass over the sequences), rows as CSR."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.preprocessing import normalize

    vec = CountVectorizer(analyzer="char", ngram_range=(k, k), binary=True, lowercase=False, dtype=np.float32)
    X = normalize(vec.fit_transform(a + b)).tocsr()
    return X[: len(a)], X[len(a):]


def _similarity(a: list[str], b: list[str], k: int):
    A, B = _vectors(a, b, k)
    return (A @ B.T).tocsr()


def best_reciprocal_hits(a: dict[str, str], b: dict[str, str], *, k: int = 5, min_similarity: float = 0.3,
                         only: set[str] | None = None) -> list[tuple[str, str, float]]:
    """(gene of a, gene of b, similarity) for every pair of proteins that are each other's best hit
    (subgenomes of one assembly here; two species' proteomes for ``apps.orthologs``). ``only``: just these genes
    of ``a`` (their best hits in ``b`` are still checked against all of ``a``), a fraction of the products."""
    ga, gb = list(a), list(b)
    if not ga or not gb:
        return []
    rows = [i for i, g in enumerate(ga) if only is None or g in only]
    if not rows:
        return []
    A, B = _vectors([a[g] for g in ga], [b[g] for g in gb], k)
    S = (A[rows] @ B.T).tocsr()
    best_b = np.asarray(S.argmax(axis=1)).ravel()
    hit_cols = sorted(set(best_b.tolist()))
    T = (A @ B[hit_cols].T).tocsr()  # the hits against all of a
    best_a = dict(zip(hit_cols, np.asarray(T.argmax(axis=0)).ravel().tolist()))
    out = []
    for r, j in enumerate(best_b):
        v = S[r, j]
        if v >= min_similarity and best_a[int(j)] == rows[r]:
            out.append((ga[rows[r]], gb[j], float(v)))
    return out


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
                pairs += best_reciprocal_hits({g: prots[g][0] for g in by_sub[labels[x]]},
                                              {g: prots[g][0] for g in by_sub[labels[y]]}, k=k,
                                              min_similarity=min_similarity)
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
    """gene -> group from a two-column TSV (header ``gene<TAB>group`` optional)."""
    return read_key_values(path, "homeolog table", columns=("gene", "group"))
