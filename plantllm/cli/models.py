"""``plantllm tokenizer``, ``plantllm model``, ``plantllm pretrain`` and ``plantllm finetune``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from plantllm.cli.options import (BedOpt, ChromsOpt, CorpusOpt, FastaOpt, HostfileOpt, NprocOpt, PrecisionOpt,
                                  RegionsOpt, RemoteCodeOpt, SeedOpt, TrainRun, out_option, train_options)
from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError

tok_app = typer.Typer(no_args_is_help=True, help="Tokenizers: single-nucleotide, k-mer (NT-style) and BPE.")
model_app = typer.Typer(no_args_is_help=True, help="Models: create from configs/models, inspect local checkpoints.")


def _corpus_sequences(corpus: Optional[Path], species: Optional[str], limit_bp: int):
    """Training text for BPE: the train split of a pretraining dataset (never its test split), or the
    species' nuclear chromosomes."""
    if corpus is not None:
        import datasets

        ds = datasets.load_from_disk(str(corpus))["train"]
        yield from _capped((row["seq"] for row in ds.select_columns(["seq"])), limit_bp)
        return
    if species is None:
        raise PlantLLMError("BPE needs a corpus: pass --corpus DATASET (train split is used) or --species")
    from plantllm.species.assembly import Assembly

    asm = Assembly(species)
    yield from _capped((seq for c in asm.genome.chromosomes() for _, seq in asm.genome.iter_chunks(c, chunk=1_000_000)),
                       limit_bp)


def _capped(seqs, limit_bp: int):
    """The sequences until (and including) the one that reaches limit_bp bases in all."""
    total = 0
    for seq in seqs:
        yield seq
        total += len(seq)
        if total >= limit_bp:
            return


@tok_app.command("train")
def tokenizer_train(
    out: Path = out_option("Tokenizer folder (Hugging Face format)."),
    kind: str = typer.Option("bpe", "--kind", help="char, kmer, kmer_overlap or bpe."),
    k: int = typer.Option(6, "--k", help="k for k-mer tokenizers."),
    vocab_size: int = typer.Option(4096, "--vocab-size", help="BPE vocabulary size."),
    objective: str = typer.Option("mlm", "--objective", help="mlm ([CLS] x [SEP]) or clm ([CLS] x)."),
    max_length: int = typer.Option(1024, "--max-length"),
    case: str = typer.Option("upper", "--case", help="upper (soft-mask dropped) or keep (lowercase tokens)."),
    corpus: Optional[Path] = CorpusOpt,
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
    out: Path = out_option(),
    corpus: Optional[Path] = CorpusOpt,
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
    trust_remote_code: bool = RemoteCodeOpt,
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help="Allow pytorch_model.bin (pickle)."),
) -> None:
    """Check that a checkpoint loads safely here and describe it."""
    from plantllm.models import checkpoint as M

    model, tok = M.load(path, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    n = sum(p.numel() for p in model.parameters())
    fam = M.family(model.config.model_type)
    con.out.print(f"{path}: {model.config.model_type} ({'native' if fam.get('native') else 'own code'}), "
                  f"{n / 1e6:.2f} M parameters, hidden {model.config.hidden_size}, tokenizer {len(tok):,} tokens "
                  f"({getattr(tok, 'plantllm', {}).get('kind', type(tok).__name__)})")
    if fam:
        con.out.print(f"family: {fam['published']}")


@model_app.command("embed")
def model_embed(
    species: str = typer.Argument(..., help="Species card name or YAML."),
    model: Path = typer.Option(..., "--model", help="Model folder."),
    out: Path = out_option("Output folder: embeddings.parquet, windows.bed, summary.json."),
    region: list[str] = RegionsOpt, bed: Optional[Path] = BedOpt, chromosomes: str = ChromsOpt,
    window: int = typer.Option(512, "--window", help="Window length (bp)."),
    stride: int = typer.Option(512, "--stride", help="Distance between window starts (bp)."),
    pooling: str = typer.Option("mean", "--pooling", help="mean (over the bases) or cls (first token)."),
    batch_size: int = typer.Option(16, "--batch-size", help="Windows per forward batch."),
    fasta: Optional[Path] = FastaOpt, trust_remote_code: bool = RemoteCodeOpt,
    nproc: int = NprocOpt, hostfile: Optional[Path] = HostfileOpt, precision: str = PrecisionOpt,
    shard_size: int = typer.Option(1_000_000, "--shard-size", help="Bases per shard (resumed, spread over processes)."),
) -> None:
    """Embeddings of genome windows on the inference engine (sharded, resumable, --nproc): a Parquet table."""
    from plantllm.apps.embeddings import embed_regions
    from plantllm.cli.options import regions_of
    from plantllm.species.assembly import Assembly

    asm = Assembly(species, fasta=fasta)
    s = embed_regions(model, asm, out, regions=regions_of(asm, region, bed, chromosomes), window=window, stride=stride,
                      pooling=pooling, batch_size=batch_size, shard_size=shard_size, nproc=nproc, hostfile=hostfile,
                      precision=precision, trust_remote_code=trust_remote_code)
    if "windows" in s:
        con.info(f"embedded {s['windows']:,} windows ({s['dimension']} values each) at {s['windows_per_s']:,.0f} "
                 f"windows/s; {out}/embeddings.parquet")


# ------------------------------------------------------------------ training
@train_options
def pretrain_cmd(run: TrainRun = None) -> None:
    """Continued pretraining (or from scratch) with MLM/CLM on DeepSpeed; resumes from the last checkpoint."""
    _train(run, "lm")


@train_options
def finetune_cmd(run: TrainRun = None) -> None:
    """Fine-tune for promoter, motif or variant tasks (classification, multi-label, regression; LoRA optional)."""
    _train(run, "task")


def _train(run: TrainRun, task_default: str) -> None:
    """Run training in this process, or through the deepspeed launcher for several processes or hosts."""
    import subprocess

    from plantllm.inference.engine import launcher_command
    from plantllm.training.launch import main as launch_main

    _check_task(run, task_default)
    args = run.launch_args()
    if run.nproc > 1 or run.hostfile:
        cmd = launcher_command("plantllm.training.launch", args, run.nproc, run.hostfile)
        con.info("running: " + " ".join(cmd))
        rc = subprocess.call(cmd)
    else:
        rc = launch_main(args)
    if rc != 0:
        raise typer.Exit(rc)


def _check_task(run: TrainRun, task_default: str) -> None:
    """A language-model config goes to ``pretrain``, a task config to ``finetune``."""
    from plantllm.training.config import TrainConfig

    cfg = TrainConfig.load(run.config, dataset=str(run.dataset) if run.dataset else None,
                           model=str(run.model) if run.model else None)
    if (cfg.task in ("mlm", "clm")) != (task_default == "lm"):
        raise PlantLLMError(f"{run.config} is a '{cfg.task}' config: use plantllm "
                            f"{'pretrain' if cfg.task in ('mlm', 'clm') else 'finetune'}")
