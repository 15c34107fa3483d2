"""fashion-mnist: Zalando's 28x28 clothes, torchvision's IDX files under the data root (downloaded when online)."""

from __future__ import annotations

from pathlib import Path

from core.data.dataset import Dataset, DatasetError
from core.data.bundled import describe_location
from core.data.idx import IDX_FILES, find_idx_sets

FASHION_MNIST_CLASSES = [  # same order as torchvision.datasets.FashionMNIST.classes
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]


def load(root: Path, download: bool, test_fraction: float, seed: int) -> Dataset:
    """Zalando's training and t10k files (test_fraction and seed unused: the split is the official one)."""
    found, folders, why = find_idx_sets(root, "FashionMNIST", "fashion-mnist", download, complete=True)
    raw = folders[0]
    if len(found) < 2:
        missing = [
            name + ".gz"
            for split in ("train", "test")
            if split not in found
            for name in (IDX_FILES[f"{split}_images"], IDX_FILES[f"{split}_labels"])
        ]
        raise DatasetError(
            f"fashion-mnist: the IDX files are not in {raw} ({why or 'the download did not provide them'}); "
            f"missing: {', '.join(missing)}. Be online with download=True (torchvision fetches them), "
            f"or put the four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            f"t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz from "
            f"https://github.com/zalandoresearch/fashion-mnist) in {raw}."
        )
    x_train, y_train, train_dir = found["train"]
    x_test, y_test, test_dir = found["test"]
    return Dataset(
        name="fashion-mnist",
        train_images=x_train,
        train_labels=y_train,
        test_images=x_test,
        test_labels=y_test,
        class_names=list(FASHION_MNIST_CLASSES),
        source=(
            f"Fashion-MNIST training files ({len(x_train):,}) in {describe_location(train_dir, root)} "
            f"and t10k files ({len(x_test):,}) in {describe_location(test_dir, root)}"
        ),
    )
