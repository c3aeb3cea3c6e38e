"""Zero-shot variant scoring: plantllm vs GPN's own scoring code, same model, same SNVs, one run.

GPN (``gpn.ss.run_vep``, PyPI ``gpn``) scores a variant as log P(ALT) - log P(REF) at the masked
base, averaged over the forward window and its reverse complement; ``plantllm variants score
--method llr`` computes the same quantity (window centred the same way), then also annotates
consequences, ranks and writes the TSV/VCF. Both run as a user runs them (their own process, so
start-up is counted) on the same character-level BERT, the same real TAIR10 SNVs and the same
CPUs; the scores must agree.

GPN lives in a separate virtual environment (its pins differ from ours): see shared/PEERS.md, or
``python3 -m venv .bench-venv && .bench-venv/bin/pip install torch==2.13.0 transformers datasets
accelerate "gpn[inference]"``. Without it the script measures plantllm alone and says why.

    python benchmarks/variant_gpn.py            # full: 3,000 SNVs on real TAIR10 chr1, a 3.3 M-parameter BERT
    python benchmarks/variant_gpn.py --small    # 150 SNVs on the test slice, the tiny BERT
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
from _common import PEER, ROOT, char_bert, machine, peer_available, write  # noqa: E402



def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--positions", type=int, default=1000, help="SNV positions (x3 ALTs)")
    ap.add_argument("--window", type=int, default=128)
    a = ap.parse_args(argv)
    os.environ["PLANTLLM_QUIET"] = "1"
    from plantllm.species.assembly import Assembly
    from plantllm.species.card import load_card
    from plantllm.apps.variant_report import write_saturation_vcf

    card = str(ROOT / "tests/data/cards/tair10_slice.yaml") if a.small else "arabidopsis_thaliana"
    asm = Assembly(load_card(card) if card.endswith(".yaml") else card)
    n_pos = 50 if a.small else a.positions
    why_not = peer_available("gpn.ss.run_vep", "gpn")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = char_bert(tmp, a.small, "mlm")
        # real SNVs: every possible SNV at positions spread over genes' first coding exons
        regions = []
        for g in asm.annotation.genes:
            t = g.canonical
            if t is not None and t.coding and t.cds[0][1] - t.cds[0][0] >= 50:
                regions.append((t.chrom, t.cds[0][0], t.cds[0][0] + 50))
            if len(regions) * 50 >= n_pos:
                break
        vcf = write_saturation_vcf(asm, regions, tmp / "snvs.vcf")
        n = sum(1 for line in vcf.read_text().splitlines() if not line.startswith("#")) * 3
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "plantllm.cli", "variants", "score", str(vcf), card, "--model",
                            str(model), "--window", str(a.window), "--batch-size", "32", "--out", str(tmp / "ours")],
                           capture_output=True, text=True)
        t_ours = time.perf_counter() - t
        if r.returncode:
            print(r.stderr[-3000:], file=sys.stderr)
            return 1
        ours = {}
        lines = (tmp / "ours" / "ranked.tsv").read_text().splitlines()
        head = lines[0].split("\t")
        for line in lines[1:]:
            f = dict(zip(head, line.split("\t")))
            ours[(f["chrom"], int(f["pos"]), f["ref"], f["alt"])] = float(f["score"])
        core = json.loads((tmp / "ours" / "summary.json").read_text())["seconds"]
        out = {"snvs": n, "window": a.window, "model_parameters": None, "plantllm_s": t_ours,
               "plantllm_scoring_loop_s": core, "gpn": None}
        from plantllm.models import checkpoint as M

        m, _ = M.load(model, task="mlm")
        out["model_parameters"] = sum(p.numel() for p in m.parameters())
        if why_not is None:
            csv = tmp / "snvs.csv"
            with csv.open("w") as fh:
                fh.write("chrom,pos,ref,alt\n")
                for (c, p, ref, alt) in ours:
                    fh.write(f"{c},{p},{ref},{alt}\n")
            fasta = asm.card.fasta
            env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
            t = time.perf_counter()
            g = subprocess.run([str(PEER), "-m", "gpn.ss.run_vep", str(csv), str(fasta), str(a.window), str(model),
                                str(tmp / "gpn.parquet"), "--is_file", "--n_prefix", "1", "--per_device_batch_size",
                                "32", "--dataloader_num_workers", "0"], capture_output=True, text=True, env=env)
            t_gpn = time.perf_counter() - t
            if g.returncode:
                why_not = "gpn.ss.run_vep failed: " + (g.stderr.strip().splitlines() or ["?"])[-1]
            else:
                import pandas as pd

                gs = pd.read_parquet(tmp / "gpn.parquet")["score"].to_numpy()
                mine = np.array(list(ours.values()))
                ver = subprocess.run([str(PEER), "-c", "import importlib.metadata as m; print(m.version('gpn'))"],
                                     capture_output=True, text=True).stdout.strip()
                out["gpn"] = {"version": ver, "seconds": t_gpn, "speedup_plantllm_vs_gpn": t_gpn / t_ours,
                              "max_abs_diff": float(np.abs(gs - mine).max()),
                              "pearson_r": float(np.corrcoef(gs, mine)[0, 1])}
        out["gpn_unavailable"] = why_not
    if a.small:
        print(json.dumps(out, indent=1))
        if out["gpn"]:
            assert out["gpn"]["max_abs_diff"] < 1e-3, out["gpn"]
        return 0
    out["machine"] = machine()
    g = out["gpn"]
    md = (f"Zero-shot LLR of {n:,} real SNVs (every possible SNV at {n // 3:,} positions in first coding exons of "
          f"TAIR10 chr1 genes), window {a.window} bp, both strands, a character-level BERT of "
          f"{out['model_parameters'] / 1e6:.1f} M parameters (random init: speed and agreement do not depend on the "
          "weights), CPU, each tool as its own command.\n\n| tool | wall seconds | SNVs/s |\n|---|---|---|\n"
          f"| plantllm `variants score` (annotate, score, rank, write TSV + VCF) | {t_ours:.1f} | {n / t_ours:,.0f} |\n")
    if g:
        md += (f"| GPN {g['version']} `gpn.ss.run_vep` (score only) | {g['seconds']:.1f} | {n / g['seconds']:,.0f} |\n\n"
               f"plantllm is {g['speedup_plantllm_vs_gpn']:.2f}x GPN's speed; scores agree: max |difference| "
               f"{g['max_abs_diff']:.1e}, Pearson r {g['pearson_r']:.6f}. Both times include start-up; GPN's includes "
               "reading the whole chromosome into memory and the torch.compile it hard-codes, plantllm's the "
               f"annotation and the outputs (its scoring loop alone: {out['plantllm_scoring_loop_s']:.1f} s).")
    else:
        md += f"\nGPN could not run here: {why_not}."
    print(write("variant_gpn", out, md).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
