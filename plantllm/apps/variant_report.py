"""Variant ranking and its outputs, from columns: priority, ranked TSV, scored VCF, plots, zero-shot checks.

Everything here works on the merged parts of the inference engine as one Arrow table (memory-mapped
from the job folder) plus a few numpy arrays per variant: no Python object per variant, so a panel
of tens of millions of variants ranks in the memory of its score columns.

``priority = 0.5 * impact + 0.5 * evidence``: ``impact`` is the consequence class weight
(``IMPACT``), ``evidence`` the percentile of the model score among the scored variants (most
deleterious = 1; the mean of the models' percentiles when several score together).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from plantllm.core import console as con
from plantllm.core.io import atomic_path, atomic_write, tabix_index
from plantllm.species.assembly import Assembly

#: consequence class weights used in the priority (1 = most likely to change a trait)
IMPACT = {
    "stop_gained": 1.0, "frameshift_variant": 1.0, "splice_acceptor_variant": 0.95, "splice_donor_variant": 0.95,
    "start_lost": 0.95, "stop_lost": 0.9, "inframe_indel": 0.7, "missense_variant": 0.65,
    "splice_region_variant": 0.45, "upstream_gene_variant": 0.4, "5_prime_UTR_variant": 0.35,
    "3_prime_UTR_variant": 0.3, "non_coding_exon_variant": 0.3, "synonymous_variant": 0.15,
    "stop_retained_variant": 0.15, "intron_variant": 0.15, "downstream_gene_variant": 0.1,
    "intergenic_variant": 0.05,
}




def _evidence(scores: np.ndarray, method: str) -> np.ndarray:
    """Percentile of each score among the scored variants, most deleterious = 1."""
    # llr / clm: lower = ALT less likely = stronger evidence; delta / embedding: larger change = stronger
    key = scores if method in ("llr", "clm") else -np.abs(scores)
    order = np.argsort(np.argsort(key, kind="stable"), kind="stable")
    return 1.0 - order / max(len(scores) - 1, 1)


def score_columns(table: pa.Table) -> list[str]:
    return [c for c in table.column_names if c.startswith("score") and c[5:].isdigit()]


def prioritize(table: pa.Table, method: "str | list[str]" = "llr") -> tuple[pa.Table, np.ndarray]:
    """The table with impact, evidence, priority, dosage-weighted score and rank columns, and the row order
    of the ranking (rank 1 first; ties keep the input order). With several models (``score0``, ``score1``...),
    evidence is the mean of their percentiles, each in its own method's direction."""
    cols = score_columns(table)
    methods = [method] * len(cols) if isinstance(method, str) else list(method)
    if len(methods) == 1:
        methods = methods * len(cols)
    evidence = np.mean([_evidence(table.column(c).to_numpy(zero_copy_only=False), m)
                        for c, m in zip(cols, methods)], axis=0) if table.num_rows else np.empty(0)
    terms = table.column("consequence").combine_chunks().dictionary_encode()
    weights = np.array([IMPACT.get(x, 0.05) for x in terms.dictionary.to_pylist()], dtype=np.float64)
    impact = weights[terms.indices.to_numpy(zero_copy_only=False)] if table.num_rows else np.empty(0)
    priority = 0.5 * impact + 0.5 * evidence
    order = np.lexsort((-evidence, -priority))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    score = table.column(cols[0]).to_numpy(zero_copy_only=False)
    dose = table.column("dosage").to_numpy(zero_copy_only=False)
    out = (table.append_column("impact", pa.array(impact)).append_column("evidence", pa.array(evidence))
           .append_column("priority", pa.array(priority)).append_column("rank", pa.array(rank))
           .append_column("dosage_weighted_score", pa.array(score * dose)))
    return out, order


TSV_COLUMNS = ["rank", "priority", "chrom", "pos", "id", "ref", "alt", "consequence", "gene", "transcript",
               "aa_change", "distance_to_tss", "repeat", "subgenome", "score", "dosage", "dosage_weighted_score",
               "n_carriers", "impact", "evidence"]


