"""Motif discovery: from a fine-tuned model's attributions to named plant cis-elements.

The data flow of ``plantllm motifs``:

1. per-base attributions of the input sequences (``attribution.ism``, or integrated
   gradients), and of dinucleotide-shuffled copies of them (``core.sequence.dinucleotide_shuffle``,
   seeded) as the control that sets the seqlet threshold at a target false discovery rate;
2. seqlets (short spans of high positive attribution) by tangermeme's recursive seqlet caller;
3. seqlets clustered into motifs: all-against-all TOMTOM p-values (memelite), average-linkage
   clustering (scikit-learn), members aligned to the cluster's medoid, then a position
   probability matrix (PPM, what the bases were) and a contribution weight matrix (CWM, how
   much they mattered) per motif, trimmed to its informative core;
4. each motif matched to JASPAR Plantae (pyjaspar, offline) with TOMTOM (memelite), Benjamini-
   Hochberg q-values over the database per motif, and named by the plant cis-element of the
   matched TF family (TATA-box, G-box/ABRE, TCP, MYB, W-box, ...): ``motif_matching``.

The baseline on the same sequences is k-mer enrichment (``motif_matching``): canonical 6-mers
counted once per sequence in the foreground and in the background, one-sided Fisher's exact
test, BH q-values, the top k-mers matched to JASPAR the same way. The report puts the two side
by side (``motif_report``: MEME, TSV, logos, Markdown and HTML).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np

from plantllm.apps import motif_report
from plantllm.apps.motif_matching import (Discovery, Motif, information, jaspar_plantae, kmer_enrichment,
                                          kmer_motifs, match_jaspar, tomtom)
from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError
from plantllm.core.sequence import dinucleotide_shuffle


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
    P = tomtom(onehots, onehots)[0]
    sim = np.clip(-np.log10(np.clip(P, 1e-300, 1)), 0, 10) / 10
    sim = (sim + sim.T) / 2
    np.fill_diagonal(sim, 1.0)
    labels = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                     distance_threshold=1 - (-math.log10(join_p)) / 10).fit_predict(1 - sim)
    groups = [np.flatnonzero(labels == lab) for lab in set(labels)]
    # clusters that can reach min_size alone or with one other; smaller ones cannot make a motif
    built = [(idx, _build(idx, onehots, contrib, sim, min_ic)) for idx in groups if len(idx) >= max(2, min_size // 2)]
    built = [(idx, b) for idx, b in built if b is not None]
    built = _merge_similar(built, lambda idx: _build(idx, onehots, contrib, sim, min_ic), merge_similarity)
    motifs = []
    for idx, (ppm, cwm) in sorted(built, key=lambda x: -len(x[0])):
        if len(idx) < min_size:
            continue
        motifs.append(Motif(id=f"{prefix}-{len(motifs) + 1}", ppm=ppm, cwm=cwm, n_seqlets=len(idx),
                            n_sequences=len(set(ex[idx].tolist()))))
    return motifs


def _merge_similar(built: list, build, merge_similarity: float) -> list:
    """Average linkage over single seqlets splits one motif into several clusters offset by a base or on
    opposite strands. The most similar pair of motifs (cosine >= merge_similarity at their best alignment)
    is merged and rebuilt, and the rebuilt motif compared again, until no pair is similar enough; comparing
    rebuilt motifs (not a chain of pairs) keeps unrelated motifs from joining through intermediates.

    ``built``: [(seqlet indices, (PPM, CWM))]; ``build(indices)`` -> (PPM, CWM) or None."""
    built = list(built)
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
        b = build(idx)
        S[i, j] = S[j, i] = -1.0
        if b is None:
            continue
        built[i] = (idx, b)
        alive[j] = False
        S[j, :] = S[:, j] = -1.0
        for k in range(len(built)):
            if alive[k] and k != i:
                S[i, k] = S[k, i] = _similarity(b[0], built[k][1][0])
    return [x for x, a in zip(built, alive) if a]


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


def shuffled_controls(seqs: list[str], seed: int = 0) -> list[str]:
    """One dinucleotide shuffle of each sequence (exact counts, seeded): the attribution null."""
    rng = np.random.default_rng(seed)
    return [dinucleotide_shuffle(s, rng) for s in seqs]


def attribute(model_dir: str | Path, seqs: list[str], controls: list[str], *, method: str = "ism",
              target: int | None = None, trust_remote_code: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(N, L) per-base attributions of the sequences and of their controls, by ISM or integrated gradients."""
    from plantllm.apps import attribution as A

    if method not in ("ism", "ig"):
        raise PlantLLMError(f"method '{method}' must be 'ism' or 'ig'")
    explained = A.Explained(model_dir, target=target, trust_remote_code=trust_remote_code)

    def one(batch: list[str], label: str) -> np.ndarray:
        if method == "ism":
            _, delta = A.ism(explained, batch, label=label)
            return A.attribution(delta, A.one_hot(batch).numpy())
        with con.status(f"{label} (integrated gradients)"):
            return A.integrated_gradients(explained, batch)

    return one(seqs, "attributions of the sequences"), one(controls, "attributions of shuffled controls")


def discover(model_dir: str | Path, seqs: list[str], out: str | Path, *, background: list[str] | None = None,
             names: list[str] | None = None, method: str = "ism", target: int | None = None,
             description: str = "", fdr: float = 0.1, min_size: int = 5, seed: int = 0,
             trust_remote_code: bool = False) -> dict:
    """Attribute, call seqlets, cluster, match to JASPAR, run the k-mer baseline, write everything
    (``motif_report``); returns the summary."""
    import time

    from plantllm.apps.attribution import one_hot

    if method not in ("ism", "ig"):
        raise PlantLLMError(f"method '{method}' must be 'ism' or 'ig'")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    X = one_hot(seqs).numpy()
    controls = shuffled_controls(seqs, seed)
    attr, attr_ctrl = attribute(model_dir, seqs, controls, method=method, target=target,
                                trust_remote_code=trust_remote_code)
    t_attr = time.time() - t0
    with con.status("calling seqlets (tangermeme)"):
        sl, est_fdr, how = call_seqlets(attr, attr_ctrl, fdr=fdr)
    with con.status(f"clustering {len(sl)} seqlets (TOMTOM, memelite)"):
        motifs = cluster_seqlets(X, attr, sl, min_size=min_size)
    with con.status("k-mer enrichment baseline"):
        enr = kmer_enrichment(seqs, background or controls, k=6)
        kmers = kmer_motifs(enr)
    db, release = jaspar_plantae()
    with con.status(f"matching {len(motifs)} motifs and {len(kmers)} k-mers to JASPAR {release} Plantae"):
        match_jaspar(motifs + kmers, db)  # one TOMTOM run: its null depends on the targets only
    d = Discovery(str(model_dir), method, description, seqs, names, X, attr, attr_ctrl, sl, est_fdr, how, motifs,
                  kmers, enr, db, release, "dataset negatives" if background else "dinucleotide shuffles", t_attr,
                  time.time() - t0)
    return motif_report.write_all(d, out)
