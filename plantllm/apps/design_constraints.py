"""What a designed promoter must satisfy before a lab can order it.

* GC content within a range;
* no forbidden sites: restriction enzymes by name, with their recognition sites (IUPAC, both strands)
  from Biopython's ``Bio.Restriction`` (its ``compsite`` regex matches the site and its reverse
  complement), and homopolymer runs longer than N bases (synthesis fails on them);
* motifs to avoid or to keep: JASPAR matrices (``data/jaspar``; a hit is a log-odds score at least
  ``rel_score`` of the matrix's range on either strand, as the motif task labels hits) or IUPAC strings
  (both strands, ambiguity codes from ``Bio.Data.IUPACData``). A kept motif's hits in the start sequence
  are frozen, so every design carries it where the start had it;
* at most ``max_edits`` edits from the start sequence (Hamming; edit distance when indels are on, from
  Biopython's ``PairwiseAligner``), and frozen positions (e.g. the TSS core) that are never edited.

``violations`` names every broken rule and where (1-based positions), for the one-line error a start
sequence that already breaks them gets; ``ok`` is the same test, stopping at the first failure, for
the thousands of candidates each design round filters before the model scores them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from plantllm.core.errors import PlantLLMError, did_you_mean
from plantllm.core.sequence import reverse_complement

DEFAULT_REL_SCORE = 0.85


def _enzymes() -> dict[str, object]:
    from Bio.Restriction import AllEnzymes

    return {str(e): e for e in AllEnzymes}


def restriction_enzymes(names: list[str]) -> list:
    """Bio.Restriction enzymes by name (case-insensitive); an unknown name is a one-line error."""
    known = _enzymes()
    lower = {k.lower(): v for k, v in known.items()}
    out = []
    for n in names:
        e = lower.get(n.strip().lower())
        if e is None:
            raise PlantLLMError(f"--forbid-enzyme '{n}' is not a restriction enzyme Biopython knows{did_you_mean(n, known)}",
                                fix="use REBASE names such as EcoRI, BsaI, BsmBI, NotI")
        out.append(e)
    return out


def iupac_regex(motif: str, option: str = "--avoid") -> str:
    """A regex of an IUPAC DNA string (Bio.Data.IUPACData's ambiguity table); a bad code is an error."""
    from Bio.Data.IUPACData import ambiguous_dna_values

    m = motif.strip().upper()
    if not m:
        raise PlantLLMError(f"{option}: an empty motif")
    parts = []
    for i, c in enumerate(m):
        bases = ambiguous_dna_values.get(c)
        if bases is None or c == "X":
            raise PlantLLMError(f"{option} '{motif}': '{c}' at position {i + 1} is not an IUPAC nucleotide code",
                                fix="use A C G T and R Y S W K M B D H V N")
        parts.append(bases if len(bases) == 1 else f"[{bases}]")
    return "".join(parts)


@dataclass
class Motif:
    """One motif to keep or avoid: an IUPAC string or a JASPAR matrix, matched on both strands."""

    name: str
    width: int
    regex: re.Pattern | None = None  # IUPAC: a lookahead over both strands
    pssm: object | None = None  # JASPAR: Bio.motifs PSSMs (forward, reverse complement) and a threshold
    rc_pssm: object | None = None
    threshold: float = 0.0

    def hits(self, seq: str) -> list[tuple[int, str]]:
        """(0-based start, strand) of every match."""
        if self.regex is not None:
            return [(m.start(), "+" if m.lastgroup == "f" else "-") for m in self.regex.finditer(seq)]
        if len(seq) < self.width:
            return []
        from Bio.Seq import Seq

        out = []
        for pos, _score in self.pssm.search(Seq(seq), threshold=self.threshold, both=True):
            out.append((int(pos), "+") if pos >= 0 else (len(seq) + int(pos), "-"))
        return sorted(out)

    def present(self, seq: str) -> bool:
        if self.regex is not None:
            return self.regex.search(seq) is not None
        if len(seq) < self.width:
            return False
        from Bio.Seq import Seq

        fwd = self.pssm.calculate(Seq(seq))
        rev = self.rc_pssm.calculate(Seq(seq))
        return bool(max(np.nanmax(np.atleast_1d(fwd)), np.nanmax(np.atleast_1d(rev))) >= self.threshold)


def motifs_of(specs: list[str], rel_score: float = DEFAULT_REL_SCORE, option: str = "--avoid") -> list[Motif]:
    """Motifs from JASPAR IDs (``MA0931.1``) or Plantae names (``jaspar:ABI5``), or IUPAC strings (``CACGTG``)."""
    from plantllm.data import jaspar

    if not 0 < rel_score <= 1:
        raise PlantLLMError(f"--motif-rel-score {rel_score} must be in (0, 1]")
    out = []
    for spec in specs:
        s = spec.strip()
        if re.fullmatch(r"MA\d{4}(\.\d+)?", s) or s.lower().startswith("jaspar:"):
            name = s.split(":", 1)[1] if s.lower().startswith("jaspar:") else s
            (m,) = jaspar.fetch((name,))
            pssm = m.counts.normalize(pseudocounts=0.5).log_odds()
            out.append(Motif(f"{m.matrix_id} {m.name}", pssm.length, pssm=pssm, rc_pssm=pssm.reverse_complement(),
                             threshold=float(pssm.min + rel_score * (pssm.max - pssm.min))))
        else:
            f = iupac_regex(s, option)
            r = iupac_regex(reverse_complement(s.upper()), option)
            rx = re.compile(f"(?=(?P<f>{f}))" + (f"|(?=(?P<r>{r}))" if r != f else ""))
            out.append(Motif(s.upper(), len(s), regex=rx))
    return out


@dataclass
class Constraints:
    """The rules every design keeps (module doc). ``frozen``: 0-based positions of the start sequence."""

    gc_min: float = 0.0
    gc_max: float = 1.0
    enzymes: list = field(default_factory=list)
    max_homopolymer: int | None = None
    avoid: list[Motif] = field(default_factory=list)
    keep: list[Motif] = field(default_factory=list)
    max_edits: int | None = None
    frozen: tuple[tuple[int, int], ...] = ()  # 1-based inclusive ranges as given; see frozen_mask

    def __post_init__(self) -> None:
        if not 0 <= self.gc_min <= self.gc_max <= 1:
            raise PlantLLMError(f"--gc {self.gc_min}-{self.gc_max}: need 0 <= min <= max <= 1", fix="e.g. --gc 0.3-0.5")
        if self.max_homopolymer is not None and self.max_homopolymer < 1:
            raise PlantLLMError("--max-homopolymer must be >= 1")
        if self.max_edits is not None and self.max_edits < 0:
            raise PlantLLMError("--max-edits must be >= 0")
        n = self.max_homopolymer
        self._homo = re.compile("|".join(f"{b}{{{n + 1},}}" for b in "ACGT")) if n else None
        self._sites = re.compile("|".join(e.compsite.pattern for e in self.enzymes)) if self.enzymes else None
        self._site_of = {str(e): e for e in self.enzymes}

    # ------------------------------------------------------------ positions never edited
    def frozen_mask(self, start: str) -> np.ndarray:
        """Boolean per base of ``start``: the --freeze ranges and the kept motifs' hits in it."""
        mask = np.zeros(len(start), dtype=bool)
        for a, b in self.frozen:
            if not 1 <= a <= b <= len(start):
                raise PlantLLMError(f"--freeze {a}-{b} is outside the {len(start)} bp start sequence")
            mask[a - 1:b] = True
        for m in self.keep:
            for pos, _ in m.hits(start):
                mask[pos:pos + m.width] = True
        return mask

    # ------------------------------------------------------------ checks
    def edits(self, seq: str, start: str, indels: bool = False) -> int:
        """Hamming distance to the start (substitutions only), else the edit distance (PairwiseAligner)."""
        if not indels and len(seq) == len(start):
            return int((np.frombuffer(seq.encode(), np.uint8) != np.frombuffer(start.encode(), np.uint8)).sum())
        from Bio.Align import PairwiseAligner

        al = PairwiseAligner(mode="global", match_score=0, mismatch_score=-1, gap_score=-1)
        return int(-al.score(seq, start))

    def ok(self, seq: str, start: str, edits: int | None = None) -> bool:
        """Whether ``seq`` keeps every rule (``edits``: its distance to ``start`` when already known)."""
        if self.max_edits is not None:
            if (edits if edits is not None else self.edits(seq, start)) > self.max_edits:
                return False
        gc = (seq.count("G") + seq.count("C")) / max(len(seq), 1)
        if not self.gc_min - 1e-12 <= gc <= self.gc_max + 1e-12:
            return False
        if self._homo is not None and self._homo.search(seq):
            return False
        if self._sites is not None and self._sites.search(seq):
            return False
        if any(m.present(seq) for m in self.avoid):
            return False
        return all(m.present(seq) for m in self.keep)

    def violations(self, seq: str, start: str | None = None) -> list[str]:
        """Every broken rule of ``seq``, with where (1-based positions): the text of a one-line error."""
        out = []
        gc = (seq.count("G") + seq.count("C")) / max(len(seq), 1)
        if not self.gc_min - 1e-12 <= gc <= self.gc_max + 1e-12:
            out.append(f"GC {gc:.3f} outside --gc {self.gc_min:g}-{self.gc_max:g}")
        if self._homo is not None:
            for m in self._homo.finditer(seq):
                out.append(f"a run of {len(m.group())} {m.group()[0]} at {m.start() + 1}-{m.end()} "
                           f"(--max-homopolymer {self.max_homopolymer})")
        if self._sites is not None:
            for m in self._sites.finditer(seq):
                name = m.lastgroup.removesuffix("_as")
                e = self._site_of[name]
                strand = "-" if m.lastgroup.endswith("_as") else "+"
                out.append(f"a {name} site ({e.site}) at {m.start() + 1}-{m.start() + e.size} ({strand} strand)")
        for mot in self.avoid:
            for pos, strand in mot.hits(seq):
                out.append(f"avoided motif {mot.name} at {pos + 1}-{pos + mot.width} ({strand} strand)")
        for mot in self.keep:
            if not mot.present(seq):
                out.append(f"kept motif {mot.name} is absent (a kept motif must be in every start sequence)")
        if start is not None and self.max_edits is not None:
            d = self.edits(seq, start)
            if d > self.max_edits:
                out.append(f"{d} edits from the start, more than --max-edits {self.max_edits}")
        return out

    def describe(self) -> dict:
        return {"gc": [self.gc_min, self.gc_max], "forbidden_enzymes": {str(e): e.site for e in self.enzymes},
                "max_homopolymer": self.max_homopolymer, "avoid": [m.name for m in self.avoid],
                "keep": [m.name for m in self.keep], "max_edits": self.max_edits,
                "frozen": [f"{a}-{b}" for a, b in self.frozen]}


def parse_gc(text: str) -> tuple[float, float]:
    """'0.3-0.5' (fractions or percentages) -> (0.3, 0.5)."""
    try:
        a, b = (float(x) for x in text.split("-"))
    except ValueError:
        raise PlantLLMError(f"--gc '{text}' must be MIN-MAX, e.g. 0.3-0.5") from None
    if a > 1 or b > 1:
        a, b = a / 100, b / 100
    return a, b


def parse_freeze(items: list[str], tss_offset: int | None) -> tuple[tuple[int, int], ...]:
    """--freeze 'A-B' (1-based, inclusive, in the start sequence) or 'tss-30:tss+10' (relative to the TSS of
    the model's promoter window, 0 = the TSS base) -> 1-based inclusive ranges."""
    out = []
    for it in items:
        t = it.strip().lower().replace(" ", "")
        m = re.fullmatch(r"tss([+-]\d+)?:tss([+-]\d+)?", t)
        if m:
            if tss_offset is None:
                raise PlantLLMError(f"--freeze '{it}': the model has no promoter window, so there is no TSS",
                                    fix="give 1-based positions, e.g. --freeze 220-260")
            a, b = (tss_offset + 1 + int(g or 0) for g in m.groups())
        else:
            m = re.fullmatch(r"(\d+)-(\d+)", t)
            if not m:
                raise PlantLLMError(f"--freeze '{it}' must be A-B (1-based positions) or tss-30:tss+10")
            a, b = int(m.group(1)), int(m.group(2))
        if not 1 <= a <= b:
            raise PlantLLMError(f"--freeze '{it}': an empty or negative range ({a}-{b})")
        out.append((a, b))
    return tuple(out)
