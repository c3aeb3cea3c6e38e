"""The variant set of benchmarks/snpeff_agreement.py: real annotated positions of TAIR10 (REF from the
genome), drawn deterministically per class with a seed."""

from __future__ import annotations

import random
from pathlib import Path


def make_variants(asm, n: int, seed: int = 0, span: tuple[int, int] | None = None) -> list[tuple]:
    """Up to ``n`` variants per class at real annotated positions: (chrom, 0-based pos, REF, ALT, class)."""
    rng = random.Random(seed)
    genome = asm.genome
    txs = [t for t in asm.annotation.transcripts if span is None or (t.start >= span[0] and t.end <= span[1])]
    coding = [t for t in txs if t.cds]
    noncoding = [t for t in txs if not t.cds]
    # pseudogenes: NCBI writes the class on the gene (gene_biotype=pseudogene / transcribed_pseudogene), its
    # transcripts are 'mRNA' or 'transcript' (gbkey misc_RNA) without CDS
    pseudo_genes = {g.id for g in asm.annotation.genes if "pseudo" in g.biotype.lower()}
    pseudo = [t for t in noncoding if t.gene_id in pseudo_genes or "pseudo" in t.biotype.lower()]
    genes = sorted({(g.chrom, g.start, g.end) for g in asm.annotation.genes
                    if span is None or (g.start >= span[0] and g.end <= span[1])})
    lo, hi = span or (0, genome.length(txs[0].chrom))
    out: list[tuple] = []

    def base(chrom, p):
        return genome.fetch(chrom, p, p + 1).upper()

    def snv(chrom, p, cls):
        r = base(chrom, p)
        if r in "ACGT":
            out.append((chrom, p, r, rng.choice([b for b in "ACGT" if b != r]), cls))

    def mnv(chrom, p, k, cls):
        r = genome.fetch(chrom, p, p + k).upper()
        if set(r) <= set("ACGT"):
            out.append((chrom, p, r, "".join(rng.choice([b for b in "ACGT" if b != x]) for x in r), cls))

    def indel(chrom, p, cls, max_len=30):
        k = rng.choice([1, 1, 1, 2, 3, 3, 4, 5, 6, 9, 12, rng.randint(1, max_len)])
        if rng.random() < 0.5:  # deletion of k bases after the anchor base at p
            r = genome.fetch(chrom, p, p + k + 1).upper()
            if set(r) <= set("ACGT"):
                out.append((chrom, p, r, r[0], cls))
        else:
            r = base(chrom, p)
            if r in "ACGT":
                out.append((chrom, p, r, r + "".join(rng.choice("ACGT") for _ in range(k)), cls))

    def cds_pos(t):
        s, e = rng.choice(t.cds)
        return rng.randrange(s, e)

    for _ in range(n):
        t = rng.choice(coding)
        snv(t.chrom, cds_pos(t), "snv_cds")
        t = rng.choice(coding)
        mnv(t.chrom, cds_pos(t), rng.choice([2, 2, 3]), "mnv_cds")
        t = rng.choice(coding)
        indel(t.chrom, cds_pos(t), "indel_cds")
        t = rng.choice(coding)  # start codon (first 3 CDS bases, strand-aware)
        p = t.cds[0][0] + rng.randrange(3) if t.strand == "+" else t.cds[-1][1] - 1 - rng.randrange(3)
        snv(t.chrom, p, "start_codon")
        t = rng.choice(coding)  # stop codon (GFF3 CDS ends with it) and the bases around it
        p = t.cds[-1][1] - 1 - rng.randrange(-2, 4) if t.strand == "+" else t.cds[0][0] + rng.randrange(-2, 4)
        snv(t.chrom, p, "stop_codon")
        t = rng.choice(txs)  # splice: -4..+10 around an exon-intron boundary, both sides, both ends
        introns = t.introns()
        if introns:
            a, b = rng.choice(introns)
            off = rng.randrange(-4, 10)
            p = a + off if rng.random() < 0.5 else b - 1 - off
            (indel if rng.random() < 0.25 else snv)(t.chrom, p, "splice")
            a, b = rng.choice(introns)
            if b - a > 40:
                snv(t.chrom, rng.randrange(a + 10, b - 10), "intron")
        t = rng.choice(coding)
        u5, u3 = t.utrs()
        for u, cls in ((u5, "utr5"), (u3, "utr3")):
            u = [x for x in u if x[1] > x[0]]
            if u:
                s, e = rng.choice(u)
                (indel if rng.random() < 0.2 else snv)(t.chrom, rng.randrange(s, e), cls)
        if noncoding:
            t = rng.choice(noncoding)
            s, e = rng.choice(t.exons)
            (indel if rng.random() < 0.2 else snv)(t.chrom, rng.randrange(s, e), "ncrna_exon")
        if pseudo:
            t = rng.choice(pseudo)
            s, e = rng.choice(t.exons)
            snv(t.chrom, rng.randrange(s, e), "pseudogene")
        t = rng.choice(txs)  # flanks: up to 6 kb either side of a transcript (SnpEff's reach is 5 kb)
        d = rng.randrange(1, 6000)
        p = t.start - d if rng.random() < 0.5 else t.end - 1 + d
        if lo <= p < hi:
            (indel if rng.random() < 0.15 else snv)(t.chrom, p, "flank")
    # overlapping genes: positions inside two gene bodies
    ov = [(c, max(s1, s2), min(e1, e2)) for (c, s1, e1), (c2, s2, e2) in zip(genes, genes[1:]) if c == c2 and s2 < e1]
    for c, s, e in rng.sample(ov, min(n, len(ov))):
        snv(c, rng.randrange(s, e), "overlapping_genes")
    _structural_deletions(asm, txs, n, random.Random(seed + 1), out)  # own generator: the draws above stay the same
    out = [v for v in out if lo <= v[1] < hi - 40]
    out.sort(key=lambda v: (v[0], v[1], v[2], v[3]))
    seen, uniq = set(), []
    for v in out:
        if v[:4] not in seen:
            seen.add(v[:4])
            uniq.append(v)
    return uniq


