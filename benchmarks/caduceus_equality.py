"""plantllm's native Caduceus against the reference code on the same random weights.

The reference is the Caduceus repository's own modelling code (github.com/kuleshov-group/caduceus,
``caduceus/*.py`` at commit 0060a6d) on mamba-ssm 2.2.2's pure-PyTorch reference paths (PlantCaduceus'
``env/requirements.txt`` pins mamba-ssm 2.2.2 and transformers 4.40.0), run in a separate virtual
environment with transformers 4.40.0. mamba-ssm's kernels need CUDA, so its package is assembled from
its own files with the kernels swapped for the references those files contain:

* ``mamba_ssm/modules/mamba_simple.py``, ``mamba_ssm/modules/block.py``: unchanged (v2.2.2); without
  causal-conv1d ``Mamba`` takes its own ``nn.Conv1d`` path (and ``use_fast_path`` is off);
* ``mamba_ssm/ops/selective_scan_interface.py``: the v2.2.2 file unchanged, imported with an empty
  ``selective_scan_cuda`` module, then ``selective_scan_fn = selective_scan_ref``;
* ``mamba_ssm/ops/triton/layer_norm.py``: the file's own ``layer_norm_ref`` / ``rms_norm_ref`` and its
  ``RMSNorm`` class (cut out of the v2.2.2 file with ``ast``, Triton is not imported), with
  ``layer_norm_fn`` / ``rms_norm_fn`` calling the references (``residual_in_fp32`` is a dtype choice
  that does not change float32 results).

The reference builds each model from its config (``CaduceusForMaskedLM(config)``), every parameter is
perturbed with seeded noise (so no weight sits at an initial value that could hide a mistake), and
its config's ``save_pretrained`` and safetensors' ``save_model`` write config.json + model.safetensors (transformers
4.40 refuses to save the reference's undeclared shared tensors; ``save_model`` keeps the first name of each shared
group, as the Hub's safetensors conversion does).
plantllm then opens that folder with ``AutoModelForMaskedLM`` (no remote code) and both compute the
logits of real TAIR10 chr1 windows in float32.

    python benchmarks/caduceus_equality.py --ref-python /tmp/caduceus-ref/venv/bin/python \\
        --caduceus-git CADUCEUS_CLONE --mamba-git MAMBA_CLONE [--write-test-data tests/data/caduceus_reference]

The reference environment: ``python3.11 -m venv V; V/bin/pip install transformers==4.40.0 'numpy<2'
einops==0.7.0`` and a ``.pth`` file in V's site-packages naming plantllm's venv site-packages (for torch).
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pysam
import torch
from safetensors.torch import load_file, save_file

from _common import ROOT, machine, write

CADUCEUS_COMMIT = "0060a6d"
MAMBA_TAG = "v2.2.2"
FASTA = ROOT / "tests" / "data" / "tair10_chr1_1-1500000.fa.gz"
GPN_COMPLEMENT = {0: 0, 1: 1, 2: 2, 3: 6, 4: 5, 5: 4, 6: 3}  # [PAD] [MASK] [UNK] a c g t: PlantCaduceus' ids
SSM = {"d_state": 16, "d_conv": 4, "expand": 2, "dt_rank": "auto", "dt_min": 0.001, "dt_max": 0.1, "dt_init": "random",
       "dt_scale": 1.0, "dt_init_floor": 1e-4, "conv_bias": True, "bias": False, "use_fast_path": False}
AUTO_MAP = {"AutoConfig": "configuration_caduceus.CaduceusConfig", "AutoModel": "modeling_caduceus.Caduceus",
            "AutoModelForMaskedLM": "modeling_caduceus.CaduceusForMaskedLM",
            "AutoModelForSequenceClassification": "modeling_caduceus.CaduceusForSequenceClassification"}


def config(d_model: int, n_layer: int, **kw) -> dict:
    base = {"d_model": d_model, "n_layer": n_layer, "vocab_size": 7, "ssm_cfg": dict(SSM), "rms_norm": True,
            "residual_in_fp32": True, "fused_add_norm": True, "pad_vocab_size_multiple": 8, "norm_epsilon": 1e-5,
            "initializer_cfg": {"initializer_range": 0.02, "n_residuals_per_layer": 1, "rescale_prenorm_residual": True},
            "bidirectional": True, "bidirectional_strategy": "add", "bidirectional_weight_tie": True, "rcps": True,
            "complement_map": dict(GPN_COMPLEMENT), "pad_token_id": 0, "auto_map": AUTO_MAP}
    for k, v in kw.items():
        if k.startswith("ssm_"):
            base["ssm_cfg"][k[4:]] = v
        else:
            base[k] = v
    return base


CASES = {  # name -> (config, what it covers)
    "plantcaduceus-l20": (config(384, 20), "PlantCaduceus_l20's size and layout: RCPS, fused add+RMSNorm"),
    "rcps-unfused": (config(64, 4, fused_add_norm=False, residual_in_fp32=False),
                     "RCPS with the unfused add+norm wrappers"),
    "bidirectional-ph": (config(64, 4, rcps=False), "Caduceus-Ph layout: bidirectional, no RCPS"),
    "layernorm-ew-untied": (config(48, 3, rcps=False, fused_add_norm=False, rms_norm=False,
                                   bidirectional_strategy="ew_multiply", bidirectional_weight_tie=False, ssm_bias=True,
                                   ssm_d_state=8, ssm_expand=3),
                            "LayerNorm, ew_multiply, untied directions, biased projections, d_state 8, expand 3"),
}
TINY = config(16, 2)  # the checkpoint committed under tests/data/caduceus_reference


# ---------------------------------------------------------------- the reference's environment
def git_show(repo: Path, rev: str, path: str) -> str:
    out = subprocess.run(["git", "--git-dir", str(repo / ".git") if (repo / ".git").exists() else str(repo), "show",
                          f"{rev}:{path}"], capture_output=True, text=True, check=True)
    return out.stdout


def layer_norm_shim(source: str) -> str:
    """mamba-ssm's layer_norm.py reduced to its pure-PyTorch references and RMSNorm (no Triton)."""
    tree = ast.parse(source)
    keep = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
            and n.name in ("layer_norm_ref", "rms_norm_ref", "RMSNorm")]
    body = "\n\n".join(ast.get_source_segment(source, n) for n in keep)
    return ("import torch\nimport torch.nn.functional as F\n\n" + body + """


def layer_norm_fn(x, weight, bias, residual=None, x1=None, weight1=None, bias1=None, eps=1e-6, dropout_p=0.0,
                  rowscale=None, prenorm=False, residual_in_fp32=False, is_rms_norm=False, return_dropout_mask=False):
    ref = rms_norm_ref if is_rms_norm else layer_norm_ref
    return ref(x, weight, bias, residual=residual, x1=x1, weight1=weight1, bias1=bias1, eps=eps, dropout_p=dropout_p,
               rowscale=rowscale, prenorm=prenorm, upcast=True)


def rms_norm_fn(x, weight, bias, residual=None, x1=None, weight1=None, bias1=None, eps=1e-6, dropout_p=0.0,
                rowscale=None, prenorm=False, residual_in_fp32=False, return_dropout_mask=False):
    return layer_norm_fn(x, weight, bias, residual, x1, weight1, bias1, eps, dropout_p, rowscale, prenorm,
                         residual_in_fp32, True)
""")


