"""Sampling shared by the dataset builders: random loci, GC matching, subgenome balance."""

from __future__ import annotations

import numpy as np

from plantllm.core import sequence as sq
from plantllm.core.errors import PlantLLMError
from plantllm.species.assembly import Assembly


def random_loci(asm: Assembly, chroms: list[str], length: int, rng: np.random.Generator):
    """Endless uniform random (chrom, start, strand) over the given chromosomes, by length."""
    lengths = np.array([asm.genome.length(c) - length for c in chroms], dtype=np.float64)
    if (lengths <= 0).all():
        return
    p = np.clip(lengths, 0, None) / np.clip(lengths, 0, None).sum()
    while True:
        k = rng.choice(len(chroms), size=4096, p=p)
        for ci in k:
            c = chroms[ci]
            yield c, int(rng.integers(0, int(lengths[ci]))), "+" if rng.random() < 0.5 else "-"


def gc_match(target_gc: np.ndarray, pool_gc: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices into ``pool_gc`` (without replacement) whose GC best matches each target.

    Bins both on 2% GC and draws from the same bin, falling back to the nearest bin with
    candidates left; returns -1 for targets left unmatched.
    """
    bins = np.linspace(0, 1, 51)
    tb = np.clip(np.digitize(target_gc, bins) - 1, 0, 49)
    pb = np.clip(np.digitize(pool_gc, bins) - 1, 0, 49)
    avail = {b: list(rng.permutation(np.flatnonzero(pb == b))) for b in range(50)}
    out = np.full(len(target_gc), -1, dtype=np.int64)
    for i in rng.permutation(len(target_gc)):
        b = int(tb[i])
        for d in range(50):
            for cand in (b - d, b + d):
                if 0 <= cand < 50 and avail[cand]:
                    out[i] = avail[cand].pop()
                    break
            if out[i] >= 0:
                break
    return out


def gc_of(seq: str) -> float:
    g = sq.gc_content(seq)
    return 0.0 if g != g else g


BALANCE = ("none", "proportional", "equal", "weights")


def keep_rates(sizes: dict[str, float], balance: str, weights: dict[str, float] | None = None) -> dict[str, float]:
    """The one subgenome-balance rule: a keep probability per subgenome so that each contributes the
    requested share of what is sampled (bases of pretraining windows, positives of a task).

    ``equal``: every subgenome as much as the smallest; ``weights``: shares proportional to
    ``weights``, which must name every subgenome present (a missing weight is an error, not a
    silent zero); ``none``/``proportional`` (or one subgenome): keep everything, in the genome's own
    proportions. The largest rate is 1.
    """
    if balance not in BALANCE:
        raise PlantLLMError(f"balance '{balance}' must be one of {BALANCE}")
    if balance in ("none", "proportional") or len(sizes) < 2:
        return {k: 1.0 for k in sizes}
    if balance == "equal":
        target = {k: 1.0 for k in sizes}
    else:
        weights = weights or {}
        missing = sorted(str(k) for k in sizes if k not in weights)
        if missing:
            raise PlantLLMError(f"subgenome weights missing for {', '.join(missing)}",
                                fix="give a weight to every subgenome, e.g. --subgenome-weights A=1,B=1")
        bad = {k: w for k, w in weights.items() if not w > 0}
        if bad:
            raise PlantLLMError(f"subgenome weights must be positive, got {bad}")
        target = {k: float(weights[k]) for k in sizes}
    ratio = {k: target[k] / sizes[k] for k in sizes if sizes[k] > 0}
    top = max(ratio.values())
    return {k: ratio.get(k, 1.0) / top for k in sizes}
