"""A model's neutral background: what its variant scores look like where nothing is under selection.

``plantllm variants calibrate`` (``background.compute``) scores every possible SNV (and simulated
small indels and MNVs) at putatively neutral sites and stores, in the model folder, a small JSON file
``calibration-<method>-w<window>.json`` (plain JSON: no pickle, nothing executable):

* ``snv``: mean, sd and count of the raw score per pentanucleotide context x ALT (``ACGTA>G``: the
  REF base is the middle one), with trinucleotide and single-base tables as fallbacks for contexts
  seen fewer than ``MIN_COUNT`` times;
* ``other``: the same per method x change x size (``pll:del:2-5``, ``pll:ins:1``, ``llr:sub:2-5``...);
* ``quantiles``: 101 quantiles (0, 1, ..., 100 %) of the calibrated background scores, per kind.

``variants score --calibrated`` applies it: calibrated score = raw score - background mean of the
allele's context and ALT (GPN-Star's calibrated LLR), and ``PLLM_PCT_NEUTRAL`` = the percentile of
the calibrated score among the neutral background's.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plantllm.core.errors import PlantLLMError
from plantllm.core.io import atomic_write

FORMAT = "plantllm-calibration/1"
#: a context needs this many background scores to be used; fewer: the shorter context's table
MIN_COUNT = 5
SIZE_BINS = ((1, 1), (2, 5), (6, 20), (21, 1 << 30))


def file_name(method: str, window: int) -> str:
    return f"calibration-{method}-w{window}.json"


def size_bin(n: int) -> str:
    for lo, hi in SIZE_BINS:
        if lo <= n <= hi:
            return f"{lo}" if lo == hi else (f"{lo}-{hi}" if hi < 1 << 30 else f"{lo}+")
    return "0"


def other_key(method: str, ref: str, alt: str) -> str:
    """Background key of a non-SNV allele: method : del / ins / sub : size bin of the change."""
    if len(ref) == len(alt):
        return f"{method}:sub:{size_bin(len(ref))}"
    kind = "del" if len(alt) < len(ref) else "ins"
    return f"{method}:{kind}:{size_bin(abs(len(alt) - len(ref)))}"


@dataclass
class Calibration:
    method: str
    window: int
    snv: dict[str, list[float]]  # context>ALT -> [mean, sd, n], for 5-, 3- and 1-base contexts
    other: dict[str, list[float]] = field(default_factory=dict)
    quantiles: dict[str, list[float]] = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    # ------------------------------------------------------------ storage
    @classmethod
    def path(cls, model_dir: str | Path, method: str, window: int) -> Path:
        return Path(model_dir) / file_name(method, window)

    @classmethod
    def load(cls, model_dir: str | Path, method: str, window: int) -> "Calibration":
        p = cls.path(model_dir, method, window)
        if not p.exists():
            have = sorted(x.name for x in Path(model_dir).glob("calibration-*.json"))
            raise PlantLLMError(f"{model_dir} has no neutral background for --method {method} --window {window} "
                                f"({p.name} missing{'; it has ' + ', '.join(have) if have else ''})",
                                fix=f"compute it: plantllm variants calibrate SPECIES --model {model_dir} "
                                    f"--method {method} --window {window}")
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
            if d.get("format") != FORMAT:
                raise ValueError(f"format {d.get('format')!r}, expected {FORMAT!r}")
            return cls(d["method"], int(d["window"]), d["snv"], d.get("other", {}), d.get("quantiles", {}),
                       d.get("info", {}))
        except (ValueError, KeyError, TypeError) as e:
            raise PlantLLMError(f"{p}: not a plantllm calibration file ({e})",
                                fix="recompute it with plantllm variants calibrate") from None

    def save(self, path: str | Path) -> Path:
        with atomic_write(Path(path)) as fh:
            json.dump({"format": FORMAT, "method": self.method, "window": self.window, "info": self.info,
                       "snv": self.snv, "other": self.other, "quantiles": self.quantiles}, fh, indent=1)
        return Path(path)

    # ------------------------------------------------------------ use
    def mean_of(self, context: str, ref: str, alt: str, method: str) -> float:
        """Background mean for an allele: its 5-base context (REF in the middle) x ALT for an SNV,
        falling back to 3 and 1 bases; method x change x size otherwise; NaN when the background has none."""
        if len(ref) == 1 and len(alt) == 1:
            return self.snv_mean(context if len(context) == 5 else ref, alt)
        hit = self.other.get(other_key(method, ref, alt))
        return float(hit[0]) if hit is not None and hit[2] >= MIN_COUNT else math.nan

    def snv_mean(self, context: str, alt: str) -> float:
        mid = len(context) // 2
        for k in (2, 1, 0):
            if mid - k < 0:
                continue
            hit = self.snv.get(f"{context[mid - k:mid + k + 1]}>{alt}")
            if hit is not None and hit[2] >= MIN_COUNT:
                return float(hit[0])
        return math.nan

    def adjust(self, context: str, ref: str, alt: str, method: str, raw: float) -> float:
        """Calibrated score: raw - background mean (NaN when the background has no such allele)."""
        return raw - self.mean_of(context.upper(), ref, alt, method)

    def neutral_percentile(self, kind: str, scores: np.ndarray) -> np.ndarray:
        """Percentile (0-100) of each calibrated score among the neutral background's of ``kind``
        (``snv`` or a method name for other alleles); NaN where there is no background."""
        q = self.quantiles.get(kind)
        out = np.full(len(scores), np.nan)
        if not q:
            return out
        ok = np.isfinite(scores)
        out[ok] = np.interp(scores[ok], np.asarray(q, dtype=np.float64), np.linspace(0, 100, len(q)))
        return out


def summarize(keys: np.ndarray, values: np.ndarray) -> dict[str, list[float]]:
    """key -> [mean, sd, n] of values grouped by key (vectorized: no Python loop over values)."""
    if not len(keys):
        return {}
    uniq, inv = np.unique(keys, return_inverse=True)
    n = np.bincount(inv)
    s = np.bincount(inv, weights=values)
    ss = np.bincount(inv, weights=values * values)
    mean = s / n
    sd = np.sqrt(np.maximum(ss / n - mean * mean, 0.0))
    return {str(k): [round(float(m), 6), round(float(d), 6), int(c)] for k, m, d, c in zip(uniq, mean, sd, n)}
