"""What ``plantllm motifs compare`` writes: clusters.tsv (one row per motif cluster across species),
members.tsv (every motif and its cluster), motifs.meme (one motif per cluster, its representative),
presence.png (clusters x species heatmap), shared_logos.png (logos of the top shared clusters, one
per species), summary.json and report.md. Every file is written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from plantllm.apps.motif_comparison import SOURCES, Cluster, Comparison, compare, load_discovery
from plantllm.apps.motif_matching import ALPHABET, Motif, information
from plantllm.apps.motif_report import write_meme
from plantllm.core import console as con
from plantllm.core.io import atomic_path, atomic_write


def compare_folders(named: list[tuple[str, Path]], out: str | Path, *, max_q: float = 0.05,
                    max_evalue: float | None = None) -> dict:
    """Read every species' discover output, compare (``motif_comparison``), write everything into ``out``;
    returns the summary. Every input is read and checked before the first file is written."""
    groups = [load_discovery(s, p) for s, p in con.track(named, "reading motif discovery outputs", unit="species")]
    return write_all(compare(groups, max_q=max_q, max_evalue=max_evalue), Path(out))


def discover_kmers(seqs: list[str], out: str | Path, *, background: list[str] | None = None,
                   description: str = "", seed: int = 0) -> dict:
    """The k-mer baseline of motif discovery alone (no model): 6-mer enrichment against ``background`` (or
    dinucleotide shuffles), JASPAR names, written as a discovery folder (summary.json, motifs.meme without
    model motifs, matches.tsv, kmer_enrichment.tsv) that ``compare_folders`` reads."""
    from plantllm.apps.motif_discovery import shuffled_controls
    from plantllm.apps.motif_matching import jaspar_plantae, kmer_enrichment, kmer_motifs, match_jaspar, recovered
    from plantllm.apps.motif_report import write_matches

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with con.status(f"6-mer enrichment in {len(seqs)} sequences"):
        enr = kmer_enrichment(seqs, background or shuffled_controls(seqs, seed), k=6)
        kmers = kmer_motifs(enr)
        db, release = jaspar_plantae()
        match_jaspar(kmers, db)
    write_meme([], out / "motifs.meme")
    write_matches(kmers, out / "matches.tsv")
    with atomic_write(out / "kmer_enrichment.tsv") as fh:
        enr.head(500).to_csv(fh, sep="\t", index=False, float_format="%.4g")
    s = {"model": None, "method": "k-mer enrichment only", "description": description, "sequences": len(seqs),
         "seqlets": 0, "jaspar": release, "motifs": [],
         "kmer_motifs": [{"id": m.id, "kmer": m.consensus, "log2_odds": m.extra["log2_odds"], "q": m.extra["q"],
                          "element": m.element, "matches": m.matches} for m in kmers],
         "recovered": {"model": {}, "kmer": recovered(kmers)},
         "background": "given background" if background else "dinucleotide shuffles"}
    with atomic_write(out / "summary.json") as fh:
        json.dump(s, fh, indent=2, default=float)
    return s


def write_all(comp: Comparison, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    with con.status(f"writing {len(comp.clusters)} motif clusters to {out}"):
        write_clusters(comp, out / "clusters.tsv")
        write_members(comp, out / "members.tsv")
        write_meme([merged(c) for c in comp.clusters], out / "motifs.meme",
                   sites_note="plantllm motifs compare: the cluster's representative motif")
        plot_presence(comp, out / "presence.png")
        plot_shared_logos(comp, out / "shared_logos.png")
        s = comp.summary()
        with atomic_write(out / "summary.json") as fh:
            json.dump(s, fh, indent=2, default=float)
        with atomic_write(out / "report.md") as fh:
            fh.write("\n".join(report_markdown(s)))
    return s


def _fmt(v) -> str:
    if v is None:
        return ""
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def write_clusters(comp: Comparison, path: Path) -> Path:
    rows, cols = [comp.row(c) for c in comp.clusters], comp.columns()
    with atomic_write(path) as fh:
        fh.write("\t".join(cols) + "\n")
        for r in rows:
            fh.write("\t".join(_fmt(r[k]) for k in cols) + "\n")
    return path


def write_members(comp: Comparison, path: Path) -> Path:
    with atomic_write(path) as fh:
        fh.write("species\tsource\tmotif\tconsensus\tseqlets\tenrichment_q\telement\tjaspar\tjaspar_q\tcluster\t"
                 "status\n")
        for c in comp.clusters:
            for s, m in c.members:
                x = m.matches[0] if m.matches else None
                fh.write("\t".join([s, m.source, m.id, m.consensus, str(m.n_seqlets), _fmt(m.extra.get("q")),
                                    m.element, x["jaspar"] if x else "", _fmt(x["q"]) if x else "", c.id,
                                    comp.status(c)]) + "\n")
    return path


def merged(c: Cluster) -> Motif:
    """The cluster as one motif: its representative's PPM under the cluster id, the best JASPAR match."""
    r = c.representative
    x = c.best_match
    return Motif(id=c.id, ppm=r.ppm, cwm=r.cwm, n_seqlets=sum(m.n_seqlets for _, m in c.members) or len(c.members),
                 n_sequences=sum(m.n_sequences for _, m in c.members), consensus=r.consensus,
                 matches=[x] if x else [], source=c.source)


