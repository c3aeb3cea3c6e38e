"""Assembly: a species card together with its files, checked and summarized.

``Assembly`` is what every later stage receives: the card, and lazily the
genome, annotation and repeats it names. ``validate`` checks that the files agree
with the card; ``summarize`` is what ``plantllm species show`` prints; ``init_card``
writes a new card from a lab's own FASTA and GFF.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import yaml

from plantllm.species.annotation import Annotation
from plantllm.core.errors import PlantLLMError, did_you_mean
from plantllm.species.genome import Genome, SequenceStats, read_fasta_lengths
from plantllm.core.io import atomic_write
from plantllm.core.tables import read_key_values
from plantllm.species.repeats import Repeats
from plantllm.species.card import SpeciesCard, get_card, resolve_path


class Assembly:
    """A card plus its genome, annotation and repeats (opened on first use).

    Parameters
    ----------
    card : SpeciesCard or str
        A card, a shipped card name or a card path.
    fasta, gff, repeats : optional
        Override the card's files (the CLI's --fasta/--gff/--repeats).
    """

    def __init__(self, card: SpeciesCard | str | Path, *, fasta: str | Path | None = None,
                 gff: str | Path | None = None, repeats: str | Path | None = None,
                 repeat_source: str | None = None):
        self.card = card if isinstance(card, SpeciesCard) else get_card(card)
        if fasta:
            self.card.fasta = resolve_path(str(fasta), None)
        if gff:
            self.card.gff = resolve_path(str(gff), None)
            self.card.annotation_format = None
        if repeats:
            self.card.repeats.path = resolve_path(str(repeats), None)
            if self.card.repeats.source in ("none", "soft_mask") and repeat_source is None:
                raise PlantLLMError("--repeats needs --repeat-source (rmsk_out, rmsk_table, te_gff or bed)")
        if repeat_source:
            self.card.repeats.source = repeat_source

    @cached_property
    def genome(self) -> Genome:
        return Genome(self.card)

    @cached_property
    def annotation(self) -> Annotation:
        return Annotation(self.card)

    @cached_property
    def repeats(self) -> Repeats:
        return Repeats(self.card, self.genome if self.card.repeats.source == "soft_mask" else None)

    @property
    def has_annotation(self) -> bool:
        return self.card.gff is not None

    @cached_property
    def homeologs(self) -> dict[str, str]:
        """gene -> homeolog group from the card's ``homeologs`` table (empty when none)."""
        if self.card.homeologs is None:
            return {}
        return read_key_values(self.card.homeologs, "homeolog table", columns=("gene", "group"))


@dataclass
class Validation:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def validate(asm: Assembly) -> Validation:
    """Check the card's files against the card: names, lengths, missing chromosomes, GFF and repeats."""
    card, v = asm.card, Validation()
    try:
        g = asm.genome
    except PlantLLMError as e:
        v.errors.append(str(e))
        return v
    by_len: dict[int, list[str]] = {}
    for c in card.chromosomes:
        by_len.setdefault(c.length, []).append(c.name)
    for fname in g.unknown_sequences:
        n = g.file_lengths[fname]
        same = by_len.get(n)
        hint = (f"; its length {n:,} matches chromosome {same[0]}: add '{fname}' to that chromosome's aliases"
                if same else did_you_mean(fname, card._alias))
        v.errors.append(f"{g.path}: sequence '{fname}' is not a chromosome or alias in the card{hint}")
    present = set(g.chromosomes(nuclear_only=False))
    absent_nuclear = [c.name for c in card.nuclear if c.name not in present]
    absent_org = [c.name for c in card.organelles if c.name not in present]
    if absent_nuclear:
        msg = f"{g.path}: chromosomes {', '.join(absent_nuclear)} of {card.assembly} are not in the FASTA"
        if card.partial:
            v.warnings.append(msg + " (genome.partial: true)")
        else:
            v.errors.append(msg + " (fix: use the whole assembly, or set genome.partial: true)")
    if absent_org:
        v.warnings.append(f"organelles {', '.join(absent_org)} are not in the FASTA; nuclear work is unaffected")
    for c in card.chromosomes:
        if c.name not in present:
            continue
        n = g.length(c.name)
        if n != c.length:
            msg = (f"{g.path}: {g.file_name(c.name)} is {n:,} bp but chromosome {c.name} of {card.assembly} "
                   f"is {c.length:,} bp")
            if n < c.length and card.partial:
                v.warnings.append(msg + " (partial genome)")
            else:
                v.errors.append(msg + " (fix: the FASTA is another assembly, or the card's length is wrong)")
    if card.repeats.source != "soft_mask":
        # Read every base once under the card's IUPAC policy (a soft-mask repeat source reads them
        # below anyway, through the same policy): a corrupt or non-DNA character is an error here,
        # not in the middle of a later run.
        try:
            for c in sorted(present, key=[x.name for x in card.chromosomes].index):
                for _ in g.iter_chunks(c):
                    pass
        except PlantLLMError as e:
            v.errors.append(str(e))
    if card.gff is not None:
        try:
            ann = asm.annotation
            missing = [c for c in ann.chromosomes if c not in g.chromosomes(nuclear_only=False)]
            if missing:
                v.warnings.append(f"{ann.path}: annotation has features on {', '.join(missing)}, absent from "
                                  f"the FASTA")
        except PlantLLMError as e:
            v.errors.append(str(e))
    else:
        v.warnings.append("no annotation (annotation.gff) in the card: promoter and variant tasks need one")
    try:
        asm.repeats
    except PlantLLMError as e:
        v.errors.append(str(e))
    return v


