"""``plantllm predict``: run fine-tuned models over genomes."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from plantllm.cli.options import (BedOpt, ChromsOpt, FastaOpt, GffOpt, HostfileOpt, NprocOpt, PrecisionOpt,
                                  RegionsOpt, SpeciesArg, out_option, regions_of)
from plantllm.core import console as con

app = typer.Typer(no_args_is_help=True, help="Run fine-tuned models over genomes.")


@app.command("promoters")
def predict_promoters_cmd(
    model: Path = typer.Argument(..., help="Fine-tuned promoter model folder."),
    species: str = SpeciesArg,
    out: Path = out_option("Output folder (bigWig per strand, BED + bgzip/tabix, JSON, PNG)."),
    fasta: Optional[Path] = FastaOpt, gff: Optional[Path] = GffOpt,
    chromosomes: str = ChromsOpt, region: list[str] = RegionsOpt, bed: Optional[Path] = BedOpt,
    held_out: Optional[Path] = typer.Option(None, "--held-out", help="Scan the test blocks of this dataset."),
    candidates: Optional[Path] = typer.Option(None, "--candidates", help="Score a FASTA of candidate sequences."),
    stride: int = typer.Option(50, "--stride", help="Step between candidate TSSs (bp)."),
    threshold: float = typer.Option(0.5, "--threshold", help="Call bins with P(promoter) >= this."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Call the k best bins instead of a threshold."),
    batch_size: int = typer.Option(64, "--batch-size"),
    evaluate: Optional[Path] = typer.Option(None, "--evaluate", help="Promoter dataset: held-out metrics, "
                                                                      "TSS recovery, baselines."),
    bedgraph: bool = typer.Option(False, "--bedgraph", help="Also write the scores as bedGraph (large: use bigWig)."),
    nproc: int = NprocOpt, hostfile: Optional[Path] = HostfileOpt, precision: str = PrecisionOpt,
    shard_size: int = typer.Option(1_000_000, "--shard-size", help="Bases per shard: the unit of work that is resumed "
                                                                     "and spread over processes."),
) -> None:
    """Genome-wide promoter prediction on both strands, with evaluation against the annotation."""
    from plantllm.species.assembly import Assembly
    from plantllm.apps.promoter_predict import predict_promoters
    from plantllm.apps.promoter_scan import ModelScorer, ScanParams, score_fasta
    from plantllm.data.splits import held_out_regions

    if candidates is not None:
        out.mkdir(parents=True, exist_ok=True)
        path = score_fasta(ModelScorer(model), candidates, out, batch_size)
        con.info(f"wrote {path}")
        return
    asm = Assembly(species, fasta=fasta, gff=gff)
    regions = regions_of(asm, region, bed, chromosomes)
    if held_out:
        regions += held_out_regions(asm, held_out)
    s = predict_promoters(model, asm, out, regions=regions or None,
                          params=ScanParams.for_model(model, stride=stride, batch_size=batch_size),
                          threshold=None if top_k else threshold,
                          top_k=top_k, evaluate=evaluate, bedgraph=bedgraph, nproc=nproc, hostfile=hostfile,
                          shard_size=shard_size, precision=precision)
    if "windows" not in s:  # a rank other than 0 under srun: rank 0 merges
        return
    con.info(f"scanned {s['windows']:,} windows x 2 strands at {s['windows_per_s']:,.0f} windows/s; "
             f"{s['calls']:,} promoter regions in {out}/promoters.bed")
    for name, r in s.get("evaluation", {}).get("tss_recovery", {}).items():
        t = s["evaluation"]["held_out_task"][name]
        con.out.print(f"{name:>16}: held-out AUROC {t['auroc']:.3f}, AUPRC {t['auprc']:.3f}; genome scan recovers "
                      f"{r['tss_recovered']}/{r['annotated_tss']} annotated TSSs, precision {r['precision']:.2f}")
