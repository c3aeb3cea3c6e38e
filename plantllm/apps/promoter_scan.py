"""Promoter prediction: genome-wide scans, called regions, evaluation against the annotation.

A scan slides the promoter window (-upstream..+downstream around a candidate TSS) along
each region with a stride and scores both strands of every window in one forward pass
(the forward windows and their reverse complements share a batch). A score belongs to
the candidate TSS it was trained around: ``start + upstream`` on '+', ``end - 1 - upstream``
on '-'. Outputs, in the FASTA's own chromosome names so they load next to it in a browser:

* ``scores.plus.bedGraph`` / ``scores.minus.bedGraph``: score per stride bin and strand;
* ``promoters.bed``: bins above the threshold (or the top-k), merged per strand with
  bedtools, score = 1000 x the best probability, sorted, with a track line;
* ``candidates.tsv`` for a FASTA of candidate sequences.

Scorers are interchangeable (``ModelScorer``, ``KmerScorer``, ``PwmScorer``) so the
baselines scan exactly the windows the model scans.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np
import pybedtools
import torch

from plantllm.core import console as con
from plantllm.models import tokenizers as tokenization
from plantllm.species.assembly import Assembly
from plantllm.models.baselines import KmerLogistic
from plantllm.core.errors import InputFileError, PlantLLMError
from plantllm.core.io import atomic_write, require_file
from plantllm.core.sequence import encode, reverse_complement


class Scorer(Protocol):
    name: str

    def score(self, seqs: list[str]) -> np.ndarray: ...


def device_and_dtype() -> tuple[torch.device, torch.dtype]:
    if torch.cuda.is_available():
        return torch.device("cuda"), torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.device("cpu"), torch.float32


class ModelScorer:
    """P(promoter) from a fine-tuned sequence classifier, batched under ``torch.inference_mode``."""

    def __init__(self, model_dir: str | Path, *, max_length: int | None = None, trust_remote_code: bool = False):
        from plantllm.models import checkpoint as M

        self.name = "model"
        self.model, self.tok = M.load(model_dir, task="classification", trust_remote_code=trust_remote_code)
        self.device, self.dtype = device_and_dtype()
        self.model.to(self.device, dtype=self.dtype).eval()
        self.max_length = max_length
        self.kind = (getattr(self.tok, "plantllm", {}) or {}).get("kind")
        try:
            self.fast = tokenization.FastDnaEncoder(self.tok)
        except PlantLLMError:
            self.fast = None  # published tokenizers (BPE, others): the HF tokenizer itself

    def encode(self, seqs: list[str]) -> dict[str, torch.Tensor]:
        if self.fast is not None:
            enc = self.fast(seqs, self.max_length or self.tok.model_max_length)
        else:
            texts = [tokenization.prepare(self.tok, s) for s in seqs]
            enc = self.tok(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}

    @torch.inference_mode()
    def forward(self, enc: dict[str, torch.Tensor]) -> np.ndarray:
        logits = self.model(**enc).logits.float()
        return torch.softmax(logits, -1)[:, 1].cpu().numpy()

    def score(self, seqs: list[str]) -> np.ndarray:
        return self.forward(self.encode(seqs))


class KmerScorer(KmerLogistic):
    """The k-mer logistic-regression baseline (``baselines.KmerLogistic``), fitted on a promoter
    dataset's train split; forward strand only, as the scan scores each strand separately."""


class PwmScorer:
    """Core-promoter PWM baseline: the best log-odds score of a TATA-box matrix in the window's core
    (-50..+10 around the TSS offset), both strands. JASPAR's TBP matrix MA0108.2 is used because the
    TATA-box is shared by all eukaryotes and JASPAR Plantae has no TBP matrix of its own; other
    matrices (e.g. plant Inr / Y-patch) combine through a logistic regression fitted on the train split.
    """

    def __init__(self, matrices: tuple[str, ...] = ("MA0108.2",), upstream: int = 249, train=None):
        from plantllm.data.tasks.motif import best_scores, load_jaspar

        motifs, _ = load_jaspar(matrices)
        self.name = "PWM " + "+".join(f"{m.matrix_id} {m.name}" for m in motifs)
        self.pssms = []
        for m in motifs:
            pssm = m.counts.normalize(pseudocounts=0.5).log_odds()
            self.pssms.append((pssm, pssm.reverse_complement()))
        self.best_scores = best_scores
        self.core = (max(0, upstream - 50), upstream + 10)
        self.lr = None
        if train is not None and len(self.pssms) > 1:
            from sklearn.linear_model import LogisticRegression

            self.lr = LogisticRegression(max_iter=1000).fit(self._features(train[0]), np.asarray(train[1]))

    def _features(self, seqs: list[str]) -> np.ndarray:
        a, b = self.core
        return np.array([self.best_scores(self.pssms, s[a:b]) for s in seqs], dtype=np.float64).clip(-50, None)

    def score(self, seqs: list[str]) -> np.ndarray:
        X = self._features(seqs)
        return self.lr.predict_proba(X)[:, 1] if self.lr is not None else X[:, 0]


