"""How plantllm's ANN compares with SnpEff's (benchmarks/snpeff_agreement.py): ANN fields, the most severe
term and gene, and the cause of each difference, checked against the annotation both tools read."""

from __future__ import annotations

import gzip
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path


def read_ann(vcf: Path) -> dict[tuple, list[list[str]]]:
    """(chrom, 1-based pos, REF, ALT) -> its ANN entries (16 fields each), from a plain or bgzipped VCF."""
    out = {}
    with (gzip.open(vcf, "rt") if str(vcf).endswith(".gz") else open(vcf)) as fh:
        for line in fh:
            f = line.rstrip("\n").split("\t")
            if line.startswith("#") or len(f) < 8:  # Debian's snpEff wrapper echoes its arguments to stdout
                continue
            info = dict(x.split("=", 1) if "=" in x else (x, "") for x in f[7].split(";"))
            for alt in f[4].split(","):
                entries = [e.split("|") for e in info.get("ANN", "").split(",") if e]
                out[(f[0], int(f[1]), f[3], alt)] = [e for e in entries if e[0] == alt] or entries
    return out


def locus(gene_id: str) -> str:
    from plantllm.species.annotation import locus_of

    return locus_of(gene_id)


def fields(e: list[str]) -> list[str]:
    """The 16 ANN sub-fields of one entry: NCBI transcript IDs hold '|' (``gnl|JCVI|mRNA.AT1G01010.1``),
    which SnpEff writes as they are, so a split entry has more than 16 parts; they belong to Feature_ID."""
    k = len(e) - 16
    return e if k <= 0 else e[:6] + ["|".join(e[6:7 + k])] + e[7 + k:]


@dataclass
class Facts:
    """What the annotation both tools read says, to check each difference's cause against it."""

    tx_gene: dict = field(default_factory=dict)  # transcript ID (and its locus form) -> gene locus
    gene_ids: dict = field(default_factory=dict)  # gene ID (and its locus form) -> gene locus
    noncoding: set = field(default_factory=set)  # transcript IDs without a CDS line
    tx_ids: set = field(default_factory=set)  # transcript IDs exactly as the annotation writes them
    pseudogene_ids: set = field(default_factory=set)  # gene IDs of pseudogenes (gene_biotype ...pseudogene)
    split_genes: set = field(default_factory=set)  # GFF3: gene loci with a transcript SnpEff's reader splits

    @classmethod
    def of(cls, annotation) -> "Facts":
        f = cls()
        for g in annotation.genes:
            f.gene_ids.update({g.id: g.locus, locus(g.id): g.locus})
            if "pseudogene" in (g.biotype or ""):
                f.pseudogene_ids.add(g.id)
            for t in g.transcripts:
                f.tx_gene.update({t.id: g.locus, locus(t.id): g.locus})
                f.tx_ids.add(t.id)
                if not t.cds:
                    f.noncoding.update({t.id, locus(t.id)})
        if annotation.format != "gtf":  # transcripts whose transcript_id is not their ID: SnpEff 5.1 splits them
            import json

            for fid, attrs in annotation.db.conn.execute(
                    "SELECT id, attributes FROM features WHERE attributes LIKE '%\"transcript_id\"%'"):
                tid = json.loads(attrs).get("transcript_id", [fid])[0]
                if fid in f.tx_ids and tid != fid:
                    f.split_genes.add(f.tx_gene[fid])
        if annotation.format != "gtf":  # GFF3 pri-miRNAs: parents of the mature miRNA, transcripts to both tools
            for fid, parent in annotation.db.conn.execute(
                    "SELECT f.id, r.parent FROM features f JOIN relations r ON r.child = f.id AND r.level = 1 "
                    "WHERE f.featuretype = 'primary_transcript'"):
                if parent in f.gene_ids:
                    f.tx_gene.update({fid: f.gene_ids[parent], locus(fid): f.gene_ids[parent]})
                    f.tx_ids.add(fid)
                    f.noncoding.update({fid, locus(fid)})
        return f

    def gene_of(self, fid: str) -> str | None:
        return self.tx_gene.get(fid) or self.tx_gene.get(locus(fid)) or self.gene_ids.get(fid)


def top(entries: list[list[str]], facts: Facts | None = None) -> tuple[str, str]:
    """Most severe term and its gene locus (ANN[0], first term). With ``facts`` the gene is the one the
    annotation gives the transcript the entry names: SnpEff 5.1's GFF3 reader names NCBI genes after exons
    (``GENE_exon-NM_...``) or ``null.N`` (see CAUSES), its transcripts keep the annotation's IDs."""
    if not entries:
        return "", ""
    e = fields(entries[0])
    if e[5] == "intergenic_region":
        return e[1].split("&")[0], ""
    gene = locus(e[4])
    if facts is not None:
        gene = facts.gene_of(e[6]) or gene
    return e[1].split("&")[0], gene


