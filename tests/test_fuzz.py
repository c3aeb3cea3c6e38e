"""Property-based fuzzing of every input kind (Hypothesis): small real files, mutated, through plantllm.

Each input kind starts from a small slice of a real file in tests/data (FASTA plain/gzip/bgzip, GFF3,
GTF, VCF, BED, RepeatMasker, label tables, species cards, model and training configs, model folders).
A mutation deletes, duplicates or swaps lines, flips a byte, truncates, changes a number, changes a
name's case, inserts a NUL, re-encodes as UTF-16 or breaks the tabs of a line. Every run must either
succeed or end with one clean error (exit 2, exactly one ``error:`` line, last, no traceback, no output
left behind); a reader may raise only ``PlantLLMError``. Mutations that keep the content (CRLF line
endings, reordered header lines) must give the unmutated file's result.

The default run tries a few examples per kind (fast, derandomized) plus the equivalent mutations as
explicit examples; ``pytest -m fuzz`` (or ``PLANTLLM_FUZZ=1``) runs the long mode (many more, random)
under the ``fuzz`` marker.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import CARDS, DATA
from plantllm.cli import main
from plantllm.core.errors import PlantLLMError

ROOT = Path(__file__).resolve().parent.parent
TAIR_FA = DATA / "tair10_chr1_1-1500000.fa.gz"
TAIR_GFF = DATA / "tair10_chr1_1-1500000.gff3.gz"
TAIR_GTF = DATA / "tair10_chr1_1-500000.gtf.gz"
RMSK = DATA / "tair10_chr1_1-1500000.rmsk.tsv.gz"

#: (examples in the default run, examples under -m fuzz)
FAST, LONG = 8, 150
MODES = [pytest.param(False, id="fast"), pytest.param(True, id="long", marks=pytest.mark.fuzz)]
COMMON = dict(deadline=None, database=None, print_blob=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large, HealthCheck.filter_too_much])


def _settings(long: bool, request, scale: float = 1.0):
    if long and "fuzz" not in (request.config.getoption("markexpr") or "") and not os.environ.get("PLANTLLM_FUZZ"):
        pytest.skip("the long fuzz mode runs with: pytest -m fuzz tests/test_fuzz.py")
    n = max(1, int((LONG if long else FAST) * scale))
    return settings(max_examples=n, derandomize=not long, **COMMON)


# ------------------------------------------------------------------ mutations
OPS = ("delete", "duplicate", "swap", "flip", "truncate", "number", "case", "nul", "utf16", "tabs")
EQUIVALENT = ("crlf", "reorder_header")


@dataclass(frozen=True)
class Mutation:
    op: str
    a: int
    b: int
    value: int

    def __repr__(self) -> str:
        return f"Mutation({self.op!r}, a={self.a}, b={self.b}, value={self.value})"


NUMBERS = ("0", "-1", "1", "999999999999", "nan", "inf", "1e309", "2.5", "", "x")


def mutations(ops=OPS) -> st.SearchStrategy[Mutation]:
    return st.builds(Mutation, st.sampled_from(ops), st.integers(0, 10**6), st.integers(0, 10**6),
                     st.integers(0, 255))


def mutate(data: bytes, m: Mutation, header: bytes = b"#") -> bytes:
    """``data`` changed by one mutation; positions are taken modulo the size, so any draw applies."""
    lines = data.splitlines(keepends=True) or [b""]
    i, j = m.a % len(lines), m.b % len(lines)
    if m.op == "delete":
        del lines[i]
    elif m.op == "duplicate":
        lines.insert(i, lines[i])
    elif m.op == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    elif m.op == "flip":
        if not data:
            return bytes([m.value])
        k = m.a % len(data)
        return data[:k] + bytes([m.value]) + data[k + 1:]
    elif m.op == "truncate":
        return data[: m.a % (len(data) + 1)]
    elif m.op == "number":
        import re

        nums = list(re.finditer(rb"-?\d+(\.\d+)?", lines[i]))
        if nums:
            n = nums[j % len(nums)]
            lines[i] = lines[i][:n.start()] + NUMBERS[m.value % len(NUMBERS)].encode() + lines[i][n.end():]
    elif m.op == "case":
        import re

        words = list(re.finditer(rb"[A-Za-z_][A-Za-z0-9_.]*", lines[i]))
        if words:
            w = words[j % len(words)]
            lines[i] = lines[i][:w.start()] + w.group().swapcase() + lines[i][w.end():]
    elif m.op == "nul":
        k = m.b % (len(lines[i]) + 1)
        lines[i] = lines[i][:k] + b"\x00" + lines[i][k:]
    elif m.op == "utf16":
        return data.decode("utf-8", "replace").encode("utf-16")
    elif m.op == "tabs":
        lines[i] = lines[i].replace(b"\t", b" ")
    elif m.op == "crlf":
        return b"".join(x.rstrip(b"\r\n") + b"\r\n" for x in lines)
    elif m.op == "reorder_header":  # header lines after the first, in another order (same meaning)
        head = [k for k, x in enumerate(lines) if x.startswith(header) and k > 0]
        if len(head) >= 2 and head == list(range(head[0], head[0] + len(head))):
            block = lines[head[0]:head[-1] + 1]
            r = m.a % len(block)
            lines[head[0]:head[-1] + 1] = block[r:] + block[:r]
    return b"".join(lines)


# ------------------------------------------------------------------ running
def _fresh(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fz")  # numbered: a new folder per example (derived files sit next to inputs)


def cli(args, capsys, out: Path | None = None) -> tuple[int, str]:
    """Run the command line in-process: exit 0 or a clean exit 2; on failure nothing in ``out``."""
    capsys.readouterr()
    rc = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert rc in (0, 2), f"exit {rc}: {err}"
    if rc == 2:
        errors = [x for x in err.strip().splitlines() if x.startswith("error: ")]
        assert len(errors) == 1, err
        assert errors[0] == err.strip().splitlines()[-1], err
        if out is not None and out.exists():
            left = [p.name for p in out.iterdir()] if out.is_dir() else [out.name]
            assert not left, f"a failed run left {left} behind: {err}"
    return rc, err


def reader(fn):
    """``("ok", result)`` or ``("error", message)``: a reader may raise only a one-line PlantLLMError."""
    try:
        return "ok", fn()
    except PlantLLMError as e:
        msg = str(e)
        assert "\n" not in msg.strip(), msg
        return "error", msg


# ------------------------------------------------------------------ base files (small real slices)
@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict[str, bytes]:
    import pysam

    with pysam.FastaFile(str(TAIR_FA)) as f:
        seq = f.fetch(f.references[0], 0, 6_000)
    fasta = (">NC_003070.9\n" + "".join(seq[i:i + 60] + "\n" for i in range(0, len(seq), 60))).encode()
    with gzip.open(TAIR_GFF, "rb") as f:
        gff_lines = f.read().splitlines(keepends=True)
    # the header and the first genes' features, up to a gene boundary near 120 lines
    cut = next(k for k, x in enumerate(gff_lines) if k > 120 and b"\tgene\t" in x)
    gff = b"".join(gff_lines[:cut])
    with gzip.open(TAIR_GTF, "rb") as f:
        gtf_lines = f.read().splitlines(keepends=True)
    cut = next(k for k, x in enumerate(gtf_lines) if k > 80 and b'\tgene\t' in x) if any(
        b"\tgene\t" in x for x in gtf_lines[80:400]) else 120
    gtf = b"".join(gtf_lines[:cut])
    genes = [x.split(b"\t") for x in gff_lines if b"\tgene\t" in x][:12]
    bed = b"".join(b"\t".join([b"NC_003070.9", str(int(g[3]) - 1).encode(), g[4], g[8].split(b";")[0][3:],
                               b"0", g[6]]) + b"\n" for g in genes)
    ids = [g[8].split(b";")[0][8:].decode() for g in genes]  # ID=gene-AT1G01010 -> AT1G01010
    strength = ("gene\tvalue\n" + "".join(f"{k}\t{1.5 * n:.2f}\n" for n, k in enumerate(ids))).encode()
    with gzip.open(RMSK, "rb") as f:
        rmsk = b"".join(f.read().splitlines(keepends=True)[:30])
    head = ["##fileformat=VCFv4.2", "##contig=<ID=NC_003070.9,length=30427671>",
            '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">',
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3"]
    gts = ("0/1\t1/1\t0/0", "0/0\t./.\t0/1", "1/1\t0/1\t0/1")
    rows = [f"NC_003070.9\t{p + 1}\t.\t{seq[p].upper()}\t{'A' if seq[p].upper() != 'A' else 'G'}\t50\tPASS\tDP={10 + k}"
            f"\tGT\t{gts[k % 3]}" for k, p in enumerate(range(3700, 3760, 4))]
    vcf = ("\n".join(head + rows) + "\n").encode()
    labels = ("chrom\tpos\tref\talt\tlabel\n" + "".join(
        "\t".join(r.split("\t")[:2] + r.split("\t")[3:5]) + f"\t{('damaging', 'neutral')[k % 2]}\n"
        for k, r in enumerate(rows))).encode()
    return {"fasta": fasta, "gff": gff, "gtf": gtf, "bed": bed, "strength": strength, "rmsk": rmsk, "vcf": vcf,
            "labels": labels, "model_config": (ROOT / "configs/models/tiny-bert-char.yaml").read_bytes(),
            "train_config": (ROOT / "configs/train/pretrain-tiny-cpu.yaml").read_bytes()}


def _card(d: Path, fasta: Path, gff: Path | None = None, text: bytes | None = None) -> Path:
    import yaml

    card = yaml.safe_load((CARDS / "tair10_slice.yaml").read_text())
    card["genome"]["fasta"] = str(fasta)
    card["annotation"] = {"gff": str(gff)} if gff else {}
    if not card["annotation"]:
        del card["annotation"]
    p = d / "card.yaml"
    p.write_bytes(text if text is not None else yaml.safe_dump(card, sort_keys=False).encode())
    return p


def _write(d: Path, name: str, data: bytes, how: str = "plain") -> Path:
    p = d / name
    if how == "gzip":
        p = d / (name + ".gz")
        p.write_bytes(gzip.compress(data))
    elif how == "bgzip":
        import pysam

        plain = d / (name + ".plain")
        plain.write_bytes(data)
        p = d / (name + ".gz")
        pysam.tabix_compress(str(plain), str(p), force=True)
        plain.unlink()
    else:
        p.write_bytes(data)
    return p


def _show(d: Path, card: Path, capsys, *extra) -> tuple[int, dict | None]:
    out = d / "out"
    out.mkdir()
    rc, _ = cli(["species", "show", card, "--json", out / "s.json", *extra], capsys, out)
    return rc, json.loads((out / "s.json").read_text()) if rc == 0 else None


_baseline: dict[str, object] = {}


def _equivalent(kind: str, m: Mutation, rc: int, result, compute) -> None:
    """A mutation that keeps the content must give the unmutated input's result."""
    if m.op in EQUIVALENT:
        if kind not in _baseline:
            _baseline[kind] = compute()
        assert (rc, result) == _baseline[kind], f"{m} changed the result of a {kind} input"


