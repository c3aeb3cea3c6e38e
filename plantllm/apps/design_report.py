"""``plantllm design promoters``: the run and what it writes.

Everything is checked first (model, constraints, every start sequence against every constraint) and
the whole output folder is written under a temporary name and renamed at the end (``core/io``), so a
bad input or an interrupted run leaves no half-written folder. Outputs:

* ``designs.fa`` - the designs, best first per start, headers with score, edits, GC and the start;
* ``rounds.tsv`` - every design of every round: score, fitness, edits, GC, the edit made, all edits
  from the start, the sequence (round 0 = the starts);
* ``trajectory.png`` - score per round per start (matplotlib);
* ``logos/NAME.png`` - the edits of each design as a mutagenesis-style logo (logomaker): the new base
  at each edited position, its height the score lost when that one edit is undone, over the start;
* ``edits.tsv`` - the same numbers as a table; ``summary.json`` - parameters, constraints, results.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from plantllm.apps.design import Design, DesignModel, SearchParams, SearchResult, edit_effects, search, search_summary
from plantllm.apps.design_constraints import Constraints
from plantllm.apps.design_starts import Start, check_starts
from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError
from plantllm.core.io import atomic_path


def mutations(d: Design, start: str) -> str:
    """The design's substitutions relative to the start, 'A12G,T40C' (1-based start positions); with
    indels, the inserted/deleted bases too."""
    out = []
    o = d.origin
    for i, (base, src) in enumerate(zip(d.seq, o.tolist())):
        if src < 0:
            out.append(f"ins{i + 1}{base}")
        elif base != start[src]:
            out.append(f"{start[src]}{src + 1}{base}")
    missing = sorted(set(range(len(start))) - set(o[o >= 0].tolist()))
    out += [f"del{m + 1}{start[m]}" for m in missing]
    return ",".join(out) or "-"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80] or "design"


def design_names(starts: list[Start], res: SearchResult) -> list[list[str]]:
    names, used = [], set()
    for k, ds in enumerate(res.designs):
        row = []
        for r in range(len(ds)):
            n = f"{_safe(starts[k].name)}_design{r + 1}"
            while n in used:
                n += "_"
            used.add(n)
            row.append(n)
        names.append(row)
    return names


def write_fasta(path: Path, starts: list[Start], res: SearchResult, names: list[list[str]], what: str) -> None:
    with open(path, "w") as fh:
        for k, ds in enumerate(res.designs):
            for d, n in zip(ds, names[k]):
                gc = (d.seq.count("G") + d.seq.count("C")) / len(d.seq)
                fh.write(f">{n} score={d.score:.5g} start_score={_start_score(res, k):.5g} "
                         f"edits={d.edits} gc={gc:.3f} score_is={what.replace(' ', '_')} start={starts[k].source.replace(' ', '_')}\n")
                for i in range(0, len(d.seq), 60):
                    fh.write(d.seq[i:i + 60] + "\n")


def _start_score(res: SearchResult, k: int) -> float:
    return next(r.design.score for r in res.rows if r.round == 0 and r.start == k)


def write_rounds(path: Path, starts: list[Start], res: SearchResult) -> None:
    with open(path, "w") as fh:
        fh.write("round\tstart\tslot\tscore\tfitness\tbest_fitness\tedits\tgc\tlength\tedit\tmutations\tsequence\n")
        for r in res.rows:
            d, s = r.design, starts[r.start]
            gc = (d.seq.count("G") + d.seq.count("C")) / len(d.seq)
            fh.write(f"{r.round}\t{s.name}\t{r.slot + 1}\t{d.score:.6g}\t{d.fitness:.6g}\t{r.best_fitness:.6g}\t"
                     f"{d.edits}\t{gc:.4f}\t{len(d.seq)}\t{d.last}\t{mutations(d, s.seq)}\t{d.seq}\n")


def plot_trajectory(path: Path, starts: list[Start], res: SearchResult, what: str, goal: str,
                    value: float | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    cmap = plt.get_cmap("tab10" if len(starts) <= 10 else "viridis")
    for k, s in enumerate(starts):
        color = cmap(k % 10 if len(starts) <= 10 else k / max(len(starts) - 1, 1))
        slots = sorted({r.slot for r in res.rows if r.start == k})
        for j in slots:
            pts = [(r.round, r.design.score) for r in res.rows if r.start == k and r.slot == j]
            x, y = zip(*pts)
            ax.plot(x, y, "-o", color=color, ms=2.5, lw=1.2 if j == 0 else 0.6, alpha=1 if j == 0 else 0.5,
                    label=s.name if j == 0 and len(starts) <= 12 else None)
    if goal == "target" and value is not None:
        ax.axhline(value, color="k", ls="--", lw=0.8, label="target")
    ax.set_xlabel("round")
    ax.set_ylabel(f"predicted {what}")
    ax.set_title(f"design trajectories ({goal})", fontsize=10)
    if len(starts) <= 12:
        ax.legend(fontsize=7, frameon=False, loc="best")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


def plot_logo(path: Path, d: Design, start: str, effects: list[dict], title: str) -> None:
    """Mutagenesis-style logo of a design's edits: new base, height = effect (score - score with it undone),
    and the start's base below each edited position."""
    import logomaker
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    L = len(d.seq)
    new = pd.DataFrame(0.0, index=range(L), columns=list("ACGT"))
    old = pd.DataFrame(0.0, index=range(L), columns=list("ACGT"))
    for e in effects:
        if e["kind"] == "deletion":
            continue
        if e["alt"] in "ACGT" and np.isfinite(e["effect"]):
            new.loc[e["pos"], e["alt"]] = e["effect"]
        if e["ref"] in "ACGT":
            old.loc[e["pos"], e["ref"]] = 1.0
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(max(8, min(36, L / 10)), 3.6), sharex=True,
                                 gridspec_kw={"height_ratios": [2, 1]})
    logomaker.Logo(new, ax=a1, color_scheme="classic")
    a1.axhline(0, color="0.6", lw=0.5)
    a1.set_ylabel("effect of the edit")
    a1.set_title(title, fontsize=9)
    logomaker.Logo(old, ax=a2, color_scheme="gray")
    for e in effects:
        if e["kind"] == "deletion":
            a2.axvline(e["pos"] - 0.5, color="r", lw=0.8)
    a2.set_ylabel("start")
    a2.set_yticks([])
    a2.set_xlabel("position in the design (0-based)")
    fig.savefig(path, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def design_promoters(model: DesignModel, starts: list[Start], cons: Constraints, params: SearchParams,
                     out: str | Path, *, logos: bool = True) -> dict:
    """Check, search, write (module doc). Returns the summary."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "summary.json").exists())):
        raise PlantLLMError(f"{out} exists and is not a design output folder (it would be replaced)",
                            fix="give a new --out folder")
    check_starts(starts, cons)
    lengths = {len(s.seq) for s in starts}
    con.info(f"designing {len(starts)} start sequence(s) of {', '.join(map(str, sorted(lengths)))} bp with "
             f"{params.method} (width {params.width}, {params.rounds} rounds, seed {params.seed}): "
             f"{model.goal} {model.what}")
    res = search(model, [s.seq for s in starts], cons, params)
    names = design_names(starts, res)
    what = model.what
    results = []
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        write_fasta(tmp / "designs.fa", starts, res, names, what)
        write_rounds(tmp / "rounds.tsv", starts, res)
        plot_trajectory(tmp / "trajectory.png", starts, res, what, model.goal, model.value)
        if logos:
            (tmp / "logos").mkdir()
        with open(tmp / "edits.tsv", "w") as fh:
            fh.write("design\tkind\tposition\tstart_position\tref\talt\teffect\n")
            for k, ds in enumerate(res.designs):
                for d, n in zip(ds, names[k]):
                    eff = edit_effects(model, d, starts[k].seq)
                    for e in eff:
                        sp = e.get("start_pos")
                        fh.write(f"{n}\t{e['kind']}\t{e['pos'] + 1}\t{sp + 1 if sp is not None else '.'}\t{e['ref']}\t"
                                 f"{e['alt']}\t{e['effect']:.5g}\n")
                    if logos:
                        plot_logo(tmp / "logos" / f"{n}.png", d, starts[k].seq, eff,
                                  f"{n}: {what} {_start_score(res, k):.3f} -> {d.score:.3f}, {d.edits} edits")
                    results.append({"design": n, "start": starts[k].name, "source": starts[k].source,
                                    "start_score": _start_score(res, k), "score": d.score, "edits": d.edits,
                                    "gc": round((d.seq.count("G") + d.seq.count("C")) / len(d.seq), 4),
                                    "mutations": mutations(d, starts[k].seq)})
        summary = {"model": model.source, "score": what, "goal": model.goal, "value": model.value,
                   **search_summary(res, params), "model_forwards": model.forwards,
                   "constraints": cons.describe(), "starts": len(starts), "designs": results}
        with open(tmp / "summary.json", "w") as fh:
            json.dump(summary, fh, indent=2)
    return summary
