"""Variant ranking and its outputs, from columns: priority, ranked TSV, plots, zero-shot checks (the scored VCF:
``scored_vcf``).

Everything here works on columns: Arrow tables of ranked rows, numpy arrays, integer codes of the
consequence classes; no Python object per variant. A run's merge (``variant_merge``) feeds them
from the engine's parts batch by batch, so a panel of tens of millions of variants ranks in the
memory of its score columns.

The priority and the percentiles are computed in ``priority`` (see there for the formula).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from plantllm.apps.consequence import SEVERITY
from plantllm.apps.priority import PriorityConfig, score_columns
from plantllm.apps.priority import prioritize as _prioritize
from plantllm.core import console as con
from plantllm.core.io import atomic_path, atomic_write
from plantllm.species.assembly import Assembly

def prioritize(table: pa.Table, method: "str | list[str]" = "llr", config: PriorityConfig | None = None,
               calibrated: bool = False, neutral=None) -> tuple[pa.Table, np.ndarray]:
    """The ranked table and the row order of the ranking: see ``priority.prioritize``."""
    return _prioritize(table, method, config, calibrated, neutral)


TSV_COLUMNS = ["rank", "priority", "chrom", "pos", "id", "ref", "alt", "consequence", "gene", "transcript",
               "aa_change", "distance_to_tss", "repeat", "subgenome", "score", "dosage", "dosage_weighted_score",
               "n_carriers", "impact", "evidence", "scored_by", "pct_class"]
#: columns written when the table has them (``--calibrated``)
TSV_OPTIONAL = ["calibrated_score", "pct_neutral"]


def tsv_names(column_names: list[str], models: list[str] | None = None) -> tuple[list[str], list[str], list[str]]:
    """The ranked TSV's columns for a ranked table's ``column_names``: (names, score columns, extra names)."""
    cols = [c for c in column_names if c.startswith("score") and c[5:].isdigit()]
    extra = [f"score_{m}" for m in models] if models and len(cols) > 1 else []
    names = TSV_COLUMNS[:TSV_COLUMNS.index("score") + 1] + extra + TSV_COLUMNS[TSV_COLUMNS.index("score") + 1:]
    names = [c for c in names if c in column_names or c == "score" or c in extra] + \
        [c for c in TSV_OPTIONAL if c in column_names]
    return names, cols, extra


def tsv_text(rows: pa.Table, names: list[str], cols: list[str], extra: list[str], file_name: dict[str, str]) -> str:
    """TSV lines of ranked rows (1-based positions, the FASTA's chromosome names): the text pandas' ``to_csv``
    (``tsv_text_pandas``) writes, made column by column in Arrow (floats by ``%.6g``, as pandas formats them),
    ~5x faster; rows it would quote or write differently (a missing string or integer, a tab or quote in a
    string, a chromosome not in the FASTA) go through pandas."""
    import pyarrow.compute as pc

    if not rows.num_rows:
        return tsv_text_pandas(rows, names, cols, extra, file_name)
    source = {"score": cols[0], **dict(zip(extra, cols))}
    texts, done = [], {}  # source column -> its texts (``score`` repeats a model's column)
    for name in names:
        key = source.get(name, name)
        col = rows.column(key)
        t = col.type
        if col.null_count and not pa.types.is_floating(t):
            return tsv_text_pandas(rows, names, cols, extra, file_name)
        if name == "chrom":
            enc = col.combine_chunks().dictionary_encode()
            terms = enc.dictionary.to_pylist()
            if any(x not in file_name for x in terms):
                return tsv_text_pandas(rows, names, cols, extra, file_name)
            texts.append(pa.array([file_name[x] for x in terms], pa.string()).take(enc.indices))
        elif pa.types.is_floating(t):
            texts.append(done[key] if key in done else done.setdefault(key, _g6(col.to_numpy())))
        elif pa.types.is_integer(t):
            texts.append(pc.cast(pc.add(col, 1) if name == "pos" else col, pa.string()))
        elif pa.types.is_boolean(t):
            texts.append(pc.cast(pc.cast(col, pa.int8()), pa.string()))
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            if pc.any(pc.match_substring_regex(col, '[\\t"\\r\\n]')).as_py():  # csv would quote these
                return tsv_text_pandas(rows, names, cols, extra, file_name)
            texts.append(col)
        else:
            return tsv_text_pandas(rows, names, cols, extra, file_name)
    lines = pc.binary_join_element_wise(*texts, "\t")
    return "\n".join(lines.to_pylist()) + "\n"


def _g6(x: np.ndarray) -> pa.Array:
    """``"%.6g" % v`` of each value, the way pandas' ``float_format`` writes it (hand-written: Arrow's float to
    string cast writes the shortest repr instead). A column of few distinct values (the dosage) is formatted
    once per value, told apart by their bits (0.0 and -0.0 differ)."""
    bits = np.ascontiguousarray(x, dtype=np.float64).view(np.int64)
    if len(x) > 4096 and len(np.unique(bits[:1024])) <= 32:
        u, inv = np.unique(bits, return_inverse=True)
        if len(u) <= len(x) // 16:
            return pa.array(["%.6g" % v for v in u.view(np.float64).tolist()], pa.string()).take(pa.array(inv))
    return pa.array(["%.6g" % v for v in x.tolist()], pa.string())


def tsv_text_pandas(rows: pa.Table, names: list[str], cols: list[str], extra: list[str],
                    file_name: dict[str, str]) -> str:
    """``tsv_text`` by pandas: the reference, and the path for rows the fast one does not take."""
    df = rows.to_pandas()
    df["chrom"] = df["chrom"].map(file_name)
    df["pos"] = df["pos"] + 1
    df["repeat"] = df["repeat"].astype(int)
    df["score"] = df[cols[0]]
    for name, c in zip(extra, cols):
        df[name] = df[c]
    return df[names].to_csv(sep="\t", header=False, index=False, float_format="%.6g", na_rep="nan",
                            lineterminator="\n")


def write_tsv(table: pa.Table, order: np.ndarray, path: Path, asm: Assembly, models: list[str] | None = None,
              chunk: int = 200_000) -> Path:
    """Ranked TSV of one ranked table (1-based positions, the FASTA's chromosome names); with several models,
    one ``score_<model>`` column each after ``score`` (the first model's). Written in chunks of the ranking.
    (A run's merge writes it from the parts: ``variant_merge``.)"""
    names, cols, extra = tsv_names(table.column_names, models)
    file_name = {c: asm.genome.file_name(c) for c in asm.genome.chromosomes(nuclear_only=False)}
    with atomic_write(path) as fh:
        fh.write("\t".join(names) + "\n")
        for i in range(0, len(order), chunk):
            fh.write(tsv_text(table.take(pa.array(order[i:i + chunk])), names, cols, extra, file_name))
    return path


def summary_sample(n: int, max_points: int = 200_000) -> np.ndarray | None:
    """The rows ``plot_summary`` shows of ``n`` (sorted), or None for all of them."""
    return np.sort(np.random.default_rng(0).choice(n, max_points, replace=False)) if n > max_points else None


def plot_summary(table: pa.Table, path: Path, method: str, max_points: int = 200_000, sampled: bool = False) -> Path:
    """Score by consequence class, and scores along the chromosomes (a sample of at most ``max_points``;
    ``sampled``: ``table`` is already that sample, ``summary_sample``'s rows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    take = None if sampled else summary_sample(table.num_rows, max_points)
    t = table.take(pa.array(take)) if take is not None else table
    sampled = sampled or take is not None
    df = t.select(["chrom", "pos", "consequence", score_columns(t)[0]]).to_pandas()
    df.columns = ["chrom", "pos", "consequence", "score"]
    df = df[np.isfinite(df["score"])]  # alleles not scored have no place on a score axis
    classes = sorted(df["consequence"].unique().tolist(), key=lambda t: (SEVERITY.index(t) if t in SEVERITY
                                                                        else len(SEVERITY), t))
    fig, ax = plt.subplots(1, 2, figsize=(13, 4))
    data = [df.loc[df["consequence"] == c, "score"].to_numpy() for c in classes]
    ax[0].boxplot(data, vert=False, tick_labels=[f"{c} ({len(x)})" for c, x in zip(classes, data)])
    ax[0].set_xlabel(f"{method} score (lower = ALT less likely)")
    ax[0].set_title("score by consequence class" + (f" ({max_points:,} sampled)" if sampled else ""))
    for c, g in df.groupby("chrom", sort=True):
        ax[1].scatter(g["pos"] + 1, g["score"], s=4, label=f"chromosome {c}")
    ax[1].set_xlabel("position (bp)"), ax[1].set_ylabel("score"), ax[1].set_title("scores along the chromosome")
    # beside the axes, not loc='best': that one tests each place against every point drawn (~6 us per variant
    # of a run's merge), and a legend outside hides no point
    ax[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


def model_names(dirs: list[Path]) -> list[str]:
    """Short unique names for TSV columns: the folder name, or parent_folder when names repeat."""
    names = [d.name for d in dirs]
    if len(set(names)) < len(names):
        names = ["_".join(d.parts[-2:]) for d in dirs]
    if len(set(names)) < len(names):
        names = [f"{n}{i}" for i, n in enumerate(names, 1)]
    return [n.replace(" ", "_").replace("\t", "_") for n in names]


DAMAGING = ["stop_gained", "missense_variant", "start_lost", "splice_donor_variant", "splice_acceptor_variant"]


def consequence_auroc(consequence, score, terms: list[str] | None = None) -> dict:
    """AUROC of -score separating damaging (stop gained, missense, start lost, splice) from neutral-ish
    (synonymous, intergenic) variants: the zero-shot check of the PDLLM / GPN papers. ``consequence``: the
    terms, or with ``terms`` integer codes into them (a panel's column: no string per allele)."""
    from sklearn.metrics import roc_auc_score

    s = np.asarray(score, dtype=np.float64)
    keep = np.isfinite(s)  # alleles not scored (NaN) take no part
    if terms is None:
        terms, codes = np.unique(np.asarray(consequence, dtype=object).astype(str), return_inverse=True)
        terms = terms.tolist()
    else:
        codes = np.asarray(consequence)
    code = {t: k for k, t in enumerate(terms)}
    ids = lambda names: [code[t] for t in names if t in code]  # noqa: E731
    c, s = codes[keep], s[keep]
    sel = np.isin(c, ids(DAMAGING + ["synonymous_variant", "intergenic_variant"]))
    y = np.isin(c[sel], ids(DAMAGING))
    if len(set(y.tolist())) < 2:
        return {}
    res = {"damaging_vs_neutral": float(roc_auc_score(y, -s[sel])), "n": int(sel.sum())}
    for a, b in (("stop_gained", "synonymous_variant"), ("missense_variant", "synonymous_variant")):
        m = np.isin(c, ids([a, b]))
        y2 = c[m] == code.get(a, -1)
        if len(set(y2.tolist())) == 2:
            res[f"{a}_vs_{b}"] = float(roc_auc_score(y2, -s[m]))
    return res


def write_saturation_vcf(asm: Assembly, regions: list[tuple[str, int, int]], path: str | Path) -> Path:
    """Every possible SNV in the regions (one record per position, the three other bases as ALTs):
    the in-silico saturation set used to check zero-shot scores against consequence classes."""
    path = Path(path)
    with atomic_write(path) as fh:
        fh.write("##fileformat=VCFv4.2\n##source=plantllm saturation mutagenesis\n")
        for c in sorted({c for c, _, _ in regions}, key=lambda x: asm.genome.chromosomes(nuclear_only=False).index(x)):
            fh.write(f"##contig=<ID={asm.genome.file_name(c)},length={asm.genome.length(c)}>\n")
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for c, s, e in sorted(regions, key=lambda r: (asm.genome.chromosomes(nuclear_only=False).index(r[0]), r[1])):
            seq = asm.genome.fetch(c, s, e).upper()
            name = asm.genome.file_name(c)
            for i, b in enumerate(seq):
                if b in "ACGT":
                    fh.write(f"{name}\t{s + i + 1}\t.\t{b}\t{','.join(x for x in 'ACGT' if x != b)}\t.\t.\t.\n")
    return path


def label_auroc(table: pa.Table, labels: dict[tuple[str, int, str, str], str], asm: Assembly) -> dict:
    """Evaluate against a user's labels (chrom, 1-based pos, ref, alt -> label): AUROC of the model score,
    of the consequence impact and of the combined priority for each label value against all others."""
    return label_evaluation([table.select(["chrom", "pos", "ref", "alt", score_columns(table)[0], "impact",
                                           "priority"])], labels, asm)


def label_evaluation(pieces, labels: dict[tuple[str, int, str, str], str], asm: Assembly) -> dict:
    """``label_auroc`` over ranked rows given in pieces (tables of chrom, pos, ref, alt, score, impact,
    priority, e.g. one per batch of a part): each piece is matched to the labels, so only labelled rows
    are kept."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    lab = pd.DataFrame([(*k, v) for k, v in labels.items()], columns=["chrom", "pos", "ref", "alt", "label"])
    card, file = [], []
    for piece in pieces:
        df = piece.to_pandas()
        df.columns = ["chrom", "pos", "ref", "alt", "score", "impact", "priority"]
        df = df[np.isfinite(df["score"])]  # alleles not scored are evaluated by nothing here
        df["pos"] += 1
        names = {c: asm.genome.file_name(c) for c in df["chrom"].unique()}
        card.append(df.merge(lab, on=["chrom", "pos", "ref", "alt"], how="inner"))
        file.append(df.assign(chrom=df["chrom"].map(names)).merge(lab, on=["chrom", "pos", "ref", "alt"], how="inner"))
    empty = pd.DataFrame(columns=["chrom", "pos", "ref", "alt", "score", "impact", "priority", "label"])
    by_card, by_file = (pd.concat(x, ignore_index=True) if x else empty for x in (card, file))
    sel = by_card if len(by_card) >= len(by_file) else by_file
    out: dict = {"labelled": len(sel), "unmatched_labels": len(labels) - len(sel)}
    if out["unmatched_labels"]:
        found = set(zip(sel["chrom"], sel["pos"], sel["ref"], sel["alt"]))
        first = next(k for k in labels if k not in found)
        con.warn(f"{out['unmatched_labels']:,} of {len(labels):,} labelled variants are not among the scored "
                 f"variants and are left out of the evaluation (first: {first[0]}:{first[1]} {first[2]}>{first[3]})")
        out["first_unmatched_label"] = f"{first[0]}:{first[1]} {first[2]}>{first[3]}"
    for value in sorted(sel["label"].unique()):
        y = (sel["label"] == value).to_numpy()
        if 0 < y.sum() < len(y):
            out[value] = {"n": int(y.sum()),
                          "auroc_score": float(roc_auc_score(y, -sel["score"])),
                          "auroc_impact": float(roc_auc_score(y, sel["impact"])),
                          "auroc_priority": float(roc_auc_score(y, sel["priority"]))}
    return out
