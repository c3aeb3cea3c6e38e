"""Motif discovery: from a fine-tuned model's attributions to named plant cis-elements.

The data flow of ``plantllm motifs``:

1. per-base attributions of the input sequences (``attribution.ism``, or integrated
   gradients), and of dinucleotide-shuffled copies of them (tangermeme's ``ersatz``) as
   the control that sets the seqlet threshold at a target false discovery rate;
2. seqlets (short spans of high positive attribution) by tangermeme's recursive seqlet caller;
3. seqlets clustered into motifs: all-against-all TOMTOM p-values (memelite), average-linkage
   clustering (scikit-learn), members aligned to the cluster's medoid, then a position
   probability matrix (PPM, what the bases were) and a contribution weight matrix (CWM, how
   much they mattered) per motif, trimmed to its informative core;
4. each motif matched to JASPAR Plantae (pyjaspar, offline) with TOMTOM (memelite), Benjamini-
   Hochberg q-values over the database per motif, and named by the plant cis-element of the
   matched TF family (TATA-box, G-box/ABRE, TCP, MYB, W-box, ...). JASPAR's vertebrate TBP
   matrix MA0108.2 joins the database because the TATA-box is universal and Plantae has no
   TBP matrix.

The baseline on the same sequences is k-mer enrichment: canonical 6-mers counted once per
sequence in the foreground and in the background, one-sided Fisher's exact test, BH q-values,
the top k-mers matched to JASPAR the same way. The report puts the two side by side.
"""

from __future__ import annotations

import html
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError
from plantllm.core.io import atomic_path, atomic_write
from plantllm.core.sequence import reverse_complement

ALPHABET = "ACGT"
TBP = "MA0108.2"
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
    p = np.clip(ppm, 1e-9, 1)
    return 2 + (p * np.log2(p)).sum(0)


# ---------------------------------------------------------------- JASPAR Plantae
def jaspar_plantae() -> tuple[list[dict], str]:
    """[{id, name, family, class, element, ppm (4, w)}] of JASPAR CORE Plantae (+ TBP), and the release."""
    try:
        from pyjaspar import jaspardb
    except ImportError:
        raise PlantLLMError("motif matching needs the package pyjaspar", fix="bash scripts/setup.sh") from None
    db = jaspardb()
    motifs = list(db.fetch_motifs(collection="CORE", tax_group=["plants"])) + [db.fetch_motif_by_id(TBP)]
    out = []
    for m in motifs:
        counts = np.array([m.counts[b] for b in ALPHABET], dtype=np.float64)
        ppm = (counts + 0.25) / (counts.sum(0, keepdims=True) + 1.0)
        fam, cls = ", ".join(m.tf_family or []), ", ".join(m.tf_class or [])
        elem = "TATA-box" if m.matrix_id == TBP else element_name(fam, cls, m.name)
        out.append({"id": m.matrix_id, "name": m.name, "family": fam, "class": cls, "element": elem, "ppm": ppm})
    return out, db.release


def _tomtom(Qs: list[np.ndarray], Ts: list[np.ndarray]):
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
    p, scores, offsets, overlaps, strands = _tomtom([m.ppm for m in motifs], [d["ppm"] for d in db])[:5]
    q = bh(p)
    for i, m in enumerate(motifs):
        order = np.argsort(p[i])[:top]
        m.matches = [{"jaspar": db[j]["id"], "name": db[j]["name"], "family": db[j]["family"],
                      "class": db[j]["class"], "element": db[j]["element"], "p": float(p[i, j]),
                      "q": float(q[i, j]), "offset": int(offsets[i, j]), "strand": "+-"[int(strands[i, j])]}
                     for j in order if q[i, j] <= q_max]


