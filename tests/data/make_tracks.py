"""Derive peak and signal test tracks from the real TAIR10 slice in this folder (run once; outputs committed).

No experiment's peak or signal file ships with plantllm, so the tests of ``plantllm data regions`` use
tracks computed from the real annotation and genome of the slice, never invented numbers:

* ``tair10_chr1_1-1500000.tss.narrowPeak``: 200 bp around every coding gene's canonical TSS (summit at
  the TSS), as a promoter-"peak" track; ``.tts.narrowPeak``: the same around the transcript ends;
* ``tair10_chr1_1-1500000.gc100.bw``: the GC fraction of every 100 bp bin; ``.repeat100.bw``: the
  soft-masked (repeat) fraction of every 100 bp bin.

Usage: python tests/data/make_tracks.py
"""

from pathlib import Path

import numpy as np
import pyBigWig

from plantllm.core import sequence as sq
from plantllm.species.assembly import Assembly
from plantllm.species.card import load_card

HERE = Path(__file__).resolve().parent
STEM = "tair10_chr1_1-1500000"


def peaks(asm: Assembly, end_of: str, dest: Path, half: int = 100) -> None:
    g = asm.genome
    rows = []
    for t in asm.annotation.canonical_transcripts():
        if not t.coding:
            continue
        x = t.tss if end_of == "tss" else t.tts
        s, e = x - half, x + half
        if s < 0 or e > g.length(t.chrom):
            continue
        rows.append((g.file_name(t.chrom), s, e, f"{t.id}_{end_of}", 0, t.strand, -1, -1, -1, x - s))
    rows.sort(key=lambda r: (r[0], r[1]))
    dest.write_text("".join("\t".join(map(str, r)) + "\n" for r in rows))


def signal(asm: Assembly, what: str, dest: Path, bin_size: int = 100) -> None:
    g = asm.genome
    chrom = g.chromosomes()[0]
    name, n = g.file_name(chrom), g.length(chrom)
    seq = g.fetch(chrom, 0, n)
    starts = np.arange(0, n - bin_size + 1, bin_size)
    vals = np.array([sq.gc_content(seq[s:s + bin_size]) if what == "gc" else float(sq.soft_mask(seq[s:s + bin_size]).mean())
                     for s in starts])
    keep = np.isfinite(vals)
    bw = pyBigWig.open(str(dest), "w")
    bw.addHeader([(name, n)])
    bw.addEntries([name] * int(keep.sum()), starts[keep].tolist(), ends=(starts[keep] + bin_size).tolist(),
                  values=vals[keep].tolist())
    bw.close()


def main() -> None:
    asm = Assembly(load_card(HERE / "cards" / "tair10_slice.yaml"))
    peaks(asm, "tss", HERE / f"{STEM}.tss.narrowPeak")
    peaks(asm, "tts", HERE / f"{STEM}.tts.narrowPeak")
    signal(asm, "gc", HERE / f"{STEM}.gc100.bw")
    signal(asm, "repeat", HERE / f"{STEM}.repeat100.bw")


if __name__ == "__main__":
    main()
