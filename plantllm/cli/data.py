"""``plantllm data``: pretraining corpus, promoter, motif and variant datasets, and a lab's own tables and
genome regions (Hugging Face, with a manifest).

Every command takes the split options of ``options.split_options`` and prints the split sizes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from plantllm.cli.options import (ChromsOpt, FastaOpt, GffOpt, LabelsOpt, SpeciesArg, SplitOptions, WeightsOpt,
                                  comma_list, key_values, out_option, split_options, subgenome_weights)
from plantllm.core import console as con

app = typer.Typer(no_args_is_help=True, help="Build datasets: pretraining corpus, promoter, motif and variant "
                                             "tasks, your own tables and genome regions (Hugging Face datasets on "
                                             "disk, with a manifest).")
OutOpt = out_option("Output dataset folder.")


def _print_sizes(manifest: dict) -> None:
    con.out.print(json.dumps(manifest["split_sizes"]))


@app.command("pretrain")
@split_options
def data_pretrain(
    species: str = SpeciesArg, out: Path = OutOpt, fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt,
    length: int = typer.Option(512, "--length", help="Window length (bp)."),
    stride: int = typer.Option(512, "--stride", help="Step between window starts (bp)."),
    regions: str = typer.Option("all", "--regions", help="all, genes, coding (CDS +/- flank), cds (spliced "
                                "coding sequences, in frame), promoters or intergenic."),
    flank: int = typer.Option(1000, "--flank", help="Flank around genes/TSSs for --regions (bp)."),
    max_n: float = typer.Option(0.1, "--max-n", help="Drop windows with more N than this fraction."),
    rc: bool = typer.Option(False, "--rc-augment", help="Add the reverse complement of each training window."),
    balance: str = typer.Option("none", "--balance", help="Subgenome sampling: none, equal, proportional, weights."),
    weights: str = WeightsOpt, chroms: str = ChromsOpt, split: SplitOptions = None,
) -> None:
    """Pretraining windows over nuclear chromosomes (or regions), with repeat masks and weights."""
    from plantllm.species.assembly import Assembly
    from plantllm.data.tasks.pretrain import WindowParams, build_pretrain

    asm = Assembly(species, fasta=fasta, gff=gff)
    params = WindowParams(length, stride, max_n, regions, flank, rc, balance, subgenome_weights(weights),
                          tuple(comma_list(chroms)))
    _print_sizes(build_pretrain(asm, out, params, split.splitter(asm), seed=split.seed, force=split.force))


@app.command("combine")
def data_combine(
    parts: list[Path] = typer.Argument(..., help="Datasets of one kind, e.g. each species' pretraining corpus."),
    out: Path = OutOpt,
    max_per_part: int = typer.Option(0, "--max-per-part", help="At most this many rows of each part per split "
                                     "(seeded random subset; 0 = all)."),
    seed: int = typer.Option(0, "--seed"), force: bool = typer.Option(False, "--force", help="Rebuild."),
) -> None:
    """Combine datasets split by split (a multi-species pretraining corpus)."""
    from plantllm.data.combine import combine_datasets

    _print_sizes(combine_datasets(parts, out, max_per_part=max_per_part or None, seed=seed, force=force))


@app.command("promoter")
@split_options
def data_promoter(
    species: str = SpeciesArg, out: Path = OutOpt, fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt,
    upstream: int = typer.Option(249, "--upstream", help="Bases before the TSS."),
    downstream: int = typer.Option(50, "--downstream", help="Bases after the TSS."),
    negatives: str = typer.Option("gc_matched", "--negatives", help="random, gc_matched, shuffle or gene_body."),
    exclusion: int = typer.Option(1000, "--exclusion", help="Negatives at least this far from any TSS (bp)."),
    all_genes: bool = typer.Option(False, "--all-genes", help="Include non-coding genes' TSSs."),
    strength: Optional[Path] = typer.Option(None, "--strength", help="TSV gene<TAB>value for a regression target."),
    balance: str = typer.Option("none", "--balance", help="Subgenome shares of the promoters: none, equal, weights."),
    weights: str = WeightsOpt, split: SplitOptions = None,
) -> None:
    """Promoter task: TSS-centred windows (default -249..+50) vs. balanced negatives."""
    from plantllm.species.assembly import Assembly
    from plantllm.data.tasks.promoter import PromoterParams, build_promoter

    asm = Assembly(species, fasta=fasta, gff=gff)
    params = PromoterParams(upstream, downstream, negatives, exclusion, not all_genes,
                            strength_table=str(strength) if strength else None, balance=balance,
                            subgenome_weights=subgenome_weights(weights) or None)
    _print_sizes(build_promoter(asm, out, params, split.splitter(asm), seed=split.seed, force=split.force))


@app.command("motif")
@split_options
def data_motif(
    species: str = SpeciesArg, out: Path = OutOpt, fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt,
    peaks: list[str] = typer.Option([], "--peaks", help="TF=peaks.bed (repeatable): ChIP/DAP-seq peaks."),
    jaspar: str = typer.Option("", "--jaspar", help="JASPAR Plantae matrices, e.g. MA0931.1,TCP4,WRKY12."),
    length: int = typer.Option(200, "--length", help="Window length around peak summits (bp)."),
    rel_score: float = typer.Option(0.85, "--rel-score", help="JASPAR hit threshold (fraction of score range)."),
    split: SplitOptions = None,
) -> None:
    """Motif task: peak windows vs. GC-matched background, or promoters labelled by JASPAR scans."""
    from plantllm.species.assembly import Assembly
    from plantllm.data.tasks.motif import MotifParams, build_motif

    asm = Assembly(species, fasta=fasta, gff=gff)
    params = MotifParams(length=length, peaks=key_values(peaks, "--peaks", "TF=path.bed"),
                         jaspar=tuple(comma_list(jaspar)), rel_score=rel_score)
    _print_sizes(build_motif(asm, out, params, split.splitter(asm), seed=split.seed, force=split.force))


@app.command("variants")
@split_options
def data_variants(
    species: str = SpeciesArg, vcf: Path = typer.Argument(..., help="VCF/BCF (plain or bgzip)."),
    out: Path = OutOpt, fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt,
    window: int = typer.Option(512, "--window", help="Window length around each variant (bp)."),
    max_indel: int = typer.Option(50, "--max-indel", help="Longer indels are skipped (counted)."),
    labels: Optional[Path] = LabelsOpt,
    label_info: Optional[str] = typer.Option(None, "--label-info", help="Take the label from this INFO key."),
    split: SplitOptions = None,
) -> None:
    """Variant task: REF/ALT windows, REF checked, region class, gene, dosage."""
    from plantllm.species.assembly import Assembly
    from plantllm.data.tasks.variants import VariantParams, build_variants

    asm = Assembly(species, fasta=fasta, gff=gff)
    params = VariantParams(window, max_indel, str(labels) if labels else None, label_info)
    _print_sizes(build_variants(asm, vcf, out, params, split.splitter(asm), seed=split.seed, force=split.force))


def _plain_splitter(split: SplitOptions):
    """The block splitter of the split options, for builders without a species card (tables)."""
    from plantllm.core.errors import PlantLLMError
    from plantllm.data.splits import Splitter

    if split.homeologs:
        raise PlantLLMError("--homeologs needs a species: use it with 'plantllm data regions' or the genome builders")
    return Splitter(split.val_fraction, split.test_fraction, split.block_size, tuple(comma_list(split.val_chroms)),
                    tuple(comma_list(split.test_chroms)), split.seed)


@app.command("table")
@split_options
def data_table(
    files: list[Path] = typer.Argument(..., help="CSV, TSV, Parquet, JSON lines or FASTA (several: train/dev/test "
                                                 "files keep their split)."),
    out: Path = OutOpt,
    task: str = typer.Option("auto", "--task", help="auto, binary, multiclass, multilabel or regression."),
    sequence_column: Optional[str] = typer.Option(None, "--sequence-column", help="Default: sequence, seq, ..."),
    label_column: list[str] = typer.Option([], "--label-column", help="Label column (repeatable: multi-label or "
                                                                      "multi-output). Default: label, labels, ..."),
    variable_length: bool = typer.Option(False, "--variable-length", help="Sequences differ in length on purpose."),
    ambiguous_to_n: bool = typer.Option(False, "--ambiguous-to-n", help="Read IUPAC codes (R, Y, ...) as N."),
    no_coordinates: bool = typer.Option(False, "--no-coordinates", help="Ignore chrom/start/end for the split."),
    split: SplitOptions = None,
) -> None:
    """A task from your own labelled sequences (sequence + label columns; FASTA: '>id label=1')."""
    from plantllm.data.tasks.table import TableParams, build_table

    params = TableParams(task, sequence_column, tuple(label_column), variable_length, ambiguous_to_n,
                         not no_coordinates)
    m = build_table(files, out, params, _plain_splitter(split), seed=split.seed, force=split.force)
    con.info(f"task: {m['task']['type']} (train with task: {m['task']['train_task']}, label_column: "
             f"{m['task']['label_column']}); split: {m['split']['method']}")
    _print_sizes(m)


@app.command("regions")
@split_options
def data_regions(
    species: str = SpeciesArg, out: Path = OutOpt, fasta: Optional[Path] = FastaOpt,
    bed: list[str] = typer.Option([], "--bed", help="NAME=peaks.bed or narrowPeak (repeatable: multi-label)."),
    bigwig: list[str] = typer.Option([], "--bigwig", help="NAME=signal.bw: mean signal per window as a regression "
                                                          "target (repeatable: multi-output)."),
    length: int = typer.Option(500, "--length", help="Window length (bp), centred on peak summits."),
    stride: int = typer.Option(500, "--stride", help="Step between tiles when only --bigwig is given (bp)."),
    log1p: bool = typer.Option(False, "--log1p", help="Regress log(1 + signal) (coverage tracks)."),
    split: SplitOptions = None,
) -> None:
    """A task from genome intervals: peaks vs GC-matched background; bigWig signal as regression."""
    from plantllm.species.assembly import Assembly
    from plantllm.data.tasks.regions import RegionParams, build_regions

    def named(items: list[str], option: str) -> dict[str, str]:
        # NAME=path, or a bare path named after its file
        return key_values([i if "=" in i else f"{Path(i).name.split('.')[0]}={i}" for i in items], option,
                          "NAME=path")

    asm = Assembly(species, fasta=fasta)
    params = RegionParams(named(bed, "--bed"), named(bigwig, "--bigwig"), length, stride, log1p)
    m = build_regions(asm, out, params, split.splitter(asm), seed=split.seed, force=split.force)
    con.info(f"task: {m['task']['type']} (train with task: {m['task']['train_task']}, label_column: "
             f"{m['task']['label_column']})")
    _print_sizes(m)
