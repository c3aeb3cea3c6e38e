"""Annotation: genes, transcripts, TSS/TTS and region classes from GFF3 or GTF.

The file is parsed by gffutils into an SQLite database that is cached next to the
user's file (or in the cache folder) and reused while the file is unchanged.
Before building, one streaming pass checks the file with line numbers (gffutils
accepts malformed input silently) and writes a slim copy with only the attributes
plantllm uses: NCBI GFF3 carries kilobytes of free text per line (Note, inference,
Dbxref) that gffutils would otherwise parse and store, and dropping it is what makes
our on-disk build faster than gffutils' own in-memory build of the full file.

NCBI (RefSeq), Ensembl Plants and Phytozome GFF3 and GTF (with or without gene and
transcript lines) are supported. Coordinates: GFF is 1-based closed; everything
this module returns is 0-based half-open with canonical chromosome names.
"""

from __future__ import annotations

import json
import re
import sqlite3
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import gffutils
import numpy as np

from plantllm.core.cache import cache_dir, writable_dir
from plantllm.core.errors import ChromosomeError, InputFileError, did_you_mean
from plantllm.core.io import atomic_path, fingerprint, open_text, require_file
from plantllm.species.card import SpeciesCard

SCHEMA_VERSION = "1"
KEEP_ATTRIBUTES = {
    "ID", "Parent", "Name", "gene", "gene_id", "transcript_id", "gene_name", "locus_tag", "gene_biotype",
    "biotype", "gene_type", "transcript_biotype", "transcript_type", "product", "tag", "protein_id", "Alias",
    "canonical", "is_canonical", "longest", "pseudo", "gbkey",
}
EXON_TYPES = {"exon", "pseudogenic_exon"}
CDS_TYPES = {"CDS"}
UTR5_TYPES = {"five_prime_UTR", "5UTR", "five_prime_utr", "UTR5"}
UTR3_TYPES = {"three_prime_UTR", "3UTR", "three_prime_utr", "UTR3"}
SUBPART_TYPES = EXON_TYPES | CDS_TYPES | UTR5_TYPES | UTR3_TYPES
#: region classes from most to least specific; a position gets the first that applies
REGION_CLASSES = ("CDS", "five_prime_UTR", "three_prime_UTR", "noncoding_exon", "intron", "promoter", "downstream", "intergenic")
_ID_PREFIX = re.compile(r"^(gene|transcript|rna|mrna|cds|exon)[-:]", re.IGNORECASE)
_STRANDS = {"+", "-", ".", "?"}


