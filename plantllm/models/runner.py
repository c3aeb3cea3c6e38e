"""The one model runner: tokenize, batch, device and dtype, forward.

Promoter scans, variant scoring, attribution (ISM, masked ISM, integrated gradients) and
embeddings all run their models through a ``ModelRunner``, so a model is loaded, placed
and called one way everywhere: on the GPU in bf16 (fp16 where bf16 is missing) when one
is present, on the CPU in fp32 otherwise; plantllm's own char/k-mer tokenizers through the
vectorized encoder, every other tokenizer through Hugging Face; Mamba without an
attention mask (it takes none). A sequence longer than the model's context (its position
embeddings, or the tokenizer's ``model_max_length``) is an error naming both lengths, never
cut silently and never left to fail inside torch; a classifier is loaded only with a trained
head (``checkpoint.load(require_head=True)``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from plantllm.core.errors import PlantLLMError
from plantllm.models import checkpoint, masked_logits
from plantllm.models import tokenizers

POOLINGS = ("mean", "cls")


PRECISIONS = ("auto", "exact", "fast")


def device_and_dtype(precision: str = "auto") -> tuple[torch.device, torch.dtype]:
    """The device and the dtype a model runs in for inference here.

    ``exact``: fp32 everywhere (scores reproducible to ~1e-6 across machines); ``fast``: bf16 on a GPU
    (fp16 where bf16 is missing) and on a CPU with AVX512-BF16 or AMX (fp32 on other CPUs, where bf16
    would be emulated and slower); ``auto``: fast on a GPU, exact on a CPU.
    """
    if precision not in PRECISIONS:
        raise PlantLLMError(f"precision '{precision}' must be one of {', '.join(PRECISIONS)}")
    if torch.cuda.is_available():
        if precision == "exact":
            return torch.device("cuda"), torch.float32
        return torch.device("cuda"), torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    cpu_bf16 = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return torch.device("cpu"), torch.bfloat16 if precision == "fast" and cpu_bf16 else torch.float32


def model_context(model, tok) -> int | None:
    """The most tokens ``model`` takes in one sequence (specials included), None when unbounded: the
    tokenizer's ``model_max_length`` and the model's position table (GPT-2 ``n_positions``; ESM's
    absolute positions start after the padding index; rotary ESM, Mamba and GPN's convolutional
    models have no table)."""
    cfg = model.config
    limits = []
    t = getattr(tok, "model_max_length", None)
    if isinstance(t, int) and 0 < t < 10**8:  # transformers' "no limit" is a huge sentinel
        limits.append(t)
    mtype = getattr(cfg, "model_type", "")
    if mtype == "gpt2":
        limits.append(getattr(cfg, "n_positions", None))
    elif mtype == "esm":
        if getattr(cfg, "position_embedding_type", "absolute") == "absolute":
            n = getattr(cfg, "max_position_embeddings", None)
            limits.append(n - (cfg.pad_token_id or 0) - 1 if n else None)
    elif mtype != "mamba" and not convolutional(cfg):
        limits.append(getattr(cfg, "max_position_embeddings", None))
    limits = [x for x in limits if isinstance(x, int) and x > 0]
    return min(limits) if limits else None


def convolutional(cfg) -> bool:
    """GPN's convolutional models (legacy ConvNet; GPN with a convnet or bytenet encoder): any length fits,
    their config's max_position_embeddings (a RoFormer default) is unused."""
    mtype = getattr(cfg, "model_type", "")
    return mtype == "ConvNet" or (mtype == "GPN" and getattr(cfg, "encoder", "") != "roformer")


def one_forward_both_strands(config, tok) -> bool:
    """Whether one forward of this model serves both strands (see ``ModelRunner.rc_equivariant``); from the
    config and the tokenizer alone, so a merge step can report it without loading the weights."""
    if not getattr(config, "is_rc_equivariant", False) or getattr(config, "complement_ids", None) is None:
        return False
    probe = "ACGTTGCAAAGCT"
    comp = torch.tensor(config.complement_ids())
    ids, rc = (torch.tensor(tok(tokenizers.prepare(tok, s))["input_ids"])
               for s in (probe, probe[::-1].translate(str.maketrans("ACGT", "TGCA"))))
    return len(ids) == len(rc) and bool((comp[ids.flip(0)] == rc).all())


def forwards_per_site(model_dir: str | Path) -> int:
    """Masked forwards ``variants score --method llr`` runs per site with this model folder: 1 for an
    RC-equivariant model with a strand-symmetric tokenizer, else 2 (forward and reverse complement)."""
    from transformers import AutoConfig

    return 1 if one_forward_both_strands(AutoConfig.from_pretrained(str(model_dir)), tokenizers.load(model_dir)) else 2