# ------------------------------------------------------------------ FASTA (plain, gzip, bgzip)
@pytest.mark.parametrize("long", MODES)
@pytest.mark.parametrize("how", ["plain", "gzip", "bgzip"])
def test_fuzz_fasta(long, how, base, tmp_path_factory, capsys, request):
    @_settings(long, request, scale=0.75)
    @given(m=mutations(OPS + EQUIVALENT), raw=st.booleans())
    @example(m=Mutation("crlf", 0, 0, 0), raw=False)
    @example(m=Mutation("reorder_header", 1, 0, 0), raw=False)
    def run(m, raw):
        d = _fresh(tmp_path_factory)

        def go(data: bytes):
            dd = _fresh(tmp_path_factory)
            fa = _write(dd, "g.fa", data, how)
            return _show(dd, _card(dd, fa), capsys)

        # damage the compressed bytes themselves (a flipped byte in the deflate stream, a cut)
        if how != "plain" and raw and m.op in ("truncate", "flip"):
            fa = _write(d, "g.fa", base["fasta"], how)
            fa.write_bytes(mutate(fa.read_bytes(), m))
            _show(d, _card(d, fa), capsys)
            return
        data = mutate(base["fasta"], m, header=b">")
        rc, res = go(data)
        _equivalent(f"fasta-{how}", m, rc, res, lambda: go(base["fasta"]))

    run()


