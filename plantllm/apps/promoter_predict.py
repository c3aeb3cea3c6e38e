"""``plantllm predict promoters``: scan, call, write browser tracks and (optionally) evaluate."""

from __future__ import annotations

import json
import time
from pathlib import Path

from plantllm.apps.promoter_eval import evaluate as evaluate_scan
from plantllm.apps.promoter_scan import ModelScorer, ScanParams, call_regions, scan, write_bedgraphs, write_calls
from plantllm.core.io import atomic_write
from plantllm.species.assembly import Assembly


def predict_promoters(model_dir: str | Path, asm: Assembly, out: str | Path, *,
                      regions: list[tuple[str, int, int]] | None = None, params: ScanParams | None = None,
                      threshold: float | None = 0.5, top_k: int | None = None, evaluate: str | Path | None = None,
                      baselines: bool = True) -> dict:
    """Scan, call and (with ``evaluate`` = a promoter dataset) evaluate against the annotation and baselines."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    params = params or ScanParams.for_model(model_dir)
    regions = regions or [(c, 0, asm.genome.length(c)) for c in asm.genome.chromosomes()]
    scorer = ModelScorer(model_dir)
    t0 = time.time()
    res = scan(asm, scorer, regions, params)
    seconds = time.time() - t0
    write_bedgraphs(asm, res, params, out)
    calls = call_regions(asm, res, params, threshold=threshold, top_k=top_k)
    write_calls(asm, calls, out)
    windows = int(len(res["score"]) // 2)
    summary: dict = {"model": str(model_dir), "species": asm.card.name, "regions_bp": sum(e - s for _, s, e in regions),
                     "windows": windows, "seconds": round(seconds, 1),
                     "windows_per_s": round(windows / max(seconds, 1e-9), 1),
                     "window": {"upstream": params.upstream, "downstream": params.downstream, "stride": params.stride},
                     "calls": len(calls), "threshold": threshold, "top_k": top_k, "device": str(scorer.device)}
    if evaluate is not None and asm.has_annotation:
        ev = evaluate_scan(asm, scorer, res, calls, regions, params, evaluate, out, baselines=baselines)
        with atomic_write(out / "evaluation.json") as fh:
            json.dump(ev, fh, indent=2)
        summary["evaluation"] = ev
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=2, default=str)
    return summary
