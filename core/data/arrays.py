"""Array helpers shared by the loaders: argument checks, the seeded split, pixel scaling, resizing."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from core.data.dataset import Dataset, DatasetError


def check_image_size(image_size: Any) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    ok = (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in image_size)
    )
    if not ok or min(image_size) < 1:
        raise DatasetError(
            f"image_size must be None or (height, width) with two positive ints, got {image_size!r}"
        )
    return int(image_size[0]), int(image_size[1])


def check_test_fraction(test_fraction: Any) -> None:
    ok = isinstance(test_fraction, (int, float, np.floating)) and not isinstance(test_fraction, bool)
    if not ok or not 0.0 < float(test_fraction) < 1.0:
        raise DatasetError(f"test_fraction must be in the open interval (0, 1), got {test_fraction!r}")


def split(
    n: int, labels: np.ndarray | None, test_fraction: float, seed: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test indices (sorted). Stratified when labels are given.

    Each class with two or more images gives round(count * test_fraction) of them (at least
    one, at most all but one) to the test set; unlabeled data is split at random.
    """
    if n < 2:
        raise DatasetError(f"{what}: needs at least 2 images to split into train and test, got {n}")
    rng = np.random.default_rng(seed)
    test_parts: list[np.ndarray] = []
    if labels is not None:
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            if len(idx) < 2:
                continue
            k = min(max(1, round(len(idx) * test_fraction)), len(idx) - 1)
            test_parts.append(rng.permutation(idx)[:k])
    if not test_parts:
        k = min(max(1, round(n * test_fraction)), n - 1)
        test_parts.append(rng.permutation(n)[:k])
    test = np.sort(np.concatenate(test_parts))
    mask = np.ones(n, dtype=bool)
    mask[test] = False
    return np.flatnonzero(mask), test


def to_unit_float(arr: np.ndarray, what: str) -> np.ndarray:
    """uint8 0..255 -> /255; floats and other ints must already be in range. float32 out."""
    if arr.size == 0:
        raise DatasetError(f"{what}: holds no images (empty array of shape {arr.shape})")
    if arr.dtype == np.uint8:
        out = arr.astype(np.float32)
        np.divide(out, 255, out=out)
        return out
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise DatasetError(
                f"{what}: integer pixel values must be in 0..255, found values in {lo}..{hi}"
            )
        out = arr.astype(np.float32)
        np.divide(out, 255, out=out)
        return out
    if np.issubdtype(arr.dtype, np.floating):
        out = arr.astype(np.float32)
        if not np.isfinite(out).all():
            raise DatasetError(f"{what}: contains NaN or infinite pixel values")
        lo, hi = float(out.min()), float(out.max())
        if lo < 0.0 or hi > 1.0:
            raise DatasetError(
                f"{what}: float pixel values must be in [0, 1], found values in [{lo:g}, {hi:g}] "
                "(store uint8 0..255, or divide by 255)"
            )
        return out
    raise DatasetError(
        f"{what}: pixel dtype {arr.dtype} is not supported; use uint8 0..255 or float in [0, 1]"
    )


def resize(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, C, H, W) float32 -> (N, C, *size), bilinear with antialiasing, clipped to [0, 1]."""
    if tuple(images.shape[2:]) == tuple(size):
        return images
    import torch
    import torch.nn.functional as F

    out = np.empty((len(images), images.shape[1], *size), dtype=np.float32)
    chunk = 4096
    with torch.no_grad():
        for start in range(0, len(images), chunk):
            x = torch.from_numpy(np.ascontiguousarray(images[start : start + chunk]))
            y = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
            out[start : start + chunk] = y.clamp_(0.0, 1.0).numpy()
    return out


def resized(ds: Dataset, size: tuple[int, int] | None) -> Dataset:
    if size is None or ds.image_shape[1:] == size:
        return ds
    return Dataset(
        name=ds.name,
        train_images=resize(ds.train_images, size),
        train_labels=ds.train_labels,
        test_images=resize(ds.test_images, size),
        test_labels=ds.test_labels,
        class_names=ds.class_names,
        source=f"{ds.source}, resized to {size[0]}x{size[1]}",
        notice=ds.notice,
    )


def split_dataset(
    name: str,
    images: np.ndarray,
    labels: np.ndarray | None,
    class_names: list[str] | None,
    source: str,
    test_fraction: float,
    seed: int,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Dataset:
    """A Dataset of ``images`` split by ``split`` (stratified when labeled); the source says how.
    ``prepare`` turns each split's images into float32 (N, C, H, W) in [0, 1] (default: as given)."""
    train, test = split(len(images), labels, test_fraction, seed, name)
    kind = "stratified" if labels is not None else "random"
    prepare = prepare or (lambda part: part)
    return Dataset(
        name=name,
        train_images=prepare(images[train]),
        train_labels=None if labels is None else labels[train],
        test_images=prepare(images[test]),
        test_labels=None if labels is None else labels[test],
        class_names=class_names,
        source=f"{source}, {kind} split test_fraction={test_fraction:g} seed={seed}",
    )