def write_tsv(table: pa.Table, order: np.ndarray, path: Path, asm: Assembly, models: list[str] | None = None,
              chunk: int = 200_000) -> Path:
    """Ranked TSV (1-based positions, the FASTA's chromosome names); with several models, one
    ``score_<model>`` column each after ``score`` (the first model's). Written in chunks of the ranking."""
    cols = score_columns(table)
    extra = [f"score_{m}" for m in models] if models and len(cols) > 1 else []
    names = TSV_COLUMNS[:TSV_COLUMNS.index("score") + 1] + extra + TSV_COLUMNS[TSV_COLUMNS.index("score") + 1:]
    file_name = {c: asm.genome.file_name(c) for c in asm.genome.chromosomes(nuclear_only=False)}
    with atomic_write(path) as fh:
        fh.write("\t".join(names) + "\n")
        for i in range(0, len(order), chunk):
            df = table.take(pa.array(order[i:i + chunk])).to_pandas()
            df["chrom"] = df["chrom"].map(file_name)
            df["pos"] = df["pos"] + 1
            df["repeat"] = df["repeat"].astype(int)
            df["score"] = df[cols[0]]
            for name, c in zip(extra, cols):
                df[name] = df[c]
            fh.write(df[names].to_csv(sep="\t", header=False, index=False, float_format="%.6g", na_rep="nan",
                                      lineterminator="\n"))
    return path


class RowLocator:
    """The rows of one VCF record in the merged table: parts are in shard order and each part's rows in
    record order, so a record's rows are found by two binary searches (no map of all variants)."""

    def __init__(self, table: pa.Table, shard_rows: list[int]):
        self.offsets = np.concatenate([[0], np.cumsum(shard_rows)]).astype(np.int64)
        self.record = table.column("record").to_numpy(zero_copy_only=False)
        self.alt = table.column("alt").to_pylist()

    def rows(self, key: tuple[int, int] | None) -> dict[str, int]:
        """ALT -> row of the record ``key`` = (shard position in the job, record ordinal in the shard)."""
        if key is None:
            return {}
        s, rec = key
        a, b = self.offsets[s], self.offsets[s + 1]
        lo = a + np.searchsorted(self.record[a:b], rec, side="left")
        hi = a + np.searchsorted(self.record[a:b], rec, side="right")
        return {self.alt[i]: int(i) for i in range(lo, hi)}


def write_vcf(src: str | Path, table: pa.Table, locate: RowLocator, key_of, path: Path, method: str, model: str,
              models: list[str] | None = None, contigs: list[str] = ()) -> Path:
    """The input VCF with plantllm INFO fields on every scored ALT (declared in the header), bgzipped with a
    tabix index (``.tbi``), atomically. ``key_of(i, record)`` gives the key ``locate`` finds a record's rows
    by. With several models, ``PLLM_SCORE<i>`` carries model i's score (its path in the header). ``contigs``:
    the sequence names of the records (from the VCF's index), declared where the header lacks them."""
    import pysam

    pysam.set_verbosity(0)
    cols = score_columns(table)
    values = {k: table.column(c).to_numpy(zero_copy_only=False) for k, c in
              (("score", cols[0]), ("priority", "priority"), ("rank", "rank"))}
    values.update({f"score{i}": table.column(c).to_numpy(zero_copy_only=False) for i, c in enumerate(cols)})
    csq, gene = table.column("consequence").to_pylist(), table.column("gene").to_pylist()
    vin = pysam.VariantFile(str(src))
    header = _header(vin, contigs, method, model, models)
    with atomic_path(path) as tmp:
        with pysam.VariantFile(str(tmp), "wz", header=header) as vout:
            for i, rec in enumerate(vin, 1):
                new = vout.new_record(contig=rec.chrom, start=rec.start, stop=rec.stop, alleles=rec.alleles,
                                      id=rec.id, qual=rec.qual, filter=rec.filter.keys(), info=dict(rec.info))
                for s in rec.samples:
                    for k, v in rec.samples[s].items():
                        new.samples[s][k] = v
                found = locate.rows(key_of(i, rec))
                rows = [found.get(a) for a in (rec.alts or ())]
                if any(r is not None for r in rows):
                    _annotate(new, rows, csq, gene, values, models)
                vout.write(new)
        tabix_index(tmp, path, preset="vcf")
    vin.close()
    return path


def _header(vin, contigs: list[str], method: str, model: str, models: list[str] | None):
    header = vin.header.copy()
    for key, num, typ, desc in (
            ("PLLM_CSQ", "A", "String", "plantllm most severe consequence per ALT"),
            ("PLLM_GENE", "A", "String", "plantllm gene of that consequence"),
            ("PLLM_SCORE", "A", "Float", f"plantllm {method} score per ALT (model {Path(model).name}); "
                                         "negative = ALT less likely"),
            ("PLLM_PRIORITY", "A", "Float", "plantllm priority 0.5*impact + 0.5*evidence percentile"),
            ("PLLM_RANK", "A", "Integer", "plantllm rank of the ALT (1 = highest priority)"),
            *[(f"PLLM_SCORE{i}", "A", "Float", f"plantllm score of model {i}: {m}")
              for i, m in enumerate(models or [], 1) if len(models) > 1]):
        header.add_meta("INFO", items=[("ID", key), ("Number", num), ("Type", typ), ("Description", desc)])
    # VCFs without ##contig lines are common (the maize set has none); pysam needs them to write records
    for c in contigs:
        if c not in header.contigs:
            header.contigs.add(c)
    return header


