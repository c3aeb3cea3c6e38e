"""The training config: one YAML file (``configs/train/*.yaml``) per run, typed and checked on load.

Every key has a type and, where it matters, a range or a list of choices: ``learning_rate: abc``,
``mlm_probability: 1.5``, ``per_device_train_batch_size: -8`` or ``task: mlx`` are one-line errors
naming the file and the key. Paths are resolved relative to the config file (falling back to the
working folder); paths given on the command line are relative to the working folder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from plantllm.core.config import build, convert, setting
from plantllm.core.errors import CardError, MissingFileError
from plantllm.core.io import read_yaml

TASKS = ("mlm", "clm", "classification", "multilabel", "regression")
LM_TASKS = ("mlm", "clm")
PATH_KEYS = ("model", "dataset", "output_dir", "deepspeed")


@dataclass
class LoraSpec:
    """``lora:`` of a training config (parameter-efficient fine-tuning with peft)."""

    r: int = setting(8, min=1)
    alpha: float = setting(16, above=0)
    dropout: float = setting(0.05, min=0.0, max=1.0)
    target_modules: list[str] | None = None


@dataclass
class TrainConfig:
    """A training run. Paths are resolved relative to the config file."""

    task: str = setting("mlm", choices=TASKS)
    model: str = ""  # a configs/models/*.yaml (from scratch) or a model folder (continued / fine-tuning)
    dataset: str = ""  # a plantllm dataset folder (load_from_disk)
    output_dir: str = "run"
    deepspeed: str | None = None  # a configs/deepspeed/*.json, or null for the plain Trainer
    max_steps: int = setting(200, min=-1, fix="a number of optimizer steps, or -1 to train num_train_epochs")
    num_train_epochs: float = setting(1.0, above=0)
    learning_rate: float = setting(5e-4, above=0, fix="a number such as 5.0e-4")
    weight_decay: float = setting(0.01, min=0.0)
    warmup_ratio: float = setting(0.05, min=0.0, max=1.0)
    per_device_train_batch_size: int = setting(16, min=1)
    per_device_eval_batch_size: int = setting(32, min=1)
    gradient_accumulation_steps: int = setting(1, min=1)
    gradient_checkpointing: bool = False
    max_grad_norm: float = setting(1.0, min=0.0)
    max_length: int = setting(512, min=2)
    mlm_probability: float = setting(0.15, min=0.0, max=1.0)
    repeat_weighting: bool = True  # use the dataset's repeat_mask / repeat_weight in the LM loss
    repeat_weight: float | None = setting(None, min=0.0, max=1.0)  # override the dataset's weight
    rc_augment: bool = True  # random reverse complement of training sequences
    label_column: str = "label"
    class_weights: str = setting("balanced", choices=("balanced", "none"))
    lora: dict | None = None  # {r: 8, alpha: 16, dropout: 0.05, target_modules: [...]}: see LoraSpec
    early_stopping_patience: int = setting(0, min=0)
    metric_for_best_model: str | None = None
    eval_steps: int = setting(50, min=1)
    save_steps: int = setting(50, min=1)
    save_total_limit: int = setting(3, min=1)
    logging_steps: int = setting(10, min=1)
    seed: int = setting(0, min=0, max=2**32 - 1)
    # auto: bf16 on a GPU that supports it, else fp16; fp32 on CPU
    precision: str = setting("auto", choices=("auto", "fp32", "bf16", "fp16"))
    dataloader_num_workers: int = setting(0, min=0)
    max_train_samples: int | None = setting(None, min=1)
    # caps the validation set used during training; the test set is never cut
    max_eval_samples: int | None = setting(None, min=1)
    species: str | None = None
    source: str | None = None

    @classmethod
    def load(cls, path: str | Path, **overrides) -> "TrainConfig":
        """Read, type-check and resolve a config; ``overrides`` (command-line values, None = not given) win."""
        p = Path(path)
        data = convert(cls, read_yaml(p, "training config", fix="start from configs/train/"), path=p,
                       exclude=("source",))
        given = convert(cls, {k: v for k, v in overrides.items() if v is not None}, exclude=("source",),
                        where="", path="command line")
        data.update(given)
        if data.get("lora"):  # an empty mapping means no LoRA, as null does
            data["lora"] = {k: v for k, v in asdict(build(LoraSpec, data["lora"], path=p, where="lora")).items()
                            if v is not None}
        if data.get("max_steps") == 0:
            raise CardError("max_steps must be at least 1, or -1 to train num_train_epochs, got 0", path=p)
        cfg = cls(**data, source=str(p.resolve()))
        base = p.resolve().parent
        for key in PATH_KEYS:
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
        """What a single key cannot say: required keys and the files they name."""
        for key in ("model", "dataset"):
            if not getattr(self, key):
                raise CardError(f"'{key}' is required", path=self.source,
                                fix=f"set it in the config or pass --{key}")
        if not Path(self.dataset).exists():
            raise MissingFileError("dataset folder not found", path=self.dataset,
                                   fix="build it with 'plantllm data ...'")
        self._check_dataset_task()
        if self.deepspeed and not Path(self.deepspeed).exists():
            raise MissingFileError("DeepSpeed config not found", path=self.deepspeed, fix="see configs/deepspeed/")

    def _check_dataset_task(self) -> None:
        """A dataset that states its task in its manifest (``plantllm data table`` / ``regions``) must be
        fine-tuned as that task, on its label column: a mismatch is one line naming both, not a crash later."""
        import json

        m = Path(self.dataset) / "manifest.json"
        declared = json.loads(m.read_text()).get("task") if m.exists() and not self.lm else None
        if not isinstance(declared, dict) or "train_task" not in declared:
            return
        want = (declared["train_task"], declared["label_column"])
        if (self.task, self.label_column) != want:
            raise CardError(f"the dataset {self.dataset} is a {declared['type']} task but the config trains "
                            f"task: {self.task}, label_column: {self.label_column}", path=self.source,
                            fix=f"set task: {want[0]} and label_column: {want[1]} in the config")

    @property
    def lm(self) -> bool:
        """A language-modelling run (no labels)."""
        return self.task in LM_TASKS
