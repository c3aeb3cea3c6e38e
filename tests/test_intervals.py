"""The one interval index: exact against brute force, and a position deep inside a long gene
always finds it (the fixed look-backs it replaced did not)."""

import numpy as np
import pytest

from conftest import DATA
from plantllm.core.intervals import IntervalIndex, merge
from plantllm.data.splits import GroupSplitter, Splitter
from plantllm.species.assembly import Assembly
from plantllm.species.card import load_card


def _brute(rows, key, s, e):
    return sorted(i for i, (k, a, b) in enumerate(rows) if k == key and a < e and b > s and b > a)


@pytest.mark.parametrize("seed", range(5))
def test_queries_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(400):
        a = int(rng.integers(0, 10_000))
        rows.append((str(rng.choice(["1", "2"])), a, a + int(rng.choice([1, 5, 50, 3000]) * rng.random()) + 1))
    idx = IntervalIndex(rows)
    for _ in range(300):
        key = str(rng.choice(["1", "2", "3"]))
        s = int(rng.integers(-100, 11_000))
        e = s + int(rng.integers(1, 400))
        assert sorted(idx.overlapping(key, s, e).tolist()) == _brute(rows, key, s, e)
        assert idx.any_overlap(key, s, e) == bool(_brute(rows, key, s, e))
        assert sorted(idx.containing(key, s).tolist()) == _brute(rows, key, s, s + 1)
        assert idx.covered(key, s) == bool(_brute(rows, key, s, s + 1))
    pos = rng.integers(-10, 11_000, size=500)
    want = np.array([bool(_brute(rows, "1", p, p + 1)) for p in pos])
    assert (idx.covers("1", pos) == want).all()
    m = idx.mask("2", 2000, 2600)
    assert (m == [bool(_brute(rows, "2", p, p + 1)) for p in range(2000, 2600)]).all()
    merged = merge((a, b) for k, a, b in rows if k == "1")
    assert idx.coverage("1") == sum(b - a for a, b in merged)


@pytest.mark.parametrize("seed", range(3))
def test_nearest_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    rows = [("c", int(a), int(a) + int(w)) for a, w in zip(rng.integers(0, 5000, 60), rng.integers(1, 800, 60))]
    idx = IntervalIndex(rows)
    for p in rng.integers(-200, 6000, 300).tolist():
        i, d = idx.nearest("c", p)
        dist = [0 if a <= p < b else min(abs(a - p), abs(b - 1 - p)) for _, a, b in rows]
        assert d == min(dist) and dist[i] == d
    assert idx.nearest("other", 5) == (-1, -1)


@pytest.mark.parametrize("seed", range(3))
def test_flanking_equals_brute_force(seed):
    """The intervals ending last before a gap and starting first after it, ties to the first in (start, end,
    insertion) order, with many equal starts and ends."""
    rng = np.random.default_rng(seed)
    rows = [("c", int(a), int(a) + int(w)) for a, w in zip(rng.integers(0, 50, 80) * 100, rng.integers(1, 4, 80) * 50)]
    idx = IntervalIndex(rows)
    order = sorted(range(len(rows)), key=lambda i: (rows[i][1], rows[i][2], i))
    for s in range(-100, 5500, 7):
        e = s + int(rng.integers(1, 30))
        if _brute(rows, "c", s, e):
            continue  # not a gap
        before = [i for i in order if rows[i][2] <= s]
        after = [i for i in order if rows[i][1] >= e]
        want_l = max(before, key=lambda i: (rows[i][2], -order.index(i))) if before else -1
        want_r = min(after, key=lambda i: (rows[i][1], order.index(i))) if after else -1
        assert idx.flanking("c", s, e) == (want_l, want_r), (s, e)
    assert idx.flanking("other", 5, 6) == (-1, -1)


def test_intergenic_neighbours_equal_a_scan_of_the_annotation():
    """``ConsequenceAnnotator._intergenic`` names the genes that a plain scan of every transcript finds: the
    one ending last before the site and the one starting first after it, within 55 kb, first in the annotation's
    order among equals (the loop the index look-up replaced)."""
    from plantllm.apps.consequence import ConsequenceAnnotator
    from plantllm.species.annotation import locus_of

    asm = Assembly(load_card(DATA / "cards" / "tair10_slice.yaml"))
    ann = ConsequenceAnnotator(asm)
    n = 0
    for p in range(0, 1_500_000, 997):
        if ann.body.any_overlap("1", p, p + 1):
            continue
        left = right = None
        for t in (t for t in ann.tx if t.chrom == "1"):  # sorted by (chrom, start, end, id)
            if t.end <= p and t.end > p - 55_000 and (left is None or t.end > left.end):
                left = t
            if t.start >= p + 1 and t.start < p + 1 + 55_000 and (right is None or t.start < right.start):
                right = t
        name = "-".join(ann.gene_of.get(t.id, (locus_of(t.gene_id),))[0] for t in (left, right) if t is not None)
        assert ann._intergenic("1", "A", p, p + 1, p, "C", "A").gene_name == (name or "CHR_START-CHR_END"), p
        n += 1
    assert n > 200


def test_long_feature_found_past_many_short_ones():
    # one 1 Mb gene and 500 short genes starting inside it: a fixed look-back of 50 or 200 genes
    # (the lookups this index replaced) misses the long one for positions near its end
    rows = [("1", 0, 1_000_000)] + [("1", 1000 + 1500 * i, 1000 + 1500 * i + 300) for i in range(500)]
    idx = IntervalIndex(rows)
    assert 0 in idx.containing("1", 999_999).tolist()
    assert idx.nearest("1", 900_000) == (0, 0)
    assert idx.covers("1", np.array([999_999, 1_000_000])).tolist() == [True, False]


def test_group_split_equals_brute_force_with_wide_flanks():
    """With 400 kb flanks every gene interval spans hundreds of genes: the old 200-gene look-back missed
    some of them; the split of each locus must equal a brute-force scan over all grouped genes."""
    asm = Assembly(load_card(DATA / "cards" / "tair10_slice.yaml"))
    genes = asm.annotation.genes
    groups = {g.locus: f"HG{i % 7}" for i, g in enumerate(genes)}
    base = Splitter(0.3, 0.3, block_size=10_000, seed=1)
    gs = GroupSplitter(base, asm, groups, flank=400_000)
    rng = np.random.default_rng(0)
    for start in rng.integers(0, 1_400_000, 40).tolist():
        end = start + 300
        hit = {groups[g.locus] for g in genes if g.start - 400_000 < end and g.end + 400_000 > start}
        splits = {gs.group_split(h) for h in hit}
        want = (splits.pop() if len(splits) == 1 else None) if hit else base.assign("1", start, end)
        assert gs.assign("1", start, end) == want


def test_nearest_gene_and_tss_distance_on_real_annotation():
    asm = Assembly(load_card(DATA / "cards" / "tair10_slice.yaml"))
    ann = asm.annotation
    g = ann.genes[10]
    mid = (g.start + g.end) // 2
    assert ann.nearest_gene(g.chrom, mid).start <= mid < ann.nearest_gene(g.chrom, mid).end
    tss = sorted(t.tss for t in ann.transcripts if t.chrom == g.chrom)
    for p in (0, mid, tss[5] + 3, 1_400_000):
        assert ann.tss_distance(g.chrom, p) == min(abs(x - p) for x in tss)
