"""The layers of Caduceus (Schiff et al. 2024; github.com/kuleshov-group/caduceus) in plain PyTorch.

Module and parameter names follow the reference (``mamba_ssm.modules.mamba_simple.Mamba``,
``caduceus/modeling_caduceus.py``, ``caduceus/modeling_rcps.py``) so that published safetensors load as
they are; the code is plantllm's own. Three ideas:

* a Mamba (v1) mixer whose scan is :func:`.selective_scan.selective_scan` and whose short causal
  convolution is ``nn.Conv1d`` (mamba-ssm's own fallback when causal-conv1d is missing);
* bi-directionality: a second mixer reads the sequence reversed, sharing the in and out projections;
* reverse-complement parameter sharing (RCPS): the hidden state has two halves, the forward strand's
  and the reverse complement's (stored flipped along length and channels), each run through the same
  weights, which makes the model equivariant to reverse complementing its input.

Reversals go through :class:`Reverse`: with a padded batch (an attention mask) each row is reversed
within its own tokens, so padding never reaches a real token in either direction and a padded row's
outputs are those of the row alone. Without padding it is ``flip``, the reference's operation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from plantllm.models.families.selective_scan import selective_scan


class Reverse:
    """Reverse sequences along the length axis (dim 1), each row within its tokens when a mask pads it."""

    def __init__(self, attention_mask: torch.Tensor | None):
        self.index = None
        if attention_mask is None or bool(attention_mask.all()):
            return
        m = attention_mask.bool()
        n, length = m.shape
        pos = torch.arange(length, device=m.device).expand(n, -1)
        start = torch.where(m, pos, length).amin(1, keepdim=True)
        end = torch.where(m, pos + 1, 0).amax(1, keepdim=True)
        if bool(((pos >= start) & (pos < end) != m).any()):
            raise ValueError("Caduceus takes padding at the start or the end of a row, not inside it")
        self.index = torch.where((pos >= start) & (pos < end), start + end - 1 - pos, pos)

    def __call__(self, x: torch.Tensor, channels: bool = False) -> torch.Tensor:
        if self.index is None:
            return x.flip(dims=(1, -1) if channels else (1,))
        idx = self.index if x.ndim == 2 else self.index.unsqueeze(-1).expand(-1, -1, x.shape[-1])
        out = torch.gather(x, 1, idx)
        return out.flip(dims=(-1,)) if channels else out

    def rc(self, x: torch.Tensor) -> torch.Tensor:
        """Reverse-complement a hidden state: length and channels reversed."""
        return self(x, channels=True)


class RMSNorm(nn.Module):
    """mamba-ssm's RMSNorm (a weight, no bias)."""

    def __init__(self, hidden_size: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return add_norm(x, None, self)[0]


def add_norm(x: torch.Tensor, residual: torch.Tensor | None, norm: nn.Module, residual_in_fp32: bool = False
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """(norm(x + residual), x + residual) as mamba-ssm's fused add + RMSNorm/LayerNorm: summed and normalised
    in float32, the output in x's dtype, the residual in its own dtype (float32 when ``residual_in_fp32``
    starts it)."""
    r = x.float() if residual is None else x.float() + residual.float()
    if isinstance(norm, nn.LayerNorm):
        out = F.layer_norm(r, r.shape[-1:], norm.weight.float(), None if norm.bias is None else norm.bias.float(),
                           norm.eps)
    else:
        out = r * torch.rsqrt(r.square().mean(-1, keepdim=True) + norm.eps) * norm.weight.float()
        if norm.bias is not None:
            out = out + norm.bias.float()
    kind = residual.dtype if residual is not None else (torch.float32 if residual_in_fp32 else x.dtype)
    return out.to(x.dtype), r.to(kind)


class MambaMixer(nn.Module):
    """One Mamba (v1) mixer: in projection, short causal convolution, selective scan, gated output."""

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2, dt_rank="auto",
                 dt_min: float = 0.001, dt_max: float = 0.1, dt_init: str = "random", dt_scale: float = 1.0,
                 dt_init_floor: float = 1e-4, conv_bias: bool = True, bias: bool = False, **_ignored):
        super().__init__()  # _ignored: use_fast_path, layer_idx (kernel choices of mamba-ssm)
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.dt_min, self.dt_max, self.dt_init, self.dt_scale = dt_min, dt_max, dt_init, dt_scale
        self.dt_init_floor = dt_init_floor
        if dt_init not in ("random", "constant"):
            raise ValueError(f"dt_init '{dt_init}' must be 'random' or 'constant'")
        self.in_proj = nn.Linear(d_model, self.d_inner * 2, bias=bias)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, kernel_size=d_conv, groups=self.d_inner,
                                padding=d_conv - 1, bias=conv_bias)
        self.act = nn.SiLU()
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(self.d_inner, 1))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias)
        for lin in (self.in_proj, self.x_proj, self.dt_proj, self.out_proj):
            lin.in_mamba = True  # initialised with the mixer (CaduceusPreTrainedModel._init_weights)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(batch, length, d_model) -> (batch, length, d_model)."""
        length = hidden_states.shape[1]
        x, z = self.in_proj(hidden_states).transpose(1, 2).chunk(2, dim=1)  # (b, d_inner, l) each
        x = self.act(self.conv1d(x)[..., :length])
        dt, B, C = self.x_proj(x.transpose(1, 2)).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.linear(dt, self.dt_proj.weight).transpose(1, 2)  # the bias goes in inside the scan
        y = selective_scan(x, dt, -torch.exp(self.A_log.float()), B.transpose(1, 2), C.transpose(1, 2),
                           self.D.float(), z=z, delta_bias=self.dt_proj.bias.float(), delta_softplus=True)
        return self.out_proj(y.transpose(1, 2))


