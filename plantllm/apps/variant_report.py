"""Variant ranking and its outputs: priority, ranked TSV, scored VCF, plots, zero-shot checks.

``priority = 0.5 * impact + 0.5 * evidence``: ``impact`` is the consequence class weight
(``IMPACT``), ``evidence`` the percentile of the model score among the scored variants (most
deleterious = 1; the mean of the models' percentiles when several score together).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from plantllm.core.io import atomic_path, atomic_write
from plantllm.species.assembly import Assembly
from plantllm.species.vcf import header_line_count

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


def prioritize(rows: list, method: "str | list[str]" = "llr") -> list[dict]:
    """Rows with impact, evidence percentile, dosage-weighted score and priority, sorted (rank 1 first).
    With several models, evidence is the mean of their percentiles (each in its own method's direction)."""
    if not rows:
        return []
    methods = [method] if isinstance(method, str) else list(method)
    n_models = max(1, len(rows[0].scores))
    if len(methods) == 1:
        methods = methods * n_models
    per = np.array([r.scores if r.scores else (r.score,) for r in rows], dtype=np.float64)
    evidence = np.mean([_evidence(per[:, m], methods[m]) for m in range(per.shape[1])], axis=0)
    out = []
    for r, ev in zip(rows, evidence):
        term = r.consequence.term if r.consequence else "intergenic_variant"
        impact = IMPACT.get(term, 0.05)
        dose = r.variant.dosage
        out.append({
            "chrom": r.variant.chrom, "pos": r.variant.pos + 1, "id": r.variant.id, "ref": r.variant.ref,
            "alt": r.variant.alt, "consequence": term, "gene": getattr(r.consequence, "gene", ""),
            "transcript": getattr(r.consequence, "transcript", ""), "aa_change": getattr(r.consequence, "aa_change", ""),
            "distance_to_tss": getattr(r.consequence, "distance_to_tss", -1), "repeat": r.repeat,
            "subgenome": r.subgenome, "score": r.score, "dosage": dose,
            "dosage_weighted_score": r.score * dose if dose == dose else math.nan,
            "n_carriers": r.variant.n_carriers, "impact": impact, "evidence": float(ev),
            "priority": 0.5 * impact + 0.5 * float(ev), "vcf_line": r.variant.line,
            "scores": r.scores or (r.score,)})
    out.sort(key=lambda d: (-d["priority"], -d["evidence"]))
    for i, d in enumerate(out, 1):
        d["rank"] = i
    return out


TSV_COLUMNS = ["rank", "priority", "chrom", "pos", "id", "ref", "alt", "consequence", "gene", "transcript",
               "aa_change", "distance_to_tss", "repeat", "subgenome", "score", "dosage", "dosage_weighted_score",
               "n_carriers", "impact", "evidence"]


def write_tsv(rows: list[dict], path: Path, asm: Assembly, models: list[str] | None = None) -> Path:
    """Ranked TSV; with several models, one ``score_<model>`` column each after ``score`` (the first model's)."""
    extra = [f"score_{m}" for m in models] if models and len(models) > 1 else []
    cols = TSV_COLUMNS[:TSV_COLUMNS.index("score") + 1] + extra + TSV_COLUMNS[TSV_COLUMNS.index("score") + 1:]
    with atomic_write(path) as fh:
        fh.write("\t".join(cols) + "\n")
        for d in rows:
            vals = {**d, "chrom": asm.genome.file_name(d["chrom"])}
            vals.update({c: v for c, v in zip(extra, d.get("scores", ()))})
            fh.write("\t".join(_fmt(vals[c]) for c in cols) + "\n")
    return path


def _fmt(x) -> str:
    if isinstance(x, float):
        return "nan" if x != x else f"{x:.6g}"
    if isinstance(x, bool):
        return "1" if x else "0"
    return str(x)


def write_vcf(src: str | Path, rows: list[dict], path: Path, method: str, model: str,
              models: list[str] | None = None, key_of=None) -> Path:
    """The input VCF with plantllm INFO fields on every scored ALT (declared in the header), atomically;
    bgzipped output gets a tabix index (``.tbi``). With several models, ``PLLM_SCORE<i>`` carries model
    i's score (its path in the header). ``key_of(i, record)``: the key the rows carry in ``vcf_line``
    for the i-th record (default: its line number in the file)."""
    import pysam

    by = {}
    for d in rows:
        by[(d["vcf_line"], d["alt"])] = d
    pysam.set_verbosity(0)
    vin = pysam.VariantFile(str(src))
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
    with pysam.VariantFile(str(src)) as scan_contigs:
        for c in dict.fromkeys(r.chrom for r in scan_contigs):
            if c not in header.contigs:
                header.contigs.add(c)
    mode = "wz" if str(path).endswith(".gz") else "w"
    header_lines = header_line_count(Path(src)) or 0  # the same line numbers read_vcf gave the variants
    key_of = key_of or (lambda i, rec: header_lines + i)
    with atomic_path(path) as tmp:
        with pysam.VariantFile(str(tmp), mode, header=header) as vout:
            for i, rec in enumerate(vin, 1):
                line = key_of(i, rec)
                new = vout.new_record(contig=rec.chrom, start=rec.start, stop=rec.stop, alleles=rec.alleles,
                                      id=rec.id, qual=rec.qual, filter=rec.filter.keys(), info=dict(rec.info))
                for s in rec.samples:
                    for k, v in rec.samples[s].items():
                        new.samples[s][k] = v
                ds = [by.get((line, a)) for a in (rec.alts or ())]
                if any(ds):
                    new.info["PLLM_CSQ"] = tuple(d["consequence"] if d else "." for d in ds)
                    new.info["PLLM_GENE"] = tuple((d["gene"] or ".") if d else "." for d in ds)
                    new.info["PLLM_SCORE"] = tuple(d["score"] if d else None for d in ds)
                    new.info["PLLM_PRIORITY"] = tuple(d["priority"] if d else None for d in ds)
                    new.info["PLLM_RANK"] = tuple(d["rank"] if d else None for d in ds)
                    if models and len(models) > 1:
                        for i in range(len(models)):
                            new.info[f"PLLM_SCORE{i + 1}"] = tuple(d["scores"][i] if d else None for d in ds)
                vout.write(new)
        if mode == "wz":  # indexed under its temporary name, renamed with it: never a stale .tbi
            pysam.tabix_index(str(tmp), preset="vcf", force=True, index=str(tmp) + ".tbi")
            os.replace(str(tmp) + ".tbi", str(path) + ".tbi")
    vin.close()
    return path


def plot_summary(rows: list[dict], path: Path, method: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = [c for c in IMPACT if any(d["consequence"] == c for d in rows)]
    fig, ax = plt.subplots(1, 2, figsize=(13, 4))
    data = [[d["score"] for d in rows if d["consequence"] == c] for c in classes]
    ax[0].boxplot(data, vert=False, tick_labels=[f"{c} ({len(x)})" for c, x in zip(classes, data)])
    ax[0].set_xlabel(f"{method} score (lower = ALT less likely)")
    ax[0].set_title("score by consequence class")
    for c in sorted({d["chrom"] for d in rows}):
        pts = [(d["pos"], d["score"]) for d in rows if d["chrom"] == c]
        ax[1].scatter(*zip(*pts), s=4, label=f"chromosome {c}")
    ax[1].set_xlabel("position (bp)"), ax[1].set_ylabel("score"), ax[1].set_title("scores along the chromosome")
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
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


def consequence_auroc(rows: list[dict]) -> dict:
    """AUROC of -score separating damaging (stop gained, missense, start lost, splice) from neutral-ish
    (synonymous, intergenic) variants: the zero-shot check of the PDLLM / GPN papers."""
    from sklearn.metrics import roc_auc_score

    pos = {"stop_gained", "missense_variant", "start_lost", "splice_donor_variant", "splice_acceptor_variant"}
    neg = {"synonymous_variant", "intergenic_variant"}
    sel = [d for d in rows if d["consequence"] in pos | neg]
    y = np.array([d["consequence"] in pos for d in sel])
    if len(set(y)) < 2:
        return {}
    res = {"damaging_vs_neutral": float(roc_auc_score(y, [-d["score"] for d in sel])), "n": len(sel)}
    for a, b in (("stop_gained", "synonymous_variant"), ("missense_variant", "synonymous_variant")):
        s2 = [d for d in rows if d["consequence"] in (a, b)]
        y2 = [d["consequence"] == a for d in s2]
        if len(set(y2)) == 2:
            res[f"{a}_vs_{b}"] = float(roc_auc_score(y2, [-d["score"] for d in s2]))
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


def label_auroc(rows: list[dict], labels: dict[tuple[str, int, str, str], str], asm: Assembly) -> dict:
    """Evaluate against a user's labels (chrom, 1-based pos, ref, alt -> label): AUROC of the model score,
    of the consequence impact and of the combined priority for each label value against all others."""
    from sklearn.metrics import roc_auc_score

    lab = []
    for d in rows:
        key = (d["chrom"], d["pos"], d["ref"], d["alt"])
        alt_key = (asm.genome.file_name(d["chrom"]), d["pos"], d["ref"], d["alt"])
        lab.append(labels.get(key, labels.get(alt_key)))
    sel = [(d, y) for d, y in zip(rows, lab) if y is not None]
    out: dict = {"labelled": len(sel), "unmatched_labels": len(labels) - len(sel)}
    for value in sorted({y for _, y in sel}):
        y = np.array([v == value for _, v in sel])
        if 0 < y.sum() < len(y):
            out[value] = {"n": int(y.sum()),
                          "auroc_score": float(roc_auc_score(y, [-d["score"] for d, _ in sel])),
                          "auroc_impact": float(roc_auc_score(y, [d["impact"] for d, _ in sel])),
                          "auroc_priority": float(roc_auc_score(y, [d["priority"] for d, _ in sel]))}
    return out
