"""The catalogue of bad inputs, through the command line as a user meets them.

Each case is a real file (tests/data) broken in one way. Each must end with exit status 2 and
one line on stderr, ``error: FILE[:LINE]: what is wrong (fix: ...)``, holding the exact words
below, with no Python traceback, and must leave no output behind. The README's troubleshooting
table lists the same catalogue.
"""

from __future__ import annotations

import gzip
import os
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
    ref = [x.split("\t")[3] for x in lines[4:6]]  # the genome's bases (a symbolic allele's REF is checked too)
    lines[4] = lines[4].split("\t")[0] + f"\t3701\t.\t{ref[0]}\t<DEL>\t.\t.\t."
    lines[5] = lines[5].split("\t")[0] + f"\t3702\t.\t{ref[1]}\t{ref[1]}[NC_003070.9:5000[\t.\t.\t."
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
    """A checkpoint whose architecture only its own shipped code defines (HyenaDNA-style; PlantCaduceus and
    GPN are implemented natively now)."""
    import json

    d = tmp_path / "m"
    shutil.copytree(mlm, d)
    cfg = json.loads((d / "config.json").read_text())
    cfg["model_type"] = "hyenadna"
    cfg["auto_map"] = {"AutoModelForMaskedLM": "modeling_hyena.HyenaDNAForMaskedLM"}
    (d / "config.json").write_text(json.dumps(cfg))
    assert "model_type 'hyenadna' is not part of transformers" in _run(["model", "inspect", d], capsys)


def test_pickle_weights_refused(tmp_path, mlm, capsys):
    import torch
    from safetensors.torch import load_file

    d = tmp_path / "m"
    shutil.copytree(mlm, d)
    torch.save(load_file(str(d / "model.safetensors")), d / "pytorch_model.bin")
    (d / "model.safetensors").unlink()
    assert "pickle" in _run(["model", "inspect", d], capsys)


# ------------------------------------------------------------------ issue #20: indexes, duplicates, containers, content
def test_fasta_names_differing_only_by_case(tmp_path, small_fasta, capsys):
    p = tmp_path / "c.fa"
    text = small_fasta.read_text()
    p.write_text(text + text.replace(">NC_003070.9", ">nc_003070.9"))
    assert "c.fa:336: sequence name 'nc_003070.9' differs from 'NC_003070.9' (line 1) only by case" in \
        _run(["species", "validate", CARD, "--fasta", p], capsys)


def test_fasta_utf16(tmp_path, small_fasta, capsys):
    p = tmp_path / "u.fa"
    p.write_bytes(small_fasta.read_text().encode("utf-16"))
    assert "u.fa:1: is not UTF-8 text (UTF-16 or a binary file?)" in \
        _run(["species", "validate", CARD, "--fasta", p], capsys)


NAC001_PROTEIN = ("MEDQVGFGFRPNDEELVGHYLRNKIEGNTSRDVEVAISEVNICSYDPWNLRFQSKYKSRDAMWYFFSRRENNKGNRQSRTTVSGKWKLTGESVEVKDQWGF"
                  "CSGFRGKVGHKRVLVFLDGRYPDKTKSDWVIHEFHYDLLPEHQRTYVICRLEYKGDDADILSAYAIDPTPAFVPNMTSSAGSVVNQSRQRNSGSYNTYSEY")


def test_fasta_protein_given_as_genome(tmp_path, capsys):
    """The protein FASTA of NAC001 (AT1G01010, NP_171609.1) where the genome should be."""
    p = tmp_path / "protein.faa"
    p.write_text(">NP_171609.1 NAC domain containing protein 1 [Arabidopsis thaliana]\n"
                 + "".join(NAC001_PROTEIN[i:i + 60] + "\n" for i in range(0, len(NAC001_PROTEIN), 60)))
    want = "protein.faa: record 'NP_171609.1' looks like protein, not DNA"
    assert want in _run(["species", "show", CARD, "--fasta", p], capsys)
    msg = _run(["data", "pretrain", CARD, "--fasta", p, "--out", tmp_path / "ds"], capsys)
    assert want in msg and "genomic (nucleotide) FASTA" in msg
    assert not (tmp_path / "ds").exists() or not any((tmp_path / "ds").iterdir())


