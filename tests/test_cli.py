"""The command line, called in-process through main(argv)."""

from __future__ import annotations

import pytest

from conftest import DATA, card_yaml
from plantllm import __version__
from plantllm.cli import main

GROUPS = ["species", "data", "tokenizer", "model", "predict", "variants", "bench"]


def test_bench_list_and_unknown_name(capsys):
    assert main(["bench", "list"]) == 0
    out = capsys.readouterr().out
    assert "variant_gpn" in out and "ism_speed" in out and "results/" in out
    assert main(["bench", "run", "ism_sped"]) == 2
    assert "did you mean 'ism_speed'" in capsys.readouterr().err


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"plantllm {__version__}"


@pytest.mark.parametrize("group", GROUPS + ["demo", "motifs", "mutagenesis"])
def test_help_on_every_group(group, capsys):
    assert main([group, "--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_species_list_and_show(capsys):
    assert main(["species", "list"]) == 0
    assert "oryza_sativa" in capsys.readouterr().out
    assert main(["species", "show", str(DATA / "cards" / "tair10_slice.yaml")]) == 0
    out = capsys.readouterr().out
    assert "NC_003070.9" in out and "1,500,000" in out and "genes" in out


def test_species_validate_ok_and_failing(tmp_path, capsys):
    assert main(["species", "validate", str(DATA / "cards" / "tair10_slice.yaml")]) == 0
    bad = card_yaml(tmp_path, fasta=DATA / "arenosa_chr1_1-1000000.fa.gz")
    assert main(["species", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "LR999451.1" in err and "Traceback" not in err


def test_user_error_is_one_line_and_exit_2(capsys):
    assert main(["species", "show", "arabidopsis_thalian"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown species 'arabidopsis_thalian' (did you mean 'arabidopsis_thaliana'?)")
    assert "Traceback" not in err


def test_debug_shows_traceback(capsys):
    assert main(["--debug", "species", "show", "nope"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_species_init_writes_card(tmp_path, capsys):
    out = tmp_path / "new.yaml"
    assert main(["species", "init", "rice_slice", "--fasta", str(DATA / "rice_msu7_chr2_1-1000000.fa.gz"),
                 "--out", str(out)]) == 0
    assert out.exists() and "Chr2" in out.read_text()
    assert main(["species", "init", "rice_slice", "--fasta", str(DATA / "rice_msu7_chr2_1-1000000.fa.gz"),
                 "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err


def test_tokenizer_and_model_commands(tmp_path, capsys):
    from plantllm.cli import main as cli

    assert cli(["model", "create", "configs/models/tiny-esm-6mer.yaml", "-o", str(tmp_path / "m")]) == 0
    assert cli(["model", "inspect", str(tmp_path / "m")]) == 0
    assert "esm (native)" in capsys.readouterr().out
    assert cli(["tokenizer", "encode", str(tmp_path / "m"), "ACGTACGTACGTNNACG"]) == 0
    assert capsys.readouterr().out.split() == ["[CLS]", "ACGTAC", "GTACGT", "N", "N", "A", "C", "G", "[SEP]"]
    assert cli(["tokenizer", "train", "-o", str(tmp_path / "bpe"), "--species", str(DATA / "cards" / "tair10_slice.yaml"),
                "--vocab-size", "300", "--limit-mb", "0.5"]) == 0
    assert cli(["model", "inspect", str(tmp_path / "nope")]) == 2
    assert "never downloads" in capsys.readouterr().err


def test_bad_subgenome_weights_is_one_line(capsys):
    assert main(["data", "promoter", str(DATA / "cards" / "tair10_slice.yaml"), "-o", "/tmp/never-written",
                 "--balance", "weights", "--subgenome-weights", "A=x"]) == 2
    assert "--subgenome-weights item 'A=x' is not LABEL=NUMBER" in capsys.readouterr().err
