"""Caduceus as PlantCaduceus v1 uses it (github.com/kuleshov-group/caduceus), natively, in plain PyTorch.

Bidirectional Mamba (v1) blocks with optional reverse-complement parameter sharing (RCPS, ``rcps: true``,
the published PlantCaduceus and Caduceus-PS checkpoints) and the plain bidirectional variant
(Caduceus-Ph). model_type ``caduceus`` with the published ``config.json`` keys; a base model, a
masked-LM head (``CaduceusForMaskedLM``) and a pooled sequence head (classification, or regression
with ``num_labels=1``), registered with the Hugging Face Auto classes when this module is imported, so
``AutoModelForMaskedLM.from_pretrained(folder)`` opens a published checkpoint's safetensors without
mamba-ssm, causal-conv1d, Triton or remote code. The layers are in :mod:`.caduceus_layers`, the scan in
:mod:`.selective_scan`.

Differences from the reference, all outside its computation on unpadded input: an ``attention_mask``
is honoured (each row is reversed within its own tokens, see ``caduceus_layers.Reverse``, and the
sequence head pools over real tokens only); ``output_hidden_states`` always ends with the final
normalised state (the reference adds it only with ``fused_add_norm``); the sequence head's ``first`` /
``last`` pooling work (the reference's call fails); the masked-LM loss ignores -100 labels (Hugging
Face's convention; the reference ignores the pad id). RC-equivariant models say so:
``model.config.is_rc_equivariant``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (AutoConfig, AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification,
                          PretrainedConfig, PreTrainedModel)
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithNoAttention, MaskedLMOutput, SequenceClassifierOutput

from plantllm.models.families.caduceus_layers import (CaduceusBlock, MambaMixer, Reverse, final_norm, make_norm,
                                                      RCPSAddNormWrapper)

MODEL_TYPES = ("caduceus",)
SSM_DEFAULTS = {"d_state": 16, "d_conv": 4, "expand": 2, "dt_rank": "auto", "dt_min": 0.001, "dt_max": 0.1,
                "dt_init": "random", "dt_scale": 1.0, "dt_init_floor": 1e-4, "conv_bias": True, "bias": False}


class CaduceusConfig(PretrainedConfig):
    """Caduceus settings, the keys of the published config.json (MambaConfig's plus bi-directionality and
    RCPS). ``complement_map``: token id -> the id of its complement (for RCPS)."""

    model_type = "caduceus"
    attribute_map = {"hidden_size": "d_model", "num_hidden_layers": "n_layer"}

    def __init__(self, d_model: int = 2560, n_layer: int = 64, vocab_size: int = 50277, ssm_cfg: dict | None = None,
                 rms_norm: bool = True, residual_in_fp32: bool = True, fused_add_norm: bool = True,
                 pad_vocab_size_multiple: int = 8, norm_epsilon: float = 1e-5, initializer_cfg: dict | None = None,
                 bidirectional: bool = True, bidirectional_strategy: str | None = "add",
                 bidirectional_weight_tie: bool = True, rcps: bool = False, complement_map: dict | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.d_model, self.n_layer, self.vocab_size, self.ssm_cfg = d_model, n_layer, vocab_size, ssm_cfg
        self.rms_norm, self.residual_in_fp32, self.fused_add_norm = rms_norm, residual_in_fp32, fused_add_norm
        self.pad_vocab_size_multiple, self.norm_epsilon = pad_vocab_size_multiple, norm_epsilon
        self.initializer_cfg = initializer_cfg
        self.bidirectional, self.bidirectional_strategy = bidirectional, bidirectional_strategy
        self.bidirectional_weight_tie, self.rcps, self.complement_map = bidirectional_weight_tie, rcps, complement_map

    @property
    def is_rc_equivariant(self) -> bool:
        """True when reverse complementing the input token ids reverse complements the outputs exactly (RCPS)."""
        return bool(self.rcps)

    def padded_vocab_size(self) -> int:
        """The vocabulary rounded up to ``pad_vocab_size_multiple`` (the reference pads it the same way)."""
        m = max(1, int(self.pad_vocab_size_multiple or 1))
        return int(math.ceil(self.vocab_size / m) * m)

    def complement_ids(self) -> list[int]:
        """The complement of each token id 0..padded vocab - 1 (ids missing from the map are their own)."""
        cm = {int(k): int(v) for k, v in (self.complement_map or {}).items()}
        return [cm.get(i, i) for i in range(self.padded_vocab_size())]


def complement_map_for(vocab: dict[str, int]) -> dict[int, int]:
    """A tokenizer's complement map: A<->T and C<->G in either case; every other token is its own."""
    pairs = {"A": "T", "C": "G", "G": "C", "T": "A", "a": "t", "c": "g", "g": "c", "t": "a"}
    return {i: vocab.get(pairs.get(tok, tok), i) for tok, i in sorted(vocab.items(), key=lambda kv: kv[1])}


