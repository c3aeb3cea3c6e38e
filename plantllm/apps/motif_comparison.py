"""Motifs matched across species: ``plantllm motifs compare``.

Input: one ``plantllm motifs`` (discover) output folder per species, each named. Its motifs are
read back as discover wrote them: the model's seqlet motifs from ``motifs.meme`` (their seqlet
counts and JASPAR names from ``summary.json``), the k-mer baseline's motifs from ``summary.json``
(a k-mer's PPM as ``motif_matching.kmer_ppm`` builds it).

Matching, per source (the model's motifs with the model's, k-mers with k-mers, so the two stay
comparable side by side): one all-against-all TOMTOM run over every species' motifs of that
source (``motif_matching.tomtom``, memelite; JASPAR Plantae joins the targets so that TOMTOM's
null, built from the target columns, is a realistic one), p-values turned into Benjamini-Hochberg q-values
over each query's targets in one species (or TOMTOM's E-value, p x that species' number of
motifs). A pair's value is the larger of its two directions (both must match: reciprocal).

Clusters: complete-linkage clustering (scikit-learn) on the pair values with the threshold as
cut, so every two motifs of a cluster match each other at q (or E) <= the threshold; a cluster
with motifs of several species is shared, one with a single species' motifs is specific to it.
``motif_comparison_report`` reads the folders, runs this and writes the table, the merged MEME file,
the plots and the report.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plantllm.apps.motif_matching import Motif, bh, jaspar_plantae, kmer_ppm, tomtom
from plantllm.core import console as con
from plantllm.core.errors import InputFileError, MissingFileError, PlantLLMError

#: (source as discover names it, summary.json key, short tag for cluster ids)
SOURCES = (("model", "motifs", "model"), ("k-mer enrichment", "kmer_motifs", "kmer"))
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
FIX = "give a folder written by `plantllm motifs MODEL -o FOLDER`"


@dataclass
class SpeciesMotifs:
    """One species' discover output, read back."""

    species: str
    folder: Path
    motifs: list[Motif]  # the model's and the k-mer baseline's (Motif.source tells which)
    summary: dict


@dataclass
class Cluster:
    id: str
    source: str
    members: list[tuple[str, Motif]]  # (species, motif)
    q_by_species: dict[str, float] = field(default_factory=dict)  # best value to another species' member
    nearest: tuple[str, float] | None = None  # nearest other-species motif outside (specific clusters)
    representative: Motif | None = None
    representative_species: str = ""

    @property
    def species(self) -> list[str]:
        return list(dict.fromkeys(s for s, _ in self.members))

    @property
    def best_match(self) -> dict | None:
        """The best JASPAR match (lowest q) among the members."""
        found = [m.matches[0] for _, m in self.members if m.matches]
        return min(found, key=lambda x: x["q"]) if found else None


# ---------------------------------------------------------------- inputs
def parse_named(items: list[str], what: str = "species") -> list[tuple[str, Path]]:
    """['thaliana=DIR', ...] -> [(name, Path)], at least two, names unique."""
    out: list[tuple[str, Path]] = []
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not path:
            raise PlantLLMError(f"'{item}': give each {what} as NAME=PATH (e.g. thaliana=motifs_thaliana)")
        if not _NAME.match(name):
            raise PlantLLMError(f"'{item}': the name '{name}' must be letters, digits, '_', '.' or '-'")
        if name in {n for n, _ in out}:
            raise PlantLLMError(f"'{name}' is named twice; give each {what} one unique name")
        out.append((name, Path(path)))
    if len(out) < 2:
        raise PlantLLMError(f"comparing needs at least two {what}, got {len(out)} "
                            "(give them as NAME=PATH NAME=PATH ...)")
    return out


