"""Variant scoring in bounded memory: parts streamed batch by batch (in record order, atomically), and the merge's
external sort by rank giving the same ranked table as one in-memory sort."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from conftest import CARDS
from plantllm.core.errors import PlantLLMError
from plantllm.inference.engine import Job, Shard
from plantllm.species.assembly import Assembly
from plantllm.species.card import load_card
from test_variant_methods import every_kind_vcf

CARD = CARDS / "tair10_slice.yaml"


@pytest.fixture(scope="module")
def asm():
    return Assembly(load_card(CARD))


@pytest.fixture(scope="module")
def runs(asm, tmp_path_factory):
    """The mixed VCF (unscored alleles are yielded before the batched ones of earlier records) scored with the
    default part batches and with batches of 3 rows."""
    from pathlib import Path

    from plantllm.apps.variant_shards import ShardScorer, run_scoring
    from plantllm.models import checkpoint as M

    d = tmp_path_factory.mktemp("stream")
    spec = M.load_spec(Path(__file__).resolve().parents[1] / "configs/models/tiny-bert-char.yaml")
    tok = M.build_tokenizer(spec)
    M.save(M.create(spec, tok, task="mlm", seed=0), tok, d / "mlm")
    vcf = every_kind_vcf(asm, d / "all.vcf")[0]
    run_scoring(asm, vcf, d / "mlm", d / "whole", window=128, batch_size=4)
    chunk = ShardScorer.chunk
    ShardScorer.chunk = 3
    try:
        run_scoring(asm, vcf, d / "mlm", d / "small", window=128, batch_size=4)
    finally:
        ShardScorer.chunk = chunk
    return d


def _outputs(folder):
    import gzip

    s = json.loads((folder / "summary.json").read_text())
    for k in ("seconds", "variants_per_s"):
        s.pop(k)
    return (folder / "ranked.tsv").read_bytes(), gzip.decompress((folder / "scored.vcf.gz").read_bytes()), s


def test_part_written_in_batches_in_record_order(runs):
    """Batches of 3 rows: the part holds several batches, its rows in record order although the scorer yields
    unscored rows ahead of the batched ones, and the outputs are those of the one-batch part."""
    job = runs / "small" / ".plantllm-job"
    part = next(job.glob("part-??????.arrow"))
    with pa.OSFile(str(part), "rb") as src:
        reader = pa.ipc.open_file(src)
        sizes = [reader.get_batch(i).num_rows for i in range(reader.num_record_batches)]
        t = reader.read_all()
    assert len(sizes) >= 4 and max(sizes) <= 3 + 12  # a batch, plus the rows still waiting for the model
    key = t.column("record").to_numpy() * 100 + t.column("alt_index").to_numpy()
    assert (np.diff(key) > 0).all() and t.num_rows == 15
    marker = json.loads(next(job.glob("part-*.done")).read_text())
    assert marker["rows"] == 15 and marker["meta"]["vcf_stats"]["variants"] >= 15
    assert _outputs(runs / "small") == _outputs(runs / "whole")


def test_external_sort_by_rank_equals_the_in_memory_ranking(runs, asm):
    """The ranked TSV by buckets of 4 rows and text chunks of 2 rows equals the one written from one bucket,
    and the one ``prioritize`` + ``write_tsv`` give from the whole table in memory."""
    from plantllm.apps.priority import rank_arrays
    from plantllm.apps.variant_merge import _rank_inputs, write_ranked_tsv
    from plantllm.apps.variant_report import prioritize, write_tsv

    out = runs / "whole"
    job = Job(out, "variants", {}, [])
    job.shards = [Shard(int(p.name[5:11]), "1", 0, 1) for p in sorted(job.dir.glob("part-??????.arrow"))]
    n = sum(job.marker(s)["rows"] for s in job.shards)
    cols = _rank_inputs(job, n, 1, False, None)
    ranked = rank_arrays(cols["raw"], cols["codes"], cols["terms"], "llr")
    small = write_ranked_tsv(job, ranked, 1, runs / "buckets.tsv", asm, ["mlm"], buckets=4, chunk=2)
    assert small.read_bytes() == (out / "ranked.tsv").read_bytes()
    table = pa.concat_tables(job.read_part(s) for s in job.shards)
    whole, order = prioritize(table)
    assert np.array_equal(whole.column("rank").to_numpy(), ranked["rank"])
    assert write_tsv(whole, order, runs / "memory.tsv", asm).read_bytes() == (out / "ranked.tsv").read_bytes()
    assert not list(job.dir.glob("tsv-sort-*"))  # the sort's temporary files are gone


def test_failure_in_the_middle_of_a_shard_leaves_no_part(tmp_path):
    """A streamed shard that fails after writing batches leaves no part, no marker, no temporary file; a shard
    that writes no batch at all is an error, not an empty part."""
    shards = [Shard(0, "1", 0, 100), Shard(1, "1", 100, 200)]
    job = Job(tmp_path, "test", {"x": 1}, shards)
    job.prepare()
    schema = pa.schema([("v", pa.int64())])

    class Work:
        streams = True

        def __call__(self, shard, part):
            for i in range(3):
                part.write(pa.record_batch([pa.array([shard.index * 10 + i])], schema=schema))
            if shard.index == 1:
                raise ValueError("broken input in the middle of the shard")

    with pytest.raises(PlantLLMError, match="shard 000001"):
        job.run(Work(), "test")
    assert job.done(shards[0]) and not job.done(shards[1])
    assert sorted(p.name for p in job.dir.iterdir()) == ["part-000000.arrow", "part-000000.done", "plan.json"]
    assert job.read_part(shards[0]).column("v").to_pylist() == [0, 1, 2]
    assert [b.num_rows for b in job.part_batches(shards[0], ["v"])] == [1, 1, 1]

    class Nothing:
        streams = True

        def __call__(self, shard, part):
            pass

    with pytest.raises(PlantLLMError, match="no batch was written"):
        job.run(Nothing(), "test")
    assert not job.done(shards[1]) and not list(job.dir.glob(".part-*"))