class RCPSEmbedding(nn.Module):
    """Token embedding whose output is [embedding(ids), reverse complement of embedding(rc(ids))]."""

    def __init__(self, vocab_size: int, d_model: int, complement: list[int]):
        super().__init__()
        self.register_buffer("complement_map", torch.tensor(complement, dtype=torch.long))
        self.embedding = nn.Embedding(vocab_size, d_model)

    @property
    def weight(self) -> nn.Parameter:
        return self.embedding.weight

    @property
    def num_embeddings(self) -> int:
        return self.embedding.num_embeddings

    def forward(self, input_ids: torch.Tensor, reverse: Reverse) -> torch.Tensor:
        rc_ids = self.complement_map[reverse(input_ids)]
        return torch.cat([self.embedding(input_ids), reverse.rc(self.embedding(rc_ids))], dim=-1)


class RCPSLMHead(nn.Module):
    """Masked-LM head over both halves: W·forward + W[complement]·(channel-reversed reverse half)."""

    def __init__(self, d_model: int, vocab_size: int, complement: list[int]):
        super().__init__()
        self.register_buffer("complement_map", torch.tensor(complement, dtype=torch.long))
        self.true_dim = d_model
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)

    @property
    def weight(self) -> nn.Parameter:
        return self.lm_head.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = self.true_dim
        return (F.linear(x[..., :half], self.weight, self.lm_head.bias)
                + F.linear(x[..., half:].flip(-1), self.weight[self.complement_map], self.lm_head.bias))


class CaduceusEmbeddings(nn.Module):
    def __init__(self, config: CaduceusConfig, vocab_size: int):
        super().__init__()
        self.word_embeddings = (RCPSEmbedding(vocab_size, config.d_model, config.complement_ids()) if config.rcps
                                else nn.Embedding(vocab_size, config.d_model))

    def forward(self, input_ids: torch.Tensor, reverse: Reverse) -> torch.Tensor:
        if isinstance(self.word_embeddings, RCPSEmbedding):
            return self.word_embeddings(input_ids, reverse)
        return self.word_embeddings(input_ids)


