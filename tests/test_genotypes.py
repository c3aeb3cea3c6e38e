"""ALT dosage from a record's distinct genotype strings (``species/genotypes.RecordGenotypes``) equals the
per-sample reading through pysam's sample proxies, on the real maize B73 v5 panel slice and on edge calls."""

from __future__ import annotations

import math
from pathlib import Path

import pysam
import pytest

from plantllm.species.genotypes import GenotypeError, dosage_of

DATA = Path(__file__).parent / "data"


def per_sample(rec, alt_index: int):
    """The reference: every sample through pysam (what dosage_of did before, ~45 us a sample)."""
    total, called, carriers, ploidy = 0.0, 0, 0, 0
    for s in rec.samples.values():
        gt = s.get("GT")
        if gt is None:
            continue
        alleles = [a for a in gt if a is not None]
        if not alleles:
            continue
        ploidy = max(ploidy, len(gt))
        k = sum(1 for a in alleles if a == alt_index)
        total += k / len(alleles)
        called += 1
        carriers += k > 0
    return (total / called if called else math.nan), called, carriers, ploidy


def _same(a, b):
    assert a[1:] == b[1:]
    assert (math.isnan(a[0]) and math.isnan(b[0])) or a[0] == pytest.approx(b[0], abs=1e-12)


def _records(tmp_path: Path, edit=None) -> list:
    lines = (DATA / "maize_b73v5_chr1_snps.vcf").read_text().splitlines()
    out = []
    for i, line in enumerate(lines):
        if not line.startswith("#") and edit is not None:
            cols = line.split("\t")
            line = "\t".join(cols[:9] + edit(i, cols[9:]))
        out.append(line)
    p = tmp_path / "v.vcf"
    p.write_text("\n".join(out) + "\n")
    with pysam.VariantFile(str(p)) as vf:
        return list(vf)


def test_dosage_equals_per_sample_reading_on_the_real_panel(tmp_path):
    recs = _records(tmp_path)
    assert len(recs) == 190 and len(recs[0].samples) == 12
    carriers = 0
    for rec in recs:
        for k in range(1, len(rec.alleles)):
            got = dosage_of(rec, k)
            _same(got, per_sample(rec, k))
            carriers += got[2]
    assert carriers > 100  # the slice has real non-reference calls


EDGE = ["0/.", ".", "./.", "1", "1|1", "0|1", "0/1/1/1", ".|.", "1/0", "0/0"]


def test_dosage_equals_per_sample_reading_on_edge_calls(tmp_path):
    """Half-missing, haploid, phased, tetraploid and wholly missing calls, mixed in one record."""
    def edit(i, samples):
        return [EDGE[(i + j) % len(EDGE)] + s[s.index(":"):] if ":" in s else EDGE[(i + j) % len(EDGE)]
                for j, s in enumerate(samples)]

    recs = _records(tmp_path, edit)
    for rec in recs:
        for k in range(0, len(rec.alleles)):
            _same(dosage_of(rec, k), per_sample(rec, k))
    all_missing = _records(tmp_path, lambda i, s: ["./."] * len(s))
    assert math.isnan(dosage_of(all_missing[0], 1)[0]) and dosage_of(all_missing[0], 1)[1:] == (0, 0, 0)


def test_allele_index_beyond_the_alts_is_named(tmp_path):
    """htslib reads 0/3 at a one-ALT site as 0/. : the text shows it, and the first such sample is named."""
    recs = _records(tmp_path, lambda i, s: ["0/0"] * 3 + ["0/3"] + ["0/5"] + ["0/1"] * (len(s) - 5))
    rec = next(r for r in recs if len(r.alleles) == 2)
    names = list(rec.header.samples)
    with pytest.raises(GenotypeError, match=rf"sample {names[3]} has genotype 0/3 but the site lists 1 ALT allele "
                                            r"\(allele index 3 does not exist\)"):
        dosage_of(rec, 1)
