"""Models: create from a config, load published checkpoints from local folders, save, embed.

Everything is the Hugging Face format, so a plantllm model opens with
``AutoModel.from_pretrained`` and a published plant DNA LM in HF format opens here.

Which published families load how (``FAMILIES``): architectures implemented in
``transformers`` or natively in plantllm (``plantllm.models.families``: GPN) load natively; the
rest ship their own modelling code and need ``trust_remote_code=True``, which is off unless the
user passes it. Weights are read from safetensors; a pickle checkpoint (``pytorch_model.bin``) is
refused unless the user opts in. Nothing is fetched from a hub: a missing folder is an error that says how to
obtain it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from transformers import (AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM,
                          AutoModelForSequenceClassification, PretrainedConfig)
from transformers.utils import logging as hf_logging

from plantllm import __version__
from plantllm.models.families import MODEL_TYPES as NATIVE_TYPES  # the import registers them with the Auto classes
from plantllm.models import tokenizers as tokenization
from plantllm.models.families import caduceus_tokenizer
from plantllm.models.families.caduceus import complement_map_for
from plantllm.core.config import build, check_value, convert, setting
from plantllm.core.errors import CardError, InputFileError, MissingFileError, PlantLLMError, did_you_mean
from plantllm.core.io import atomic_path, read_yaml

#: architecture -> objectives it is built for, published models of that shape, how it loads
FAMILIES: dict[str, dict[str, Any]] = {
    "bert": {"objectives": ("mlm",), "native": True,
             "published": "DNABERT (k-mer), Plant DNABERT-BPE (PDLLMs); DNABERT-2 ships a custom BERT (remote code)"},
    "esm": {"objectives": ("mlm",), "native": True,
            "published": "AgroNT (agro-nucleotide-transformer-1b), Nucleotide Transformer v1, Plant NT 6-mer (PDLLMs)"},
    "modernbert": {"objectives": ("mlm",), "native": True, "published": "ModernBERT-style DNA encoders"},
    "gpt2": {"objectives": ("clm",), "native": True, "published": "Plant DNAGPT-BPE (PDLLMs)"},
    "llama": {"objectives": ("clm",), "native": True, "published": "Llama-style DNA decoders"},
    "gemma": {"objectives": ("clm",), "native": True, "published": "Plant DNAGemma (PDLLMs)"},
    "mamba": {"objectives": ("clm",), "native": True, "published": "Plant DNAMamba (PDLLMs); no HF classification head"},
    # model_type: the config class an architecture builds; tokenizer: the only tokenizer kind it takes
    "gpn": {"objectives": ("mlm",), "native": True, "model_type": "GPN", "tokenizer": "gpn",
            "published": "GPN (model_type GPN: convnet, bytenet or roformer encoder), plantllm.models.families.gpn"},
    "gpn_convnet": {"objectives": ("mlm",), "native": True, "model_type": "ConvNet", "tokenizer": "gpn",
                    "published": "GPN Brassicales (songlab/gpn-brassicales; legacy model_type ConvNet)"},
    "caduceus": {"objectives": ("mlm",), "native": True, "model_type": "caduceus", "tokenizer": "gpn",
                 "published": "PlantCaduceus v1 (kuleshov-group/PlantCaduceus_l20/l24/l28/l32; GPN's tokenizer), "
                              "Caduceus-Ph/PS; plantllm.models.families.caduceus"},
}
#: model_type values of published checkpoints that need their own code
REMOTE_CODE = {
    "hyenadna": "HyenaDNA ships its modelling code: pass --trust-remote-code after reading it",
}
hf_logging.disable_progress_bar()  # plantllm shows its own progress; per-shard bars are noise here
hf_logging.set_verbosity_error()  # load reports list heads a task adds on purpose (e.g. a new classifier)
TASKS = ("mlm", "clm", "classification", "multilabel", "regression", "embedding")
HEAD_TASKS = ("classification", "multilabel", "regression")  # tasks whose head a model must be trained for


@dataclass
class ModelSpec:
    name: str
    architecture: str
    objective: str
    tokenizer: dict = field(default_factory=lambda: {"kind": "char"})
    max_length: int = 1024
    config: dict = field(default_factory=dict)
    source: Path | None = None


@dataclass
class TokenizerSection:
    """``tokenizer:`` of a model config (see ``plantllm.models.tokenizers.build``)."""

    kind: str = setting("char", choices=tokenization.KINDS)
    k: int = setting(6, min=1, max=8)
    vocab_size: int = setting(4096, min=16)
    case: str = setting("upper", choices=("upper", "keep"))
    chunk: int = setting(1000, min=1)


@dataclass
class SpecFile:
    """What a ``configs/models/*.yaml`` may hold, with types and ranges."""

    architecture: str = setting(choices=tuple(FAMILIES), fix="see configs/models/ for examples")
    name: str | None = None
    objective: str | None = setting(None, choices=("mlm", "clm"))
    tokenizer: dict[str, Any] | None = None  # checked against TokenizerSection
    max_length: int = setting(1024, min=1)
    config: dict[str, Any] | None = None  # checked against the architecture's transformers config
    notes: str = ""


def load_spec(path: str | Path) -> ModelSpec:
    """A model config from ``configs/models/*.yaml``: unknown keys (with a suggestion), wrong types and
    out-of-range values are one-line errors naming the file and the key."""
    p = Path(path)
    raw = build(SpecFile, read_yaml(p, "model config", fix="see configs/models/ for examples"), path=p)
    arch = raw.architecture
    obj = raw.objective or FAMILIES[arch]["objectives"][0]
    if obj not in FAMILIES[arch]["objectives"]:
        raise CardError(f"{arch} models are built for {FAMILIES[arch]['objectives']}, not '{obj}'", path=p)
    tokenizer = convert(TokenizerSection, raw.tokenizer, path=p, where="tokenizer") if raw.tokenizer else {}
    kind = tokenizer.get("kind", "char")
    for key, kinds in (("k", ("kmer", "kmer_overlap")), ("vocab_size", ("bpe",)), ("chunk", ("bpe",))):
        if key in tokenizer and kind not in kinds:
            raise CardError(f"tokenizer.{key} is only for {' and '.join(kinds)} tokenizers, not {kind}", path=p)
    family_tok = FAMILIES[arch].get("tokenizer")
    if family_tok and kind != family_tok and raw.tokenizer and "kind" in raw.tokenizer:
        raise CardError(f"{arch} models take the '{family_tok}' tokenizer, not '{kind}'", path=p,
                        fix=f"set tokenizer: {{kind: {family_tok}}} or leave tokenizer out")
    if kind == "gpn" and not family_tok:
        raise CardError(f"the gpn tokenizer (no [CLS]/[SEP]) is for GPN architectures, not {arch}", path=p)
    if kind == "gpn" and set(tokenizer) - {"kind"}:
        raise CardError(f"tokenizer.{sorted(set(tokenizer) - {'kind'})[0]} does not apply to GPN's fixed tokenizer",
                        path=p)
    defaults = AutoConfig.for_model(model_type(arch))
    config = dict(raw.config or {})
    for k, v in config.items():
        if not hasattr(defaults, k):
            known = [a for a in vars(defaults) if not a.startswith("_")]
            raise CardError(f"config.{k} is not a {arch} setting{did_you_mean(k, known)}", path=p)
        default = getattr(defaults, k)
        tp = next((t for t in (bool, int, float) if isinstance(default, t)), None)  # bool before int
        if tp is not None and v is not None:
            config[k] = check_value(v, tp, key=f"config.{k}", path=p)
    return ModelSpec(raw.name if raw.name is not None else p.stem, arch, obj,
                     tokenizer or {"kind": family_tok or "char"}, raw.max_length, config, p)


def model_type(arch: str) -> str:
    """The transformers ``model_type`` an architecture of ``FAMILIES`` builds (usually its own name)."""
    return FAMILIES.get(arch, {}).get("model_type", arch)


def family(mtype: str) -> dict:
    """The ``FAMILIES`` entry of a checkpoint's ``model_type`` ({} when plantllm has none)."""
    return next((f for a, f in FAMILIES.items() if model_type(a) == mtype), {})


def _auto_for(task: str, objective: str | None = None):
    if task in ("classification", "multilabel", "regression"):
        return AutoModelForSequenceClassification
    if task == "embedding":
        return AutoModel
    return AutoModelForCausalLM if task == "clm" or objective == "clm" else AutoModelForMaskedLM


def _head_kwargs(task: str, num_labels: int | None) -> dict:
    if task == "classification":
        return {"num_labels": num_labels or 2, "problem_type": "single_label_classification"}
    if task == "multilabel":
        return {"num_labels": num_labels or 2, "problem_type": "multi_label_classification"}
    if task == "regression":
        return {"num_labels": num_labels or 1, "problem_type": "regression"}
    return {}


def config_for(spec: ModelSpec, tok) -> PretrainedConfig:
    ids = {"vocab_size": len(tok), "pad_token_id": tok.pad_token_id, "bos_token_id": tok.cls_token_id,
           "eos_token_id": tok.sep_token_id}
    kw = dict(spec.config)
    if spec.architecture == "esm":
        ids.update(mask_token_id=tok.mask_token_id, max_position_embeddings=spec.max_length + 2)
        kw.setdefault("position_embedding_type", "rotary")  # AgroNT / NT v2 use rotary positions
    elif spec.architecture == "modernbert":
        ids.update(cls_token_id=tok.cls_token_id, sep_token_id=tok.sep_token_id, max_position_embeddings=spec.max_length)
    elif spec.architecture in ("bert",):
        ids.update(max_position_embeddings=spec.max_length)
    elif spec.architecture == "gpt2":
        ids.update(n_positions=spec.max_length)
    elif spec.architecture in ("llama", "gemma"):
        ids.update(max_position_embeddings=spec.max_length)
    elif spec.architecture == "caduceus":  # RCPS pairs each token with its complement's
        ids.update(complement_map=complement_map_for(tok.get_vocab()))
    elif spec.architecture == "gpn":
        ids.update(max_position_embeddings=spec.max_length)  # read by the roformer encoder only
    if spec.architecture == "bert" and spec.objective == "clm":
        kw["is_decoder"] = True
    return AutoConfig.for_model(model_type(spec.architecture), **ids, **kw)


def create(spec: ModelSpec, tok, task: str | None = None, num_labels: int | None = None, seed: int = 0):
    """A freshly initialised model of ``spec`` for ``task`` (default: the spec's objective)."""
    task = task or spec.objective
    if task not in TASKS:
        raise PlantLLMError(f"task '{task}' must be one of {TASKS}")
    cfg = config_for(spec, tok)
    for k, v in _head_kwargs(task, num_labels).items():
        setattr(cfg, k, v)
    torch.manual_seed(seed)
    try:
        return _auto_for(task, spec.objective).from_config(cfg)
    except ValueError as e:
        raise PlantLLMError(f"{spec.architecture} has no Hugging Face model for task '{task}' ({str(e)[:80]})") from None


def build_tokenizer(spec: ModelSpec, sequences=None):
    t = dict(spec.tokenizer)
    kind = t.pop("kind", "char")
    return tokenization.build(kind, objective=spec.objective, max_length=spec.max_length,
                              **({"sequences": sequences} if sequences is not None else {}), **t)


# ---------------------------------------------------------------- loading
def check_model_dir(path: str | Path, *, allow_pickle: bool = False) -> dict:
    """Check a local checkpoint folder before loading; returns its config.json as a dict."""
    p = Path(path)
    if not p.exists():
        raise MissingFileError(
            "model folder not found; plantllm never downloads at run time", path=p,
            fix="on a machine with internet: huggingface-cli download ORG/MODEL --local-dir DIR, then copy DIR here")
    cfg_file = p / "config.json"
    if not cfg_file.exists():
        raise MissingFileError("config.json missing: not a Hugging Face model folder", path=p)
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputFileError("config.json is not UTF-8 text (UTF-16 or a binary file?)", path=cfg_file,
                             fix="re-copy the model folder; config.json is UTF-8 JSON") from None
    except json.JSONDecodeError as e:
        raise InputFileError(f"config.json is not valid JSON ({e})", path=cfg_file,
                             fix="re-copy the model folder") from None
    if not isinstance(cfg, dict):
        raise InputFileError(f"config.json holds a JSON {type(cfg).__name__}, not an object of settings",
                             path=cfg_file, fix="re-copy the model folder")
    safe = list(p.glob("*.safetensors")) or list(p.glob("model.safetensors.index.json"))
    pickles = list(p.glob("pytorch_model*.bin")) + list(p.glob("*.pt")) + list(p.glob("*.ckpt"))
    if not safe and not pickles:
        raise MissingFileError("no model weights (model.safetensors) in the folder", path=p,
                               fix="copy the weights next to config.json")
    if not safe and pickles and not allow_pickle:
        raise PlantLLMError(
            f"{p}: weights are a pickle file ({pickles[0].name}); loading pickle can run arbitrary code",
            fix="convert to safetensors, or pass --allow-pickle if you trust the source")
    return cfg


def load(path: str | Path, task: str = "embedding", *, num_labels: int | None = None,
         trust_remote_code: bool = False, allow_pickle: bool = False, require_head: bool = False):
    """(model, tokenizer) from a local folder. ``task`` picks the head (see ``TASKS``).

    ``require_head``: refuse a folder whose weights hold no trained head for ``task`` (a masked LM
    loaded as a classifier would get a newly initialised head: random scores, P≈0.5 everywhere);
    fine-tuning leaves it off, since it adds the head on purpose."""
    if task not in TASKS:
        raise PlantLLMError(f"task '{task}' must be one of {TASKS}")
    p = Path(path)
    cfg = check_model_dir(p, allow_pickle=allow_pickle)
    mtype = cfg.get("model_type", "")
    if mtype in REMOTE_CODE and not trust_remote_code:
        raise PlantLLMError(f"{p}: model_type '{mtype}' is not part of transformers. {REMOTE_CODE[mtype]}")
    if cfg.get("auto_map") and not trust_remote_code and mtype not in FAMILIES and mtype not in NATIVE_TYPES:
        raise PlantLLMError(f"{p}: this checkpoint ships its own model code (auto_map in config.json) and "
                            f"trust_remote_code is off", fix="read the code, then pass --trust-remote-code")
    try:
        # a published Caduceus folder names its remote-code tokenizer class: built natively instead
        tok = caduceus_tokenizer.load_folder(p) if caduceus_tokenizer.is_caduceus_folder(p) else tokenization.load(p)
    except PlantLLMError:
        raise
    except Exception as e:  # a damaged tokenizer.json: the tokenizers library raises a bare Exception
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise InputFileError(f"cannot load the tokenizer ({msg})", path=p,
                             fix="re-copy the folder's tokenizer files (tokenizer.json, tokenizer_config.json)") from None
    objective = "clm" if mtype in ("gpt2", "llama", "gemma", "mamba") else "mlm"
    kw = _head_kwargs(task, num_labels)
    archs = cfg.get("architectures") or []
    if (num_labels is None and kw and cfg.get("id2label") and any("ForSequenceClassification" in a for a in archs)
            and (task == "regression") == (cfg.get("problem_type") == "regression")):
        # a fine-tuned checkpoint keeps its own head: its number of outputs and problem type
        kw = {"num_labels": len(cfg["id2label"]), **({"problem_type": cfg["problem_type"]}
                                                      if cfg.get("problem_type") else {})}
    elif kw and cfg.get("id2label") and kw.get("num_labels") != len(cfg["id2label"]):
        kw["ignore_mismatched_sizes"] = True  # a new task on a fine-tuned model: its old head is replaced
    safe = any(p.glob("*.safetensors")) or (p / "model.safetensors.index.json").exists()
    try:
        model, info = _auto_for(task, objective).from_pretrained(
            str(p), local_files_only=True, trust_remote_code=trust_remote_code, use_safetensors=safe,
            output_loading_info=True, **kw)
    except PlantLLMError:
        raise
    except (OSError, SafetensorError, Exception) as e:  # noqa: BLE001
        # a damaged folder fails anywhere in transformers/torch: OSError, SafetensorError, or a config.json
        # value it cannot use (torch_dtype 'float0' -> AttributeError, hidden_size 0 -> IndexError inside
        # torch); each is the folder's fault, said in one line
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise InputFileError(f"cannot load the model ({msg})", path=p,
                             fix="the weights may be truncated or belong to another config; re-copy the folder") from None
    if require_head and task in HEAD_TASKS and (info.get("missing_keys") or info.get("mismatched_keys")):
        prefix = f"{getattr(model, 'base_model_prefix', '')}."
        missing = sorted(info.get("missing_keys") or [k[0] if isinstance(k, tuple) else k
                                                      for k in info.get("mismatched_keys") or []],
                         key=lambda k: (k.startswith(prefix), k))  # the head's own weights first
        raise InputFileError(
            f"the model has no trained {task} head ({mtype or 'model'} weights without {missing[0]}"
            f"{f' and {len(missing) - 1} more' if len(missing) > 1 else ''}): its scores would be random",
            path=p, fix="fine-tune it first with plantllm finetune, or give a fine-tuned model folder")
    emb = model.get_input_embeddings()
    if emb is not None and len(tok) > emb.num_embeddings:
        raise InputFileError(f"the tokenizer has {len(tok)} tokens but the model embeds only {emb.num_embeddings}",
                             path=p, fix="use the tokenizer saved with this model")
    return model, tok


def save(model, tok, out: str | Path, *, info: dict | None = None) -> Path:
    """Save model (safetensors) + tokenizer + a model card README.md, atomically."""
    out = Path(out)
    with atomic_path(out) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenization.save(tok, tmp)
        (tmp / "README.md").write_text(model_card(model, tok, info or {}))
        (tmp / "plantllm.json").write_text(json.dumps({"plantllm": __version__, **(info or {})}, indent=2,
                                                      default=str))
    return out


def model_card(model, tok, info: dict) -> str:
    n = sum(p.numel() for p in model.parameters())
    meta = getattr(tok, "plantllm", {}) or {}
    lines = [f"# {info.get('name', type(model).__name__)}", "",
             f"A plant DNA language model saved by plantllm {__version__} in the Hugging Face format.", "",
             "| | |", "|---|---|",
             f"| architecture | {model.config.model_type} ({type(model).__name__}), {n / 1e6:.2f} M parameters |",
             f"| tokenizer | {meta.get('kind', type(tok).__name__)} {json.dumps(meta) if meta else ''}, {len(tok)} tokens |",
             f"| species | {info.get('species', 'n/a')} |",
             f"| corpus | {info.get('corpus', 'n/a')} |",
             f"| training config | {info.get('training', 'n/a')} |",
             f"| metrics | {json.dumps(info.get('metrics')) if info.get('metrics') else 'n/a'} |", "",
             "```python", "from transformers import AutoModel, AutoTokenizer",
             "model = AutoModel.from_pretrained(PATH); tokenizer = AutoTokenizer.from_pretrained(PATH)", "```", ""]
    return "\n".join(lines)
