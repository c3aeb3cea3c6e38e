"""``plantllm species``: list, show, validate and write species cards; combine polyploid references."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from plantllm.cli.options import CardArg, FastaOpt, GffOpt, RepOpt, RepSrcOpt, key_values, out_option
from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError

app = typer.Typer(no_args_is_help=True, help="Species cards: list, show, init, validate.")


@app.command("list")
def species_list() -> None:
    """List the species cards plantllm knows (shipped, ./species, $PLANTLLM_SPECIES_PATH)."""
    from plantllm.species.card import available, load_card

    t = Table("name", "species", "assembly", "ploidy", "chromosomes", "card")
    for name, path in available().items():
        c = load_card(path)
        t.add_row(name, c.scientific_name, c.assembly, str(c.ploidy),
                  f"{len(c.nuclear)} + {len(c.organelles)} org.", str(path))
    con.out.print(t)


@app.command("show")
def species_show(
    name: str = CardArg,
    fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt, repeats: Optional[Path] = RepOpt,
    repeat_source: Optional[str] = RepSrcOpt,
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the summary as JSON."),
) -> None:
    """Summarize an assembly: sequences, N / soft-masked / GC, genes, repeats, subgenomes."""
    from plantllm.species.assembly import Assembly, summarize

    asm = Assembly(name, fasta=fasta, gff=gff, repeats=repeats, repeat_source=repeat_source)
    with con.status(f"reading {asm.card.name} ({asm.card.assembly})"):
        s = summarize(asm)
    _print_summary(s, asm.card.repeats.source)
    if json_out:
        from plantllm.core.io import atomic_write

        with atomic_write(json_out) as fh:
            json.dump({"species": s.card.name, "assembly": s.card.assembly,
                       "sequences": [q.__dict__ for q in s.sequences], "repeat_bp": s.repeat_bp,
                       "annotation": s.counts, "subgenome_bp": s.subgenome_bp,
                       "homeolog_groups": s.homeolog_groups},
                      fh, indent=2)


def _print_summary(s, repeat_source: str) -> None:
    """The table and lines ``species show`` prints for an assembly summary."""
    c = s.card
    con.out.print(f"[bold]{c.scientific_name or c.name}[/] {c.assembly} {c.accession}  ploidy {c.ploidy}  "
                  f"card {c.source}")
    t = Table("chromosome", "in FASTA", "length", "N %", "soft-masked %", "GC %", "repeats %", "subgenome", "type")
    for q in s.sequences:
        t.add_row(q.name, q.file_name, f"{q.length:,}", f"{100 * q.n_fraction:.2f}",
                  f"{100 * q.soft_masked_fraction:.1f}", f"{100 * q.gc:.1f}",
                  f"{100 * s.repeat_bp.get(q.name, 0) / q.length:.1f}", q.subgenome or "-", q.organelle or "nuclear")
    con.out.print(t)
    if s.counts:
        con.out.print("annotation: " + ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in s.counts.items()))
    con.out.print(f"repeats ({repeat_source}): {sum(s.repeat_bp.values()):,} bp")
    if s.subgenome_bp:
        con.out.print(f"ploidy {c.ploidy}; subgenomes: " + ", ".join(
            f"{k} {v:,} bp ({sum(1 for q in s.sequences if q.subgenome == k)} chromosomes)"
            for k, v in s.subgenome_bp.items()))
    if s.homeolog_groups:
        con.out.print(f"homeolog groups: {s.homeolog_groups['groups']:,} covering {s.homeolog_groups['genes']:,} genes "
                      f"({c.homeologs})")


@app.command("validate")
def species_validate(
    card: str = CardArg,
    fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt, repeats: Optional[Path] = RepOpt,
    repeat_source: Optional[str] = RepSrcOpt,
) -> None:
    """Check a card and its files: keys, aliases, chromosome names and lengths, GFF, repeats."""
    from plantllm.species.assembly import Assembly, validate

    asm = Assembly(card, fasta=fasta, gff=gff, repeats=repeats, repeat_source=repeat_source)
    with con.status(f"validating {asm.card.name}"):
        v = validate(asm)
    for w in v.warnings:
        con.warn(w)
    for e in v.errors:
        con.error(e)
    if not v.ok:
        raise typer.Exit(2)
    con.info(f"[green]ok[/]: {asm.card.name} ({asm.card.assembly}) card and files agree")


@app.command("init")
def species_init(
    name: str = typer.Argument(..., help="Name of the new species card (e.g. solanum_tuberosum)."),
    fasta: Path = typer.Option(..., "--fasta", help="The assembly FASTA (plain, gzip or bgzip)."),
    gff: Optional[Path] = typer.Option(None, "--gff", help="Its GFF3/GTF annotation."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Card path (default species/NAME.yaml)."),
    assembly: Optional[str] = typer.Option(None, "--assembly", help="Assembly name."),
    ploidy: int = typer.Option(2, "--ploidy"),
    repeats: Optional[Path] = RepOpt, repeat_source: Optional[str] = RepSrcOpt,
    force: bool = typer.Option(False, "--force", help="Overwrite an existing card."),
) -> None:
    """Write a new card from a lab's FASTA (and GFF, repeats): names and lengths filled in."""
    from plantllm.species.assembly import init_card

    dest = out or Path("species") / f"{name}.yaml"
    if dest.exists() and not force:
        raise PlantLLMError(f"{dest} exists", fix="pass --force to overwrite or choose --out")
    with con.status(f"reading {fasta}"):
        path = init_card(name, fasta, dest, gff=gff, assembly=assembly, ploidy=ploidy, repeats=repeats,
                         repeat_source=repeat_source)
    con.info(f"wrote {path}; check it with: plantllm species validate {path}")


