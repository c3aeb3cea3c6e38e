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

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from plantllm.core import console as con
from plantllm.models import tokenizers as tokenization
from plantllm.species.assembly import Assembly
from plantllm.apps.consequence import ConsequenceAnnotator
from plantllm.core.errors import InputFileError, PlantLLMError
from plantllm.core.io import atomic_path, atomic_write
from plantllm.core.sequence import reverse_complement
from plantllm.species.vcf import Variant, VcfStats, check_ref, header_line_count, in_fasta, read_vcf, require_in_fasta

METHODS = ("llr", "clm", "delta", "embedding")
#: consequence class weights used in the priority (1 = most likely to change a trait)
IMPACT = {
    "stop_gained": 1.0, "frameshift_variant": 1.0, "splice_acceptor_variant": 0.95, "splice_donor_variant": 0.95,
    "start_lost": 0.95, "stop_lost": 0.9, "inframe_indel": 0.7, "missense_variant": 0.65,
    "splice_region_variant": 0.45, "upstream_gene_variant": 0.4, "5_prime_UTR_variant": 0.35,
    "3_prime_UTR_variant": 0.3, "non_coding_exon_variant": 0.3, "synonymous_variant": 0.15,
    "stop_retained_variant": 0.15, "intron_variant": 0.15, "downstream_gene_variant": 0.1,
    "intergenic_variant": 0.05,
}


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
                 trust_remote_code: bool = False):
        from plantllm.models import checkpoint as M
        from plantllm.apps.promoter_scan import device_and_dtype

        if method not in METHODS:
            raise PlantLLMError(f"method '{method}' must be one of {METHODS}")
        task = {"llr": "mlm", "clm": "clm", "delta": "classification", "embedding": "embedding"}[method]
        self.model, self.tok = M.load(model_dir, task=task, trust_remote_code=trust_remote_code)
        self.device, self.dtype = device_and_dtype()
        self.model.to(self.device, dtype=self.dtype).eval()
        self.method, self.window, self.batch_size = method, window, batch_size
        if method == "llr" and self.tok.mask_token_id is None:
            raise PlantLLMError(f"{model_dir}: the tokenizer has no mask token: use --method clm or embedding")

    # ------------------------------------------------------------ helpers
    def _enc(self, seqs: list[str]) -> dict:
        texts = [tokenization.prepare(self.tok, s) for s in seqs]
        enc = self.tok(texts, padding=True, return_tensors="pt", return_offsets_mapping=True)
        return enc

    @torch.inference_mode()
    def _logits(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device))
        return out.logits.float().cpu()

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
            enc = self._enc(refs)
            ids = enc["input_ids"].clone()
            pos = []
            for i, c in enumerate(centres):
                offs = enc["offset_mapping"][i]
                hit = ((offs[:, 0] <= c) & (offs[:, 1] > c)).nonzero().flatten()
                if not len(hit):
                    raise PlantLLMError("the variant's base is not covered by a token (window too long for the model?)")
                pos.append(int(hit[0]))
                ids[i, pos[-1]] = self.tok.mask_token_id
            logp = torch.log_softmax(self._logits(ids, enc["attention_mask"]), -1)
            for i, (p, alts) in enumerate(zip(pos, alts_all)):
                ref_id = int(enc["input_ids"][i, p])
                alt_enc = self._enc(alts)
                for j in range(len(alts)):
                    alt_id = int(alt_enc["input_ids"][j, p])
                    out[i][j] += 0.5 * float(logp[i, p, alt_id] - logp[i, p, ref_id])
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
            logp = torch.log_softmax(self._logits(enc["input_ids"], enc["attention_mask"]), -1)
            tgt = enc["input_ids"][:, 1:]
            ll = logp[:, :-1].gather(-1, tgt.unsqueeze(-1)).squeeze(-1) * enc["attention_mask"][:, 1:]
            res.append(ll.sum(1).numpy())
        return list(0.5 * (res[0] + res[1]))

    def _prob(self, seqs: list[str]) -> list[float]:
        enc = self._enc(seqs)
        logits = self._logits(enc["input_ids"], enc["attention_mask"])
        return list(torch.softmax(logits, -1)[:, -1].numpy())

    def _embed(self, seqs: list[str]) -> list[np.ndarray]:
        from plantllm.models import checkpoint as M

        return list(M.embed(self.model, self.tok, seqs))


