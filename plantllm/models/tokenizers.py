"""DNA tokenizers built with Hugging Face ``tokenizers`` and saved as standard HF tokenizers.

Kinds (``AutoTokenizer.from_pretrained(dir)`` opens every one of them, no plantllm needed):

* ``char``: one token per base (GPN, PlantCaduceus, HyenaDNA style);
* ``kmer``: non-overlapping k-mers with the Nucleotide Transformer / AgroNT fallback:
  runs of ACGT are cut into k-mers from the left, leftover bases and N are single
  tokens (``[ACGT]{k}|.`` split);
* ``kmer_overlap``: DNABERT-1 style overlapping k-mers; the input must be pre-split into
  space-separated k-mers (``to_overlapping_kmers``), as DNABERT's own tokenizer expects;
* ``bpe``: byte-pair encoding trained on a species corpus (DNABERT-2 / PDLLM BPE style);
* ``gpn``: GPN's own layout (``gpn_tokenizer``): ``[PAD] [MASK] [UNK] a c g t``, one token per base,
  lower-cased, no [CLS]/[SEP]; N and other letters are [UNK]. A published GPN tokenizer folder is
  recognised on load by that vocabulary.

Soft-masked (lowercase) input is handled deliberately: by default the normalizer
upper-cases it (repeat information travels separately, as the dataset's repeat mask and
loss weights); ``case="keep"`` gives lowercase bases their own tokens for models that
should see the mask. Any IUPAC ambiguity code becomes N.

Special tokens: [PAD] [UNK] [CLS] [SEP] [MASK]; sequences are wrapped as ``[CLS] x [SEP]``
(MLM) or ``[CLS] x`` (CLM, [CLS] acting as BOS and [SEP] as EOS).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Iterable, Iterator

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from plantllm.core.errors import MissingFileError, PlantLLMError

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
KINDS = ("char", "kmer", "kmer_overlap", "bpe", "gpn")
GPN_VOCAB = {"[PAD]": 0, "[MASK]": 1, "[UNK]": 2, "a": 3, "c": 4, "g": 5, "t": 6}


def _normalizer(case: str, keep_spaces: bool = False) -> normalizers.Normalizer:
    other = "[^ACGTNacgtn ]" if keep_spaces else "[^ACGTNacgtn]"
    steps = [normalizers.Replace(Regex(other), "N")]  # IUPAC ambiguity codes -> N
    if case == "upper":
        steps += [normalizers.Replace(lo, lo.upper()) for lo in "acgtn"]
    elif case == "keep":
        steps += [normalizers.Replace("n", "N")]  # N carries no mask information worth a token
    else:
        raise PlantLLMError(f"case '{case}' must be 'upper' or 'keep'")
    return normalizers.Sequence(steps)


def _bases(case: str) -> list[str]:
    return list("ACGTN") + (list("acgt") if case == "keep" else [])


def _post(objective: str, tok: Tokenizer) -> processors.PostProcessor:
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    if objective == "clm":
        return processors.TemplateProcessing(single="[CLS] $A", pair="[CLS] $A $B", special_tokens=[("[CLS]", cls)])
    return processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                         special_tokens=[("[CLS]", cls), ("[SEP]", sep)])


def _wrap(tok: Tokenizer, objective: str, max_length: int, meta: dict) -> PreTrainedTokenizerFast:
    tok.post_processor = _post(objective, tok)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", bos_token="[CLS]", eos_token="[SEP]", model_max_length=max_length,
        padding_side="right", truncation_side="right")
    fast.init_kwargs["plantllm"] = meta
    fast.plantllm = meta
    return fast


def char_tokenizer(objective: str = "mlm", max_length: int = 1024, case: str = "upper") -> PreTrainedTokenizerFast:
    vocab = {t: i for i, t in enumerate(SPECIALS + _bases(case))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = _normalizer(case)
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return _wrap(tok, objective, max_length, {"kind": "char", "case": case, "objective": objective})


def kmer_tokenizer(k: int = 6, objective: str = "mlm", max_length: int = 1024, case: str = "upper",
                   overlap: bool = False) -> PreTrainedTokenizerFast:
    if not 1 <= k <= 8:
        raise PlantLLMError(f"k must be within 1..8, got {k}")
    letters = "ACGT" + ("acgt" if case == "keep" and not overlap else "")
    kmers = ["".join(p) for p in itertools.product("ACGT", repeat=k)]
    if case == "keep" and not overlap:
        kmers += ["".join(p) for p in itertools.product("acgt", repeat=k)]
    vocab = {t: i for i, t in enumerate(SPECIALS + kmers + [b for b in _bases(case) if b not in kmers])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = _normalizer("upper", keep_spaces=True) if overlap else _normalizer(case)
    if overlap:
        tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        tok.decoder = None
    else:
        pattern = f"[ACGT]{{{k}}}" + (f"|[acgt]{{{k}}}" if "a" in letters else "") + "|."
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
        tok.decoder = decoders.Fuse()
    kind = "kmer_overlap" if overlap else "kmer"
    return _wrap(tok, objective, max_length, {"kind": kind, "k": k, "case": case, "objective": objective})


def to_overlapping_kmers(seq: str, k: int) -> str:
    """'ACGTAC', 3 -> 'ACG CGT GTA TAC' (DNABERT-1 input form)."""
    s = seq.upper()
    return " ".join(s[i:i + k] for i in range(len(s) - k + 1))


def _chunks(seqs: Iterable[str], size: int) -> Iterator[str]:
    for s in seqs:
        for i in range(0, len(s), size):
            yield s[i:i + size]


def train_bpe(sequences: Iterable[str], vocab_size: int = 4096, objective: str = "mlm", max_length: int = 1024,
              case: str = "upper", chunk: int = 1000, min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """BPE on DNA (no pre-tokenization: merges may span any bases), trained on ``chunk``-bp pieces."""
    if vocab_size <= len(SPECIALS) + len(_bases(case)):
        raise PlantLLMError(f"vocab_size {vocab_size} is too small for BPE")
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.normalizer = _normalizer(case)
    tok.decoder = decoders.Fuse()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIALS,
                                  initial_alphabet=_bases(case), show_progress=False)
    tok.train_from_iterator(_chunks(sequences, chunk), trainer=trainer)
    return _wrap(tok, objective, max_length, {"kind": "bpe", "vocab_size": vocab_size, "case": case,
                                              "objective": objective})


def gpn_tokenizer(max_length: int = 1024) -> PreTrainedTokenizerFast:
    """GPN's tokenizer (songlab/tokenizer-dna-mlm, the one GPN Brassicales ships): the ids and the
    tokenizer.json layout GPN's ``train_tokenizer_ss.py`` writes (a merge-free BPE, lower-casing
    normalizer, whitespace pre-tokenizer), so the ``gpn`` package and plantllm read each other's."""
    tok = Tokenizer(models.BPE(vocab=dict(GPN_VOCAB), merges=[], unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(["[PAD]", "[MASK]", "[UNK]"])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", mask_token="[MASK]", unk_token="[UNK]",
                                   model_max_length=max_length, padding_side="right", truncation_side="right")
    fast.plantllm = fast.init_kwargs["plantllm"] = {"kind": "gpn", "case": "lower", "objective": "mlm"}
    return fast


def is_gpn_layout(tok) -> bool:
    """True for GPN's tokenizer layout (its vocabulary, no special tokens added around a sequence)."""
    try:
        return tok.get_vocab() == GPN_VOCAB and tok("ACGTn")["input_ids"] == [3, 4, 5, 6, 2]
    except Exception:  # noqa: BLE001 - any tokenizer that cannot even encode is not GPN's
        return False


def build(kind: str, **kw) -> PreTrainedTokenizerFast:
    """A tokenizer of a kind from ``KINDS`` (``bpe`` needs ``sequences``)."""
    if kind == "gpn":
        return gpn_tokenizer(**{k: v for k, v in kw.items() if k == "max_length"})
    if kind == "char":
        return char_tokenizer(**{k: v for k, v in kw.items() if k in ("objective", "max_length", "case")})
    if kind in ("kmer", "kmer_overlap"):
        return kmer_tokenizer(overlap=kind == "kmer_overlap",
                              **{k: v for k, v in kw.items() if k in ("k", "objective", "max_length", "case")})
    if kind == "bpe":
        if "sequences" not in kw:
            raise PlantLLMError("a BPE tokenizer is trained: give sequences (a corpus)")
        return train_bpe(**{k: v for k, v in kw.items() if k in ("sequences", "vocab_size", "objective",
                                                                  "max_length", "case", "chunk")})
    raise PlantLLMError(f"tokenizer kind '{kind}' must be one of {KINDS}")


def save(tok: PreTrainedTokenizerFast, out: str | Path) -> Path:
    out = Path(out)
    tok.save_pretrained(str(out))
    meta = getattr(tok, "plantllm", None) or tok.init_kwargs.get("plantllm")
    if meta:
        (out / "plantllm_tokenizer.json").write_text(json.dumps(meta, indent=2))
    return out


def load(path: str | Path) -> PreTrainedTokenizerFast:
    """Load a tokenizer dir (ours or a published model's) from local files only."""
    p = Path(path)
    if not p.exists():
        raise MissingFileError("tokenizer folder not found", path=p)
    # transformers 5 builds an empty default tokenizer for a folder without any: refuse it here
    vocab_files = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model", "spiece.model", "vocab.model")
    if p.is_dir() and not any((p / f).exists() for f in vocab_files):
        raise MissingFileError("no tokenizer in the folder (no tokenizer.json or vocabulary file)", path=p,
                               fix="copy the tokenizer files saved with the model next to config.json")
    try:
        tok = AutoTokenizer.from_pretrained(str(p), local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError) as e:
        raise MissingFileError(f"no usable tokenizer ({str(e).splitlines()[0]})", path=p,
                               fix="the folder needs tokenizer.json or vocab files (tokenizer_config.json)") from None
    meta_file = p / "plantllm_tokenizer.json"
    tok.plantllm = json.loads(meta_file.read_text()) if meta_file.exists() else {}
    if not tok.plantllm and is_gpn_layout(tok):  # a published GPN tokenizer (GPN Brassicales, tokenizer-dna-mlm)
        tok.plantllm = tok.init_kwargs["plantllm"] = {"kind": "gpn", "case": "lower", "objective": "mlm"}
    return tok


def prepare(tok, seq: str) -> str:
    """The text a tokenizer expects for a DNA sequence (pre-split k-mers for DNABERT-1 style)."""
    meta = getattr(tok, "plantllm", {}) or {}
    if meta.get("kind") == "kmer_overlap":
        return to_overlapping_kmers(seq, int(meta["k"]))
    return seq


class FastDnaEncoder:
    """Vectorized encoder for plantllm's own ``char`` and ``kmer`` tokenizers and GPN's (``gpn``), id-for-id
    identical to the Hugging Face tokenizer it mirrors (the tests check this on real sequence).

    Scanning a genome tokenizes millions of windows; the HF pipeline (regex normalizers and
    pre-tokenizer) then costs a fifth of a tiny model's forward time. Here a 256-entry lookup
    table maps bytes to base codes and k-mer ids are base-4 numbers, as in GPN's data code.
    Windows containing N or other non-ACGT bases fall back to the HF tokenizer for exactness.
    """

    def __init__(self, tok):
        import numpy as np

        meta = getattr(tok, "plantllm", {}) or {}
        self.kind, self.k = meta.get("kind"), int(meta.get("k", 1))
        gpn = self.kind == "gpn"  # lower-case vocabulary, either case in, no [CLS]/[SEP]
        if not gpn and (self.kind not in ("char", "kmer") or meta.get("case", "upper") != "upper"):
            raise PlantLLMError("the fast encoder supports plantllm's upper-case char and kmer tokenizers "
                                "and GPN's only")
        self.tok = tok
        vocab = tok.get_vocab()
        k = 1 if self.kind == "char" else self.k
        letters = "acgt" if gpn else "ACGT"
        kmers = ["".join(p) for p in itertools.product(letters, repeat=k)]
        self.kmer_ids = np.array([vocab[x] for x in kmers], dtype=np.int64)
        self.single = np.array([vocab[b] for b in letters], dtype=np.int64)
        self.pad = tok.pad_token_id
        self.clm = meta.get("objective") == "clm"
        self.head = [] if gpn else [tok.cls_token_id]  # the tokens before and after the bases
        self.tail = [] if gpn or self.clm else [tok.sep_token_id]
        lut = np.full(256, 4, dtype=np.int64)
        for i, b in enumerate("ACGT"):
            lut[ord(b)] = lut[ord(b.lower())] = i
        self.lut = lut
        self.powers = 4 ** np.arange(k - 1, -1, -1, dtype=np.int64)

    def ids(self, seq: str) -> list[int] | None:
        import numpy as np

        codes = self.lut[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)]
        if (codes == 4).any():
            return None
        k = 1 if self.kind == "char" else self.k
        full = len(codes) // k * k
        body = self.kmer_ids[codes[:full].reshape(-1, k) @ self.powers] if full else np.empty(0, np.int64)
        tail = self.single[codes[full:]]
        return [*self.head, *body.tolist(), *tail.tolist(), *self.tail]

    def _codes(self, seqs: list[str]):
        """(n, L) base codes of sequences of one length with only A/C/G/T, else None."""
        import numpy as np

        if not seqs or len({len(s) for s in seqs}) != 1:
            return None
        codes = self.lut[np.frombuffer("".join(seqs).encode("ascii", "replace"), dtype=np.uint8)]
        if (codes == 4).any():
            return None
        return codes.reshape(len(seqs), -1)

    def _matrix(self, codes, max_length: int | None):
        """Token ids of a batch of equal-length A/C/G/T sequences in one numpy pass (no row loop)."""
        import numpy as np
        import torch

        n, length = codes.shape
        k = 1 if self.kind == "char" else self.k
        if k == 1:  # one id per base: written in place (a scan's batches; no base-4 product, no concatenation)
            h = len(self.head)
            ids = np.empty((n, h + length + len(self.tail)), dtype=np.int64)
            ids[:, :h], ids[:, h + length:] = self.head, self.tail
            np.take(self.single, codes, out=ids[:, h:h + length])
            if max_length is not None and ids.shape[1] > max_length:
                return None
            return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.ones(ids.shape, dtype=torch.long)}
        full = length // k * k
        parts = [np.full((n, len(self.head)), self.head[0] if self.head else 0, dtype=np.int64)]
        if full:
            parts.append(self.kmer_ids[codes[:, :full].reshape(n, -1, k) @ self.powers])
        parts.append(self.single[codes[:, full:]])
        if self.tail:
            parts.append(np.full((n, 1), self.tail[0], dtype=np.int64))
        ids = np.concatenate(parts, axis=1)
        if max_length is not None and ids.shape[1] > max_length:
            return None
        return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.ones(ids.shape, dtype=torch.long)}

    def from_codes(self, codes, max_length: int | None = None):
        """Token ids of an (n, L) array of base codes (A=0, C=1, G=2, T=3: ``lut`` of the bytes), or None when a
        row holds another base (code 4) or the ids pass ``max_length`` (the caller then tokenizes strings).
        Scans keep windows as codes: the reverse complement is ``3 - codes[:, ::-1]``, no strings."""
        if codes.ndim != 2 or not codes.shape[0] or (codes == 4).any():
            return None
        return self._matrix(codes, max_length)

    def token_of(self, seqs: list[str], bases: list[int]):
        """Index of the token holding base ``bases[i]`` of each sequence, when every sequence has one length
        and (k-mer tokenizers) only A/C/G/T: the layout is then [CLS] k-mers single-base-tail [SEP], GPN's
        without [CLS]/[SEP]; a char tokenizer has one token per base whatever the base. Else None."""
        import numpy as np

        if self.kind == "char":  # one token per base whatever the base (N, IUPAC codes: one N token each)
            if not seqs or len({len(s) for s in seqs}) != 1 or not all(s.isascii() for s in seqs):
                return None
            return len(self.head) + np.asarray(bases, dtype=np.int64)
        codes = self._codes(seqs)
        if codes is None:
            return None
        k = self.k
        full = codes.shape[1] // k * k
        c = np.asarray(bases, dtype=np.int64)
        return len(self.head) + np.where(c < full, c // k, full // k + (c - full))

    def __call__(self, seqs: list[str], max_length: int | None = None):
        import torch

        codes = self._codes(seqs)
        if codes is not None and (enc := self._matrix(codes, max_length)) is not None:
            return enc
        rows = []
        for s in seqs:
            r = self.ids(s)
            if r is None:
                r = self.tok(s)["input_ids"]
            if max_length is not None and len(r) > max_length:
                r = r[:max_length - len(self.tail)] + self.tail
            rows.append(r)
        n = max(len(r) for r in rows)
        ids = torch.full((len(rows), n), self.pad, dtype=torch.long)
        mask = torch.zeros((len(rows), n), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r)
            mask[i, :len(r)] = 1
        return {"input_ids": ids, "attention_mask": mask}
