"""Genome: FASTA access in plain, gzip and bgzip form; policies; bad FASTA."""

from __future__ import annotations

import gzip
import os
import time

import pytest

from conftest import DATA, gunzip_to
from plantllm.core.errors import ChromosomeError, InputFileError, SequenceError
from plantllm.species.genome import Genome
from plantllm.core.sequence import gc_content, reverse_complement
from plantllm.species.card import get_card, parse_card

SLICE = DATA / "tair10_chr1_1-1500000.fa.gz"


def _card(fasta, iupac="to_n"):
    return parse_card({"name": "t", "assembly": "TAIR10.1",
                       "genome": {"fasta": str(fasta), "iupac": iupac, "partial": True},
                       "chromosomes": {"nuclear": [{"name": "1", "length": 30427671,
                                                    "aliases": ["NC_003070.9", "Chr1"]}],
                                       "organelles": [{"name": "Pt", "length": 154478, "kind": "chloroplast",
                                                       "aliases": ["ChrC"]}]}})


def test_bgzip_plain_and_gzip_agree(tmp_path):
    plain = gunzip_to(SLICE, tmp_path / "slice.fa")
    gz = tmp_path / "slice.plain.fa.gz"
    with open(plain, "rb") as fin, gzip.open(gz, "wb") as fout:  # ordinary gzip, not bgzip
        fout.write(fin.read())
    seqs = [Genome(_card(p)).fetch("Chr1", 1_000_000, 1_000_200) for p in (SLICE, plain, gz)]
    assert seqs[0] == seqs[1] == seqs[2]
    assert len(seqs[0]) == 200


def test_real_tair10_start_and_soft_mask():
    g = Genome(_card(SLICE))
    # TAIR10 chr1 begins with the soft-masked telomeric repeat CCCTAAA.
    assert g.fetch("1", 0, 28) == "ccctaaaccctaaaccctaaaccctaaa"
    assert g.fetch("NC_003070.9", 0, 10) == g.fetch("Chr1", 0, 10)
    assert g.file_name("1") == "NC_003070.9"
    assert g.length("1") == 1_500_000
    assert g.chromosomes() == ["1"]


def test_reverse_strand_and_helpers():
    g = Genome(_card(SLICE))
    fwd = g.fetch("1", 5000, 5100)
    assert g.fetch("1", 5000, 5100, strand="-") == reverse_complement(fwd)
    assert reverse_complement("ACGTNacgtnRYKM") == "KMRYnacgtNACGT"
    assert gc_content("GGCCAATT") == 0.5 and gc_content("GCNN") == 1.0
    s = g.stats("1")
    assert 0.30 < s.gc < 0.40 and 0.0 < s.soft_masked_fraction < 0.5


def test_padded_fetch_at_the_telomere():
    g = Genome(_card(SLICE))
    assert g.fetch_padded("1", -5, 5) == "NNNNN" + g.fetch("1", 0, 5)
    with pytest.raises(IndexError, match="outside"):
        g.fetch("1", 1_499_990, 1_500_010)


def _write(tmp_path, text, name="g.fa"):
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def test_iupac_policies(tmp_path):
    fa = _write(tmp_path, ">Chr1\nACGTRYKMacgtn\n")
    assert Genome(_card(fa, "keep")).fetch("1") == "ACGTRYKMacgtn"
    assert Genome(_card(fa, "to_n")).fetch("1") == "ACGTNNNNacgtn"
    with pytest.raises(SequenceError, match=r"ambiguity code 'R' at 1:5.*policy is 'reject'"):
        Genome(_card(fa, "reject")).fetch("1")


def test_non_iupac_character(tmp_path):
    fa = _write(tmp_path, ">Chr1\nACGT*ACGT\n")
    with pytest.raises(SequenceError, match=r"non-IUPAC character '\*' at 1:5"):
        Genome(_card(fa)).fetch("1")


def test_duplicate_names(tmp_path):
    fa = _write(tmp_path, ">Chr1\nACGT\n>Chr1\nACGT\n")
    with pytest.raises(InputFileError, match=r"g.fa:3: duplicate sequence name 'Chr1'"):
        Genome(_card(fa))


