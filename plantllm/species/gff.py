"""GFF3/GTF files into a cached gffutils database: checked line by line, slimmed, built atomically.

gffutils accepts malformed input silently, so one streaming pass checks the file first with
line numbers, and writes a slim copy with only the attributes plantllm uses: NCBI GFF3
carries kilobytes of free text per line (Note, inference, Dbxref) that gffutils would
otherwise parse and store, and dropping it is what makes our on-disk build faster than
gffutils' own in-memory build of the full file. The database sits next to the user's file
(or in the cache folder) and is reused while the file is unchanged.
"""

from __future__ import annotations

import json
import re
import sqlite3
import tempfile
from pathlib import Path

import gffutils

from plantllm.core.cache import cache_dir, writable_dir
from plantllm.core.errors import InputFileError
from plantllm.core.io import atomic_path, fingerprint, open_text
from plantllm.core.tables import _lines as checked_lines

SCHEMA_VERSION = "2"  # 2: duplicate IDs and children outside their parents are refused
KEEP_ATTRIBUTES = {
    "ID", "Parent", "Name", "gene", "gene_id", "transcript_id", "gene_name", "locus_tag", "gene_biotype",
    "biotype", "gene_type", "transcript_biotype", "transcript_type", "product", "tag", "protein_id", "Alias",
    "canonical", "is_canonical", "longest", "pseudo", "gbkey",
}
_STRANDS = {"+", "-", ".", "?"}


def detect_format(path: Path, declared: str | None = None) -> str:
    if declared:
        return declared
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".gtf"):
        return "gtf"
    if name.endswith((".gff", ".gff3")):
        return "gff3"
    with open_text(path) as fh:
        for line in checked_lines(path, fh):
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            return "gtf" if len(cols) == 9 and re.search(r'\w+ "[^"]*";', cols[8]) else "gff3"
    return "gff3"


def _gtf_attrs(text: str) -> dict[str, str]:
    out = {}
    for part in text.strip().split(";"):
        part = part.strip()
        if part:
            k, _, v = part.partition(" ")
            out.setdefault(k, v.strip().strip('"'))
    return out


def check_and_slim(path: Path, fmt: str, out: Path) -> dict[str, int]:
    """Check a GFF3/GTF line by line and write a slim copy for gffutils.

    Returns the maximum feature end per seqid (for the length check against the FASTA).
    Raises InputFileError naming the line for: text that is not UTF-8 or a truncated gzip,
    wrong column count, non-integer or reversed coordinates, bad strand, GFF3 children whose
    Parent is never defined, GTF lines without gene_id/transcript_id, one ID given to features
    of different types or on different seqids (gffutils' create_unique would merge or rename
    them silently; lines of one multi-line feature, such as a CDS over several exons, share
    type and seqid and stay legal), and children that extend beyond their parent (an exon past
    its transcript's end would make a UTR run past the transcript).
    """
    first: dict[str, tuple[int, str, str]] = {}  # ID -> (first line, type, seqid)
    extent: dict[str, list] = {}  # parent key -> [start, end over all its lines, first line, seqid]
    children: list[tuple[str, int, str, str, int, int]] = []  # (parent, line, type, seqid, start, end)
    gtf_tx: dict[str, tuple[int, str, str]] = {}  # transcript_id -> (first line, gene_id, seqid)
    max_end: dict[str, int] = {}
    n_features = 0
    with open_text(path) as fh, open(out, "w") as w:
        w.write("##gff-version 3\n" if fmt == "gff3" else "")
        for lineno, line in enumerate(checked_lines(path, fh), 1):
            if line.startswith("##FASTA"):
                break
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 9:
                hint = " (columns must be separated by tabs, not spaces)" if len(line.split()) >= 9 else ""
                raise InputFileError(f"expected 9 tab-separated columns, found {len(cols)}{hint}", path=path,
                                     line=lineno, fix="repair or remove this line")
            seqid, _src, ftype, start, end, _score, strand, _phase, attrs = cols
            try:
                s, e = int(start), int(end)
            except ValueError:
                raise InputFileError(f"start/end must be integers, got '{start}'/'{end}'", path=path,
                                     line=lineno) from None
            if s < 1:
                raise InputFileError(f"start {s} < 1: GFF coordinates are 1-based", path=path, line=lineno)
            if s > e:
                raise InputFileError(f"start {s} > end {e} (wrong coordinate order)", path=path, line=lineno,
                                     fix="swap start and end; strand goes in column 7")
            if strand not in _STRANDS:
                raise InputFileError(f"strand '{strand}' must be +, -, . or ?", path=path, line=lineno)
            n_features += 1
            if e > max_end.get(seqid, 0):
                max_end[seqid] = e
            if fmt == "gff3":
                kept = []
                for item in attrs.strip().strip(";").split(";"):
                    if not item:
                        continue
                    key, eq, value = item.partition("=")
                    key = key.strip()
                    if not eq:
                        raise InputFileError(f"attribute '{item[:40]}' is not key=value (GTF given as GFF3?)",
                                             path=path, line=lineno, fix="name the file .gtf or set annotation.format")
                    if key == "ID":
                        _same_id(path, lineno, value, ftype, seqid, first)
                        _extend(extent, value, s, e, lineno, seqid)
                    elif key == "Parent":
                        children.extend((p, lineno, ftype, seqid, s, e) for p in value.split(","))
                    if key in KEEP_ATTRIBUTES:
                        kept.append(f"{key}={value}")
                cols[8] = ";".join(kept)
            else:
                a = _gtf_attrs(attrs)
                if "gene_id" not in a:
                    raise InputFileError("GTF line without gene_id", path=path, line=lineno)
                if ftype not in ("gene",) and "transcript_id" not in a:
                    raise InputFileError("GTF line without transcript_id", path=path, line=lineno)
                gid, tid = a["gene_id"], a.get("transcript_id")
                if ftype == "gene":
                    _same_id(path, lineno, gid, "gene", seqid, first)
                    _extend(extent, "gene:" + gid, s, e, lineno, seqid)
                elif tid is not None:
                    seen = gtf_tx.setdefault(tid, (lineno, gid, seqid))
                    if seen[1:] != (gid, seqid):
                        raise InputFileError(
                            f"transcript_id '{tid}' is given to gene '{gid}' on '{seqid}' here but to gene "
                            f"'{seen[1]}' on '{seen[2]}' on line {seen[0]}: the two transcripts would merge into one",
                            path=path, line=lineno, fix="give each transcript its own transcript_id")
                    if ftype == "transcript":
                        _extend(extent, "transcript:" + tid, s, e, lineno, seqid)
                        children.append(("gene:" + gid, lineno, ftype, seqid, s, e))
                    else:
                        children.append(("transcript:" + tid, lineno, ftype, seqid, s, e))
                cols[8] = " ".join(f'{k} "{v}";' for k, v in a.items() if k in KEEP_ATTRIBUTES)
            w.write("\t".join(cols) + "\n")
    if n_features == 0:
        raise InputFileError("no features found (empty or truncated annotation)", path=path)
    for parent, lineno, ftype, seqid, s, e in children:
        if fmt == "gff3" and parent not in extent:
            raise InputFileError(f"orphan feature: Parent '{parent}' is not the ID of any feature", path=path,
                                 line=lineno, fix="add the parent feature or remove its children")
        if parent not in extent:
            continue  # GTF without transcript or gene lines: gffutils infers their extents
        ps, pe, pline, pseqid = extent[parent]
        pname = parent.split(":", 1)[-1] if fmt == "gtf" else parent
        if pseqid != seqid:
            raise InputFileError(f"{ftype} on '{seqid}' has its parent '{pname}' on '{pseqid}' (line {pline})",
                                 path=path, line=lineno, fix="correct the seqid or the Parent")
        if s < ps or e > pe:
            raise InputFileError(f"{ftype} {s}-{e} extends beyond its parent '{pname}' ({ps}-{pe}, line {pline})",
                                 path=path, line=lineno, fix="correct the coordinates of the child or of its parent")
    return max_end


