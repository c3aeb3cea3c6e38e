"""In-silico mutagenesis and inference: plantllm vs DNALLM, same classifier, same real sequences, one run.

The model is a character-level BERT sequence classifier saved by plantllm in the Hugging Face
format (random init: speed and agreement do not depend on the weights); both tools load it from
the folder. The sequences are real TAIR10 chr1 promoters (-249..+50 around protein-coding TSSs).

* ISM: DNALLM's ``Mutagenesis.mutate_sequence`` + ``evaluate(strategy="last")`` vs
  ``plantllm.apps.attribution.ism``. DNALLM reports log2(sigmoid(mutant logit) / sigmoid(reference logit))
  of the last logit; plantllm's deltas of the same logit give that number exactly, so the two are
  compared value for value.
* Inference: DNALLM's ``DNAInference`` (dataset + batch_infer) vs plantllm's ``ModelScorer``
  (the promoter scan's scorer) on the same sequences, batch 32; logits compared.

DNALLM runs in the separate peer environment (shared/PEERS.md: ``pip install --no-deps dnallm==1.2.1``
plus its runtime dependencies); without it the script measures plantllm alone and says why.

    python benchmarks/dnallm_compare.py            # 8 promoters for ISM (7,200 mutants), 2,000 for inference
    python benchmarks/dnallm_compare.py --small    # 2 and 200, the tiny BERT
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PEER, ROOT, char_bert, machine, peer_available, promoters, write  # noqa: E402


PEER_SCRIPT = r'''
import json, sys, time, logging
logging.disable(logging.WARNING)
import numpy as np, torch
from dnallm import load_config, load_model_and_tokenizer
from dnallm.inference.inference import DNAInference
from dnallm.inference.mutagenesis import Mutagenesis
cfg = load_config(sys.argv[1])
model, tok = load_model_and_tokenizer(sys.argv[2], task_config=cfg["task"], source="local")
job = json.load(open(sys.argv[3]))
out = {}
m = Mutagenesis(model, tok, cfg)          # warm-up on a short sequence
m.mutate_sequence(job["ism"][0][:40], batch_size=32, replace_mut=True); m.evaluate(strategy="last")
t = time.perf_counter()
ism = []
for s in job["ism"]:
    m = Mutagenesis(model, tok, cfg)
    m.mutate_sequence(s, batch_size=32, replace_mut=True)
    r = m.evaluate(strategy="last")
    ism.append({k: float(v["score"]) for k, v in r.items() if k != "raw"})
out["ism_s"] = time.perf_counter() - t
out["ism"] = ism
eng = DNAInference(model, tok, cfg)
t = time.perf_counter()
_, dl = eng.generate_dataset(job["infer"], batch_size=32)
logits = eng.batch_infer(dl, do_pred=False)[0]
out["infer_s"] = time.perf_counter() - t
out["logits"] = logits.float().numpy().tolist()
import importlib.metadata as md
out["version"] = md.version("dnallm")
json.dump(out, open(sys.argv[4], "w"))
'''


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--ism", type=int, default=8)
    ap.add_argument("--infer", type=int, default=2000)
    a = ap.parse_args(argv)
    os.environ["PLANTLLM_QUIET"] = "1"
    import torch

    from plantllm.apps import attribution as A
    from plantllm.species.assembly import Assembly
    from plantllm.apps.promoter_scan import ModelScorer
    from plantllm.species.card import load_card

    small = a.small
    asm = Assembly(load_card(ROOT / "tests/data/cards/tair10_slice.yaml")) if small else Assembly("arabidopsis_thaliana")
    n_ism, n_inf = (2, 200) if small else (a.ism, a.infer)
    seqs = promoters(asm, max(n_ism, n_inf))
    ism_seqs, inf_seqs = seqs[:n_ism], (seqs * (n_inf // len(seqs) + 1))[:n_inf]
    why_not = peer_available("dnallm.inference.mutagenesis", "dnallm")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = char_bert(tmp, small, "classification")
        # plantllm: ISM of the last logit (DNALLM's "last" strategy) and inference
        ex = A.Explained(model, target=1)
        A.ism(ex, [ism_seqs[0][:40]])  # warm-up
        t = time.perf_counter()
        y0, delta = A.ism(ex, ism_seqs)
        t_ism = time.perf_counter() - t
        sc = ModelScorer(model)
        t = time.perf_counter()
        logits = []
        with torch.inference_mode():
            for i in range(0, len(inf_seqs), 32):
                logits.append(sc.runner.logits(sc.encode(inf_seqs[i:i + 32])).numpy())
        t_inf = time.perf_counter() - t
        logits = np.concatenate(logits)
        out = {"ism_sequences": n_ism, "length": 300, "mutants": 3 * 300 * n_ism, "inference_sequences": n_inf,
               "plantllm": {"ism_s": t_ism, "inference_s": t_inf}, "dnallm": None}
        if why_not is None:
            (tmp / "cfg.yaml").write_text(json.dumps({
                "task": {"task_type": "binary", "num_labels": 2, "label_names": ["other", "promoter"]},
                "inference": {"batch_size": 32, "max_length": 302, "device": "cpu", "num_workers": 0,
                              "output_dir": str(tmp / "dnallm_out")}}))
            (tmp / "job.json").write_text(json.dumps({"ism": ism_seqs, "infer": inf_seqs}))
            (tmp / "peer.py").write_text(PEER_SCRIPT)
            r = subprocess.run([str(PEER), str(tmp / "peer.py"), str(tmp / "cfg.yaml"), str(model), str(tmp / "job.json"),
                                str(tmp / "peer.json")], capture_output=True, text=True, cwd=tmp,
                               env=dict(os.environ, TOKENIZERS_PARALLELISM="false"))  # DNALLM writes logs/ into cwd
            if r.returncode:
                why_not = "DNALLM failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
            else:
                p = json.loads((tmp / "peer.json").read_text())
                # DNALLM's score from plantllm's numbers: log2(sigmoid(y0 + delta) / sigmoid(y0))
                def sig(x):
                    return 1 / (1 + np.exp(-x))

                diffs = []
                for k, s in enumerate(ism_seqs):
                    for name, v in p["ism"][k].items():
                        _, i, ref, alt = name.split("_")
                        mine = np.log2(sig(y0[k] + delta[k, int(i), "ACGT".index(alt)]) / sig(y0[k]))
                        diffs.append(abs(mine - v))
                out["dnallm"] = {"version": p["version"], "ism_s": p["ism_s"], "inference_s": p["infer_s"],
                                 "ism_speedup": p["ism_s"] / t_ism, "inference_speedup": p["infer_s"] / t_inf,
                                 "ism_max_abs_diff": float(max(diffs)), "ism_values_compared": len(diffs),
                                 "logits_max_abs_diff": float(np.abs(np.array(p["logits"]) - logits).max())}
        out["dnallm_unavailable"] = why_not
    if small:
        print(json.dumps(out, indent=1))
        if out["dnallm"]:
            assert out["dnallm"]["ism_max_abs_diff"] < 1e-3 and out["dnallm"]["logits_max_abs_diff"] < 1e-3
        return 0
    out["machine"] = machine()
    d, pl = out["dnallm"], out["plantllm"]
    md = ("Same character-level BERT classifier (3.4 M parameters, random init), real TAIR10 chr1 promoters "
          "(300 bp), CPU, batch 32, warm-up excluded.\n\n| task | plantllm (s) | DNALLM (s) | plantllm speed-up | "
          "max abs. difference |\n|---|---|---|---|---|\n")
    if d:
        md += (f"| ISM of {n_ism} promoters ({out['mutants']:,} mutants) | {pl['ism_s']:.1f} | {d['ism_s']:.1f} | "
               f"{d['ism_speedup']:.1f}x | {d['ism_max_abs_diff']:.1e} ({d['ism_values_compared']:,} scores) |\n"
               f"| inference on {n_inf:,} promoters | {pl['inference_s']:.1f} | {d['inference_s']:.1f} | "
               f"{d['inference_speedup']:.1f}x | {d['logits_max_abs_diff']:.1e} (logits) |\n\nDNALLM {d['version']}, "
               "installed with --no-deps beside torch 2.13 (it pins torch<2.12; it imports and runs).")
    else:
        md += (f"| ISM of {n_ism} promoters | {pl['ism_s']:.1f} | - | - | - |\n| inference on {n_inf:,} | "
               f"{pl['inference_s']:.1f} | - | - | - |\n\nDNALLM could not run here: {why_not}.")
    print(write("dnallm_compare", out, md).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
