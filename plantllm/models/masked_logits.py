"""Logits of a masked LM at chosen token positions only, without computing the rest of the last layer.

A zero-shot score (variant LLR, score tracks, masked ISM) reads the logits of one masked token per
window, yet a plain forward runs the last encoder layer's attention query, output projection and
feed-forward block, and the LM head, over every token. Only the keys and values of the last layer
need every token; its query and everything after it are needed at the read positions alone. For a
4-layer BERT at 514 tokens that is about a fifth of the arithmetic. The result is the same
computation on fewer rows (fp32: within ~1e-6 of the full forward; ``tests/test_engine.py`` checks
it on real sequence).

A BERT sequence classifier is the same case with one read token: its pooler reads [CLS] only
(``classifier_logits``, used by ``ModelRunner.logits``; a promoter scan's one-layer classifier loses
its whole quadratic attention; ``tests/test_scan_stream.py`` checks it against the full forward).

Supported: BERT-family masked LMs and sequence classifiers of transformers (``BertForMaskedLM``: ``bert``
+ ``cls``; ``BertForSequenceClassification``: ``bert`` with its pooler + ``classifier``; the layouts
plantllm creates). Other models get the full forward (``logits_at`` falls back, indexed).
Written by hand because transformers has no "last layer at these positions" call.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def supports(model) -> bool:
    """True when ``model`` has the BERT masked-LM layout this module reads (post-LN encoder, MLM head)."""
    return hasattr(model, "cls") and _bert_encoder(model)


def supports_classifier(model) -> bool:
    """True when ``model`` is a BERT sequence classifier (``BertForSequenceClassification``: pooler over the
    first token, then ``classifier``) that ``classifier_logits`` computes with its last layer at [CLS] only."""
    return (hasattr(model, "classifier") and getattr(getattr(model, "bert", None), "pooler", None) is not None
            and _bert_encoder(model))


def _bert_encoder(model) -> bool:
    base = getattr(model, "bert", None)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if base is None or not isinstance(layers, nn.ModuleList) or not len(layers):
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
    return model.cls(_last_layer_at(model.bert, input_ids, attention_mask, rows, cols))


@torch.inference_mode()
def classifier_logits(model, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """(N, classes) logits of a BERT sequence classifier (``supports_classifier(model)`` must hold): its pooler
    reads the first token ([CLS]) only, so the last layer's query and everything after it run at that token.
    For the one-layer classifiers of a scan that removes the whole quadratic attention. A mask without padding
    is dropped (it masks nothing; preparing it costs a quarter of such a forward)."""
    if attention_mask is not None and bool(attention_mask.all()):
        attention_mask = None
    cls = _last_layer_at(model.bert, input_ids, attention_mask, None,
                         torch.zeros(len(input_ids), dtype=torch.long, device=input_ids.device))
    return model.classifier(model.dropout(model.bert.pooler(cls[:, None])))


def _last_layer_at(base, input_ids, attention_mask, rows, cols) -> torch.Tensor:
    """(len(rows), hidden) output of the last encoder layer of BERT ``base`` at token ``cols[i]`` of sequence
    ``rows[i]`` (``rows`` None: of sequence ``i``); every other layer runs over all tokens."""
    layers = base.encoder.layer
    base.encoder.layer = layers[:-1]  # every layer but the last over all tokens, through the model's own code
    try:
        hidden = base(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    finally:
        base.encoder.layer = layers
    last = layers[-1]
    att = last.attention.self
    n_heads, d = att.num_attention_heads, att.attention_head_size
    h = hidden if rows is None else hidden[rows]  # (n, T, H): the sequences read (one may repeat)
    n, t = h.shape[:2]
    sel = h[torch.arange(n), cols]  # (n, H)
    q = att.query(sel).view(n, n_heads, 1, d)
    k = att.key(h).view(n, t, n_heads, d).transpose(1, 2)
    v = att.value(h).view(n, t, n_heads, d).transpose(1, 2)
    mask = None
    if attention_mask is not None and not bool(attention_mask.all()):
        mask = attention_mask.to(h.device)
        mask = (mask if rows is None else mask[rows]).bool()[:, None, None, :]
    ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=att.scaling).reshape(n, n_heads * d)
    out = last.attention.output(ctx, sel)
    return last.output(last.intermediate(out), out)
