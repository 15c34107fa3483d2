"""Your own data, by path: an image folder (one subfolder per class, or a flat folder),
a ``.npz`` or a ``.npy`` file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from core.data.arrays import resize, split_dataset, to_unit_float
from core.data.dataset import Dataset, DatasetError
from core.data.limits import check_decoded, load_image_file, read_npy, read_npz

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
DEFAULT_FOLDER_IMAGE_SIZE = (28, 28)


def to_nchw(arr: np.ndarray, what: str) -> np.ndarray:
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


def to_gray(images: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) -> (N, 1, H, W) with ITU-R 601 luma weights (as PIL's convert('L'))."""
    if images.shape[1] != 3:
        return images
    w = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(np.einsum("nchw,c->nhw", images, w), 0.0, 1.0)[:, None].astype(np.float32)


def labels_from(raw: np.ndarray, n: int, what: str) -> tuple[np.ndarray, list[str] | None]:
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


def load_array_file(
    path: Path, size: tuple[int, int] | None, grayscale: bool, test_fraction: float, seed: int
) -> Dataset:
    what = str(path)
    labels_raw = None
    class_names: list[str] | None = None
    if path.suffix.lower() == ".npy":
        images_raw = read_npy(path)
        key = None
    else:
        arrays = read_npz(path)
        keys = list(arrays)
        if not keys:
            raise DatasetError(f"{what}: the .npz holds no arrays")
        key = next((k for k in ("images", "x", "X") if k in keys), keys[0])
        images_raw = arrays[key]
        lkey = next((k for k in ("labels", "y", "Y") if k in keys and k != key), None)
        if lkey is not None:
            labels_raw = arrays[lkey]
        if "class_names" in keys:
            names = arrays["class_names"]
            if names.ndim != 1 or names.dtype.kind not in "USiu" or len(names) > 100_000:
                raise DatasetError(f"{what}: class_names must be a 1-D array of strings")
            class_names = [str(s) for s in names]
    if key is not None:
        what = f"{path} (array {key!r})"
    if not isinstance(images_raw, np.ndarray) or images_raw.dtype.kind not in "uifb":
        raise DatasetError(
            f"{what}: images must be a numeric array (uint8 0..255 or float in [0, 1]), "
            f"got dtype {getattr(images_raw, 'dtype', type(images_raw).__name__)}"
        )
    if images_raw.size == 0:
        raise DatasetError(f"{what}: holds no images (empty array of shape {images_raw.shape})")
    images = to_unit_float(to_nchw(images_raw, what), what)
    if grayscale:
        images = to_gray(images)
    if size is not None:
        images = resize(np.ascontiguousarray(images), size)
    images = np.ascontiguousarray(images, dtype=np.float32)
    labels = None
    if labels_raw is not None:
        labels, names = labels_from(labels_raw, len(images), f"{path} (labels)")
        class_names = names or class_names
        if class_names is not None and labels.max() >= len(class_names):
            raise DatasetError(
                f"{path}: labels go up to {labels.max()} but only {len(class_names)} class_names are given"
            )
    c, h, w = images.shape[1:]
    source = f"{len(images):,} images {c}x{h}x{w} from {path.name}"
    return split_dataset(f"custom:{path.name}", images, labels, class_names, source, test_fraction, seed)


def load_image_folder(
    root: Path, size: tuple[int, int], grayscale: bool, test_fraction: float, seed: int
) -> Dataset:
    from PIL import Image

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
    check_decoded(f"{root} ({len(files):,} images as {c}x{size[0]}x{size[1]})", (len(files), c, *size), 4)
    out = np.empty((len(files), c, *size), dtype=np.float32)
    for i, f in enumerate(files):
        arr = load_image_file(f, mode, str(f))
        if arr.shape[:2] != size:
            resized = Image.fromarray(arr).resize((size[1], size[0]), Image.Resampling.BILINEAR)
            arr = np.asarray(resized, dtype=np.uint8)
        out[i] = (arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)) / np.float32(255)
    labels = np.asarray(labels_list, dtype=np.int64) if class_names is not None else None
    n_cls = f"{len(class_names)} classes" if class_names else "no classes"
    source = f"image folder {root.name} ({len(files):,} images, {n_cls}, as {c}x{size[0]}x{size[1]})"
    return split_dataset(f"custom:{root.name}", out, labels, class_names, source, test_fraction, seed)


def load_path(name_or_path: str | os.PathLike[str], size: tuple[int, int] | None, grayscale: bool,
              test_fraction: float, seed: int, known: tuple[str, ...]) -> Dataset:
    """An image folder, .npz or .npy at ``name_or_path``; DatasetError names what is wrong,
    and lists the ``known`` dataset names when the argument looks like a misspelt one."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return load_image_folder(path, size or DEFAULT_FOLDER_IMAGE_SIZE, grayscale, test_fraction, seed)
    if path.suffix.lower() in (".npz", ".npy") or path.exists():
        if not path.exists():
            raise DatasetError(f"{path}: no such file")
        if path.suffix.lower() not in (".npz", ".npy"):
            raise DatasetError(
                f"{path}: unsupported file type {path.suffix!r}; give an image folder, a .npz or a .npy file"
            )
        return load_array_file(path, size, grayscale, test_fraction, seed)
    if os.sep in str(name_or_path) or "/" in str(name_or_path):
        raise DatasetError(f"{path}: no such file or folder")
    raise DatasetError(
        f"unknown dataset {str(name_or_path)!r}: valid names are {', '.join(known)}, "
        "or give a path to an image folder (one subfolder per class), a .npz or a .npy file"
    )