# ------------------------------------------------------------------ annotation (GFF3, GTF)
@pytest.mark.parametrize("long", MODES)
@pytest.mark.parametrize("kind", ["gff", "gtf"])
def test_fuzz_annotation(long, kind, base, tmp_path_factory, capsys, request):
    fasta_dir = _fresh(tmp_path_factory)
    fa = _write(fasta_dir, "g.fa", base["fasta"])

    @_settings(long, request)
    @given(m=mutations(OPS + EQUIVALENT))
    @example(m=Mutation("crlf", 0, 0, 0))
    @example(m=Mutation("reorder_header", 1, 0, 0))
    def run(m):
        def go(data: bytes):
            d = _fresh(tmp_path_factory)
            ann = _write(d, f"a.{'gff3' if kind == 'gff' else 'gtf'}", data)
            return _show(d, _card(d, fa, ann), capsys)

        rc, res = go(mutate(base[kind], m))
        _equivalent(kind, m, rc, res, lambda: go(base[kind]))

    run()


# ------------------------------------------------------------------ repeats (RepeatMasker table)
@pytest.mark.parametrize("long", MODES)
def test_fuzz_repeatmasker(long, base, tmp_path_factory, capsys, request):
    fasta_dir = _fresh(tmp_path_factory)
    fa = _write(fasta_dir, "g.fa", base["fasta"])

    @_settings(long, request)
    @given(m=mutations(OPS + ("crlf",)))
    @example(m=Mutation("crlf", 0, 0, 0))
    def run(m):
        def go(data: bytes):
            d = _fresh(tmp_path_factory)
            r = _write(d, "r.tsv", data)
            return _show(d, _card(d, fa), capsys, "--repeats", r, "--repeat-source", "rmsk_table")

        rc, res = go(mutate(base["rmsk"], m))
        _equivalent("rmsk", m, rc, res, lambda: go(base["rmsk"]))

    run()


