"""Reading a breeding panel's genotypes: ALT dosage per record, by pysam's per-sample proxies vs plantllm's
distinct-call count (``species/genotypes.RecordGenotypes``).

The input is the real maize B73 v5 chr1 slice of tests/data (190 SNVs, 12 inbred lines), its sample columns
repeated to panel width (12 x N samples: the same real calls, so the mix of distinct genotypes is a real
panel's). Both readings give the same numbers (tests/test_genotypes.py); what differs is the CPU time per ALT.

    python benchmarks/genotype_speed.py                # 12, 120, 480 and 1,200 samples
    python benchmarks/genotype_speed.py --small        # the test suite
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, report  # noqa: E402

SLICE = ROOT / "tests" / "data" / "maize_b73v5_chr1_snps.vcf"


def widened(path: Path, times: int) -> Path:
    lines = SLICE.read_text().splitlines()
    out = []
    for line in lines:
        if line.startswith("##"):
            out.append(line)
            continue
        cols = line.split("\t")
        if line.startswith("#CHROM"):
            out.append("\t".join(cols[:9] + [f"{s}_{r}" for r in range(times) for s in cols[9:]]))
        else:
            out.append("\t".join(cols[:9] + cols[9:] * times))
    path.write_text("\n".join(out) + "\n")
    return path


def per_sample(rec, alt_index: int):
    """plantllm's reading before the distinct-call count, as it was: pysam's sample proxies one sample at a time,
    and for every sample with a missing allele a look at the record's text for an allele index beyond the ALTs
    (htslib reads one as missing), which walked every sample again: quadratic in the samples of a panel with
    missing calls."""
    total, called, carriers, ploidy = 0.0, 0, 0, 0
    n_alleles = len(rec.alleles or ())
    for s in rec.samples.values():
        gt = s.get("GT")
        if gt is None:
            continue
        if None in gt:
            _check_gt_text(rec, n_alleles)
        alleles = [a for a in gt if a is not None]
        if not alleles:
            continue
        ploidy = max(ploidy, len(gt))
        k = sum(1 for a in alleles if a == alt_index)
        total += k / len(alleles)
        called += 1
        carriers += k > 0
    return (total / called if called else math.nan), called, carriers, ploidy


def _check_gt_text(rec, n_alleles: int) -> None:
    cols = str(rec).rstrip("\r\n").split("\t")
    keys = cols[8].split(":")
    k = keys.index("GT")
    for name, field_ in zip(rec.samples, cols[9:]):
        parts = field_.split(":")
        gt = parts[k] if k < len(parts) else "."
        for a in re.split(r"[/|]", gt):
            if a.isdigit() and int(a) >= n_alleles:
                raise ValueError(f"sample {name}: allele index {a} does not exist")


def us_per_alt(recs, fn, repeat: int) -> float:
    t0 = time.process_time()
    for _ in range(repeat):
        for r in recs:
            for k in range(1, len(r.alleles)):
                fn(r, k)
    alts = sum(len(r.alleles) - 1 for r in recs) * repeat
    return (time.process_time() - t0) / alts * 1e6


def run(a) -> dict:
    import pysam

    from plantllm.species.genotypes import dosage_of

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for times in a.times:
            with pysam.VariantFile(str(widened(Path(tmp) / f"w{times}.vcf", times))) as vf:
                recs = list(vf)
            n = len(recs[0].samples)
            # every record is a new object for the new reading (no help from its one-record cache across repeats)
            old = us_per_alt(recs, per_sample, 1)
            new = us_per_alt(recs, lambda r, k: dosage_of(r, k), a.repeat)
            rows[n] = {"pysam_per_sample_us": round(old, 1), "distinct_calls_us": round(new, 1),
                       "speedup": round(old / new, 1)}
    gts = [c for line in SLICE.read_text().splitlines() if not line.startswith("#")
           for c in line.split("\t")[9:]]
    return {"records": 190, "missing_share": sum("." in g.split(":")[0] for g in gts) / len(gts), "rows": rows}


def markdown(res: dict, a) -> str:
    lines = ["ALT dosage (mean dosage, samples called, carriers, ploidy) of the real maize B73 v5 chr1 slice "
             "(190 SNVs, 12 lines; sample columns repeated to panel width), CPU microseconds per ALT, one process.",
             "", "| samples | before: pysam per sample (+ its missing-call check) | now: distinct calls | speed-up | variants/s this alone allows (old -> new) |",
             "|---|---|---|---|---|"]
    for n, r in res["rows"].items():
        lines.append(f"| {int(n):,} | {r['pysam_per_sample_us']:,.1f} | {r['distinct_calls_us']:,.1f} | "
                     f"{r['speedup']:,.1f}x | {1e6 / r['pysam_per_sample_us']:,.0f} -> {1e6 / r['distinct_calls_us']:,.0f} |")
    lines += ["", f"Missing calls in the slice: {res['missing_share']:.1%} of genotypes; before, every sample with one "
              "re-read the record's text for an out-of-range allele index, a walk over all samples: the old cost "
              "grows with samples x missing calls.", "", "The ploidy check of `variants score` (every genotype against the card) read every sample the same "
              "way and now shares the record's one parse."]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--times", type=int, nargs="+", default=[1, 10, 40, 100], help="sample column repeats")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)
    if a.small:
        a.times, a.repeat = [1, 4], 1
    return report("genotype_speed", run(a), a, markdown)


if __name__ == "__main__":
    sys.exit(main())
