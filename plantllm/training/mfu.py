"""Model FLOPs utilisation of a training run: the model's arithmetic per token against the device's peak.

Training FLOPs per token follow the usual count (Kaplan et al. 2020; PaLM, Chowdhery et al. 2022, appendix B):
6 x the parameters that multiply every token (forward 2, backward 4; embedding tables are lookups, not products)
plus, for attention models, 12 x layers x hidden x sequence length (scores and weighted values, forward and
backward). A dilated-convolution model (GPN) uses each convolution weight once per position, so 6 x N is its count
too. The achieved rate divides the FLOPs of the tokens trained by the seconds; MFU divides that by the device's
dense peak for the run's precision (data sheets, without sparsity), which ``PLANTLLM_PEAK_TFLOPS`` overrides (a CPU
or a GPU not in the table: no MFU is claimed without a peak). Written here because neither the HF Trainer nor
DeepSpeed reports MFU (the Trainer's ``total_flos`` counts 6 x all parameters, embeddings included, without
attention).
"""

from __future__ import annotations

import os

import torch
from torch import nn

#: dense peak TFLOP/s per GPU by name fragment: (bf16/fp16 tensor, fp32); the first fragment found in the name wins
PEAKS = (("H200", 989.0, 67.0), ("H100 PCIe", 756.0, 51.0), ("H100", 989.0, 67.0), ("A100", 312.0, 19.5),
         ("L40S", 362.0, 91.6), ("L4", 121.0, 30.3), ("A10", 125.0, 31.2), ("V100", 125.0, 15.7))


def matmul_parameters(model: nn.Module) -> int:
    """Parameters that multiply every token: all but embedding tables (and tied copies counted once)."""
    seen, n = set(), 0
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    for p in model.parameters():
        if id(p) in seen or id(p) in embeddings:
            continue
        seen.add(id(p))
        n += getattr(p, "ds_numel", None) or p.numel()  # ZeRO-3 keeps a partitioned parameter's full size here
    return n


def attention_layers(model: nn.Module) -> int:
    """Attention modules (``*Attention`` classes holding no other ``*Attention``: BERT's self-attention counted once,
    not again as its wrapper); a model config's ``num_attention_heads`` is no sign (GPN's config carries BERT's
    defaults)."""
    def attention(m) -> bool:
        return type(m).__name__.endswith("Attention")

    return sum(1 for m in model.modules() if attention(m) and not any(attention(c) for c in m.modules() if c is not m))


def training_flops_per_token(model: nn.Module, length: int) -> float:
    """6 N + 12 x attention layers x hidden x length."""
    flops = 6.0 * matmul_parameters(model)
    layers = attention_layers(model)
    if layers:
        flops += 12.0 * layers * model.config.hidden_size * length
    return flops


def peak_tflops(precision: str) -> float | None:
    """The device's dense peak for ``precision`` (bf16/fp16/fp32), or None when it is not known."""
    given = os.environ.get("PLANTLLM_PEAK_TFLOPS")
    if given:
        return float(given)
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    for fragment, half, single in PEAKS:
        if fragment in name:
            return half if precision in ("bf16", "fp16") else single
    return None


def utilisation(model: nn.Module, length: int, tokens_per_s: float, precision: str, world_size: int = 1) -> dict:
    """``model_tflops_per_s`` (per process) and ``mfu`` (None without a known peak) of a run."""
    achieved = training_flops_per_token(model, length) * tokens_per_s / max(world_size, 1) / 1e12
    peak = peak_tflops(precision)
    return {"model_tflops_per_s": round(achieved, 6), "peak_tflops": peak,
            "mfu": round(achieved / peak, 6) if peak else None}