def _label(c: Cluster) -> str:
    x = c.best_match
    return f"{c.id} {c.representative.consensus} ({x['element'] if x else 'no JASPAR match'})"


def plot_presence(comp: Comparison, path: Path, top: int = 30) -> Path:
    """Clusters (rows, shared first) x species: -log10 of the best cross-species value where the species
    has a member that matches another species', grey where its member matches none, white where absent."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(tag, [c for c in comp.clusters if c.id.startswith(tag + "-")][:top]) for _, _, tag in SOURCES]
    panels = [(t, cl) for t, cl in panels if cl] or [("model", [])]
    height = max(2.5, 0.28 * max(len(cl) for _, cl in panels) + 1.5)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), height), squeeze=False)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white", under="lightgrey")
    im = None
    for ax, (tag, cl) in zip(axes[0], panels):
        M = np.full((max(1, len(cl)), len(comp.species)), np.nan)
        for i, c in enumerate(cl):
            for j, s in enumerate(comp.species):
                if s in c.species:
                    v = c.q_by_species.get(s)
                    M[i, j] = -1.0 if v is None else min(10.0, -np.log10(max(v, 1e-10)))
        im = ax.imshow(np.ma.masked_invalid(M), aspect="auto", cmap=cmap, vmin=0, vmax=10, interpolation="nearest")
        ax.set_xticks(range(len(comp.species)), comp.species, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(cl)), [_label(c) for c in cl], fontsize=7)
        ax.set_title(f"{'model motifs' if tag == 'model' else '6-mer enrichment motifs'} "
                     f"({len(cl)} clusters{', top ' + str(top) if len(cl) == top else ''})", fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=axes[0].tolist(), shrink=0.6, label=f"-log10 {comp.metric} (best match in another species)")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_shared_logos(comp: Comparison, path: Path, top: int = 6) -> Path:
    """Information-content logos of the top shared clusters (rows), one member per species (columns)."""
    import logomaker
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    shared = [c for c in comp.clusters if len(c.species) > 1][:top]
    rows, cols = max(1, len(shared)), len(comp.species)
    fig, axes = plt.subplots(rows, cols, figsize=(2.8 * cols, 1.5 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    if not shared:
        axes[0, 0].text(0, 0.5, f"no motif shared at {comp.metric} <= {comp.threshold:g}", fontsize=9)
    for i, c in enumerate(shared):
        for j, s in enumerate(comp.species):
            m = next((m for t, m in c.members if t == s), None)
            if m is None:
                continue
            ax = axes[i, j]
            ax.axis("on")
            logomaker.Logo(pd.DataFrame((m.ppm * information(m.ppm)).T, columns=list(ALPHABET)), ax=ax,
                           color_scheme="classic")
            ax.set_ylim(0, 2)
            ax.set_xticks([])
            ax.tick_params(labelsize=6)
            v = c.q_by_species.get(s)
            ax.set_title(f"{s} {m.id}" + (f" ({comp.metric}={v:.1g})" if v is not None else ""), fontsize=7)
        axes[i, 0].set_ylabel(_label(c).replace(" (", "\n("), fontsize=6)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


def report_markdown(s: dict) -> list[str]:
    sp, metric = s["species"], s["metric"]
    md = [f"# Motifs across {len(sp)} species: {', '.join(sp)}", "",
          f"Every species' motifs matched against the others' with TOMTOM (memelite); two motifs match when both "
          f"directions reach {'q (Benjamini-Hochberg over the other species motifs)' if metric == 'q' else 'E'} "
          f"<= {s['threshold']:g}; clusters are complete-linkage, so every two motifs of a cluster match.", ""]
    for tag, d in s["sources"].items():
        if tag == "model" and not sum(d["motifs"].values()):
            md += ["No model motifs (the 6-mer enrichment baseline alone, or no model motif in any species).", ""]
            continue
        name = "the model's seqlet motifs" if tag == "model" else "the 6-mer enrichment baseline's motifs"
        md += [f"## {name[0].upper() + name[1:]}", "",
               "Motifs per species: " + ", ".join(f"{k} {v}" for k, v in d["motifs"].items())
               + f"; {d['clusters']} clusters, {d['shared']} shared ({d['shared_by_all']} by all species), specific: "
               + ", ".join(f"{k} {v}" for k, v in d["specific"].items()) + ".", "",
               "| cluster | status | consensus | best JASPAR match | cis-element | "
               + " | ".join(f"{metric} {x}" for x in sp) + " |",
               "|---|---|---|---|---|" + "---|" * len(sp)]
        for r in d["clusters_detail"]:
            jas = f"{r['jaspar']} {r['jaspar_name']} (q={r['jaspar_q']:.2g})" if r["jaspar"] else "-"
            md.append(f"| {r['cluster']} | {r['status']} | `{r['consensus']}` | {jas} | {r['element']} | "
                      + " | ".join(_fmt(r[f'{metric}_{x}']) or ("-" if not r[f'{x}_motifs'] else "no match")
                                   for x in sp) + " |")
        if not d["clusters_detail"]:
            md.append("| (no motif) |" + " |" * (4 + len(sp)))
        md.append("")
    md += ["Files: `clusters.tsv`, `members.tsv`, `motifs.meme` (one motif per cluster, MEME format), "
           "`presence.png`, `shared_logos.png`, `summary.json`.", ""]
    return md
