"""``plantllm compare``: comparative genomics across species: orthologous regions, and elements conserved in
sequence and in a masked LM's zero-shot constraint."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from plantllm.cli.options import PrecisionOpt, comma_list, out_option
from plantllm.core import console as con

app = typer.Typer(no_args_is_help=True, help="Comparative genomics: orthologous regions across species, elements "
                                             "conserved in sequence and in model constraint.")


@app.command("orthologs")
def orthologs_cmd(
    reference: str = typer.Argument(..., help="Reference species card (name or path)."),
    others: list[str] = typer.Argument(..., help="Other species cards."),
    out: Path = out_option("Output folder (orthologs.tsv, fasta/<species>.fa, summary.json)."),
    genes: str = typer.Option("", "--genes", help="Reference genes: loci, comma separated, or a file, one per line."),
    n_genes: int = typer.Option(0, "--n-genes", help="Draw this many coding genes of the reference at random."),
    bed: Optional[Path] = typer.Option(None, "--bed", help="Reference regions (BED; name and strand columns used)."),
    table: Optional[Path] = typer.Option(None, "--table", help="Your own table: group, species, chrom, start, end, "
                                         "strand (0-based, half-open)."),
    upstream: int = typer.Option(1000, "--upstream", help="Promoter window: bases before the TSS."),
    downstream: int = typer.Option(0, "--downstream", help="Promoter window: bases after the TSS."),
    method: str = typer.Option("auto", "--method", help="auto (proteins between annotated species, minimap2 for a "
                               "genome without annotation), proteins or map."),
    min_similarity: float = typer.Option(0.3, "--min-similarity", help="Protein 5-mer cosine of a reciprocal best hit."),
    anchor: int = typer.Option(1000, "--anchor", help="Bases of the gene's 5' end mapped with its promoter (minimap2)."),
    min_coverage: float = typer.Option(0.3, "--min-coverage", help="Share of the mapped sequence that must align."),
    seed: int = typer.Option(0, "--seed", help="Seed of --n-genes."),
) -> None:
    """Find each reference gene's promoter (or BED region) in the other species; write a table and a FASTA per
    species."""
    from plantllm.apps.orthologs import (OrthologParams, OrthologResult, find_orthologs, read_table,
                                         write_orthologs)
    from plantllm.core.errors import PlantLLMError
    from plantllm.species.assembly import Assembly

    loaded = [Assembly(name) for name in [reference, *others]]
    asms = {a.card.name: a for a in loaded}
    if len(asms) != len(loaded):
        raise PlantLLMError(f"a species is given twice: {reference} {' '.join(others)}", fix="name each species once")
    ref, rest = loaded[0], loaded[1:]
    params = OrthologParams(upstream=upstream, downstream=downstream, method=method, min_similarity=min_similarity,
                            anchor=anchor, min_coverage=min_coverage)
    modes = sum(bool(x) for x in (genes, n_genes, bed, table))
    if modes != 1:
        raise PlantLLMError("give exactly one of --genes, --n-genes, --bed or --table")
    if table is not None:
        regions = read_table(table, asms)
        if not any(r.species == ref.card.name for r in regions):
            raise PlantLLMError(f"the table has no region of the reference {ref.card.name}", path=table)
        result = OrthologResult(regions, ref.card.name, list(asms), {"table": {"regions": len(regions)}})
    else:
        bed_regions = _bed(ref, bed) if bed is not None else None
        gene_list = _genes(genes) if genes else None
        result = find_orthologs(ref, rest, params, genes=gene_list, n_genes=n_genes or None, bed=bed_regions,
                                seed=seed)
    s = write_orthologs(result, asms, out, params)
    con.info(f"{s['groups']:,} groups, {s['groups_in_every_species']:,} found in every species; regions per "
             f"species: {', '.join(f'{k} {v:,}' for k, v in s['regions_per_species'].items())}; {out}/orthologs.tsv, "
             f"{out}/fasta/")


def _genes(text: str) -> list[str]:
    p = Path(text)
    if p.is_file():
        return [x.split("\t")[0].strip() for x in p.read_text().splitlines() if x.strip() and not x.startswith("#")]
    return comma_list(text)


def _bed(asm, path: Path) -> list[tuple[str, str, int, int, str]]:
    from plantllm.species.regions import bed_records

    recs, _ = bed_records(path, asm.card, "reference regions BED")
    out, names = [], set()
    for chrom, r in recs:
        name = r.name if r.name not in ("", ".") else f"region_{r.line}"
        strand = r.strand if r.strand in ("+", "-") else "+"
        if name in names:
            name = f"{name}_{r.line}"
        names.add(name)
        out.append((name, chrom, r.start, r.end, strand))
    return out


@app.command("conserved")
def conserved_cmd(
    orthologs: Path = typer.Argument(..., help="Folder written by 'plantllm compare orthologs'."),
    model: Path = typer.Option(..., "--model", help="Masked LM folder (its zero-shot LLR is the constraint)."),
    out: Path = out_option("Output folder (elements BED, bigWigs, groups.tsv, plot, summary.json)."),
    window: int = typer.Option(20, "--window", help="Sliding window (alignment columns) of identity and constraint."),
    min_identity: float = typer.Option(0.8, "--min-identity", help="Windowed identity in every species for a "
                                       "sequence-conserved column."),
    constraint_quantile: float = typer.Option(0.2, "--constraint-quantile", help="A column is constrained in a "
                                              "species when its windowed mean LLR is in this lowest share of that "
                                              "species' scored positions."),
    min_length: int = typer.Option(15, "--min-length", help="Shortest element (bp of the reference)."),
    min_aligned: float = typer.Option(0.5, "--min-aligned", help="A species whose region aligns to less of the "
                                      "reference region leaves the group."),
    flank: int = typer.Option(100, "--flank", help="Widen the other species' regions by this much on each side "
                              "before aligning (their TSS may be annotated elsewhere)."),
    score_window: int = typer.Option(128, "--score-window", help="Model context around each scored base (bp)."),
    batch_size: int = typer.Option(64, "--batch-size"),
    plot_group: str = typer.Option("", "--plot-group", help="Group to plot (default: the one with most elements)."),
    species: str = typer.Option("", "--species", help="Only these species (comma separated; reference included)."),
    precision: str = PrecisionOpt,
) -> None:
    """Align each ortholog group to the reference, score every base of every species with the model, and call
    elements conserved in sequence, in constraint and in both."""
    from plantllm.apps.conserved import ConservedParams, run_conserved

    params = ConservedParams(window=window, min_identity=min_identity, constraint_quantile=constraint_quantile,
                             min_length=min_length, min_aligned=min_aligned, flank=flank,
                             score_window=score_window, batch_size=batch_size)
    s = run_conserved(orthologs, model, out, params, plot_group=plot_group or None,
                      species=comma_list(species) or None, precision=precision)
    e = s["elements"]
    con.info(f"{s['groups_aligned']:,} groups aligned; elements conserved in sequence {e['sequence']:,}, in "
             f"constraint {e['constraint']:,}, in both {e['both']:,}; {out}/")
