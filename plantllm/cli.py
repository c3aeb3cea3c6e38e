"""The ``plantllm`` command line: a thin layer over the library.

Every command is file-in/file-out and calls one library function with the same
arguments. User errors (``PlantLLMError``) become one red line and exit status 2;
``plantllm --debug ...`` shows the traceback instead.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from plantllm import __version__
from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError, did_you_mean

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Plant DNA language models: species -> datasets -> model -> training -> applications.")
_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"plantllm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="Show Python tracebacks for errors."),
) -> None:
    _state["debug"] = debug


# ------------------------------------------------------------------ species
species_app = typer.Typer(no_args_is_help=True, help="Species cards: list, show, init, validate.")
app.add_typer(species_app, name="species")

FastaOpt = typer.Option(None, "--fasta", help="FASTA to use instead of the card's.")
GffOpt = typer.Option(None, "--gff", help="GFF3/GTF to use instead of the card's.")
RepOpt = typer.Option(None, "--repeats", help="Repeat annotation to use instead of the card's.")
RepSrcOpt = typer.Option(None, "--repeat-source", help="soft_mask, rmsk_out, rmsk_table, te_gff, bed or none.")


@species_app.command("list")
def species_list() -> None:
    """List the species cards plantllm knows (shipped, ./species, $PLANTLLM_SPECIES_PATH)."""
    from plantllm.species.card import available, load_card

    t = Table("name", "species", "assembly", "ploidy", "chromosomes", "card")
    for name, path in available().items():
        c = load_card(path)
        t.add_row(name, c.scientific_name, c.assembly, str(c.ploidy),
                  f"{len(c.nuclear)} + {len(c.organelles)} org.", str(path))
    con.out.print(t)


@species_app.command("show")
def species_show(
    name: str = typer.Argument(..., help="Card name or path."),
    fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt, repeats: Optional[Path] = RepOpt,
    repeat_source: Optional[str] = RepSrcOpt,
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the summary as JSON."),
) -> None:
    """Summarize an assembly: sequences, N / soft-masked / GC, genes, repeats, subgenomes."""
    from plantllm.species.assembly import Assembly, summarize

    asm = Assembly(name, fasta=fasta, gff=gff, repeats=repeats, repeat_source=repeat_source)
    with con.status(f"reading {asm.card.name} ({asm.card.assembly})"):
        s = summarize(asm)
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
    con.out.print(f"repeats ({asm.card.repeats.source}): {sum(s.repeat_bp.values()):,} bp")
    if s.subgenome_bp:
        con.out.print(f"ploidy {c.ploidy}; subgenomes: " + ", ".join(
            f"{k} {v:,} bp ({sum(1 for q in s.sequences if q.subgenome == k)} chromosomes)"
            for k, v in s.subgenome_bp.items()))
    if s.homeolog_groups:
        con.out.print(f"homeolog groups: {s.homeolog_groups['groups']:,} covering {s.homeolog_groups['genes']:,} genes "
                      f"({c.homeologs})")
    if json_out:
        from plantllm.core.io import atomic_write

        with atomic_write(json_out) as fh:
            json.dump({"species": c.name, "assembly": c.assembly, "sequences": [q.__dict__ for q in s.sequences],
                       "repeat_bp": s.repeat_bp, "annotation": s.counts, "subgenome_bp": s.subgenome_bp,
                       "homeolog_groups": s.homeolog_groups},
                      fh, indent=2)


@species_app.command("validate")
def species_validate(
    card: str = typer.Argument(..., help="Card name or path."),
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


@species_app.command("init")
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


# ------------------------------------------------------------------ data
data_app = typer.Typer(no_args_is_help=True, help="Build datasets: pretraining corpus, promoter, motif and variant "
                                                  "tasks (Hugging Face datasets on disk, with a manifest).")
app.add_typer(data_app, name="data")


def _splitter(val_fraction: float, test_fraction: float, block_size: int, val_chroms: str, test_chroms: str,
              seed: int, asm, homeologs: Optional[Path] = None):
    """Block/chromosome splitter; homeolog-group aware when the card or --homeologs gives groups."""
    from plantllm.data.splits import Splitter

    def names(s: str) -> tuple[str, ...]:
        return tuple(asm.card.canonical(x.strip()) for x in s.split(",") if x.strip())

    base = Splitter(val_fraction, test_fraction, block_size, names(val_chroms), names(test_chroms), seed)
    if homeologs:
        asm.card.homeologs = homeologs
    if asm.card.homeologs is None:
        return base
    from plantllm.species.polyploid import GroupSplitter

    gs = GroupSplitter(base, asm, asm.homeologs)
    naive = gs.naive_leakage
    con.info(f"homeolog-aware split: a plain split would put {naive['groups_in_train_and_test']:,} of "
             f"{naive['groups']:,} homeolog groups in both train and test")
    return gs


def _subgenome_weights(text: str) -> dict[str, float]:
    """'A=1,B=2' -> {'A': 1.0, 'B': 2.0}, with a one-line error for anything else."""
    out = {}
    for item in filter(None, text.split(",")):
        k, _, v = item.partition("=")
        try:
            out[k.strip()] = float(v)
        except ValueError:
            raise PlantLLMError(f"--subgenome-weights item '{item}' is not LABEL=NUMBER") from None
    return out


SpeciesArg = typer.Argument(..., help="Species card name or path.")
OutOpt = typer.Option(..., "--out", "-o", help="Output dataset folder.")
ValFrac = typer.Option(0.1, "--val-fraction", help="Share of genome blocks held out for validation.")
TestFrac = typer.Option(0.1, "--test-fraction", help="Share of genome blocks held out for test.")
BlockOpt = typer.Option(1_000_000, "--block-size", help="Blocks (bp) assigned to one split as a whole.")
ValChr = typer.Option("", "--val-chroms", help="Chromosomes held out for validation (comma separated).")
TestChr = typer.Option("", "--test-chroms", help="Chromosomes held out for test (comma separated).")
SeedOpt = typer.Option(0, "--seed")
ForceOpt = typer.Option(False, "--force", help="Rebuild even when the manifest matches.")
HomeoOpt = typer.Option(None, "--homeologs", help="gene<TAB>group table: keep each group in one split.")


@data_app.command("pretrain")
def data_pretrain(
    species: str = SpeciesArg, out: Path = OutOpt, fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt,
    length: int = typer.Option(512, "--length", help="Window length (bp)."),
    stride: int = typer.Option(512, "--stride", help="Step between window starts (bp)."),
    regions: str = typer.Option("all", "--regions", help="all, genes, promoters or intergenic."),
    flank: int = typer.Option(1000, "--flank", help="Flank around genes/TSSs for --regions (bp)."),
    max_n: float = typer.Option(0.1, "--max-n", help="Drop windows with more N than this fraction."),
    rc: bool = typer.Option(False, "--rc-augment", help="Add the reverse complement of each training window."),
    balance: str = typer.Option("none", "--balance", help="Subgenome sampling: none, equal, proportional, weights."),
    weights: str = typer.Option("", "--subgenome-weights", help="A=1,B=2 with --balance weights."),
    chroms: str = typer.Option("", "--chromosomes", help="Only these chromosomes (comma separated)."),
    val_fraction: float = ValFrac, test_fraction: float = TestFrac, block_size: int = BlockOpt,
    val_chroms: str = ValChr, test_chroms: str = TestChr, seed: int = SeedOpt, force: bool = ForceOpt,
    homeologs: Optional[Path] = HomeoOpt,
) -> None:
    """Pretraining windows over nuclear chromosomes (or regions), with repeat masks and weights."""
    from plantllm.species.assembly import Assembly
    from plantllm.data.tasks.pretrain import WindowParams, build_pretrain

    asm = Assembly(species, fasta=fasta, gff=gff)
    params = WindowParams(length, stride, max_n, regions, flank, rc, balance, _subgenome_weights(weights),
                          tuple(x for x in chroms.split(",") if x))
    m = build_pretrain(asm, out, params, _splitter(val_fraction, test_fraction, block_size, val_chroms,
                                                   test_chroms, seed, asm, homeologs), seed=seed, force=force)
    con.out.print(json.dumps(m["split_sizes"]))


@data_app.command("promoter")
def data_promoter(
    species: str = SpeciesArg, out: Path = OutOpt, fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt,
    upstream: int = typer.Option(249, "--upstream", help="Bases before the TSS."),
    downstream: int = typer.Option(50, "--downstream", help="Bases after the TSS."),
    negatives: str = typer.Option("gc_matched", "--negatives", help="random, gc_matched, shuffle or gene_body."),
    exclusion: int = typer.Option(1000, "--exclusion", help="Negatives at least this far from any TSS (bp)."),
    all_genes: bool = typer.Option(False, "--all-genes", help="Include non-coding genes' TSSs."),
    strength: Optional[Path] = typer.Option(None, "--strength", help="TSV gene<TAB>value for a regression target."),
    balance: str = typer.Option("none", "--balance", help="Subgenome shares of the promoters: none, equal, weights."),
    weights: str = typer.Option("", "--subgenome-weights", help="A=1,B=2 with --balance weights."),
    val_fraction: float = ValFrac, test_fraction: float = TestFrac, block_size: int = BlockOpt,
    val_chroms: str = ValChr, test_chroms: str = TestChr, seed: int = SeedOpt, force: bool = ForceOpt,
    homeologs: Optional[Path] = HomeoOpt,
) -> None:
    """Promoter task: TSS-centred windows (default -249..+50) vs. balanced negatives."""
    from plantllm.species.assembly import Assembly
    from plantllm.data.tasks.promoter import PromoterParams, build_promoter

    asm = Assembly(species, fasta=fasta, gff=gff)
    params = PromoterParams(upstream, downstream, negatives, exclusion, not all_genes,
                            strength_table=str(strength) if strength else None, balance=balance,
                            subgenome_weights=_subgenome_weights(weights) or None)
    m = build_promoter(asm, out, params, _splitter(val_fraction, test_fraction, block_size, val_chroms,
                                                   test_chroms, seed, asm, homeologs), seed=seed, force=force)
    con.out.print(json.dumps(m["split_sizes"]))


@data_app.command("motif")
def data_motif(
    species: str = SpeciesArg, out: Path = OutOpt, fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt,
    peaks: list[str] = typer.Option([], "--peaks", help="TF=peaks.bed (repeatable): ChIP/DAP-seq peaks."),
    jaspar: str = typer.Option("", "--jaspar", help="JASPAR Plantae matrices, e.g. MA0931.1,TCP4,WRKY12."),
    length: int = typer.Option(200, "--length", help="Window length around peak summits (bp)."),
    rel_score: float = typer.Option(0.85, "--rel-score", help="JASPAR hit threshold (fraction of score range)."),
    val_fraction: float = ValFrac, test_fraction: float = TestFrac, block_size: int = BlockOpt,
    val_chroms: str = ValChr, test_chroms: str = TestChr, seed: int = SeedOpt, force: bool = ForceOpt,
    homeologs: Optional[Path] = HomeoOpt,
) -> None:
    """Motif task: peak windows vs. GC-matched background, or promoters labelled by JASPAR scans."""
    from plantllm.species.assembly import Assembly
    from plantllm.data.tasks.motif import MotifParams, build_motif

    asm = Assembly(species, fasta=fasta, gff=gff)
    pk = {}
    for item in peaks:
        tf, sep, path = item.partition("=")
        if not sep:
            raise PlantLLMError(f"--peaks '{item}' must be TF=path.bed")
        pk[tf] = path
    params = MotifParams(length=length, peaks=pk, jaspar=tuple(x for x in jaspar.split(",") if x),
                         rel_score=rel_score)
    m = build_motif(asm, out, params, _splitter(val_fraction, test_fraction, block_size, val_chroms,
                                                test_chroms, seed, asm, homeologs), seed=seed, force=force)
    con.out.print(json.dumps(m["split_sizes"]))


@data_app.command("variants")
def data_variants(
    species: str = SpeciesArg, vcf: Path = typer.Argument(..., help="VCF/BCF (plain or bgzip)."),
    out: Path = OutOpt, fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt,
    window: int = typer.Option(512, "--window", help="Window length around each variant (bp)."),
    max_indel: int = typer.Option(50, "--max-indel", help="Longer indels are skipped (counted)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="TSV chrom, pos, ref, alt, label."),
    label_info: Optional[str] = typer.Option(None, "--label-info", help="Take the label from this INFO key."),
    val_fraction: float = ValFrac, test_fraction: float = TestFrac, block_size: int = BlockOpt,
    val_chroms: str = ValChr, test_chroms: str = TestChr, seed: int = SeedOpt, force: bool = ForceOpt,
    homeologs: Optional[Path] = HomeoOpt,
) -> None:
    """Variant task: REF/ALT windows, REF checked, region class, gene, dosage."""
    from plantllm.species.assembly import Assembly
    from plantllm.data.tasks.variants import VariantParams, build_variants

    asm = Assembly(species, fasta=fasta, gff=gff)
    params = VariantParams(window, max_indel, str(labels) if labels else None, label_info)
    m = build_variants(asm, vcf, out, params, _splitter(val_fraction, test_fraction, block_size, val_chroms,
                                                       test_chroms, seed, asm, homeologs), seed=seed, force=force)
    con.out.print(json.dumps(m["split_sizes"]))


@species_app.command("combine")
def species_combine(
    name: str = typer.Argument(..., help="Name of the combined reference (e.g. arabidopsis_suecica_tt_aa)."),
    part: list[str] = typer.Option(..., "--part", help="LABEL=CARD for each subgenome, e.g. T=arabidopsis_thaliana."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the FASTA, GFF3 and card."),
    ploidy: Optional[int] = typer.Option(None, "--ploidy", help="Default: the sum of the parts' ploidies."),
) -> None:
    """Join assemblies into one polyploid reference, one subgenome each (A. suecica-style)."""
    from plantllm.species.polyploid import combine

    parts = {}
    for item in part:
        label, sep, card = item.partition("=")
        if not sep or not label:
            raise PlantLLMError(f"--part '{item}' must be LABEL=CARD")
        parts[label] = card
    if len(parts) < 2:
        raise PlantLLMError("give at least two --part LABEL=CARD")
    with con.status("writing the combined reference"):
        path = combine(name, parts, out, ploidy=ploidy)
    con.info(f"wrote {path}; next: plantllm species homeologs {path} -o {out}/homeologs.tsv")


@species_app.command("homeologs")
def species_homeologs(
    card: str = typer.Argument(..., help="Card name or path (subgenomes from the card)."),
    out: Path = typer.Option(..., "--out", "-o", help="TSV gene<TAB>group."),
    families: bool = typer.Option(False, "--families", help="Gene families within the genome (diploids)."),
    min_similarity: float = typer.Option(0.3, "--min-similarity", help="Protein 5-mer cosine similarity cut-off."),
    fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt,
) -> None:
    """Find homeolog groups (best reciprocal protein hits between subgenomes) and write them as a table."""
    from plantllm.species.assembly import Assembly
    from plantllm.species.polyploid import find_homeologs, write_groups

    asm = Assembly(card, fasta=fasta, gff=gff)
    if not asm.card.subgenomes and not families:
        raise PlantLLMError(f"{asm.card.name} has no subgenomes", fix="add subgenomes to the card or pass --families")
    with con.status("translating canonical CDSs and comparing proteins"):
        r = find_homeologs(asm, min_similarity=min_similarity, families=families)
    write_groups(r, out)
    con.info(f"wrote {out}: {len(r.pairs):,} pairs in {len(set(r.groups.values())):,} groups; add "
             f"'homeologs: {out}' to the card to keep groups on one side of every split")


# ------------------------------------------------------------------ tokenizers and models
tok_app = typer.Typer(no_args_is_help=True, help="Tokenizers: single-nucleotide, k-mer (NT-style) and BPE.")
app.add_typer(tok_app, name="tokenizer")
model_app = typer.Typer(no_args_is_help=True, help="Models: create from configs/models, inspect local checkpoints.")
app.add_typer(model_app, name="model")


def _corpus_sequences(corpus: Optional[Path], species: Optional[str], limit_bp: int):
    """Training text for BPE: the train split of a pretraining dataset (never its test split), or the
    species' nuclear chromosomes."""
    if corpus is not None:
        import datasets

        ds = datasets.load_from_disk(str(corpus))["train"]
        total = 0
        for row in ds.select_columns(["seq"]):
            yield row["seq"]
            total += len(row["seq"])
            if total >= limit_bp:
                return
        return
    if species is None:
        raise PlantLLMError("BPE needs a corpus: pass --corpus DATASET (train split is used) or --species")
    from plantllm.species.assembly import Assembly

    asm = Assembly(species)
    total = 0
    for c in asm.genome.chromosomes():
        for _, seq in asm.genome.iter_chunks(c, chunk=1_000_000):
            yield seq
            total += len(seq)
            if total >= limit_bp:
                return


