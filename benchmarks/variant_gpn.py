"""Zero-shot variant scoring: plantllm vs GPN's own scoring code, same model, same SNVs, one run.

GPN (``gpn.ss.run_vep``, PyPI ``gpn``) scores a variant as log P(ALT) - log P(REF) at the masked
base, averaged over the forward window and its reverse complement; ``plantllm variants score
--method llr`` computes the same quantity (window centred the same way), then also annotates
consequences, ranks and writes the TSV/VCF. Both run as a user runs them (their own process, so
start-up is counted) on the same character-level BERT (3.4 M parameters, random init: speed and
agreement with GPN do not depend on the weights) and the same CPUs.

Two inputs:

* fair (reported first): the input a breeder gives, ``--snvs`` SNVs at random real positions of
  TAIR10 chr1 with ONE random ALT each, so no forward pass is shared between ALTs, window 512;
  plantllm in ``--precision exact`` (fp32: scores within 1e-5 of GPN) and ``--precision fast``
  (bf16 on a CPU with AVX512-BF16/AMX; Spearman with exact);
* saturation: every possible SNV at 1,000 positions of first coding exons, window 128 (the ALTs of
  a site share plantllm's masked pass, GPN runs one per ALT).

The machine is shared, so each tool's CPU seconds (user + system of its process tree) are recorded
beside the wall seconds; the runs alternate (``--rounds``) and the best of each is kept.

GPN lives in a separate virtual environment (its pins differ from ours): see shared/PEERS.md, or
``python3 -m venv .bench-venv && .bench-venv/bin/pip install torch==2.13.0 transformers datasets
accelerate "gpn[inference]"``. Without it the script measures plantllm alone and says why.

    python benchmarks/variant_gpn.py            # fair (2,000 SNVs, window 512) + saturation (3,000 SNVs, window 128)
    python benchmarks/variant_gpn.py --small    # 150 SNVs on the test slice, the tiny BERT
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PEER, ROOT, char_bert, machine, peer_available, write  # noqa: E402

ACGT = "ACGT"


def random_snvs(asm, n: int, window: int, seed: int = 0) -> list[tuple[str, int, str, str]]:
    """``n`` SNVs at random positions of the first chromosome (whole window inside it, REF one of A/C/G/T),
    one random ALT each, sorted; 1-based positions."""
    rng = np.random.default_rng(seed)
    chrom = asm.genome.chromosomes()[0]
    length = asm.genome.length(chrom)
    picked: dict[int, tuple[str, str]] = {}
    while len(picked) < n:
        for p in rng.integers(window, length - window, size=2 * n).tolist():
            ref = asm.genome.fetch(chrom, p, p + 1).upper()
            if ref in ACGT and p not in picked:
                picked[p] = (ref, rng.choice([b for b in ACGT if b != ref]))
            if len(picked) == n:
                break
    name = asm.genome.file_name(chrom)
    return [(name, p + 1, r, a) for p, (r, a) in sorted(picked.items())]


def saturation_snvs(asm, positions: int) -> list[tuple[str, int, str, str]]:
    """Every possible SNV at ``positions`` positions spread over genes' first coding exons (50 bp each)."""
    out = []
    for g in asm.annotation.genes:
        t = g.canonical
        if t is None or not t.coding or t.cds[0][1] - t.cds[0][0] < 50:
            continue
        s = t.cds[0][0]
        seq = asm.genome.fetch(t.chrom, s, s + 50).upper()
        for i, ref in enumerate(seq):
            if ref in ACGT:
                out += [(asm.genome.file_name(t.chrom), s + i + 1, ref, a) for a in ACGT if a != ref]
        if len(out) >= 3 * positions:
            break
    return sorted(set(out[:3 * positions]), key=lambda x: (x[0], x[1], x[3]))


def write_inputs(snvs, tmp: Path, tag: str) -> tuple[Path, Path]:
    vcf, csv = tmp / f"{tag}.vcf", tmp / f"{tag}.csv"
    with vcf.open("w") as fh:
        fh.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for c, p, r, a in snvs:
            fh.write(f"{c}\t{p}\t.\t{r}\t{a}\t.\tPASS\t.\n")
    with csv.open("w") as fh:
        fh.write("chrom,pos,ref,alt\n")
        fh.writelines(f"{c},{p},{r},{a}\n" for c, p, r, a in snvs)
    return vcf, csv