# ------------------------------------------------------------------ VCF
def _read_variants(vcf: Path, fasta: Path):
    from plantllm.species.card import load_card
    from plantllm.species.genome import Genome
    from plantllm.species.vcf import VcfStats, check_ref, in_fasta, read_vcf

    card = load_card(CARDS / "tair10_slice.yaml")
    st_ = VcfStats()
    with Genome(card, fasta) as g:
        kept = [(v.chrom, v.pos, v.ref, v.alt, round(v.dosage, 6), v.n_carriers, v.ploidy)
                for v in read_vcf(vcf, card, st_) if in_fasta(g, v, st_) and check_ref(g, v, st_)]
    return kept, {k: v for k, v in vars(st_).items() if k != "absent"}


@pytest.mark.parametrize("long", MODES)
@pytest.mark.parametrize("how", ["plain", "bgzip"])
def test_fuzz_vcf(long, how, base, tmp_path_factory, request):
    fasta_dir = _fresh(tmp_path_factory)
    fa = _write(fasta_dir, "g.fa", base["fasta"])

    @_settings(long, request, scale=2)
    @given(m=mutations(OPS + EQUIVALENT))
    @example(m=Mutation("crlf", 0, 0, 0))
    @example(m=Mutation("reorder_header", 1, 0, 0))
    def run(m):
        def go(data: bytes):
            d = _fresh(tmp_path_factory)
            v = _write(d, "v.vcf", data, how)
            return reader(lambda: _read_variants(v, fa))

        status, res = go(mutate(base["vcf"], m, header=b"##"))  # #CHROM stays the last header line
        if m.op in EQUIVALENT:  # line numbers move with reordered header lines; the variants may not
            res = res[0] if status == "ok" else res
            _equivalent(f"vcf-{how}", m, status, res, lambda: (lambda s, r: (s, r[0] if s == "ok" else r))(
                *go(base["vcf"])))

    run()


