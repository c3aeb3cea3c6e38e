"""The package's layers: every import (also inside functions) goes down, and no module imports itself back.

core < species < data < models < training < inference < apps < demo < cli. A file's path names its layer.
"""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "plantllm"
LAYERS = ["core", "species", "data", "models", "training", "inference", "apps", "demo", "cli"]


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return 0  # the package root holds only the version
    return LAYERS.index(parts[1])


def _imports(module: str, path: Path) -> set[str]:
    """plantllm modules imported by ``module`` anywhere in its file (absolute or relative)."""
    pkg = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(pkg.split(".")[: len(pkg.split(".")) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for n in names:
            while n and n not in MODULES:
                n = n.rpartition(".")[0]
            if n and n != module and n.startswith("plantllm"):
                found.add(n)
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def test_every_file_lives_in_a_layer():
    stray = [m for m in MODULES if m.count(".") >= 1 and m.split(".")[1] not in LAYERS]
    assert not stray, f"modules outside the layer packages {LAYERS}: {stray}"


def test_imports_only_go_down():
    up = [f"{m} (layer {LAYERS[_layer(m)] if '.' in m else 'root'}) imports {d} (layer {LAYERS[_layer(d)]})"
          for m, deps in GRAPH.items() for d in deps if _layer(d) > _layer(m)]
    assert not up, "imports from a lower layer into a higher one:\n" + "\n".join(sorted(up))


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert not _cycles(), f"import cycles: {_cycles()}"


@pytest.mark.parametrize("graph,expect", [({"a": {"b"}, "b": {"a"}}, [["a", "b"]]), ({"a": {"b"}, "b": set()}, [])])
def test_the_cycle_finder_finds_cycles(graph, expect, monkeypatch):
    monkeypatch.setattr(__import__(__name__), "GRAPH", graph)
    assert _cycles() == expect


def test_the_layer_check_sees_imports_inside_functions(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("def f():\n    from plantllm.apps.promoter_scan import scan\n")
    assert "plantllm.apps.promoter_scan" in _imports("plantllm.core.fake", p)