def load_discovery(species: str, folder: str | Path) -> SpeciesMotifs:
    """A discover output folder -> its motifs (model's and k-mer baseline's) with their JASPAR matches."""
    from plantllm.apps.motif_report import read_meme

    folder = Path(folder)
    if not folder.exists():
        raise MissingFileError("motif discovery folder not found", path=folder, fix=FIX)
    if not folder.is_dir():
        raise InputFileError("is a file, not a motif discovery folder", path=folder, fix=FIX)
    path = folder / "summary.json"
    if not path.exists() or not (folder / "motifs.meme").exists():
        raise InputFileError("not a motif discovery output (no summary.json and motifs.meme)", path=folder, fix=FIX)
    try:
        s = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputFileError(f"not valid JSON ({e.msg})", path=path, line=e.lineno, fix=FIX) from None
    if not isinstance(s, dict) or "motifs" not in s or "kmer_motifs" not in s:
        raise InputFileError("not a motif discovery summary (no 'motifs' and 'kmer_motifs')", path=path, fix=FIX)
    motifs = []
    if s["motifs"]:
        meme = read_meme(folder / "motifs.meme")
        for m in s["motifs"]:
            if m["id"] not in meme:
                raise InputFileError(f"motif '{m['id']}' of summary.json is not in motifs.meme", path=folder,
                                     fix="rerun `plantllm motifs` into a fresh folder")
            ppm = meme[m["id"]]
            motifs.append(Motif(id=m["id"], ppm=ppm, cwm=np.zeros_like(ppm), n_seqlets=int(m["seqlets"]),
                                n_sequences=int(m["sequences"]), consensus=m["consensus"],
                                matches=list(m["matches"])))
    for m in s["kmer_motifs"]:
        ppm = kmer_ppm(m["kmer"])
        motifs.append(Motif(id=m["id"], ppm=ppm, cwm=np.zeros_like(ppm), n_seqlets=0, n_sequences=0,
                            consensus=m["kmer"], matches=list(m["matches"]), source="k-mer enrichment",
                            extra={"log2_odds": m["log2_odds"], "q": m["q"]}))
    return SpeciesMotifs(species, folder, motifs, s)


# ---------------------------------------------------------------- matching and clustering
def pair_values(species: list[str], ppms: list[np.ndarray], background: list[np.ndarray], *,
                evalue: bool = False) -> np.ndarray:
    """(n, n) symmetric match values between pooled motifs: per query, TOMTOM p-values turned into BH
    q-values (or E-values) over the targets of each species separately; the larger of the two directions.

    TOMTOM's null distribution is built from the target columns, so a few motifs alone make a poor
    null (any two 6-mers then match at p ~ 0.01); the targets are therefore the pooled motifs plus a
    background database (JASPAR Plantae), of which only the pooled motifs' p-values are used."""
    n = len(ppms)
    V = np.ones((n, n))
    if n < 2:
        return V
    P = tomtom(ppms, list(ppms) + list(background))[0][:, :n]
    sp = np.array(species)
    for i in range(n):
        for s in dict.fromkeys(species):
            cols = np.flatnonzero((sp == s) & (np.arange(n) != i))
            if len(cols):
                V[i, cols] = np.clip(P[i, cols] * len(cols), 0, None) if evalue else bh(P[i, cols])
    V = np.maximum(V, V.T)
    np.fill_diagonal(V, 0.0)
    return V


def cluster(species: list[str], motifs: list[Motif], V: np.ndarray, threshold: float, tag: str,
            source: str) -> list[Cluster]:
    """Complete-linkage clusters whose every pair has value <= threshold, ordered: most species first,
    then the best cross-species value, then the most members."""
    n = len(motifs)
    if n == 0:
        return []
    if n == 1:
        labels = np.zeros(1, int)
    else:
        from sklearn.cluster import AgglomerativeClustering

        # scikit-learn merges below the cut (strictly); nudge it so a pair at exactly the threshold joins
        labels = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="complete",
                                         distance_threshold=threshold * (1 + 1e-9)).fit_predict(V)
    sp = np.array(species)
    out = []
    for lab in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == lab)
        c = Cluster(id="", source=source, members=[(species[i], motifs[i]) for i in idx])
        for s in c.species:
            own, other = idx[sp[idx] == s], idx[sp[idx] != s]
            if len(other):
                c.q_by_species[s] = float(V[np.ix_(own, other)].min())
        if len(c.species) == 1:  # the nearest motif of another species, to show how far "specific" is
            outside = np.flatnonzero(sp != c.species[0])
            if len(outside):
                sub = V[np.ix_(idx, outside)]
                k = np.unravel_index(np.argmin(sub), sub.shape)
                j = outside[k[1]]
                c.nearest = (f"{species[j]}:{motifs[j].id}", float(sub[k]))
        # representative: the member closest to the others (medoid on -log10 values), then the most seqlets
        close = -np.log10(np.clip(V[np.ix_(idx, idx)], 1e-300, 1)).sum(1)
        r = max(range(len(idx)), key=lambda k: (round(float(close[k]), 6), motifs[idx[k]].n_seqlets,
                                                 -motifs[idx[k]].extra.get("q", 0.0)))
        c.representative, c.representative_species = motifs[idx[r]], species[idx[r]]
        out.append(c)
    out.sort(key=lambda c: (-len(c.species), min(c.q_by_species.values(), default=1.0), -len(c.members)))
    for k, c in enumerate(out, 1):
        c.id = f"{tag}-{k}"
    return out


