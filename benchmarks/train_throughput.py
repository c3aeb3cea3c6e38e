"""Training throughput: DeepSpeed ZeRO-2 vs the plain HF Trainer, same model, data and machine.

Both runs pretrain the same tiny BERT (configs/models/tiny-bert-char.yaml) with the same
config on the same real TAIR10 windows, one after the other in this process' children;
tokens/s is measured after the first 20% of steps (start-up excluded) and also end to end.
On a GPU machine the same script records bf16 numbers.

    python benchmarks/train_throughput.py            # full: TAIR10 chr1 corpus, 512 bp, 100 steps
    python benchmarks/train_throughput.py --small    # test slice, 128 bp, 10 steps
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def corpus(tmp: Path, small: bool) -> Path:
    out = tmp / "corpus"
    card = str(ROOT / "tests/data/cards/tair10_slice.yaml") if small else "arabidopsis_thaliana"
    length = "128" if small else "512"
    subprocess.run([sys.executable, "-m", "plantllm.cli", "data", "pretrain", card, "-o", str(out), "--length", length,
                    "--stride", length, "--block-size", "100000"], check=True, capture_output=True,
                   env=dict(os.environ, PLANTLLM_QUIET="1"))
    return out


def one(tmp: Path, data: Path, deepspeed: str | None, steps: int, length: int) -> dict:
    name = "deepspeed" if deepspeed else "plain"
    cfg = {"task": "mlm", "model": str(ROOT / "configs/models/tiny-bert-char.yaml"), "dataset": str(data),
           "output_dir": str(tmp / name), "deepspeed": deepspeed, "max_steps": steps, "per_device_train_batch_size": 16,
           "max_length": length + 2, "eval_steps": steps * 10, "save_steps": steps * 10, "logging_steps": steps,
           "max_eval_samples": 32, "seed": 0}
    p = tmp / f"{name}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "plantllm.training.launch", "--config", str(p), "--no-resume"], capture_output=True,
                       text=True, env=dict(os.environ, PLANTLLM_QUIET="1"))
    if r.returncode:
        raise SystemExit(r.stdout[-2000:] + r.stderr[-2000:])
    s = json.loads((tmp / name / "summary.json").read_text())
    return {k: s.get(k) for k in ("steps", "seconds", "tokens_per_s", "steady_tokens_per_s", "train_loss", "precision",
                                  "world_size")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--steps", type=int, default=100)
    a = ap.parse_args(argv)
    steps = 10 if a.small else a.steps
    length = 128 if a.small else 512
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = corpus(tmp, a.small)
        res = {"plain": one(tmp, data, None, steps, length),
               "deepspeed_zero2": one(tmp, data, str(ROOT / "configs/deepspeed/zero2.json"), steps, length)}
    p, d = res["plain"], res["deepspeed_zero2"]
    res["deepspeed_overhead_steady"] = 1 - d["steady_tokens_per_s"] / p["steady_tokens_per_s"]
    res["deepspeed_overhead_end_to_end"] = 1 - d["tokens_per_s"] / p["tokens_per_s"]
    if a.small:
        print(json.dumps(res, indent=1))
        return 0
    res["machine"] = machine()
    md = (f"Tiny BERT MLM (configs/models/tiny-bert-char.yaml), {steps} steps, batch 16 x {length + 2} tokens, real TAIR10 "
          "chr1 windows, one process each, run one after the other.\n\n"
          "| trainer | precision | steady tokens/s | end-to-end tokens/s (incl. start-up) | seconds |\n|---|---|---|---|---|\n"
          + "".join(f"| {k} | {v['precision']} | {v['steady_tokens_per_s']:,.0f} | {v['tokens_per_s']:,.0f} | {v['seconds']} |\n"
                    for k, v in res.items() if isinstance(v, dict) and "steps" in v)
          + f"\nDeepSpeed overhead: {100 * res['deepspeed_overhead_steady']:.1f}% in steady state, "
            f"{100 * res['deepspeed_overhead_end_to_end']:.1f}% end to end (engine start-up and op build included). "
            "Goal: under 10% on CPU. No GPU was lent to this session, so no bf16/MFU numbers yet.")
    print(write("train_throughput", res, md).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
