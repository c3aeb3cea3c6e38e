"""Polyploid genomes on a real A. suecica-style reference: A. thaliana (T) + A. arenosa (A) slices."""

from __future__ import annotations

from collections import Counter

import datasets
import numpy as np
import pytest

from conftest import CARDS
from plantllm.species.assembly import Assembly, summarize
from plantllm.cli import main
from plantllm.core.errors import CardError, InputFileError
from plantllm.data.splits import GroupSplitter, leakage
from plantllm.species.homeologs import find_homeologs, read_groups, write_groups
from plantllm.species.polyploid import combine
from plantllm.species.card import get_card, load_card, parse_card
from plantllm.data.splits import Splitter
from plantllm.data.tasks.promoter import PromoterParams, build_promoter
from plantllm.data.tasks.pretrain import WindowParams, build_pretrain


@pytest.fixture(scope="module")
def suecica(tmp_path_factory):
    d = tmp_path_factory.mktemp("suecica")
    card = combine("suecica_like", {"T": load_card(CARDS / "tair10_slice.yaml"),
                                    "A": load_card(CARDS / "arenosa_slice.yaml")}, d)
    return Assembly(load_card(card)), d


@pytest.fixture(scope="module")
def homeologs(suecica):
    asm, d = suecica
    r = find_homeologs(asm)
    path = write_groups(r, d / "homeologs.tsv")
    return r, path


def test_combined_reference_has_labelled_subgenomes(suecica):
    asm, _ = suecica
    assert asm.card.ploidy == 4
    assert [(c.name, c.subgenome) for c in asm.card.nuclear] == [("T_1", "T"), ("A_1", "A")]
    assert asm.card.canonical("T_NC_003070.9") == "T_1" and asm.card.canonical("A_LR999451.1") == "A_1"
    assert asm.genome.fetch("T_1", 0, 28) == "ccctaaaccctaaaccctaaaccctaaa"  # real TAIR10 telomere
    loci = {g.locus.split("_")[0] for g in asm.annotation.genes}
    assert loci == {"T", "A"}


def test_real_homeolog_pairs_between_subgenomes(homeologs, suecica):
    asm, _ = suecica
    r, _ = homeologs
    assert len(r.pairs) > 100
    assert all({a.split("_")[0], b.split("_")[0]} == {"T", "A"} for a, b, _ in r.pairs)
    # Best reciprocal hits are one-to-one.
    assert len({a for a, _, _ in r.pairs}) == len(r.pairs) == len({b for _, b, _ in r.pairs})
    # The At chr1 top arm is syntenic with the start of A. arenosa chr1: most hits keep gene order.
    pos = {g.locus: g.start for g in asm.annotation.genes}
    xs = np.array([pos[a] if a.startswith("T") else pos[b] for a, b, _ in r.pairs])
    ys = np.array([pos[b] if a.startswith("T") else pos[a] for a, b, _ in r.pairs])
    assert abs(np.corrcoef(xs, ys)[0, 1]) > 0.5


def test_group_split_never_splits_a_homeolog_pair(suecica, homeologs):
    asm, d = suecica
    r, path = homeologs
    base = Splitter(0.25, 0.25, block_size=100_000, seed=3)
    naive = leakage(asm, r.groups, base)
    assert naive["groups_in_train_and_test"] > 10  # what a plain block split would leak
    gs = GroupSplitter(base, asm, read_groups(path))
    assert leakage(asm, r.groups, gs)["groups_across_splits"] == 0
    build_promoter(asm, d / "prom", PromoterParams(negatives="shuffle"), gs)
    ds = datasets.load_from_disk(str(d / "prom"))
    split_of = {}
    for s in ds:
        for row in ds[s]:
            if row["label"] == 1:
                split_of[row["gene"]] = s
    pairs_seen = 0
    for a, b, _ in r.pairs:
        if a in split_of and b in split_of:
            pairs_seen += 1
            assert split_of[a] == split_of[b], (a, b)
    assert pairs_seen > 50
    assert len({split_of[g] for g in split_of}) == 3


