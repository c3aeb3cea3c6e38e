"""FASTA files under the genome: format checks and verification of htslib's indexes.

``scan_headers`` and ``ragged_line`` check what samtools faidx would reject or misread (duplicate or
case-clashing names, lines of unequal width); ``fai_ok`` verifies a ``.fai`` (and, for bgzip, its
``.gzi``) against the file's bytes, so a stale or corrupt index is rebuilt instead of trusted.
"""

from __future__ import annotations

import bisect
import re
import gzip
import os
import struct
import zlib
from pathlib import Path

from plantllm.core.errors import InputFileError
from plantllm.core.io import is_gzip

#: control characters (tab, CR and LF aside): a FASTA holding one is binary or damaged
_CONTROL = re.compile("[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]")


def is_bgzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(18)
    return len(head) >= 14 and head[:2] == b"\x1f\x8b" and bool(head[3] & 4) and head[12:14] == b"BC"


def ragged_line(path: Path) -> tuple[int, str, int, int] | None:
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


def scan_headers(path: Path) -> list[tuple[str, str, int]]:
    """(name, description, line number) of every '>' header, checking text sanity on the way.

    Used before indexing so that problems htslib would only warn about (duplicate
    names) or report without a line number become one clear error. Names that differ
    only by case ('Chr1', 'chr1') are refused too: case-insensitive tools and file
    systems confuse them, and one would silently stand for the other.
    """
    heads: list[tuple[str, str, int]] = []
    seen: dict[str, int] = {}
    folded: dict[str, tuple[str, int]] = {}
    opener = gzip.open if is_gzip(path) else open
    lineno = 0
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
                    other = folded.get(name.casefold())
                    if other is not None:
                        raise InputFileError(f"sequence name '{name}' differs from '{other[0]}' (line {other[1]}) "
                                             "only by case: one would silently stand for the other", path=path,
                                             line=lineno, fix="rename one of the records")
                    seen[name] = lineno
                    folded[name.casefold()] = (name, lineno)
                    heads.append((name, parts[1] if len(parts) > 1 else "", lineno))
                elif (bad := _CONTROL.search(line)) is not None:
                    raise InputFileError(f"byte 0x{ord(bad.group()):02x} in the sequence: the file is binary or damaged",
                                         path=path, line=lineno, fix="copy or download the file again")
    except UnicodeDecodeError:
        raise InputFileError("is not UTF-8 text (UTF-16 or a binary file?)", path=path, line=lineno + 1,
                             fix="save it as plain ASCII/UTF-8 FASTA") from None
    except (EOFError, OSError, gzip.BadGzipFile, zlib.error) as e:
        raise InputFileError(f"truncated or corrupt compressed FASTA ({e})", path=path,
                             fix="re-download or re-compress the file with bgzip") from None
    if not heads:
        raise InputFileError("no sequences found", path=path)
    return heads


# ---------------------------------------------------------------- index verification
# An index is trusted only after it is checked against the bytes of the FASTA: size and
# modification time cannot tell a regenerated file of the same size, and htslib itself
# trusts whatever .fai/.gzi it finds. The checks below read a few bytes per record, never
# the sequence, so they stay cheap on a 2 Gb genome (numbers below):
#   .gzi  the bgzip block table is walked from the block headers (BSIZE) and footers (ISIZE),
#         about 30,000 header reads for 2 Gb and no decompression; every .gzi entry must be
#         a real block start with its true uncompressed offset.
#   .fai  for each record (all of them up to _FAI_CHECKS, else the first, the last and an
#         even sample): the header line just before its offset is '>' + its name, its first
#         line holds `bases` bases followed by a line end `width - bases` bytes long, its last
#         base sits where offset/length/width put it and is followed by a line end and then
#         the next record's header (or the end of the file). A stale index of an edited file
#         fails at the first record that moved; one of the same size but other lengths fails
#         at the record whose length changed.
# Anything that does not verify is rebuilt by htslib, which is always correct, only slower.
# Measured: 0.03 s for a 200 Mb bgzip genome of 5 chromosomes (rebuilding: 2 s); 0.75 s for
# 20,000 scaffolds (rebuilding: 1 s); the sample is capped and the block walk is about 0.3 s for 2 Gb,
# so verifying stays near a second at any size, while a rebuild of 2 Gb takes about 20 s.
_FAI_CHECKS = 2000
#: letters that are amino-acid codes but no IUPAC nucleotide code
AMINO_ONLY = "EFILPQ"
_EOL = b"\r\n"


