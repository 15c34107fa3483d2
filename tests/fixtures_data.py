"""Writers of tiny dataset files in the real formats, for tests (no network, no ../shared).

Each writer returns the pixels it wrote, upright, as uint8 (N, H, W) (or (N, H, W, 3) for
colour), so a test can compare what core.data loads against what went in.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

IDX_MAGIC_TYPE_UINT8 = 0x08


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic 0x0000 0x08 ndim, big-endian dims, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, IDX_MAGIC_TYPE_UINT8, array.ndim])
    dims = np.asarray(array.shape, dtype=">u4").tobytes()
    return header + dims + array.tobytes()


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write array as an IDX file; gzipped when the name ends in .gz."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def random_digits(n: int, seed: int = 0, n_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """n random uint8 28x28 images and labels cycling through the classes."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = 255  # every image reaches both ends of the range
    images[:, 0, 1] = 0
    labels = (np.arange(n) % n_classes).astype(np.uint8)
    return images, labels


def write_mnist_split(
    folder: str | Path, split: str, n: int, *, gz: bool = True, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Write one IDX pair ('train' or 't10k') of n images into folder (e.g. <root>/MNIST/raw)."""
    folder = Path(folder)
    images, labels = random_digits(n, seed=seed)
    ext = ".gz" if gz else ""
    write_idx(folder / f"{split}-images-idx3-ubyte{ext}", images)
    write_idx(folder / f"{split}-labels-idx1-ubyte{ext}", labels)
    return images, labels


def write_frey_mat(path: str | Path, n: int = 20, seed: int = 0) -> np.ndarray:
    """A frey_rawface.mat look-alike: uint8 'ff' of shape (560, n), one 28x20 face per column."""
    import scipy.io

    rng = np.random.default_rng(seed)
    faces = rng.integers(0, 256, size=(n, 28, 20), dtype=np.uint8)
    faces[:, :14, :] //= 4  # a dark top half: makes a transposed or flipped read detectable
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(path), {"ff": faces.reshape(n, -1).T.copy()})
    return faces


def write_olivetti_mat(
    path: str | Path, n_people: int = 3, per_person: int = 10, *, scale: str = "unit", seed: int = 0
) -> np.ndarray:
    """An olivettifaces.mat look-alike: 'faces' (4096, N), column-major 64x64 faces.

    scale: 'unit' (float in [0, 1]), 'float255' (float 0..255) or 'uint8' (0..255).
    Returns the upright faces as uint8 (N, 64, 64).
    """
    import scipy.io

    n = n_people * per_person
    rng = np.random.default_rng(seed)
    faces = rng.integers(0, 256, size=(n, 64, 64), dtype=np.uint8)
    faces[:, :32, :] //= 4  # dark top half
    faces[:, :, :8] = 255  # bright left strip: an upright read keeps it on the left
    # The real file stores each face column-major: faces.T.reshape(N,64,64).transpose(0,2,1)
    # undoes this.
    columns = faces.transpose(0, 2, 1).reshape(n, -1).T.copy()
    if scale == "unit":
        stored = columns.astype(np.float64) / 255.0
    elif scale == "float255":
        stored = columns.astype(np.float64)
    elif scale == "uint8":
        stored = columns
    else:
        raise ValueError(f"scale must be 'unit', 'float255' or 'uint8', got {scale!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(path), {"faces": stored})
    return faces


def write_image_folder(
    root: str | Path,
    classes: dict[str, int] | None = None,
    *,
    size: tuple[int, int] = (12, 10),
    mode: str = "RGB",
    seed: int = 0,
) -> Path:
    """An ImageFolder-style tree: root/<class>/<i>.png, n images per class (size is (H, W))."""
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    for name, n in (classes or {"cat": 3, "dog": 2}).items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            shape = (*size, 3) if mode == "RGB" else size
            pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root