# ---------------------------------------------------------------- seqlets and clustering
def call_seqlets(attr: np.ndarray, control: np.ndarray | None = None, *, min_len: int = 5, max_len: int = 20,
                 flanks: int = 2, threshold: float = 0.01, fdr: float = 0.1):
    """Positive seqlets by tangermeme's recursive caller -> (DataFrame example_idx, start, end, attribution,
    p-value; the estimated FDR of the call or None; how the threshold was chosen).

    With control attributions the threshold is the loosest whose estimated FDR is at most ``fdr``;
    when none reaches it (a weak model), seqlets are called at the p-value ``threshold`` and the
    FDR the controls estimate there is reported, so the motifs are read as hypotheses."""
    import warnings

    import torch
    from tangermeme.seqlet import recursive_seqlets

    kw = dict(min_seqlet_len=min_len, max_seqlet_len=max_len, additional_flanks=flanks)
    X = torch.from_numpy(np.ascontiguousarray(attr, dtype=np.float32))
    est, how = None, f"p-value < {threshold}"
    df = None
    if control is not None:
        C = torch.from_numpy(np.ascontiguousarray(control, dtype=np.float32))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = recursive_seqlets(X, X_control=C, target_fdr=fdr, return_fdr=True, **kw)
        table = res.fdr.dropna(subset=["fdr"])
        if len(res.seqlets):
            df = res.seqlets
            est = float(table.loc[table["fdr"] <= fdr, "fdr"].iloc[-1]) if (table["fdr"] <= fdr).any() else fdr
            how = f"estimated FDR <= {fdr} against shuffled controls"
        elif len(table):
            near = table.iloc[int(np.argmin(np.abs(np.log10(table["threshold"].to_numpy()) - math.log10(threshold))))]
            est = min(1.0, float(near["fdr"]))
    if df is None:
        df = recursive_seqlets(X, threshold=threshold, **kw)
        if control is not None:
            how += f" (no threshold reached FDR {fdr}; the controls estimate {est:.2f} here)" if est is not None \
                else " (the controls gave no FDR estimate)"
    L = attr.shape[1]
    df = df.copy()
    df["start"] = df["start"].clip(lower=0)
    df["end"] = df["end"].clip(upper=L)
    return df.reset_index(drop=True), est, how


def _align(member: np.ndarray, ref: np.ndarray, min_overlap: int) -> tuple[int, bool]:
    """Best (offset of member in ref coordinates, reverse?) by one-hot cross-correlation.

    Written here: TOMTOM reports offsets of its complete-score alignment between PWMs; building
    a PPM needs the placement of each concrete seqlet, which a dot product over both strands gives
    directly."""
    best = (-1.0, 0, False)
    for rev in (False, True):
        m = member[::-1, ::-1] if rev else member
        w, r = m.shape[1], ref.shape[1]
        for off in range(-(w - min_overlap), r - min_overlap + 1):
            a, b = max(0, off), min(r, off + w)
            s = float((m[:, a - off:b - off] * ref[:, a:b]).sum())
            if s > best[0]:
                best = (s, off, rev)
    return best[1], best[2]


