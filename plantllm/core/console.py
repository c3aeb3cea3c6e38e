"""One console for progress, tables and errors (rich), so every command looks alike.

Messages go to stderr; stdout is kept for results a user may pipe (TSV, BED).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterable, Iterator, TypeVar

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, SpinnerColumn, Task,
                           TextColumn, TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

T = TypeVar("T")
err = Console(stderr=True, highlight=False, soft_wrap=True)  # errors stay on one line
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)  # tables uncut in pipes


def info(msg: str) -> None:
    err.print(f"[bold cyan]plantllm[/] {msg}")


def warn(msg: str) -> None:
    err.print(f"[bold yellow]warning:[/] {msg}")


def error(msg: str) -> None:
    err.print(f"[bold red]error:[/] {msg}", soft_wrap=True)


def _quiet() -> bool:
    return os.environ.get("PLANTLLM_QUIET") == "1" or not sys.stderr.isatty()


class RateColumn(ProgressColumn):
    """items/s with the unit of the work (windows/s, variants/s)."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} {self.unit}/s", style="progress.data.speed")


def track(items: Iterable[T], description: str, total: int | None = None, unit: str = "items") -> Iterator[T]:
    """Iterate with a progress bar (rate and ETA); plain when stderr is not a terminal."""
    if _quiet():
        yield from items
        return
    cols = [SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
            MofNCompleteColumn(), RateColumn(unit),
            TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*cols, console=err, transient=False) as p:
        task = p.add_task(description, total=total)
        for x in items:
            yield x
            p.advance(task)


@contextlib.contextmanager
def status(msg: str) -> Iterator[None]:
    """A spinner for one step of unknown length."""
    if _quiet():
        info(msg)
        yield
        return
    with err.status(msg):
        yield