# ---------------------------------------------------------------- scanning
@dataclass
class ScanParams:
    upstream: int = 249
    downstream: int = 50
    stride: int = 50
    batch_size: int = 64
    max_n_fraction: float = 0.5

    @property
    def window(self) -> int:
        return self.upstream + self.downstream + 1


def window_params_of(model_dir: str | Path) -> tuple[int, int] | None:
    """(upstream, downstream) of the promoter dataset a plantllm model was fine-tuned on."""
    info = Path(model_dir) / "plantllm.json"
    if not info.exists():
        return None
    corpus = json.loads(info.read_text()).get("corpus")
    manifest = Path(corpus or "") / "manifest.json"
    if corpus and manifest.exists():
        p = json.loads(manifest.read_text()).get("params", {})
        if "upstream" in p and "downstream" in p:
            return int(p["upstream"]), int(p["downstream"])
    return None


def iter_windows(asm: Assembly, regions: list[tuple[str, int, int]], p: ScanParams,
                 chunk: int = 1_000_000) -> Iterator[tuple[str, int, str]]:
    """(chrom, window start, forward sequence) lazily over regions, read in bounded chunks."""
    W = p.window
    for chrom, rs, re_ in regions:
        for cs in range(rs, max(rs, re_ - W) + 1, chunk):
            ce = min(re_, cs + chunk + W)
            seq = asm.genome.fetch(chrom, cs, ce)
            codes = encode(seq)
            for ws in range(cs, min(cs + chunk, re_ - W + 1), p.stride):
                o = ws - cs
                if float((codes[o:o + W] == 4).mean()) > p.max_n_fraction:
                    continue
                yield chrom, ws, seq[o:o + W]