def cluster_seqlets(X: np.ndarray, attr: np.ndarray, seqlets, *, min_size: int = 5, max_seqlets: int = 1500,
                    join_p: float = 1e-2, merge_similarity: float = 0.8, min_ic: float = 0.3,
                    prefix: str = "plantllm") -> list[Motif]:
    """Seqlets -> motifs (see module doc). ``X`` (N, 4, L) one-hot, ``attr`` (N, L)."""
    from sklearn.cluster import AgglomerativeClustering

    if len(seqlets) < min_size:
        return []
    sl = seqlets.sort_values("p-value").head(max_seqlets).reset_index(drop=True)
    ex, st, en = sl["example_idx"].to_numpy(int), sl["start"].to_numpy(int), sl["end"].to_numpy(int)
    onehots = [X[e, :, s:t] for e, s, t in zip(ex, st, en)]
    contrib = [X[e, :, s:t] * attr[e, s:t] for e, s, t in zip(ex, st, en)]
    P = _tomtom(onehots, onehots)[0]
    sim = np.clip(-np.log10(np.clip(P, 1e-300, 1)), 0, 10) / 10
    sim = (sim + sim.T) / 2
    np.fill_diagonal(sim, 1.0)
    labels = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                     distance_threshold=1 - (-math.log10(join_p)) / 10).fit_predict(1 - sim)
    groups = [np.flatnonzero(labels == lab) for lab in set(labels)]
    # clusters that can reach min_size alone or with one other; smaller ones cannot make a motif
    built = [(idx, _build(idx, onehots, contrib, sim, min_ic)) for idx in groups if len(idx) >= max(2, min_size // 2)]
    built = [(idx, b) for idx, b in built if b is not None]
    # Average linkage over single seqlets splits one motif into several clusters offset by a base or on
    # opposite strands. The most similar pair of motifs (cosine >= merge_similarity at their best alignment)
    # is merged and rebuilt, and the rebuilt motif compared again, until no pair is similar enough; comparing
    # rebuilt motifs (not a chain of pairs) keeps unrelated motifs from joining through intermediates.
    n = len(built)
    S = np.full((n, n), -1.0)
    for i, j in itertools.combinations(range(n), 2):
        S[i, j] = S[j, i] = _similarity(built[i][1][0], built[j][1][0])
    alive = [True] * n
    while n > 1:
        i, j = np.unravel_index(np.argmax(S), S.shape)
        if S[i, j] < merge_similarity:
            break
        idx = np.concatenate([built[i][0], built[j][0]])
        b = _build(idx, onehots, contrib, sim, min_ic)
        S[i, j] = S[j, i] = -1.0
        if b is None:
            continue
        built[i] = (idx, b)
        alive[j] = False
        S[j, :] = S[:, j] = -1.0
        for k in range(len(built)):
            if alive[k] and k != i:
                S[i, k] = S[k, i] = _similarity(b[0], built[k][1][0])
    built = [x for x, a in zip(built, alive) if a]
    motifs = []
    for idx, (ppm, cwm) in sorted(built, key=lambda x: -len(x[0])):
        if len(idx) < min_size:
            continue
        motifs.append(Motif(id=f"{prefix}-{len(motifs) + 1}", ppm=ppm, cwm=cwm, n_seqlets=len(idx),
                            n_sequences=len(set(ex[idx].tolist()))))
    return motifs


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two PPMs (mean-centred columns) at their best alignment, both strands."""
    a0, b0 = a - 0.25, b - 0.25
    off, rev = _align(a0, b0, min_overlap=max(3, int(0.7 * min(a.shape[1], b.shape[1]))))
    m = a0[::-1, ::-1] if rev else a0
    lo, hi = max(0, off), min(b.shape[1], off + m.shape[1])
    x, y = m[:, lo - off:hi - off].ravel(), b0[:, lo:hi].ravel()
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-12))


def _build(idx: np.ndarray, onehots: list, contrib: list, sim: np.ndarray, min_ic: float):
    """(PPM, CWM) of the seqlets ``idx`` aligned to their medoid, trimmed; None when nothing is left."""
    medoid = idx[np.argmax(sim[np.ix_(idx, idx)].sum(1))]
    ref = onehots[medoid]
    pad = max(onehots[i].shape[1] for i in idx)
    width = ref.shape[1] + 2 * pad
    counts, cwm, cover = np.zeros((4, width)), np.zeros((4, width)), np.zeros(width)
    for i in idx:
        off, rev = _align(onehots[i], ref, min_overlap=max(3, int(0.6 * min(ref.shape[1], onehots[i].shape[1]))))
        oh, cw = (onehots[i][::-1, ::-1], contrib[i][::-1, ::-1]) if rev else (onehots[i], contrib[i])
        a = off + pad
        counts[:, a:a + oh.shape[1]] += oh
        cwm[:, a:a + oh.shape[1]] += cw
        cover[a:a + oh.shape[1]] += 1
    keep = np.flatnonzero(cover >= 0.5 * len(idx))
    if not len(keep):
        return None
    lo, hi = keep[0], keep[-1] + 1
    ppm = counts[:, lo:hi] / np.maximum(cover[lo:hi], 1)
    # trim to the core the model used (as TF-MoDISco trims seqlets): contribution >= 20% of the peak
    weight = np.abs(cwm[:, lo:hi]).sum(0)
    core = np.flatnonzero((weight >= 0.2 * weight.max()) & (information(ppm) >= min_ic))
    if len(core) < 4:
        return None
    a, b = core[0], core[-1] + 1
    return ppm[:, a:b], cwm[:, lo + a:lo + b] / len(idx)


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


def kmer_motifs(enrichment, top: int = 20, q_max: float = 0.05) -> list[Motif]:
    sig = enrichment[enrichment["q"] <= q_max].head(top)
    out = []
    for r in sig.itertuples():
        oh = np.array([[1.0 if c == b else 0.0 for c in r.kmer] for b in ALPHABET])
        out.append(Motif(id=f"kmer-{len(out) + 1}", ppm=oh * 0.94 + 0.015, cwm=oh, n_seqlets=int(r.foreground),
                         n_sequences=int(r.foreground), consensus=r.kmer, source="k-mer enrichment",
                         extra={"log2_odds": r.log2_odds, "q": r.q}))
    return out


# ---------------------------------------------------------------- outputs
def write_meme(motifs: list[Motif], path: Path, *, sites_note: str = "plantllm") -> Path:
    """MEME minimal motif format (readable by MEME suite tools, memelite, tangermeme, JASPAR tools)."""
    with atomic_write(path) as fh:
        fh.write("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n"
                 "Background letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n")
        for m in motifs:
            label = m.element.replace(" ", "_")
            fh.write(f"MOTIF {m.id} {label}\n")
            fh.write(f"letter-probability matrix: alength= 4 w= {m.ppm.shape[1]} nsites= {m.n_seqlets} E= 0\n")
            for col in m.ppm.T:
                fh.write(" " + "  ".join(f"{v:.6f}" for v in col / col.sum()) + "\n")
            fh.write(f"URL {sites_note}\n\n")
    return path


def read_meme(path: str | Path) -> dict[str, np.ndarray]:
    """{motif id: (4, w) matrix} from a MEME file (through memelite's reader)."""
    from memelite.io import read_meme as _read

    from plantllm.core.errors import InputFileError

    try:
        out = {k.split()[0]: np.asarray(v) for k, v in _read(str(path)).items()}
    except Exception as e:  # memelite raises bare exceptions on malformed files
        raise InputFileError(f"not a MEME motif file ({e})", path=path) from None
    if not out:
        raise InputFileError("no motif in this file (is it MEME format, with MOTIF and letter-probability "
                             "matrix lines?)", path=path)
    return out


MATCH_COLUMNS = ("motif", "source", "consensus", "seqlets", "sequences", "rank", "jaspar", "name", "family",
                 "element", "p", "q", "strand")


def write_matches(motifs: list[Motif], path: Path) -> Path:
    with atomic_write(path) as fh:
        fh.write("\t".join(MATCH_COLUMNS) + "\n")
        for m in motifs:
            rows = m.matches or [None]
            for r, x in enumerate(rows, 1):
                vals = [m.id, m.source, m.consensus, m.n_seqlets, m.n_sequences]
                vals += [r, x["jaspar"], x["name"], x["family"], x["element"], f"{x['p']:.3g}", f"{x['q']:.3g}",
                         x["strand"]] if x else ["", "", "", "", "no match at q<=0.05", "", "", ""]
                fh.write("\t".join(str(v) for v in vals) + "\n")
    return path


def plot_logo(m: Motif, path: Path, jaspar_ppm: np.ndarray | None = None) -> Path:
    """Logo of the motif's CWM (what the model used) over its information-content logo (what the
    bases were), with the best JASPAR match's logo under them."""
    import logomaker
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    rows = 3 if jaspar_ppm is not None else 2
    fig, axes = plt.subplots(rows, 1, figsize=(max(4, m.ppm.shape[1] * 0.45), 1.5 * rows))
    logomaker.Logo(pd.DataFrame(m.cwm.T, columns=list(ALPHABET)), ax=axes[0], color_scheme="classic")
    axes[0].set_ylabel("contrib.", fontsize=8)
    axes[0].set_title(f"{m.id}: {m.consensus} - {m.element}", fontsize=9)
    logomaker.Logo(pd.DataFrame((m.ppm * information(m.ppm)).T, columns=list(ALPHABET)), ax=axes[1],
                   color_scheme="classic")
    axes[1].set_ylabel("bits", fontsize=8)
    axes[1].set_ylim(0, 2)
    if jaspar_ppm is not None:
        x = m.matches[0]
        ppm = jaspar_ppm if x["strand"] == "+" else jaspar_ppm[::-1, ::-1]
        logomaker.Logo(pd.DataFrame((ppm * information(ppm)).T, columns=list(ALPHABET)), ax=axes[2],
                       color_scheme="classic")
        axes[2].set_ylabel("bits", fontsize=8)
        axes[2].set_ylim(0, 2)
        axes[2].set_title(f"JASPAR {x['jaspar']} {x['name']} ({x['family'] or x['class']}), q={x['q']:.2g}", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


def recovered(motifs: list[Motif]) -> dict[str, list[str]]:
    """{cis-element name: [motif ids]} over the motifs with a JASPAR match."""
    out: dict[str, list[str]] = {}
    for m in motifs:
        for x in m.matches[:1]:
            out.setdefault(x["element"], []).append(m.id)
    return out


# ---------------------------------------------------------------- the whole run
def read_sequences(*, dataset: str | Path | None = None, split: str = "test", label: int = 1,
                   label_column: str = "label", fasta: str | Path | None = None, n: int = 200, seed: int = 0
                   ) -> tuple[list[str], list[str] | None, list[str], str]:
    """(foreground, background or None, names, description) from a plantllm dataset split or a FASTA.
    With a multi-label column (the motif task's ``labels``) ``label`` is the label's number."""
    from plantllm.core.errors import InputFileError, MissingFileError

    rng = np.random.default_rng(seed)
    if dataset is not None:
        import datasets as hfds

        p = Path(dataset)
        if not p.exists():
            raise MissingFileError("dataset folder not found", path=p)
        ds = hfds.load_from_disk(str(p))
        if split not in ds:
            raise PlantLLMError(f"{p}: no split '{split}' (it has {', '.join(ds)})")
        d = ds[split]
        if "seq" not in d.column_names or label_column not in d.column_names:
            raise InputFileError(f"needs the columns 'seq' and '{label_column}' (a promoter or motif dataset)",
                                 path=p)
        y = np.array(d[label_column])
        if y.ndim > 1:  # multi-label (the motif task): sequences positive for label number `label`
            if not 0 <= label < y.shape[1]:
                raise InputFileError(f"label {label} is not one of the dataset's {y.shape[1]} labels", path=p)
            fg_i, bg_i = np.flatnonzero(y[:, label] == 1), np.flatnonzero(y[:, label] == 0)
        else:
            fg_i, bg_i = np.flatnonzero(y == label), np.flatnonzero(y != label)
        if not len(fg_i):
            raise InputFileError(f"no sequence with label {label} in split '{split}'", path=p)
        fg_i = np.sort(rng.permutation(fg_i)[:n])
        bg_i = np.sort(rng.permutation(bg_i)[:max(n, 200)])
        seqs = d["seq"]
        names = [f"{d[int(i)]['chrom']}:{d[int(i)]['start']}-{d[int(i)]['end']}({d[int(i)]['strand']})"
                 if "chrom" in d.column_names else str(i) for i in fg_i]
        return ([seqs[int(i)] for i in fg_i], [seqs[int(i)] for i in bg_i] or None, names,
                f"{len(fg_i)} sequences with label {label} from the '{split}' split of {p}")
    if fasta is not None:
        import pysam

        p = Path(fasta)
        if not p.exists():
            raise MissingFileError("FASTA not found", path=p)
        try:
            recs = [(r.name, r.sequence) for r in pysam.FastxFile(str(p))]
        except (OSError, ValueError) as e:
            raise InputFileError(f"not a readable FASTA ({e})", path=p) from None
        if not recs:
            raise InputFileError("no sequences", path=p)
        lens = {len(s) for _, s in recs}
        if len(lens) > 1:
            raise InputFileError(f"sequences have {len(lens)} different lengths; motif discovery needs one",
                                 path=p, fix="cut windows of one size (e.g. bedtools slop + getfasta)")
        recs = recs[:n]
        return [s for _, s in recs], None, [r for r, _ in recs], f"{len(recs)} sequences from {p}"
    raise PlantLLMError("give --dataset or --fasta")


def discover(model_dir: str | Path, seqs: list[str], out: str | Path, *, background: list[str] | None = None,
             names: list[str] | None = None, method: str = "ism", target: int | None = None,
             description: str = "", fdr: float = 0.1, min_size: int = 5, seed: int = 0,
             trust_remote_code: bool = False) -> dict:
    """Attribute, call seqlets, cluster, match to JASPAR, run the k-mer baseline, write everything."""
    import time

    from tangermeme.ersatz import dinucleotide_shuffle

    from plantllm.apps import attribution as A

    if method not in ("ism", "ig"):
        raise PlantLLMError(f"method '{method}' must be 'ism' or 'ig'")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    X = A.one_hot(seqs)
    explained = A.Explained(model_dir, target=target, trust_remote_code=trust_remote_code)
    shuffled = dinucleotide_shuffle(X, n=1, random_state=seed, allow_N=True)[:, 0]
    ctrl_seqs = A.decode(shuffled)

    def attribute(batch: list[str], onehot, label: str) -> np.ndarray:
        if method == "ism":
            _, delta = A.ism(explained, batch, label=label)
            return A.attribution(delta, onehot.numpy())
        with con.status(f"{label} (integrated gradients)"):
            return A.integrated_gradients(explained, batch)

    attr = attribute(seqs, X, "attributions of the sequences")
    attr_ctrl = attribute(ctrl_seqs, shuffled, "attributions of shuffled controls")
    t_attr = time.time() - t0
    with con.status("calling seqlets (tangermeme)"):
        sl, est_fdr, how = call_seqlets(attr, attr_ctrl, fdr=fdr)
    Xn = X.numpy()
    with con.status(f"clustering {len(sl)} seqlets (TOMTOM, memelite)"):
        motifs = cluster_seqlets(Xn, attr, sl, min_size=min_size)
    bg = background if background else ctrl_seqs
    with con.status("k-mer enrichment baseline"):
        enr = kmer_enrichment(seqs, bg, k=6)
        kmers = kmer_motifs(enr)
    db, release = jaspar_plantae()
    with con.status(f"matching {len(motifs)} motifs and {len(kmers)} k-mers to JASPAR {release} Plantae"):
        match_jaspar(motifs + kmers, db)  # one TOMTOM run: its null depends on the targets only

    # outputs
    with atomic_write(out / "attributions.npz", "wb") as fh:  # a file object: np.savez would add ".npz"
        np.savez_compressed(fh, attribution=attr, control=attr_ctrl, onehot=Xn.astype(np.int8))
    with atomic_write(out / "seqlets.tsv") as fh:
        fh.write("sequence\tname\tstart\tend\tattribution\tp_value\tseq\n")
        for e, a, b, score, p in zip(sl["example_idx"], sl["start"], sl["end"], sl["attribution"], sl["p-value"]):
            e, a, b = int(e), int(a), int(b)
            fh.write(f"{e}\t{names[e] if names else e}\t{a}\t{b}\t{score:.4g}\t{p:.3g}\t{seqs[e][a:b]}\n")
    write_meme(motifs, out / "motifs.meme", sites_note=f"plantllm seqlets of {model_dir}")
    write_matches(motifs + kmers, out / "matches.tsv")
    with atomic_write(out / "kmer_enrichment.tsv") as fh:
        enr.head(500).to_csv(fh, sep="\t", index=False, float_format="%.4g")
    by_id = {d["id"]: d["ppm"] for d in db}
    logos = out / "logos"
    logos.mkdir(exist_ok=True)
    for m in motifs:
        plot_logo(m, logos / f"{m.id}.png", by_id.get(m.matches[0]["jaspar"]) if m.matches else None)
    summary = {
        "model": str(model_dir), "method": method, "description": description, "sequences": len(seqs),
        "length": len(seqs[0]), "seqlets": int(len(sl)), "fdr": est_fdr, "seqlet_threshold": how, "jaspar": release,
        "motifs": [{"id": m.id, "consensus": m.consensus, "seqlets": m.n_seqlets, "sequences": m.n_sequences,
                    "element": m.element, "matches": m.matches} for m in motifs],
        "kmer_motifs": [{"id": m.id, "kmer": m.consensus, "log2_odds": m.extra["log2_odds"], "q": m.extra["q"],
                         "element": m.element, "matches": m.matches} for m in kmers],
        "recovered": {"model": recovered(motifs), "kmer": recovered(kmers)},
        "background": "dataset negatives" if background else "dinucleotide shuffles",
        "seconds_attribution": round(t_attr, 1), "seconds": round(time.time() - t0, 1),
    }
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=2, default=float)
    write_report(summary, out)
    return summary


def write_report(s: dict, out: Path) -> Path:
    """report.md and report.html: what was done, the motifs with their logos and names, the baseline."""
    rec_m, rec_k = s["recovered"]["model"], s["recovered"]["kmer"]
    elements = sorted(set(rec_m) | set(rec_k))
    md = [f"# Motifs learned by {s['model']}", "",
          f"{s['description'] or str(s['sequences']) + ' sequences'} ({s['length']} bp). Attribution: "
          f"{'in-silico saturation mutagenesis' if s['method'] == 'ism' else 'integrated gradients'} "
          f"({s['seconds_attribution']} s). {s['seqlets']} seqlets called at {s['seqlet_threshold']}, clustered into {len(s['motifs'])} motifs and matched to JASPAR "
          f"{s['jaspar']} Plantae with TOMTOM (q <= 0.05).", "",
          "| motif | consensus | seqlets | sequences | best JASPAR match | q | cis-element |",
          "|---|---|---|---|---|---|---|"]
    for m in s["motifs"]:
        x = m["matches"][0] if m["matches"] else None
        md.append(f"| {m['id']} | `{m['consensus']}` | {m['seqlets']} | {m['sequences']} | "
                  f"{x['jaspar'] + ' ' + x['name'] if x else '-'} | {f'{x[chr(113)]:.2g}' if x else '-'} | "
                  f"{m['element']} |")
    md += ["", f"## Baseline: 6-mer enrichment against {s['background']}", "",
           "| k-mer | log2 odds | q | best JASPAR match | cis-element |", "|---|---|---|---|---|"]
    for m in s["kmer_motifs"]:
        x = m["matches"][0] if m["matches"] else None
        md.append(f"| `{m['kmer']}` | {m['log2_odds']:.2f} | {m['q']:.2g} | "
                  f"{x['jaspar'] + ' ' + x['name'] if x else '-'} | {m['element']} |")
    md += ["", "## Known plant cis-elements recovered", "", "| cis-element | by the model | by 6-mer enrichment |",
           "|---|---|---|"]
    for e in elements:
        md.append(f"| {e} | {', '.join(rec_m.get(e, [])) or '-'} | {', '.join(rec_k.get(e, [])) or '-'} |")
    if not elements:
        md.append("| (none at q <= 0.05) | | |")
    md += ["", "Files: `motifs.meme` (MEME format), `matches.tsv`, `seqlets.tsv`, `kmer_enrichment.tsv`, "
               "`attributions.npz`, `logos/*.png`.", ""]
    with atomic_write(out / "report.md") as fh:
        fh.write("\n".join(md))
    import base64

    def img(p: Path) -> str:
        return f'<img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}" style="max-width:100%">'

    body = ["<h1>" + html.escape(md[0][2:]) + "</h1>", "<p>" + html.escape(md[2]) + "</p>"]
    table: list[str] = []
    for line in md[3:]:
        if line.startswith("|"):
            cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            tag = "th" if not table else "td"
            table.append("<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>")
            continue
        if table:
            body.append("<table>" + "".join(table) + "</table>")
            table = []
        if line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    if table:
        body.append("<table>" + "".join(table) + "</table>")
    body.append("<h2>Logos</h2><p>Top: contribution of each base (what the model used); middle: information "
                "content of the aligned seqlets (what the bases were); bottom: the best JASPAR match.</p>")
    for m in s["motifs"]:
        logo = out / "logos" / f"{m['id']}.png"
        body.append(f"<h3>{html.escape(m['id'])}: {html.escape(m['element'])}</h3>" + (img(logo) if logo.exists() else ""))
    with atomic_write(out / "report.html") as fh:
        fh.write("<!doctype html><meta charset='utf-8'><title>plantllm motifs</title>"
                 "<style>body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:collapse}"
                 "td,th{border:1px solid #ccc;padding:2px 6px}</style><body>" + "\n".join(body) + "</body>")
    return out / "report.html"