def test_fasta_stale_index_not_used_by_species_init(tmp_path, small_fasta, capsys):
    """A .fai from an older FASTA of the same size, newer than the FASTA: the card gets the true lengths."""
    seq = "".join(small_fasta.read_text().splitlines()[1:])
    p = tmp_path / "g.fa"

    def write(n1):
        recs = [("NC_003070.9", seq[:n1]), ("NC_003071.7", seq[n1:])]
        p.write_text("".join(f">{n}\n" + "".join(s[i:i + 60] + "\n" for i in range(0, len(s), 60)) for n, s in recs))

    write(12_000)
    assert main(["species", "init", "x", "--fasta", str(p), "--out", str(tmp_path / "a.yaml")]) == 0
    write(12_060)  # one line moves from the second record to the first: same size
    os.utime(tmp_path / "g.fa.fai", ns=(p.stat().st_mtime_ns + 10**9,) * 2)
    assert main(["species", "init", "x", "--fasta", str(p), "--out", str(tmp_path / "b.yaml")]) == 0
    card = yaml.safe_load((tmp_path / "b.yaml").read_text())
    assert [c["length"] for c in card["chromosomes"]["nuclear"]] == [12_060, 7_940]


def test_fasta_corrupt_gzi_is_rebuilt(tmp_path, capsys):
    p = tmp_path / "t.fa.gz"
    shutil.copy(TAIR_FA, p)
    assert main(["species", "show", str(CARD), "--fasta", str(p)]) == 0
    gzi = tmp_path / "t.fa.gz.gzi"
    data = bytearray(gzi.read_bytes())
    data[8:16] = (int.from_bytes(data[8:16], "little") + 7).to_bytes(8, "little")  # first block offset wrong
    gzi.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["species", "show", str(CARD), "--fasta", str(p)]) == 0, capsys.readouterr().err
    assert gzi.read_bytes() != bytes(data)


def _broken_gff(tmp_path, edit) -> Path:
    lines = edit(_gff_head(tmp_path))
    p = tmp_path / "a.gff3"
    p.write_text("".join(lines))
    return p


def test_gff_same_id_for_two_features(tmp_path, capsys):
    def clash(lines):  # NAC001's mRNA takes its gene's ID: gffutils would rename one, merging the models
        lines = [x.replace("ID=rna-NM_099983.2;Parent=gene-AT1G01010", "ID=gene-AT1G01010") for x in lines]
        return [x.replace("Parent=rna-NM_099983.2", "Parent=gene-AT1G01010") for x in lines]
    p = _broken_gff(tmp_path, clash)
    lines = p.read_text().splitlines()
    gene = next(i for i, x in enumerate(lines) if "\tgene\t" in x) + 1
    mrna = next(i for i, x in enumerate(lines) if "\tmRNA\t" in x) + 1
    assert (f"a.gff3:{mrna}: ID 'gene-AT1G01010' is already used on line {gene} by a gene on 'NC_003070.9' "
            "(here a mRNA on 'NC_003070.9')") in _run(["species", "validate", CARD, "--gff", p], capsys)


def test_gff_exon_beyond_its_transcript(tmp_path, capsys):
    def longer(lines):
        i = max(k for k, x in enumerate(lines) if "\texon\t" in x and "Parent=rna-NM_099983.2" in x)
        f = lines[i].split("\t")
        f[4] = "5999"  # the mRNA ends at 5899
        lines[i] = "\t".join(f)
        return lines
    p = _broken_gff(tmp_path, longer)
    assert "extends beyond its parent 'rna-NM_099983.2' (3631-5899, line 11)" in \
        _run(["species", "validate", CARD, "--gff", p], capsys)


def test_gff_truncated_gzip(tmp_path, capsys):
    p = tmp_path / "t.gff3.gz"
    data = TAIR_GFF.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    msg = _run(["species", "validate", CARD, "--gff", p], capsys)
    assert "t.gff3.gz:" in msg and "the compressed stream is truncated or corrupt" in msg


def test_gff_utf16(tmp_path, capsys):
    p = tmp_path / "u.gff3"
    p.write_bytes("".join(_gff_head(tmp_path)).encode("utf-16"))
    assert "u.gff3:1: is not UTF-8 text (UTF-16 or a binary file?)" in \
        _run(["species", "validate", CARD, "--gff", p], capsys)


