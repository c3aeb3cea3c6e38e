"""The one bigWig writer (``core.tracks``) and the bins a promoter scan's tracks hold (``apps.scan_tracks``)."""

from __future__ import annotations

import numpy as np
import pyBigWig
import pytest

from plantllm.apps.scan_tracks import track_bins
from plantllm.core import tracks
from plantllm.core.tracks import bigwig

HEADER = [("NC_003070.9", 1_500_000), ("NC_003071.7", 40_000)]


def _entries(seed: int = 0):
    """Sorted bedGraph-like entries on two chromosomes, the values of a real track's range (float32 LLRs)."""
    rng = np.random.default_rng(seed)
    out = []
    for chrom, n, size in (("NC_003070.9", 5_000, 1_400_000), ("NC_003071.7", 300, 39_000)):
        starts = np.sort(rng.choice(size, n, replace=False))
        ends = np.minimum(np.r_[starts[1:], size], starts + rng.integers(1, 60, n))
        out.append((chrom, starts, ends, rng.normal(-1, 2, n).astype(np.float32)))
    return out


def _plain(path, entries, steps=()) -> None:
    """The same track through pyBigWig directly, one call per chromosome with Python lists (how the apps wrote)."""
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(HEADER)
    for chrom, s, e, v in entries:
        bw.addEntries([chrom] * len(s), s.tolist(), ends=e.tolist(), values=v.astype(float).tolist())
    for chrom, start, v, step in steps:
        bw.addEntries(chrom, start, values=v.astype(float).tolist(), span=1, step=step)
    bw.close()


@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_writer_bytes_equal_plain_pybigwig_in_any_chunks(tmp_path, monkeypatch, chunk):
    """Entries added in chunks (numpy arrays) give the file of one plain pyBigWig call per chromosome, byte for
    byte; the header holds the chromosomes and sizes in the order given, and the values read back."""
    monkeypatch.setattr(tracks, "CHUNK", chunk)
    entries = _entries()
    steps = [("NC_003071.7", 39_100, np.linspace(-3, 1, 600, dtype=np.float32)[:250], 3)]
    _plain(tmp_path / "plain.bw", entries, steps)
    with bigwig(tmp_path / "ours.bw", HEADER) as bw:
        for chrom, s, e, v in entries[:1]:
            bw.add(chrom, s, e, v)
        chrom, s, e, v = entries[1]
        bw.add(chrom, s[:100], e[:100], v[:100].tolist())  # lists too, and a chromosome in two calls
        bw.add(chrom, s[100:], e[100:], v[100:])
        for chrom, start, v, step in steps:
            bw.add_steps(chrom, start, v, step=step)
    assert (tmp_path / "ours.bw").read_bytes() == (tmp_path / "plain.bw").read_bytes()
    bw = pyBigWig.open(str(tmp_path / "ours.bw"))
    assert list(bw.chroms().items()) == HEADER
    got = bw.intervals("NC_003070.9")
    chrom, s, e, v = entries[0]
    assert [(a, b) for a, b, _ in got] == list(zip(s.tolist(), e.tolist()))
    assert np.array_equal(np.array([x for *_, x in got], np.float32), v)
    assert bw.values("NC_003071.7", 39_103, 39_104)[0] == pytest.approx(float(steps[0][2][1]))
    bw.close()


def test_writer_is_atomic(tmp_path):
    """An error while writing leaves the previous file as it was and no temporary behind."""
    path = tmp_path / "t.bw"
    with bigwig(path, HEADER) as bw:
        bw.add("NC_003070.9", [10], [20], [1.5])
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with bigwig(path, HEADER) as bw:
            bw.add("NC_003070.9", [10, 30], [20, 40], [2.0, 3.0])
            raise RuntimeError("killed half way")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.bw"]


def _whole(t, s, half, stride, length):
    """Bins of one sort of the whole strand, one row at a time: each clipped by the furthest end before it."""
    out, last = [], 0
    for x, v in zip(t.tolist(), s.tolist()):
        a, b = max(0, x - half, last), min(length, x - half + stride)
        last = max(last, b)
        if b > a:
            out.append((a, b, v))
    return out


def test_track_bins_carry_the_furthest_end_across_pieces():
    """However a strand's rows are cut into pieces (shards), the bins are those of one sort of the whole strand:
    repeated TSSs (overlapping regions on one grid) and bins cut off at the chromosome's end are dropped, and a
    piece whose bins are all dropped does not move the end that clips the next piece."""
    t = np.array([0, 10, 60, 60, 60, 110, 130, 130, 400, 1_960, 1_990, 1_995])
    s = np.arange(len(t), dtype=np.float32) / 10
    want = _whole(t, s, 25, 50, 2_000)
    assert len(want) < len(t)  # some bins dropped: the case matters
    cuts = [(i, j) for i in range(len(t) + 1) for j in range(i, len(t) + 1)]
    for i, j in cuts:  # every cut into three pieces, empty ones included
        pieces = [(t[:i], s[:i]), (t[i:j], s[i:j]), (t[j:], s[j:])]
        got = [(a, b, v) for st, en, sc in track_bins(pieces, 25, 50, 2_000)
               for a, b, v in zip(st.tolist(), en.tolist(), sc.tolist())]
        assert got == want, (i, j)
    # a piece of repeats alone ([60, 60] after [..., 60]) is all dropped; the next piece is clipped as in one sort
    pieces = [(t[:3], s[:3]), (t[3:5], s[3:5]), (t[5:], s[5:])]
    assert [len(st) for st, _, _ in track_bins(pieces, 25, 50, 2_000)] == [3, 5]
