"""The files of ``compare conserved``: element BEDs, bigWigs in reference coordinates, the column table, the
per-group table and a plot (see ``apps.conserved`` for what each holds)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pysam

from plantllm.apps.alignment import CLASSES, to_genome
from plantllm.core.io import atomic_path, atomic_write, tabix_index
from plantllm.core.tracks import bigwig


def _ref_positions(r, n: int) -> np.ndarray:
    """Genome position of each reference offset 0..n-1 of an oriented region."""
    i = np.arange(n)
    return r.start + i if r.strand != "-" else r.end - 1 - i


def write_outputs(out: Path, groups: dict, cols: dict, asms: dict, reference: str, names: list[str],
                  thresholds: dict[str, float], p, plot_group: str | None) -> dict:
    ref_asm = asms[reference]
    g_ref = ref_asm.genome
    order = {c.name: i for i, c in enumerate(ref_asm.card.chromosomes)}
    others = [s for s in names if s != reference]
    # ---------------------------------------------------------------- elements
    elements = {k: [] for k in CLASSES}
    per_group = {}
    for g, (proj, gc, _) in cols.items():
        r = groups[g][reference]
        calls = gc.elements(p.min_length)
        per_group[g] = {k: len(v) for k, v in calls.items()}
        for k, spans in calls.items():
            for a, b in spans:
                s, e = to_genome(r.start, r.end, r.strand, a, b)
                ident = np.nanmean([np.nanmean(gc.identity[sp][a:b]) for sp in proj]) if proj else np.nan
                score = ident if k == "sequence" else float(gc.constrained[a:b].mean())
                elements[k].append((r.chrom, s, e, f"{g}:{k}", int(round(1000 * np.nan_to_num(score))), r.strand))
    for k, rows in elements.items():
        rows.sort(key=lambda x: (order[x[0]], x[1], x[2]))
        with atomic_write(out / f"elements.{k}.bed") as fh:
            fh.write(f'track name="conserved_{k}" description="elements conserved in '
                     f'{"sequence and constraint" if k == "both" else k} across {", ".join(names)}" useScore=1\n')
            fh.writelines(f"{g_ref.file_name(c)}\t{s}\t{e}\t{n}\t{sc}\t{st}\n" for c, s, e, n, sc, st in rows)
    # ---------------------------------------------------------------- bigWigs (first group wins on overlaps)
    tracks: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for g, (proj, gc, _) in cols.items():
        r = groups[g][reference]
        pos = _ref_positions(r, len(gc.seq_conserved)).tolist()
        for sp in others:
            if sp in gc.identity:
                _add(tracks[f"identity.{sp}"][r.chrom], pos, gc.identity[sp])
        for sp in names:
            if sp in gc.raw_constraint:
                _add(tracks[f"constraint.{sp}"][r.chrom], pos, gc.raw_constraint[sp])
    header = [(g_ref.file_name(c), g_ref.length(c)) for c in g_ref.chromosomes(nuclear_only=False)]
    for name, by_chrom in tracks.items():
        _write_bigwig(out / f"{name}.bw", header, {g_ref.file_name(c): v for c, v in
                                                    sorted(by_chrom.items(), key=lambda kv: order[kv[0]])})
    # ---------------------------------------------------------------- column table
    _write_columns(out, groups, cols, asms, reference, names, order)
    # ---------------------------------------------------------------- groups table
    with atomic_write(out / "groups.tsv") as fh:
        fh.write("group\tspecies\tchrom\tstart\tend\tstrand\taligned_fraction\tidentity\tmean_llr\t"
                 + "\t".join(f"elements_{k}" for k in CLASSES) + "\n")
        for g, (proj, gc, _) in cols.items():
            for sp in names:
                if sp not in groups[g]:
                    continue
                r = groups[g][sp]
                a, i = (1.0, 1.0) if sp == reference else (proj[sp].aligned_fraction, proj[sp].identity)
                m = float(np.nanmean(gc.raw_constraint[sp])) if np.isfinite(gc.raw_constraint[sp]).any() else np.nan
                fh.write(f"{g}\t{sp}\t{asms[sp].genome.file_name(r.chrom)}\t{r.start}\t{r.end}\t{r.strand}\t{a:.4f}\t"
                         f"{i:.4f}\t{m:.4f}\t" + "\t".join(str(per_group[g][k]) for k in CLASSES) + "\n")
    # ---------------------------------------------------------------- plot
    if plot_group is None:
        plot_group = max(cols, key=lambda g: (per_group[g]["both"], per_group[g]["sequence"], len(cols[g][0])))
    if plot_group not in cols:
        from plantllm.core.errors import PlantLLMError

        raise PlantLLMError(f"--plot-group {plot_group} is not an aligned group", fix="see groups.tsv")
    plot_group_tracks(out / f"group.{plot_group}.png", plot_group, cols[plot_group][1], reference, thresholds, p)
    seq, ref_llr = columns_with_all(cols, reference)
    ident = {sp: [cols[g][0][sp].identity for g in cols if sp in cols[g][0]] for sp in others}
    return {"reference": reference, "species": names, "groups_aligned": len(cols),
            "groups_per_species": {sp: sum(sp in groups[g] for g in cols) for sp in names},
            "identity_median": {sp: round(float(np.median(v)), 4) if v else None for sp, v in ident.items()},
            "elements": {k: len(v) for k, v in elements.items()},
            "element_bp": {k: int(sum(e - s for _, s, e, *_ in v)) for k, v in elements.items()},
            "enrichment": enrichment(seq, ref_llr, p.constraint_quantile), "plot": f"group.{plot_group}.png"}


def _add(dest: dict[int, float], pos: list[int], values: np.ndarray) -> None:
    for q, v in zip(pos, values.tolist()):
        if q not in dest and v == v:  # skip NaN (gaps)
            dest[q] = v


def _write_bigwig(path: Path, header, by_chrom: dict[str, dict[int, float]]) -> None:
    with bigwig(path, header) as bw:
        for chrom, d in by_chrom.items():
            if d:
                pos = np.array(sorted(d), dtype=np.int64)
                bw.add(chrom, pos, pos + 1, [d[q] for q in pos.tolist()])


def _write_columns(out, groups, cols, asms, reference, names, order) -> None:
    g_ref = asms[reference].genome
    header = ["chrom", "pos", "group", "offset", "ref", "seq_conserved", "constrained", f"llr.{reference}"]
    others = [s for s in names if s != reference]
    for sp in others:
        header += [f"base.{sp}", f"identity.{sp}", f"llr.{sp}"]
    rows = []
    for g, (proj, gc, ref_seq) in cols.items():
        r = groups[g][reference]
        pos = _ref_positions(r, len(ref_seq))
        seqs = {sp: asms[sp].genome.fetch(groups[g][sp].chrom, groups[g][sp].start, groups[g][sp].end,
                                          groups[g][sp].strand).upper() for sp in proj}
        for i in range(len(ref_seq)):
            f = [g, str(i), ref_seq[i], str(int(gc.seq_conserved[i])), str(int(gc.constrained[i])),
                 _num(gc.raw_constraint[reference][i])]
            for sp in others:
                if sp in proj:
                    o = int(proj[sp].offset[i])
                    f += [seqs[sp][o] if o >= 0 else "-", _num(gc.identity[sp][i]), _num(gc.raw_constraint[sp][i])]
                else:
                    f += [".", ".", "."]
            rows.append((order[r.chrom], int(pos[i]), g_ref.file_name(r.chrom), f))
    rows.sort(key=lambda x: (x[0], x[1]))
    with atomic_path(out / "columns.tsv.gz") as tmp:
        with pysam.BGZFile(str(tmp), "wb") as fh:
            fh.write(("#" + "\t".join(header) + "\n").encode())
            for _, q, c, f in rows:
                fh.write((f"{c}\t{q + 1}\t" + "\t".join(f) + "\n").encode())
        tabix_index(tmp, out / "columns.tsv.gz", seq_col=0, start_col=1, end_col=1, meta_char="#")


def _num(v: float) -> str:
    return "." if v != v else f"{v:.4g}"


def plot_group_tracks(path: Path, group: str, gc, reference: str, thresholds: dict[str, float], p) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(gc.seq_conserved)
    x = np.arange(n)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True)
    species = [reference, *[sp for sp in gc.constraint if sp != reference]]
    color = {sp: f"C{i}" for i, sp in enumerate(species + [s for s in gc.identity if s not in species])}
    for sp, v in gc.identity.items():
        a1.plot(x, v, lw=1, label=sp, color=color[sp])
    a1.axhline(p.min_identity, color="grey", ls="--", lw=0.8)
    a1.set_ylabel(f"identity ({p.window}-col window)")
    a1.set_ylim(0, 1.02)
    for sp, v in gc.constraint.items():
        a2.plot(x, v, lw=1, label=sp, color=color[sp])
        a2.axhline(thresholds[sp], color=color[sp], ls=":", lw=0.8)
    a2.set_ylabel("mean LLR (windowed)\nlower = constrained")
    a2.set_xlabel(f"position in the {reference} region (5'->3' of its strand)")
    for ax in (a1, a2):
        for k, color in (("sequence", "#cfe8ff"), ("both", "#ffd28a")):
            for a, b in gc.elements(p.min_length)[k]:
                ax.axvspan(a, b, color=color, alpha=0.6, lw=0)
        ax.legend(fontsize=7, loc="lower left")
    a1.set_title(f"{group}: sequence identity to {reference} and model constraint (blue: conserved in sequence, "
                 "orange: in both)", fontsize=9)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def enrichment(seq_conserved: np.ndarray, ref_llr: np.ndarray, quantile: float) -> dict:
    """Are the reference's model-constrained bases (per-base mean LLR in its lowest ``quantile``) enriched among
    sequence-conserved columns? Odds ratio and Fisher's exact test, and the AUROC of -LLR for conserved columns."""
    from scipy.stats import fisher_exact
    from sklearn.metrics import roc_auc_score

    ok = ~np.isnan(ref_llr)
    y, s = seq_conserved[ok].astype(bool), -ref_llr[ok]
    if y.all() or not y.any():
        return {"columns": int(ok.sum()), "conserved_columns": int(y.sum())}
    constrained = s >= np.quantile(s, 1 - quantile)
    a, b = int((constrained & y).sum()), int((constrained & ~y).sum())
    c, d = int((~constrained & y).sum()), int((~constrained & ~y).sum())
    odds, pval = fisher_exact([[a, b], [c, d]])
    return {"columns": int(ok.sum()), "conserved_columns": int(y.sum()),
            "constrained_share_in_conserved": round(a / max(a + c, 1), 4),
            "constrained_share_elsewhere": round(b / max(b + d, 1), 4),
            "odds_ratio": round(float(odds), 4), "fisher_p": float(pval),
            "auroc": round(float(roc_auc_score(y, s)), 4)}


def columns_with_all(cols: dict, reference: str) -> tuple[np.ndarray, np.ndarray]:
    """(sequence-conserved, reference per-base LLR) over columns aligned in every species of their group."""
    seqs, llrs = [], []
    for proj, gc, _ in cols.values():
        ok = np.ones(len(gc.seq_conserved), bool)
        for pr in proj.values():
            ok &= pr.offset >= 0
        seqs.append(gc.seq_conserved[ok])
        llrs.append(gc.raw_constraint[reference][ok])
    return np.concatenate(seqs), np.concatenate(llrs)
