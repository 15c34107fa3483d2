"""IDX files (MNIST's format): the reader, and finding a train / test pair of them in a folder."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from core.data.arrays import to_unit_float
from core.data.dataset import DatasetError
from core.data.download import REDOWNLOAD, first_existing, try_download
from core.data.limits import check_decoded, check_file_size, check_ratio

# The four IDX files of MNIST and Fashion-MNIST (same names for both).
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (MNIST's format), plain or gzipped, into a numpy array.

    Checks the magic number (0x0000, a dtype code, ndim), that the shape its header promises
    is within the size cap (core.data.limits) before reading the data, and that the file
    holds exactly those bytes; raises DatasetError naming the file otherwise. A gzipped file
    is inflated as a stream, never beyond what its header promises (plus one byte).
    """
    path = Path(path)
    try:
        size = check_file_size(path, str(path))
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            return _read_idx_stream(f, path, ndim, size)
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(
            f"{path}: cannot read it ({e}); the file is corrupt or truncated: {REDOWNLOAD}"
        ) from e


def _read_idx_stream(f, path: Path, ndim: int | None, file_size: int) -> np.ndarray:
    magic = f.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES:
        raise DatasetError(
            f"{path}: wrong magic number {magic[:4].hex() or '(empty file)'}; not an IDX file: {REDOWNLOAD}"
        )
    dtype = np.dtype(_IDX_DTYPES[magic[2]])
    nd = magic[3]
    if ndim is not None and nd != ndim:
        raise DatasetError(
            f"{path}: wrong magic number {magic.hex()} (IDX with {nd} dimensions, "
            f"expected {ndim}): {REDOWNLOAD}"
        )
    dims = f.read(4 * nd)
    if len(dims) < 4 * nd:
        raise DatasetError(f"{path}: truncated header ({4 + len(dims)} bytes): {REDOWNLOAD}")
    shape = tuple(int(v) for v in np.frombuffer(dims, dtype=">u4", count=nd))
    expected = check_decoded(str(path), shape, dtype.itemsize)
    if path.suffix == ".gz":
        check_ratio(str(path), expected, file_size)
    data = f.read(expected + 1)  # bounded: one byte more tells a too-long file
    if len(data) != expected:
        raise DatasetError(
            f"{path}: size mismatch: header promises shape {shape} ({expected} bytes of data) but the "
            f"file holds {len(data)}{'+' if len(data) > expected else ''}; the file is truncated or corrupt: {REDOWNLOAD}"
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def idx_path(folders: list[Path], base: str) -> Path | None:
    return first_existing([f / name for f in folders for name in (base, base + ".gz")])


def read_idx_pair(images_path: Path, labels_path: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, H, W) float32 and labels (N,) int64 of one IDX pair, cross-checked."""
    raw = read_idx(images_path, ndim=3)
    if raw.dtype != np.uint8:
        raise DatasetError(f"{images_path}: expected uint8 pixels, found {raw.dtype}: {REDOWNLOAD}")
    labels = read_idx(labels_path, ndim=1).astype(np.int64)
    if len(labels) != len(raw):
        raise DatasetError(
            f"{images_path} holds {len(raw)} images but {labels_path} holds {len(labels)} labels; "
            f"one of them is from another set or truncated: {REDOWNLOAD}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise DatasetError(
            f"{labels_path}: labels must be in 0..{n_classes - 1}, "
            f"found {labels.min()}..{labels.max()}: {REDOWNLOAD}"
        )
    return to_unit_float(raw, str(images_path))[:, None], labels


def idx_folders(root: Path, class_name: str, short: str) -> list[Path]:
    return [root / class_name / "raw", root / short]


def load_idx_set(folders: list[Path], n_classes: int) -> dict[str, tuple[np.ndarray, np.ndarray, Path]]:
    """Read whichever of the train / test IDX pairs are complete in the first folder that has them."""
    found: dict[str, tuple[np.ndarray, np.ndarray, Path]] = {}
    for split in ("train", "test"):
        for folder in folders:
            ip = idx_path([folder], IDX_FILES[f"{split}_images"])
            lp = idx_path([folder], IDX_FILES[f"{split}_labels"])
            if ip is not None and lp is not None:
                x, y = read_idx_pair(ip, lp, n_classes)
                found[split] = (x, y, folder)
                break
    return found


def find_idx_sets(root: Path, class_name: str, short: str, download: bool, complete: bool
                  ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, Path]], list[Path], str | None]:
    """The IDX sets of a torchvision dataset (``class_name``, e.g. "MNIST") in ``root``, downloading
    them when ``download`` and the training set (both sets when ``complete``) is missing.

    Returns (found sets by split, the folders looked in, why the download did not help or None).
    """
    folders = idx_folders(root, class_name, short)
    found = load_idx_set(folders, 10)
    missing = len(found) < 2 if complete else "train" not in found
    why = None
    if missing:
        why = try_download(class_name, root) if download else "download=False"
        if why is None:
            found = load_idx_set(folders, 10)
            if not complete and "train" not in found:
                why = f"the download left no training files in {folders[0]}"
    return found, folders, why
