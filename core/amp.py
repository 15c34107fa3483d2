"""Automatic mixed precision wrapped around the fit loop: autocast, plus a gradient scaler for fp16.

    amp="off"   float32 everywhere (the default: the loop's parts unchanged)
    amp="auto"  CUDA: bf16 where the GPU supports it, otherwise fp16 with a grad scaler;
                CPU: bf16; MPS: off
    amp="bf16"  bf16 autocast (CUDA with bf16 support, or the CPU); no scaler needed
    amp="fp16"  fp16 autocast with torch.amp.GradScaler (CUDA only)

Only the training step runs under autocast. Weights, the optimizer state, the loss sums and
every evaluation (test -ELBO, validation, the card's metrics) stay float32, so the numbers a
card reports mean the same with and without AMP.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from core.models import LossTerms

AMP_MODES = ("off", "auto", "bf16", "fp16")


@dataclass
class MixedPrecision:
    device_type: str  # "cuda", "cpu", ...
    dtype: torch.dtype | None  # None: no autocast
    scaler: torch.amp.GradScaler | None  # fp16 only

    @property
    def name(self) -> str:
        return {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]


def resolve(mode: str, device: torch.device) -> MixedPrecision:
    """The autocast dtype and scaler for ``mode`` on ``device``; ValueError when the device cannot do it."""
    if mode not in AMP_MODES:
        raise ValueError(f"amp={mode!r} is not one of {AMP_MODES}")
    kind = device.type
    if mode == "off":
        return MixedPrecision(kind, None, None)
    if mode == "auto":
        if kind == "cuda":
            mode = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        elif kind == "cpu":
            mode = "bf16"
        else:
            return MixedPrecision(kind, None, None)
    if mode == "bf16":
        if kind == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError("amp='bf16' needs a GPU with bfloat16 support; use amp='fp16' (or 'auto') on this GPU")
        if kind not in ("cuda", "cpu"):
            raise ValueError(f"amp='bf16' runs on CUDA or the CPU, not on {kind}")
        return MixedPrecision(kind, torch.bfloat16, None)
    if kind != "cuda":
        raise ValueError(f"amp='fp16' needs CUDA (a grad-scaled fp16 step); on {kind} use amp='bf16' or 'off'")
    return MixedPrecision(kind, torch.float16, torch.amp.GradScaler("cuda"))


def wrap(loop, mode: str, device: torch.device):
    """The fit loop's parts (core.train.Loop) in mixed precision; the loop unchanged for "off".

    The model runs under autocast; with fp16 the optimizer steps through the grad scaler.
    """
    precision = resolve(mode, device)
    if precision.dtype is None:
        return loop
    optimizer = loop.optimizer if precision.scaler is None else ScaledOptimizer(loop.optimizer, precision.scaler)
    return dataclasses.replace(loop, model=Autocast(loop.model, precision), optimizer=optimizer)


class Autocast(nn.Module):
    """``model(x)`` under autocast, its loss terms returned as float32 (the objective, its sums and
    the NaN guard stay float32)."""

    def __init__(self, model: nn.Module, precision: MixedPrecision):
        super().__init__()
        self.model = model
        self.precision = precision

    def forward(self, x: torch.Tensor) -> LossTerms:
        with torch.autocast(device_type=self.precision.device_type, dtype=self.precision.dtype):
            terms = self.model(x)
        terms = LossTerms(*(t.float() for t in terms))
        if self.precision.scaler is not None:
            # The gradients of the two terms the objective reads are multiplied by the scale on the
            # way back: the loop's loss.backward() is torch.amp's scaler.scale(loss).backward().
            for term in (terms.reconstruction, terms.kl):
                if term.requires_grad:
                    term.register_hook(self.precision.scaler.scale)
        return terms


class ScaledOptimizer:
    """An optimizer whose ``step`` goes through the grad scaler: it unscales the gradients, skips
    a step whose gradients overflowed (lowering the scale), else steps, then updates the scale.
    The NaN guard reads the unscaled loss, which stays finite in the skipped steps."""

    def __init__(self, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler):
        self.optimizer = optimizer
        self.scaler = scaler

    def __getattr__(self, name: str):  # param_groups, zero_grad: the optimizer's own
        return getattr(self.optimizer, name)

    def step(self) -> None:
        self.scaler.step(self.optimizer)
        self.scaler.update()
