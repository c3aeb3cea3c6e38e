"""``plantllm variants annotate``: a VCF annotated SnpEff-style without a model, streamed in bounded memory.

Every input record comes back, in input order, with ``ANN`` (one entry per ALT x transcript, the 16
standard sub-fields, SnpEff's header text, so SnpSift and bcftools read it) and ``LOF``/``NMD`` as
SnpEff writes them; beside it a TSV (gzip) of one row per ANN entry. Symbolic alleles (``<DEL>``,
``<DUP>``, ``<INV>``, ``<INS>``, ``<CNV>``) are annotated over their reference span ``POS+1..END``
(END, else POS+|SVLEN|): a transcript the span covers whole is ``transcript_ablation``, exons it covers
``exon_loss_variant``; breakends and ``*`` get no entry. With ``use_existing`` a VCF already annotated by
SnpEff (``ANN``) or VEP (``CSQ``) keeps its annotation: nothing is recomputed and the TSV is read from it.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from plantllm.apps.consequence import Consequence, ConsequenceAnnotator, has_effects
from plantllm.apps.effects import ANN_FIELDS, ANN_HEADER, LOF_HEADER, NMD_HEADER, TERM_IMPACT, TERM_RANK
from plantllm.apps.snpeff_compat import HEADER_LINE
from plantllm.core import console as con
from plantllm.core.errors import InputFileError
from plantllm.core.io import atomic_path, require_file, tabix_index
from plantllm.species.assembly import Assembly

_OWN = ("ANN", "LOF", "NMD")


class ExistingAnnotation:
    """Consequences read from a VCF's own ``ANN`` (SnpEff) or ``CSQ`` (VEP) field, by the header's Format
    description: per ALT, the most severe entry by SnpEff's ordering (IMPACT, then term)."""

    def __init__(self, key: str, fields: list[str]):
        self.key, self.fields = key, fields
        low = [f.strip().lower() for f in fields]

        def col(*names):
            return next((low.index(n) for n in names if n in low), None)
        self.allele, self.term = col("allele"), col("annotation", "consequence")
        self.impact, self.gene = col("annotation_impact", "impact"), col("gene_id", "gene")
        self.name, self.feature = col("gene_name", "symbol"), col("feature_id", "feature")
        if self.term is None:
            raise InputFileError(f"the {key} header names no Annotation/Consequence sub-field")

    @classmethod
    def from_header(cls, header) -> "ExistingAnnotation | None":
        for key in ("ANN", "CSQ"):
            if key in header.info:
                desc = header.info[key].description or ""
                m = re.search(r"(?:Format|annotations)\s*:\s*'?([^'\"]+)'?", desc)
                if m:
                    return cls(key, [f.strip() for f in m.group(1).split("|")])
        return None

    @classmethod
    def from_vcf(cls, path: str | Path) -> "ExistingAnnotation | None":
        import pysam

        with pysam.VariantFile(str(require_file(path, "VCF"))) as vf:
            return cls.from_header(vf.header)

    def entries(self, info: dict, alt: str) -> list[list[str]]:
        raw = info.get(self.key)
        if raw is None:
            return []
        items = raw if isinstance(raw, (tuple, list)) else str(raw).split(",")
        rows = [str(x).split("|") for x in items if x]
        if self.allele is not None:
            mine = [r for r in rows if len(r) > self.allele and r[self.allele] in (alt, alt[1:] or "-")]
            rows = mine or rows
        return rows

    def most_severe(self, info: dict, alt: str) -> Consequence | None:
        rows = self.entries(info, alt)

        def key(r):
            terms = [t for t in re.split(r"[&,]", r[self.term]) if t]
            best = min((TERM_RANK.get(t, len(TERM_RANK)) for t in terms), default=len(TERM_RANK))
            imp = r[self.impact] if self.impact is not None and self.impact < len(r) else ""
            return (("HIGH", "MODERATE", "LOW", "MODIFIER").index(imp) if imp in TERM_IMPACT.values() else 4, best)
        if not rows:
            return None
        r = min(rows, key=key)
        terms = sorted((t for t in re.split(r"[&,]", r[self.term]) if t), key=lambda t: TERM_RANK.get(t, 999))

        def get(i):
            return r[i] if i is not None and i < len(r) else ""
        return Consequence(terms[0] if terms else "", get(self.gene), get(self.feature),
                           impact=get(self.impact) or TERM_IMPACT.get(terms[0] if terms else "", "MODIFIER"))


