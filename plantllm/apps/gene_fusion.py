"""SnpEff's gene-level entries of a deletion whose two ends lie in different genes (SnpEff 5.1 standard, both modes).

SnpEff treats a deletion of more than 10 bases as structural (``SnpEffectPredictor``:
``SMALL_VARIANT_SIZE_THRESHOLD = 10``) and, when its first deleted base lies in one gene and its last in
another (``VariantEffectStructural.fusions``: not the same gene, and not two overlapping genes that both
hold the whole deletion), writes one ``gene_fusion`` entry per gene pair (genes on the same strand;
``bidirectional_gene_fusion`` for opposite strands), HIGH impact, Feature_Type ``gene_variant``, Feature_ID
the gene of the first base, Gene_Name/Gene_ID both genes sorted by name and joined by '&', HGVS.c the genomic
``n.`` deletion on that gene's strand (``VariantEffectFusion``, ``VcfEffect.setGeneNameIdMultiple``). The
per-transcript entries (frameshift, exon loss...) are written as for any deletion. A gene's span is the union
of its transcripts (``Gene.adjust``). Measured against SnpEff 5.1 in benchmarks/snpeff_agreement.py
(class del_two_genes).
"""

from __future__ import annotations

from plantllm.apps.effects import AnnEntry
from plantllm.core.intervals import IntervalIndex
from plantllm.core.sequence import reverse_complement
from plantllm.species.annotation import locus_of

STRUCTURAL = 10  # SnpEff: a deletion longer than this is structural (fusions are looked for)


class GeneSpans:
    """Genes as SnpEff spans them (union of their transcripts), indexed by position."""

    def __init__(self, transcripts, gene_of: dict):
        spans: dict[tuple, list] = {}
        for t in transcripts:
            locus, name = gene_of.get(t.id, (locus_of(t.gene_id),) * 2)[:2]
            g = spans.get((t.chrom, locus))
            if g is None:
                spans[(t.chrom, locus)] = [t.chrom, t.start, t.end, t.strand, locus, name]
            else:
                g[1], g[2] = min(g[1], t.start), max(g[2], t.end)
        self.genes = list(spans.values())
        self.index = IntervalIndex((g[0], g[1], g[2]) for g in self.genes)
        # SnpEff keeps the sequence of overlapping genes merged into one segment (GenomicSequences.addGeneSequences)
        segs: list[list] = []
        for c, s, e in sorted((g[0], g[1], g[2]) for g in self.genes):
            if segs and segs[-1][0] == c and s < segs[-1][2]:
                segs[-1][2] = max(segs[-1][2], e)
            else:
                segs.append([c, s, e])
        self.segments = IntervalIndex((c, s, e) for c, s, e in segs)
        self._segs = segs

    def window(self, chrom: str, s: int, e: int) -> tuple[int, int] | None:
        """The merged gene segment holding all of [s, e): SnpEff realigns an indel 3' within it only
        (``VariantRealign.basesToAdd``: no sequence past it; none at all when the indel leaves it)."""
        for i in self.segments.containing(chrom, s).tolist():
            _, lo, hi = self._segs[i]
            if max(e, s + 1) <= hi:
                return lo, hi
        return None

    def at(self, chrom: str, pos: int) -> list[list]:
        return [self.genes[i] for i in sorted(self.index.containing(chrom, pos).tolist())]


def fusion_entries(spans: GeneSpans, chrom: str, allele: str, s: int, e: int, deleted: str) -> list[AnnEntry]:
    """SnpEff's fusion entries of the deletion of genomic bases [s, e) (``deleted``: their sequence, + strand)."""
    if e - s <= STRUCTURAL:
        return []
    out, seen = [], set()
    for left in spans.at(chrom, s):
        for right in spans.at(chrom, e - 1):
            if left[4] == right[4] or (max(left[1], right[1]) <= s and min(left[2], right[2]) >= e):
                continue
            if (left[4], right[4]) in seen:
                continue
            seen.add((left[4], right[4]))
            pair = sorted((left, right), key=lambda g: g[5])
            minus = left[3] == "-"
            hgvs = f"n.{e}_{s + 1}del{reverse_complement(deleted)}" if minus else f"n.{s + 1}_{e}del{deleted}"
            out.append(AnnEntry(allele, ["GENE_FUSION" if left[3] == right[3] else "GENE_FUSION_REVERESE"],
                                "&".join(g[5] for g in pair), "&".join(g[4] for g in pair), "gene_variant", left[4],
                                hgvs_c=hgvs, tx_start=left[1], tx_end=left[2]))
    return out
