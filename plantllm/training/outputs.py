"""What a run leaves besides the model: test predictions, loss and ROC/PR plots, and per-rank
parameter checksums (all ranks of a data-parallel run must hold the same weights)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from plantllm.core.io import atomic_write
from plantllm.core.metrics import positive_probability
from plantllm.training.callbacks import logits_of
from plantllm.training.config import TrainConfig


def write_rank_fingerprint(out: Path, trainer) -> None:
    """Each rank records a checksum of its parameters: with data parallelism (ZeRO <= 2) all ranks
    must hold identical weights after every step, which the multi-process test checks."""
    model = trainer.model_wrapped if hasattr(trainer, "model_wrapped") else trainer.model
    model = getattr(model, "module", model)
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        h.update(name.encode())
        h.update(p.detach().float().cpu().numpy().tobytes())
    rank = int(os.environ.get("RANK", "0"))
    (out / "ranks").mkdir(exist_ok=True)
    with atomic_write(out / "ranks" / f"rank-{rank}.json") as fh:
        json.dump({"rank": rank, "world_size": int(trainer.args.world_size), "params_sha256": h.hexdigest(),
                   "step": int(trainer.state.global_step)}, fh)


def write_predictions(out: Path, cfg: TrainConfig, pred) -> None:
    """``test_predictions.tsv`` (label, score: P(class 1) of a binary classifier, else the first output)
    and, for a binary classifier, ``roc_pr.png``."""
    logits, labels = logits_of(pred), pred.label_ids
    binary = cfg.task == "classification" and logits.shape[-1] == 2
    scores = positive_probability(logits) if binary else logits.reshape(len(logits), -1)[:, 0]
    with atomic_write(out / "test_predictions.tsv") as fh:
        fh.write("label\tscore\n")
        for y, s in zip(labels.reshape(len(labels), -1)[:, 0], scores):
            fh.write(f"{y}\t{s:.6g}\n")
    if binary and len(np.unique(labels)) == 2:
        plot_roc_pr(out, labels, scores)


def plot_losses(out: Path, history: list[dict]) -> None:
    """``loss.png``: training and validation loss by step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tr = [(h["step"], h["loss"]) for h in history if "loss" in h]
    ev = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    if not tr and not ev:
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if tr:
        ax.plot(*zip(*tr), label="train")
    if ev:
        ax.plot(*zip(*ev), "o-", label="validation")
    ax.set_xlabel("step"), ax.set_ylabel("loss"), ax.legend(), fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=100)
    plt.close(fig)


def plot_roc_pr(out: Path, y: np.ndarray, s: np.ndarray) -> None:
    """``roc_pr.png``: ROC and precision-recall curves on the test set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    fpr, tpr, _ = roc_curve(y, s)
    pr, rc, _ = precision_recall_curve(y, s)
    fig, ax = plt.subplots(1, 2, figsize=(8, 3.5))
    ax[0].plot(fpr, tpr), ax[0].plot([0, 1], [0, 1], "k:"), ax[0].set_xlabel("FPR"), ax[0].set_ylabel("TPR")
    ax[0].set_title("ROC (test)")
    ax[1].plot(rc, pr), ax[1].set_xlabel("recall"), ax[1].set_ylabel("precision"), ax[1].set_title("PR (test)")
    fig.tight_layout()
    fig.savefig(out / "roc_pr.png", dpi=100)
    plt.close(fig)