def _annotate(new, rows: list, csq: list, gene: list, values: dict, models: list[str] | None) -> None:
    new.info["PLLM_CSQ"] = tuple(csq[r] if r is not None else "." for r in rows)
    new.info["PLLM_GENE"] = tuple((gene[r] or ".") if r is not None else "." for r in rows)
    new.info["PLLM_SCORE"] = tuple(float(values["score"][r]) if r is not None else None for r in rows)
    new.info["PLLM_PRIORITY"] = tuple(float(values["priority"][r]) if r is not None else None for r in rows)
    new.info["PLLM_RANK"] = tuple(int(values["rank"][r]) if r is not None else None for r in rows)
    if models and len(models) > 1:
        for i in range(len(models)):
            new.info[f"PLLM_SCORE{i + 1}"] = tuple(float(values[f"score{i}"][r]) if r is not None else None
                                                   for r in rows)


def plot_summary(table: pa.Table, path: Path, method: str, max_points: int = 200_000) -> Path:
    """Score by consequence class, and scores along the chromosomes (a sample of at most ``max_points``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = table.num_rows
    take = np.sort(np.random.default_rng(0).choice(n, max_points, replace=False)) if n > max_points else None
    t = table.take(pa.array(take)) if take is not None else table
    df = t.select(["chrom", "pos", "consequence", score_columns(t)[0]]).to_pandas()
    df.columns = ["chrom", "pos", "consequence", "score"]
    classes = [c for c in IMPACT if (df["consequence"] == c).any()]
    fig, ax = plt.subplots(1, 2, figsize=(13, 4))
    data = [df.loc[df["consequence"] == c, "score"].to_numpy() for c in classes]
    ax[0].boxplot(data, vert=False, tick_labels=[f"{c} ({len(x)})" for c, x in zip(classes, data)])
    ax[0].set_xlabel(f"{method} score (lower = ALT less likely)")
    ax[0].set_title("score by consequence class" + (f" ({max_points:,} sampled)" if take is not None else ""))
    for c, g in df.groupby("chrom", sort=True):
        ax[1].scatter(g["pos"] + 1, g["score"], s=4, label=f"chromosome {c}")
    ax[1].set_xlabel("position (bp)"), ax[1].set_ylabel("score"), ax[1].set_title("scores along the chromosome")
    ax[1].legend(fontsize=7)
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


def consequence_auroc(consequence, score) -> dict:
    """AUROC of -score separating damaging (stop gained, missense, start lost, splice) from neutral-ish
    (synonymous, intergenic) variants: the zero-shot check of the PDLLM / GPN papers."""
    from sklearn.metrics import roc_auc_score

    c = np.asarray(consequence, dtype=object)
    s = np.asarray(score, dtype=np.float64)
    pos = ["stop_gained", "missense_variant", "start_lost", "splice_donor_variant", "splice_acceptor_variant"]
    sel = np.isin(c, pos + ["synonymous_variant", "intergenic_variant"])
    y = np.isin(c[sel], pos)
    if len(set(y.tolist())) < 2:
        return {}
    res = {"damaging_vs_neutral": float(roc_auc_score(y, -s[sel])), "n": int(sel.sum())}
    for a, b in (("stop_gained", "synonymous_variant"), ("missense_variant", "synonymous_variant")):
        m = np.isin(c, [a, b])
        y2 = c[m] == a
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
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    df = table.select(["chrom", "pos", "ref", "alt", score_columns(table)[0], "impact", "priority"]).to_pandas()
    df.columns = ["chrom", "pos", "ref", "alt", "score", "impact", "priority"]
    df["pos"] += 1
    names = {c: asm.genome.file_name(c) for c in df["chrom"].unique()}
    lab = pd.DataFrame([(*k, v) for k, v in labels.items()], columns=["chrom", "pos", "ref", "alt", "label"])
    by_card = df.merge(lab, on=["chrom", "pos", "ref", "alt"], how="inner")
    by_file = df.assign(chrom=df["chrom"].map(names)).merge(lab, on=["chrom", "pos", "ref", "alt"], how="inner")
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
