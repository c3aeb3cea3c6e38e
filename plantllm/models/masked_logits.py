"""Logits of a masked LM at chosen token positions only, without computing the rest of the last layer.

A zero-shot score (variant LLR, score tracks, masked ISM) reads the logits of one masked token per
window, yet a plain forward runs the last encoder layer's attention query, output projection and
feed-forward block, and the LM head, over every token. Only the last layer's attention needs every
token; its query and everything after it are needed at the read positions alone. With one query per
read, the attention needs no keys or values either (``_attend``: the query is folded into the key
weights, the values into the pooled hidden states), so the last layer costs two products of width
``hidden`` per head over the tokens instead of two ``hidden x hidden`` projections of every token.
The embedding layer is a row gather from a (position, token) table (``bert_tables``). The result is
the same computation up to float rounding (fp32: within ~1e-6 of Hugging Face's forward;
``tests/test_bert_tables.py`` and ``tests/test_engine.py`` check it on real sequence).

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

from plantllm.models import bert_tables


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
            and all(isinstance(getattr(last.attention.self, k, None), nn.Linear) for k in ("query", "key", "value"))
            and last.attention.self.value.bias is not None
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
    cls = _last_layer_at(model.bert, input_ids, attention_mask, None, None)
    return model.classifier(model.dropout(model.bert.pooler(cls[:, None])))


def _last_layer_at(base, input_ids, attention_mask, rows, cols) -> torch.Tensor:
    """(len(rows), hidden) output of the last encoder layer of BERT ``base`` at token ``cols[i]`` of sequence
    ``rows[i]`` (``rows`` None: of sequence ``i``; ``cols`` None: the first token); every other layer runs over all
    tokens. The embedding layer is a row gather from ``bert_tables`` where that applies (a one-layer model then
    runs no other code before the last layer)."""
    layers = base.encoder.layer
    last = layers[-1]
    table = bert_tables.table(base, input_ids.shape[1])
    if table is not None and len(layers) == 1:  # the last layer reads the embeddings: rows of the table
        h = table(table.rows(input_ids if rows is None else input_ids[rows]))
    else:
        hidden = _hidden(base, layers, input_ids, attention_mask, table)
        h = hidden if rows is None else hidden[rows]  # (n, T, H): the sequences read (one may repeat)
    n = h.shape[0]
    sel = h[:, 0] if cols is None else h[torch.arange(n, device=h.device), cols]  # (n, H): the read tokens
    mask = None
    if attention_mask is not None and not bool(attention_mask.all()):
        mask = attention_mask.to(h.device)
        mask = (mask if rows is None else mask[rows]).bool()
    out = last.attention.output(_attend(last.attention.self, h, sel, mask), sel)
    return last.output(last.intermediate(out), out)


def _attend(att, h: torch.Tensor, sel: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """(n, H) context of BERT self-attention ``att`` for one query token per sequence (``sel``, its hidden state)
    over the hidden states ``h`` (n, T, H), ``mask`` (n, T) True where a token may be attended.

    The keys and values are never formed: with one query, its score of token t is ``q . (W_k h_t + b_k)`` =
    ``(W_k^T q) . h_t`` plus a constant over t (softmax drops it), and the context is ``W_v (sum_t p_t h_t) + b_v``
    (the weights p sum to 1). Per head that is two products with h of width ``hidden`` instead of projecting
    every token to keys and values (hidden x hidden each): the same numbers up to float rounding (fp32 ~1e-7).
    """
    n, t, hidden = h.shape
    heads, d = att.num_attention_heads, att.attention_head_size
    q = att.query(sel).view(n, heads, d) * att.scaling
    u = torch.einsum("nhd,hdk->nhk", q, att.key.weight.view(heads, d, hidden))  # (n, heads, H): W_k^T q per head
    scores = torch.bmm(u, h.transpose(1, 2))  # (n, heads, T)
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
    pooled = torch.bmm(torch.softmax(scores, -1), h)  # (n, heads, H): sum_t p_t h_t per head
    ctx = torch.einsum("nhk,hdk->nhd", pooled, att.value.weight.view(heads, d, hidden)) + att.value.bias.view(heads, d)
    return ctx.reshape(n, heads * d)


class _Given(nn.Module):
    """Stands in for BERT's embedding layer during one call: its output, already gathered from the table."""

    def __init__(self, output: torch.Tensor):
        super().__init__()
        self.output = output

    def forward(self, **_) -> torch.Tensor:
        return self.output


def _hidden(base, layers: nn.ModuleList, input_ids, attention_mask, table) -> torch.Tensor:
    """The input of the last layer: every layer but the last over all tokens, through the model's own code (its
    embedding layer replaced by the table's rows when there is a table)."""
    embeddings = base.embeddings
    base.encoder.layer = layers[:-1]
    if table is not None:
        base.embeddings = _Given(table(table.rows(input_ids)))
    try:
        return base(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    finally:
        base.encoder.layer, base.embeddings = layers, embeddings