def test_rmsk_utf16_and_truncated_gzip(tmp_path, capsys):
    p = tmp_path / "r.tsv"
    p.write_bytes(gzip.open(RMSK, "rt").read().encode("utf-16"))
    assert "r.tsv:1: is not UTF-8 text" in \
        _run(["species", "validate", CARD, "--repeats", p, "--repeat-source", "rmsk_table"], capsys)
    p = tmp_path / "r.tsv.gz"
    data = RMSK.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    assert "the compressed stream is truncated or corrupt" in \
        _run(["species", "validate", CARD, "--repeats", p, "--repeat-source", "rmsk_table"], capsys)


def test_validate_reads_the_sequence_whatever_the_repeat_source(tmp_path, small_fasta, capsys):
    p = tmp_path / "x.fa"
    lines = small_fasta.read_text().splitlines()
    lines[3] = lines[3][:10] + "*" + lines[3][11:]
    p.write_text("\n".join(lines) + "\n")
    assert "non-IUPAC character '*' at 1:131" in _run(
        ["species", "validate", CARD, "--fasta", p, "--repeats", RMSK, "--repeat-source", "rmsk_table"], capsys)


# ------------------------------------------------------------------ issue #20: values outside their domain (VCF, labels, models)
def _data_variants(v: Path, tmp: Path, *extra) -> list:
    return ["data", "variants", CARD, v, "--out", tmp / "ds", "--window", "64", *extra]


def _vcf_line(v: Path, k: int, fn) -> Path:
    """``v`` with its k-th line (1-based) rewritten by ``fn`` (tab-separated fields -> fields)."""
    lines = v.read_text().splitlines()
    lines[k - 1] = "\t".join(fn(lines[k - 1].split("\t")))
    v.write_text("\n".join(lines) + "\n")
    return v


def test_vcf_pos_zero(tmp_path, capsys):
    v = _vcf_line(_vcf(tmp_path), 5, lambda f: [f[0], "0", *f[2:]])
    msg = _run(_data_variants(v, tmp_path), capsys)
    assert "v.vcf:5: POS 0 is not a position: VCF positions are 1-based" in msg and "fix:" in msg
    assert not (tmp_path / "ds").exists()


def test_vcf_genotype_allele_beyond_the_alts(tmp_path, capsys):
    """htslib reads 0/3 at a one-ALT site as 0/. (a missing call): dosage and carriers would be wrong."""
    v = _vcf_line(_vcf(tmp_path), 6, lambda f: [*f[:9], "0/3", f[10]])
    msg = _run(_data_variants(v, tmp_path), capsys)
    assert "v.vcf:6: genotype allele index beyond the listed ALTs: sample S1 has genotype 0/3 but the site lists " \
           "1 ALT allele" in msg and "fix: list every ALT allele" in msg
    assert not (tmp_path / "ds").exists()


def test_vcf_ploidy_contradicts_the_card(tmp_path, capsys):
    v = _vcf(tmp_path)
    v.write_text(v.read_text().replace("\tGT\t0/1\t1/1", "\tGT\t0/1/1/1\t0/0/1/1"))
    msg = _run(_data_variants(v, tmp_path), capsys)
    assert "v.vcf:5: the genotypes are 4-ploid on every nuclear record" in msg and "says ploidy 2" in msg
    assert "fix: set 'ploidy: 4'" in msg
    assert not (tmp_path / "ds").exists()


def test_vcf_mixed_ploidy_is_fine(tmp_path, capsys):
    """Haploid calls among diploid ones (organelle or hemizygous calls) are not a card error."""
    v = _vcf_line(_vcf(tmp_path), 7, lambda f: [*f[:9], "1", "0"])
    assert main([str(a) for a in _data_variants(v, tmp_path)]) == 0


