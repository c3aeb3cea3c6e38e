"""plantllm's native GPN vs GPN's own code (PyPI ``gpn``): same random weights, same real TAIR10 data.

The reference side runs in the peer environment (``.bench-venv``, GPN 0.9; see shared/PEERS.md) through
``tests/data/make_gpn_reference.py``: GPN's classes build four models -- the legacy ConvNet (GPN
Brassicales' layout) and the GPN family with convnet, bytenet and roformer encoders -- every weight drawn
at random, ``save_pretrained`` writes them (safetensors), GPN's ``train_tokenizer_ss`` writes the
tokenizer, the models' masked-LM logits on soft-masked TAIR10 windows are saved, and
``python -m gpn.ss.run_vep SNVS.vcf FASTA WINDOW MODEL OUT.parquet --is_file --n_prefix 0`` scores every
SNV at real TAIR10 positions (GPN's command line as a user runs it). plantllm then loads each folder
natively (no ``gpn`` package in its environment), compares the logits, and runs
``plantllm variants score SNVS.vcf CARD --model MODEL --window WINDOW`` as a user runs it.

    python benchmarks/gpn_equality.py           # full: 64-channel, 6-layer models, window 512, fresh reference
    python benchmarks/gpn_equality.py --small   # the committed tests/data/gpn_reference (window 128), no peer
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PEER, ROOT, machine, peer_available, write  # noqa: E402

MODELS = ("legacy_convnet", "gpn_convnet", "gpn_bytenet", "gpn_roformer")
CARD = ROOT / "tests/data/cards/tair10_slice.yaml"


def compare(ref: Path, window: int, tmp: Path, scored: tuple[str, ...] = MODELS) -> dict:
    """Per model: max |logit difference|, and for the ``scored`` models max |LLR difference| through
    ``plantllm variants score``, against the reference folder."""
    from plantllm.models import checkpoint as M
    from plantllm.models.runner import ModelRunner
    from plantllm.species.assembly import Assembly
    from plantllm.species.card import load_card

    asm = Assembly(load_card(CARD))
    wins = [asm.genome.fetch(w["chrom"], w["start"], w["end"]) for w in json.loads((ref / "windows.json").read_text())]
    out = {}
    for name in MODELS:
        model, tok = M.load(ref / name, task="mlm")
        runner = ModelRunner.from_model(model, tok, precision="exact")
        enc = runner.encode(wins)
        ids_equal = bool(np.array_equal(enc["input_ids"].numpy(), np.load(ref / "input_ids.npy")))
        logits = np.concatenate([runner.logits({k: v[i:i + 8] for k, v in enc.items()}).numpy()
                                 for i in range(0, len(wins), 8)])
        want = np.load(ref / name / "logits.npy")
        row = {"parameters": sum(p.numel() for p in model.parameters()), "class": type(model).__name__,
               "token_ids_equal": ids_equal, "logits_max_abs_diff": float(np.abs(logits - want).max()),
               "logits_std": float(want.std()), "windows": len(wins)}
        out[name] = row
        if name not in scored:
            continue
        r = subprocess.run([sys.executable, "-m", "plantllm.cli", "variants", "score", str(ref / "snvs.vcf"), str(CARD),
                            "--model", str(ref / name), "--window", str(window), "--precision", "exact",
                            "--out", str(tmp / name)], capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(f"plantllm variants score failed for {name}: {r.stderr[-2000:]}")
        lines = (tmp / name / "ranked.tsv").read_text().splitlines()
        head = lines[0].split("\t")
        ours = {}
        for line in lines[1:]:
            f = dict(zip(head, line.split("\t")))
            ours[(int(f["pos"]), f["ref"], f["alt"])] = float(f["score"])
        theirs = {}
        for line in (ref / name / "vep.tsv").read_text().splitlines()[1:]:
            c, p, a, b, s = line.split("\t")
            theirs[(int(p), a, b)] = float(s)
        assert ours.keys() == theirs.keys(), (name, len(ours), len(theirs))
        keys = sorted(theirs)
        a, b = np.array([ours[k] for k in keys]), np.array([theirs[k] for k in keys])
        row.update(snvs=len(keys), llr_max_abs_diff=float(np.abs(a - b).max()), llr_std=float(b.std()),
                   pearson_r=float(np.corrcoef(a, b)[0, 1]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--positions", type=int, default=30, help="real TAIR10 positions (x3 SNVs)")
    a = ap.parse_args(argv)
    os.environ["PLANTLLM_QUIET"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if a.small:
            ref, window = ROOT / "tests/data/gpn_reference", 128
        else:
            why_not = peer_available("gpn.ss.run_vep", "gpn")
            if why_not:
                print(f"GPN could not run here: {why_not}", file=sys.stderr)
                return 1
            ref, window = tmp / "reference", a.window
            r = subprocess.run([str(PEER), str(ROOT / "tests/data/make_gpn_reference.py"), str(ref), "--hidden",
                                str(a.hidden), "--layers", str(a.layers), "--window", str(a.window), "--windows",
                                str(a.windows), "--positions", str(a.positions)], capture_output=True, text=True)
            if r.returncode:
                print(r.stderr[-3000:], file=sys.stderr)
                return 1
        # --small scores through the command line with two models (tests/test_gpn.py covers all four in-process)
        rows = compare(ref, window, tmp, ("legacy_convnet", "gpn_convnet") if a.small else MODELS)
    worst_logit = max(r["logits_max_abs_diff"] for r in rows.values())
    worst_llr = max(r["llr_max_abs_diff"] for r in rows.values() if "llr_max_abs_diff" in r)
    ok = worst_logit < 1e-4 and worst_llr < 1e-4 and all(r["token_ids_equal"] for r in rows.values())
    result = {"window": window, "models": rows, "max_logit_diff": worst_logit, "max_llr_diff": worst_llr, "agree": ok}
    if a.small:
        print(json.dumps(result, indent=1))
        return 0 if ok else 1
    result["machine"] = machine()
    ver = subprocess.run([str(PEER), "-c", "import importlib.metadata as m; print(m.version('gpn'))"],
                         capture_output=True, text=True).stdout.strip()
    result["gpn"] = ver
    table = "\n".join(f"| {n} ({r['class']}) | {r['parameters']:,} | {r['logits_max_abs_diff']:.1e} "
                      f"(logit sd {r['logits_std']:.2f}) | {r['snvs']} | {r['llr_max_abs_diff']:.1e} "
                      f"(LLR sd {r['llr_std']:.2f}) | {r['pearson_r']:.7f} |" for n, r in rows.items())
    md = (f"plantllm's native GPN (`plantllm.models.families.gpn`, no `gpn` package) against GPN {ver}'s own "
          f"code, on the same random weights (every tensor random, LayerNorms and biases included; built and "
          f"saved by `gpn`'s classes), real soft-masked TAIR10 chr1 data:\n\n"
          f"- masked-LM logits on {a.windows} windows of {window} bp (GPN: `model(input_ids=...)` on its tokenizer's "
          f"ids; plantllm: the folder loaded with `checkpoint.load`, tokenized by plantllm's vectorised encoder);\n"
          f"- zero-shot LLR of every SNV at {a.positions} real positions, window {window}: GPN "
          f"`python -m gpn.ss.run_vep snvs.vcf FASTA {window} MODEL out.parquet --is_file --n_prefix 0 "
          f"--per_device_batch_size 8 --dataloader_num_workers 0` vs `plantllm variants score snvs.vcf "
          f"tests/data/cards/tair10_slice.yaml --model MODEL --window {window} --precision exact`.\n\n"
          f"| model | parameters | max abs logit difference | SNVs | max abs LLR difference | Pearson r |\n"
          f"|---|---|---|---|---|---|\n{table}\n\n"
          f"Both within 1e-4: {'yes' if ok else 'NO'} (largest logit difference {worst_logit:.1e}, "
          f"largest LLR difference {worst_llr:.1e}). Reference made by "
          f"`.bench-venv/bin/python tests/data/make_gpn_reference.py DIR --hidden {a.hidden} --layers {a.layers} "
          f"--window {window} --windows {a.windows} --positions {a.positions}`. The committed test copy "
          f"(tests/data/gpn_reference, 16 channels, window 128) is checked without the peer by tests/test_gpn.py "
          f"and by `--small`.")
    print(write("gpn_equality", result, md).read_text())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
