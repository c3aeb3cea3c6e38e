"""Pretraining-corpus building: throughput and peak memory against genome size.

Builds the same corpus (512 bp windows, stride 512, soft-mask repeats) from the real
TAIR10 chr1 (30.4 Mb) and from an input 10x larger (chr1 ten times under ten names),
each in a fresh process, and reports peak RSS and windows/s. Memory that does not
grow with the input is what makes a 2.3 Gb maize or 14.5 Gb wheat genome feasible.

    python benchmarks/data_memory.py           # full, writes benchmarks/results/data_memory.*
    python benchmarks/data_memory.py --small   # the 1.5 Mb test slice and 10x of it
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write  # noqa: E402

CHILD = r"""
import json, resource, sys, time
from plantllm.species.assembly import Assembly
from plantllm.species.card import load_card
from plantllm.data.splits import Splitter
from plantllm.data.tasks.pretrain import WindowParams, build_pretrain
t = time.perf_counter()
m = build_pretrain(Assembly(load_card(sys.argv[1])), sys.argv[2], WindowParams(512, 512), Splitter(block_size=1_000_000))
print(json.dumps({"seconds": time.perf_counter() - t, "windows": sum(m["split_sizes"].values()),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_inputs(src_fasta: Path, length: int, tmp: Path, copies: int) -> Path:
    """A card + FASTA with `copies` chromosomes, each the real sequence of src (first `length` bp)."""
    import pysam
    import yaml

    fa = pysam.FastaFile(str(src_fasta))
    name = fa.references[0]
    seq = fa.fetch(name, 0, min(length, fa.get_reference_length(name)))
    out = tmp / f"x{copies}.fa"
    with open(out, "w") as w:
        for i in range(copies):
            w.write(f">c{i + 1}\n")
            for j in range(0, len(seq), 60):
                w.write(seq[j:j + 60] + "\n")
    card = {"name": f"x{copies}", "assembly": "bench", "genome": {"fasta": str(out)},
            "repeats": {"source": "soft_mask"},
            "chromosomes": {"nuclear": [{"name": f"c{i + 1}", "length": len(seq)} for i in range(copies)]}}
    p = tmp / f"x{copies}.yaml"
    p.write_text(yaml.safe_dump(card))
    return p


def measure(card: Path, out: Path) -> dict:
    env = dict(os.environ, PLANTLLM_QUIET="1")
    r = subprocess.run([sys.executable, "-c", CHILD, str(card), str(out)], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", action="store_true")
    a = ap.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    if a.small:
        src, length = root / "tests/data/tair10_chr1_1-1500000.fa.gz", 1_500_000
    else:
        from plantllm.species.card import get_card

        src, length = get_card("arabidopsis_thaliana").fasta, 30_427_671
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        res = {}
        for copies in (1, 10):
            card = make_inputs(src, length, tmp, copies)
            res[f"x{copies}"] = measure(card, tmp / f"out{copies}")
            res[f"x{copies}"]["genome_bp"] = copies * length
    for v in res.values():
        v["windows_per_s"] = v["windows"] / v["seconds"]
    res["rss_ratio_10x_vs_1x"] = res["x10"]["peak_rss_mb"] / res["x1"]["peak_rss_mb"]
    if a.small:
        print(json.dumps(res, indent=1))
        return 0
    res["machine"] = machine()
    md = ("Pretraining corpus (512 bp windows, stride 512, soft-mask repeat masks), each size built in a fresh "
          "process, side by side in one run.\n\n| input | genome | windows | seconds | windows/s | peak RSS |\n"
          "|---|---|---|---|---|---|\n" +
          "".join(f"| {k} | {v['genome_bp'] / 1e6:.1f} Mb | {v['windows']:,} | {v['seconds']:.1f} | "
                  f"{v['windows_per_s']:,.0f} | {v['peak_rss_mb']:.0f} MB |\n" for k, v in res.items() if k.startswith("x"))
          + f"\nPeak memory for the 10x input is {res['rss_ratio_10x_vs_1x']:.2f}x that of chr1: it does not grow "
          "with genome size (x1 = real TAIR10.1 chr1; x10 = the same chromosome ten times under ten names).")
    print(write("data_memory", res, md).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