def _windows(genome, v: Variant, window: int) -> tuple[str, str, int]:
    from plantllm.data.tasks.variants import variant_windows

    return variant_windows(genome, v.chrom, v.pos, v.ref, v.alt, window)


def score_vcf(asm: Assembly, vcf: str | Path, scorer: "VariantScorer | list[VariantScorer]", *, regions=None,
              stats: VcfStats | None = None) -> Iterator[Scored]:
    """Stream through a VCF: REF-check, annotate, and score in batches of sites (ALTs of a site together).
    With several scorers (models), each scores the same windows, fetched once."""
    scorers = scorer if isinstance(scorer, list) else [scorer]
    if len({s.window for s in scorers}) > 1:
        raise PlantLLMError("models scored together must use one window size")
    lead = scorers[0]
    st = stats if stats is not None else VcfStats()
    ann = ConsequenceAnnotator(asm) if asm.has_annotation else None
    rep = asm.repeats
    pending: list[list[Variant]] = []

    def flush():
        sites = []
        for group in pending:
            ref_seq, _, centre = _windows(asm.genome, group[0], lead.window)
            sites.append((ref_seq, [_windows(asm.genome, v, lead.window)[1] for v in group], centre))
        per_model = [sc.score_sites(sites) for sc in scorers]
        for k, group in enumerate(pending):
            for j, v in enumerate(group):
                csq = ann.annotate(v.chrom, v.pos, v.ref, v.alt) if ann else None
                vals = tuple(float(m[k][j]) for m in per_model)
                yield Scored(v, csq, vals[0], asm.card.subgenome_of(v.chrom) or "",
                             bool(rep.mask(v.chrom, v.pos, v.pos + 1)[0]), vals)
        pending.clear()

    last_key = None
    for v in read_vcf(vcf, asm.card, st):
        if regions is not None and not any(c == v.chrom and s <= v.pos < e for c, s, e in regions):
            st.outside_regions += 1
            continue
        if not in_fasta(asm.genome, v, st):
            continue
        if not check_ref(asm.genome, v, st):
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
    require_in_fasta(st, vcf, asm.genome)
    checked = st.variants - st.indels_skipped - st.outside_regions
    if checked and st.ref_mismatch / checked > 0.05:
        raise InputFileError(f"REF does not match the genome at {st.ref_mismatch} of {checked} variants "
                             f"(first: {st.first_mismatch})", path=vcf,
                             fix="the VCF was called against another assembly; use its FASTA or lift it over")


def _evidence(scores: np.ndarray, method: str) -> np.ndarray:
    """Percentile of each score among the scored variants, most deleterious = 1."""
    # llr / clm: lower = ALT less likely = stronger evidence; delta / embedding: larger change = stronger
    key = scores if method in ("llr", "clm") else -np.abs(scores)
    order = np.argsort(np.argsort(key, kind="stable"), kind="stable")
    return 1.0 - order / max(len(scores) - 1, 1)


def prioritize(rows: list[Scored], method: "str | list[str]" = "llr") -> list[dict]:
    """Rows with impact, evidence percentile, dosage-weighted score and priority, sorted (rank 1 first).
    With several models, evidence is the mean of their percentiles (each in its own method's direction)."""
    if not rows:
        return []
    methods = [method] if isinstance(method, str) else list(method)
    n_models = max(1, len(rows[0].scores))
    if len(methods) == 1:
        methods = methods * n_models
    per = np.array([r.scores if r.scores else (r.score,) for r in rows], dtype=np.float64)
    evidence = np.mean([_evidence(per[:, m], methods[m]) for m in range(per.shape[1])], axis=0)
    out = []
    for r, ev in zip(rows, evidence):
        term = r.consequence.term if r.consequence else "intergenic_variant"
        impact = IMPACT.get(term, 0.05)
        dose = r.variant.dosage
        out.append({
            "chrom": r.variant.chrom, "pos": r.variant.pos + 1, "id": r.variant.id, "ref": r.variant.ref,
            "alt": r.variant.alt, "consequence": term, "gene": getattr(r.consequence, "gene", ""),
            "transcript": getattr(r.consequence, "transcript", ""), "aa_change": getattr(r.consequence, "aa_change", ""),
            "distance_to_tss": getattr(r.consequence, "distance_to_tss", -1), "repeat": r.repeat,
            "subgenome": r.subgenome, "score": r.score, "dosage": dose,
            "dosage_weighted_score": r.score * dose if dose == dose else math.nan,
            "n_carriers": r.variant.n_carriers, "impact": impact, "evidence": float(ev),
            "priority": 0.5 * impact + 0.5 * float(ev), "vcf_line": r.variant.line,
            "scores": r.scores or (r.score,)})
    out.sort(key=lambda d: (-d["priority"], -d["evidence"]))
    for i, d in enumerate(out, 1):
        d["rank"] = i
    return out


