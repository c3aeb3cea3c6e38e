"""The priority of a variant for breeding, and what its score means, from columns (no object per variant).

``priority = impact_weight * impact + evidence_weight * evidence`` (defaults 0.5 and 0.5, set in a
small YAML file, ``--priority-config``; ``configs/priority.yaml`` is the default written out):

* ``impact``: the weight of the allele's consequence class (``IMPACT``; any class can be reweighted
  in the file's ``impact`` table; a SnpEff term it does not list weighs its SnpEff IMPACT class's
  ``class_impact`` (HIGH 0.95, MODERATE 0.65, LOW 0.2, MODIFIER 0.1); an unknown term ``default_impact``);
* ``evidence``: the percentile of the model's score among the scored alleles of the run, most
  deleterious = 1 (llr, pll, clm: lowest score; delta, embedding: largest change); with
  ``--calibrated`` the calibrated score's; the mean over models when several score together. An
  allele no method scored (``scored_by`` = ``unscored:<reason>``) takes ``unscored_evidence`` (0.5 by
  default: it ranks by its consequence, among alleles of middling score).

Ties keep the input order. ``dosage_weighted_score`` = score x mean ALT dosage of the samples.

What a score means (INFO fields of the scored VCF, columns of the ranked TSV):

* ``pct_class`` (``PLLM_PCT_CLASS``): the percentage of this run's scored alleles of the same
  consequence class whose score (calibrated with ``--calibrated``) is at or below this one;
* ``pct_neutral`` (``PLLM_PCT_NEUTRAL``, with ``--calibrated``): the percentage of the model's neutral
  background (see ``calibration``) at or below this calibrated score: 1 means only 1 % of putatively
  neutral alleles score as low.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from plantllm.apps.effects import TERM_IMPACT
from plantllm.core.config import build, setting
from plantllm.core.io import read_yaml

#: consequence class weights used in the priority (1 = most likely to change a trait)
IMPACT = {
    "stop_gained": 1.0, "frameshift_variant": 1.0, "splice_acceptor_variant": 0.95, "splice_donor_variant": 0.95,
    "start_lost": 0.95, "stop_lost": 0.9, "inframe_indel": 0.7, "missense_variant": 0.65,
    "splice_region_variant": 0.45, "upstream_gene_variant": 0.4, "5_prime_UTR_variant": 0.35,
    "3_prime_UTR_variant": 0.3, "non_coding_exon_variant": 0.3, "synonymous_variant": 0.15,
    "stop_retained_variant": 0.15, "intron_variant": 0.15, "downstream_gene_variant": 0.1,
    "intergenic_variant": 0.05,
}
#: the weight of a SnpEff term the table above does not list, by its SnpEff IMPACT class
CLASS_IMPACT = {"HIGH": 0.95, "MODERATE": 0.65, "LOW": 0.2, "MODIFIER": 0.1}
#: methods whose low scores are the deleterious ones (the others: a large change either way)
LOW_IS_DELETERIOUS = ("llr", "pll", "clm", "track")


@dataclass
class PriorityConfig:
    impact_weight: float = setting(0.5, min=0)
    evidence_weight: float = setting(0.5, min=0)
    unscored_evidence: float = setting(0.5, min=0, max=1, fix="a percentile between 0 and 1")
    default_impact: float = setting(0.05, min=0, max=1)
    impact: dict[str, float] = field(default_factory=dict)
    class_impact: dict[str, float] = field(default_factory=dict)

    def weight(self, term: str) -> float:
        table = {**IMPACT, **self.impact}
        if term in table:
            return table[term]
        classes = {**CLASS_IMPACT, **self.class_impact}
        cls = TERM_IMPACT.get(term)
        return classes.get(cls, self.default_impact) if cls else self.default_impact

    def describe(self) -> str:
        return (f"priority = {self.impact_weight:g} * impact + {self.evidence_weight:g} * evidence percentile "
                f"(unscored alleles: evidence {self.unscored_evidence:g})")


def load_priority(path: str | Path | None) -> PriorityConfig:
    """The priority settings of a YAML file (every key checked), or the defaults."""
    if path is None:
        return PriorityConfig()
    return build(PriorityConfig, read_yaml(path, "priority config", fix="start from configs/priority.yaml"), path=path)


def score_columns(table: pa.Table) -> list[str]:
    return [c for c in table.column_names if c.startswith("score") and c[5:].isdigit()]


def _percentile_evidence(scores: np.ndarray, method: str, unscored: float) -> np.ndarray:
    """Percentile of each finite score among the finite ones, most deleterious = 1; NaN -> ``unscored``."""
    ok = np.isfinite(scores)
    out = np.full(len(scores), unscored, dtype=np.float64)
    s = scores[ok]
    key = s if method in LOW_IS_DELETERIOUS else -np.abs(s)
    place = np.empty(len(s), dtype=np.int64)  # each score's place in the stable sort (the inverse permutation)
    place[np.argsort(key, kind="stable")] = np.arange(len(s))
    del key
    out[ok] = 1.0 - place / max(len(s) - 1, 1)
    return out


def class_percentile(classes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per allele, the percentage of finite scores of its class (integer codes) at or below its own."""
    out = np.full(len(scores), np.nan)
    ok = np.isfinite(scores)
    for k in np.unique(classes[ok]) if ok.any() else []:
        sel = ok & (classes == k)
        seg = np.sort(scores[sel])
        out[sel] = 100.0 * np.searchsorted(seg, scores[sel], side="right") / len(seg)
    return out