@tok_app.command("train")
def tokenizer_train(
    out: Path = typer.Option(..., "--out", "-o", help="Tokenizer folder (Hugging Face format)."),
    kind: str = typer.Option("bpe", "--kind", help="char, kmer, kmer_overlap or bpe."),
    k: int = typer.Option(6, "--k", help="k for k-mer tokenizers."),
    vocab_size: int = typer.Option(4096, "--vocab-size", help="BPE vocabulary size."),
    objective: str = typer.Option("mlm", "--objective", help="mlm ([CLS] x [SEP]) or clm ([CLS] x)."),
    max_length: int = typer.Option(1024, "--max-length"),
    case: str = typer.Option("upper", "--case", help="upper (soft-mask dropped) or keep (lowercase tokens)."),
    corpus: Optional[Path] = typer.Option(None, "--corpus", help="Pretraining dataset: BPE learns its train split."),
    species: Optional[str] = typer.Option(None, "--species", help="Or learn BPE from a species' chromosomes."),
    limit_mb: float = typer.Option(50.0, "--limit-mb", help="BPE training text cap (Mb)."),
) -> None:
    """Build a tokenizer; BPE is trained on a species corpus."""
    from plantllm.models import tokenizers as T

    kw = {"objective": objective, "max_length": max_length, "case": case}
    if kind in ("kmer", "kmer_overlap"):
        kw["k"] = k
    if kind == "bpe":
        kw.update(vocab_size=vocab_size, sequences=_corpus_sequences(corpus, species, int(limit_mb * 1e6)))
    with con.status(f"building a {kind} tokenizer"):
        tok = T.build(kind, **kw)
    T.save(tok, out)
    con.info(f"wrote {out} ({len(tok):,} tokens); AutoTokenizer.from_pretrained('{out}') opens it")


