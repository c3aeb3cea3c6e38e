"""Typed configs: a dataclass built from a YAML mapping, every key and value checked.

Species cards, model configs and training configs are dataclasses whose fields say what
each key holds: its type (``int``, ``float``, ``bool``, ``str``, ``Path``, ``X | None``,
``Literal[...]``, ``list[X]``, ``tuple[X, ...]``, ``dict[str, X]``, a nested dataclass) and,
through :func:`setting`, a range, the allowed choices and a hint for the fix. :func:`build`
turns a loaded mapping into the dataclass; anything wrong is a one-line :class:`CardError`
naming the file and the key::

    train.yaml: learning_rate must be a number, got 'abc'
    train.yaml: mlm_probability must be within [0, 1], got 1.5
    card.yaml: unknown key 'ploidi' (did you mean 'ploidy'?)
    card.yaml: chromosomes.nuclear[0].length must be an integer, got 'ten'

Numbers given as strings are read as numbers (PyYAML reads ``1e-3`` as a string: YAML 1.1
wants ``1.0e-3``); ``true``/``false`` are never read as strings, numbers or names.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Union

from plantllm.core.errors import CardError, did_you_mean

MISSING = dataclasses.MISSING
_NONE = type(None)


def setting(default: Any = MISSING, *, default_factory: Any = MISSING, min: float | None = None,
            max: float | None = None, above: float | None = None, choices: Iterable[Any] | None = None,
            fix: str | None = None, **field_kw) -> Any:
    """A dataclass field with checks: ``min``/``max`` (inclusive), ``above`` (exclusive lower bound),
    ``choices`` (the allowed values) and ``fix`` (said after an error about this key)."""
    meta = {k: v for k, v in (("min", min), ("max", max), ("above", above), ("fix", fix)) if v is not None}
    if choices is not None:
        meta["choices"] = tuple(choices)
    return dataclasses.field(default=default, default_factory=default_factory, metadata=meta, **field_kw)


def convert(cls, data: Any, *, path: str | Path | None = None, where: str = "", exclude: Iterable[str] = (),
            require: bool = True) -> dict[str, Any]:
    """The keys of ``data`` checked against the fields of dataclass ``cls``: unknown keys, types,
    ranges and choices. Returns only the keys given, converted (numbers, paths, nested dataclasses).
    ``require``: fields without a default must be given."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise CardError(f"{where or 'the file'} must be a mapping of keys to values, got {_show(data)}", path=path)
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name not in set(exclude)}
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = _join(where, k)
        if k not in known:
            fix = None if did_you_mean(str(k), known) else f"valid keys here: {', '.join(known)}"
            raise CardError(f"unknown key '{key}'{did_you_mean(str(k), known)}", path=path, fix=fix)
        f = known[k]
        out[k] = check_value(v, hints[k], key=key, path=path, meta=f.metadata)
    if require:
        for name, f in known.items():
            if name not in out and f.default is MISSING and f.default_factory is MISSING:
                raise CardError(f"missing required key '{_join(where, name)}'", path=path, fix=f.metadata.get("fix"))
    return out


def build(cls, data: Any, *, path: str | Path | None = None, where: str = "", exclude: Iterable[str] = (),
          **extra):
    """An instance of dataclass ``cls`` from a loaded mapping, every key checked (see :func:`convert`);
    ``extra`` sets fields that do not come from the file (e.g. ``source``)."""
    return cls(**convert(cls, data, path=path, where=where, exclude=exclude), **extra)