CAUSES = {
    "snpeff_gff3_split_transcript":
        "SnpEff 5.1's GFF3 reader keys an NCBI mRNA line by its transcript_id attribute (NM_x) but the exon and "
        "CDS lines by their Parent (rna-NM_x): each transcript becomes two, an exon-less 'NM_x' under the real gene "
        "(up/downstream measured from its span, warning WARNING_TRANSCRIPT_NO_START_CODON) and 'rna-NM_x' with the "
        "exons under a gene it invents (GENE_exon-NM_x-1; mapped back to the annotation's gene here). A deletion "
        "from one gene into another then gets gene_fusion entries with invented genes, and the real gene, whose "
        "transcripts have no exon, is put on the plus strand (gene_fusion for bidirectional_gene_fusion). Checked: "
        "SnpEff's ANN[0] agrees with plantllm's once the entries of transcripts that are not in the annotation "
        "(whose 'rna-' form is) and both tools' fusion entries naming an invented gene or a gene with such "
        "transcripts (its transcript_id attribute is not its ID) are left out, or the two differ only in the "
        "gene of a tie between such 'rna-' copies: alone in their invented genes, all are canonical to SnpEff, "
        "whose canonical-first order then falls back on position. The GTF of the same annotation has no such copies.",
    "snpeff_gff3_pseudogene_transcript":
        "SnpEff 5.1's GFF3 reader reads NCBI's `pseudogene` feature (a gene line) as a transcript without exons, "
        "under a gene it names null.N: its up/downstream and non_coding_transcript_variant entries span the whole "
        "pseudogene. Checked: 'transcript' entries whose Feature_ID is the gene ID of a pseudogene of the "
        "annotation; ANN[0] agrees once they (and the split copies above) are left out.",
    "snpeff_translates_noncoding":
        "SnpEff's GTF/GFF3 reader makes a protein-coding transcript of one the annotation gives no CDS (NCBI "
        "'mRNA' of pseudogenes, transposable-element genes and other genes without a CDS line): it translates "
        "the exons from their first base (its warnings WARNING_TRANSCRIPT_NO_START_CODON / MULTIPLE_STOP_CODONS). "
        "plantllm's default keeps them non-coding (non_coding_transcript_exon_variant, biotype from the gene); "
        "--snpeff-compatible translates them as SnpEff does (not counted as a cause there). Checked: "
        "the transcript has no CDS in the annotation, SnpEff calls it protein_coding, and ANN[0] agrees once "
        "both tools' entries inside such transcripts are left out.",
    "other": "listed one by one and explained in the text below",
}


def _artefacts(facts: Facts, compat: bool = False):
    """(cause, test of one SnpEff entry) in the order they are removed; each test reads the annotation."""
    def split_copy(e):  # the exon-less copy, or a gene fusion entry naming a split gene (strand from no exon)
        return (e[6] not in facts.tx_ids and f"rna-{e[6]}" in facts.tx_ids) or _split_fusion(e, facts)

    def pseudogene_tx(e):
        return e[5] == "transcript" and e[6] not in facts.tx_ids and e[6] in facts.pseudogene_ids

    def translated(e):  # its up/downstream entries do not depend on the coding model: kept
        return e[7] == "protein_coding" and (e[6] in facts.noncoding or f"rna-{e[6]}" in facts.noncoding) and \
            e[1] not in ("upstream_gene_variant", "downstream_gene_variant")
    out = (("snpeff_gff3_split_transcript", split_copy), ("snpeff_gff3_pseudogene_transcript", pseudogene_tx),
           ("snpeff_translates_noncoding", translated))
    return out[:2] if compat else out  # --snpeff-compatible translates them as SnpEff does: no excuse


def cause(ref_entries: list[list[str]], ours_entries: list[list[str]], facts: Facts | None = None,
          compat: bool = False) -> str:
    """The first SnpEff artefact whose entries, left out (with those of the artefacts before it), make SnpEff's
    ANN[0] term and gene the same as plantllm's; "other" when none does. For a transcript SnpEff translates,
    plantllm's entries inside that transcript (non-coding there) are left out too."""
    facts = facts or Facts()

    def norm(fid):
        return locus(fid).replace("|", "_")
    kept, ours = [fields(e) for e in ref_entries], [fields(e) for e in ours_entries]
    for name, test in _artefacts(facts, compat):
        gone = {norm(e[6]) for e in kept if test(e)}
        kept = [e for e in kept if not test(e)]
        if name == "snpeff_gff3_split_transcript":  # plantllm's fusion entries of the genes SnpEff split
            ours = [e for e in ours if not _split_fusion(e, facts)]
        if name == "snpeff_translates_noncoding":
            ours = [e for e in ours if norm(e[6]) not in gone or e[1] in ("upstream_gene_variant",
                                                                           "downstream_gene_variant")]
        if top(kept, facts) == top(ours, facts):
            return name
        if name == "snpeff_gff3_split_transcript" and _split_tie(kept, ours, facts):
            return name
    return "other"


