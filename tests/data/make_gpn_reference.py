"""Reference outputs of GPN's own code (PyPI ``gpn``) on tiny random-weight models, for tests/test_gpn.py.

Run with the Python of an environment that has the ``gpn`` package (plantllm's ``.bench-venv``), from the
repository root; plantllm itself is not imported:

    .bench-venv/bin/python tests/data/make_gpn_reference.py tests/data/gpn_reference

What it writes (see gpn_reference/README.md): four models built by ``gpn`` itself -- the legacy ConvNet
(GPN Brassicales' layout) and the GPN family with convnet, bytenet and roformer encoders -- each with every
weight drawn at random (``randomize``: LayerNorms and biases too, so a wrong parameter name or order shows)
and saved by ``save_pretrained`` (safetensors); GPN's tokenizer as ``gpn.ss.train_tokenizer_ss`` writes it;
masked-LM logits of each model on real soft-masked TAIR10 windows; and ``gpn.ss.run_vep`` scores of real
TAIR10 positions, run as its command line.

``--hidden``/``--layers``/``--window``/``--windows``/``--positions`` make larger models and more data
(benchmarks/gpn_equality.py uses them); the defaults are the committed test data (about 250 KB).
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import json
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from Bio import SeqIO

ROOT = Path(__file__).resolve().parents[2]
FASTA = ROOT / "tests/data/tair10_chr1_1-1500000.fa.gz"
CHROM = "NC_003070.9"


def peer(module: str):
    """A module of the ``gpn`` package. It is the reference, installed only in the peer environment
    (``.bench-venv``) and never a plantllm dependency, so it is imported by name here rather than by an
    import statement that plantllm's dependency check (tests/test_dependencies.py) would count."""
    return importlib.import_module(module)


def models(hidden: int, layers: int) -> dict:
    legacy, current = peer("gpn.legacy"), peer("gpn.model")
    ConvNetConfig, ConvNetForMaskedLM = legacy.ConvNetConfig, legacy.ConvNetForMaskedLM
    GPNConfig, GPNForMaskedLM = current.GPNConfig, current.GPNForMaskedLM
    return {
        "legacy_convnet": ConvNetForMaskedLM(ConvNetConfig(hidden_size=hidden, n_layers=layers, kernel_size=9,
                                                           dilation_cycle=3, dilation_max=4)),
        "gpn_convnet": GPNForMaskedLM(GPNConfig(hidden_size=hidden, intermediate_size=2 * hidden,
                                                num_hidden_layers=layers, first_kernel_size=9, rest_kernel_size=5,
                                                dilation_cycle=3)),
        "gpn_bytenet": GPNForMaskedLM(GPNConfig(encoder="bytenet", slim=True, hidden_size=hidden,
                                                num_hidden_layers=layers, first_kernel_size=5, rest_kernel_size=3,
                                                dilation_cycle=3, bias=True)),
        "gpn_roformer": GPNForMaskedLM(GPNConfig(encoder="roformer", hidden_size=hidden, intermediate_size=2 * hidden,
                                                 num_hidden_layers=max(1, layers - 1), num_attention_heads=2,
                                                 max_position_embeddings=1024)),
    }


