"""What the demo runs on and how big: the species, the shipped configs and the plans."""

from __future__ import annotations

from pathlib import Path

DEMO_SPECIES = "arabidopsis_thaliana"
#: the repository's configs/ (models, DeepSpeed, training)
CONFIGS = Path(__file__).resolve().parents[2] / "configs"

#: sizes of the demo: a few minutes (--quick), ~11 minutes on 2 CPUs, and bigger when a GPU is present
PLANS = {
    "quick": {"model": "tiny-esm-6mer", "pretrain_steps": 80, "finetune_steps": 120, "batch": 32, "stride": 1024,
              "scan_bp": 300_000, "motif_sequences": 30, "motif_min": 3, "variant_genes": 6},
    "cpu": {"model": "tiny-esm-6mer", "pretrain_steps": 500, "finetune_steps": 800, "batch": 32, "stride": 512,
            "scan_bp": None, "motif_sequences": 150, "motif_min": 5, "variant_genes": 25},
    "gpu": {"model": "small-esm-6mer", "pretrain_steps": 4000, "finetune_steps": 2000, "batch": 64, "stride": 256,
            "scan_bp": None, "motif_sequences": 500, "motif_min": 10, "variant_genes": 100},
}


def demo_plan(quick: bool, gpu: bool | None = None) -> tuple[str, dict]:
    """(name, plan): 'quick' when asked, else 'gpu' when CUDA is available, else 'cpu'."""
    if gpu is None:
        import torch

        gpu = torch.cuda.is_available()
    name = "quick" if quick else "gpu" if gpu else "cpu"
    return name, PLANS[name]
