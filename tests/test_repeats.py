"""Repeats: soft-mask, RepeatMasker .out and UCSC table, TE GFF3 and BED agree."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from conftest import DATA
from plantllm.core.errors import ChromosomeError, InputFileError
from plantllm.species.genome import Genome
from plantllm.species.repeats import Repeats, soft_mask_intervals
from plantllm.core.sequence import soft_mask
from plantllm.species.card import load_card

RMSK = DATA / "tair10_chr1_1-1500000.rmsk.tsv.gz"


@pytest.fixture(scope="module")
def card():
    return load_card(DATA / "cards" / "tair10_slice.yaml")


def _rows():
    with gzip.open(RMSK, "rt") as fh:
        next(fh)
        return [line.rstrip("\n").split("\t") for line in fh]


def _as_out(path):
    """The same real hits in RepeatMasker .out layout (1-based, whitespace columns)."""
    lines = ["   SW   perc perc perc  query      position in query           matching       repeat              position in  repeat",
             "score   div. del. ins.  sequence    begin     end    (left)    repeat         class/family         begin  end (left)   ID", ""]
    for i, f in enumerate(_rows(), 1):
        strand = "+" if f[9] == "+" else "C"
        lines.append(f"{f[1]} {int(f[2]) / 10:.1f} {int(f[3]) / 10:.1f} {int(f[4]) / 10:.1f} {f[5]} "
                     f"{int(f[6]) + 1} {f[7]} ({abs(int(f[8]))}) {strand} {f[10]} {f[11]}/{f[12]} {f[13]} {f[14]} {f[15]} {i}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _as_bed(path):
    path.write_text("".join(f"{f[5]}\t{f[6]}\t{f[7]}\t{f[10]}\n" for f in _rows()))
    return path


def _as_te_gff(path):
    path.write_text("##gff-version 3\n" + "".join(
        f"{f[5]}\tRepeatMasker\t{f[11]}\t{int(f[6]) + 1}\t{f[7]}\t.\t{'+' if f[9] == '+' else '-'}\t.\tID=te{i};Name={f[10]}\n"
        for i, f in enumerate(_rows())))
    return path


def test_all_file_formats_agree(card, tmp_path):
    ref = Repeats(card, source="rmsk_table", path=RMSK)
    s, e = ref.intervals("1")
    assert len(s) > 300 and (e - s).sum() > 30_000  # 615 hits, 45.6 kb: the gene-rich arm
    for source, make in (("rmsk_out", _as_out), ("bed", _as_bed), ("te_gff", _as_te_gff)):
        other = Repeats(card, source=source, path=make(tmp_path / f"r.{source}"))
        s2, e2 = other.intervals("Chr1")
        assert np.array_equal(s, s2) and np.array_equal(e, e2), source


def test_soft_mask_matches_lowercase(card):
    g = Genome(card)
    rep = Repeats(card, g)
    seq = g.fetch("1", 0, 1_500_000)
    assert rep.coverage()["1"] == int(soft_mask(seq).sum())
    assert np.array_equal(rep.mask("1", 100_000, 200_000), soft_mask(seq[100_000:200_000]))
    assert [rep.covers("Chr1", p) for p in range(100_000, 101_000)] == soft_mask(seq[100_000:101_000]).tolist()
    # Soft-mask and the TAIR10 RepeatMasker track describe largely the same repeats.
    rm = Repeats(card, source="rmsk_table", path=RMSK)
    a, b = rep.mask("1", 0, 1_500_000), rm.mask("1", 0, 1_500_000)
    assert (a & b).sum() / b.sum() > 0.5


def test_soft_mask_runs_across_chunk_borders(card):
    g = Genome(card)
    orig = g.iter_chunks
    g.iter_chunks = lambda chrom, chunk=1 << 22: orig(chrom, chunk=997)  # odd chunk: runs cross borders
    small = soft_mask_intervals(g)
    g.iter_chunks = orig
    assert small == soft_mask_intervals(g)


def test_weights_and_fraction(card):
    rep = Repeats(card, source="rmsk_table", path=RMSK, weight=0.25)
    s, e = rep.intervals("1")
    w = rep.weights("1", int(s[0]) - 10, int(e[0]) + 10)
    assert set(np.unique(w)) == {0.25, 1.0}
    assert rep.fraction("1", int(s[0]), int(e[0])) == 1.0


def test_bad_repeat_files(card, tmp_path):
    p = tmp_path / "bad.bed"
    p.write_text("chrX\t1\t10\n")
    with pytest.raises(ChromosomeError, match="no repeat sequence names match the card: chrX"):
        Repeats(card, source="bed", path=p)
    p.write_text("Chr1\t10\t5\n")
    with pytest.raises(InputFileError, match=r"bad.bed:1: bad interval 10-5"):
        Repeats(card, source="bed", path=p)
    p.write_text("Chr1\t10\n")
    with pytest.raises(InputFileError, match=r"bad.bed:1: BED needs at least 3"):
        Repeats(card, source="bed", path=p)


def test_merged_intervals_are_cached_per_source_file(card, tmp_path, monkeypatch):
    """The second reader of a source loads the cached arrays (the same intervals, no reading of the file); a
    changed file is read again."""
    bed = _as_bed(tmp_path / "r.bed")
    first = Repeats(card, source="bed", path=bed)
    cache = first._cache_file(None)
    assert cache.exists()
    with monkeypatch.context() as m:  # a cache hit never reads the source
        m.setattr(Repeats, "_read", lambda self, genome: pytest.fail("read the source again"))
        hit = Repeats(card, source="bed", path=bed)
    for a, b in zip(hit.intervals("1"), first.intervals("1")):
        assert np.array_equal(a, b) and a.dtype == np.int64
    bed.write_text(bed.read_text())  # same content, new modification time: another cache entry
    again = Repeats(card, source="bed", path=bed)
    assert again._cache_file(None) != cache
    assert np.array_equal(first.intervals("1")[0], again.intervals("1")[0])
    bed.write_text("Chr1\t100\t200\nChr1\t150\t300\nChr1\t300\t310\n")  # changed: read again, merged book-ended
    s, e = Repeats(card, source="bed", path=bed).intervals("1")
    assert s.tolist() == [100] and e.tolist() == [310]
    assert Repeats(card, source="bed", path=bed).to_bed(tmp_path / "out.bed").read_text() == "1\t100\t310\n"
