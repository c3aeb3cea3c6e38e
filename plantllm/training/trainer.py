"""Training: continued pretraining (MLM/CLM) and fine-tuning, on DeepSpeed through the HF Trainer.

One YAML config (``configs/train/*.yaml``) drives a run; the same config runs on a
laptop CPU (fp32, one or more gloo ranks), one GPU (bf16/fp16) and many nodes
(``deepspeed --hostfile``). Values the Trainer also sets are ``"auto"`` in the DeepSpeed
JSON, so this config is the one place they are chosen.

What plantllm adds to the Trainer:

* a collator that tokenizes on the fly, applies reverse-complement augmentation with the
  torch RNG (so a resumed run draws the same augmentations) and turns the dataset's
  per-base repeat mask into per-token loss weights (repeats down-weighted, as GPN does);
* a weighted MLM/CLM loss and a class-weighted classification loss;
* checkpoints marked complete only after the Trainer finished writing them, so a run
  killed at any moment resumes from the newest complete one (a half-written checkpoint is
  set aside, never loaded);
* metrics (AUROC, AUPRC, MCC, F1, accuracy; Pearson, Spearman, R^2) as JSON and plots.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from plantllm.core import console as con
from plantllm.models import checkpoint as M
from plantllm.models import tokenizers as tokenization
from plantllm.core.errors import CardError, MissingFileError, PlantLLMError, did_you_mean
from plantllm.core.io import atomic_write, read_yaml
from plantllm.core.sequence import reverse_complement

COMPLETE = ".plantllm-complete"


@dataclass
class TrainConfig:
    """A training run. Paths are resolved relative to the config file."""

    task: str = "mlm"  # mlm | clm | classification | multilabel | regression
    model: str = ""  # a configs/models/*.yaml (from scratch) or a model folder (continued / fine-tuning)
    dataset: str = ""  # a plantllm dataset folder (load_from_disk)
    output_dir: str = "run"
    deepspeed: str | None = None  # a configs/deepspeed/*.json, or null for the plain Trainer
    max_steps: int = 200
    num_train_epochs: float = 1.0
    learning_rate: float = 5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    per_device_train_batch_size: int = 16
    per_device_eval_batch_size: int = 32
    gradient_accumulation_steps: int = 1
    gradient_checkpointing: bool = False
    max_grad_norm: float = 1.0
    max_length: int = 512
    mlm_probability: float = 0.15
    repeat_weighting: bool = True  # use the dataset's repeat_mask / repeat_weight in the LM loss
    repeat_weight: float | None = None  # override the dataset's weight
    rc_augment: bool = True  # random reverse complement of training sequences
    label_column: str = "label"
    class_weights: str = "balanced"  # balanced | none
    lora: dict | None = None  # {r: 8, alpha: 16, dropout: 0.05, target_modules: [...]}
    early_stopping_patience: int = 0
    metric_for_best_model: str | None = None
    eval_steps: int = 50
    save_steps: int = 50
    save_total_limit: int = 3
    logging_steps: int = 10
    seed: int = 0
    precision: str = "auto"  # auto (bf16 on GPU when supported, else fp16; fp32 on CPU) | fp32 | bf16 | fp16
    dataloader_num_workers: int = 0
    max_train_samples: int | None = None
    max_eval_samples: int | None = None  # caps the validation set used during training; the test set is never cut
    species: str | None = None
    source: str | None = None

    @classmethod
    def load(cls, path: str | Path, **overrides) -> "TrainConfig":
        p = Path(path)
        data = read_yaml(p, "training config", fix="start from configs/train/") or {}
        names = {f.name for f in fields(cls)} - {"source"}
        for k in data:
            if k not in names:
                raise CardError(f"unknown key '{k}'{did_you_mean(k, names)}", path=p)
        given = {k: v for k, v in overrides.items() if v is not None}
        data.update(given)
        cfg = cls(**data, source=str(p.resolve()))
        base = p.resolve().parent
        for key in ("model", "dataset", "output_dir", "deepspeed"):
            v = getattr(cfg, key)
            if key in given:  # command-line paths are relative to the working folder
                setattr(cfg, key, str(Path(v).resolve()) if v else v)
                continue
            if v and not Path(v).is_absolute() and not v.startswith("pkg:"):
                cand = base / v
                # configs/ paths are relative to the config; if that does not exist, to the working folder
                setattr(cfg, key, str(cand if cand.exists() or key == "output_dir" else Path(v).resolve()))
        cfg.check()
        return cfg

    def check(self) -> None:
        if self.task not in ("mlm", "clm", "classification", "multilabel", "regression"):
            raise CardError(f"task '{self.task}' must be mlm, clm, classification, multilabel or regression",
                            path=self.source)
        for key in ("model", "dataset"):
            if not getattr(self, key):
                raise CardError(f"'{key}' is required", path=self.source)
        if not Path(self.dataset).exists():
            raise MissingFileError("dataset folder not found", path=self.dataset,
                                   fix="build it with 'plantllm data ...'")
        if self.deepspeed and not Path(self.deepspeed).exists():
            raise MissingFileError("DeepSpeed config not found", path=self.deepspeed, fix="see configs/deepspeed/")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise CardError(f"precision '{self.precision}' must be auto, fp32, bf16 or fp16", path=self.source)
        if self.class_weights not in ("balanced", "none"):
            raise CardError("class_weights must be 'balanced' or 'none'", path=self.source)


# ---------------------------------------------------------------- collation
class DnaCollator:
    """Tokenize a batch of dataset rows; RC-augment; build MLM/CLM labels and per-token loss weights.

    Every random choice (reverse complement, masked positions, replacement tokens) comes from a
    generator seeded by (seed, epoch, the row's locus and sequence), not from the global RNG: the
    Trainer's dataloader collates one batch ahead of the step being checkpointed, so global-RNG
    draws would make a resumed run differ from an uninterrupted one.
    """

    def __init__(self, tok, cfg: TrainConfig, train: bool, lm: bool):
        self.tok, self.cfg, self.train, self.lm = tok, cfg, train, lm
        self.kind = (getattr(tok, "plantllm", {}) or {}).get("kind")
        self.epoch = 0

    def _generator(self, row: dict) -> torch.Generator:
        import hashlib

        key = f"{self.cfg.seed}|{self.epoch if self.train else -1}|{row.get('chrom')}|{row.get('start')}|" \
              f"{row.get('strand')}|{row['seq']}"
        g = torch.Generator()
        g.manual_seed(int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") >> 1)
        return g

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        seqs, masks, gens = [], [], []
        for r in rows:
            g = self._generator(r)
            s = r["seq"]
            m = r.get("repeat_mask")
            if self.train and self.cfg.rc_augment and torch.rand((), generator=g) < 0.5:
                s = reverse_complement(s)
                m = m[::-1] if m is not None else None
            seqs.append(s)
            masks.append(m)
            gens.append(g)
        texts = [tokenization.prepare(self.tok, s) for s in seqs]
        enc = self.tok(texts, padding=True, truncation=True, max_length=self.cfg.max_length, return_tensors="pt",
                       return_offsets_mapping=self.lm and self.kind != "kmer_overlap",
                       return_special_tokens_mask=True)
        special = enc.pop("special_tokens_mask").bool()
        offsets = enc.pop("offset_mapping", None)
        batch = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
        if self.lm:
            weights = torch.ones_like(batch["input_ids"], dtype=torch.float32)
            if self.cfg.repeat_weighting and offsets is not None and masks[0] is not None:
                w_rep = self.cfg.repeat_weight if self.cfg.repeat_weight is not None else float(rows[0].get("repeat_weight", 0.1))
                for i, m in enumerate(masks):
                    cum = np.concatenate([[0], np.cumsum(np.asarray(m, dtype=np.float32))])
                    a, b = offsets[i, :, 0].numpy(), offsets[i, :, 1].numpy()
                    span = np.maximum(b - a, 1)
                    frac = (cum[np.minimum(b, len(m))] - cum[np.minimum(a, len(m))]) / span
                    weights[i] = torch.from_numpy(1.0 - frac * (1.0 - w_rep)).float()
            pad_or_special = special | (batch["attention_mask"] == 0)
            weights[pad_or_special] = 0.0
            labels = batch["input_ids"].clone()
            if self.cfg.task == "mlm":
                ids = batch["input_ids"]
                for i, g in enumerate(gens):
                    n = ids.shape[1]
                    chosen = (torch.rand(n, generator=g) < self.cfg.mlm_probability) & ~pad_or_special[i]
                    if not chosen.any():  # at least one prediction per sequence
                        cand = torch.nonzero(~pad_or_special[i]).flatten()
                        chosen[cand[torch.randint(len(cand), (1,), generator=g)]] = True
                    u = torch.rand(n, generator=g)
                    replace = chosen & (u < 0.8)
                    rand = chosen & (u >= 0.8) & (u < 0.9)
                    labels[i][~chosen] = -100
                    ids[i][replace] = self.tok.mask_token_id
                    ids[i][rand] = torch.randint(len(self.tok), (n,), generator=g)[rand]
            else:
                labels[batch["attention_mask"] == 0] = -100
            batch["labels"] = labels
            batch["loss_weight"] = weights
        else:
            col = self.cfg.label_column
            if self.cfg.task == "regression":
                batch["labels"] = torch.tensor([float(r[col]) for r in rows], dtype=torch.float32).unsqueeze(-1)
            elif self.cfg.task == "multilabel":
                batch["labels"] = torch.tensor([r[col] for r in rows], dtype=torch.float32)
            else:
                batch["labels"] = torch.tensor([int(r[col]) for r in rows], dtype=torch.long)
        return batch


# ---------------------------------------------------------------- metrics
def classification_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import (accuracy_score, average_precision_score, f1_score, matthews_corrcoef,
                                 roc_auc_score)

    pred = (scores >= 0.5).astype(int)
    out = {"accuracy": accuracy_score(labels, pred), "f1": f1_score(labels, pred, zero_division=0),
           "mcc": matthews_corrcoef(labels, pred)}
    if len(np.unique(labels)) == 2:
        out["auroc"] = roc_auc_score(labels, scores)
        out["auprc"] = average_precision_score(labels, scores)
    return {k: float(v) for k, v in out.items()}


def regression_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import r2_score

    ok = np.isfinite(y)
    y, p = y[ok], p[ok]
    return {"pearson": float(pearsonr(y, p)[0]), "spearman": float(spearmanr(y, p)[0]), "r2": float(r2_score(y, p))}


def _softmax_pos(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(-1, keepdims=True))[:, 1]


def make_compute_metrics(task: str):
    def compute(pred) -> dict[str, float]:
        logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
        labels = pred.label_ids
        if task == "regression":
            return regression_metrics(labels.reshape(-1), logits.reshape(-1))
        if task == "multilabel":
            from sklearn.metrics import average_precision_score, roc_auc_score

            prob = 1 / (1 + np.exp(-logits))
            keep = [j for j in range(labels.shape[1]) if 0 < labels[:, j].sum() < len(labels)]
            return {"auroc_macro": float(roc_auc_score(labels[:, keep], prob[:, keep], average="macro")) if keep else float("nan"),
                    "auprc_macro": float(average_precision_score(labels[:, keep], prob[:, keep], average="macro")) if keep else float("nan")}
        if logits.shape[-1] == 2:
            return classification_metrics(labels, _softmax_pos(logits))
        from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

        pr = logits.argmax(-1)
        return {"accuracy": float(accuracy_score(labels, pr)), "f1_macro": float(f1_score(labels, pr, average="macro")),
                "mcc": float(matthews_corrcoef(labels, pr))}
    return compute


# ---------------------------------------------------------------- checkpoints
def complete_checkpoints(out: Path) -> list[Path]:
    """Checkpoints the Trainer finished writing (marked by our callback), oldest first."""
    cks = [p for p in out.glob("checkpoint-*") if (p / COMPLETE).exists()]
    return sorted(cks, key=lambda p: int(p.name.split("-")[1]))


def quarantine_incomplete(out: Path) -> list[str]:
    """Move checkpoints without the completion marker out of the Trainer's sight."""
    moved = []
    for p in out.glob("checkpoint-*"):
        if not (p / COMPLETE).exists():
            dest = out / f"incomplete-{p.name}-{int(time.time())}"
            p.rename(dest)
            moved.append(dest.name)
    return moved


# ---------------------------------------------------------------- running
def _precision(cfg: TrainConfig) -> dict:
    if not torch.cuda.is_available() or cfg.precision == "fp32":
        return {"bf16": False, "fp16": False}
    if cfg.precision == "bf16" or (cfg.precision == "auto" and torch.cuda.is_bf16_supported()):
        return {"bf16": True, "fp16": False}
    return {"bf16": False, "fp16": True}


def _lora(model, spec: dict, arch: str):
    from peft import LoraConfig, TaskType, get_peft_model

    targets = spec.get("target_modules") or {
        "bert": ["query", "value"], "esm": ["query", "value"], "modernbert": ["Wqkv"], "gpt2": ["c_attn"],
        "llama": ["q_proj", "v_proj"], "gemma": ["q_proj", "v_proj"]}.get(arch)
    if not targets:
        raise PlantLLMError(f"LoRA target modules for {arch} unknown: set lora.target_modules")
    cfg = LoraConfig(task_type=TaskType.SEQ_CLS, r=int(spec.get("r", 8)), lora_alpha=int(spec.get("alpha", 16)),
                     lora_dropout=float(spec.get("dropout", 0.05)), target_modules=targets)
    return get_peft_model(model, cfg)


def run(cfg: TrainConfig, *, resume: bool = True) -> dict:
    """Train according to ``cfg``; returns the summary written to ``output_dir/summary.json``."""
    import datasets
    from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments, set_seed

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    set_seed(cfg.seed)
    lm = cfg.task in ("mlm", "clm")
    ds = datasets.load_from_disk(cfg.dataset)
    for split in ("train", "validation"):
        if split not in ds or len(ds[split]) == 0:
            raise PlantLLMError(f"{cfg.dataset}: the '{split}' split is empty", fix="rebuild with other split fractions")
    if not lm and cfg.label_column not in ds["train"].column_names:
        raise PlantLLMError(f"{cfg.dataset} has no column '{cfg.label_column}'"
                            f"{did_you_mean(cfg.label_column, ds['train'].column_names)}")
    train_ds, eval_ds = ds["train"], ds["validation"]
    if cfg.max_train_samples:
        train_ds = train_ds.select(range(min(cfg.max_train_samples, len(train_ds))))
    if cfg.max_eval_samples:
        eval_ds = eval_ds.select(range(min(cfg.max_eval_samples, len(eval_ds))))
    test_ds = ds["test"] if "test" in ds and len(ds["test"]) else None  # always whole: reported metrics

    num_labels = None
    if cfg.task == "classification":
        num_labels = int(max(train_ds[cfg.label_column])) + 1
    elif cfg.task == "multilabel":
        num_labels = len(train_ds[0][cfg.label_column])
    elif cfg.task == "regression":
        num_labels = 1
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
    if cfg.lora and not lm:
        model = _lora(model, cfg.lora, arch)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()

    class_weights = None
    if cfg.task == "classification" and cfg.class_weights == "balanced":
        counts = np.bincount(np.asarray(train_ds[cfg.label_column]), minlength=num_labels).astype(np.float64)
        class_weights = torch.tensor(counts.sum() / (len(counts) * np.maximum(counts, 1)), dtype=torch.float32)

    class PlantTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            weights = inputs.pop("loss_weight", None)
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            logits = outputs.logits
            if lm:
                if cfg.task == "clm":
                    logits, labels = logits[:, :-1], labels[:, 1:]
                    weights = weights[:, 1:] if weights is not None else None
                ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1),
                                                       ignore_index=-100, reduction="none")
                w = (labels.reshape(-1) != -100).float()
                if weights is not None:
                    w = w * weights.reshape(-1)
                loss = (ce * w).sum() / w.sum().clamp(min=1e-6)
            elif cfg.task == "regression":
                loss = torch.nn.functional.mse_loss(logits.float().view(-1), labels.float().view(-1))
            elif cfg.task == "multilabel":
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), labels.float())
            else:
                cw = class_weights.to(logits.device) if class_weights is not None else None
                loss = torch.nn.functional.cross_entropy(logits.float(), labels, weight=cw)
            return (loss, outputs) if return_outputs else loss

    train_collator = DnaCollator(tok, cfg, True, lm)

    class EpochToCollator(TrainerCallback):
        def on_epoch_begin(self, args, state, control, **kw):
            train_collator.epoch = int(state.epoch or 0)

    clock: dict[str, float] = {}

    class SteadyClock(TrainerCallback):
        """Time from the end of the first 20% of steps to the end: throughput without start-up costs."""

        def on_step_end(self, args, state, control, **kw):
            warm = max(1, int(0.2 * args.max_steps)) if args.max_steps > 0 else 1
            if state.global_step == warm:
                clock["t"], clock["step"] = time.time(), state.global_step
            clock["end"], clock["end_step"] = time.time(), state.global_step

    class MarkComplete(TrainerCallback):
        """Mark a checkpoint complete only after the Trainer finished writing it (on_save runs after)."""

        def on_save(self, args, state, control, **kw):
            if state.is_world_process_zero:
                ck = out / f"checkpoint-{state.global_step}"
                if ck.exists():
                    with atomic_write(ck / COMPLETE) as fh:
                        fh.write(json.dumps({"step": state.global_step, "time": time.time()}))

    moved = quarantine_incomplete(out) if int(os.environ.get("RANK", "0")) == 0 else []
    if moved:
        con.warn(f"set aside incomplete checkpoints (a run was killed while saving): {', '.join(moved)}")
    ckpts = complete_checkpoints(out)
    resume_from = str(ckpts[-1]) if (resume and ckpts) else None
    if resume_from:
        con.info(f"resuming from {resume_from}")

    best_metric = cfg.metric_for_best_model or ("eval_loss" if lm or cfg.task == "regression" else "eval_auroc"
                                                if cfg.task == "classification" and num_labels == 2 else "eval_loss")
    args = TrainingArguments(
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
        disable_tqdm=os.environ.get("PLANTLLM_QUIET") == "1", use_cpu=not torch.cuda.is_available(),
        **_precision(cfg))
    callbacks = [MarkComplete(), EpochToCollator(), SteadyClock()]
    if cfg.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(cfg.early_stopping_patience))
    trainer = PlantTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                           data_collator=train_collator,
                           compute_metrics=None if lm else make_compute_metrics(cfg.task), callbacks=callbacks)
    # evaluation uses the deterministic collator (no augmentation)
    eval_collator = DnaCollator(tok, cfg, False, lm)
    trainer.get_eval_dataloader = _with_collator(trainer.get_eval_dataloader, trainer, eval_collator)
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.time() - t0
    summary: dict[str, Any] = {"task": cfg.task, "steps": int(result.global_step), "train_loss": float(result.training_loss),
                               "seconds": round(seconds, 1), "world_size": int(args.world_size),
                               "deepspeed": cfg.deepspeed, "precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32",
                               "resumed_from": resume_from}
    steps_run = result.global_step - (int(Path(resume_from).name.split("-")[1]) if resume_from else 0)
    tokens = steps_run * cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps * args.world_size * cfg.max_length
    summary["tokens_per_s"] = round(tokens / max(seconds, 1e-9), 1)
    if "t" in clock and clock["end_step"] > clock["step"]:
        per_step = cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps * args.world_size * cfg.max_length
        summary["steady_tokens_per_s"] = round((clock["end_step"] - clock["step"]) * per_step /
                                               max(clock["end"] - clock["t"], 1e-9), 1)
    summary["validation"] = {k: float(v) for k, v in trainer.evaluate().items() if isinstance(v, (int, float))}
    if test_ds is not None and lm:
        summary["test"] = {k: float(v) for k, v in trainer.evaluate(test_ds, metric_key_prefix="test").items()
                           if isinstance(v, (int, float))}
    elif test_ds is not None:
        pred = trainer.predict(test_ds)
        summary["test"] = {k: float(v) for k, v in pred.metrics.items() if isinstance(v, (int, float))}
        if not lm and trainer.is_world_process_zero():
            _write_predictions(out, cfg, pred)
    summary["best_checkpoint"] = trainer.state.best_model_checkpoint
    _write_rank_fingerprint(out, trainer)
    summary["log_history"] = trainer.state.log_history
    if trainer.is_world_process_zero():
        final = out / "model"
        to_save = trainer.model.merge_and_unload() if cfg.lora and not lm else trainer.model
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
        _plot_losses(out, trainer.state.log_history)
    return summary


