"""Model-guided promoter design by in-silico evolution.

Each round every current sequence gets a batched saturation mutagenesis: all 3 x L single-base
substitutions (and, with ``indels``, every single-base deletion and insertion) at positions that are
not frozen; candidates that break a constraint (``design_constraints``) are dropped before the model
sees them; the rest are scored in large batches through the one model runner. Then:

* ``greedy`` / ``beam``: the best ``width`` sequences of (current + candidates) go on (greedy is a beam
  of one). The current sequences stay in the pool, so the best fitness never drops; a round without
  any improvement ends the search;
* ``anneal``: simulated annealing with a heat-bath move: each of ``width`` chains moves to one of
  (current + its candidates) drawn with probability proportional to exp(fitness / T), T falling
  geometrically from ``t_start`` to ``t_end``; every chain reports the best sequence it visited.

Written here rather than with tangermeme's ``greedy_substitution`` / ``beam_substitution``: those
insert motifs into one sequence without constraints, edit budgets, frozen positions, indels or
annealing, which a lab's designs need; tangermeme stays the ISM engine of ``attribution``.

The objective: the model's score (P(class) of a classifier, the value of a regressor) maximized,
minimized, or brought to a target value. A classifier is ranked by its log-odds for maximize and
minimize (monotone in P, and it does not saturate at P = 1); the reported score is the probability.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from plantllm.apps.design_constraints import Constraints
from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError
from plantllm.data.promoter_window import PromoterWindow
from plantllm.models import checkpoint
from plantllm.models.runner import ModelRunner

GOALS = ("maximize", "minimize", "target")
METHODS = ("greedy", "beam", "anneal")
BASES = "ACGT"


class DesignModel:
    """A fine-tuned classifier or regressor as a design oracle: sequences -> (score, fitness)."""

    def __init__(self, model_dir: str | Path, *, output: int | None = None, goal: str = "maximize",
                 value: float | None = None, batch_size: int = 256, precision: str = "auto",
                 trust_remote_code: bool = False):
        cfg = checkpoint.check_model_dir(model_dir)  # one-line errors for a missing or damaged folder
        self.regression = cfg.get("problem_type") == "regression"
        self.multilabel = cfg.get("problem_type") == "multi_label_classification"
        self.runner = ModelRunner(model_dir, "regression" if self.regression else "classification",
                                  trust_remote_code=trust_remote_code, precision=precision)
        n = int(self.runner.model.config.num_labels)
        if output is None:
            if self.regression and n == 1:
                output = 0
            elif not self.regression and not self.multilabel and n == 2:
                output = 1
            else:
                raise PlantLLMError(f"{model_dir}: the model has {n} outputs; say which to design for with --output")
        if not 0 <= output < n:
            raise PlantLLMError(f"--output {output} is not an output of {model_dir} (it has {n}: 0..{n - 1})")
        if goal not in GOALS:
            raise PlantLLMError(f"--goal '{goal}' must be one of {', '.join(GOALS)}")
        if goal == "target":
            if value is None:
                raise PlantLLMError("--goal target needs --value (the score to reach)")
            if not self.regression and not 0 <= value <= 1:
                raise PlantLLMError(f"--value {value}: a classifier's score is a probability in [0, 1]")
        self.output, self.goal, self.value, self.batch_size = output, goal, value, batch_size
        self.window = PromoterWindow.of_model(model_dir)
        self.source = str(model_dir)
        self.forwards = 0

    @property
    def what(self) -> str:
        return f"value of output {self.output}" if self.regression else f"P(class {self.output})"

    def _logits(self, seqs: list[str]) -> torch.Tensor:
        out = torch.empty(0)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # equal lengths batch together (indels)
        parts, i = [], 0
        while i < len(order):
            j = i
            while j < len(order) and len(seqs[order[j]]) == len(seqs[order[i]]):
                j += 1
            parts.append(self.runner.batched_logits([seqs[k] for k in order[i:j]], self.batch_size))
            i = j
        if parts:
            out = torch.empty((len(seqs), parts[0].shape[1]), dtype=torch.float32)
            out[torch.as_tensor(order)] = torch.cat(parts)
        self.forwards += len(seqs)
        return out

    def predict(self, seqs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(score, fitness) per sequence; fitness is what the search maximizes."""
        if not seqs:
            return np.zeros(0), np.zeros(0)
        z = self._logits(seqs).double()
        c = self.output
        if self.regression:
            score = z[:, c]
            rank = score
        elif self.multilabel:
            score, rank = torch.sigmoid(z[:, c]), z[:, c]
        else:
            score = torch.softmax(z, -1)[:, c]
            others = torch.cat([z[:, :c], z[:, c + 1:]], 1)
            rank = z[:, c] - torch.logsumexp(others, 1)  # log-odds of the class
        score, rank = score.numpy(), rank.numpy()
        if self.goal == "maximize":
            return score, rank
        if self.goal == "minimize":
            return score, -rank
        return score, -np.abs(score - self.value)


