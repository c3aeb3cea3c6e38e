"""Genome: random access to a species' FASTA (plain, gzip or bgzip) by canonical names.

Built on htslib's faidx through pysam: it indexes plain and bgzip FASTA (.fai, and
.gzi for bgzip) and fetches any interval without reading the chromosome. A plain
gzip file cannot be indexed, so it is recompressed once to bgzip in the cache.

Coordinates are 0-based, half-open everywhere in this module.
Case is kept: lowercase is the assembly's soft-mask (repeats).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pysam

from plantllm.core import sequence as sq
from plantllm.core.cache import cache_dir, writable_dir
from plantllm.core.errors import ChromosomeError, InputFileError, SequenceError
from plantllm.core.io import atomic_path, check_line_text, fingerprint, is_gzip, require_file
from plantllm.species.card import SpeciesCard


def is_bgzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(18)
    return len(head) >= 14 and head[:2] == b"\x1f\x8b" and bool(head[3] & 4) and head[12:14] == b"BC"


def _ragged_line(path: Path) -> tuple[int, str, int, int] | None:
    """(line number, record, width, expected width) of the first sequence line whose width differs from
    the lines above it in its record (the last line of a record may be shorter); None if all agree."""
    opener = gzip.open if is_gzip(path) else open
    name, width, pending = "", None, None  # pending: a short line that must be the record's last
    with opener(path, "rt", newline=None) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if line.startswith(">"):
                name, width, pending = line[1:].split(None, 1)[0] if line[1:].strip() else "", None, None
                continue
            if pending is not None:
                return pending
            if width is None:
                width = len(line)
            elif len(line) > width:
                return lineno, name, len(line), width
            elif len(line) < width:
                pending = (lineno, name, len(line), width)
    return None


def _scan_headers(path: Path) -> list[tuple[str, str, int]]:
    """(name, description, line number) of every '>' header, checking text sanity on the way.

    Used before indexing so that problems htslib would only warn about (duplicate
    names) or report without a line number become one clear error.
    """
    heads: list[tuple[str, str, int]] = []
    seen: dict[str, int] = {}
    opener = gzip.open if is_gzip(path) else open
    try:
        with opener(path, "rt", newline=None) as fh:
            first = True
            for lineno, line in enumerate(fh, 1):
                if first:
                    first = False
                    if not line.startswith(">"):
                        raise InputFileError("not a FASTA file: the first line must start with '>'", path=path,
                                             line=1, fix="check the file type (GFF or VCF given as FASTA?)")
                if line.startswith(">"):
                    parts = line[1:].strip().split(None, 1)
                    name = parts[0] if parts else ""
                    if not name:
                        raise InputFileError("FASTA header without a name", path=path, line=lineno)
                    if name in seen:
                        raise InputFileError(f"duplicate sequence name '{name}' (first at line {seen[name]})",
                                             path=path, line=lineno, fix="rename or remove one of the records")
                    seen[name] = lineno
                    heads.append((name, parts[1] if len(parts) > 1 else "", lineno))
                elif "\x00" in line:
                    check_line_text(path, lineno, line)
    except (EOFError, OSError, gzip.BadGzipFile) as e:
        raise InputFileError(f"truncated or corrupt compressed FASTA ({e})", path=path,
                             fix="re-download or re-compress the file with bgzip") from None
    if not heads:
        raise InputFileError("no sequences found", path=path)
    return heads


def _fai_ok(fasta: Path, fai: Path) -> bool:
    """Is an existing .fai usable: newer than the FASTA and self-consistent?"""
    if not fai.exists() or fai.stat().st_mtime_ns < fasta.stat().st_mtime_ns:
        return False
    size = fasta.stat().st_size
    try:
        with open(fai) as fh:
            rows = [line.rstrip("\n").split("\t") for line in fh if line.strip()]
        if not rows:
            return False
        for r in rows:
            if len(r) < 5:
                return False
            length, offset, bases, width = (int(x) for x in r[1:5])
            if length < 0 or bases <= 0 or width < bases:
                return False
            if not is_bgzip(fasta) and offset + length > size:
                return False
    except (ValueError, OSError):
        return False
    return True


@dataclass(frozen=True)
class SequenceStats:
    name: str
    file_name: str
    length: int
    n_fraction: float
    soft_masked_fraction: float
    gc: float
    subgenome: str | None
    organelle: str | None


class Genome:
    """Random access to a FASTA through a species card's names.

    Parameters
    ----------
    card : SpeciesCard
        Gives aliases, organelles, IUPAC policy and the FASTA path.
    fasta : path, optional
        Overrides ``card.fasta``.
    """

    def __init__(self, card: SpeciesCard, fasta: str | Path | None = None):
        self.card = card
        path = fasta or card.fasta
        if path is None:
            raise InputFileError(f"species card {card.name} names no FASTA", path=card.source,
                                 fix="set genome.fasta in the card or pass --fasta")
        self.path = require_file(Path(path), "FASTA")
        self._fa = self._open()
        self.file_names: list[str] = list(self._fa.references)
        self.file_lengths = dict(zip(self._fa.references, self._fa.lengths))
        self._to_file: dict[str, str] = {}
        self._unknown: list[str] = []
        for fname in self.file_names:
            canon = card.try_canonical(fname)
            if canon is None:
                self._unknown.append(fname)
            else:
                self._to_file[canon] = fname

    # ------------------------------------------------------------ indexing
    def _open(self) -> pysam.FastaFile:
        src = self.path
        if is_gzip(src) and not is_bgzip(src):
            src = self._bgzip_copy(src)
        # Indexes live next to the FASTA when that folder is writable, else in the cache.
        idx_dir = src.parent if writable_dir(src.parent) else cache_dir("fasta-index", fingerprint(src))
        fai = idx_dir / (src.name + ".fai")
        gzi = idx_dir / (src.name + ".gzi") if is_bgzip(src) else None
        if not _fai_ok(src, fai) or (gzi is not None and (not gzi.exists() or gzi.stat().st_size == 0
                                                          or gzi.stat().st_mtime_ns < src.stat().st_mtime_ns)):
            _scan_headers(src)
            for stale in (fai, gzi):
                if stale is not None and stale.exists():
                    stale.unlink()
            try:
                pysam.faidx(str(src), "--fai-idx", str(fai), *(["--gzi-idx", str(gzi)] if gzi else []))
            except pysam.SamtoolsError as e:
                ragged = _ragged_line(src)
                if ragged is not None:
                    line, name, got, want = ragged
                    raise InputFileError(f"record '{name}' has lines of unequal width ({got} bp here, {want} bp "
                                         "above): an indexed FASTA needs one width per record",
                                         path=self.path, line=line,
                                         fix="reformat with 'seqkit seq -w 60' or 'samtools faidx --length 60'") from None
                detail = " ".join(str(e).replace("\\n", " ").split())
                raise InputFileError(f"cannot index FASTA ({detail[:200]})", path=self.path,
                                     fix="re-create the file, or recompress it with bgzip") from None
        try:
            return pysam.FastaFile(str(src), filepath_index=str(fai),
                                   filepath_index_compressed=str(gzi) if gzi else None)
        except (OSError, ValueError) as e:
            raise InputFileError(f"cannot open FASTA ({e})", path=self.path,
                                 fix="delete the .fai/.gzi next to it so they are rebuilt") from None

    @staticmethod
    def _bgzip_copy(src: Path) -> Path:
        dest = cache_dir("bgzip", fingerprint(src)) / src.name
        if dest.exists():
            return dest
        try:
            with atomic_path(dest) as tmp:
                with gzip.open(src, "rb") as fin, pysam.BGZFile(str(tmp), "wb") as fout:
                    for block in iter(lambda: fin.read(1 << 22), b""):
                        fout.write(block)
        except (EOFError, OSError) as e:
            raise InputFileError(f"truncated or corrupt gzip FASTA ({e})", path=src,
                                 fix="re-download the file or compress it with bgzip") from None
        return dest

    # ------------------------------------------------------------ names
    @property
    def unknown_sequences(self) -> list[str]:
        """FASTA sequences whose names the card does not know."""
        return list(self._unknown)

    def file_name(self, chrom: str) -> str:
        """The FASTA's own name for a chromosome given in any spelling."""
        canon = self.card.canonical(chrom)
        try:
            return self._to_file[canon]
        except KeyError:
            raise ChromosomeError(f"chromosome '{chrom}' ({canon}) is in the card but not in the FASTA",
                                  path=self.path, fix="check that the FASTA is the whole assembly") from None

    def chromosomes(self, *, nuclear_only: bool = True) -> list[str]:
        """Canonical names present in the FASTA, in card order; organelles excluded by default."""
        return [c.name for c in self.card.chromosomes
                if c.name in self._to_file and (c.nuclear or not nuclear_only)]

    def length(self, chrom: str) -> int:
        return self.file_lengths[self.file_name(chrom)]

    def lengths(self, *, nuclear_only: bool = True) -> dict[str, int]:
        return {c: self.length(c) for c in self.chromosomes(nuclear_only=nuclear_only)}

    # ------------------------------------------------------------ access
    def fetch(self, chrom: str, start: int = 0, end: int | None = None, strand: str = "+") -> str:
        """Sequence of ``chrom[start:end]`` (0-based, half-open), reverse-complemented on '-'.

        Case is kept (soft-mask); IUPAC codes follow the card's policy.
        """
        fname = self.file_name(chrom)
        n = self.file_lengths[fname]
        end = n if end is None else end
        if start < 0 or end > n or start > end:
            raise IndexError(f"{chrom}:{start}-{end} is outside {chrom} (length {n:,}) in {self.path}")
        seq = self._fa.fetch(fname, start, end)
        seq = self._apply_policy(seq, chrom, start)
        return sq.reverse_complement(seq) if strand == "-" else seq

    def fetch_padded(self, chrom: str, start: int, end: int, strand: str = "+") -> str:
        """Like ``fetch`` but pads with N beyond the chromosome ends (for windows at telomeres)."""
        n = self.length(chrom)
        left, right = max(0, -start), max(0, end - n)
        core = self.fetch(chrom, max(0, start), min(n, end))
        seq = "N" * left + core + "N" * right
        return sq.reverse_complement(seq) if strand == "-" else seq

    def _apply_policy(self, seq: str, chrom: str, start: int) -> str:
        b = sq.as_bytes(seq)
        bad = sq.invalid_positions(b)
        if bad.size:
            pos = start + int(bad[0])
            raise SequenceError(f"non-IUPAC character '{seq[bad[0]]}' at {chrom}:{pos + 1}", path=self.path,
                                fix="the FASTA is corrupt or not DNA; only IUPAC nucleotide codes are allowed")
        if self.card.iupac == "keep":
            return seq
        amb = sq.ambiguous_positions(b)
        if not amb.size:
            return seq
        if self.card.iupac == "reject":
            pos = start + int(amb[0])
            raise SequenceError(f"ambiguity code '{seq[amb[0]]}' at {chrom}:{pos + 1} and the card's policy is "
                                f"'reject'", path=self.path, fix="set genome.iupac to 'to_n' or 'keep' in the card")
        return sq.ambiguity_to_n(seq)

    def iter_chunks(self, chrom: str, chunk: int = 1 << 22) -> Iterator[tuple[int, str]]:
        """(start, sequence) chunks over one chromosome: memory bounded by ``chunk``."""
        n = self.length(chrom)
        for s in range(0, n, chunk):
            yield s, self.fetch(chrom, s, min(n, s + chunk))

    # ------------------------------------------------------------ summaries
    def stats(self, chrom: str) -> SequenceStats:
        total = n_bases = lower = gc = definite = 0
        for _, seq in self.iter_chunks(chrom):
            b = sq.as_bytes(seq)
            total += b.size
            n_bases += int((sq.CODE[b] == 4).sum())
            lower += int(sq.LOWER[b].sum())
            gc += int(sq.GC[b].sum())
            definite += int(sq.DEFINITE[b].sum())
        c = self.card.chromosome(chrom)
        return SequenceStats(c.name, self.file_name(chrom), total, n_bases / max(total, 1), lower / max(total, 1),
                             gc / definite if definite else float("nan"), c.subgenome, c.organelle)

    def close(self) -> None:
        self._fa.close()

    def __enter__(self) -> "Genome":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_fasta_lengths(path: str | Path) -> list[tuple[str, str, int]]:
    """(name, description, length) of every record, through a faidx index (for ``species init``)."""
    from plantllm.species.card import SpeciesCard, Chromosome  # local: a card-less view of a FASTA

    p = require_file(Path(path), "FASTA")
    heads = _scan_headers(p)
    dummy = SpeciesCard(name="_scan", assembly="_scan", ploidy=2,
                        chromosomes=[Chromosome(n, 1) for n, _, _ in heads], iupac="keep")
    g = Genome(dummy, p)
    try:
        return [(n, d, g.file_lengths[n]) for n, d, _ in heads]
    finally:
        g.close()

