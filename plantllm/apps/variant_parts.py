"""One shard's scored alleles as a part of the inference engine, written batch by batch as they stream in.

A part is an Arrow IPC file of ``PART_SCHEMA`` (plus one ``score<i>`` column per model, and
``calibrated<i>`` with ``--calibrated``), its rows in record order: (record ordinal within the
shard, ALT index). The scorer yields rows nearly in that order: rows it does not batch (unscored
alleles, scores looked up in precomputed tracks) can come before the batched rows of earlier
records. ``PartRows`` keeps a small reorder buffer: it knows which alleles it handed to the scorer
and which came back, so a row is written as soon as no allele still in the scorer can precede it.
The shard then holds one batch of rows, plus the rows that wait for a batch of the model.
"""

from __future__ import annotations

from collections import deque
from typing import Iterator

import numpy as np
import pyarrow as pa

from plantllm.apps.variant_scoring import Scored

PART_SCHEMA = [("record", pa.int64()), ("line", pa.int64()), ("chrom", pa.string()), ("pos", pa.int64()),
               ("id", pa.string()), ("ref", pa.string()), ("alt", pa.string()), ("alt_index", pa.int32()),
               ("consequence", pa.string()), ("gene", pa.string()), ("transcript", pa.string()),
               ("aa_change", pa.string()), ("distance_to_tss", pa.int64()), ("repeat", pa.bool_()),
               ("subgenome", pa.string()), ("dosage", pa.float64()), ("n_carriers", pa.int64()),
               ("ploidy", pa.int64()), ("scored_by", pa.string())]
ALT_BITS = 20  # a row's sort key: record << ALT_BITS | alt_index (a VCF record has far fewer than 2**20 ALTs)
INTERGENIC = ("intergenic_variant", "", "", "", -1)


def part_schema(n_models: int, calibrated: bool = False) -> pa.Schema:
    names = [f"score{m}" for m in range(n_models)] + ([f"calibrated{m}" for m in range(n_models)] if calibrated else [])
    return pa.schema(PART_SCHEMA + [(n, pa.float64()) for n in names])


class InScorer:
    """The alleles handed to the scorer whose rows have not come back yet (``feed`` wraps the variants)."""

    def __init__(self):
        self.queue: deque[int] = deque()  # keys in the order handed over: increasing
        self.back: set[int] = set()  # keys come back out of that order, waiting to leave the queue's front

    def feed(self, variants: Iterator) -> Iterator:
        for v in variants:
            self.queue.append(v.record << ALT_BITS | v.alt_index)
            yield v

    def returned(self, key: int) -> None:
        self.back.add(key)

    def floor(self) -> int | None:
        """The smallest key a row still to come can have (None: any key after those handed over)."""
        q, back = self.queue, self.back
        while q and q[0] in back:
            back.discard(q.popleft())
        return q[0] if q else None


class PartRows:
    """Scored rows -> record batches in record order, written to ``part`` (a ``PartWriter``) every ``chunk`` rows.

    The row -> column step is one tuple per row and one ``zip`` per batch (no dict or list per column and
    row): it runs once per allele of a panel of millions."""

    def __init__(self, part, n_models: int, calibrated: bool = False, chunk: int = 50_000):
        self.part, self.n, self.calibrated, self.chunk = part, n_models, calibrated, chunk
        self.schema = part_schema(n_models, calibrated)
        self.types = [f.type for f in self.schema]
        self.inflight = InScorer()
        self.carry: pa.RecordBatch | None = None  # sorted rows that wait for an earlier allele still in the scorer
        self.written = 0

    def write_all(self, rows: Iterator[Scored]) -> None:
        buf: list[tuple] = []
        n, cal, back = self.n, self.calibrated, self.inflight.returned
        for r in rows:
            v, c = r.variant, r.consequence
            back(v.record << ALT_BITS | v.alt_index)
            csq = INTERGENIC if c is None else (c.term, getattr(c, "gene", ""), getattr(c, "transcript", ""),
                                                 getattr(c, "aa_change", ""), getattr(c, "distance_to_tss", -1))
            buf.append((v.record, v.line, v.chrom, v.pos, v.id, v.ref, v.alt, v.alt_index, *csq, r.repeat,
                        r.subgenome, v.dosage, v.n_carriers, v.ploidy, r.scored_by, *r.scores[:n],
                        *(r.calibrated[:n] if cal else ())))
            if len(buf) >= self.chunk:
                self._flush(buf, self.inflight.floor())
                buf = []
        self._flush(buf, None, last=True)

    def _flush(self, buf: list[tuple], floor: int | None, last: bool = False) -> None:
        cols = list(zip(*buf)) if buf else [[] for _ in self.types]
        batch = pa.record_batch([pa.array(c, type=t) for c, t in zip(cols, self.types)], schema=self.schema)
        if self.carry is not None and self.carry.num_rows:
            batch = pa.concat_batches([self.carry, batch])
        key = (batch.column("record").to_numpy().astype(np.int64) << ALT_BITS) | \
            batch.column("alt_index").to_numpy().astype(np.int64)
        if len(key) and (np.diff(key) < 0).any():  # rows already in order (the usual case) are not copied
            order = np.argsort(key, kind="stable")
            batch, key = batch.take(pa.array(order)), key[order]
        ready = len(key) if last or floor is None else int(np.searchsorted(key, floor, side="left"))
        if ready or (last and not self.written):  # an empty shard still writes its (empty) batch: the schema
            self.part.write(batch.slice(0, ready))
            self.written += ready
        self.carry = batch.slice(ready) if ready < batch.num_rows else None
