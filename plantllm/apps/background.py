"""Computing a model's neutral background (``plantllm variants calibrate``); see ``calibration``.

Putatively neutral sites: positions drawn uniformly (seeded) from the nuclear chromosomes that are
intergenic or intronic (the annotation's region classes: not CDS, UTR, non-coding exon, promoter
or downstream), not in a repeat (the card's repeat source), with a plain A/C/G/T pentanucleotide, and
outside the held-out blocks (test and validation) of the corpus the model was trained on when its
``plantllm.json`` names one that is still there, so the blocks used to evaluate it stay untouched. At
each site every SNV is scored (the three other bases); a quarter of the sites also carry a simulated
deletion of the following bases, a quarter a tandem duplication of them (the common insertion) and
a quarter a two-base substitution, sizes drawn from each ``SIZE_BINS`` bin that fits the window.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from plantllm.apps.calibration import MIN_COUNT, SIZE_BINS, Calibration, other_key, summarize
from plantllm.apps.variant_alleles import fits
from plantllm.apps.variant_scoring import VariantScorer
from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError
from plantllm.data.splits import held_out_regions
from plantllm.data.tasks.variants import site_windows
from plantllm.species.assembly import Assembly

NEUTRAL_CLASSES = ("intergenic", "intron")


def neutral_sites(asm: Assembly, n: int, seed: int = 0, exclude: list[tuple[str, int, int]] = ()) -> list[tuple[str, int]]:
    """``n`` putatively neutral positions (chromosome, 0-based), sorted; see the module doc."""
    if not asm.has_annotation:
        raise PlantLLMError("a neutral background needs the annotation (intergenic and intronic sites)",
                            fix="give the species card a GFF, or --gff")
    rng = np.random.default_rng(seed)
    chroms = asm.genome.chromosomes()
    lengths = np.array([asm.genome.length(c) for c in chroms], dtype=np.float64)
    regions = asm.annotation.regions
    picked: list[tuple[str, int]] = []
    for c, share in zip(chroms, lengths / lengths.sum()):
        want = int(np.ceil(n * share))
        length = asm.genome.length(c)
        seq = np.frombuffer(asm.genome.fetch(c, 0, length).upper().encode(), dtype=np.uint8)
        ok = np.isin(seq, np.frombuffer(b"ACGT", dtype=np.uint8))
        ok &= ~asm.repeats.mask(c, 0, length)
        for ec, s, e in exclude:
            if ec == c:
                ok[max(s, 0):min(e, length)] = False
        ok[:2], ok[-2:] = False, False
        cand = np.flatnonzero(ok)
        cand = cand[np.isin(regions.classify(c, cand), NEUTRAL_CLASSES)] if len(cand) else cand
        cand = cand[ok[cand - 2] & ok[cand - 1] & ok[cand + 1] & ok[cand + 2]] if len(cand) else cand
        if len(cand):
            picked += [(c, int(p)) for p in np.sort(rng.choice(cand, min(want, len(cand)), replace=False))]
    if not picked:
        raise PlantLLMError("no neutral site (intergenic or intronic, outside repeats and held-out blocks) found")
    return picked[:n] if len(picked) > n else picked


def model_held_out(asm: Assembly, model_dir: Path) -> tuple[list[tuple[str, int, int]], str]:
    """The held-out blocks of the model's training corpus, and a sentence saying what was excluded."""
    info = Path(model_dir) / "plantllm.json"
    named = json.loads(info.read_text()).get("corpus") if info.exists() else None
    # a relative corpus path is relative to where training ran: here, or a folder above the model
    places = [Path(named)] + [p / named for p in Path(model_dir).resolve().parents] if named else []
    corpus = next((c for c in places if (c / "manifest.json").exists()), None)
    if corpus is None:
        return [], "no held-out blocks excluded (the model names no training corpus that is still there)"
    blocks = held_out_regions(asm, corpus, "test") + held_out_regions(asm, corpus, "validation")
    return blocks, f"test and validation blocks of the training corpus {corpus} excluded ({len(blocks)} blocks)"


def _simulated(seq_of, c: str, p: int, kind: str, size: int, rng) -> tuple[str, str] | None:
    """REF/ALT of a simulated deletion, tandem duplication or substitution of ``size`` bases after ``p``."""
    s = seq_of(c, p, p + 2 * size + 2)
    if len(s) < 2 * size + 2 or set(s) - set("ACGT"):
        return None
    if kind == "del":
        return s[:size + 1], s[0]
    if kind == "ins":
        return s[0], s[:size + 1]
    alt = "".join(rng.choice([b for b in "ACGT" if b != x]) for x in s[:size])
    return s[:size], alt