TSV_COLUMNS = ["rank", "priority", "chrom", "pos", "id", "ref", "alt", "consequence", "gene", "transcript",
               "aa_change", "distance_to_tss", "repeat", "subgenome", "score", "dosage", "dosage_weighted_score",
               "n_carriers", "impact", "evidence"]


def write_tsv(rows: list[dict], path: Path, asm: Assembly, models: list[str] | None = None) -> Path:
    """Ranked TSV; with several models, one ``score_<model>`` column each after ``score`` (the first model's)."""
    extra = [f"score_{m}" for m in models] if models and len(models) > 1 else []
    cols = TSV_COLUMNS[:TSV_COLUMNS.index("score") + 1] + extra + TSV_COLUMNS[TSV_COLUMNS.index("score") + 1:]
    with atomic_write(path) as fh:
        fh.write("\t".join(cols) + "\n")
        for d in rows:
            vals = {**d, "chrom": asm.genome.file_name(d["chrom"])}
            vals.update({c: v for c, v in zip(extra, d.get("scores", ()))})
            fh.write("\t".join(_fmt(vals[c]) for c in cols) + "\n")
    return path


def _fmt(x) -> str:
    if isinstance(x, float):
        return "nan" if x != x else f"{x:.6g}"
    if isinstance(x, bool):
        return "1" if x else "0"
    return str(x)


def write_vcf(src: str | Path, rows: list[dict], path: Path, method: str, model: str,
              models: list[str] | None = None) -> Path:
    """The input VCF with plantllm INFO fields on every scored ALT (declared in the header), atomically.
    With several models, ``PLLM_SCORE<i>`` carries model i's score (its path in the header)."""
    import pysam

    by = {}
    for d in rows:
        by[(d["vcf_line"], d["alt"])] = d
    pysam.set_verbosity(0)
    vin = pysam.VariantFile(str(src))
    header = vin.header.copy()
    for key, num, typ, desc in (
            ("PLLM_CSQ", "A", "String", "plantllm most severe consequence per ALT"),
            ("PLLM_GENE", "A", "String", "plantllm gene of that consequence"),
            ("PLLM_SCORE", "A", "Float", f"plantllm {method} score per ALT (model {Path(model).name}); "
                                         "negative = ALT less likely"),
            ("PLLM_PRIORITY", "A", "Float", "plantllm priority 0.5*impact + 0.5*evidence percentile"),
            ("PLLM_RANK", "A", "Integer", "plantllm rank of the ALT (1 = highest priority)"),
            *[(f"PLLM_SCORE{i}", "A", "Float", f"plantllm score of model {i}: {m}")
              for i, m in enumerate(models or [], 1) if len(models) > 1]):
        header.add_meta("INFO", items=[("ID", key), ("Number", num), ("Type", typ), ("Description", desc)])
    # VCFs without ##contig lines are common (the maize set has none); pysam needs them to write records
    with pysam.VariantFile(str(src)) as scan_contigs:
        for c in dict.fromkeys(r.chrom for r in scan_contigs):
            if c not in header.contigs:
                header.contigs.add(c)
    mode = "wz" if str(path).endswith(".gz") else "w"
    header_lines = header_line_count(Path(src)) or 0  # the same line numbers read_vcf gave the variants
    with atomic_path(path) as tmp:
        with pysam.VariantFile(str(tmp), mode, header=header) as vout:
            for i, rec in enumerate(vin, 1):
                line = header_lines + i
                new = vout.new_record(contig=rec.chrom, start=rec.start, stop=rec.stop, alleles=rec.alleles,
                                      id=rec.id, qual=rec.qual, filter=rec.filter.keys(), info=dict(rec.info))
                for s in rec.samples:
                    for k, v in rec.samples[s].items():
                        new.samples[s][k] = v
                ds = [by.get((line, a)) for a in (rec.alts or ())]
                if any(ds):
                    new.info["PLLM_CSQ"] = tuple(d["consequence"] if d else "." for d in ds)
                    new.info["PLLM_GENE"] = tuple((d["gene"] or ".") if d else "." for d in ds)
                    new.info["PLLM_SCORE"] = tuple(d["score"] if d else None for d in ds)
                    new.info["PLLM_PRIORITY"] = tuple(d["priority"] if d else None for d in ds)
                    new.info["PLLM_RANK"] = tuple(d["rank"] if d else None for d in ds)
                    if models and len(models) > 1:
                        for i in range(len(models)):
                            new.info[f"PLLM_SCORE{i + 1}"] = tuple(d["scores"][i] if d else None for d in ds)
                vout.write(new)
    vin.close()
    return path


