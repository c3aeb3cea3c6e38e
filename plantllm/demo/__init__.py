"""``plantllm demo``: the end-to-end run on the built-in real Arabidopsis TAIR10 chr1.

Nine stages (``stages.py``): species card -> genome, annotation DB and repeats -> a landscape of
chromosome 1 -> pretraining corpus -> promoter and motif tasks -> DeepSpeed pretraining
-> promoter fine-tuning (with a 6-mer baseline) -> held-out promoter scan (with baselines)
-> motif discovery (with a k-mer enrichment baseline) -> variant scoring and ranking; then
one HTML report and the headline numbers in ``summary.json`` (``report.py``). Each stage writes
into the output folder and is skipped on a rerun when its manifest matches its inputs. How big a
run is: ``plans.py``.
"""

from __future__ import annotations

from pathlib import Path

from plantllm.core import console as con
from plantllm.demo.plans import CONFIGS, DEMO_SPECIES, PLANS, demo_plan
from plantllm.demo.report import write_outputs
from plantllm.demo.stages import STAGES, Demo, landscape, run_stage

__all__ = ["run_demo", "PLANS", "demo_plan", "DEMO_SPECIES", "CONFIGS", "landscape"]


def run_demo(out: str | Path, *, quick: bool = False, species: str = DEMO_SPECIES) -> Path:
    """Run the demo into ``out``; returns the path of the HTML report (``summary.json`` lies beside it)."""
    con.quiet_libraries()  # plantllm's progress only, also in a log
    demo = Demo.start(out, quick, species)
    con.info(f"demo plan '{demo.plan_name}': {demo.plan['model']}, {demo.plan['pretrain_steps']} pretraining and "
             f"{demo.plan['finetune_steps']} fine-tuning steps")
    for i, (name, title, work) in enumerate(STAGES, 1):
        demo.results[name] = run_stage(demo, name, f"stage {i}/{len(STAGES)}: {title}", work)
    return write_outputs(demo.out, demo.results)
