"""Training on real TAIR10 data: repeat-weighted loss, fine-tuning metrics, DeepSpeed ranks, kill -9 resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from conftest import DATA
from plantllm.models import tokenizers as T
from plantllm.species.assembly import Assembly
from plantllm.core.errors import CardError
from plantllm.species.card import load_card
from plantllm.data.splits import Splitter
from plantllm.data.tasks.promoter import PromoterParams, build_promoter
from plantllm.core.metrics import classification_metrics, regression_metrics
from plantllm.training.callbacks import COMPLETE, complete_checkpoints, quarantine_incomplete
from plantllm.training.collators import DnaCollator
from plantllm.training.config import TrainConfig
from plantllm.training.trainer import run
from plantllm.data.tasks.pretrain import WindowParams, build_pretrain

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("c") / "corpus"
    build_pretrain(Assembly(load_card(DATA / "cards" / "tair10_slice.yaml")), out,
                   WindowParams(length=128, stride=128), Splitter(0.2, 0.2, block_size=100_000))
    return out


@pytest.fixture(scope="module")
def promoters(tmp_path_factory):
    out = tmp_path_factory.mktemp("p") / "prom"
    build_promoter(Assembly(load_card(DATA / "cards" / "tair10_slice.yaml")), out,
                   PromoterParams(upstream=99, downstream=20, negatives="random"), Splitter(0.2, 0.2, block_size=100_000))
    return out


def _cfg(tmp_path, **kw) -> Path:
    base = {"task": "mlm", "model": str(ROOT / "configs/models/tiny-bert-char.yaml"), "output_dir": str(tmp_path / "run"),
            "deepspeed": None, "max_steps": 12, "per_device_train_batch_size": 8, "max_length": 130,
            "eval_steps": 6, "save_steps": 6, "logging_steps": 2, "max_eval_samples": 64, "learning_rate": 2e-3}
    base.update(kw)
    tmp_path.mkdir(parents=True, exist_ok=True)
    p = tmp_path / "train.yaml"
    p.write_text(yaml.safe_dump(base))
    return p


def test_shipped_train_configs_parse(corpus):
    for p in (ROOT / "configs/train").glob("*.yaml"):
        cfg = TrainConfig.load(p, dataset=str(corpus), model=str(ROOT / "configs/models/tiny-bert-char.yaml"))
        assert cfg.deepspeed is None or Path(cfg.deepspeed).exists()


def test_config_typo_suggests_key(tmp_path, corpus):
    p = _cfg(tmp_path, dataset=str(corpus))
    data = yaml.safe_load(p.read_text())
    data["learning_rat"] = 1e-3
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(CardError, match=r"unknown key 'learning_rat' \(did you mean 'learning_rate'"):
        TrainConfig.load(p)


def test_collator_repeat_weights_follow_the_soft_mask(tmp_path, corpus):
    import datasets

    row = next(r for r in datasets.load_from_disk(str(corpus))["train"] if 0.2 < r["repeat_fraction"] < 0.8)
    tok = T.char_tokenizer(max_length=130)
    cfg = TrainConfig(task="mlm", model="x", dataset=str(corpus), max_length=130, rc_augment=False,
                      mlm_probability=0.0)
    b = DnaCollator(tok, cfg, train=True, lm=True)([row])
    w = b["loss_weight"][0, 1:129].numpy()
    expected = np.where(np.array(row["repeat_mask"], bool), 0.1, 1.0)
    assert np.allclose(w, expected) and b["loss_weight"][0, 0] == 0  # [CLS] carries no loss
    k6 = T.kmer_tokenizer(6, max_length=40)
    b6 = DnaCollator(k6, cfg, train=True, lm=True)([row])
    n6 = 128 // 6
    per_kmer = expected[: n6 * 6].reshape(n6, 6).mean(1)
    assert np.allclose(b6["loss_weight"][0, 1:1 + n6].numpy(), per_kmer, atol=1e-6)


def test_repeat_weighting_changes_the_loss(tmp_path, corpus):
    """The same run with and without repeat down-weighting: soft-masked bases count less."""
    a = run(TrainConfig.load(_cfg(tmp_path / "a", dataset=str(corpus), max_steps=4, rc_augment=False)))
    b = run(TrainConfig.load(_cfg(tmp_path / "b", dataset=str(corpus), max_steps=4, rc_augment=False,
                                  repeat_weighting=False)))
    assert a["train_loss"] != pytest.approx(b["train_loss"], rel=1e-4)


def test_mlm_pretraining_then_promoter_finetuning(tmp_path, corpus, promoters):
    s = run(TrainConfig.load(_cfg(tmp_path / "pre", dataset=str(corpus), max_steps=30)))
    losses = [h["loss"] for h in s["log_history"] if "loss" in h]
    assert losses[-1] < losses[0] and s["tokens_per_s"] > 0
    assert s["model_tflops_per_s"] > 0 and (s["mfu"] is None) == (s["peak_tflops"] is None)
    assert (tmp_path / "pre" / "run" / "loss.png").exists() and Path(s["model"], "README.md").exists()
    ft = run(TrainConfig.load(_cfg(tmp_path / "ft", task="classification", dataset=str(promoters),
                                   model=s["model"], max_steps=20, max_length=122, early_stopping_patience=2,
                                   metric_for_best_model="eval_auroc")))
    for k in ("test_auroc", "test_auprc", "test_mcc", "test_f1", "test_accuracy"):
        assert k in ft["test"]
    assert (tmp_path / "ft" / "run" / "roc_pr.png").exists()
    assert (tmp_path / "ft" / "run" / "test_predictions.tsv").read_text().startswith("label\tscore")


def test_lora_finetuning(tmp_path, promoters):
    s = run(TrainConfig.load(_cfg(tmp_path, task="classification", dataset=str(promoters), max_steps=6,
                                  max_length=122, lora={"r": 4, "alpha": 8})))
    assert "test_auroc" in s["test"]


def test_metric_functions():
    y = np.array([0, 0, 1, 1])
    m = classification_metrics(y, np.array([0.1, 0.4, 0.35, 0.8]))
    assert m["auroc"] == pytest.approx(0.75) and m["accuracy"] == pytest.approx(0.75)
    r = regression_metrics(np.array([1.0, 2, 3, 4]), np.array([1.1, 1.9, 3.2, 3.9]))
    assert r["pearson"] > 0.99 and r["r2"] > 0.95


def test_incomplete_checkpoint_is_set_aside(tmp_path):
    out = tmp_path / "run"
    (out / "checkpoint-6").mkdir(parents=True)
    (out / "checkpoint-6" / COMPLETE).write_text("{}")
    (out / "checkpoint-12").mkdir()
    (out / "checkpoint-12" / "model.safetensors").write_bytes(b"trunc")  # disk full / killed while saving
    moved = quarantine_incomplete(out)
    assert moved and [p.name for p in complete_checkpoints(out)] == ["checkpoint-6"]


# ----------------------------------------------------------------------------- slow, multi-process
def _launch(cfg: Path, *extra: str, env=None) -> subprocess.Popen:
    e = dict(os.environ, PLANTLLM_QUIET="1", **(env or {}))
    return subprocess.Popen([sys.executable, "-m", "plantllm.training.launch", "--config", str(cfg), *extra], env=e,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_kill_9_resume_gives_the_uninterrupted_result(tmp_path, corpus):
    kw = dict(dataset=str(corpus), max_steps=18, save_steps=6, eval_steps=18, rc_augment=True,
              deepspeed=str(ROOT / "configs/deepspeed/zero2.json"))
    full = _cfg(tmp_path / "full", **kw)
    p = _launch(full)
    assert p.wait(timeout=600) == 0, p.stdout.read()[-3000:]
    cut = _cfg(tmp_path / "cut", **kw)
    p = _launch(cut)
    out = tmp_path / "cut" / "run"
    t0 = time.time()
    while not (out / "checkpoint-12" / COMPLETE).exists():
        assert p.poll() is None, p.stdout.read()[-3000:]
        assert time.time() - t0 < 600
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert not (out / "model").exists()
    p = _launch(cut)
    log = p.communicate(timeout=600)[0]
    assert p.returncode == 0, log[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_from"].endswith(("checkpoint-12", "checkpoint-18"))
    a = load_file(str(tmp_path / "full" / "run" / "model" / "model.safetensors"))
    b = load_file(str(out / "model" / "model.safetensors"))
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k


@pytest.mark.slow
def test_two_deepspeed_ranks_agree(tmp_path, corpus):
    from plantllm.cli import main

    cfg = _cfg(tmp_path, dataset=str(corpus), max_steps=20, deepspeed=str(ROOT / "configs/deepspeed/zero2.json"))
    assert main(["pretrain", str(cfg), "--nproc", "2", "--no-resume"]) == 0
    out = tmp_path / "run"
    ranks = [json.loads((out / "ranks" / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world_size"] == 2 and ranks[0]["params_sha256"] == ranks[1]["params_sha256"]
    s = json.loads((out / "summary.json").read_text())
    losses = [h["loss"] for h in s["log_history"] if "loss" in h]
    assert s["world_size"] == 2 and losses[-1] < losses[0]
    from plantllm.models import checkpoint as M

    model, tok = M.load(s["model"], task="mlm")
    assert model.config.model_type == "bert"


def test_clm_pretraining_with_llama(tmp_path, corpus):
    s = run(TrainConfig.load(_cfg(tmp_path, task="clm", model=str(ROOT / "configs/models/tiny-llama-char.yaml"),
                                  dataset=str(corpus), max_steps=12)))
    losses = [h["loss"] for h in s["log_history"] if "loss" in h]
    assert losses[-1] < losses[0] and "test_loss" in s["test"]
    from plantllm.models import checkpoint as M

    model, _ = M.load(s["model"], task="clm")
    assert model.config.model_type == "llama"


def test_multilabel_motif_finetuning(tmp_path):
    from plantllm.data.tasks.motif import MotifParams, build_motif

    asm = Assembly(load_card(DATA / "cards" / "tair10_slice.yaml"))
    build_motif(asm, tmp_path / "m", MotifParams(jaspar=("MA0931.1", "TCP4", "WRKY12"), upstream=99, downstream=20),
                Splitter(0.2, 0.2, block_size=100_000))
    s = run(TrainConfig.load(_cfg(tmp_path, task="multilabel", dataset=str(tmp_path / "m"), label_column="labels",
                                  model=str(ROOT / "configs/models/tiny-esm-6mer.yaml"), max_steps=6, max_length=32)))
    assert "test_auroc_macro" in s["test"]


# ----------------------------------------------------------------------------- the pieces alone
def test_collator_is_deterministic_and_eval_does_not_augment():
    tok = T.char_tokenizer(max_length=40)
    rows = [{"seq": "ACGTTGCAAC" * 3, "chrom": "1", "start": i * 30, "strand": "+"} for i in range(8)]
    cfg = TrainConfig(task="mlm", model="x", dataset="x", max_length=40, repeat_weighting=False)
    train = DnaCollator(tok, cfg, train=True, lm=True)
    a, b = train(rows), train(rows)
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same rows, the same draws
    train.epoch = 1
    assert not torch.equal(train(rows)["labels"], a["labels"])  # a new epoch, new draws
    ev = DnaCollator(tok, cfg, train=False, lm=True)(rows)
    masked = ev["labels"] != -100
    assert masked.any(dim=1).all() and (ev["input_ids"][masked] != ev["labels"][masked]).any()
    plain = DnaCollator(tok, TrainConfig(task="mlm", model="x", dataset="x", max_length=40, mlm_probability=0.0,
                                         rc_augment=True), train=False, lm=True)(rows)
    unmasked = plain["labels"] == -100
    plain_ids = tok([r["seq"] for r in rows], return_tensors="pt")["input_ids"]
    assert torch.equal(plain["input_ids"][unmasked], plain_ids[unmasked])  # no reverse complement
    reg = DnaCollator(tok, TrainConfig(task="regression", model="x", dataset="x", label_column="y"), train=True,
                      lm=False)([dict(r, y=i / 2) for i, r in enumerate(rows)])
    assert reg["labels"].shape == (8, 1) and "loss_weight" not in reg


def test_plant_loss_weights_tokens_and_classes():
    from plantllm.training.callbacks import plant_loss

    torch.manual_seed(0)
    logits, labels = torch.randn(2, 5, 7), torch.randint(7, (2, 5))
    labels[0, 0] = -100
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, 7), labels.reshape(-1), ignore_index=-100,
                                           reduction="none")
    ones = torch.ones(2, 5)
    assert torch.isclose(plant_loss("mlm", logits, labels, ones), ce[labels.reshape(-1) != -100].mean())
    half = ones.clone()
    half[1] = 0.5
    w = (labels.reshape(-1) != -100).float() * half.reshape(-1)
    assert torch.isclose(plant_loss("mlm", logits, labels, half), (ce * w).sum() / w.sum())
    clm = plant_loss("clm", logits, labels, ones)  # token t predicts token t+1
    ce_shift = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 7), labels[:, 1:].reshape(-1))
    assert torch.isclose(clm, ce_shift)
    cls_logits, y = torch.randn(4, 2), torch.tensor([0, 0, 0, 1])
    cw = torch.tensor([4 / 6, 4 / 2])
    assert torch.isclose(plant_loss("classification", cls_logits, y, class_weights=cw),
                         torch.nn.functional.cross_entropy(cls_logits, y, weight=cw))


def test_callbacks_alone(tmp_path):
    from types import SimpleNamespace

    from plantllm.training.callbacks import EpochToCollator, MarkComplete, SteadyClock

    state = SimpleNamespace(global_step=6, is_world_process_zero=True, epoch=2.0)
    (tmp_path / "checkpoint-6").mkdir()
    MarkComplete(tmp_path).on_save(None, state, None)
    assert json.loads((tmp_path / "checkpoint-6" / COMPLETE).read_text())["step"] == 6
    MarkComplete(tmp_path).on_save(None, SimpleNamespace(global_step=12, is_world_process_zero=False), None)
    assert complete_checkpoints(tmp_path) == [tmp_path / "checkpoint-6"]
    col = SimpleNamespace(epoch=0)
    EpochToCollator(col).on_epoch_begin(None, state, None)
    assert col.epoch == 2
    clock, args = SteadyClock(), SimpleNamespace(max_steps=10)
    assert clock.tokens_per_s(100) is None
    for step in range(1, 11):
        clock.on_step_end(args, SimpleNamespace(global_step=step), None)
    assert clock.start_step == 2 and clock.end_step == 10 and clock.tokens_per_s(100) > 0


def test_compute_metrics_per_task():
    from types import SimpleNamespace

    from plantllm.training.callbacks import make_compute_metrics

    y = np.array([0, 0, 1, 1])
    binary = make_compute_metrics("classification")(SimpleNamespace(
        predictions=(np.array([[2.0, 0], [0, 1], [1, 0], [0, 3]]),), label_ids=y))
    assert binary["auroc"] == pytest.approx(0.75) and binary["accuracy"] == pytest.approx(0.5)
    multi = make_compute_metrics("classification")(SimpleNamespace(predictions=np.eye(3)[[0, 1, 2, 2]],
                                                                   label_ids=np.array([0, 1, 2, 1])))
    assert multi["accuracy"] == pytest.approx(0.75) and "f1_macro" in multi
    reg = make_compute_metrics("regression")(SimpleNamespace(predictions=np.array([[1.0], [2], [3.5]]),
                                                             label_ids=np.array([1.0, 2, 3])))
    assert reg["pearson"] > 0.99
    ml = make_compute_metrics("multilabel")(SimpleNamespace(predictions=np.array([[2.0, -1], [-2, 1], [1, 0]]),
                                                            label_ids=np.array([[1, 0], [0, 1], [1, 1]])))
    assert ml["auroc_macro"] == pytest.approx(1.0)


def test_test_predictions_use_the_evaluation_collator(tmp_path):
    """With rc_augment the training collator reverse-complements at random; test predictions must not."""
    import datasets
    from transformers import BertConfig, BertForSequenceClassification, TrainingArguments

    from plantllm.training.callbacks import PlantTrainer

    tok = T.char_tokenizer(max_length=40)
    cfg = TrainConfig(task="classification", model="x", dataset="x", max_length=40, rc_augment=True)
    train_c, eval_c = DnaCollator(tok, cfg, train=True, lm=False), DnaCollator(tok, cfg, train=False, lm=False)
    model = BertForSequenceClassification(BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=16))
    ds = datasets.Dataset.from_list([{"seq": "ACGTTGCAAC" * 3, "label": 1, "chrom": "1", "start": 0, "strand": "+"}])
    tr = PlantTrainer(model=model, args=TrainingArguments(str(tmp_path), report_to=[], use_cpu=True),
                      data_collator=train_c, task="classification", eval_collator=eval_c)
    assert tr.get_test_dataloader(ds).collate_fn is eval_c and tr.get_eval_dataloader(ds).collate_fn is eval_c
    assert tr.data_collator is train_c


def test_gradient_accumulation_equals_a_larger_batch(tmp_path):
    """One optimizer step over 4 examples: batch 2 x 2 accumulation steps updates the weights exactly as one
    batch of 4 (the Trainer divides plantllm's mean loss by the accumulation steps)."""
    import torch
    from datasets import Dataset
    from transformers import BertConfig, BertForSequenceClassification, TrainingArguments

    from plantllm.training.callbacks import PlantTrainer

    data = Dataset.from_dict({"input_ids": [[2, 5, 6, 7, 8, 3], [2, 8, 7, 6, 5, 3], [2, 5, 5, 6, 6, 3],
                                            [2, 7, 7, 8, 8, 3]], "labels": [0, 1, 1, 0]})
    after = []
    for batch, accumulate in ((4, 1), (2, 2)):
        torch.manual_seed(0)
        model = BertForSequenceClassification(BertConfig(vocab_size=10, hidden_size=16, num_hidden_layers=1,
                                                         num_attention_heads=2, intermediate_size=32,
                                                         hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
        args = TrainingArguments(str(tmp_path / f"b{batch}"), per_device_train_batch_size=batch, max_steps=1,
                                 gradient_accumulation_steps=accumulate, learning_rate=0.5, optim="sgd",
                                 lr_scheduler_type="constant", report_to=[], use_cpu=True, save_strategy="no",
                                 logging_strategy="no", max_grad_norm=0.0)
        PlantTrainer(model=model, args=args, train_dataset=data, task="classification").train()
        after.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.allclose(after[0], after[1], atol=1e-6)
