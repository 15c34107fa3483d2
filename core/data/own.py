"""Your own data, by path: an image folder (one subfolder per class, or a flat folder),
a ``.npz`` or a ``.npy`` file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from core.data.arrays import resize, split_dataset, to_unit_float
from core.data.dataset import MAX_CLASSES, Dataset, DatasetError
from core.data.limits import FOLDER_FORMATS, check_decoded, load_image_file, read_npy, read_npz

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


def labels_from(raw: np.ndarray, n: int, what: str,
                names: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """(labels renumbered 0..K-1 in sorted order of the values, the K class names).

    A label's value names its class and is never used as a size: labels 1 and 7 become
    classes 0 and 1 named "1" and "7" (or ``names[1]`` and ``names[7]`` when the file gives
    class names, indexed by the original values). More than ``MAX_CLASSES`` classes are refused.
    """
    if raw.ndim != 1 or len(raw) != n:
        raise DatasetError(f"{what}: labels must have shape ({n},) to match the images, got {raw.shape}")
    if raw.dtype.kind == "f":
        if not np.isfinite(raw).all() or (raw != np.round(raw)).any():
            raise DatasetError(f"{what}: labels must be whole numbers, found non-integer values")
        raw = raw.astype(np.int64)
    elif raw.dtype.kind not in "iubUS":
        raise DatasetError(f"{what}: labels dtype {raw.dtype} is not supported; use ints or strings")
    values, labels = np.unique(raw, return_inverse=True)
    if len(values) > MAX_CLASSES:
        raise DatasetError(
            f"{what}: the labels hold {len(values):,} different values; at most {MAX_CLASSES} classes are "
            "accepted (give each class one label value)"
        )
    if raw.dtype.kind in "US":
        return labels.astype(np.int64).reshape(-1), [str(v) for v in values]
    if names is not None:
        outside = [int(v) for v in values if not 0 <= int(v) < len(names)]
        if outside:
            raise DatasetError(f"{what}: label {outside[0]} has no class name (class_names gives {len(names)}, "
                               f"for labels 0..{len(names) - 1})")
        return labels.astype(np.int64).reshape(-1), [names[int(v)] for v in values]
    return labels.astype(np.int64).reshape(-1), [str(int(v)) for v in values]


def load_array_file(
    path: Path, size: tuple[int, int] | None, grayscale: bool, test_fraction: float, seed: int
) -> Dataset:
    what = str(path)
    labels_raw = None
    class_names: list[str] | None = None
    if path.suffix.lower() == ".npy":
        images_raw = read_npy(path, within=os.path.realpath(path))
        key = None
    else:
        arrays = read_npz(path, within=os.path.realpath(path))
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
    stored = to_nchw(images_raw, what)
    labels = None
    if labels_raw is not None:
        labels, class_names = labels_from(labels_raw, len(stored), f"{path} (labels)", class_names)
    else:
        class_names = None

    def prepare(part: np.ndarray) -> np.ndarray:
        """Stored pixels of one split -> float32 in [0, 1], gray and resized as asked. Each split
        is converted on its own, so the float32 copy of all the images never exists twice."""
        images = to_unit_float(part, what)
        if grayscale:
            images = to_gray(images)
        if size is not None:
            images = resize(np.ascontiguousarray(images), size)
        return np.ascontiguousarray(images, dtype=np.float32)

    c = 1 if grayscale else stored.shape[1]
    h, w = size or stored.shape[2:]
    source = f"{len(stored):,} images {c}x{h}x{w} from {path.name}"
    return split_dataset(f"custom:{path.name}", stored, labels, class_names, source, test_fraction, seed, prepare)


class FolderScan(NamedTuple):
    """What an image folder holds, in the order every loader reads it."""

    files: list[Path]  # sorted per class, classes sorted by name (or the flat folder's images)
    labels: list[int] | None  # the class index of each file; None for a flat folder
    class_names: list[str] | None  # the class folders' names
    skipped: int  # entries that look like images but are not regular files (FIFOs, devices, sockets)


def _entries(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as e:
        raise DatasetError(f"{folder}: cannot list it ({e.strerror or e})") from None


def scan_image_folder(root: Path) -> FolderScan:
    """One subfolder per class (classes sorted by name, at most ``MAX_CLASSES``), else a flat
    folder of images. Only regular files are listed; the rest are counted in ``skipped``.
    Reading each file goes through ``open_regular`` again: a check here is not trusted later."""
    skipped = 0

    def images_in(folder: Path) -> list[Path]:
        nonlocal skipped
        found = []
        for entry in _entries(folder):
            if entry.name.lower().endswith(IMAGE_EXTENSIONS):
                if entry.is_file():
                    found.append(Path(entry.path))
                elif not entry.is_dir():
                    skipped += 1
        return found

    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder of images (one subfolder per class, or flat)")
    class_dirs = [Path(e.path) for e in _entries(root) if e.is_dir()]
    per_class = [(d, found) for d in class_dirs if (found := images_in(d))]
    if len(per_class) > MAX_CLASSES:
        raise DatasetError(f"{root}: {len(per_class):,} class folders hold images; at most {MAX_CLASSES} classes "
                           "are accepted")
    if per_class:
        files = [f for _, found in per_class for f in found]
        labels = [i for i, (_, found) in enumerate(per_class) for _ in found]
        return FolderScan(files, labels, [d.name for d, _ in per_class], skipped)
    files = images_in(root)
    if not files:
        raise DatasetError(
            f"{root}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)} in its subfolders, "
            "one subfolder per class, and in the folder itself)"
        )
    return FolderScan(files, None, None, skipped)


def load_image_folder(
    root: Path, size: tuple[int, int], grayscale: bool, test_fraction: float, seed: int
) -> Dataset:
    """Every image of the folder (see ``scan_image_folder``) at ``size``; each file is read only
    when, once open, it lies inside the folder's real path (a class folder swapped for a link
    after the scan cannot lead the reader out)."""
    from PIL import Image

    within = os.path.realpath(root)
    scan = scan_image_folder(root)
    files, class_names = scan.files, scan.class_names
    mode = "L" if grayscale else "RGB"
    c = 1 if grayscale else 3
    check_decoded(f"{root} ({len(files):,} images as {c}x{size[0]}x{size[1]})", (len(files), c, *size), 4)
    out = np.empty((len(files), c, *size), dtype=np.float32)
    for i, f in enumerate(files):
        arr = load_image_file(f, mode, str(f), formats=FOLDER_FORMATS, within=within)
        if arr.shape[:2] != size:
            resized = Image.fromarray(arr).resize((size[1], size[0]), Image.Resampling.BILINEAR)
            arr = np.asarray(resized, dtype=np.uint8)
        out[i] = (arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)) / np.float32(255)
    labels = np.asarray(scan.labels, dtype=np.int64) if scan.labels is not None else None
    n_cls = f"{len(class_names)} classes" if class_names else "no classes"
    skipped = f", {scan.skipped} entries skipped (not regular files)" if scan.skipped else ""
    source = f"image folder {root.name} ({len(files):,} images, {n_cls}, as {c}x{size[0]}x{size[1]}{skipped})"
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