class BiMambaWrapper(nn.Module):
    """A forward mixer and, when bidirectional, a reverse one (the sequence flipped), combined by
    ``add`` or ``ew_multiply``; ``weight_tie`` shares the in and out projections between the two."""

    def __init__(self, d_model: int, bidirectional: bool = True, bidirectional_strategy: str | None = "add",
                 bidirectional_weight_tie: bool = True, **mamba_kwargs):
        super().__init__()
        strategy = bidirectional_strategy or "add"
        if bidirectional and strategy not in ("add", "ew_multiply"):
            raise ValueError(f"bidirectional_strategy '{strategy}' must be 'add' or 'ew_multiply'")
        self.bidirectional, self.bidirectional_strategy = bidirectional, strategy
        self.mamba_fwd = MambaMixer(d_model, **mamba_kwargs)
        self.mamba_rev = MambaMixer(d_model, **mamba_kwargs) if bidirectional else None
        if bidirectional and bidirectional_weight_tie:
            for name in ("in_proj", "out_proj"):
                rev, fwd = getattr(self.mamba_rev, name), getattr(self.mamba_fwd, name)
                rev.weight = fwd.weight
                rev.bias = fwd.bias

    def forward(self, hidden_states: torch.Tensor, reverse: Reverse) -> torch.Tensor:
        out = self.mamba_fwd(hidden_states)
        if self.mamba_rev is None:
            return out
        back = reverse(self.mamba_rev(reverse(hidden_states)))
        return out + back if self.bidirectional_strategy == "add" else out * back


class RCPSWrapper(nn.Module):
    """Run ``submodule`` on the forward half of the channels and on the reverse complement of the other half."""

    def __init__(self, submodule: nn.Module):
        super().__init__()
        self.submodule = submodule

    def forward(self, x: torch.Tensor, reverse: Reverse) -> torch.Tensor:
        half = x.shape[-1] // 2
        fwd = self.submodule(x[..., :half], reverse)
        rc = self.submodule(reverse.rc(x[..., half:]), reverse)
        return torch.cat([fwd, reverse.rc(rc)], dim=-1)


class RCPSAddNormWrapper(nn.Module):
    """Add + norm on both halves (the reverse half reverse-complemented first and back after)."""

    def __init__(self, submodule: nn.Module):
        super().__init__()
        self.submodule = submodule

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None, reverse: Reverse
                ) -> tuple[torch.Tensor, torch.Tensor]:
        half, norm = x.shape[-1] // 2, self.submodule
        dtype = norm.weight.dtype
        if residual is None:  # the reference keeps the raw input as the residual here
            fwd = _norm(norm, x[..., :half].to(dtype))
            rc = _norm(norm, reverse.rc(x[..., half:]).to(dtype))
            return torch.cat([fwd, reverse.rc(rc)], dim=-1), x
        res_fwd = x[..., :half] + residual[..., :half]
        res_rc = reverse.rc(x[..., half:]) + reverse.rc(residual[..., half:])
        out = torch.cat([_norm(norm, res_fwd.to(dtype)), reverse.rc(_norm(norm, res_rc.to(dtype)))], dim=-1)
        return out, torch.cat([res_fwd, reverse.rc(res_rc)], dim=-1)


