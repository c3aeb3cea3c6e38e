"""The ANN entries of the SNVs of one site, with what the ALT does not change computed once per site.

The ALTs of one site (a saturation VCF has three per position) differ in their ANN entries only in the allele,
the last base of HGVS.c and, for a transcript whose CDS or 5' UTR holds the site, the coding change (codon,
HGVS.p, effect) or a gained start codon. ``SnvSite`` keeps, per site, every other entry as its formatted text
cut around the ALT base of HGVS.c (a ``Template``): an up/downstream entry (most entries of a site) straight
from what its transcript's entries share at every position (``flank_form``), an intron, splice region,
3' UTR, non-coding exon or intergenic entry from the first ALT's entry made by ``ConsequenceAnnotator``'s own
per-transcript code. That code runs per ALT for the CDS and 5' UTR transcripts only, and a CDS entry of a
site's later ALTs is written from the first ALT's (``CodingForm``). The entries come out in the order that code
sorts them (``AnnEntry.sort_key``, ties in insertion order), so the ANN text is the same byte for byte (the tests
compare the two paths on every SNV of the test genome slice).

Written here, not in a library: SnpEff itself recomputes each ALT from scratch; this is only a cache of our
own annotator's results.
"""

from __future__ import annotations

from collections.abc import Sequence

from plantllm.apps.coding import coding_effects
from plantllm.apps.effects import AnnEntry, entry_terms
from plantllm.core.sequence import reverse_complement as _rc



def ends_in_change(f: list[str], minus: bool, r: str, a: str) -> bool:
    """Does the ANN entry ``f`` (its 16 fields) have an HGVS.c ending in the substitution REF ``r`` > ALT ``a``
    (upper case; complemented on a minus-strand transcript), so that its text can be cut around the ALT base?"""
    return len(f) == 16 and f[9].endswith((_rc(r) + ">" + _rc(a)) if minus else (r + ">" + a))


class Template:
    """One entry whose text depends on the ALT only through the allele and HGVS.c's last base."""

    __slots__ = ("head", "tail", "minus", "top")

    def __init__(self, head: str, tail: str, minus: bool, top: tuple):
        self.head, self.tail, self.minus, self.top = head, tail, minus, top

    def text(self, allele: str, a: str) -> str:
        return allele + self.head + (_rc(a) if self.minus else a) + self.tail

    @classmethod
    def of(cls, e: AnnEntry, minus: bool, r: str, a: str, text: str | None = None) -> "Template | None":
        """The template of entry ``e`` (``text``: its format, when made already) made for REF ``r`` > ALT ``a``
        (upper case); None when its HGVS.c does not end in that substitution (then the entry is computed per
        ALT)."""
        f = (text or e.format()).split("|")
        if not ends_in_change(f, minus, r, a) or e.codon_change or e.cds:
            return None
        return cls("|" + "|".join(f[1:9]) + "|" + f[9][:-1], "|" + "|".join(f[10:]), minus, top_of(e))


class Ready(Template):
    """An entry written for one ALT already (``CodingForm.entry``)."""

    __slots__ = ("done",)

    def __init__(self, done: str, top: tuple):
        self.done, self.top = done, top

    def text(self, allele: str, a: str) -> str:
        return self.done


#: effect types ``lof_nmd`` may count: an entry with one keeps its ``AnnEntry``
LOF_TYPES = frozenset({"STOP_GAINED", "START_LOST", "SPLICE_SITE_ACCEPTOR", "SPLICE_SITE_DONOR", "FRAME_SHIFT"})


