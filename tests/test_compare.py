"""Comparative genomics (``plantllm compare``) on real slices: A. thaliana TAIR10 chr1 1-1.5 Mb (reference),
A. arenosa AARE701a chr1 1-1 Mb (annotated) and A. lyrata ALyr_1.0 chr1 1-1 Mb (no annotation)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from plantllm.cli import main

DATA = Path(__file__).resolve().parent / "data"
CARDS = DATA / "cards"
TAIR, ARE, LYR = (str(CARDS / f"{n}_slice.yaml") for n in ("tair10", "arenosa", "lyrata"))
# thaliana genes whose orthologs lie in the arenosa and lyrata slices (found on the whole chromosomes)
GENES = ["AT1G01190", "AT1G02100", "AT1G02450"]


@pytest.fixture(scope="module")
def asms():
    from plantllm.species.assembly import Assembly

    return {a.card.name: a for a in (Assembly(TAIR), Assembly(ARE), Assembly(LYR))}


@pytest.fixture(scope="module")
def found(asms):
    from plantllm.apps.orthologs import OrthologParams, find_orthologs

    p = OrthologParams(upstream=300)
    return find_orthologs(asms["tair10_slice"], [asms["arenosa_slice"], asms["lyrata_slice"]], p, genes=GENES)


def test_orthologs_by_proteins_and_by_minimap2(found, asms):
    by = {(r.group, r.species): r for r in found.regions}
    assert found.counts["arenosa_slice"]["method"] == "proteins"
    assert found.counts["lyrata_slice"]["method"] == "minimap2"
    # the best reciprocal protein hit of AT1G01190 in the slice (as on the whole arenosa chromosomes)
    assert by[("AT1G01190", "arenosa_slice")].gene == "AARE701A_LOCUS87"
    assert all(by[(g, "tair10_slice")].length == 301 and (g, "arenosa_slice") in by for g in GENES)
    for g in ("AT1G01190", "AT1G02450"):  # (AT1G02100's 300-bp promoter is too diverged to map in lyrata)
        ly = by[(g, "lyrata_slice")]
        assert 250 <= ly.length <= 400 and ly.score > 0.8  # minimap2 identity of the anchored promoter
    # lyrata: the region found on the whole genome (AT1G01190 -> CM047395.1:437,133-437,434, + strand)
    r = by[("AT1G01190", "lyrata_slice")]
    assert r.strand == "+" and abs(r.start - 437_133) < 30
    # the two methods agree on arenosa: mapping the promoter lands on the protein ortholog's promoter
    from plantllm.apps.orthologs import OrthologParams, find_orthologs

    mapped = find_orthologs(asms["tair10_slice"], [asms["arenosa_slice"]], OrthologParams(upstream=300, method="map"),
                            genes=GENES)
    for m in (x for x in mapped.regions if x.species == "arenosa_slice"):
        p = by[(m.group, "arenosa_slice")]
        assert m.strand == p.strand and min(m.end, p.end) - max(m.start, p.start) > 200


def test_projection_through_a_minimap2_hit(asms):
    """A real sequence mapped back onto its own genome, forward and reverse-complemented, projects base for base."""
    from plantllm.apps.orthologs import GenomeMapper, project
    from plantllm.core.sequence import reverse_complement

    g = asms["lyrata_slice"].genome
    seq = g.fetch("1", 436_000, 437_500).upper()
    mapper = GenomeMapper(asms["lyrata_slice"])
    hit = next(h for h in mapper.aligner.map(seq) if h.is_primary)
    assert project(hit, 100, len(seq)) == 436_100
    rc = reverse_complement(seq)
    hit = next(h for h in mapper.aligner.map(rc) if h.is_primary)
    assert hit.strand == -1 and project(hit, 0, len(rc)) == 437_499 and project(hit, 1499, len(rc)) == 436_000
    assert mapper.map(rc, (100, 200), 1, 0.3)[1:4] == (437_300, 437_400, -1)


def test_alignment_projection_and_elements_known_answer(asms):
    """A real promoter against an edited copy (10-bp deletion, one substitution): the projection has the gap and
    the mismatch where they were made; elements are called exactly where the columns pass."""
    from plantllm.apps.alignment import group_columns, project, runs, to_genome

    ref = asms["tair10_slice"].genome.fetch("1", 84_945, 85_245).upper()
    other = ref[:100] + ref[110:200] + ("A" if ref[200] != "A" else "C") + ref[201:]
    pr = project(ref, other)
    assert (pr.offset[100:110] == -1).all() and pr.offset[99] == 99 and pr.offset[110] == 100
    assert pr.offset[200] == 190 and not pr.match[200] and pr.match[201]
    assert pr.aligned_fraction == pytest.approx(290 / 300) and pr.identity == pytest.approx(289 / 290)
    assert runs(np.array([1, 1, 0, 1, 1, 1, 0], bool), 2) == [(0, 2), (3, 6)]
    assert to_genome(1000, 1300, "-", 0, 20) == (1280, 1300) and to_genome(1000, 1300, "+", 0, 20) == (1000, 1020)
    # constraint: low LLR at reference columns 40-79 in both species, everywhere else neutral
    llr_ref = np.zeros(300)
    llr_ref[40:80] = -2.0
    llr_oth = np.zeros(len(other))
    llr_oth[40:80] = -2.0
    gc = group_columns("ref", {"oth": pr}, {"ref": llr_ref, "oth": llr_oth}, {"ref": -1.0, "oth": -1.0}, window=1,
                       min_identity=0.8)
    el = gc.elements(15)
    assert el["constraint"] == [(40, 80)] and el["both"] == [(40, 80)]
    assert el["sequence"] == [(0, 100), (110, 200), (201, 300)]


def _tiny_mlm(path: Path) -> Path:
    from plantllm.models import checkpoint as M

    spec = M.load_spec(Path(__file__).resolve().parents[1] / "configs/models/tiny-gpn-char.yaml")
    tok = M.build_tokenizer(spec)
    M.save(M.create(spec, tok, task="mlm"), tok, path)
    return path


def test_cli_end_to_end(tmp_path):
    import pyBigWig

    orth, out = tmp_path / "orth", tmp_path / "cons"
    assert main(["compare", "orthologs", TAIR, ARE, LYR, "--genes", "AT1G01190,AT1G02450", "--upstream", "60",
                 "-o", str(orth)]) == 0
    rows = [x.split("\t") for x in (orth / "orthologs.tsv").read_text().splitlines()[1:]]
    assert len(rows) == 6 and {r[1] for r in rows} == {"tair10_slice", "arenosa_slice", "lyrata_slice"}
    fa = (orth / "fasta" / "lyrata_slice.fa").read_text()
    assert fa.startswith(">AT1G01190 lyrata_slice:CM047395.1:") and fa.count(">") == 2
    assert main(["compare", "conserved", str(orth), "--model", str(_tiny_mlm(tmp_path / "mlm")), "-o", str(out),
                 "--score-window", "32", "--window", "10", "--min-length", "5", "--min-identity", "0.7",
                 "--min-aligned", "0.3"]) == 0
    s = json.loads((out / "summary.json").read_text())
    # arenosa's annotated TSSs sit 3' of thaliana's (no 5' UTRs): its 61-bp windows align only once widened
    assert s["groups_aligned"] == 2 and s["elements"]["sequence"] >= 1 and not s["dropped_unaligned"]
    for sp in ("tair10_slice", "arenosa_slice", "lyrata_slice"):
        assert (out / f"constraint.{sp}.bw").exists()
    cols = gzip.decompress((out / "columns.tsv.gz").read_bytes()).decode().splitlines()
    assert len(cols) == 1 + 2 * 61 and (out / "columns.tsv.gz.tbi").exists()
    # the constraint bigWig holds the reference's own per-base LLR, as in its score tracks
    first = cols[1].split("\t")
    bw = pyBigWig.open(str(out / "constraint.tair10_slice.bw"))
    assert bw.values(first[0], int(first[1]) - 1, int(first[1]))[0] == pytest.approx(float(first[7]), abs=1e-3)
    beds = (out / "elements.sequence.bed").read_text().splitlines()
    assert beds[0].startswith("track") and all(x.startswith("NC_003070.9\t") for x in beds[1:])
    starts = [int(x.split("\t")[1]) for x in beds[1:]]
    assert starts == sorted(starts)
    assert (out / s["plot"]).stat().st_size > 10_000


def test_bad_inputs(tmp_path, capsys):
    table = tmp_path / "t.tsv"
    table.write_text("group\tspecies\tchrom\tstart\tend\tstrand\ng1\ttair10_slice\tNC_003070.9\t100\t400\t+\n"
                     "g1\tlyrata\tCM047395.1\t100\t400\t+\n")
    assert main(["compare", "orthologs", TAIR, LYR, "--table", str(table), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "t.tsv:3" in err and "'lyrata' is not one of" in err
    table.write_text("g1\ttair10_slice\tNC_003070.9\t400\t100\t+\n")
    assert main(["compare", "orthologs", TAIR, LYR, "--table", str(table), "-o", str(tmp_path / "o")]) == 2
    assert "t.tsv:1" in capsys.readouterr().err
    assert main(["compare", "orthologs", TAIR, LYR, "--genes", "AT1G01190", "--method", "proteins",
                 "-o", str(tmp_path / "o")]) == 2
    assert "needs an annotation for lyrata_slice" in capsys.readouterr().err
    assert main(["compare", "orthologs", TAIR, LYR, "-o", str(tmp_path / "o")]) == 2
    assert "exactly one of" in capsys.readouterr().err
    assert main(["compare", "conserved", str(tmp_path), "--model", str(tmp_path), "-o", str(tmp_path / "c")]) == 2
    assert "not an ortholog folder" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (tmp_path / "c").exists()


def test_multi_species_corpus(tmp_path, capsys):
    """Two species' pretraining windows combined split by split (``plantllm data combine``), capped per part."""
    import datasets

    for card, name in ((TAIR, "t"), (LYR, "l")):
        assert main(["data", "pretrain", card, "-o", str(tmp_path / name), "--length", "256", "--stride", "20000",
                     "--block-size", "100000"]) == 0
    parts = [datasets.load_from_disk(str(tmp_path / n)) for n in ("t", "l")]
    assert main(["data", "combine", str(tmp_path / "t"), str(tmp_path / "l"), "-o", str(tmp_path / "both")]) == 0
    both = datasets.load_from_disk(str(tmp_path / "both"))
    for split in both:
        assert len(both[split]) == len(parts[0][split]) + len(parts[1][split])
    assert set(both["train"]["seq"]) == set(parts[0]["train"]["seq"]) | set(parts[1]["train"]["seq"])
    m = json.loads((tmp_path / "both" / "manifest.json").read_text())
    assert m["species"] == "tair10_slice,lyrata_slice" and m["kind"] == "pretrain"
    assert main(["data", "combine", str(tmp_path / "t"), str(tmp_path / "l"), "-o", str(tmp_path / "cap"),
                 "--max-per-part", "10"]) == 0
    assert len(datasets.load_from_disk(str(tmp_path / "cap"))["train"]) == 20
    assert main(["data", "combine", str(tmp_path / "t"), str(tmp_path), "-o", str(tmp_path / "bad")]) == 2
    assert "not a plantllm dataset" in capsys.readouterr().err and not (tmp_path / "bad").exists()
