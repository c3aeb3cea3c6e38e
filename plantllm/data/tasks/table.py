"""A task from a lab's own table: sequences with labels in CSV, TSV, Parquet, JSON lines or FASTA.

Reading: pandas (``read_csv``, ``read_parquet`` through pyarrow, ``read_json(lines=True)``) and
Biopython's FASTA parser. Public plant benchmarks work as they are:

* ``sequence,label`` CSVs (the PDLLM datasets; ``train.csv``/``dev.csv``/``test.csv`` keep their split);
* the Plant Genomic Benchmark's rows (``sequence``, ``name``, ``label`` or a ``labels`` list): a
  ``name`` such as ``chr05:20989021-20990021_negative`` or ``2:9474214_CDS`` gives coordinates;
* FASTA with the label in the header: ``>id label=1`` (every ``key=value`` word is a column, so
  ``>id TF1=1 TF2=0 split=test`` works too), ``>id|1`` (the last ``|`` field) or ``>id 1`` (one word).

Labels (``--task`` overrides): one column of 0/1 -> binary; text classes -> binary or multi-class (sorted
names, class 1 is the second); integers 0..K-1 with 3 <= K <= 10 -> multi-class; other numbers ->
regression; a list column (``[0,1,0]``) or several 0/1 columns -> multi-label; several numeric columns or
a list of numbers -> multi-output regression.

Splits, in order of precedence: a ``split`` column (train / validation|valid|val|dev / test) or files
named train/dev/test; coordinates (``chrom``/``start``/``end`` columns or a ``name`` as above) ->
the genome-block splitter of every other builder; otherwise groups of identical, reverse-complement and
overlapping sequences (:mod:`plantllm.data.seqgroups`) assigned whole to one split.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import datasets
import numpy as np
import pandas as pd

from plantllm.core import console as con
from plantllm.core.errors import InputFileError, PlantLLMError, did_you_mean
from plantllm.core.io import require_file
from plantllm.core.sequence import ambiguity_to_n
from plantllm.data import seqgroups
from plantllm.data.sampling import gc_of
from plantllm.data.splits import SPLITS, Splitter
from plantllm.data.tasks.table_labels import label_matrix
from plantllm.data.writer import build_inputs, current_manifest, file_records, write_dataset

TASKS = ("auto", "binary", "multiclass", "multilabel", "regression")
#: the training task (``task:`` of a training config) of each table task
TRAIN_TASK = {"binary": "classification", "multiclass": "classification", "multilabel": "multilabel",
              "regression": "regression"}
SEQ_NAMES = ("sequence", "seq", "sequences", "dna", "text")
LABEL_NAMES = ("label", "labels", "target", "targets", "y", "class", "value", "strength", "expression")
SPLIT_NAMES = {"train": "train", "training": "train", "validation": "validation", "valid": "validation",
               "val": "validation", "dev": "validation", "eval": "validation", "test": "test", "testing": "test"}
FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas")
NAME_COORDS = re.compile(r"^(?P<chrom>[^:\s|]+):(?P<start>\d+)(?:-(?P<end>\d+))?")
NOT_DNA = re.compile(r"[^ACGTNacgtn]")


@dataclass
class TableParams:
    task: str = "auto"
    sequence_column: str | None = None
    label_columns: tuple[str, ...] = ()
    variable_length: bool = False  # sequences of different lengths are intended (lncRNAs): no error
    ambiguous_to_n: bool = False  # IUPAC codes (R, Y, ...) become N instead of an error
    coordinates: bool = True  # use chrom/start/end (or PGB names) for genome-block splits when present

    def check(self) -> None:
        if self.task not in TASKS:
            raise PlantLLMError(f"--task '{self.task}' must be one of {', '.join(TASKS)}{did_you_mean(self.task, TASKS)}")


# ------------------------------------------------------------------ reading
def _suffix(path: Path) -> str:
    s = path.suffixes
    return (s[-2] if len(s) > 1 and s[-1] in (".gz", ".bz2", ".zst", ".xz") else path.suffix).lower()


def read_fasta(path: Path) -> pd.DataFrame:
    """FASTA records -> rows: ``id``, ``sequence`` and the label columns of the header (module docstring)."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    from plantllm.core.io import open_text

    rows = []
    with open_text(path) as fh:
        for title, seq in SimpleFastaParser(fh):
            ident, _, desc = title.partition(" ")
            row = {"id": ident, "sequence": seq}
            pairs = [w.split("=", 1) for w in desc.split() if "=" in w]
            if pairs:
                row.update({k: v for k, v in pairs})
            elif desc.strip() and len(desc.split()) == 1:
                row["label"] = desc.strip()
            elif "|" in ident:
                row["id"], row["label"] = ident.rsplit("|", 1)
            rows.append(row)
    if not rows:
        raise InputFileError("no FASTA records", path=path, fix="give a FASTA file with '>id label=1' headers")
    df = pd.DataFrame(rows)
    for col in df.columns.difference(["id", "sequence"]):
        try:
            df[col] = pd.to_numeric(df[col])
        except (ValueError, TypeError):
            pass  # class names
    return df


