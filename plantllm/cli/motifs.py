"""``plantllm motifs`` (motif discovery) and ``plantllm mutagenesis`` (in-silico saturation mutagenesis)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from plantllm.cli.options import FastaOpt, RemoteCodeOpt, TargetOpt, out_option, regions_of
from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError


class _DiscoverByDefault(TyperGroup):
    """``plantllm motifs MODEL -o OUT ...`` stays discovery: arguments that do not name a subcommand
    (or ask for the group's --help) go to ``discover``."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] != "--help":
            args = ["discover", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_DiscoverByDefault, no_args_is_help=True,
                  help="Motif discovery (`plantllm motifs MODEL -o OUT`, the same as `plantllm motifs discover "
                       "MODEL -o OUT`) and motifs matched across species (`plantllm motifs compare`).")


@app.command("discover")
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


@app.command("compare")
def compare_cmd(
    species: list[str] = typer.Argument(..., help="NAME=FOLDER per species, each a `plantllm motifs` output "
                                                   "(with --model: NAME=FASTA or NAME=DATASET folder)."),
    out: Path = out_option("Output folder (clusters.tsv, members.tsv, motifs.meme, PNGs, report.md)."),
    max_q: float = typer.Option(0.05, "--max-q", help="Two motifs match when TOMTOM's q-value (BH over the "
                                                      "other species' motifs) is at most this, both ways."),
    max_evalue: Optional[float] = typer.Option(None, "--max-evalue", help="Or: match on TOMTOM's E-value "
                                                                          "(p x motifs) at most this."),
    model: Optional[Path] = typer.Option(None, "--model", help="Run discovery per species first with this "
                                                               "fine-tuned classifier (into OUT/species/NAME)."),
    kmers_only: bool = typer.Option(False, "--kmers-only", help="Or: run only the 6-mer enrichment baseline per "
                                                                "species (no model; NAME=FASTA or NAME=DATASET)."),
    split: str = typer.Option("test", "--split", help="With --model and datasets: the split to explain."),
    label: int = typer.Option(1, "--label", help="With --model and datasets: explain this label."),
    n: int = typer.Option(200, "--n", help="With --model: at most this many sequences per species."),
    method: str = typer.Option("ism", "--method", help="With --model: ism or ig."),
    fdr: float = typer.Option(0.1, "--fdr", help="With --model: target FDR of seqlet calls."),
    min_seqlets: int = typer.Option(5, "--min-seqlets", help="With --model: smallest motif (seqlets)."),
    trust_remote_code: bool = RemoteCodeOpt,
) -> None:
    """Motifs matched across species with TOMTOM: shared and species-specific motifs, as a table, MEME, plots."""
    from plantllm.apps.motif_comparison import parse_named
    from plantllm.apps.motif_comparison_report import compare_folders

    named = parse_named(species)
    if model is not None or kmers_only:
        named = _discover_each(model, named, out, split=split, label=label, n=n, method=method, fdr=fdr,
                               min_seqlets=min_seqlets, trust_remote_code=trust_remote_code)
    s = compare_folders(named, out, max_q=max_q, max_evalue=max_evalue)
    for tag, d in s["sources"].items():
        con.info(f"{tag} motifs ({', '.join(f'{k} {v}' for k, v in d['motifs'].items())}): {d['clusters']} clusters, "
                 f"{d['shared']} shared, named shared elements: {', '.join(d['shared_elements']) or 'none'}")
    con.info(f"wrote {out}/clusters.tsv, motifs.meme, presence.png, shared_logos.png, report.md")


def _discover_each(model: Optional[Path], named: list[tuple[str, Path]], out: Path, **kw) -> list[tuple[str, Path]]:
    """Motif discovery per species (NAME=FASTA or NAME=DATASET) with one model, or the k-mer baseline alone
    (model None) -> [(name, its output folder)]."""
    from plantllm.apps.motif_comparison_report import discover_kmers
    from plantllm.apps.motif_discovery import discover, read_sequences
    from plantllm.core.errors import MissingFileError

    for name, path in named:  # every input checked before the first (slow) discovery
        if not path.exists():
            raise MissingFileError(f"{name}: FASTA or dataset folder not found", path=path)
    inputs = []
    for name, path in named:
        ds = path.is_dir()
        fg, bg, names, desc = read_sequences(dataset=path if ds else None, fasta=None if ds else path,
                                             split=kw["split"], label=kw["label"], n=kw["n"])
        inputs.append((name, fg, bg, names, desc))
    done = []
    for name, fg, bg, names, desc in inputs:
        con.info(f"motif discovery in {name}: {desc}")
        if model is None:
            discover_kmers(fg, out / "species" / name, background=bg, description=f"{name}: {desc}")
            done.append((name, out / "species" / name))
            continue
        discover(model, fg, out / "species" / name, background=bg, names=names, method=kw["method"],
                 description=f"{name}: {desc}", fdr=kw["fdr"], min_size=kw["min_seqlets"],
                 trust_remote_code=kw["trust_remote_code"])
        done.append((name, out / "species" / name))
    return done


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
