"""Rewrite the real NCBI TAIR10 GFF3 slice in Ensembl Plants and Phytozome conventions.

Independent of plantllm's parser on purpose (plain regexes), so the tests compare
plantllm's reading of three real-format files of the same real gene models.
"""

from __future__ import annotations

import gzip
from pathlib import Path


def ncbi_models(path: Path):
    """{gene_locus: {"gene": cols, "tx": {tx_id: {"cols": cols, "exon": [...], "CDS": [...]}}}} for mRNAs."""
    genes, tx_gene = {}, {}
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t")
            attrs = dict(kv.split("=", 1) for kv in f[8].split(";") if "=" in kv)
            if f[2] == "gene" and attrs.get("gene_biotype") == "protein_coding":
                genes[attrs["ID"]] = {"gene": f, "locus": attrs["locus_tag"], "tx": {}}
            elif f[2] == "mRNA" and attrs.get("Parent") in genes:
                genes[attrs["Parent"]]["tx"][attrs["ID"]] = {"cols": f, "exon": [], "CDS": []}
                tx_gene[attrs["ID"]] = attrs["Parent"]
            elif f[2] in ("exon", "CDS") and attrs.get("Parent") in tx_gene:
                genes[tx_gene[attrs["Parent"]]]["tx"][attrs["Parent"]][f[2]].append(f)
    return genes


def _utrs(tx):
    cds = [(int(c[3]), int(c[4])) for c in tx["CDS"]]
    if not cds:
        return [], []
    lo, hi = min(s for s, _ in cds), max(e for _, e in cds)
    left = [(int(e[3]), min(int(e[4]), lo - 1)) for e in tx["exon"] if int(e[3]) < lo]
    right = [(max(int(e[3]), hi + 1), int(e[4])) for e in tx["exon"] if int(e[4]) > hi]
    return (left, right) if tx["cols"][6] == "+" else (right, left)


def write_style(src: Path, dest: Path, style: str) -> int:
    """Write Ensembl ('ensembl') or Phytozome ('phytozome', no exon lines) GFF3; returns gene count."""
    genes = ncbi_models(src)
    out = ["##gff-version 3"]
    seq = "1" if style == "ensembl" else "Chr1"
    n = 0
    for g in genes.values():
        if not g["tx"]:
            continue
        n += 1
        locus, gf = g["locus"], g["gene"]
        gid = f"gene:{locus}" if style == "ensembl" else f"{locus}.Araport11.447"
        out.append("\t".join([seq, style, "gene", gf[3], gf[4], ".", gf[6], ".",
                              f"ID={gid};Name={locus};biotype=protein_coding" if style == "ensembl"
                              else f"ID={gid};Name={locus}"]))
        for i, tx in enumerate(g["tx"].values(), 1):
            tid = f"{locus}.{i}"
            full = f"transcript:{tid}" if style == "ensembl" else f"{tid}.Araport11.447"
            c = tx["cols"]
            out.append("\t".join([seq, style, "mRNA", c[3], c[4], ".", c[6], ".", f"ID={full};Parent={gid}"]))
            five, three = _utrs(tx)
            for s, e in five:
                out.append("\t".join([seq, style, "five_prime_UTR", str(s), str(e), ".", c[6], ".", f"Parent={full}"]))
            if style == "ensembl":
                for k, e in enumerate(tx["exon"], 1):
                    out.append("\t".join([seq, style, "exon", e[3], e[4], ".", c[6], ".",
                                          f"Parent={full};Name={tid}.exon{k};rank={k}"]))
            for k, e in enumerate(tx["CDS"], 1):
                cid = f"CDS:{tid}" if style == "ensembl" else f"{full}.CDS.{k}"
                out.append("\t".join([seq, style, "CDS", e[3], e[4], ".", c[6], e[7], f"ID={cid};Parent={full}"]))
            for s, e in three:
                out.append("\t".join([seq, style, "three_prime_UTR", str(s), str(e), ".", c[6], ".", f"Parent={full}"]))
    dest.write_text("\n".join(out) + "\n")
    return n