def reference_tree(dest: Path, caduceus_git: Path, mamba_git: Path) -> Path:
    files = {f"caduceus/{f}": git_show(caduceus_git, CADUCEUS_COMMIT, f"caduceus/{f}")
             for f in ("__init__.py", "configuration_caduceus.py", "modeling_caduceus.py", "modeling_rcps.py",
                       "tokenization_caduceus.py")}
    m = lambda p: git_show(mamba_git, MAMBA_TAG, p)  # noqa: E731
    files.update({
        "mamba_ssm/__init__.py": "",
        "mamba_ssm/modules/__init__.py": "",
        "mamba_ssm/modules/mamba_simple.py": m("mamba_ssm/modules/mamba_simple.py"),
        "mamba_ssm/modules/block.py": m("mamba_ssm/modules/block.py"),
        "mamba_ssm/ops/__init__.py": "",
        "mamba_ssm/ops/_selective_scan_interface_v222.py": m("mamba_ssm/ops/selective_scan_interface.py"),
        "mamba_ssm/ops/selective_scan_interface.py": (
            "import sys, types\nsys.modules.setdefault('selective_scan_cuda', types.ModuleType('selective_scan_cuda'))\n"
            "from mamba_ssm.ops._selective_scan_interface_v222 import *  # noqa\n"
            "from mamba_ssm.ops._selective_scan_interface_v222 import selective_scan_ref, mamba_inner_ref\n"
            "selective_scan_fn = selective_scan_ref\nmamba_inner_fn = mamba_inner_ref\n"),
        "mamba_ssm/ops/triton/__init__.py": "",
        "mamba_ssm/ops/triton/layer_norm.py": layer_norm_shim(m("mamba_ssm/ops/triton/layer_norm.py")),
        "run_reference.py": RUNNER,
    })
    for rel, text in files.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text)
    return dest