def test_subgenome_balanced_pretraining(suecica, tmp_path):
    asm, _ = suecica
    m = build_pretrain(asm, tmp_path / "c", WindowParams(length=1000, stride=1000, balance="equal"), Splitter(0, 0))
    sub = Counter(datasets.load_from_disk(str(tmp_path / "c"))["train"]["subgenome"])
    # T slice 1.5 Mb vs A slice 1.0 Mb: equal shares after down-sampling T
    assert m["subgenome_keep_rates"]["T"] == pytest.approx(1.0 / 1.5, rel=1e-3)
    assert abs(sub["T"] - sub["A"]) / sub["A"] < 0.1
    m2 = build_pretrain(asm, tmp_path / "w", WindowParams(length=1000, stride=1000, balance="weights",
                                                           subgenome_weights={"T": 1, "A": 3}), Splitter(0, 0))
    sub2 = Counter(datasets.load_from_disk(str(tmp_path / "w"))["train"]["subgenome"])
    assert 2.5 < sub2["A"] / sub2["T"] < 3.5 and m2["subgenome_keep_rates"]["A"] == 1.0


def test_species_show_reports_subgenomes_and_groups(suecica, homeologs, capsys):
    asm, d = suecica
    _, path = homeologs
    text = (d / "suecica_like.yaml").read_text() + f"homeologs: {path}\n"
    (d / "with_groups.yaml").write_text(text)
    assert main(["species", "show", str(d / "with_groups.yaml")]) == 0
    out = capsys.readouterr().out
    assert "ploidy 4; subgenomes: T 1,500,000 bp (1 chromosomes), A 1,000,000 bp" in out
    assert "homeolog groups:" in out
    s = summarize(Assembly(load_card(d / "with_groups.yaml")))
    assert s.homeolog_groups["groups"] == len(set(homeologs[0].groups.values()))


def test_hexaploid_wheat_card():
    w = get_card("triticum_aestivum")
    assert w.ploidy == 6 and len(w.nuclear) == 21
    assert Counter(c.subgenome for c in w.nuclear) == {"A": 7, "B": 7, "D": 7}
    assert w.canonical("chr3B") == "3B" and w.chromosome("3B").length == 830_829_764


def test_bad_homeolog_table(tmp_path):
    p = tmp_path / "h.tsv"
    p.write_text("g1\tHG1\ng1\tHG2\n")
    with pytest.raises(InputFileError, match=r"h.tsv:2: gene 'g1' is given twice: HG1 \(line 1\) and HG2"):
        read_groups(p)
    p.write_text("g1\n")
    with pytest.raises(InputFileError, match="expected 2 tab-separated columns: gene, group"):
        read_groups(p)


def test_subgenome_pattern_must_match():
    with pytest.raises(CardError, match="matches no nuclear chromosome"):
        parse_card({"name": "x", "assembly": "a", "chromosomes": {"nuclear": [{"name": "1A", "length": 5}]},
                    "subgenomes": {"B": {"pattern": "B$"}}})


def test_cli_combine_and_homeologs(tmp_path, capsys):
    assert main(["species", "combine", "sue", "--part", f"T={CARDS / 'tair10_slice.yaml'}",
                 "--part", f"A={CARDS / 'arenosa_slice.yaml'}", "-o", str(tmp_path)]) == 0
    assert main(["species", "homeologs", str(tmp_path / "sue.yaml"), "-o", str(tmp_path / "h.tsv")]) == 0
    groups = read_groups(tmp_path / "h.tsv")
    assert len(set(groups.values())) > 100
    assert main(["data", "promoter", str(tmp_path / "sue.yaml"), "-o", str(tmp_path / "p"), "--homeologs",
                 str(tmp_path / "h.tsv"), "--block-size", "100000"]) == 0
    assert "homeolog-aware split" in capsys.readouterr().err


def test_subgenome_balanced_promoter_task(suecica, tmp_path):
    asm, _ = suecica
    m = build_promoter(asm, tmp_path / "p", PromoterParams(negatives="shuffle", balance="equal"), Splitter(0, 0))
    rows = datasets.load_from_disk(str(tmp_path / "p"))["train"]
    sub = Counter(r["subgenome"] for r in rows if r["label"] == 1)
    build_promoter(asm, tmp_path / "q", PromoterParams(negatives="shuffle"), Splitter(0, 0))
    rows_q = datasets.load_from_disk(str(tmp_path / "q"))["train"]
    sub_q = Counter(r["subgenome"] for r in rows_q if r["label"] == 1)
    assert sub_q["T"] > 1.5 * sub_q["A"]  # T slice is gene-richer
    assert abs(sub["T"] - sub["A"]) / sub["A"] < 0.2 and "subgenome_balance" in m["skipped"]
