"""Mamba's (v1) selective scan in plain PyTorch, chunked: no CUDA kernel, no Triton, CPU and GPU.

For each channel ``d`` and state ``n`` the scan runs the recurrence

    h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t,        y_t = C_t · h_t + D u_t,        y_t *= silu(z_t)

Written by hand because no installable library provides it on a CPU: mamba-ssm's kernel is CUDA
only, and both its reference (``selective_scan_ref``) and transformers' Mamba slow path step through
the sequence one position at a time (a Python loop of L steps per layer).

Here the sequence is cut into chunks and each chunk is closed form. With ``s_t = A · Σ_{k≤t} Δ_k``
summed from the chunk's start (``s_t ≤ 0`` since ``A < 0``):

    h_t = exp(s_t) · (h_start + Σ_{k≤t} exp(-s_k) Δ_k B_k u_k)

one cumulative sum per chunk. ``exp(-s_k)`` (and its gradient) must stay finite, so a chunk's total decay is kept
within ``LIMIT`` (e^60 ≈ 1e26, float32 reaches 3e38): the chunk length is chosen from the data, as
many steps as fit the largest per-step decay ``max(Δ)·max|A|`` (at most ``chunk``; one step, i.e. the
plain recurrence, for extreme values). The arithmetic is float32 whatever the model's dtype, as in
mamba-ssm.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LIMIT = 60.0  # largest decay (in e-folds) inside one chunk; exp(LIMIT) must fit float32 with room to spare
CHUNK = 64  # longest chunk (steps)


def chunk_length(delta: torch.Tensor, A: torch.Tensor, chunk: int = CHUNK) -> int:
    """Steps per chunk for which every chunk's decay stays within ``LIMIT``: delta (b, d, l) after
    softplus, A (d, n)."""
    per_channel = (delta.amax(dim=(0, 2)) * A.abs().amax(dim=1)).detach()  # the fastest decay of each channel
    step = float(per_channel.max()) if per_channel.numel() else 0.0
    if not step > 0 or step == float("inf"):  # zero, or not a number (left for the caller's output to show)
        return chunk if step == 0 else 1
    return max(1, min(chunk, int(LIMIT // step)))


def selective_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                   D: torch.Tensor | None = None, z: torch.Tensor | None = None,
                   delta_bias: torch.Tensor | None = None, delta_softplus: bool = True,
                   chunk: int = CHUNK) -> torch.Tensor:
    """The selective scan with mamba-ssm's arguments and layout.

    u, delta, z: (batch, channels, length); A: (channels, states), negative; B, C: (batch, states,
    length); D, delta_bias: (channels,). Returns y (batch, channels, length) in u's dtype."""
    dtype = u.dtype
    u, delta = u.float(), delta.float()
    if delta_bias is not None:
        delta = delta + delta_bias.float()[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    A, B, C = A.float(), B.float(), C.float()
    batch, channels, length = u.shape
    step = chunk_length(delta, A, chunk)
    track = torch.is_grad_enabled() and any(t.requires_grad for t in (u, delta, A, B, C))
    h = u.new_zeros(batch, channels, A.shape[1])
    du = delta * u
    ys = []
    for i in range(0, length, step):
        j = min(i + step, length)
        s = delta[:, :, i:j].cumsum(-1).unsqueeze(-1) * A[:, None, :]  # (b, d, t, n), <= 0
        decay = torch.exp(s)
        gain = du[:, :, i:j, None] * B[:, None, :, i:j].transpose(-1, -2)  # Δ B u: (b, d, t, n)
        if j - i == 1:  # one step (decays beyond LIMIT per step): the recurrence itself
            states = decay * h.unsqueeze(2) + gain
        else:  # training: exp(-s), as the gradient of 1 / exp(s) would square e^LIMIT; inference: the cheaper 1 / exp(s)
            grow = torch.exp(-s) if track else torch.reciprocal(decay)
            states = decay * (h.unsqueeze(2) + torch.cumsum(gain * grow, dim=2))
        ys.append(torch.einsum("bdtn,bnt->bdt", states, C[:, :, i:j]))
        h = states[:, :, -1]
    y = torch.cat(ys, dim=-1) if ys else u.new_zeros(batch, channels, 0)
    if D is not None:
        y = y + u * D.float()[:, None]
    if z is not None:
        y = y * F.silu(z.float())
    return y.to(dtype)
