"""Pretraining windows on the real TAIR10 slice: content, masks, splits without leakage."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest

from conftest import DATA
from plantllm.species.assembly import Assembly
from plantllm.species.genome import Genome
from plantllm.core.sequence import reverse_complement, soft_mask
from plantllm.species.card import load_card
from plantllm.data.splits import Splitter
from plantllm.data.tasks.pretrain import WindowParams, build_pretrain, cds_windows, chromosome_windows


@pytest.fixture(scope="module")
def asm():
    return Assembly(load_card(DATA / "cards" / "tair10_slice.yaml"))


@pytest.fixture(scope="module")
def built(asm, tmp_path_factory):
    out = tmp_path_factory.mktemp("pre") / "corpus"
    m = build_pretrain(asm, out, WindowParams(length=256, stride=128, rc_augment=True),
                       Splitter(0.2, 0.2, block_size=50_000, seed=1))
    return out, m


def test_windows_match_genome_and_soft_mask(asm, built):
    out, _ = built
    ds = datasets.load_from_disk(str(out))  # plain datasets, no plantllm needed
    g = Genome(asm.card)
    for row in ds["validation"].select(range(50)):
        seq = g.fetch(row["chrom"], row["start"], row["end"])
        assert row["seq"] == seq and row["strand"] == "+"
        assert np.array_equal(np.array(row["repeat_mask"], bool), soft_mask(seq))
        assert row["repeat_weight"] == pytest.approx(0.1)


def test_no_overlap_between_splits(built):
    out, m = built
    ds = datasets.load_from_disk(str(out))
    iv = {s: sorted({(r["start"], r["end"]) for r in ds[s].select_columns(["start", "end"])}) for s in ds}
    assert all(len(v) > 20 for v in iv.values()), {k: len(v) for k, v in iv.items()}
    for a in ds:
        for b in ds:
            if a >= b:
                continue
            starts_b = np.array([s for s, _ in iv[b]])
            ends_b = np.array([e for _, e in iv[b]])
            for s, e in iv[a]:
                assert not ((starts_b < e) & (ends_b > s)).any(), (a, b, s, e)
    assert m["split"]["straddling_dropped"] > 0


def test_reverse_complement_augmentation_only_in_train(built):
    out, _ = built
    ds = datasets.load_from_disk(str(out))
    assert set(ds["test"]["strand"]) == {"+"}
    tr = ds["train"]
    fwd = {(r["start"], r["strand"]): r for r in tr.select(range(40))}
    pairs = [(k, v) for k, v in fwd.items() if k[1] == "+" and (k[0], "-") in fwd]
    assert pairs
    for (start, _), row in pairs:
        rc = fwd[(start, "-")]
        assert rc["seq"] == reverse_complement(row["seq"]) and rc["repeat_mask"] == row["repeat_mask"][::-1]


def test_manifest_and_rerun_skips(asm, built):
    out, m = built
    man = json.loads((out / "manifest.json").read_text())
    assert man["files"]["fasta"]["sha256"] and man["split_sizes"] == {k: len(v) for k, v in
                                                                        datasets.load_from_disk(str(out)).items()}
    again = build_pretrain(asm, out, WindowParams(length=256, stride=128, rc_augment=True),
                           Splitter(0.2, 0.2, block_size=50_000, seed=1))
    assert again["created"] == man["created"]  # skipped: same inputs and parameters


def test_n_heavy_windows_dropped(tmp_path):
    fa = tmp_path / "n.fa"
    fa.write_text(">Chr1\n" + "ACGT" * 64 + "N" * 256 + "acgt" * 64 + "\n")
    card = load_card(DATA / "cards" / "tair10_slice.yaml")
    card.fasta = fa
    asm = Assembly(card)
    ws = list(chromosome_windows(asm, "1", WindowParams(length=256, stride=256, max_n_fraction=0.1)))
    assert [w["start"] for w in ws] == [0, 512]
    assert ws[1]["repeat_fraction"] == 1.0 and ws[0]["repeat_fraction"] == 0.0


def test_small_batches_stream_the_same_windows(asm):
    p = WindowParams(length=300, stride=250)
    a = [(w["start"], w["seq"]) for w in chromosome_windows(asm, "1", p)]
    b = [(w["start"], w["seq"]) for w in chromosome_windows(asm, "1", p, batch=7)]
    assert a == b and len(a) == (1_500_000 - 300) // 250 + 1


def test_regions_promoters_and_intergenic(asm):
    prom = list(chromosome_windows(asm, "1", WindowParams(length=200, stride=200, regions="promoters")))
    inter = list(chromosome_windows(asm, "1", WindowParams(length=200, stride=200, regions="intergenic")))
    tss = np.array(sorted(t.tss for t in asm.annotation.canonical_transcripts()))
    def near(w):
        i = np.searchsorted(tss, w["start"])
        return min(abs(tss[max(i - 1, 0)] - w["start"]), abs(tss[min(i, len(tss) - 1)] - w["start"]))
    assert np.median([near(w) for w in prom]) < 1000 < np.median([near(w) for w in inter])


def test_held_out_chromosome(tmp_path):
    card = load_card(DATA / "cards" / "arenosa_slice.yaml")
    asm = Assembly(card)
    m = build_pretrain(asm, tmp_path / "c", WindowParams(length=1000, stride=1000),
                       Splitter(0, 0, val_chroms=(), test_chroms=("1",)))
    assert m["split_sizes"]["train"] == 0 and m["split_sizes"]["test"] > 900


def test_regions_coding_windows_are_mostly_coding(asm):
    """regions='coding' tiles canonical CDS segments +/- flank: its windows are mostly coding sequence,
    and far more so than windows of whole genes (introns, UTRs) or of the chromosome."""
    from plantllm.data.tasks.pretrain import region_intervals

    cds = sorted((s, e) for t in asm.annotation.canonical_transcripts() if t.coding and t.chrom == "1"
                 for s, e in t.cds)
    starts, ends = np.array([s for s, _ in cds]), np.array([e for _, e in cds])

    def coding_fraction(windows):
        covered = np.zeros(1_500_000, bool)
        for s, e in zip(starts, ends):
            covered[s:e] = True
        return float(np.mean([covered[w["start"]:w["end"]].mean() for w in windows]))

    p = dict(length=200, stride=100, flank=50)
    coding = list(chromosome_windows(asm, "1", WindowParams(regions="coding", **p)))
    genes = list(chromosome_windows(asm, "1", WindowParams(regions="genes", **p)))
    whole = list(chromosome_windows(asm, "1", WindowParams(length=200, stride=100)))
    assert coding and coding_fraction(coding) > coding_fraction(genes) + 0.1 > coding_fraction(whole) + 0.2
    # every tiled interval is CDS segments widened by the flank: it starts and ends `flank` off a segment
    iv = region_intervals(asm, "1", "coding", 50)
    assert all(np.isin(s + 50, starts) or s == 0 for s, _ in iv) and all(np.isin(e - 50, ends) for _, e in iv)


def test_regions_cds_windows_are_spliced_in_frame(asm, tmp_path):
    """regions='cds' joins each coding gene's canonical CDS segments in the transcript's sense: windows start at the
    start codon and, with a stride that is a multiple of 3, stay in frame (no stop codon inside, on either strand)."""
    from Bio.Seq import Seq

    p = WindowParams(regions="cds", length=201, stride=99)
    windows = list(cds_windows(asm, "1", p))
    coding = {t.id: t for t in asm.annotation.canonical_transcripts() if t.coding and t.chrom == "1"}
    assert {w["strand"] for w in windows} == {"+", "-"}
    firsts = {}
    for w in windows:
        firsts.setdefault((w["start"], w["end"]), w)
    assert len(firsts) == sum(t.cds_length >= 201 for t in coding.values())
    assert np.mean([w["seq"][:3].upper() == "ATG" for w in firsts.values()]) > 0.95
    protein = [str(Seq(w["seq"].upper()).translate()) for w in windows]
    assert np.mean(["*" in aa[:-1] for aa in protein]) < 0.01
    # a - strand gene's first window is the reverse complement of the genome at the end of its last CDS segment
    t = next(t for t in coding.values() if t.strand == "-" and t.cds_length >= 201 and t.cds[-1][1] - t.cds[-1][0] > 201)
    w = firsts[(t.cds[0][0], t.cds[-1][1])]
    assert w["seq"] == reverse_complement(asm.genome.fetch("1", t.cds[-1][1] - 201, t.cds[-1][1]))
    # the builder writes them, split by the whole coding locus
    m = build_pretrain(asm, tmp_path / "cds", p, Splitter(0.2, 0.2, block_size=200_000))
    assert 0.8 * len(windows) < sum(m["split_sizes"].values()) <= len(windows) and m["params"]["regions"] == "cds"
