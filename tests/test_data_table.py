"""Bring your own data: tables (CSV/TSV/Parquet/JSON lines/FASTA) and genome regions (peaks, bigWig) on real
TAIR10 sequence, their leak-free splits, their one-line errors, and fine-tuning on what they build.

Table rows are real windows of the TAIR10 slice: 300 bp around annotated TSSs (label 1) and around
transcript ends (label 0), with the real soft-masked fraction of each window as a regression value. Region
tracks are the annotation- and genome-derived files of tests/data (make_tracks.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import DATA
from plantllm.cli import main
from plantllm.core.errors import CardError, InputFileError, PlantLLMError
from plantllm.core.sequence import reverse_complement, soft_mask
from plantllm.data.splits import Splitter
from plantllm.data.tasks.regions import RegionParams, build_regions
from plantllm.data.tasks.table import TableParams, build_table
from plantllm.species.assembly import Assembly
from plantllm.species.card import load_card

ROOT = Path(__file__).resolve().parent.parent
STEM = DATA / "tair10_chr1_1-1500000"
SPLIT = Splitter(0.2, 0.2, block_size=100_000)


@pytest.fixture(scope="module")
def asm():
    return Assembly(load_card(DATA / "cards" / "tair10_slice.yaml"))


@pytest.fixture(scope="module")
def windows(asm) -> pd.DataFrame:
    """Real 300 bp windows: around canonical coding TSSs (1) and transcript ends (0), strand-aware."""
    g, rows = asm.genome, []
    for t in asm.annotation.canonical_transcripts():
        for label, x in ((1, t.tss), (0, t.tts)):
            s = x - 150
            if t.coding and 0 <= s and s + 300 <= g.length(t.chrom):
                seq = g.fetch(t.chrom, s, s + 300, t.strand)
                if "N" not in seq.upper():
                    rows.append({"sequence": seq.upper(), "label": label, "chrom": t.chrom, "start": s,
                                 "end": s + 300, "repeat": round(float(soft_mask(seq).mean()), 4)})
    return pd.DataFrame(rows).drop_duplicates("sequence").reset_index(drop=True)


def _rows(out: Path) -> dict[str, list[dict]]:
    ds = datasets.load_from_disk(str(out))
    return {s: ds[s].to_list() for s in ds}


def _split_of(rows: dict[str, list[dict]]) -> dict[str, str]:
    return {r["seq"]: s for s, rs in rows.items() for r in rs}


# ------------------------------------------------------------------ tables
def test_sequence_label_csv_groups_reverse_complements_and_overlaps(tmp_path, windows, asm):
    """The PDLLM layout (sequence,label) as it is; a window, its reverse complement and a window overlapping
    it by 200 bp always land in one split (no coordinates: split by sequence groups)."""
    df = windows[["sequence", "label"]].head(120).copy()
    extra = []
    for _, r in windows.head(40).iterrows():
        extra.append({"sequence": reverse_complement(r["sequence"]), "label": r["label"]})
        shifted = asm.genome.fetch(r["chrom"], r["start"] + 100, r["end"] + 100).upper()
        extra.append({"sequence": shifted, "label": r["label"]})
    table = pd.concat([df, pd.DataFrame(extra)], ignore_index=True).sample(frac=1, random_state=0)
    table.to_csv(tmp_path / "pdllm.csv", index=False)
    m = build_table([tmp_path / "pdllm.csv"], tmp_path / "out", TableParams(), SPLIT)
    assert m["task"]["type"] == "binary" and m["split"]["method"] == "sequence_groups"
    assert sum(m["split_sizes"].values()) == len(table) and min(m["split_sizes"].values()) > 0
    rows = _rows(tmp_path / "out")
    where = _split_of(rows)
    for _, r in windows.head(40).iterrows():
        fwd = r["sequence"]
        assert where[fwd] == where[reverse_complement(fwd)]
        assert where[fwd] == where[asm.genome.fetch(r["chrom"], r["start"] + 100, r["end"] + 100).upper()] \
            or r["start"] + 100 + 300 > asm.genome.length(r["chrom"])
    assert datasets.load_from_disk(str(tmp_path / "out"))["train"].features["label"].names == ["0", "1"]
    assert rows["train"][0]["source"].startswith("pdllm.csv:")


def test_coordinates_use_the_genome_block_splitter(tmp_path, windows):
    """chrom/start/end columns, or a Plant Genomic Benchmark name ('1:3530-3830_promoter'): block splits."""
    pgb = pd.DataFrame({"sequence": windows["sequence"], "label": windows["label"],
                        "name": [f"{c}:{s}-{e}_x" for c, s, e in zip(windows["chrom"], windows["start"], windows["end"])]})
    pgb.to_csv(tmp_path / "pgb.csv", index=False)
    m = build_table([tmp_path / "pgb.csv"], tmp_path / "a", TableParams(), Splitter(0.2, 0.2, block_size=100_000))
    assert m["split"]["method"] == "genome_blocks"
    sp = Splitter(0.2, 0.2, block_size=100_000)
    expected = {r.sequence: sp.assign(r.chrom, r.start, r.end) for r in windows.itertuples()}
    for split, rs in _rows(tmp_path / "a").items():
        assert all(expected[r["seq"]] == split for r in rs)
    windows.drop(columns=["repeat"]).to_csv(tmp_path / "bed.tsv", sep="\t", index=False)
    m2 = build_table([tmp_path / "bed.tsv"], tmp_path / "b", TableParams(), Splitter(0.2, 0.2, block_size=100_000))
    assert m2["split"]["method"] == "genome_blocks" and m2["split_sizes"] == m["split_sizes"]


def test_split_column_files_fasta_and_label_kinds(tmp_path, windows):
    w = windows.head(60)
    # train/dev/test files keep their split (PDLLM ships train.csv, dev.csv, test.csv)
    for name, part in (("train", w[:40]), ("dev", w[40:50]), ("test", w[50:])):
        part[["sequence", "label"]].to_csv(tmp_path / f"{name}.csv", index=False)
    m = build_table([tmp_path / f"{n}.csv" for n in ("train", "dev", "test")], tmp_path / "f", TableParams(), SPLIT)
    assert m["split"]["method"] == "given" and m["split_sizes"] == {"train": 40, "validation": 10, "test": 10}
    # FASTA: '>id label=1', '>id|1' and key=value labels for several tracks
    (tmp_path / "a.fa").write_text("".join(f">w{i} label={r.label}\n{r.sequence}\n" for i, r in enumerate(w.itertuples())))
    (tmp_path / "b.fa").write_text("".join(f">w{i}|{r.label}\n{r.sequence}\n" for i, r in enumerate(w.itertuples())))
    a = build_table([tmp_path / "a.fa"], tmp_path / "fa", TableParams(), SPLIT)
    b = build_table([tmp_path / "b.fa"], tmp_path / "fb", TableParams(), SPLIT)
    assert a["task"]["type"] == b["task"]["type"] == "binary" and a["split_sizes"] == b["split_sizes"]
    (tmp_path / "c.fa").write_text("".join(f">w{i} tss={r.label} repeat={int(r.repeat > 0)} split=train\n"
                                           f"{r.sequence}\n" for i, r in enumerate(w.itertuples())))
    c = build_table([tmp_path / "c.fa"], tmp_path / "fc", TableParams(label_columns=("tss", "repeat")), SPLIT)
    assert c["task"]["type"] == "multilabel" and c["task"]["label_names"] == ["tss", "repeat"]
    assert c["split_sizes"]["train"] == 60
    # Parquet: a list column (multi-label, as the PGB chromatin task) and a float column (regression)
    pq = pd.DataFrame({"sequence": w["sequence"], "labels": [[int(x), int(y > 0)] for x, y in zip(w["label"], w["repeat"])],
                       "repeat": w["repeat"]})
    pq.to_parquet(tmp_path / "t.parquet")
    ml = build_table([tmp_path / "t.parquet"], tmp_path / "ml", TableParams(label_columns=("labels",)), SPLIT)
    rg = build_table([tmp_path / "t.parquet"], tmp_path / "rg", TableParams(label_columns=("repeat",)), SPLIT)
    assert ml["task"]["type"] == "multilabel" and rg["task"]["type"] == "regression"
    r0 = next(r for rs in _rows(tmp_path / "rg").values() for r in rs)
    assert r0["label"] == pytest.approx(float(w.loc[w["sequence"] == r0["seq"], "repeat"].iloc[0]), abs=1e-6)
    # text classes, and --task overriding the inference
    w.assign(label=np.where(w["label"] == 1, "promoter", "terminator"))[["sequence", "label"]].to_csv(
        tmp_path / "names.csv", index=False)
    n = build_table([tmp_path / "names.csv"], tmp_path / "n", TableParams(), SPLIT)
    assert n["task"]["label_names"] == ["promoter", "terminator"]
    forced = build_table([tmp_path / "train.csv"], tmp_path / "r2",
                         TableParams(task="regression"), SPLIT)
    assert forced["task"]["type"] == "regression"


def _bad(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "bad.csv"
    p.write_text("sequence,label\n" + "\n".join(lines) + "\n")
    return p


@pytest.mark.parametrize("row,message", [
    ("ACGTXCGTAC,1", r"bad\.csv:3: sequence has 'X' at position 5"),
    ("ACGTRCGTAC,1", r"bad\.csv:3: .*'R'.*--ambiguous-to-n"),
    (",1", r"bad\.csv:3: empty sequence"),
    ("ACGTACGTAC,", r"bad\.csv:3: missing label in column 'label'"),
    ("ACGTACGTACGT,1", r"bad\.csv:3: sequence of 12 bp where most are 10 bp.*--variable-length"),
])
def test_bad_rows_are_one_line_errors_naming_file_and_line(tmp_path, row, message):
    p = _bad(tmp_path, ["ACGTTGCAAC,0", row, "TTGCAACGTA,1"])
    with pytest.raises(InputFileError, match=message):
        build_table([p], tmp_path / "o", TableParams(), SPLIT)
    assert not (tmp_path / "o").exists()


def test_cli_table_exit_2_and_help(tmp_path, capsys):
    p = _bad(tmp_path, ["ACGTTGCAAC,0", "ACGTUCGTAC,1"])
    assert main(["data", "table", str(p), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bad.csv:3" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "s.csv").write_text("sequence,label,split\nACGTTGCAAC,0,train\nTTGCAACGTA,1,holdout\n")
    assert main(["data", "table", str(tmp_path / "s.csv"), "-o", str(tmp_path / "o")]) == 2
    assert "s.csv:3: split 'holdout'" in capsys.readouterr().err


# ------------------------------------------------------------------ regions
def test_regions_peaks_vs_background_and_multilabel(tmp_path, asm):
    tss = f"tss={STEM}.tss.narrowPeak"
    m = build_regions(asm, tmp_path / "p", RegionParams(beds={"tss": f"{STEM}.tss.narrowPeak"}, length=300), SPLIT)
    assert m["task"] == {"type": "binary", "train_task": "classification", "label_column": "label",
                         "label_names": ["tss"]}
    starts = {(t.chrom, t.tss) for t in asm.annotation.canonical_transcripts() if t.coding}
    peaks = [(c, int(s), int(e)) for c, s, e, *_ in (line.split("\t") for line in
                                                     Path(f"{STEM}.tss.narrowPeak").read_text().splitlines())]
    rows = _rows(tmp_path / "p")
    for split, rs in rows.items():
        pos = [r for r in rs if r["label"] == 1]
        neg = [r for r in rs if r["label"] == 0]
        assert len(pos) == len(neg) > 10
        assert all((r["chrom"], r["start"] + 150) in starts for r in pos)  # centred on a TSS
        assert all(SPLIT.assign(r["chrom"], r["start"], r["end"]) == split for r in rs)
        for r in neg:  # background overlaps no peak
            assert not any(r["start"] < e and s < r["end"] for _, s, e in peaks)
    assert main(["data", "regions", str(DATA / "cards" / "tair10_slice.yaml"), "-o", str(tmp_path / "ml"),
                 "--bed", tss, "--bed", f"tts={STEM}.tts.narrowPeak", "--length", "300", "--block-size", "100000",
                 "--val-fraction", "0.2", "--test-fraction", "0.2"]) == 0
    ml = json.loads((tmp_path / "ml" / "manifest.json").read_text())
    assert ml["task"]["type"] == "multilabel" and set(ml["peak_windows_per_track"]) == {"tss", "tts"}


def test_regions_bigwig_mean_signal_is_the_regression_target(tmp_path, asm):
    m = build_regions(asm, tmp_path / "g", RegionParams(bigwigs={"gc": f"{STEM}.gc100.bw"}, length=300, stride=1000),
                      SPLIT)
    assert m["task"]["type"] == "regression" and m["skipped"]["no_signal"] == 0
    rows = [r for rs in _rows(tmp_path / "g").values() for r in rs]
    assert len(rows) > 1000
    # tiles start on 100 bp bins, so the mean of the GC bigWig is the window's own GC content
    assert np.allclose([r["label"] for r in rows], [r["gc"] for r in rows], atol=1e-4)
    two = build_regions(asm, tmp_path / "two", RegionParams(beds={"tss": f"{STEM}.tss.narrowPeak"},
                                                            bigwigs={"gc": f"{STEM}.gc100.bw",
                                                                     "repeat": f"{STEM}.repeat100.bw"}, length=300),
                        SPLIT)
    assert two["task"]["label_column"] == "labels"
    r = _rows(tmp_path / "two")["train"][0]
    assert len(r["labels"]) == 2 and r["peaks"] in ([0], [1])
    with pytest.raises(PlantLLMError, match="give peaks"):
        build_regions(asm, tmp_path / "x", RegionParams(), SPLIT)
    with pytest.raises(InputFileError, match="not a bigWig"):
        build_regions(asm, tmp_path / "x", RegionParams(bigwigs={"x": f"{STEM}.tss.narrowPeak"}), SPLIT)


# ------------------------------------------------------------------ fine-tuning what was built
def _finetune_cfg(tmp_path: Path, dataset: Path, **kw) -> Path:
    cfg = {"task": "classification", "model": str(ROOT / "configs/models/tiny-bert-char.yaml"),
           "dataset": str(dataset), "output_dir": str(tmp_path / "run"), "deepspeed": None, "max_steps": 4,
           "per_device_train_batch_size": 8, "max_length": 302, "eval_steps": 4, "save_steps": 4, "logging_steps": 2,
           "max_eval_samples": 16, "learning_rate": 2e-3, **kw}
    tmp_path.mkdir(parents=True, exist_ok=True)
    p = tmp_path / "ft.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_finetune_on_a_built_table_and_task_mismatch(tmp_path, windows):
    from plantllm.training.config import TrainConfig

    windows[["sequence", "label"]].head(80).to_csv(tmp_path / "t.csv", index=False)
    build_table([tmp_path / "t.csv"], tmp_path / "ds", TableParams(), Splitter(0.25, 0.25))
    assert main(["finetune", str(_finetune_cfg(tmp_path, tmp_path / "ds"))]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert "test_auroc" in summary["test"]
    with pytest.raises(CardError, match="is a binary task but the config trains task: regression.*fix: set task: "
                                        "classification and label_column: label"):
        TrainConfig.load(_finetune_cfg(tmp_path / "x", tmp_path / "ds", task="regression"))


@pytest.mark.slow
def test_finetune_multilabel_and_multi_output_regression(tmp_path, asm):
    build_regions(asm, tmp_path / "ml", RegionParams(beds={"tss": f"{STEM}.tss.narrowPeak",
                                                           "tts": f"{STEM}.tts.narrowPeak"}, length=300), SPLIT)
    build_regions(asm, tmp_path / "rg", RegionParams(beds={"tss": f"{STEM}.tss.narrowPeak"},
                                                     bigwigs={"gc": f"{STEM}.gc100.bw", "repeat": f"{STEM}.repeat100.bw"},
                                                     length=300), SPLIT)
    for name, task, metric in (("ml", "multilabel", "test_auroc_macro"), ("rg", "regression", "test_pearson")):
        out = tmp_path / f"run_{name}"
        cfg = _finetune_cfg(out, tmp_path / name, task=task, label_column="labels", output_dir=str(out / "run"))
        assert main(["finetune", str(cfg)]) == 0
        assert metric in json.loads((out / "run" / "summary.json").read_text())["test"]
