"""Models: every published family's shape built tiny, saved, loaded back; safety refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from plantllm.models import checkpoint as M
from plantllm.models.runner import ModelRunner
from plantllm.core.errors import CardError, InputFileError, MissingFileError, PlantLLMError

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "models"
SEQS = ["ACGTACGTTTGACCAGGGCCCAAATTTGCGATCGATTACGGATC" * 6, "GGGCCCAAATTTACGATCGATTACGTTAACCGGTTAACG" * 5]


def _make(name, task=None, **kw):
    spec = M.load_spec(CONFIGS / f"{name}.yaml")
    tok = M.build_tokenizer(spec, sequences=SEQS * 10 if spec.tokenizer["kind"] == "bpe" else None)
    return spec, tok, M.create(spec, tok, task=task, **kw)


@pytest.mark.parametrize("name", sorted(p.stem for p in CONFIGS.glob("tiny-*.yaml")))
def test_save_load_roundtrip_logits_and_embeddings(name, tmp_path):
    spec, tok, model = _make(name)
    M.save(model, tok, tmp_path / "m", info={"name": name, "species": "arabidopsis_thaliana"})
    assert (tmp_path / "m" / "model.safetensors").exists() and "arabidopsis_thaliana" in (tmp_path / "m" / "README.md").read_text()
    loaded, tok2 = M.load(tmp_path / "m", task=spec.objective)
    ids = tok(SEQS[0][:120], return_tensors="pt")["input_ids"]
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids).logits, loaded(input_ids=ids).logits, atol=1e-5)
    e = ModelRunner.from_model(loaded, tok2).embed(SEQS)
    assert e.shape == (2, model.config.hidden_size) and np.isfinite(e).all()


def test_mean_pooling_ignores_padding(tmp_path):
    spec, tok, model = _make("tiny-bert-char", task="embedding")
    alone = ModelRunner.from_model(model, tok).embed([SEQS[1]])
    padded = ModelRunner.from_model(model, tok).embed([SEQS[0], SEQS[1]])  # SEQS[1] is shorter: padded in the batch
    assert np.allclose(alone[0], padded[1], atol=1e-5)


@pytest.mark.parametrize("task,n,ptype", [("classification", 2, "single_label_classification"),
                                          ("multilabel", 5, "multi_label_classification"),
                                          ("regression", 1, "regression")])
def test_heads(task, n, ptype):
    _, tok, model = _make("tiny-esm-6mer", task=task, num_labels=n)
    out = model(**tok(SEQS, return_tensors="pt", padding=True))
    assert out.logits.shape == (2, n) and model.config.problem_type == ptype


def test_agront_sized_config_is_real():
    spec = M.load_spec(CONFIGS / "agront-1b.yaml")
    tok = M.build_tokenizer(spec)
    cfg = M.config_for(spec, tok)
    # parameters of the AgroNT shape, computed without allocating it
    with torch.device("meta"):
        from transformers import AutoModelForMaskedLM
        n = sum(p.numel() for p in AutoModelForMaskedLM.from_config(cfg).parameters())
    assert 0.9e9 < n < 1.2e9 and len(tok) == 4106  # 4,096 6-mers + A C G T N + 5 specials


def test_spec_errors(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("architecture: bert\nconfig: {num_hidden_layer: 2}\n")
    with pytest.raises(CardError, match=r"config.num_hidden_layer is not a bert setting \(did you mean 'num_hidden_layers'"):
        M.load_spec(p)
    p.write_text("architecture: bret\n")
    with pytest.raises(CardError, match="did you mean 'bert'"):
        M.load_spec(p)
    p.write_text("architecture: gpt2\nobjective: mlm\n")
    with pytest.raises(CardError, match="built for"):
        M.load_spec(p)


def test_missing_folder_says_how_to_get_it(tmp_path):
    with pytest.raises(MissingFileError, match="never downloads.*huggingface-cli download"):
        M.load(tmp_path / "agro-nucleotide-transformer-1b")


def _saved(tmp_path, **kw):
    spec, tok, model = _make("tiny-bert-char")
    out = tmp_path / "m"
    M.save(model, tok, out)
    return out


def test_pickle_refused_unless_allowed(tmp_path):
    spec, tok, model = _make("tiny-bert-char")
    out = tmp_path / "pk"
    model.save_pretrained(str(out), safe_serialization=False)
    tok.save_pretrained(str(out))
    if (out / "model.safetensors").exists():  # transformers 5 may always write safetensors
        (out / "model.safetensors").unlink()
        torch.save(model.state_dict(), out / "pytorch_model.bin")
    with pytest.raises(PlantLLMError, match="pickle file.*--allow-pickle"):
        M.load(out)
    m2, _ = M.load(out, allow_pickle=True)
    assert m2.config.model_type == "bert"


def test_remote_code_refused(tmp_path):
    out = _saved(tmp_path)
    cfg = json.loads((out / "config.json").read_text())
    cfg["model_type"] = "hyenadna"  # PlantCaduceus and GPN are native now
    cfg["auto_map"] = {"AutoModel": "modeling_hyena.HyenaDNAModel"}
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(PlantLLMError, match="HyenaDNA ships its modelling code: pass --trust-remote-code"):
        M.load(out)
    cfg["model_type"] = "dnabert2_custom"
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(PlantLLMError, match="trust_remote_code is off"):
        M.load(out)


def test_missing_weights_corrupt_weights_and_vocab_mismatch(tmp_path):
    out = _saved(tmp_path)
    w = out / "model.safetensors"
    data = w.read_bytes()
    w.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match="cannot load the model"):
        M.load(out)
    w.unlink()
    with pytest.raises(MissingFileError, match="no model weights"):
        M.load(out)
    out2 = _saved(tmp_path / "b")
    from plantllm.models import tokenizers as T
    shutil.rmtree(out2 / "tok", ignore_errors=True)
    big = T.kmer_tokenizer(6)
    for f in out2.glob("tokenizer*"):
        f.unlink()
    T.save(big, out2)
    with pytest.raises(InputFileError, match="tokenizer has 4106 tokens but the model embeds only 10"):
        M.load(out2)


def test_fine_tuned_head_is_kept_when_loading(tmp_path):
    """A saved 3-output multi-label classifier loads with its own head under any classification task."""
    spec = M.load_spec(CONFIGS / "tiny-bert-char.yaml")
    tok = M.build_tokenizer(spec)
    M.save(M.create(spec, tok, task="multilabel", num_labels=3), tok, tmp_path / "ml")
    model, _ = M.load(tmp_path / "ml", task="classification")
    assert model.config.num_labels == 3 and model.config.problem_type == "multi_label_classification"
    reg, _ = M.load(tmp_path / "ml", task="regression")  # a new regression head replaces it
    assert reg.config.num_labels == 1 and reg.config.problem_type == "regression"


def test_fast_precision_agrees_with_exact():
    """bf16 on a CPU with AVX512-BF16/AMX (fp32 elsewhere): masked-LM scores rank like fp32 ones."""
    from scipy.stats import spearmanr

    from plantllm.core.errors import PlantLLMError
    from plantllm.models.runner import device_and_dtype

    spec, tok, model = _make("tiny-bert-char", task="mlm")
    exact = ModelRunner.from_model(model, tok, precision="exact")
    e = exact.logits(exact.encode(SEQS)).flatten().numpy().copy()
    fast = ModelRunner.from_model(model, tok, precision="fast")
    f = fast.logits(fast.encode(SEQS)).flatten().numpy()
    cpu_bf16 = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert fast.dtype == (torch.bfloat16 if cpu_bf16 or torch.cuda.is_available() else torch.float32)
    assert spearmanr(e, f).statistic > 0.99 and abs(e - f).max() < 0.1
    with pytest.raises(PlantLLMError, match="precision"):
        device_and_dtype("half")
