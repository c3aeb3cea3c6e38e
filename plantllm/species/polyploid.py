"""Polyploid genomes: a combined reference with one subgenome per part.

``combine`` builds one reference from several assemblies, one per subgenome (as the
A. suecica reference joins its A. thaliana-like T and A. arenosa-like A subgenomes):
sequences renamed ``<label>_<chrom>``, annotation IDs prefixed, a card with subgenomes.
Homeologous genes: ``plantllm.species.homeologs``; leak-free group splits:
``plantllm.data.splits.GroupSplitter``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pysam
import yaml

from plantllm.core.io import atomic_path, atomic_write
from plantllm.species.annotation import Annotation
from plantllm.species.card import SpeciesCard, get_card
from plantllm.species.genome import Genome


def combine(name: str, parts: dict[str, SpeciesCard | str], out_dir: str | Path, *, ploidy: int | None = None) -> Path:
    """Write ``out_dir/<name>.fa.gz`` (bgzip), ``<name>.gff3.gz`` and ``<name>.yaml`` joining
    each part as one subgenome; returns the card path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cards = {label: (c if isinstance(c, SpeciesCard) else get_card(c)) for label, c in parts.items()}
    fasta, gff = out_dir / f"{name}.fa.gz", out_dir / f"{name}.gff3.gz"
    nuclear, subgenomes = [], {}
    with atomic_path(fasta) as tmp_fa:
        with pysam.BGZFile(str(tmp_fa), "wb") as w:
            for label, card in cards.items():
                g = Genome(card)
                subgenomes[label] = []
                for chrom in g.chromosomes():
                    new = f"{label}_{chrom}"
                    n = g.length(chrom)
                    nuclear.append({"name": new, "length": n,
                                    "aliases": [f"{label}_{a}" for a in card.chromosome(chrom).aliases]})
                    subgenomes[label].append(new)
                    w.write(f">{new} {card.scientific_name or card.name} {card.assembly} chromosome {chrom}\n".encode())
                    for off, seq in g.iter_chunks(chrom, chunk=60 * 100_000):
                        w.write("".join(seq[i:i + 60] + "\n" for i in range(0, len(seq), 60)).encode())
                g.close()
    with atomic_path(gff) as tmp_gff:
        with gzip.open(tmp_gff, "wt") as w:
            w.write("##gff-version 3\n")
            for label, card in cards.items():
                if card.gff is None:
                    continue
                ann = Annotation(card)
                _write_prefixed_gff(card, ann, label, w)
    card_path = out_dir / f"{name}.yaml"
    total_ploidy = ploidy or sum(c.ploidy for c in cards.values())
    data = {
        "name": name, "scientific_name": " x ".join(c.scientific_name or c.name for c in cards.values()),
        "assembly": "+".join(f"{k}:{c.assembly}" for k, c in cards.items()), "ploidy": total_ploidy,
        "genome": {"fasta": fasta.name, "soft_masked": all(c.soft_masked for c in cards.values()), "partial": True},
        "annotation": {"gff": gff.name, "format": "gff3"},
        "repeats": {"source": "soft_mask"},
        "chromosomes": {"nuclear": nuclear},
        "subgenomes": subgenomes,
    }
    with atomic_write(card_path) as fh:
        fh.write(f"# Combined reference: {', '.join(f'{k} = {c.name}' for k, c in cards.items())} "
                 "(written by plantllm species combine)\n")
        yaml.safe_dump(data, fh, sort_keys=False, default_flow_style=None, width=120)
    return card_path


def _esc(value: str) -> str:
    """GFF3 column-9 escaping of the reserved characters."""
    for ch, code in (("%", "%25"), (";", "%3B"), ("=", "%3D"), (",", "%2C"), ("&", "%26"), ("\t", "%09")):
        value = value.replace(ch, code)
    return value


def _write_prefixed_gff(card: SpeciesCard, ann: Annotation, label: str, w) -> None:
    """Copy a GFF3/GTF as GFF3 gene/mRNA/exon/CDS lines with seqids and IDs prefixed by the label."""
    for gene in ann.genes:
        gid = f"{label}_{gene.locus}"
        seq = f"{label}_{gene.chrom}"
        w.write(f"{seq}\tplantllm\tgene\t{gene.start + 1}\t{gene.end}\t.\t{gene.strand}\t.\t"
                f"ID={_esc(gid)};Name={_esc(gene.name)};locus_tag={_esc(gid)};gene_biotype={_esc(gene.biotype)}\n")
        for t in gene.transcripts:
            tid = _esc(f"{label}_{t.id}")
            w.write(f"{seq}\tplantllm\tmRNA\t{t.start + 1}\t{t.end}\t.\t{t.strand}\t.\tID={tid};Parent={_esc(gid)}\n")
            for i, (s, e) in enumerate(t.exons, 1):
                w.write(f"{seq}\tplantllm\texon\t{s + 1}\t{e}\t.\t{t.strand}\t.\tID={tid}.exon{i};Parent={tid}\n")
            for s, e in t.cds:
                w.write(f"{seq}\tplantllm\tCDS\t{s + 1}\t{e}\t.\t{t.strand}\t.\tID={tid}.cds;Parent={tid}\n")