class CaduceusMixerModel(nn.Module):
    """Embeddings, ``n_layer`` blocks, the final add + norm (the reference's ``backbone``)."""

    def __init__(self, config: CaduceusConfig, vocab_size: int):
        super().__init__()
        self.rcps, self.fused_add_norm = bool(config.rcps), bool(config.fused_add_norm)
        self.embeddings = CaduceusEmbeddings(config, vocab_size)
        unknown = set(config.ssm_cfg or {}) - set(SSM_DEFAULTS) - {"use_fast_path", "layer_idx"}
        if unknown:
            raise ValueError(f"ssm_cfg.{sorted(unknown)[0]} is not a Mamba (v1) setting")
        mixer = {**(config.ssm_cfg or {}), "bidirectional": config.bidirectional,
                 "bidirectional_strategy": config.bidirectional_strategy,
                 "bidirectional_weight_tie": config.bidirectional_weight_tie}
        self.layers = nn.ModuleList([
            CaduceusBlock(config.d_model, mixer, rms_norm=config.rms_norm, eps=config.norm_epsilon,
                          fused_add_norm=self.fused_add_norm, residual_in_fp32=config.residual_in_fp32,
                          rcps=self.rcps) for _ in range(config.n_layer)])
        norm_f = make_norm(config.d_model, config.rms_norm, config.norm_epsilon)
        self.norm_f = RCPSAddNormWrapper(norm_f) if self.rcps and not self.fused_add_norm else norm_f
        self.gradient_checkpointing = False

    def forward(self, input_ids, inputs_embeds=None, attention_mask=None, output_hidden_states=False):
        reverse = Reverse(attention_mask)
        hidden = inputs_embeds if inputs_embeds is not None else self.embeddings(input_ids, reverse)
        states, residual = [], None
        for layer in self.layers:
            if output_hidden_states:
                states.append(hidden)
            if self.gradient_checkpointing and self.training:
                hidden, residual = torch.utils.checkpoint.checkpoint(layer, hidden, residual, reverse,
                                                                     use_reentrant=False)
            else:
                hidden, residual = layer(hidden, residual, reverse)
        hidden = final_norm(self.norm_f, hidden, residual, reverse, fused_add_norm=self.fused_add_norm,
                            rcps=self.rcps)
        if output_hidden_states:
            states.append(hidden)
        return hidden, states


class CaduceusPreTrainedModel(PreTrainedModel):
    config_class = CaduceusConfig
    base_model_prefix = "caduceus"
    supports_gradient_checkpointing = True
    _no_split_modules = ["BiMambaWrapper"]

    def _tie_pairs(self) -> dict[str, str]:
        """Parameters shared by construction, target -> source (the reverse mixer's projections)."""
        return {}

    def get_expanded_tied_weights_keys(self, all_submodels: bool = False) -> dict:
        # the ties are structural (RCPS head, weight-tied bidirectional mixers), whatever tie_word_embeddings says
        if all_submodels:
            return super().get_expanded_tied_weights_keys(all_submodels=True)
        return self._tie_pairs()

    def _set_gradient_checkpointing(self, enable: bool = True, gradient_checkpointing_func=None):
        for m in self.modules():
            if isinstance(m, CaduceusMixerModel):
                m.gradient_checkpointing = enable

    @torch.no_grad()
    def _init_weights(self, module):
        """The reference's initialisation (mamba-ssm's): PyTorch's default for linear and convolution
        weights with zero biases (but dt_proj's), N(0, 0.02) embeddings, S4D-real A, unit D, dt biases
        spread between dt_min and dt_max, out projections scaled by 1/sqrt(n_layer)."""
        cfg = self.config.initializer_cfg or {}
        std = cfg.get("initializer_range", 0.02)
        if isinstance(module, MambaMixer):
            dt_std = module.dt_rank ** -0.5 * module.dt_scale
            if module.dt_init == "constant":
                init.constant_(module.dt_proj.weight, dt_std)
            else:
                init.uniform_(module.dt_proj.weight, -dt_std, dt_std)
            dt = torch.exp(torch.rand(module.d_inner) * (math.log(module.dt_max) - math.log(module.dt_min))
                           + math.log(module.dt_min)).clamp(min=module.dt_init_floor)
            init.copy_(module.dt_proj.bias, dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
            a = torch.arange(1, module.d_state + 1, dtype=torch.float32).repeat(module.d_inner, 1)
            init.copy_(module.A_log, torch.log(a))
            init.ones_(module.D)
            for lin in (module.in_proj, module.x_proj, module.conv1d):
                init.kaiming_uniform_(lin.weight, a=math.sqrt(5))
                if lin.bias is not None:
                    init.zeros_(lin.bias)
            if module.out_proj.bias is not None:
                init.zeros_(module.out_proj.bias)
            w = module.out_proj.weight
            if not getattr(w, "_is_hf_initialized", False):
                nn.init.kaiming_uniform_(w, a=math.sqrt(5))
                if cfg.get("rescale_prenorm_residual", True):
                    w /= math.sqrt(cfg.get("n_residuals_per_layer", 1) * self.config.n_layer)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, std=std)
        elif isinstance(module, nn.Linear) and not getattr(module, "in_mamba", False):  # a head's linear layer
            init.normal_(module.weight, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (nn.LayerNorm,)) or type(module).__name__ == "RMSNorm":
            init.ones_(module.weight)
            if getattr(module, "bias", None) is not None:
                init.zeros_(module.bias)
        if hasattr(module, "complement_map") and isinstance(module.complement_map, torch.Tensor):
            init.copy_(module.complement_map, torch.tensor(self.config.complement_ids()[:module.complement_map.numel()]))


