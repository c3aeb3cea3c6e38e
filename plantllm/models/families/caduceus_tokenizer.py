"""The Caduceus character tokenizer (``caduceus/tokenization_caduceus.py``) as a ``PreTrainedTokenizerFast``.

Ids as the reference: [CLS] 0, [SEP] 1, [BOS] 2, [MASK] 3, [PAD] 4, [RESERVED] 5, [UNK] 6, then one id
per character from 7 (A C G T N by default); text is upper-cased, every other character is [UNK], a
[SEP] closes each sequence, padding goes on the left (the reference's default). Published Caduceus
checkpoints (Caduceus-Ph/-PS) ship no vocabulary file, only a ``tokenizer_config.json`` naming
``CaduceusTokenizer``, whose code would be remote code: ``load_folder`` builds this tokenizer from that
file's settings instead. (PlantCaduceus ships GPN's tokenizer.json, which loads as it is.)
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

SPECIAL_IDS = {"[CLS]": 0, "[SEP]": 1, "[BOS]": 2, "[MASK]": 3, "[PAD]": 4, "[RESERVED]": 5, "[UNK]": 6}


def caduceus_tokenizer(model_max_length: int = 131072, characters=("A", "C", "G", "T", "N"),
                       padding_side: str = "left") -> PreTrainedTokenizerFast:
    vocab = {**SPECIAL_IDS, **{c: i + len(SPECIAL_IDS) for i, c in enumerate(characters)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.Replace(c.lower(), c) for c in characters if c.lower() != c])
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.add_special_tokens(list(SPECIAL_IDS))
    tok.post_processor = processors.TemplateProcessing(single="$A [SEP]", pair="$A [SEP] $B [SEP]",
                                                       special_tokens=[("[SEP]", SPECIAL_IDS["[SEP]"])])
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="[BOS]", eos_token="[SEP]", sep_token="[SEP]",
                                   cls_token="[CLS]", pad_token="[PAD]", mask_token="[MASK]", unk_token="[UNK]",
                                   model_max_length=model_max_length, padding_side=padding_side)
    fast.plantllm = fast.init_kwargs["plantllm"] = {"kind": "caduceus", "objective": "mlm"}
    return fast


def is_caduceus_folder(path: str | Path) -> bool:
    """A published Caduceus folder: a tokenizer_config.json naming CaduceusTokenizer and no tokenizer.json."""
    p = Path(path)
    cfg = p / "tokenizer_config.json"
    if not cfg.is_file() or (p / "tokenizer.json").exists():
        return False
    try:
        return json.loads(cfg.read_text(encoding="utf-8")).get("tokenizer_class") == "CaduceusTokenizer"
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return False


def load_folder(path: str | Path) -> PreTrainedTokenizerFast:
    """The tokenizer a Caduceus folder's tokenizer_config.json describes (no remote code)."""
    cfg = json.loads((Path(path) / "tokenizer_config.json").read_text(encoding="utf-8"))
    return caduceus_tokenizer(int(cfg.get("model_max_length") or 131072),
                              tuple(cfg.get("characters") or ("A", "C", "G", "T", "N")),
                              cfg.get("padding_side") or "left")
