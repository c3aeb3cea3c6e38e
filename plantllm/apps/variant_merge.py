"""The merge of a variant scoring job: ranked TSV, scored VCF, plots and summary from the parts, in bounded memory.

The parts (one Arrow IPC file per shard, rows in record order) are read batch by batch, never
memory-mapped or concatenated, so what stays in memory is one batch of rows plus a few numpy
arrays of 8 bytes per allele: the scores, the consequence class as an integer code, and the
ranking (evidence, priority, rank, percentile). Strings never become a Python object per allele.

* ranking: ``priority.rank_arrays`` on those arrays;
* ranked TSV: an external sort by rank. One pass over the parts sends every row, with its rank,
  to one of at most ``BUCKETS`` temporary Arrow files by rank range; each file is then read, sorted
  by rank and written as TSV, in chunks;
* ranked TSV text: ``variant_report.tsv_text`` (pandas' to_csv text, made column by column in Arrow);
* scored VCF: the input VCF is read record by record beside a cursor over its shard's part rows
  (``RecordRows``: the texts of the PLLM_ fields, a batch at a time), both in record order, and those
  texts are spliced into each record's line (``scored_vcf``);
* summary and plots: counts and means per consequence code, a fixed sample of rows for the plot.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pysam

from plantllm.apps.calibration import Calibration
from plantllm.apps.consequence import RANK
from plantllm.apps.priority import PriorityConfig, load_priority, rank_arrays
from plantllm.apps.score_plot import plot_score_meaning
from plantllm.apps.variant_ann import SharedEffects, SideReader
from plantllm.apps.scored_vcf import float_texts, write_vcf
from plantllm.apps.variant_report import (consequence_auroc, label_evaluation, model_names, plot_summary,
                                          summary_sample, tsv_names, tsv_text)
from plantllm.apps.variant_scoring import check_scored
from plantllm.core import console as con
from plantllm.core.errors import InputFileError, PlantLLMError
from plantllm.core.intervals import IntervalIndex
from plantllm.core.io import atomic_write, scratch_dir
from plantllm.inference.engine import Job
from plantllm.models.runner import forwards_per_site
from plantllm.species.assembly import Assembly
from plantllm.species.vcf import VcfStats, warn_skipped

BUCKETS = 64  # at most this many temporary files in the TSV's sort by rank
TSV_CHUNK = 16_384  # rows formatted as text at a time (less memory than 65,536, no slower)
BUFFERED = 8_192  # rows a bucket gathers before they are written to its file


def vcf_contigs(path: Path) -> list[str]:
    """Sequence names of an indexed VCF, in file order."""
    try:
        return list(pysam.TabixFile(str(path)).contigs)
    except (OSError, ValueError) as e:
        raise InputFileError(f"cannot read the VCF's index ({e})", path=path,
                             fix="re-index it: tabix -p vcf FILE (or bcftools index)") from None


class Codes:
    """One dictionary of a string column over every batch of every part: integer codes, no string per row."""

    def __init__(self):
        self.index: dict[str, int] = {}

    def encode(self, column: pa.Array) -> np.ndarray:
        enc = column.dictionary_encode()
        local = np.array([self.index.setdefault(t, len(self.index)) for t in enc.dictionary.to_pylist()],
                         dtype=np.int32)
        return local[enc.indices.to_numpy(zero_copy_only=False)] if len(local) else np.empty(0, np.int32)

    @property
    def terms(self) -> list[str]:
        return list(self.index)


def record_keys(job: Job, asm: Assembly):
    """``key_of(i, record)`` for ``write_vcf``: the (shard, ordinal within the shard) of each record of the
    original VCF, in file order, the same key the parts carry."""
    index = IntervalIndex((s.chrom, s.start, s.end) for s in job.shards)
    counters: dict[int, int] = {}
    canonical: dict[str, str | None] = {}
    # records come in file order, so most fall in the shard of the record before: with disjoint shards
    # (the engine's plan) that shard is the only one that can hold them and the index is not asked
    spans = sorted((s.chrom, s.start, s.end) for s in job.shards)
    disjoint = all(a[0] != b[0] or a[2] <= b[1] for a, b in zip(spans, spans[1:]))
    last = [None, 0, 0, 0]  # chrom, start, end, position in job.shards of the shard that held the last record

    def key_of(_i: int, rec) -> tuple[int, int] | None:
        name, pos = rec.chrom, rec.start
        canon = canonical[name] if name in canonical else canonical.setdefault(name, asm.card.try_canonical(name))
        if disjoint and canon == last[0] and last[1] <= pos < last[2]:
            at = last[3]
        else:
            hit = index.containing(canon, pos).tolist() if canon is not None else []
            if not hit:
                return None
            at = hit[0]
            shard = job.shards[at]
            last[:] = shard.chrom, shard.start, shard.end, at
        s = job.shards[at].index
        counters[s] = counters.get(s, 0) + 1
        return (s, counters[s])

    return key_of


def _batches(job: Job, columns: list[str]):
    """(global row offset, batch) over every part in shard order, only ``columns`` read (the parts' batches are
    at most ``variant_parts.PartRows.chunk`` rows)."""
    at = 0
    for shard in job.shards:
        for b in job.part_batches(shard, columns):
            yield at, b
            at += b.num_rows


class RecordRows:
    """``rows(key)`` for ``write_vcf``: ALT -> the texts of its PLLM_ fields (``scored_vcf.PLLM_KEYS`` order) of the
    rows of the record ``key`` = (shard, ordinal), from a cursor over that shard's part (read batch by batch) and
    the ranking's arrays (indexed by global row). The texts are made a batch at a time (floats by htslib:
    ``float_texts``), no dict per row."""

    def __init__(self, job: Job, offsets: np.ndarray, n_models: int, ranked: dict[str, np.ndarray]):
        self.job, self.offsets, self.ranked, self.n_models = job, offsets, ranked, n_models
        self.cols = ["record", "alt", "consequence", "gene", "scored_by"] + [f"score{i}" for i in range(n_models)]
        self.shard, self.rows_left = None, iter(())
        self.head = None  # the next row of the shard not yet given out: (record, alt, texts)

    def _texts(self, b: pa.RecordBatch, g: slice) -> list:
        n, ranked = b.num_rows, self.ranked

        def num(a):  # a float for the VCF; NaN (an allele not scored) or a missing value -> '.'
            return float_texts(np.asarray(a, dtype=np.float64), missing_nan=True)

        col = lambda c: b.column(c).to_numpy(zero_copy_only=False)  # noqa: E731
        dots = [(".",) * n]
        opt = [num(ranked[k][g]) if k in ranked else dots[0] for k in ("pct_class", "calibrated_score", "pct_neutral")]
        scores = [num(col(f"score{i}")) for i in range(self.n_models)] if self.n_models > 1 else []
        return list(zip(b.column("consequence").to_pylist(), [x or "." for x in b.column("gene").to_pylist()],
                        num(col("score0")), b.column("scored_by").to_pylist(), *opt,
                        float_texts(ranked["priority"][g]), [str(int(x)) for x in ranked["rank"][g].tolist()],
                        *scores))

    def _rows(self, s: int):
        at = int(self.offsets[s])
        for b in self.job.part_batches(self.job.shards[s], self.cols):
            yield from zip(b.column("record").to_pylist(), b.column("alt").to_pylist(),
                           self._texts(b, slice(at, at + b.num_rows)))
            at += b.num_rows

    def rows(self, key: tuple[int, int] | None) -> dict[str, tuple]:
        if key is None:
            return {}
        s, ordinal = key
        if s != self.shard:
            self.shard, self.rows_left, self.head = s, self._rows(s), None
        found = {}
        while True:
            if self.head is None:
                self.head = next(self.rows_left, None)
                if self.head is None:
                    return found
            rec, alt, texts = self.head
            if rec > ordinal:
                return found
            self.head = None
            if rec == ordinal:
                found[alt] = texts


def _rank_inputs(job: Job, n: int, n_models: int, calibrated: bool, neutral) -> dict:
    """One pass over the parts for the few columns the ranking needs, as numpy arrays of all alleles."""
    cols = [f"score{i}" for i in range(n_models)] + ([f"calibrated{i}" for i in range(n_models)] if calibrated
                                                     else []) + ["consequence", "scored_by"]
    with_snv = calibrated and neutral is not None
    if with_snv:
        cols += ["ref", "alt"]
    raw = [np.empty(n) for _ in range(n_models)]
    cal = [np.empty(n) for _ in range(n_models)] if calibrated else None
    csq, by, methods = Codes(), Codes(), Counter()
    codes, by_codes = np.empty(n, np.int32), np.empty(n, np.int32)
    snv = np.empty(n, bool) if with_snv else None
    for at, b in con.track(_batches(job, cols), "ranking: reading the scores", unit="batches"):
        sl = slice(at, at + b.num_rows)
        for i in range(n_models):
            raw[i][sl] = b.column(f"score{i}").to_numpy(zero_copy_only=False)
            if calibrated:
                cal[i][sl] = b.column(f"calibrated{i}").to_numpy(zero_copy_only=False)
        codes[sl] = csq.encode(b.column("consequence"))
        by_codes[sl] = by.encode(b.column("scored_by"))
        if with_snv:
            import pyarrow.compute as pc

            snv[sl] = (pc.equal(pc.utf8_length(b.column("ref")), 1).to_numpy(zero_copy_only=False)
                       & pc.equal(pc.utf8_length(b.column("alt")), 1).to_numpy(zero_copy_only=False))
    methods.update({t: int(c) for t, c in zip(by.terms, np.bincount(by_codes, minlength=len(by.terms)))})
    return {"raw": raw, "cal": cal, "codes": codes, "terms": csq.terms, "by": (by_codes, by.terms), "snv": snv,
            "methods": dict(sorted(methods.items()))}


def write_ranked_tsv(job: Job, ranked: dict[str, np.ndarray], n_models: int, path: Path, asm: Assembly,
                     models: list[str], buckets: int = BUCKETS, chunk: int = TSV_CHUNK) -> Path:
    """The ranked TSV from the parts, by an external sort on rank (see the module doc): at most one bucket
    (``len / buckets`` rows, or ``chunk`` when larger) and ``buckets`` small buffers are in memory."""
    n = len(ranked["rank"])
    span = max(chunk, -(-n // buckets))
    nb = max(1, -(-n // span))
    part_cols = ["chrom", "pos", "id", "ref", "alt", "consequence", "gene", "transcript", "aa_change",
                 "distance_to_tss", "repeat", "subgenome", "dosage", "n_carriers", "scored_by"] + \
        [f"score{i}" for i in range(n_models)]
    names, cols, extra = tsv_names(part_cols + ["dosage_weighted_score"] + list(ranked), models)
    file_name = {c: asm.genome.file_name(c) for c in asm.genome.chromosomes(nuclear_only=False)}
    with scratch_dir(job.dir, "tsv-sort") as tmp:  # a killed merge's runs are removed by the next merge
        paths = [Path(tmp) / f"{k:04d}.arrow" for k in range(nb)]
        sinks = [pa.OSFile(str(p), "wb") for p in paths]
        writers, held = [None] * nb, [[] for _ in range(nb)]

        def put(k: int, t: pa.Table, force: bool = False) -> None:
            if t is not None:
                held[k].append(t)
            if held[k] and (force or sum(x.num_rows for x in held[k]) >= BUFFERED):
                whole = pa.concat_tables(held[k])
                if writers[k] is None:
                    writers[k] = pa.ipc.new_file(sinks[k], whole.schema)
                writers[k].write_table(whole)
                held[k] = []

        for at, b in con.track(_batches(job, part_cols), "ranked table: sorting by rank", unit="batches"):
            sl = slice(at, at + b.num_rows)
            t = pa.Table.from_batches([b])
            score0, dose = b.column("score0").to_numpy(zero_copy_only=False), b.column("dosage").to_numpy(zero_copy_only=False)
            t = t.append_column("dosage_weighted_score", pa.array(score0 * dose))
            for c, a in ranked.items():
                t = t.append_column(c, pa.array(a[sl]))
            bucket = (ranked["rank"][sl] - 1) // span
            if nb == 1:
                put(0, t)
                continue
            order = np.argsort(bucket, kind="stable")
            cuts = np.searchsorted(bucket[order], np.arange(nb + 1))
            for k in range(nb):
                if cuts[k + 1] > cuts[k]:
                    put(k, t.take(pa.array(order[cuts[k]:cuts[k + 1]])))
        with atomic_write(path) as fh:
            fh.write("\t".join(names) + "\n")
            for k in con.track(range(nb), "ranked table: writing", total=nb, unit="buckets"):
                put(k, None, force=True)
                if writers[k] is None:
                    continue
                writers[k].close()
                sinks[k].close()
                with pa.OSFile(str(paths[k]), "rb") as src:
                    rows = pa.ipc.open_file(src).read_all()
                rows = rows.take(pa.array(np.argsort(rows.column("rank").to_numpy(), kind="stable")))
                for i in range(0, rows.num_rows, chunk):
                    fh.write(tsv_text(rows.slice(i, chunk), names, cols, extra, file_name))
                del rows
        for s in sinks:
            if not s.closed:
                s.close()
    return path


def merge_outputs(job: Job, asm: Assembly, vcf, out: Path, dirs: list[Path], methods: list[str], window: int,
                  labels: dict | None, *, priority=None, calibrated: bool = False,
                  keep_annotation: bool = False) -> dict:
    """Rank the parts and write ranked.tsv, scored.vcf.gz (+ .tbi), the plots; returns the summary."""
    st = VcfStats()
    shard_rows = []
    for shard in job.shards:
        marker = job.marker(shard)
        st.merge(VcfStats(**marker["meta"]["vcf_stats"]))
        shard_rows.append(int(marker["rows"]))
    check_scored(asm, vcf, st)
    warn_skipped(st)  # once for the whole VCF: each shard's reader stays silent
    n = int(sum(shard_rows))
    if not n:
        raise PlantLLMError(f"no variant of {vcf} could be scored: {st}")
    offsets = np.concatenate([[0], np.cumsum(shard_rows)]).astype(np.int64)
    names = model_names(dirs)
    config = priority if isinstance(priority, PriorityConfig) else load_priority(priority)
    neutral = Calibration.load(dirs[0], methods[0], window) if calibrated else None
    cols = _rank_inputs(job, n, len(dirs), calibrated, neutral)
    raw, codes, terms = cols["raw"], cols["codes"], cols["terms"]
    ranked = rank_arrays(raw, codes, terms, methods, config, cols["cal"], neutral, cols["by"], cols["snv"])
    method, model_dir = methods[0], dirs[0]
    write_ranked_tsv(job, ranked, len(dirs), out / "ranked.tsv", asm, names)
    spec = job.plan["plan"]["spec"]
    compat = spec.get("snpeff_compatible", False)
    vcf_values = {k: ranked[k] for k in ("priority", "rank", "pct_class", "calibrated_score", "pct_neutral")
                  if k in ranked}
    write_vcf(vcf, RecordRows(job, offsets, len(dirs), vcf_values), record_keys(job, asm), out / "scored.vcf.gz",
              method, str(model_dir), [str(d) for d in dirs], contigs=vcf_contigs(Path(spec["indexed"])),
              annotations=SideReader(job, asm, lambda: SharedEffects(asm, snpeff_compatible=compat))
              if asm.has_annotation and not keep_annotation else None, snpeff_compatible=compat)
    _plots(job, n, out, method, raw[0], codes, terms, ranked, neutral, calibrated)
    summary = {"vcf": str(vcf), "model": str(model_dir), "method": method, "window": window,
               "scored": int(np.isfinite(raw[0]).sum()), "alleles": n, "scored_by": cols["methods"],
               "unscored": {k.split(":", 1)[1]: v for k, v in cols["methods"].items() if k.startswith("unscored:")},
               "priority": config.describe(), "calibrated": calibrated,
               "models": [{"name": nm, "path": str(d), "method": m,  # RC-equivariant models: 1 forward per site
                           "forwards_per_site": forwards_per_site(d) if m == "llr" else None}
                          for nm, d, m in zip(names, dirs, methods)],
               "vcf_stats": asdict(st),
               "by_consequence": _by_consequence(codes, terms, raw[0]),
               "separation": consequence_auroc(codes, raw[0], terms)}
    if len(dirs) > 1:
        summary["separation_by_model"] = {nm: consequence_auroc(codes, s, terms) for nm, s in zip(names, raw)}
        both = np.all(np.isfinite(np.array(raw)), axis=0)
        summary["score_correlation"] = np.corrcoef(np.array(raw)[:, both]).round(4).tolist()
    if labels:
        pieces = (pa.table({"chrom": b.column("chrom"), "pos": b.column("pos"), "ref": b.column("ref"),
                            "alt": b.column("alt"), "score0": b.column("score0"),
                            "impact": ranked["impact"][at:at + b.num_rows],
                            "priority": ranked["priority"][at:at + b.num_rows]})
                  for at, b in _batches(job, ["chrom", "pos", "ref", "alt", "score0"]))
        summary["labels"] = label_evaluation(pieces, labels, asm)
    if summary["unscored"]:
        con.warn(f"{n - summary['scored']:,} of {n:,} alleles not scored ("
                 + ", ".join(f"{k}: {v:,}" for k, v in summary["unscored"].items())
                 + "); they are annotated and ranked by consequence (ranked.tsv column scored_by)")
    return summary


def _by_consequence(codes: np.ndarray, terms: list[str], score: np.ndarray) -> dict:
    out = {}
    for t in sorted(terms, key=lambda t: (RANK.get(t, 1 << 20), t)):
        sel = codes == terms.index(t)
        x = score[sel]
        x = x[np.isfinite(x)]
        out[t] = {"n": int(sel.sum()), "mean_score": float(x.mean()) if len(x) else None}
    return out


def _plots(job: Job, n: int, out: Path, method: str, score0: np.ndarray, codes: np.ndarray, terms: list[str],
           ranked: dict, neutral, calibrated: bool) -> None:
    """summary.png from a fixed sample of rows (gathered from the parts), score_meaning.png from the arrays."""
    take = summary_sample(n)
    pieces = []
    for at, b in _batches(job, ["chrom", "pos", "consequence", "score0"]):
        if take is None:
            pieces.append(b)
            continue
        lo, hi = np.searchsorted(take, [at, at + b.num_rows])
        if hi > lo:
            pieces.append(b.take(pa.array(take[lo:hi] - at)))
    plot_summary(pa.Table.from_batches(pieces), out / "summary.png", method, sampled=take is not None)
    plot_score_meaning(ranked["calibrated_score"] if calibrated else score0, codes, terms,
                       out / "score_meaning.png", method, neutral, calibrated)
