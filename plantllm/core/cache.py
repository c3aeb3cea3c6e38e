"""Where derived files (indexes, annotation databases, bgzip copies) are cached.

Default: next to the user's file when its folder is writable; otherwise
``$PLANTLLM_CACHE`` (default ``~/.cache/plantllm``), keyed by the source file's
fingerprint so a changed file never reuses a stale cache.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("PLANTLLM_CACHE", Path.home() / ".cache" / "plantllm")).expanduser()


def cache_dir(kind: str, key: str) -> Path:
    d = cache_root() / kind / hashlib.sha1(key.encode()).hexdigest()[:16]
    d.mkdir(parents=True, exist_ok=True)
    return d


def writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK) and "site-packages" not in path.parts