@pytest.mark.parametrize("long", MODES)
def test_fuzz_vcf_cli(long, base, tmp_path_factory, capsys, request):
    """The VCF and its label table through ``plantllm data variants``: exit 0 or one error, no dataset left."""
    fasta_dir = _fresh(tmp_path_factory)
    fa = _write(fasta_dir, "g.fa", base["fasta"])

    @_settings(long, request, scale=0.5)
    @given(m=mutations(OPS + ("crlf",)), target=st.sampled_from(["vcf", "labels"]))
    @example(m=Mutation("crlf", 0, 0, 0), target="vcf")
    @example(m=Mutation("crlf", 0, 0, 0), target="labels")
    def run(m, target):
        def go(vcf: bytes, labels: bytes):
            d = _fresh(tmp_path_factory)
            v, lab = _write(d, "v.vcf", vcf), _write(d, "l.tsv", labels)
            out = d / "out"
            out.mkdir()
            rc, _ = cli(["data", "variants", CARDS / "tair10_slice.yaml", v, "--fasta", fa, "--out", out / "ds",
                         "--window", "32", "--labels", lab], capsys, out)
            if rc != 0:
                return rc, None
            import datasets

            man = json.loads((out / "ds" / "manifest.json").read_text())
            ds = datasets.load_from_disk(str(out / "ds"))
            rows = sorted((r["pos"], r["alt"], r["label"], round(r["dosage"], 5)) for split in ds.values() for r in split)
            return rc, (man["kept"], man["vcf"], rows)

        rc, res = go(mutate(base["vcf"], m, header=b"##") if target == "vcf" else base["vcf"],
                     mutate(base["labels"], m) if target == "labels" else base["labels"])
        _equivalent("vcf-cli", m, rc, res, lambda: go(base["vcf"], base["labels"]))

    run()


# ------------------------------------------------------------------ BED and label tables
@pytest.mark.parametrize("long", MODES)
@pytest.mark.parametrize("kind", ["bed", "strength", "labels", "homeologs"])
def test_fuzz_tables(long, kind, base, tmp_path_factory, request):
    from plantllm.core.tables import read_bed, read_key_values
    from plantllm.data.tasks.promoter import read_strength
    from plantllm.data.tasks.variants import read_labels

    data0 = base["strength"].replace(b"value", b"group") if kind == "homeologs" else base[
        "bed" if kind == "bed" else kind if kind != "homeologs" else "strength"]
    read = {"bed": lambda p: [(r.chrom, r.start, r.end, r.fields) for r in read_bed(p)],
            "strength": read_strength, "labels": read_labels,
            "homeologs": lambda p: read_key_values(p, "homeolog table", columns=("gene", "group"))}[kind]

    @_settings(long, request, scale=2)
    @given(m=mutations(OPS + ("crlf",)), gz=st.booleans())
    @example(m=Mutation("crlf", 0, 0, 0), gz=False)
    @example(m=Mutation("crlf", 0, 0, 0), gz=True)
    def run(m, gz):
        def go(data: bytes):
            d = _fresh(tmp_path_factory)
            p = _write(d, f"t.{'bed' if kind == 'bed' else 'tsv'}", data, "gzip" if gz and kind == "bed" else "plain")
            return reader(lambda: read(p))

        status, res = go(mutate(data0, m))
        if status == "ok" and kind == "strength":
            assert all(v == v and abs(v) != float("inf") for v in res.values()), res  # never a NaN or infinity
        _equivalent(f"{kind}-{gz}", m, status, res, lambda: go(data0))

    run()