def timed(cmd: list[str], env=None) -> tuple[subprocess.CompletedProcess, float, float]:
    """(result, wall seconds, CPU seconds of the process tree)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def ours_cmd(vcf: Path, card: str, model: Path, window: int, out: Path, precision: str) -> list[str]:
    return [sys.executable, "-m", "plantllm.cli", "variants", "score", str(vcf), card, "--model", str(model),
            "--window", str(window), "--batch-size", "32", "--precision", precision, "--out", str(out)]


def gpn_cmd(csv: Path, fasta: str, window: int, model: Path, out: Path) -> list[str]:
    return [str(PEER), "-m", "gpn.ss.run_vep", str(csv), str(fasta), str(window), str(model), str(out), "--is_file",
            "--n_prefix", "1", "--per_device_batch_size", "32", "--dataloader_num_workers", "0"]


def read_ours(out: Path) -> dict:
    lines = (out / "ranked.tsv").read_text().splitlines()
    head = lines[0].split("\t")
    res = {}
    for line in lines[1:]:
        f = dict(zip(head, line.split("\t")))
        res[(f["chrom"], int(f["pos"]), f["ref"], f["alt"])] = float(f["score"])
    return res


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def compare(snvs, window: int, card: str, fasta: str, model: Path, tmp: Path, tag: str, precisions: list[str],
            rounds: int, gpn_ok: bool) -> dict:
    """Run each plantllm precision and GPN ``rounds`` times (alternating); best wall and CPU seconds, scores."""
    vcf, csv = write_inputs(snvs, tmp, tag)
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    res: dict = {"snvs": len(snvs), "window": window, "runs": {}}
    scores: dict[str, np.ndarray] = {}
    keys = [(c, p, r, a) for c, p, r, a in snvs]
    for _ in range(rounds):
        for tool in [f"plantllm_{p}" for p in precisions] + (["gpn"] if gpn_ok else []):
            out = tmp / f"{tag}-{tool}"
            if tool == "gpn":
                r, wall, cpu = timed(gpn_cmd(csv, fasta, window, model, tmp / f"{tag}-gpn.parquet"), env)
            else:
                r, wall, cpu = timed(ours_cmd(vcf, card, model, window, out, tool.split("_", 1)[1]), env)
            if r.returncode:
                raise SystemExit(f"{tool} failed:\n{r.stderr[-3000:]}")
            run = res["runs"].setdefault(tool, {"wall_s": [], "cpu_s": []})
            run["wall_s"].append(round(wall, 2))
            run["cpu_s"].append(round(cpu, 2))
            if tool == "gpn":
                import pandas as pd

                scores[tool] = pd.read_parquet(tmp / f"{tag}-gpn.parquet")["score"].to_numpy()
            else:
                got = read_ours(out)
                scores[tool] = np.array([got[k] for k in keys])
                run["scoring_loop_s"] = json.loads((out / "summary.json").read_text())["seconds"]
    for run in res["runs"].values():
        run["best_wall_s"], run["best_cpu_s"] = min(run["wall_s"]), min(run["cpu_s"])
    exact = scores.get("plantllm_exact")
    if "gpn" in scores:
        g = scores["gpn"]
        for tool, s in scores.items():
            if tool != "gpn":
                res["runs"][tool].update(
                    speedup_wall=res["runs"]["gpn"]["best_wall_s"] / res["runs"][tool]["best_wall_s"],
                    speedup_cpu=res["runs"]["gpn"]["best_cpu_s"] / res["runs"][tool]["best_cpu_s"],
                    max_abs_diff_vs_gpn=float(np.abs(g - s).max()), spearman_vs_gpn=spearman(g, s))
    if exact is not None and "plantllm_fast" in scores:
        f = scores["plantllm_fast"]
        res["runs"]["plantllm_fast"].update(spearman_vs_exact=spearman(exact, f),
                                             max_abs_diff_vs_exact=float(np.abs(exact - f).max()),
                                             score_sd=float(exact.std()))
    return res


def table(res: dict, version: str | None) -> str:
    n = res["snvs"]
    rows = ["| tool | wall s (best) | CPU s (best) | SNVs/s (wall) | speed-up vs GPN (wall / CPU) | agreement |",
            "|---|---|---|---|---|---|"]
    names = {"plantllm_exact": "plantllm `variants score --precision exact` (fp32)",
             "plantllm_fast": "plantllm `variants score --precision fast` (bf16)",
             "gpn": f"GPN {version} `gpn.ss.run_vep` (score only)"}
    for tool, r in res["runs"].items():
        sp = f"{r['speedup_wall']:.2f}x / {r['speedup_cpu']:.2f}x" if "speedup_wall" in r else "1"
        agree = []
        if "max_abs_diff_vs_gpn" in r:
            agree.append(f"max abs diff vs GPN {r['max_abs_diff_vs_gpn']:.1e}")
        if "spearman_vs_exact" in r:
            agree.append(f"Spearman vs exact {r['spearman_vs_exact']:.4f}")
        rows.append(f"| {names[tool]} | {r['best_wall_s']:.1f} | {r['best_cpu_s']:.1f} | {n / r['best_wall_s']:,.0f} "
                    f"| {sp} | {'; '.join(agree) or '-'} |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--snvs", type=int, default=2000, help="fair comparison: random SNVs, one ALT each")
    ap.add_argument("--window", type=int, default=512, help="fair comparison window")
    ap.add_argument("--positions", type=int, default=1000, help="saturation comparison: positions (x3 ALTs)")
    ap.add_argument("--saturation-window", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=1, help="alternating runs of each tool; the best is kept")
    ap.add_argument("--skip-saturation", action="store_true")
    a = ap.parse_args(argv)
    os.environ["PLANTLLM_QUIET"] = "1"
    from plantllm.species.assembly import Assembly
    from plantllm.species.card import load_card

    card = str(ROOT / "tests/data/cards/tair10_slice.yaml") if a.small else "arabidopsis_thaliana"
    asm = Assembly(load_card(card) if card.endswith(".yaml") else card)
    why_not = peer_available("gpn.ss.run_vep", "gpn")
    version = None
    if why_not is None:
        version = subprocess.run([str(PEER), "-c", "import importlib.metadata as m; print(m.version('gpn'))"],
                                 capture_output=True, text=True).stdout.strip()
    out: dict = {"gpn_version": version, "gpn_unavailable": why_not}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = char_bert(tmp, a.small, "mlm")
        from plantllm.models import checkpoint as M

        m, _ = M.load(model, task="mlm")
        out["model_parameters"] = sum(p.numel() for p in m.parameters())
        fasta = str(asm.card.fasta)
        n = 150 if a.small else a.snvs
        w = 128 if a.small else a.window
        out["fair"] = compare(random_snvs(asm, n, w), w, card, fasta, model, tmp, "fair", ["exact", "fast"],
                              a.rounds, why_not is None)
        if not a.skip_saturation:
            sat = saturation_snvs(asm, 50 if a.small else a.positions)
            out["saturation"] = compare(sat, 128 if a.small else a.saturation_window, card, fasta, model, tmp, "sat",
                                        ["exact"], a.rounds, why_not is None)
    if a.small:
        print(json.dumps(out, indent=1))
        g = out["fair"]["runs"].get("plantllm_exact", {})
        if "max_abs_diff_vs_gpn" in g:
            assert g["max_abs_diff_vs_gpn"] < 1e-3, g
        return 0
    out["machine"] = machine()
    f = out["fair"]
    md = (f"**Fair comparison (the input a breeder gives).** {f['snvs']:,} SNVs at random real positions of TAIR10 "
          f"chr1, one random ALT each (no pass shared between ALTs), window {f['window']} bp, both strands, a "
          f"character-level BERT of {out['model_parameters'] / 1e6:.1f} M parameters (random init), batch 32, CPU "
          f"(2 cores shared with other work: CPU seconds are the steadier measure), each tool as its own command, "
          f"best of {a.rounds} alternating run(s).\n\n" + table(f, version))
    if why_not:
        md += f"\nGPN could not run here: {why_not}.\n"
    fast = f["runs"].get("plantllm_fast", {})
    if "spearman_vs_exact" in fast:
        md += (f"\nExact vs fast on these SNVs: Spearman {fast['spearman_vs_exact']:.4f}, max |difference| "
               f"{fast['max_abs_diff_vs_exact']:.1e} (score standard deviation {fast['score_sd']:.1e}).\n")
    if "saturation" in out:
        s = out["saturation"]
        md += (f"\n**Saturation (every SNV at {s['snvs'] // 3:,} positions of first coding exons, window "
               f"{s['window']} bp):** the three ALTs of a site share plantllm's masked pass; GPN runs one per ALT.\n\n"
               + table(s, version))
    md += ("\nBoth times include start-up; GPN's includes reading the whole chromosome into memory and the "
           "torch.compile it hard-codes, plantllm's the annotation, ranking and the outputs (TSV, bgzipped VCF, plot).")
    print(write("variant_gpn", out, md).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
