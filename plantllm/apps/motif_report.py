"""What ``plantllm motifs`` writes: MEME motifs, the JASPAR matches table, seqlets, k-mer
enrichment, attributions, logos, summary.json and a report (Markdown and HTML).

Every file is written atomically; the summary is the one ``discover`` returns.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from plantllm.apps.motif_matching import ALPHABET, Discovery, Motif, information
from plantllm.core.errors import InputFileError
from plantllm.core.io import atomic_path, atomic_write


MATCH_COLUMNS = ("motif", "source", "consensus", "seqlets", "sequences", "rank", "jaspar", "name", "family",
                 "element", "p", "q", "strand")


def write_all(d: Discovery, out: Path) -> dict:
    """Every output of a discovery run into ``out``; returns its summary."""
    with atomic_write(out / "attributions.npz", "wb") as fh:  # a file object: np.savez would add ".npz"
        np.savez_compressed(fh, attribution=d.attribution, control=d.control, onehot=d.onehot.astype(np.int8))
    write_seqlets(d, out / "seqlets.tsv")
    write_meme(d.motifs, out / "motifs.meme", sites_note=f"plantllm seqlets of {d.model}")
    write_matches(d.motifs + d.kmers, out / "matches.tsv")
    with atomic_write(out / "kmer_enrichment.tsv") as fh:
        d.enrichment.head(500).to_csv(fh, sep="\t", index=False, float_format="%.4g")
    by_id = {x["id"]: x["ppm"] for x in d.jaspar}
    logos = out / "logos"
    logos.mkdir(exist_ok=True)
    for m in d.motifs:
        plot_logo(m, logos / f"{m.id}.png", by_id.get(m.matches[0]["jaspar"]) if m.matches else None)
    summary = d.summary()
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=2, default=float)
    write_report(summary, out)
    return summary


def write_seqlets(d: Discovery, path: Path) -> Path:
    sl, names = d.seqlets, d.names
    with atomic_write(path) as fh:
        fh.write("sequence\tname\tstart\tend\tattribution\tp_value\tseq\n")
        for e, a, b, score, p in zip(sl["example_idx"], sl["start"], sl["end"], sl["attribution"], sl["p-value"]):
            e, a, b = int(e), int(a), int(b)
            fh.write(f"{e}\t{names[e] if names else e}\t{a}\t{b}\t{score:.4g}\t{p:.3g}\t{d.seqs[e][a:b]}\n")
    return path


def write_meme(motifs: list[Motif], path: Path, *, sites_note: str = "plantllm") -> Path:
    """MEME minimal motif format (readable by MEME suite tools, memelite, tangermeme, JASPAR tools)."""
    with atomic_write(path) as fh:
        fh.write("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n"
                 "Background letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n")
        for m in motifs:
            label = m.element.replace(" ", "_")
            fh.write(f"MOTIF {m.id} {label}\n")
            fh.write(f"letter-probability matrix: alength= 4 w= {m.ppm.shape[1]} nsites= {m.n_seqlets} E= 0\n")
            for col in m.ppm.T:
                fh.write(" " + "  ".join(f"{v:.6f}" for v in col / col.sum()) + "\n")
            fh.write(f"URL {sites_note}\n\n")
    return path


def read_meme(path: str | Path) -> dict[str, np.ndarray]:
    """{motif id: (4, w) matrix} from a MEME file (through memelite's reader)."""
    from memelite.io import read_meme as _read

    try:
        out = {k.split()[0]: np.asarray(v) for k, v in _read(str(path)).items()}
    except Exception as e:  # memelite raises bare exceptions on malformed files
        raise InputFileError(f"not a MEME motif file ({e})", path=path) from None
    if not out:
        raise InputFileError("no motif in this file (is it MEME format, with MOTIF and letter-probability "
                             "matrix lines?)", path=path)
    return out


def write_matches(motifs: list[Motif], path: Path) -> Path:
    with atomic_write(path) as fh:
        fh.write("\t".join(MATCH_COLUMNS) + "\n")
        for m in motifs:
            rows = m.matches or [None]
            for r, x in enumerate(rows, 1):
                vals = [m.id, m.source, m.consensus, m.n_seqlets, m.n_sequences]
                vals += [r, x["jaspar"], x["name"], x["family"], x["element"], f"{x['p']:.3g}", f"{x['q']:.3g}",
                         x["strand"]] if x else ["", "", "", "", "no match at q<=0.05", "", "", ""]
                fh.write("\t".join(str(v) for v in vals) + "\n")
    return path


def plot_logo(m: Motif, path: Path, jaspar_ppm: np.ndarray | None = None) -> Path:
    """Logo of the motif's CWM (what the model used) over its information-content logo (what the
    bases were), with the best JASPAR match's logo under them."""
    import logomaker
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    rows = 3 if jaspar_ppm is not None else 2
    fig, axes = plt.subplots(rows, 1, figsize=(max(4, m.ppm.shape[1] * 0.45), 1.5 * rows))
    logomaker.Logo(pd.DataFrame(m.cwm.T, columns=list(ALPHABET)), ax=axes[0], color_scheme="classic")
    axes[0].set_ylabel("contrib.", fontsize=8)
    axes[0].set_title(f"{m.id}: {m.consensus} - {m.element}", fontsize=9)
    logomaker.Logo(pd.DataFrame((m.ppm * information(m.ppm)).T, columns=list(ALPHABET)), ax=axes[1],
                   color_scheme="classic")
    axes[1].set_ylabel("bits", fontsize=8)
    axes[1].set_ylim(0, 2)
    if jaspar_ppm is not None:
        x = m.matches[0]
        ppm = jaspar_ppm if x["strand"] == "+" else jaspar_ppm[::-1, ::-1]
        logomaker.Logo(pd.DataFrame((ppm * information(ppm)).T, columns=list(ALPHABET)), ax=axes[2],
                       color_scheme="classic")
        axes[2].set_ylabel("bits", fontsize=8)
        axes[2].set_ylim(0, 2)
        axes[2].set_title(f"JASPAR {x['jaspar']} {x['name']} ({x['family'] or x['class']}), q={x['q']:.2g}", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


# ---------------------------------------------------------------- the report
def write_report(s: dict, out: Path) -> Path:
    """report.md and report.html: what was done, the motifs with their logos and names, the baseline."""
    md = report_markdown(s)
    with atomic_write(out / "report.md") as fh:
        fh.write("\n".join(md))
    with atomic_write(out / "report.html") as fh:
        fh.write("<!doctype html><meta charset='utf-8'><title>plantllm motifs</title>"
                 "<style>body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:collapse}"
                 "td,th{border:1px solid #ccc;padding:2px 6px}</style><body>" + "\n".join(_html_body(md, s, out))
                 + "</body>")
    return out / "report.html"


def report_markdown(s: dict) -> list[str]:
    """The report's lines: title, what was done, the motifs, the k-mer baseline, the elements recovered."""
    rec_m, rec_k = s["recovered"]["model"], s["recovered"]["kmer"]
    elements = sorted(set(rec_m) | set(rec_k))
    md = [f"# Motifs learned by {s['model']}", "",
          f"{s['description'] or str(s['sequences']) + ' sequences'} ({s['length']} bp). Attribution: "
          f"{'in-silico saturation mutagenesis' if s['method'] == 'ism' else 'integrated gradients'} "
          f"({s['seconds_attribution']} s). {s['seqlets']} seqlets called at {s['seqlet_threshold']}, clustered into "
          f"{len(s['motifs'])} motifs and matched to JASPAR {s['jaspar']} Plantae with TOMTOM (q <= 0.05).", "",
          "| motif | consensus | seqlets | sequences | best JASPAR match | q | cis-element |",
          "|---|---|---|---|---|---|---|"]
    for m in s["motifs"]:
        x = m["matches"][0] if m["matches"] else None
        md.append(f"| {m['id']} | `{m['consensus']}` | {m['seqlets']} | {m['sequences']} | "
                  f"{x['jaspar'] + ' ' + x['name'] if x else '-'} | {format(x['q'], '.2g') if x else '-'} | "
                  f"{m['element']} |")
    md += ["", f"## Baseline: 6-mer enrichment against {s['background']}", "",
           "| k-mer | log2 odds | q | best JASPAR match | cis-element |", "|---|---|---|---|---|"]
    for m in s["kmer_motifs"]:
        x = m["matches"][0] if m["matches"] else None
        md.append(f"| `{m['kmer']}` | {m['log2_odds']:.2f} | {m['q']:.2g} | "
                  f"{x['jaspar'] + ' ' + x['name'] if x else '-'} | {m['element']} |")
    md += ["", "## Known plant cis-elements recovered", "", "| cis-element | by the model | by 6-mer enrichment |",
           "|---|---|---|"]
    for e in elements:
        md.append(f"| {e} | {', '.join(rec_m.get(e, [])) or '-'} | {', '.join(rec_k.get(e, [])) or '-'} |")
    if not elements:
        md.append("| (none at q <= 0.05) | | |")
    md += ["", "Files: `motifs.meme` (MEME format), `matches.tsv`, `seqlets.tsv`, `kmer_enrichment.tsv`, "
               "`attributions.npz`, `logos/*.png`.", ""]
    return md


def _html_body(md: list[str], s: dict, out: Path) -> list[str]:
    """The Markdown report as HTML (its tables as tables), then the logos inlined."""
    body = ["<h1>" + html.escape(md[0][2:]) + "</h1>", "<p>" + html.escape(md[2]) + "</p>"]
    table: list[str] = []
    for line in md[3:]:
        if line.startswith("|"):
            cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            tag = "th" if not table else "td"
            table.append("<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>")
            continue
        if table:
            body.append("<table>" + "".join(table) + "</table>")
            table = []
        if line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    if table:
        body.append("<table>" + "".join(table) + "</table>")
    body.append("<h2>Logos</h2><p>Top: contribution of each base (what the model used); middle: information "
                "content of the aligned seqlets (what the bases were); bottom: the best JASPAR match.</p>")
    for m in s["motifs"]:
        logo = out / "logos" / f"{m['id']}.png"
        img = (f'<img src="data:image/png;base64,{base64.b64encode(logo.read_bytes()).decode()}" '
               'style="max-width:100%">' if logo.exists() else "")
        body.append(f"<h3>{html.escape(m['id'])}: {html.escape(m['element'])}</h3>" + img)
    return body