RUNNER = r'''
"""Build the reference model from a config, perturb its weights, save it, and write its logits."""
import json, sys
import torch
from safetensors.torch import load_file, save_file, save_model
from caduceus.configuration_caduceus import CaduceusConfig
from caduceus.modeling_caduceus import CaduceusForMaskedLM
import mamba_ssm.modules.mamba_simple as ms
assert ms.causal_conv1d_fn is None and ms.selective_scan_fn.__name__ == "selective_scan_ref"

cfg_file, ids_file, out_dir, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
torch.manual_seed(seed)
raw = json.load(open(cfg_file))
raw["complement_map"] = {int(k): v for k, v in raw["complement_map"].items()}  # int ids, as PlantCaduceus built it
cfg = CaduceusConfig(**raw)
model = CaduceusForMaskedLM(cfg).eval()
with torch.no_grad():
    for p in model.parameters():  # model.parameters() holds each tied tensor once
        p.add_(torch.randn_like(p) * 0.05)
# transformers 4.40's save_pretrained refuses the reference's undeclared shared tensors, so the weights are written
# as the Hub's safetensors conversion writes them: safetensors' save_model keeps one name per shared group
model.config.save_pretrained(out_dir)
save_model(model, out_dir + "/model.safetensors", metadata={"format": "pt"})
ids = load_file(ids_file)["input_ids"]
with torch.no_grad():
    logits = model(input_ids=ids).logits.float()
    hidden = model.caduceus(input_ids=ids, output_hidden_states=False)[0].float()
save_file({"logits": logits.contiguous(), "hidden": hidden.contiguous()}, out_dir + "/reference_outputs.safetensors")
print("reference ok", tuple(logits.shape))
'''


# ---------------------------------------------------------------- inputs and the comparison
def windows(n: int, length: int, start: int = 600_000, step: int = 37_001) -> list[tuple[str, int, str]]:
    with pysam.FastaFile(str(FASTA)) as fa:
        chrom = fa.references[0]
        return [(chrom, start + i * step, fa.fetch(chrom, start + i * step, start + i * step + length))
                for i in range(n)]


def gpn_ids(seqs: list[str]) -> torch.Tensor:
    lut = {"a": 3, "c": 4, "g": 5, "t": 6}
    return torch.tensor([[lut.get(b, 2) for b in s.lower()] for s in seqs], dtype=torch.long)


