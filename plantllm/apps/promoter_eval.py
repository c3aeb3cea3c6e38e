"""Promoter prediction judged against the annotation and beside the baselines.

Two views, both on data the model never trained on: the held-out split of the promoter
task (AUROC, AUPRC, MCC of the model, the 6-mer logistic regression and the TATA-box
PWM), and the genome scan of the held-out blocks (how many annotated TSSs each scorer's
top calls recover, with an equal call budget for every scorer).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pybedtools

from plantllm.apps.promoter_scan import KmerScorer, PwmScorer, ScanParams, Scorer, call_regions, scan
from plantllm.core.intervals import IntervalIndex
from plantllm.core.metrics import classification_metrics
from plantllm.species.assembly import Assembly


def tss_recovery(asm: Assembly, calls: pybedtools.BedTool, regions: list[tuple[str, int, int]],
                 tolerance: int = 100) -> dict:
    """Annotated TSSs (canonical, coding, inside the scanned regions) inside a same-strand call (+/- tolerance),
    calls with an annotated TSS (any transcript), and each call's distance to the nearest same-strand TSS."""
    scanned = IntervalIndex(regions)
    truth = [(t.chrom, t.tss, t.strand) for t in asm.annotation.canonical_transcripts()
             if t.coding and scanned.any_overlap(t.chrom, t.tss, t.tss + 1)]
    all_tss = IntervalIndex(((t.chrom, t.strand), t.tss, t.tss + 1) for t in asm.annotation.transcripts)
    call_list = [(iv.chrom, iv.start, iv.end, iv.fields[4]) for iv in calls]
    padded = IntervalIndex(((c, s), a - tolerance, b + tolerance) for c, a, b, s in call_list)
    hit = sum(padded.any_overlap((c, s), x, x + 1) for c, x, s in truth)
    dists = []
    for c, a, b, s in call_list:
        _, dist = all_tss.nearest((c, s), (a + b) // 2)
        dists.append(math.inf if dist < 0 else dist)
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


def evaluate(asm: Assembly, scorer: Scorer, res: dict, calls: pybedtools.BedTool, regions: list[tuple[str, int, int]],
             params: ScanParams, dataset: str | Path, out: Path, *, baselines: bool = True) -> dict:
    """Held-out task metrics and TSS recovery of the model (its scan ``res``) and the baselines;
    writes ``evaluation.png`` and returns what ``evaluation.json`` holds."""
    import datasets

    ds = datasets.load_from_disk(str(dataset))
    test = ds["test"]
    y = np.array(test["label"])
    scorers: dict[str, Scorer] = {"model": scorer}
    if baselines:
        scorers["6-mer logistic"] = KmerScorer(ds["train"]["seq"], np.array(ds["train"]["label"]))
        scorers["TATA-box PWM"] = PwmScorer(upstream=params.upstream)
    scanned = IntervalIndex(regions)
    n_truth = sum(1 for t in asm.annotation.canonical_transcripts()
                  if t.coding and scanned.any_overlap(t.chrom, t.tss, t.tss + 1))
    k = 2 * n_truth  # equal call budget for every scorer: twice the annotated TSSs in the regions
    task, curves, recov = {}, {}, {}
    for name, sc in scorers.items():
        s = sc.score(test["seq"])
        if name == "TATA-box PWM":  # log-odds, not a probability: only the ranking metrics apply
            task[name] = {k2: v for k2, v in classification_metrics(y, 1 / (1 + np.exp(-s))).items()
                          if k2 in ("auroc", "auprc")}
        else:
            task[name] = classification_metrics(y, s)
        curves[name] = (y, s)
        r = res if name == "model" else scan(asm, sc, regions, params)
        recov[name] = tss_recovery(asm, call_regions(asm, r, params, top_k=k), regions)
    plot_evaluation(out, curves, recov)
    strip = lambda r: {kk: v for kk, v in r.items() if kk != "distances"}  # noqa: E731
    return {"held_out_task": task, "genome_scan_top_k": k,
            "tss_recovery": {n: strip(r) for n, r in recov.items()},
            "called_regions_recovery": strip(tss_recovery(asm, calls, regions))}
