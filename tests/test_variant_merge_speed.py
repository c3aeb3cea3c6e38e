"""The merge's fast writers give the text of the slow ones they replaced: the ranked TSV as pandas' to_csv writes it,
the scored VCF's INFO as pysam writes a record whose fields are set one by one (issue #18)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pysam

from plantllm.apps.scored_vcf import _splice, float_texts, write_vcf
from plantllm.apps.variant_report import tsv_names, tsv_text, tsv_text_pandas

EDGE = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-300, 5e-324, 1.7976931348623157e308, 123456.5, 1234565.0, 0.5,
        2.5e-5, 999999.5, -999999.49, 1e-4, 9.99995e-5, 0.1, 1 / 3, -2 / 3, 1e6, 1e16, 3.0]


def _ranked(n: int, rng, **change) -> pa.Table:
    f = np.resize(np.concatenate([EDGE, rng.normal(size=n) * 10.0 ** rng.integers(-9, 9, n)]), n)
    cols = {"rank": np.arange(1, n + 1), "priority": rng.random(n), "chrom": ["1"] * (n - 1) + ["Mt"],
            "pos": rng.integers(0, 30_000_000, n), "id": ["."] * n, "ref": ["A"] * n, "alt": ["C"] * n,
            "consequence": ["missense_variant"] * n, "gene": ["AT1G01010", ""] * (n // 2) + [""] * (n % 2),
            "transcript": ["NM_1.2"] * n, "aa_change": ["p.Ala1Cys"] * n,
            "distance_to_tss": rng.integers(-1, 5000, n), "repeat": rng.random(n) < 0.5, "subgenome": [""] * n,
            "score0": f, "score1": -f[::-1], "dosage": np.resize([1.0, 0.5, -0.0, 0.0, np.nan], n),
            "dosage_weighted_score": f / 3, "n_carriers": rng.integers(0, 9, n), "impact": rng.random(n),
            "evidence": rng.random(n), "scored_by": ["llr"] * n, "pct_class": rng.random(n) * 100,
            "calibrated_score": f * 1e-7, "pct_neutral": rng.random(n) * 100}
    cols.update(change)
    return pa.table({k: pa.array(v) for k, v in cols.items()})


def test_tsv_text_is_pandas_to_csv_text():
    """Floats by %.6g (NaN, inf, -0, subnormal, the largest double, the rounding edges), several models,
    a dosage of few values (formatted once per distinct bits: 0.0 and -0.0 differ), and the rows pandas
    writes differently (a null float, a null string, a tab or a quote to be quoted, a chromosome not in the
    FASTA): the same text, byte for byte."""
    rng = np.random.default_rng(0)
    n = 6000
    file_name = {"1": "Chr1", "Mt": "ChrM"}
    null_f = np.where(rng.random(n) < 0.1, None, rng.random(n)).tolist()
    for change in ({}, {"score1": pa.array(null_f, pa.float64())}, {"gene": [None, "G"] * (n // 2)},
                   {"alt": ["C\tT"] + ["C"] * (n - 1)}, {"id": ['rs"1'] * n}, {"chrom": ["1"] * (n - 1) + ["X"]}):
        t = _ranked(n, rng, **change)
        for models in (None, ["a", "b"]):
            names, cols, extra = tsv_names(t.column_names, models)
            assert tsv_text(t, names, cols, extra, file_name) == tsv_text_pandas(t, names, cols, extra, file_name)
    assert tsv_text(t.slice(0, 0), names, cols, extra, file_name) == ""


def test_float_texts_are_pysam_single_record_texts():
    h = pysam.VariantHeader()
    h.contigs.add("c")
    h.add_meta("INFO", items=[("ID", "F"), ("Number", "A"), ("Type", "Float"), ("Description", "x")])
    values = np.array(EDGE + np.random.default_rng(1).normal(size=200).tolist())
    got = float_texts(values, missing_nan=True)
    for v, text in zip(values.tolist(), got):
        r = h.new_record(contig="c", start=0, alleles=("A", "C"))
        r.info["F"] = (None if v != v else v,)
        assert str(r).rstrip("\n").split("\t")[7] == f"F={text}"
    assert float_texts(np.array([np.nan]))[0] == "nan" and float_texts(np.array([])) == []


def _info_header(samples: bool) -> pysam.VariantHeader:
    h = pysam.VariantHeader()
    h.contigs.add("c")
    if samples:
        h.add_sample("S1")
        h.add_meta("FORMAT", items=[("ID", "GT"), ("Number", "1"), ("Type", "String"), ("Description", "x")])
    for key, num, typ in (("DB", "0", "Flag"), ("AF", "A", "Float"), ("ANN", ".", "String"),
                          ("LOF", ".", "String"), ("NMD", ".", "String"), ("PLLM_CSQ", "A", "String"),
                          ("PLLM_SCORE", "A", "Float"), ("PLLM_RANK", "A", "Integer")):
        h.add_meta("INFO", items=[("ID", key), ("Number", num), ("Type", typ), ("Description", "x")])
    return h


def test_splice_updates_info_as_pysam_does():
    """A key already there keeps its place, a new one goes last, ANN/LOF/NMD deleted then set take their old
    place back, an empty string is the key alone; INFO '.', with and without FORMAT columns."""
    sets = [("PLLM_CSQ", "missense_variant,"), ("PLLM_SCORE", "0.5,."), ("PLLM_RANK", "3,1"), ("ANN", "a,b")]
    for samples in (True, False):
        h = _info_header(samples)
        for info in ({}, {"DB": True, "AF": (0.1, 0.2)}, {"ANN": ("x",), "DB": True, "LOF": ("l",)},
                     {"PLLM_SCORE": (9.0, 8.0), "AF": (0.5, 0.25), "NMD": ("n",)}):
            r = h.new_record(contig="c", start=4, alleles=("A", "C", "G"), info=info)
            if samples:
                r.samples["S1"]["GT"] = (0, 1)
            line = str(r)
            for key in ("ANN", "LOF", "NMD"):
                if key in r.info:
                    del r.info[key]
            r.info["PLLM_CSQ"] = ("missense_variant", "")
            r.info["PLLM_SCORE"] = (0.5, None)
            r.info["PLLM_RANK"] = (3, 1)
            r.info["ANN"] = ("a", "b")
            assert _splice(line, sets, ("ANN", "LOF", "NMD")) == str(r)
        r = h.new_record(contig="c", start=4, alleles=("A", "C"))
        line = str(r)
        r.info["PLLM_CSQ"] = ("",)
        assert _splice(line, [("PLLM_CSQ", "")]) == str(r)


class _Rows:
    """``locate`` for ``write_vcf``: the PLLM_ texts of the C allele of record 1 only."""

    def rows(self, key):
        return {"C": ("missense_variant", "AT1G01010", "-1.5", "llr", "50", ".", ".", "0.75", "1")} if key == 1 else {}


def test_scored_vcf_keeps_the_input_record(tmp_path):
    """Phased genotypes stay phased, a record without ALT and a FORMAT field of Number=R with '.' are written
    (the record-by-record copy lost the phase and stopped at both); a symbolic ALT's END as pysam settles it."""
    src = tmp_path / "in.vcf"
    src.write_text("##fileformat=VCFv4.2\n##contig=<ID=1,length=1000>\n"
                   '##INFO=<ID=END,Number=1,Type=Integer,Description="end">\n'
                   '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="type">\n'
                   '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
                   '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="depths">\n'
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n"
                   "1\t10\trs1\tA\tC,G\t50.0\tPASS\t.\tGT:AD\t0|1:3,4,0\t1|2:.\n"
                   "1\t20\t.\tT\t.\t.\t.\t.\tGT\t0|0\t0/0\n"
                   "1\t30\tsv\tG\t<DEL>\t.\t.\tSVTYPE=DEL;END=60\tGT\t0/1\t1|1\n")
    out = write_vcf(src, _Rows(), lambda i, rec: i, tmp_path / "out.vcf.gz", "llr", "m")
    with pysam.VariantFile(str(out)) as v:
        recs = list(v)
        assert [r.pos for r in v.fetch("1", 0, 1000)] == [10, 20, 30]  # the tabix index
    assert len(recs) == 3 and recs[0].samples["S2"].phased and recs[0].samples["S1"]["AD"] == (3, 4, 0)
    assert recs[0].info["PLLM_SCORE"] == (-1.5, None) and recs[0].info["PLLM_CSQ"] == ("missense_variant", ".")
    assert recs[0].info["PLLM_RANK"] == (1, None) and "PLLM_CSQ" not in recs[1].info
    lines = [x for x in pysam.BGZFile(str(out)).read().decode().splitlines() if not x.startswith("#")]
    assert lines[2].split("\t")[7] == "END=60;SVTYPE=DEL"  # pysam's record: END first