class CodingForm:
    """What the CDS entries of one transcript share at one SNV site (all but the effect, HGVS.c's last base and
    HGVS.p), from the first ALT's entry ``e``: its other ALTs' entries are written without an entry object."""

    __slots__ = ("mid", "tail", "key", "gene", "fid", "minus")

    def __init__(self, e: AnnEntry, minus: bool, mid: str, tail: str):
        self.mid, self.tail, self.key, self.minus = mid, tail, e.sort_key()[2:], minus
        self.gene, self.fid = e.gene_id, e.feature_id

    @classmethod
    def of(cls, e: AnnEntry, minus: bool, r: str, a: str) -> "CodingForm | None":
        """None when the entry's HGVS.c does not end in the substitution REF ``r`` > ALT ``a``."""
        f = e.format().split("|")
        if not ends_in_change(f, minus, r, a):
            return None
        return cls(e, minus, "|" + "|".join(f[3:9]) + "|" + f[9][:-1], "|" + "|".join(f[11:]))

    def entry(self, allele: str, a: str, effects: list[str], info: dict) -> tuple[tuple, Ready]:
        """(sort key, entry) of ALT ``a`` whose coding change is ``info`` (``coding.snv_coding``), ``effects`` all
        of the entry's effect types: what ``_entry(...).format()`` and ``sort_key()`` give."""
        annotation, impact, rank, top = entry_terms(effects)
        text = (allele + "|" + annotation + "|" + impact + self.mid + (_rc(a) if self.minus else a) + "|"
                + info["hgvs_p"] + self.tail)
        return (rank, top) + self.key, Ready(text, (annotation.split("&")[0], self.gene, "transcript", self.fid,
                                                    info.get("codon_change", ""), info.get("aa_short", ""), impact))


def top_of(e: AnnEntry) -> tuple:
    """What ``ConsequenceAnnotator.annotate`` reads from ANN[0]."""
    return e.term, e.gene_id, e.feature_type, e.feature_id, e.codon_change, e.aa_short, e.impact


class AlleleAnn:
    """The ANN of one ALT: ``texts`` (formatted entries, SnpEff's order), ``coding`` (the entries LOF/NMD can
    count, in the same order: every entry not made from a template, whose text never has a CDS position) and
    ``top`` (``top_of`` ANN[0]; None without entries)."""

    __slots__ = ("texts", "coding", "top")

    def __init__(self, texts: list[str], coding: list[AnnEntry], top: tuple | None):
        self.texts, self.coding, self.top = texts, coding, top

    @classmethod
    def of(cls, entries: list[AnnEntry]) -> "AlleleAnn":
        return cls([e.format() for e in entries], entries, top_of(entries[0]) if entries else None)


