"""Tokenizers: invariants on real TAIR10 sequence, HF save/load without plantllm."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from conftest import DATA
from plantllm.models import tokenizers as T
from plantllm.core.errors import PlantLLMError
from plantllm.core.sequence import reverse_complement

COMP = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N"}


@pytest.fixture(scope="module")
def real():
    """60 kb of real TAIR10 chr1 (soft-masked, with case changes)."""
    with gzip.open(DATA / "tair10_chr1_1-1500000.fa.gz", "rt") as fh:
        next(fh)
        return "".join(next(fh).strip() for _ in range(1000))


def test_char_reverse_complement_and_n(real):
    tok = T.char_tokenizer()
    seq = real[:500] + "RYKM" + real[500:600]
    ids = tok(seq, add_special_tokens=False)["input_ids"]
    toks = tok.convert_ids_to_tokens(ids)
    assert "".join(toks) == re.sub("[RYKM]", "N", seq.upper())  # case dropped, IUPAC -> N
    rc = tok.convert_ids_to_tokens(tok(reverse_complement(seq), add_special_tokens=False)["input_ids"])
    assert rc == [COMP[t] for t in reversed(toks)]


def _nt_reference(seq: str, k: int) -> list[str]:
    """The Nucleotide Transformer rule written independently: k-mers from the left within ACGT runs,
    leftovers and N as single tokens."""
    out = []
    for run in re.findall(r"[ACGT]+|[^ACGT]", seq.upper()):
        if run[0] not in "ACGT":
            out.append("N")
            continue
        full = len(run) // k * k
        out += [run[i:i + k] for i in range(0, full, k)] + list(run[full:])
    return out


def test_kmer_matches_nucleotide_transformer_rule_and_offsets(real):
    tok = T.kmer_tokenizer(6)
    seq = real[:997] + "NNN" + real[1000:1400]
    enc = tok(seq, add_special_tokens=False, return_offsets_mapping=True)
    toks = tok.convert_ids_to_tokens(enc["input_ids"])
    assert toks == _nt_reference(seq, 6)
    for t, (a, b) in zip(toks, enc["offset_mapping"]):
        assert seq[a:b].upper() == t
    assert tok.decode(enc["input_ids"]) == seq.upper()


def test_overlapping_kmers():
    tok = T.kmer_tokenizer(3, overlap=True)
    ids = tok(T.prepare(tok, "ACGTAc"), add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["ACG", "CGT", "GTA", "TAC"]


def test_bpe_trained_on_real_sequence(real, tmp_path):
    tok = T.train_bpe([real], vocab_size=300)
    assert 200 < len(tok) <= 300
    seq = real[20_000:21_000]
    ids = tok(seq, add_special_tokens=False)["input_ids"]
    assert len(ids) < len(seq) / 2  # merges compress DNA
    assert tok.decode(ids) == seq.upper()


@pytest.mark.parametrize("make", [T.char_tokenizer, lambda **kw: T.kmer_tokenizer(6, **kw)])
def test_saved_dir_loads_with_plain_autotokenizer(make, tmp_path):
    tok = make(objective="mlm", max_length=128)
    T.save(tok, tmp_path / "t")
    auto = AutoTokenizer.from_pretrained(str(tmp_path / "t"))
    enc = auto(["ACGTACGTAC", "ACG"], padding=True)
    assert auto.padding_side == "right" and auto.mask_token == "[MASK]" and auto.model_max_length == 128
    assert enc["input_ids"][1][-1] == auto.pad_token_id
    assert auto.convert_ids_to_tokens(enc["input_ids"][0])[0] == "[CLS]"
    assert auto.convert_ids_to_tokens(enc["input_ids"][0])[-1] == "[SEP]"
    assert T.load(tmp_path / "t").plantllm["kind"] in ("char", "kmer")


def test_clm_template_and_case_keep():
    clm = T.char_tokenizer(objective="clm")
    toks = clm.convert_ids_to_tokens(clm("ACG")["input_ids"])
    assert toks == ["[CLS]", "A", "C", "G"]
    keep = T.char_tokenizer(case="keep")
    assert keep.convert_ids_to_tokens(keep("ACgt", add_special_tokens=False)["input_ids"]) == ["A", "C", "g", "t"]


def test_bad_tokenizer_requests():
    with pytest.raises(PlantLLMError, match="k must be within"):
        T.kmer_tokenizer(12)
    with pytest.raises(PlantLLMError, match="kind 'wordpiece'"):
        T.build("wordpiece")
    with pytest.raises(PlantLLMError, match="BPE tokenizer is trained"):
        T.build("bpe")


@pytest.mark.parametrize("make", [lambda: T.char_tokenizer(), lambda: T.kmer_tokenizer(6),
                                  lambda: T.kmer_tokenizer(3, objective="clm")])
def test_fast_encoder_is_identical_to_the_hf_tokenizer(make, real):
    tok = make()
    fast = T.FastDnaEncoder(tok)
    seqs = [real[i:i + 300 + (i % 7)] for i in range(0, 20_000, 997)] + [real[:250] + "N" + real[300:340], "acgtRYacg"]
    want = tok(seqs, padding=True, return_tensors="pt")
    got = fast(seqs)
    assert (got["input_ids"] == want["input_ids"]).all() and (got["attention_mask"] == want["attention_mask"]).all()


@pytest.mark.parametrize("cfg", ["tiny-bert-char.yaml", "tiny-esm-6mer.yaml"])
def test_batch_encoder_and_token_positions_equal_hugging_face(cfg):
    """The one-pass matrix encoder (equal-length A/C/G/T windows) gives the HF tokenizer's ids, and the
    token holding each base, computed, is the one the HF offsets name."""
    import numpy as np
    import torch

    from plantllm.models import checkpoint as M
    from plantllm.models.runner import ModelRunner

    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 131)) for _ in range(40)]
    spec = M.load_spec(Path(__file__).resolve().parents[1] / "configs/models" / cfg)
    tok = M.build_tokenizer(spec)
    fast = T.FastDnaEncoder(tok)
    hf = tok([T.prepare(tok, s) for s in seqs], return_tensors="pt", padding=True)["input_ids"]
    assert torch.equal(fast(seqs)["input_ids"], hf)
    runner = ModelRunner.from_model(M.create(spec, tok, task="mlm"), tok)
    bases = [int(x) for x in rng.integers(0, 131, 40)]
    ids, pos = runner.encode_at(seqs, bases)
    runner.fast = None  # the offsets path
    ids2, pos2 = runner.encode_at(seqs, bases)
    assert torch.equal(pos, pos2) and torch.equal(ids["input_ids"], ids2["input_ids"])
    with_n = seqs[:2] + ["ACGTN" * 26 + "A"]
    if fast.kind == "char":  # one token per base, an N too: computed, and equal to what the offsets say
        _, want = runner.encode_at(with_n, [0, 1, 2])
        assert fast.token_of(with_n, [0, 1, 2]).tolist() == want.tolist()
    else:  # k-mers: an N changes the layout, the offsets decide
        assert fast.token_of(with_n, [0, 1, 2]) is None
