"""bigWig tracks: the one writer behind every track plantllm writes (promoter scan scores, zero-shot LLR tracks,
conservation), with pyBigWig.

    with bigwig(out / "scores.plus.bw", chromosome_sizes) as bw:
        bw.add("Chr1", starts, ends, values)          # bedGraph-like entries: [start, end) -> value
        bw.add_steps("Chr1", 1000, values, step=10)   # fixed-step entries from 1000, one base wide

The file is written under a temporary name and renamed when the block ends without an error, so an interrupted
run never leaves a track that looks finished. The header lists the chromosomes with their sizes in the order
given (the FASTA's own names, so the track opens next to the genome in IGV, JBrowse or UCSC); entries must come
chromosome by chromosome in that order, sorted by start. Arrays go to pyBigWig as numpy (no Python list per
entry) in chunks of ``CHUNK`` entries: libBigWig appends a chunk to the block the previous one left open, so the
file is byte for byte the one a single call writes (``tests/test_tracks.py``), in bounded memory.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from plantllm.core.io import atomic_path

CHUNK = 1 << 20  # entries per pyBigWig call


class BigWigWriter:
    """Adds entries to an open pyBigWig file (see ``bigwig``)."""

    def __init__(self, bw):
        self.bw = bw

    def add(self, chrom: str, starts, ends, values) -> None:
        """Entries ``[starts[i], ends[i]) -> values[i]`` on ``chrom`` (0-based, half-open), sorted by start."""
        starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
        values = np.asarray(values, dtype=np.float32)  # bigWig stores float32: numpy rounds as libBigWig's cast would
        for i in range(0, len(starts), CHUNK):
            j = min(i + CHUNK, len(starts))
            self.bw.addEntries([chrom] * (j - i), starts[i:j], ends=ends[i:j], values=values[i:j])

    def add_steps(self, chrom: str, start: int, values, *, step: int, span: int = 1) -> None:
        """Fixed-step entries: ``values[i]`` over ``[start + i * step, start + i * step + span)``."""
        values = np.asarray(values, dtype=np.float32)
        for i in range(0, len(values), CHUNK):
            self.bw.addEntries(chrom, int(start) + i * step, values=values[i:i + CHUNK], span=span, step=step)


@contextlib.contextmanager
def bigwig(path: str | Path, chromosomes: Iterable[tuple[str, int]]) -> Iterator[BigWigWriter]:
    """A bigWig at ``path`` with a header of ``(name, size)`` chromosomes, written atomically."""
    import pyBigWig

    with atomic_path(path) as tmp:
        bw = pyBigWig.open(str(tmp), "w")
        try:
            bw.addHeader([(str(c), int(n)) for c, n in chromosomes])
            yield BigWigWriter(bw)
        finally:
            bw.close()
