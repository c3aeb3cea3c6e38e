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
from pathlib import Path

import gffutils

from plantllm.core.cache import cache_dir, writable_dir
from plantllm.core.errors import InputFileError
from plantllm.core.io import atomic_path, fingerprint, open_text, scratch_dir
from plantllm.core.tables import checked_lines

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
    check = _Checker(path, fmt)
    with open_text(path) as fh, open(out, "w") as w:
        w.write("##gff-version 3\n" if fmt == "gff3" else "")
        for lineno, line in enumerate(checked_lines(path, fh), 1):
            if line.startswith("##FASTA"):
                break
            if line.startswith("#") or not line.strip():
                continue
            w.write(check.line(lineno, line) + "\n")
    check.finish()
    return check.max_end


class _Checker:
    """The state of one pass over a GFF3/GTF: IDs seen, parents' extents, children to check at the end."""

    def __init__(self, path: Path, fmt: str):
        self.path, self.fmt = path, fmt
        self.first: dict[str, tuple[int, str, str]] = {}  # ID -> (first line, type, seqid)
        self.extent: dict[str, list] = {}  # parent key -> [start, end over all its lines, first line, seqid]
        self.children: list[tuple[str, int, str, str, int, int]] = []  # (parent, line, type, seqid, start, end)
        self.gtf_tx: dict[str, tuple[int, str, str]] = {}  # transcript_id -> (first line, gene_id, seqid)
        self.max_end: dict[str, int] = {}
        self.n_features = 0

    def error(self, lineno: int, msg: str, fix: str | None = None) -> InputFileError:
        return InputFileError(msg, path=self.path, line=lineno, fix=fix)

    def line(self, lineno: int, line: str) -> str:
        """Check one feature line; returns it with only the attributes plantllm keeps."""
        cols = line.rstrip("\n").split("\t")
        if len(cols) != 9:
            hint = " (columns must be separated by tabs, not spaces)" if len(line.split()) >= 9 else ""
            raise self.error(lineno, f"expected 9 tab-separated columns, found {len(cols)}{hint}",
                             "repair or remove this line")
        seqid, _src, ftype, start, end, _score, strand, _phase, attrs = cols
        s, e = self.coordinates(lineno, start, end, strand)
        self.n_features += 1
        self.max_end[seqid] = max(self.max_end.get(seqid, 0), e)
        slim = self.gff3(lineno, seqid, ftype, s, e, attrs) if self.fmt == "gff3" else \
            self.gtf(lineno, seqid, ftype, s, e, attrs)
        return "\t".join(cols[:8] + [slim])

    def coordinates(self, lineno: int, start: str, end: str, strand: str) -> tuple[int, int]:
        try:
            s, e = int(start), int(end)
        except ValueError:
            raise self.error(lineno, f"start/end must be integers, got '{start}'/'{end}'") from None
        if s < 1:
            raise self.error(lineno, f"start {s} < 1: GFF coordinates are 1-based")
        if s > e:
            raise self.error(lineno, f"start {s} > end {e} (wrong coordinate order)",
                             "swap start and end; strand goes in column 7")
        if strand not in _STRANDS:
            raise self.error(lineno, f"strand '{strand}' must be +, -, . or ?")
        return s, e

    def gff3(self, lineno: int, seqid: str, ftype: str, s: int, e: int, attrs: str) -> str:
        kept = []
        for item in attrs.strip().strip(";").split(";"):
            if not item:
                continue
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq:
                raise self.error(lineno, f"attribute '{item[:40]}' is not key=value (GTF given as GFF3?)",
                                 "name the file .gtf or set annotation.format")
            if key == "ID":
                self.same_id(lineno, value, ftype, seqid)
                self.extend(value, s, e, lineno, seqid)
            elif key == "Parent":
                self.children.extend((p, lineno, ftype, seqid, s, e) for p in value.split(","))
            if key in KEEP_ATTRIBUTES:
                kept.append(f"{key}={value}")
        return ";".join(kept)

    def gtf(self, lineno: int, seqid: str, ftype: str, s: int, e: int, attrs: str) -> str:
        a = _gtf_attrs(attrs)
        if "gene_id" not in a:
            raise self.error(lineno, "GTF line without gene_id")
        if ftype != "gene" and "transcript_id" not in a:
            raise self.error(lineno, "GTF line without transcript_id")
        gid, tid = a["gene_id"], a.get("transcript_id")
        if ftype == "gene":
            self.same_id(lineno, gid, "gene", seqid)
            self.extend("gene:" + gid, s, e, lineno, seqid)
        elif tid is not None:
            seen = self.gtf_tx.setdefault(tid, (lineno, gid, seqid))
            if seen[1:] != (gid, seqid):
                raise self.error(lineno, f"transcript_id '{tid}' is given to gene '{gid}' on '{seqid}' here but to gene "
                                         f"'{seen[1]}' on '{seen[2]}' on line {seen[0]}: the two transcripts would "
                                         "merge into one", "give each transcript its own transcript_id")
            if ftype == "transcript":
                self.extend("transcript:" + tid, s, e, lineno, seqid)
                self.children.append(("gene:" + gid, lineno, ftype, seqid, s, e))
            else:
                self.children.append(("transcript:" + tid, lineno, ftype, seqid, s, e))
        return " ".join(f'{k} "{v}";' for k, v in a.items() if k in KEEP_ATTRIBUTES)

    def extend(self, key: str, s: int, e: int, lineno: int, seqid: str) -> None:
        x = self.extent.setdefault(key, [s, e, lineno, seqid])
        x[0], x[1] = min(x[0], s), max(x[1], e)

    def same_id(self, lineno: int, fid: str, ftype: str, seqid: str) -> None:
        """Record the first line of an ID; refuse a second feature of another type or seqid with it."""
        seen = self.first.setdefault(fid, (lineno, ftype, seqid))
        if seen[1:] != (ftype, seqid):
            raise self.error(lineno, f"ID '{fid}' is already used on line {seen[0]} by a {seen[1]} on '{seen[2]}' "
                                     f"(here a {ftype} on '{seqid}'): gffutils would merge or rename them silently",
                             "give each feature its own ID")

    def finish(self) -> None:
        """The checks that need the whole file: something was read, parents exist and hold their children."""
        if self.n_features == 0:
            raise InputFileError("no features found (empty or truncated annotation)", path=self.path)
        for parent, lineno, ftype, seqid, s, e in self.children:
            if self.fmt == "gff3" and parent not in self.extent:
                raise self.error(lineno, f"orphan feature: Parent '{parent}' is not the ID of any feature",
                                 "add the parent feature or remove its children")
            if parent not in self.extent:
                continue  # GTF without transcript or gene lines: gffutils infers their extents
            ps, pe, pline, pseqid = self.extent[parent]
            pname = parent.split(":", 1)[-1] if self.fmt == "gtf" else parent
            if pseqid != seqid:
                raise self.error(lineno, f"{ftype} on '{seqid}' has its parent '{pname}' on '{pseqid}' (line {pline})",
                                 "correct the seqid or the Parent")
            if s < ps or e > pe:
                raise self.error(lineno, f"{ftype} {s}-{e} extends beyond its parent '{pname}' ({ps}-{pe}, line "
                                         f"{pline})", "correct the coordinates of the child or of its parent")


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
    with scratch_dir(db.parent, f"{db.name}.build") as tmp:  # a killed build's copy is removed by the next
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
