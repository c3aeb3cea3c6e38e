"""One transcript's coordinate systems, built once per transcript and cached: genome <-> cDNA <-> CDS,
exon/intron ranks, splice sites and regions (SnpEff's sizes), the spliced CDS sequence, and HGVS
positions (``c.123``, ``c.-45``, ``c.*12``, ``c.88+3``, ``n.17``).

Positions are 0-based genomic; everything "in transcript order" runs 5'->3' on the transcript's strand.
"""

from __future__ import annotations

from bisect import bisect_right
from functools import cached_property

from plantllm.core.sequence import reverse_complement
from plantllm.species.annotation import Transcript

#: SnpEff 5.1 defaults: splice site 2 intronic bases; splice region 3 exonic, intronic bases 3..8
SPLICE_SITE, REGION_EXON, REGION_INTRON = 2, 3, (3, 8)


class TxModel:
    """Coordinates of one transcript (``cds`` may include a GTF ``stop_codon`` the Transcript lacks)."""

    def __init__(self, t: Transcript, genome, cds: tuple[tuple[int, int], ...] | None = None):
        self.t, self.genome = t, genome
        self.minus = t.strand == "-"
        self.cds = tuple(cds if cds is not None else t.cds)
        self.exons = list(t.exons)  # genome order
        self.tx_exons = self.exons[::-1] if self.minus else self.exons  # transcript order
        off, self.offset = 0, []
        for s, e in self.tx_exons:
            self.offset.append(off)
            off += e - s
        self.cdna_len = off
        self.starts = [s for s, _ in self.exons]
        self.introns = [(a[1], b[0]) for a, b in zip(self.exons, self.exons[1:]) if b[0] > a[1]]
        self.coding = bool(self.cds)
        self.last_snv: tuple | None = None  # coding.snv_coding: the codon of the last SNV site, for its other ALTs
        self.last_pos: tuple = (None, "")  # hgvs_pos: the last base asked for and its position
        self.last_cdna: tuple = (None, None)  # cdna: the last base asked for and its cDNA position
        if self.coding:
            cs, ce = self.cds[0][0], self.cds[-1][1]
            first, last = (ce - 1, cs) if self.minus else (cs, ce - 1)
            self.cds_start_cdna = self.cdna(first)  # 1-based cDNA positions of the first and last CDS bases
            self.cds_end_cdna = self.cdna(last)
            self.cds_len = sum(e - s for s, e in self.cds)

    # ------------------------------------------------------------ genome -> transcript
    def exon_index(self, g: int) -> int:
        """Index (genome order) of the exon holding ``g``, -1 when none."""
        i = bisect_right(self.starts, g) - 1
        return i if i >= 0 and g < self.exons[i][1] else -1

    def exon_rank(self, i_genome: int) -> int:
        return len(self.exons) - i_genome if self.minus else i_genome + 1

    def cdna(self, g: int) -> int | None:
        """1-based cDNA position of genomic base ``g`` (None outside the exons); the last one is kept (a site's
        region, CDS index and positions all ask for it)."""
        if self.last_cdna[0] == g:
            return self.last_cdna[1]
        i = self.exon_index(g)
        if i < 0:
            c = None
        else:
            s, e = self.exons[i]
            k = len(self.exons) - 1 - i if self.minus else i
            c = self.offset[k] + ((e - 1 - g) if self.minus else (g - s)) + 1
        self.last_cdna = (g, c)
        return c

    def cds_index(self, g: int) -> int | None:
        """0-based CDS index of ``g`` (None outside the CDS)."""
        if not self.coding:
            return None
        c = self.cdna(g)
        if c is None or not self.cds_start_cdna <= c <= self.cds_end_cdna:
            return None
        return c - self.cds_start_cdna

    @cached_property
    def cds_seq(self) -> str:
        parts = [self.genome.fetch(self.t.chrom, s, e).upper() for s, e in self.cds]
        seq = "".join(parts)
        return reverse_complement(seq) if self.minus else seq

    @cached_property
    def utr5_seq(self) -> str:
        """The spliced 5' UTR in transcript order (SnpEff's start-gained check reads it)."""
        if not self.coding:
            return ""
        cs, ce = self.cds[0][0], self.cds[-1][1]
        parts = [(max(s, ce), e) for s, e in self.exons if e > ce] if self.minus else \
            [(s, min(e, cs)) for s, e in self.exons if s < cs]
        seq = "".join(self.genome.fetch(self.t.chrom, s, e).upper() for s, e in parts if e > s)
        return reverse_complement(seq) if self.minus else seq

    # ------------------------------------------------------------ regions
    def region(self, g: int) -> str:
        """'utr5', 'cds', 'utr3' or 'exon' (non-coding) for an exonic base."""
        if not self.coding:
            return "exon"
        c = self.cdna(g)
        return "utr5" if c < self.cds_start_cdna else "utr3" if c > self.cds_end_cdna else "cds"

    @cached_property
    def splice(self) -> list[tuple[str, int, int, int]]:
        """(kind, start, end, rank) of every splice donor/acceptor site and splice region, as SnpEff 5.1 makes
        them: exon side, 3 bases at the 5' start of every exon but the first and at the 3' end of every exon
        (the last one's too: SnpEff tests the exon's length where it meant the exon count); intron side, the
        2-base donor and acceptor and bases 3..8 from both ends."""
        out = []
        n = len(self.introns)
        for i, (s, e) in enumerate(self.tx_exons):
            rank = i + 1
            k = min(REGION_EXON, e - s)
            five, three = ((e - k, e), (s, s + k)) if self.minus else ((s, s + k), (e - k, e))
            if i > 0:
                out.append(("region", *five, rank))
            if i < (e - s) - 1:
                out.append(("region", *three, rank))
        for j, (a, b) in enumerate(self.introns):
            rank = n - j if self.minus else j + 1
            size = b - a
            k = min(SPLICE_SITE, size)
            left, right = ("acceptor", "donor") if self.minus else ("donor", "acceptor")
            out += [(left, a, a + k, rank), (right, b - k, b, rank)]
            lo, hi = REGION_INTRON
            hi = min(hi, size)
            if hi > lo - 1:
                out += [("region", a + lo - 1, a + hi, rank), ("region", b - hi, b - lo + 1, rank)]
        return out

    @cached_property
    def exon_ends(self) -> list[int]:
        return sorted(x for ab in self.exons for x in ab)

    def near_junction(self, hs: int, he: int) -> bool:
        """Whether [hs, he) comes within 10 bases of an exon-intron junction (splice sites reach 8)."""
        j = bisect_right(self.exon_ends, hs - 10)
        return j < len(self.exon_ends) and self.exon_ends[j] < he + 10

    @cached_property
    def junctions(self) -> list[int]:
        return sorted(x for ab in self.introns for x in ab)

    def intron_at(self, g: int) -> int:
        """Index (genome order) of the intron holding ``g``, -1 when none."""
        for j, (a, b) in enumerate(self.introns):
            if a <= g < b:
                return j
        return -1

    def intron_rank(self, j: int) -> int:
        return len(self.introns) - j if self.minus else j + 1

    # ------------------------------------------------------------ HGVS
    def _exonic(self, c: int) -> str:
        if not self.coding:
            return str(c)
        if c < self.cds_start_cdna:
            return f"-{self.cds_start_cdna - c}"
        if c > self.cds_end_cdna:
            return f"*{c - self.cds_end_cdna}"
        return str(c - self.cds_start_cdna + 1)

    def hgvs_pos(self, g: int) -> str:
        """HGVS position of one genomic base (exonic, intronic +/- offset, or beyond the transcript); the last one
        is kept (the ALTs of a site ask for it in a row)."""
        if self.last_pos[0] == g:
            return self.last_pos[1]
        got = self._hgvs_pos(g)
        self.last_pos = (g, got)
        return got

    def _hgvs_pos(self, g: int) -> str:
        c = self.cdna(g)
        if c is not None:
            return self._exonic(c)
        t = self.t
        if g < t.start or g >= t.end:  # up/downstream: counted from the transcript's ends
            before = (g >= t.end) if self.minus else (g < t.start)
            d = (g - t.end + 1) if g >= t.end else (t.start - g)
            if before:
                return f"-{d + (self.cds_start_cdna - 1 if self.coding else 0)}"
            return f"*{d + (self.cdna_len - self.cds_end_cdna if self.coding else 0)}" if self.coding else \
                f"*{d}"
        j = self.intron_at(g)
        a, b = self.introns[j]
        up, down = g - a + 1, b - g  # distance to the exon on the left / right (genome)
        left, right = self.cdna(a - 1), self.cdna(b)
        if self.minus:  # transcript 5' side is the right exon
            return f"{self._exonic(right)}+{down}" if down <= up else f"{self._exonic(left)}-{up}"
        return f"{self._exonic(left)}+{up}" if up <= down else f"{self._exonic(right)}-{down}"

    def hgvs_c(self, s: int, e: int, ref: str, alt: str) -> str:
        """HGVS c./n. of a trimmed change: substitution (s, s+1), MNV, deletion [s, e), insertion at s (e == s)."""
        pre = "c." if self.coding else "n."
        r, a = (reverse_complement(ref), reverse_complement(alt)) if self.minus else (ref, alt)
        if e == s:  # insertion between s-1 and s
            x, y = self.hgvs_pos(s - 1), self.hgvs_pos(s)
            if self.minus:
                x, y = y, x
            k = len(a)
            prev = self.genome.fetch(self.t.chrom, s - k, s).upper() if not self.minus else \
                self.genome.fetch(self.t.chrom, s, s + k).upper()
            if (reverse_complement(prev) if self.minus else prev) == a:  # a duplication of the bases before it
                lo, hi = (s, s + k - 1) if self.minus else (s - k, s - 1)
                p1, p2 = self.hgvs_pos(lo), self.hgvs_pos(hi)
                if self.minus:
                    p1, p2 = p2, p1
                return f"{pre}{p1}dup{a}" if k == 1 else f"{pre}{p1}_{p2}dup{a}"
            return f"{pre}{x}_{y}ins{a}"
        p1, p2 = self.hgvs_pos(s), self.hgvs_pos(e - 1)
        if self.minus:
            p1, p2 = p2, p1
        span = p1 if e - s == 1 else f"{p1}_{p2}"
        if not alt:
            return f"{pre}{span}del{r}"
        if len(ref) == 1 and len(alt) == 1:
            return f"{pre}{p1}{r}>{a}"
        return f"{pre}{span}del{r}ins{a}"


class Blocks:
    """Upper-case genome sequence served from 1 Mb blocks (a sorted VCF reads each block once): the
    annotation reads a few bases per transcript and variant, and one genome read costs ~100 us."""

    SIZE = 1 << 20

    def __init__(self, genome):
        self.genome, self.blocks = genome, {}

    def fetch(self, chrom: str, start: int, end: int) -> str:
        start = max(0, start)
        b0, b1 = start // self.SIZE, max(start, end - 1) // self.SIZE
        parts = []
        for b in range(b0, b1 + 1):
            blk = self.blocks.get((chrom, b))
            if blk is None:
                if len(self.blocks) >= 40:  # at most 40 MB of sequence
                    self.blocks.pop(next(iter(self.blocks)))
                n = self.genome.length(chrom)
                blk = self.blocks[(chrom, b)] = self.genome.fetch(chrom, b * self.SIZE,
                                                                  min(n, (b + 1) * self.SIZE)).upper()
            parts.append(blk)
        off = b0 * self.SIZE
        return "".join(parts)[start - off:end - off] if len(parts) > 1 else parts[0][start - off:end - off]