def _norm(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return norm(x) if isinstance(norm, nn.LayerNorm) else add_norm(x, None, norm)[0]


def make_norm(d_model: int, rms_norm: bool, eps: float) -> nn.Module:
    return RMSNorm(d_model, eps=eps) if rms_norm else nn.LayerNorm(d_model, eps=eps)


class CaduceusBlock(nn.Module):
    """Add -> norm -> bidirectional Mamba, returning (mixer output, residual) as mamba-ssm's Block.

    RCPS with ``fused_add_norm`` follows the reference's fused code exactly, including its order of the
    halves: the forward half of the output is normalised from the second half of the input and the
    reverse half from the first (the published RCPS checkpoints were trained with it; swapping the halves
    commutes with reverse complementing, so the model stays equivariant)."""

    def __init__(self, d_model: int, mixer_kwargs: dict, *, rms_norm: bool, eps: float, fused_add_norm: bool,
                 residual_in_fp32: bool, rcps: bool):
        super().__init__()
        self.fused_add_norm, self.residual_in_fp32, self.rcps = fused_add_norm, residual_in_fp32, rcps
        mixer = BiMambaWrapper(d_model, **mixer_kwargs)
        self.mixer = RCPSWrapper(mixer) if rcps else mixer
        norm = make_norm(d_model, rms_norm, eps)
        self.norm = RCPSAddNormWrapper(norm) if rcps and not fused_add_norm else norm

    def forward(self, hidden_states: torch.Tensor, residual: torch.Tensor | None, reverse: Reverse):
        if self.rcps and self.fused_add_norm:
            half = hidden_states.shape[-1] // 2
            fwd, res_fwd = add_norm(hidden_states[..., half:], None if residual is None else residual[..., half:],
                                    self.norm, self.residual_in_fp32)
            rc, res_rc = add_norm(reverse.rc(hidden_states[..., :half]),
                                  None if residual is None else reverse.rc(residual[..., :half]),
                                  self.norm, self.residual_in_fp32)
            hidden_states = torch.cat([fwd, reverse.rc(rc)], dim=-1)
            residual = torch.cat([res_fwd, reverse.rc(res_rc)], dim=-1)
        elif self.rcps:
            hidden_states, residual = self.norm(hidden_states, residual, reverse)
            if self.residual_in_fp32:
                residual = residual.float()
        elif self.fused_add_norm:
            hidden_states, residual = add_norm(hidden_states, residual, self.norm, self.residual_in_fp32)
        else:
            residual = hidden_states if residual is None else hidden_states + residual
            hidden_states = _norm(self.norm, residual.to(self.norm.weight.dtype))
            if self.residual_in_fp32:
                residual = residual.float()
        return self.mixer(hidden_states, reverse), residual


def final_norm(norm_f: nn.Module, hidden_states: torch.Tensor, residual: torch.Tensor | None, reverse: Reverse, *,
               fused_add_norm: bool, rcps: bool) -> torch.Tensor:
    """The backbone's last add + norm (the reference's ``norm_f`` step, both halves in their own order)."""
    if rcps:
        if not fused_add_norm:
            return norm_f(hidden_states, residual, reverse)[0]
        half = hidden_states.shape[-1] // 2
        fwd = add_norm(hidden_states[..., :half], None if residual is None else residual[..., :half], norm_f)[0]
        rc = add_norm(reverse.rc(hidden_states[..., half:]),
                      None if residual is None else reverse.rc(residual[..., half:]), norm_f)[0]
        return torch.cat([fwd, reverse.rc(rc)], dim=-1)
    if fused_add_norm:
        return add_norm(hidden_states, residual, norm_f)[0]
    residual = hidden_states if residual is None else hidden_states + residual
    return _norm(norm_f, residual.to(norm_f.weight.dtype))
