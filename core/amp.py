"""Automatic mixed precision for the fit loop: autocast, plus a gradient scaler for fp16.

    amp="off"   float32 everywhere (the default; results exactly as before)
    amp="auto"  CUDA: bf16 where the GPU supports it, otherwise fp16 with a grad scaler;
                CPU: bf16; MPS: off
    amp="bf16"  bf16 autocast (CUDA with bf16 support, or the CPU); no scaler needed
    amp="fp16"  fp16 autocast with torch.amp.GradScaler (CUDA only)

Only the training step runs under autocast. Weights, the optimizer state, the loss sums and
every evaluation (test -ELBO, validation, the card's metrics) stay float32, so the numbers a
card reports mean the same with and without AMP.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

AMP_MODES = ("off", "auto", "bf16", "fp16")


@dataclass
class MixedPrecision:
    device_type: str  # "cuda", "cpu", ...
    dtype: torch.dtype | None  # None: no autocast
    scaler: torch.amp.GradScaler | None  # fp16 only

    @property
    def name(self) -> str:
        return {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def backward_and_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """loss.backward(); optimizer.step(), through the grad scaler when there is one.

        With fp16 the scaler skips steps whose gradients overflowed and lowers the scale; the
        NaN guard looks at the loss itself, which stays finite in those steps.
        """
        if self.scaler is None:
            loss.backward()
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()


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
