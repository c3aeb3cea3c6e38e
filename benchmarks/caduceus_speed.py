"""Forward throughput of plantllm's native Caduceus against transformers' Mamba slow path, on this CPU.

Like for like: a Caduceus with ``bidirectional: false, rcps: false`` runs exactly one Mamba (v1) mixer
per layer, as transformers' ``MambaModel`` does; same width, layers, state size, expansion, convolution
and input. transformers' Mamba on a CPU (no mamba-ssm kernels) takes its slow path: the selective scan
stepped position by position (``mamba_selective_scan``'s recurrent loop). The PlantCaduceus layout
(bidirectional + RCPS: four mixer passes per layer) is timed beside them. float32 and bfloat16 (the
models cast to bf16; this CPU's AVX512-BF16 / AMX support is recorded). Random weights (speed does not
depend on them), random A/C/G/T ids, ``torch.inference_mode``; the best of ``--repeats`` timed forwards
after one warm-up.

    python benchmarks/caduceus_speed.py [--d-model 384 --layers 4 --length 512 --batch 4 --repeats 3 --threads 1]
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from transformers import MambaConfig, MambaModel

from _common import machine, write

from plantllm.models.families.caduceus import Caduceus, CaduceusConfig


def timed(model, ids: torch.Tensor, repeats: int) -> float:
    with torch.inference_mode():
        model(input_ids=ids)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(input_ids=ids)
            best = min(best, time.perf_counter() - t0)
    return best


def models(d_model: int, layers: int) -> dict:
    ssm = {"d_state": 16, "d_conv": 4, "expand": 2}
    comp = {0: 0, 1: 1, 2: 2, 3: 6, 4: 5, 5: 4, 6: 3}
    hf = MambaConfig(vocab_size=8, hidden_size=d_model, num_hidden_layers=layers, state_size=16, expand=2,
                     conv_kernel=4, use_mambapy=False)
    return {
        "transformers MambaModel (slow path)": lambda: MambaModel(hf),
        "plantllm Caduceus, one direction, no RCPS": lambda: Caduceus(CaduceusConfig(
            d_model=d_model, n_layer=layers, vocab_size=7, ssm_cfg=ssm, bidirectional=False, rcps=False)),
        "plantllm Caduceus, PlantCaduceus layout (bidirectional + RCPS)": lambda: Caduceus(CaduceusConfig(
            d_model=d_model, n_layer=layers, vocab_size=7, ssm_cfg=ssm, rcps=True, complement_map=comp)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--d-model", type=int, default=384)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--length", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: on a shared, busy machine two threads contend and time out of all measure)")
    ap.add_argument("--small", action="store_true", help="a tiny model, one repeat, no results written")
    a = ap.parse_args()
    if a.small:
        a.d_model, a.layers, a.length, a.batch, a.repeats = 32, 1, 64, 1, 1
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    ids = torch.randint(3, 7, (a.batch, a.length))
    bf16_cpu = bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    rows = []
    for name, make in models(a.d_model, a.layers).items():
        model = make().eval()
        for dtype in (torch.float32, torch.bfloat16):
            model.to(dtype)
            s = timed(model, ids, a.repeats)
            rows.append({"model": name, "dtype": str(dtype).removeprefix("torch."), "seconds": round(s, 3),
                         "tokens_per_s": round(a.batch * a.length / s, 1)})
            print(rows[-1], flush=True)
    base = {r["dtype"]: r["seconds"] for r in rows if r["model"].startswith("transformers")}
    for r in rows:
        r["speedup_vs_transformers"] = round(base[r["dtype"]] / r["seconds"], 2)
    load = os.getloadavg()
    table = "\n".join(f"| {r['model']} | {r['dtype']} | {r['seconds']} | {r['tokens_per_s']:,.0f} | "
                      f"{r['speedup_vs_transformers']}x |" for r in rows)
    md = (f"Forward pass of {a.batch} x {a.length} tokens, width {a.d_model}, {a.layers} layers, d_state 16, expand 2, "
          f"CPU ({torch.get_num_threads()} threads; AVX512-BF16/AMX: {'yes' if bf16_cpu else 'no'}), best of "
          f"{a.repeats} after a warm-up, random weights.\n\n"
          "| model | dtype | seconds | tokens/s | vs transformers' Mamba (same dtype) |\n|---|---|---|---|---|\n" + table +
          "\n\nThe one-direction Caduceus does the same work as transformers' Mamba (one mixer per layer); the "
          "PlantCaduceus layout runs four mixer passes per layer (two directions x two strands), so it costs about "
          "four times as much. Load average during the run (the machine is shared): "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; timings on a busy machine are upper bounds.\n")
    if a.small:
        return print(md)
    write("caduceus_speed", {"machine": machine(), "params": vars(a), "bf16_cpu": bf16_cpu,
                             "load_average": load, "rows": rows}, md)


if __name__ == "__main__":
    main()
