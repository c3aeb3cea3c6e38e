"""Variant prioritization: score, annotate and rank the variants of a VCF for breeding.

Every allele of the VCF comes back (see ``variant_alleles`` for symbolic alleles and the reasons an
allele is not scored). Scores (``method``), each the mean of the forward window and its reverse
complement; windows are ``window`` bp with the variant's first base at ``window // 2`` and the
ALT window re-cut to the same length (``site_windows``):

* ``llr`` (masked LM, zero-shot, as GPN), for substitutions (SNVs and MNVs): every token holding a
  base of REF is masked at once in the REF window; score = sum over those tokens of
  log P(ALT token) - log P(REF token). One masked pass per site serves every ALT of the site; for an
  SNV this is GPN's LLR. With k-mer tokenizers (AgroNT) the masked tokens are the k-mers holding the
  variant and REF/ALT are the tokens of the two windows.
* ``pll`` (masked LM, for indels and structural variants, used by ``--method llr``): a
  pseudo-log-likelihood difference. The compared bases are the window positions
  ``[window//2 - PLL_FLANK, window//2 + max(len REF, len ALT) + PLL_FLANK)`` (the changed bases and
  ``PLL_FLANK`` bases on each side, the same positions in both equal-length windows); each token
  holding one of them is masked alone and scored by log P(its own token); score = PLL(ALT window)
  - PLL(REF window).
* ``clm`` (causal LM): log-likelihood of the ALT window minus that of the REF window (any allele).
* ``delta``: a fine-tuned classifier's P(class 1 | ALT) - P(class 1 | REF) (e.g. promoter score).
* ``embedding``: cosine distance between mean-pooled REF and ALT window embeddings.

Negative ``llr``/``pll``/``clm`` = ALT less likely under the model = more likely deleterious. Each row
says which method scored it (``scored_by``), ``track`` for an SNV looked up in precomputed tracks, or
``unscored:<reason>``. With ``calibrated`` the model folder's neutral background (``calibration``)
gives each scored allele a calibrated score (raw - background mean of its context and ALT).

Ranking: see ``priority``. With several models (e.g. a masked LM by ``llr`` and a causal LM by
``clm``) each scores the same windows and ``score`` is the first model's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from plantllm.apps.calibration import Calibration
from plantllm.apps.consequence import ConsequenceAnnotator
from plantllm.apps.variant_alleles import fits, resolve
from plantllm.core.errors import InputFileError, PlantLLMError
from plantllm.core.intervals import IntervalIndex
from plantllm.core.sequence import reverse_complement
from plantllm.data.tasks.variants import site_windows
from plantllm.models.runner import ModelRunner
from plantllm.species.assembly import Assembly
from plantllm.species.vcf import Variant, VcfStats, check_ref, in_fasta, read_vcf, require_in_fasta

METHODS = ("llr", "clm", "delta", "embedding")
#: bases on each side of the change that the ``pll`` score also masks and compares
PLL_FLANK = 2


@dataclass
class Scored:
    variant: Variant
    consequence: object
    score: float  # the first model's score (NaN when not scored)
    subgenome: str
    repeat: bool
    scores: tuple[float, ...] = ()  # one per model, in the order the models were given
    scored_by: str = ""  # the first model's method for this allele, or unscored:<reason>
    calibrated: tuple[float, ...] = ()  # one per model when calibrated (NaN: no background)


class VariantScorer:
    """Batched scoring of variants with one model (see module doc for methods)."""

    def __init__(self, model_dir: str | Path, method: str = "llr", window: int = 128, batch_size: int = 32,
                 trust_remote_code: bool = False, precision: str = "auto", calibrated: bool = False):
        if method not in METHODS:
            raise PlantLLMError(f"method '{method}' must be one of {METHODS}")
        task = {"llr": "mlm", "clm": "clm", "delta": "classification", "embedding": "embedding"}[method]
        self.runner = ModelRunner(model_dir, task, trust_remote_code=trust_remote_code, precision=precision)
        self.model, self.tok, self.device = self.runner.model, self.runner.tok, self.runner.device
        self.method, self.window, self.batch_size = method, window, batch_size
        self.mask_id = self.tok.mask_token_id  # read once: a tokenizer attribute look-up is slow
        if method == "llr" and self.mask_id is None:
            raise PlantLLMError(f"{model_dir}: the tokenizer has no mask token: use --method clm or embedding")
        self.calibration = Calibration.load(model_dir, method, window) if calibrated else None
        # an RC-equivariant model (RCPS Caduceus) scores the reverse strand in the same forward: its masked
        # log-probabilities there are the forward strand's, complemented, so the strand average needs one pass
        self.strands = ("+",) if method == "llr" and self.runner.rc_equivariant else ("+", "-")

    @property
    def forwards_per_site(self) -> int:
        """Masked forwards per substitution site (one per strand scored; 1 for an RC-equivariant model)."""
        return len(self.strands)

    def method_of(self, ref: str, alt: str) -> str:
        """The method that scores REF>ALT: ``pll`` for a masked LM's indels and structural variants."""
        return "pll" if self.method == "llr" and len(ref) != len(alt) else self.method

    # ------------------------------------------------------------ helpers
    def _enc(self, seqs: list[str]) -> dict:
        return self.runner.encode(seqs, offsets=True)

    # ------------------------------------------------------------ methods
    def score_sites(self, sites: list[tuple]) -> list[list[float]]:
        """For sites (ref window, alt windows, centre offset[, REF length, ALT lengths]) one score per ALT;
        without lengths every allele is one base."""
        sites = [tuple(x) if len(x) == 5 else (*x, 1, [1] * len(x[1])) for x in sites]
        if self.method == "llr":
            return self._masked(sites)
        if self.method == "clm":
            return self._paired(sites, self._clm_ll, lambda a, r: a - r)
        if self.method == "delta":
            return self._paired(sites, self._prob, lambda a, r: a - r)
        return self._paired(sites, self._embed, lambda a, r: float(1 - np.dot(a, r) / (np.linalg.norm(a) * np.linalg.norm(r) + 1e-12)))

    def _masked(self, sites) -> list[list[float]]:
        """``llr`` for the substitutions of each site (one pass), ``pll`` for its indels."""
        out = [[float("nan")] * len(alts) for _, alts, _, _, _ in sites]
        subs = [(i, [j for j, n in enumerate(lens) if n == rl]) for i, (_, _, _, rl, lens) in enumerate(sites)]
        subs = [(i, js) for i, js in subs if js]
        if subs:
            vals = self._llr([(sites[i][0], [sites[i][1][j] for j in js], sites[i][2], sites[i][3]) for i, js in subs])
            for (i, js), v in zip(subs, vals):
                for j, x in zip(js, v):
                    out[i][j] = x
        indels = [(i, j) for i, (_, _, _, rl, lens) in enumerate(sites) for j, n in enumerate(lens) if n != rl]
        if indels:
            for (i, j), x in zip(indels, self._pll(sites, indels)):
                out[i][j] = x
        return out

    def _llr(self, sites) -> list[list[float]]:
        """GPN-style masked log-likelihood ratio over the REF span (``L`` bases from the centre), both strands,
        one masked pass per site and strand."""
        out = [[0.0] * len(alts) for _, alts, _, _ in sites]
        strands = self.strands
        for strand in strands:
            refs, alts_all, starts, spans = [], [], [], []
            for ref, alts, c, n in sites:
                if strand == "-":
                    refs.append(reverse_complement(ref))
                    alts_all.append([reverse_complement(a) for a in alts])
                    starts.append(len(ref) - c - n)
                else:
                    refs.append(ref)
                    alts_all.append(alts)
                    starts.append(c)
                spans.append(n)
            # the tokens holding each base of the span (one token for an SNV; several for an MNV)
            if max(spans) == 1:  # SNVs only: one token per site
                enc, pos = self.runner.encode_at(refs, starts)
                cols: list[list[int]] = [[t] for t in pos.tolist()]
                rows, toks = torch.arange(len(cols)), pos.long()
            else:
                cols = [[] for _ in refs]
                for k in range(max(spans)):
                    enc, pos = self.runner.encode_at(refs, [s + min(k, n - 1) for s, n in zip(starts, spans)])
                    for i, t in enumerate(pos.tolist()):
                        if t not in cols[i]:
                            cols[i].append(t)
                rows = torch.tensor([i for i, ts in enumerate(cols) for _ in ts], dtype=torch.long)
                toks = torch.tensor([t for ts in cols for t in ts], dtype=torch.long)
            ids = enc["input_ids"].clone()
            ids[rows, toks] = self.mask_id
            # (masked tokens, vocab); BERT's last layer runs at the masked tokens only (runner.logits_at)
            logp = torch.log_softmax(self.runner.logits_at({"input_ids": ids, "attention_mask": enc["attention_mask"]},
                                                           rows, toks), -1)
            ref_lp = logp[torch.arange(len(rows)), enc["input_ids"][rows, toks]]
            # every ALT window of the batch tokenized in one call; its tokens at the masked positions are the ALT's
            flat = [a for alts in alts_all for a in alts]
            alt_ids = self.runner.encode(flat)["input_ids"]
            # every term of the sums at once: ALT k of site i, masked token m of the site (row first[i] + m of logp)
            ntok = np.array([len(ts) for ts in cols])
            site = np.repeat(np.arange(len(alts_all)), [len(a) for a in alts_all])  # ALT k -> its site
            per_alt = ntok[site]
            alt_of = np.repeat(np.arange(len(flat)), per_alt)
            lrow = torch.from_numpy(np.concatenate([[0], np.cumsum(ntok)])[site][alt_of]
                                    + np.arange(len(alt_of)) - np.repeat(np.cumsum(per_alt) - per_alt, per_alt))
            diff = logp[lrow, alt_ids[torch.from_numpy(alt_of), toks[lrow]]] - ref_lp[lrow]
            sums = torch.zeros(len(flat), dtype=diff.dtype).index_add_(0, torch.from_numpy(alt_of), diff).tolist()
            k = 0
            for i, alts in enumerate(alts_all):
                for j in range(len(alts)):
                    out[i][j] += sums[k] / len(strands)
                    k += 1
        return out

    def _pll(self, sites, indels: list[tuple[int, int]]) -> list[float]:
        """``pll`` of the ALTs ``indels`` ((site, alt) pairs): see the module doc for the positions."""
        res = np.zeros(len(indels))
        for strand in self.strands:
            items: list[tuple[str, list[int]]] = []  # (window, base positions), REF windows once per span
            key: dict[tuple, int] = {}
            pairs = []
            for i, j in indels:
                ref, alts, c, rl, lens = sites[i]
                w = len(ref)
                lo, hi = max(0, c - PLL_FLANK), min(w, c + max(rl, lens[j]) + PLL_FLANK)
                bases = list(range(lo, hi)) if strand == "+" else [w - 1 - p for p in range(hi - 1, lo - 1, -1)]
                seqs = (ref, alts[j]) if strand == "+" else (reverse_complement(ref), reverse_complement(alts[j]))
                idx = []
                for tag, seq in (("ref", seqs[0]), ("alt", seqs[1])):
                    k = (i, lo, hi) if tag == "ref" else (i, j, "alt")
                    if k not in key:
                        key[k] = len(items)
                        items.append((seq, bases))
                    idx.append(key[k])
                pairs.append(idx)
            pll = self._pseudo_ll(items)
            res += np.array([pll[a] - pll[r] for r, a in pairs]) / len(self.strands) if pairs else 0.0
        return res.tolist()

    def _pseudo_ll(self, items: list[tuple[str, list[int]]]) -> np.ndarray:
        """Sum over the tokens holding the given bases of each window of log P(token | window with that
        token masked), the tokens masked one at a time."""
        seqs = [s for s, _ in items]
        cols: list[list[int]] = [[] for _ in items]
        enc = None
        for k in range(max(len(b) for _, b in items)):
            enc, pos = self.runner.encode_at(seqs, [b[min(k, len(b) - 1)] for _, b in items])
            for i, t in enumerate(pos.tolist()):
                if t not in cols[i]:
                    cols[i].append(t)
        rows = [(i, t) for i, ts in enumerate(cols) for t in ts]
        total = np.zeros(len(items))
        chunk = max(self.batch_size, 1) * 4
        for a in range(0, len(rows), chunk):
            part = rows[a:a + chunk]
            r = torch.tensor([i for i, _ in part], dtype=torch.long)
            t = torch.tensor([x for _, x in part], dtype=torch.long)
            ids = enc["input_ids"][r].clone()
            true = ids[torch.arange(len(part)), t].clone()
            ids[torch.arange(len(part)), t] = self.mask_id
            logits = self.runner.logits({"input_ids": ids, "attention_mask": enc["attention_mask"][r]})
            lp = torch.log_softmax(logits[torch.arange(len(part)), t], -1)[torch.arange(len(part)), true]
            np.add.at(total, r.numpy(), lp.double().numpy())
        return total

    def _paired(self, sites, fn, combine) -> list[list[float]]:
        flat, index = [], []
        for i, (ref, alts, *_) in enumerate(sites):
            flat.append(ref)
            index.append((i, -1))
            for j, a in enumerate(alts):
                flat.append(a)
                index.append((i, j))
        vals = fn(flat)
        refs = {i: vals[k] for k, (i, j) in enumerate(index) if j == -1}
        out = [[0.0] * len(alts) for _, alts, *_ in sites]
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
    yield from score_variants(asm, read_vcf(vcf, asm.card, st, structural=True, strict_ploidy=True), scorer,
                              regions=regions, stats=st)
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
    """REF-check, annotate, and score variants in batches of sites (ALTs of a site together); every allele
    read comes back, the ones no method scores with a NaN score and ``scored_by`` = ``unscored:<reason>``.
    With several scorers (models), each scores the same windows, fetched once."""
    scorers = scorer if isinstance(scorer, list) else [scorer]
    if len({s.window for s in scorers}) > 1:
        raise PlantLLMError("models scored together must use one window size")
    lead = scorers[0]
    calibrated = any(s.calibration is not None for s in scorers)
    nan = tuple(float("nan") for _ in scorers)
    st = stats if stats is not None else VcfStats()
    ann = annotator or (ConsequenceAnnotator(asm) if asm.has_annotation else None)
    rep = asm.repeats
    pending: list[list[tuple[Variant, str, str]]] = []
    inside = IntervalIndex(regions) if regions is not None else None

    last_repeat: list = [None, False]  # (chrom, pos) of the last repeat look-up and its answer
    subgenome: dict[str, str] = {}  # per chromosome, looked up once (the card's lookup is a linear search)

    def row(v: Variant, ref: str, alt: str, vals: tuple, by: str, cal: tuple = (), on_genome: bool = True) -> Scored:
        csq = ann.annotate(v.chrom, v.pos, ref, alt, v.end if v.end > 0 else None, info=v.info) \
            if ann and on_genome else None
        if on_genome and last_repeat[0] != (v.chrom, v.pos):  # the ALTs of a site: one look-up
            last_repeat[:] = [(v.chrom, v.pos), rep.covers(v.chrom, v.pos)]
        rep_hit = last_repeat[1] if on_genome else False
        sub = subgenome.get(v.chrom)
        if sub is None:
            sub = subgenome[v.chrom] = asm.card.subgenome_of(v.chrom) or ""
        return Scored(v, csq, vals[0], sub, rep_hit, vals, by, cal or (nan if calibrated else ()))

    def flush():
        sites = []
        for group in pending:  # the ALTs of one site share REF: one read of the genome per site
            v0, ref, _ = group[0]
            ref_w, alt_ws, c = site_windows(asm.genome, v0.chrom, v0.pos, ref, [a for _, _, a in group], lead.window)
            sites.append((ref_w, alt_ws, c, len(ref), [len(a) for _, _, a in group]))
        per_model = [sc.score_sites(sites) for sc in scorers]
        for k, group in enumerate(pending):
            ref_w, c = sites[k][0], sites[k][2]
            for j, (v, ref, alt) in enumerate(group):
                vals = tuple(float(m[k][j]) for m in per_model)
                cal = tuple(sc.calibration.adjust(ref_w[max(c - 2, 0):c + 3], ref, alt, sc.method_of(ref, alt), x)
                            if sc.calibration is not None else float("nan") for sc, x in zip(scorers, vals))
                yield row(v, ref, alt, vals, lead.method_of(ref, alt), cal if calibrated else ())
        pending.clear()

    last_key = ref_ok = None
    fasta_chroms = set(asm.genome.chromosomes(nuclear_only=False))
    for v in variants:
        if inside is not None and not inside.any_overlap(v.chrom, v.pos, v.pos + 1):
            st.outside_regions += 1
            continue
        if v.chrom not in fasta_chroms and not in_fasta(asm.genome, v, st):  # counted by in_fasta
            continue
        mismatches, past = st.ref_mismatch, st.past_end
        site = (v.chrom, v.pos, v.ref)
        if site != ref_ok and not check_ref(asm.genome, v, st):  # the ALTs of a site: REF checked once
            if st.past_end > past:
                yield row(v, v.ref, v.alt, nan, "unscored:past_chromosome_end", on_genome=False)
            else:
                ref, alt, _ = resolve(asm.genome, v) if st.ref_mismatch > mismatches else (v.ref, v.alt, "")
                yield row(v, ref, alt, nan, "unscored:ref_mismatch")
            continue
        ref_ok = site
        ref, alt, reason = resolve(asm.genome, v)
        if reason:
            yield row(v, ref, alt, nan, f"unscored:{reason}")
            continue
        if not fits(ref, alt, lead.window):
            yield row(v, ref, alt, nan, "unscored:longer_than_window")
            continue
        if lookup is not None and v.category == "snv" and (hit := lookup.llr(v.chrom, v.pos, v.ref, v.alt)) is not None:
            yield row(v, ref, alt, (hit,), "track")  # a precomputed track's score
            continue
        key = (v.chrom, v.pos, ref)
        if key == last_key and pending:
            pending[-1].append((v, ref, alt))  # another ALT of the same site: shares the forward pass
        else:
            if len(pending) >= lead.batch_size:
                yield from flush()
            pending.append([(v, ref, alt)])
            last_key = key
    if pending:
        yield from flush()
