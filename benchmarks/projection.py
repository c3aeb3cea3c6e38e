"""What a maize genome scan and a 20 M-SNP panel cost: time and money per job, projected from measured rates.

Nothing is run here: the table is computed from the committed results of the benchmarks that measure
(``engine_scale`` for the variant pipeline, ``engine_scan`` for the scan pipeline, ``variant_gpn`` for a real
3.4 M-parameter model on this CPU), so rerunning those and then this script keeps the projection current.

Three kinds of rows, never mixed up in the table:

- **measured here**: the per-process rate of plantllm's own pipeline (ultra-tiny model: what the pipeline alone
  allows one process) and of a 3.4 M-parameter char BERT on this machine's CPUs;
- **CPU, scaled by FLOPs**: a larger model on the same CPUs, from the FLOP rate the 3.4 M model reached here;
- **GPU, estimated**: a model's forward FLOPs over a GPU's peak bf16 rate at a stated model FLOPs utilisation
  (MFU), capped by the measured pipeline rate of one process (the engine runs one rank per GPU, and its pipeline
  - VCF parsing, windows, tokens, annotation, writing - runs in that rank). No GPU was lent to the session that
  wrote this: these rows are arithmetic, not measurements, until ``device`` runs replace them.

FLOPs of one forward of a transformer encoder: 2 x non-embedding parameters x tokens + 4 x layers x tokens^2 x
hidden (attention scores and values); the LLR of a masked LM needs one forward per site for a reverse-complement
equivariant model (PlantCaduceus) and two (both strands, averaged) otherwise, as GPN's run_vep does.

    python benchmarks/projection.py                       # default prices: see --gpu-hour-usd / --cpu-hour-usd
    python benchmarks/projection.py --gpu-hour-usd 2.1 --mfu 0.3
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, report  # noqa: E402

#: peak dense bf16 tensor FLOP/s (NVIDIA data sheets, without sparsity); the H200 has the H100 SXM's compute
GPUS = {"H100 SXM / H200": 989e12, "A100 80GB": 312e12, "L40S": 362e12}


@dataclass(frozen=True)
class Encoder:
    name: str
    layers: int
    hidden: int
    intermediate: int

    @property
    def params(self) -> int:
        """Non-embedding parameters of a BERT-style layer stack (attention 4 h^2, MLP 2 h i, biases, norms)."""
        h, i = self.hidden, self.intermediate
        return self.layers * (4 * h * h + 2 * h * i + 9 * h + i)

    def flops(self, tokens: int) -> float:
        return 2.0 * self.params * tokens + 4.0 * self.layers * tokens * tokens * self.hidden


#: the model of benchmarks/variant_gpn.py (_common.char_bert, 3.36 M parameters with embeddings)
BERT_3M = Encoder("char BERT 3.4 M (measured here)", 4, 256, 1024)
#: a model of PlantCaduceus' / AgroNT-small's class: ~100 M parameters
#: PlantCAD's published scoring rate per H100 (SNPs/s), the low and the high end
PLANTCAD_SNPS_PER_S = (100.0, 300.0)
BERT_100M = Encoder("BERT-style encoder, 85 M non-embedding parameters (12 x 768)", 12, 768, 3072)


@dataclass(frozen=True)
class Workload:
    name: str
    items: float  # windows or SNPs
    unit: str
    tokens: int  # tokens of one forward
    forwards: int  # forwards per item
    pipeline: str | None  # which measured pipeline feeds it (None: not measured, no cap)


def workloads(a) -> list[Workload]:
    # a scan: one promoter window (-249..+50, 300 bp + [CLS]/[SEP]) every `stride` bp, both strands
    jobs = [Workload(f"{name} genome scan ({size / 1e9:.1f} Gb, stride {a.stride})", size / a.stride, "windows",
                     302, 2, "scan") for name, size in (("maize", 2.3e9), ("wheat", 14.5e9))]
    # per-base score tracks (variants tracks): one masked 512-bp pass per strand and position, the 3 ALTs share it
    jobs += [Workload(f"maize score tracks, every {'' if step == 1 else f'{step}th '}base", 2.3e9 / step, "positions",
                      514, 2, None) for step in (1, 10)]
    # a breeder's panel: one ALT per site, the peers' usual 512-bp window, both strands (not RC-equivariant)
    return jobs + [Workload(f"{a.panel / 1e6:.0f} M-SNP panel (one ALT per site, window 512)", a.panel, "SNPs",
                            514, 2, "variants")]


def load(name: str) -> dict:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run benchmarks/{name}.py first")
    return json.loads(path.read_text())


def measured() -> dict:
    """The measured rates this projection stands on, with where each comes from."""
    scale, scan, gpn = load("engine_scale"), load("engine_scan"), load("variant_gpn")
    fair = gpn["fair"]
    exact = fair["runs"]["plantllm_exact"]
    loop_s = exact.get("scoring_loop_s") or exact["best_wall_s"]
    cpus = gpn["machine"]["cpus"]
    snv_per_s = fair["snvs"] / loop_s  # both strands, window `fair['window']`, on all of this machine's CPUs
    flops_per_s = snv_per_s * 2 * BERT_3M.flops(fair["window"] + 2)
    return {
        # the panel is one ALT per site: its measured rate when engine_scale has it, else the saturation rate
        "variant_pipeline_per_process": scale.get("one_alt", {}).get("marginal_variants_per_cpu_s")
        or scale["marginal_variants_per_cpu_s"],
        "scan_pipeline_per_process": scan["marginal_windows_per_cpu_s"],
        "bert3m_snvs_per_s": snv_per_s, "bert3m_cpus": cpus,
        "cpu_flops_per_core": flops_per_s / cpus,
        "sources": {
            "variant_pipeline_per_process": "engine_scale.json: marginal variants per CPU second, ultra-tiny model, "
                                            + ("one ALT per site at random real positions (the breeder's input) "
                                               if "one_alt" in scale else
                                               "saturation VCF: 3 ALTs per site share a site's work ")
                                            + f"({scale['machine']['date'][:10]})",
            "scan_pipeline_per_process": f"engine_scan.json: marginal windows per CPU second, ultra-tiny model "
                                         f"({scan['machine']['date'][:10]})",
            "bert3m_snvs_per_s": f"variant_gpn.json: {fair['snvs']:,} SNVs, window {fair['window']}, exact fp32, "
                                 f"scoring loop {loop_s:.1f} s on {cpus} CPUs ({gpn['machine']['date'][:10]})"}}


def hours(items: float, rate: float) -> float:
    return items / rate / 3600.0


def project(a) -> dict:
    m = measured()
    rows = []
    for w in workloads(a):
        pipeline = {"variants": m["variant_pipeline_per_process"], "scan": m["scan_pipeline_per_process"],
                    None: float("inf")}[w.pipeline]
        if w.pipeline is not None:  # measured: the pipeline alone (ultra-tiny model), one process on one core
            h = hours(w.items, pipeline)
            rows.append({"job": w.name, "kind": "measured here", "how": "plantllm pipeline, ultra-tiny model, 1 core",
                         "rate": pipeline, "unit": w.unit, "hours": h, "usd": h * a.cpu_hour_usd})
        for enc in (BERT_3M, BERT_100M):
            per_item = w.forwards * enc.flops(w.tokens)
            # on CPU cores, at the FLOP rate the 3.4 M model reached here (one process per core, pipeline added)
            model_rate = m["cpu_flops_per_core"] / per_item
            rate = 1.0 / (1.0 / model_rate + 1.0 / pipeline)
            kind = "CPU, scaled by FLOPs"
            if enc is BERT_3M and w.pipeline == "variants":  # the measured job: its rate per core, pipeline included
                kind, rate = "measured here", m["bert3m_snvs_per_s"] / m["bert3m_cpus"]
            h = hours(w.items, rate)
            rows.append({"job": w.name, "kind": kind, "how": f"{enc.name}, 1 core", "rate": rate, "unit": w.unit,
                         "hours": h, "usd": h * a.cpu_hour_usd})
        for gpu, peak in GPUS.items():
            model_rate = a.mfu * peak / (w.forwards * BERT_100M.flops(w.tokens))
            rate = min(model_rate, pipeline)  # one rank per GPU: its pipeline runs in that process
            h = hours(w.items, rate)
            bound = " (pipeline-bound)" if pipeline < model_rate else (
                "" if w.pipeline else " (pipeline not measured for this job)")
            rows.append({"job": w.name, "kind": "GPU, estimated", "how": f"{BERT_100M.name}, {gpu}, MFU {a.mfu:.0%}"
                         + bound, "rate": rate, "unit": w.unit, "hours": h, "usd": h * a.gpu_hour_usd})
        if w.pipeline == "variants":  # for scale: the published rate of PlantCAD (100 M+ parameters, 512 bp)
            for rate in PLANTCAD_SNPS_PER_S:
                h = hours(w.items, rate)
                rows.append({"job": w.name, "kind": "published (PlantCAD)", "how": "PlantCAD, 1 H100",
                             "rate": rate, "unit": w.unit, "hours": h, "usd": h * a.gpu_hour_usd})
    return {"measured": m, "rows": rows, "flops": {e.name: {"params": e.params} for e in (BERT_3M, BERT_100M)}}


def markdown(res: dict, a) -> str:
    m = res["measured"]
    lines = ["Time and cost per job, projected from measured rates (see the script's docstring for the three kinds of "
             "row). Prices are assumptions, set by flags: "
             f"${a.gpu_hour_usd:.2f} per GPU hour, ${a.cpu_hour_usd:.3f} per CPU core hour.", "",
             "Measured inputs:", ""]
    lines += [f"- {k.replace('_', ' ')}: {m[k]:,.1f}/s ({m['sources'][k]})" for k in m["sources"]]
    lines += [f"- this CPU's FLOP rate on the 3.4 M model: {m['cpu_flops_per_core'] / 1e9:,.1f} GFLOP/s per core "
              f"(fp32)", "",
              "| job | kind | model, hardware | per process or GPU | hours | cost (USD) |", "|---|---|---|---|---|---|"]
    for r in res["rows"]:
        lines.append(f"| {r['job']} | {r['kind']} | {r['how']} | {r['rate']:,.1f} {r['unit']}/s | "
                     f"{r['hours']:,.1f} | {r['usd']:,.2f} |")
    lines += ["", "Reading the table: the pipeline rows are what one plantllm process allows with a model that costs "
              "nothing; a GPU row marked pipeline-bound would go faster only with a faster pipeline or more ranks per "
              "GPU. N GPUs or processes divide the hours (shards are independent); the cost stays. The GPU rows are estimates "
              "until a session with a GPU measures them (`benchmarks/engine_scale.py` on the device)."]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="print only (the test suite)")
    ap.add_argument("--stride", type=int, default=50, help="scan stride (bp)")
    ap.add_argument("--panel", type=float, default=20e6, help="SNPs in the panel")
    ap.add_argument("--mfu", type=float, default=0.3, help="model FLOPs utilisation assumed for the GPU rows")
    ap.add_argument("--gpu-hour-usd", type=float, default=3.0, help="assumed price of one GPU hour")
    ap.add_argument("--cpu-hour-usd", type=float, default=0.04, help="assumed price of one CPU core hour")
    a = ap.parse_args(argv)
    return report("projection", project(a), a, markdown)


if __name__ == "__main__":
    sys.exit(main())