def read_table(path: str | Path) -> tuple[pd.DataFrame, str]:
    """(rows, how a row is named in messages: 'line' or 'record') of one input file."""
    path = require_file(path, "table")
    kind = _suffix(path)
    try:
        if kind in FASTA_SUFFIXES:
            return read_fasta(path), "record"
        if kind in (".parquet", ".pq"):
            return pd.read_parquet(path), "row"
        if kind in (".json", ".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True), "line"
        sep = "," if kind == ".csv" else "\t" if kind in (".tsv", ".tab", ".txt") else None
        return pd.read_csv(path, sep=sep, engine="c" if sep else "python", comment=None), "line"
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as e:
        m = re.search(r"line (\d+)", str(e))
        raise InputFileError(f"cannot read the table: {str(e).splitlines()[0]}", path=path,
                             line=int(m.group(1)) if m else None,
                             fix="give CSV, TSV, Parquet, JSON lines or FASTA with one header row") from None


def _where(path: Path, unit: str, i: int) -> tuple[Path, int | None, str]:
    """(path, line, words) for row ``i`` (0-based) of a file: CSV/TSV/JSON line numbers count the header."""
    if unit == "line":
        return path, i + (2 if _suffix(path) not in (".json", ".jsonl", ".ndjson") else 1), ""
    return path, None, f"{unit} {i + 1}: "


def _column(df: pd.DataFrame, given: str | None, names: tuple[str, ...], what: str, path: Path, flag: str) -> str:
    if given:
        if given not in df.columns:
            raise InputFileError(f"no {what} column '{given}'{did_you_mean(given, df.columns)}; columns: "
                                 f"{', '.join(map(str, df.columns))}", path=path, fix=f"name the column with {flag}")
        return given
    lower = {str(c).lower(): c for c in df.columns}
    for n in names:
        if n in lower:
            return lower[n]
    raise InputFileError(f"no {what} column among {', '.join(map(str, df.columns))}", path=path,
                         fix=f"name it with {flag} (expected one of: {', '.join(names)})")


# ------------------------------------------------------------------ rows, checks, splits
def _split_of_file(path: Path) -> str | None:
    stem = path.name.split(".")[0].lower()
    for part in re.split(r"[_\-]", stem)[::-1]:
        if part in SPLIT_NAMES:
            return SPLIT_NAMES[part]
    return None


def load(paths: list[Path], params: TableParams) -> tuple[pd.DataFrame, str, list[str], callable]:
    """All input files as one frame (with ``_file`` and ``_row``), the sequence and label columns, and
    ``where(i)`` -> (path, line, words) naming row ``i`` in its file."""
    frames, units = [], {}
    for p in paths:
        df, unit = read_table(p)
        if df.empty:
            raise InputFileError("the table has no rows", path=p, fix="give one row per sequence")
        df["_file"], df["_row"] = str(p), np.arange(len(df))
        file_split = _split_of_file(p) if len(paths) > 1 else None
        if file_split and "split" not in df.columns:
            df["split"] = file_split
        frames.append(df)
        units[str(p)] = unit
    if len(paths) > 1 and any("split" not in f.columns for f in frames):
        raise InputFileError("several files but no split in some of them", path=paths[0],
                             fix="name the files train/dev/test (e.g. train.csv, dev.csv, test.csv) or add a split column")
    df = pd.concat(frames, ignore_index=True)
    seq_col = _column(df, params.sequence_column, SEQ_NAMES, "sequence", paths[0], "--sequence-column")
    if params.label_columns:
        labels = [_column(df, c, (), "label", paths[0], "--label-column") for c in params.label_columns]
    else:
        labels = [_column(df, None, LABEL_NAMES, "label", paths[0], "--label-column")]

    def where(i: int):
        return _where(Path(df["_file"].iat[i]), units[df["_file"].iat[i]], int(df["_row"].iat[i]))

    return df, seq_col, labels, where


def check_sequences(seqs: pd.Series, params: TableParams, where) -> list[str]:
    """The sequences as DNA strings (IUPAC codes -> N with ``ambiguous_to_n``); the first empty, non-DNA
    or (unless ``variable_length``) odd-length sequence is a one-line error naming its file and line."""
    out = []
    for i, s in enumerate(seqs.tolist()):
        s = "" if s is None or (isinstance(s, float) and np.isnan(s)) else str(s).strip()
        if params.ambiguous_to_n:
            s = ambiguity_to_n(s)
        if not s:
            p, line, w = where(i)
            raise InputFileError(f"{w}empty sequence", path=p, line=line, fix="drop the row or fill in its sequence")
        bad = NOT_DNA.search(s)
        if bad:
            p, line, w = where(i)
            ch = bad.group(0)
            fix = ("an RNA sequence? write T for U" if ch in "Uu" else
                   "pass --ambiguous-to-n to read IUPAC codes as N" if ch.upper() in "RYSWKMBDHV"
                   else "sequences must be DNA: A, C, G, T or N")
            raise InputFileError(f"{w}sequence has '{ch}' at position {bad.start() + 1}", path=p, line=line, fix=fix)
        out.append(s)
    lengths = np.array([len(s) for s in out])
    if not params.variable_length and len(set(lengths.tolist())) > 1:
        common = int(np.bincount(lengths).argmax())
        i = int(np.flatnonzero(lengths != common)[0])
        p, line, w = where(i)
        raise InputFileError(f"{w}sequence of {lengths[i]:,} bp where most are {common:,} bp "
                             f"({int((lengths != common).sum()):,} rows differ)", path=p, line=line,
                             fix="pass --variable-length if lengths differ on purpose (e.g. lncRNAs), else fix the row")
    return out


def coordinates(df: pd.DataFrame) -> tuple[list, str] | None:
    """(chrom, start, end) per row from chrom/start/end columns or PGB-style names; None without them."""
    lower = {str(c).lower(): c for c in df.columns}
    chrom = next((lower[c] for c in ("chrom", "chr", "chromosome", "seqname", "seqid") if c in lower), None)
    start = next((lower[c] for c in ("start", "chromstart", "begin") if c in lower), None)
    end = next((lower[c] for c in ("end", "chromend", "stop") if c in lower), None)
    if chrom and start and end:
        pos = df[[start, end]].apply(pd.to_numeric, errors="coerce")
        bad = np.flatnonzero(pos.isna().any(axis=1).to_numpy())
        if len(bad):
            raise InputFileError(f"row {int(bad[0]) + 1}: '{start}'/'{end}' must be whole numbers",
                                 path=str(df["_file"].iat[int(bad[0])]), fix="fill in the coordinates, or pass "
                                                                               "--no-coordinates")
        return (list(zip(df[chrom].astype(str), pos[start].astype(int), pos[end].astype(int))),
                f"{chrom},{start},{end}")
    name = next((lower[c] for c in ("name", "id") if c in lower), None)
    if name is None:
        return None
    ms = [NAME_COORDS.match(str(v)) for v in df[name]]
    if not all(ms):
        return None
    return ([(m["chrom"], int(m["start"]), int(m["end"] or m["start"]) + (0 if m["end"] else 1)) for m in ms],
            f"{name} (chrom:start-end)")


def assign_splits(df: pd.DataFrame, seqs: list[str], splitter: Splitter, params: TableParams, where
                  ) -> tuple[list[str | None], dict]:
    """The split of every row and how it was chosen (for the manifest)."""
    lower = {str(c).lower(): c for c in df.columns}
    if "split" in lower:
        col = df[lower["split"]].astype(str).str.strip().str.lower()
        bad = np.flatnonzero(~col.isin(list(SPLIT_NAMES)).to_numpy())
        if len(bad):
            p, line, w = where(int(bad[0]))
            raise InputFileError(f"{w}split '{df[lower['split']].iat[bad[0]]}' is not train, validation or test",
                                 path=p, line=line, fix="use train, validation (valid, val, dev) or test")
        return [SPLIT_NAMES[v] for v in col], {"method": "given", "column": str(lower["split"])}
    coords = coordinates(df) if params.coordinates else None
    if coords:
        rows, cols = coords
        splits = [splitter.assign(c, s, e) for c, s, e in rows]
        return splits, {"method": "genome_blocks", "columns": cols, **splitter.describe()}
    gid, info = seqgroups.groups(seqs)
    keys = seqgroups.group_keys(seqs, gid)
    per_group = {g: splitter.by_fraction(seqgroups.group_unit(k, splitter.seed)) for g, k in keys.items()}
    return [per_group[g] for g in gid.tolist()], {
        "method": "sequence_groups", "val_fraction": splitter.val_fraction, "test_fraction": splitter.test_fraction,
        "seed": splitter.seed, **info,
        "rule": "identical sequences, reverse complements and sequences sharing a canonical 32-mer minimizer "
                "(w=20: any shared stretch of >= 51 bp on either strand) are one group; a group goes whole to one split"}


def _features(task: str, names: list[str], width: int | None) -> datasets.Features:
    base = {"id": datasets.Value("string"), "seq": datasets.Value("string"), "chrom": datasets.Value("string"),
            "start": datasets.Value("int64"), "end": datasets.Value("int64"), "gc": datasets.Value("float32"),
            "source": datasets.Value("string")}
    if task in ("binary", "multiclass"):
        base["label"] = datasets.ClassLabel(names=names)
    elif task == "multilabel":
        base["labels"] = datasets.Sequence(datasets.Value("int8"), length=width)
        base["label"] = datasets.Value("int8")
    elif width:
        base["labels"] = datasets.Sequence(datasets.Value("float32"), length=width)
    else:
        base["label"] = datasets.Value("float32")
    return datasets.Features(base)


def build_table(paths: list[str | Path], out: str | Path, params: TableParams, splitter: Splitter,
                seed: int = 0, force: bool = False) -> dict:
    """Write the table's task as a DatasetDict (train/validation/test) with a manifest at ``out``."""
    params.check()
    paths = [Path(p) for p in paths]
    inputs = build_inputs({f"table{i}": p for i, p in enumerate(paths)}, params, splitter, seed)
    if not force and (done := current_manifest(Path(out), inputs)) is not None:
        return done
    df, seq_col, label_cols, where = load(paths, params)
    seqs = check_sequences(df[seq_col], params, where)
    task, y, names = label_matrix(df, label_cols, params.task, where)
    multi = y.ndim == 2
    splits, how = assign_splits(df, seqs, splitter, params, where)
    coords = coordinates(df) if params.coordinates else None
    rows = coords[0] if coords else [("", -1, -1)] * len(seqs)
    ids = df["id"].astype(str).tolist() if "id" in df.columns else \
        df["name"].astype(str).tolist() if "name" in df.columns else [""] * len(seqs)
    label_col = "labels" if multi else "label"
    for s in SPLITS:
        if s not in splits:
            con.warn(f"the {s} split is empty")

    def examples():
        for i in con.track(range(len(seqs)), "writing the table", total=len(seqs), unit="rows"):
            if splits[i] is None:
                continue
            p, line, _ = where(i)
            ex = {"id": ids[i], "seq": seqs[i], "chrom": rows[i][0], "start": rows[i][1], "end": rows[i][2],
                  "gc": gc_of(seqs[i]), "source": f"{p.name}:{line if line else int(df['_row'].iat[i]) + 1}"}
            if task == "multilabel":
                ex.update(labels=y[i].tolist(), label=int(y[i].any()))
            else:
                ex[label_col] = y[i].tolist() if multi else (float(y[i]) if task == "regression" else int(y[i]))
            yield splits[i], ex

    lengths = [len(s) for s in seqs]
    summary = ({"positives": {n: int(y[:, j].sum()) for j, n in enumerate(names)}} if task == "multilabel" else
               {"class_counts": dict(zip(names, np.bincount(y, minlength=len(names)).tolist()))}
               if task in ("binary", "multiclass") else
               {"mean": [round(float(v), 4) for v in np.atleast_1d(y.mean(0))]})

    def manifest():
        return {"files": file_records({f"table{i}": p for i, p in enumerate(paths)}), "params": asdict(params),
                "task": {"type": task, "train_task": TRAIN_TASK[task], "label_column": label_col,
                         "label_names": names, "source_columns": label_cols, "sequence_column": str(seq_col),
                         **summary},
                "split": how, "seed": seed, "straddling_dropped": sum(s is None for s in splits),
                "sequence_length": {"min": min(lengths), "max": max(lengths),
                                    "most_common": int(np.bincount(lengths).argmax())}}

    return write_dataset(out, "table", _features(task, names, y.shape[1] if multi else None), examples(), manifest,
                         inputs)
