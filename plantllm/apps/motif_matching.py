"""Motifs and their names: the ``Motif`` type, JASPAR CORE Plantae (pyjaspar, offline), TOMTOM
matching (memelite) with Benjamini-Hochberg q-values over the database per motif, the plant
cis-element name of the matched TF family (TATA-box, G-box/ABRE, TCP, MYB, W-box, ...), and the
k-mer enrichment baseline, whose k-mers are matched the same way.

JASPAR's vertebrate TBP matrix MA0108.2 joins the database because the TATA-box is universal and
Plantae has no TBP matrix.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from plantllm.data import jaspar
from plantllm.core.sequence import reverse_complement

ALPHABET = "ACGT"
TBP = jaspar.TBP
#: plant cis-element names by JASPAR TF family / class (first match, case-insensitive substring)
ELEMENTS = [
    ("tbp", "TATA-box"), ("tata", "TATA-box"),
    ("bes/bzr", "BRRE (BES1/BZR1)"), ("bzip", "G-box / ABRE (bZIP)"), ("bhlh", "E-box / G-box (bHLH)"),
    ("tcp", "TCP site (GGNCCC)"), ("wrky", "W-box (WRKY)"), ("garp", "GARP / ARR-B site"),
    ("myb", "MYB site"), ("trihelix", "GT element (trihelix)"), ("erf/dreb", "GCC-box / DRE (AP2/ERF)"),
    ("ap2", "AP2 site"), ("dof", "Dof site (AAAG)"), ("nac", "NAC site"), ("sbp", "SBP box (GTAC)"),
    ("mads", "CArG box (MADS)"), ("arf", "AuxRE (ARF)"), ("rav", "RAV site (B3)"), ("b3", "B3 site"),
    ("hsf", "heat-shock element (HSF)"), ("hd-zip", "HD-ZIP site"), ("homeo", "homeobox site"),
    ("gata", "GATA box"), ("camta", "CGCG box (CAMTA)"), ("bbr/bpc", "GAGA element (BPC)"),
    ("ahl", "AT-hook site"), ("e2f", "E2F site"), ("idd", "IDD site (C2H2)"), ("c2h2", "C2H2 site"),
    ("cpp", "CPP site"), ("lbd", "LBD site"), ("eil", "EIN3 site"), ("grf", "GRF site"),
]


def element_name(*labels: str) -> str:
    text = " ".join(x.lower() for x in labels if x)
    for key, name in ELEMENTS:
        if key in text:
            return name
    return labels[0] if labels and labels[0] else "unclassified"


@dataclass
class Motif:
    id: str
    ppm: np.ndarray  # (4, w) base probabilities
    cwm: np.ndarray  # (4, w) mean contribution
    n_seqlets: int
    n_sequences: int
    consensus: str = ""
    matches: list[dict] = field(default_factory=list)
    source: str = "model"
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.consensus:
            self.consensus = consensus(self.ppm)

    @property
    def element(self) -> str:
        return self.matches[0]["element"] if self.matches else "no JASPAR match"


def consensus(ppm: np.ndarray) -> str:
    """IUPAC-lite consensus: the base above 0.5, else N (lower case when below 0.75)."""
    out = []
    for col in ppm.T:
        b = int(col.argmax())
        out.append(ALPHABET[b] if col[b] >= 0.75 else ALPHABET[b].lower() if col[b] >= 0.5 else "n")
    return "".join(out)


def information(ppm: np.ndarray) -> np.ndarray:
    """Information content (bits) of each column of a PPM."""
    p = np.clip(ppm, 1e-9, 1)
    return 2 + (p * np.log2(p)).sum(0)


# ---------------------------------------------------------------- JASPAR Plantae
def jaspar_plantae() -> tuple[list[dict], str]:
    """[{id, name, family, class, element, ppm (4, w)}] of JASPAR CORE Plantae (+ TBP), and the release."""
    out = []
    for m in jaspar.plantae(extra=(TBP,)):
        fam, cls = ", ".join(m.tf_family or []), ", ".join(m.tf_class or [])
        elem = "TATA-box" if m.matrix_id == TBP else element_name(fam, cls, m.name)
        out.append({"id": m.matrix_id, "name": m.name, "family": fam, "class": cls, "element": elem,
                    "ppm": jaspar.ppm(m)})
    return out, jaspar.release()


def tomtom(Qs: list[np.ndarray], Ts: list[np.ndarray]):
    import warnings

    from memelite import tomtom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tomtom([np.ascontiguousarray(q, dtype=np.float64) for q in Qs],
                      [np.ascontiguousarray(t, dtype=np.float64) for t in Ts], n_jobs=1)


def bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values along the last axis."""
    from scipy.stats import false_discovery_control

    return np.apply_along_axis(false_discovery_control, -1, np.clip(p, 0, 1))


