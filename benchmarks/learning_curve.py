"""What more compute buys: the demo's recipe at growing pretraining budgets, measured on held-out data.

The recipe is the one ``plantllm demo`` runs on 2 CPUs (``configs/models/demo-gpn-char.yaml``,
``configs/train/demo-pretrain-cpu.yaml``, ``configs/train/demo-finetune-promoter-cpu.yaml``; corpus: 256-bp
windows of the spliced coding sequences of TAIR10 chr1's training blocks). For each pretraining budget (optimizer
steps of 32 windows x 256 bases) it pretrains from scratch, fine-tunes for promoters with the same number of fine-tuning
steps, and scores every possible SNV of the demo's held-out genes zero-shot; beside it the 6-mer logistic
regression on the same promoter split. It records the training tokens, the CPU seconds (process time, all
threads) and wall seconds of pretraining, so budgets on another machine read off the CPU seconds.

    python benchmarks/learning_curve.py                          # budgets 250, 1000, 3000, 6000 steps (~1 h on 2 CPUs)
    python benchmarks/learning_curve.py --budgets 100,300 --work /tmp/lc   # a short curve

Stages 1-4 of the demo (species, landscape, corpus, promoter data) run once into ``--work`` and are reused;
each budget's pretraining, fine-tuning and variant scoring go into ``--work/steps-N`` and are reused on a rerun.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def one_budget(base, steps: int, finetune_steps: int) -> dict:
    """Pretrain for ``steps``, fine-tune, score variants; the demo's stage functions, in ``work/steps-N``."""
    from plantllm.demo import stages as S

    folder = base.out / f"steps-{steps}"
    folder.mkdir(parents=True, exist_ok=True)
    for shared in ("3_corpus", "4_promoter_data"):  # the datasets are the demo's, built once
        link = folder / shared
        if not link.exists():
            link.symlink_to(base.out / shared, target_is_directory=True)
    plan = {**base.plan, "pretrain_steps": steps, "finetune_steps": finetune_steps}
    d = replace(base, out=folder, plan=plan, inputs={**base.inputs, "pretrain_steps": steps,
                                                     "finetune_steps": finetune_steps}, results=dict(base.results))
    t0 = time.time()
    d.results["5_pretrain"] = pre = S.run_stage(d, "5_pretrain", f"pretraining {steps} steps", S.pretrain)
    d.results["6_promoter_model"] = ft = S.run_stage(d, "6_promoter_model", "promoter fine-tuning", S.finetune)
    var = S.run_stage(d, "9_variants", "zero-shot variant scoring", S.variants)
    sep, test = var.get("separation") or {}, ft.get("test") or {}
    return {"pretrain_steps": steps, "tokens": steps * pre["batch"] * pre["max_length"],
            "pretrain_cpu_seconds": pre["cpu_seconds"], "pretrain_wall_seconds": pre.get("seconds"),
            "wall_seconds_all": round(time.time() - t0, 1),
            "validation_loss": (pre.get("validation") or {}).get("eval_loss"),
            "promoter_auroc": test.get("test_auroc"), "kmer_auroc": ft["baseline_6mer_logistic"]["auroc"],
            "stop_vs_synonymous_auroc": sep.get("stop_gained_vs_synonymous_variant"),
            "missense_vs_synonymous_auroc": sep.get("missense_variant_vs_synonymous_variant"),
            "finetune_steps": finetune_steps}


def table(rows: list[dict]) -> str:
    out = ["| pretraining steps | tokens | CPU s (pretraining) | validation MLM loss | promoter AUROC | 6-mer AUROC | "
           "stop vs synonymous AUROC | missense vs synonymous |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        def f(x):
            return f"{x:.3f}" if isinstance(x, (int, float)) else "-"
        out.append(f"| {r['pretrain_steps']:,} | {r['tokens'] / 1e6:.1f} M | {r['pretrain_cpu_seconds']:,.0f} | "
                   f"{f(r['validation_loss'])} | {f(r['promoter_auroc'])} | {f(r['kmer_auroc'])} | "
                   f"{f(r['stop_vs_synonymous_auroc'])} | {f(r['missense_vs_synonymous_auroc'])} |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", default="250,1000,3000,6000", help="pretraining steps, comma-separated")
    ap.add_argument("--finetune-steps", type=int, default=None, help="default: the demo's cpu plan")
    ap.add_argument("--work", default=str(ROOT / "benchmarks" / ".learning_curve"))
    ap.add_argument("--name", default="learning_curve", help="results/NAME.md and .json")
    ap.add_argument("--small", action="store_true", help="the demo's quick plan, one budget of 5 steps, in a "
                                                          "temporary folder; nothing written to results/")
    a = ap.parse_args()
    if a.small:
        import tempfile

        a.work, a.budgets, a.finetune_steps = tempfile.mkdtemp(prefix="learning-curve-small-"), "5", 5

    from plantllm.core import console as con
    from plantllm.demo import DEMO_SPECIES
    from plantllm.demo import stages as S

    con.quiet_libraries()
    base = S.Demo.start(a.work, a.small, DEMO_SPECIES)
    for name, title, work in S.STAGES[:4]:
        base.results[name] = S.run_stage(base, name, title, work)
    ft_steps = a.finetune_steps or base.plan["finetune_steps"]
    rows = []
    for steps in sorted(int(b) for b in a.budgets.split(",")):
        rows.append(one_budget(base, steps, ft_steps))
        print(table(rows), flush=True)
    md = (f"The demo's recipe (GPN, single-base, dilated convolutions; `configs/train/demo-*.yaml`) at "
          f"{len(rows)} pretraining budgets on TAIR10 chr1, every number on the demo's held-out test blocks "
          f"(promoter fine-tuning: {ft_steps} steps each). CPU seconds are process time over all threads; on an idle "
          f"2-CPU machine the wall time is about half of it.\n\n{table(rows)}")
    if a.small:
        import shutil

        shutil.rmtree(a.work, ignore_errors=True)
        return 0
    write(a.name, {"machine": machine(), "recipe": {k: base.plan[k] for k in ("model", "pretrain_config",
                                                                               "finetune_config", "corpus")},
                   "rows": rows}, md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