def _extend(extent: dict[str, list], key: str, s: int, e: int, lineno: int, seqid: str) -> None:
    x = extent.setdefault(key, [s, e, lineno, seqid])
    x[0], x[1] = min(x[0], s), max(x[1], e)


def _same_id(path: Path, lineno: int, fid: str, ftype: str, seqid: str,
             first: dict[str, tuple[int, str, str]]) -> None:
    """Record the first line of an ID; refuse a second feature of another type or seqid with it."""
    seen = first.setdefault(fid, (lineno, ftype, seqid))
    if seen[1:] != (ftype, seqid):
        raise InputFileError(f"ID '{fid}' is already used on line {seen[0]} by a {seen[1]} on '{seen[2]}' (here a "
                             f"{ftype} on '{seqid}'): gffutils would merge or rename them silently", path=path,
                             line=lineno, fix="give each feature its own ID")


# ---------------------------------------------------------------- database
def db_path_for(gff: Path) -> Path:
    base = gff.parent if writable_dir(gff.parent) else cache_dir("gffdb", str(gff.resolve()))
    return base / (gff.name + ".plantllm.db")


def read_meta(db: Path) -> dict:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            row = con.execute("SELECT value FROM plantllm_meta WHERE key='meta'").fetchone()
        finally:
            con.close()
        return json.loads(row[0]) if row else {}
    except sqlite3.Error:
        return {}


def build_db(gff: Path, fmt: str, db: Path) -> dict:
    """Check, slim and load ``gff`` into ``db`` atomically; returns the stored metadata."""
    with tempfile.TemporaryDirectory(dir=db.parent) as tmp:
        slim = Path(tmp) / ("slim." + ("gtf" if fmt == "gtf" else "gff3"))
        max_end = check_and_slim(gff, fmt, slim)
        meta = {"schema": SCHEMA_VERSION, "fingerprint": fingerprint(gff), "format": fmt, "max_end": max_end,
                "source": str(gff)}
        with atomic_path(db) as tmp_db:
            kw = dict(merge_strategy="create_unique", keep_order=False, sort_attribute_values=False,
                      verbose=False, force=True)
            if fmt == "gtf":
                # NCBI GTF has gene and transcript lines; others (e.g. Ensembl GTF from older releases,
                # StringTie) may not, and then gffutils infers them.
                has_tx = _gtf_has(slim, "transcript")
                kw.update(disable_infer_transcripts=has_tx, disable_infer_genes=_gtf_has(slim, "gene"),
                          id_spec={"gene": "gene_id", "transcript": "transcript_id"})
            else:
                kw.update(disable_infer_genes=True, disable_infer_transcripts=True)
            try:
                gffutils.create_db(str(slim), str(tmp_db), **kw)
            except Exception as e:  # gffutils raises bare ValueError/IndexError on odd input
                raise InputFileError(f"gffutils could not load the annotation: {e}", path=gff) from None
            con = sqlite3.connect(tmp_db)
            con.execute("CREATE TABLE plantllm_meta (key TEXT PRIMARY KEY, value TEXT)")
            con.execute("INSERT INTO plantllm_meta VALUES ('meta', ?)", (json.dumps(meta),))
            con.commit()
            con.close()
    return meta


def _gtf_has(path: Path, ftype: str) -> bool:
    with open(path) as fh:
        return any(line.split("\t", 3)[2] == ftype for line in fh if line.count("\t") >= 8)