def plot_summary(rows: list[dict], path: Path, method: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = [c for c in IMPACT if any(d["consequence"] == c for d in rows)]
    fig, ax = plt.subplots(1, 2, figsize=(13, 4))
    data = [[d["score"] for d in rows if d["consequence"] == c] for c in classes]
    ax[0].boxplot(data, vert=False, tick_labels=[f"{c} ({len(x)})" for c, x in zip(classes, data)])
    ax[0].set_xlabel(f"{method} score (lower = ALT less likely)")
    ax[0].set_title("score by consequence class")
    for c in sorted({d["chrom"] for d in rows}):
        pts = [(d["pos"], d["score"]) for d in rows if d["chrom"] == c]
        ax[1].scatter(*zip(*pts), s=4, label=f"chromosome {c}")
    ax[1].set_xlabel("position (bp)"), ax[1].set_ylabel("score"), ax[1].set_title("scores along the chromosome")
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run_scoring(asm: Assembly, vcf: str | Path, model_dir: "str | Path | list", out: str | Path, *,
                method: "str | list[str]" = "llr", window: int = 128, batch_size: int = 32, regions=None,
                labels: dict | None = None, trust_remote_code: bool = False) -> dict:
    """Score, annotate, rank; write ranked.tsv, scored.vcf.gz, summary.png, summary.json in ``out``.
    ``model_dir`` may list several models (one ``method`` for all, or one each): they score the same
    windows in one pass through the VCF and the priority uses the mean of their percentiles."""
    import json
    import time

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dirs = [Path(m) for m in (model_dir if isinstance(model_dir, (list, tuple)) else [model_dir])]
    methods = [method] * len(dirs) if isinstance(method, str) else list(method)
    if len(methods) == 1:
        methods = methods * len(dirs)
    if len(methods) != len(dirs):
        raise PlantLLMError(f"{len(dirs)} models but {len(methods)} methods: give one --method, or one per --model")
    scorers = [VariantScorer(d, m, window, batch_size, trust_remote_code=trust_remote_code)
               for d, m in zip(dirs, methods)]
    names = model_names(dirs)
    st = VcfStats()
    t0 = time.time()
    rows = list(con.track(score_vcf(asm, vcf, scorers, regions=regions, stats=st), "scoring variants",
                          unit="variants"))
    seconds = time.time() - t0
    if not rows:
        raise PlantLLMError(f"no variant of {vcf} could be scored: {st}")
    ranked = prioritize(rows, methods)
    method, model_dir = methods[0], dirs[0]
    write_tsv(ranked, out / "ranked.tsv", asm, names)
    write_vcf(vcf, ranked, out / "scored.vcf.gz", method, str(model_dir), [str(d) for d in dirs])
    plot_summary(ranked, out / "summary.png", method)
    summary = {"vcf": str(vcf), "model": str(model_dir), "method": method, "window": window, "scored": len(ranked),
               "models": [{"name": n, "path": str(d), "method": m} for n, d, m in zip(names, dirs, methods)],
               "seconds": round(seconds, 1), "variants_per_s": round(len(ranked) / max(seconds, 1e-9), 1),
               "vcf_stats": st.__dict__, "by_consequence": {}}
    for c in IMPACT:
        v = [d["score"] for d in ranked if d["consequence"] == c]
        if v:
            summary["by_consequence"][c] = {"n": len(v), "mean_score": float(np.mean(v))}
    summary["separation"] = consequence_auroc(ranked)
    if len(dirs) > 1:
        summary["separation_by_model"] = {n: consequence_auroc([{**d, "score": d["scores"][i]} for d in ranked])
                                          for i, n in enumerate(names)}
        summary["score_correlation"] = np.corrcoef(np.array([d["scores"] for d in ranked]).T).round(4).tolist()
    if labels:
        summary["labels"] = label_auroc(ranked, labels, asm)
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=2, default=str)
    return summary


