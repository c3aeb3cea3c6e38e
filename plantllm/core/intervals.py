"""The one interval index of plantllm: genes, transcripts, repeats, regions, peaks, calls.

Intervals are 0-based half-open, grouped by a key (a chromosome name, or a tuple such
as ``(chrom, strand)``), of any length and free to overlap. Every query is exact: a
position inside a feature of any length always finds it, however many short features
start between the long one's start and the position (the hand-written look-back of a
fixed number of genes this index replaced did not).

How: per key the intervals are sorted by start, and the running maximum of their ends
is kept beside them. Everything before the first index whose running maximum end
exceeds ``start`` ends at or before ``start``, and everything from the first start at
or after ``end`` starts too late, so the candidates of a query are one contiguous slice
found by two binary searches, filtered in one numpy comparison. Containment of many
positions at once is one ``searchsorted`` and one lookup of the running maximum.

Written here rather than taken from bioframe/pyranges (DataFrame joins: fast for two
whole tables, but a per-query call costs milliseconds, and our callers stream
variants and windows one batch at a time) or cgranges/ncls (compiled extensions for
what two ``searchsorted`` calls over numpy arrays already do in microseconds).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Hashable, Iterable

import numpy as np

_EMPTY = np.empty(0, dtype=np.int64)


class _Track:
    """Sorted intervals of one key."""

    __slots__ = ("starts", "ends", "ids", "max_end", "argmax_end")

    def __init__(self, starts: np.ndarray, ends: np.ndarray, ids: np.ndarray):
        order = np.lexsort((ends, starts))
        self.starts = starts[order]
        self.ends = ends[order]
        self.ids = ids[order]
        self.max_end = np.maximum.accumulate(self.ends) if len(self.ends) else _EMPTY
        # index of the interval holding the running maximum end (for nearest-left queries)
        run = np.arange(len(self.ends))
        if len(run):
            is_new_max = np.r_[True, self.ends[1:] > self.max_end[:-1]]
            run = np.maximum.accumulate(np.where(is_new_max, run, 0))
        self.argmax_end = run

    def slice(self, start: int, end: int) -> tuple[int, int]:
        # the arrays' own method: np.searchsorted's dispatch costs more than the search for one value
        return int(self.max_end.searchsorted(start, "right")), int(self.starts.searchsorted(end, "left"))


class IntervalIndex:
    """Intervals by key; queries return the ids the intervals were given (their order of insertion
    by default), sorted by interval start.

    Parameters
    ----------
    records : iterable of (key, start, end)
        0-based half-open; empty intervals (``end <= start``) are kept but never overlap anything.
    """

    def __init__(self, records: Iterable[tuple[Hashable, int, int]] = ()):
        by: dict[Hashable, list[tuple[int, int, int]]] = defaultdict(list)
        n = 0
        for i, (key, s, e) in enumerate(records):
            by[key].append((int(s), int(e), i))
            n = i + 1
        self.size = n
        self._tracks: dict[Hashable, _Track] = {}
        for key, rows in by.items():
            a = np.array(rows, dtype=np.int64).reshape(-1, 3)
            self._tracks[key] = _Track(a[:, 0], a[:, 1], a[:, 2])

    @classmethod
    def from_arrays(cls, key: Hashable, starts: np.ndarray, ends: np.ndarray) -> "IntervalIndex":
        """One key's intervals from arrays (ids are positions in the arrays)."""
        idx = cls()
        starts = np.asarray(starts, dtype=np.int64)
        idx._tracks[key] = _Track(starts, np.asarray(ends, dtype=np.int64), np.arange(len(starts)))
        idx.size = len(starts)
        return idx

    @classmethod
    def from_tracks(cls, tracks: "dict[Hashable, tuple[np.ndarray, np.ndarray]]") -> "IntervalIndex":
        """Intervals from (starts, ends) arrays per key (ids: positions in the keys' order, as if listed), without
        a Python object per interval (a genome's repeats)."""
        idx, n = cls(), 0
        for key, (starts, ends) in tracks.items():
            starts = np.asarray(starts, dtype=np.int64)
            idx._tracks[key] = _Track(starts, np.asarray(ends, dtype=np.int64), np.arange(n, n + len(starts)))
            n += len(starts)
        idx.size = n
        return idx

    def __len__(self) -> int:
        return self.size

    def keys(self) -> list[Hashable]:
        return list(self._tracks)

    def intervals(self, key: Hashable) -> tuple[np.ndarray, np.ndarray]:
        """(starts, ends) of one key, sorted by start."""
        t = self._tracks.get(key)
        return (t.starts, t.ends) if t is not None else (_EMPTY, _EMPTY)

    # ------------------------------------------------------------ one query
    def overlapping(self, key: Hashable, start: int, end: int) -> np.ndarray:
        """Ids of the intervals overlapping ``[start, end)`` (a point: ``end = start + 1``)."""
        t = self._tracks.get(key)
        if t is None or end <= start:
            return _EMPTY
        lo, hi = t.slice(start, end)
        if hi <= lo:
            return _EMPTY
        sel = (t.ends[lo:hi] > start) & (t.ends[lo:hi] > t.starts[lo:hi])
        return t.ids[lo:hi][sel]

    def containing(self, key: Hashable, pos: int) -> np.ndarray:
        """Ids of the intervals that contain the 0-based position ``pos``."""
        return self.overlapping(key, pos, pos + 1)

    def any_overlap(self, key: Hashable, start: int, end: int) -> bool:
        return len(self.overlapping(key, start, end)) > 0

    def flanking(self, key: Hashable, start: int, end: int) -> tuple[int, int]:
        """For a gap ``[start, end)`` that no interval overlaps: (id of the interval ending last before it, id of
        the interval starting first after it), -1 for none; of equal ones the first in sort order (start, end,
        then insertion). Two look-ups in the sorted arrays (an intergenic variant's neighbouring genes)."""
        t = self._tracks.get(key)
        if t is None or not len(t.starts):
            return -1, -1
        hi = int(t.starts.searchsorted(end, "left"))  # everything before hi starts, so ends, before the gap
        return (int(t.ids[t.argmax_end[hi - 1]]) if hi > 0 else -1), (int(t.ids[hi]) if hi < len(t.starts) else -1)

    def nearest(self, key: Hashable, pos: int) -> tuple[int, int]:
        """(id, distance) of the interval nearest to ``pos``: distance 0 for one containing it (the one
        starting first), else bases to its nearest end; (-1, -1) when the key has no interval.
        Ties go to the interval on the left."""
        t = self._tracks.get(key)
        if t is None or not len(t.starts):
            return -1, -1
        inside = self.containing(key, pos)
        if len(inside):
            return int(inside[0]), 0
        hi = int(np.searchsorted(t.starts, pos, side="right"))
        best, dist = -1, -1
        if hi > 0:  # everything starting at or before pos ends at or before it
            j = int(t.argmax_end[hi - 1])
            best, dist = int(t.ids[j]), pos - (int(t.ends[j]) - 1)
        if hi < len(t.starts):
            d = int(t.starts[hi]) - pos
            if best < 0 or d < dist:
                best, dist = int(t.ids[hi]), d
        return best, dist

    def covered(self, key: Hashable, pos: int) -> bool:
        """Is the 0-based position ``pos`` inside any interval of ``key``? (one look-up; ``covers`` for many)"""
        t = self._tracks.get(key)
        if t is None:
            return False
        hi = int(t.starts.searchsorted(pos, "right"))
        return hi > 0 and int(t.max_end[hi - 1]) > pos

    # ------------------------------------------------------------ many positions
    def covers(self, key: Hashable, pos: np.ndarray) -> np.ndarray:
        """Boolean per position: is it inside any interval of ``key``? (vectorized)"""
        pos = np.asarray(pos, dtype=np.int64)
        t = self._tracks.get(key)
        if t is None or not len(t.starts):
            return np.zeros(len(pos), dtype=bool)
        hi = np.searchsorted(t.starts, pos, side="right")
        out = np.zeros(len(pos), dtype=bool)
        ok = hi > 0
        out[ok] = t.max_end[hi[ok] - 1] > pos[ok]
        return out

    def mask(self, key: Hashable, start: int, end: int) -> np.ndarray:
        """Boolean per base of ``[start, end)``: covered by any interval."""
        out = np.zeros(max(0, end - start), dtype=bool)
        t = self._tracks.get(key)
        if t is None:
            return out
        lo, hi = t.slice(start, end)
        for s, e in zip(t.starts[lo:hi].tolist(), t.ends[lo:hi].tolist()):
            if e > start:
                out[max(s, start) - start:min(e, end) - start] = True
        return out

    def coverage(self, key: Hashable) -> int:
        """Bases covered by the union of one key's intervals."""
        t = self._tracks.get(key)
        if t is None or not len(t.starts):
            return 0
        total, cur_s, cur_e = 0, int(t.starts[0]), int(t.ends[0])
        for s, e in zip(t.starts[1:].tolist(), t.ends[1:].tolist()):
            if s > cur_e:
                total += max(0, cur_e - cur_s)
                cur_s, cur_e = s, e
            else:
                cur_e = max(cur_e, e)
        return total + max(0, cur_e - cur_s)


def merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of intervals as sorted, non-overlapping, non-adjacent (start, end) pairs."""
    out: list[list[int]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]
