"""SnpEff 5.1's rules that plantllm follows, each on a real TAIR10 site of the test slice whose expected
answer is SnpEff 5.1's own (Debian snpeff 5.1+d+dfsg-3 on the NCBI GTF of TAIR10.1 chr1, recorded by
benchmarks/snpeff_agreement.py --n 400 --keep): the canonical-first order of ANN entries, the
start/stop_retained_variant of a frame shift next to the CDS, pseudogene biotypes, and GFF3 biotypes
that are the GTF's."""

from __future__ import annotations

from pathlib import Path

import pytest

from plantllm.apps.consequence import ConsequenceAnnotator
from plantllm.species.assembly import Assembly
from plantllm.species.card import load_card

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def ann():
    return ConsequenceAnnotator(Assembly(load_card(DATA / "cards" / "tair10_slice.yaml")))


def _entries(ann, pos: int, ref: str, alt: str):
    assert ann.genome.fetch("1", pos - 1, pos - 1 + len(ref)).upper() == ref  # the REF SnpEff was given
    return [e.row() for e in ann.effects("1", pos - 1, ref, alt)]


def test_canonical_transcript_first_among_equal_effects(ann):
    """NC_003070.9:703867 T>C is in the 3' UTR of AT1G03030 (NM_001331379.1, not its gene's longest CDS) and
    of AT1G03040 (NM_001331380.1, its gene's canonical one); SnpEff's VariantEffect.compareTo puts the
    canonical transcript first although the other starts earlier: ANN[0] = AT1G03040, as SnpEff writes it."""
    rows = _entries(ann, 703867, "T", "C")
    assert rows[0][1] == "3_prime_UTR_variant" and rows[0][4] == "AT1G03040" and rows[0][6] == "NM_001331380.1"
    utr = [r for r in rows if r[1] == "3_prime_UTR_variant"]
    assert {r[4] for r in utr} >= {"AT1G03030", "AT1G03040"}
    i = next(k for k, t in enumerate(ann.tx) if t.id.endswith("NM_001331379.1"))
    j = next(k for k, t in enumerate(ann.tx) if t.id.endswith("NM_001331380.1"))
    assert ann.tx[i].start < ann.tx[j].start and j in ann.canonical and i not in ann.canonical


def test_frame_shift_next_to_the_start_codon_is_start_retained(ann):
    """NC_003070.9:555026 TA>T deletes the base before AT1G02610's start codon (c.-1delT): SnpEff writes
    start_retained_variant (its FRAME_SHIFT_BEFORE_CDS_START, MODIFIER) before the 5' UTR entry."""
    rows = _entries(ann, 555026, "TA", "T")
    assert [r[1:3] for r in rows[:2]] == [["start_retained_variant", "MODIFIER"], ["5_prime_UTR_variant", "MODIFIER"]]
    assert rows[0][4] == "AT1G02610" and rows[0][9] == "c.-1delT" and rows[1][14] == "1"
    # an in-frame deletion there (c.-3_-1) shifts no frame: the UTR entry alone, same distance
    ref = ann.genome.fetch("1", 555025, 555029).upper()
    rows = _entries(ann, 555026, ref, ref[0])
    assert rows[0][1] == "5_prime_UTR_variant" and rows[0][14] == "1" and rows[0][9] == "c.-3_-1delGTT"
    assert "start_retained_variant" not in {r[1] for r in rows}


def test_pseudogenes_are_non_coding_with_biotype_pseudogene(ann):
    """AT1G02228 (gene_biotype=pseudogene, an NCBI 'mRNA' without CDS) and AT1G02136 (transcribed_pseudogene):
    a non-coding exon of biotype 'pseudogene', as SnpEff writes transcribed pseudogenes (SnpEff translates
    the CDS-less mRNA of AT1G02228 from its first base: the benchmark's snpeff_translates_noncoding)."""
    for pos, gene in ((433606, "AT1G02228"), (402900, "AT1G02136")):
        ref = ann.genome.fetch("1", pos - 1, pos).upper()
        rows = [r for r in _entries(ann, pos, ref, "A" if ref != "A" else "C") if r[4] == gene]
        assert [(r[1], r[7]) for r in rows] == [("non_coding_transcript_exon_variant", "pseudogene")] * len(rows)
        assert rows