def _batches(asm: Assembly, regions, p: ScanParams, total: int, label: str):
    batch: list[tuple[str, int, str]] = []
    for item in con.track(iter_windows(asm, regions, p), label, total=total, unit="windows"):
        batch.append(item)
        if len(batch) >= p.batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def scan(asm: Assembly, scorer: Scorer, regions: list[tuple[str, int, int]], p: ScanParams
         ) -> dict[str, np.ndarray]:
    """Score both strands of every window; returns arrays chrom, tss, strand, score (one row per strand).

    For a model, the next batch is read, reverse-complemented and tokenized in a background thread
    while the current batch runs through the model (tokenizers and torch both release the GIL), so
    the scan runs at the speed of the forward pass.
    """
    from concurrent.futures import ThreadPoolExecutor

    total = sum(max(0, (e - s - p.window) // p.stride + 1) for _, s, e in regions)
    chroms, tss, strands, scores = [], [], [], []

    def prepare(batch):
        fwd = [b[2] for b in batch]
        seqs = fwd + [reverse_complement(s) for s in fwd]  # both strands in one pass
        return batch, (scorer.encode(seqs) if hasattr(scorer, "encode") else seqs)

    def consume(batch, prepared):
        sc = scorer.forward(prepared) if hasattr(scorer, "encode") else scorer.score(prepared)
        n = len(batch)
        for i, (c, ws, _) in enumerate(batch):
            chroms.extend((c, c))
            tss.extend((ws + p.upstream, ws + p.window - 1 - p.upstream))
            strands.extend(("+", "-"))
            scores.extend((sc[i], sc[n + i]))

    batches = _batches(asm, regions, p, total, f"scanning with {scorer.name}")
    with ThreadPoolExecutor(max_workers=1) as pool:
        nxt = pool.submit(lambda: next((prepare(b) for b in batches), None))
        while True:
            ready = nxt.result()
            if ready is None:
                break
            nxt = pool.submit(lambda: next((prepare(b) for b in batches), None))
            consume(*ready)
    return {"chrom": np.array(chroms, dtype=object), "tss": np.array(tss, dtype=np.int64),
            "strand": np.array(strands, dtype=object), "score": np.array(scores, dtype=np.float32)}


# ---------------------------------------------------------------- outputs
def write_bedgraphs(asm: Assembly, res: dict, p: ScanParams, out: Path, label: str = "plantllm") -> list[Path]:
    paths = []
    half = p.stride // 2
    for strand, name in (("+", "plus"), ("-", "minus")):
        sel = res["strand"] == strand
        order = np.lexsort((res["tss"][sel], [asm.card.chromosome(c).name for c in res["chrom"][sel]]))
        path = out / f"scores.{name}.bedGraph"
        with atomic_write(path) as fh:
            fh.write(f'track type=bedGraph name="{label} promoter {strand}" description="P(promoter), TSS on '
                     f'{strand} strand" visibility=full autoScale=on\n')
            last = {}
            for c, t, s in zip(res["chrom"][sel][order], res["tss"][sel][order], res["score"][sel][order]):
                n = asm.genome.length(c)
                a, b = max(0, int(t) - half, last.get(c, 0)), min(n, int(t) - half + p.stride)
                if b > a:
                    fh.write(f"{asm.genome.file_name(c)}\t{a}\t{b}\t{s:.4f}\n")
                    last[c] = b
        paths.append(path)
    return paths


def call_regions(asm: Assembly, res: dict, p: ScanParams, *, threshold: float | None = 0.5,
                 top_k: int | None = None) -> pybedtools.BedTool:
    """Bins above ``threshold`` (or the ``top_k`` best) merged per strand with bedtools; BED6 in canonical names."""
    idx = np.arange(len(res["score"]))
    if top_k:
        idx = idx[np.argsort(-res["score"])[:top_k]]
    elif threshold is not None:
        idx = idx[res["score"] >= threshold]
    half = p.stride // 2
    rows = []
    for i in idx:
        c, t = res["chrom"][i], int(res["tss"][i])
        a, b = max(0, t - half), min(asm.genome.length(c), t - half + p.stride)
        rows.append((c, str(a), str(b), "promoter", f"{float(res['score'][i]):.6f}", res["strand"][i]))
    if not rows:
        return pybedtools.BedTool([])
    bt = pybedtools.BedTool(rows).sort()
    return bt.merge(s=True, c="5,6", o="max,distinct")


def write_calls(asm: Assembly, calls: pybedtools.BedTool, out: Path, label: str = "plantllm") -> Path:
    path = out / "promoters.bed"
    order = {c.name: i for i, c in enumerate(asm.card.chromosomes)}
    rows = sorted(((iv.chrom, iv.start, iv.end, float(iv.fields[3]), iv.fields[4]) for iv in calls),
                  key=lambda r: (order[r[0]], r[1]))
    with atomic_write(path) as fh:
        fh.write(f'track name="{label} promoters" description="called promoter regions (score = 1000 x P)" '
                 'useScore=1\n')
        for i, (c, a, b, s, strand) in enumerate(rows, 1):
            fh.write(f"{asm.genome.file_name(c)}\t{a}\t{b}\tpromoter_{i}\t{int(round(1000 * s))}\t{strand}\n")
    return path


def score_fasta(scorer: Scorer, fasta: str | Path, out: Path, batch_size: int = 64) -> Path:
    """TSV of candidate sequences: P(promoter) of each strand and the best."""
    import pysam

    p = require_file(fasta, "candidate FASTA")
    try:
        fa = pysam.FastxFile(str(p))
        records = [(r.name, r.sequence) for r in fa]
    except (OSError, ValueError) as e:
        raise InputFileError(f"cannot read candidate FASTA ({e})", path=p) from None
    if not records:
        raise InputFileError("no sequences", path=p)
    path = out / "candidates.tsv"
    with atomic_write(path) as fh:
        fh.write("name\tlength\tscore_plus\tscore_minus\tscore\n")
        for i in range(0, len(records), batch_size):
            chunk = records[i:i + batch_size]
            seqs = [s for _, s in chunk]
            sc = scorer.score(seqs + [reverse_complement(s) for s in seqs])
            for j, (name, s) in enumerate(chunk):
                a, b = float(sc[j]), float(sc[len(chunk) + j])
                fh.write(f"{name}\t{len(s)}\t{a:.5f}\t{b:.5f}\t{max(a, b):.5f}\n")
    return path


# ---------------------------------------------------------------- evaluation
def tss_recovery(asm: Assembly, calls: pybedtools.BedTool, regions: list[tuple[str, int, int]],
                 tolerance: int = 100) -> dict:
    """Annotated TSSs (canonical, coding, inside the scanned regions) inside a same-strand call (+/- tolerance),
    calls with an annotated TSS (any transcript), and each call's distance to the nearest same-strand TSS."""
    inside = lambda c, x: any(c == rc and rs <= x < re_ for rc, rs, re_ in regions)  # noqa: E731
    truth = [(t.chrom, t.tss, t.strand) for t in asm.annotation.canonical_transcripts()
             if t.coding and inside(t.chrom, t.tss)]
    all_tss: dict[tuple[str, str], np.ndarray] = {}
    for t in asm.annotation.transcripts:
        all_tss.setdefault((t.chrom, t.strand), []).append(t.tss)
    all_tss = {k: np.array(sorted(v)) for k, v in all_tss.items()}
    call_list = [(iv.chrom, iv.start, iv.end, iv.fields[4]) for iv in calls]
    by = {}
    for c, a, b, s in call_list:
        by.setdefault((c, s), []).append((a - tolerance, b + tolerance))
    by = {k: np.array(sorted(v)) for k, v in by.items()}
    hit = 0
    for c, x, s in truth:
        arr = by.get((c, s))
        if arr is not None and ((arr[:, 0] <= x) & (x < arr[:, 1])).any():
            hit += 1
    dists = []
    for c, a, b, s in call_list:
        arr = all_tss.get((c, s))
        mid = (a + b) // 2
        if arr is None or not len(arr):
            dists.append(math.inf)
            continue
        i = np.searchsorted(arr, mid)
        d = min(abs(int(arr[j]) - mid) for j in (max(i - 1, 0), min(i, len(arr) - 1)))
        dists.append(d)
    d = np.array(dists, dtype=float)
    n_calls = len(call_list)
    return {"annotated_tss": len(truth), "tss_recovered": hit, "recall": hit / max(len(truth), 1),
            "calls": n_calls, "calls_with_tss": int((d <= (tolerance + 50)).sum()),
            "precision": float((d <= (tolerance + 50)).sum() / max(n_calls, 1)),
            "median_distance_to_tss": float(np.median(d[np.isfinite(d)])) if np.isfinite(d).any() else None,
            "distances": [x for x in d.tolist() if math.isfinite(x)]}


def plot_evaluation(out: Path, curves: dict[str, tuple[np.ndarray, np.ndarray]], recov: dict[str, dict]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    for name, (y, s) in curves.items():
        fpr, tpr, _ = roc_curve(y, s)
        ax[0].plot(fpr, tpr, label=f"{name} (AUROC {roc_auc_score(y, s):.3f})")
        pr, rc, _ = precision_recall_curve(y, s)
        ax[1].plot(rc, pr, label=name)
    ax[0].plot([0, 1], [0, 1], "k:"), ax[0].set_xlabel("FPR"), ax[0].set_ylabel("TPR"), ax[0].legend(fontsize=7)
    ax[0].set_title("held-out promoter task: ROC")
    ax[1].set_xlabel("recall"), ax[1].set_ylabel("precision"), ax[1].set_title("PR")
    for name, r in recov.items():
        if r["distances"]:
            ax[2].hist(np.clip(r["distances"], 0, 5000), bins=50, alpha=0.5, label=name)
    ax[2].set_xlabel("distance of called region to nearest annotated TSS (bp, clipped at 5 kb)")
    ax[2].set_title("genome scan"), ax[2].legend(fontsize=7)
    fig.tight_layout()
    path = out / "evaluation.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path



# ---------------------------------------------------------------- the whole run
def parse_region(text: str, asm: Assembly) -> tuple[str, int, int]:
    """'Chr1:1000-2000' (1-based, inclusive, as genome browsers write it) or 'Chr1' -> canonical 0-based."""
    name, _, span = text.partition(":")
    chrom = asm.card.canonical(name)
    n = asm.genome.length(chrom)
    if not span:
        return chrom, 0, n
    try:
        a, b = (int(x.replace(",", "")) for x in span.split("-"))
    except ValueError:
        raise PlantLLMError(f"region '{text}' must look like Chr1:1000-2000") from None
    if not 1 <= a <= b <= n:
        raise PlantLLMError(f"region '{text}' is outside {chrom} (1..{n:,})")
    return chrom, a - 1, b


def read_bed_regions(path: str | Path, asm: Assembly) -> list[tuple[str, int, int]]:
    from plantllm.species.repeats import _Reader, read_bed

    p = require_file(path, "BED")
    unknown: dict[str, int] = {}
    rows = read_bed(_Reader(p, asm.card, unknown))
    if unknown:
        first = next(iter(unknown))
        asm.card.canonical(first, where=f"{p}:{unknown[first]}")
    return [(c, s, e) for c, s, e in pybedtools.BedTool(rows).sort().merge()] if rows else []


def held_out_regions(asm: Assembly, dataset: str | Path, split: str = "test") -> list[tuple[str, int, int]]:
    """The genome blocks a plantllm dataset put in ``split`` (from its manifest), merged."""
    from plantllm.data.splits import Splitter

    m = json.loads((Path(dataset) / "manifest.json").read_text())
    sp = m["split"]
    splitter = Splitter(sp["val_fraction"], sp["test_fraction"], sp["block_size"], tuple(sp["val_chroms"]),
                        tuple(sp["test_chroms"]), sp["seed"])
    out = []
    for c in asm.genome.chromosomes():
        n = asm.genome.length(c)
        for b in range(0, (n - 1) // splitter.block_size + 1):
            if splitter.block_split(c, b) == split:
                s, e = b * splitter.block_size, min(n, (b + 1) * splitter.block_size)
                if out and out[-1][0] == c and out[-1][2] == s:
                    out[-1] = (c, out[-1][1], e)
                else:
                    out.append((c, s, e))
    return out


def predict_promoters(model_dir: str | Path, asm: Assembly, out: str | Path, *,
                      regions: list[tuple[str, int, int]] | None = None, params: ScanParams | None = None,
                      threshold: float | None = 0.5, top_k: int | None = None, evaluate: str | Path | None = None,
                      baselines: bool = True) -> dict:
    """Scan, call and (with ``evaluate`` = a promoter dataset) evaluate against the annotation and baselines."""
    from plantllm.training.trainer import classification_metrics

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    wp = window_params_of(model_dir)
    params = params or ScanParams(*(wp or (249, 50)))
    regions = regions or [(c, 0, asm.genome.length(c)) for c in asm.genome.chromosomes()]
    scorer = ModelScorer(model_dir)
    import time as _time

    t0 = _time.time()
    res = scan(asm, scorer, regions, params)
    seconds = _time.time() - t0
    write_bedgraphs(asm, res, params, out)
    calls = call_regions(asm, res, params, threshold=threshold, top_k=top_k)
    write_calls(asm, calls, out)
    summary: dict = {"model": str(model_dir), "species": asm.card.name, "regions_bp": sum(e - s for _, s, e in regions),
                     "windows": int(len(res["score"]) // 2), "seconds": round(seconds, 1),
                     "windows_per_s": round(len(res["score"]) / 2 / max(seconds, 1e-9), 1),
                     "window": {"upstream": params.upstream, "downstream": params.downstream, "stride": params.stride},
                     "calls": len(calls), "threshold": threshold, "top_k": top_k, "device": str(scorer.device)}
    if evaluate is not None and asm.has_annotation:
        import datasets

        ds = datasets.load_from_disk(str(evaluate))
        test = ds["test"]
        y = np.array(test["label"])
        scorers: dict[str, Scorer] = {"model": scorer}
        if baselines:
            scorers["6-mer logistic"] = KmerScorer(ds["train"]["seq"], np.array(ds["train"]["label"]))
            scorers["TATA-box PWM"] = PwmScorer(upstream=params.upstream)
        task, curves, recov = {}, {}, {}
        n_truth = len([t for t in asm.annotation.canonical_transcripts() if t.coding and
                       any(c == t.chrom and s <= t.tss < e for c, s, e in regions)])
        k = 2 * n_truth  # equal call budget for every scorer: twice the annotated TSSs in the regions
        for name, sc in scorers.items():
            s = sc.score(test["seq"])
            m = classification_metrics(y, s) if name != "TATA-box PWM" else {
                k2: v for k2, v in classification_metrics(y, 1 / (1 + np.exp(-s))).items() if k2 in ("auroc", "auprc")}
            task[name] = m
            curves[name] = (y, s)
            r = res if name == "model" else scan(asm, sc, regions, params)
            recov[name] = tss_recovery(asm, call_regions(asm, r, params, top_k=k), regions)
        plot_evaluation(out, curves, recov)
        ev = {"held_out_task": task, "genome_scan_top_k": k,
              "tss_recovery": {n: {kk: v for kk, v in r.items() if kk != "distances"} for n, r in recov.items()},
              "called_regions_recovery": {kk: v for kk, v in tss_recovery(asm, calls, regions).items()
                                          if kk != "distances"}}
        with atomic_write(out / "evaluation.json") as fh:
            json.dump(ev, fh, indent=2)
        summary["evaluation"] = ev
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=2, default=str)
    return summary