class Caduceus(CaduceusPreTrainedModel):
    """The backbone: (batch, length) token ids -> (batch, length, d_model, or 2 x d_model with RCPS)."""

    # read by save_pretrained (one copy of each shared tensor is written); loading ties by ``_tie_pairs``
    _tied_weights_keys = {r"backbone\.layers\.\d+\.mixer(?:\.submodule)?\.mamba_rev\.(?:in|out)_proj\.(?:weight|bias)":
                          r"backbone\.layers\.\d+\.mixer(?:\.submodule)?\.mamba_fwd\.(?:in|out)_proj\.(?:weight|bias)"}

    def __init__(self, config: CaduceusConfig):
        super().__init__(config)
        if config.rcps and not config.complement_map:
            raise ValueError("an RCPS Caduceus needs config.complement_map (token id -> complement id)")
        self.backbone = CaduceusMixerModel(config, config.padded_vocab_size())
        self.post_init()

    def _tie_pairs(self) -> dict[str, str]:
        pairs = {}
        if self.config.bidirectional and self.config.bidirectional_weight_tie:
            mixer = "mixer.submodule" if self.config.rcps else "mixer"
            bias = (self.config.ssm_cfg or {}).get("bias", False)
            for i in range(self.config.n_layer):
                for proj in ("in_proj", "out_proj"):
                    for p in ("weight", "bias") if bias else ("weight",):
                        pre = f"backbone.layers.{i}.{mixer}"
                        pairs[f"{pre}.mamba_rev.{proj}.{p}"] = f"{pre}.mamba_fwd.{proj}.{p}"
        return pairs

    def get_input_embeddings(self):
        return self.backbone.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        if self.config.rcps:
            raise NotImplementedError("an RCPS embedding cannot be replaced")
        self.backbone.embeddings.word_embeddings = value

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None, output_hidden_states=None,
                return_dict=None, **_unused):
        want = output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        hidden, states = self.backbone(input_ids, inputs_embeds, attention_mask, output_hidden_states=bool(want))
        out = BaseModelOutputWithNoAttention(last_hidden_state=hidden, hidden_states=tuple(states) if want else None)
        return out if return_dict is not False else out.to_tuple()


class CaduceusForMaskedLM(CaduceusPreTrainedModel):
    _tied_weights_keys = {r"lm_head\.(?:lm_head\.)?weight": "caduceus.backbone.embeddings.word_embeddings"}

    def __init__(self, config: CaduceusConfig):
        super().__init__(config)
        self.caduceus = Caduceus(config)
        size = config.padded_vocab_size()
        self.lm_head = (RCPSLMHead(config.d_model, size, config.complement_ids()) if config.rcps
                        else nn.Linear(config.d_model, size, bias=False))
        self.post_init()

    def _tie_pairs(self) -> dict[str, str]:
        if self.config.rcps:
            return {"lm_head.lm_head.weight": "caduceus.backbone.embeddings.word_embeddings.embedding.weight"}
        if getattr(self.config, "tie_word_embeddings", True):
            return {"lm_head.weight": "caduceus.backbone.embeddings.word_embeddings.weight"}
        return {}

    def get_input_embeddings(self):
        return self.caduceus.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.caduceus.set_input_embeddings(value)

    def get_output_embeddings(self):
        return None if self.config.rcps else self.lm_head

    def set_output_embeddings(self, new_embeddings):
        if self.config.rcps:
            raise NotImplementedError("an RCPS head cannot be replaced")
        self.lm_head = new_embeddings

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None, labels=None, loss_weights=None,
                output_hidden_states=None, return_dict=None, **_unused):
        out = self.caduceus(input_ids=input_ids, inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                            output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.lm_head(out.last_hidden_state).float()
        loss = None
        if labels is not None:
            ce = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1), reduction="none")
            keep = (labels.view(-1) != -100).float()
            w = keep if loss_weights is None else keep * loss_weights.view(-1).float()
            loss = (ce * w).sum() / w.sum().clamp(min=1e-6)
        res = MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)
        return res if return_dict is not False else res.to_tuple()


