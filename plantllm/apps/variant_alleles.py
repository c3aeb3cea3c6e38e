"""Every allele of a VCF as REF and ALT sequences, or the reason it has none.

Sequence alleles (SNVs, MNVs, indels, sequence-resolved structural variants) are used as written.
Symbolic alleles are resolved from the genome, as a genome browser would draw them:

* ``<DEL>`` (and ``<DEL:...>``): REF = the padding base and the deleted span ``POS..END``; ALT = the padding base.
* ``<DUP>``, ``<DUP:TANDEM>``: REF = padding base + span; ALT = padding base + span + span (a tandem copy).
* ``<INV>``: REF = padding base + span; ALT = padding base + the reverse complement of the span.
* ``<INS>`` (and ``<INS:...>``): resolvable only when INFO carries the inserted sequence (``SVINSSEQ``,
  ``INSSEQ``; Manta / SVIM / Sniffles write these); else not scored.

Spans longer than ``MAX_RESOLVED`` bp are not read from the genome (``too_long_to_resolve``). Alleles
with no sequence at all (breakends, the ``*`` of an overlapping deletion, ``<CNV>``, gVCF ``<*>``) are not
scored. A resolved allele is scored when its change fits the model's window (see ``fits``); every other
allele is still annotated and ranked by its consequence, with the reason in the ``scored_by`` column
(``unscored:<reason>``).
"""

from __future__ import annotations

from plantllm.core.sequence import reverse_complement
from plantllm.species.vcf import Variant

#: the longest symbolic span read from the genome (bp); longer ones are annotated by their length alone
MAX_RESOLVED = 1_000_000

#: reasons an allele is not scored (the text after ``unscored:``)
REASONS = {
    "insertion_without_sequence": "a symbolic <INS> without its inserted sequence (INFO SVINSSEQ/INSSEQ)",
    "breakend": "a breakend (BND) allele: a junction, not a sequence",
    "spanning_deletion": "the * allele: this site lies inside a deletion written on another record",
    "symbolic_not_resolvable": "a symbolic allele other than <DEL>, <DUP>, <INV>, <INS> (e.g. <CNV>, <*>)",
    "too_long_to_resolve": f"a symbolic span longer than {MAX_RESOLVED:,} bp",
    "longer_than_window": "a change longer than half the scoring window (use a larger --window)",
    "ref_mismatch": "REF does not match the genome",
    "past_chromosome_end": "the variant lies past the end of the chromosome in the FASTA",
}


def svtype(alt: str) -> str:
    """DEL, DUP, INV, INS, ... of a symbolic allele (``<DUP:TANDEM>`` -> DUP)."""
    return alt.strip("<>").split(":")[0].upper()


def resolve(genome, v: Variant) -> tuple[str, str, str]:
    """(REF sequence, ALT sequence, reason): a reason ('' when resolved) from ``REASONS`` when the allele has
    no sequence; the sequences are then placeholders of the right lengths, for the consequence annotator."""
    cat = v.category
    if cat not in ("symbolic", "breakend", "star"):
        return v.ref, v.alt, ""
    if cat == "breakend":
        return v.ref, v.ref + "N", "breakend"
    if cat == "star":
        return v.ref, v.ref + "N", "spanning_deletion"
    kind = svtype(v.alt)
    span = max(v.end - v.pos - 1, 0)  # bases after the padding base
    if kind == "INS":
        seq = _inserted(v)
        if seq:
            return v.ref, v.ref + seq, ""
        return v.ref, v.ref + "N" * max(abs(v.svlen or 0), 1), "insertion_without_sequence"
    if kind not in ("DEL", "DUP", "INV") or span < 1:
        return v.ref, v.ref + "N", "symbolic_not_resolvable"
    if span > MAX_RESOLVED:
        ref = v.ref + "N" * span
        alt = {"DEL": v.ref, "DUP": ref + "N" * span, "INV": ref}[kind]
        return ref, alt, "too_long_to_resolve"
    body = genome.fetch(v.chrom, v.pos + 1, v.end).upper()
    ref = v.ref + body
    alt = {"DEL": v.ref, "DUP": ref + body, "INV": v.ref + reverse_complement(body)}[kind]
    return ref, alt, ""


def _inserted(v: Variant) -> str:
    for key in ("SVINSSEQ", "INSSEQ"):
        seq = v.info.get(key)
        if isinstance(seq, (tuple, list)):
            seq = seq[v.alt_index - 1] if len(seq) >= v.alt_index else (seq[0] if seq else None)
        if isinstance(seq, str) and seq and set(seq.upper()) <= set("ACGTN"):
            return seq.upper()
    return ""


def fits(ref: str, alt: str, window: int) -> bool:
    """Is the change short enough to score in a window of ``window`` bp? The windows hold the left flank
    (``window // 2`` bases) and then the allele: both alleles must fit in the right half, so the windows
    still show bases after the change."""
    return max(len(ref), len(alt)) <= window - window // 2
