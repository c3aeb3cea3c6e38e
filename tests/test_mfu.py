"""Model FLOPs per token and MFU (``training/mfu``) on real model configs, counted by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from plantllm.models import checkpoint as M
from plantllm.training import mfu

ROOT = Path(__file__).resolve().parent.parent


def _model(name: str):
    spec = M.load_spec(ROOT / "configs/models" / name)
    return M.create(spec, M.build_tokenizer(spec))


def test_bert_flops_count_every_product_but_the_embedding_tables():
    model = _model("tiny-bert-char.yaml")
    c = model.config
    emb = model.bert.embeddings
    tables = sum(m.weight.numel() for m in (emb.word_embeddings, emb.position_embeddings, emb.token_type_embeddings))
    total = sum(p.numel() for p in model.parameters())  # the LM decoder's weight is tied to the word embeddings
    assert mfu.matmul_parameters(model) == total - tables
    assert mfu.training_flops_per_token(model, 512) == 6 * (total - tables) + 12 * c.num_hidden_layers * c.hidden_size * 512


def test_convolution_models_have_no_attention_term():
    model = _model("tiny-gpn-char.yaml")
    n = mfu.matmul_parameters(model)
    assert n > 0 and mfu.training_flops_per_token(model, 512) == mfu.training_flops_per_token(model, 128) == 6 * n


def test_mfu_needs_a_peak(monkeypatch):
    model = _model("tiny-gpn-char.yaml")
    monkeypatch.delenv("PLANTLLM_PEAK_TFLOPS", raising=False)
    got = mfu.utilisation(model, 256, 1e6, "fp32")
    assert got["model_tflops_per_s"] == pytest.approx(6 * mfu.matmul_parameters(model) * 1e6 / 1e12, rel=1e-5)
    if got["peak_tflops"] is None:  # a CPU (or an unknown GPU): no MFU claimed
        assert got["mfu"] is None
    monkeypatch.setenv("PLANTLLM_PEAK_TFLOPS", "2.0")
    two = mfu.utilisation(model, 256, 2e6, "bf16", world_size=2)  # 2 ranks: per-process rate
    assert two["peak_tflops"] == 2.0 and two["mfu"] == pytest.approx(got["model_tflops_per_s"] / 2.0, rel=1e-4)