def annotate_vcf(asm: Assembly, vcf: str | Path, out: str | Path, tsv: str | Path | None = None,
                 use_existing: bool = False, annotator: ConsequenceAnnotator | None = None,
                 snpeff_compatible: bool = False) -> dict:
    """Write ``out`` (bgzipped VCF + .tbi) and ``tsv`` (default: OUT without .vcf.gz + .ann.tsv.gz).
    ``snpeff_compatible``: SnpEff 5.1's reader convention instead of the annotation's (``snpeff_compat``)."""
    import pysam

    vcf, out = require_file(vcf, "VCF"), Path(out)
    name = out.name.removesuffix(".gz").removesuffix(".vcf")
    tsv = Path(tsv) if tsv else out.with_name(name + ".ann.tsv.gz")
    pysam.set_verbosity(0)
    try:
        vin = pysam.VariantFile(str(vcf))
    except (OSError, ValueError) as e:
        raise InputFileError(f"cannot read VCF header ({e})", path=vcf) from None
    existing = ExistingAnnotation.from_header(vin.header) if use_existing else None
    if use_existing and existing is None:
        con.warn(f"{vcf}: no ANN or CSQ annotation in the header: computing the annotation")
    ann = None if existing else (annotator or ConsequenceAnnotator(asm, snpeff_compatible=snpeff_compatible))
    stats = {"records": 0, "alleles": 0, "entries": 0, "unknown_chromosome": 0, "ref_mismatch": 0,
             "symbolic": 0, "source": existing.key if existing else "plantllm"}
    with atomic_path(out) as tmp, atomic_path(tsv) as tmp_tsv:
        with pysam.BGZFile(str(tmp), "wb") as w, gzip.open(tmp_tsv, "wt") as t:
            w.write(_header_text(vin.header, asm, existing is None, ann is not None and ann.compat).encode())
            fields = existing.fields if existing is not None and existing.key != "ANN" else ANN_FIELDS  # VEP: its own
            t.write("\t".join(["CHROM", "POS", "REF", "ALT", *fields]) + "\n")
            for rec in con.track(vin, "annotating", unit="records"):
                stats["records"] += 1
                line = str(rec).rstrip("\n")
                if existing is not None:
                    for alt in rec.alts or ():
                        for r in existing.entries(dict(rec.info), alt):
                            t.write("\t".join([rec.chrom, str(rec.pos), rec.ref, alt, *r]) + "\n")
                            stats["entries"] += 1
                    w.write((line + "\n").encode())
                    continue
                w.write((_annotated(line, rec, asm, ann, t, stats) + "\n").encode())
        tabix_index(tmp, out, preset="vcf")
    vin.close()
    return {**stats, "vcf": str(out), "tsv": str(tsv)}


def _annotated(line: str, rec, asm: Assembly, ann: ConsequenceAnnotator, t, stats: dict) -> str:
    cols = line.split("\t")
    canon = asm.card.try_canonical(rec.chrom)
    texts: list[str] = []
    coding: list = []  # the entries LOF/NMD can count
    if canon is None or canon not in asm.genome.chromosomes(nuclear_only=False):
        stats["unknown_chromosome"] += 1
    else:
        ref = rec.ref.upper()
        if set(ref) <= set("ACGT") and asm.genome.fetch(canon, rec.start, rec.start + len(ref)).upper() != ref:
            stats["ref_mismatch"] += 1
        for alt in rec.alts or ():
            if not has_effects(ref, alt):
                continue
            stats["alleles"] += 1
            end = None
            if alt.startswith("<"):
                stats["symbolic"] += 1
                end = _sv_end(rec, alt)
            got = ann.allele_ann(canon, rec.start, ref, alt, end)  # an SNV's from its site's cache (snv_sites)
            texts += got.texts
            coding += got.coding
    keep = [x for x in cols[7].split(";") if x != "." and x.split("=", 1)[0] not in _OWN]
    if texts:
        keep.append("ANN=" + ",".join(texts))
        lof, nmd = ann.lof_nmd(coding)
        if lof:
            keep.append("LOF=" + ",".join(lof))
        if nmd:
            keep.append("NMD=" + ",".join(nmd))
        for x in texts:
            f = x.split("|")
            t.write("\t".join([rec.chrom, str(rec.pos), rec.ref, f[0], *f]) + "\n")
        stats["entries"] += len(texts)
    cols[7] = ";".join(keep) or "."
    return "\t".join(cols)


def _sv_end(rec, alt: str) -> int:
    """0-based exclusive end of a symbolic allele's reference span: END, else POS + |SVLEN|."""
    end = rec.info.get("END") if "END" in rec.header.info else None
    if end is None:
        try:
            end = rec.stop if rec.stop > rec.pos else None
        except Exception:
            end = None
    if end is None and "SVLEN" in rec.header.info and rec.info.get("SVLEN") is not None:
        v = rec.info["SVLEN"]
        v = v[0] if isinstance(v, (tuple, list)) else v
        end = rec.pos + abs(int(v)) if not alt.startswith("<INS") else rec.pos
    return int(end) if end is not None else rec.pos


def _header_text(header, asm: Assembly, own: bool, compat: bool = False) -> str:
    lines = str(header).rstrip("\n").split("\n")
    body, last = lines[:-1], lines[-1]
    if own:
        body = [x for x in body if not any(x.startswith(f"##INFO=<ID={k},") for k in _OWN)]
        body += ["##SnpEffVersion=\"plantllm (SnpEff 5.1-compatible ANN)\"",
                 f'##INFO=<ID=ANN,Number=.,Type=String,Description="{ANN_HEADER}">',
                 f'##INFO=<ID=LOF,Number=.,Type=String,Description="{LOF_HEADER}">',
                 f'##INFO=<ID=NMD,Number=.,Type=String,Description="{NMD_HEADER}">']
        if compat:  # say which convention made the ANN: SnpEff's reader, not the annotation
            body.append(HEADER_LINE)
    if not any(x.startswith("##contig=") for x in body):  # bcftools wants them; VCFs often lack them
        body += [f"##contig=<ID={asm.genome.file_name(c)},length={asm.genome.length(c)}>"
                 for c in asm.genome.chromosomes(nuclear_only=False)]
    return "\n".join(body + [last]) + "\n"
