"""``plantllm motifs compare``: motifs per species matched across species with TOMTOM.

A controlled case on real sequence: real 100 bp windows of A. thaliana TAIR10 chr1 and of
A. arenosa AARE701a chr1 (the test slices). In both species half the windows carry an instance
sampled from JASPAR's WRKY12 W-box matrix; in A. thaliana they also carry one sampled from the
ABRE matrix MA0931.1 (bZIP). The other windows (unplanted, real) are the background. Discovery
runs per species through the command (``--model``, a tiny random model: the known answer lies in
the k-mer baseline's motifs, which do not depend on the model), then the comparison must put the
W-box 6-mers of both species in one shared cluster and the ABRE (ACGT core) 6-mers in a cluster
specific to A. thaliana.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets as hfds
import numpy as np
import pytest

from conftest import DATA
from plantllm.apps import motif_comparison as C
from plantllm.apps.motif_report import read_meme
from plantllm.cli import main
from plantllm.data import jaspar
from plantllm.species.assembly import Assembly
from plantllm.species.card import load_card

ROOT = Path(__file__).resolve().parent.parent
W = 100


def _planted(card: str, out: Path, n: int, plants: tuple[str, ...], seed: int) -> Path:
    """A one-split dataset of real windows; every second window carries one sampled site per matrix."""
    asm = Assembly(load_card(DATA / "cards" / card))
    chrom = asm.genome.chromosomes()[0]
    rng = np.random.default_rng(seed)
    ppms = [jaspar.ppm(m, pseudocount=0) for m in jaspar.fetch(plants)]
    rows = []
    while len(rows) < n:
        s = int(rng.integers(0, asm.genome.length(chrom) - W))
        seq = asm.genome.fetch(chrom, s, s + W).upper()
        if "N" in seq:
            continue
        label = len(rows) % 2
        for k, ppm in enumerate(ppms if label else []):  # the first matrix in 5..45, the second in 55..95
            site = "".join("ACGT"[rng.choice(4, p=col / col.sum())] for col in ppm.T)
            at = 5 + 50 * k + int(rng.integers(0, 40 - len(site)))
            seq = seq[:at] + site + seq[at + len(site):]
        rows.append({"chrom": chrom, "start": s, "end": s + W, "strand": "+", "seq": seq, "label": label})
    ds = hfds.Dataset.from_dict({k: [r[k] for r in rows] for k in rows[0]})
    hfds.DatasetDict({"test": ds}).save_to_disk(str(out))
    return out


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    from plantllm.models import checkpoint as M

    base = tmp_path_factory.mktemp("cmp")
    thal = _planted("tair10_slice.yaml", base / "thaliana_ds", 80, ("WRKY12", "MA0931.1"), 1)
    aren = _planted("arenosa_slice.yaml", base / "arenosa_ds", 80, ("WRKY12",), 2)
    spec = M.load_spec(ROOT / "configs/models/tiny-esm-6mer.yaml")
    tok = M.build_tokenizer(spec)
    M.save(M.create(spec, tok, task="classification", num_labels=2, seed=0), tok, base / "model")
    rc = main(["motifs", "compare", "--model", str(base / "model"), f"thaliana={thal}", f"arenosa={aren}",
               "-o", str(base / "out"), "--method", "ig", "--n", "40"])
    assert rc == 0
    return base, json.loads((base / "out" / "summary.json").read_text())


def _kmer_clusters(s: dict) -> list[dict]:
    return s["sources"]["kmer"]["clusters_detail"]


@pytest.mark.slow  # discovery per species (numba-compiled seqlet calling): ~80 s CPU
def test_the_wbox_is_shared_and_the_abre_specific_to_thaliana(compared):
    base, s = compared
    assert s["species"] == ["thaliana", "arenosa"] and s["metric"] == "q"
    for name in ("thaliana", "arenosa"):  # discovery ran per species into OUT/species/NAME
        d = json.loads((base / "out" / "species" / name / "summary.json").read_text())
        assert d["sequences"] == 40 and "W-box (WRKY)" in d["recovered"]["kmer"]
    kc = _kmer_clusters(s)
    wbox = [c for c in kc if c["element"] == "W-box (WRKY)"]
    assert wbox and all(c["status"] == "shared by all" for c in wbox[:1]), kc
    assert wbox[0]["q_thaliana"] <= 0.05 and wbox[0]["q_arenosa"] <= 0.05
    assert "W-box (WRKY)" in s["sources"]["kmer"]["shared_elements"]
    # the ABRE core ACGT: k-mers only thaliana has, in clusters of thaliana alone
    abre = [c for c in kc if "ACGT" in c["consensus"]]
    assert abre and all(c["status"] == "specific to thaliana" and not c["arenosa_motifs"] for c in abre), kc
    assert s["sources"]["kmer"]["specific"]["thaliana"] >= 1
    # every motif of every species sits in exactly one cluster
    members = (base / "out" / "members.tsv").read_text().splitlines()
    assert members[0].startswith("species\tsource\tmotif")
    total = sum(sum(d["motifs"].values()) for d in s["sources"].values())
    assert len(members) - 1 == total == sum(len(c["thaliana_motifs"].split(",") if c["thaliana_motifs"] else [])
                                            + len(c["arenosa_motifs"].split(",") if c["arenosa_motifs"] else [])
                                            for d in s["sources"].values() for c in d["clusters_detail"])


@pytest.mark.slow  # discovery per species (numba-compiled seqlet calling): ~80 s CPU
def test_outputs_open_in_the_usual_tools(compared):
    base, s = compared
    out = base / "out"
    rows = (out / "clusters.tsv").read_text().splitlines()
    head = rows[0].split("\t")
    assert head[:3] == ["cluster", "source", "status"] and "q_thaliana" in head and "arenosa_motifs" in head
    assert all(len(r.split("\t")) == len(head) for r in rows[1:])
    meme = read_meme(out / "motifs.meme")  # one merged motif per cluster, MEME format
    ids = [r.split("\t")[0] for r in rows[1:]]
    assert list(meme) == ids and all(np.allclose(m.sum(0), 1, atol=1e-3) for m in meme.values())
    for png in ("presence.png", "shared_logos.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG" and (out / png).stat().st_size > 2000
    assert "W-box (WRKY)" in (out / "report.md").read_text()


@pytest.mark.slow  # discovery per species (numba-compiled seqlet calling): ~80 s CPU
def test_thresholds_q_and_evalue(compared, tmp_path):
    base, s = compared
    named = [f"{n}={base / 'out' / 'species' / n}" for n in ("thaliana", "arenosa")]
    assert main(["motifs", "compare", *named, "-o", str(tmp_path / "strict"), "--max-q", "1e-30"]) == 0
    strict = json.loads((tmp_path / "strict" / "summary.json").read_text())
    for tag, d in strict["sources"].items():  # nothing matches: one cluster per motif, all species-specific
        assert d["shared"] == 0 and d["clusters"] == sum(d["motifs"].values())
    assert main(["motifs", "compare", *named, "-o", str(tmp_path / "e"), "--max-evalue", "0.01"]) == 0
    e = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert e["metric"] == "E" and "E_thaliana" in (tmp_path / "e" / "clusters.tsv").read_text().splitlines()[0]
    assert "W-box (WRKY)" in e["sources"]["kmer"]["shared_elements"]


def test_kmers_only_finds_the_shared_wbox_without_a_model(tmp_path):
    """The same controlled case through the k-mer baseline alone (no model, no seqlets: fast)."""
    thal = _planted("tair10_slice.yaml", tmp_path / "thaliana_ds", 80, ("WRKY12", "MA0931.1"), 1)
    aren = _planted("arenosa_slice.yaml", tmp_path / "arenosa_ds", 80, ("WRKY12",), 2)
    assert main(["motifs", "compare", "--kmers-only", f"thaliana={thal}", f"arenosa={aren}", "-o",
                 str(tmp_path / "out"), "--n", "40"]) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["sources"]["model"]["clusters"] == 0
    kc = _kmer_clusters(s)
    assert kc[0]["element"] == "W-box (WRKY)" and kc[0]["status"] == "shared by all", kc
    abre = [c for c in kc if "ACGT" in c["consensus"]]
    assert abre and all(c["status"] == "specific to thaliana" for c in abre), kc
    d = json.loads((tmp_path / "out" / "species" / "arenosa" / "summary.json").read_text())
    assert d["background"] == "given background" and d["sequences"] == 40 and not d["motifs"]


def test_pair_values_are_symmetric_and_identical_motifs_match():
    (m,) = jaspar.fetch(("WRKY12",))
    ppm = jaspar.ppm(m)
    kmers = [C.kmer_ppm(k) for k in ("TTGACC", "CACGTG", "GGTCAA")]  # GGTCAA: TTGACC's reverse complement
    bg = [jaspar.ppm(x) for x in jaspar.fetch(("MA0931.1", "TCP4"))]
    V = C.pair_values(["a", "a", "b", "b"], [ppm, kmers[0], kmers[1], kmers[2]], bg)
    assert np.allclose(V, V.T) and (np.diag(V) == 0).all()
    assert V[1, 3] < 1e-3 and V[1, 2] > V[1, 3]


@pytest.mark.parametrize("args, message", [
    (["thaliana=EMPTY"], "at least two"),
    (["thaliana=EMPTY", "thaliana=EMPTY"], "named twice"),
    (["thaliana", "arenosa=EMPTY"], "NAME=PATH"),
    (["thal/iana=EMPTY", "arenosa=EMPTY"], "must be letters"),
    (["thaliana=MISSING", "arenosa=EMPTY"], "not found"),
    (["thaliana=FILE", "arenosa=EMPTY"], "not a motif discovery folder"),
    (["thaliana=EMPTY", "arenosa=EMPTY"], "not a motif discovery output"),
])
def test_bad_inputs_are_one_line_and_write_nothing(args, message, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x\n")
    paths = {"MISSING": str(tmp_path / "nope"), "FILE": str(tmp_path / "file.txt"), "EMPTY": str(tmp_path / "empty")}
    args = [a.split("=")[0] + "=" + paths[a.split("=")[1]] if "=" in a else a for a in args]
    assert main(["motifs", "compare", *args, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_bad_summary_and_missing_fasta_with_model(tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "motifs.meme").write_text("MEME version 4\n")
    (bad / "summary.json").write_text("{not json\n")
    assert main(["motifs", "compare", f"a={bad}", f"b={bad}", "-o", str(tmp_path / "o")]) == 2
    assert "summary.json:1: not valid JSON" in capsys.readouterr().err
    (bad / "summary.json").write_text(json.dumps({"motifs": [{"id": "plantllm-1"}], "kmer_motifs": []}))
    assert main(["motifs", "compare", f"a={bad}", f"b={bad}", "-o", str(tmp_path / "o")]) == 2
    assert "no motif in this file" in capsys.readouterr().err  # summary names a motif the MEME file lacks
    assert main(["motifs", "compare", "--model", str(tmp_path / "model"), f"a={tmp_path / 'a.fa'}", f"b={bad}",
                 "-o", str(tmp_path / "o")]) == 2
    assert "a.fa: a: FASTA or dataset folder not found" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_discovery_stays_the_default_subcommand(capsys):
    assert main(["motifs", "--help"]) == 0
    out = capsys.readouterr().out
    assert "discover" in out and "compare" in out
    assert main(["motifs", "discover", "--help"]) == 0 and "--dataset" in capsys.readouterr().out
    assert main(["motifs", "/nonexistent-model", "--fasta", "/nonexistent.fa", "-o", "/tmp/x-never"]) == 2
    assert "nonexistent.fa: FASTA not found" in capsys.readouterr().err
