"""The scored VCF's ANN computed once, in the shards' side files: resume redoes a shard whose side file is missing
or cut short, and what the merge reads equals what the annotator writes for every record."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from pathlib import Path

import pysam

from conftest import CARDS
from plantllm.inference.engine import JOB_DIR
from test_engine import _outputs

CARD = CARDS / "tair10_slice.yaml"


def _run(args, out):
    return subprocess.run([sys.executable, "-m", "plantllm.cli", *map(str, args), "--out", str(out)],
                          capture_output=True, text=True, env=dict(os.environ, PLANTLLM_QUIET="1"))


def test_missing_or_partial_side_file_is_redone_and_outputs_identical(tmp_path):
    from plantllm.apps.variant_ann import SIDE, SharedEffects, SideReader
    from plantllm.apps.variant_report import write_saturation_vcf
    from plantllm.apps.variant_shards import record_keys
    from plantllm.inference.engine import Job, Shard
    from plantllm.models import checkpoint as M
    from plantllm.species.assembly import Assembly
    from plantllm.species.card import load_card

    asm = Assembly(load_card(CARD))
    spec = M.load_spec(Path(__file__).resolve().parents[1] / "configs/models/tiny-bert-char.yaml")
    tok = M.build_tokenizer(spec)
    M.save(M.create(spec, tok, task="mlm"), tok, tmp_path / "mlm")
    vcf = write_saturation_vcf(asm, [("1", 3_000, 4_200)], tmp_path / "sat.vcf")  # the genes' first exons
    args = ["variants", "score", vcf, CARD, "--model", tmp_path / "mlm", "--window", "64", "--shard-size", "150",
            "--region", "Chr1:3001-4200"]  # 8 shards
    out = tmp_path / "o"
    r = _run(args, out)
    assert r.returncode == 0, r.stderr[-3000:]
    want = _outputs(out)
    job_dir = out / JOB_DIR
    markers = sorted(job_dir.glob("part-*.done"))
    sides = sorted(job_dir.glob(f"part-*.{SIDE}"))
    assert len(markers) == len(sides) == 8
    assert all(json.loads(m.read_text())["sides"] == {SIDE: s.stat().st_size} for m, s in zip(markers, sides))

    # what the merge reads is what the annotator gives each record of the VCF, and nothing is annotated again
    plan = json.loads((job_dir / "plan.json").read_text())
    job = Job(out, plan["kind"], plan["plan"], [Shard(**s) for s in plan["shards"]])
    ann = SharedEffects(asm)
    reader = SideReader(job, asm, lambda: (_ for _ in ()).throw(AssertionError("a record was annotated again")))
    key_of, n = record_keys(job, asm), 0
    with pysam.VariantFile(plan["plan"]["spec"]["vcf"]) as vf:
        for i, rec in enumerate(vf, 1):
            got = reader.fields(key_of(i, rec), rec)
            assert got == ann.record_fields(asm.card.try_canonical(rec.chrom), rec) and got[0]
            n += 1
    assert n > 1000  # one record per position of the saturation VCF

    # one side file gone, another cut short (a disk that lost it, a copy that stopped): those shards are redone
    sides[1].unlink()
    sides[4].write_bytes(sides[4].read_bytes()[:100])
    kept = {m.name: m.stat().st_mtime_ns for k, m in enumerate(markers) if k not in (1, 4)}
    redo = {k: markers[k].stat().st_mtime_ns for k in (1, 4)}
    r = _run(args, out)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming: 6 of 8 shards" in r.stderr
    assert {m.name: m.stat().st_mtime_ns for m in markers if m.name in kept} == kept
    assert all(markers[k].stat().st_mtime_ns != t for k, t in redo.items())
    assert _outputs(out) == want