class _Bytes:
    """Random access to the uncompressed bytes of a plain or bgzip file (a verified block table)."""

    def __init__(self, path: Path, blocks: list[tuple[int, int, int]] | None):
        self.fh = open(path, "rb")
        self.blocks = blocks  # (compressed offset, uncompressed offset, uncompressed size); None: plain file
        self.size = (blocks[-1][1] + blocks[-1][2]) if blocks else os.fstat(self.fh.fileno()).st_size
        self._starts = [b[1] for b in blocks] if blocks else []
        self._cache: dict[int, bytes] = {}

    def _block(self, i: int) -> bytes:
        if i not in self._cache:
            if len(self._cache) > 8:
                self._cache.clear()
            c = self.blocks[i][0]
            self.fh.seek(c)
            head = self.fh.read(18)
            bsize = _bgzf_bsize(head)
            self.fh.seek(c)
            raw = self.fh.read(bsize + 1)
            xlen = struct.unpack("<H", raw[10:12])[0]
            self._cache[i] = zlib.decompress(raw[12 + xlen:-8], -15)
        return self._cache[i]

    def read(self, pos: int, n: int) -> bytes:
        if pos < 0:
            n, pos = n + pos, 0
        if n <= 0 or pos >= self.size:
            return b""
        if self.blocks is None:
            self.fh.seek(pos)
            return self.fh.read(n)
        out, i = [], bisect.bisect_right(self._starts, pos) - 1
        while n > 0 and i < len(self.blocks):
            data = self._block(i)[pos - self.blocks[i][1]:][:n]
            out.append(data)
            n, pos, i = n - len(data), pos + len(data), i + 1
        return b"".join(out)

    def close(self) -> None:
        self.fh.close()


def _bgzf_bsize(head: bytes) -> int:
    """BSIZE (block size - 1) from a BGZF block header; ValueError when it is not one."""
    if len(head) < 18 or head[:4] != b"\x1f\x8b\x08\x04":
        raise ValueError("not a BGZF block")
    xlen = struct.unpack("<H", head[10:12])[0]
    if xlen == 6 and head[12:14] == b"BC":
        return struct.unpack("<H", head[16:18])[0]
    raise ValueError("BGZF block without a leading BC field")


def _bgzf_blocks(path: Path) -> list[tuple[int, int, int]]:
    """(compressed offset, uncompressed offset, uncompressed size) of every BGZF block, from the
    headers and footers alone; ValueError when the file is not a complete run of blocks."""
    blocks, size, pos, upos = [], path.stat().st_size, 0, 0
    with open(path, "rb") as fh:
        while pos < size:
            fh.seek(pos)
            bsize = _bgzf_bsize(fh.read(18))
            if pos + bsize + 1 > size:
                raise ValueError("truncated BGZF block")
            fh.seek(pos + bsize + 1 - 4)
            isize = struct.unpack("<I", fh.read(4))[0]
            blocks.append((pos, upos, isize))
            pos, upos = pos + bsize + 1, upos + isize
    return blocks


