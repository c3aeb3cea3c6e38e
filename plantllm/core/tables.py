"""The one reader of BED files and of small tab-separated tables (labels, strengths, groups).

Every reader checks as it goes and names the file and line of the first bad record, the
way samtools and bedtools report: a short row, a coordinate that is not an integer,
``start >= end``, a strand that is not ``+ - .``, a number that is NaN or infinite, the
same key given twice with different values. Coordinates stay as the file has them (BED:
0-based half-open); chromosome names are translated by the species layer
(``plantllm.species.regions``), which knows the card's aliases.

Written here rather than with pybedtools' parser: its ``Interval`` objects raise bare
``IndexError``/``ValueError`` without a line number, and a BED line whose start is past
its end passes silently.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from plantllm.core.errors import InputFileError
from plantllm.core.io import check_line_text, open_text, require_file

BED_SKIP = ("#", "track", "browser")


@dataclass(frozen=True)
class BedRecord:
    """One BED line; ``fields`` are all its columns as text, ``line`` its 1-based line number."""

    chrom: str
    start: int
    end: int
    fields: tuple[str, ...]
    line: int

    @property
    def name(self) -> str:
        return self.fields[3] if len(self.fields) > 3 else ""

    @property
    def strand(self) -> str:
        return self.fields[5] if len(self.fields) > 5 else "."

    @property
    def summit(self) -> int:
        """0-based summit: narrowPeak column 10 (offset from start) when given, else the middle."""
        if len(self.fields) >= 10 and self.fields[9].lstrip("-").isdigit() and int(self.fields[9]) >= 0:
            return self.start + int(self.fields[9])
        return (self.start + self.end) // 2


def read_bed(path: str | Path, what: str = "BED") -> Iterator[BedRecord]:
    """Records of a BED/bedGraph/narrowPeak file (plain or gzip), checked line by line.

    Raises
    ------
    InputFileError
        On the first malformed line (columns, coordinates, strand), naming file and line.
    """
    p = require_file(path, what)
    with open_text(p) as fh:
        for lineno, line in enumerate(checked_lines(p, fh), 1):
            if line.startswith(BED_SKIP) or not line.strip():
                continue
            f = tuple(line.rstrip("\r\n").split("\t"))
            if len(f) < 3:
                spaces = " (columns must be separated by tabs, not spaces)" if len(line.split()) >= 3 else ""
                raise InputFileError(f"{what} needs at least 3 tab-separated columns, found {len(f)}{spaces}",
                                     path=p, line=lineno, fix="repair or remove this line")
            try:
                s, e = int(f[1]), int(f[2])
            except ValueError:
                raise InputFileError(f"start/end must be integers, got '{f[1]}'/'{f[2]}'", path=p,
                                     line=lineno, fix="check the coordinate columns") from None
            if s < 0 or e <= s:
                raise InputFileError(f"bad interval {s}-{e} (start must be < end and >= 0)", path=p, line=lineno,
                                     fix="BED is 0-based half-open: start < end")
            if len(f) > 5 and f[5] not in ("+", "-", "."):
                raise InputFileError(f"strand '{f[5]}' must be +, - or .", path=p, line=lineno)
            yield BedRecord(f[0], s, e, f, lineno)


def checked_lines(path: Path, fh) -> Iterator[str]:
    """Lines of a text file; a decoding error or a truncated gzip becomes a one-line error."""
    lineno = 0
    try:
        for lineno, line in enumerate(fh, 1):
            check_line_text(path, lineno, line)
            yield line
    except UnicodeDecodeError:
        raise InputFileError("is not UTF-8 text (UTF-16 or a binary file?)", path=path, line=lineno + 1,
                             fix="save it as plain UTF-8 text") from None
    except (EOFError, OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise InputFileError(f"the compressed stream is truncated or corrupt ({e})", path=path, line=lineno + 1,
                             fix="copy or download the file again") from None


def read_rows(path: str | Path, what: str, columns: dict[str, Callable[[str], object]]
              ) -> Iterator[tuple[int, tuple]]:
    """(line, typed values) of each data row of a tab-separated table.

    ``columns`` maps the leading column names to converters (``str``, ``int``, ``number``);
    extra columns are ignored. Lines starting with ``#`` and blank lines are skipped; a
    first row whose values do not convert (or that repeats the column names) is a header.
    """
    p = require_file(path, what)
    names = [n.lower() for n in columns]
    first = True
    with open_text(p) as fh:
        for lineno, line in enumerate(checked_lines(p, fh), 1):
            if line.startswith("#") or not line.strip():
                continue
            row = line.rstrip("\r\n").split("\t")
            is_first = first
            header, first = first and [c.strip().lower() for c in row[:len(names)]] == names, False
            if header:
                continue
            if len(row) < len(names) or any(not row[i].strip() for i in range(len(names))):
                raise InputFileError(f"expected {len(names)} tab-separated columns: {', '.join(names)}", path=p,
                                     line=lineno, fix="separate the columns with tabs and fill every one")
            try:
                values = tuple(conv(row[i].strip()) for i, conv in enumerate(columns.values()))
            except ValueError as e:
                if is_first and _header_like(row, columns):
                    continue  # a header row with other names
                raise InputFileError(str(e), path=p, line=lineno) from None
            yield lineno, values


def _header_like(row: list[str], columns: dict[str, Callable[[str], object]]) -> bool:
    """Is a first row whose values do not convert a header (names such as ``POS``, ``log2FC``) rather than
    a data row with a bad value (``37x01``, ``nan``: an error, never silently dropped as a header)?"""
    for text, conv in zip((c.strip() for c in row), columns.values()):
        try:
            conv(text)
        except ValueError:
            try:
                float(text)
                return False  # a number conv refuses (NaN, infinity, 2.5 for an integer)
            except ValueError:
                if text[:1].isdigit() or text[:1] in "+-.":
                    return False
    return True


def number(text: str) -> float:
    """A finite float (NaN and infinity are refused: they would poison a loss or a ranking)."""
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"value '{text}' is not a number") from None
    if not math.isfinite(v):
        raise ValueError(f"value '{text}' is not a finite number")
    return v


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"'{text}' is not an integer") from None


def read_key_values(path: str | Path, what: str, value: Callable[[str], object] = str,
                    columns: tuple[str, str] = ("gene", "value")) -> dict[str, object]:
    """``{key: value}`` from a two-column table; a key given twice with different values is an error."""
    out: dict[str, object] = {}
    first_line: dict[str, int] = {}
    for lineno, (key, val) in read_rows(path, what, {columns[0]: str, columns[1]: value}):
        if key in out and out[key] != val:
            raise InputFileError(f"{columns[0]} '{key}' is given twice: {out[key]} (line {first_line[key]}) and "
                                 f"{val}", path=path, line=lineno, fix=f"keep one row per {columns[0]}")
        out.setdefault(key, val)
        first_line.setdefault(key, lineno)
    if not out:
        raise InputFileError(f"no {columns[0]}-{columns[1]} rows found", path=path)
    return out
