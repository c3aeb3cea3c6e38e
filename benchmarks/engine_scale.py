"""Inference engine at scale: memory and throughput of `variants score` against panel size, 1 vs 2 processes.

An ultra-tiny char-level BERT (hidden 16, one layer: ~0.01 M parameters) scores saturation VCFs
(every SNV of a stretch of real TAIR10 chr1, three ALTs per site) of two sizes, each run in a fresh
process, so that what is timed is plantllm's own pipeline (VCF parsing, REF check, windows,
tokenization, consequence annotation, writing, ranking) rather than a model. Reported: peak RSS
(the child's ru_maxrss) per size and their ratio, and the marginal throughput between the two
sizes (start-up costs cancel). The same sizes also run as the breeder's input (random real positions
of 26 Mb, one ALT each: nothing shared between ALTs); its larger size also runs with 2 processes
(DeepSpeed's launcher, CPU ranks, the default 2 Mb shards shared by the ranks) and the outputs are
compared byte for byte.

    python benchmarks/engine_scale.py                  # 20,000 vs 200,000 SNVs, writes results/engine_scale.*
    python benchmarks/engine_scale.py --sizes 20000 2000000
    python benchmarks/engine_scale.py --small          # 600 vs 3,000 SNVs on the test slice, nothing written
    nice -n 10 python benchmarks/engine_scale.py --sizes 20000 200000 2000000 --no-two --name engine_scale_2m  # memory
    python benchmarks/engine_scale.py --scan           # promoter scan: windows/s of chr1 stretches of 3 sizes
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, write  # noqa: E402

CHILD = r"""
import resource, sys, time
from plantllm.cli import main
t = time.time()
rc = main(sys.argv[1:])
print("SECONDS", time.time() - t, "RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
sys.exit(rc)
"""


def ultra_tiny(tmp: Path, task: str = "mlm", init: float | None = None) -> Path:
    """The ultra-tiny char BERT (hidden 16, 1 layer): a masked LM, or a classifier (``task="classification"``,
    random head) for scans; ``init``: another initializer_range (wide weights give scores that spread)."""
    import yaml

    from plantllm.models import checkpoint as M

    cfg = {"name": "ultra-tiny", "architecture": "bert", "objective": "mlm", "tokenizer": {"kind": "char"},
           "max_length": 130 if task == "mlm" else 320,
           "config": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}}
    if init is not None:
        cfg["config"]["initializer_range"] = init
    (tmp / "m.yaml").write_text(yaml.safe_dump(cfg))
    spec = M.load_spec(tmp / "m.yaml")
    tok = M.build_tokenizer(spec)
    model = M.create(spec, tok, task=task, num_labels=2 if task != "mlm" else None, seed=0)
    name = ("model" if task == "mlm" else task) + (f"-init{init}" if init is not None else "")
    M.save(model, tok, tmp / name)
    return tmp / name


def one_alt_vcfs(asm, chrom: str, start: int, end: int, sizes: list[int], tmp: Path) -> dict[int, Path]:
    """The breeder's input: random real positions of ``[start, end)``, one random other base each (no pass or
    annotation shared between ALTs), the largest size drawn first and each smaller one a random subset of it (the
    same stretch, so the sizes differ in count, not in gene density). Sorted VCFs, one per size."""
    import numpy as np

    rng = np.random.default_rng(0)
    seq = asm.genome.fetch(chrom, start, end).upper()
    ok = np.flatnonzero(np.isin(np.frombuffer(seq.encode(), np.uint8), np.frombuffer(b"ACGT", np.uint8)))
    picked = np.sort(rng.choice(ok, max(sizes), replace=False))
    name = asm.genome.file_name(chrom)
    head = (f"##fileformat=VCFv4.2\n##contig=<ID={name},length={asm.genome.length(chrom)}>\n"
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    out = {}
    for n in sizes:
        keep = picked if n == max(sizes) else np.sort(rng.choice(picked, n, replace=False))
        lines = []
        for i in keep.tolist():
            ref = seq[i]
            alt = "ACGT".replace(ref, "")[int(rng.integers(3))]
            lines.append(f"{name}\t{start + i + 1}\t.\t{ref}\t{alt}\t.\t.\t.\n")
        out[n] = tmp / f"one{n}.vcf"
        out[n].write_text(head + "".join(lines))
    return out


def scan_throughput(a) -> int:
    """``plantllm predict promoters`` with the ultra-tiny classifier over stretches of chr1 of three sizes (stride
    50), each in a fresh process and its own output folder: marginal windows/s per process and peak RSS per size;
    then, in this process on 1 Mb, the pipeline's own rate (the forward replaced by zeros) beside the forward's,
    and the fast mode (bf16) against exact (Spearman of the scores)."""
    sizes = [1_000_000, 6_000_000, 12_000_000] if not a.small else [100_000, 200_000, 400_000]
    card = str(ROOT / "tests/data/cards/tair10_slice.yaml") if a.small else "arabidopsis_thaliana"
    res: dict = {"region_sizes": sizes, "runs": {}, "threads": os.environ.get("OMP_NUM_THREADS", "default"),
                 "load_before": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = ultra_tiny(tmp, "classification")

        def scan_run(n: int, out: Path, *extra: str) -> dict:
            r = run(["predict", "promoters", str(model), card, "--region", f"Chr1:1000001-{1_000_000 + n}",
                     "--stride", "50", "--out", str(out), *extra])
            r["windows"] = json.loads((out / "summary.json").read_text())["windows"]
            return r

        scan_run(sizes[0], tmp / "warm")  # warms the caches (its own folder: a rerun in one folder only merges)
        for n in sizes:
            res["runs"][n] = scan_run(n, tmp / f"scan{n}")
        if a.keep:
            import shutil

            shutil.copytree(tmp / f"scan{sizes[1]}", Path(a.keep), ignore=shutil.ignore_patterns(".plantllm-job"),
                            dirs_exist_ok=True)
        res["fast"] = {n: scan_run(n, tmp / f"fast{n}", "--precision", "fast") for n in sizes[:2]}
        res["split"] = scan_split(model, card, sizes[0])
    res["marginal_windows_per_s"], res["marginal_windows_per_cpu_s"] = marginal(res, [sizes[0], sizes[-1]], "windows")
    res["marginal_by_step"] = [marginal(res, [s0, s1], "windows") for s0, s1 in zip(sizes, sizes[1:])]
    res["fast_marginal_windows_per_s"], res["fast_marginal_windows_per_cpu_s"] = marginal(
        {"runs": res["fast"]}, sizes[:2], "windows")
    res["rss_ratio"] = round(res["runs"][sizes[-1]]["peak_rss_mb"] / res["runs"][sizes[0]]["peak_rss_mb"], 3)
    res["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(res, indent=1))
    if not a.small:
        res["machine"] = machine()
        sp = res["split"]
        md = ("`plantllm predict promoters` with an ultra-tiny char BERT classifier (hidden 16, 1 layer), window "
              f"-249..+50, stride 50, both strands (2 forwards per window), stretches of real TAIR10 chr1 from 1 Mb, "
              f"each in a fresh process and its own output folder after a warm-up run; OMP_NUM_THREADS="
              f"{res['threads']}; load average {res['load_before'][0]:.1f} before, {res['load_after'][0]:.1f} after on "
              f"{os.cpu_count()} cores (a shared machine: CPU seconds move less with the load than the wall clock).\n\n"
              "| region | precision | windows | seconds | CPU seconds | peak RSS (MB) |\n|---|---|---|---|---|---|\n"
              + "".join(f"| {n:,} bp | exact | {r['windows']:,} | {r['seconds']} | {r['cpu_seconds']} | "
                        f"{r['peak_rss_mb']} |\n" for n, r in res["runs"].items())
              + "".join(f"| {n:,} bp | fast (bf16) | {r['windows']:,} | {r['seconds']} | {r['cpu_seconds']} | "
                        f"{r['peak_rss_mb']} |\n" for n, r in res["fast"].items())
              + f"\nMarginal throughput {sizes[0]:,} -> {sizes[-1]:,} bp: {res['marginal_windows_per_s']:,} windows/s "
                f"per process (goal >= 15,000); {res['marginal_windows_per_cpu_s']:,} windows per CPU second; by step "
                + ", ".join(f"{w:,}/s ({c:,}/CPU s)" for w, c in res["marginal_by_step"])
              + f". Peak RSS {sizes[-1]:,} / {sizes[0]:,} bp: {res['rss_ratio']} (flat: a shard and the merge stream "
                f"part by part). Fast mode (bf16): {res['fast_marginal_windows_per_s']:,} windows/s, "
                f"{res['fast_marginal_windows_per_cpu_s']:,} per CPU second.\n\n"
                f"Where the time goes (one process, 1 Mb, {sp['windows']:,} windows, CPU seconds of the scan alone): "
                f"pipeline {sp['pipeline_windows_per_cpu_s']:,} windows per CPU second (genome read, N filter, "
                f"codes, reverse complement, token ids, rows; the model's forward replaced by zeros), forward "
                f"{sp['forward_windows_per_cpu_s']:,} (both strands), end to end {sp['end_to_end_windows_per_cpu_s']:,}:"
                f" the forward is {sp['forward_share']:.0%} of a scan. bf16 vs fp32 scores (the same architecture with wide "
                f"random weights, score sd {sp['wide_score_sd']}): Spearman {sp['fast_spearman']}, max |difference| "
                f"{sp['fast_max_abs_diff']}. The classifier's last layer "
                "runs at [CLS] only (the token its pooler reads), identical to the full forward here.")
        print(write(a.name or "engine_scan", res, md).read_text())
    return 0


def scan_split(model: Path, card: str, n: int) -> dict:
    """In this process, on ``n`` bp: CPU seconds of the scan, of its forwards, and of the scan with the forward
    replaced by zeros (the pipeline alone); and bf16 scores against fp32."""
    import numpy as np
    import torch
    from scipy.stats import spearmanr

    from plantllm.apps.promoter_scan import ModelScorer, ScanParams, scan
    from plantllm.species.assembly import Assembly
    from plantllm.species.card import load_card

    asm = Assembly(load_card(card) if card.endswith(".yaml") else card)
    p = ScanParams()
    region = [("1", 1_000_000, 1_000_000 + n)]
    scorer = ModelScorer(model, precision="exact")
    scan(asm, scorer, [("1", 0, 20_000)], p)  # warm
    real, spent = scorer.forward, [0.0]
    # one torch thread: the forward runs in this thread, while the next batch is prepared in another
    clock = time.thread_time if torch.get_num_threads() == 1 else time.process_time

    def timed(enc):
        t = clock()
        out = real(enc)
        spent[0] += clock() - t
        return out

    scorer.forward = timed
    t = time.process_time()
    exact = scan(asm, scorer, region, p)
    total = time.process_time() - t
    scorer.forward = lambda enc: np.zeros(len(enc["input_ids"]), np.float32)
    t = time.process_time()
    scan(asm, scorer, region, p)
    pipeline = time.process_time() - t
    # bf16 against fp32 on the same architecture with wide weights (initializer_range 0.2): the ranking of a
    # random head at the default init is a ranking of near-ties (scores within ~1e-4) and measures nothing
    wide = ultra_tiny(model.parent, "classification", init=0.2)
    ref = scan(asm, ModelScorer(wide, precision="exact"), region, p)["score"]
    fast = scan(asm, ModelScorer(wide, precision="fast"), region, p)["score"]
    w = len(exact["score"]) // 2
    return {"windows": w, "end_to_end_cpu_s": round(total, 3), "forward_cpu_s": round(spent[0], 3),
            "pipeline_cpu_s": round(pipeline, 3), "end_to_end_windows_per_cpu_s": round(w / total),
            "forward_windows_per_cpu_s": round(w / spent[0]), "pipeline_windows_per_cpu_s": round(w / pipeline),
            "forward_share": round(spent[0] / total, 3),
            "fast_spearman": round(float(spearmanr(ref, fast)[0]), 5),
            "fast_max_abs_diff": round(float(np.abs(ref - fast).max()), 5), "wide_score_sd": round(float(ref.std()), 4)}


def run(args: list[str], nproc: int = 1) -> dict:
    """One plantllm command in a fresh process: seconds, CPU seconds (user + system of it and its children:
    on a shared machine they move less with the load than the wall clock) and its own peak RSS (MB; with
    several processes, that of the process that plans and merges)."""
    t = time.time()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [sys.executable, "-c", CHILD, *args] + (["--nproc", str(nproc)] if nproc > 1 else [])
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PLANTLLM_QUIET="1"))
    if r.returncode:
        raise SystemExit(r.stderr[-3000:])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rss_kb = int(r.stdout.split("RSS_KB")[-1].split()[0])
    return {"seconds": round(time.time() - t, 2), "cpu_seconds": round(cpu, 2), "peak_rss_mb": round(rss_kb / 1024, 1)}


def marginal(res: dict, sizes: list[int], key: str) -> tuple[float, float]:
    """Items per second between the two sizes (start-up costs cancel), by the wall clock and by CPU time."""
    r0, r1 = (res["runs"][n] for n in sizes)
    d = r1[key] - r0[key]
    return (round(d / max(r1["seconds"] - r0["seconds"], 1e-9), 1),
            round(d / max(r1["cpu_seconds"] - r0["cpu_seconds"], 1e-9), 1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000],
                    help="SNV counts (two or more; the 2-process run takes the largest)")
    ap.add_argument("--two-shard-size", type=int, default=100_000,
                    help="--small: --shard-size of the 2-process run (bases); the full run uses the default shards")
    ap.add_argument("--no-two", action="store_true", help="skip the 2-process run (a memory run)")
    ap.add_argument("--scan", action="store_true", help="promoter scan throughput instead of variant scoring")
    ap.add_argument("--name", help="results file name (default engine_scale, engine_scan with --scan)")
    ap.add_argument("--keep", help="--scan: copy the outputs of the middle size to this folder (to compare)")
    a = ap.parse_args(argv)
    os.environ["PLANTLLM_QUIET"] = "1"
    if a.scan:
        return scan_throughput(a)
    from plantllm.apps.variant_report import write_saturation_vcf
    from plantllm.species.assembly import Assembly
    from plantllm.species.card import load_card

    sizes = [600, 3_000] if a.small else a.sizes
    card = ROOT / "tests/data/cards/tair10_slice.yaml" if a.small else "arabidopsis_thaliana"
    asm = Assembly(load_card(card) if str(card).endswith(".yaml") else card)
    res: dict = {"sizes": sizes, "runs": {}, "threads": os.environ.get("OMP_NUM_THREADS", "default"),
                 "load_before": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = ultra_tiny(tmp)
        # warm-up: the annotation database and the bgzip copy of the genome are built once and cached; a
        # first timed run would carry that one-off cost and inflate the marginal throughput
        warm = write_saturation_vcf(asm, [("1", 500_000, 500_100)], tmp / "warm.vcf")
        run(["variants", "score", str(warm), str(card), "--model", str(model), "--window", "128",
             "--out", str(tmp / "warm")])
        for n in sizes:
            start = 2_000_000 if not a.small else 100_000
            vcf = write_saturation_vcf(asm, [("1", start, start + n // 3)], tmp / f"sat{n}.vcf")
            args = ["variants", "score", str(vcf), str(card), "--model", str(model), "--window", "128",
                    "--batch-size", "256", "--out", str(tmp / f"out{n}")]
            res["runs"][n] = run(args)
            res["runs"][n]["variants"] = json.loads((tmp / f"out{n}" / "summary.json").read_text())["scored"]
        big = sizes[-1]
        if not a.small and not a.no_two:  # the breeder's input: one ALT per site, random real positions
            span = (2_000_000, 28_000_000)
            res["one_alt"] = {"span": span, "runs": {}}
            for n, vcf in one_alt_vcfs(asm, "1", *span, sizes, tmp).items():
                r = res["one_alt"]["runs"][n] = run(["variants", "score", str(vcf), str(card), "--model", str(model),
                                                     "--window", "128", "--batch-size", "256", "--out",
                                                     str(tmp / f"one_out{n}")])
                r["variants"] = json.loads((tmp / f"one_out{n}" / "summary.json").read_text())["scored"]
            res["one_alt"]["marginal_variants_per_s"], res["one_alt"]["marginal_variants_per_cpu_s"] = marginal(
                res["one_alt"], [sizes[0], big], "variants")
        if a.no_two:
            r0, r1 = (res["runs"][n] for n in (sizes[0], big))
            res["rss_ratio"] = round(r1["peak_rss_mb"] / r0["peak_rss_mb"], 3)
            res["rss_ratios"] = {n: round(res["runs"][n]["peak_rss_mb"] / r0["peak_rss_mb"], 3) for n in sizes}
            res["marginal_variants_per_s"], res["marginal_variants_per_cpu_s"] = marginal(res, [sizes[0], big],
                                                                                          "variants")
            res["marginal_by_step"] = [marginal(res, [s0, s1], "variants") for s0, s1 in zip(sizes, sizes[1:])]
            res["load_after"] = [round(x, 2) for x in os.getloadavg()]
            print(json.dumps(res, indent=1))
            if not a.small:
                res["machine"] = machine()
                md = ("Memory of `plantllm variants score` (ultra-tiny char BERT, window 128, batch 256, saturation "
                      "VCFs of real TAIR10 chr1 from 2 Mb: every size in one 2 Mb shard, so the largest shard is the "
                      f"whole panel), each size in a fresh process after a warm-up run; OMP_NUM_THREADS={res['threads']}"
                      f"; load average {res['load_before'][0]:.1f} before, {res['load_after'][0]:.1f} after on "
                      f"{os.cpu_count()} cores (a shared machine: CPU seconds move less with the load than the wall "
                      "clock).\n\n| SNVs | seconds | CPU seconds | peak RSS (MB) | RSS / smallest |\n|---|---|---|---|---|\n"
                      + "".join(f"| {n:,} | {res['runs'][n]['seconds']} | {res['runs'][n]['cpu_seconds']} | "
                                f"{res['runs'][n]['peak_rss_mb']} | {res['rss_ratios'][n]} |\n" for n in sizes)
                      + f"\nPeak RSS ratio {big:,} / {sizes[0]:,}: {res['rss_ratio']}. Marginal throughput "
                        f"{sizes[0]:,} -> {big:,}: {res['marginal_variants_per_s']:,} variants/s per process, "
                        f"{res['marginal_variants_per_cpu_s']:,} per CPU second; by step "
                      + ", ".join(f"{w:,}/s ({c:,}/CPU s)" for w, c in res["marginal_by_step"]) + ".")
                print(write(a.name or "engine_scale", res, md).read_text())
            return 0
        # 2 processes: the breeder's input over 26 Mb with the default 2 Mb shards (13 shards for the ranks to share);
        # --small: the saturation VCF of the test slice cut into --two-shard-size shards
        if a.small:
            two_in, one_out, one = tmp / f"sat{big}.vcf", tmp / f"out{big}", res["runs"][big]
            extra = ["--shard-size", str(a.two_shard_size)]
        else:
            two_in, one_out, one = tmp / f"one{big}.vcf", tmp / f"one_out{big}", res["one_alt"]["runs"][big]
            extra = []
        args = ["variants", "score", str(two_in), str(card), "--model", str(model), "--window", "128",
                "--batch-size", "256", "--out", str(tmp / "two"), *extra]
        res["two_processes"] = run(args, nproc=2)
        res["two_processes"]["shards"] = json.loads((tmp / "two" / "summary.json").read_text())["shards"]
        same = all((tmp / "two" / f).read_bytes() == (one_out / f).read_bytes() for f in ("ranked.tsv",)) and \
            gzip.decompress((tmp / "two" / "scored.vcf.gz").read_bytes()) == \
            gzip.decompress((one_out / "scored.vcf.gz").read_bytes())
        res["two_processes"]["identical_outputs"] = same
    r0, r1 = (res["runs"][n] for n in (sizes[0], big))
    res["rss_ratio"] = round(r1["peak_rss_mb"] / r0["peak_rss_mb"], 3)
    res["marginal_variants_per_s"], res["marginal_variants_per_cpu_s"] = marginal(res, [sizes[0], big], "variants")
    res["load_after"] = [round(x, 2) for x in os.getloadavg()]
    res["speedup_2_processes"] = round(one["seconds"] / res["two_processes"]["seconds"], 2)
    if a.small:
        print(json.dumps(res, indent=1))
        assert same, "2 processes changed the outputs"
        return 0
    res["machine"] = machine()
    md = ("`plantllm variants score` with an ultra-tiny char BERT (hidden 16, 1 layer), window 128, batch 256, "
          "saturation VCFs of real TAIR10 chr1 (from 2 Mb), each in a fresh process after one warm-up run that "
          "builds the cached annotation database and genome index; OMP_NUM_THREADS="
          f"{res['threads']}; load average {res['load_before'][0]:.1f} before, {res['load_after'][0]:.1f} after on "
          f"{os.cpu_count()} cores (a shared machine: CPU seconds move less with the load than the wall clock). One "
          "process scores each saturation VCF as one 2 Mb shard.\n\n"
          "| SNVs | seconds | CPU seconds | peak RSS (MB) |\n|---|---|---|---|\n"
          + "".join(f"| {n:,} | {res['runs'][n]['seconds']} | {res['runs'][n]['cpu_seconds']} | "
                    f"{res['runs'][n]['peak_rss_mb']} |\n" for n in sizes)
          + "".join(f"| {n:,}, one ALT per site | {r['seconds']} | {r['cpu_seconds']} | {r['peak_rss_mb']} |\n"
                    for n, r in res["one_alt"]["runs"].items())
          + f"| {big:,}, one ALT per site, 2 processes | {res['two_processes']['seconds']} | "
            f"{res['two_processes']['cpu_seconds']} (all ranks) | {res['two_processes']['peak_rss_mb']} (largest "
            "process) |\n\n"
          f"Peak RSS ratio {big:,} / {sizes[0]:,}: {res['rss_ratio']} (goal <= 1.3). Marginal throughput: "
          f"{res['marginal_variants_per_s']:,} variants/s per process (goal >= 5,000); "
          f"{res['marginal_variants_per_cpu_s']:,} variants per CPU second. "
          + (lambda o: f"One ALT per site (the breeder's input: {sizes[0]:,} and {big:,} random real positions of "
                       f"chr1 {o['span'][0] // 1_000_000}-{o['span'][1] // 1_000_000} Mb, one random other base each, "
                       "so no window, pass or annotation is shared between ALTs; the smaller a subset of the larger; "
                       "shards of 2 Mb): "
                       + ", ".join(f"{n:,} in {r['seconds']} s ({r['cpu_seconds']} CPU s, {r['peak_rss_mb']} MB)"
                                   for n, r in o["runs"].items())
                       + f"; marginal {o['marginal_variants_per_s']:,} variants/s, "
                         f"{o['marginal_variants_per_cpu_s']:,} per CPU second. ")(res["one_alt"])
          + f"2 processes vs 1 on the {big:,} one-ALT VCF ({res['two_processes']['shards']} shards of 2 Mb shared by "
          f"the ranks): {res['speedup_2_processes']}x on 2 cores; outputs identical: {same}. Two processes pay two "
          "model and annotation loads and the launcher's start, and the merge (ranking, VCF, TSV) is "
          "single-process; on a shared 2-core machine the second rank also competes with other work.")
    print(write(a.name or "engine_scale", res, md).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