@dataclass
class SearchParams:
    method: str = "greedy"
    width: int = 1  # beam width / annealing chains; the designs each start yields
    rounds: int = 10
    indels: bool = False
    t_start: float = 0.5
    t_end: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise PlantLLMError(f"--method '{self.method}' must be one of {', '.join(METHODS)}")
        if self.method == "greedy":
            self.width = 1
        if self.width < 1 or self.rounds < 0:
            raise PlantLLMError("--width must be >= 1 and --rounds >= 0")
        if self.method == "anneal" and not 0 < self.t_end <= self.t_start:
            raise PlantLLMError(f"--temperature {self.t_start}-{self.t_end}: need start >= end > 0")

    def temperature(self, r: int) -> float:
        """Geometric schedule over rounds 1..rounds."""
        if self.rounds <= 1:
            return self.t_end
        return float(self.t_start * (self.t_end / self.t_start) ** ((r - 1) / (self.rounds - 1)))


@dataclass
class Design:
    start: int  # index of its start sequence
    seq: str
    origin: np.ndarray = field(repr=False)  # per base: its position in the start sequence, -1 when inserted
    edits: int
    score: float
    fitness: float
    last: str = "-"  # the edit that made it ("A123G", "del45T", "ins46C"; 1-based in its parent)


def neighbours(d: Design, frozen: np.ndarray, indels: bool) -> list[tuple[str, str, int, str]]:
    """(sequence, op, position, base) of every single edit of ``d`` outside frozen bases."""
    s, o = d.seq, d.origin
    free = (o < 0) | ~frozen[np.clip(o, 0, None)]
    out = []
    for i in np.flatnonzero(free).tolist():
        for b in BASES:
            if b != s[i]:
                out.append((s[:i] + b + s[i + 1:], "sub", i, b))
    if indels:
        for i in np.flatnonzero(free).tolist():
            out.append((s[:i] + s[i + 1:], "del", i, s[i]))
        for i in range(len(s) + 1):
            left = o[i - 1] if i > 0 else -1
            right = o[i] if i < len(s) else -1
            if left >= 0 and right == left + 1 and frozen[left] and frozen[right]:
                continue  # never split a frozen block
            for b in BASES:
                out.append((s[:i] + b + s[i:], "ins", i, b))
    return out


def _child(parent: Design, op: str, i: int, b: str, seq: str, start: str, cons: Constraints, indels: bool
           ) -> Design:
    o = parent.origin
    if op == "sub":
        origin, last = o, f"{parent.seq[i]}{i + 1}{b}"
    elif op == "del":
        origin, last = np.delete(o, i), f"del{i + 1}{b}"
    else:
        origin, last = np.insert(o, i, -1), f"ins{i + 1}{b}"
    return Design(parent.start, seq, origin, cons.edits(seq, start, indels), 0.0, 0.0, last)


def _edit_bound(parent: Design, op: str, i: int, b: str, start: str) -> int:
    """The candidate's distance to the start: exact for substitutions without indels, else an upper bound."""
    if op == "sub" and parent.origin[i] == i and len(parent.seq) == len(start):
        was = parent.seq[i] != start[i]
        return parent.edits - int(was) + int(b != start[i])
    return parent.edits + 1


@dataclass
class RoundRow:
    round: int
    start: int
    slot: int
    design: Design
    best_fitness: float  # the best fitness this chain/beam has reached so far


@dataclass
class SearchResult:
    designs: list[list[Design]]  # per start, ranked best first
    rows: list[RoundRow]
    rounds_run: int
    candidates_scored: int
    seconds: float