def run_case(name: str, cfg: dict, ids: torch.Tensor, tree: Path, ref_python: str, out: Path, seed: int) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    (out / "in_config.json").write_text(json.dumps(cfg))
    save_file({"input_ids": ids}, str(out / "input_ids.safetensors"))
    t0 = time.time()
    r = subprocess.run([ref_python, str(tree / "run_reference.py"), str(out / "in_config.json"),
                        str(out / "input_ids.safetensors"), str(out), str(seed)], cwd=tree, capture_output=True,
                       text=True, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    if r.returncode:
        sys.exit(f"reference failed for {name}:\n{r.stderr[-3000:]}")
    ref_s = time.time() - t0
    ref = load_file(str(out / "reference_outputs.safetensors"))
    from transformers import AutoModel, AutoModelForMaskedLM

    from plantllm.models import families

    assert "caduceus" in families.MODEL_TYPES  # importing the families registers Caduceus with the Auto classes

    model = AutoModelForMaskedLM.from_pretrained(str(out), local_files_only=True).eval()
    base = AutoModel.from_pretrained(str(out), local_files_only=True).eval()
    t0 = time.time()
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()
    ours_s = time.time() - t0
    with torch.no_grad():
        hidden = base(input_ids=ids).last_hidden_state.float()
    keys = sorted(load_file(str(out / "model.safetensors")))
    return {"case": name, "what": CASES.get(name, ("", "tiny test checkpoint"))[1], "shape": list(ids.shape),
            "parameters": sum(p.numel() for p in model.parameters()), "tensors_in_file": len(keys),
            "max_abs_logits": float((logits - ref["logits"]).abs().max()),
            "max_abs_hidden": float((hidden - ref["hidden"]).abs().max()),
            "logit_scale": float(ref["logits"].abs().max()), "reference_s": round(ref_s, 1),
            "plantllm_s": round(ours_s, 2)}


def write_test_data(dest: Path, tree: Path, ref_python: str) -> dict:
    """The tiny checkpoint and the reference's logits on real TAIR10 windows, for tests/test_caduceus.py."""
    wins = windows(4, 96, start=1_000_003, step=50_021)
    ids = gpn_ids([w[2] for w in wins])
    with tempfile.TemporaryDirectory() as tmp:
        res = run_case("tiny", TINY, ids, tree, ref_python, Path(tmp), seed=7)
        dest.mkdir(parents=True, exist_ok=True)
        for f in ("config.json", "model.safetensors"):
            (dest / f).write_bytes((Path(tmp) / f).read_bytes())
        ref = load_file(str(Path(tmp) / "reference_outputs.safetensors"))
    save_file({"input_ids": ids, "logits": ref["logits"]}, str(dest / "reference_logits.safetensors"))
    from plantllm.models import tokenizers

    tokenizers.save(tokenizers.gpn_tokenizer(max_length=512), dest)  # PlantCaduceus' tokenizer layout
    (dest / "windows.tsv").write_text("chrom\tstart0\tend0\n" + "".join(f"{c}\t{s}\t{s + len(q)}\n" for c, s, q in wins))
    return res


def small() -> None:
    """``--small``: the committed tiny checkpoint (tests/data/caduceus_reference, written by the reference code)
    reproduces the reference's stored logits; needs no reference environment, writes no results."""
    from safetensors.torch import load_file

    from plantllm.models import checkpoint as M

    ref_dir = ROOT / "tests" / "data" / "caduceus_reference"
    ref = load_file(str(ref_dir / "reference_logits.safetensors"))
    rows = [line.split("\t") for line in (ref_dir / "windows.tsv").read_text().splitlines()[1:]]
    with pysam.FastaFile(str(ROOT / "tests" / "data" / "tair10_chr1_1-1500000.fa.gz")) as fa:
        seqs = [fa.fetch(c, int(a), int(b)) for c, a, b in rows]
    model, tok = M.load(ref_dir, task="mlm")
    with torch.no_grad():
        diff = float((model(input_ids=tok(seqs, return_tensors="pt")["input_ids"]).logits - ref["logits"]).abs().max())
    print(json.dumps({"case": "tiny (committed)", "max_abs_logits": diff}))
    if not diff <= 1e-4:
        sys.exit(1)


def main() -> None:
    if "--small" in sys.argv[1:]:
        return small()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ref-python", required=True, help="python of the reference environment (transformers 4.40.0)")
    ap.add_argument("--caduceus-git", type=Path, required=True, help="a clone of kuleshov-group/caduceus")
    ap.add_argument("--mamba-git", type=Path, required=True, help="a clone of state-spaces/mamba (with tags)")
    ap.add_argument("--small", action="store_true", help="only the committed tiny checkpoint vs its stored logits")
    ap.add_argument("--write-test-data", type=Path, help="also write the tiny test checkpoint + reference logits here")
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    ap.add_argument("--append", action="store_true",
                    help="keep the rows of other cases from results/caduceus_equality.json (a case re-run replaces its row)")
    a = ap.parse_args()
    torch.set_num_threads(1)  # both sides one thread: on a shared machine two threads contend badly
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tree = reference_tree(Path(tmp) / "ref", a.caduceus_git, a.mamba_git)
        wins = windows(4, 512)
        ids = gpn_ids([w[2] for w in wins])
        for name in a.cases:
            rows.append(run_case(name, CASES[name][0], ids, tree, a.ref_python, Path(tmp) / name, seed=0))
            print(json.dumps(rows[-1]))
        if a.write_test_data:
            rows.append(write_test_data(a.write_test_data, tree, a.ref_python))
            print(json.dumps(rows[-1]))
    previous = ROOT / "benchmarks" / "results" / "caduceus_equality.json"
    if a.append and previous.exists():
        done = {r["case"] for r in rows}
        rows = [r for r in json.loads(previous.read_text())["rows"] if r["case"] not in done] + rows
        rows.sort(key=lambda r: [*CASES, "tiny"].index(r["case"]))
    ok = all(r["max_abs_logits"] <= 1e-4 for r in rows)
    table = "\n".join(f"| {r['case']} | {r['what']} | {r['parameters'] / 1e6:.2f} M | {r['shape'][0]} x {r['shape'][1]} | "
                      f"{r['max_abs_logits']:.1e} | {r['max_abs_hidden']:.1e} | {r['logit_scale']:.1f} | "
                      f"{r['reference_s']} / {r['plantllm_s']} |" for r in rows)
    md = (f"plantllm's native Caduceus (`plantllm.models.families.caduceus`, loaded with `AutoModelForMaskedLM`, no remote "
          f"code) against the Caduceus repository's modelling code (commit {CADUCEUS_COMMIT}) on mamba-ssm {MAMBA_TAG}'s "
          "pure-PyTorch references (`selective_scan_ref`, `rms_norm_ref`/`layer_norm_ref`, `nn.Conv1d`), transformers "
          "4.40.0, in a separate environment (how it is assembled: this script's docstring). Same random weights "
          "(the reference's own, written by its config's `save_pretrained` and safetensors' `save_model`), real TAIR10 chr1 windows (GPN/PlantCaduceus token ids), "
          "float32, CPU.\n\n"
          "| case | covers | parameters | input | max abs. logit diff. | max abs. hidden diff. | max abs. logit | "
          "seconds (reference incl. start-up / plantllm forward) |\n|---|---|---|---|---|---|---|---|\n" + table +
          f"\n\nAll within 1e-4: **{'yes' if ok else 'NO'}**. The seconds are not a speed comparison (the reference "
          "includes its start-up, and the machine is shared); speed: `caduceus_speed.md`.\n")
    write("caduceus_equality", {"machine": machine(), "rows": rows, "within_1e-4": ok}, md)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
