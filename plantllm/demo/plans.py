"""What the demo runs on and how big: the species, the shipped configs and the plans."""

from __future__ import annotations

from pathlib import Path

DEMO_SPECIES = "arabidopsis_thaliana"
#: the repository's configs/ (models, DeepSpeed, training)
CONFIGS = Path(__file__).resolve().parents[2] / "configs"

#: the recipe (configs/train/demo-*.yaml, configs/models/demo-gpn-char.yaml): a GPN model (single-base,
#: dilated convolutions) pretrained on 256-bp windows of spliced coding sequences, then fine-tuned whole for
#: promoters. Joined CDS keep one reading frame over a window, which the model learns within minutes (stop-gained
#: vs synonymous zero-shot AUROC 0.65 after 1,200 steps, against 0.52 for windows of whole gene regions and 0.56
#: for genomic CDS +/- 100 bp), and the promoter model fine-tuned from it is as good (held-out AUROC 0.776 vs
#: 0.775); see benchmarks/results/learning_curve.md
_RECIPE = {"model": "demo-gpn-char", "pretrain_config": "demo-pretrain-cpu.yaml",
           "finetune_config": "demo-finetune-promoter-cpu.yaml"}


def _corpus(stride: int) -> dict:
    """256-bp windows of spliced coding sequences (regions 'cds'); the stride (a multiple of 3, so windows stay in
    frame) sets how many."""
    return {"corpus": {"length": 256, "stride": stride, "regions": "cds", "flank": 0}}


#: sizes of the demo: a few minutes (--quick), ~15 minutes on 2 CPUs, and longer when a GPU is present
PLANS = {
    "quick": {**_RECIPE, **_corpus(255), "pretrain_steps": 50, "finetune_steps": 60, "batch": 16,
              "scan_bp": 60_000, "motif_sequences": 10, "motif_min": 3, "variant_genes": 6},
    # measured CPU cost (process time, 1 thread): 0.4 s per pretraining step, 0.45 s per fine-tuning step,
    # ~0.12 s per 8,192 bases scored; on 2 idle CPUs: pretraining ~5 min, fine-tuning ~3, the rest ~5
    # 1,200 steps x 32 windows: about half a pass over the training windows of spliced CDS at stride 96
    "cpu": {**_RECIPE, **_corpus(96), "pretrain_steps": 1200, "finetune_steps": 500, "batch": 32,
            "scan_bp": 500_000, "motif_sequences": 30, "motif_min": 5, "variant_genes": 25},
    "gpu": {**_RECIPE, **_corpus(48), "pretrain_steps": 20000, "finetune_steps": 3000, "batch": 64,
            "scan_bp": None, "motif_sequences": 500, "motif_min": 10, "variant_genes": 100},
}


def demo_plan(quick: bool, gpu: bool | None = None) -> tuple[str, dict]:
    """(name, plan): 'quick' when asked, else 'gpu' when CUDA is available, else 'cpu'."""
    if gpu is None:
        import torch

        gpu = torch.cuda.is_available()
    name = "quick" if quick else "gpu" if gpu else "cpu"
    return name, PLANS[name]
