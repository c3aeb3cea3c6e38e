"""``plantllm motifs`` (motif discovery) and ``plantllm mutagenesis`` (in-silico saturation mutagenesis)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from plantllm.cli.options import FastaOpt, RemoteCodeOpt, TargetOpt, out_option, regions_of
from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError


def motifs_cmd(
    model: Path = typer.Argument(..., help="Fine-tuned classifier folder (e.g. a promoter model)."),
    out: Path = out_option("Output folder (MEME, TSV, logos, report)."),
    dataset: Optional[Path] = typer.Option(None, "--dataset", help="A promoter or motif dataset folder."),
    split: str = typer.Option("test", "--split", help="Dataset split to explain."),
    label: int = typer.Option(1, "--label", help="Explain the sequences of this label (multi-label datasets: "
                                                 "label number); the rest are the k-mer baseline's background."),
    label_column: str = typer.Option("label", "--label-column", help="'labels' for the motif task's multi-label "
                                                                      "column (then --label is the label number)."),
    fasta: Optional[Path] = typer.Option(None, "--fasta", help="Or: a FASTA of sequences of one length."),
    n: int = typer.Option(200, "--n", help="At most this many sequences."),
    method: str = typer.Option("ism", "--method", help="ism (saturation mutagenesis) or ig (integrated gradients)."),
    target: Optional[int] = TargetOpt,
    fdr: float = typer.Option(0.1, "--fdr", help="Target FDR of seqlet calls against shuffled controls."),
    min_seqlets: int = typer.Option(5, "--min-seqlets", help="Smallest motif (seqlets per cluster)."),
    trust_remote_code: bool = RemoteCodeOpt,
) -> None:
    """Motif discovery: attributions -> seqlets -> motifs -> JASPAR Plantae names, beside a k-mer baseline."""
    from plantllm.apps.motif_discovery import discover, read_sequences

    fg, bg, names, desc = read_sequences(dataset=dataset, split=split, label=label, label_column=label_column,
                                         fasta=fasta, n=n)
    if target is None and label_column == "labels":
        target = label  # a multi-label model explains the label its sequences were picked for
    s = discover(model, fg, out, background=bg, names=names, method=method, target=target, description=desc,
                 fdr=fdr, min_size=min_seqlets, trust_remote_code=trust_remote_code)
    con.info(f"{s['seqlets']} seqlets ({s['seqlet_threshold']}) -> {len(s['motifs'])} motifs; "
             f"cis-elements named: {', '.join(s['recovered']['model']) or 'none'}; report: {out}/report.html")


def mutagenesis_cmd(
    model: Path = typer.Argument(..., help="Fine-tuned model (--method ism) or masked LM (--method masked)."),
    out: Path = out_option("Output folder (TSV, PNG, JSON)."),
    sequence: Optional[str] = typer.Option(None, "--sequence", help="A DNA sequence."),
    species: Optional[str] = typer.Option(None, "--species", help="Species card, with --region."),
    region: Optional[str] = typer.Option(None, "--region", help="Chr1:1000-1299 (1-based, inclusive)."),
    strand: str = typer.Option("+", "--strand", help="+ or - (the reverse complement is mutated)."),
    fasta: Optional[Path] = FastaOpt,
    method: str = typer.Option("ism", "--method", help="ism or masked."),
    target: Optional[int] = TargetOpt,
    trust_remote_code: bool = RemoteCodeOpt,
) -> None:
    """In-silico saturation mutagenesis of one sequence or region: every SNV's effect, as TSV and plot."""
    from plantllm.apps.attribution import run_mutagenesis

    seq, chrom, start = _mutagenesis_input(sequence, species, region, strand, fasta)
    s = run_mutagenesis(model, seq, out, method=method, target=target, chrom=chrom, start=start, strand=strand,
                        trust_remote_code=trust_remote_code)
    w = s["most_damaging"]
    con.info(f"{s['length']} bp x 3 alternatives in {s['forward_passes']} forward passes ({s['seconds']} s); most "
             f"damaging: {w['ref']}{w['position']}{w['alt']} ({w['delta']:.3f}); wrote {out}/mutagenesis.tsv, .png")


def _mutagenesis_input(sequence: Optional[str], species: Optional[str], region: Optional[str], strand: str,
                       fasta: Optional[Path]) -> tuple[str, Optional[str], int]:
    """(sequence, chromosome, start) from --sequence, or from --species and --region (on --strand)."""
    from plantllm.core.sequence import invalid_positions, reverse_complement

    if sequence is not None:
        seq = sequence.strip()
        bad = invalid_positions(seq)
        if len(bad):
            raise PlantLLMError(f"--sequence: '{seq[int(bad[0])]}' at position {int(bad[0]) + 1} is not a "
                                "nucleotide code")
        return seq, None, 0
    if not (species and region):
        raise PlantLLMError("give --sequence, or --species and --region")
    from plantllm.species.assembly import Assembly

    if strand not in ("+", "-"):
        raise PlantLLMError("--strand must be + or -")
    asm = Assembly(species, fasta=fasta)
    [(chrom, start, end)] = regions_of(asm, [region])
    seq = asm.genome.fetch(chrom, start, end)
    return (reverse_complement(seq) if strand == "-" else seq), chrom, start
