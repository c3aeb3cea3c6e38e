"""GPN natively (plantllm.models.families.gpn), checked against GPN's own code without the ``gpn`` package.

tests/data/gpn_reference/ holds tiny random-weight models built and saved by the real ``gpn`` package
(legacy ConvNet, and GPN with convnet, bytenet and roformer encoders), GPN's tokenizer as GPN writes it,
GPN's masked-LM logits on real soft-masked TAIR10 windows and ``gpn.ss.run_vep`` scores of real TAIR10
positions (how: tests/data/gpn_reference/README.md). plantllm must reproduce them within 1e-4.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from conftest import CARDS, DATA
from plantllm.core.errors import CardError, PlantLLMError
from plantllm.models import checkpoint as M
from plantllm.models import tokenizers as T
from plantllm.models.runner import ModelRunner

REF = DATA / "gpn_reference"
MODELS = ("legacy_convnet", "gpn_convnet", "gpn_bytenet", "gpn_roformer")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def asm():
    from plantllm.species.assembly import Assembly
    from plantllm.species.card import load_card

    return Assembly(load_card(CARDS / "tair10_slice.yaml"))


@pytest.fixture(scope="module")
def windows(asm):
    return [asm.genome.fetch(w["chrom"], w["start"], w["end"]) for w in json.loads((REF / "windows.json").read_text())]


@pytest.mark.parametrize("name", MODELS)
def test_native_model_reproduces_gpn_logits(name, windows):
    model, tok = M.load(REF / name, task="mlm")
    assert type(model).__module__ == "plantllm.models.families.gpn"
    assert tok.plantllm["kind"] == "gpn"  # GPN's own tokenizer files, recognised by their vocabulary
    assert any(c.islower() for w in windows for c in w) and any(c.isupper() for w in windows for c in w)
    runner = ModelRunner.from_model(model, tok, precision="exact")
    enc = runner.encode(windows)  # the vectorised encoder: soft-masked bases, no [CLS]/[SEP]
    ref_ids = np.load(REF / "input_ids.npy")
    assert np.array_equal(enc["input_ids"].numpy(), ref_ids)
    assert np.array_equal(tok(windows, return_tensors="np")["input_ids"], ref_ids)
    got = runner.logits(enc).numpy()
    want = np.load(REF / name / "logits.npy")
    assert got.shape == want.shape and want.std() > 0.3  # random weights: logits far from uniform
    assert np.abs(got - want).max() < 1e-4


@pytest.mark.parametrize("name", ("legacy_convnet", "gpn_convnet", "gpn_roformer"))
def test_llr_equals_gpn_run_vep(name, asm):
    from plantllm.apps.variant_scoring import VariantScorer, score_vcf

    want = {}
    for line in (REF / name / "vep.tsv").read_text().splitlines()[1:]:
        c, p, r, a, s = line.split("\t")
        want[(int(p), r, a)] = float(s)
    scorer = VariantScorer(REF / name, "llr", window=128, batch_size=4, precision="exact")
    got = {(s.variant.pos + 1, s.variant.ref, s.variant.alt): s.score for s in score_vcf(asm, REF / "snvs.vcf", scorer)}
    assert got.keys() == want.keys() and len(got) == 12
    assert max(abs(got[k] - want[k]) for k in want) < 1e-4


def test_heads_and_auto_classes():
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    assert AutoConfig.for_model("ConvNet").n_layers == 25 and AutoConfig.for_model("GPN").encoder == "convnet"
    base = AutoModel.from_pretrained(REF / "gpn_convnet")
    ids = torch.tensor(np.load(REF / "input_ids.npy"))
    out = base(input_ids=ids, output_hidden_states=True)
    assert torch.equal(out.hidden_states[-1], out.last_hidden_state) and len(out.hidden_states) == 4
    for name in ("legacy_convnet", "gpn_convnet"):
        clf, info = AutoModelForSequenceClassification.from_pretrained(REF / name, num_labels=3,
                                                                       output_loading_info=True)
        assert all(k.startswith("classifier.") for k in info["missing_keys"])  # the encoder came from GPN
        res = clf(input_ids=ids, labels=torch.tensor([0, 1, 2, 1]))
        assert res.logits.shape == (4, 3) and res.loss.item() > 0
        reg = AutoModelForSequenceClassification.from_pretrained(REF / name, num_labels=1, problem_type="regression")
        assert reg(input_ids=ids, labels=torch.randn(4, 1)).logits.shape == (4, 1)
    # a full attention mask is GPN's computation (its heads take a plain mean over the window)
    clf.eval()
    assert torch.equal(clf(input_ids=ids, attention_mask=torch.ones_like(ids)).logits, clf(input_ids=ids).logits)


def test_gpn_tokenizer_matches_gpn_files_and_fast_encoder(windows):
    ours, theirs = T.gpn_tokenizer(), T.load(REF / "gpn_convnet")
    assert ours.get_vocab() == theirs.get_vocab() == T.GPN_VOCAB
    text = windows + ["ACGTNRYacgtn", "AC" + "[MASK]" + "gt"]
    assert ours(text)["input_ids"] == theirs(text)["input_ids"]
    assert ours.cls_token_id is None and ours.sep_token_id is None and ours.mask_token_id == 1
    fast = T.FastDnaEncoder(ours)
    seqs = [w[:100] for w in windows] + ["ACGTNNacgtRY" * 8 + "ACGT"]
    assert fast(seqs)["input_ids"].tolist() == ours(seqs, padding=True)["input_ids"]
    assert fast.token_of(windows, [0, 5, 64, 127]).tolist() == [0, 5, 64, 127]  # base i is token i


def test_model_configs_create_and_save(tmp_path):
    for yml, arch, cls in (("tiny-gpn-char.yaml", "gpn", "GPNForMaskedLM"),
                           ("gpn-brassicales.yaml", "gpn_convnet", "ConvNetForMaskedLM")):
        spec = M.load_spec(ROOT / "configs/models" / yml)
        assert spec.architecture == arch and spec.tokenizer == {"kind": "gpn"}
    tok = M.build_tokenizer(spec)
    assert tok.plantllm["kind"] == "gpn" and len(tok) == 7
    spec = M.load_spec(ROOT / "configs/models/tiny-gpn-char.yaml")
    model = M.create(spec, M.build_tokenizer(spec))
    assert type(model).__name__ == "GPNForMaskedLM" and model.config.vocab_size == 7
    M.save(model, M.build_tokenizer(spec), tmp_path / "m")
    again, tok2 = M.load(tmp_path / "m", task="mlm")
    assert tok2.plantllm["kind"] == "gpn"
    ids = torch.tensor([[3, 4, 5, 6, 1, 3, 4]])
    assert torch.equal(again(input_ids=ids).logits, model.eval()(input_ids=ids).logits)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"architecture": "gpn", "tokenizer": {"kind": "char"}}))
    with pytest.raises(CardError, match="take the 'gpn' tokenizer"):
        M.load_spec(bad)
    bad.write_text(yaml.safe_dump({"architecture": "bert", "tokenizer": {"kind": "gpn"}}))
    with pytest.raises(CardError, match="for GPN architectures"):
        M.load_spec(bad)
    bad.write_text(yaml.safe_dump({"architecture": "gpn", "config": {"n_layers": 3}}))
    with pytest.raises(CardError, match="not a gpn setting"):
        M.load_spec(bad)


def test_lora_targets_merge_exactly():
    """LoRA adapts GPN's linear layers (peft's conv adapters drop the dilation); merging changes nothing."""
    from plantllm.training.trainer import _lora

    ids = torch.tensor(np.load(REF / "input_ids.npy"))
    for name, n_adapted in (("legacy_convnet", 3), ("gpn_convnet", 9), ("gpn_bytenet", 6), ("gpn_roformer", 4)):
        model, _ = M.load(REF / name, task="classification", num_labels=2)
        peft_model = _lora(model, {"r": 2, "alpha": 4, "dropout": 0.0}, model.config.model_type)
        adapted = [n for n, _ in peft_model.named_modules() if n.endswith(".lora_A")]
        assert len(adapted) == n_adapted, adapted
        with torch.no_grad():
            for n, p in peft_model.named_parameters():
                if "lora_B" in n:
                    p.normal_(0, 0.5)
        peft_model.eval()
        before = peft_model(input_ids=ids).logits
        assert torch.allclose(peft_model.merge_and_unload()(input_ids=ids).logits, before, atol=1e-5)


def test_embeddings_and_a_too_short_model_context(windows):
    model, tok = M.load(REF / "legacy_convnet", task="embedding")
    runner = ModelRunner.from_model(model, tok, precision="exact")
    assert runner.context is None or runner.context > 10**6  # convolutions: no position table
    emb = runner.embed(windows, pooling="mean")
    assert emb.shape == (4, model.config.hidden_size) and np.isfinite(emb).all()
    rof, tok = M.load(REF / "gpn_roformer", task="mlm")
    assert ModelRunner.from_model(rof, tok).context == rof.config.max_position_embeddings
    with pytest.raises(PlantLLMError, match="takes at most"):
        ModelRunner.from_model(rof, tok).encode(["ACGT" * 300])


# ---------------------------------------------------------------- training
@pytest.fixture(scope="module")
def datasets(tmp_path_factory, asm):
    from plantllm.data.splits import Splitter
    from plantllm.data.tasks.pretrain import WindowParams, build_pretrain
    from plantllm.data.tasks.promoter import PromoterParams, build_promoter

    tmp = tmp_path_factory.mktemp("gpn_data")
    build_pretrain(asm, tmp / "corpus", WindowParams(length=128, stride=512), Splitter(0.2, 0.0, block_size=100_000))
    build_promoter(asm, tmp / "prom", PromoterParams(upstream=99, downstream=20, negatives="random"),
                   Splitter(0.2, 0.2, block_size=100_000))
    return tmp / "corpus", tmp / "prom"


def _train_cfg(tmp: Path, **kw) -> Path:
    base = {"task": "mlm", "model": str(ROOT / "configs/models/tiny-gpn-char.yaml"), "output_dir": str(tmp / "run"),
            "deepspeed": None, "max_steps": 8, "per_device_train_batch_size": 8, "max_length": 128, "eval_steps": 8,
            "save_steps": 8, "logging_steps": 2, "max_eval_samples": 32, "learning_rate": 3e-3}
    base.update(kw)
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "train.yaml").write_text(yaml.safe_dump(base))
    return tmp / "train.yaml"


def test_pretrain_continue_and_finetune(tmp_path, datasets):
    """From scratch (the tiny config), continued pretraining of a folder GPN's own code wrote (the legacy
    ConvNet), then full and LoRA fine-tuning of the result as a promoter classifier."""
    from plantllm.training.config import TrainConfig
    from plantllm.training.trainer import run

    corpus, prom = datasets
    s = run(TrainConfig.load(_train_cfg(tmp_path / "scratch", dataset=str(corpus))))
    losses = [h["loss"] for h in s["log_history"] if "loss" in h]
    assert losses[-1] < losses[0]
    cont = run(TrainConfig.load(_train_cfg(tmp_path / "cont", dataset=str(corpus), model=str(REF / "legacy_convnet"),
                                           max_steps=4)))
    model, tok = M.load(cont["model"], task="mlm")
    assert type(model).__name__ == "ConvNetForMaskedLM" and tok.plantllm["kind"] == "gpn"
    before = M.load(REF / "legacy_convnet", task="mlm")[0].state_dict()
    assert any(not torch.equal(v, before[k]) for k, v in model.state_dict().items())  # it trained
    for lora in (None, {"r": 4, "alpha": 8}):
        ft = run(TrainConfig.load(_train_cfg(tmp_path / f"ft{bool(lora)}", task="classification", dataset=str(prom),
                                             model=s["model"], max_steps=4, max_length=120, lora=lora)))
        assert "test_auroc" in ft["test"]
        clf, _ = M.load(ft["model"], task="classification", require_head=True)
        assert type(clf).__name__ == "GPNForSequenceClassification"


@pytest.mark.slow
def test_pretraining_on_two_deepspeed_ranks(tmp_path, datasets):
    from plantllm.cli import main

    cfg = _train_cfg(tmp_path, dataset=str(datasets[0]), max_steps=6,
                     deepspeed=str(ROOT / "configs/deepspeed/zero2.json"))
    assert main(["pretrain", str(cfg), "--nproc", "2", "--no-resume"]) == 0
    ranks = [json.loads((tmp_path / "run" / "ranks" / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world_size"] == 2 and ranks[0]["params_sha256"] == ranks[1]["params_sha256"]
    model, _ = M.load(tmp_path / "run" / "model", task="mlm")
    assert model.config.model_type == "GPN"
