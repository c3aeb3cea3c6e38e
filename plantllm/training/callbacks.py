"""What plantllm adds to the Hugging Face Trainer: the weighted losses, the deterministic evaluation
collator, the Trainer callbacks, the metrics given to the Trainer, and checkpoints marked complete.

A checkpoint is marked complete (``COMPLETE``) only after the Trainer finished writing it, so a run
killed at any moment resumes from the newest complete one; a half-written checkpoint is set aside,
never loaded.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import Trainer, TrainerCallback

from plantllm.core import console as con
from plantllm.core.io import atomic_write
from plantllm.core.metrics import (classification_metrics, multiclass_metrics, multilabel_metrics,
                                   positive_probability, regression_metrics, sigmoid)

COMPLETE = ".plantllm-complete"


# ---------------------------------------------------------------- loss
def plant_loss(task: str, logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None,
               class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """The loss of a batch. Language models: cross-entropy per token, weighted by ``weights`` (repeat
    down-weighting) and averaged over the predicted tokens (CLM: shifted by one). Regression: MSE;
    multi-label: binary cross-entropy; classification: cross-entropy with ``class_weights``."""
    if task in ("mlm", "clm"):
        if task == "clm":
            logits, labels = logits[:, :-1], labels[:, 1:]
            weights = weights[:, 1:] if weights is not None else None
        ce = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1), ignore_index=-100,
                             reduction="none")
        w = (labels.reshape(-1) != -100).float()
        if weights is not None:
            w = w * weights.reshape(-1)
        return (ce * w).sum() / w.sum().clamp(min=1e-6)
    if task == "regression":
        return F.mse_loss(logits.float().view(-1), labels.float().view(-1))
    if task == "multilabel":
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float())
    cw = class_weights.to(logits.device) if class_weights is not None else None
    return F.cross_entropy(logits.float(), labels, weight=cw)


class PlantTrainer(Trainer):
    """The Trainer with plantllm's loss (:func:`plant_loss`) and a separate collator for evaluation and
    test predictions (no augmentation), so held-out numbers do not depend on the augmentation draw."""

    def __init__(self, *args, task: str, class_weights: torch.Tensor | None = None, eval_collator=None, **kw):
        self.plant_task, self.class_weights, self.eval_collator = task, class_weights, eval_collator
        super().__init__(*args, **kw)
        # compute_loss returns the batch mean and ignores num_items_in_batch: the Trainer must divide by the
        # accumulation steps itself (it skips that for models whose forward takes **kwargs, e.g. BERT)
        self.model_accepts_loss_kwargs = False

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weights = inputs.pop("loss_weight", None)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = plant_loss(self.plant_task, outputs.logits, labels, weights, self.class_weights)
        return (loss, outputs) if return_outputs else loss

    def _with_eval_collator(self, make, dataset):
        if self.eval_collator is None:
            return make(dataset)
        saved, self.data_collator = self.data_collator, self.eval_collator
        try:
            return make(dataset)
        finally:
            self.data_collator = saved

    def get_eval_dataloader(self, eval_dataset=None):
        return self._with_eval_collator(super().get_eval_dataloader, eval_dataset)

    def get_test_dataloader(self, test_dataset):
        # test predictions too: a randomly reverse-complemented test window is not the window scored
        return self._with_eval_collator(super().get_test_dataloader, test_dataset)


# ---------------------------------------------------------------- callbacks
class EpochToCollator(TrainerCallback):
    """Tell the training collator the epoch: its random draws are seeded by it."""

    def __init__(self, collator):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kw):
        self.collator.epoch = int(state.epoch or 0)


class SteadyClock(TrainerCallback):
    """Time from the end of the first 20% of steps to the end: throughput without start-up costs."""

    def __init__(self):
        self.start: float | None = None
        self.start_step = 0
        self.end: float | None = None
        self.end_step = 0

    def on_step_end(self, args, state, control, **kw):
        warm = max(1, int(0.2 * args.max_steps)) if args.max_steps > 0 else 1
        if state.global_step == warm:
            self.start, self.start_step = time.time(), state.global_step
        self.end, self.end_step = time.time(), state.global_step

    def tokens_per_s(self, tokens_per_step: float) -> float | None:
        """Steady throughput, or None before two measured steps."""
        if self.start is None or self.end_step <= self.start_step:
            return None
        return round((self.end_step - self.start_step) * tokens_per_step / max(self.end - self.start, 1e-9), 1)


class MarkComplete(TrainerCallback):
    """Mark a checkpoint complete only after the Trainer finished writing it (on_save runs after)."""

    def __init__(self, out: str | Path):
        self.out = Path(out)

    def on_save(self, args, state, control, **kw):
        if state.is_world_process_zero:
            ck = self.out / f"checkpoint-{state.global_step}"
            if ck.exists():
                with atomic_write(ck / COMPLETE) as fh:
                    fh.write(json.dumps({"step": state.global_step, "time": time.time()}))


# ---------------------------------------------------------------- checkpoints
def complete_checkpoints(out: Path) -> list[Path]:
    """Checkpoints the Trainer finished writing (marked by ``MarkComplete``), oldest first."""
    cks = [p for p in Path(out).glob("checkpoint-*") if (p / COMPLETE).exists()]
    return sorted(cks, key=lambda p: int(p.name.split("-")[1]))


def quarantine_incomplete(out: Path) -> list[str]:
    """Move checkpoints without the completion marker out of the Trainer's sight."""
    moved = []
    for p in Path(out).glob("checkpoint-*"):
        if not (p / COMPLETE).exists():
            dest = Path(out) / f"incomplete-{p.name}-{int(time.time())}"
            p.rename(dest)
            moved.append(dest.name)
    return moved


# ---------------------------------------------------------------- metrics
def logits_of(pred) -> np.ndarray:
    """The logits of a Trainer prediction (some models return a tuple, logits first)."""
    return pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions


def make_compute_metrics(task: str):
    """The Trainer's ``compute_metrics`` for a fine-tuning task (see ``plantllm.core.metrics``)."""
    def compute(pred) -> dict[str, float]:
        logits, labels = logits_of(pred), pred.label_ids
        if task == "regression":
            return regression_metrics(labels.reshape(-1), logits.reshape(-1))
        if task == "multilabel":
            return multilabel_metrics(labels, sigmoid(logits))
        if logits.shape[-1] == 2:
            return classification_metrics(labels, positive_probability(logits))
        return multiclass_metrics(labels, logits.argmax(-1))
    return compute


class Progress(TrainerCallback):
    """Training progress the plantllm way (a bar on a terminal, plain lines in a log) on the main rank, and
    the loss / evaluation lines through plantllm's console instead of the Trainer's printed dicts."""

    def __init__(self):
        self.tracker: con.Tracker | None = None

    def on_train_begin(self, args, state, control, **kw):
        if state.is_world_process_zero:
            self.tracker = con.Tracker("training", total=state.max_steps, unit="steps")

    def on_step_end(self, args, state, control, **kw):
        if self.tracker is not None:
            self.tracker.update(state.global_step)

    def on_log(self, args, state, control, logs=None, **kw):
        if state.is_world_process_zero and logs:
            shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in logs.items())
            con.info(f"step {state.global_step}: {shown}")

    def on_train_end(self, args, state, control, **kw):
        if self.tracker is not None:
            self.tracker.close()
            self.tracker = None
