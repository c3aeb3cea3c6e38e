"""The merge step of `variants score` alone: its marginal CPU cost per allele (issue #18), against other code too.

Each size of saturation VCF (real TAIR10 chr1 from 2 Mb, three ALTs per site, the ultra-tiny char BERT of
engine_scale) is scored once; then the same command is rerun into the same folder, where the engine finds
every shard done and only plans and merges (ranking, ranked.tsv, scored.vcf.gz + .tbi, plots, summary).
Those reruns are timed in fresh processes (CPU seconds of the child: they move less with the load than the
wall clock), ``--rounds`` times, the code under test and ``--other`` (a folder holding another ``plantllm``
package, e.g. the previous commit's: ``git archive HEAD~1 plantllm | tar -x -C /tmp/old``) taking turns,
and their outputs compared byte for byte (scored.vcf.gz decompressed; summary.json without its timing).

    OMP_NUM_THREADS=1 python benchmarks/merge_speed.py                        # 20,000 vs 60,000 alleles
    OMP_NUM_THREADS=1 python benchmarks/merge_speed.py --other /tmp/old --name merge_speed_ab
    python benchmarks/merge_speed.py --small                                  # the test slice, nothing written
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, report  # noqa: E402
from engine_scale import ultra_tiny  # noqa: E402

CHILD = "import sys; from plantllm.cli import main; sys.exit(main(sys.argv[1:]))"


def run(args: list[str], code: Path, cwd: Path) -> dict:
    """One command in a fresh process with ``code`` first on the path (run from ``cwd``: not the checkout,
    whose ``plantllm`` would come first): seconds and CPU seconds (user + system)."""
    t = time.time()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = dict(os.environ, PLANTLLM_QUIET="1", PYTHONPATH=str(code), PLANTLLM_SPECIES_PATH=str(ROOT / "species"))
    r = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, env=env, cwd=cwd)
    if r.returncode:
        raise SystemExit(r.stderr[-3000:])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": round(time.time() - t, 3), "cpu_seconds": round(cpu, 3)}


def outputs(out: Path) -> dict:
    """The merge's outputs as bytes (scored.vcf decompressed, summary.json without its timing fields)."""
    s = json.loads((out / "summary.json").read_text())
    for k in ("seconds", "variants_per_s"):
        s.pop(k, None)
    return {"ranked.tsv": (out / "ranked.tsv").read_bytes(), "scored.vcf": gzip.open(out / "scored.vcf.gz").read(),
            "summary.json": json.dumps(s, sort_keys=True).encode()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs=2, default=[20_000, 60_000], help="alleles (3 per site)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--other", help="a folder with another plantllm package to compare with")
    ap.add_argument("--small", action="store_true", help="300 vs 900 alleles on the test slice, one round")
    ap.add_argument("--name", default="merge_speed")
    a = ap.parse_args(argv)
    os.environ["PLANTLLM_QUIET"] = "1"
    from plantllm.apps.variant_report import write_saturation_vcf
    from plantllm.cli import main as main_cli
    from plantllm.species.assembly import Assembly
    from plantllm.species.card import load_card

    sizes = [300, 900] if a.small else a.sizes
    rounds = 1 if a.small else a.rounds
    card = str(ROOT / "tests/data/cards/tair10_slice.yaml") if a.small else "arabidopsis_thaliana"
    asm = Assembly(load_card(card) if card.endswith(".yaml") else card)
    codes = {"this": ROOT, **({"other": Path(a.other).resolve()} if a.other else {})}
    res: dict = {"sizes": sizes, "threads": os.environ.get("OMP_NUM_THREADS", "default"),
                 "load_before": [round(x, 2) for x in os.getloadavg()], "codes": {k: str(v) for k, v in codes.items()},
                 "rounds": rounds, "first_runs": {}, "merges": {k: {n: [] for n in sizes} for k in codes},
                 "identical": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = ultra_tiny(tmp)
        start = 100_000 if a.small else 2_000_000
        cmds = {}
        for n in sizes:
            vcf = write_saturation_vcf(asm, [("1", start, start + n // 3)], tmp / f"sat{n}.vcf")
            cmds[n] = ["variants", "score", str(vcf), card, "--model", str(model), "--window", "128",
                       "--batch-size", "256", "--out", str(tmp / f"out{n}")]
            t = time.process_time()
            if main_cli(cmds[n]):  # scores every shard (in this process: not timed): the reruns only merge
                raise SystemExit(f"scoring {vcf} failed")
            res["first_runs"][n] = {"cpu_seconds": round(time.process_time() - t, 3)}
        this = {}  # the outputs of this code's last merge per size
        for _ in range(rounds):
            for name, code in codes.items():
                for n in sizes:
                    res["merges"][name][n].append(run(cmds[n], code, tmp))
                    if name == "this":
                        this[n] = outputs(tmp / f"out{n}")
                    else:
                        res["identical"][n] = res["identical"].get(n, True) and outputs(tmp / f"out{n}") == this[n]
    res["load_after"] = [round(x, 2) for x in os.getloadavg()]
    d = sizes[1] - sizes[0]
    res["marginal_us_per_variant"] = {}
    for name in codes:
        cpu = {n: statistics.median(r["cpu_seconds"] for r in res["merges"][name][n]) for n in sizes}
        wall = {n: statistics.median(r["seconds"] for r in res["merges"][name][n]) for n in sizes}
        res["marginal_us_per_variant"][name] = {"cpu": round((cpu[sizes[1]] - cpu[sizes[0]]) / d * 1e6, 1),
                                                "wall": round((wall[sizes[1]] - wall[sizes[0]]) / d * 1e6, 1)}
    return report(a.name, res, a, markdown)


def markdown(res: dict, a) -> str:
    s0, s1 = res["sizes"]
    rows = "".join(f"| {name} | " + " | ".join(f"{statistics.median(r['cpu_seconds'] for r in res['merges'][name][n])}"
                                               for n in (s0, s1))
                   + f" | {m['cpu']} | {m['wall']} |\n" for name, m in res["marginal_us_per_variant"].items())
    same = ("" if not res["identical"] else "\n\nOutputs of the two codes byte for byte (ranked.tsv, scored.vcf "
            "decompressed, summary.json without timing): "
            + ", ".join(f"{n:,} alleles: {'identical' if v else 'DIFFERENT'}" for n, v in res["identical"].items())
            + ".")
    return ("The merge of `plantllm variants score` alone: a rerun into a finished job's folder (every shard done: "
            "it plans, ranks, writes ranked.tsv, scored.vcf.gz + .tbi, the plots and summary.json), ultra-tiny "
            f"char BERT, window 128, saturation VCFs of real TAIR10 chr1 (3 ALTs per site); median of {res['rounds']} "
            f"runs each in a fresh process, codes taking turns; OMP_NUM_THREADS={res['threads']}; load average "
            f"{res['load_before'][0]:.1f} before, {res['load_after'][0]:.1f} after on {os.cpu_count()} cores.\n\n"
            f"| code | CPU s, {s0:,} alleles | CPU s, {s1:,} alleles | marginal CPU us / variant | "
            "marginal wall us / variant |\n|---|---|---|---|---|\n" + rows
            + "\n" + "\n".join(f"- {k}: `{v}`" for k, v in res["codes"].items()) + same)


if __name__ == "__main__":
    sys.exit(main())
