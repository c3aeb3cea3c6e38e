"""Annotation: genes, transcripts, TSS/TTS and region classes from GFF3 or GTF.

The file is read through a cached gffutils database (``plantllm.species.gff``: checked
line by line, slimmed, rebuilt when the file changes); this module turns its features
into gene and transcript models and region classes.

NCBI (RefSeq), Ensembl Plants and Phytozome GFF3 and GTF (with or without gene and
transcript lines) are supported. Coordinates: GFF is 1-based closed; everything
this module returns is 0-based half-open with canonical chromosome names.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import gffutils
import numpy as np

from plantllm.core.errors import ChromosomeError, InputFileError, did_you_mean
from plantllm.core.intervals import IntervalIndex, merge
from plantllm.core.io import fingerprint, require_file
from plantllm.species.card import SpeciesCard
from plantllm.species.gff import SCHEMA_VERSION, build_db, db_path_for, detect_format, read_meta

EXON_TYPES = {"exon", "pseudogenic_exon"}
CDS_TYPES = {"CDS"}
UTR5_TYPES = {"five_prime_UTR", "5UTR", "five_prime_utr", "UTR5"}
UTR3_TYPES = {"three_prime_UTR", "3UTR", "three_prime_utr", "UTR3"}
SUBPART_TYPES = EXON_TYPES | CDS_TYPES | UTR5_TYPES | UTR3_TYPES
#: region classes from most to least specific; a position gets the first that applies
REGION_CLASSES = ("CDS", "five_prime_UTR", "three_prime_UTR", "noncoding_exon", "intron", "promoter", "downstream", "intergenic")
_ID_PREFIX = re.compile(r"^(gene|transcript|rna|mrna|cds|exon)[-:]", re.IGNORECASE)


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
        self.db_path = db_path_for(self.path)
        meta = {} if rebuild else (read_meta(self.db_path) if self.db_path.exists() else {})
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
            exons = sorted(parts["exon"]) or merge(parts["cds"] + parts["utr"])
            cds = sorted(parts["cds"])
            for (s1, e1), (s2, _e2) in zip(exons, exons[1:]):
                if s2 < e1:
                    raise InputFileError(f"transcript '{tid}' has overlapping exons at {seqid}:{s2 + 1}-{e1}",
                                         path=self.path, fix="merge or remove the duplicated exon lines")
            tags = ",".join(a.get("tag", []) + a.get("canonical", []) + a.get("is_canonical", [])
                            + a.get("longest", [])).lower()
            canonical = any(t in tags for t in ("canonical", "mane", "1", "true"))
            # NCBI GFF3: the feature type (lnc_RNA, snoRNA...) is its GTF's transcript_biotype; gbkey is coarser
            biotype = _first(a, "transcript_biotype", "transcript_type", "biotype") or ftype
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

    @cached_property
    def gene_index(self) -> IntervalIndex:
        """Gene bodies by chromosome; query ids index ``genes``."""
        return IntervalIndex((g.chrom, g.start, g.end) for g in self.genes)

    @cached_property
    def tss_index(self) -> IntervalIndex:
        """The TSS of every transcript as a 1-bp interval by chromosome; ids index ``transcripts``."""
        return IntervalIndex((t.chrom, t.tss, t.tss + 1) for t in self.transcripts)

    def tss_distance(self, chrom: str, pos: int) -> int:
        """Bases from ``pos`` to the nearest annotated TSS (any transcript); a huge number when none."""
        _, d = self.tss_index.nearest(chrom, pos)
        return d if d >= 0 else 1 << 62

    def nearest_gene(self, chrom: str, pos: int) -> Gene | None:
        """The gene containing ``pos`` (the first by start), else the nearest by gene body."""
        i, _ = self.gene_index.nearest(chrom, pos)
        return self.genes[i] if i >= 0 else None

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


class RegionIndex:
    """Per chromosome and region class, the merged intervals in the one interval index.

    Classifying a position is one vectorized containment query per class, so millions of
    variant or window positions are classed in one call.
    """

    def __init__(self, index: IntervalIndex):
        self.index = index  # keys: (chrom, region class)

    @classmethod
    def from_transcripts(cls, transcripts: list[Transcript], card: SpeciesCard) -> "RegionIndex":
        raw: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
        up, down_p, down = card.promoter_upstream, card.promoter_downstream, card.downstream
        for t in transcripts:
            n = card.chromosome(t.chrom).length
            u5, u3 = t.utrs()
            parts = {"CDS": list(t.cds), "five_prime_UTR": u5, "three_prime_UTR": u3,
                     "noncoding_exon": [] if t.cds else list(t.exons),  # non-coding exons: transcribed, not UTR
                     "intron": t.introns()}
            if t.strand == "-":
                parts["promoter"] = [(max(0, t.end - down_p), min(n, t.end + up))]
                parts["downstream"] = [(max(0, t.start - down), t.start)]
            else:
                parts["promoter"] = [(max(0, t.start - up), min(n, t.start + down_p))]
                parts["downstream"] = [(t.end, min(n, t.end + down))]
            for k, iv in parts.items():
                raw[(t.chrom, k)].extend(iv)
        return cls(IntervalIndex((key, s, e) for key, iv in raw.items()
                                 for s, e in merge(x for x in iv if x[1] > x[0])))

    def contains(self, chrom: str, cls_name: str, pos: np.ndarray) -> np.ndarray:
        return self.index.covers((chrom, cls_name), pos)

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
        return self.index.coverage((chrom, cls_name))