@tok_app.command("encode")
def tokenizer_encode(path: Path = typer.Argument(..., help="Tokenizer or model folder."),
                     seq: str = typer.Argument(..., help="A DNA sequence.")) -> None:
    """Show how a tokenizer cuts a sequence."""
    from plantllm.models import tokenizers as T

    tok = T.load(path)
    ids = tok(T.prepare(tok, seq))["input_ids"]
    con.out.print(" ".join(tok.convert_ids_to_tokens(ids)))


@model_app.command("create")
def model_create(
    config: Path = typer.Argument(..., help="A model config, e.g. configs/models/tiny-esm-6mer.yaml."),
    out: Path = typer.Option(..., "--out", "-o"),
    corpus: Optional[Path] = typer.Option(None, "--corpus", help="Pretraining dataset (BPE tokenizers learn it)."),
    species: Optional[str] = typer.Option(None, "--species", help="Species for BPE training and the model card."),
    seed: int = SeedOpt,
) -> None:
    """A freshly initialised model and its tokenizer, saved in the Hugging Face format."""
    from plantllm.models import checkpoint as M

    spec = M.load_spec(config)
    seqs = _corpus_sequences(corpus, species, 50_000_000) if spec.tokenizer.get("kind") == "bpe" else None
    tok = M.build_tokenizer(spec, sequences=seqs)
    model = M.create(spec, tok, seed=seed)
    M.save(model, tok, out, info={"name": spec.name, "species": species, "corpus": str(corpus) if corpus else None,
                                  "config": str(config)})
    n = sum(p.numel() for p in model.parameters())
    con.info(f"wrote {out}: {spec.architecture} {spec.objective}, {n / 1e6:.2f} M parameters, {len(tok):,} tokens")


