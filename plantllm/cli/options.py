"""Command-line options declared once and shared by several commands.

Single options are module constants (``FastaOpt``). Options that always travel together are an option
group: a frozen dataclass holding their values plus ``{name: typer declaration}``; the ``option_group``
decorator adds the declarations to a command's signature (after its own options, so ``--help`` lists them
last) and hands the command one object instead of a dozen parameters.
"""

from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError

# ------------------------------------------------------------------ single options
SpeciesArg = typer.Argument(..., help="Species card name or path.")
CardArg = typer.Argument(..., help="Card name or path.")
FastaOpt = typer.Option(None, "--fasta", help="FASTA to use instead of the card's.")
GffOpt = typer.Option(None, "--gff", help="GFF3/GTF to use instead of the card's.")
RepOpt = typer.Option(None, "--repeats", help="Repeat annotation to use instead of the card's.")
RepSrcOpt = typer.Option(None, "--repeat-source", help="soft_mask, rmsk_out, rmsk_table, te_gff, bed or none.")
SeedOpt = typer.Option(0, "--seed")
ChromsOpt = typer.Option("", "--chromosomes", help="Only these chromosomes (comma separated).")
WeightsOpt = typer.Option("", "--subgenome-weights", help="A=1,B=2 with --balance weights.")
CorpusOpt = typer.Option(None, "--corpus", help="Pretraining dataset: BPE tokenizers learn its train split.")
RegionsOpt = typer.Option([], "--region", help="Chr1:1000-2000 (1-based, inclusive), repeatable.")
BedOpt = typer.Option(None, "--bed", help="Only the regions of a BED file (e.g. GWAS intervals).")
LabelsOpt = typer.Option(None, "--labels", help="TSV chrom, pos, ref, alt, label.")
TargetOpt = typer.Option(None, "--target", help="Output to explain (multi-label models).")
RemoteCodeOpt = typer.Option(False, "--trust-remote-code", help="Allow checkpoints that ship their own code.")


def out_option(help: Optional[str] = None) -> Any:
    """The required ``--out/-o`` option, with what this command writes there as its help."""
    return typer.Option(..., "--out", "-o", help=help)


def comma_list(text: str) -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c']."""
    return [x.strip() for x in text.split(",") if x.strip()]


# ------------------------------------------------------------------ option groups
def option_group(param: str, group: type, declarations: dict[str, Any]) -> Callable:
    """Decorator: add ``declarations`` (the fields of the dataclass ``group``) to a command's options and
    call the command with ``param=group(...)`` built from their parsed values."""
    hints = typing.get_type_hints(group)

    def decorate(func: Callable) -> Callable:
        own_hints = typing.get_type_hints(func)
        own = [p.replace(annotation=own_hints.get(p.name, p.annotation))
               for p in inspect.signature(func).parameters.values() if p.name != param]
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=decl, annotation=hints[name])
                 for name, decl in declarations.items()]

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in declarations}
            return func(**kwargs, **{param: group(**values)})

        command.__signature__ = inspect.Signature(own + added)
        command.__annotations__ = {p.name: p.annotation for p in own + added}
        return command

    return decorate


@dataclass(frozen=True)
class SplitOptions:
    """How a dataset builder splits examples (the options every ``plantllm data`` command shares)."""

    val_fraction: float
    test_fraction: float
    block_size: int
    val_chroms: str
    test_chroms: str
    seed: int
    force: bool
    homeologs: Optional[Path]

    def splitter(self, asm):
        """Block/chromosome splitter; homeolog-group aware when the card or --homeologs gives groups."""
        from plantllm.data.splits import Splitter

        def names(s: str) -> tuple[str, ...]:
            return tuple(asm.card.canonical(x) for x in comma_list(s))

        base = Splitter(self.val_fraction, self.test_fraction, self.block_size, names(self.val_chroms),
                        names(self.test_chroms), self.seed)
        if self.homeologs:
            asm.card.homeologs = self.homeologs
        if asm.card.homeologs is None:
            return base
        from plantllm.data.splits import GroupSplitter

        gs = GroupSplitter(base, asm, asm.homeologs)
        naive = gs.naive_leakage
        con.info(f"homeolog-aware split: a plain split would put {naive['groups_in_train_and_test']:,} of "
                 f"{naive['groups']:,} homeolog groups in both train and test")
        return gs


