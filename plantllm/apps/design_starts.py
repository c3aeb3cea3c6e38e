"""Where a design starts: a FASTA, genome regions, the promoters of named genes, or random sequences.

Gene promoters use the one promoter window (``data/promoter_window``) the model was fine-tuned on,
reverse-complemented on the minus strand, so the TSS sits where the model expects it. Random starts
are seeded and GC-matched to the species: each has exactly round(GC x L) G/C bases, GC being the
species' genome GC measured over random windows of the same length (``data/sampling.random_loci``);
a random start that breaks a constraint (a forbidden site, a homopolymer) is drawn again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from plantllm.apps.design_constraints import Constraints
from plantllm.core.errors import InputFileError, PlantLLMError, did_you_mean
from plantllm.core.io import require_file
from plantllm.data.promoter_window import PromoterWindow


@dataclass
class Start:
    name: str
    seq: str
    source: str  # where it came from, for messages and the FASTA headers


def _clean(seq: str, where: str) -> str:
    s = seq.upper()
    bad = re.search(r"[^ACGT]", s)
    if bad:
        raise PlantLLMError(f"{where}: '{bad.group()}' at position {bad.start() + 1} is not A, C, G or T "
                            "(designs start from definite bases)", fix="cut the sequence around N runs")
    if not s:
        raise PlantLLMError(f"{where}: an empty sequence")
    return s


def from_fasta(path: str | Path) -> list[Start]:
    """Every record of a FASTA; a bad base is named by file, line and column."""
    p = require_file(path, "start FASTA")
    lines = p.read_text(errors="replace").splitlines()
    starts, name, seq, first = [], None, [], 0
    for n, line in enumerate(lines + [">"], 1):
        if line.startswith(">"):
            if name is not None:
                starts.append(Start(name, "".join(seq), f"{p}:{first}"))
            name, seq, first = line[1:].split()[0] if line[1:].split() else f"seq{len(starts) + 1}", [], n
            continue
        if name is None:
            if line.strip():
                raise InputFileError("not a FASTA (no '>' header before the first sequence)", path=p, line=n)
            continue
        s = line.strip().upper()
        bad = re.search(r"[^ACGT]", s)
        if bad:
            raise InputFileError(f"'{bad.group()}' at column {bad.start() + 1} of record {name} is not A, C, G or T "
                                 "(designs start from definite bases)", path=p, line=n,
                                 fix="cut the sequence around N runs")
        seq.append(s)
    if not starts:
        raise InputFileError("no sequences", path=p)
    for s in starts:
        if not s.seq:
            raise InputFileError(f"record {s.name} is empty", path=p, line=int(s.source.rsplit(':', 1)[1]))
    return starts


def from_genes(asm, genes: list[str], window: PromoterWindow) -> list[Start]:
    """The promoter window around the canonical TSS of each named gene (locus, name or ID)."""
    by = {}
    for g in asm.annotation.genes:
        for key in (g.locus, g.name, g.id):
            by.setdefault(key, g)
    out = []
    for name in genes:
        g = by.get(name)
        if g is None or g.canonical is None:
            raise PlantLLMError(f"gene '{name}' is not in the annotation of {asm.card.name}{did_you_mean(name, by)}",
                                path=asm.card.gff, fix="use locus IDs such as AT1G01010")
        t = g.canonical
        a, b = window.interval(t.tss, t.strand)
        if a < 0 or b > asm.genome.length(t.chrom):
            raise PlantLLMError(f"gene '{name}': its promoter window {t.chrom}:{a + 1}-{b} runs off the chromosome")
        where = f"{g.locus} {t.chrom}:{a + 1}-{b}({t.strand})"
        out.append(Start(g.locus, _clean(asm.genome.fetch(t.chrom, a, b, t.strand), where), where))
    return out


def from_regions(asm, regions: list[tuple[str, int, int]], strand: str = "+") -> list[Start]:
    if strand not in ("+", "-"):
        raise PlantLLMError("--strand must be + or -")
    out = []
    for c, a, b in regions:
        where = f"{c}:{a + 1}-{b}({strand})"
        out.append(Start(where.replace(":", "_").replace("(", "").replace(")", ""),
                         _clean(asm.genome.fetch(c, a, b, strand), where), where))
    return out


def species_gc(asm, length: int, seed: int = 0, n: int = 500) -> float:
    """The species' GC over ``n`` random windows of ``length`` bp (N-free bases only)."""
    from plantllm.core.sequence import DEFINITE, GC, as_bytes
    from plantllm.data.sampling import random_loci

    rng = np.random.default_rng(seed)
    loci = random_loci(asm, asm.genome.chromosomes(), length, rng)
    gc = definite = 0
    for _ in range(n):
        try:
            c, s, _ = next(loci)
        except StopIteration:
            raise PlantLLMError(f"{asm.card.name}: no chromosome is longer than {length} bp") from None
        b = as_bytes(asm.genome.fetch(c, s, s + length))
        gc += int(GC[b].sum())
        definite += int(DEFINITE[b].sum())
    if not definite:
        raise PlantLLMError(f"{asm.card.name}: the sampled windows hold no A/C/G/T")
    return gc / definite


def random_starts(n: int, length: int, gc: float, cons: Constraints, seed: int = 0, tries: int = 2000
                  ) -> list[Start]:
    """``n`` seeded random sequences with exactly round(gc x length) G/C that keep the constraints."""
    if n < 1 or length < 1:
        raise PlantLLMError("--random and --length must be >= 1")
    if cons.keep:
        raise PlantLLMError("random starts carry no kept motif (--keep)", fix="start from sequences that have it")
    target = min(max(gc, cons.gc_min), cons.gc_max)  # the species' GC, moved into the --gc range
    k = int(round(target * length))
    if not cons.gc_min <= k / length <= cons.gc_max:
        k = int(np.ceil(cons.gc_min * length))
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        for _ in range(tries):
            strong = rng.permutation(np.array([1] * k + [0] * (length - k), dtype=bool))
            seq = "".join(np.where(strong, rng.choice(list("GC"), length), rng.choice(list("AT"), length)))
            if cons.ok(seq, seq):
                out.append(Start(f"random{i + 1}", seq, f"random (GC {k / length:.3f}, seed {seed})"))
                break
        else:
            raise PlantLLMError(f"no random {length} bp sequence at GC {k / length:.3f} keeps the constraints in "
                                f"{tries} draws", fix="loosen --max-homopolymer, --forbid-enzyme or --avoid")
    return out


def check_starts(starts: list[Start], cons: Constraints) -> None:
    """A start that already breaks a constraint is an error naming the sequence, the rule and where."""
    for s in starts:
        v = cons.violations(s.seq)
        if v:
            more = f" (and {len(v) - 1} more)" if len(v) > 1 else ""
            raise PlantLLMError(f"start sequence {s.name} ({s.source}) already breaks a constraint: {v[0]}{more}",
                                fix="loosen that constraint, or fix or drop the start sequence")
        cons.frozen_mask(s.seq)  # --freeze ranges must lie inside every start
