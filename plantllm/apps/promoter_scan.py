"""Promoter prediction: genome-wide scans, called regions, evaluation against the annotation.

A scan slides the promoter window (-upstream..+downstream around a candidate TSS) along
each region with a stride and scores both strands of every window in one forward pass
(the forward windows and their reverse complements share a batch). A score belongs to
the candidate TSS it was trained around: ``start + upstream`` on '+', ``end - 1 - upstream``
on '-'. Outputs, in the FASTA's own chromosome names so they load next to it in a browser:

* score per stride bin and strand as bigWig (bedGraph on request): ``plantllm.apps.scan_tracks``;
* ``promoters.bed``: bins above the threshold (or the top-k), merged per strand with
  bedtools, score = 1000 x the best probability, sorted, with a track line;
* ``candidates.tsv`` for a FASTA of candidate sequences.

Scorers are interchangeable (``ModelScorer``, ``KmerScorer``, ``PwmScorer``) so the
baselines scan exactly the windows the model scans. Evaluation against the annotation and
the baselines: ``plantllm.apps.promoter_eval``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np
import pybedtools

from plantllm.core import console as con
from plantllm.core import sequence as sq
from plantllm.core.errors import InputFileError
from plantllm.core.io import atomic_write, require_file
from plantllm.core.sequence import reverse_complement
from plantllm.data import jaspar
from plantllm.data.promoter_window import PromoterWindow
from plantllm.data.windows import count, tile
from plantllm.models.baselines import KmerLogistic
from plantllm.models.runner import ModelRunner
from plantllm.species.assembly import Assembly


class Scorer(Protocol):
    name: str

    def score(self, seqs: list[str]) -> np.ndarray: ...


class ModelScorer:
    """P(promoter) from a fine-tuned sequence classifier, through the model runner."""

    def __init__(self, model_dir: str | Path, *, max_length: int | None = None, trust_remote_code: bool = False,
                 precision: str = "auto"):
        self.name = "model"
        self.runner = ModelRunner(model_dir, "classification", max_length=max_length,
                                  trust_remote_code=trust_remote_code, precision=precision)
        self.device = self.runner.device

    @property
    def one_pass(self) -> bool:
        """An RC-equivariant classifier (an RCPS Caduceus pools both strands alike) gives a window and its
        reverse complement the same score: one forward serves both strands."""
        return self.runner.rc_equivariant

    def encode(self, seqs: list[str]):
        return self.runner.encode(seqs)

    def forward(self, enc) -> np.ndarray:
        return self.runner.probability(enc)

    def score(self, seqs: list[str]) -> np.ndarray:
        return self.forward(self.encode(seqs))


class KmerScorer(KmerLogistic):
    """The k-mer logistic-regression baseline (``baselines.KmerLogistic``), fitted on a promoter
    dataset's train split; forward strand only, as the scan scores each strand separately."""


class PwmScorer:
    """Core-promoter PWM baseline: the best log-odds score of a TATA-box matrix in the window's core
    (-50..+10 around the TSS offset), both strands. JASPAR's TBP matrix (``jaspar.TBP``) is used because
    the TATA-box is shared by all eukaryotes and JASPAR Plantae has no TBP matrix of its own; other
    matrices (e.g. plant Inr / Y-patch) combine through a logistic regression fitted on the train split.
    """

    def __init__(self, matrices: tuple[str, ...] = (jaspar.TBP,), upstream: int = 249, train=None):
        motifs = jaspar.fetch(matrices)
        self.name = "PWM " + "+".join(f"{m.matrix_id} {m.name}" for m in motifs)
        self.pssms = jaspar.pssms(motifs)
        self.core = (max(0, upstream - 50), upstream + 10)
        self.lr = None
        if train is not None and len(self.pssms) > 1:
            from sklearn.linear_model import LogisticRegression

            self.lr = LogisticRegression(max_iter=1000).fit(self._features(train[0]), np.asarray(train[1]))

    def _features(self, seqs: list[str]) -> np.ndarray:
        a, b = self.core
        return np.array([jaspar.best_scores(self.pssms, s[a:b]) for s in seqs], dtype=np.float64).clip(-50, None)

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
    def promoter(self) -> PromoterWindow:
        return PromoterWindow(self.upstream, self.downstream)

    @property
    def window(self) -> int:
        return self.promoter.length

    @classmethod
    def for_model(cls, model_dir: str | Path, **kw) -> "ScanParams":
        """Scan parameters with the promoter window the model was fine-tuned on (default -249..+50)."""
        w = PromoterWindow.of_model(model_dir) or PromoterWindow()
        return cls(w.upstream, w.downstream, **kw)