def test_gff3_transcript_biotype_is_the_gtf_one(ann):
    """NCBI GFF3 writes lnc_RNA as the feature type (gbkey=ncRNA); its GTF's transcript_biotype is lnc_RNA:
    the same Transcript_BioType from both files (NR_138630.1 of AT1G04003, upstream of NC_003070.9:46334)."""
    rows = _entries(ann, 46334, "A", "G")
    assert ("AT1G04003", "NR_138630.1", "lnc_RNA") in {(r[4], r[6], r[7]) for r in rows}


def _snpeff_examples():
    """format -> (POS, REF, ALT) -> SnpEff 5.1's own ANN entries (tests/data/snpeff51_tair10_ann.tsv)."""
    out: dict = {}
    for line in (DATA / "snpeff51_tair10_ann.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            fmt, _chrom, pos, ref, alt, info = line.split("\t")
            out.setdefault(fmt, {})[(int(pos), ref, alt)] = [e.split("|") for e in info[4:].split(",")]
    return out


def test_benchmark_checks_each_cause_against_the_annotation(ann):
    """benchmarks/snpeff_agreement.py's causes (benchmarks/_snpeff_compare.py), on SnpEff's own output: the split GFF3 transcript (exon-less
    'NM_x' copies, upstream on the wrong side) and the translated CDS-less pseudogene mRNA are recognised by
    reading the annotation."""
    import importlib.util
    import sys

    # loaded from its file: benchmarks/ is not a package, and an import statement would read as a dependency
    spec = importlib.util.spec_from_file_location("_snpeff_compare", DATA.parent.parent / "benchmarks" /
                                                  "_snpeff_compare.py")
    sa = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))
    spec.loader.exec_module(sa)

    facts = sa.Facts.of(ann.asm.annotation)
    ex = _snpeff_examples()["gff3"]

    def ours(pos, ref, alt):
        return _entries(ann, pos, ref, alt)
    key = (424852, "A", "C")
    assert sa.top(ex[key], facts) == ("upstream_gene_variant", "AT1G02210")
    assert sa.top(ours(*key), facts) == ("downstream_gene_variant", "AT1G02205")
    assert sa.cause(ex[key], ours(*key), facts) == "snpeff_gff3_split_transcript"
    key = (433606, "C", "A")
    assert sa.top(ex[key], facts)[0] == "stop_gained" and "rna-gnl|JCVI|mRNA.AT1G02228.1" in facts.noncoding
    assert sa.cause(ex[key], ours(*key), facts) == "snpeff_translates_noncoding"
    # GTF SnpEff puts the canonical AT1G03040 first (test above); GFF3 SnpEff has each 'rna-' copy alone in an
    # invented gene, all canonical, so position decides: a tie the benchmark checks, not a plantllm error
    key = (703867, "T", "C")
    assert sa.top(ex[key], facts) == ("3_prime_UTR_variant", "AT1G03030") and ex[key][0][4].startswith("GENE_exon-")
    assert sa.top(ours(*key), facts) == ("3_prime_UTR_variant", "AT1G03040")
    assert sa.cause(ex[key], ours(*key), facts) == "snpeff_gff3_split_transcript"
    # the same cause is not granted when the annotation does not back it: without the CDS-less fact, "other"
    bare = sa.Facts(tx_gene=facts.tx_gene, gene_ids=facts.gene_ids, tx_ids=facts.tx_ids)
    assert sa.cause(ex[(433606, "C", "A")], ours(433606, "C", "A"), bare) == "other"
