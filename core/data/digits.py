"""digits: scikit-learn's bundled 1,797 8x8 digits (offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.arrays import split_dataset
from core.data.dataset import Dataset
from core.data.mnist import MNIST_CLASSES


def load(root: Path, download: bool, test_fraction: float, seed: int) -> Dataset:
    """Bundled with scikit-learn: root and download are not needed."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (np.asarray(bunch.images, dtype=np.float32) / 16.0)[:, None]  # (1797, 1, 8, 8)
    labels = np.asarray(bunch.target, dtype=np.int64)
    return split_dataset("digits", images, labels, list(MNIST_CLASSES),
                         "scikit-learn's bundled 1,797 8x8 digits (load_digits)", test_fraction, seed)