def search(model: DesignModel, starts: list[str], cons: Constraints, params: SearchParams) -> SearchResult:
    """In-silico evolution of every start sequence (module doc). Starts must keep the constraints."""
    t0 = time.time()
    rng = np.random.default_rng(params.seed)
    frozen = [cons.frozen_mask(s) for s in starts]
    score, fit = model.predict(starts)
    beams = [[Design(k, s, np.arange(len(s), dtype=np.int64), 0, float(score[k]), float(fit[k]))
              for _ in range(params.width if params.method == "anneal" else 1)] for k, s in enumerate(starts)]
    best = [[d for d in b] for b in beams]  # annealing: the best design each chain has visited
    rows = [RoundRow(0, k, j, d, d.fitness) for k, b in enumerate(beams) for j, d in enumerate(b)]
    scored, rounds_run = 0, 0
    for r in con.track(range(1, params.rounds + 1), "designing", total=params.rounds, unit="rounds"):
        pool_seqs, meta = [], []  # meta: (start, chain or -1, parent, op, i, b, edit bound)
        for k, beam in enumerate(beams):
            seen = {d.seq for d in beam}
            for j, d in enumerate(beam):
                chain_seen = {d.seq} if params.method == "anneal" else seen
                for seq, op, i, b in neighbours(d, frozen[k], params.indels):
                    if seq in chain_seen:
                        continue
                    e = _edit_bound(d, op, i, b, starts[k])
                    if cons.max_edits is not None and e > cons.max_edits and params.indels:
                        e = cons.edits(seq, starts[k], True)
                    if not cons.ok(seq, starts[k], edits=e):
                        continue
                    chain_seen.add(seq)
                    pool_seqs.append(seq)
                    meta.append((k, j, d, op, i, b))
        score, fit = model.predict(pool_seqs)
        scored += len(pool_seqs)
        rounds_run = r
        by_start: dict[int, list[int]] = {}
        for n, m in enumerate(meta):
            by_start.setdefault(m[0], []).append(n)
        changed = False
        for k, beam in enumerate(beams):
            idx = by_start.get(k, [])
            if params.method == "anneal":
                new = []
                for j, d in enumerate(beam):
                    mine = [n for n in idx if meta[n][1] == j]
                    f = np.array([d.fitness] + [fit[n] for n in mine])
                    p = np.exp((f - f.max()) / params.temperature(r))
                    pick = int(rng.choice(len(f), p=p / p.sum()))
                    if pick == 0:
                        new.append(d)
                        continue
                    n = mine[pick - 1]
                    new.append(_scored(meta[n], pool_seqs[n], starts[k], cons, params, score[n], fit[n]))
                    if new[-1].fitness > best[k][j].fitness:
                        best[k][j] = new[-1]
                changed |= any(a is not b for a, b in zip(new, beam))
            else:
                f = np.array([d.fitness for d in beam] + [fit[n] for n in idx])
                order = np.argsort(-f, kind="stable")[:params.width]
                new = [beam[o] if o < len(beam) else
                       _scored(meta[idx[o - len(beam)]], pool_seqs[idx[o - len(beam)]], starts[k], cons, params,
                               score[idx[o - len(beam)]], fit[idx[o - len(beam)]]) for o in order.tolist()]
                changed |= [d.seq for d in new] != [d.seq for d in beam]
                best[k] = new
            beams[k] = new
            top = max(d.fitness for d in best[k])
            rows += [RoundRow(r, k, j, d, top) for j, d in enumerate(new)]
        if not changed and params.method != "anneal":
            con.info(f"round {r}: no candidate improves any design; stopping")
            break
    designs = [sorted(b, key=lambda d: -d.fitness) for b in best]
    return SearchResult(designs, rows, rounds_run, scored, time.time() - t0)


def _scored(meta: tuple, seq: str, start: str, cons: Constraints, params: SearchParams, score: float,
            fit: float) -> Design:
    _, _, parent, op, i, b = meta
    d = _child(parent, op, i, b, seq, start, cons, params.indels)
    d.score, d.fitness = float(score), float(fit)
    return d


def edit_effects(model: DesignModel, d: Design, start: str) -> list[dict]:
    """Each edit of a design and its effect: score(design) - score(design with that edit undone)."""
    o = d.origin
    edits, variants = [], []
    for i, (base, src) in enumerate(zip(d.seq, o.tolist())):
        if src < 0:
            edits.append({"pos": i, "ref": "-", "alt": base, "kind": "insertion"})
            variants.append(d.seq[:i] + d.seq[i + 1:])
        elif base != start[src]:
            edits.append({"pos": i, "ref": start[src], "alt": base, "kind": "substitution", "start_pos": src})
            variants.append(d.seq[:i] + start[src] + d.seq[i + 1:])
    kept = set(o[o >= 0].tolist())
    for src in range(len(start)):
        if src not in kept:
            at = int(np.searchsorted(o[o >= 0], src)) if (o >= 0).any() else 0
            edits.append({"pos": at, "ref": start[src], "alt": "-", "kind": "deletion", "start_pos": src})
            variants.append(None)
    todo = [v for v in variants if v is not None]
    sc, _ = model.predict(todo) if todo else (np.zeros(0), None)
    it = iter(sc.tolist())
    for e, v in zip(edits, variants):
        e["effect"] = d.score - next(it) if v is not None else float("nan")
    return edits


def search_summary(res: SearchResult, params: SearchParams) -> dict:
    return {"search": asdict(params), "rounds_run": res.rounds_run, "candidates_scored": res.candidates_scored,
            "seconds": round(res.seconds, 2),
            "sequences_per_s": round(res.candidates_scored / max(res.seconds, 1e-9), 1)}
