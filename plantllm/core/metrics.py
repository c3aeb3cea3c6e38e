"""Evaluation metrics on plain arrays (numpy, scikit-learn, scipy): the same numbers for the trainer,
the applications, the baselines and the demo report.

Binary classification: accuracy, F1 and MCC at a 0.5 threshold, plus AUROC and AUPRC when both
classes occur; multi-class: accuracy, macro F1, MCC; multi-label: macro AUROC / AUPRC over the labels
that have both classes; regression: Pearson, Spearman, R^2 over the finite targets.
"""

from __future__ import annotations

import numpy as np


def classification_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Binary labels (0/1) against scores in [0, 1] (the probability of class 1)."""
    from sklearn.metrics import (accuracy_score, average_precision_score, f1_score, matthews_corrcoef,
                                 roc_auc_score)

    pred = (scores >= 0.5).astype(int)
    out = {"accuracy": accuracy_score(labels, pred), "f1": f1_score(labels, pred, zero_division=0),
           "mcc": matthews_corrcoef(labels, pred)}
    if len(np.unique(labels)) == 2:
        out["auroc"] = roc_auc_score(labels, scores)
        out["auprc"] = average_precision_score(labels, scores)
    return {k: float(v) for k, v in out.items()}


def multiclass_metrics(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Class labels against predicted classes."""
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    return {"accuracy": float(accuracy_score(labels, predicted)),
            "f1_macro": float(f1_score(labels, predicted, average="macro")),
            "mcc": float(matthews_corrcoef(labels, predicted))}


def multilabel_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """(n, labels) 0/1 matrix against probabilities; labels with one class only are left out (NaN if all are)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    keep = [j for j in range(labels.shape[1]) if 0 < labels[:, j].sum() < len(labels)]
    if not keep:
        return {"auroc_macro": float("nan"), "auprc_macro": float("nan")}
    y, p = labels[:, keep], probabilities[:, keep]
    return {"auroc_macro": float(roc_auc_score(y, p, average="macro")),
            "auprc_macro": float(average_precision_score(y, p, average="macro"))}


def regression_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Targets against predictions; rows with a missing (non-finite) target are left out."""
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import r2_score

    ok = np.isfinite(y)
    y, p = y[ok], p[ok]
    return {"pearson": float(pearsonr(y, p)[0]), "spearman": float(spearmanr(y, p)[0]), "r2": float(r2_score(y, p))}


def positive_probability(logits: np.ndarray) -> np.ndarray:
    """P(class 1) from (n, 2) logits (a numerically stable softmax)."""
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(-1, keepdims=True))[:, 1]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))