@dataclass
class Comparison:
    species: list[str]
    folders: dict[str, str]
    clusters: list[Cluster]
    metric: str  # "q" or "E"
    threshold: float
    counts: dict[str, dict[str, int]]  # source tag -> species -> motifs

    def status(self, c: Cluster) -> str:
        if len(c.species) == 1:
            return f"specific to {c.species[0]}"
        return "shared by all" if len(c.species) == len(self.species) else f"shared by {', '.join(c.species)}"

    def summary(self) -> dict:
        out: dict = {"species": self.species, "folders": self.folders, "metric": self.metric,
                     "threshold": self.threshold, "sources": {}}
        for _, _, tag in SOURCES:
            cl = [c for c in self.clusters if c.id.startswith(tag + "-")]
            out["sources"][tag] = {
                "motifs": self.counts[tag],
                "clusters": len(cl),
                "shared": sum(len(c.species) > 1 for c in cl),
                "shared_by_all": sum(len(c.species) == len(self.species) for c in cl),
                "specific": {s: sum(c.species == [s] for c in cl) for s in self.species},
                "shared_elements": sorted({c.best_match["element"] for c in cl
                                           if len(c.species) > 1 and c.best_match}),
                "clusters_detail": [self.row(c) for c in cl],
            }
        return out

    def columns(self) -> list[str]:
        """clusters.tsv's columns, in the order ``row`` fills them."""
        return (["cluster", "source", "status", "n_species", "species", "consensus", "representative", "jaspar",
                 "jaspar_name", "element", "jaspar_q"]
                + [x for s in self.species for x in (f"{s}_motifs", f"{self.metric}_{s}")] + ["nearest_other"])

    def row(self, c: Cluster) -> dict:
        x = c.best_match
        r = {"cluster": c.id, "source": c.source, "status": self.status(c), "n_species": len(c.species),
             "species": ",".join(c.species), "consensus": c.representative.consensus,
             "representative": f"{c.representative_species}:{c.representative.id}",
             "jaspar": x["jaspar"] if x else "", "jaspar_name": x["name"] if x else "",
             "element": x["element"] if x else "no JASPAR match", "jaspar_q": x["q"] if x else None}
        for s in self.species:
            r[f"{s}_motifs"] = ",".join(m.id for t, m in c.members if t == s)
            r[f"{self.metric}_{s}"] = c.q_by_species.get(s)
        r["nearest_other"] = f"{c.nearest[0]} ({self.metric}={c.nearest[1]:.2g})" if c.nearest else ""
        return r


def compare(groups: list[SpeciesMotifs], *, max_q: float = 0.05, max_evalue: float | None = None) -> Comparison:
    """Match every species' motifs against the others' and cluster them (see the module doc)."""
    if max_evalue is not None and max_evalue <= 0 or not 0 < max_q <= 1:
        raise PlantLLMError("the threshold must be > 0 (--max-q in (0, 1], --max-evalue > 0)")
    evalue = max_evalue is not None
    threshold = float(max_evalue if evalue else max_q)
    clusters: list[Cluster] = []
    counts: dict[str, dict[str, int]] = {}
    background = [d["ppm"] for d in jaspar_plantae()[0]]
    for source, _, tag in SOURCES:
        pooled = [(g.species, m) for g in groups for m in g.motifs if m.source == source]
        counts[tag] = {g.species: sum(m.source == source for m in g.motifs) for g in groups}
        with con.status(f"TOMTOM: {len(pooled)} {tag} motifs of {len(groups)} species against each other"):
            V = pair_values([s for s, _ in pooled], [m.ppm for _, m in pooled], background, evalue=evalue)
        clusters += cluster([s for s, _ in pooled], [m for _, m in pooled], V, threshold, tag, source)
    return Comparison([g.species for g in groups], {g.species: str(g.folder) for g in groups}, clusters,
                      "E" if evalue else "q", threshold, counts)