def _write_rank_fingerprint(out: Path, trainer) -> None:
    """Each rank records a checksum of its parameters: with data parallelism (ZeRO <= 2) all ranks
    must hold identical weights after every step, which the multi-process test checks."""
    import hashlib

    model = trainer.model_wrapped if hasattr(trainer, "model_wrapped") else trainer.model
    model = getattr(model, "module", model)
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        h.update(name.encode())
        h.update(p.detach().float().cpu().numpy().tobytes())
    rank = int(os.environ.get("RANK", "0"))
    (out / "ranks").mkdir(exist_ok=True)
    with atomic_write(out / "ranks" / f"rank-{rank}.json") as fh:
        json.dump({"rank": rank, "world_size": int(trainer.args.world_size), "params_sha256": h.hexdigest(),
                   "step": int(trainer.state.global_step)}, fh)


def _with_collator(fn, trainer, collator):
    def wrapped(*a, **kw):
        saved = trainer.data_collator
        trainer.data_collator = collator
        try:
            return fn(*a, **kw)
        finally:
            trainer.data_collator = saved
    return wrapped


def _write_predictions(out: Path, cfg: TrainConfig, pred) -> None:
    logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
    labels = pred.label_ids
    with atomic_write(out / "test_predictions.tsv") as fh:
        fh.write("label\tscore\n")
        scores = _softmax_pos(logits) if cfg.task == "classification" and logits.shape[-1] == 2 else logits.reshape(len(logits), -1)[:, 0]
        for y, s in zip(labels.reshape(len(labels), -1)[:, 0], scores):
            fh.write(f"{y}\t{s:.6g}\n")
    if cfg.task == "classification" and logits.shape[-1] == 2 and len(np.unique(labels)) == 2:
        _plot_roc_pr(out, labels, _softmax_pos(logits))


def _plot_losses(out: Path, history: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tr = [(h["step"], h["loss"]) for h in history if "loss" in h]
    ev = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    if not tr and not ev:
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if tr:
        ax.plot(*zip(*tr), label="train")
    if ev:
        ax.plot(*zip(*ev), "o-", label="validation")
    ax.set_xlabel("step"), ax.set_ylabel("loss"), ax.legend(), fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=100)
    plt.close(fig)


def _plot_roc_pr(out: Path, y: np.ndarray, s: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    fpr, tpr, _ = roc_curve(y, s)
    pr, rc, _ = precision_recall_curve(y, s)
    fig, ax = plt.subplots(1, 2, figsize=(8, 3.5))
    ax[0].plot(fpr, tpr), ax[0].plot([0, 1], [0, 1], "k:"), ax[0].set_xlabel("FPR"), ax[0].set_ylabel("TPR")
    ax[0].set_title("ROC (test)")
    ax[1].plot(rc, pr), ax[1].set_xlabel("recall"), ax[1].set_ylabel("precision"), ax[1].set_title("PR (test)")
    fig.tight_layout()
    fig.savefig(out / "roc_pr.png", dpi=100)
    plt.close(fig)

