"""The labels of a table (``plantllm data table``): which task they make and their values.

One column of 0/1 -> binary; text classes -> binary or multi-class (sorted names, class 1 is the second);
integers 0..K-1 with 3 <= K <= 10 -> multi-class; other numbers -> regression; a list column (``[0,1,0]``,
as the Plant Genomic Benchmark's chromatin task) or several 0/1 columns -> multi-label; several numeric
columns or lists of numbers -> multi-output regression. ``task`` (``--task``) overrides the inference and
is checked against the values.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from plantllm.core.errors import InputFileError, PlantLLMError


def _as_list(v):
    if isinstance(v, (list, tuple, np.ndarray)):
        return list(v)
    if isinstance(v, str) and v.strip().startswith("["):
        return json.loads(v)
    return None


def label_matrix(df: pd.DataFrame, cols: list[str], task: str, where) -> tuple[str, np.ndarray, list[str]]:
    """(task, labels, names): labels is (n,) class indices or values, or (n, k) for multi-label /
    multi-output regression; names are the classes or the outputs."""
    for c in cols:
        miss = np.flatnonzero(df[c].isna().to_numpy())
        if len(miss):
            p, line, w = where(int(miss[0]))
            raise InputFileError(f"{w}missing label in column '{c}' ({len(miss):,} rows without one)", path=p,
                                 line=line, fix="fill in the label or drop the row")
    first = df[cols[0]].iloc[0]
    if len(cols) == 1 and _as_list(first) is not None:
        try:
            mat = np.array([_as_list(v) for v in df[cols[0]]], dtype=np.float64)
        except (ValueError, TypeError, json.JSONDecodeError):
            raise InputFileError(f"column '{cols[0]}' mixes lists of different lengths or non-numbers",
                                 path=where(0)[0], fix="give every row a list of the same length") from None
        names = [f"{cols[0]}_{j}" for j in range(mat.shape[1])]
    elif len(cols) > 1:
        bad = [c for c in cols if not pd.api.types.is_numeric_dtype(df[c])]
        if bad:
            raise InputFileError(f"label column '{bad[0]}' is not numeric; several label columns must be numbers",
                                 path=where(0)[0], fix="give one column of class names, or 0/1 / numeric columns")
        mat, names = df[cols].to_numpy(dtype=np.float64), list(map(str, cols))
    else:
        return _single(df[cols[0]], task, where)
    binary = bool(np.isin(mat, (0, 1)).all())
    task = task if task != "auto" else "multilabel" if binary else "regression"
    if task == "multilabel" and not binary:
        raise PlantLLMError("--task multilabel needs 0/1 labels", fix="use --task regression for numeric outputs")
    if task in ("binary", "multiclass"):
        raise PlantLLMError(f"--task {task} takes one label column", fix="use --task multilabel for several")
    return task, (mat.astype(np.int8) if task == "multilabel" else mat.astype(np.float32)), names


def _single(col: pd.Series, task: str, where) -> tuple[str, np.ndarray, list[str]]:
    numeric = pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)
    if not numeric:
        if task == "regression":
            i = int(np.flatnonzero(pd.to_numeric(col, errors="coerce").isna().to_numpy())[0])
            p, line, w = where(i)
            raise InputFileError(f"{w}label '{col.iloc[i]}' is not a number (--task regression)", path=p, line=line,
                                 fix="give numeric labels for regression")
        names = sorted(map(str, col.unique()))
        idx = {n: i for i, n in enumerate(names)}
        y = np.array([idx[str(v)] for v in col], dtype=np.int64)
        inferred = "binary" if len(names) == 2 else "multiclass"
    else:
        v = col.to_numpy(dtype=np.float64)
        ints = bool(np.all(v == np.round(v)))
        k = int(v.max()) + 1 if ints and v.min() >= 0 else 0
        contiguous = ints and v.min() >= 0 and len(np.unique(v)) == k
        inferred = ("binary" if contiguous and k == 2 else "multiclass" if contiguous and 3 <= k <= 10
                    else "regression")
        if task in ("binary", "multiclass") and not (ints and v.min() >= 0):
            raise PlantLLMError(f"--task {task} needs class labels 0..K-1 or class names, got values such as {v[0]}")
        y = v.astype(np.float32) if (task == "regression" or (task == "auto" and inferred == "regression")) \
            else v.astype(np.int64)
        names = [] if y.dtype == np.float32 else [str(i) for i in range(int(v.max()) + 1)]
    task = inferred if task == "auto" else task
    if task == "binary" and len(names) != 2:
        raise PlantLLMError(f"--task binary needs 2 classes, found {len(names)}: {', '.join(names[:5])}",
                            fix="use --task multiclass")
    if task == "multilabel":
        raise PlantLLMError("--task multilabel needs several 0/1 label columns or a list column",
                            fix="repeat --label-column, or give a column of lists such as [0,1,0]")
    return task, y, names
