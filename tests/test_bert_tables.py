"""The fast BERT forward of scans and zero-shot scores (``bert_tables``: the embedding layer as a table of
(position, token) rows; ``masked_logits``: the last layer at the read tokens, its attention without keys and
values) against Hugging Face's own forward, on real TAIR10 windows."""

from __future__ import annotations

import pytest
import torch

from conftest import CARDS
from plantllm.models import bert_tables, masked_logits
from plantllm.models.runner import ModelRunner
from plantllm.species.assembly import Assembly
from plantllm.species.card import load_card


def _model(tmp, task: str, layers: int, hidden: int = 16, heads: int = 2, tokenizer=None):
    """A char BERT of ``layers`` layers with wide weights (initializer_range 0.2) and biases (BERT starts them at
    0): its logits spread, so a drift shows; at the default init every window scores alike."""
    import yaml

    from plantllm.models import checkpoint as M

    cfg = {"name": "t", "architecture": "bert", "objective": "mlm", "tokenizer": tokenizer or {"kind": "char"},
           "max_length": 320, "config": {"hidden_size": hidden, "num_hidden_layers": layers,
                                         "num_attention_heads": heads, "intermediate_size": 2 * hidden,
                                         "initializer_range": 0.2}}
    (tmp / "m.yaml").write_text(yaml.safe_dump(cfg))
    spec = M.load_spec(tmp / "m.yaml")
    tok = M.build_tokenizer(spec)
    name = f"{task}{layers}"
    M.save(M.create(spec, tok, task=task, num_labels=2 if task == "classification" else None, seed=1), tok, tmp / name)
    runner = ModelRunner(tmp / name, task, precision="exact")
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for key, p in runner.model.named_parameters():
            if key.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    return runner


@pytest.fixture(scope="module")
def windows():
    g = Assembly(load_card(CARDS / "tair10_slice.yaml")).genome
    same = [g.fetch("1", 30_000 + 977 * i, 30_300 + 977 * i) for i in range(12)]
    padded = same[:6] + [g.fetch("1", 50_000, 50_180), g.fetch("1", 51_000, 51_011)]
    return same, padded


def _full(runner, enc) -> torch.Tensor:
    with torch.inference_mode():
        return runner.model(**runner._inputs(enc)).logits.float()


@pytest.mark.parametrize("layers", [1, 3])
def test_classifier_fast_forward_equals_hugging_face(tmp_path, windows, layers):
    """A scan's forward (table embeddings, last layer at [CLS] without keys and values) gives Hugging Face's
    logits within 1e-5, with and without padding; the table is used (not a silent fallback)."""
    runner = _model(tmp_path, "classification", layers)
    assert masked_logits.supports_classifier(runner.model)
    for seqs in windows:
        enc = runner.encode(seqs)
        full, fast = _full(runner, enc), runner.logits(enc)
        assert bert_tables.table(runner.model.bert, enc["input_ids"].shape[1]) is not None
        assert (fast - full).abs().max() < 1e-5
        assert full[:, 1].std() > 1e-3  # the logits spread (100x the tolerance): the comparison means something


@pytest.mark.parametrize("layers", [1, 2])
def test_masked_lm_logits_at_equal_hugging_face(tmp_path, windows, layers):
    """Zero-shot reads (``logits_at``: rows repeat, padding) equal the full forward's logits at those tokens."""
    runner = _model(tmp_path, "mlm", layers, hidden=32, heads=4)
    assert masked_logits.supports(runner.model)
    enc = runner.encode(windows[1])
    rows, cols = torch.tensor([0, 1, 2, 2, 5, 6, 7, 7]), torch.tensor([150, 1, 64, 200, 300, 90, 5, 12])
    enc["input_ids"][rows, cols] = runner.tok.mask_token_id
    full = _full(runner, enc)[rows, cols]
    assert (runner.logits_at(enc, rows, cols) - full).abs().max() < 1e-5
    assert full.std() > 1e-3


def test_table_follows_the_weights_and_falls_back(tmp_path, windows, monkeypatch):
    """A weight changed in place (a model still training) rebuilds the table; training mode, a k-mer vocabulary
    too large for the table, or ``MAX_ELEMENTS`` exceeded run the embedding layer itself, with the same logits."""
    runner = _model(tmp_path, "classification", 1)
    base = runner.model.bert
    enc = runner.encode(windows[0])
    first = bert_tables.table(base, enc["input_ids"].shape[1])
    with torch.no_grad():
        base.embeddings.position_embeddings.weight[5:40] += 0.3
    assert bert_tables.table(base, enc["input_ids"].shape[1]) is not first
    assert (runner.logits(enc) - _full(runner, enc)).abs().max() < 1e-5
    monkeypatch.setattr(bert_tables, "MAX_ELEMENTS", 1000)
    assert bert_tables.table(base, enc["input_ids"].shape[1]) is None
    assert (runner.logits(enc) - _full(runner, enc)).abs().max() < 1e-5
    monkeypatch.undo()
    base.train()
    assert bert_tables.table(base, enc["input_ids"].shape[1]) is None
    base.eval()
    assert bert_tables.table(base, 10_000) is None  # longer than the position table


def test_kmer_tokenizer_table(tmp_path, windows):
    """A 3-mer vocabulary (69 ids) still fits a table; the logits equal Hugging Face's."""
    runner = _model(tmp_path, "classification", 2, tokenizer={"kind": "kmer", "k": 3})
    enc = runner.encode(windows[1])
    assert bert_tables.table(runner.model.bert, enc["input_ids"].shape[1]) is not None
    assert (runner.logits(enc) - _full(runner, enc)).abs().max() < 1e-5
