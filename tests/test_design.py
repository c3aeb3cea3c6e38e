"""Promoter design on real TAIR10 promoters: constraints hold, greedy improves, seeds reproduce, bad input fails.

A tiny ESM (6-mer) promoter classifier is fine-tuned in the test on the TAIR10 slice (-59..+20 windows, 20
steps, as in test_promoter_predict); the designs start from the real promoters of named genes of the
slice. Every constraint is checked again here, independently of ``design_constraints``: restriction sites
with Biopython's own ``search`` on both strands, motifs with ``str.find`` on both strands.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import CARDS, DATA
from plantllm.cli import main
from plantllm.core.sequence import reverse_complement

ROOT = DATA.parent.parent
CARD = str(CARDS / "tair10_slice.yaml")
GENES = "AT1G01010,AT1G01020,AT1G01030"
UP, DOWN = 59, 20


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from plantllm.data.splits import Splitter
    from plantllm.data.tasks.promoter import PromoterParams, build_promoter
    from plantllm.species.assembly import Assembly
    from plantllm.training.config import TrainConfig
    from plantllm.training.trainer import run

    d = tmp_path_factory.mktemp("design")
    build_promoter(Assembly(CARD), d / "ds", PromoterParams(upstream=UP, downstream=DOWN),
                   Splitter(0.2, 0.2, block_size=100_000))
    s = run(TrainConfig(task="classification", model=str(ROOT / "configs/models/tiny-esm-6mer.yaml"),
                        dataset=str(d / "ds"), output_dir=str(d / "run"), max_steps=20, per_device_train_batch_size=32,
                        max_length=16, eval_steps=20, save_steps=100, learning_rate=1e-3))
    return Path(s["model"])


def _fasta(path: Path) -> dict[str, str]:
    out, name = {}, None
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            out[name] = ""
        else:
            out[name] += line.strip()
    return out


def _rounds(path: Path) -> list[dict]:
    lines = path.read_text().splitlines()
    head = lines[0].split("\t")
    return [dict(zip(head, x.split("\t"))) for x in lines[1:]]


def _starts(model) -> dict[str, str]:
    from plantllm.apps.design_starts import from_genes
    from plantllm.data.promoter_window import PromoterWindow
    from plantllm.species.assembly import Assembly

    return {s.name: s.seq for s in from_genes(Assembly(CARD), GENES.split(","), PromoterWindow.of_model(model))}


def test_every_design_keeps_every_constraint(model, tmp_path):
    from Bio.Restriction import BsaI, EcoRI
    from Bio.Seq import Seq

    starts = _starts(model)
    assert {len(s) for s in starts.values()} == {UP + DOWN + 1}
    keep = next(k for k in ("AAAT", "ATTT", "AAAA") if all(k in s or reverse_complement(k) in s for s in starts.values()))
    avoid = next(k for k in ("GGGCCC", "CCGCGG", "GCGCGC") if not any(k in s or reverse_complement(k) in s
                                                                      for s in starts.values()))
    from plantllm.apps.design_constraints import motifs_of
    from plantllm.data import jaspar

    # a JASPAR matrix none of the starts hits (ABI5, ABF1, TBP), to avoid as well
    mat = next(m for m in ("MA0931.1", "MA0570.1", "MA0108.2")
               if not any(motifs_of([m])[0].present(s) for s in starts.values()))
    (jm,) = jaspar.fetch((mat,))
    pssm = jaspar.pssms([jm])
    threshold = pssm[0][0].min + 0.85 * (pssm[0][0].max - pssm[0][0].min)
    out = tmp_path / "d"
    rc = main(["design", "promoters", str(model), "-o", str(out), "--species", CARD, "--genes", GENES,
               "--method", "beam", "--width", "2", "--rounds", "4", "--gc", "0.15-0.45",
               "--forbid-enzyme", "BsaI,EcoRI", "--max-homopolymer", "7", "--keep", keep, "--avoid", f"{avoid},{mat}",
               "--max-edits", "4", "--freeze", "tss-5:tss+5"])
    assert rc == 0
    rows = _rounds(out / "rounds.tsv")
    designs = _fasta(out / "designs.fa")
    assert len(designs) == 2 * len(starts)
    assert {r["round"] for r in rows} >= {"0", "1"}
    for r in rows:
        seq, start = r["sequence"], starts[r["start"]]
        assert 0.15 <= (seq.count("G") + seq.count("C")) / len(seq) <= 0.45
        for enz in (BsaI, EcoRI):  # Biopython's own site search, both strands
            assert enz.search(Seq(seq), linear=True) == [], (enz, seq)
        assert not re.search(r"A{8,}|C{8,}|G{8,}|T{8,}", seq)
        assert keep in seq or reverse_complement(keep) in seq
        assert avoid not in seq and reverse_complement(avoid) not in seq
        assert jaspar.best_scores(pssm, seq)[0] < threshold  # the JASPAR matrix scanned by data/jaspar
        diff = [i for i, (a, b) in enumerate(zip(seq, start)) if a != b]
        assert len(seq) == len(start) and len(diff) == int(r["edits"]) <= 4
        assert not any(UP - 5 <= i <= UP + 5 for i in diff)  # the frozen TSS core
    assert set(designs.values()) <= {r["sequence"] for r in rows}
    s = json.loads((out / "summary.json").read_text())
    assert s["constraints"]["forbidden_enzymes"] == {"BsaI": "GGTCTC", "EcoRI": "GAATTC"}
    assert (out / "trajectory.png").stat().st_size > 1000
    assert len(list((out / "logos").glob("*.png"))) == len(designs)
    edits = (out / "edits.tsv").read_text().splitlines()
    assert len(edits) - 1 == sum(int(d["edits"]) for d in s["designs"])


def test_greedy_improves_monotonically_and_hits_a_target(model, tmp_path):
    out = tmp_path / "g"
    assert main(["design", "promoters", str(model), "-o", str(out), "--species", CARD, "--genes", GENES,
                 "--rounds", "4", "--no-logos"]) == 0
    rows = _rounds(out / "rounds.tsv")
    for start in {r["start"] for r in rows}:
        traj = [float(r["score"]) for r in sorted((r for r in rows if r["start"] == start), key=lambda r: int(r["round"]))]
        assert all(b >= a for a, b in zip(traj, traj[1:])), traj
        assert traj[-1] > traj[0]  # a classifier's score moves with single edits
        edits = [int(r["edits"]) for r in rows if r["start"] == start]
        assert edits == sorted(edits) and edits[-1] <= 4
    # minimize, and hit a value: the distance to the target never grows
    out2 = tmp_path / "t"
    s0 = {r["start"]: float(r["score"]) for r in rows if r["round"] == "0"}
    target = float(np.mean(list(s0.values()))) + 0.02
    assert main(["design", "promoters", str(model), "-o", str(out2), "--species", CARD, "--genes", GENES,
                 "--rounds", "3", "--goal", "target", "--value", f"{target:.4f}", "--no-logos"]) == 0
    for start in s0:
        gap = [abs(float(r["score"]) - target) for r in _rounds(out2 / "rounds.tsv") if r["start"] == start]
        assert all(b <= a + 1e-9 for a, b in zip(gap, gap[1:])), gap


def test_seed_reproduces_annealing_from_random_starts(model, tmp_path):
    from plantllm.apps.design_constraints import Constraints, restriction_enzymes
    from plantllm.apps.design_starts import random_starts, species_gc
    from plantllm.species.assembly import Assembly

    def run(seed, name):
        out = tmp_path / name
        assert main(["design", "promoters", str(model), "-o", str(out), "--species", CARD, "--random", "2",
                     "--method", "anneal", "--width", "2", "--rounds", "3", "--seed", str(seed),
                     "--gc", "0.25-0.45", "--forbid-enzyme", "BsaI", "--max-homopolymer", "6", "--no-logos"]) == 0
        return (out / "designs.fa").read_bytes(), (out / "rounds.tsv").read_bytes()

    assert run(3, "a") == run(3, "b")
    seqs = _fasta(tmp_path / "a" / "designs.fa")
    assert len(seqs) == 4 and {len(s) for s in seqs.values()} == {UP + DOWN + 1}
    starts = [r["sequence"] for r in _rounds(tmp_path / "a" / "rounds.tsv") if r["round"] == "0"]
    # random starts: GC-matched to the species (A. thaliana ~36%) inside the --gc range; another seed, others
    assert all(0.25 <= (s.count("G") + s.count("C")) / len(s) <= 0.45 for s in starts)
    cons = Constraints(0.25, 0.45, restriction_enzymes(["BsaI"]), 6)
    gc = species_gc(Assembly(CARD), UP + DOWN + 1, 3)
    assert 0.3 < gc < 0.4
    again = [s.seq for s in random_starts(2, UP + DOWN + 1, gc, cons, seed=3)]
    other = [s.seq for s in random_starts(2, UP + DOWN + 1, gc, cons, seed=4)]
    assert again == list(dict.fromkeys(starts)) and other != again  # both chains of a start share it


def test_indels_keep_the_edit_budget(model, tmp_path):
    from Bio.Align import PairwiseAligner

    out = tmp_path / "i"
    assert main(["design", "promoters", str(model), "-o", str(out), "--species", CARD, "--genes", "AT1G01010",
                 "--indels", "--rounds", "2", "--max-edits", "2", "--no-logos"]) == 0
    start = _starts(model)["AT1G01010"]
    al = PairwiseAligner(mode="global", match_score=0, mismatch_score=-1, gap_score=-1)
    for r in _rounds(out / "rounds.tsv"):
        assert -al.score(r["sequence"], start) == int(r["edits"]) <= 2


@pytest.mark.parametrize("args, message", [
    (["--forbid-enzyme", "EcoRX"], "EcoRX' is not a restriction enzyme Biopython knows (did you mean"),
    (["--avoid", "CANNTJ"], "'J' at position 6 is not an IUPAC nucleotide code"),
    (["--gc", "0.6-0.4"], "need 0 <= min <= max <= 1"),
    (["--method", "anneal", "--temperature", "0.01-0.5"], "need start >= end > 0"),
    (["--freeze", "70-90"], "--freeze 70-90 is outside the 80 bp start sequence"),
])
def test_bad_options_fail_with_one_line_and_no_output(model, tmp_path, capsys, args, message):
    out = tmp_path / "bad"
    rc = main(["design", "promoters", str(model), "-o", str(out), "--species", CARD, "--genes", "AT1G01010",
               "--rounds", "1", *args])
    err = capsys.readouterr().err
    assert rc == 2 and message in " ".join(err.split()), err
    assert not out.exists()
    assert not list(tmp_path.glob(".bad*"))  # no temporary left behind


def test_start_that_breaks_a_constraint_is_named_with_where(model, tmp_path, capsys):
    start = _starts(model)["AT1G01010"]
    fa = tmp_path / "starts.fa"
    bad = start[:30] + "GAATTC" + start[36:]
    fa.write_text(f">ok\n{start}\n>withsite\n{bad[:40]}\n{bad[40:]}\n")
    out = tmp_path / "o"
    assert main(["design", "promoters", str(model), "-o", str(out), "--starts", str(fa),
                 "--forbid-enzyme", "EcoRI"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "start sequence withsite" in err and "EcoRI site (GAATTC) at 31-36" in err, err
    assert not out.exists()
    fa.write_text(f">ok\n{start[:40]}\n{start[40:60]}N{start[61:]}\n")
    assert main(["design", "promoters", str(model), "-o", str(out), "--starts", str(fa)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{fa}:3:" in err and "'N' at column 21 of record ok" in err, err
    assert not out.exists()
    assert main(["design", "promoters", str(model), "-o", str(out), "--species", CARD, "--genes", "AT1G0101"]) == 2
    assert "gene 'AT1G0101' is not in the annotation" in capsys.readouterr().err
    # an existing folder that is not a design output is never replaced
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("x")
    fa.write_text(f">ok\n{start}\n")
    assert main(["design", "promoters", str(model), "-o", str(keep), "--starts", str(fa)]) == 2
    assert "is not a design output folder" in capsys.readouterr().err
    assert (keep / "notes.txt").exists()
