"""File helpers shared by every stage: atomic writes, checksums, gzip-aware reading.

Outputs are written to a temporary file in the destination directory and renamed
into place, so an interrupted run never leaves a truncated file that looks complete.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Iterator

import yaml

from plantllm.core.errors import InputFileError, MissingFileError

GZIP_MAGIC = b"\x1f\x8b"


def require_file(path: str | Path, what: str = "file") -> Path:
    """Return ``path`` as a Path, raising a clear error if it does not exist or is empty."""
    p = Path(path).expanduser()
    if not p.exists():
        raise MissingFileError(f"{what} not found", path=p, fix="check the path in the card or on the command line")
    if p.is_file() and p.stat().st_size == 0:
        raise InputFileError(f"{what} is empty", path=p, fix="re-create or re-download the file")
    return p


def is_gzip(path: str | Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def open_text(path: str | Path) -> IO[str]:
    """Open a plain or gzip/bgzip text file for reading (universal newlines: CRLF is accepted)."""
    p = require_file(path)
    if is_gzip(p):
        return gzip.open(p, "rt", newline=None)
    return open(p, "rt", newline=None)


def sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def fingerprint(path: str | Path) -> str:
    """A cheap identity of a file's content state: size and mtime in nanoseconds.

    Used to decide whether a cache built from the file is stale; a full checksum of
    a multi-gigabyte genome on every open would cost more than the work it guards.
    """
    st = Path(path).stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def _remove_orphans(dest: Path) -> None:
    """Temporaries of ``dest`` left by a killed process (kill -9, power loss): their pid is gone."""
    for p in dest.parent.glob(f".{glob.escape(dest.name)}.*.tmp"):
        pid = p.name[len(dest.name) + 2:].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # still running: another process is writing it
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


@contextlib.contextmanager
def scratch_dir(parent: str | Path, name: str) -> Iterator[Path]:
    """A folder for one process's work files (e.g. an external sort's runs) in ``parent``, removed when the block
    ends; the ones of ``name`` that a killed process left there (kill -9: its pid is gone) are removed first, so a
    job folder that is resumed again and again does not fill the disk."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(parent / name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.{os.getpid()}.", suffix=".tmp", dir=parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(dest: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on success rename it to ``dest``.

    Works for files and directories. On error the temporary is removed and ``dest``
    is left as it was.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.{os.getpid()}.", suffix=suffix + ".tmp", dir=dest.parent)
    os.close(fd)
    os.unlink(tmp)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if dest.is_dir() and tmp_path.is_dir():
            old = dest.with_name(f".{dest.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            dest.rename(old)
            tmp_path.rename(dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp_path, dest)
    except BaseException:
        if tmp_path.is_dir():
            shutil.rmtree(tmp_path, ignore_errors=True)
        elif tmp_path.exists():
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def atomic_write(dest: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file for writing; it replaces ``dest`` only if the block succeeds."""
    with atomic_path(dest) as tmp:
        with open(tmp, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


def tabix_index(tmp: str | Path, dest: str | Path, **kw) -> None:
    """Index the bgzipped ``tmp`` with tabix (pysam.tabix_index keywords) as ``dest.tbi``: built under the
    temporary name and renamed, so an interrupted run never leaves an index that looks complete."""
    import pysam

    pysam.tabix_index(str(tmp), force=True, index=str(tmp) + ".tbi", **kw)
    os.replace(str(tmp) + ".tbi", str(dest) + ".tbi")


def check_line_text(path: Path, lineno: int, line: str) -> None:
    """Reject binary garbage early (a NUL byte usually means a truncated or wrong file)."""
    if "\x00" in line:
        raise InputFileError("contains a NUL byte: the file is binary or corrupt", path=path, line=lineno,
                             fix="check that this is the right file and that it was copied completely")


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A key given twice in one YAML mapping."""

    def __init__(self, key, first_line: int, mark):
        super().__init__(None, None, f"duplicate key '{key}' (first on line {first_line})", mark)
        self.key, self.first_line = key, first_line


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` (no tags that build Python objects) that refuses a key repeated in one
    mapping: PyYAML keeps the last value silently, so a card with two ``ploidy:`` lines would load
    with whichever came last. Keys merged in with ``<<: *anchor`` may still be overridden."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in seen:
                        raise DuplicateKeyError(key, seen[key], key_node.start_mark)
                    seen[key] = key_node.start_mark.line + 1
                except TypeError:  # an unhashable key: the base class reports it
                    continue
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path, what: str, fix: str | None = None):
    """A YAML file as data, with clear errors: ``yaml.safe_load`` semantics (no tags that build
    Python objects), and a key repeated in one mapping is an error naming its line."""
    from plantllm.core.errors import CardError

    p = Path(path)
    if not p.exists():
        raise MissingFileError(f"{what} not found", path=p, fix=fix)
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        line = p.read_bytes()[:e.start].count(b"\n") + 1
        raise CardError("is not UTF-8 text (UTF-16 or a binary file?)", path=p, line=line,
                        fix="save it as plain UTF-8 text") from None
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.reader.ReaderError as e:  # a NUL or other control character: PyYAML's text spans lines
        line = text[:e.position].count("\n") + 1
        ch = chr(e.character) if isinstance(e.character, int) else e.character
        raise CardError(f"character {ch!r} is not allowed in YAML", path=p, line=line,
                        fix="remove the control character (the file may be binary or damaged)") from None
    except DuplicateKeyError as e:
        raise CardError(f"duplicate key '{e.key}' (first on line {e.first_line})", path=p,
                        line=e.problem_mark.line + 1, fix="keep one: YAML would silently use only the last") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = " ".join(str(getattr(e, "problem", None) or e).split())  # one line
        raise CardError(f"not valid YAML: {problem}", path=p, line=mark.line + 1 if mark else None) from None