def compute(model_dir: str | Path, asm: Assembly, *, method: str = "llr", window: int = 128, sites: int = 20_000,
            batch_size: int = 32, seed: int = 0, out: str | Path | None = None, precision: str = "auto",
            trust_remote_code: bool = False) -> dict:
    """Score the neutral background and save it with the model (or to ``out``); returns a summary."""
    model_dir = Path(model_dir)
    scorer = VariantScorer(model_dir, method, window, batch_size, trust_remote_code=trust_remote_code,
                           precision=precision)
    exclude, excluded = model_held_out(asm, model_dir)
    picked = neutral_sites(asm, sites, seed, exclude)
    rng = np.random.default_rng(seed + 1)
    seq_of = lambda c, s, e: asm.genome.fetch(c, s, e).upper()  # noqa: E731
    jobs: list[tuple[str, int, str, list[str]]] = []  # (chrom, pos, REF, ALTs)
    for i, (c, p) in enumerate(picked):
        b = seq_of(c, p, p + 1)
        jobs.append((c, p, b, [x for x in "ACGT" if x != b]))
        kind = ("del", "ins", "sub", None)[i % 4]
        bins = [(lo, min(hi, window)) for lo, hi in SIZE_BINS if lo <= window]
        if kind is not None:
            lo, hi = bins[(i // 4) % len(bins)]
            size = int(rng.integers(max(lo, 2 if kind == "sub" else 1), max(hi, lo + 1) + 1))
            got = _simulated(seq_of, c, p, kind, size, rng)
            if got is not None and fits(*got, window):
                jobs.append((c, p, got[0], [got[1]]))
    raw, keys, kinds = [], [], []
    for a in con.track(range(0, len(jobs), batch_size), "neutral background", total=-(-len(jobs) // batch_size)):
        batch = jobs[a:a + batch_size]
        wins = [site_windows(asm.genome, c, p, ref, alts, window) for c, p, ref, alts in batch]
        vals = scorer.score_sites([(r, aw, cc, len(ref), [len(x) for x in alts])
                                   for (r, aw, cc), (_, _, ref, alts) in zip(wins, batch)])
        for (r, _, cc), (_, _, ref, alts), v in zip(wins, batch, vals):
            for alt, x in zip(alts, v):
                raw.append(x)
                if len(ref) == 1 and len(alt) == 1:
                    keys.append(f"{r[cc - 2:cc + 3]}>{alt}")
                    kinds.append("snv")
                else:
                    keys.append(other_key(scorer.method_of(ref, alt), ref, alt))
                    kinds.append(scorer.method_of(ref, alt))
    raw_a, keys_a, kinds_a = np.array(raw), np.array(keys), np.array(kinds)
    snv = kinds_a == "snv"
    k5 = keys_a[snv]
    k3 = np.array([k[1:4] + k[5:] for k in k5.tolist()])
    k1 = np.array([k[2] + k[5:] for k in k5.tolist()])
    table = {**summarize(k5, raw_a[snv]), **summarize(k3, raw_a[snv]), **summarize(k1, raw_a[snv])}
    cal = Calibration(method, window, table, summarize(keys_a[~snv], raw_a[~snv]), {}, {
        "model": str(model_dir), "sites": len(picked), "alleles": int(len(raw_a)), "seed": seed,
        "neutral": "intergenic or intronic, not repeat, plain A/C/G/T pentanucleotide", "held_out": excluded})
    adjusted = np.full(len(raw_a), np.nan)
    adjusted[snv] = raw_a[snv] - np.array([cal.snv_mean(k[:5], k[6:]) for k in k5.tolist()])
    adjusted[~snv] = raw_a[~snv] - np.array([cal.other[k][0] if cal.other.get(k, [0, 0, 0])[2] >= MIN_COUNT
                                             else np.nan for k in keys_a[~snv].tolist()])
    for kind in sorted(set(kinds_a.tolist())):
        v = adjusted[(kinds_a == kind) & np.isfinite(adjusted)]
        if len(v):
            cal.quantiles[kind] = np.round(np.quantile(v, np.linspace(0, 1, 101)), 6).tolist()
    path = cal.save(out or Calibration.path(model_dir, method, window))
    return {"path": str(path), "sites": len(picked), "alleles": int(len(raw_a)), "snv_contexts": len(k5),
            "held_out": excluded, "snv_mean": float(raw_a[snv].mean()) if snv.any() else None}