class SnvSite:
    """The SNVs of REF ``r`` at 0-based ``s`` (after trimming) of one chromosome, for one annotator ``ann``; made
    from the first ALT asked for (``allele`` as the VCF writes it, ``a`` its upper-case base), whose entries are
    kept and become templates when a second ALT of the site is asked for (a site of one ALT pays no template)."""

    def __init__(self, ann, chrom: str, s: int, r: str, allele: str, a: str):
        self.key, self.first = (chrom, s, r), (allele, a)
        # (sort key, order, j, entry of the first ALT -> its Template, (transcript or -1: intergenic, flank))
        self.fixed: list[list] = []
        self.dynamic: list[tuple[int, int, bool]] = []  # (order, transcript or -1, False): computed per ALT
        self.templates: list[Template] | None = None
        self.texts: dict[int, str] = {}  # id of a fixed entry of the first ALT -> its text, once written
        # transcript whose CDS holds the site -> [splice effects, rank, core, the first ALT's entry -> its CodingForm]
        self.coding: dict[int, list] = {}
        hs, he = s, s + 1
        order = 0
        forms, reach, rc_r = ann._flank_forms, ann.updown, _rc(r)
        for order, i in enumerate(sorted(ann.index.overlapping(chrom, hs, he).tolist())):
            t = ann.tx[i]
            # up/downstream (most entries): a template straight from what the transcript's such entries share
            # (``ConsequenceAnnotator.flank_form``), without an entry object or an HGVS look-up
            if s < t.start:
                d, five = t.start - s, t.strand != "-"
            elif s >= t.end:
                d, five = s - t.end + 1, t.strand == "-"
            else:
                d = -1
            if d >= 0:
                if d <= reach:
                    key, top, head, off, mid, tail, minus = forms.get((i, five)) or ann.flank_form(i, five)
                    self.fixed.append([key, order, 0, Template(head + str(d + off) + (rc_r if minus else r) + ">",
                                                               mid + str(d) + tail, minus, top), (i, True)])
                continue
            m = ann.model(i)
            if m.coding and m.exon_index(s) >= 0 and m.region(s) in ("cds", "utr5"):
                self.dynamic.append((order, i, False))
                continue
            entries = ann._inside(i, allele, s, he, r, a, "snv")
            self.fixed += [[e.sort_key(), order, j, e, (i, False)] for j, e in enumerate(entries)]
        if not ann.body.any_overlap(chrom, hs, he):
            e = ann._intergenic(chrom, allele, hs, he, s, r, a)
            self.fixed.append([e.sort_key(), order + 1, 0, e, (-1, False)])
        self.fixed.sort(key=lambda x: (x[0], x[1], x[2]))

    def _templates(self, ann) -> list[Template]:
        """The fixed entries as templates; a transcript with an entry that is not one is computed per ALT."""
        chrom, s, r = self.key
        bad = set()
        for x in self.fixed:
            if isinstance(x[3], Template):
                continue
            i = x[4][0]
            tpl = Template.of(x[3], i >= 0 and ann.tx[i].strand == "-", r, self.first[1], self.texts.get(id(x[3])))
            if tpl is None:
                bad.add(x[4])
            x[3] = tpl
        if bad:
            self.dynamic += sorted({(x[1], *x[4]) for x in self.fixed if x[4] in bad})
            self.fixed = [x for x in self.fixed if x[4] not in bad]
        return [x[3] for x in self.fixed]

    def allele(self, ann, allele: str, a: str) -> AlleleAnn:
        """The ANN of ALT ``a`` (``allele``: as the VCF writes it)."""
        if self.templates is None and (allele, a) != self.first:
            self.templates = self._templates(ann)
        if not self.dynamic:
            if self.templates is None:  # the first ALT: its own entries (the up/downstream ones templates already)
                texts, coding = [], []
                for x in self.fixed:
                    o = x[3]
                    if isinstance(o, Template):
                        texts.append(o.text(allele, a))
                    else:
                        texts.append(text := o.format())
                        coding.append(o)
                        self.texts[id(o)] = text
                first = self.fixed[0][3] if self.fixed else None
                return AlleleAnn(texts, coding, None if first is None else first.top if isinstance(first, Template)
                                 else top_of(first))
            ts = self.templates
            return AlleleAnn([t.text(allele, a) for t in ts], [], ts[0].top if ts else None)
        chrom, s, r = self.key
        items = list(self.fixed)
        for order, i, _ in self.dynamic:
            if i < 0:
                got = [ann._intergenic(chrom, allele, s, s + 1, s, r, a)]
            elif i in self.coding:  # the CDS: the coding change on the site's splice effects and rank
                static, rank, core, form = self.coding[i]
                m = ann.model(i)
                info = coding_effects(m, "snv", s, s + 1, r, a)
                effects = static + info.pop("effects")
                if isinstance(form, AnnEntry):  # the first ALT's entry: the form of the others
                    form = self.coding[i][3] = CodingForm.of(form, m.minus, r, self.first[1])
                if form is not None and LOF_TYPES.isdisjoint(effects):
                    key, entry = form.entry(allele, a, effects, info)
                    items.append((key, order, 0, entry, None))
                    continue
                got = [ann._entry(i, allele, effects, rank=rank, lazy=(m.hgvs_c, (s, s + 1, r, a)), errors=[],
                                  core_splice=core, **info)]
            else:
                got = ann._inside(i, allele, s, s + 1, r, a, "snv")
                m = ann.model(i)
                if m.region(s) == "cds" and len(got) == 1:  # one entry, its last effect the coding one
                    self.coding[i] = [got[0].effects[:-1], got[0].rank, got[0].core_splice, got[0]]
            items += [(e.sort_key(), order, j, e, None) for j, e in enumerate(got)]
        items.sort(key=lambda x: (x[0], x[1], x[2]))
        texts, coding = [], []
        for x in items:
            o = x[3]
            if isinstance(o, Template):
                texts.append(o.text(allele, a))
            else:
                texts.append(o.format())
                coding.append(o)
        first = items[0][3] if items else None
        return AlleleAnn(texts, coding, None if first is None else first.top if isinstance(first, Template)
                         else top_of(first))


class LazyEntries(Sequence):
    """A ``Consequence``'s ANN entries, computed by ``fn(*args)`` when first read (the scoring reads ANN[0] only)."""

    __slots__ = ("fn", "args", "got")

    def __init__(self, fn, args: tuple):
        self.fn, self.args, self.got = fn, args, None

    def _all(self) -> tuple:
        if self.got is None:
            self.got = tuple(self.fn(*self.args))
        return self.got

    def __getitem__(self, k):
        return self._all()[k]

    def __len__(self) -> int:
        return len(self._all())

    def __eq__(self, other) -> bool:
        return tuple(self) == tuple(other) if isinstance(other, (tuple, list, Sequence)) else NotImplemented

    __hash__ = None
