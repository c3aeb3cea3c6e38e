"""SnpEff-compatible mode (``--snpeff-compatible``): copies a READER CONVENTION of SnpEff 5.1, not the annotation.

SnpEff decides whether a transcript is protein coding from its biotype, not from its CDS lines
(``SnpEffPredictorFactoryGff.addTranscript``: ``GffMarker.isProteingCoding``): the transcript's
``transcript_biotype`` / ``transcript_type`` / ``biotype`` attribute, else the GFF source column, else the
feature type, read by ``BioType.parse``, which maps ``mRNA`` (and ``tRNA``, ``protein``, ``CDS``...) to
``protein_coding``. A transcript with CDS lines and no readable biotype is coding too
(``SnpEffPredictorFactory.codingFromCds``). A protein-coding transcript without any CDS line has no UTR,
so ``Transcript.calcCdsStartEnd`` makes its CDS the whole of its exons, translated from the first exon
base in frame 0 (exons without a CDS carry no frame, so ``frameCorrection`` leaves them alone). On NCBI's
TAIR10 annotation that turns the 'mRNA' of pseudogenes and transposable-element genes (no CDS line) and
every tRNA into protein-coding transcripts with missense, stop_gained... effects on invented proteins.

Default plantllm follows the annotation (no CDS = non-coding); this mode reproduces SnpEff's ANN for users
who compare with, or filter like, an existing SnpEff pipeline. It also writes SnpEff's transcript
warnings (``Transcript.sanityCheck``: WARNING_TRANSCRIPT_MULTIPLE_STOP_CODONS, _INCOMPLETE,
_NO_START_CODON, _NO_STOP_CODON, the first that applies) in the Errors field of every entry of a
protein-coding transcript, and SnpEff's Transcript_BioType (a biotype it cannot read is written
``protein_coding`` or ``pseudogene`` after the coding flag: ``VcfEffect``'s ``BioType.coding``).
Measured against SnpEff 5.1 in benchmarks/snpeff_agreement.py. The GFF3 source column is not kept by the
annotation; NCBI's sources (RefSeq, BestRefSeq, Gnomon, tRNAscan-SE, cmsearch) are no SnpEff biotype.
"""

from __future__ import annotations

from plantllm.apps.coding import START, translate
from plantllm.apps.tx_model import TxModel
from plantllm.species.annotation import Transcript

#: the VCF header line of ANN made in this mode (``variants annotate`` and the scored VCF of ``variants score``)
HEADER_LINE = ("##plantllm_annotation=snpeff-compatible (transcripts SnpEff 5.1 reads as protein coding are "
               "translated from their exons when the annotation gives them no CDS)")

#: SnpEff 5.1's ``BioType`` enum (names it reads as they are)
BIOTYPES = frozenset((
    "antisense IG_C_gene IG_C_pseudogene IG_D_gene IG_J_gene IG_J_pseudogene IG_V_gene IG_V_pseudogene lincRNA "
    "macro_lncRNA miRNA misc_RNA Mt_rRNA Mt_tRNA non_coding nonsense_mediated_decay non_stop_decay "
    "polymorphic_pseudogene processed_pseudogene processed_transcript protein_coding pseudogene retained_intron "
    "ribozyme rRNA scaRNA scRNA sense_intronic sense_overlapping snoRNA snRNA sRNA TEC "
    "transcribed_processed_pseudogene transcribed_unitary_pseudogene transcribed_unprocessed_pseudogene "
    "translated_unprocessed_pseudogene TR_C_gene TR_D_gene TR_J_gene TR_J_pseudogene TR_V_gene TR_V_pseudogene "
    "unitary_pseudogene unprocessed_pseudogene vaultRNA").split())
