"""Typed configs: the helper (plantllm.core.config), duplicate YAML keys, and the three config kinds
(species cards, model configs, training configs), each from a real file with one thing wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
import yaml

from conftest import CARDS
from plantllm.core.config import build, check_value, convert, setting
from plantllm.core.errors import CardError
from plantllm.core.io import read_yaml

ROOT = Path(__file__).resolve().parent.parent
CARD = CARDS / "tair10_slice.yaml"


# ------------------------------------------------------------------ the helper
@dataclass
class Inner:
    size: int = setting(1, min=1)
    label: str = "x"


@dataclass
class Example:
    name: str
    rate: float = setting(0.5, above=0.0, max=1.0, fix="a fraction such as 0.5")
    count: int = setting(3, min=0)
    flag: bool = False
    where: Path | None = None
    mode: Literal["fast", "slow"] = "fast"
    kind: str = setting("a", choices=("a", "b"))
    tags: list[str] = field(default_factory=list)
    inner: Inner = field(default_factory=Inner)
    items: list[Inner] = field(default_factory=list)
    extra: dict[str, int] | None = None


def test_build_converts_and_keeps_defaults():
    e = build(Example, {"name": 7, "rate": "1e-3", "count": "12", "where": "a/b.txt", "tags": ["x", 1],
                        "inner": {"size": 4}, "items": [{"label": "y"}], "extra": {"k": 2}, "mode": "slow"})
    assert e.name == "7" and e.rate == 0.001 and e.count == 12 and e.where == Path("a/b.txt")
    assert e.tags == ["x", "1"] and e.inner == Inner(4, "x") and e.items == [Inner(1, "y")] and e.extra == {"k": 2}
    assert e.mode == "slow" and e.kind == "a" and e.flag is False
    assert build(Example, {"name": "n", "inner": None, "tags": None}).inner == Inner()  # 'key:' left empty
    assert convert(Example, {"count": 2.0}, require=False) == {"count": 2}  # only the keys given


@pytest.mark.parametrize("data, message", [
    ({"name": "n", "rate": "abc"}, "f.yaml: rate must be a number, got 'abc' (fix: a fraction such as 0.5)"),
    ({"name": "n", "rate": 1.5}, "f.yaml: rate must be within (0, 1], got 1.5"),
    ({"name": "n", "rate": 0}, "f.yaml: rate must be within (0, 1], got 0"),
    ({"name": "n", "rate": float("nan")}, "f.yaml: rate must be a finite number"),
    ({"name": "n", "count": -1}, "f.yaml: count must be at least 0, got -1"),
    ({"name": "n", "count": 2.5}, "f.yaml: count must be an integer, got 2.5"),
    ({"name": "n", "count": True}, "f.yaml: count must be an integer, got true"),
    ({"name": "n", "flag": "yes"}, "f.yaml: flag must be true or false, got 'yes'"),
    ({"name": "n", "flag": 1}, "f.yaml: flag must be true or false, got 1"),
    ({"name": ["a"]}, "f.yaml: name must be a string, got a list"),
    ({"name": None}, "f.yaml: name must be a string, got null"),
    ({"name": False}, "f.yaml: name must be a string, got false"),
    ({"name": "n", "mode": "fsat"}, "f.yaml: mode 'fsat' must be one of fast, slow (did you mean 'fast'?)"),
    ({"name": "n", "kind": "c"}, "f.yaml: kind 'c' must be one of a, b"),
    ({"name": "n", "tags": "x"}, "f.yaml: tags must be a list, got 'x'"),
    ({"name": "n", "inner": {"size": 0}}, "f.yaml: inner.size must be at least 1, got 0"),
    ({"name": "n", "inner": {"sise": 2}}, "f.yaml: unknown key 'inner.sise' (did you mean 'size'?)"),
    ({"name": "n", "inner": 3}, "f.yaml: inner must be a mapping of keys to values, got 3"),
    ({"name": "n", "items": [{}, {"size": "big"}]}, "f.yaml: items[1].size must be an integer, got 'big'"),
    ({"name": "n", "extra": {"k": "v"}}, "f.yaml: extra.k must be an integer, got 'v'"),
    ({"nmae": "n"}, "f.yaml: unknown key 'nmae' (did you mean 'name'?)"),
    ({"zzz": 1}, "f.yaml: unknown key 'zzz' (fix: valid keys here: name, rate, count"),
    ({}, "f.yaml: missing required key 'name'"),
    ([1, 2], "f.yaml: the file must be a mapping of keys to values, got a list"),
])
def test_bad_values_are_one_line_errors_naming_file_and_key(data, message):
    with pytest.raises(CardError) as e:
        build(Example, data, path="f.yaml")
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_check_value_alone():
    assert check_value("3", int, key="k") == 3
    assert check_value(None, int | None, key="k") is None
    assert check_value(["a", 2], list[str] | dict, key="k") == ["a", "2"]
    with pytest.raises(CardError, match="k must be a list or a mapping, got 'x'"):
        check_value("x", list[str] | dict, key="k")


# ------------------------------------------------------------------ duplicate YAML keys
def test_duplicate_keys_name_file_line_and_key(tmp_path):
    p = tmp_path / "d.yaml"
    p.write_text("a: 1\nb:\n  c: 2\n  d: 3\n  c: 4\n")
    with pytest.raises(CardError, match=r"d\.yaml:5: duplicate key 'c' \(first on line 3\).*fix: keep one"):
        read_yaml(p, "config")
    p.write_text("a: {x: 1, x: 1}\n")
    with pytest.raises(CardError, match=r"d\.yaml:1: duplicate key 'x'"):
        read_yaml(p, "config")
    p.write_text("list:\n  - {name: 1, length: 5}\n  - {name: 2, name: 3}\n")
    with pytest.raises(CardError, match=r"d\.yaml:3: duplicate key 'name'"):
        read_yaml(p, "config")


def test_yaml_keeps_safe_load_semantics(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  x: 5\nn: 1.0e-3\ns: 1e-3\nt: yes\n")
    assert read_yaml(p, "config") == yaml.safe_load(p.read_text())  # merge keys may override; same types
    p.write_text("task: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(CardError, match="not valid YAML"):
        read_yaml(p, "config")


# ------------------------------------------------------------------ species cards
def _card(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(CARD.read_text())
    data["genome"]["fasta"] = str((CARD.parent / data["genome"]["fasta"]).resolve())
    data["annotation"]["gff"] = str((CARD.parent / data["annotation"]["gff"]).resolve())
    edit(data)
    tmp_path.mkdir(exist_ok=True)
    p = tmp_path / "card.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(ploidy="four"), "ploidy must be an integer, got 'four'"),
    (lambda d: d.update(ploidy=0), "ploidy must be at least 1, got 0"),
    (lambda d: d["annotation"].update(promoter_upstream=-100), "annotation.promoter_upstream must be at least 0"),
    (lambda d: d["annotation"].update(downstream="far"), "annotation.downstream must be an integer, got 'far'"),
    (lambda d: d["repeats"].update(weight=1.5), "repeats.weight must be within [0, 1], got 1.5"),
    (lambda d: d["repeats"].update(weight="low"), "repeats.weight must be a number, got 'low'"),
    (lambda d: d["genome"].update(soft_masked="yes"), "genome.soft_masked must be true or false, got 'yes'"),
    (lambda d: d["genome"].update(iupac="to-n"), "genome.iupac 'to-n' must be one of keep, to_n, reject"),
    (lambda d: d["chromosomes"]["nuclear"][1].update(length=0), "chromosomes.nuclear[1].length must be at least 1"),
    (lambda d: d["chromosomes"]["nuclear"][0].update(aliases="Chr1"), "chromosomes.nuclear[0].aliases must be a list"),
    (lambda d: d["chromosomes"]["organelles"][0].update(kind="plastd"), "(did you mean 'plastid'?)"),
    (lambda d: d.update(subgenomes={"A": "1"}), "subgenomes.A must be a list or a mapping, got '1'"),
    (lambda d: d.update(notes=["a"]), "notes must be a string, got a list"),
])
def test_card_values_checked(tmp_path, edit, message):
    from plantllm.species.card import load_card

    p = _card(tmp_path, edit)
    load_card(_card(tmp_path / "ok", lambda d: None))  # the unbroken copy loads
    with pytest.raises(CardError) as e:
        load_card(p)
    assert str(e.value).startswith(f"{p.resolve()}: ") and message in str(e.value), str(e.value)


def test_card_numbers_as_strings_are_read(tmp_path):
    from plantllm.species.card import load_card

    card = load_card(_card(tmp_path, lambda d: d.update(ploidy="4")))
    assert card.ploidy == 4


def test_card_duplicate_key(tmp_path):
    from plantllm.species.card import load_card

    p = tmp_path / "card.yaml"
    p.write_text(CARD.read_text().replace("ploidy: 2\n", "ploidy: 2\nploidy: 4\n"))
    with pytest.raises(CardError, match=r"card\.yaml:\d+: duplicate key 'ploidy'"):
        load_card(p)


def test_cli_duplicate_key_in_card_is_one_error_line(tmp_path, capsys):
    from plantllm.cli import main

    text = CARD.read_text()
    p = tmp_path / "c.yaml"
    p.write_text(text.replace("ploidy: 2\n", "ploidy: 2\nploidy: 4\n").replace("../", f"{CARD.parent.parent}/"))
    line = text.splitlines().index("ploidy: 2") + 2
    assert main(["species", "show", str(p)]) == 2
    err = capsys.readouterr().err
    errors = [x for x in err.strip().splitlines() if x.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert f"c.yaml:{line}: duplicate key 'ploidy' (first on line {line - 1})" in errors[0]


def test_cli_training_config_out_of_range(tmp_path, capsys):
    from plantllm.cli import main

    p = tmp_path / "t.yaml"
    p.write_text("task: mlm\nmlm_probability: 1.5\n")
    assert main(["pretrain", str(p)]) == 2
    err = capsys.readouterr().err
    errors = [x for x in err.strip().splitlines() if x.startswith("error: ")]
    assert len(errors) == 1 and "t.yaml: mlm_probability must be within [0, 1], got 1.5" in errors[0], err


# ------------------------------------------------------------------ model configs
@pytest.mark.parametrize("text, message", [
    ("architecture: bert\nmax_length: long\n", "max_length must be an integer, got 'long'"),
    ("architecture: bert\nmax_length: 0\n", "max_length must be at least 1, got 0"),
    ("architecture: esm\ntokenizer: {kind: kmer, k: 12}\n", "tokenizer.k must be within [1, 8], got 12"),
    ("architecture: esm\ntokenizer: {kind: kmers}\n", "tokenizer.kind 'kmers' must be one of"),
    ("architecture: esm\ntokenizer: {kind: kmer, kk: 6}\n", "unknown key 'tokenizer.kk' (did you mean 'k'?)"),
    ("architecture: bert\ntokenizer: {kind: char, k: 6}\n", "tokenizer.k is only for kmer and kmer_overlap"),
    ("architecture: bert\nconfig: {hidden_size: 64x}\n", "config.hidden_size must be an integer, got '64x'"),
    ("architecture: bert\nconfig: {hidden_dropout_prob: high}\n", "config.hidden_dropout_prob must be a number"),
    ("architecture: bert\nobjective: mlmm\n", "objective 'mlmm' must be one of mlm, clm"),
    ("architecture: bert\nnotes: x\narchitecture: esm\n", "duplicate key 'architecture'"),
    ("name: x\n", "missing required key 'architecture'"),
])
def test_model_config_values_checked(tmp_path, text, message):
    from plantllm.models import checkpoint as M

    p = tmp_path / "m.yaml"
    p.write_text(text)
    with pytest.raises(CardError) as e:
        M.load_spec(p)
    assert str(e.value).startswith(str(p)) and message in str(e.value), str(e.value)


def test_model_config_numbers_converted(tmp_path):
    from plantllm.models import checkpoint as M

    p = tmp_path / "m.yaml"
    p.write_text("architecture: bert\nmax_length: '130'\nconfig: {hidden_size: 64, layer_norm_eps: 1e-6}\n")
    spec = M.load_spec(p)
    assert spec.max_length == 130 and spec.config["layer_norm_eps"] == 1e-6 and spec.name == "m"
    assert spec.tokenizer == {"kind": "char"} and spec.objective == "mlm"


# ------------------------------------------------------------------ training configs
def _train(tmp_path: Path, text: str) -> Path:
    (tmp_path / "corpus").mkdir(exist_ok=True)
    p = tmp_path / "train.yaml"
    p.write_text(f"model: {ROOT / 'configs/models/tiny-bert-char.yaml'}\ndataset: corpus\n" + text)
    return p


@pytest.mark.parametrize("text, message", [
    ("mlm_probability: 1.5\n", "mlm_probability must be within [0, 1], got 1.5"),
    ("learning_rate: abc\n", "learning_rate must be a number, got 'abc' (fix: a number such as 5.0e-4)"),
    ("learning_rate: 0\n", "learning_rate must be greater than 0, got 0"),
    ("max_steps: -5\n", "max_steps must be at least -1, got -5"),
    ("max_steps: 0\n", "max_steps must be at least 1, or -1"),
    ("per_device_train_batch_size: 0\n", "per_device_train_batch_size must be at least 1, got 0"),
    ("gradient_accumulation_steps: -2\n", "gradient_accumulation_steps must be at least 1"),
    ("task: mlx\n", "task 'mlx' must be one of mlm, clm, classification, multilabel, regression (did you mean"),
    ("precision: bf32\n", "precision 'bf32' must be one of auto, fp32, bf16, fp16"),
    ("class_weights: equal\n", "class_weights 'equal' must be one of balanced, none"),
    ("rc_augment: maybe\n", "rc_augment must be true or false, got 'maybe'"),
    ("warmup_ratio: 2\n", "warmup_ratio must be within [0, 1], got 2"),
    ("repeat_weight: -0.1\n", "repeat_weight must be within [0, 1], got -0.1"),
    ("max_eval_samples: 0\n", "max_eval_samples must be at least 1, got 0"),
    ("lora: {r: 0}\n", "lora.r must be at least 1, got 0"),
    ("lora: {rank: 8}\n", "unknown key 'lora.rank'"),
    ("lora: 8\n", "lora must be a mapping, got 8"),
    ("seed: 1\nseed: 2\n", "duplicate key 'seed'"),
    ("eval_step: 10\n", "unknown key 'eval_step' (did you mean 'eval_steps'?)"),
])
def test_training_config_values_checked(tmp_path, text, message):
    from plantllm.training.config import TrainConfig

    p = _train(tmp_path, text)
    with pytest.raises(CardError) as e:
        TrainConfig.load(p)
    assert str(e.value).startswith(str(p)) and message in str(e.value), str(e.value)


def test_training_config_good_values(tmp_path):
    from plantllm.training.config import TrainConfig

    cfg = TrainConfig.load(_train(tmp_path, "learning_rate: 1e-3\nmax_steps: -1\nlora: {r: 4, alpha: 8}\n"
                                            "task: classification\n"))
    assert cfg.learning_rate == 0.001 and cfg.max_steps == -1 and cfg.lora == {"r": 4, "alpha": 8.0, "dropout": 0.05}
    assert cfg.dataset == str((tmp_path / "corpus").resolve()) and not cfg.lm
    with pytest.raises(CardError, match="command line: max_steps must be at least -1, got -3"):
        TrainConfig.load(_train(tmp_path, ""), max_steps=-3)
    assert TrainConfig.load(_train(tmp_path, ""), max_steps=7).max_steps == 7


def test_yaml_that_is_not_text_is_one_line(tmp_path):
    from plantllm.core.errors import CardError
    from plantllm.core.io import read_yaml

    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b"name: x\n\x00bad: 1\n")
    with pytest.raises(CardError, match=r"nul.yaml:2: character '\\x00' is not allowed"):
        read_yaml(nul, "card")
    u16 = tmp_path / "u16.yaml"
    u16.write_bytes("name: x\n".encode("utf-16"))
    with pytest.raises(CardError, match="u16.yaml:1: is not UTF-8 text") as e:
        read_yaml(u16, "card")
    assert "\n" not in str(e.value)
