"""Batches for the Trainer: tokenize DNA rows on the fly, reverse-complement augmentation, MLM/CLM labels
and per-token loss weights from the dataset's per-base repeat mask (repeats down-weighted, as GPN does)."""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from plantllm.core.sequence import reverse_complement
from plantllm.models import tokenizers as tokenization
from plantllm.training.config import TrainConfig


class DnaCollator:
    """Tokenize a batch of dataset rows; RC-augment; build MLM/CLM labels and per-token loss weights.

    Every random choice (reverse complement, masked positions, replacement tokens) comes from a
    generator seeded by (seed, epoch, the row's locus and sequence), not from the global RNG: the
    Trainer's dataloader collates one batch ahead of the step being checkpointed, so global-RNG
    draws would make a resumed run differ from an uninterrupted one.
    """

    def __init__(self, tok, cfg: TrainConfig, train: bool, lm: bool):
        self.tok, self.cfg, self.train, self.lm = tok, cfg, train, lm
        self.kind = (getattr(tok, "plantllm", {}) or {}).get("kind")
        self.epoch = 0

    def _generator(self, row: dict) -> torch.Generator:
        key = f"{self.cfg.seed}|{self.epoch if self.train else -1}|{row.get('chrom')}|{row.get('start')}|" \
              f"{row.get('strand')}|{row['seq']}"
        g = torch.Generator()
        g.manual_seed(int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") >> 1)
        return g

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        seqs, masks, gens = [], [], []
        for r in rows:
            g = self._generator(r)
            s = r["seq"]
            m = r.get("repeat_mask")
            if self.train and self.cfg.rc_augment and torch.rand((), generator=g) < 0.5:
                s = reverse_complement(s)
                m = m[::-1] if m is not None else None
            seqs.append(s)
            masks.append(m)
            gens.append(g)
        texts = [tokenization.prepare(self.tok, s) for s in seqs]
        enc = self.tok(texts, padding=True, truncation=True, max_length=self.cfg.max_length, return_tensors="pt",
                       return_offsets_mapping=self.lm and self.kind != "kmer_overlap",
                       return_special_tokens_mask=True)
        special = enc.pop("special_tokens_mask").bool()
        offsets = enc.pop("offset_mapping", None)
        batch = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
        if not self.lm:
            batch["labels"] = self._task_labels(rows)
            return batch
        pad_or_special = special | (batch["attention_mask"] == 0)
        weights = self._loss_weights(batch["input_ids"], offsets, masks, rows)
        weights[pad_or_special] = 0.0
        labels = batch["input_ids"].clone()
        if self.cfg.task == "mlm":
            self._mask(batch["input_ids"], labels, pad_or_special, gens)
        else:
            labels[batch["attention_mask"] == 0] = -100
        batch["labels"] = labels
        batch["loss_weight"] = weights
        return batch

    def _loss_weights(self, ids: torch.Tensor, offsets, masks: list, rows: list[dict]) -> torch.Tensor:
        """Per-token loss weight: 1 for unique sequence, the repeat weight for a token wholly in a
        repeat, in between for a token that is partly repeat (k-mers, BPE)."""
        weights = torch.ones_like(ids, dtype=torch.float32)
        if not (self.cfg.repeat_weighting and offsets is not None and masks[0] is not None):
            return weights
        w_rep = self.cfg.repeat_weight if self.cfg.repeat_weight is not None else float(rows[0].get("repeat_weight", 0.1))
        for i, m in enumerate(masks):
            cum = np.concatenate([[0], np.cumsum(np.asarray(m, dtype=np.float32))])
            a, b = offsets[i, :, 0].numpy(), offsets[i, :, 1].numpy()
            span = np.maximum(b - a, 1)
            frac = (cum[np.minimum(b, len(m))] - cum[np.minimum(a, len(m))]) / span
            weights[i] = torch.from_numpy(1.0 - frac * (1.0 - w_rep)).float()
        return weights

    def _mask(self, ids: torch.Tensor, labels: torch.Tensor, pad_or_special: torch.Tensor, gens: list) -> None:
        """BERT masking in place: of the chosen tokens 80% [MASK], 10% a random token, 10% kept;
        at least one prediction per sequence. Labels of the others are -100."""
        n = ids.shape[1]
        for i, g in enumerate(gens):
            chosen = (torch.rand(n, generator=g) < self.cfg.mlm_probability) & ~pad_or_special[i]
            if not chosen.any():
                cand = torch.nonzero(~pad_or_special[i]).flatten()
                chosen[cand[torch.randint(len(cand), (1,), generator=g)]] = True
            u = torch.rand(n, generator=g)
            replace = chosen & (u < 0.8)
            rand = chosen & (u >= 0.8) & (u < 0.9)
            labels[i][~chosen] = -100
            ids[i][replace] = self.tok.mask_token_id
            ids[i][rand] = torch.randint(len(self.tok), (n,), generator=g)[rand]

    def _task_labels(self, rows: list[dict]) -> torch.Tensor:
        col = self.cfg.label_column
        if self.cfg.task == "regression":
            if isinstance(rows[0][col], list):  # multi-output regression
                return torch.tensor([r[col] for r in rows], dtype=torch.float32)
            return torch.tensor([float(r[col]) for r in rows], dtype=torch.float32).unsqueeze(-1)
        if self.cfg.task == "multilabel":
            return torch.tensor([r[col] for r in rows], dtype=torch.float32)
        return torch.tensor([int(r[col]) for r in rows], dtype=torch.long)