def _structural_deletions(asm, txs, n: int, rng: random.Random, out: list) -> None:
    """Deletions of 11-30 bases (SnpEff treats deletions over 10 bases as structural): from one gene into the next
    (class del_two_genes: first deleted base in gene A only, last in gene B only; a gene spans its transcripts, as
    in SnpEff), and over a whole exon of up to 26 bases with 2 flanking bases each side (del_whole_exon)."""
    genome = asm.genome
    span: dict = {}
    for t in txs:
        k = (t.chrom, t.gene_id)
        span[k] = (min(span[k][0], t.start), max(span[k][1], t.end)) if k in span else (t.start, t.end)
    genes = sorted((c, s, e) for (c, _), (s, e) in span.items())
    pairs = [(a, b) for a, b in zip(genes, genes[1:]) if a[0] == b[0] and abs(a[2] - b[1]) <= 19 and b[2] > a[2]]
    for (c, a0, a1), (_, b0, b1) in rng.sample(pairs, min(n, len(pairs))):
        lo_, hi_ = min(a1, b0), max(a1, b0)  # first base < lo_ (in A only), last base >= hi_ (in B only)
        k = rng.randint(max(11, hi_ - lo_ + 1), 30)
        first = [p for p in range(max(a0, hi_ - k + 1), lo_) if p + k - 1 < b1 and p + k - 1 >= hi_]
        if first:
            p = rng.choice(first)  # VCF: anchor base p - 1, then the k deleted bases
            r = genome.fetch(c, p - 1, p + k).upper()
            if set(r) <= set("ACGT"):
                out.append((c, p - 1, r, r[0], "del_two_genes"))
    exons = [(t.chrom, s, e) for t in txs for s, e in t.exons[1:-1] if e - s <= 26]
    for c, s, e in rng.sample(exons, min(n, len(exons))):
        r = genome.fetch(c, s - 3, e + 2).upper()
        if set(r) <= set("ACGT"):
            out.append((c, s - 3, r, r[0], "del_whole_exon"))


def write_vcf(asm, variants: list[tuple], path: Path) -> Path:
    """Plain VCF with the FASTA's sequence names; the class in INFO (CLASS=...)."""
    names = {c: asm.genome.file_name(c) for c in {v[0] for v in variants}}
    with open(path, "w") as fh:
        fh.write("##fileformat=VCFv4.2\n##source=plantllm benchmarks/snpeff_agreement.py (real TAIR10 positions)\n")
        fh.write('##INFO=<ID=CLASS,Number=1,Type=String,Description="variant class drawn">\n')
        for c, name in names.items():
            fh.write(f"##contig=<ID={name},length={asm.genome.length(c)}>\n")
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for c, p, r, a, cls in variants:
            fh.write(f"{names[c]}\t{p + 1}\t.\t{r}\t{a}\t.\t.\tCLASS={cls}\n")
    return path
