"""Entry point of one training process: ``python -m plantllm.training.launch --config C`` or, for several
ranks or nodes, ``deepspeed --num_gpus N [--hostfile H] --module plantllm.training.launch --config C``.

``plantllm pretrain`` / ``plantllm finetune`` build these commands; this module only parses
the config, sets up a single-process distributed environment when DeepSpeed runs without
its launcher, and calls ``plantllm.training.trainer.run``.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def single_process_env() -> None:
    """DeepSpeed expects a launcher's environment; give a lone process a world of one.

    Left alone under the deepspeed launcher (it sets LOCAL_SIZE / CROSS_RANK) and once a process
    group exists. Otherwise every variable is (re)set with a fresh port: a child process must not
    inherit a port its parent's process group still listens on.
    """
    if os.environ.get("LOCAL_SIZE") or os.environ.get("CROSS_RANK"):
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return
    os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="plantllm.training.launch")
    ap.add_argument("--config", required=True)
    ap.add_argument("--task")
    ap.add_argument("--model")
    ap.add_argument("--dataset")
    ap.add_argument("--output-dir")
    ap.add_argument("--max-steps", type=int)
    ap.add_argument("--deepspeed")
    ap.add_argument("--no-resume", action="store_true")
    ap.add_argument("--local_rank", type=int, default=None)  # passed by the deepspeed launcher
    a = ap.parse_args(argv)
    from plantllm.training.config import TrainConfig
    from plantllm.training.trainer import run

    try:
        cfg = TrainConfig.load(a.config, task=a.task, model=a.model, dataset=a.dataset, output_dir=a.output_dir,
                               max_steps=a.max_steps, deepspeed=a.deepspeed)
        if cfg.deepspeed:
            single_process_env()
        s = run(cfg, resume=not a.no_resume)
    except PlantLLMError as e:
        con.error(str(e))
        return e.exit_code
    if int(os.environ.get("RANK", "0")) == 0:
        best = s.get("test") or s.get("validation") or {}
        key = next((k for k in ("test_auroc", "eval_auroc", "test_pearson", "eval_pearson", "test_loss", "eval_loss")
                    if k in best), None)
        con.info(f"done: {s['steps']} steps in {s['seconds']} s, {s['tokens_per_s']:,.0f} tokens/s on "
                 f"{s['world_size']} process(es), {s['precision']}"
                 + (f", MFU {s['mfu']:.1%}" if s.get("mfu") is not None else "") + "; "
                 + (f"{key} {best[key]:.4f}; " if key else "") + f"model: {s['model']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
