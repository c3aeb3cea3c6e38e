"""Motif discovery and mutagenesis on real TAIR10 sequence.

The recovery test is a controlled experiment on real data: real 100 bp windows of TAIR10
chr1 (test slice), half of them carrying one instance sampled from JASPAR's real WRKY12
W-box matrix. A tiny char-level BERT learns the task from scratch through plantllm's
trainer; discovery must then find a motif, name it W-box (WRKY) through JASPAR with a
significant q-value, and the k-mer baseline must find it too.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets as hfds
import numpy as np
import pytest

from conftest import DATA
from plantllm.models.runner import ModelRunner
from plantllm.apps import attribution as A
from plantllm.apps import motif_discovery as Mo
from plantllm.apps import motif_matching as Mm
from plantllm.apps import motif_report as Mr
from plantllm.species.assembly import Assembly
from plantllm.cli import main
from plantllm.species.card import load_card
from plantllm.training.config import TrainConfig
from plantllm.training.trainer import run

ROOT = Path(__file__).resolve().parent.parent
W = 100


def _wbox_windows(n: int, seed: int = 0):
    from plantllm.data import jaspar

    asm = Assembly(load_card(DATA / "cards" / "tair10_slice.yaml"))
    chrom = asm.genome.chromosomes()[0]
    (m,) = jaspar.fetch(("WRKY12",))
    ppm = np.array([m.counts.normalize()[b] for b in "ACGT"])  # (4, w)
    rng = np.random.default_rng(seed)
    rows = []
    while len(rows) < n:
        s = int(rng.integers(0, asm.genome.length(chrom) - W))
        seq = asm.genome.fetch(chrom, s, s + W).upper()
        if "N" in seq:
            continue
        label = len(rows) % 2
        if label:
            site = "".join("ACGT"[rng.choice(4, p=col / col.sum())] for col in ppm.T)
            at = int(rng.integers(10, W - 10 - len(site)))
            seq = seq[:at] + site + seq[at + len(site):]
        rows.append({"chrom": chrom, "start": s, "end": s + W, "strand": "+", "seq": seq, "label": label})
    return rows


@pytest.fixture(scope="module")
def wbox(tmp_path_factory):
    base = tmp_path_factory.mktemp("wbox")
    rows = _wbox_windows(2000)
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    ds = hfds.Dataset.from_dict(cols)
    hfds.DatasetDict({"train": ds.select(range(1600)), "validation": ds.select(range(1600, 1800)),
                      "test": ds.select(range(1800, 2000))}).save_to_disk(str(base / "ds"))
    # DNABERT-1 shape (overlapping 6-mers): a from-scratch char model needs thousands of steps for this
    s = run(TrainConfig(task="classification", model=str(ROOT / "configs/models/tiny-dnabert-6mer.yaml"),
                        dataset=str(base / "ds"), output_dir=str(base / "run"), max_steps=400,
                        per_device_train_batch_size=32, learning_rate=2e-3, max_length=W + 2, eval_steps=400,
                        save_steps=400, logging_steps=100, max_eval_samples=200, warmup_ratio=0.1))
    assert s["test"]["test_auroc"] > 0.8, s["test"]  # the model did learn the W-box
    return base, Path(s["model"])


def test_ism_matches_a_naive_loop_and_finds_the_planted_site(wbox):
    base, model = wbox
    ds = hfds.load_from_disk(str(base / "ds"))["test"]
    seq = next(s for s, y in zip(ds["seq"], ds["label"]) if y == 1)
    ex = A.Explained(model)
    y0, delta = A.ism(ex, [seq])
    assert delta.shape == (1, W, 4)
    # the same numbers as one forward per mutant
    import torch

    with torch.inference_mode():
        for i in (0, 37, W - 1):
            for b in "ACGT":
                mut = seq[:i] + b + seq[i + 1:]
                want = float(ex([mut])[0]) - float(ex([seq])[0])
                assert delta[0, i, "ACGT".index(b)] == pytest.approx(want, abs=1e-4)
    attr = A.attribution(delta, A.one_hot([seq]).numpy())[0]
    top = int(np.argmax(np.convolve(attr, np.ones(6), "valid")))
    assert "GAC" in seq[top:top + 6] or "GTC" in seq[top:top + 6]  # the W-box core TTGAC(Y) / (R)GTCAA


def test_discovery_names_the_planted_wbox_and_the_kmer_baseline_too(wbox, tmp_path):
    base, model = wbox
    rc = main(["motifs", str(model), "--dataset", str(base / "ds"), "--n", "60", "--out", str(tmp_path / "m")])
    assert rc == 0
    s = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert "W-box (WRKY)" in s["recovered"]["model"], s["motifs"]
    assert "W-box (WRKY)" in s["recovered"]["kmer"], s["kmer_motifs"]
    best = next(m for m in s["motifs"] if m["element"] == "W-box (WRKY)")
    assert best["matches"][0]["q"] <= 0.05 and "WRKY" in best["matches"][0]["family"]
    meme = Mr.read_meme(tmp_path / "m" / "motifs.meme")
    assert best["id"] in meme and meme[best["id"]].shape[0] == 4
    assert np.allclose(meme[best["id"]].sum(0), 1, atol=1e-3)
    assert (tmp_path / "m" / "logos" / f"{best['id']}.png").stat().st_size > 1000
    head = (tmp_path / "m" / "matches.tsv").read_text().splitlines()[0].split("\t")
    assert head == list(Mr.MATCH_COLUMNS)
    assert "W-box (WRKY)" in (tmp_path / "m" / "report.md").read_text()
    assert "<img" in (tmp_path / "m" / "report.html").read_text()


def test_integrated_gradients_agree_with_ism(wbox):
    base, model = wbox
    ds = hfds.load_from_disk(str(base / "ds"))["test"]
    seqs = [s for s, y in zip(ds["seq"], ds["label"]) if y == 1][:4]
    ex = A.Explained(model)
    ig = A.integrated_gradients(ex, seqs)
    ism = A.attribution(A.ism(ex, seqs)[1], A.one_hot(seqs).numpy())
    assert ig.shape == ism.shape == (4, W)
    assert np.corrcoef(ig.ravel(), ism.ravel())[0, 1] > 0.3


def test_mutagenesis_command_for_a_genome_region(wbox, tmp_path):
    base, model = wbox
    card = DATA / "cards" / "tair10_slice.yaml"
    rc = main(["mutagenesis", str(model), "--species", str(card), "--region", "1:100001-100100", "--strand", "-",
               "--out", str(tmp_path / "mut")])
    assert rc == 0
    lines = (tmp_path / "mut" / "mutagenesis.tsv").read_text().splitlines()
    assert lines[0] == "chrom\tpos\tstrand\tref\tA\tC\tG\tT\tattribution" and len(lines) == W + 1
    first = lines[1].split("\t")
    assert first[:3] == ["1", "100100", "-"]  # minus strand: the first base is the region's last
    assert (tmp_path / "mut" / "mutagenesis.png").stat().st_size > 1000
    s = json.loads((tmp_path / "mut" / "summary.json").read_text())
    assert s["forward_passes"] == 3 * W + 1


def test_masked_mutagenesis_needs_one_pass_per_token(tmp_path):
    """Zero-shot ISM of an MLM: a 6-mer model scores all 3 x L SNVs with L / 6 masked passes."""
    from plantllm.models import checkpoint as M

    spec = M.load_spec(ROOT / "configs/models/tiny-esm-6mer.yaml")
    tok = M.build_tokenizer(spec)
    model = M.create(spec, tok, task="mlm")
    M.save(model, tok, tmp_path / "mlm")
    asm = Assembly(load_card(DATA / "cards" / "tair10_slice.yaml"))
    seq = asm.genome.fetch("1", 200_000, 200_120).upper()
    m, t = M.load(tmp_path / "mlm", task="mlm")
    d = A.masked_ism(ModelRunner.from_model(m, t), seq)
    assert d.shape == (120, 4) and not np.isnan(d).any()
    assert (d[np.arange(120), ["ACGT".index(c) for c in seq]] == 0).all()
    # the entry for one SNV equals a direct computation at the masked k-mer
    import torch

    enc = t([seq], return_tensors="pt")
    ids = enc["input_ids"].clone()
    ids[0, 1] = t.mask_token_id  # first 6-mer
    with torch.inference_mode():
        lp = torch.log_softmax(m(input_ids=ids, attention_mask=enc["attention_mask"]).logits[0, 1], -1)
    alt = "ACGT".replace(seq[2], "")[0]
    mut = seq[:2] + alt + seq[3:6]
    want = float(lp[t.convert_tokens_to_ids(mut)] - lp[t.convert_tokens_to_ids(seq[:6])])
    assert d[2, "ACGT".index(alt)] == pytest.approx(want, abs=1e-4)
    rc = main(["mutagenesis", str(tmp_path / "mlm"), "--sequence", seq, "--method", "masked", "--out",
               str(tmp_path / "o")])
    assert rc == 0 and json.loads((tmp_path / "o" / "summary.json").read_text())["forward_passes"] == 22


def test_kmer_enrichment_and_bad_inputs(tmp_path):
    fg = ["ACGTTGACCA" * 3, "GGTTGACTAA" * 3]
    bg = ["ACGTACGTAC" * 3, "GGGGCCCCAA" * 3]
    df = Mm.kmer_enrichment(fg, bg, k=6)
    assert df.iloc[0]["foreground"] == 2 and df.iloc[0]["background"] == 0
    assert set(df["kmer"]) == {min(k, k[::-1].translate(str.maketrans("ACGT", "TGCA"))) for k in df["kmer"]}
    bad = tmp_path / "x.fa"
    bad.write_text(">a\nACGT\n>b\nACGTACGT\n")
    assert main(["motifs", str(tmp_path), "--fasta", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert main(["mutagenesis", str(tmp_path), "--sequence", "ACGZ", "--out", str(tmp_path / "o")]) == 2
    (tmp_path / "bad.meme").write_text("not a meme file\n")
    with pytest.raises(Exception, match="MEME"):
        Mr.read_meme(tmp_path / "bad.meme")


def test_shuffled_controls_keep_dinucleotides_and_are_seeded():
    """The attribution null: one exact dinucleotide shuffle per sequence (core.sequence's, the package's one)."""
    from collections import Counter

    asm = Assembly(load_card(DATA / "cards" / "tair10_slice.yaml"))
    seqs = [asm.genome.fetch("1", s, s + W) for s in range(300_000, 310_000, 1_000)]
    ctrl = Mo.shuffled_controls(seqs, seed=3)
    assert ctrl == Mo.shuffled_controls(seqs, seed=3) != Mo.shuffled_controls(seqs, seed=4)
    for s, c in zip(seqs, ctrl):
        s = s.upper()
        assert len(c) == W and c[0] == s[0] and c[-1] == s[-1]
        assert Counter(zip(s, s[1:])) == Counter(zip(c, c[1:]))
    assert sum(s.upper() != c for s, c in zip(seqs, ctrl)) >= 9


def test_motif_task_dataset_and_multilabel_model(tmp_path):
    """The motif task (JASPAR-labelled real promoters, multi-label) feeds discovery: --label-column labels picks
    the windows positive for one label and explains that output of a multi-label model."""
    from plantllm.models import checkpoint as M
    from plantllm.data.splits import Splitter
    from plantllm.data.tasks.motif import MotifParams, build_motif

    asm = Assembly(load_card(DATA / "cards" / "tair10_slice.yaml"))
    build_motif(asm, tmp_path / "ds", MotifParams(jaspar=("MA0931.1", "TCP4", "WRKY12"), upstream=99, downstream=20),
                Splitter(0.2, 0.2, block_size=100_000))
    spec = M.load_spec(ROOT / "configs/models/tiny-esm-6mer.yaml")
    tok = M.build_tokenizer(spec)
    model = M.create(spec, tok, task="multilabel", num_labels=3)
    M.save(model, tok, tmp_path / "model")
    rc = main(["motifs", str(tmp_path / "model"), "--dataset", str(tmp_path / "ds"), "--label-column", "labels",
               "--label", "2", "--n", "12", "--min-seqlets", "2", "--out", str(tmp_path / "m")])
    assert rc == 0
    s = json.loads((tmp_path / "m" / "summary.json").read_text())
    test = hfds.load_from_disk(str(tmp_path / "ds"))["test"]
    wrky = sum(1 for lab in test["labels"] if lab[2] == 1)
    assert s["sequences"] == min(12, wrky) and "label 2" in s["description"]
    assert main(["motifs", str(tmp_path / "model"), "--dataset", str(tmp_path / "ds"), "--label-column", "labels",
                 "--label", "5", "--out", str(tmp_path / "bad")]) == 2
