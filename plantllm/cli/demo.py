"""``plantllm demo``: the end-to-end demo and its report."""

from __future__ import annotations

from pathlib import Path

import typer

from plantllm.core import console as con


def demo_cmd(
    out: Path = typer.Option(Path("plantllm-demo"), "--out", "-o", help="Output folder (kept for reuse)."),
    quick: bool = typer.Option(False, "--quick", help="A few-minute version."),
) -> None:
    """Run the end-to-end demo on the built-in real Arabidopsis TAIR10 chr1."""
    from plantllm.demo import run_demo

    report = run_demo(out, quick=quick)
    con.info(f"[green]demo finished[/]: open {report}")
