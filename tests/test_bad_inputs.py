"""The catalogue of bad inputs, through the command line as a user meets them.

Each case is a real file (tests/data) broken in one way. Each must end with exit status 2 and
one line on stderr, ``error: FILE[:LINE]: what is wrong (fix: ...)``, holding the exact words
below, with no Python traceback, and must leave no output behind. The README's troubleshooting
table lists the same catalogue.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import CARDS, DATA
from plantllm.cli import main

ROOT = Path(__file__).resolve().parent.parent
TAIR_FA = DATA / "tair10_chr1_1-1500000.fa.gz"
TAIR_GFF = DATA / "tair10_chr1_1-1500000.gff3.gz"
RMSK = DATA / "tair10_chr1_1-1500000.rmsk.tsv.gz"
CARD = CARDS / "tair10_slice.yaml"


@pytest.fixture(scope="module")
def mlm(tmp_path_factory):
    from plantllm.models import checkpoint as M

    spec = M.load_spec(ROOT / "configs/models/tiny-bert-char.yaml")
    tok = M.build_tokenizer(spec)
    d = tmp_path_factory.mktemp("m") / "mlm"
    M.save(M.create(spec, tok, task="mlm"), tok, d)
    return d


@pytest.fixture(scope="module")
def small_fasta(tmp_path_factory):
    """The first 20 kb of the real TAIR10 slice as plain FASTA (60 bp lines)."""
    import pysam

    d = tmp_path_factory.mktemp("fa")
    with pysam.FastaFile(str(TAIR_FA)) as f:
        seq = f.fetch(f.references[0], 0, 20_000)
    p = d / "chr1.fa"
    p.write_text(">NC_003070.9\n" + "".join(seq[i:i + 60] + "\n" for i in range(0, len(seq), 60)))
    return p


def _gff_head(tmp: Path, n: int = 400) -> list[str]:
    with gzip.open(TAIR_GFF, "rt") as f:
        return [next(f) for _ in range(n)]


def _vcf(tmp: Path, body: list[str] | None = None, samples: bool = True) -> Path:
    """Real SNVs at real TAIR10 positions (REF from the genome) with diploid genotypes."""
    import pysam

    with pysam.FastaFile(str(TAIR_FA)) as f:
        seq = f.fetch(f.references[0], 3700, 3720).upper()
    head = ["##fileformat=VCFv4.2", "##contig=<ID=NC_003070.9,length=30427671>",
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO" + ("\tFORMAT\tS1\tS2" if samples else "")]
    rows = body if body is not None else [
        f"NC_003070.9\t{3701 + i}\t.\t{b}\t{'A' if b != 'A' else 'C'}\t.\t.\t." + ("\tGT\t0/1\t1/1" if samples else "")
        for i, b in enumerate(seq)]
    p = tmp / "v.vcf"
    p.write_text("\n".join(head + rows) + "\n")
    return p


def _run(args, capsys) -> str:
    rc = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    errors = [x for x in err.strip().splitlines() if x.startswith("error: ")]
    assert len(errors) == 1, err  # warnings and progress may come before it
    assert errors[0] == err.strip().splitlines()[-1]
    return " ".join(errors[0].split())


# ------------------------------------------------------------------ genome (FASTA)
def test_fasta_empty(tmp_path, capsys):
    p = tmp_path / "e.fa"
    p.write_text("")
    assert "e.fa: FASTA is empty" in _run(["species", "validate", CARD, "--fasta", p], capsys)


def test_fasta_truncated_gzip(tmp_path, capsys):
    p = tmp_path / "t.fa.gz"
    p.write_bytes(TAIR_FA.read_bytes()[:50_000])
    assert "truncated or corrupt compressed FASTA" in _run(["species", "validate", CARD, "--fasta", p], capsys)


def test_fasta_duplicate_names(tmp_path, small_fasta, capsys):
    p = tmp_path / "d.fa"
    p.write_text(small_fasta.read_text() * 2)
    assert "duplicate sequence name 'NC_003070.9' (first at line 1)" in \
        _run(["species", "validate", CARD, "--fasta", p], capsys)


def test_fasta_non_iupac(tmp_path, small_fasta, capsys):
    p = tmp_path / "x.fa"
    lines = small_fasta.read_text().splitlines()
    lines[3] = lines[3][:10] + "*" + lines[3][11:]
    p.write_text("\n".join(lines) + "\n")
    assert "non-IUPAC character '*'" in _run(["species", "validate", CARD, "--fasta", p], capsys)


def test_fasta_unequal_line_width(tmp_path, small_fasta, capsys):
    p = tmp_path / "w.fa"
    lines = small_fasta.read_text().splitlines()
    lines[5] = lines[5] + "ACGT"
    p.write_text("\n".join(lines) + "\n")
    assert "w.fa:6: record 'NC_003070.9' has lines of unequal width (64 bp here, 60 bp above)" in \
        _run(["species", "validate", CARD, "--fasta", p], capsys)


def test_fasta_name_not_in_card(tmp_path, small_fasta, capsys):
    p = tmp_path / "n.fa"
    p.write_text(small_fasta.read_text().replace(">NC_003070.9", ">scaffold_7"))
    assert "sequence 'scaffold_7' is not a chromosome or alias" in \
        _run(["species", "validate", CARD, "--fasta", p], capsys)


def test_fasta_windows_line_endings_are_read(tmp_path, small_fasta, capsys):
    p = tmp_path / "crlf.fa"
    p.write_bytes(small_fasta.read_bytes().replace(b"\n", b"\r\n"))
    assert main(["species", "show", str(CARD), "--fasta", str(p)]) == 0  # read the same as LF


# ------------------------------------------------------------------ annotation (GFF3/GTF)
def test_gff_empty(tmp_path, capsys):
    p = tmp_path / "e.gff3"
    p.write_text("##gff-version 3\n")
    assert "no features" in _run(["species", "validate", CARD, "--gff", p], capsys)


def test_gff_orphan_child(tmp_path, capsys):
    lines = _gff_head(tmp_path)
    i = next(k for k, x in enumerate(lines) if "\tmRNA\t" in x)
    lines.pop(i)
    p = tmp_path / "o.gff3"
    p.write_text("".join(lines))
    assert "orphan feature: Parent" in _run(["species", "validate", CARD, "--gff", p], capsys)


def test_gff_wrong_coordinate_order(tmp_path, capsys):
    lines = _gff_head(tmp_path)
    i = next(k for k, x in enumerate(lines) if "\texon\t" in x)
    f = lines[i].split("\t")
    f[3], f[4] = f[4], f[3]
    lines[i] = "\t".join(f)
    p = tmp_path / "c.gff3"
    p.write_text("".join(lines))
    assert f"c.gff3:{i + 1}: start {f[3]} > end {f[4]} (wrong coordinate order)" in \
        _run(["species", "validate", CARD, "--gff", p], capsys)


def test_gff_seqid_naming_mismatch(tmp_path, capsys):
    lines = [x.replace("NC_003070.9", "Chr01") if not x.startswith("#") else x for x in _gff_head(tmp_path)]
    p = tmp_path / "s.gff3"
    p.write_text("".join(lines))
    msg = _run(["species", "validate", CARD, "--gff", p], capsys)
    assert "annotation seqid 'Chr01' is not a chromosome or alias" in msg and "add 'Chr01'" in msg


def test_gff_windows_line_endings_are_read(tmp_path, capsys):
    p = tmp_path / "crlf.gff3"
    p.write_bytes("".join(_gff_head(tmp_path)).encode().replace(b"\n", b"\r\n"))
    assert main(["species", "show", str(CARD), "--gff", str(p)]) == 0


# ------------------------------------------------------------------ repeats
def test_rmsk_truncated_line(tmp_path, capsys):
    lines = gzip.open(RMSK, "rt").read().splitlines()[:50]
    lines[20] = "\t".join(lines[20].split("\t")[:4])
    p = tmp_path / "r.tsv"
    p.write_text("\n".join(lines) + "\n")
    assert "r.tsv:21:" in _run(["species", "validate", CARD, "--repeats", p, "--repeat-source", "rmsk_table"], capsys)


# ------------------------------------------------------------------ species cards and configs
def test_unknown_species(capsys):
    assert "unknown species 'arabidopsis_thalian' (did you mean 'arabidopsis_thaliana'?)" in \
        _run(["species", "show", "arabidopsis_thalian"], capsys)


def test_card_misspelled_key(tmp_path, capsys):
    card = yaml.safe_load(CARD.read_text())
    card["ploidi"] = card.pop("ploidy")
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(card))
    assert "unknown key 'ploidi' (did you mean 'ploidy'?)" in _run(["species", "show", p], capsys)


def test_training_config_misspelled_key(tmp_path, capsys):
    p = tmp_path / "t.yaml"
    p.write_text(yaml.safe_dump({"task": "mlm", "learning_rat": 1e-3}))
    assert "unknown key 'learning_rat' (did you mean 'learning_rate'?)" in _run(["pretrain", p], capsys)


def test_training_config_unsafe_yaml(tmp_path, capsys):
    p = tmp_path / "t.yaml"
    p.write_text("task: !!python/object/apply:os.system ['echo pwned']\n")
    assert "not valid YAML" in _run(["pretrain", p], capsys)


# ------------------------------------------------------------------ VCF
def test_vcf_ref_mismatch(tmp_path, mlm, capsys):
    v = _vcf(tmp_path)
    v.write_text(v.read_text().replace("\tA\tC\t", "\tG\tC\t").replace("\tC\tA\t", "\tG\tA\t")
                 .replace("\tT\tA\t", "\tG\tA\t"))
    msg = _run(["variants", "score", v, CARD, "--model", mlm, "--window", "64", "--out", tmp_path / "o"], capsys)
    assert "REF does not match the genome at" in msg and "REF G but the genome has" in msg
    assert not (tmp_path / "o" / "ranked.tsv").exists() and not (tmp_path / "o" / "scored.vcf.gz").exists()


def test_vcf_chromosome_naming_mismatch(tmp_path, mlm, capsys):
    v = _vcf(tmp_path)
    v.write_text(v.read_text().replace("NC_003070.9", "Chr01"))
    msg = _run(["variants", "score", v, CARD, "--model", mlm, "--out", tmp_path / "o"], capsys)
    assert "no VCF chromosome matches the card tair10_slice: Chr01" in msg and "add 'Chr01'" in msg


def test_vcf_chromosome_absent_from_the_fasta(tmp_path, mlm, capsys):
    v = _vcf(tmp_path)
    v.write_text(v.read_text().replace("NC_003070.9", "NC_003071.7"))  # chromosome 2: in the card, not the FASTA
    msg = _run(["variants", "score", v, CARD, "--model", mlm, "--out", tmp_path / "o"], capsys)
    assert "not in the FASTA" in msg and "2" in msg


def test_vcf_malformed_genotype(tmp_path, mlm, capsys):
    v = _vcf(tmp_path)
    lines = v.read_text().splitlines()
    lines[6] = lines[6].replace("0/1", "0/x")
    v.write_text("\n".join(lines) + "\n")
    assert "v.vcf:7: malformed VCF record" in _run(["variants", "score", v, CARD, "--model", mlm, "--out", tmp_path / "o"],
                                        capsys)


def test_vcf_symbolic_and_breakend_alleles_are_counted_not_scored(tmp_path, mlm, capsys):
    v = _vcf(tmp_path, samples=False)
    lines = v.read_text().splitlines()
    lines[4] = lines[4].split("\t")[0] + "\t3701\t.\tG\t<DEL>\t.\t.\t."
    lines[5] = lines[5].split("\t")[0] + "\t3702\t.\tA\tA[NC_003070.9:5000[\t.\t.\t."
    v.write_text("\n".join(lines) + "\n")
    import json

    assert main(["variants", "score", str(v), str(CARD), "--model", str(mlm), "--window", "64", "--out",
                 str(tmp_path / "o")]) == 0
    st = json.loads((tmp_path / "o" / "summary.json").read_text())["vcf_stats"]
    assert st["symbolic"] == 1 and st["breakend"] == 1


def test_vcf_truncated_bgzip(tmp_path, mlm, capsys):
    import pysam

    v = _vcf(tmp_path)
    pysam.tabix_compress(str(v), str(tmp_path / "v.vcf.gz"))
    data = (tmp_path / "v.vcf.gz").read_bytes()
    (tmp_path / "t.vcf.gz").write_bytes(data[: len(data) // 2])
    msg = _run(["variants", "score", tmp_path / "t.vcf.gz", CARD, "--model", mlm, "--out", tmp_path / "o"], capsys)
    assert "t.vcf.gz" in msg and ("truncated" in msg or "cannot read" in msg)


def test_vcf_empty(tmp_path, mlm, capsys):
    p = tmp_path / "e.vcf"
    p.write_text("")
    assert "e.vcf" in _run(["variants", "score", p, CARD, "--model", mlm, "--out", tmp_path / "o"], capsys)


def test_vcf_windows_line_endings_are_read(tmp_path, mlm):
    v = _vcf(tmp_path)
    v.write_bytes(v.read_bytes().replace(b"\n", b"\r\n"))
    assert main(["variants", "score", str(v), str(CARD), "--model", str(mlm), "--window", "64", "--out",
                 str(tmp_path / "o")]) == 0


def test_label_table_bad_value(tmp_path, mlm, capsys):
    v = _vcf(tmp_path)
    p = tmp_path / "labels.tsv"
    p.write_text("chrom\tpos\tref\talt\tlabel\n1\t37x01\tA\tC\tdamaging\n")
    assert "labels.tsv:2:" in _run(["variants", "score", v, CARD, "--model", mlm, "--labels", p, "--out",
                                    tmp_path / "o"], capsys)


# ------------------------------------------------------------------ model folders
def test_model_dir_missing_weights(tmp_path, mlm, capsys):
    d = tmp_path / "m"
    shutil.copytree(mlm, d)
    (d / "model.safetensors").unlink()
    assert "no model weights (model.safetensors)" in _run(["model", "inspect", d], capsys)


def test_model_dir_truncated_weights(tmp_path, mlm, capsys):
    d = tmp_path / "m"
    shutil.copytree(mlm, d)
    w = d / "model.safetensors"
    w.write_bytes(w.read_bytes()[:1000])
    assert "cannot load the model" in _run(["model", "inspect", d], capsys)


def test_model_dir_missing_tokenizer(tmp_path, mlm, capsys):
    d = tmp_path / "m"
    shutil.copytree(mlm, d)
    for f in [*d.glob("tokenizer*"), d / "plantllm_tokenizer.json"]:
        f.unlink()
    assert "tokenizer" in _run(["model", "inspect", d], capsys)


def test_tokenizer_does_not_fit_the_model(tmp_path, mlm, capsys):
    from plantllm.models import checkpoint as M

    d = tmp_path / "m"
    shutil.copytree(mlm, d)
    spec = M.load_spec(ROOT / "configs/models/tiny-esm-6mer.yaml")
    tok = M.build_tokenizer(spec)
    tok.save_pretrained(str(d))
    assert "but the model embeds only" in _run(["model", "inspect", d], capsys)


def test_remote_code_refused(tmp_path, mlm, capsys):
    """A checkpoint whose architecture only its own shipped code defines (PlantCaduceus-style)."""
    import json

    d = tmp_path / "m"
    shutil.copytree(mlm, d)
    cfg = json.loads((d / "config.json").read_text())
    cfg["model_type"] = "caduceus"
    cfg["auto_map"] = {"AutoModelForMaskedLM": "modeling_caduceus.CaduceusForMaskedLM"}
    (d / "config.json").write_text(json.dumps(cfg))
    assert "model_type 'caduceus' is not part of transformers" in _run(["model", "inspect", d], capsys)


def test_pickle_weights_refused(tmp_path, mlm, capsys):
    import torch
    from safetensors.torch import load_file

    d = tmp_path / "m"
    shutil.copytree(mlm, d)
    torch.save(load_file(str(d / "model.safetensors")), d / "pytorch_model.bin")
    (d / "model.safetensors").unlink()
    assert "pickle" in _run(["model", "inspect", d], capsys)