split_options = option_group("split", SplitOptions, {
    "val_fraction": typer.Option(0.1, "--val-fraction", help="Share of genome blocks held out for validation."),
    "test_fraction": typer.Option(0.1, "--test-fraction", help="Share of genome blocks held out for test."),
    "block_size": typer.Option(1_000_000, "--block-size", help="Blocks (bp) assigned to one split as a whole."),
    "val_chroms": typer.Option("", "--val-chroms", help="Chromosomes held out for validation (comma separated)."),
    "test_chroms": typer.Option("", "--test-chroms", help="Chromosomes held out for test (comma separated)."),
    "seed": SeedOpt,
    "force": typer.Option(False, "--force", help="Rebuild even when the manifest matches."),
    "homeologs": typer.Option(None, "--homeologs", help="gene<TAB>group table: keep each group in one split."),
})


@dataclass(frozen=True)
class TrainRun:
    """A training run as ``plantllm pretrain`` and ``plantllm finetune`` take it (overrides of the config)."""

    config: Path
    dataset: Optional[Path]
    model: Optional[Path]
    output_dir: Optional[Path]
    max_steps: Optional[int]
    deepspeed: Optional[Path]
    nproc: int
    hostfile: Optional[Path]
    no_resume: bool

    def launch_args(self) -> list[str]:
        """The arguments of ``plantllm.training.launch``."""
        args = ["--config", str(self.config)]
        for flag, val in (("--dataset", self.dataset), ("--model", self.model), ("--output-dir", self.output_dir),
                          ("--max-steps", self.max_steps), ("--deepspeed", self.deepspeed)):
            if val is not None:
                args += [flag, str(val)]
        return args + (["--no-resume"] if self.no_resume else [])


NprocOpt = typer.Option(1, "--nproc", help="Processes per host (one per GPU, or CPU processes) through the "
                                           "deepspeed launcher; under srun every task is a process already.")
HostfileOpt = typer.Option(None, "--hostfile", help="deepspeed hostfile for multi-node runs.")
PrecisionOpt = typer.Option("auto", "--precision", help="exact (fp32), fast (bf16 on GPUs and on CPUs with "
                                                        "AVX512-BF16/AMX) or auto (fast on a GPU, exact on a CPU).")

train_options = option_group("run", TrainRun, {
    "config": typer.Argument(..., help="Training config (configs/train/*.yaml)."),
    "dataset": typer.Option(None, "--dataset", help="Dataset folder (overrides the config)."),
    "model": typer.Option(None, "--model", help="Model config or folder (overrides the config)."),
    "output_dir": typer.Option(None, "--output-dir", "-o", help="Run folder (overrides the config)."),
    "max_steps": typer.Option(None, "--max-steps"),
    "deepspeed": typer.Option(None, "--deepspeed", help="DeepSpeed JSON (overrides the config)."),
    "nproc": NprocOpt,
    "hostfile": HostfileOpt,
    "no_resume": typer.Option(False, "--no-resume", help="Start over even when complete checkpoints exist."),
})


def subgenome_weights(text: str) -> dict[str, float]:
    """'A=1,B=2' -> {'A': 1.0, 'B': 2.0}, with a one-line error for anything else."""
    out = {}
    for item in filter(None, text.split(",")):
        k, _, v = item.partition("=")
        try:
            out[k.strip()] = float(v)
        except ValueError:
            raise PlantLLMError(f"--subgenome-weights item '{item}' is not LABEL=NUMBER") from None
    return out


def key_values(items: list[str], option: str, shape: str) -> dict[str, str]:
    """['T=a', 'A=b'] -> {'T': 'a', 'A': 'b'}; an item without '=' or key is a one-line error."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PlantLLMError(f"{option} '{item}' must be {shape}")
        out[key] = value
    return out


def regions_of(asm, region: list[str], bed: Optional[Path] = None,
               chromosomes: str = "") -> list[tuple[str, int, int]]:
    """The --region strings, the whole --chromosomes and the --bed intervals as canonical (chrom, start, end)."""
    from plantllm.species.regions import parse_region, read_bed_regions

    regions = [parse_region(r, asm.card, asm.genome.length) for r in region]
    regions += [(asm.card.canonical(c), 0, asm.genome.length(c)) for c in comma_list(chromosomes)]
    if bed:
        regions += read_bed_regions(bed, asm.card)
    return regions