# --------------------------------------------------------------------- values
def check_value(value: Any, tp: Any, *, key: str, path: str | Path | None = None,
                meta: Mapping[str, Any] | None = None) -> Any:
    """``value`` checked against type ``tp`` and ``meta`` (range, choices, fix); returns it converted."""
    meta = meta or {}
    fix = meta.get("fix")
    v = _typed(value, tp, key, path, fix)
    if v is None:
        return v
    choices = meta.get("choices")
    if choices is not None and v not in choices:
        raise CardError(f"{key} '{v}' must be one of {', '.join(map(str, choices))}"
                        f"{did_you_mean(str(v), map(str, choices))}", path=path, fix=fix)
    lo, hi, above = meta.get("min"), meta.get("max"), meta.get("above")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        low_ok = (lo is None or v >= lo) and (above is None or v > above)
        if not (low_ok and (hi is None or v <= hi)):
            raise CardError(f"{key} must be {_range(lo, hi, above)}, got {_num(v)}", path=path, fix=fix)
    return v


def _typed(value: Any, tp: Any, key: str, path, fix) -> Any:
    def bad(expected: str):
        return CardError(f"{key} must be {expected}, got {_show(value)}", path=path, fix=fix)

    if tp is Any or tp is object:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Union or origin is types.UnionType:
        if value is None and _NONE in args:
            return None
        options = [a for a in args if a is not _NONE]
        if len(options) == 1:
            if value is None:
                raise bad(_describe(options[0]))
            return _typed(value, options[0], key, path, fix)
        for a in options:  # the first type that takes the value
            try:
                return _typed(value, a, key, path, fix)
            except CardError:
                pass
        raise bad(" or ".join(_describe(a) for a in options))
    if origin is Literal:
        if value in args and not (isinstance(value, bool) and not any(isinstance(a, bool) for a in args)):
            return value
        raise CardError(f"{key} '{value}' must be one of {', '.join(map(str, args))}"
                        f"{did_you_mean(str(value), map(str, args))}", path=path, fix=fix)
    if value is None:
        if dataclasses.is_dataclass(tp) or origin in (list, tuple, dict) or tp in (list, tuple, dict):
            value = {} if dataclasses.is_dataclass(tp) or dict in (origin, tp) else []  # 'key:' left empty
        else:
            raise bad(_describe(tp))
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path=path, where=key)
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise bad("a list")
        if not args:
            return list(value) if (origin or tp) is list else tuple(value)
        item = args[0]
        items = [_typed(x, item, f"{key}[{i}]", path, fix) for i, x in enumerate(value)]
        return items if (origin or tp) is list else tuple(items)
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise bad("a mapping")
        if not args:
            return dict(value)
        return {_typed(k, args[0], key, path, fix): _typed(x, args[1], _join(key, k), path, fix)
                for k, x in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad("true or false")
    if tp is int:
        if isinstance(value, bool):
            raise bad("an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip().replace("_", ""))
            except ValueError:
                pass
        raise bad("an integer")
    if tp is float:
        if isinstance(value, bool):
            raise bad("a number")
        if isinstance(value, (int, float)):
            v = float(value)
        elif isinstance(value, str):
            try:
                v = float(value.strip())
            except ValueError:
                raise bad("a number") from None
        else:
            raise bad("a number")
        if not math.isfinite(v):
            raise bad("a finite number")
        return v
    if tp is str or tp is Path:
        # a name may be written as a number (chromosome 1, assembly 5.0); true/false/yes/no never
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise bad("a path" if tp is Path else "a string")
        return Path(str(value)) if tp is Path else str(value)
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise bad(_describe(tp))
    return value


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(tp)))
    if origin in (list, tuple) or tp in (list, tuple):
        return "a list"
    if origin is dict or tp is dict or dataclasses.is_dataclass(tp):
        return "a mapping"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string",
            Path: "a path"}.get(tp, getattr(tp, "__name__", str(tp)))


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _range(lo, hi, above) -> str:
    if hi is not None and (lo is not None or above is not None):
        return f"within {'[' if above is None else '('}{_num(lo if above is None else above)}, {_num(hi)}]"
    if hi is not None:
        return f"at most {_num(hi)}"
    return f"at least {_num(lo)}" if above is None else f"greater than {_num(above)}"


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)