@model_app.command("inspect")
def model_inspect(
    path: Path = typer.Argument(..., help="A local model folder (ours or a published checkpoint)."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow the checkpoint's own code."),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help="Allow pytorch_model.bin (pickle)."),
) -> None:
    """Check that a checkpoint loads safely here and describe it."""
    from plantllm.models import checkpoint as M

    model, tok = M.load(path, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    n = sum(p.numel() for p in model.parameters())
    fam = M.FAMILIES.get(model.config.model_type, {})
    con.out.print(f"{path}: {model.config.model_type} ({'native' if fam.get('native') else 'own code'}), "
                  f"{n / 1e6:.2f} M parameters, hidden {model.config.hidden_size}, tokenizer {len(tok):,} tokens "
                  f"({getattr(tok, 'plantllm', {}).get('kind', type(tok).__name__)})")
    if fam:
        con.out.print(f"family: {fam['published']}")


# ------------------------------------------------------------------ training
def _train(config: Path, task_default: str | None, dataset, model, output_dir, max_steps, deepspeed_cfg, nproc,
           hostfile, no_resume) -> None:
    import shutil
    import subprocess

    from plantllm.training.launch import main as launch_main

    args = ["--config", str(config)]
    for flag, val in (("--dataset", dataset), ("--model", model), ("--output-dir", output_dir),
                      ("--max-steps", max_steps), ("--deepspeed", deepspeed_cfg)):
        if val is not None:
            args += [flag, str(val)]
    if no_resume:
        args.append("--no-resume")
    if task_default:
        from plantllm.training.trainer import TrainConfig

        cfg = TrainConfig.load(config, dataset=str(dataset) if dataset else None, model=str(model) if model else None)
        if (cfg.task in ("mlm", "clm")) != (task_default == "lm"):
            raise PlantLLMError(f"{config} is a '{cfg.task}' config: use plantllm "
                                f"{'pretrain' if cfg.task in ('mlm', 'clm') else 'finetune'}")
    if nproc > 1 or hostfile:
        exe = shutil.which("deepspeed") or str(Path(sys.executable).with_name("deepspeed"))
        cmd = [exe] + (["--hostfile", str(hostfile)] if hostfile else []) + ["--num_gpus", str(nproc), "--module",
                                                                             "plantllm.training.launch"] + args
        con.info("running: " + " ".join(cmd))
        rc = subprocess.call(cmd)
        if rc != 0:
            raise typer.Exit(rc)
        return
    rc = launch_main(args)
    if rc != 0:
        raise typer.Exit(rc)


TrainCfgArg = typer.Argument(..., help="Training config (configs/train/*.yaml).")
DsOpt = typer.Option(None, "--dataset", help="Dataset folder (overrides the config).")
ModelOpt = typer.Option(None, "--model", help="Model config or folder (overrides the config).")
OutDirOpt = typer.Option(None, "--output-dir", "-o", help="Run folder (overrides the config).")
StepsOpt = typer.Option(None, "--max-steps")
DsCfgOpt = typer.Option(None, "--deepspeed", help="DeepSpeed JSON (overrides the config).")
NprocOpt = typer.Option(1, "--nproc", help="Processes (GPUs, or CPU ranks with gloo) through the deepspeed launcher.")
HostOpt = typer.Option(None, "--hostfile", help="deepspeed hostfile for multi-node runs.")
NoResumeOpt = typer.Option(False, "--no-resume", help="Start over even when complete checkpoints exist.")


@app.command("pretrain")
def pretrain_cmd(config: Path = TrainCfgArg, dataset: Optional[Path] = DsOpt, model: Optional[Path] = ModelOpt,
                 output_dir: Optional[Path] = OutDirOpt, max_steps: Optional[int] = StepsOpt,
                 deepspeed: Optional[Path] = DsCfgOpt, nproc: int = NprocOpt, hostfile: Optional[Path] = HostOpt,
                 no_resume: bool = NoResumeOpt) -> None:
    """Continued pretraining (or from scratch) with MLM/CLM on DeepSpeed; resumes from the last checkpoint."""
    _train(config, "lm", dataset, model, output_dir, max_steps, deepspeed, nproc, hostfile, no_resume)


@app.command("finetune")
def finetune_cmd(config: Path = TrainCfgArg, dataset: Optional[Path] = DsOpt, model: Optional[Path] = ModelOpt,
                 output_dir: Optional[Path] = OutDirOpt, max_steps: Optional[int] = StepsOpt,
                 deepspeed: Optional[Path] = DsCfgOpt, nproc: int = NprocOpt, hostfile: Optional[Path] = HostOpt,
                 no_resume: bool = NoResumeOpt) -> None:
    """Fine-tune for promoter, motif or variant tasks (classification, multi-label, regression; LoRA optional)."""
    _train(config, "task", dataset, model, output_dir, max_steps, deepspeed, nproc, hostfile, no_resume)


# ------------------------------------------------------------------ predict
predict_app = typer.Typer(no_args_is_help=True, help="Run fine-tuned models over genomes.")
app.add_typer(predict_app, name="predict")


@predict_app.command("promoters")
def predict_promoters_cmd(
    model: Path = typer.Argument(..., help="Fine-tuned promoter model folder."),
    species: str = typer.Argument(..., help="Species card name or path."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (bedGraph, BED, TSV, JSON, PNG)."),
    fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt,
    chromosomes: str = typer.Option("", "--chromosomes", help="Only these chromosomes (comma separated)."),
    region: list[str] = typer.Option([], "--region", help="Chr1:1000-2000 (1-based), repeatable."),
    bed: Optional[Path] = typer.Option(None, "--bed", help="Scan the regions of a BED file."),
    held_out: Optional[Path] = typer.Option(None, "--held-out", help="Scan the test blocks of this dataset."),
    candidates: Optional[Path] = typer.Option(None, "--candidates", help="Score a FASTA of candidate sequences."),
    stride: int = typer.Option(50, "--stride", help="Step between candidate TSSs (bp)."),
    threshold: float = typer.Option(0.5, "--threshold", help="Call bins with P(promoter) >= this."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Call the k best bins instead of a threshold."),
    batch_size: int = typer.Option(64, "--batch-size"),
    evaluate: Optional[Path] = typer.Option(None, "--evaluate", help="Promoter dataset: held-out metrics, "
                                                                      "TSS recovery, baselines."),
) -> None:
    """Genome-wide promoter prediction on both strands, with evaluation against the annotation."""
    from plantllm.species.assembly import Assembly
    from plantllm.apps.promoter_scan import (ModelScorer, ScanParams, held_out_regions, parse_region, predict_promoters,
                           read_bed_regions, score_fasta, window_params_of)

    if candidates is not None:
        out.mkdir(parents=True, exist_ok=True)
        path = score_fasta(ModelScorer(model), candidates, out, batch_size)
        con.info(f"wrote {path}")
        return
    asm = Assembly(species, fasta=fasta, gff=gff)
    regions = [parse_region(r, asm) for r in region]
    regions += [(asm.card.canonical(c), 0, asm.genome.length(c)) for c in chromosomes.split(",") if c]
    if bed:
        regions += read_bed_regions(bed, asm)
    if held_out:
        regions += held_out_regions(asm, held_out)
    wp = window_params_of(model) or (249, 50)
    s = predict_promoters(model, asm, out, regions=regions or None,
                          params=ScanParams(wp[0], wp[1], stride, batch_size), threshold=None if top_k else threshold,
                          top_k=top_k, evaluate=evaluate)
    con.info(f"scanned {s['windows']:,} windows x 2 strands at {s['windows_per_s']:,.0f} windows/s; "
             f"{s['calls']:,} promoter regions in {out}/promoters.bed")
    if "evaluation" in s:
        for name, r in s["evaluation"]["tss_recovery"].items():
            t = s["evaluation"]["held_out_task"][name]
            con.out.print(f"{name:>16}: held-out AUROC {t['auroc']:.3f}, AUPRC {t['auprc']:.3f}; genome scan recovers "
                          f"{r['tss_recovered']}/{r['annotated_tss']} annotated TSSs, precision {r['precision']:.2f}")


# ------------------------------------------------------------------ variants
variants_app = typer.Typer(no_args_is_help=True, help="Score, annotate and rank variants for breeding.")
app.add_typer(variants_app, name="variants")


@variants_app.command("score")
def variants_score(
    vcf: Path = typer.Argument(..., help="VCF/BCF, plain or bgzipped, any ploidy, many samples."),
    species: str = typer.Argument(..., help="Species card name or path."),
    model: list[Path] = typer.Option(..., "--model", help="Model folder (MLM for llr, CLM for clm, classifier for "
                                                          "delta); repeat to score with several models in one pass."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: ranked.tsv, scored.vcf.gz, summary.png/json."),
    method: list[str] = typer.Option(["llr"], "--method", help="llr (masked LM, zero-shot), clm, delta or embedding; "
                                                               "one for all models or one per --model."),
    window: int = typer.Option(128, "--window", help="Sequence window around each variant (bp)."),
    batch_size: int = typer.Option(32, "--batch-size", help="Sites per forward batch."),
    region: list[str] = typer.Option([], "--region", help="Only variants in Chr1:1000-2000 (repeatable)."),
    bed: Optional[Path] = typer.Option(None, "--bed", help="Only variants in the regions of a BED (GWAS intervals)."),
    genes: str = typer.Option("", "--genes", help="Only variants within these genes +/- 2 kb (comma separated)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="TSV chrom, pos, ref, alt, label to evaluate against."),
    fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt,
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow checkpoints that ship code."),
) -> None:
    """Rank the variants of a VCF: consequence (SnpEff-like), model score, dosage, documented priority."""
    from plantllm.species.assembly import Assembly
    from plantllm.apps.promoter_scan import parse_region, read_bed_regions
    from plantllm.apps.variant_scoring import run_scoring

    asm = Assembly(species, fasta=fasta, gff=gff)
    regions = [parse_region(r, asm) for r in region]
    if bed:
        regions += read_bed_regions(bed, asm)
    if genes:
        want = {x.strip() for x in genes.split(",") if x.strip()}
        found = [g for g in asm.annotation.genes if g.locus in want or g.name in want or g.id in want]
        missing = want - {g.locus for g in found} - {g.name for g in found} - {g.id for g in found}
        if missing:
            raise PlantLLMError(f"genes not in the annotation: {', '.join(sorted(missing))}")
        regions += [(g.chrom, max(0, g.start - 2000), g.end + 2000) for g in found]
    from plantllm.data.tasks.variants import read_labels

    s = run_scoring(asm, vcf, list(model), out, method=list(method), window=window, batch_size=batch_size,
                    regions=regions or None, labels=read_labels(labels) if labels else None,
                    trust_remote_code=trust_remote_code)
    con.info(f"scored {s['scored']:,} variants at {s['variants_per_s']:,.0f} variants/s; ranked list {out}/ranked.tsv, "
             f"annotated VCF {out}/scored.vcf.gz, plot {out}/summary.png")
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


@variants_app.command("saturate")
def variants_saturate(
    species: str = typer.Argument(..., help="Species card name or path."),
    out: Path = typer.Option(..., "--out", "-o", help="VCF of every possible SNV in the regions."),
    region: list[str] = typer.Option([], "--region", help="Chr1:1000-2000 (repeatable)."),
    genes: str = typer.Option("", "--genes", help="CDS and 300 bp promoters of these genes."),
    fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt,
) -> None:
    """Write every possible SNV of regions or genes as a VCF (in-silico saturation mutagenesis)."""
    from plantllm.species.assembly import Assembly
    from plantllm.apps.promoter_scan import parse_region
    from plantllm.apps.variant_scoring import write_saturation_vcf

    asm = Assembly(species, fasta=fasta, gff=gff)
    regions = [parse_region(r, asm) for r in region]
    want = {x.strip() for x in genes.split(",") if x.strip()}
    for g in asm.annotation.genes:
        if (g.locus in want or g.name in want) and g.canonical is not None:
            t = g.canonical
            regions += [(t.chrom, s, e) for s, e in t.cds]
            regions.append((t.chrom, max(0, t.tss - 300), t.tss) if t.strand != "-" else (t.chrom, t.tss + 1, t.tss + 301))
    if not regions:
        raise PlantLLMError("give --region or --genes")
    write_saturation_vcf(asm, regions, out)
    con.info(f"wrote {out}")


# ------------------------------------------------------------------ motifs and mutagenesis
@app.command("motifs")
def motifs_cmd(
    model: Path = typer.Argument(..., help="Fine-tuned classifier folder (e.g. a promoter model)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (MEME, TSV, logos, report)."),
    dataset: Optional[Path] = typer.Option(None, "--dataset", help="A promoter or motif dataset folder."),
    split: str = typer.Option("test", "--split", help="Dataset split to explain."),
    label: int = typer.Option(1, "--label", help="Explain the sequences of this label (multi-label datasets: "
                                                 "label number); the rest are the k-mer baseline's background."),
    label_column: str = typer.Option("label", "--label-column", help="'labels' for the motif task's multi-label "
                                                                      "column (then --label is the label number)."),
    fasta: Optional[Path] = typer.Option(None, "--fasta", help="Or: a FASTA of sequences of one length."),
    n: int = typer.Option(200, "--n", help="At most this many sequences."),
    method: str = typer.Option("ism", "--method", help="ism (saturation mutagenesis) or ig (integrated gradients)."),
    target: Optional[int] = typer.Option(None, "--target", help="Output to explain (multi-label models)."),
    fdr: float = typer.Option(0.1, "--fdr", help="Target FDR of seqlet calls against shuffled controls."),
    min_seqlets: int = typer.Option(5, "--min-seqlets", help="Smallest motif (seqlets per cluster)."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code"),
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


@app.command("mutagenesis")
def mutagenesis_cmd(
    model: Path = typer.Argument(..., help="Fine-tuned model (--method ism) or masked LM (--method masked)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (TSV, PNG, JSON)."),
    sequence: Optional[str] = typer.Option(None, "--sequence", help="A DNA sequence."),
    species: Optional[str] = typer.Option(None, "--species", help="Species card, with --region."),
    region: Optional[str] = typer.Option(None, "--region", help="Chr1:1000-1299 (1-based, inclusive)."),
    strand: str = typer.Option("+", "--strand", help="+ or - (the reverse complement is mutated)."),
    fasta: Optional[Path] = FastaOpt,
    method: str = typer.Option("ism", "--method", help="ism or masked."),
    target: Optional[int] = typer.Option(None, "--target", help="Output to explain (multi-label models)."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code"),
) -> None:
    """In-silico saturation mutagenesis of one sequence or region: every SNV's effect, as TSV and plot."""
    from plantllm.apps.attribution import run_mutagenesis
    from plantllm.core.sequence import invalid_positions, reverse_complement

    chrom, start = None, 0
    if sequence is not None:
        seq = sequence.strip()
        bad = invalid_positions(seq)
        if len(bad):
            raise PlantLLMError(f"--sequence: '{seq[int(bad[0])]}' at position {int(bad[0]) + 1} is not a "
                                "nucleotide code")
    elif species and region:
        from plantllm.species.assembly import Assembly
        from plantllm.apps.promoter_scan import parse_region

        if strand not in ("+", "-"):
            raise PlantLLMError("--strand must be + or -")
        asm = Assembly(species, fasta=fasta)
        chrom, start, end = parse_region(region, asm)
        seq = asm.genome.fetch(chrom, start, end)
        seq = reverse_complement(seq) if strand == "-" else seq
    else:
        raise PlantLLMError("give --sequence, or --species and --region")
    s = run_mutagenesis(model, seq, out, method=method, target=target, chrom=chrom, start=start, strand=strand,
                        trust_remote_code=trust_remote_code)
    w = s["most_damaging"]
    con.info(f"{s['length']} bp x 3 alternatives in {s['forward_passes']} forward passes ({s['seconds']} s); most "
             f"damaging: {w['ref']}{w['position']}{w['alt']} ({w['delta']:.3f}); wrote {out}/mutagenesis.tsv, .png")


# ------------------------------------------------------------------ benchmarks
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks: quality vs baselines, speed vs peers (benchmarks/).")
app.add_typer(bench_app, name="bench")
BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _bench_scripts() -> dict[str, Path]:
    if not BENCHMARKS.is_dir():
        raise PlantLLMError(f"no benchmarks folder at {BENCHMARKS}",
                            fix="benchmarks ship with the source checkout: git clone and bash scripts/setup.sh")
    return {p.stem: p for p in sorted(BENCHMARKS.glob("[a-z]*.py"))}


@bench_app.command("list")
def bench_list() -> None:
    """The benchmark scripts, what each compares, and its latest committed result."""
    import ast

    table = Table("benchmark", "what it compares", "latest result")
    for name, path in _bench_scripts().items():
        doc = (ast.get_docstring(ast.parse(path.read_text())) or "").strip().splitlines()
        res = BENCHMARKS / "results" / f"{name}.md"
        table.add_row(name, doc[0] if doc else "", str(res.relative_to(BENCHMARKS.parent)) if res.exists() else "not run")
    con.out.print(table)


@bench_app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench_run(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Benchmark name (see plantllm bench list), or 'all'."),
    small: bool = typer.Option(False, "--small", help="The quick mode the tests run (nothing is written)."),
) -> None:
    """Run a benchmark script; the full mode writes benchmarks/results/NAME.md and .json. Extra arguments
    go to the script (e.g. model folders)."""
    import subprocess

    scripts = _bench_scripts()
    names = list(scripts) if name == "all" else [name]
    for n in names:
        if n not in scripts:
            raise PlantLLMError(f"no benchmark '{n}'{did_you_mean(n, scripts)}", fix="plantllm bench list")
    for n in names:
        con.info(f"benchmark {n}{' (small)' if small else ''}")
        r = subprocess.run([sys.executable, str(scripts[n]), *(["--small"] if small else []), *ctx.args])
        if r.returncode:
            raise PlantLLMError(f"benchmark {n} failed (exit {r.returncode}); see its output above")


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("plantllm-demo"), "--out", "-o", help="Output folder (kept for reuse)."),
    quick: bool = typer.Option(False, "--quick", help="A few-minute version."),
) -> None:
    """Run the end-to-end demo on the built-in real Arabidopsis TAIR10 chr1."""
    from plantllm.demo import run_demo

    report = run_demo(out, quick=quick)
    con.info(f"[green]demo finished[/]: open {report}")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (tests call it in-process)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("PLANTLLM_DEBUG") == "1"
    try:
        rc = app(args=args, prog_name="plantllm", standalone_mode=False)
        return rc if isinstance(rc, int) else 0  # click returns typer.Exit's code here
    except typer.Exit as e:
        return e.exit_code
    except PlantLLMError as e:
        if debug:
            traceback.print_exc()
        con.error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        con.error("interrupted; finished outputs are kept, unfinished ones were not written")
        return 130
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            return e.exit_code
        if isinstance(e, click.exceptions.Abort):
            return 1
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
