"""Variant consequences from the species annotation, in the spirit of SnpEff / Ensembl VEP.

For each variant every overlapping or nearby transcript is examined and the most severe
consequence is kept, with its gene and transcript. Coding changes are computed from the
spliced CDS and the genome (standard nuclear genetic code, Biopython), so missense,
synonymous, stop gained/lost and start lost are real amino-acid consequences, not
region labels. Terms are Sequence Ontology names.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from plantllm.core.intervals import IntervalIndex

from plantllm.species.assembly import Assembly
from plantllm.species.annotation import Transcript

#: most severe first (SnpEff / VEP impact order)
SEVERITY = (
    "stop_gained", "frameshift_variant", "splice_acceptor_variant", "splice_donor_variant", "start_lost",
    "stop_lost", "inframe_indel", "missense_variant", "splice_region_variant", "synonymous_variant",
    "stop_retained_variant", "5_prime_UTR_variant", "3_prime_UTR_variant", "non_coding_exon_variant",
    "upstream_gene_variant", "intron_variant", "downstream_gene_variant", "intergenic_variant",
)
RANK = {c: i for i, c in enumerate(SEVERITY)}
_COMP = str.maketrans("ACGTN", "TGCAN")


@dataclass(frozen=True)
class Consequence:
    term: str
    gene: str = ""
    transcript: str = ""
    codon_change: str = ""  # e.g. Gcc/Acc
    aa_change: str = ""  # e.g. A123T
    distance_to_tss: int = -1  # bases between the variant and the transcript's TSS (strand-aware sign: - upstream)


def translate(codon: str) -> str:
    """Amino acid of one codon by the standard genetic code (Biopython's table, looked up once)."""
    return _code().get(codon) or ("*" if codon in _STOPS else "X")


_CODE: dict[str, str] = {}
_STOPS: set[str] = set()


def _code() -> dict[str, str]:
    if not _CODE:
        from Bio.Data.CodonTable import standard_dna_table

        _CODE.update(standard_dna_table.forward_table)
        _STOPS.update(standard_dna_table.stop_codons)
    return _CODE


class ConsequenceAnnotator:
    """Consequences for variants of one assembly (build once, query many)."""

    def __init__(self, asm: Assembly):
        self.asm = asm
        self.card = asm.card
        self.tx: dict[str, list[Transcript]] = {}
        for t in asm.annotation.transcripts:
            self.tx.setdefault(t.chrom, []).append(t)
        self.loci = {t.id: g.locus for g in asm.annotation.genes for t in g.transcripts}
        pad = max(self.card.promoter_upstream, self.card.downstream)
        for ts in self.tx.values():
            ts.sort(key=lambda t: t.start)
        # each transcript with its upstream/downstream reach, in the one interval index
        self._flat = [t for ts in self.tx.values() for t in ts]
        self.index = IntervalIndex((t.chrom, t.start - pad, t.end + pad) for t in self._flat)
        self._intron_cache: dict[str, list[tuple[int, int]]] = {}

    @cached_property
    def _cds_index(self) -> dict[str, np.ndarray]:
        """Transcript id -> genomic positions of its CDS in transcript (5'->3') order."""
        out = {}
        for ts in self.tx.values():
            for t in ts:
                if t.cds:
                    pos = np.concatenate([np.arange(s, e) for s, e in t.cds])
                    out[t.id] = pos[::-1] if t.strand == "-" else pos
        return out

    def nearby(self, chrom: str, pos: int) -> list[Transcript]:
        return [self._flat[i] for i in sorted(self.index.containing(chrom, pos).tolist())]

    def annotate(self, chrom: str, pos: int, ref: str, alt: str) -> Consequence:
        """Most severe consequence of REF>ALT at 0-based ``pos`` over all transcripts."""
        best = Consequence("intergenic_variant")
        for t in self.nearby(chrom, pos):
            c = self._one(t, chrom, pos, ref, alt)
            if RANK[c.term] < RANK[best.term]:
                best = c
        return best

    def _one(self, t: Transcript, chrom: str, pos: int, ref: str, alt: str) -> Consequence:
        gene = self.loci.get(t.id, t.gene_id)
        end = pos + len(ref)
        dist = (pos - t.tss) if t.strand != "-" else (t.tss - pos)
        mk = lambda term, **kw: Consequence(term, gene, t.id, distance_to_tss=dist, **kw)  # noqa: E731
        if end <= t.start or pos >= t.end:
            upstream = (t.strand != "-" and end <= t.start) or (t.strand == "-" and pos >= t.end)
            d = t.start - end + 1 if end <= t.start else pos - t.end + 1
            if upstream and d <= self.card.promoter_upstream:
                return mk("upstream_gene_variant")
            if not upstream and d <= self.card.downstream:
                return mk("downstream_gene_variant")
            return Consequence("intergenic_variant")
        introns = self._introns(t)
        # splice sites: 2 intronic bases at each exon junction
        for a, b in introns:
            donor, acceptor = ((a, a + 2), (b - 2, b)) if t.strand != "-" else ((b - 2, b), (a, a + 2))
            if pos < donor[1] and end > donor[0]:
                return mk("splice_donor_variant")
            if pos < acceptor[1] and end > acceptor[0]:
                return mk("splice_acceptor_variant")
        in_exon = any(pos < e and end > s for s, e in t.exons)
        if not in_exon:
            near = any(min(abs(pos - a), abs(pos - b)) <= 8 for a, b in introns)
            return mk("splice_region_variant" if near else "intron_variant")
        if not t.cds:
            return mk("non_coding_exon_variant")
        cs, ce = t.cds[0][0], t.cds[-1][1]
        if end <= cs or pos >= ce:
            five = (t.strand != "-" and end <= cs) or (t.strand == "-" and pos >= ce)
            return mk("5_prime_UTR_variant" if five else "3_prime_UTR_variant")
        if len(ref) != len(alt):
            return mk("frameshift_variant" if (len(alt) - len(ref)) % 3 else "inframe_indel")
        return self._coding_snv(t, chrom, pos, ref, alt, mk)

    def _introns(self, t: Transcript) -> list[tuple[int, int]]:
        got = self._intron_cache.get(t.id)
        if got is None:
            got = self._intron_cache[t.id] = t.introns()
        return got

    def _coding_snv(self, t: Transcript, chrom: str, pos: int, ref: str, alt: str, mk) -> Consequence:
        cds = self._cds_index[t.id]
        hits = np.flatnonzero(cds == pos)
        if not hits.size:  # inside the CDS span but in a UTR piece of an exon
            return mk("5_prime_UTR_variant")
        i = int(hits[0])
        k = i // 3 * 3
        if k + 3 > len(cds):
            return mk("missense_variant")  # incomplete last codon
        gpos = cds[k:k + 3]
        lo = int(gpos.min())  # one read of the codon's span (it may cross an intron)
        span = self.asm.genome.fetch(chrom, lo, int(gpos.max()) + 1).upper()
        bases = [span[int(p) - lo] for p in gpos]
        if t.strand == "-":
            bases = [b.translate(_COMP) for b in bases]
        codon = "".join(bases)
        a = alt[0] if t.strand != "-" else alt[0].translate(_COMP)
        new = list(codon)
        new[i - k] = a
        new = "".join(new)
        aa_ref, aa_alt = translate(codon), translate(new)
        change = "".join(ch.upper() if j == i - k else ch.lower() for j, ch in enumerate(codon)) + "/" + \
            "".join(ch.upper() if j == i - k else ch.lower() for j, ch in enumerate(new))
        aa = f"{aa_ref}{k // 3 + 1}{aa_alt}"
        if k == 0 and aa_ref == "M" and aa_alt != "M":
            term = "start_lost"
        elif aa_ref != "*" and aa_alt == "*":
            term = "stop_gained"
        elif aa_ref == "*" and aa_alt != "*":
            term = "stop_lost"
        elif aa_ref == "*" and aa_alt == "*":
            term = "stop_retained_variant"
        elif aa_ref == aa_alt:
            term = "synonymous_variant"
        else:
            term = "missense_variant"
        return mk(term, codon_change=change, aa_change=aa)

