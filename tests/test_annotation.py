"""Annotation: real TAIR10 gene models from NCBI GFF3, GTF, Ensembl- and Phytozome-style GFF3."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest

from conftest import DATA, card_yaml
from gff_styles import write_style
from plantllm.species.annotation import Annotation
from plantllm.core.errors import ChromosomeError, InputFileError
from plantllm.species.genome import Genome
from plantllm.core.sequence import reverse_complement
from plantllm.species.card import load_card

GFF = DATA / "tair10_chr1_1-1500000.gff3.gz"


@pytest.fixture(scope="module")
def ann():
    return Annotation(load_card(DATA / "cards" / "tair10_slice.yaml"))


def _raw_count(ftype):
    with gzip.open(GFF, "rt") as fh:
        return sum(1 for line in fh if not line.startswith("#") and line.split("\t")[2] == ftype)


def test_counts_match_the_file(ann):
    genes = {g.id for g in ann.genes}
    # Every gene line with a transcript is a gene; mRNAs are transcripts.
    assert sum(t.biotype == "mRNA" for t in ann.transcripts) == _raw_count("mRNA")
    assert len(genes) >= _raw_count("gene") - 5  # a few gene lines carry no transcript (e.g. lone pseudogenes)
    nac = next(g for g in ann.genes if g.locus == "AT1G01010")
    assert (nac.name, nac.chrom, nac.start, nac.end, nac.strand) == ("NAC001", "1", 3630, 5899, "+")


def test_tss_is_strand_aware(ann):
    arv1 = next(g for g in ann.genes if g.locus == "AT1G01020")
    assert arv1.strand == "-"
    t = arv1.canonical
    assert t.tss == t.end - 1 and t.tts == t.start
    nac = next(g for g in ann.genes if g.locus == "AT1G01010").canonical
    assert nac.tss == 3630


def test_canonical_is_longest_cds(ann):
    for g in ann.genes:
        if len(g.transcripts) > 1 and g.canonical.coding:
            assert g.canonical.cds_length == max(t.cds_length for t in g.transcripts)


def test_cds_translate_from_real_sequence(ann):
    """Spliced canonical CDSs start with ATG and end with a stop codon on their own strand."""
    g = Genome(ann.card)
    ok = total = 0
    for t in ann.canonical_transcripts():
        if not t.coding:
            continue
        seq = "".join(g.fetch("1", s, e) for s, e in t.cds).upper()
        if t.strand == "-":
            seq = reverse_complement(seq)
        total += 1
        ok += seq.startswith("ATG") and seq[-3:] in ("TAA", "TAG", "TGA") and len(seq) % 3 == 0
    assert total > 300 and ok / total > 0.97


def test_utrs_and_introns(ann):
    nac = next(g for g in ann.genes if g.locus == "AT1G01010").canonical
    five, three = nac.utrs()
    assert five == [(3630, 3759)] and three == [(5630, 5899)]
    assert nac.introns()[0] == (3913, 3995)


def test_region_classes(ann):
    pos = np.array([3630 - 500, 3630, 3800, 3950, 5700, 5899 + 200])
    assert list(ann.regions.classify("1", pos)) == ["promoter", "five_prime_UTR", "CDS", "intron",
                                                    "three_prime_UTR", "downstream"]
    assert ann.region_class("NC_003070.9", 1_499_000) in {"intergenic", "promoter", "downstream", "CDS",
                                                          "intron", "five_prime_UTR", "three_prime_UTR",
                                                          "noncoding_exon"}


def test_cache_reused_and_invalidated(tmp_path):
    gff = tmp_path / "a.gff3.gz"
    gff.write_bytes(GFF.read_bytes())
    card = load_card(card_yaml(tmp_path, gff=gff))
    a1 = Annotation(card)
    assert a1.built and a1.db_path.parent == tmp_path
    a2 = Annotation(card)
    assert not a2.built
    os.utime(gff, ns=(gff.stat().st_atime_ns, gff.stat().st_mtime_ns + 10**9))
    assert Annotation(card).built


def test_gtf_gives_the_same_tss(ann, tmp_path):
    card = load_card(card_yaml(tmp_path, gff=DATA / "tair10_chr1_1-500000.gtf.gz"))
    gtf = Annotation(card)
    assert gtf.format == "gtf"
    gff_tss = {(t.chrom, t.tss, t.strand) for t in ann.transcripts if t.end <= 500_000 and t.biotype == "mRNA"}
    gtf_tss = {(t.chrom, t.tss, t.strand) for t in gtf.transcripts}
    assert len(gff_tss) > 100 and gff_tss <= gtf_tss


@pytest.mark.parametrize("style", ["ensembl", "phytozome"])
def test_other_gff3_styles(ann, tmp_path, style):
    dest = tmp_path / f"{style}.gff3"
    n = write_style(GFF, dest, style)
    card = load_card(card_yaml(tmp_path, gff=dest))
    other = Annotation(card)
    assert len(other.genes) == n
    ref = {g.locus: g.canonical for g in ann.genes if g.canonical and g.canonical.coding}
    for g in other.genes:
        t, r = g.canonical, ref[g.locus]
        assert (t.tss, t.strand, t.cds_length) == (r.tss, r.strand, r.cds_length)
        assert t.utrs() == r.utrs()  # Phytozome has no exon lines: exons come from CDS + UTRs


def _bad(tmp_path, transform, name="bad.gff3"):
    lines = gzip.open(GFF, "rt").read().splitlines()[:400]
    p = tmp_path / name
    p.write_text("\n".join(transform(lines)) + "\n")
    return load_card(card_yaml(tmp_path, gff=p))


def _edit(lines, i, col, value):
    f = lines[i].split("\t")
    f[col] = value
    lines[i] = "\t".join(f)
    return lines


def _first_feature(lines, ftype="exon"):
    return next(i for i, line in enumerate(lines) if not line.startswith("#") and line.split("\t")[2] == ftype)


def test_orphan_child(tmp_path):
    card = _bad(tmp_path, lambda ls: [x for x in ls if "\tmRNA\t" not in x or "NM_099983.2" not in x])
    with pytest.raises(InputFileError, match=r"bad.gff3:\d+: orphan feature: Parent 'rna-NM_099983.2'"):
        Annotation(card)


def test_reversed_coordinates(tmp_path):
    def swap(ls):
        i = _first_feature(ls)
        f = ls[i].split("\t")
        f[3], f[4] = f[4], f[3]
        ls[i] = "\t".join(f)
        return ls
    with pytest.raises(InputFileError, match=r"bad.gff3:\d+: start \d+ > end \d+ \(wrong coordinate order\)"):
        Annotation(_bad(tmp_path, swap))


def test_spaces_instead_of_tabs(tmp_path):
    def spaces(ls):
        i = _first_feature(ls)
        ls[i] = ls[i].replace("\t", " ", 3)
        return ls
    with pytest.raises(InputFileError, match="separated by tabs, not spaces"):
        Annotation(_bad(tmp_path, spaces))


def test_seqid_not_in_card_suggests_alias(tmp_path):
    card = _bad(tmp_path, lambda ls: [x.replace("NC_003070.9", "Chr01") for x in ls])
    with pytest.raises(ChromosomeError, match=r"seqid 'Chr01'.*did you mean 'Chr1'.*add 'Chr01' to the aliases"):
        Annotation(card)


def test_features_beyond_chromosome(tmp_path):
    card = _bad(tmp_path, lambda ls: _edit(ls, _first_feature(ls, "region"), 4, "40000000"))
    with pytest.raises(InputFileError, match="beyond 1's length 30,427,671"):
        Annotation(card)


def test_empty_and_comment_only(tmp_path):
    p = tmp_path / "empty.gff3"
    p.write_text("")
    with pytest.raises(InputFileError, match="empty"):
        Annotation(load_card(card_yaml(tmp_path, gff=p)))
    p.write_text("##gff-version 3\n")
    with pytest.raises(InputFileError, match="no features found"):
        Annotation(load_card(card_yaml(tmp_path, gff=p)))


def test_unsorted_file_reads_the_same(ann, tmp_path):
    lines = gzip.open(GFF, "rt").read().splitlines()
    body = [x for x in lines if not x.startswith("#")]
    p = tmp_path / "shuffled.gff3"
    p.write_text("##gff-version 3\n" + "\n".join(reversed(body)) + "\n")
    other = Annotation(load_card(card_yaml(tmp_path, gff=p)))
    assert [(g.locus, g.canonical.tss) for g in other.genes] == [(g.locus, g.canonical.tss) for g in ann.genes]


def test_overlapping_exons_in_one_transcript(tmp_path):
    def dup(ls):
        i = _first_feature(ls)
        f = ls[i].split("\t")
        f[3] = str(int(f[3]) + 10)
        f[4] = str(int(f[4]) + 10)
        f[8] = f[8].replace("ID=exon-", "ID=dup-exon-")
        ls.insert(i + 1, "\t".join(f))
        return ls
    a = Annotation(_bad(tmp_path, dup))
    with pytest.raises(InputFileError, match="overlapping exons"):
        a.genes


# ------------------------------------------------------------------ issue #20: duplicates, containment, containers
def _line_of(lines, needle):
    return next(i for i, x in enumerate(lines) if needle in x)


def test_id_shared_by_features_of_different_types(tmp_path):
    def clash(ls):  # the mRNA takes its gene's ID: gffutils would rename one and merge the models
        i = _line_of(ls, "ID=rna-NM_099983.2;")
        ls[i] = ls[i].replace("ID=rna-NM_099983.2;Parent=gene-AT1G01010", "ID=gene-AT1G01010")
        return [x.replace("Parent=rna-NM_099983.2", "Parent=gene-AT1G01010") for x in ls]
    card = _bad(tmp_path, clash)
    lines = (tmp_path / "bad.gff3").read_text().splitlines()
    gene, mrna = _line_of(lines, "\tgene\t") + 1, _line_of(lines, "\tmRNA\t") + 1
    with pytest.raises(InputFileError, match=rf"bad.gff3:{mrna}: ID 'gene-AT1G01010' is already used on line {gene} "
                                             r"by a gene on 'NC_003070.9' \(here a mRNA"):
        Annotation(card)


def test_id_shared_by_features_on_different_seqids(tmp_path):
    def other_seqid(ls):  # a second copy of the NAC001 gene line on chromosome 2
        i = _line_of(ls, "ID=gene-AT1G01010;")
        return ls + [ls[i].replace("NC_003070.9", "NC_003071.7")]
    with pytest.raises(InputFileError, match=r"bad.gff3:\d+: ID 'gene-AT1G01010' is already used on line \d+ by a "
                                             r"gene on 'NC_003070.9' \(here a gene on 'NC_003071.7'\)"):
        Annotation(_bad(tmp_path, other_seqid))


def test_cds_lines_sharing_one_id_stay_legal(ann):
    with gzip.open(GFF, "rt") as fh:
        ids = [line.split("ID=", 1)[1].split(";", 1)[0] for line in fh if "\tCDS\t" in line]
    assert len(ids) > len(set(ids))  # NCBI: one CDS ID over all exons of a protein
    nac = next(g for g in ann.genes if g.locus == "AT1G01010").canonical
    assert len(nac.cds) == 6


def test_exon_beyond_its_transcript(tmp_path):
    def longer(ls):  # the last exon of NM_099983.2 runs 100 bp past the mRNA's end (5899)
        i = max(k for k, x in enumerate(ls) if "\texon\t" in x and "Parent=rna-NM_099983.2" in x)
        return _edit(ls, i, 4, "5999")
    card = _bad(tmp_path, longer)
    lines = (tmp_path / "bad.gff3").read_text().splitlines()
    i = max(k for k, x in enumerate(lines) if "\texon\t" in x and "Parent=rna-NM_099983.2" in x) + 1
    mrna = _line_of(lines, "ID=rna-NM_099983.2;") + 1
    with pytest.raises(InputFileError, match=rf"bad.gff3:{i}: exon \d+-5999 extends beyond its parent "
                                             rf"'rna-NM_099983.2' \(3631-5899, line {mrna}\)"):
        Annotation(card)


def test_gtf_exon_beyond_its_transcript_and_transcript_id_clash(tmp_path):
    lines = gzip.open(DATA / "tair10_chr1_1-500000.gtf.gz", "rt").read().splitlines()[:300]
    t = next(i for i, x in enumerate(lines) if "\ttranscript\t" in x)
    e = next(i for i, x in enumerate(lines) if "\texon\t" in x and i > t)
    tx_end = int(lines[t].split("\t")[4])
    bad = list(lines)
    bad[e] = "\t".join(c if k != 4 else str(tx_end + 50) for k, c in enumerate(bad[e].split("\t")))
    p = tmp_path / "bad.gtf"
    p.write_text("\n".join(bad) + "\n")
    with pytest.raises(InputFileError, match=rf"bad.gtf:{e + 1}: exon \d+-{tx_end + 50} extends beyond its parent"):
        Annotation(load_card(card_yaml(tmp_path, gff=p)))
    gid = lines[t].split('gene_id "', 1)[1].split('"', 1)[0]
    bad = list(lines) + [lines[e].replace(f'gene_id "{gid}"', 'gene_id "OTHER"')]
    p.write_text("\n".join(bad) + "\n")
    with pytest.raises(InputFileError, match=rf"bad.gtf:{len(bad)}: transcript_id '.+' is given to gene 'OTHER'"):
        Annotation(load_card(card_yaml(tmp_path, gff=p)))


def test_truncated_gzip_and_utf16_annotation(tmp_path):
    data = GFF.read_bytes()
    p = tmp_path / "cut.gff3.gz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match=r"cut.gff3.gz:\d+: the compressed stream is truncated or corrupt"):
        Annotation(load_card(card_yaml(tmp_path, gff=p)))
    p = tmp_path / "u16.gff3"
    p.write_bytes("".join(gzip.open(GFF, "rt").readlines()[:50]).encode("utf-16"))
    with pytest.raises(InputFileError, match=r"u16.gff3:1: is not UTF-8 text \(UTF-16"):
        Annotation(load_card(card_yaml(tmp_path, gff=p)))
