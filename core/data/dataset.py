"""What every loader returns: a Dataset (images (N, C, H, W) float32 in [0, 1], labels, a
train/test split) and the error it raises."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np


MAX_CLASSES = 100  # classes of one dataset: every legend, picker and per-class table lists them all


class DatasetError(ValueError):
    """A dataset could not be loaded; the message names the file or argument and the fix."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images and labels of one dataset, split into train and test.

    ``class_names`` is None for unlabeled data, and may be None for labeled custom data
    whose file gives no names (then ``str(label)`` is the name).
    """

    name: str  # registry name, or "custom:<file or folder name>"
    train_images: np.ndarray  # (N, C, H, W) float32 in [0, 1]
    train_labels: np.ndarray | None  # (N,) int64, or None when unlabeled
    test_images: np.ndarray  # (M, C, H, W) float32 in [0, 1]
    test_labels: np.ndarray | None  # (M,) int64, or None when unlabeled
    class_names: list[str] | None  # class_names[label] names a label
    source: str  # where the pixels came from, in words
    notice: str | None = None  # a warning to show the user (e.g. the offline MNIST subset)

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            images = getattr(self, f"{split}_images")
            labels = getattr(self, f"{split}_labels")
            if not isinstance(images, np.ndarray) or images.ndim != 4 or images.dtype != np.float32:
                raise DatasetError(
                    f"{self.name}: {split}_images must be a float32 array (N, C, H, W), got "
                    f"{getattr(images, 'dtype', type(images).__name__)} {getattr(images, 'shape', '')}"
                )
            if labels is not None and (labels.shape != (len(images),) or labels.dtype != np.int64):
                raise DatasetError(
                    f"{self.name}: {split}_labels must be int64 of shape ({len(images)},), got "
                    f"{labels.dtype} {labels.shape}"
                )
        self._check_classes()
        if self.train_images.shape[1:] != self.test_images.shape[1:]:
            raise DatasetError(
                f"{self.name}: train images {self.train_images.shape[1:]} and test images "
                f"{self.test_images.shape[1:]} differ in shape"
            )

    def _check_classes(self) -> None:
        """Labels are class indices 0..K-1 (K = len(class_names) when named), K at most MAX_CLASSES:
        the pages size their legends and pickers by K, so a label value must never be a size."""
        limit = MAX_CLASSES if self.class_names is None else min(len(self.class_names), MAX_CLASSES)
        if self.class_names is not None and len(self.class_names) > MAX_CLASSES:
            raise DatasetError(f"{self.name}: {len(self.class_names):,} classes; at most {MAX_CLASSES} are accepted")
        for split in ("train", "test"):
            labels = getattr(self, f"{split}_labels")
            if labels is not None and len(labels) and (labels.min() < 0 or labels.max() >= limit):
                raise DatasetError(
                    f"{self.name}: {split}_labels must be class indices 0..{limit - 1}, found "
                    f"{labels.min()}..{labels.max()}")

    def classes_in(self, split: str = "test") -> list[int]:
        """The class indices that have at least one image in ``split`` ("train" or "test"), sorted."""
        labels = getattr(self, f"{split}_labels")
        return [] if labels is None else [int(c) for c in np.unique(labels)]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        c, h, w = self.train_images.shape[1:]
        return int(c), int(h), int(w)

    @property
    def labeled(self) -> bool:
        return self.train_labels is not None

    def describe(self) -> dict[str, Any]:
        """A compact, JSON-ready summary for checkpoint cards, with a fingerprint of both splits."""
        return {
            "name": self.name,
            "source": self.source,
            "n_train": int(len(self.train_images)),
            "n_test": int(len(self.test_images)),
            "image_shape": list(self.image_shape),
            "fingerprint": self.fingerprint(),
        }

    def fingerprint(self) -> dict[str, str]:
        """Which images each split holds, as short hashes (the same pixels and order give the same hash)."""
        return dict(self._fingerprint)

    def test_images_seen_in_training(self) -> int:
        """How many test images are pixel-for-pixel equal to some training image (0 for a clean split)."""
        return self._overlap

    # Computed once per Dataset: its arrays are never changed after loading (the app makes them
    # read-only), and every checkpoint of a dataset asks the same question of the same object.
    @cached_property
    def _fingerprint(self) -> dict[str, str]:
        return {"train": images_fingerprint(self.train_images, self.train_labels),
                "test": images_fingerprint(self.test_images, self.test_labels)}

    @cached_property
    def _overlap(self) -> int:
        seen = {row.tobytes() for row in _as_bytes(self.train_images)}
        return sum(row.tobytes() in seen for row in _as_bytes(self.test_images))


def _as_bytes(images: np.ndarray) -> np.ndarray:
    """Images as uint8 rows: 8-bit pixels are what the files hold, and rounding hides float noise."""
    return np.round(images.reshape(len(images), -1) * 255).astype(np.uint8)


def images_fingerprint(images: np.ndarray, labels: np.ndarray | None) -> str:
    """SHA-256 (first 16 hex digits) of the 8-bit pixels, the shape and the labels of one split."""
    digest = hashlib.sha256(str(images.shape).encode())
    digest.update(_as_bytes(images).tobytes())
    if labels is not None:
        digest.update(np.asarray(labels, dtype=np.int64).tobytes())
    return digest.hexdigest()[:16]


def differences_from_card(dataset: Dataset, card_dataset: dict[str, Any]) -> list[str]:
    """Plain sentences on how the loaded data differ from the data a card was trained and measured on.

    Empty when the card has no fingerprint (older cards) or both splits match.
    """
    recorded = card_dataset.get("fingerprint") or {}
    if not recorded:
        return []
    here = dataset.fingerprint()
    notes = []
    if recorded.get("test") and recorded["test"] != here["test"]:
        notes.append(
            f"The test images here ({len(dataset.test_images):,}) are not the {card_dataset.get('n_test', 0):,} "
            "this model's card was measured on, so the numbers on screen differ from the card's."
        )
    if recorded.get("train") and recorded["train"] != here["train"]:
        notes.append(
            f"This model was trained on other images ({card_dataset.get('n_train', 0):,}) than the "
            f"{len(dataset.train_images):,} training images loaded here."
        )
    overlap = dataset.test_images_seen_in_training()
    if overlap:
        notes.append(f"{overlap:,} of the {len(dataset.test_images):,} test images also occur in the training "
                     "images: they are not unseen images.")
    return notes

