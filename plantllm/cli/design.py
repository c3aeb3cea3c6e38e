"""``plantllm design promoters``: model-guided promoter design under a lab's constraints."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from plantllm.cli.options import FastaOpt, PrecisionOpt, RegionsOpt, RemoteCodeOpt, comma_list, out_option
from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError

app = typer.Typer(no_args_is_help=True, help="Design sequences with a fine-tuned model.")


@app.command("promoters")
def promoters_cmd(
    model: Path = typer.Argument(..., help="Fine-tuned classifier or regressor folder (e.g. a promoter model)."),
    out: Path = out_option("Output folder (designs.fa, rounds.tsv, trajectory.png, logos/, edits.tsv, summary.json)."),
    starts_fasta: Optional[Path] = typer.Option(None, "--starts", help="FASTA of start sequences."),
    species: Optional[str] = typer.Option(None, "--species", help="Species card: --genes, --region, --random GC."),
    genes: str = typer.Option("", "--genes", help="Start from these genes' promoters (model's window; comma sep.)."),
    region: list[str] = RegionsOpt,
    strand: str = typer.Option("+", "--strand", help="Strand of the --region sequences."),
    random: int = typer.Option(0, "--random", help="Start from N random sequences, GC-matched to --species."),
    length: Optional[int] = typer.Option(None, "--length", help="Length of --random starts (default: the model's window)."),
    random_gc: Optional[float] = typer.Option(None, "--random-gc", help="GC of --random starts instead of the species'."),
    goal: str = typer.Option("maximize", "--goal", help="maximize, minimize or target (with --value)."),
    value: Optional[float] = typer.Option(None, "--value", help="The score to reach with --goal target."),
    output: Optional[int] = typer.Option(None, "--output", help="Model output (class or regression target) to design for."),
    method: str = typer.Option("greedy", "--method", help="greedy, beam or anneal (simulated annealing)."),
    width: int = typer.Option(1, "--width", help="Beam width / annealing chains: designs per start."),
    rounds: int = typer.Option(10, "--rounds", help="Rounds of saturation mutagenesis."),
    temperature: str = typer.Option("0.5-0.01", "--temperature", help="Annealing temperature START-END (fitness units)."),
    indels: bool = typer.Option(False, "--indels", help="Also try single-base insertions and deletions."),
    seed: int = typer.Option(0, "--seed", help="Seed of random starts and annealing."),
    gc: str = typer.Option("0-1", "--gc", help="GC range every design keeps, e.g. 0.3-0.5."),
    forbid_enzyme: str = typer.Option("", "--forbid-enzyme", help="No sites of these enzymes, both strands (e.g. BsaI,BsmBI)."),
    max_homopolymer: Optional[int] = typer.Option(None, "--max-homopolymer", help="No run of one base longer than N."),
    avoid: str = typer.Option("", "--avoid", help="Motifs to avoid: JASPAR IDs (MA0931.1), jaspar:NAME or IUPAC."),
    keep: str = typer.Option("", "--keep", help="Motifs every design keeps where the start has them (same forms)."),
    motif_rel_score: float = typer.Option(0.85, "--motif-rel-score", help="JASPAR hit: score >= this share of its range."),
    max_edits: Optional[int] = typer.Option(None, "--max-edits", help="At most N edits from the start sequence."),
    freeze: list[str] = typer.Option([], "--freeze", help="Never edit: 220-260 (1-based) or tss-30:tss+10 (repeatable)."),
    fasta: Optional[Path] = FastaOpt,
    batch_size: int = typer.Option(256, "--batch-size"),
    no_logos: bool = typer.Option(False, "--no-logos", help="Skip the per-design logos."),
    precision: str = PrecisionOpt,
    trust_remote_code: bool = RemoteCodeOpt,
) -> None:
    """In-silico evolution of promoters towards a target score, keeping GC, sites, motifs and an edit budget."""
    from plantllm.apps import design_starts as st
    from plantllm.apps.design import DesignModel, SearchParams
    from plantllm.apps.design_constraints import (Constraints, motifs_of, parse_freeze, parse_gc,
                                                  restriction_enzymes)
    from plantllm.apps.design_report import design_promoters

    try:
        t0, t1 = (float(x) for x in temperature.split("-"))
    except ValueError:
        raise PlantLLMError(f"--temperature '{temperature}' must be START-END, e.g. 0.5-0.01") from None
    params = SearchParams(method, width, rounds, indels, t0, t1, seed)
    lo, hi = parse_gc(gc)
    cons_kw = dict(gc_min=lo, gc_max=hi, enzymes=restriction_enzymes(comma_list(forbid_enzyme)),
                   max_homopolymer=max_homopolymer, avoid=motifs_of(comma_list(avoid), motif_rel_score, "--avoid"),
                   keep=motifs_of(comma_list(keep), motif_rel_score, "--keep"), max_edits=max_edits)
    Constraints(**cons_kw)  # constraint errors before the model loads
    dm = DesignModel(model, output=output, goal=goal, value=value, batch_size=batch_size, precision=precision,
                     trust_remote_code=trust_remote_code)
    from plantllm.data.promoter_window import PromoterWindow

    window = dm.window or PromoterWindow()  # the model's promoter window, else the default -249..+50
    cons = Constraints(**cons_kw, frozen=parse_freeze(freeze, window.upstream))
    sources = sum(bool(x) for x in (starts_fasta, genes, region, random))
    if sources != 1:
        raise PlantLLMError("give exactly one of --starts FASTA, --genes, --region or --random N")
    if starts_fasta is not None:
        starts = st.from_fasta(starts_fasta)
    else:
        if species is None:
            raise PlantLLMError("--genes, --region and --random need --species (a card name or path)")
        from plantllm.cli.options import regions_of
        from plantllm.species.assembly import Assembly

        asm = Assembly(species, fasta=fasta)
        if genes:
            starts = st.from_genes(asm, comma_list(genes), window)
        elif region:
            starts = st.from_regions(asm, regions_of(asm, region), strand)
        else:
            n = length or window.length
            g = random_gc if random_gc is not None else st.species_gc(asm, n, seed)
            starts = st.random_starts(random, n, g, cons, seed)
    s = design_promoters(dm, starts, cons, params, out, logos=not no_logos)
    best = max(s["designs"], key=lambda d: d["score"] if goal != "minimize" else -d["score"])
    con.info(f"{len(s['designs'])} designs from {s['starts']} starts in {s['rounds_run']} rounds "
             f"({s['candidates_scored']:,} candidates scored, {s['seconds']} s); best {best['design']}: "
             f"{s['score']} {best['start_score']:.3f} -> {best['score']:.3f} with {best['edits']} edits; wrote {out}/")