class CaduceusForSequenceClassification(CaduceusPreTrainedModel):
    """Pooled (``mean`` over real tokens by default; ``config.pooling_strategy``: mean, max, first, last)
    hidden states -> ``score``; an RCPS model scores both halves (strands) and averages them."""

    def __init__(self, config: CaduceusConfig):
        super().__init__(config)
        self.pooling_strategy = getattr(config, "pooling_strategy", "mean")
        if self.pooling_strategy not in ("mean", "max", "first", "last"):
            raise ValueError(f"pooling_strategy '{self.pooling_strategy}' must be mean, max, first or last")
        self.num_labels = config.num_labels
        self.caduceus = Caduceus(config)
        self.score = nn.Linear(config.d_model, self.num_labels, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.caduceus.get_input_embeddings()

    def _pool(self, h: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        m = torch.ones(h.shape[:2], device=h.device) if mask is None else mask.to(h.device).float()
        while m.ndim < h.ndim:
            m = m.unsqueeze(-1)
        if self.pooling_strategy == "mean":
            return (h * m).sum(1) / m.sum(1).clamp(min=1)
        if self.pooling_strategy == "max":
            return h.masked_fill(m == 0, float("-inf")).amax(1)
        idx = m.squeeze().reshape(h.shape[0], -1).long()
        pos = idx.argmax(1) if self.pooling_strategy == "first" else idx.shape[1] - 1 - idx.flip(1).argmax(1)
        return h[torch.arange(h.shape[0], device=h.device), pos.to(h.device)]

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None, labels=None,
                output_hidden_states=None, return_dict=None, **_unused):
        out = self.caduceus(input_ids=input_ids, inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                            output_hidden_states=output_hidden_states, return_dict=True)
        h = out.last_hidden_state
        if self.config.rcps:  # the forward strand and the reverse strand (flipped back), scored alike
            d = self.config.d_model
            h = torch.stack([h[..., :d], torch.flip(h[..., d:], dims=[1, 2])], dim=-1)
            pooled = self._pool(h, attention_mask)
            logits = (self.score(pooled[..., 0]) + self.score(pooled[..., 1])) / 2
        else:
            logits = self.score(self._pool(h, attention_mask))
        loss = None
        if labels is not None:
            kind = self.config.problem_type or ("regression" if self.num_labels == 1 else "single_label_classification")
            if kind == "regression":
                loss = F.mse_loss(logits.float().view(-1, self.num_labels).squeeze(-1),
                                  labels.float().view(-1, self.num_labels).squeeze(-1))
            elif kind == "multi_label_classification":
                loss = F.binary_cross_entropy_with_logits(logits.float(), labels.float())
            else:
                loss = F.cross_entropy(logits.float().view(-1, self.num_labels), labels.view(-1))
        res = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)
        return res if return_dict is not False else res.to_tuple()


def register() -> None:
    """Register Caduceus with the Auto classes (idempotent)."""
    AutoConfig.register(CaduceusConfig.model_type, CaduceusConfig, exist_ok=True)
    AutoModel.register(CaduceusConfig, Caduceus, exist_ok=True)
    AutoModelForMaskedLM.register(CaduceusConfig, CaduceusForMaskedLM, exist_ok=True)
    AutoModelForSequenceClassification.register(CaduceusConfig, CaduceusForSequenceClassification, exist_ok=True)


register()
