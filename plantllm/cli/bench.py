"""``plantllm bench``: run the benchmark scripts of the source checkout's benchmarks/ folder."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError, did_you_mean

app = typer.Typer(no_args_is_help=True, help="Benchmarks: quality vs baselines, speed vs peers (benchmarks/).")
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"  # plantllm/cli/bench.py -> the checkout


def _bench_scripts() -> dict[str, Path]:
    if not BENCHMARKS.is_dir():
        raise PlantLLMError(f"no benchmarks folder at {BENCHMARKS}",
                            fix="benchmarks ship with the source checkout: git clone and bash scripts/setup.sh")
    return {p.stem: p for p in sorted(BENCHMARKS.glob("[a-z]*.py"))}


@app.command("list")
def bench_list() -> None:
    """The benchmark scripts, what each compares, and its latest committed result."""
    import ast

    table = Table("benchmark", "what it compares", "latest result")
    for name, path in _bench_scripts().items():
        doc = (ast.get_docstring(ast.parse(path.read_text())) or "").strip().splitlines()
        res = BENCHMARKS / "results" / f"{name}.md"
        table.add_row(name, doc[0] if doc else "", str(res.relative_to(BENCHMARKS.parent)) if res.exists() else "not run")
    con.out.print(table)


@app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench_run(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Benchmark name (see plantllm bench list), or 'all'."),
    small: bool = typer.Option(False, "--small", help="The quick mode the tests run (nothing is written)."),
) -> None:
    """Run a benchmark script; the full mode writes benchmarks/results/NAME.md and .json. Extra arguments
    go to the script (e.g. model folders)."""
    import subprocess

    scripts = _bench_scripts()
    names = list(scripts) if name == "all" else [name]
    for n in names:
        if n not in scripts:
            raise PlantLLMError(f"no benchmark '{n}'{did_you_mean(n, scripts)}", fix="plantllm bench list")
    for n in names:
        con.info(f"benchmark {n}{' (small)' if small else ''}")
        r = subprocess.run([sys.executable, str(scripts[n]), *(["--small"] if small else []), *ctx.args])
        if r.returncode:
            raise PlantLLMError(f"benchmark {n} failed (exit {r.returncode}); see its output above")
