"""What the demo runs on and how big: the species, the shipped configs and the plans."""

from __future__ import annotations

from pathlib import Path

DEMO_SPECIES = "arabidopsis_thaliana"
#: the repository's configs/ (models, DeepSpeed, training)
CONFIGS = Path(__file__).resolve().parents[2] / "configs"

#: the recipe (configs/train/demo-*.yaml, configs/models/demo-gpn-char.yaml): a GPN model (single-base,
#: dilated convolutions) pretrained on 256-bp windows of gene regions, then fine-tuned whole for promoters
_RECIPE = {"model": "demo-gpn-char", "pretrain_config": "demo-pretrain-cpu.yaml",
           "finetune_config": "demo-finetune-promoter-cpu.yaml"}


def _corpus(stride: int) -> dict:
    """256-bp windows of gene regions (genes +/- 200 bp); the stride sets how many (the test split is scored whole)."""
    return {"corpus": {"length": 256, "stride": stride, "regions": "genes", "flank": 200}}


#: sizes of the demo: a few minutes (--quick), ~15 minutes on 2 CPUs, and longer when a GPU is present
PLANS = {
    "quick": {**_RECIPE, **_corpus(1024), "pretrain_steps": 50, "finetune_steps": 60, "batch": 16,
              "scan_bp": 60_000, "motif_sequences": 10, "motif_min": 3, "variant_genes": 6},
    # measured CPU cost (process time, 1 thread): 0.4 s per pretraining step, 0.45 s per fine-tuning step,
    # ~0.12 s per 8,192 bases scored; on 2 idle CPUs: pretraining ~5 min, fine-tuning ~3, the rest ~5
    # 1,200 steps x 32 windows: one pass over the ~38,000 training windows at stride 384
    "cpu": {**_RECIPE, **_corpus(384), "pretrain_steps": 1200, "finetune_steps": 500, "batch": 32,
            "scan_bp": 500_000, "motif_sequences": 30, "motif_min": 5, "variant_genes": 25},
    "gpu": {**_RECIPE, **_corpus(128), "pretrain_steps": 20000, "finetune_steps": 3000, "batch": 64,
            "scan_bp": None, "motif_sequences": 500, "motif_min": 10, "variant_genes": 100},
}


def demo_plan(quick: bool, gpu: bool | None = None) -> tuple[str, dict]:
    """(name, plan): 'quick' when asked, else 'gpu' when CUDA is available, else 'cpu'."""
    if gpu is None:
        import torch

        gpu = torch.cuda.is_available()
    name = "quick" if quick else "gpu" if gpu else "cpu"
    return name, PLANS[name]
