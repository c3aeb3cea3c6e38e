"""The one BED reader and the key-value table reader: line-numbered errors on every malformed row."""

import gzip

import pytest

from conftest import DATA
from plantllm.core.errors import ChromosomeError, InputFileError
from plantllm.core.tables import integer, number, read_bed, read_key_values, read_rows
from plantllm.species.card import load_card
from plantllm.species.regions import parse_region, read_bed_regions


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_bed_records_and_summit(tmp_path):
    p = _write(tmp_path, "a.narrowPeak", "track name=x\nChr1\t100\t300\tp1\t0\t+\t1\t1\t1\t50\nChr1\t400\t500\n")
    recs = list(read_bed(p))
    assert [(r.chrom, r.start, r.end, r.line) for r in recs] == [("Chr1", 100, 300, 2), ("Chr1", 400, 500, 3)]
    assert recs[0].summit == 150 and recs[1].summit == 450 and recs[0].strand == "+" and recs[0].name == "p1"


@pytest.mark.parametrize("line,what", [("Chr1\t10", "at least 3"), ("Chr1 10 20", "tabs, not spaces"),
                                       ("Chr1\tx\t20", "integers"), ("Chr1\t30\t20", "bad interval"),
                                       ("Chr1\t-1\t20", "bad interval"), ("Chr1\t1\t20\tn\t0\t*", "strand")])
def test_bad_bed_lines_name_the_line(tmp_path, line, what):
    p = _write(tmp_path, "b.bed", "Chr1\t1\t5\n" + line + "\n")
    with pytest.raises(InputFileError, match=what) as e:
        list(read_bed(p))
    assert f"{p}:2:" in str(e.value)


def test_truncated_gzip_and_utf16_are_one_line_errors(tmp_path):
    data = gzip.compress(("Chr1\t1\t5\n" * 20000).encode())
    p = tmp_path / "t.bed.gz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match="truncated or corrupt"):
        list(read_bed(p))
    q = tmp_path / "u.bed"
    q.write_bytes("Chr1\t1\t5\n".encode("utf-16"))
    with pytest.raises(InputFileError, match="UTF-8|NUL"):
        list(read_bed(q))


def test_regions_translate_aliases_and_check_lengths(tmp_path):
    card = load_card(DATA / "cards" / "tair10_slice.yaml")
    p = _write(tmp_path, "r.bed", "Chr1\t500\t900\nChr1\t100\t600\n1\t2000\t3000\n")
    assert read_bed_regions(p, card) == [("1", 100, 900), ("1", 2000, 3000)]
    with pytest.raises(ChromosomeError, match="Chr9"):
        read_bed_regions(_write(tmp_path, "x.bed", "Chr9\t1\t5\n"), card)
    n = card.chromosome("1").length
    with pytest.raises(InputFileError, match="beyond"):
        read_bed_regions(_write(tmp_path, "y.bed", f"Chr1\t1\t{n + 1}\n"), card)
    assert parse_region("Chr1:1,001-2,000", card) == ("1", 1000, 2000)


def test_key_values_header_duplicates_and_non_finite(tmp_path):
    ok = _write(tmp_path, "s.tsv", "gene\tvalue\nAT1G01010\t1.5\nAT1G01020\t2\nAT1G01020\t2\n")
    assert read_key_values(ok, "strength table", number) == {"AT1G01010": 1.5, "AT1G01020": 2.0}
    dup = _write(tmp_path, "d.tsv", "AT1G01010\t1.5\nAT1G01010\t3\n")
    with pytest.raises(InputFileError, match="given twice") as e:
        read_key_values(dup, "strength table", number)
    assert f"{dup}:2:" in str(e.value) and "line 1" in str(e.value)
    for bad in ("nan", "inf", "-Infinity"):
        with pytest.raises(InputFileError, match="finite|not a number"):
            read_key_values(_write(tmp_path, f"{bad}.tsv", f"g1\t1\ng2\t{bad}\n"), "t", number)
    with pytest.raises(InputFileError, match="columns"):
        read_key_values(_write(tmp_path, "one.tsv", "g1\n"), "t")
    with pytest.raises(InputFileError, match="no gene-group rows"):
        read_key_values(_write(tmp_path, "e.tsv", "gene\tgroup\n"), "t", columns=("gene", "group"))


def test_rows_skip_a_header_with_other_names(tmp_path):
    p = _write(tmp_path, "l.tsv", "CHROM\tPOS\nChr1\t5\n")
    assert list(read_rows(p, "t", {"chrom": str, "pos": int})) == [(2, ("Chr1", 5))]
    with pytest.raises(InputFileError, match="l2.tsv:3"):
        list(read_rows(_write(tmp_path, "l2.tsv", "chrom\tpos\nChr1\t5\nChr1\tx\n"), "t", {"chrom": str, "pos": int}))


def test_tables_utf16_and_nul_are_one_line_errors(tmp_path):
    """What the fuzzer (tests/test_fuzz.py) throws at label tables: UTF-16 text and a NUL byte."""
    p = tmp_path / "s.tsv"
    p.write_bytes("gene\tvalue\ng1\t1.5\n".encode("utf-16"))
    with pytest.raises(InputFileError, match="s.tsv:1: is not UTF-8 text"):
        read_key_values(p, "strength table", number)
    p.write_bytes(b"gene\tvalue\ng1\t1.\x005\n")
    with pytest.raises(InputFileError, match="s.tsv:2:") as e:
        read_key_values(p, "strength table", number)
    assert "\n" not in str(e.value)


def test_a_bad_first_row_is_not_taken_for_a_header(tmp_path):
    """A headerless table whose first row holds NaN or a typo is an error, not a silently skipped header."""
    for first in ("g1\tnan", "g1\t1.5x", "g1\tinf"):
        with pytest.raises(InputFileError, match=r"t.tsv:1: value"):
            read_key_values(_write(tmp_path, "t.tsv", f"{first}\ng2\t1\n"), "t", number)
    with pytest.raises(InputFileError, match=r"p.tsv:1: '37x01' is not an integer"):
        list(read_rows(_write(tmp_path, "p.tsv", "Chr1\t37x01\n"), "t", {"chrom": str, "pos": integer}))
    assert read_key_values(_write(tmp_path, "h.tsv", "locus\tlog2FC\ng2\t1\n"), "t", number) == {"g2": 1.0}
    assert read_key_values(_write(tmp_path, "c.tsv", "# exported\nGene_ID\tTPM\ng2\t1\n"), "t", number) == {"g2": 1.0}