def rank_arrays(raw: list[np.ndarray], codes: np.ndarray, terms: list[str], method: "str | list[str]" = "llr",
                config: PriorityConfig | None = None, cal: list[np.ndarray] | None = None, neutral=None,
                by: tuple[np.ndarray, list[str]] | None = None, snv: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The ranking from columns (one float64 array per model, the consequence class of each allele as integer
    ``codes`` into ``terms``), in the input order: impact, evidence, priority, rank, pct_class, and with ``cal``
    (the calibrated scores) calibrated_score, and with a ``neutral`` background pct_neutral (``by``: the
    scored_by codes and names; ``snv``: which alleles are SNVs). Numpy arrays only: 8 bytes per allele each."""
    cfg = config or PriorityConfig()
    methods = [method] * len(raw) if isinstance(method, str) else list(method)
    if len(methods) == 1:
        methods = methods * len(raw)
    n = len(codes)
    used = cal if cal is not None else raw
    evidence = np.zeros(n) if len(methods) > 1 else None
    for i, m in enumerate(methods):
        e = _percentile_evidence(used[i], m, cfg.unscored_evidence)
        if cal is not None:  # scored, but no background for its kind: the raw score's percentile
            fallback = ~np.isfinite(used[i]) & np.isfinite(raw[i])
            e[fallback] = _percentile_evidence(raw[i], m, cfg.unscored_evidence)[fallback]
        if evidence is None:
            evidence = e
        else:
            evidence += e
    if len(methods) > 1:  # as np.mean over the models' rows: the sum, then one division
        evidence /= len(methods)
    w = np.array([cfg.weight(x) for x in terms], dtype=np.float64)
    impact = w[codes] if n else np.empty(0)
    priority = cfg.impact_weight * impact + cfg.evidence_weight * (evidence if n else np.empty(0))
    order = np.lexsort((-evidence, -priority)) if n else np.empty(0, dtype=np.int64)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    del order
    out = {"impact": impact, "evidence": evidence if n else np.empty(0), "priority": priority, "rank": rank,
           "pct_class": class_percentile(codes, used[0])}
    if cal is not None:
        out["calibrated_score"] = used[0]
        if neutral is not None:
            out["pct_neutral"] = _neutral(by, snv, used[0], neutral)
    return out


def prioritize(table: pa.Table, method: "str | list[str]" = "llr", config: PriorityConfig | None = None,
               calibrated: bool = False, neutral=None) -> tuple[pa.Table, np.ndarray]:
    """The table with impact, evidence, priority, rank, dosage-weighted score and percentile columns, and
    the row order of the ranking (rank 1 first). ``calibrated``: evidence and percentiles from the
    ``calibrated<i>`` columns (an allele without a background keeps its raw score's percentile);
    ``neutral``: the model's ``Calibration``, for ``pct_neutral``. (The merge of a run ranks from the
    parts' columns with ``rank_arrays``; this is its form for one table.)"""
    cols = score_columns(table)
    n = table.num_rows
    raw = [table.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in cols]
    cal = [table.column(f"calibrated{i}").to_numpy(zero_copy_only=False).astype(np.float64)
           for i in range(len(cols))] if calibrated else None
    terms = table.column("consequence").combine_chunks().dictionary_encode()
    codes = terms.indices.to_numpy(zero_copy_only=False) if n else np.empty(0, dtype=np.int64)
    by = snv = None
    if calibrated and neutral is not None and "scored_by" in table.column_names:
        enc = table.column("scored_by").combine_chunks().dictionary_encode()
        by, snv = (enc.indices.to_numpy(zero_copy_only=False), enc.dictionary.to_pylist()), _is_snv(table)
    r = rank_arrays(raw, codes, terms.dictionary.to_pylist(), method, config, cal, neutral, by, snv)
    dose = table.column("dosage").to_numpy(zero_copy_only=False)
    out = (table.append_column("impact", pa.array(r["impact"])).append_column("evidence", pa.array(r["evidence"]))
           .append_column("priority", pa.array(r["priority"])).append_column("rank", pa.array(r["rank"]))
           .append_column("dosage_weighted_score", pa.array(raw[0] * dose))
           .append_column("pct_class", pa.array(r["pct_class"])))
    for c in ("calibrated_score", "pct_neutral"):
        if c in r:
            out = out.append_column(c, pa.array(r[c]))
    if calibrated and neutral is not None and "pct_neutral" not in r:
        out = out.append_column("pct_neutral", pa.array(np.full(n, np.nan)))
    order = np.empty(n, dtype=np.int64)
    order[r["rank"] - 1] = np.arange(n)
    return out, order


def _neutral(by, snv, calibrated: np.ndarray, neutral) -> np.ndarray:
    """``pct_neutral`` per allele: SNVs against the SNV background, other alleles against their method's."""
    out = np.full(len(calibrated), np.nan)
    if by is None:
        return out
    codes, names = by
    for k, name in enumerate(names):
        if name.startswith("unscored"):
            continue
        for is_snv in (True, False):
            sel = (codes == k) & (snv == is_snv)
            if sel.any():
                out[sel] = neutral.neutral_percentile("snv" if is_snv else name, calibrated[sel])
    return out


def _is_snv(table) -> np.ndarray:
    import pyarrow.compute as pc

    return (pc.equal(pc.utf8_length(table.column("ref")), 1).to_numpy(zero_copy_only=False)
            & pc.equal(pc.utf8_length(table.column("alt")), 1).to_numpy(zero_copy_only=False))


def unscored_counts(table: pa.Table) -> dict[str, int]:
    """Alleles not scored, by reason (from the ``scored_by`` column)."""
    if "scored_by" not in table.column_names or not table.num_rows:
        return {}
    counts = table.column("scored_by").combine_chunks().value_counts().to_pylist()
    return {d["values"].split(":", 1)[1]: int(d["counts"]) for d in sorted(counts, key=lambda d: d["values"])
            if d["values"].startswith("unscored:")}


def method_counts(table: pa.Table) -> dict[str, int]:
    """Alleles per ``scored_by`` value (each method, and unscored:<reason>)."""
    if "scored_by" not in table.column_names or not table.num_rows:
        return {}
    counts = table.column("scored_by").combine_chunks().value_counts().to_pylist()
    return {d["values"]: int(d["counts"]) for d in sorted(counts, key=lambda d: d["values"])}
