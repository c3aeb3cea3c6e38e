"""Assembly: validate a card against its files, summarize, init a new card."""

from __future__ import annotations

import yaml

from conftest import DATA, card_yaml
from plantllm.species.assembly import Assembly, init_card, summarize, validate
from plantllm.species.card import get_card, load_card


def test_validate_tair_slice():
    v = validate(Assembly(load_card(DATA / "cards" / "tair10_slice.yaml")))
    assert v.ok, v.errors
    assert any("partial" in w for w in v.warnings)


def test_validate_rice_slice_with_msu_names():
    asm = Assembly("oryza_sativa", fasta=DATA / "rice_msu7_chr2_1-1000000.fa.gz",
                   gff=DATA / "rice_msu7_chr2_1-1000000.gff3")
    asm.card.partial = True
    v = validate(asm)
    assert v.ok, v.errors
    genes = asm.annotation.genes
    assert len(genes) == 139 and genes[0].locus == "LOC_Os02g01010" and genes[0].chrom == "2"
    # MSU7 models have no UTR or exon lines: exons are the CDS, and every one is coding.
    assert all(g.canonical.coding for g in genes)


def test_validate_reports_wrong_assembly(tmp_path):
    # Rice Chr2 given as the whole Arabidopsis genome: 'Chr2' is an Arabidopsis alias too, so the
    # length is what betrays it.
    asm = Assembly(load_card(card_yaml(tmp_path, fasta=DATA / "rice_msu7_chr2_1-1000000.fa.gz")))
    asm.card.partial = False
    v = validate(asm)
    assert any("Chr2 is 1,000,000 bp but chromosome 2 of TAIR10.1 is 19,698,289 bp" in e for e in v.errors)
    assert any("chromosomes 1 of TAIR10.1 are not in the FASTA" in e for e in v.errors)


def test_validate_suggests_alias_by_length(tmp_path):
    fa = tmp_path / "g.fa"
    fa.write_text(">scaffold_7\n" + "ACGT" * 10 + "\n")
    card = {"name": "x", "assembly": "A", "genome": {"fasta": str(fa)},
            "chromosomes": {"nuclear": [{"name": "7", "length": 40}]}}
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(card))
    v = validate(Assembly(load_card(p)))
    assert any("its length 40 matches chromosome 7: add 'scaffold_7'" in e for e in v.errors)
    assert any("chromosomes 7 of A are not in the FASTA" in e for e in v.errors)


def test_summary_of_arenosa():
    asm = Assembly(load_card(DATA / "cards" / "arenosa_slice.yaml"))
    s = summarize(asm)
    assert s.sequences[0].length == 1_000_000 and s.sequences[0].file_name == "LR999451.1"
    assert s.counts["genes"] > 100
    assert 0 < s.repeat_bp["1"] < 1_000_000


def test_init_card_from_real_fasta(tmp_path):
    out = init_card("arenosa_new", DATA / "arenosa_chr1_1-1000000.fa.gz", tmp_path / "new.yaml",
                    gff=DATA / "arenosa_chr1_1-1000000.gff3.gz")
    card = load_card(out)
    # NCBI header "... chromosome: 1" gives canonical name 1 with the accession as alias.
    assert [c.name for c in card.nuclear] == ["1"]
    assert card.canonical("LR999451.1") == "1" and card.nuclear[0].length == 1_000_000
    assert card.soft_masked and card.repeats.source == "soft_mask"
    assert validate(Assembly(card)).ok


def test_shipped_tair_card_uses_builtin_data():
    card = get_card("arabidopsis_thaliana")
    assert card.fasta.name.startswith("AthaTAIR10_chr1") and card.fasta.exists()