# ------------------------------------------------------------------ species cards and configs
@pytest.mark.parametrize("long", MODES)
def test_fuzz_card(long, base, tmp_path_factory, capsys, request):
    fasta_dir = _fresh(tmp_path_factory)
    fa = _write(fasta_dir, "g.fa", base["fasta"])
    text0 = _card(fasta_dir, fa).read_bytes()

    @_settings(long, request)
    @given(m=mutations(OPS + ("crlf",)))
    @example(m=Mutation("crlf", 0, 0, 0))
    def run(m):
        def go(text: bytes):
            d = _fresh(tmp_path_factory)
            return _show(d, _card(d, fa, text=text), capsys)

        text = mutate(text0, m)
        rc, res = go(text)
        _equivalent("card", m, rc, res, lambda: go(text0))

    run()


@pytest.mark.parametrize("long", MODES)
@pytest.mark.parametrize("kind", ["model_config", "train_config"])
def test_fuzz_configs(long, kind, base, tmp_path_factory, request):
    from plantllm.models.checkpoint import load_spec
    from plantllm.training.config import TrainConfig

    read = {"model_config": lambda p: repr(load_spec(p)).replace(str(p), "P"),
            "train_config": lambda p: repr(TrainConfig.load(p)).replace(str(p), "P")}[kind]

    @_settings(long, request, scale=2)
    @given(m=mutations(OPS + ("crlf",)))
    @example(m=Mutation("crlf", 0, 0, 0))
    def run(m):
        def go(data: bytes):
            d = _fresh(tmp_path_factory)
            p = _write(d, "c.yaml", data)
            return reader(lambda: read(p))

        data = mutate(base[kind], m)
        status, res = go(data)
        _equivalent(kind, m, status, res, lambda: go(base[kind]))

    run()


# ------------------------------------------------------------------ model folders
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    from plantllm.models import checkpoint as M

    spec = M.load_spec(ROOT / "configs/models/tiny-bert-char.yaml")
    tok = M.build_tokenizer(spec)
    d = tmp_path_factory.mktemp("fuzzmodel") / "mlm"
    M.save(M.create(spec, tok, task="mlm"), tok, d)
    return d


@pytest.mark.parametrize("long", MODES)
@pytest.mark.parametrize("file", ["config.json", "tokenizer.json", "model.safetensors"])
def test_fuzz_model_folder(long, file, model_dir, tmp_path_factory, capsys, request):
    if not (model_dir / file).exists():
        pytest.skip(f"{file} is not part of plantllm's saved folder")
    original = (model_dir / file).read_bytes()
    ops = ("flip", "truncate", "delete", "swap", "number", "case", "nul", "utf16") if file != "model.safetensors" \
        else ("flip", "truncate")

    @_settings(long, request)
    @given(m=mutations(ops))
    def run(m):
        d = _fresh(tmp_path_factory) / "m"
        shutil.copytree(model_dir, d)
        (d / file).write_bytes(mutate(original, m))
        cli(["model", "inspect", d], capsys)

    run()


# ------------------------------------------------------------------ the mutations themselves
def test_mutations_keep_equivalent_content():
    data = b"##a\n##b\n##c\nx\ty\n"
    assert mutate(data, Mutation("crlf", 0, 0, 0)) == b"##a\r\n##b\r\n##c\r\nx\ty\r\n"
    assert sorted(mutate(data, Mutation("reorder_header", 1, 0, 0)).splitlines()) == sorted(data.splitlines())
    assert mutate(data, Mutation("reorder_header", 1, 0, 0)).splitlines()[0] == b"##a"
    assert mutate(data, Mutation("tabs", 3, 0, 0)) == b"##a\n##b\n##c\nx y\n"
