"""The dataset registry: a name -> where its images come from. ``load_dataset`` reads it.

Adding a dataset: write one module with ``load(root, download, test_fraction, seed) -> Dataset``
(see core/data/frey.py for a small one) and add one ``DatasetSource`` line below. The CLI's
``--dataset`` help and the app's dataset pickers list ``DATASET_NAMES``, so they learn it here.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from core.data import digits, fashion_mnist, frey, mnist, olivetti
from core.data.arrays import check_image_size, check_test_fraction, resized
from core.data.dataset import Dataset, DatasetError
from core.data.own import load_path
from core.settings import settings


@dataclass(frozen=True)
class DatasetSource:
    name: str  # what users type (CLI --dataset, the Train page's picker)
    load: Callable[[Path, bool, float, int], Dataset]  # (data root, download, test_fraction, seed) -> Dataset
    summary: str  # what it is, in a few words
    offline: str  # what works without the network
    aliases: tuple[str, ...] = ()  # other spellings accepted by load_dataset
    # The p(x|z) its pixels suit, the Train page's default: Bernoulli for near-binary strokes; a
    # Gaussian for grey-level faces (a Bernoulli VAE on Frey collapsed at the Train page's defaults:
    # 0 active units in 2 of 2 seeds, bench/results/vae_defaults.md).
    likelihood: str = "bernoulli"


DATASETS: dict[str, DatasetSource] = {s.name: s for s in (
    DatasetSource("digits", digits.load, "scikit-learn's bundled 1,797 8x8 digits", "yes"),
    DatasetSource("mnist", mnist.load, "torchvision's MNIST files under the data root", "5,000-image subset"),
    DatasetSource("fashion-mnist", fashion_mnist.load, "torchvision's FashionMNIST files under the data root",
                  "no", aliases=("fashionmnist", "fashion")),
    DatasetSource("frey", frey.load, "frey_rawface.mat (1,965 28x20 faces) in the data root", "no",
                  likelihood="gaussian"),
    DatasetSource("olivetti", olivetti.load, "olivettifaces.mat in the data root (downloaded when online)", "no",
                  likelihood="gaussian"),
)}
DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)
_ALIASES = {alias: s.name for s in DATASETS.values() for alias in s.aliases}


def default_likelihood(name: str) -> str:
    """The p(x|z) a registered dataset's pixels suit (DatasetSource.likelihood); Bernoulli for any other data."""
    source = DATASETS.get(_ALIASES.get(name, name))
    return "bernoulli" if source is None else source.likelihood


def load_dataset(
    name_or_path: str | os.PathLike[str],
    data_dir: str | Path | None = None,
    *,
    download: bool = True,
    image_size: tuple[int, int] | None = None,
    grayscale: bool = True,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """Load a registered dataset by name, or an image folder / ``.npz`` / ``.npy`` by path.

    Args:
        name_or_path: one of ``DATASET_NAMES``, or a path to an image folder, .npz or .npy.
        data_dir: the data root for registered datasets; ``settings().data`` when None.
        download: fetch missing files when online (MNIST, Fashion-MNIST, Frey, Olivetti).
        image_size: (H, W) (or one int for a square) to resize every image to, bilinear
            with antialiasing; None keeps the native size (image folders: 28x28).
        grayscale: convert colour images of folders and arrays to one channel.
        test_fraction: share held out as test set, in (0, 1), for datasets without an
            official test split (digits, frey, olivetti, custom data; stratified by label
            when labeled). MNIST and Fashion-MNIST keep their t10k test sets; MNIST's
            offline subset holds out a fixed 1,000 images.
        seed: seed of that split (the same seed gives the same split).

    Returns:
        A Dataset with images (N, C, H, W) float32 in [0, 1].
    """
    size = check_image_size(image_size)
    check_test_fraction(test_fraction)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise DatasetError(f"seed must be an int, got {seed!r}")
    root = Path(data_dir).expanduser() if data_dir is not None else settings().data

    key = str(name_or_path).strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    try:
        if not isinstance(name_or_path, os.PathLike) and key in DATASETS:
            return resized(DATASETS[key].load(root, download, test_fraction, seed), size)
        return load_path(name_or_path, size, grayscale, test_fraction, seed, DATASET_NAMES)
    except DatasetError:
        raise
    except MemoryError:  # the limits (core.data.limits) should have refused it first
        raise DatasetError(f"{name_or_path}: not enough memory to load it; try smaller data") from None
    except (OSError, EOFError, zlib.error) as e:  # e.g. a folder or file that cannot be read
        raise DatasetError(f"{name_or_path}: cannot read it ({type(e).__name__}: {e})") from e
