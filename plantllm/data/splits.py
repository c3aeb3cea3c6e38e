"""Train/validation/test splits that cannot leak.

Two ways to hold data out, combinable:

* whole chromosomes (``val_chroms``, ``test_chroms``), the classic genomic split;
* blocks: each chromosome is cut into ``block_size`` blocks and every block is
  assigned to a split by a seeded hash of (chromosome, block). An example belongs to
  the block that contains it entirely; an example straddling two blocks of different
  splits is dropped (and counted). So overlapping windows, and a window and its reverse
  complement (same locus), never end up on both sides.

A group key (e.g. a homeolog group or gene family) can pin examples to the split of the
group instead, see ``GroupSplitter`` (polyploid genomes).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from plantllm.core.errors import PlantLLMError

SPLITS = ("train", "validation", "test")


def _unit(*parts: object, seed: int) -> float:
    """A deterministic number in [0, 1) from the parts (stable across runs and machines)."""
    h = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


@dataclass
class Splitter:
    """Assigns loci to train/validation/test.

    Parameters
    ----------
    val_fraction, test_fraction : float
        Share of blocks held out (ignored for chromosomes listed in ``*_chroms``).
    block_size : int
        Size of the blocks that are assigned as a whole (bp). Larger blocks leak less
        through nearby correlated sequence; smaller blocks give finer fractions.
    val_chroms, test_chroms : list of canonical chromosome names held out entirely.
    seed : int
    """

    val_fraction: float = 0.1
    test_fraction: float = 0.1
    block_size: int = 1_000_000
    val_chroms: tuple[str, ...] = ()
    test_chroms: tuple[str, ...] = ()
    seed: int = 0
    dropped: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1
                and self.val_fraction + self.test_fraction < 1):
            raise PlantLLMError(f"split fractions must be in [0, 1) and sum below 1, got validation "
                                f"{self.val_fraction}, test {self.test_fraction}")
        if self.block_size <= 0:
            raise PlantLLMError("block_size must be positive")
        both = set(self.val_chroms) & set(self.test_chroms)
        if both:
            raise PlantLLMError(f"chromosomes {sorted(both)} are held out for both validation and test")
        self.val_chroms = tuple(self.val_chroms)
        self.test_chroms = tuple(self.test_chroms)

    @property
    def by_chromosome(self) -> bool:
        return bool(self.val_chroms or self.test_chroms)

    def block_split(self, chrom: str, block: int) -> str:
        if chrom in self.test_chroms:
            return "test"
        if chrom in self.val_chroms:
            return "validation"
        if self.by_chromosome:
            return "train"
        return self.by_fraction(_unit(chrom, block, seed=self.seed))

    def by_fraction(self, u: float) -> str:
        """The split of a unit drawn uniformly in [0, 1): test, then validation, then train shares."""
        if u < self.test_fraction:
            return "test"
        if u < self.test_fraction + self.val_fraction:
            return "validation"
        return "train"

    def assign(self, chrom: str, start: int, end: int) -> str | None:
        """Split of the locus ``chrom[start:end]``; None when it straddles blocks of two splits."""
        b0, b1 = start // self.block_size, (max(end, start + 1) - 1) // self.block_size
        first = self.block_split(chrom, b0)
        if b1 != b0 and any(self.block_split(chrom, b) != first for b in range(b0 + 1, b1 + 1)):
            self.dropped += 1
            return None
        return first

    def describe(self) -> dict:
        return {"val_fraction": self.val_fraction, "test_fraction": self.test_fraction,
                "block_size": self.block_size, "val_chroms": list(self.val_chroms),
                "test_chroms": list(self.test_chroms), "seed": self.seed, "straddling_dropped": self.dropped}