def iter_windows(asm: Assembly, regions: list[tuple[str, int, int]], p: ScanParams,
                 chunk: int = 1_000_000) -> Iterator[tuple[str, int, str]]:
    """(chrom, window start, forward sequence) lazily over regions, read in bounded blocks."""
    W = p.window
    for chrom, rs, re_ in regions:
        for a, seq, kept in tile(asm.genome, chrom, rs, re_, W, p.stride, max_n_fraction=p.max_n_fraction,
                                 batch=max(1, chunk // p.stride)):
            for ws in kept:
                yield chrom, ws, seq[ws - a:ws - a + W]


def _batches(asm: Assembly, regions, p: ScanParams, total: int, label: str):
    batch: list[tuple[str, int, str]] = []
    for item in con.track(iter_windows(asm, regions, p), label, total=total, unit="windows"):
        batch.append(item)
        if len(batch) >= p.batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _code_batches(asm: Assembly, regions, p: ScanParams, lut: np.ndarray, chunk: int = 1_000_000):
    """Batches of ``p.batch_size`` kept windows as arrays, in the order of ``iter_windows``: (chromosome
    per window, start per window, (n, W) base codes, the window strings on demand). One genome read, one
    N count (cumulative sums) and one sliding view per block of windows: no per-window Python."""
    from numpy.lib.stride_tricks import sliding_window_view

    W, per = p.window, max(1, chunk // p.stride)
    parts: list[tuple] = []  # (chrom, starts, codes, block seq, block start) pieces of the next batch
    have = 0

    def cut():
        nonlocal parts, have
        chroms = np.concatenate([np.full(len(st), c, dtype=object) for c, st, *_ in parts])
        starts = np.concatenate([st for _, st, *_ in parts])
        codes = np.concatenate([cd for _, _, cd, _, _ in parts])
        pieces = parts

        def strings() -> list[str]:
            return [seq[ws - a:ws - a + W] for _, st, _, seq, a in pieces for ws in st.tolist()]

        parts, have = [], 0
        return chroms, starts, codes, strings

    for chrom, rs, re_ in regions:
        grid = range(rs, re_ - W + 1, p.stride)
        for b in range(0, len(grid), per):
            block = grid[b:b + per]
            a, z = block[0], block[-1] + W
            seq = asm.genome.fetch(chrom, a, z)
            off = np.arange(len(block), dtype=np.int64) * p.stride
            n_count = np.concatenate([[0], np.cumsum(sq.encode(seq) == 4)])
            off = off[(n_count[off + W] - n_count[off]) / W <= p.max_n_fraction]  # as tile(): mean of N <= max
            codes = sliding_window_view(lut[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)], W)
            i = 0
            while i < len(off):
                take = off[i:i + p.batch_size - have]
                parts.append((chrom, take + a, codes[take], seq, a))
                have += len(take)
                i += len(take)
                if have >= p.batch_size:
                    yield cut()
    if have:
        yield cut()


def _scan_codes(asm: Assembly, scorer: "ModelScorer", regions, p: ScanParams, total: int) -> dict[str, np.ndarray]:
    """``scan`` for a model with plantllm's vectorized encoder: windows stay base codes from the genome read to
    the token ids (reverse complement ``3 - codes[::-1]``), the next batch prepared in a background thread while
    the current one runs through the model; windows holding N or IUPAC codes go through the strings."""
    from concurrent.futures import ThreadPoolExecutor

    fast, win, one = scorer.runner.fast, p.promoter, scorer.one_pass
    scorer.encode([asm.genome.fetch(*regions[0][:2], regions[0][1] + p.window)])  # too long for the model: the error
    out: dict[str, list] = {"chrom": [], "tss": [], "strand": [], "score": []}

    def prepare(batch):
        chroms, starts, codes, strings = batch
        enc = fast.from_codes(codes if one else np.concatenate([codes, 3 - codes[:, ::-1]]), scorer.runner.max_length)
        if enc is None:
            fwd = strings()
            enc = scorer.encode(fwd if one else fwd + [reverse_complement(x) for x in fwd])
        return chroms, starts, enc

    batches = _code_batches(asm, regions, p, fast.lut)
    with con.Tracker(f"scanning with {scorer.name}", total=total, unit="windows") as bar, \
            ThreadPoolExecutor(max_workers=1) as pool:
        nxt = pool.submit(lambda: next((prepare(b) for b in batches), None))
        while (ready := nxt.result()) is not None:
            nxt = pool.submit(lambda: next((prepare(b) for b in batches), None))
            chroms, starts, enc = ready
            sc, n = scorer.forward(enc), len(starts)
            out["chrom"].append(np.repeat(chroms, 2))
            out["tss"].append(np.stack([starts + win.upstream, starts + win.length - 1 - win.upstream], 1).ravel())
            out["strand"].append(np.tile(np.array(["+", "-"], dtype=object), n))
            out["score"].append(np.stack([sc[:n], sc[:n] if one else sc[n:]], 1).ravel().astype(np.float32))
            bar.advance(n)
    types = {"chrom": object, "tss": np.int64, "strand": object, "score": np.float32}
    return {k: np.concatenate(v) if v else np.empty(0, dtype=types[k]) for k, v in out.items()}


def scan(asm: Assembly, scorer: Scorer, regions: list[tuple[str, int, int]], p: ScanParams
         ) -> dict[str, np.ndarray]:
    """Score both strands of every window; returns arrays chrom, tss, strand, score (one row per strand).

    For a model, the next batch is read, reverse-complemented and tokenized in a background thread
    while the current batch runs through the model (tokenizers and torch both release the GIL), so
    the scan runs at the speed of the forward pass; with plantllm's own tokenizers the windows never
    become strings (``_scan_codes``).
    """
    from concurrent.futures import ThreadPoolExecutor

    total = sum(count(s, e, p.window, p.stride) for _, s, e in regions)
    if regions and isinstance(scorer, ModelScorer) and scorer.runner.fast is not None:
        return _scan_codes(asm, scorer, regions, p, total)
    win = p.promoter
    chroms, tss, strands, scores = [], [], [], []

    one = getattr(scorer, "one_pass", False)

    def prepare(batch):
        fwd = [b[2] for b in batch]
        seqs = fwd if one else fwd + [reverse_complement(s) for s in fwd]  # both strands in one pass
        return batch, (scorer.encode(seqs) if hasattr(scorer, "encode") else seqs)

    def consume(batch, prepared):
        sc = scorer.forward(prepared) if hasattr(scorer, "encode") else scorer.score(prepared)
        n = 0 if one else len(batch)
        for i, (c, ws, _) in enumerate(batch):
            chroms.extend((c, c))
            tss.extend((win.tss_of(ws, "+"), win.tss_of(ws, "-")))
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
def call_regions(asm: Assembly, res: dict, p: ScanParams, *, threshold: float | None = 0.5,
                 top_k: int | None = None) -> pybedtools.BedTool:
    """Bins above ``threshold`` (or the ``top_k`` best) merged per strand with bedtools; BED6 in canonical names."""
    idx = np.arange(len(res["score"]))
    if top_k:
        idx = idx[np.argsort(-res["score"], kind="stable")[:top_k]]  # ties: the first in scan order
    elif threshold is not None:
        idx = idx[res["score"] >= threshold]
    lines = "".join(bin_lines(asm, res, idx, p))
    return merge_bins(pybedtools.BedTool(lines, from_string=True)) if lines else pybedtools.BedTool([])


def bin_lines(asm: Assembly, res: dict, idx, p: ScanParams) -> Iterator[str]:
    """BED6 lines of the stride bins of rows ``idx`` of a scan (canonical names, score with 6 decimals)."""
    half = p.stride // 2
    for i in idx:
        c, t = res["chrom"][i], int(res["tss"][i])
        a, b = max(0, t - half), min(asm.genome.length(c), t - half + p.stride)
        yield f"{c}\t{a}\t{b}\tpromoter\t{float(res['score'][i]):.6f}\t{res['strand'][i]}\n"


def merge_bins(bins: pybedtools.BedTool) -> pybedtools.BedTool:
    """Called bins sorted and merged per strand (overlapping or touching), score = the best, by bedtools."""
    return bins.sort().merge(s=True, c="5,6", o="max,distinct")


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