@dataclass
class Summary:
    card: SpeciesCard
    sequences: list[SequenceStats]
    repeat_bp: dict[str, int]
    counts: dict[str, int] | None
    subgenome_bp: dict[str, int]
    homeolog_groups: dict[str, int] | None = None


def summarize(asm: Assembly) -> Summary:
    g = asm.genome
    seqs = [g.stats(c) for c in g.chromosomes(nuclear_only=False)]
    rep = asm.repeats.coverage()
    counts = asm.annotation.counts() if asm.has_annotation else None
    sub: dict[str, int] = {}
    for s in seqs:
        if s.subgenome:
            sub[s.subgenome] = sub.get(s.subgenome, 0) + s.length
    groups = None
    if asm.card.homeologs is not None:
        h = asm.homeologs
        groups = {"groups": len(set(h.values())), "genes": len(h)}
    return Summary(asm.card, seqs, rep, counts, sub, groups)


# ---------------------------------------------------------------------- init
_ORGANELLE = [
    ("chloroplast", re.compile(r"chloroplast|plastid|^(chr)?(c|pt|cp)$", re.IGNORECASE)),
    ("mitochondrion", re.compile(r"mitochondri|^(chr)?(m|mt)$", re.IGNORECASE)),
]
_CHROM_IN_DESC = re.compile(r"chromosome[:\s]+([A-Za-z0-9_]+)", re.IGNORECASE)


def init_card(name: str, fasta: str | Path, out: str | Path, *, gff: str | Path | None = None,
              assembly: str | None = None, ploidy: int = 2, repeats: str | Path | None = None,
              repeat_source: str | None = None, soft_masked: bool | None = None) -> Path:
    """Write a new card from a FASTA: every sequence with its length, organelles recognised by
    name or header description, NCBI-style headers ('... chromosome 1 ...') given a short
    canonical name with the accession as alias."""
    fasta = Path(fasta).resolve()
    records = read_fasta_lengths(fasta)
    nuclear, organelles, used = [], [], set()
    masked = False
    for fname, desc, length in records:
        kind = next((k for k, rx in _ORGANELLE if rx.search(fname) or rx.search(desc)), None)
        m = _CHROM_IN_DESC.search(desc)
        canon = m.group(1) if (m and kind is None) else ("Pt" if kind == "chloroplast" else
                                                         "Mt" if kind == "mitochondrion" else fname)
        if canon in used:
            canon = fname
        used.add(canon)
        entry = {"name": canon, "length": length}
        if canon != fname:
            entry["aliases"] = [fname]
        if kind:
            entry["kind"] = kind
            organelles.append(entry)
        else:
            nuclear.append(entry)
    if soft_masked is None:
        from plantllm.core import sequence as sq
        from plantllm.species.card import Chromosome, SpeciesCard as _Card

        probe = _Card("_probe", "_probe", 2, [Chromosome(n, max(1, ln)) for n, _, ln in records], fasta=fasta,
                      iupac="keep")
        g = Genome(probe)
        first = records[0]
        masked = bool(sq.soft_mask(g.fetch(first[0], 0, min(first[2], 2_000_000))).any())
        g.close()
    else:
        masked = soft_masked
    card = {
        "name": name,
        "assembly": assembly or fasta.name.split(".")[0],
        "ploidy": ploidy,
        "genome": {"fasta": str(fasta), "soft_masked": masked, "iupac": "to_n"},
        "annotation": {"gff": str(Path(gff).resolve())} if gff else {"gff": None},
        "repeats": ({"source": repeat_source or "bed", "path": str(Path(repeats).resolve())} if repeats
                    else {"source": "soft_mask" if masked else "none"}),
        "chromosomes": {"nuclear": nuclear, **({"organelles": organelles} if organelles else {})},
    }
    header = (f"# Species card written by 'plantllm species init' from {fasta.name}.\n"
              "# Add aliases for other naming schemes (e.g. Chr1 / chr01 / NC_...), subgenomes for polyploids,\n"
              "# then check it with 'plantllm species validate'.\n")
    with atomic_write(out) as fh:
        fh.write(header)
        yaml.safe_dump(card, fh, sort_keys=False, default_flow_style=None, width=120)
    return Path(out)
