"""Train/validation/test splits that cannot leak.

Two ways to hold data out, combinable:

* whole chromosomes (``val_chroms``, ``test_chroms``), the classic genomic split;
* blocks: each chromosome is cut into ``block_size`` blocks and every block is
  assigned to a split by a seeded hash of (chromosome, block). An example belongs to
  the block that contains it entirely; an example straddling two blocks of different
  splits is dropped (and counted). So overlapping windows, and a window and its reverse
  complement (same locus), never end up on both sides.

A group key (e.g. a homeolog group or gene family) can pin examples to the split of the
group instead, see ``GroupSplitter`` (homeologs of polyploids, gene families).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from plantllm.core.errors import InputFileError, PlantLLMError
from plantllm.core.intervals import IntervalIndex
from plantllm.species.assembly import Assembly

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


class GroupSplitter(Splitter):
    """A Splitter where loci near a grouped gene take the split of the gene's group.

    Loci touching genes of groups in different splits are dropped; loci touching no
    grouped gene fall back to the block / chromosome rules of the base splitter.
    """

    def __init__(self, base: Splitter, asm: Assembly, groups: dict[str, str], flank: int = 0):
        super().__init__(base.val_fraction, base.test_fraction, base.block_size, base.val_chroms,
                         base.test_chroms, base.seed)
        self.groups = groups
        self.flank = flank
        known = {g.locus for g in asm.annotation.genes} | {g.id for g in asm.annotation.genes}
        missing = [g for g in groups if g not in known]
        if len(missing) == len(groups):
            raise PlantLLMError(f"no gene of the homeolog table is in the annotation (e.g. {missing[0]})",
                                fix="use the gene IDs of the GFF (locus tags)")
        rows = [(g.chrom, g.start - flank, g.end + flank, groups.get(g.locus) or groups.get(g.id))
                for g in asm.annotation.genes]
        rows = [r for r in rows if r[3]]
        self._groups = [r[3] for r in rows]
        self._index = IntervalIndex(r[:3] for r in rows)
        self.unmatched = len(missing)
        self.naive_leakage = leakage(asm, groups, base)

    def group_split(self, group: str) -> str:
        return self.by_fraction(_unit("group", group, seed=self.seed))

    def assign(self, chrom: str, start: int, end: int) -> str | None:
        hit = {self._groups[i] for i in self._index.overlapping(chrom, start, end)}
        if hit:
            splits = {self.group_split(g) for g in hit}
            if len(splits) == 1:
                return splits.pop()
            self.dropped += 1
            return None
        return super().assign(chrom, start, end)

    def describe(self) -> dict:
        return {**super().describe(), "groups": len(set(self.groups.values())), "group_flank": self.flank,
                "naive_split_leakage": self.naive_leakage}


def leakage(asm: Assembly, groups: dict[str, str], splitter: Splitter) -> dict:
    """Groups whose genes a (naive) splitter puts on both sides of train/test."""
    by_group: dict[str, set[str]] = defaultdict(set)
    for g in asm.annotation.genes:
        grp = groups.get(g.locus) or groups.get(g.id)
        if grp:
            s = splitter.assign(g.chrom, g.start, g.end)
            if s:
                by_group[grp].add(s)
    split_groups = [k for k, v in by_group.items() if len(v) > 1]
    test_and_train = [k for k, v in by_group.items() if {"train", "test"} <= v]
    return {"groups": len(by_group), "groups_across_splits": len(split_groups),
            "groups_in_train_and_test": len(test_and_train),
            "fraction_in_train_and_test": round(len(test_and_train) / max(len(by_group), 1), 4)}


def splitter_of(dataset: str | Path) -> Splitter:
    """The Splitter a plantllm dataset was built with, from its manifest."""
    p = Path(dataset) / "manifest.json"
    if not p.exists():
        raise InputFileError("not a plantllm dataset (no manifest.json)", path=Path(dataset),
                             fix="build it with 'plantllm data ...'")
    sp = json.loads(p.read_text())["split"]
    return Splitter(sp["val_fraction"], sp["test_fraction"], sp["block_size"], tuple(sp["val_chroms"]),
                    tuple(sp["test_chroms"]), sp["seed"])


def held_out_regions(asm: Assembly, dataset: str | Path, split: str = "test") -> list[tuple[str, int, int]]:
    """The genome blocks a plantllm dataset put in ``split`` (from its manifest), merged."""
    splitter = splitter_of(dataset)
    out: list[tuple[str, int, int]] = []
    for c in asm.genome.chromosomes():
        n = asm.genome.length(c)
        for b in range(0, (n - 1) // splitter.block_size + 1):
            if splitter.block_split(c, b) == split:
                s, e = b * splitter.block_size, min(n, (b + 1) * splitter.block_size)
                if out and out[-1][0] == c and out[-1][2] == s:
                    out[-1] = (c, out[-1][1], e)
                else:
                    out.append((c, s, e))
    return out
