"""Tiling a genome region into fixed-length windows, read in bounded blocks.

The one tiler under the pretraining corpus and the genome scans: windows of ``length``
every ``stride`` bases over ``[start, end)``, those with more than ``max_n_fraction`` N
(or other non-ACGT codes) dropped. Sequence is fetched ``batch`` windows at a time, so
memory is bounded by ``batch * stride + length`` bases whatever the genome size.
"""

from __future__ import annotations

from typing import Iterator

from plantllm.core import sequence as sq
from plantllm.species.genome import Genome


def tile(genome: Genome, chrom: str, start: int, end: int, length: int, stride: int, *,
         max_n_fraction: float = 1.0, batch: int = 8192) -> Iterator[tuple[int, str, list[int]]]:
    """Blocks of consecutive windows: (block start, block sequence, starts of the windows kept).

    A window starting at ``ws`` is ``block_sequence[ws - block_start:][:length]``.
    """
    starts = range(start, end - length + 1, stride)
    for b in range(0, len(starts), batch):
        block = starts[b:b + batch]
        a, z = block[0], block[-1] + length
        seq = genome.fetch(chrom, a, z)
        is_n = sq.encode(seq) == 4
        kept = [ws for ws in block if float(is_n[ws - a:ws - a + length].mean()) <= max_n_fraction]
        yield a, seq, kept


def count(start: int, end: int, length: int, stride: int) -> int:
    """Windows ``tile`` visits over ``[start, end)`` before N filtering."""
    return max(0, (end - start - length) // stride + 1)
