"""Training: continued pretraining (MLM/CLM) and fine-tuning, on DeepSpeed through the HF Trainer.

One YAML config (``configs/train/*.yaml``, :mod:`plantllm.training.config`) drives a run; the same
config runs on a laptop CPU (fp32, one or more gloo ranks), one GPU (bf16/fp16) and many nodes
(``deepspeed --hostfile``). Values the Trainer also sets are ``"auto"`` in the DeepSpeed JSON, so
this config is the one place they are chosen.

What plantllm adds to the Trainer, each in its own module:

* :mod:`~plantllm.training.collators`: tokenization on the fly, reverse-complement augmentation
  seeded per row (a resumed run draws the same augmentations) and per-token loss weights from the
  dataset's per-base repeat mask (repeats down-weighted, as GPN does);
* :mod:`~plantllm.training.callbacks`: the weighted MLM/CLM loss and class-weighted classification
  loss, checkpoints marked complete only after the Trainer finished writing them (a run killed at
  any moment resumes from the newest complete one), throughput, metrics;
* :mod:`~plantllm.training.mfu`: the model's TFLOP/s and, where the device's peak is known, MFU;
* :mod:`~plantllm.training.outputs`: metrics as JSON, test predictions and plots.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError, did_you_mean
from plantllm.core.io import atomic_write
from plantllm.models import checkpoint as M
from plantllm.training.callbacks import (EpochToCollator, MarkComplete, PlantTrainer, Progress, SteadyClock,
                                         complete_checkpoints, make_compute_metrics, quarantine_incomplete)
from plantllm.training.collators import DnaCollator
from plantllm.training.config import TrainConfig
from plantllm.training.mfu import utilisation
from plantllm.training.outputs import plot_losses, write_predictions, write_rank_fingerprint


def run(cfg: TrainConfig, *, resume: bool = True) -> dict:
    """Train according to ``cfg``; returns the summary written to ``output_dir/summary.json``."""
    from transformers import EarlyStoppingCallback, PrinterCallback, set_seed

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    set_seed(cfg.seed)
    train_ds, eval_ds, test_ds = _splits(cfg)
    num_labels = _num_labels(cfg, train_ds)
    model, tok = _model(cfg, train_ds, num_labels)
    class_weights = _class_weights(cfg, train_ds, num_labels)
    train_collator = DnaCollator(tok, cfg, True, cfg.lm)
    resume_from = _resume_point(out, resume)
    args = _training_args(cfg, out, num_labels)
    clock = SteadyClock()
    callbacks = [MarkComplete(out), EpochToCollator(train_collator), clock, Progress()]
    if cfg.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(cfg.early_stopping_patience))
    trainer = PlantTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                           data_collator=train_collator, eval_collator=DnaCollator(tok, cfg, False, cfg.lm),
                           task=cfg.task, class_weights=class_weights, callbacks=callbacks,
                           compute_metrics=None if cfg.lm else make_compute_metrics(cfg.task))
    trainer.remove_callback(PrinterCallback)  # its printed dicts are replaced by Progress's lines
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=resume_from)
    summary = _speed(cfg, args, result, time.time() - t0, resume_from, clock)
    summary.update(utilisation(getattr(trainer.model, "module", trainer.model), cfg.max_length,
                               summary.get("steady_tokens_per_s", summary["tokens_per_s"]),
                               summary["precision"], summary["world_size"]))
    summary.update(_evaluate(cfg, trainer, test_ds, out))
    summary["best_checkpoint"] = trainer.state.best_model_checkpoint
    write_rank_fingerprint(out, trainer)
    summary["log_history"] = trainer.state.log_history
    if trainer.is_world_process_zero():
        _save(cfg, trainer, tok, out, summary)
    return summary


# ---------------------------------------------------------------- data and model
def _splits(cfg: TrainConfig):
    """(train, validation, test or None), capped by max_train_samples / max_eval_samples (never the test)."""
    import datasets

    ds = datasets.load_from_disk(cfg.dataset)
    for split in ("train", "validation"):
        if split not in ds or len(ds[split]) == 0:
            raise PlantLLMError(f"{cfg.dataset}: the '{split}' split is empty", fix="rebuild with other split fractions")
    if not cfg.lm and cfg.label_column not in ds["train"].column_names:
        raise PlantLLMError(f"{cfg.dataset} has no column '{cfg.label_column}'"
                            f"{did_you_mean(cfg.label_column, ds['train'].column_names)}")
    train_ds, eval_ds = ds["train"], ds["validation"]
    if cfg.max_train_samples:
        train_ds = train_ds.select(range(min(cfg.max_train_samples, len(train_ds))))
    if cfg.max_eval_samples:
        eval_ds = eval_ds.select(range(min(cfg.max_eval_samples, len(eval_ds))))
    test_ds = ds["test"] if "test" in ds and len(ds["test"]) else None  # always whole: reported metrics
    return train_ds, eval_ds, test_ds


def _num_labels(cfg: TrainConfig, train_ds) -> int | None:
    if cfg.task == "classification":
        return int(max(train_ds[cfg.label_column])) + 1
    if cfg.task == "multilabel":
        return len(train_ds[0][cfg.label_column])
    if cfg.task == "regression":  # one value, or a list of values per row (multi-output regression)
        first = train_ds[0][cfg.label_column]
        return len(first) if isinstance(first, list) else 1
    return None


def _model(cfg: TrainConfig, train_ds, num_labels: int | None):
    """(model, tokenizer): built from a configs/models/*.yaml (a BPE tokenizer learns the training split)
    or loaded from a model folder; LoRA and gradient checkpointing as configured."""
    model_path = Path(cfg.model)
    if model_path.suffix in (".yaml", ".yml"):
        spec = M.load_spec(model_path)
        seqs = (r["seq"] for r in train_ds.select_columns(["seq"])) if spec.tokenizer.get("kind") == "bpe" else None
        tok = M.build_tokenizer(spec, sequences=seqs)
        model = M.create(spec, tok, task=cfg.task, num_labels=num_labels, seed=cfg.seed)
        arch = spec.architecture
    else:
        model, tok = M.load(model_path, task=cfg.task, num_labels=num_labels)
        arch = model.config.model_type
    if cfg.lora and not cfg.lm:
        model = _lora(model, cfg.lora, arch)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model, tok


def _lora(model, spec: dict, arch: str):
    from peft import LoraConfig, TaskType, get_peft_model

    native = getattr(model, "lora_target_modules", None)  # plantllm's own families name theirs (GPN)
    targets = spec.get("target_modules") or (native() if native else None) or {
        "bert": ["query", "value"], "esm": ["query", "value"], "modernbert": ["Wqkv"], "gpt2": ["c_attn"],
        "llama": ["q_proj", "v_proj"], "gemma": ["q_proj", "v_proj"], "caduceus": ["in_proj", "out_proj"]}.get(arch)
    if not targets:
        raise PlantLLMError(f"LoRA target modules for {arch} unknown: set lora.target_modules")
    cfg = LoraConfig(task_type=TaskType.SEQ_CLS, r=int(spec.get("r", 8)), lora_alpha=int(spec.get("alpha", 16)),
                     lora_dropout=float(spec.get("dropout", 0.05)), target_modules=targets)
    return get_peft_model(model, cfg)


def _class_weights(cfg: TrainConfig, train_ds, num_labels: int | None) -> torch.Tensor | None:
    """'balanced': each class weighs n / (classes * n_class), as scikit-learn's."""
    if cfg.task != "classification" or cfg.class_weights != "balanced":
        return None
    counts = np.bincount(np.asarray(train_ds[cfg.label_column]), minlength=num_labels).astype(np.float64)
    return torch.tensor(counts.sum() / (len(counts) * np.maximum(counts, 1)), dtype=torch.float32)


# ---------------------------------------------------------------- the Trainer
def _resume_point(out: Path, resume: bool) -> str | None:
    """The newest complete checkpoint (incomplete ones set aside first), or None."""
    moved = quarantine_incomplete(out) if int(os.environ.get("RANK", "0")) == 0 else []
    if moved:
        con.warn(f"set aside incomplete checkpoints (a run was killed while saving): {', '.join(moved)}")
    ckpts = complete_checkpoints(out)
    resume_from = str(ckpts[-1]) if (resume and ckpts) else None
    if resume_from:
        con.info(f"resuming from {resume_from}")
    return resume_from


def _precision(cfg: TrainConfig) -> dict:
    if not torch.cuda.is_available() or cfg.precision == "fp32":
        return {"bf16": False, "fp16": False}
    if cfg.precision == "bf16" or (cfg.precision == "auto" and torch.cuda.is_bf16_supported()):
        return {"bf16": True, "fp16": False}
    return {"bf16": False, "fp16": True}


def _training_args(cfg: TrainConfig, out: Path, num_labels: int | None):
    from transformers import TrainingArguments

    lm = cfg.lm
    best_metric = cfg.metric_for_best_model or ("eval_loss" if lm or cfg.task == "regression" else "eval_auroc"
                                                if cfg.task == "classification" and num_labels == 2 else "eval_loss")
    return TrainingArguments(
        output_dir=str(out), max_steps=cfg.max_steps, num_train_epochs=cfg.num_train_epochs,
        learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay,
        warmup_steps=int(cfg.warmup_ratio * cfg.max_steps) if cfg.max_steps > 0 else 0,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        per_device_eval_batch_size=cfg.per_device_eval_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps, max_grad_norm=cfg.max_grad_norm,
        eval_strategy="steps", eval_steps=cfg.eval_steps, save_strategy="steps", save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit, logging_steps=cfg.logging_steps, seed=cfg.seed, data_seed=cfg.seed,
        # a language model's logits are batch x length x vocabulary: never gather them, the loss is the metric
        prediction_loss_only=lm,
        report_to=[], remove_unused_columns=False, dataloader_num_workers=cfg.dataloader_num_workers,
        deepspeed=cfg.deepspeed, load_best_model_at_end=cfg.early_stopping_patience > 0,
        metric_for_best_model=best_metric, greater_is_better=not best_metric.endswith("loss"),
        disable_tqdm=True, use_cpu=not torch.cuda.is_available(),  # plantllm reports progress itself
        **_precision(cfg))


# ---------------------------------------------------------------- results
def _speed(cfg: TrainConfig, args, result, seconds: float, resume_from: str | None, clock: SteadyClock) -> dict:
    """The head of the summary: steps, loss, time, processes, precision and throughput in tokens/s."""
    summary: dict[str, Any] = {
        "task": cfg.task, "steps": int(result.global_step), "train_loss": float(result.training_loss),
        "seconds": round(seconds, 1), "world_size": int(args.world_size), "deepspeed": cfg.deepspeed,
        "precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32", "resumed_from": resume_from}
    per_step = cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps * args.world_size * cfg.max_length
    steps_run = result.global_step - (int(Path(resume_from).name.split("-")[1]) if resume_from else 0)
    summary["tokens_per_s"] = round(steps_run * per_step / max(seconds, 1e-9), 1)
    steady = clock.tokens_per_s(per_step)
    if steady is not None:
        summary["steady_tokens_per_s"] = steady
    return summary


def _numbers(metrics: dict) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}


def _evaluate(cfg: TrainConfig, trainer, test_ds, out: Path) -> dict:
    """Validation metrics, and test metrics when the dataset has a test split (fine-tuning: with
    the test predictions and plots)."""
    found = {"validation": _numbers(trainer.evaluate())}
    if test_ds is not None and cfg.lm:
        found["test"] = _numbers(trainer.evaluate(test_ds, metric_key_prefix="test"))
    elif test_ds is not None:
        pred = trainer.predict(test_ds)
        found["test"] = _numbers(pred.metrics)
        if trainer.is_world_process_zero():
            write_predictions(out, cfg, pred)
    return found


def _save(cfg: TrainConfig, trainer, tok, out: Path, summary: dict) -> None:
    """The model (with a model card), ``summary.json``, the resolved config and the loss plot."""
    final = out / "model"
    to_save = trainer.model.merge_and_unload() if cfg.lora and not cfg.lm else trainer.model
    if hasattr(to_save, "module"):
        to_save = to_save.module
    M.save(to_save, tok, final, info={"name": Path(cfg.output_dir).name, "species": cfg.species,
                                      "corpus": cfg.dataset, "training": cfg.source,
                                      "metrics": summary.get("test") or summary["validation"]})
    summary["model"] = str(final)
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=2, default=str)
    with atomic_write(out / "config.resolved.yaml") as fh:
        yaml.safe_dump(asdict(cfg), fh, sort_keys=False)
    plot_losses(out, trainer.state.log_history)
