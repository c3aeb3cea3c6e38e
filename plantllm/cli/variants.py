"""``plantllm variants``: score, annotate and rank variants; write saturation VCFs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from plantllm.cli.options import (BedOpt, ChromsOpt, FastaOpt, GffOpt, HostfileOpt, LabelsOpt, NprocOpt, PrecisionOpt,
                                  RegionsOpt, RemoteCodeOpt, SpeciesArg, comma_list, out_option, regions_of)
from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError

app = typer.Typer(no_args_is_help=True, help="Score, annotate and rank variants for breeding.")
SnpEffCompatOpt = typer.Option(False, "--snpeff-compatible", help="Copy SnpEff 5.1's reader convention, not the "
                               "annotation: a transcript SnpEff reads as protein coding ('mRNA', 'tRNA') but that has "
                               "no CDS line is translated from its first exon base, as SnpEff does; SnpEff's "
                               "biotypes and transcript warnings. Default: the annotation's CDS.")


@app.command("score")
def variants_score(
    vcf: Path = typer.Argument(..., help="VCF/BCF, plain or bgzipped, any ploidy, many samples."),
    species: str = SpeciesArg,
    model: list[Path] = typer.Option(..., "--model", help="Model folder (MLM for llr, CLM for clm, classifier for "
                                                          "delta); repeat to score with several models in one pass."),
    out: Path = out_option("Output folder: ranked.tsv, scored.vcf.gz, summary.png/json."),
    method: list[str] = typer.Option(["llr"], "--method", help="llr (masked LM, zero-shot), clm, delta or embedding; "
                                                               "one for all models or one per --model."),
    window: int = typer.Option(128, "--window", help="Sequence window around each variant (bp)."),
    batch_size: int = typer.Option(32, "--batch-size", help="Sites per forward batch."),
    region: list[str] = RegionsOpt, bed: Optional[Path] = BedOpt,
    genes: str = typer.Option("", "--genes", help="Only variants within these genes +/- 2 kb (comma separated)."),
    labels: Optional[Path] = LabelsOpt,
    fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt,
    trust_remote_code: bool = RemoteCodeOpt,
    nproc: int = NprocOpt, hostfile: Optional[Path] = HostfileOpt, precision: str = PrecisionOpt,
    tracks: Optional[Path] = typer.Option(None, "--tracks", help="Folder of 'plantllm variants tracks': SNVs found "
                                                                "there take its LLR instead of a model pass."),
    shard_size: int = typer.Option(2_000_000, "--shard-size", help="Bases of genome per shard: the unit of work "
                                                                     "that is resumed and spread over processes."),
    calibrated: bool = typer.Option(False, "--calibrated", help="Also the calibrated score (raw - the model's "
                                    "neutral background mean for the context and ALT; see 'variants calibrate'); "
                                    "evidence and percentiles use it."),
    use_existing_annotation: bool = typer.Option(False, "--use-existing-annotation", help="Take consequences "
                                                 "from the VCF's own SnpEff ANN or VEP CSQ and keep that "
                                                 "annotation in scored.vcf.gz (nothing is re-annotated)."),
    snpeff_compatible: bool = SnpEffCompatOpt,
    priority_config: Optional[Path] = typer.Option(None, "--priority-config", help="YAML with the priority weights "
                                                   "(impact_weight, evidence_weight, unscored_evidence, impact); "
                                                   "default configs/priority.yaml."),
) -> None:
    """Rank every variant of a VCF: consequence (SnpEff-like), model score, dosage, documented priority.
    SNVs, MNVs, indels and structural variants (also symbolic <DEL>, <DUP>, <INV>, <INS>) are scored in one
    pass; an allele no method can score is still annotated and ranked (column scored_by says why).
    A rerun after an interruption computes only the shards not finished (see OUT/.plantllm-job)."""
    from plantllm.species.assembly import Assembly
    from plantllm.apps.variant_shards import run_scoring
    from plantllm.data.tasks.variants import read_labels
    from plantllm.apps.priority import load_priority

    priority = load_priority(priority_config)  # checked before any work
    asm = Assembly(species, fasta=fasta, gff=gff)
    regions = regions_of(asm, region, bed) + _gene_regions(asm, comma_list(genes))
    s = run_scoring(asm, vcf, list(model), out, method=list(method), window=window, batch_size=batch_size,
                    regions=regions or None, labels=read_labels(labels) if labels else None,
                    trust_remote_code=trust_remote_code, nproc=nproc, hostfile=hostfile, shard_size=shard_size,
                    precision=precision, tracks=tracks, calibrated=calibrated, priority=priority,
                    use_existing_annotation=use_existing_annotation, snpeff_compatible=snpeff_compatible)
    if "scored" not in s:  # a rank other than 0 under srun: rank 0 merges
        return
    con.info(f"scored {s['scored']:,} of {s['alleles']:,} alleles at {s['variants_per_s']:,.0f} variants/s ("
             + ", ".join(f"{k} {v:,}" for k, v in s["scored_by"].items()) + f"); ranked list {out}/ranked.tsv, "
             f"annotated VCF {out}/scored.vcf.gz, plots {out}/summary.png, {out}/score_meaning.png")
    _print_separation(s)


def _gene_regions(asm, want: list[str], flank: int = 2000) -> list[tuple[str, int, int]]:
    """The named genes (locus, name or ID) +/- flank; a name the annotation lacks is an error."""
    want = set(want)
    if not want:
        return []
    found = [g for g in asm.annotation.genes if g.locus in want or g.name in want or g.id in want]
    missing = want - {g.locus for g in found} - {g.name for g in found} - {g.id for g in found}
    if missing:
        raise PlantLLMError(f"genes not in the annotation: {', '.join(sorted(missing))}")
    return [(g.chrom, max(0, g.start - flank), g.end + flank) for g in found]


def _print_separation(s: dict) -> None:
    """How well the scores separate labelled or damaging from neutral variants."""
    for value, r in (s.get("labels") or {}).items():
        if isinstance(r, dict):
            con.out.print(f"label {value} (n={r['n']}): AUROC score {r['auroc_score']:.3f}, consequence "
                          f"{r['auroc_impact']:.3f}, priority {r['auroc_priority']:.3f}")
    for name, sep in (s.get("separation_by_model") or {}).items():
        if sep:
            con.out.print(f"{name}: damaging vs neutral AUROC {sep['damaging_vs_neutral']:.3f}")
    if s["separation"]:
        con.out.print("zero-shot separation (AUROC): " + ", ".join(f"{k} {v:.3f}" for k, v in s["separation"].items()
                                                                    if k != "n"))


@app.command("annotate")
def variants_annotate(
    vcf: Path = typer.Argument(..., help="VCF/BCF, plain or bgzipped."),
    species: str = SpeciesArg,
    out: Path = out_option("Annotated VCF (bgzipped + .tbi) with SnpEff-standard ANN, LOF, NMD."),
    tsv: Optional[Path] = typer.Option(None, "--tsv", help="One row per ANN entry (default OUT.ann.tsv.gz)."),
    use_existing: bool = typer.Option(False, "--use-existing-annotation",
                                      help="Keep a SnpEff ANN or VEP CSQ annotation the VCF already has."),
    snpeff_compatible: bool = SnpEffCompatOpt,
    fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt,
) -> None:
    """Annotate every variant SnpEff-style (one ANN entry per allele x transcript, IMPACT, HGVS, LOF/NMD), no model."""
    from plantllm.apps.annotate_vcf import annotate_vcf
    from plantllm.species.assembly import Assembly

    asm = Assembly(species, fasta=fasta, gff=gff)
    if not use_existing and not asm.has_annotation:
        raise PlantLLMError(f"species {asm.card.name} has no annotation: give --gff")
    s = annotate_vcf(asm, vcf, out, tsv, use_existing=use_existing, snpeff_compatible=snpeff_compatible)
    con.info(f"annotated {s['records']:,} records ({s['entries']:,} ANN entries, source {s['source']}); "
             f"{s['vcf']} (+ .tbi), {s['tsv']}" + (f"; {s['unknown_chromosome']:,} records on sequences the FASTA "
                                                   "lacks came back unannotated" if s["unknown_chromosome"] else ""))


@app.command("saturate")
def variants_saturate(
    species: str = SpeciesArg,
    out: Path = out_option("VCF of every possible SNV in the regions."),
    region: list[str] = RegionsOpt,
    genes: str = typer.Option("", "--genes", help="CDS and 300 bp promoters of these genes."),
    fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt,
) -> None:
    """Write every possible SNV of regions or genes as a VCF (in-silico saturation mutagenesis)."""
    from plantllm.species.assembly import Assembly
    from plantllm.apps.variant_report import write_saturation_vcf

    asm = Assembly(species, fasta=fasta, gff=gff)
    regions = regions_of(asm, region)
    want = set(comma_list(genes))
    for g in asm.annotation.genes:
        if (g.locus in want or g.name in want) and g.canonical is not None:
            t = g.canonical
            regions += [(t.chrom, s, e) for s, e in t.cds]
            regions.append((t.chrom, max(0, t.tss - 300), t.tss) if t.strand != "-" else (t.chrom, t.tss + 1, t.tss + 301))
    if not regions:
        raise PlantLLMError("give --region or --genes")
    write_saturation_vcf(asm, regions, out)
    con.info(f"wrote {out}")


@app.command("tracks")
def variants_tracks(
    species: str = SpeciesArg,
    model: Path = typer.Option(..., "--model", help="Masked LM folder."),
    out: Path = out_option("Output folder: llr_min.bw, llr_mean.bw, scores.tsv.gz (+ .tbi), summary.json."),
    region: list[str] = RegionsOpt, bed: Optional[Path] = BedOpt, chromosomes: str = ChromsOpt,
    step: int = typer.Option(1, "--step", help="Score every step-th position (a speed knob)."),
    window: int = typer.Option(128, "--window", help="Sequence window around each position (bp)."),
    batch_size: int = typer.Option(64, "--batch-size", help="Positions per forward batch."),
    fasta: Optional[Path] = FastaOpt,
    nproc: int = NprocOpt, hostfile: Optional[Path] = HostfileOpt, precision: str = PrecisionOpt,
    shard_size: int = typer.Option(100_000, "--shard-size", help="Bases per shard (resumed, spread over processes)."),
) -> None:
    """Zero-shot score tracks: every position's masked-LM LLR for the three other bases, as bigWig + indexed table."""
    from plantllm.apps.score_tracks import score_tracks
    from plantllm.species.assembly import Assembly

    asm = Assembly(species, fasta=fasta)
    s = score_tracks(model, asm, out, regions=regions_of(asm, region, bed, chromosomes), window=window, step=step,
                     batch_size=batch_size, shard_size=shard_size, nproc=nproc, hostfile=hostfile, precision=precision)
    if "positions" in s:
        con.info(f"scored {s['positions']:,} positions at {s['positions_per_s']:,.0f} positions/s; tracks in {out}")