def match_jaspar(motifs: list[Motif], db: list[dict], *, q_max: float = 0.05, top: int = 3) -> None:
    """Fill ``motif.matches`` with the JASPAR matrices at q <= q_max (best first, at most ``top``)."""
    if not motifs:
        return
    p, scores, offsets, overlaps, strands = tomtom([m.ppm for m in motifs], [d["ppm"] for d in db])[:5]
    q = bh(p)
    for i, m in enumerate(motifs):
        order = np.argsort(p[i])[:top]
        m.matches = [{"jaspar": db[j]["id"], "name": db[j]["name"], "family": db[j]["family"],
                      "class": db[j]["class"], "element": db[j]["element"], "p": float(p[i, j]),
                      "q": float(q[i, j]), "offset": int(offsets[i, j]), "strand": "+-"[int(strands[i, j])]}
                     for j in order if q[i, j] <= q_max]


# ---------------------------------------------------------------- the k-mer enrichment baseline
def _canonical(kmer: str) -> str:
    return min(kmer, reverse_complement(kmer))


def kmer_enrichment(fg: list[str], bg: list[str], k: int = 6):
    """Canonical k-mers present in foreground vs background sequences: counts, odds ratio, one-sided
    Fisher's exact p, BH q. DataFrame sorted by p."""
    import pandas as pd
    from scipy.stats import fisher_exact

    def presence(seqs):
        c = dict.fromkeys(sorted({_canonical("".join(p)) for p in itertools.product(ALPHABET, repeat=k)}), 0)
        for s in seqs:
            s = s.upper()
            seen = {_canonical(s[i:i + k]) for i in range(len(s) - k + 1)}
            for x in seen:
                if x in c:
                    c[x] += 1
        return c

    a, b = presence(fg), presence(bg)
    rows = []
    for x in a:
        table = [[a[x], len(fg) - a[x]], [b[x], len(bg) - b[x]]]
        odds, p = fisher_exact(table, alternative="greater")
        rows.append({"kmer": x, "foreground": a[x], "background": b[x],
                     "log2_odds": math.log2((a[x] + 0.5) / (len(fg) - a[x] + 0.5) / ((b[x] + 0.5) / (len(bg) - b[x] + 0.5))),
                     "p": p})
    df = pd.DataFrame(rows)
    df["q"] = bh(df["p"].to_numpy())
    return df.sort_values(["p", "log2_odds"], ascending=[True, False]).reset_index(drop=True)


def kmer_ppm(kmer: str) -> np.ndarray:
    """(4, k) PPM of a k-mer: its bases at 0.955, the others at 0.015 (TOMTOM needs no zero)."""
    oh = np.array([[1.0 if c == b else 0.0 for c in kmer.upper()] for b in ALPHABET])
    return oh * 0.94 + 0.015


def kmer_motifs(enrichment, top: int = 20, q_max: float = 0.05) -> list[Motif]:
    sig = enrichment[enrichment["q"] <= q_max].head(top)
    out = []
    for r in sig.itertuples():
        oh = np.array([[1.0 if c == b else 0.0 for c in r.kmer] for b in ALPHABET])
        out.append(Motif(id=f"kmer-{len(out) + 1}", ppm=kmer_ppm(r.kmer), cwm=oh, n_seqlets=int(r.foreground),
                         n_sequences=int(r.foreground), consensus=r.kmer, source="k-mer enrichment",
                         extra={"log2_odds": r.log2_odds, "q": r.q}))
    return out


def recovered(motifs: list[Motif]) -> dict[str, list[str]]:
    """{cis-element name: [motif ids]} over the motifs with a JASPAR match."""
    out: dict[str, list[str]] = {}
    for m in motifs:
        for x in m.matches[:1]:
            out.setdefault(x["element"], []).append(m.id)
    return out


@dataclass
class Discovery:
    """Everything one discovery run found, what ``motif_report.write_all`` writes."""

    model: str
    method: str
    description: str
    seqs: list[str]
    names: list[str] | None
    onehot: np.ndarray  # (N, 4, L)
    attribution: np.ndarray  # (N, L)
    control: np.ndarray  # (N, L) attributions of the dinucleotide shuffles
    seqlets: object  # DataFrame: example_idx, start, end, attribution, p-value
    fdr: float | None
    threshold: str
    motifs: list[Motif]
    kmers: list[Motif]
    enrichment: object  # DataFrame of kmer_enrichment
    jaspar: list[dict]
    release: str
    background: str
    seconds_attribution: float
    seconds: float = 0.0

    def summary(self) -> dict:
        return {
            "model": self.model, "method": self.method, "description": self.description,
            "sequences": len(self.seqs), "length": len(self.seqs[0]), "seqlets": int(len(self.seqlets)),
            "fdr": self.fdr, "seqlet_threshold": self.threshold, "jaspar": self.release,
            "motifs": [{"id": m.id, "consensus": m.consensus, "seqlets": m.n_seqlets, "sequences": m.n_sequences,
                        "element": m.element, "matches": m.matches} for m in self.motifs],
            "kmer_motifs": [{"id": m.id, "kmer": m.consensus, "log2_odds": m.extra["log2_odds"], "q": m.extra["q"],
                             "element": m.element, "matches": m.matches} for m in self.kmers],
            "recovered": {"model": recovered(self.motifs), "kmer": recovered(self.kmers)},
            "background": self.background,
            "seconds_attribution": round(self.seconds_attribution, 1), "seconds": round(self.seconds, 1),
        }