def _split_fusion(e: list[str], facts: Facts) -> bool:
    """A gene_fusion entry (Feature_Type gene_variant) naming a gene SnpEff 5.1's GFF3 reader invented
    (GENE_exon-..., null.N) or one whose transcripts it split: their exon-less copies give the gene no exon
    strand, so ``Gene.adjust`` puts it on the plus strand and the fusion's direction and gene pairs change."""
    return e[5] == "gene_variant" and any(g not in facts.gene_ids or locus(g) in facts.split_genes
                                          for g in e[4].split("&"))


def _split_tie(kept: list, ours: list, facts: Facts) -> bool:
    """Same most severe term; SnpEff lists plantllm's gene with it; and SnpEff's ANN[0] is a transcript alone in
    a gene SnpEff invented (Gene_ID not in the annotation), so it is 'canonical' to SnpEff whichever
    transcript of the real gene is, and SnpEff's canonical-first order ranks it as such."""
    a, b = top(kept, facts), top(ours, facts)
    same = [e for e in kept if e[1].split("&")[0] == a[0]]
    return bool(kept) and a[0] == b[0] and any(top([e], facts)[1] == b[1] for e in same) and \
        kept[0][4] not in facts.gene_ids


def compare(classes: dict, ref: dict, ours: dict, facts: Facts | None = None, compat: bool = False) -> dict:
    """Per-class agreement of ANN[0] (term, gene) and every difference with its cause (``compat``: plantllm ran
    with --snpeff-compatible, so SnpEff translating transcripts without a CDS explains nothing)."""
    per = defaultdict(Counter)
    diffs = []
    causes = Counter()
    for key, cls in classes.items():
        a, b = top(ref.get(key, []), facts), top(ours.get(key, []), facts)
        per[cls]["n"] += 1
        per[cls]["term"] += a[0] == b[0]
        per[cls]["gene"] += a[1] == b[1]
        if a != b:
            why = cause(ref.get(key, []), ours.get(key, []), facts, compat)
            causes[why] += 1
            diffs.append({"variant": f"{key[0]}:{key[1]} {key[2]}>{key[3]}", "class": cls, "snpeff": list(a),
                          "plantllm": list(b), "cause": why})
    tot = Counter()
    for c in per.values():
        tot.update(c)
    explained = [d for d in diffs if d["cause"] != "other"]
    # a difference explained by a SnpEff artefact is left out of both counts (its variant is not compared)
    adj = {"n": tot["n"] - len(explained),
           "term": tot["term"] - sum(d["snpeff"][0] == d["plantllm"][0] for d in explained),
           "gene": tot["gene"] - sum(d["snpeff"][1] == d["plantllm"][1] for d in explained)}
    return {"per_class": {k: dict(v) for k, v in sorted(per.items())}, "total": dict(tot), "causes": dict(causes),
            "total_without_explained": adj, "differences": diffs}


#: the ANN sub-fields compared between plantllm's GFF3 and GTF runs (all but Allele, Gene_Name, Feature_Type, Errors)
SAME_FIELDS = (1, 2, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14)


def cds_differs(gff3, gtf) -> set[str]:
    """Transcript IDs whose coding length differs between the GFF3 and the GTF of the same annotation (GTF CDS
    lines exclude the stop codon, which its stop_codon line adds back; NCBI's GTF trims 3 bases from a CDS
    that does not end in a stop and writes no stop_codon line for it, or drops a 3-base CDS)."""
    def lengths(ann, extra):
        return {locus(t.id): sum(e - s for s, e in t.cds) + extra.get(t.id, 0) for t in ann.transcripts}
    stops: dict = {}
    for n, parent in gtf.db.conn.execute("SELECT f.end - f.start + 1, r.parent FROM features f JOIN relations r ON "
                                         "r.child = f.id AND r.level = 1 WHERE f.featuretype = 'stop_codon'"):
        stops[parent] = stops.get(parent, 0) + n
    a, b = lengths(gff3, {}), lengths(gtf, stops)
    return {t for t in a.keys() & b.keys() if a[t] != b[t]}


def same_entries(classes: dict, a: dict, b: dict, cds_diff: set = frozenset()) -> dict:
    """Variants whose ANN[0] / every ANN entry are field for field the same in two runs (GFF3 vs GTF); a
    difference is 'annotation' when every entry that differs is on a transcript in ``cds_diff``."""
    def sub(entries):
        return ["|".join(fields(e)[i] for i in SAME_FIELDS) for e in entries]
    diffs = []
    n0 = n_all = 0
    for key in classes:
        x, y = sub(a.get(key, [])), sub(b.get(key, []))
        n0 += x[:1] == y[:1]
        n_all += x == y
        if x != y:
            only = sorted(set(x) ^ set(y))
            diffs.append({"variant": f"{key[0]}:{key[1]} {key[2]}>{key[3]}", "gff3": [e for e in only if e in x],
                          "gtf": [e for e in only if e in y],
                          "cause": "annotation" if all(e.split("|")[3] in cds_diff for e in only) else "other"})
    return {"ann0_same": n0, "all_entries_same": n_all, "entry_differences": diffs}