class ModelRunner:
    """A model and its tokenizer, placed on the device in eval mode.

    Parameters
    ----------
    model_dir : path
        A local Hugging Face folder (plantllm's or a published checkpoint).
    task : str
        The head to load: ``classification``, ``mlm``, ``clm`` or ``embedding`` (see ``checkpoint.load``).
    max_length : int, optional
        Truncate token sequences to this length (default: none; a sequence longer than the model's
        context is an error, see ``model_context``).
    precision : str
        ``exact``, ``fast`` or ``auto`` (see ``device_and_dtype``).
    """

    def __init__(self, model_dir: str | Path, task: str, *, max_length: int | None = None,
                 trust_remote_code: bool = False, precision: str = "auto"):
        model, tok = checkpoint.load(model_dir, task=task, trust_remote_code=trust_remote_code,
                                     require_head=task in checkpoint.HEAD_TASKS)
        self._setup(model, tok, max_length, precision)
        self.source = Path(model_dir)

    @classmethod
    def from_model(cls, model, tok, *, max_length: int | None = None, precision: str = "auto") -> "ModelRunner":
        """A runner over an already loaded model (tests, training callbacks)."""
        runner = cls.__new__(cls)
        runner._setup(model, tok, max_length, precision)
        return runner

    def _setup(self, model, tok, max_length: int | None, precision: str = "auto") -> None:
        self.model, self.tok = model, tok
        self.device, self.dtype = device_and_dtype(precision)
        self.model.to(self.device, dtype=self.dtype).eval()
        self.max_length = max_length
        self.context = model_context(model, tok)
        self.source = None
        self._rc: bool | None = None
        self.takes_mask = model.config.model_type != "mamba"
        self._first_token = masked_logits.supports_classifier(model)
        try:
            self.fast = tokenizers.FastDnaEncoder(tok)
        except PlantLLMError:
            self.fast = None  # published tokenizers (BPE, others): the HF tokenizer itself

    @property
    def rc_equivariant(self) -> bool:
        """True when one forward scores both strands: the model is reverse-complement equivariant
        (``config.is_rc_equivariant``, e.g. an RCPS Caduceus) and its tokenizer turns the reverse complement
        of a sequence into the reversed, complemented token ids (no [CLS]/[SEP] that would land on the
        wrong end). The reverse strand's scores are then the forward strand's, flipped and complemented,
        so a strand average needs no second forward."""
        if self._rc is None:
            self._rc = one_forward_both_strands(self.model.config, self.tok)
        return self._rc

    # ------------------------------------------------------------ tokens
    def encode(self, seqs: list[str], *, offsets: bool = False) -> dict[str, torch.Tensor]:
        """Token ids and attention mask (CPU tensors, padded). ``offsets``: also the base span of each
        token (``offset_mapping``) and ``special_tokens_mask``, from the Hugging Face tokenizer."""
        if self.fast is not None and not offsets:
            return self._fits(dict(self.fast(seqs, self.max_length)), seqs)
        texts = [tokenizers.prepare(self.tok, s) for s in seqs]
        enc = self.tok(texts, padding=True, truncation=self.max_length is not None, max_length=self.max_length,
                       return_tensors="pt", return_offsets_mapping=offsets, return_special_tokens_mask=offsets)
        return self._fits(dict(enc), seqs)

    def _fits(self, enc: dict, seqs: list[str]) -> dict:
        """``enc`` unchanged when every sequence fits the model's context, else one clear error."""
        ids = enc.get("input_ids")
        if self.context is None or ids is None or ids.ndim != 2 or ids.shape[1] <= self.context:
            return enc
        lengths = enc["attention_mask"].sum(1) if "attention_mask" in enc else torch.full((len(ids),), ids.shape[1])
        i = int(lengths.argmax())
        n, bp = int(lengths[i]), len(seqs[i])
        fit = max(1, int(bp * (self.context - 2) / max(n - 2, 1)))
        where = f"the model {self.source}" if self.source else "the model"
        raise PlantLLMError(f"a sequence of {bp:,} bp is {n:,} tokens but {where} takes at most {self.context:,} "
                            f"(its max_position_embeddings / the tokenizer's model_max_length)",
                            fix=f"use a shorter --window or shorter sequences (at most about {fit:,} bp for this model)")

    def encode_at(self, seqs: list[str], bases: list[int]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Token ids of ``seqs`` and the index of the token that holds base ``bases[i]`` of each: computed for
        plantllm's char/k-mer tokenizers on plain A/C/G/T windows, read from the tokenizer's offsets otherwise."""
        pos = self.fast.token_of(seqs, bases) if self.fast is not None else None
        if pos is not None:
            return self.encode(seqs), torch.from_numpy(pos)
        enc = self.encode(seqs, offsets=True)
        offs, c = enc["offset_mapping"], torch.tensor(bases).unsqueeze(1)
        covers = (offs[:, :, 0] <= c) & (offs[:, :, 1] > c)
        if not covers.any(1).all():
            raise PlantLLMError("a base is not covered by any token (a window too long for the model?)")
        return enc, covers.int().argmax(1)

    def _inputs(self, enc: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        keep = ("input_ids", "attention_mask") if self.takes_mask else ("input_ids",)
        return {k: v.to(self.device) for k, v in enc.items() if k in keep}

    # ------------------------------------------------------------ forward
    def outputs(self, enc: dict[str, torch.Tensor], **kw):
        """The model's raw outputs on the device, with gradients (integrated gradients need them)."""
        return self.model(**self._inputs(enc), **kw)

    @torch.inference_mode()
    def logits(self, enc: dict[str, torch.Tensor]) -> torch.Tensor:
        """float32 logits on the CPU: (N, classes) for a classifier, (N, tokens, vocab) for an LM. A BERT
        classifier runs its last layer at [CLS] only, the one token its pooler reads (``masked_logits``)."""
        if self._first_token:
            x = self._inputs(enc)
            return masked_logits.classifier_logits(self.model, x["input_ids"], x.get("attention_mask")).float().cpu()
        return self.model(**self._inputs(enc)).logits.float().cpu()

    def batched_logits(self, seqs: list[str], batch_size: int = 64) -> torch.Tensor:
        """Logits of many sequences of equal token length, ``batch_size`` at a time."""
        parts = [self.logits(self.encode(seqs[i:i + batch_size])) for i in range(0, len(seqs), batch_size)]
        return torch.cat(parts) if parts else torch.empty(0)

    def probability(self, enc: dict[str, torch.Tensor]) -> np.ndarray:
        """P(class 1) of a binary classifier (softmax over its two logits)."""
        return torch.softmax(self.logits(enc), -1)[:, 1].numpy()

    def logits_at(self, enc: dict[str, torch.Tensor], rows, cols) -> torch.Tensor:
        """float32 (len(rows), vocab) logits of token ``cols[i]`` of sequence ``rows[i]`` of a masked LM: for
        BERT the last layer runs at those tokens only (``masked_logits``), otherwise the full logits, indexed."""
        rows, cols = torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(cols, dtype=torch.long)
        if masked_logits.supports(self.model):
            x = self._inputs(enc)
            return masked_logits.logits_at(self.model, x["input_ids"], x.get("attention_mask"), rows.to(self.device),
                                           cols.to(self.device)).float().cpu()
        return self.logits(enc)[rows, cols]

    def masked_log_probs(self, ids: torch.Tensor, attention_mask: torch.Tensor, positions: list[int]
                         ) -> torch.Tensor:
        """(N, vocab) log-probabilities of a masked LM at one masked position per row: row ``i`` of
        ``ids`` carries the mask token at ``positions[i]``. The one place masked-LM scores are read
        (variant LLR, masked ISM)."""
        logits = self.logits_at({"input_ids": ids, "attention_mask": attention_mask}, torch.arange(len(positions)),
                                positions)
        return torch.log_softmax(logits, -1)

    @torch.inference_mode()
    def embed(self, seqs: list[str], *, pooling: str = "mean", batch_size: int = 16) -> np.ndarray:
        """(n, hidden) embeddings: mean over non-special tokens, or the first ([CLS]) token."""
        if pooling not in POOLINGS:
            raise PlantLLMError(f"pooling must be one of {POOLINGS}")
        out = []
        for i in range(0, len(seqs), batch_size):
            enc = self.encode(seqs[i:i + batch_size], offsets=True)
            res = self.model(**self._inputs(enc), output_hidden_states=True)
            h = res.hidden_states[-1] if getattr(res, "hidden_states", None) is not None else res.last_hidden_state
            h = h.float().cpu()
            d = self.model.config.hidden_size
            if h.shape[-1] == 2 * d and getattr(self.model.config, "is_rc_equivariant", False):
                # an RCPS model carries both strands (2 x hidden): the forward half and the channel-flipped
                # reverse half averaged, as PlantCaduceus does, so the embedding is strand-independent
                h = (h[..., :d] + h[..., d:].flip(-1)) / 2
            if pooling == "cls":
                out.append(h[:, 0].numpy())
            else:
                m = (enc["attention_mask"].bool() & ~enc["special_tokens_mask"].bool()).unsqueeze(-1).float()
                out.append(((h * m).sum(1) / m.sum(1).clamp(min=1)).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.model.config.hidden_size), np.float32)
