"""Elements conserved in sequence and in model constraint across species (``plantllm compare conserved``).

From the ortholog groups of ``compare orthologs``: every species' regions are scored base by base with a masked
LM on the inference engine (``apps.score_tracks``: the mean zero-shot LLR over the three ALTs, the same number as
``variants tracks``' ``llr_mean.bw``), each group is aligned to the reference and projected onto it
(``apps.alignment``), and columns and elements are called. Outputs in ``out``:

* ``elements.sequence.bed``, ``elements.constraint.bed``, ``elements.both.bed``: sorted BED6 in the reference
  genome's coordinates and names (score: 1000 x mean identity, resp. the share of constrained columns);
* ``identity.<species>.bw`` (windowed identity of each other species) and ``constraint.<species>.bw`` (each
  species' per-base mean LLR projected onto the reference), bigWigs in reference coordinates;
* ``columns.tsv.gz``: one row per reference column (bgzip + tabix): the aligned base and per-base LLR of every
  species, windowed identity, and the calls;
* ``groups.tsv``: per group and species, aligned share, identity, mean LLR, element counts;
* ``group.<GROUP>.png``: one group's identity and constraint along the reference region;
* ``tracks/<species>/``: each species' own score tracks (resumable engine jobs); ``summary.json``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from plantllm.apps.alignment import GroupColumns, aligner, group_columns, project, windowed
from plantllm.apps.orthologs import OrthoRegion, load_orthologs
from plantllm.apps.score_tracks import score_tracks
from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError
from plantllm.core.intervals import merge
from plantllm.core.io import atomic_write


@dataclass
class ConservedParams:
    window: int = 20                 # sliding window (columns) of identity and constraint
    min_identity: float = 0.8        # windowed identity in every species for a sequence-conserved column
    constraint_quantile: float = 0.2  # per species: windowed mean LLR in this lowest share = constrained
    min_length: int = 15             # shortest element (reference bp)
    min_aligned: float = 0.5         # a species whose region aligns to less of the reference leaves the group
    flank: int = 100                 # other species' regions widened by this much on both sides before aligning
    score_window: int = 128          # model context of each scored base
    batch_size: int = 64

    def check(self) -> None:
        if self.flank < 0:
            raise PlantLLMError(f"--flank must be >= 0, got {self.flank}")
        if self.window < 1 or self.min_length < 1:
            raise PlantLLMError("--window and --min-length must be at least 1")
        if not 0 < self.min_identity <= 1:
            raise PlantLLMError(f"--min-identity must be in (0, 1], got {self.min_identity}")
        if not 0 <= self.min_aligned <= 1:
            raise PlantLLMError(f"--min-aligned must be in [0, 1], got {self.min_aligned}")
        if not 0 < self.constraint_quantile < 1:
            raise PlantLLMError(f"--constraint-quantile must be in (0, 1), got {self.constraint_quantile}")


def _groups(regions: list[OrthoRegion], reference: str, species: list[str]) -> dict[str, dict[str, OrthoRegion]]:
    by: dict[str, dict[str, OrthoRegion]] = defaultdict(dict)
    for r in regions:
        if r.species in species:
            by[r.group][r.species] = r
    return {g: m for g, m in by.items() if reference in m and len(m) > 1}


def _species_llr(model, asm, regs: list[OrthoRegion], folder: Path, p: ConservedParams, precision: str
                 ) -> dict[str, np.ndarray]:
    """Score one species' regions (merged) with the engine and read each region's per-base mean LLR back,
    oriented like the region."""
    import pyBigWig

    by: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for r in regs:
        by[r.chrom].append((r.start, r.end))
    order = {c.name: i for i, c in enumerate(asm.card.chromosomes)}
    merged = [(c, s, e) for c in sorted(by, key=order.get) for s, e in merge(sorted(by[c]))]
    con.info(f"scoring {sum(e - s for _, s, e in merged):,} bases of {asm.card.name}")
    score_tracks(model, asm, folder, regions=merged, window=p.score_window, batch_size=p.batch_size,
                 precision=precision)
    bw = pyBigWig.open(str(folder / "llr_mean.bw"))
    out = {}
    for r in regs:
        v = np.asarray(bw.values(asm.genome.file_name(r.chrom), r.start, r.end), float)
        out[r.group] = v[::-1] if r.strand == "-" else v
    bw.close()
    return out


def run_conserved(orthologs: str | Path, model: str | Path, out: str | Path, params: ConservedParams | None = None,
                  *, plot_group: str | None = None, species: list[str] | None = None, precision: str = "auto",
                  assemblies: dict | None = None) -> dict:
    p = params or ConservedParams()
    p.check()
    out = Path(out)
    regions, asms, reference = load_orthologs(orthologs, assemblies)
    names = list(asms)
    if species:
        unknown = [s for s in species if s not in asms]
        if unknown:
            raise PlantLLMError(f"--species {unknown[0]} is not in {orthologs} (species: {', '.join(names)})")
        names = [s for s in names if s in species or s == reference]
    groups = _groups(regions, reference, names)
    # Other species' windows are widened: their annotated TSS may sit elsewhere (e.g. gene models without 5' UTRs),
    # and the alignment's free end gaps place the reference window inside the wider region.
    groups = {g: {sp: r if sp == reference else _widen(asms[sp], r, p.flank) for sp, r in m.items()}
              for g, m in groups.items()}
    if not groups:
        raise PlantLLMError(f"{orthologs}: no group has the reference and another species",
                            fix="find orthologs for more genes, or lower --min-similarity / --min-coverage")
    out.mkdir(parents=True, exist_ok=True)
    al = aligner()
    aligned: dict[str, tuple[dict, str]] = {}
    dropped: list[dict] = []
    for g in con.track(list(groups), "aligning groups", unit="groups"):
        m = groups[g]
        ref_seq = _fetch(asms[reference], m[reference])
        proj = {sp: project(ref_seq, _fetch(asms[sp], r), al) for sp, r in m.items() if sp != reference}
        for sp in [sp for sp, pr in proj.items() if pr.aligned_fraction < p.min_aligned]:
            dropped.append({"group": g, "species": sp, "aligned_fraction": round(proj.pop(sp).aligned_fraction, 4)})
        if proj:
            groups[g] = {sp: r for sp, r in m.items() if sp in proj or sp == reference}
            aligned[g] = (proj, ref_seq)
    groups = {g: groups[g] for g in aligned}
    if not groups:
        raise PlantLLMError(f"{orthologs}: no group's regions align to the reference (--min-aligned {p.min_aligned})",
                            fix="lower --min-aligned, or check the ortholog table")
    names = [sp for sp in names if any(sp in m for m in groups.values())]
    llr = {sp: _species_llr(model, asms[sp], [m[sp] for m in groups.values() if sp in m], out / "tracks" / sp, p,
                            precision) for sp in names}
    # each species' threshold: the lowest quantile of its own windowed mean LLR over all its regions
    thresholds = {sp: float(np.nanquantile(np.concatenate([windowed(v, p.window) for v in llr[sp].values()]),
                                           p.constraint_quantile)) for sp in names}
    cols: dict[str, tuple[dict, GroupColumns, str]] = {}
    for g, (proj, ref_seq) in aligned.items():
        cols[g] = (proj, group_columns(reference, proj, {sp: llr[sp][g] for sp in groups[g]}, thresholds,
                                       window=p.window, min_identity=p.min_identity), ref_seq)
    from plantllm.apps.conserved_outputs import write_outputs

    summary = write_outputs(out, groups, cols, asms, reference, names, thresholds, p, plot_group)
    summary.update({"dropped_unaligned": dropped, "orthologs": str(orthologs), "model": str(model), "params": asdict(p), "thresholds": thresholds})
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=2)
    return summary


def _widen(asm, r: OrthoRegion, flank: int) -> OrthoRegion:
    return replace(r, start=max(0, r.start - flank), end=min(asm.genome.length(r.chrom), r.end + flank))


def _fetch(asm, r: OrthoRegion) -> str:
    return asm.genome.fetch(r.chrom, r.start, r.end, r.strand).upper()

