"""SnpEff's effect vocabulary: effect types in SnpEff's own severity order, their Sequence Ontology
terms and IMPACT classes, the ``ANN`` entry (16 standard sub-fields) and the ``LOF``/``NMD`` INFO values.

The order is SnpEff 5.1's (the enum order of ``org.snpeff.snpEffect.EffectType`` in Debian's
snpeff 5.1d jar), the impacts its ``effectImpact``: an ``ANN`` field
lists entries by impact, then by the most severe effect type of the entry, then the gene's canonical
transcript first, then by transcript position; ``ANN[0]``'s first term is the variant's most severe
consequence. Written as data here because SnpEff is a Java program with no Python API; the names are
exactly the ones SnpEff writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

IMPACTS = ("HIGH", "MODERATE", "LOW", "MODIFIER")

#: (SnpEff effect type, SO term as SnpEff writes it, impact), most severe first (SnpEff's enum order)
EFFECT_TYPES = (
    ("CHROMOSOME_LARGE_DELETION", "chromosome_number_variation", "HIGH"),
    ("CHROMOSOME_LARGE_INVERSION", "inversion", "MODERATE"),
    ("CHROMOSOME_LARGE_DUPLICATION", "duplication", "LOW"),
    ("GENE_DELETED", "feature_ablation", "HIGH"),
    ("TRANSCRIPT_DELETED", "transcript_ablation", "HIGH"),
    ("EXON_DELETED", "exon_loss_variant", "HIGH"),
    ("EXON_DELETED_NONCODING", "exon_loss_variant", "MODIFIER"),  # SnpEff's EXON_DELETED written MODIFIER (non-coding)
    ("GENE_FUSION", "gene_fusion", "HIGH"),  # a deletion > 10 bp from one gene into another (gene_fusion.py)
    ("GENE_FUSION_REVERESE", "bidirectional_gene_fusion", "HIGH"),  # the same, genes on opposite strands
    ("FRAME_SHIFT", "frameshift_variant", "HIGH"),
    ("STOP_GAINED", "stop_gained", "HIGH"),
    ("STOP_LOST", "stop_lost", "HIGH"),
    ("START_LOST", "start_lost", "HIGH"),
    ("SPLICE_SITE_ACCEPTOR", "splice_acceptor_variant", "HIGH"),
    ("SPLICE_SITE_DONOR", "splice_donor_variant", "HIGH"),
    ("EXON_DUPLICATION", "duplication", "HIGH"),
    ("EXON_INVERSION", "inversion", "HIGH"),
    ("NON_SYNONYMOUS_CODING", "missense_variant", "MODERATE"),
    ("GENE_DUPLICATION", "duplication", "MODERATE"),
    ("TRANSCRIPT_DUPLICATION", "duplication", "MODERATE"),
    ("UTR_5_DELETED", "5_prime_UTR_truncation&exon_loss_variant", "MODERATE"),
    ("UTR_3_DELETED", "3_prime_UTR_truncation&exon_loss_variant", "MODERATE"),
    ("GENE_INVERSION", "inversion", "MODERATE"),
    ("TRANSCRIPT_INVERSION", "inversion", "MODERATE"),
    ("CODON_INSERTION", "conservative_inframe_insertion", "MODERATE"),
    ("CODON_CHANGE_PLUS_CODON_INSERTION", "disruptive_inframe_insertion", "MODERATE"),
    ("CODON_DELETION", "conservative_inframe_deletion", "MODERATE"),
    ("CODON_CHANGE_PLUS_CODON_DELETION", "disruptive_inframe_deletion", "MODERATE"),
    ("NON_SYNONYMOUS_STOP", "stop_retained_variant", "LOW"),
    ("NON_SYNONYMOUS_START", "initiator_codon_variant", "LOW"),
    ("SPLICE_SITE_REGION", "splice_region_variant", "LOW"),
    ("SYNONYMOUS_CODING", "synonymous_variant", "LOW"),
    ("SYNONYMOUS_START", "initiator_codon_variant&non_canonical_start_codon", "LOW"),
    ("SYNONYMOUS_STOP", "stop_retained_variant", "LOW"),
    ("CODON_CHANGE", "coding_sequence_variant", "LOW"),
    ("START_GAINED", "5_prime_UTR_premature_start_codon_gain_variant", "LOW"),
    # a frame-shifting indel at UTR distance 1, right before the start / after the stop codon (Utr5prime/Utr3prime)
    ("FRAME_SHIFT_BEFORE_CDS_START", "start_retained_variant", "MODIFIER"),
    ("FRAME_SHIFT_AFTER_CDS_END", "stop_retained_variant", "MODIFIER"),
    ("UTR_5_PRIME", "5_prime_UTR_variant", "MODIFIER"),
    ("UTR_3_PRIME", "3_prime_UTR_variant", "MODIFIER"),
    ("MICRO_RNA", "miRNA", "MODIFIER"),
    ("UPSTREAM", "upstream_gene_variant", "MODIFIER"),
    ("DOWNSTREAM", "downstream_gene_variant", "MODIFIER"),
    ("INTRON", "intron_variant", "MODIFIER"),
    ("INTRAGENIC", "intragenic_variant", "MODIFIER"),
    ("INTERGENIC", "intergenic_region", "MODIFIER"),
    ("CDS", "coding_sequence_variant", "MODIFIER"),
    ("EXON", "non_coding_transcript_exon_variant", "MODIFIER"),
    ("TRANSCRIPT", "non_coding_transcript_variant", "MODIFIER"),
)
ORDER = {e: i for i, (e, _, _) in enumerate(EFFECT_TYPES)}
_IMPACT_RANK = {e: ("HIGH", "MODERATE", "LOW", "MODIFIER").index(imp) for e, _, imp in EFFECT_TYPES}
SO = {e: so for e, so, _ in EFFECT_TYPES}
IMPACT_OF = {e: imp for e, _, imp in EFFECT_TYPES}
#: SO term -> impact (the first effect type writing it), for reading terms back
TERM_IMPACT: dict[str, str] = {}
for _e, _so, _imp in EFFECT_TYPES:
    for _t in _so.split("&"):
        TERM_IMPACT.setdefault(_t, _imp)
#: SO term -> SnpEff severity rank (0 = most severe): SnpEff's ordering of ANN entries, for any term
TERM_RANK: dict[str, int] = {}
for _e, _so, _imp in sorted(EFFECT_TYPES, key=lambda x: (IMPACTS.index(x[2]), ORDER[x[0]])):
    for _t in _so.split("&"):
        TERM_RANK.setdefault(_t, len(TERM_RANK))

ANN_HEADER = ("Functional annotations: 'Allele | Annotation | Annotation_Impact | Gene_Name | Gene_ID | Feature_Type | "
              "Feature_ID | Transcript_BioType | Rank | HGVS.c | HGVS.p | cDNA.pos / cDNA.length | CDS.pos / CDS.length | "
              "AA.pos / AA.length | Distance | ERRORS / WARNINGS / INFO' ")
LOF_HEADER = ("Predicted loss of function effects for this variant. Format: 'Gene_Name | Gene_ID | "
              "Number_of_transcripts_in_gene | Percent_of_transcripts_affected'")
NMD_HEADER = ("Predicted nonsense mediated decay effects for this variant. Format: 'Gene_Name | Gene_ID | "
              "Number_of_transcripts_in_gene | Percent_of_transcripts_affected'")
ANN_FIELDS = ("Allele", "Annotation", "Annotation_Impact", "Gene_Name", "Gene_ID", "Feature_Type", "Feature_ID",
              "Transcript_BioType", "Rank", "HGVS.c", "HGVS.p", "cDNA.pos/cDNA.length", "CDS.pos/CDS.length",
              "AA.pos/AA.length", "Distance", "Errors")
_UNSAFE = str.maketrans({c: "_" for c in "|,;= \t"})


_SAFE: dict[str, str] = {}


def safe(text: str) -> str:
    """A value that cannot break an ANN entry (SnpEff writes '|' inside some NCBI IDs unescaped)."""
    got = _SAFE.get(text)
    if got is None:
        if len(_SAFE) > 200_000:  # gene names and IDs repeat: a bounded memo
            _SAFE.clear()
        got = _SAFE[text] = str(text).translate(_UNSAFE)
    return got


#: tuple of effect types -> (Annotation, Annotation_Impact, impact rank, most severe type's rank) of an entry,
#: computed once per combination
_TERMS: dict[tuple, tuple[str, str, int, int]] = {}


def _terms(effects: list[str]) -> tuple[str, str, int, int]:
    key = tuple(effects)
    got = _TERMS.get(key)
    if got is None:
        seen: list[str] = []
        for e in sorted(set(effects), key=ORDER.__getitem__):
            for t in SO[e].split("&"):
                if t not in seen:
                    seen.append(t)
        got = _TERMS[key] = ("&".join(seen), min((IMPACT_OF[e] for e in effects), key=IMPACTS.index),
                             min(_IMPACT_RANK[e] for e in effects), min(ORDER[e] for e in effects))
    return got


def entry_terms(effects: list[str]) -> tuple[str, str, int, int]:
    """(Annotation, Annotation_Impact, impact rank, most severe type's rank) of an entry with these effect types:
    what its ``format`` writes and its ``sort_key`` starts with."""
    return _terms(effects)


@dataclass(slots=True)
class AnnEntry:
    """One ANN entry: one allele x one feature (transcript, or the intergenic region)."""

    allele: str
    effects: list[str]  # SnpEff effect types (keys of ORDER)
    gene_name: str = ""
    gene_id: str = ""
    feature_type: str = "transcript"
    feature_id: str = ""
    biotype: str = ""
    rank: str = ""
    hgvs_c: str = ""
    hgvs_p: str = ""
    cdna: str = ""
    cds: str = ""
    aa: str = ""
    distance: str = ""
    errors: list[str] = field(default_factory=list)
    # not written: for sorting, LOF/NMD and the most-severe API
    tx_start: int = 0
    tx_end: int = 0
    canonical: bool = False  # SnpEff's canonical transcript of its gene (sorts first among equal effects)
    codon: int = -1  # 0-based codon number of the change, -1 when none
    aa_len: int = -1
    nmd: bool = False
    core_splice: bool = False
    codon_change: str = ""
    aa_short: str = ""  # one-letter change, e.g. M1V
    lazy: tuple | None = None  # (function, arguments): HGVS.c computed when the entry is written

    @property
    def top(self) -> str:
        """The most severe effect type of the entry."""
        return min(self.effects, key=ORDER.__getitem__)

    @property
    def impact(self) -> str:
        return _terms(self.effects)[1]

    @property
    def term(self) -> str:
        """The entry's most severe SO term (what ``ANN[i].EFFECT`` starts with)."""
        return self.annotation.split("&")[0]

    @property
    def annotation(self) -> str:
        return _terms(self.effects)[0]

    def sort_key(self) -> tuple:
        """SnpEff's ``VariantEffect.compareTo``: impact, most severe effect type, then (transcript support level,
        absent from GFF3/GTF here) the gene's canonical transcript first, then transcript start, end and ID."""
        _, _, impact, top = _terms(self.effects)
        return (impact, top, not self.canonical, self.tx_start, self.tx_end, self.feature_id)

    def format(self) -> str:
        if self.lazy is not None:
            fn, args = self.lazy
            self.hgvs_c, self.lazy = fn(*args), None
        annotation, impact, _, _ = _terms(self.effects)
        return "|".join([self.allele, annotation, impact, safe(self.gene_name), safe(self.gene_id),
                         self.feature_type, safe(self.feature_id), safe(self.biotype), self.rank, self.hgvs_c,
                         self.hgvs_p, self.cdna, self.cds, self.aa, self.distance, "&".join(self.errors)])

    def row(self) -> list[str]:
        return self.format().split("|")


def lof_nmd(entries: list[AnnEntry], n_transcripts: dict[str, int]) -> tuple[list[str], list[str]]:
    """SnpEff's ``LOF`` and ``NMD`` values, ``(Gene_Name|Gene_ID|transcripts in gene|fraction affected)``.

    LOF (SnpEff ``LossOfFunction``): on protein-coding transcripts, a frameshift between 5% and 95% of
    the protein, a core splice donor/acceptor, a stop gained that triggers NMD, or a start lost.
    NMD: a stop gained or frameshift more than 50 bases before the last exon-exon junction."""
    lof: dict[tuple, set] = {}
    nmd: dict[tuple, set] = {}
    for e in entries:
        if e.feature_type != "transcript" or e.cds == "":
            continue
        key = (e.gene_name, e.gene_id)
        eff = set(e.effects)
        hit = False
        if "FRAME_SHIFT" in eff and e.codon >= 0 and e.aa_len > 0:
            hit |= 0.05 <= e.codon / e.aa_len <= 0.95
        if eff & {"SPLICE_SITE_ACCEPTOR", "SPLICE_SITE_DONOR"}:
            hit |= e.core_splice
        elif "STOP_GAINED" in eff:
            hit |= e.nmd
            if e.nmd:
                nmd.setdefault(key, set()).add(e.feature_id)
        elif "START_LOST" in eff:
            hit = True
        if hit:
            lof.setdefault(key, set()).add(e.feature_id)

    def fmt(d):
        return [f"({safe(g)}|{safe(i)}|{n_transcripts.get(i, 1)}|{len(t) / n_transcripts.get(i, 1):.2f})"
                for (g, i), t in d.items()]
    return fmt(lof), fmt(nmd)