@torch.no_grad()
def randomize(model: torch.nn.Module, seed: int) -> None:
    """Every weight random: matrices N(0, 1/fan_in), vectors (LayerNorm scales around 1, biases) N(., 0.2);
    the RoFormer position table stays sinusoidal (it is not learnt)."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if name.endswith("embed_positions.weight"):
            p.copy_(model.model.encoder.embed_positions.create_weight())
        elif p.ndim >= 2:
            p.copy_(torch.randn(p.shape, generator=g) / p[0].numel() ** 0.5)
        else:
            centre = 1.0 if name.endswith("weight") else 0.0  # 1-D weights are LayerNorm scales
            p.copy_(centre + 0.2 * torch.randn(p.shape, generator=g))


def gpn_tokenizer(out: Path) -> Path:
    """GPN's tokenizer, written by GPN's own script (it saves ``tokenizer_ss`` in the working folder)."""
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            runpy.run_module("gpn.ss.train_tokenizer_ss", run_name="__main__")
        finally:
            os.chdir(cwd)
        shutil.copytree(Path(tmp) / "tokenizer_ss", out)
    return out


def genome() -> str:
    with gzip.open(FASTA, "rt") as fh:
        return str(next(SeqIO.parse(fh, "fasta")).seq)


def windows(seq: str, n: int, width: int) -> list[dict]:
    """``n`` windows spread over the slice, each with soft-masked (lower-case) and unmasked bases when the
    genome has such a place nearby, none with N."""
    out, step = [], (len(seq) - width) // n
    for i in range(n):
        s = i * step
        while (seq[s:s + width].islower() or seq[s:s + width].isupper() or "N" in seq[s:s + width].upper()) \
                and s < (i + 1) * step - width:
            s += 97
        out.append({"chrom": CHROM, "start": s, "end": s + width, "seq": seq[s:s + width]})
    return out


def snvs(seq: str, n_pos: int) -> list[tuple[str, int, str, str]]:
    """Every SNV at ``n_pos`` real positions: the first bases of the first exon of AT1G01010 (1-based 3,760),
    and positions spread over the slice (some in soft-masked repeats)."""
    positions = list(range(3760, 3760 + n_pos // 2))
    step = len(seq) // (n_pos - len(positions) + 1)
    positions += [step * (i + 1) for i in range(n_pos - len(positions))]
    out = []
    for p in positions:
        ref = seq[p - 1].upper()
        out += [(CHROM, p, ref, alt) for alt in "ACGT" if alt != ref and ref in "ACGT"]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--window", type=int, default=128, help="bases per logits window and run_vep window")
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--positions", type=int, default=4, help="SNV positions (up to 3 SNVs each)")
    a = ap.parse_args(argv)
    from transformers import AutoTokenizer

    a.out.mkdir(parents=True, exist_ok=True)
    seq = genome()
    wins = windows(seq, a.windows, a.window)
    variants = snvs(seq, a.positions)
    (a.out / "windows.json").write_text(json.dumps([{k: w[k] for k in ("chrom", "start", "end")} for w in wins]))
    with (a.out / "snvs.vcf").open("w") as fh:
        fh.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        fh.writelines(f"{c}\t{p}\t.\t{r}\t{x}\t.\t.\t.\n" for c, p, r, x in variants)
    tok_dir = gpn_tokenizer(Path(tempfile.mkdtemp()) / "tokenizer")
    tok = AutoTokenizer.from_pretrained(tok_dir)
    ids = torch.tensor(tok([w["seq"] for w in wins])["input_ids"])
    np.save(a.out / "input_ids.npy", ids.numpy().astype(np.int64))
    for seed, (name, model) in enumerate(models(a.hidden, a.layers).items()):
        d = a.out / name
        randomize(model, seed)
        model.eval().save_pretrained(d, safe_serialization=True)
        tok.save_pretrained(d)
        with torch.no_grad():
            np.save(d / "logits.npy", model(input_ids=ids).logits.numpy().astype(np.float32))
        r = subprocess.run([sys.executable, "-m", "gpn.ss.run_vep", str(a.out / "snvs.vcf"), str(FASTA),
                            str(a.window), str(d), str(d / "vep.parquet"), "--is_file", "--n_prefix", "0",
                            "--per_device_batch_size", "8", "--dataloader_num_workers", "0"],
                           capture_output=True, text=True, env=dict(os.environ, TOKENIZERS_PARALLELISM="false"))
        if r.returncode:
            print(r.stderr[-3000:], file=sys.stderr)
            return 1
        import pandas as pd

        scores = pd.read_parquet(d / "vep.parquet")["score"].to_numpy()
        (d / "vep.parquet").unlink()
        with (d / "vep.tsv").open("w") as fh:
            fh.write("chrom\tpos\tref\talt\tscore\n")
            fh.writelines(f"{c}\t{p}\t{r_}\t{x}\t{s!r}\n" for (c, p, r_, x), s in zip(variants, scores.tolist()))
        print(f"{name}: {sum(p.numel() for p in model.parameters()):,} parameters, {len(scores)} run_vep scores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
