"""Turning decoded tensors into pictures: tiling and crisp upscaling (no Streamlit here)."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.utils import make_grid


def as_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    return images if isinstance(images, torch.Tensor) else torch.from_numpy(np.asarray(images))


def tile(images: np.ndarray | torch.Tensor, ncols: int, padding: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Images (N, C, H, W) in [0, 1] -> one picture (H', W') or (H', W', 3) float in [0, 1]."""
    grid = make_grid(as_tensor(images).detach().float().cpu(), nrow=ncols, padding=padding, pad_value=pad_value)
    picture = grid.permute(1, 2, 0).numpy()
    return picture[..., 0] if as_tensor(images).shape[1] == 1 else picture


def one(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """One image (C, H, W) -> (H, W) or (H, W, 3) for display."""
    arr = as_tensor(image).detach().float().cpu().numpy()
    return arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)


def upscale(picture: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling, so small images stay crisp instead of blurry."""
    factor = max(1, int(factor))
    return np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)


def to_uint8(picture: np.ndarray) -> np.ndarray:
    return (np.clip(picture, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def display_scale(height: int, target: int = 112) -> int:
    """The integer factor that brings an image of ``height`` pixels near ``target`` pixels."""
    return max(1, round(target / max(1, height)))