@app.command("calibrate")
def variants_calibrate(
    species: str = SpeciesArg,
    model: Path = typer.Option(..., "--model", help="Model folder; the background is saved in it."),
    method: str = typer.Option("llr", "--method", help="llr (masked LM) or clm (causal LM), as for variants score."),
    window: int = typer.Option(128, "--window", help="Window (bp), as for variants score."),
    sites: int = typer.Option(20_000, "--sites", help="Neutral sites to score (every SNV at each)."),
    batch_size: int = typer.Option(32, "--batch-size", help="Sites per forward batch."),
    seed: int = typer.Option(0, "--seed", help="Seed of the site draw."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where to write the JSON (default: in the model "
                                                                "folder, calibration-METHOD-wWINDOW.json)."),
    fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt,
    trust_remote_code: bool = RemoteCodeOpt, precision: str = PrecisionOpt,
) -> None:
    """A model's neutral background: mean and sd of its score per pentanucleotide context x ALT (and per
    indel size) at intergenic/intronic, non-repeat sites outside its held-out blocks; used by
    'variants score --calibrated'."""
    from plantllm.apps.background import compute
    from plantllm.species.assembly import Assembly

    asm = Assembly(species, fasta=fasta, gff=gff)
    s = compute(model, asm, method=method, window=window, sites=sites, batch_size=batch_size, seed=seed, out=out,
                precision=precision, trust_remote_code=trust_remote_code)
    con.info(f"neutral background of {s['alleles']:,} alleles at {s['sites']:,} sites ({s['held_out']}) "
             f"written to {s['path']}")