#: ``BioType.parse``'s fallbacks for names that are not enum names (lower case)
_ALIASES = {**dict.fromkeys(("mrna", "protein", "cds", "trna", "start_codon", "stop_codon", "five_prime_utr",
                             "5'-utr", "5'utr", "5utr", "three_prime_utr", "3'-utr", "3'utr", "3utr"),
                            "protein_coding"),
            "pseudogenic_transcript": "transcribed_processed_pseudogene",
            "pseudogenic_exon": "transcribed_processed_pseudogene", "ncrna": "lincRNA", "rrna": "rRNA",
            "mirna": "miRNA", "snrna": "snRNA", "snorna": "snoRNA",
            "3prime_overlapping_ncrna": "3prime_overlapping_ncrna"}
#: ``BioType.isProteinCoding``
CODING = frozenset(("protein_coding", "IG_C_gene", "IG_D_gene", "IG_J_gene", "IG_V_gene", "TR_C_gene", "TR_D_gene",
                    "TR_J_gene", "TR_V_gene"))
_STOPS = ("TAA", "TAG", "TGA")


def parse_biotype(name: str | None) -> str | None:
    """SnpEff's ``BioType.parse``: the enum name, else its alias, else None (SnpEff cannot read it)."""
    if not name:
        return None
    return name if name in BIOTYPES else _ALIASES.get(name.lower())


def is_coding(t: Transcript) -> bool:
    """Whether SnpEff 5.1 makes ``t`` a protein-coding transcript (``t.biotype`` is the transcript_biotype
    attribute or, without one, the feature type, as SnpEff reads it)."""
    bt = parse_biotype(t.biotype)
    return bt in CODING if bt is not None else bool(t.cds)


def biotype(t: Transcript) -> str:
    """The Transcript_BioType SnpEff writes for ``t``."""
    return parse_biotype(t.biotype) or ("protein_coding" if is_coding(t) else "pseudogene")


def coding_model(t: Transcript) -> tuple[tuple[int, int], ...] | None:
    """The CDS SnpEff gives a protein-coding transcript without CDS lines: all of its exons; None otherwise."""
    return tuple(t.exons) if not t.cds and t.exons and is_coding(t) else None


def warning(m: TxModel) -> str:
    """SnpEff's ``Transcript.sanityCheck`` warning of a protein-coding transcript ('' when none)."""
    cds = m.cds_seq
    protein = translate(cds)  # whole codons; SnpEff adds '?' for a partial last codon, checked with the others
    if (protein if len(cds) % 3 else protein[:-1]).count("*") > 1:  # one inner stop allowed (a rare amino acid)
        return "WARNING_TRANSCRIPT_MULTIPLE_STOP_CODONS"
    if len(cds) % 3:
        return "WARNING_TRANSCRIPT_INCOMPLETE"
    if len(cds) < 3 or cds[:3] not in START:
        return "WARNING_TRANSCRIPT_NO_START_CODON"
    if cds[-3:] not in _STOPS:
        return "WARNING_TRANSCRIPT_NO_STOP_CODON"
    return ""


#: the pseudogene biotypes of SnpEff's ``BioType`` (Ensembl's names); any other pseudogene class is written as
#: SnpEff writes it: ``pseudogene`` (NCBI's transcribed_pseudogene, and the 'mRNA' of a pseudogene, which
#: the annotation gives no CDS)
SNPEFF_PSEUDOGENES = {"IG_C_pseudogene", "IG_J_pseudogene", "IG_V_pseudogene", "polymorphic_pseudogene",
                      "processed_pseudogene", "pseudogene", "transcribed_processed_pseudogene",
                      "transcribed_unitary_pseudogene", "transcribed_unprocessed_pseudogene",
                      "translated_unprocessed_pseudogene", "TR_J_pseudogene", "TR_V_pseudogene", "unitary_pseudogene",
                      "unprocessed_pseudogene"}


def pseudo_biotype(gene_biotype: str) -> str | None:
    """Transcript_BioType of a non-coding transcript of a pseudogene (``gene_biotype`` names it), else None."""
    if "pseudogene" not in (gene_biotype or ""):
        return None
    return gene_biotype if gene_biotype in SNPEFF_PSEUDOGENES else "pseudogene"
