"""BERT's embedding output as a table of (position, token) rows, computed once per model instead of per batch.

BERT's embedding layer is ``LayerNorm(word[token] + token_type[0] + position[t])`` (dropout is off in eval
mode): its output at a token depends on the token id and its position alone. With a DNA vocabulary of a few
ids (char tokenizers: 10) the whole map is a small table (positions x vocabulary x hidden: 320 x 10 x 16
for the scan benchmark's classifier, 512 x 10 x 768 = 15 MB for a base-size char BERT), and the layer
becomes one row gather. For the tiny models that time plantllm's own pipeline, the per-batch embedding was
70% of a scan's forward (two full-size adds and a LayerNorm over a last dimension of 16).

The table is built through the model's own ``BertEmbeddings`` (on a grid of every token at every position), so
a gathered row is the very number the full forward computes. It is rebuilt when a weight it was computed from
changes (a parameter's in-place version counter, its storage, dtype, device), so a model still being trained
never reads stale rows. Used only for transformers' own ``BertEmbeddings`` in eval mode; anything else (other
embeddings, training mode, a table over ``MAX_ELEMENTS``) runs the embedding layer as it is.
Written by hand because neither transformers nor torch caches a layer's output over its whole input space.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
from transformers.models.bert.modeling_bert import BertEmbeddings

MAX_ELEMENTS = 1 << 23  # floats per table (32 MB in fp32): char and small k-mer vocabularies, any hidden size


@dataclass
class EmbeddingTable:
    """``embed``: (positions * vocab, hidden) embedding output, row ``t * vocab + id``; ``key``: the state of
    the weights it was computed from."""

    key: tuple
    vocab: int
    embed: torch.Tensor

    def rows(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The table row of every token of ``input_ids`` (n, T)."""
        return input_ids + torch.arange(input_ids.shape[1], device=input_ids.device) * self.vocab

    def __call__(self, rows: torch.Tensor) -> torch.Tensor:
        """(*rows.shape, hidden) embedding output (``index_select``: a quarter of the time of ``table[rows]``)."""
        return self.embed.index_select(0, rows.reshape(-1)).view(*rows.shape, -1)


_CACHE: "weakref.WeakKeyDictionary[torch.nn.Module, EmbeddingTable]" = weakref.WeakKeyDictionary()


def _state(module) -> tuple:
    return tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in module.parameters())


def table(base, length: int) -> EmbeddingTable | None:
    """The embedding table of BERT ``base`` (a ``BertModel``) for inputs of ``length`` tokens, or None when it does
    not apply: embeddings other than transformers' ``BertEmbeddings``, training mode, inputs longer than the
    position table, a table over ``MAX_ELEMENTS`` floats."""
    emb = base.embeddings
    if type(emb) is not BertEmbeddings or base.training:
        return None
    vocab, hidden = emb.word_embeddings.num_embeddings, emb.word_embeddings.embedding_dim
    positions = emb.position_embeddings.num_embeddings
    if length > positions or positions * vocab * hidden > MAX_ELEMENTS:
        return None
    key = _state(emb)
    cached = _CACHE.get(base)
    if cached is not None and cached.key == key:
        return cached
    with torch.inference_mode():
        device = emb.word_embeddings.weight.device
        grid = torch.arange(vocab, device=device)[:, None].expand(vocab, positions)  # every token at every position
        embed = emb(input_ids=grid).transpose(0, 1).reshape(positions * vocab, hidden).contiguous()
    _CACHE[base] = found = EmbeddingTable(key, vocab, embed)
    return found