@app.command("combine")
def species_combine(
    name: str = typer.Argument(..., help="Name of the combined reference (e.g. arabidopsis_suecica_tt_aa)."),
    part: list[str] = typer.Option(..., "--part", help="LABEL=CARD for each subgenome, e.g. T=arabidopsis_thaliana."),
    out: Path = out_option("Folder for the FASTA, GFF3 and card."),
    ploidy: Optional[int] = typer.Option(None, "--ploidy", help="Default: the sum of the parts' ploidies."),
) -> None:
    """Join assemblies into one polyploid reference, one subgenome each (A. suecica-style)."""
    from plantllm.species.polyploid import combine

    parts = key_values(part, "--part", "LABEL=CARD")
    if len(parts) < 2:
        raise PlantLLMError("give at least two --part LABEL=CARD")
    with con.status("writing the combined reference"):
        path = combine(name, parts, out, ploidy=ploidy)
    con.info(f"wrote {path}; next: plantllm species homeologs {path} -o {out}/homeologs.tsv")


@app.command("homeologs")
def species_homeologs(
    card: str = typer.Argument(..., help="Card name or path (subgenomes from the card)."),
    out: Path = out_option("TSV gene<TAB>group."),
    families: bool = typer.Option(False, "--families", help="Gene families within the genome (diploids)."),
    min_similarity: float = typer.Option(0.3, "--min-similarity", help="Protein 5-mer cosine similarity cut-off."),
    fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt,
) -> None:
    """Find homeolog groups (best reciprocal protein hits between subgenomes) and write them as a table."""
    from plantllm.species.assembly import Assembly
    from plantllm.species.homeologs import find_homeologs, write_groups

    asm = Assembly(card, fasta=fasta, gff=gff)
    if not asm.card.subgenomes and not families:
        raise PlantLLMError(f"{asm.card.name} has no subgenomes", fix="add subgenomes to the card or pass --families")
    with con.status("translating canonical CDSs and comparing proteins"):
        r = find_homeologs(asm, min_similarity=min_similarity, families=families)
    write_groups(r, out)
    con.info(f"wrote {out}: {len(r.pairs):,} pairs in {len(set(r.groups.values())):,} groups; add "
             f"'homeologs: {out}' to the card to keep groups on one side of every split")
