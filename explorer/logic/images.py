"""Turning decoded images into pictures: tiling and crisp upscaling (no Streamlit here).

numpy only: this runs on the home page's first picture, which must not wait for torch or
torchvision to import. Tensors are accepted too (anything with ``.detach()``).
"""

from __future__ import annotations

import numpy as np


def as_array(images) -> np.ndarray:
    """A numpy float32 array of ``images`` (a numpy array or a torch tensor, any device)."""
    if hasattr(images, "detach"):  # a torch tensor, without importing torch here
        images = images.detach().float().cpu().numpy()
    return np.asarray(images, dtype=np.float32)


def tile(images, ncols: int, padding: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Images (N, C, H, W) in [0, 1] -> one picture (H', W') or (H', W', 3) float in [0, 1].

    The layout of torchvision's make_grid: ``ncols`` per row, ``padding`` pixels of ``pad_value``
    around and between the images; a single image comes back as it is, without padding.
    """
    arr = as_array(images)
    if arr.ndim == 3:
        arr = arr[None]
    n, c, h, w = arr.shape
    if n == 1:
        picture = arr[0]
    else:
        cols = min(max(1, int(ncols)), n)
        rows = -(-n // cols)
        cell_h, cell_w = h + padding, w + padding
        picture = np.full((c, rows * cell_h + padding, cols * cell_w + padding), pad_value, dtype=np.float32)
        for k in range(n):
            y, x = divmod(k, cols)
            picture[:, y * cell_h + padding:y * cell_h + padding + h, x * cell_w + padding:x * cell_w + padding + w] = arr[k]
    return picture[0] if c == 1 else picture.transpose(1, 2, 0)


def one(image) -> np.ndarray:
    """One image (C, H, W) -> (H, W) or (H, W, 3) for display."""
    arr = as_array(image)
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
