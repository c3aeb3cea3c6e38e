"""Every allele scored or accounted for (SNV, MNV, indel, SV, symbolic), calibration, priority config, ploidy."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pysam
import pytest
import torch

from conftest import CARDS, DATA
from plantllm.core.errors import CardError, InputFileError
from plantllm.core.sequence import reverse_complement as rc
from plantllm.species.assembly import Assembly
from plantllm.species.card import load_card

ROOT = DATA.parent.parent
CARD = CARDS / "tair10_slice.yaml"


@pytest.fixture(scope="module")
def asm():
    return Assembly(load_card(CARD))


@pytest.fixture(scope="module")
def mlm(tmp_path_factory):
    """An untrained tiny masked LM: the arithmetic of the scores does not need a trained one."""
    from plantllm.models import checkpoint as M

    d = tmp_path_factory.mktemp("mlm")
    spec = M.load_spec(ROOT / "configs/models/tiny-bert-char.yaml")
    tok = M.build_tokenizer(spec)
    M.save(M.create(spec, tok, task="mlm"), tok, d / "mlm")
    return d / "mlm"


HEAD = ["##fileformat=VCFv4.2", "##contig=<ID=NC_003070.9,length=30427671>",
        '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="type">',
        '##INFO=<ID=END,Number=1,Type=Integer,Description="end">',
        '##INFO=<ID=SVLEN,Number=.,Type=Integer,Description="length">',
        '##INFO=<ID=SVINSSEQ,Number=.,Type=String,Description="inserted sequence">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2"]


def _b(asm, pos: int, n: int = 1) -> str:
    """``n`` bases of TAIR10 chr1 from 1-based ``pos``."""
    return asm.genome.fetch("1", pos - 1, pos - 1 + n).upper()


def _other(b: str) -> str:
    return "".join("A" if x != "A" else "C" for x in b)


def every_kind_vcf(asm, path: Path) -> tuple[Path, dict[str, str]]:
    """Real TAIR10 positions in and around AT1G01010 with every kind of allele, and the method each gets
    with a masked LM and a 128 bp window."""
    b = lambda p, n=1: _b(asm, p, n)  # noqa: E731
    rows = {
        "snv": (3760, b(3760), f"{_other(b(3760))},{'G' if b(3760) not in 'AG' else 'T'}", ".", "llr"),
        "mnv": (3800, b(3800, 3), _other(b(3800, 3)), ".", "llr"),
        "del": (3900, b(3900, 4), b(3900), ".", "pll"),
        "ins": (3950, b(3950), b(3950) + "TTA", ".", "pll"),
        "svdel": (4000, b(4000), "<DEL>", "SVTYPE=DEL;END=4030;SVLEN=-30", "pll"),
        "svdup": (4100, b(4100), "<DUP>", "SVTYPE=DUP;SVLEN=20", "pll"),
        "svinv": (4200, b(4200), "<INV>", "SVTYPE=INV;END=4240", "llr"),
        "svins": (4300, b(4300), "<INS>", "SVTYPE=INS;SVLEN=300", "unscored:insertion_without_sequence"),
        "insseq": (4350, b(4350), "<INS>", "SVTYPE=INS;SVLEN=6;SVINSSEQ=GATTAC", "pll"),
        "bigdel": (4400, b(4400), "<DEL>", "SVTYPE=DEL;END=9400", "unscored:longer_than_window"),
        "bnd": (4500, b(4500), b(4500) + "[NC_003070.9:9000[", "SVTYPE=BND", "unscored:breakend"),
        "cnv": (4550, b(4550), "<CNV>", "SVTYPE=CNV;END=4600", "unscored:symbolic_not_resolvable"),
        "longseq": (4600, b(4600, 80), b(4600), ".", "unscored:longer_than_window"),
        "svlong": (4800, b(4800, 51), b(4800), ".", "pll"),  # a sequence-resolved 50 bp deletion
    }
    lines = [f"NC_003070.9\t{p}\t{k}\t{r}\t{a}\t.\t.\t{i}\tGT\t0/1\t1/1" for k, (p, r, a, i, _) in rows.items()]
    path.write_text("\n".join(HEAD + lines) + "\n")
    return path, {k: v[4] for k, v in rows.items()}


def _tsv(path: Path) -> list[dict]:
    head, *rows = path.read_text().splitlines()
    return [dict(zip(head.split("\t"), r.split("\t"))) for r in rows]


def test_every_allele_comes_back_scored_or_with_its_reason(asm, mlm, tmp_path, capsys):
    """SNVs, MNVs, indels, a 50 bp deletion and symbolic DEL/DUP/INV/INS are scored in one pass; a long
    deletion, an INS without sequence, a breakend and a CNV are annotated, ranked and counted, none missing."""
    from plantllm.cli import main

    vcf, want = every_kind_vcf(asm, tmp_path / "all.vcf")
    assert main(["variants", "score", str(vcf), str(CARD), "--model", str(mlm), "--window", "128",
                 "--out", str(tmp_path / "o")]) == 0
    rows = _tsv(tmp_path / "o" / "ranked.tsv")
    assert len(rows) == len(want) + 1  # the SNV record has two ALTs
    got = {r["id"]: r["scored_by"] for r in rows}
    assert got == want
    for r in rows:
        assert math.isnan(float(r["score"])) == r["scored_by"].startswith("unscored:")
        assert r["consequence"] and int(r["rank"]) >= 1
    assert sorted(int(r["rank"]) for r in rows) == list(range(1, len(rows) + 1))
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["alleles"] == len(rows) and s["scored"] == sum(not v.startswith("unscored") for v in got.values()) + 1
    assert s["unscored"] == {"breakend": 1, "insertion_without_sequence": 1, "longer_than_window": 2,
                             "symbolic_not_resolvable": 1}
    assert "5 of 15 alleles not scored" in capsys.readouterr().err
    with pysam.VariantFile(str(tmp_path / "o" / "scored.vcf.gz")) as v:
        recs = {r.id: r for r in v}
    assert set(recs) == set(want) and all("PLLM_METHOD" in r.info and "PLLM_RANK" in r.info for r in recs.values())
    assert recs["bigdel"].info["PLLM_METHOD"] == ("unscored:longer_than_window",)
    assert recs["bigdel"].info["PLLM_SCORE"] == (None,) and recs["svdel"].info["PLLM_SCORE"][0] is not None
    assert (tmp_path / "o" / "score_meaning.png").stat().st_size > 10_000


def test_symbolic_alleles_resolved_from_the_genome(asm):
    from plantllm.apps.variant_alleles import resolve
    from plantllm.species.vcf import Variant

    pad, body = _b(asm, 4000), _b(asm, 4001, 30)
    v = lambda alt, end, **kw: Variant("1", 3999, pad, alt, end=end, **kw)  # noqa: E731
    assert resolve(asm.genome, v("<DEL>", 4030)) == (pad + body, pad, "")
    assert resolve(asm.genome, v("<DUP:TANDEM>", 4030)) == (pad + body, pad + body + body, "")
    assert resolve(asm.genome, v("<INV>", 4030)) == (pad + body, pad + rc(body), "")
    assert resolve(asm.genome, v("<INS>", 3999, svlen=4, info={"SVINSSEQ": ("GATT",)})) == (pad, pad + "GATT", "")
    ref, alt, why = resolve(asm.genome, v("<INS>", 3999, svlen=4))
    assert why == "insertion_without_sequence" and len(alt) == 5  # the length still reaches the annotator
    assert resolve(asm.genome, v("<DEL>", 3999 + 2_000_001))[2] == "too_long_to_resolve"
    assert resolve(asm.genome, Variant("1", 3999, pad, "*"))[2] == "spanning_deletion"


def test_pll_and_mnv_llr_follow_their_definitions(asm, mlm):
    """The scores against a plain re-implementation of the documented definitions, on a real window."""
    from plantllm.apps.variant_scoring import PLL_FLANK, VariantScorer
    from plantllm.data.tasks.variants import site_windows

    sc = VariantScorer(mlm, "llr", window=64)
    r = sc.runner

    def logp_at(seq: str, masked: list[int]) -> torch.Tensor:  # char tokenizer: token = base + 1
        enc = r.encode([seq])
        ids = enc["input_ids"].clone()
        ids[0, [p + 1 for p in masked]] = sc.tok.mask_token_id
        return torch.log_softmax(r.logits({"input_ids": ids, "attention_mask": enc["attention_mask"]})[0], -1), enc

    def pll(seq: str, bases: list[int]) -> float:
        total = 0.0
        for p in bases:
            lp, enc = logp_at(seq, [p])
            total += float(lp[p + 1, enc["input_ids"][0, p + 1]])
        return total

    ref, alt = _b(asm, 3900, 4), _b(asm, 3900)  # a real 3 bp deletion
    rw, (aw,), c = site_windows(asm.genome, "1", 3899, ref, [alt], 64)
    got = sc.score_sites([(rw, [aw], c, len(ref), [len(alt)])])[0][0]
    lo, hi = c - PLL_FLANK, c + len(ref) + PLL_FLANK
    fwd = pll(aw, list(range(lo, hi))) - pll(rw, list(range(lo, hi)))
    rev = pll(rc(aw), [63 - p for p in range(lo, hi)]) - pll(rc(rw), [63 - p for p in range(lo, hi)])
    assert got == pytest.approx(0.5 * (fwd + rev), abs=1e-4)

    ref, alt = _b(asm, 3800, 3), _other(_b(asm, 3800, 3))  # a 3 bp substitution: joint masking of REF
    rw, (aw,), c = site_windows(asm.genome, "1", 3799, ref, [alt], 64)
    got = sc.score_sites([(rw, [aw], c, 3, [3])])[0][0]
    want = 0.0
    for w_r, w_a, span in ((rw, aw, range(c, c + 3)), (rc(rw), rc(aw), range(64 - c - 3, 64 - c))):
        lp, _ = logp_at(w_r, list(span))
        want += 0.5 * sum(float(lp[p + 1, sc.tok.convert_tokens_to_ids(w_a[p])] -
                                lp[p + 1, sc.tok.convert_tokens_to_ids(w_r[p])]) for p in span)
    assert got == pytest.approx(want, abs=1e-4)


def test_strict_ploidy_names_the_line_and_the_fix(tmp_path):
    import dataclasses

    from plantllm.species.vcf import read_vcf

    card = load_card(CARD)
    rows = ["NC_003070.9\t3701\t.\tA\tC\t.\t.\t.\tGT\t0/1\t1/1", "NC_003070.9\t3702\t.\tA\tC\t.\t.\t.\tGT\t0/0/1/1\t0/1"]
    p = tmp_path / "p.vcf"
    p.write_text("\n".join(HEAD + rows) + "\n")
    with pytest.raises(InputFileError, match=r"p.vcf:10: sample S1 has the 4-ploid genotype 0/0/1/1 on "
                                             r"NC_003070.9:3702, more alleles than .* ploidy 2.*fix: set 'ploidy: 4'"):
        list(read_vcf(p, card, strict_ploidy=True))
    assert len(list(read_vcf(p, card))) == 2  # the dataset builders keep the lenient, whole-file check
    tetra = dataclasses.replace(card, ploidy=4)
    with pytest.raises(InputFileError, match=r"p.vcf:9: sample S1 has the 2-ploid genotype 0/1 .* fewer alleles"):
        list(read_vcf(p, tetra, strict_ploidy=True))
    p.write_text("\n".join(HEAD + ["NC_003070.9\t3701\t.\tA\tC\t.\t.\t.\tGT\t1\t0/1", "NC_003070.9\t3702\t.\tA\tC"
                                   "\t.\t.\t.\tGT\t./.\t."]) + "\n")
    assert len(list(read_vcf(p, card, strict_ploidy=True))) == 2  # haploid and missing calls are fine


def test_priority_config_file_and_formula(tmp_path):
    from plantllm.apps.priority import IMPACT, PriorityConfig, class_percentile, load_priority, prioritize

    default = load_priority(ROOT / "configs" / "priority.yaml")
    assert {**IMPACT, **default.impact} == IMPACT and default.impact == IMPACT  # the file is the defaults
    assert (default.impact_weight, default.evidence_weight, default.unscored_evidence) == (0.5, 0.5, 0.5)
    table = pa.table({"consequence": ["synonymous_variant", "stop_gained", "intergenic_variant", "missense_variant"],
                      "score0": [-5.0, -0.1, 2.0, float("nan")], "dosage": [1.0, 1.0, 0.5, 1.0],
                      "scored_by": ["llr", "llr", "llr", "unscored:breakend"]})
    ranked, order = prioritize(table, "llr", default)
    ev = ranked.column("evidence").to_pylist()
    assert ev[:3] == [1.0, 0.5, 0.0] and ev[3] == 0.5  # the unscored allele: unscored_evidence
    assert ranked.column("priority")[3].as_py() == pytest.approx(0.5 * 0.65 + 0.5 * 0.5)
    evidence_only = PriorityConfig(impact_weight=0.0, evidence_weight=1.0)
    _, order2 = prioritize(table, "llr", evidence_only)
    assert order2.tolist()[0] == 0  # the lowest score first when only the evidence counts
    p = tmp_path / "p.yaml"
    p.write_text("impact_weight: 0.2\nimpact: {missense_variant: 0.99}\nunscored_evidence: 0\n")
    cfg = load_priority(p)
    assert cfg.weight("missense_variant") == 0.99 and cfg.weight("stop_gained") == 1.0
    assert cfg.weight("conservative_inframe_deletion") == 0.65  # a SnpEff MODERATE term the table lacks
    p.write_text("impact_weigth: 0.2\n")
    with pytest.raises(CardError, match="unknown key 'impact_weigth' .did you mean 'impact_weight'"):
        load_priority(p)
    p.write_text("unscored_evidence: 2\n")
    with pytest.raises(CardError, match="unscored_evidence must be"):
        load_priority(p)
    cls = np.array([0, 0, 0, 1, 1])
    s = np.array([1.0, 3.0, 2.0, 5.0, np.nan])
    assert class_percentile(cls, s)[:4].tolist() == pytest.approx([100 / 3, 100.0, 200 / 3, 100.0])


def test_calibration_stored_with_the_model_and_applied(asm, mlm, tmp_path, capsys):
    """A small neutral background (JSON in the model folder), then --calibrated: calibrated = raw - the
    background mean of the SNV's pentanucleotide context and ALT; percentiles in the VCF's INFO."""
    import shutil

    from plantllm.apps.calibration import Calibration
    from plantllm.cli import main

    model = tmp_path / "m"
    shutil.copytree(mlm, model)
    vcf = every_kind_vcf(asm, tmp_path / "all.vcf")[0]
    args = ["variants", "score", str(vcf), str(CARD), "--model", str(model), "--window", "64", "--calibrated"]
    assert main([*args, "--out", str(tmp_path / "x")]) == 2
    assert "no neutral background for --method llr --window 64" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # stopped before any output
    assert main(["variants", "calibrate", str(CARD), "--model", str(model), "--window", "64", "--sites", "60"]) == 0
    f = model / "calibration-llr-w64.json"
    d = json.loads(f.read_text())
    assert d["format"] == "plantllm-calibration/1" and d["info"]["sites"] == 60
    assert len(d["quantiles"]["snv"]) == 101 and any(k.count(">") == 1 and len(k) == 7 for k in d["snv"])
    cal = Calibration.load(model, "llr", 64)
    assert main([*args, "--out", str(tmp_path / "o")]) == 0
    rows = {r["id"] + r["alt"]: r for r in _tsv(tmp_path / "o" / "ranked.tsv")}
    r = next(r for k, r in rows.items() if k.startswith("snv"))
    ctx = _b(asm, 3758, 5)
    assert float(r["calibrated_score"]) == pytest.approx(float(r["score"]) - cal.snv_mean(ctx, r["alt"]), abs=1e-5)
    assert 0 <= float(r["pct_neutral"]) <= 100
    with pysam.VariantFile(str(tmp_path / "o" / "scored.vcf.gz")) as v:
        snv = next(x for x in v if x.id == "snv")
    assert {"PLLM_CALIBRATED", "PLLM_PCT_NEUTRAL", "PLLM_PCT_CLASS"} <= set(snv.info)


@pytest.mark.slow
def test_every_kind_on_two_processes_writes_the_same_bytes(asm, mlm, tmp_path):
    """The mixed VCF cut into many shards, scored by one process and by two (DeepSpeed launcher): the same
    ranked.tsv, scored.vcf and summary (timings aside)."""
    import gzip
    import os
    import subprocess
    import sys

    vcf = every_kind_vcf(asm, tmp_path / "all.vcf")[0]
    outs = []
    for n in (1, 2):
        out = tmp_path / f"n{n}"
        r = subprocess.run([sys.executable, "-m", "plantllm.cli", "variants", "score", str(vcf), str(CARD), "--model",
                            str(mlm), "--window", "128", "--shard-size", "200", "--region", "Chr1:3001-5000",
                            "--nproc", str(n), "--out", str(out)], capture_output=True, text=True,
                           env=dict(os.environ, PLANTLLM_QUIET="1"))
        assert r.returncode == 0, r.stderr[-3000:]
        s = json.loads((out / "summary.json").read_text())
        for k in ("seconds", "variants_per_s", "processes"):
            s.pop(k)
        outs.append(((out / "ranked.tsv").read_bytes(), gzip.decompress((out / "scored.vcf.gz").read_bytes()),
                     json.dumps(s, sort_keys=True)))
    assert outs[0] == outs[1]
    assert len(outs[0][0].decode().splitlines()) == 16  # every allele of the 14 records
