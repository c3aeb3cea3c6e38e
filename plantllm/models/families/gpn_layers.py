"""The building blocks of GPN's models (``plantllm.models.families.gpn``): residual convolution blocks
(legacy ConvNet, GPN convnet, ByteNet), the one-hot input and the sequence heads.

Inside each block the layers sit in an ``nn.Sequential`` in GPN's order, because its position is part
of the published parameter names (``conv.1`` is the legacy block's Conv1d, ``ffn.3`` the GPN block's
output projection): that is what lets GPN's own safetensors load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.activations import ACT2FN


def dilations(n: int, base: int, cycle: int, double_every: int, most: int) -> list[int]:
    """GPN's dilation schedule: ``base ** ((i % cycle) // double_every)`` capped at ``most``."""
    return [min(most, base ** ((i % cycle) // double_every)) for i in range(n)]


# ---------------------------------------------------------------- building blocks
class Transpose(nn.Module):
    """(batch, length, channels) <-> (batch, channels, length) around a Conv1d inside an nn.Sequential."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)


def _conv(channels: int, kernel: int, dilation: int, bias: bool = True, groups: int = 1) -> nn.Conv1d:
    return nn.Conv1d(channels, channels, kernel, dilation=dilation, padding="same", bias=bias, groups=groups)


class LegacyBlock(nn.Module):
    """ConvNet block: x + LN(GELU(conv(x))), then x + LN(GELU(linear(x))) (post-norm, with biases)."""

    def __init__(self, h: int, kernel: int, dilation: int):
        super().__init__()
        # the indices of these Sequentials are the checkpoint's parameter names (conv.1 = the Conv1d)
        self.conv = nn.Sequential(Transpose(), _conv(h, kernel, dilation), Transpose(), nn.GELU(), nn.LayerNorm(h))
        self.ffn = nn.Sequential(nn.Linear(h, h), nn.GELU(), nn.LayerNorm(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.conv(x)
        return x + self.ffn(x)


class ConvBlock(nn.Module):
    """GPN convnet block (pre-norm): x + drop(W(GELU(conv(LN x)))), then x + drop(W2(GELU(W1(LN x))))."""

    def __init__(self, c, kernel: int, dilation: int, groups: int):
        super().__init__()
        h, b = c.hidden_size, c.bias
        self.conv = nn.Sequential(nn.LayerNorm(h, bias=b), Transpose(), _conv(h, kernel, dilation, b, groups),
                                  Transpose(), nn.GELU(), nn.Linear(h, h, bias=b), nn.Dropout(c.hidden_dropout_prob))
        self.ffn = nn.Sequential(nn.LayerNorm(h, bias=b), nn.Linear(h, c.intermediate_size, bias=b), nn.GELU(),
                                 nn.Linear(c.intermediate_size, h, bias=b), nn.Dropout(c.hidden_dropout_prob))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.conv(x)
        return x + self.ffn(x)


class ByteNetBlock(nn.Module):
    """ByteNet residual block: LN, GELU, down-projection, LN, GELU, dilated conv, LN, GELU, up-projection."""

    def __init__(self, c, kernel: int, dilation: int, groups: int):
        super().__init__()
        h, b = c.hidden_size, c.bias
        m = h // 2 if c.slim else h
        self.layer = nn.Sequential(nn.LayerNorm(h, bias=b), nn.GELU(), nn.Linear(h, m, bias=b), nn.LayerNorm(m, bias=b),
                                   nn.GELU(), Transpose(), _conv(m, kernel, dilation, b, groups), Transpose(),
                                   nn.LayerNorm(m, bias=b), nn.GELU(), nn.Linear(m, h, bias=b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layer(x)


class BlockStack(nn.ModuleList):
    """Residual blocks run in order; hidden states collected on request; gradient checkpointing once
    ``gradient_checkpointing_enable()`` set it (transformers then gives ``_gradient_checkpointing_func``)."""

    def __init__(self, blocks: list[nn.Module]):
        super().__init__(blocks)
        self.gradient_checkpointing = False

    def forward(self, x: torch.Tensor, output_hidden_states: bool = False):
        states = [x] if output_hidden_states else None
        for block in self:
            if self.gradient_checkpointing and self.training:
                x = self._gradient_checkpointing_func(block.__call__, x)
            else:
                x = block(x)
            if states is not None:
                states.append(x)
        return x, states


class ConvEncoder(nn.Module):
    """The ``convnet`` / ``bytenet`` encoder of a GPN config (its blocks under ``layer``)."""

    def __init__(self, c):
        super().__init__()
        sched = dilations(c.num_hidden_layers, c.dilation_base, c.dilation_cycle, c.dilation_double_every,
                          c.dilation_max)
        block = {"convnet": ConvBlock, "bytenet": ByteNetBlock}[c.encoder]
        self.layer = BlockStack([block(c, c.first_kernel_size if i == 0 else c.rest_kernel_size, d,
                                       1 if (not c.depthwise or i == 0) else c.hidden_size)
                                 for i, d in enumerate(sched)])

    def forward(self, x: torch.Tensor, output_hidden_states: bool = False):
        return self.layer(x, output_hidden_states)


class OneHot(nn.Module):
    """GPN's input: one-hot token ids (or given token probabilities) in the first ``vocab_size`` of
    ``hidden_size`` channels, optional auxiliary features in the next ``n_aux_features``."""

    word_embeddings = None  # no learnt embedding table

    def __init__(self, config):
        super().__init__()
        self.config = config
        if config.vocab_size + config.n_aux_features > config.hidden_size:
            raise ValueError(f"GPN one-hot input needs hidden_size >= vocab_size + n_aux_features "
                             f"({config.vocab_size} + {config.n_aux_features} > {config.hidden_size})")

    def forward(self, input_ids=None, input_probs=None, aux_features=None):
        c = self.config
        if input_ids is not None:
            x = F.one_hot(input_ids, num_classes=c.hidden_size).float()
        elif input_probs is not None:
            x = F.pad(input_probs, (0, c.hidden_size - c.vocab_size))
        else:
            raise ValueError("GPN needs input_ids or input_probs")
        if aux_features is not None:
            if c.aux_features_vocab_size is not None:
                aux_features = F.one_hot(aux_features.long(), num_classes=c.aux_features_vocab_size)
                aux_features = aux_features.reshape(*x.shape[:2], -1).float()
            x[:, :, c.vocab_size:c.vocab_size + c.n_aux_features] = aux_features
        return x


class LearntEmbedding(nn.Module):
    """``embedding: embedding``: a learnt table instead of one-hot input."""

    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=0)

    def forward(self, input_ids=None, **_):
        return self.word_embeddings(input_ids)


# ---------------------------------------------------------------- heads
def _pool(x: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    if attention_mask is None:
        return x.mean(1)
    m = attention_mask.to(x.dtype).unsqueeze(-1)
    return (x * m).sum(1) / m.sum(1).clamp(min=1)


class _Residual(nn.Module):
    """GPN's small residual MLP / CNN used by the lightweight classification heads."""

    def __init__(self, n_in: int, hidden: int, n_out: int, kernel: int | None = None):
        super().__init__()
        core = ([Transpose(), nn.Conv1d(n_in, hidden, kernel, bias=False, padding="same"), Transpose()] if kernel
                else [nn.Linear(n_in, hidden, bias=False)])
        self.layer = nn.Sequential(nn.LayerNorm(n_in, bias=False), *core, nn.GELU(), nn.Linear(hidden, n_out, bias=False))
        self.shortcut = nn.Identity() if n_in == n_out else nn.Linear(n_in, n_out, bias=False)

    def forward(self, x):
        return self.shortcut(x) + self.layer(x)


class SequenceHead(nn.Module):
    """Mean-pooled sequence head. ``standard`` (and the legacy ConvNet's, without its LayerNorm):
    [LN] -> dropout -> dense -> act -> dropout -> out_proj; ``lightweight_mlp`` / ``lightweight_cnn``:
    GPN's 64-channel residual heads."""

    def __init__(self, config, kind: str = "standard", legacy: bool = False):
        super().__init__()
        self.kind, h, n = kind, config.hidden_size, config.num_labels
        bias = True if legacy else config.bias
        if kind == "standard":
            self.ln = None if legacy else nn.LayerNorm(h, bias=bias)
            self.dense = nn.Linear(h, h, bias=bias)
            self.dropout = nn.Dropout(config.hidden_dropout_prob)
            self.out_proj = nn.Linear(h, n, bias=bias)
            self.act = ACT2FN[config.hidden_act]
        elif kind in ("lightweight_mlp", "lightweight_cnn"):
            k = 3 if kind == "lightweight_cnn" else None
            first, second = ("conv1", "conv2") if k else ("mlp1", "mlp2")
            setattr(self, first, _Residual(h, 64, 64, k))
            setattr(self, second, _Residual(64, 64, 64, k))
            if k:
                self.mlp = _Residual(64, 64, 64)
            self.ln = nn.LayerNorm(64, bias=False)
            self.final = nn.Linear(64, n, bias=False)
        else:
            raise ValueError(f"GPN classification_head '{kind}' must be standard, lightweight_mlp or lightweight_cnn")

    def forward(self, x: torch.Tensor, attention_mask=None) -> torch.Tensor:
        if self.kind == "standard":
            x = _pool(x, attention_mask)
            if self.ln is not None:
                x = self.ln(x)
            return self.out_proj(self.dropout(self.act(self.dense(self.dropout(x)))))
        if self.kind == "lightweight_cnn":
            x = self.mlp(_pool(self.conv2(self.conv1(x)), attention_mask))
        else:
            x = self.mlp2(_pool(self.mlp1(x), attention_mask))
        return self.final(self.ln(x))
