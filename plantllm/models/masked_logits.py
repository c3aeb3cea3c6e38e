"""Logits of a masked LM at chosen token positions only, without computing the rest of the last layer.

A zero-shot score (variant LLR, score tracks, masked ISM) reads the logits of one masked token per
window, yet a plain forward runs the last encoder layer's attention query, output projection and
feed-forward block, and the LM head, over every token. Only the keys and values of the last layer
need every token; its query and everything after it are needed at the read positions alone. For a
4-layer BERT at 514 tokens that is about a fifth of the arithmetic. The result is the same
computation on fewer rows (fp32: within ~1e-6 of the full forward; ``tests/test_engine.py`` checks
it on real sequence).

Supported: BERT-family masked LMs of transformers (``BertForMaskedLM``: ``bert`` + ``cls``; this is
the layout plantllm creates). Other models get the full forward, indexed (``logits_at`` falls back).
Written by hand because transformers has no "last layer at these positions" call.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def supports(model) -> bool:
    """True when ``model`` has the BERT masked-LM layout this module reads (post-LN encoder, MLM head)."""
    base = getattr(model, "bert", None)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if base is None or not isinstance(layers, nn.ModuleList) or not len(layers) or not hasattr(model, "cls"):
        return False
    cfg = model.config
    last = layers[-1]
    return (getattr(cfg, "model_type", "") == "bert" and not cfg.is_decoder
            and getattr(cfg, "position_embedding_type", "absolute") == "absolute"
            and not getattr(cfg, "add_cross_attention", False)
            and all(hasattr(last.attention.self, k) for k in ("query", "key", "value"))
            and getattr(cfg, "chunk_size_feed_forward", 0) == 0)


@torch.inference_mode()
def logits_at(model, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, rows: torch.Tensor,
              cols: torch.Tensor) -> torch.Tensor:
    """(len(rows), vocab) logits of token ``cols[i]`` of sequence ``rows[i]`` (``supports(model)`` must hold)."""
    base = model.bert
    layers = base.encoder.layer
    base.encoder.layer = layers[:-1]  # every layer but the last over all tokens, through the model's own code
    try:
        hidden = base(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    finally:
        base.encoder.layer = layers
    last = layers[-1]
    att = last.attention.self
    n_heads, d = att.num_attention_heads, att.attention_head_size
    h = hidden[rows]  # (n, T, H): the sequences read (a sequence read at several positions repeats)
    n, t = h.shape[:2]
    sel = h[torch.arange(n), cols]  # (n, H)
    q = att.query(sel).view(n, n_heads, 1, d)
    k = att.key(h).view(n, t, n_heads, d).transpose(1, 2)
    v = att.value(h).view(n, t, n_heads, d).transpose(1, 2)
    mask = None
    if attention_mask is not None and not bool(attention_mask.all()):
        mask = attention_mask.to(h.device)[rows].bool()[:, None, None, :]
    ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=att.scaling).reshape(n, n_heads * d)
    out = last.attention.output(ctx, sel)
    out = last.output(last.intermediate(out), out)
    return model.cls(out)