@dataclass(frozen=True)
class Transcript:
    """One transcript model; intervals 0-based half-open, sorted by start."""

    id: str
    gene_id: str
    chrom: str
    start: int
    end: int
    strand: str
    biotype: str
    exons: tuple[tuple[int, int], ...]
    cds: tuple[tuple[int, int], ...] = ()
    canonical_tag: bool = False

    @property
    def tss(self) -> int:
        """0-based position of the first transcribed base (strand-aware)."""
        return self.start if self.strand != "-" else self.end - 1

    @property
    def tts(self) -> int:
        return self.end - 1 if self.strand != "-" else self.start

    @property
    def cds_length(self) -> int:
        return sum(e - s for s, e in self.cds)

    @property
    def exonic_length(self) -> int:
        return sum(e - s for s, e in self.exons)

    @property
    def coding(self) -> bool:
        return bool(self.cds)

    def introns(self) -> list[tuple[int, int]]:
        return [(a[1], b[0]) for a, b in zip(self.exons, self.exons[1:]) if b[0] > a[1]]

    def utrs(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(5' UTR, 3' UTR) intervals: exonic parts outside the CDS, by strand."""
        if not self.cds:
            return [], []
        cs, ce = self.cds[0][0], self.cds[-1][1]
        left = [(s, min(e, cs)) for s, e in self.exons if s < cs]
        right = [(max(s, ce), e) for s, e in self.exons if e > ce]
        return (left, right) if self.strand != "-" else (right, left)


@dataclass(frozen=True)
class Gene:
    id: str
    locus: str  # the ID without GFF prefixes (gene-AT1G01010 -> AT1G01010)
    name: str
    chrom: str
    start: int
    end: int
    strand: str
    biotype: str
    transcripts: tuple[Transcript, ...] = field(default=(), repr=False)

    @property
    def canonical(self) -> Transcript | None:
        """Tagged canonical transcript if any, else longest CDS, then longest exonic length."""
        if not self.transcripts:
            return None
        tagged = [t for t in self.transcripts if t.canonical_tag]
        pool = tagged or list(self.transcripts)
        return max(pool, key=lambda t: (t.cds_length, t.exonic_length, -len(t.id), t.id))


def locus_of(feature_id: str) -> str:
    return _ID_PREFIX.sub("", feature_id)


# ---------------------------------------------------------------- checking
def detect_format(path: Path, declared: str | None = None) -> str:
    if declared:
        return declared
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".gtf"):
        return "gtf"
    if name.endswith((".gff", ".gff3")):
        return "gff3"
    with open_text(path) as fh:
        for line in fh:
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
    Raises InputFileError naming the line for: wrong column count, non-integer or
    reversed coordinates, bad strand, GFF3 children whose Parent is never defined,
    GTF lines without gene_id/transcript_id.
    """
    ids: set[str] = set()
    parents: list[tuple[str, int]] = []
    max_end: dict[str, int] = {}
    n_features = 0
    with open_text(path) as fh, open(out, "w") as w:
        w.write("##gff-version 3\n" if fmt == "gff3" else "")
        for lineno, line in enumerate(fh, 1):
            if line.startswith("##FASTA"):
                break
            if line.startswith("#") or not line.strip():
                continue
            if "\x00" in line:
                raise InputFileError("contains a NUL byte: binary or corrupt file", path=path, line=lineno)
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
                        ids.add(value)
                    elif key == "Parent":
                        parents.extend((p, lineno) for p in value.split(","))
                    if key in KEEP_ATTRIBUTES:
                        kept.append(f"{key}={value}")
                cols[8] = ";".join(kept)
            else:
                a = _gtf_attrs(attrs)
                if "gene_id" not in a:
                    raise InputFileError("GTF line without gene_id", path=path, line=lineno)
                if ftype not in ("gene",) and "transcript_id" not in a:
                    raise InputFileError("GTF line without transcript_id", path=path, line=lineno)
                cols[8] = " ".join(f'{k} "{v}";' for k, v in a.items() if k in KEEP_ATTRIBUTES)
            w.write("\t".join(cols) + "\n")
    if n_features == 0:
        raise InputFileError("no features found (empty or truncated annotation)", path=path)
    for parent, lineno in parents:
        if parent not in ids:
            raise InputFileError(f"orphan feature: Parent '{parent}' is not the ID of any feature", path=path,
                                 line=lineno, fix="add the parent feature or remove its children")
    return max_end


# ---------------------------------------------------------------- database
def _db_path(gff: Path) -> Path:
    base = gff.parent if writable_dir(gff.parent) else cache_dir("gffdb", str(gff.resolve()))
    return base / (gff.name + ".plantllm.db")


def _read_meta(db: Path) -> dict:
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


class Annotation:
    """Gene models of one species, read through a cached gffutils database.

    Parameters
    ----------
    card : SpeciesCard
        Aliases translate the GFF's seqids to canonical names.
    gff : path, optional
        Overrides ``card.gff``.
    """

    def __init__(self, card: SpeciesCard, gff: str | Path | None = None, *, rebuild: bool = False):
        self.card = card
        path = gff or card.gff
        if path is None:
            raise InputFileError(f"species card {card.name} names no annotation", path=card.source,
                                 fix="set annotation.gff in the card or pass --gff")
        self.path = require_file(Path(path), "annotation")
        self.format = detect_format(self.path, card.annotation_format)
        self.db_path = _db_path(self.path)
        meta = {} if rebuild else (_read_meta(self.db_path) if self.db_path.exists() else {})
        self.built = False
        if meta.get("fingerprint") != fingerprint(self.path) or meta.get("schema") != SCHEMA_VERSION:
            meta = build_db(self.path, self.format, self.db_path)
            self.built = True
        self.meta = meta
        self.db = gffutils.FeatureDB(str(self.db_path))
        self._seqid_to_canon = {s: self._canonical_seqid(s) for s in meta["max_end"]}
        self._canon_to_seqid = {c: s for s, c in self._seqid_to_canon.items()}

    def _canonical_seqid(self, seqid: str) -> str:
        canon = self.card.try_canonical(seqid)
        if canon is None:
            # Suggest the alias that would fix it: a chromosome the features fit in, named alike.
            raise ChromosomeError(
                f"annotation seqid '{seqid}' is not a chromosome or alias of {self.card.name}"
                f"{did_you_mean(seqid, self.card._alias)}",
                path=self.path,
                fix=f"add '{seqid}' to the aliases of the matching chromosome in {self.card.source or 'the card'}")
        chrom = self.card.chromosome(canon)
        if self.meta_end(seqid) > chrom.length:
            raise InputFileError(f"features on '{seqid}' end at {self.meta_end(seqid):,}, beyond {canon}'s "
                                 f"length {chrom.length:,} in {self.card.assembly}", path=self.path,
                                 fix="the annotation belongs to another assembly")
        return canon

    def meta_end(self, seqid: str) -> int:
        return int(self.meta["max_end"][seqid])

    @property
    def chromosomes(self) -> list[str]:
        return [c.name for c in self.card.chromosomes if c.name in self._canon_to_seqid]

    # ------------------------------------------------------------ models
    @cached_property
    def genes(self) -> list[Gene]:
        """All genes with their transcripts, sorted by chromosome (card order) and start."""
        con = self.db.conn
        rows = con.execute("SELECT id, seqid, start, end, strand, featuretype, attributes FROM features").fetchall()
        feat = {r[0]: r for r in rows}
        children: dict[str, list[str]] = defaultdict(list)
        parent_of: dict[str, list[str]] = defaultdict(list)
        for parent, child in con.execute("SELECT parent, child FROM relations WHERE level = 1 AND parent != child"):
            children[parent].append(child)
            parent_of[child].append(parent)
        # A transcript is any feature with exon/CDS/UTR children.
        tx_parts: dict[str, dict[str, list[tuple[int, int]]]] = {}
        for fid, (_, _seqid, start, end, _strand, ftype, _a) in feat.items():
            if ftype in SUBPART_TYPES:
                for p in parent_of.get(fid, ()):
                    parts = tx_parts.setdefault(p, {"exon": [], "cds": [], "utr": []})
                    key = "exon" if ftype in EXON_TYPES else "cds" if ftype in CDS_TYPES else "utr"
                    parts[key].append((start - 1, end))
        # EMBL/ENA GFF3 also hangs gene-level exons (the union over isoforms) directly on the gene:
        # a feature that is the parent of real transcripts is a gene, not a transcript.
        tx_parents = {p for tid in tx_parts for p in parent_of.get(tid, ())}
        by_gene: dict[str, list[Transcript]] = defaultdict(list)
        for tid, parts in tx_parts.items():
            if tid not in feat or tid in tx_parents:
                continue
            _, seqid, start, end, strand, ftype, attrs = feat[tid]
            a = json.loads(attrs)
            gids = sorted({_root(p, parent_of) for p in parent_of.get(tid, ()) if p in feat}) or [tid]
            exons = sorted(parts["exon"]) or _merge(sorted(parts["cds"] + parts["utr"]))
            cds = sorted(parts["cds"])
            for (s1, e1), (s2, _e2) in zip(exons, exons[1:]):
                if s2 < e1:
                    raise InputFileError(f"transcript '{tid}' has overlapping exons at {seqid}:{s2 + 1}-{e1}",
                                         path=self.path, fix="merge or remove the duplicated exon lines")
            tags = ",".join(a.get("tag", []) + a.get("canonical", []) + a.get("is_canonical", [])
                            + a.get("longest", [])).lower()
            canonical = any(t in tags for t in ("canonical", "mane", "1", "true"))
            biotype = _first(a, "transcript_biotype", "transcript_type", "biotype", "gbkey") or ftype
            for gid in gids:
                by_gene[gid].append(Transcript(tid, gid, self._seqid_to_canon[seqid], start - 1, end, strand,
                                               biotype, tuple(exons), tuple(cds), canonical))
        genes = []
        for gid, txs in by_gene.items():
            _, seqid, start, end, strand, ftype, attrs = feat[gid]
            a = json.loads(attrs)
            name = _first(a, "Name", "gene", "gene_name")
            locus = _first(a, "locus_tag", "gene_id")
            if locus is None:
                # Phytozome: ID=AT1G01010.Araport11.447;Name=AT1G01010 -- the Name is the locus.
                locus = name if name and gid.startswith(name + ".") else locus_of(gid)
            name = name or locus
            biotype = _first(a, "gene_biotype", "biotype", "gene_type") or (
                "protein_coding" if any(t.coding for t in txs) else ftype)
            genes.append(Gene(gid, locus, name, self._seqid_to_canon[seqid], start - 1, end, strand, biotype,
                              tuple(sorted(txs, key=lambda t: (t.start, t.id)))))
        order = {c.name: i for i, c in enumerate(self.card.chromosomes)}
        genes.sort(key=lambda g: (order[g.chrom], g.start, g.id))
        return genes

    @cached_property
    def transcripts(self) -> list[Transcript]:
        return [t for g in self.genes for t in g.transcripts]

    def canonical_transcripts(self) -> list[Transcript]:
        return [g.canonical for g in self.genes if g.canonical is not None]

    def tss(self, *, canonical_only: bool = True, coding_only: bool = False) -> list[Transcript]:
        """Transcripts whose ``tss`` are the annotated TSSs (one per gene by default)."""
        txs = self.canonical_transcripts() if canonical_only else self.transcripts
        return [t for t in txs if t.coding or not coding_only]

    def counts(self) -> dict[str, int]:
        return {"genes": len(self.genes), "transcripts": len(self.transcripts),
                "coding_genes": sum(any(t.coding for t in g.transcripts) for g in self.genes)}

    # ------------------------------------------------------------ regions
    @cached_property
    def regions(self) -> "RegionIndex":
        return RegionIndex.from_transcripts(self.transcripts, self.card)

    def region_class(self, chrom: str, pos: int) -> str:
        """Region class of one 0-based position (see ``REGION_CLASSES``)."""
        return str(self.regions.classify(self.card.canonical(chrom), np.array([pos]))[0])


def _root(fid: str, parent_of: dict[str, list[str]]) -> str:
    """Topmost ancestor (miRNA -> primary_transcript -> gene gives the gene)."""
    seen = {fid}
    while parent_of.get(fid):
        fid = parent_of[fid][0]
        if fid in seen:  # a cycle in Parent links: stop rather than loop
            break
        seen.add(fid)
    return fid


def _first(attrs: dict, *keys: str) -> str | None:
    for k in keys:
        v = attrs.get(k)
        if v and v[0]:
            return v[0]
    return None


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for s, e in intervals:
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


class RegionIndex:
    """Per chromosome and region class, merged intervals as sorted numpy arrays.

    Classifying a position is one ``searchsorted`` per class, so millions of
    variant or window positions are classed in a vectorized call. Written here
    rather than with bedtools because the membership test needs arrays in memory.
    """

    def __init__(self, intervals: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]):
        self.intervals = intervals

    @classmethod
    def from_transcripts(cls, transcripts: list[Transcript], card: SpeciesCard) -> "RegionIndex":
        raw: dict[str, dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
        up, down_p, down = card.promoter_upstream, card.promoter_downstream, card.downstream
        for t in transcripts:
            r = raw[t.chrom]
            n = card.chromosome(t.chrom).length
            r["CDS"].extend(t.cds)
            u5, u3 = t.utrs()
            r["five_prime_UTR"].extend(u5)
            r["three_prime_UTR"].extend(u3)
            if not t.cds:  # non-coding exons: count as transcribed, not as UTR
                r["noncoding_exon"].extend(t.exons)
            r["intron"].extend(t.introns())
            if t.strand == "-":
                r["promoter"].append((max(0, t.end - down_p), min(n, t.end + up)))
                r["downstream"].append((max(0, t.start - down), t.start))
            else:
                r["promoter"].append((max(0, t.start - up), min(n, t.start + down_p)))
                r["downstream"].append((t.end, min(n, t.end + down)))
        out = {}
        for chrom, classes in raw.items():
            out[chrom] = {}
            for k, iv in classes.items():
                m = _merge(sorted(x for x in iv if x[1] > x[0]))
                arr = np.array(m, dtype=np.int64).reshape(-1, 2)
                out[chrom][k] = (arr[:, 0].copy(), arr[:, 1].copy())
        return cls(out)

    def contains(self, chrom: str, cls_name: str, pos: np.ndarray) -> np.ndarray:
        starts, ends = self.intervals.get(chrom, {}).get(cls_name, (np.empty(0, np.int64), np.empty(0, np.int64)))
        idx = np.searchsorted(starts, pos, side="right") - 1
        ok = idx >= 0
        res = np.zeros(len(pos), dtype=bool)
        res[ok] = pos[ok] < ends[idx[ok]]
        return res

    def classify(self, chrom: str, pos: np.ndarray) -> np.ndarray:
        """Region class per 0-based position, most specific class first."""
        pos = np.asarray(pos, dtype=np.int64)
        out = np.full(len(pos), "intergenic", dtype=object)
        done = np.zeros(len(pos), dtype=bool)
        for k in REGION_CLASSES[:-1]:
            hit = self.contains(chrom, k, pos) & ~done
            out[hit] = k
            done |= hit
        return out

    def coverage(self, chrom: str, cls_name: str) -> int:
        starts, ends = self.intervals.get(chrom, {}).get(cls_name, (np.empty(0), np.empty(0)))
        return int((ends - starts).sum())