def model_names(dirs: list[Path]) -> list[str]:
    """Short unique names for TSV columns: the folder name, or parent_folder when names repeat."""
    names = [d.name for d in dirs]
    if len(set(names)) < len(names):
        names = ["_".join(d.parts[-2:]) for d in dirs]
    if len(set(names)) < len(names):
        names = [f"{n}{i}" for i, n in enumerate(names, 1)]
    return [n.replace(" ", "_").replace("\t", "_") for n in names]


def consequence_auroc(rows: list[dict]) -> dict:
    """AUROC of -score separating damaging (stop gained, missense, start lost, splice) from neutral-ish
    (synonymous, intergenic) variants: the zero-shot check of the PDLLM / GPN papers."""
    from sklearn.metrics import roc_auc_score

    pos = {"stop_gained", "missense_variant", "start_lost", "splice_donor_variant", "splice_acceptor_variant"}
    neg = {"synonymous_variant", "intergenic_variant"}
    sel = [d for d in rows if d["consequence"] in pos | neg]
    y = np.array([d["consequence"] in pos for d in sel])
    if len(set(y)) < 2:
        return {}
    res = {"damaging_vs_neutral": float(roc_auc_score(y, [-d["score"] for d in sel])), "n": len(sel)}
    for a, b in (("stop_gained", "synonymous_variant"), ("missense_variant", "synonymous_variant")):
        s2 = [d for d in rows if d["consequence"] in (a, b)]
        y2 = [d["consequence"] == a for d in s2]
        if len(set(y2)) == 2:
            res[f"{a}_vs_{b}"] = float(roc_auc_score(y2, [-d["score"] for d in s2]))
    return res


def write_saturation_vcf(asm: Assembly, regions: list[tuple[str, int, int]], path: str | Path) -> Path:
    """Every possible SNV in the regions (one record per position, the three other bases as ALTs):
    the in-silico saturation set used to check zero-shot scores against consequence classes."""
    path = Path(path)
    with atomic_write(path) as fh:
        fh.write("##fileformat=VCFv4.2\n##source=plantllm saturation mutagenesis\n")
        for c in sorted({c for c, _, _ in regions}, key=lambda x: asm.genome.chromosomes(nuclear_only=False).index(x)):
            fh.write(f"##contig=<ID={asm.genome.file_name(c)},length={asm.genome.length(c)}>\n")
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for c, s, e in sorted(regions, key=lambda r: (asm.genome.chromosomes(nuclear_only=False).index(r[0]), r[1])):
            seq = asm.genome.fetch(c, s, e).upper()
            name = asm.genome.file_name(c)
            for i, b in enumerate(seq):
                if b in "ACGT":
                    fh.write(f"{name}\t{s + i + 1}\t.\t{b}\t{','.join(x for x in 'ACGT' if x != b)}\t.\t.\t.\n")
    return path


def label_auroc(rows: list[dict], labels: dict[tuple[str, int, str, str], str], asm: Assembly) -> dict:
    """Evaluate against a user's labels (chrom, 1-based pos, ref, alt -> label): AUROC of the model score,
    of the consequence impact and of the combined priority for each label value against all others."""
    from sklearn.metrics import roc_auc_score

    lab = []
    for d in rows:
        key = (d["chrom"], d["pos"], d["ref"], d["alt"])
        alt_key = (asm.genome.file_name(d["chrom"]), d["pos"], d["ref"], d["alt"])
        lab.append(labels.get(key, labels.get(alt_key)))
    sel = [(d, y) for d, y in zip(rows, lab) if y is not None]
    out: dict = {"labelled": len(sel), "unmatched_labels": len(labels) - len(sel)}
    for value in sorted({y for _, y in sel}):
        y = np.array([v == value for _, v in sel])
        if 0 < y.sum() < len(y):
            out[value] = {"n": int(y.sum()),
                          "auroc_score": float(roc_auc_score(y, [-d["score"] for d, _ in sel])),
                          "auroc_impact": float(roc_auc_score(y, [d["impact"] for d, _ in sel])),
                          "auroc_priority": float(roc_auc_score(y, [d["priority"] for d, _ in sel]))}
    return out
