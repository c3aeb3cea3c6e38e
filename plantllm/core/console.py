"""One console for progress, tables and errors (rich), so every command looks alike.

Messages go to stderr; stdout is kept for results a user may pipe (TSV, BED).

Progress has one form per place it is read:

* on a terminal, a rich bar with the rate in the work's own unit and the time left;
* in a log (stderr redirected to a file, CI, a Slurm job), a plain line at most every
  ``PLANTLLM_PROGRESS_SECONDS`` (10 s by default) and a final line, e.g.
  ``plantllm scanning: 12,000/40,000 windows (30%), 2,950 windows/s, ETA 9 s``;
* with ``PLANTLLM_QUIET=1``, nothing.

The libraries plantllm runs (datasets, transformers, huggingface_hub, tangermeme, memelite,
DeepSpeed) draw their own tqdm bars; ``quiet_libraries()`` switches those off, so a log carries
plantllm's lines only.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Callable, Iterable, Iterator, TypeVar

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, SpinnerColumn, Task,
                           TextColumn, TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

T = TypeVar("T")
err = Console(stderr=True, highlight=False, soft_wrap=True)  # errors stay on one line
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)  # tables uncut in pipes

#: seconds between two plain progress lines in a log, unless PLANTLLM_PROGRESS_SECONDS says otherwise
LINE_SECONDS = 10.0


def info(msg: str) -> None:
    err.print(f"[bold cyan]plantllm[/] {msg}")


def warn(msg: str) -> None:
    err.print(f"[bold yellow]warning:[/] {msg}")


def error(msg: str) -> None:
    err.print(f"[bold red]error:[/] {msg}", soft_wrap=True)


def progress_mode() -> str:
    """'quiet' (PLANTLLM_QUIET=1), 'bar' (stderr is a terminal) or 'lines' (stderr is a log)."""
    if os.environ.get("PLANTLLM_QUIET") == "1":
        return "quiet"
    return "bar" if sys.stderr.isatty() else "lines"


def _line_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("PLANTLLM_PROGRESS_SECONDS", LINE_SECONDS)))
    except ValueError:
        return LINE_SECONDS


def duration(seconds: float) -> str:
    """0.4 s, 9.0 s, 42 s, 4 min 05 s, 2 h 07 min."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def rate(per_s: float, unit: str) -> str:
    """2,950 windows/s; 1.5 sequences/s; 0.25 shards/s: slow work keeps two digits."""
    return f"{per_s:,.0f} {unit}/s" if per_s >= 10 else f"{per_s:.2g} {unit}/s"


class RateColumn(ProgressColumn):
    """items/s with the unit of the work (windows/s, variants/s)."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else rate(speed, self.unit), style="progress.data.speed")


class Tracker:
    """Progress of one piece of work in the form its reader sees (module doc).

    ``advance(n)`` or ``update(done)`` as the work goes, ``close()`` at the end (or use it as a
    context manager). Built for loops that call it often: a plain line costs a clock read unless
    one is due. ``every`` and ``clock`` are for tests.
    """

    def __init__(self, description: str, total: int | None = None, unit: str = "items", *,
                 every: float | None = None, clock: Callable[[], float] = time.monotonic, mode: str | None = None):
        self.description, self.total, self.unit = description, total, unit
        self.mode = mode or progress_mode()
        self.every = _line_seconds() if every is None else every
        self.clock = clock
        self.done = 0
        self.t0 = self._last = clock()
        self._closed = False
        self._bar: Progress | None = None
        if self.mode == "bar":
            cols = [SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
                    MofNCompleteColumn(), RateColumn(unit), TimeElapsedColumn(), TimeRemainingColumn()]
            self._bar = Progress(*cols, console=err, transient=False)
            self._bar.start()
            self._task = self._bar.add_task(description, total=total)

    def advance(self, n: int = 1) -> None:
        self.update(self.done + n)

    def update(self, done: int) -> None:
        self.done = done
        if self._bar is not None:
            self._bar.update(self._task, completed=done)
        elif self.mode == "lines":
            now = self.clock()
            if now - self._last >= self.every:
                self._last = now
                info(self.line(now))

    def line(self, now: float | None = None) -> str:
        """``scanning: 12,000/40,000 windows (30%), 2,950 windows/s, ETA 9 s``."""
        elapsed = (self.clock() if now is None else now) - self.t0
        per_s = self.done / elapsed if elapsed > 0 else None
        count = (f"{self.done:,}/{self.total:,} {self.unit} ({100 * self.done / self.total:.0f}%)"
                 if self.total else f"{self.done:,} {self.unit}")
        parts = [f"{self.description}: {count}"]
        if per_s:
            parts.append(rate(per_s, self.unit))
            if self.total and self.done < self.total:
                parts.append(f"ETA {duration((self.total - self.done) / per_s)}")
        return ", ".join(parts)

    def final_line(self, stopped: bool = False) -> str:
        elapsed = self.clock() - self.t0
        if stopped:
            of = f"/{self.total:,}" if self.total else ""
            return f"{self.description}: stopped at {self.done:,}{of} {self.unit} after {duration(elapsed)}"
        per_s = f" ({rate(self.done / elapsed, self.unit)})" if elapsed > 0 and self.done else ""
        return f"{self.description}: {self.done:,} {self.unit} in {duration(elapsed)}{per_s}"

    def close(self, stopped: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.stop()
        elif self.mode == "lines":
            info(self.final_line(stopped))

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, kind, value, tb) -> None:
        # a consumer that stops iterating early (GeneratorExit) has finished, not failed
        self.close(stopped=kind is not None and not issubclass(kind, GeneratorExit))


def track(items: Iterable[T], description: str, total: int | None = None, unit: str = "items") -> Iterator[T]:
    """Iterate with progress: a bar on a terminal, periodic plain lines in a log, nothing when quiet."""
    if progress_mode() == "quiet":
        yield from items
        return
    with Tracker(description, total, unit) as t:
        for x in items:
            yield x
            t.advance()


@contextlib.contextmanager
def status(msg: str) -> Iterator[None]:
    """A spinner for one step of unknown length; in a log, the step's line (and its time when long)."""
    mode = progress_mode()
    if mode == "bar":
        with err.status(msg):
            yield
        return
    info(msg)
    t0 = time.monotonic()
    yield
    if mode == "lines" and time.monotonic() - t0 >= _line_seconds():
        info(f"{msg}: done in {duration(time.monotonic() - t0)}")


#: read by the libraries when imported, and inherited by the processes they start (DeepSpeed's ranks)
LIBRARY_ENV = {
    "TQDM_DISABLE": "1",  # tqdm's default for disable=, so every library's bar (tangermeme, memelite, DeepSpeed)
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",  # datasets' map/filter/load bars
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # huggingface_hub, and transformers' loading bars through it
}


def quiet_libraries() -> None:
    """Switch off the libraries' own progress bars: plantllm shows progress itself (module doc).

    Call it once, early (the CLI's main and the demo do): environment variables reach libraries
    imported later and child processes; libraries already imported are switched off directly.
    The transformers Trainer takes ``disable_tqdm=True`` in its arguments (plantllm's trainer
    passes it). Imports nothing that is not already imported, so it costs nothing.
    """
    os.environ.update(LIBRARY_ENV)
    mods = sys.modules
    if "datasets" in mods:
        mods["datasets"].disable_progress_bars()
    if "huggingface_hub" in mods:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in mods:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