def test_vcf_alt_equal_to_ref_and_past_the_end_are_warned_and_counted(tmp_path, capsys):
    import json

    v = _vcf(tmp_path)
    v = _vcf_line(v, 5, lambda f: [*f[:4], f[3], *f[5:]])  # ALT = REF
    lines = v.read_text().splitlines()
    lines.append("NC_003070.9\t1600000\t.\tA\tC\t.\t.\t.\tGT\t0/1\t1/1")  # the FASTA slice ends at 1,500,000
    v.write_text("\n".join(lines) + "\n")
    assert main([str(a) for a in _data_variants(v, tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "warning: 1 ALT allele(s) left out: ALT equals REF, not a variant (first: NC_003070.9:3701" in err
    assert "warning: 1 variant(s) left out: past the chromosome end (first: 1:1600000 REF A, past the end of 1 in " \
           "the FASTA (1,500,000 bp) (VCF line 25))" in " ".join(err.split())
    st = json.loads((tmp_path / "ds" / "manifest.json").read_text())["vcf"]
    assert st["alt_equals_ref"] == 1 and st["past_end"] == 1 and st["ref_mismatch"] == 0


def test_label_table_nan_label(tmp_path, capsys):
    v = _vcf(tmp_path)
    p = tmp_path / "labels.tsv"
    p.write_text("chrom\tpos\tref\talt\tlabel\nNC_003070.9\t3701\tA\tC\tnan\n")
    msg = _run(_data_variants(v, tmp_path, "--labels", p), capsys)
    assert "labels.tsv:2: label 'nan' is a missing or infinite value, not a label" in msg
    assert not (tmp_path / "ds").exists()


def test_label_table_position_zero(tmp_path, capsys):
    v = _vcf(tmp_path)
    p = tmp_path / "labels.tsv"
    p.write_text("chrom\tpos\tref\talt\tlabel\nNC_003070.9\t0\tA\tC\tdamaging\n")
    assert "labels.tsv:2: pos 0 is not a position: label positions are 1-based" in \
        _run(_data_variants(v, tmp_path, "--labels", p), capsys)


def test_masked_lm_used_as_classifier(tmp_path, mlm, capsys):
    """A masked LM has no trained classifier head: as a classifier it would score at random (P≈0.5)."""
    v = _vcf(tmp_path)
    msg = _run(["variants", "score", v, CARD, "--model", mlm, "--method", "delta", "--window", "64", "--out",
                tmp_path / "o"], capsys)
    assert "the model has no trained classification head" in msg and "fix: fine-tune it first with plantllm finetune" \
        in msg
    assert not (tmp_path / "o" / "ranked.tsv").exists()


def test_window_longer_than_the_model(tmp_path, mlm, capsys):
    """tiny-bert-char takes 514 tokens: a 1,000 bp window is an error naming both, not truncated or a torch crash."""
    v = _vcf(tmp_path)
    msg = _run(["variants", "score", v, CARD, "--model", mlm, "--window", "1000", "--out", tmp_path / "o"], capsys)
    assert "a sequence of 1,000 bp is 1,002 tokens but the model" in msg and "takes at most 514" in msg
    assert "fix: use a shorter --window" in msg
    assert not (tmp_path / "o" / "ranked.tsv").exists()


def test_strength_table_unknown_genes_are_warned_and_counted(tmp_path, capsys):
    import json

    p = tmp_path / "s.tsv"
    p.write_text("gene\tvalue\nAT1G01010\t1.5\nAT1G01020\t2.0\nAT9G99999\t3.0\n")
    assert main(["data", "promoter", str(CARD), "--out", str(tmp_path / "ds"), "--strength", str(p)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "warning: 1 of 3 genes in the strength table" in err and "left out (first: 'AT9G99999')" in err
    m = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert m["strength_unknown_genes"] == 1 and m["strength_first_unknown"] == "AT9G99999"


# ------------------------------------------------------------------ VCF through the inference engine
def test_engine_vcf_pos_0_is_one_error_line(tmp_path, mlm, capsys):
    v = _vcf_line(_vcf(tmp_path), 6, lambda f: [f[0], "0", *f[2:]])
    msg = _run(["variants", "score", v, CARD, "--model", mlm, "--window", "64", "--out", tmp_path / "o"], capsys)
    assert "v.vcf:6: POS 0 is not a position" in msg
    assert not (tmp_path / "o").exists()  # nothing left behind, not even the job folder


def test_engine_counts_and_warns_variants_past_the_chromosome_end(tmp_path, mlm, capsys):
    """A record past the FASTA's end is read by the last shard of its chromosome: counted, warned, summarized."""
    import json

    v = _vcf(tmp_path)
    lines = v.read_text().splitlines()
    lines.append(lines[-1].split("\t")[0] + "\t1600000\t.\tA\tC\t.\t.\t.\tGT\t0/1\t1/1")
    v.write_text("\n".join(lines) + "\n")
    assert main(["variants", "score", str(v), str(CARD), "--model", str(mlm), "--window", "64",
                 "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "1 variant(s) left out: past the chromosome end" in err
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["vcf_stats"]["past_end"] == 1 and s["scored"] == 20
