"""The per-site SNV cache (``snv_sites``) gives the ANN text, LOF/NMD and ANN[0] of the general annotator, byte for
byte, on real TAIR10 SNVs: every ALT of dense stretches over genes of both strands (CDS, UTRs, introns, splice
sites, up/downstream, intergenic) and of random positions, with the GFF3, the GTF and SnpEff's reader convention."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import CARDS, DATA
from plantllm.apps.consequence import ConsequenceAnnotator
from plantllm.apps.effects import lof_nmd
from plantllm.apps.snv_sites import top_of
from plantllm.apps.variant_ann import SharedEffects
from plantllm.species.assembly import Assembly
from plantllm.species.card import load_card

CARD = CARDS / "tair10_slice.yaml"


def _positions(asm: Assembly, n_random: int) -> list[int]:
    """Every base of two stretches over genes (AT1G01010 on +, AT1G01020 on -) and of the boundaries of the
    exons of AT1G01030-50, plus random positions of the first 500 kb."""
    pos = list(range(3_600, 4_400)) + list(range(5_900, 6_300)) + list(range(8_400, 8_800))
    for g in asm.annotation.genes[2:6]:
        for t in g.transcripts:
            for s, e in t.exons:
                pos += list(range(s - 10, s + 4)) + list(range(e - 4, e + 10))
    pos += np.random.default_rng(0).integers(0, 500_000, n_random).tolist()
    return sorted(set(pos))


@pytest.mark.parametrize("kind", ["gff3", "gff3-snpeff-compatible", "gtf"])
def test_site_cache_equals_general_annotator(kind):
    gff = DATA / "tair10_chr1_1-500000.gtf.gz" if kind == "gtf" else None
    asm = Assembly(load_card(CARD), gff=gff)
    fast = SharedEffects(asm, snpeff_compatible=kind.endswith("compatible"))  # annotate() reads what allele_ann made
    slow = ConsequenceAnnotator(asm, snpeff_compatible=kind.endswith("compatible"))
    seq = asm.genome.fetch("1", 0, 500_100).upper()
    kinds, n = set(), 0
    for p in _positions(asm, 400):
        ref = seq[p]
        if ref not in "ACGT":
            continue
        for k, alt in enumerate(b for b in "ACGT" if b != ref):
            allele = alt.lower() if k == 1 else alt  # the allele as the VCF writes it
            got = fast.allele_ann("1", p, ref, allele)
            want = slow.effects("1", p, ref, allele)
            assert got.texts == [e.format() for e in want], (p, ref, alt)
            assert lof_nmd(got.coding, fast.n_tx) == lof_nmd(want, slow.n_tx), (p, ref, alt)
            assert got.top == top_of(want[0])
            fast.memo[("1", p, ref, alt, None)] = fast.allele_ann("1", p, ref, alt) if k == 1 else got
            c, d = fast.annotate("1", p, ref, alt), slow.annotate("1", p, ref, alt)
            assert c == d and c.entries[0].format() == want[0].format().replace(allele, alt, 1)
            kinds |= {e.term for e in want}
            n += 1
    # the stretches reach every kind of site the cache treats apart
    assert {"missense_variant", "synonymous_variant", "stop_gained", "5_prime_UTR_variant", "3_prime_UTR_variant",
            "intron_variant", "upstream_gene_variant", "intergenic_region", "splice_region_variant"} <= kinds, kinds
    assert n > 8_000


def test_site_cache_with_a_trimmed_substitution_and_other_alleles():
    """REF AC > ALT AG is an SNV at the second base; a deletion and an MNV of the same record take the general
    path; both share one annotator (and its site cache) in between."""
    asm = Assembly(load_card(CARD))
    fast, slow = ConsequenceAnnotator(asm), ConsequenceAnnotator(asm)
    p = 3_700
    ref = asm.genome.fetch("1", p, p + 2).upper()
    other = "A" if ref[1] != "A" else "C"
    for alt in (ref[0] + other, ref[0], other + ref[0], "<DEL>"):
        end = p + 30 if alt == "<DEL>" else None
        assert fast.allele_ann("1", p, ref, alt, end).texts == [e.format() for e in slow.effects("1", p, ref, alt, end)]


def test_snv_coding_equals_the_substitution_branch():
    """``coding.snv_coding`` (one base, its codon kept for the site's other ALTs) against the general substitution
    branch of ``coding_effects`` on every CDS base of the coding transcripts among the slice's first 40, every ALT."""
    from plantllm.apps.coding import coding_effects

    asm = Assembly(load_card(CARD))
    ann = ConsequenceAnnotator(asm)
    n, effects = 0, set()
    for i, t in enumerate(ann.tx[:40]):
        m = ann.model(i)
        if not m.coding:
            continue
        for s0, e0 in m.cds:
            for s in range(s0, e0):
                ref = ann.seq.fetch(t.chrom, s, s + 1)
                for a in "ACGT":
                    if a != ref:
                        want = coding_effects(m, "mnv", s, s + 1, ref, a)
                        assert coding_effects(m, "snv", s, s + 1, ref, a) == want, (t.id, s, a)
                        effects.add(want["effects"][0])
                        n += 1
    assert n > 10_000 and {"START_LOST", "STOP_GAINED", "STOP_LOST", "SYNONYMOUS_STOP", "NON_SYNONYMOUS_CODING",
                           "SYNONYMOUS_CODING"} <= effects, effects