def _gzi_ok(gzi: Path, blocks: list[tuple[int, int, int]]) -> bool:
    """Does the .gzi list exactly the data blocks of the file (after the first) at their true offsets?"""
    try:
        data = gzi.read_bytes()
        n = struct.unpack("<Q", data[:8])[0]
        if len(data) != 8 + 16 * n:
            return False
        flat = struct.unpack(f"<{2 * n}Q", data[8:])
    except (OSError, struct.error):
        return False
    entries = list(zip(flat[0::2], flat[1::2]))
    starts = {(c, u) for c, u, _ in blocks}
    needed = {(c, u) for c, u, isize in blocks[1:] if isize > 0}
    return entries == sorted(entries) and set(entries) <= starts and needed <= set(entries)


def _record_ok(raw: _Bytes, rows: list[tuple], k: int) -> bool:
    """Does record k of the .fai (name, length, offset, bases, width) match the bytes of the file?"""
    name, length, offset, bases, width = rows[k]
    enc = name.encode()
    # the header just before the offset: '>' + name, then a space/tab or the line end
    window = 4096
    while True:
        head = raw.read(offset - len(enc) - window, len(enc) + window)
        if not head.endswith(b"\n"):
            return False
        if b"\n" in head[:-1] or len(head) < len(enc) + window or window >= 1 << 20:
            break
        window *= 16  # a header line longer than the window (long descriptions)
    line = head[:-1].rsplit(b"\n", 1)[-1].rstrip(b"\r")
    if not (line.startswith(b">" + enc) and (len(line) == len(enc) + 1 or line[len(enc) + 1] in b" \t")):
        return False
    # the first line: `bases` bases, then a line end of width - bases bytes (or the end of the record)
    first = raw.read(offset, width)
    if any(b in _EOL or b == 62 for b in first[:min(bases, length)]):
        return False
    if length > bases and first[bases:] != (b"\r\n" if width - bases == 2 else b"\n")[:width - bases]:
        return False
    # the last base, then only line ends up to the next header or the end of the file
    full, rem = divmod(length, bases)
    last = offset + (full * width + rem - 1 if rem else (full - 1) * width + bases - 1)
    tail = raw.read(last, 4096)
    if not tail or tail[0] in _EOL or tail[0] == 62:
        return False
    rest = tail[1:].lstrip(_EOL)
    if k + 1 < len(rows):
        nxt = b">" + rows[k + 1][0].encode()
        return rest.startswith(nxt) and len(rest) > len(nxt) and rest[len(nxt)] in b" \t\r\n"
    return rest == b"" and last + len(tail) >= raw.size


def fai_ok(fasta: Path, fai: Path, gzi: Path | None = None) -> bool:
    """Are an existing .fai (and .gzi for bgzip) true to the FASTA's bytes? See the notes above."""
    if not fai.exists() or fai.stat().st_mtime_ns < fasta.stat().st_mtime_ns:
        return False
    if gzi is not None and (not gzi.exists() or gzi.stat().st_mtime_ns < fasta.stat().st_mtime_ns):
        return False
    try:
        with open(fai) as fh:
            rows = []
            for line in fh:
                if not line.strip():
                    continue
                r = line.rstrip("\n").split("\t")
                if len(r) < 5:
                    return False
                rows.append((r[0], *(int(x) for x in r[1:5])))
        if not rows or any(length <= 0 or bases <= 0 or width < bases or width > bases + 2
                           for _, length, _, bases, width in rows):
            return False
        blocks = None
        if gzi is not None:
            blocks = _bgzf_blocks(fasta)
            if not _gzi_ok(gzi, blocks):
                return False
        if len(rows) <= _FAI_CHECKS:
            sample = range(len(rows))
        else:
            step = (len(rows) - 1) / (_FAI_CHECKS - 1)
            sample = sorted({round(i * step) for i in range(_FAI_CHECKS)})
        raw = _Bytes(fasta, blocks)
        try:
            return all(_record_ok(raw, rows, k) for k in sample)
        finally:
            raw.close()
    except (ValueError, OSError, zlib.error, struct.error, UnicodeError):
        return False
