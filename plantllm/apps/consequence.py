"""Variant consequences from the species annotation, SnpEff-standard.

``ConsequenceAnnotator.effects`` gives one ``AnnEntry`` per allele x transcript within 5 kb (plus the
intergenic region when no transcript body is hit), with SnpEff 5.1's effect terms, IMPACT classes,
ranks, HGVS.c/HGVS.p, cDNA/CDS/AA positions and distances, sorted as SnpEff sorts its ``ANN`` field;
``annotate`` keeps the one-record API scoring uses: the first term of ``ANN[0]``, its gene and transcript.

SnpEff's conventions, followed on purpose (benchmarks/snpeff_agreement.py measures the agreement):
splice donor/acceptor = the 2 intronic bases at an exon junction, splice region = 3 exonic bases and
intronic bases 3..8 on both sides; indels are shifted to their most 3' position within the transcript
before their effect is computed (``INFO_REALIGN_3_PRIME``); insertions are located at the base after
the VCF anchor; deletions count only the coding bases they remove; start codons are the standard
table's ATG/CTG/TTG. GTF ``stop_codon`` features join the CDS (GTF CDS lines exclude them); GFF3
primary transcripts of miRNAs (parents of the mature miRNA) are kept as transcripts. Indels shift 3' within the
merged span of overlapping genes (SnpEff's stored sequence); a deletion over 10 bp from one gene into another
gets SnpEff's gene_fusion entry (``gene_fusion``); an exon deleted whole is exon_loss_variant only when the
deletion reaches the CDS (``coding.exon_loss``). ``snpeff_compatible=True`` copies SnpEff's reader convention
for transcripts without a CDS line instead of the annotation's (``snpeff_compat``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from plantllm.apps.coding import coding_effects, exon_loss, start_gained, utr_distance
from plantllm.apps.effects import TERM_RANK, AnnEntry, lof_nmd
from plantllm.apps.gene_fusion import STRUCTURAL, GeneSpans, fusion_entries
from plantllm.apps.snv_sites import AlleleAnn, LazyEntries, SnvSite, top_of
from plantllm.apps import snpeff_compat
from plantllm.apps.tx_model import Blocks, TxModel
from plantllm.core.intervals import IntervalIndex, merge
from plantllm.species.annotation import Transcript, locus_of
from plantllm.species.assembly import Assembly

UPDOWN = 5000  # SnpEff's default up/downstream reach (-ud)
#: every SnpEff SO term, most severe first (SnpEff's ANN ordering)
SEVERITY = tuple(TERM_RANK)
RANK = TERM_RANK


@dataclass(frozen=True)
class Consequence:
    """The most severe consequence (SnpEff's ANN[0]) of one ALT, with all its ANN entries."""

    term: str
    gene: str = ""
    transcript: str = ""
    codon_change: str = ""  # e.g. Gcc/Acc
    aa_change: str = ""  # e.g. A123T
    distance_to_tss: int = -1  # bases from the transcript's TSS (strand-aware sign: - upstream)
    impact: str = "MODIFIER"
    entries: tuple = field(default=(), compare=False, repr=False)


class ConsequenceAnnotator:
    """Consequences for variants of one assembly (build once, query many)."""

    def __init__(self, asm: Assembly, updown: int = UPDOWN, existing=None, snpeff_compatible: bool = False):
        """``existing``: an ``annotate_vcf.ExistingAnnotation`` (``--use-existing-annotation``): a variant whose
        INFO carries the VCF's own ANN/CSQ takes its consequence from there instead of being recomputed.
        ``snpeff_compatible``: copy SnpEff 5.1's reader convention (``snpeff_compat``: a transcript whose
        biotype SnpEff reads as protein coding is translated from its exons when the annotation gives it no
        CDS; SnpEff's biotypes and transcript warnings), not the annotation."""
        self.asm, self.genome, self.updown, self.existing = asm, asm.genome, updown, existing
        self.compat = snpeff_compatible
        self._warnings: dict[int, str] = {}
        ann = asm.annotation
        self.gene_of: dict[str, tuple[str, str, str]] = {}  # transcript id -> (locus, name, gene biotype)
        self.n_tx: dict[str, int] = {}
        for g in ann.genes:
            for t in g.transcripts:
                self.gene_of[t.id] = (g.locus, g.name, g.biotype)
            self.n_tx[g.locus] = self.n_tx.get(g.locus, 0) + len(g.transcripts)
        txs = list(ann.transcripts) + self._primary_transcripts()
        self.stops = self._gtf_stop_codons() if ann.format == "gtf" else {}
        self.tx: list[Transcript] = sorted(txs, key=lambda t: (t.chrom, t.start, t.end, t.id))
        self.canonical = self._snpeff_canonical()
        self.index = IntervalIndex((t.chrom, t.start - updown, t.end + updown) for t in self.tx)
        self.body = IntervalIndex((t.chrom, t.start, t.end) for t in self.tx)
        self._models: dict[int, TxModel] = {}
        self.seq = Blocks(asm.genome)
        self._statics: dict[int, tuple] = {}
        self._flank_forms: dict[tuple[int, bool], tuple] = {}
        self._site: SnvSite | None = None  # the last SNV site asked for

    # ------------------------------------------------------------ annotation extras
    def _primary_transcripts(self) -> list[Transcript]:
        """GFF3 primary transcripts with exons that are parents of mature miRNAs: the annotation treats
        a parent of transcripts as a gene, SnpEff keeps them (a pri-miRNA is transcribed)."""
        ann = self.asm.annotation
        if ann.format == "gtf":
            return []
        con = ann.db.conn
        rows = con.execute("SELECT f.id, f.seqid, f.start, f.end, f.strand, f.featuretype, r.parent FROM features f "
                           "JOIN relations r ON r.child = f.id AND r.level = 1 WHERE f.featuretype = "
                           "'primary_transcript'").fetchall()
        have = {t.id for t in ann.transcripts}
        out = []
        for fid, seqid, start, end, strand, ftype, parent in rows:
            if fid in have or parent not in {g.id for g in ann.genes if g.chrom}:
                continue
            exons = sorted((s - 1, e) for s, e in con.execute(
                "SELECT f.start, f.end FROM features f JOIN relations r ON r.child = f.id AND r.level = 1 "
                "WHERE r.parent = ? AND f.featuretype = 'exon'", (fid,)))
            canon = self.asm.card.try_canonical(seqid)
            if exons and canon:
                gene = next(g for g in ann.genes if g.id == parent)
                out.append(Transcript(fid, parent, canon, start - 1, end, strand, "primary_transcript", tuple(exons)))
                self.gene_of[fid] = (gene.locus, gene.name, gene.biotype)
                self.n_tx[gene.locus] = self.n_tx.get(gene.locus, 0) + 1
        return out

    def _snpeff_canonical(self) -> set[int]:
        """Indices (in ``self.tx``) of each gene's canonical transcript by SnpEff's rule (``Gene.canonical``,
        which ``VariantEffect.compareTo`` sorts first among entries of equal impact and effect): the longest
        CDS of a coding gene, else the longest spliced transcript; equal lengths: the smaller ID. Not the
        annotation's ``Gene.canonical`` (tags first): the ANN order must be SnpEff's."""
        best: dict[tuple, tuple] = {}
        for i, t in enumerate(self.tx):
            cds = list(t.cds) + self.stops.get(t.id, []) if t.cds else []
            n = sum(e - s for s, e in (merge(cds) if cds else t.exons))
            coding = snpeff_compat.is_coding(t) if self.compat else bool(t.cds)
            key = (coding, n, tuple(-ord(c) for c in t.id) + (1,))  # Java String order, smaller first
            g = (t.chrom, t.gene_id)
            if g not in best or key > best[g][0]:
                best[g] = (key, i)
        return {i for _, i in best.values()}

    def _gtf_stop_codons(self) -> dict[str, list[tuple[int, int]]]:
        """GTF ``stop_codon`` intervals by transcript id (GTF CDS lines end before the stop codon)."""
        out: dict[str, list[tuple[int, int]]] = {}
        for start, end, parent in self.asm.annotation.db.conn.execute(
                "SELECT f.start, f.end, r.parent FROM features f JOIN relations r ON r.child = f.id AND r.level = 1 "
                "WHERE f.featuretype = 'stop_codon'"):
            out.setdefault(parent, []).append((start - 1, end))
        return out

    def model(self, i: int) -> TxModel:
        m = self._models.get(i)
        if m is None:
            if len(self._models) > 20_000:  # bounded: a genome's worth of CDS sequences is not kept
                self._models.clear()
            t = self.tx[i]
            cds = tuple(merge(list(t.cds) + self.stops[t.id])) if t.cds and t.id in self.stops else \
                snpeff_compat.coding_model(t) if self.compat else None
            m = self._models[i] = TxModel(t, self.seq, cds)
        return m

    # ------------------------------------------------------------ queries
    def nearby(self, chrom: str, pos: int) -> list[Transcript]:
        return [self.tx[i] for i in sorted(self.index.containing(chrom, pos).tolist())]

    def annotate_variant(self, v) -> Consequence:
        """``annotate`` of a ``species.vcf.Variant`` (its INFO read when an existing annotation is used)."""
        return self.annotate(v.chrom, v.pos, v.ref, v.alt, v.end if v.end > 0 else None, info=v.info)

    def annotate(self, chrom: str, pos: int, ref: str, alt: str, end: int | None = None,
                 info: dict | None = None) -> Consequence:
        """Most severe consequence of REF>ALT at 0-based ``pos`` (SnpEff's ANN[0]); when the ALT's entries were
        formatted already (``shared``), its ``entries`` are computed when first read."""
        if self.existing is not None and info:
            c = self.existing.most_severe(info, alt)
            if c is not None:
                return c
        got = self.shared(chrom, pos, ref, alt, end)
        if got is None:  # ANN[0] alone: the entries are not formatted
            entries = tuple(self.effects(chrom, pos, ref, alt, end))
            top = top_of(entries[0])
        else:
            top, entries = got.top, LazyEntries(self.effects, (chrom, pos, ref, alt, end))
        term, gene, ftype, fid, codon, aa, impact = top
        dist = -1
        if ftype == "transcript":
            t = self._by_id.get(fid)
            if t is not None:
                dist = (pos - t.tss) if t.strand != "-" else (t.tss - pos)
        return Consequence(term, gene, fid if ftype == "transcript" else "", codon, aa, dist, impact, entries)

    def shared(self, chrom: str, pos: int, ref: str, alt: str, end: int | None = None) -> AlleleAnn | None:
        """The ``allele_ann`` of this ALT already made for another output (``variant_ann.SharedEffects``), or None."""
        return None

    def allele_ann(self, chrom: str, pos: int, ref: str, alt: str, end: int | None = None) -> AlleleAnn:
        """``effects`` of one ALT as formatted ANN entries (``snv_sites.AlleleAnn``): an SNV's from its site's
        cache (``snv_sites``), which the ALTs of the site share, anything else's from ``effects``."""
        if not (alt.startswith("<") or alt == "*"):
            s, r, a = _trim(pos, ref.upper(), alt.upper())
            if len(r) == 1 and len(a) == 1:
                site = self._site
                if site is None or site.key != (chrom, s, r):
                    site = self._site = SnvSite(self, chrom, s, r, alt, a)
                return site.allele(self, alt, a)
        return AlleleAnn.of(self.effects(chrom, pos, ref, alt, end))

    @property
    def _spans(self) -> GeneSpans:
        d = self.__dict__.get("_genespans")
        if d is None:
            d = self.__dict__["_genespans"] = GeneSpans(self.tx, self.gene_of)
        return d

    @property
    def _by_id(self) -> dict[str, Transcript]:
        d = self.__dict__.get("_byid")
        if d is None:
            d = self.__dict__["_byid"] = {locus_of(t.id): t for t in self.tx}
        return d

    def lof_nmd(self, entries: list[AnnEntry]) -> tuple[list[str], list[str]]:
        return lof_nmd(entries, self.n_tx)

    def effects(self, chrom: str, pos: int, ref: str, alt: str, end: int | None = None) -> list[AnnEntry]:
        """All ANN entries of one ALT (0-based ``pos``), SnpEff-sorted. Symbolic ALTs (``<DEL>``...) are
        annotated over their reference span ``[pos + 1, end)`` (``end`` = the VCF's END)."""
        allele = alt
        if alt.startswith("<") or alt == "*":
            s, e = pos + 1, max(end if end is not None else pos + 1, pos + 1)
            kind = "sv_" + alt.strip("<>").split(":")[0].lower()
            r, a = "", ""
            if kind == "sv_ins" or e == s:
                e = s
        else:
            s, r, a = _trim(pos, ref.upper(), alt.upper())
            e = s + len(r)
            kind = ("snv" if len(r) == 1 else "mnv") if len(r) == len(a) else "ins" if not r else \
                "del" if not a else "delins"
        hs, he = (s, e) if e > s else (s, s + 1)
        out: list[AnnEntry] = []
        for i in sorted(self.index.overlapping(chrom, hs, he).tolist()):
            t = self.tx[i]
            if he <= t.start or hs >= t.end:
                x = self._flank(i, allele, s, e, r, a, hs, he)
                if x is not None:
                    out.append(x)
            else:
                out += self._inside(i, allele, s, e, r, a, kind)
        if kind in ("del", "sv_del") and e - s > STRUCTURAL:  # SnpEff: a structural deletion may fuse two genes
            out += fusion_entries(self._spans, chrom, allele, s, e, r)
        if not self.body.any_overlap(chrom, hs, he):
            out.append(self._intergenic(chrom, allele, hs, he, s, r, a))
        out.sort(key=AnnEntry.sort_key)
        return out

    # ------------------------------------------------------------ one transcript
    def _entry(self, i: int, allele: str, effects: list[str], **kw) -> AnnEntry:
        name, locus, fid, biotype, start, end = self._static(i)
        if self.compat:  # SnpEff's transcript warning first (VariantEffect.setMarker), then INFO_REALIGN_3_PRIME
            w = self._warnings.get(i)
            if w is None:
                m = self.model(i)
                w = self._warnings[i] = snpeff_compat.warning(m) if m.coding and snpeff_compat.is_coding(
                    self.tx[i]) else ""
            if w:
                kw["errors"] = [w] + list(kw.get("errors") or ())
        return AnnEntry(allele, effects, name, locus, "transcript", fid, biotype, tx_start=start, tx_end=end,
                        canonical=i in self.canonical, **kw)

    def _static(self, i: int) -> tuple:
        """(gene name, gene locus, transcript ID, biotype, start, end) of transcript ``i``, computed once."""
        got = self._statics.get(i)
        if got is None:
            t = self.tx[i]
            locus, name, gbio = self.gene_of.get(t.id, (locus_of(t.gene_id), locus_of(t.gene_id), ""))
            biotype = snpeff_compat.biotype(t) if self.compat else "protein_coding" if t.cds else \
                snpeff_compat.pseudo_biotype(gbio) or \
                (gbio if gbio and t.biotype in ("transcript", "misc_RNA") else t.biotype)
            got = self._statics[i] = (name, locus, locus_of(t.id), biotype, t.start, t.end)
        return got

    def _flank(self, i, allele, s, e, r, a, hs, he) -> AnnEntry | None:
        t = self.tx[i]
        minus = t.strand == "-"
        if he <= t.start:
            d, five = t.start - he + 1, not minus
        else:
            d, five = hs - t.end + 1, minus
        if d > self.updown:
            return None
        return self._entry(i, allele, ["UPSTREAM" if five else "DOWNSTREAM"], lazy=(self._hgvs, (i, s, e, r, a)),
                           distance=str(d))

    def flank_form(self, i: int, five: bool) -> tuple:
        """What the SNVs up- (``five``) or downstream of transcript ``i`` share in their entry of it, made once per
        transcript and side from an entry ``_entry`` makes: (sort key, ``top_of`` it, the text from the allele to
        HGVS.c's number, the number's offset from the distance, the text from HGVS.c's end to the distance, the
        text after the distance, minus strand). ``snv_sites.SnvSite`` writes a position's entry from it
        (``_flank`` + ``_hgvs``'s substitution, formatted: the site cache's tests compare the two)."""
        got = self._flank_forms.get((i, five))
        if got is None:
            if len(self._flank_forms) > 40_000:  # bounded like the models
                self._flank_forms.clear()
            m = self.model(i)
            e = self._entry(i, "", ["UPSTREAM" if five else "DOWNSTREAM"])
            f = e.format().split("|")
            # TxModel._hgvs_pos of a base beyond the transcript: -(d + 5' UTR) before it, *(d + 3' UTR) after it
            off = (m.cds_start_cdna - 1 if five else m.cdna_len - m.cds_end_cdna) if m.coding else 0
            head = "|" + "|".join(f[1:9]) + "|" + ("c." if m.coding else "n.") + ("-" if five else "*")
            got = self._flank_forms[(i, five)] = (e.sort_key(), top_of(e), head, off, "|" + "|".join(f[10:14]) + "|",
                                                  "|" + f[15], m.minus)
        return got

    def _hgvs(self, i: int, s: int, e: int, r: str, a: str) -> str:
        return self.model(i).hgvs_c(s, e, r, a)

    def _inside(self, i, allele, s, e, r, a, kind) -> list[AnnEntry]:
        m = self.model(i)
        t = self.tx[i]
        errors = []
        if kind in ("ins", "del") and not m.minus:  # SnpEff shifts within plus-strand genes only
            s2, e2, r, a = _shift(self.seq, t, m.minus, s, e, r, a, self._spans.window(t.chrom, s, e))
            if s2 != s:
                errors.append("INFO_REALIGN_3_PRIME")
            s, e = s2, e2
        hs, he = (s, e) if e > s else (s, s + 1)
        effects: list[str] = []
        separate: list[AnnEntry] = []
        k0 = m.exon_index(hs)
        if k0 >= 0 and he <= m.exons[k0][1]:  # inside one exon (most variants): no intron to look for
            exon_hits, intron_hits = [k0], []
        else:
            exon_hits = [k for k, (x, y) in enumerate(m.exons) if x < he and y > hs]
            intron_hits = [j for j, (x, y) in enumerate(m.introns) if x < he and y > hs]
        rank = ""
        if intron_hits:
            effects.append("INTRON")
            rank = f"{m.intron_rank(intron_hits[0])}/{len(m.introns)}"
        core = False
        for kind_s, x, y, _ in (m.splice if m.near_junction(hs, he) else ()):
            if x < he and y > hs:
                effects.append({"donor": "SPLICE_SITE_DONOR", "acceptor": "SPLICE_SITE_ACCEPTOR"}.get(
                    kind_s, "SPLICE_SITE_REGION"))
                core |= kind_s != "region"
        info: dict = {}
        if exon_hits:
            rank = f"{m.exon_rank(exon_hits[0])}/{len(m.exons)}"
            whole = [k for k in exon_hits if hs <= m.exons[k][0] and m.exons[k][1] <= he]
            if kind.startswith("sv_") or (kind == "del" and whole):
                loss = "TRANSCRIPT_DELETED" if hs <= t.start and he >= t.end else \
                    exon_loss(m, whole[0], hs, he, len(exon_hits)) if kind == "del" else "EXON_DELETED"
                effects += [loss] if loss else []
            if not m.coding:
                effects.append("EXON")
            else:
                regions = {m.region(g) for g in range(hs, he) if m.exon_index(g) >= 0} if he - hs < 10_000 else \
                    {"cds", "utr5", "utr3"}
                if "cds" in regions and not kind.startswith("sv_"):
                    info = coding_effects(m, kind, s, e, r, a)
                    effects += info.pop("effects")
                for reg, eff in (("utr5", "UTR_5_PRIME"), ("utr3", "UTR_3_PRIME")):
                    if reg in regions and "cds" not in regions:
                        dist = utr_distance(m, reg, hs, he)
                        separate.append(self._entry(i, allele, [eff], rank=rank, lazy=(m.hgvs_c, (s, e, r, a)),
                                                    distance=str(dist), errors=errors))
                        if dist == 1 and (len(a) - len(r)) % 3:  # SnpEff: a frame shift next to the CDS
                            separate.append(self._entry(i, allele, ["FRAME_SHIFT_BEFORE_CDS_START" if reg == "utr5"
                                                                    else "FRAME_SHIFT_AFTER_CDS_END"], rank=rank,
                                                        lazy=(m.hgvs_c, (s, e, r, a)), errors=errors))
                        if reg == "utr5" and kind == "snv" and start_gained(m, s, a):
                            separate.append(self._entry(i, allele, ["START_GAINED"], rank=rank,
                                                        lazy=(m.hgvs_c, (s, e, r, a)), errors=errors))
        if not effects and not separate:
            effects.append("TRANSCRIPT" if not m.coding else "INTRON")
        out = separate
        if effects:
            out.append(self._entry(i, allele, effects, rank=rank, lazy=(m.hgvs_c, (s, e, r, a)), errors=errors,
                                   core_splice=core, **info))
        return out

    def _intergenic(self, chrom, allele, hs, he, s, r, a) -> AnnEntry:
        """SnpEff's intergenic_region entry: named after the nearest genes on both sides (within 10 x the
        up/downstream reach of the site's flanks: 55 kb); ``[hs, he)`` overlaps no transcript."""
        reach = 11 * self.updown
        i, j = self.body.flanking(chrom, hs, he)  # ids are positions in self.tx
        left = self.tx[i] if i >= 0 and self.tx[i].end > hs - reach else None
        right = self.tx[j] if j >= 0 and self.tx[j].start < he + reach else None
        names = [self.gene_of.get(t.id, (locus_of(t.gene_id),) * 2)[0] for t in (left, right) if t is not None]
        name = "-".join(names) or "CHR_START-CHR_END"
        hg = f"n.{s + 1}{r}>{a}" if len(r) == 1 and len(a) == 1 else ""
        return AnnEntry(allele, ["INTERGENIC"], name, name, "intergenic_region", name, hgvs_c=hg,
                        tx_start=-1, tx_end=-1)


def has_effects(ref: str, alt: str) -> bool:
    """Whether a VCF ALT gets ANN entries: not a breakend, the spanning deletion ``*``, a missing ``.``, or a
    copy of the REF (no change; the VCF reader counts those)."""
    return not ("[" in alt or "]" in alt or alt in ("*", ".") or alt.upper() == ref.upper())


def _trim(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Remove the bases REF and ALT share at the start, then at the end (SnpEff's normalisation)."""
    k = 0
    while k < min(len(ref), len(alt)) and ref[k] == alt[k]:
        k += 1
    ref, alt, pos = ref[k:], alt[k:], pos + k
    j = 0
    while j < min(len(ref), len(alt)) and ref[-1 - j] == alt[-1 - j]:
        j += 1
    return pos, ref[:len(ref) - j], alt[:len(alt) - j]


def _shift(genome, t: Transcript, minus: bool, s: int, e: int, r: str, a: str, window: tuple | None):
    """An insertion or deletion moved to its most 3' equivalent position (SnpEff: plus-strand genes only), within
    ``window``, the merged gene segment SnpEff keeps the sequence of (none: not moved)."""
    seq = r or a
    k = len(seq)
    if window is None:
        return s, e, r, a
    lo, hi = max(window[0], s - 2000), min(window[1], e + 2000)
    win = genome.fetch(t.chrom, lo, hi).upper()
    if not minus:
        while e < hi and e - lo < len(win) and win[e - lo] == seq[0]:
            seq = seq[1:] + seq[0]
            s, e = s + 1, e + 1
    else:
        while s > lo and win[s - 1 - lo] == seq[-1]:
            seq = seq[-1] + seq[:-1]
            s, e = s - 1, e - 1
    return (s, e, seq, "") if r else (s, e, "", seq[:k])
