"""Variant prioritization: score, annotate and rank the variants of a VCF for breeding.

Scores (``method``):

* ``llr`` (MLM, zero-shot, as GPN): the variant's token is masked in a window centred on
  it; score = log P(ALT) - log P(REF) at the mask, averaged over the forward window and
  its reverse complement. One masked pass per site serves every ALT allele of the site.
  With k-mer tokenizers (AgroNT) the masked token is the k-mer holding the variant and
  REF/ALT are the two k-mers.
* ``clm`` (causal LM): log-likelihood of the ALT window minus that of the REF window.
* ``delta``: a fine-tuned classifier's P(class 1 | ALT) - P(class 1 | REF) (e.g. promoter score).
* ``embedding``: cosine distance between mean-pooled REF and ALT window embeddings.

Negative ``llr``/``clm`` = ALT less likely under the model = more likely deleterious.

Ranking (documented, reproducible): ``priority = 0.5 * impact + 0.5 * evidence`` where
``impact`` is the consequence class weight (``IMPACT``) and ``evidence`` the percentile of
the model score among the scored variants (most deleterious = 1); the dosage-weighted
score multiplies the model score by the mean ALT dosage of the samples. With several models
(e.g. a masked LM by ``llr`` and a causal LM by ``clm``) each scores the same windows and
``evidence`` is the mean of their percentiles; ``score`` is the first model's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from plantllm.apps.consequence import ConsequenceAnnotator
from plantllm.core.errors import InputFileError, PlantLLMError
from plantllm.core.intervals import IntervalIndex
from plantllm.core.sequence import reverse_complement
from plantllm.data.tasks.variants import site_windows
from plantllm.models.runner import ModelRunner
from plantllm.species.assembly import Assembly
from plantllm.species.vcf import Variant, VcfStats, check_ref, in_fasta, read_vcf, require_in_fasta

METHODS = ("llr", "clm", "delta", "embedding")
@dataclass
class Scored:
    variant: Variant
    consequence: object
    score: float  # the first model's score
    subgenome: str
    repeat: bool
    scores: tuple[float, ...] = ()  # one per model, in the order the models were given


class VariantScorer:
    """Batched scoring of variants with one model (see module doc for methods)."""

    def __init__(self, model_dir: str | Path, method: str = "llr", window: int = 128, batch_size: int = 32,
                 trust_remote_code: bool = False, precision: str = "auto"):
        if method not in METHODS:
            raise PlantLLMError(f"method '{method}' must be one of {METHODS}")
        task = {"llr": "mlm", "clm": "clm", "delta": "classification", "embedding": "embedding"}[method]
        self.runner = ModelRunner(model_dir, task, trust_remote_code=trust_remote_code, precision=precision)
        self.model, self.tok, self.device = self.runner.model, self.runner.tok, self.runner.device
        self.method, self.window, self.batch_size = method, window, batch_size
        if method == "llr" and self.tok.mask_token_id is None:
            raise PlantLLMError(f"{model_dir}: the tokenizer has no mask token: use --method clm or embedding")

    # ------------------------------------------------------------ helpers
    def _enc(self, seqs: list[str]) -> dict:
        return self.runner.encode(seqs, offsets=True)

    # ------------------------------------------------------------ methods
    def score_sites(self, sites: list[tuple[str, list[str], int]]) -> list[list[float]]:
        """For sites (ref window, alt windows, centre offset) return one score per ALT."""
        if self.method == "llr":
            return self._llr(sites)
        if self.method == "clm":
            return self._paired(sites, self._clm_ll, lambda a, r: a - r)
        if self.method == "delta":
            return self._paired(sites, self._prob, lambda a, r: a - r)
        return self._paired(sites, self._embed, lambda a, r: float(1 - np.dot(a, r) / (np.linalg.norm(a) * np.linalg.norm(r) + 1e-12)))

    def _llr(self, sites) -> list[list[float]]:
        """GPN-style masked log-likelihood ratio, both strands, one masked pass per site and strand."""
        out = [[0.0] * len(alts) for _, alts, _ in sites]
        for strand in ("+", "-"):
            refs, alts_all, centres = [], [], []
            for ref, alts, c in sites:
                if strand == "-":
                    refs.append(reverse_complement(ref))
                    alts_all.append([reverse_complement(a) for a in alts])
                    centres.append(len(ref) - 1 - c)
                else:
                    refs.append(ref)
                    alts_all.append(alts)
                    centres.append(c)
            enc, pos = self.runner.encode_at(refs, centres)  # pos: the token holding the variant's base
            rows = torch.arange(len(refs))
            ids = enc["input_ids"].clone()
            ref_ids = ids[rows, pos]
            ids[rows, pos] = self.tok.mask_token_id
            logp = self.runner.masked_log_probs(ids, enc["attention_mask"], pos.tolist())
            # every ALT window of the batch tokenized in one call; its token at the masked position is the ALT's
            flat = [a for alts in alts_all for a in alts]
            site = torch.tensor([i for i, alts in enumerate(alts_all) for _ in alts], dtype=torch.long)
            alt_ids = self.runner.encode(flat)["input_ids"][torch.arange(len(flat)), pos[site]]
            llr = (logp[site, alt_ids] - logp[site, ref_ids[site]]).tolist()
            k = 0
            for i, alts in enumerate(alts_all):
                for j in range(len(alts)):
                    out[i][j] += 0.5 * llr[k]
                    k += 1
        return out

    def _paired(self, sites, fn, combine) -> list[list[float]]:
        flat, index = [], []
        for i, (ref, alts, _) in enumerate(sites):
            flat.append(ref)
            index.append((i, -1))
            for j, a in enumerate(alts):
                flat.append(a)
                index.append((i, j))
        vals = fn(flat)
        refs = {i: vals[k] for k, (i, j) in enumerate(index) if j == -1}
        out = [[0.0] * len(alts) for _, alts, _ in sites]
        for k, (i, j) in enumerate(index):
            if j >= 0:
                out[i][j] = float(combine(vals[k], refs[i]))
        return out

    def _clm_ll(self, seqs: list[str]) -> list[float]:
        res = []
        for strand_seqs in (seqs, [reverse_complement(s) for s in seqs]):
            enc = self._enc(strand_seqs)
            logp = torch.log_softmax(self.runner.logits(enc), -1)
            tgt = enc["input_ids"][:, 1:]
            ll = logp[:, :-1].gather(-1, tgt.unsqueeze(-1)).squeeze(-1) * enc["attention_mask"][:, 1:]
            res.append(ll.sum(1).numpy())
        return list(0.5 * (res[0] + res[1]))

    def _prob(self, seqs: list[str]) -> list[float]:
        return list(torch.softmax(self.runner.logits(self.runner.encode(seqs)), -1)[:, -1].numpy())

    def _embed(self, seqs: list[str]) -> list[np.ndarray]:
        return list(self.runner.embed(seqs))


def score_vcf(asm: Assembly, vcf: str | Path, scorer: "VariantScorer | list[VariantScorer]", *, regions=None,
              stats: VcfStats | None = None) -> Iterator[Scored]:
    """Stream through a whole VCF: REF-check, annotate, and score (see ``score_variants``)."""
    st = stats if stats is not None else VcfStats()
    yield from score_variants(asm, read_vcf(vcf, asm.card, st), scorer, regions=regions, stats=st)
    check_scored(asm, vcf, st)


def check_scored(asm: Assembly, vcf: str | Path, st: VcfStats) -> None:
    """After a VCF (or all its shards) is read: stop when the variants are on chromosomes the FASTA lacks,
    or when REF disagrees with the genome so often that the VCF belongs to another assembly."""
    require_in_fasta(st, vcf, asm.genome)
    checked = st.variants - st.indels_skipped - st.outside_regions
    if checked and st.ref_mismatch / checked > 0.05:
        raise InputFileError(f"REF does not match the genome at {st.ref_mismatch} of {checked} variants "
                             f"(first: {st.first_mismatch})", path=vcf,
                             fix="the VCF was called against another assembly; use its FASTA or lift it over")


def score_variants(asm: Assembly, variants: Iterator[Variant], scorer: "VariantScorer | list[VariantScorer]", *,
                   regions=None, stats: VcfStats | None = None,
                   annotator: ConsequenceAnnotator | None = None, lookup=None) -> Iterator[Scored]:
    """REF-check, annotate, and score variants in batches of sites (ALTs of a site together).
    With several scorers (models), each scores the same windows, fetched once."""
    scorers = scorer if isinstance(scorer, list) else [scorer]
    if len({s.window for s in scorers}) > 1:
        raise PlantLLMError("models scored together must use one window size")
    lead = scorers[0]
    st = stats if stats is not None else VcfStats()
    ann = annotator or (ConsequenceAnnotator(asm) if asm.has_annotation else None)
    rep = asm.repeats
    pending: list[list[Variant]] = []
    inside = IntervalIndex(regions) if regions is not None else None

    def flush():
        sites = []
        for group in pending:  # the ALTs of one site share REF: one read of the genome per site
            v0 = group[0]
            sites.append(site_windows(asm.genome, v0.chrom, v0.pos, v0.ref, [v.alt for v in group], lead.window))
        per_model = [sc.score_sites(sites) for sc in scorers]
        for k, group in enumerate(pending):
            for j, v in enumerate(group):
                csq = ann.annotate(v.chrom, v.pos, v.ref, v.alt) if ann else None
                vals = tuple(float(m[k][j]) for m in per_model)
                yield Scored(v, csq, vals[0], asm.card.subgenome_of(v.chrom) or "",
                             bool(rep.mask(v.chrom, v.pos, v.pos + 1)[0]), vals)
        pending.clear()

    last_key = None
    for v in variants:
        if inside is not None and not inside.any_overlap(v.chrom, v.pos, v.pos + 1):
            st.outside_regions += 1
            continue
        if not in_fasta(asm.genome, v, st):
            continue
        if not check_ref(asm.genome, v, st):
            continue
        if lookup is not None and (hit := lookup.llr(v.chrom, v.pos, v.ref, v.alt)) is not None:
            csq = ann.annotate(v.chrom, v.pos, v.ref, v.alt) if ann else None  # a precomputed track's score
            yield Scored(v, csq, hit, asm.card.subgenome_of(v.chrom) or "",
                         bool(rep.mask(v.chrom, v.pos, v.pos + 1)[0]), (hit,))
            continue
        if any(sc.method == "llr" for sc in scorers) and v.kind != "snv":
            st.indels_skipped += 1  # a masked single-token LLR is defined for substitutions only
            continue
        key = (v.chrom, v.pos, v.ref)
        if key == last_key and pending:
            pending[-1].append(v)  # another ALT of the same site: shares the forward pass
        else:
            if len(pending) >= lead.batch_size:
                yield from flush()
            pending.append([v])
            last_key = key
    if pending:
        yield from flush()