def test_unequal_line_width(tmp_path):
    fa = _write(tmp_path, ">Chr1\nACGTACGT\nACG\nACGTACGT\n")
    with pytest.raises(InputFileError, match=r"g.fa:3: record 'Chr1' has lines of unequal width \(3 bp here, 8 bp above\)"):
        Genome(_card(fa))


def test_empty_and_not_fasta(tmp_path):
    with pytest.raises(InputFileError, match="empty"):
        Genome(_card(_write(tmp_path, "")))
    with pytest.raises(InputFileError, match=r":1: not a FASTA file"):
        Genome(_card(_write(tmp_path, "##gff-version 3\n", "x.fa")))


def test_truncated_gzip(tmp_path):
    data = SLICE.read_bytes()
    fa = _write(tmp_path, data[: len(data) // 2], "cut.fa.gz")
    with pytest.raises(InputFileError, match="truncated or corrupt"):
        Genome(_card(fa)).fetch("1", 1_400_000, 1_400_100)


def test_windows_line_endings(tmp_path):
    fa = _write(tmp_path, ">Chr1\r\nACGTACGT\r\nACGTAC\r\n")
    assert Genome(_card(fa)).fetch("1") == "ACGTACGTACGTAC"


def test_stale_and_corrupt_index_rebuilt(tmp_path):
    fa = _write(tmp_path, ">Chr1\nACGTACGT\nAC\n")
    Genome(_card(fa)).close()
    fai = tmp_path / "g.fa.fai"
    assert fai.exists()
    # The FASTA changes after indexing: the old index is stale and must not be used.
    time.sleep(0.01)
    fa.write_text(">Chr1\nTTTTGGGG\nCCCCAA\n")
    os.utime(fai, ns=(fa.stat().st_mtime_ns - 10**9,) * 2)
    assert Genome(_card(fa)).fetch("1") == "TTTTGGGGCCCCAA"
    fai.write_text("garbage\n")
    os.utime(fai, None)
    assert Genome(_card(fa)).fetch("1") == "TTTTGGGGCCCCAA"


def test_unknown_chromosome_suggests_alias():
    g = Genome(_card(SLICE))
    with pytest.raises(ChromosomeError, match=r"'chr1' .*did you mean 'Chr1'"):
        g.fetch("chr1", 0, 10)
    with pytest.raises(ChromosomeError, match="in the card but not in the FASTA"):
        g.fetch("Pt", 0, 10)


def test_organelles_excluded_by_default(tmp_path):
    fa = _write(tmp_path, ">Chr1\nACGT\n>ChrC\nGGCC\n")
    g = Genome(_card(fa))
    assert g.chromosomes() == ["1"]
    assert g.chromosomes(nuclear_only=False) == ["1", "Pt"]


def test_plain_gzip_rice_recompressed(data):
    rice = get_card("oryza_sativa")
    g = Genome(rice, data / "rice_msu7_chr2_1-1000000.fa.gz")
    assert g.length("chr02") == 1_000_000
    assert abs(g.stats("2").gc - 0.433) < 0.005  # README of the shared slice: GC 43.3%


# ------------------------------------------------------------------ issue #20: indexes verified, names, content
def test_index_of_a_same_size_fasta_is_verified(tmp_path):
    """A .fai newer than the FASTA and inside its size, but from an older FASTA of the same size."""
    fa = _write(tmp_path, ">Chr1\nACGTACGT\nAC\n>ChrC\nACGTACGT\nACGTACGT\n")
    Genome(_card(fa)).close()
    fai = tmp_path / "g.fa.fai"
    fa.write_text(">Chr1\nACGTACGT\nACGTAC\n>ChrC\nACGTACGT\nACGT\n")  # same size, other lengths
    os.utime(fai, ns=(fa.stat().st_mtime_ns + 10**9,) * 2)
    g = Genome(_card(fa))
    assert g.length("1") == 14 and g.length("Pt") == 12
    assert g.fetch("Pt") == "ACGTACGTACGT"


def test_corrupt_gzi_is_rebuilt(tmp_path):
    import shutil
    import struct

    fa = tmp_path / "s.fa.gz"
    shutil.copy(SLICE, fa)
    want = Genome(_card(fa)).fetch("1", 1_400_000, 1_400_100)
    gzi = tmp_path / "s.fa.gz.gzi"
    data = bytearray(gzi.read_bytes())
    n = struct.unpack("<Q", data[:8])[0]
    for k in range(n):  # every compressed offset 100 bytes off: the index points into the middle of blocks
        c = struct.unpack_from("<Q", data, 8 + 16 * k)[0]
        struct.pack_into("<Q", data, 8 + 16 * k, c + 100)
    gzi.write_bytes(bytes(data))
    assert Genome(_card(fa)).fetch("1", 1_400_000, 1_400_100) == want
    assert gzi.read_bytes() != bytes(data)  # rebuilt


def test_stale_index_of_a_bgzip_fasta_is_verified(tmp_path):
    import pysam

    plain = tmp_path / "a.fa"
    plain.write_text(">Chr1\n" + "ACGT" * 5000 + "\n>ChrC\n" + "GGCC" * 100 + "\n")
    pysam.tabix_compress(str(plain), str(tmp_path / "g.fa.gz"))
    fa = tmp_path / "g.fa.gz"
    Genome(_card(fa)).close()
    plain.write_text(">Chr1\n" + "ACGT" * 4000 + "\n>ChrC\n" + "GGCC" * 1100 + "\n")
    fa.unlink()
    pysam.tabix_compress(str(plain), str(fa))
    for idx in (tmp_path / "g.fa.gz.fai", tmp_path / "g.fa.gz.gzi"):
        os.utime(idx, ns=(fa.stat().st_mtime_ns + 10**9,) * 2)
    g = Genome(_card(fa))
    assert (g.length("1"), g.length("Pt")) == (16000, 4400)


def test_names_differing_only_by_case(tmp_path):
    fa = _write(tmp_path, ">Chr1\nACGT\n>chr1\nACGT\n")
    with pytest.raises(InputFileError, match=r"g.fa:3: sequence name 'chr1' differs from 'Chr1' \(line 1\) only by case"):
        Genome(_card(fa))
    # an index made elsewhere (samtools keeps both) does not let them through either
    import pysam

    pysam.faidx(str(fa))
    with pytest.raises(InputFileError, match="only by case"):
        Genome(_card(fa))


def test_utf16_and_non_utf8_fasta(tmp_path):
    fa = _write(tmp_path, ">Chr1\nACGTACGT\n".encode("utf-16"))
    with pytest.raises(InputFileError, match=r"g.fa:1: is not UTF-8 text \(UTF-16"):
        Genome(_card(fa))
    fa = _write(tmp_path, b">Chr1 \xe9t\xe9\nACGT\n", "l.fa")  # Latin-1 header
    with pytest.raises(InputFileError, match=r"l.fa:1: is not UTF-8 text"):
        Genome(_card(fa))


def test_protein_fasta_refused(tmp_path):
    fa = _write(tmp_path, ">Chr1 NAC001\nMEDQVGFGFRPNDEELVGHYLRNKIEGNTSRDVEVAISEVNICSYDPWNLRFQSKYKSRDAMWYFFSRRE\n")
    with pytest.raises(InputFileError, match=r"g.fa: record 'Chr1' looks like protein, not DNA .*amino-acid codes "
                                             r"such as E, F, I, L, P, Q.*genomic \(nucleotide\) FASTA"):
        Genome(_card(fa))
    # a stray bad character in DNA is not protein: it is reported by position when read
    fa = _write(tmp_path, ">Chr1\n" + "ACGT" * 50 + "E" + "ACGT" * 50 + "\n", "d.fa")
    with pytest.raises(SequenceError, match="non-IUPAC character 'E' at 1:201"):
        Genome(_card(fa)).fetch("1")


def test_read_fasta_lengths_uses_a_verified_index(tmp_path):
    from plantllm.species.genome import read_fasta_lengths

    fa = _write(tmp_path, ">Chr1\nACGTACGT\nAC\n>ChrC\nACGTACGT\nACGTACGT\n")
    read_fasta_lengths(fa)
    fa.write_text(">Chr1\nACGTACGT\nACGTAC\n>ChrC\nACGTACGT\nACGT\n")
    os.utime(tmp_path / "g.fa.fai", ns=(fa.stat().st_mtime_ns + 10**9,) * 2)
    assert [n for *_, n in read_fasta_lengths(fa)] == [14, 12]
