"""Per-base attribution: which bases a model's prediction rests on.

Three methods, all returning arrays over the sequence's bases (never over tokens, so
char, k-mer and BPE models compare directly):

* ``ism`` - in-silico saturation mutagenesis of a fine-tuned classifier or regressor with
  tangermeme's ``saturation_mutagenesis``: all 3 x L single-base substitutions, batched
  under ``torch.inference_mode``. A transformer gains nothing from tangermeme's fastISM
  path (attention sees every position), so 3 x L mutant forwards is the minimum; they
  go through the model in large batches with the vectorized encoder.
  Result: ``delta[n, i, b]`` = target(sequence with base ``b`` at ``i``) - target(reference),
  0 at the reference base.
* ``masked_ism`` - for an MLM (zero-shot): one masked pass per *token* gives every
  alternative of every base inside it: ``log P(mutated token) - log P(reference token)``
  at the mask (the variant LLR of GPN, for all 3 x L SNVs at once). A 6-mer model needs
  L / 6 passes instead of 3 x L.
* ``integrated_gradients`` - captum's ``LayerIntegratedGradients`` over the token
  embeddings (token ids are not differentiable), from an all-[MASK] (or [PAD]) baseline;
  a token's attribution is shared equally among the bases it covers.

The target of a classifier is its log-odds of class 1 (2 classes), or the logit of
``target`` (multi-label / multi-class), or the value (regression): logits, not
probabilities, so attributions do not saturate.

``attribution(delta, X)`` turns an ISM matrix into one contribution per base the way
tangermeme does: the alternatives' deltas are mean-centred over the alphabet and read
at the observed base (positive = the base supports the prediction).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from plantllm.core import console as con
from plantllm.models.runner import ModelRunner
from plantllm.core.errors import PlantLLMError
from plantllm.core.sequence import encode

ALPHABET = "ACGT"
_LUT = np.frombuffer(b"ACGTN", dtype=np.uint8)


def one_hot(seqs: list[str]) -> torch.Tensor:
    """(N, 4, L) float one-hot in ACGT order (tangermeme's layout); N and ambiguity codes are all-zero."""
    if len({len(s) for s in seqs}) > 1:
        raise PlantLLMError("attribution needs sequences of one length (use windows of a fixed size)")
    codes = np.stack([encode(s) for s in seqs])
    if (codes == 255).any():
        raise PlantLLMError("a sequence holds characters that are not IUPAC nucleotide codes")
    X = np.zeros((len(seqs), 4, codes.shape[1]), dtype=np.float32)
    for b in range(4):
        X[:, b] = codes == b
    return torch.from_numpy(X)


def decode(X: torch.Tensor) -> list[str]:
    idx = X.argmax(1).cpu().numpy()
    idx[X.sum(1).cpu().numpy() == 0] = 4
    return [_LUT[row].tobytes().decode() for row in idx]


def target_of(logits: torch.Tensor, model, target: int | None) -> torch.Tensor:
    """The scalar a prediction is attributed to: log-odds of class 1, or one logit, or the value."""
    n = logits.shape[-1]
    if target is not None:
        if not 0 <= target < n:
            raise PlantLLMError(f"target {target} is not an output of this model (it has {n})")
        return logits[:, target]
    if n == 1:
        return logits[:, 0]
    if n == 2 and getattr(model.config, "problem_type", None) != "multi_label_classification":
        return logits[:, 1] - logits[:, 0]
    raise PlantLLMError(f"the model has {n} outputs: say which to explain with --target")


class Explained:
    """A fine-tuned classifier or regressor from a local folder, on the device, in eval mode."""

    def __init__(self, model_dir: str | Path, *, target: int | None = None, trust_remote_code: bool = False):
        self.runner = ModelRunner(model_dir, "classification", trust_remote_code=trust_remote_code)
        self.model, self.tok = self.runner.model, self.runner.tok
        self.target = target

    def __call__(self, seqs: list[str]) -> torch.Tensor:
        logits = self.runner.outputs(self.runner.encode(seqs)).logits.float()
        return target_of(logits, self.model, self.target)


class OneHotModel(torch.nn.Module):
    """one-hot (N, 4, L) -> (N, 1) target, the interface tangermeme expects of a model.

    Tokenization happens inside ``forward``: DNA language models read token ids, not one-hot.
    tangermeme's edits include the reference base at every position (4 x L sequences); copies of
    ``reference`` are answered from one cached forward, so the model runs 3 x L + 1 times."""

    def __init__(self, explained: Explained):
        super().__init__()
        self.explained = explained
        self.reference: str | None = None
        self._cached: torch.Tensor | None = None

    def set_reference(self, seq: str | None) -> None:
        self.reference, self._cached = seq, None

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        seqs = decode(X)
        same = torch.tensor([s == self.reference for s in seqs], dtype=torch.bool)
        if not same.any():
            return self.explained(seqs).unsqueeze(1).float().cpu()
        if self._cached is None:
            self._cached = self.explained([self.reference]).float().cpu()[0]
        out = torch.empty(len(seqs), dtype=torch.float32)
        out[same] = self._cached
        rest = [s for s, k in zip(seqs, same.tolist()) if not k]
        if rest:
            out[~same] = self.explained(rest).float().cpu()
        return out.unsqueeze(1)


def ism(explained: Explained, seqs: list[str], *, batch_size: int = 256, label: str = "ISM"
        ) -> tuple[np.ndarray, np.ndarray]:
    """(reference targets (N,), delta (N, L, 4)) by saturation mutagenesis with tangermeme."""
    from tangermeme.saturation_mutagenesis import saturation_mutagenesis

    X = one_hot(seqs)
    wrapped = OneHotModel(explained).eval()
    y0s, deltas = [], []
    with torch.inference_mode():
        for i in con.track(range(len(seqs)), label, total=len(seqs), unit="sequences"):
            # one sequence per call keeps memory flat; its 4 x L edits fill the batches
            wrapped.set_reference(decode(X[i:i + 1])[0])
            r = saturation_mutagenesis(wrapped, X[i:i + 1], batch_size=batch_size, raw_outputs=True, fast=False,
                                       device="cpu")
            y0 = r.y0[0, 0].item()
            d = (r.y_hat[0, :, :, 0] - y0).numpy().T  # (L, 4)
            d[X[i].numpy().T.astype(bool)] = 0.0
            y0s.append(y0)
            deltas.append(d)
    return np.array(y0s), np.stack(deltas).astype(np.float32)


def attribution(delta: np.ndarray, X: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, L) contribution of the observed base: ISM deltas mean-centred over ACGT, read at the
    reference base (tangermeme's convention): positive = the base supports the prediction."""
    X = np.asarray(X)
    return (-np.nanmean(delta, -1) * (X.sum(1) > 0)).astype(np.float32)


def masked_ism(runner: ModelRunner, seq: str, *, batch_size: int = 64) -> np.ndarray:
    """(L, 4) zero-shot log-likelihood ratios of every SNV of ``seq`` from a masked LM, one masked
    pass per token. NaN where a mutated token is not in the vocabulary (BPE merges)."""
    tok = runner.tok
    if tok.mask_token_id is None:
        raise PlantLLMError("the tokenizer has no mask token: masked ISM needs a masked language model")
    enc = runner.encode([seq], offsets=True)
    ids, offs = enc["input_ids"][0], enc["offset_mapping"][0].tolist()
    special = enc["special_tokens_mask"][0].bool().tolist()
    vocab = tok.get_vocab()
    inv = {i: t for t, i in vocab.items()}
    case_upper = (getattr(tok, "plantllm", {}) or {}).get("case", "upper") == "upper"
    positions = [j for j in range(len(ids)) if not special[j] and offs[j][1] > offs[j][0]]
    out = np.full((len(seq), 4), np.nan, dtype=np.float32)
    for k in range(0, len(positions), batch_size):
        chunk = positions[k:k + batch_size]
        batch = ids.repeat(len(chunk), 1)
        batch[torch.arange(len(chunk)), torch.as_tensor(chunk)] = tok.mask_token_id
        logp = runner.masked_log_probs(batch, enc["attention_mask"].repeat(len(chunk), 1), chunk)
        for r, j in enumerate(chunk):
            a, b = offs[j]
            ref_tok = inv[int(ids[j])]
            ref_lp = logp[r, int(ids[j])]
            for i in range(a, b):
                within = i - a
                for c, base in enumerate(ALPHABET):
                    if base == seq[i].upper():
                        out[i, c] = 0.0
                        continue
                    alt = ref_tok[:within] + (base if case_upper else base.lower()) + ref_tok[within + 1:]
                    alt_id = vocab.get(alt)
                    if alt_id is not None and len(alt) == len(ref_tok):
                        out[i, c] = float(logp[r, alt_id] - ref_lp)
    return out


def integrated_gradients(explained: Explained, seqs: list[str], *, steps: int = 32, batch_size: int = 8
                         ) -> np.ndarray:
    """(N, L) per-base attribution by integrated gradients over the token embeddings (captum)."""
    from captum.attr import LayerIntegratedGradients

    model, tok, runner = explained.model, explained.tok, explained.runner
    L = len(seqs[0])

    def forward(ids, mask):
        return target_of(model(input_ids=ids, attention_mask=mask).logits.float(), model, explained.target)

    lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
    blank = tok.mask_token_id if tok.mask_token_id is not None else tok.pad_token_id
    out = np.zeros((len(seqs), L), dtype=np.float32)
    for k in range(0, len(seqs), batch_size):
        chunk = seqs[k:k + batch_size]
        enc = runner.encode(chunk, offsets=True)
        ids, mask = enc["input_ids"].to(runner.device), enc["attention_mask"].to(runner.device)
        special = enc["special_tokens_mask"].bool().to(runner.device)
        base = torch.where(special | (mask == 0), ids, torch.full_like(ids, blank))
        attr = lig.attribute(ids, baselines=base, additional_forward_args=(mask,), n_steps=steps,
                             internal_batch_size=max(steps, 8))
        tok_attr = attr.sum(-1).detach().float().cpu().numpy()
        for r in range(len(chunk)):
            for j, (a, b) in base_spans(tok, enc["offset_mapping"][r].tolist(), special[r].tolist()):
                out[k + r, a:min(b, L)] += tok_attr[r, j] / (b - a)
    return out


def base_spans(tok, offsets: list, special: list) -> list[tuple[int, tuple[int, int]]]:
    """[(token index, (first base, end base))] of the non-special tokens. Overlapping k-mer input
    is pre-split text ("ACGTAC CGTACG ..."), whose offsets are not base positions: the j-th k-mer
    covers bases j..j+k."""
    meta = getattr(tok, "plantllm", {}) or {}
    body = [j for j, (a, b) in enumerate(offsets) if b > a and not special[j]]
    if meta.get("kind") == "kmer_overlap":
        k = int(meta["k"])
        return [(j, (n, n + k)) for n, j in enumerate(body)]
    return [(j, tuple(offsets[j])) for j in body]


# ---------------------------------------------------------------- one sequence: the TSV and the plot
def write_matrix(seq: str, delta: np.ndarray, path: Path, *, chrom: str | None = None, start: int = 0,
                 strand: str = "+") -> Path:
    """The full mutagenesis matrix as TSV: position (1-based, genome coordinates when known), reference
    base, the score change for A, C, G, T, and the per-base attribution."""
    from plantllm.core.io import atomic_write

    attr = attribution(delta[None], one_hot([seq]).numpy())[0]
    with atomic_write(path) as fh:
        fh.write("chrom\tpos\tstrand\tref\tA\tC\tG\tT\tattribution\n")
        for i, base in enumerate(seq):
            pos = start + i + 1 if strand == "+" else start + len(seq) - i
            vals = "\t".join("nan" if np.isnan(v) else f"{v:.5g}" for v in delta[i])
            fh.write(f"{chrom or '.'}\t{pos}\t{strand}\t{base}\t{vals}\t{attr[i]:.5g}\n")
    return path


def plot_mutagenesis(seq: str, delta: np.ndarray, path: Path, title: str) -> Path:
    """Heatmap of the ISM matrix (alternatives x positions) over a logo of the per-base attribution."""
    import logomaker
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from plantllm.core.io import atomic_path

    X = one_hot([seq]).numpy()[0].T  # (L, 4)
    attr = attribution(delta[None], X.T[None])[0]
    L = len(seq)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(8, min(40, L / 12)), 4.2), sharex=True,
                                   gridspec_kw={"height_ratios": [1.2, 1]})
    logomaker.Logo(pd.DataFrame(X * attr[:, None], columns=list(ALPHABET)), ax=ax1, color_scheme="classic")
    ax1.set_ylabel("attribution")
    ax1.set_title(title, fontsize=9)
    lim = float(np.nanmax(np.abs(delta))) or 1.0
    im = ax2.imshow(np.nan_to_num(delta.T), aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                    extent=(-0.5, L - 0.5, 3.5, -0.5), interpolation="nearest")
    ax2.set_yticks(range(4), list(ALPHABET))
    ax2.set_xlabel("position in the sequence")
    fig.colorbar(im, ax=[ax1, ax2], shrink=0.6, label="score change")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def run_mutagenesis(model_dir: str | Path, seq: str, out: str | Path, *, method: str = "ism",
                    target: int | None = None, chrom: str | None = None, start: int = 0, strand: str = "+",
                    trust_remote_code: bool = False) -> dict:
    """``plantllm mutagenesis``: the full ISM matrix of one sequence as TSV + plot + summary JSON.

    ``ism`` explains a fine-tuned classifier/regressor; ``masked`` scores every SNV zero-shot with a
    masked LM (one masked pass per token)."""
    import json
    import time

    from plantllm.core.io import atomic_write

    if method not in ("ism", "masked"):
        raise PlantLLMError(f"method '{method}' must be 'ism' (fine-tuned model) or 'masked' (masked LM)")
    if not seq:
        raise PlantLLMError("the sequence is empty")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t = time.time()
    if method == "ism":
        explained = Explained(model_dir, target=target, trust_remote_code=trust_remote_code)
        y0, delta = ism(explained, [seq], label="mutagenesis")
        ref, delta, what = float(y0[0]), delta[0], "score change (model target, log-odds)"
        passes = 3 * len(seq) + 1
    else:
        runner = ModelRunner(model_dir, "mlm", trust_remote_code=trust_remote_code)
        delta = masked_ism(runner, seq)
        ref, what = None, "log P(alt) - log P(ref) at the masked token"
        passes = int(runner.encode([seq], offsets=True)["input_ids"].shape[1])
    seconds = time.time() - t
    where = f"{chrom}:{start + 1}-{start + len(seq)}({strand})" if chrom else f"{len(seq)} bp sequence"
    write_matrix(seq, delta, out / "mutagenesis.tsv", chrom=chrom, start=start, strand=strand)
    plot_mutagenesis(seq, delta, out / "mutagenesis.png", f"{where}: {what}")
    worst = np.unravel_index(np.nanargmin(delta), delta.shape)
    summary = {"model": str(model_dir), "method": method, "region": where, "length": len(seq),
               "reference_score": ref, "forward_passes": passes, "seconds": round(seconds, 2),
               "most_damaging": {"position": int(worst[0]) + 1, "ref": seq[worst[0]], "alt": ALPHABET[worst[1]],
                                 "delta": float(delta[worst])}}
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=2)
    return summary
