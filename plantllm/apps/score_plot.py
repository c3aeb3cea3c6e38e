"""What a score means, as a picture: the distribution of scores per consequence class, with percentiles.

One row per consequence class of the run (most severe first): the distribution of the (calibrated,
when the run is) scores of its scored alleles as a violin, its 5th, 50th and 95th percentiles as
ticks and the class's count; with a neutral background, its 1st, 5th and 50th percentiles as vertical
lines across every class, so a reader sees at once where a score of, say, -3 falls: among the lowest
1 % of neutral alleles, and at which percentile of missense or synonymous alleles of this run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from plantllm.apps.consequence import SEVERITY
from plantllm.core.io import atomic_path


def plot_score_meaning(score: np.ndarray, codes: np.ndarray, terms: list[str], path: Path, method: str,
                       neutral=None, calibrated: bool = False, max_points: int = 200_000) -> Path:
    """Write the PNG (see the module doc): ``score`` per allele (the calibrated score with ``calibrated``), its
    consequence class as integer ``codes`` into ``terms`` (columns of a panel: no string per allele),
    ``neutral`` the model's ``Calibration`` or None."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    score = np.asarray(score, dtype=np.float64)
    ok = np.isfinite(score)
    if ok.sum() > max_points:  # a fixed sample: the picture of a large panel in bounded time
        idx = np.flatnonzero(ok)
        ok = np.zeros(len(score), dtype=bool)
        ok[np.random.default_rng(0).choice(idx, max_points, replace=False)] = True
    present = {terms[k] for k in np.unique(codes[ok]).tolist()}
    classes = [c for c in SEVERITY if c in present] + sorted(t for t in present if t not in SEVERITY)
    code = {t: k for k, t in enumerate(terms)}
    fig, ax = plt.subplots(figsize=(11, 0.45 * max(len(classes), 3) + 1.8))
    data = [score[ok & (codes == code[c])] for c in classes]
    pos = np.arange(len(classes))[::-1]
    if classes:
        ax.violinplot(data, positions=pos, vert=False, showextrema=False, widths=0.8)
        for y, d in zip(pos, data):
            q = np.percentile(d, [5, 50, 95])
            ax.plot(q, [y] * 3, "k|", markersize=10)
            ax.plot(q[[0, 2]], [y, y], "k-", linewidth=0.8)
    ax.set_yticks(pos, [f"{c} ({len(d):,})" for c, d in zip(classes, data)], fontsize=8)
    if neutral is not None and neutral.quantiles.get("snv"):
        q = np.asarray(neutral.quantiles["snv"])
        for p, name, style in ((1, "1st", ":"), (5, "5th", "--"), (50, "50th", "-")):
            ax.axvline(q[p], color="tab:red", linestyle=style, linewidth=1,
                       label=f"neutral background, {name} percentile ({q[p]:.2f})")
        ax.legend(fontsize=7, loc="lower left")
    what = "calibrated score (raw - neutral mean for context x ALT)" if calibrated else \
        f"{method} score"
    ax.set_xlabel(f"{what}\nlower = ALT less likely under the model", fontsize=9)
    ax.set_title("What a score means: its place among this run's alleles of each consequence class\n"
                 "(violins: distribution; ticks: 5th, 50th, 95th percentile; red: the model's neutral background)",
                 fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
