"""The one definition of a promoter window: ``-upstream..+downstream`` around a TSS, strand-aware.

By default the PDLLMs' core promoter window -249..+50 (300 bp, TSS at offset 249). A
window on the minus strand is the reverse complement of the genome interval
``[tss - downstream, tss + upstream + 1)``, so in the sequence a model reads, the TSS is
always at offset ``upstream``. The promoter task builds its examples with it, the motif
task its promoter windows, and the genome scan maps each scanned window back to the
candidate TSS it was trained around.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from plantllm.core.errors import PlantLLMError


@dataclass(frozen=True)
class PromoterWindow:
    upstream: int = 249
    downstream: int = 50

    def __post_init__(self) -> None:
        if self.upstream < 0 or self.downstream < 0:
            raise PlantLLMError(f"promoter window: upstream ({self.upstream}) and downstream ({self.downstream}) "
                                "must be >= 0")

    @property
    def length(self) -> int:
        return self.upstream + self.downstream + 1

    def interval(self, tss: int, strand: str) -> tuple[int, int]:
        """0-based half-open genome interval of the window around a 0-based TSS."""
        if strand == "-":
            return tss - self.downstream, tss + self.upstream + 1
        return tss - self.upstream, tss + self.downstream + 1

    def tss_of(self, start: int, strand: str) -> int:
        """The TSS a window starting at genome position ``start`` stands for, on ``strand``."""
        return start + self.upstream if strand != "-" else start + self.length - 1 - self.upstream

    def describe(self) -> str:
        return (f"-{self.upstream}..+{self.downstream} around the TSS ({self.length} bp, TSS at offset "
                f"{self.upstream}, reverse-complemented on '-')")

    @classmethod
    def of_dataset(cls, dataset: str | Path) -> "PromoterWindow | None":
        """The window a plantllm promoter dataset was built with (from its manifest)."""
        manifest = Path(dataset) / "manifest.json"
        if not manifest.exists():
            return None
        p = json.loads(manifest.read_text()).get("params", {})
        return cls(int(p["upstream"]), int(p["downstream"])) if "upstream" in p and "downstream" in p else None

    @classmethod
    def of_model(cls, model_dir: str | Path) -> "PromoterWindow | None":
        """The window of the promoter dataset a plantllm model was fine-tuned on."""
        info = Path(model_dir) / "plantllm.json"
        if not info.exists():
            return None
        corpus = json.loads(info.read_text()).get("corpus")
        return cls.of_dataset(corpus) if corpus else None
