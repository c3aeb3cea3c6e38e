"""The scored VCF's SnpEff-standard ``ANN``/``LOF``/``NMD``, computed once per record while its shard is scored.

Each shard of ``variants score`` writes a side file (``part-NNNNNN.ann.arrow``, zstd-compressed Arrow IPC,
one row per VCF record of the shard in record order) beside its part; the engine renames it into place
and its completion marker records its size, so a shard whose side file is missing or cut short is
computed again on resume. The merge reads the side files sequentially while it writes ``scored.vcf.gz``
instead of annotating every record a second time.

The entries of an ALT are computed once: ``SharedEffects`` (the shard's annotator) hands the entries the
side file was made from (``snv_sites.AlleleAnn``) to the scoring's ``annotate`` of the same allele (kept only until that allele is
scored, a batch of sites, so memory does not grow with the shard).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pysam

from plantllm.apps.consequence import ConsequenceAnnotator, has_effects
from plantllm.species.assembly import Assembly

SIDE = "ann.arrow"
SEP = "\t"  # between the entries of one field: a VCF INFO value never holds a tab
SCHEMA = pa.schema([("record", pa.int64()), ("annotated", pa.bool_()), ("ann", pa.large_string()),
                    ("lof", pa.large_string()), ("nmd", pa.large_string())])


class SharedEffects(ConsequenceAnnotator):
    """A ``ConsequenceAnnotator`` whose ``effects`` of an allele already computed for the side file are reused
    (once) by the scoring, instead of being computed again."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.memo: dict[tuple, list] = {}
        # the ALTs of a site (and a site's ANN and scoring) ask the transcript indexes the same question in a row
        self.index, self.body = LastQuery(self.index), LastQuery(self.body)

    def shared(self, chrom, pos, ref, alt, end=None):
        return self.memo.pop((chrom, pos, ref, alt, end), None)

    def record_fields(self, canon: str | None, rec, share: bool = False) -> tuple | None:
        """(ANN entries, LOF, NMD) of one VCF record as ``variants annotate`` writes them (empty tuples: the
        record's own ANN/LOF/NMD are removed); None when its chromosome is unknown (left as it is). ``share``:
        keep each ALT's entries for the scoring's ``annotate`` of it."""
        if canon is None:
            return None
        texts: list[str] = []
        coding: list = []
        for alt in rec.alts or ():
            if not has_effects(rec.ref, alt):
                continue
            symbolic = alt.startswith("<")
            got = self.allele_ann(canon, rec.start, rec.ref, alt, rec.stop if symbolic else None)
            if share and not symbolic:  # the scoring annotates symbolic alleles by their resolved sequences
                self.memo[(canon, rec.start, rec.ref, alt, None)] = got
            texts += got.texts
            coding += got.coding
        if not texts:
            return (), (), ()
        lof, nmd = self.lof_nmd(coding)
        return tuple(texts), tuple(lof), tuple(nmd)


class LastQuery:
    """An ``IntervalIndex`` that answers a repeat of its last ``overlapping``/``any_overlap`` query from memory
    (the answer arrays are read, never changed, by the annotator)."""

    def __init__(self, index):
        self.inner, self.last, self.answer = index, None, None

    def overlapping(self, key, start: int, end: int):
        if self.last != (key, start, end):
            self.last, self.answer = (key, start, end), self.inner.overlapping(key, start, end)
        return self.answer

    def any_overlap(self, key, start: int, end: int) -> bool:
        return len(self.overlapping(key, start, end)) > 0

    def __getattr__(self, name):
        return getattr(self.inner, name)


class SideWriter:
    """The side file of one shard, written in batches as the shard's records are reached."""

    def __init__(self, path: Path, batch: int = 2_000):
        self.sink = pa.OSFile(str(path), "wb")
        self.writer = pa.ipc.new_file(self.sink, SCHEMA, options=pa.ipc.IpcWriteOptions(compression="zstd"))
        self.cols: list[list] = [[] for _ in SCHEMA]
        self.batch = batch

    def add(self, record: int, fields: tuple | None) -> None:
        ann, lof, nmd = fields if fields is not None else ((), (), ())
        for col, v in zip(self.cols, (record, fields is not None, SEP.join(ann) if ann else None,
                                      SEP.join(lof) if lof else None, SEP.join(nmd) if nmd else None)):
            col.append(v)
        if len(self.cols[0]) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self.cols[0]:
            self.writer.write_batch(pa.record_batch(self.cols, schema=SCHEMA))
            self.cols = [[] for _ in SCHEMA]

    def close(self) -> None:
        self.flush()
        self.writer.close()
        self.sink.close()


def lockstep(variants: Iterator, annotator: SharedEffects, asm: Assembly, indexed: str, region: tuple[str, int, int],
             side: SideWriter) -> Iterator:
    """Pass ``variants`` (one shard's, from ``read_vcf``) through while reading the same records a second time
    (pysam), so each record's side row is written and its entries shared just before its variants are scored;
    the records after the last variant are written at the end."""
    vf = pysam.VariantFile(indexed)
    recs = (r for r in vf.fetch(*region) if r.start >= region[1])  # as read_vcf: records starting in the shard
    done = 0

    def upto(n: int | None) -> None:
        nonlocal done
        while n is None or done < n:
            rec = next(recs, None)
            if rec is None:
                return
            done += 1
            side.add(done, annotator.record_fields(asm.card.try_canonical(rec.chrom), rec, share=True))

    try:
        for v in variants:
            upto(v.record)
            yield v
        upto(None)
    finally:
        vf.close()
        annotator.memo.clear()  # alleles never scored (not in the FASTA, past its end) keep nothing


class SideReader:
    """``fields(key, rec)`` for the merge: a record's (ANN, LOF, NMD) from its shard's side file, read in
    record order; records without one (outside every shard, a job without side files) are annotated here."""

    def __init__(self, job, asm: Assembly, make_annotator):
        self.job, self.asm, self.make = job, asm, make_annotator
        self.annotator = None
        self.shard, self.rows = None, iter(())

    def _open(self, s: int) -> Iterator[tuple]:
        shard = self.job.shards[s]
        path = self.job.side_path(shard, SIDE)
        if not path.exists():
            return iter(())
        return self._rows(path)

    @staticmethod
    def _rows(path: Path) -> Iterator[tuple]:
        with pa.OSFile(str(path), "rb") as src:  # read, not mapped: a read batch leaves no resident pages behind
            reader = pa.ipc.open_file(src)
            for b in range(reader.num_record_batches):
                batch = reader.get_batch(b)
                yield from zip(*(batch.column(k).to_pylist() for k in range(len(SCHEMA))))

    def fields(self, key: tuple[int, int] | None, rec) -> tuple | None:
        if key is not None:
            s, ordinal = key
            if s != self.shard:
                self.shard, self.rows = s, self._open(s)
            row = next(self.rows, None)
            if row is not None and row[0] == ordinal:
                _, annotated, ann, lof, nmd = row
                if not annotated:
                    return None
                return tuple(ann.split(SEP)) if ann else (), tuple(lof.split(SEP)) if lof else (), \
                    tuple(nmd.split(SEP)) if nmd else ()
            self.rows = iter(())  # no side row for this record: the rest of the shard is annotated here
        if self.annotator is None:
            self.annotator = self.make()
        return self.annotator.record_fields(self.asm.card.try_canonical(rec.chrom), rec)
