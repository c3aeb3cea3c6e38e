"""Genome: random access to a species' FASTA (plain, gzip or bgzip) by canonical names.

Built on htslib's faidx through pysam: it indexes plain and bgzip FASTA (.fai, and
.gzi for bgzip) and fetches any interval without reading the chromosome. A plain
gzip file cannot be indexed, so it is recompressed once to bgzip in the cache.

Coordinates are 0-based, half-open everywhere in this module.
Case is kept: lowercase is the assembly's soft-mask (repeats).
"""

from __future__ import annotations

import contextlib
import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pysam

from plantllm.core import sequence as sq
from plantllm.core.cache import cache_dir, writable_dir
from plantllm.core.errors import ChromosomeError, InputFileError, SequenceError
from plantllm.core.io import atomic_path, fingerprint, is_gzip, require_file
from plantllm.species.card import SpeciesCard
from plantllm.species.fasta_index import AMINO_ONLY, fai_ok, is_bgzip, ragged_line, scan_headers

#: deletes the plain bases: a sequence it leaves empty needs no IUPAC check (a short one: numpy costs more)
_PLAIN = str.maketrans("", "", "ACGTNacgtn")


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
        if len({n.casefold() for n in self.file_names}) < len(self.file_names):
            scan_headers(self.path)  # an index made elsewhere (samtools) keeps names alike but for case
        self._check_nucleotide()
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
        if not fai_ok(src, fai, gzi):
            scan_headers(src)
            try:
                # Built under temporary names and renamed: a reader never sees a half-written index,
                # and a stale one is replaced only by a complete new one.
                with contextlib.ExitStack() as stack:
                    tmp_fai = stack.enter_context(atomic_path(fai))
                    tmp_gzi = stack.enter_context(atomic_path(gzi)) if gzi else None
                    pysam.faidx(str(src), "--fai-idx", str(tmp_fai), *(["--gzi-idx", str(tmp_gzi)] if gzi else []))
            except pysam.SamtoolsError as e:
                ragged = ragged_line(src)
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

    def _check_nucleotide(self, records: int = 20, sample: int = 2000) -> None:
        """Refuse a protein FASTA given as a genome.

        The first bases of the first records are read (a few kilobytes, whatever the genome's
        size): in DNA, letters outside the IUPAC nucleotide codes are absent, while E, F, I, L,
        P and Q make up about a third of any protein. A record where they are over a tenth of
        the letters is protein; a stray bad character in DNA stays below that and is reported
        by position when read (``non-IUPAC character``).
        """
        for name, n in list(zip(self.file_names, self._fa.lengths))[:records]:
            head = self._fa.fetch(name, 0, min(n, sample)).upper()
            letters = sum(ch.isalpha() for ch in head)
            amino = sum(head.count(ch) for ch in AMINO_ONLY)
            if letters and amino > 0.1 * letters:
                raise InputFileError(
                    f"record '{name}' looks like protein, not DNA ({amino} of its first {letters} letters are "
                    f"amino-acid codes such as {', '.join(sorted({c for c in head if c in AMINO_ONLY})[:6])})",
                    path=self.path, fix="give the assembly's genomic (nucleotide) FASTA, e.g. *_genomic.fna, "
                                        "not the protein FASTA")

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
        except (EOFError, OSError, zlib.error) as e:
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
        try:
            seq = self._fa.fetch(fname, start, end)
        except (OSError, ValueError) as e:  # htslib cannot read the bytes (pysam raises FileNotFoundError too)
            raise InputFileError(f"cannot read {fname}:{start + 1}-{end} ({e}): the file is damaged", path=self.path,
                                 fix="copy or download the file again") from None
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
        if len(seq) < 4096 and not seq.translate(_PLAIN):  # only A/C/G/T/N (a REF check, a window): nothing to do
            return seq
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
    heads = scan_headers(p)
    dummy = SpeciesCard(name="_scan", assembly="_scan", ploidy=2,
                        chromosomes=[Chromosome(n, 1) for n, _, _ in heads], iupac="keep")
    g = Genome(dummy, p)
    try:
        return [(n, d, g.file_lengths[n]) for n, d, _ in heads]
    finally:
        g.close()

