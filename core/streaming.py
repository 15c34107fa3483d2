"""A folder of images streamed from disk, for training sets too large for memory.

    python -m core train --dataset ~/faces --stream --workers 8 --image-size 64x64 \
        --architecture conv --device cuda --amp auto --out checkpoints/faces-vae-16

``load_streamed`` scans the folder the way ``core.data.load_dataset`` does (one subfolder per
class, or a flat folder; the same sorted file list and the same seeded train/test split), but
keeps only the file list of the training split. ``ImageFolderStream`` decodes one file with
torchvision (``torchvision.io.decode_image``: libjpeg-turbo / libpng, no PIL on the hot path),
converts to gray with PIL's ITU-R 601 integer weights and resizes bilinearly with
antialiasing, like the in-memory loader, and returns uint8 (C, H, W): a quarter of the bytes
to pass from the worker processes, turned into float in [0, 1] on the training device.
Formats torchvision does not decode (BMP, TIFF, PGM/PPM) go through PIL; only
``FOLDER_FORMATS`` are decoded, recognised from the file's bytes.

``wrap`` gives the fit loop its batches from a DataLoader (``StreamBatches``) with worker
processes, pinned memory on CUDA and persistent workers, sharded over DDP ranks with
DistributedSampler (seeded, reshuffled every epoch). The test split (at most ``max_eval_images`` of it, a seeded sample)
and, for labelled data, an equal sample of training images for the kNN metric are decoded
into memory once: evaluation reads tensors like every other dataset.

Files are refused with a clear error (naming the file) when they cannot be decoded, are larger
than ``MAX_FILE_BYTES``, or their header announces more than ``MAX_IMAGE_PIXELS`` pixels (checked
before decoding, so a decompression bomb never allocates).
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from core.data import Dataset, DatasetError
from core.data.arrays import split
from core.data.limits import FOLDER_FORMATS, open_regular, read_limited
from core.data.own import DEFAULT_FOLDER_IMAGE_SIZE, scan_image_folder

MAX_IMAGE_PIXELS = 40_000_000  # about 6,300 x 6,300: far above any face crop, far below a bomb
MAX_FILE_BYTES = 64 * 2**20
DEFAULT_MAX_EVAL_IMAGES = 10_000
TORCHVISION_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")  # what torchvision.io decodes (PIL's format names)


def decode_image_file(path: str | Path, size: tuple[int, int], grayscale: bool = True,
                      within: str | None = None) -> torch.Tensor:
    """One image file -> uint8 tensor (1 or 3, H, W) at ``size``; DatasetError when refused.

    The file is read through ``open_regular`` (a regular file inside ``within``, checked on the
    open handle) and decoded from those bytes by the format PIL recognises in them."""
    path = Path(path)
    with open_regular(path, str(path), within) as f:
        n_bytes = os.fstat(f.fileno()).st_size
        if n_bytes > MAX_FILE_BYTES:
            raise DatasetError(f"{path}: {n_bytes:,} bytes is larger than the {MAX_FILE_BYTES:,} allowed for one image")
        data = read_limited(f, n_bytes, str(path))
    image_format = _check_header(data, path)
    try:
        img = _decode_torchvision(data) if image_format in TORCHVISION_FORMATS else _decode_pil(data)
    except Exception as err:  # torchvision raises RuntimeError, PIL OSError / ValueError
        raise DatasetError(f"{path}: cannot read it as an image ({err})") from err
    if grayscale:
        img = _to_gray_u8(img)
    if tuple(img.shape[1:]) != tuple(size):
        from torchvision.transforms.v2 import InterpolationMode
        from torchvision.transforms.v2.functional import resize

        img = resize(img, list(size), interpolation=InterpolationMode.BILINEAR, antialias=True)
    return img.contiguous()


def _check_header(data: bytes, path: Path) -> str:
    """The image's format, read from the header only (PIL opens lazily), among FOLDER_FORMATS;
    images announcing too many pixels are refused."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data), formats=list(FOLDER_FORMATS)) as im:
            w, h = im.size
            image_format = str(im.format)
    except Image.DecompressionBombError as err:
        raise DatasetError(f"{path}: refused, the image is too large ({err})") from err
    except UnidentifiedImageError:
        raise DatasetError(f"{path}: cannot read it as an image: not one of {', '.join(FOLDER_FORMATS)} "
                           "(the format is read from the file's content, not its name)") from None
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: cannot read it as an image ({err})") from err
    if w * h > MAX_IMAGE_PIXELS:
        raise DatasetError(
            f"{path}: refused, {w}x{h} = {w * h:,} pixels is more than the {MAX_IMAGE_PIXELS:,} allowed per image"
        )
    return image_format


def _decode_torchvision(data: bytes) -> torch.Tensor:
    from torchvision.io import ImageReadMode, decode_image

    return decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)


def _decode_pil(data: bytes) -> torch.Tensor:
    from PIL import Image

    with Image.open(io.BytesIO(data), formats=list(FOLDER_FORMATS)) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def _to_gray_u8(rgb: torch.Tensor) -> torch.Tensor:
    """(3, H, W) uint8 -> (1, H, W) uint8 with PIL's convert('L') integer arithmetic (ITU-R 601)."""
    r, g, b = rgb.to(torch.int32).unbind(0)
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).to(torch.uint8).unsqueeze(0)


class ImageFolderStream(torch.utils.data.Dataset):
    """Image files decoded on demand: item i is uint8 (C, H, W). Safe to use from DataLoader workers."""

    def __init__(self, files: list[Path], size: tuple[int, int], grayscale: bool = True, workers: int = 0,
                 within: str | None = None):
        if not files:
            raise DatasetError("no image files to stream")
        self.files = [str(f) for f in files]
        self.within = within  # every file must lie inside it once open (the folder's real path)
        self.size = (int(size[0]), int(size[1]))
        self.grayscale = grayscale
        self.workers = int(workers)  # DataLoader worker processes while training on this stream

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (1 if self.grayscale else 3, *self.size)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        return decode_image_file(self.files[i], self.size, self.grayscale, self.within)


def is_stream(obj: Any) -> bool:
    return isinstance(obj, ImageFolderStream)


@dataclass(frozen=True, eq=False)
class StreamedDataset(Dataset):
    """A Dataset whose training images stay on disk (``train_stream``).

    ``train_images`` holds only a seeded sample (the kNN metric's labelled points); the test
    split in memory is at most ``max_eval_images`` images. ``describe`` reports the full counts.
    """

    train_stream: ImageFolderStream | None = None
    n_test_total: int = 0

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(n_train=len(self.train_stream), streamed=True, n_test_total=self.n_test_total,
                 workers=self.train_stream.workers)
        return d


def load_streamed(
    root: str | Path,
    image_size: tuple[int, int] | None = None,
    grayscale: bool = True,
    test_fraction: float = 0.2,
    seed: int = 0,
    workers: int = 0,
    max_eval_images: int = DEFAULT_MAX_EVAL_IMAGES,
) -> StreamedDataset:
    """Scan ``root``, split like core.data.load_dataset, decode the (sampled) test split into memory."""
    # the same split as the in-memory loader (core.data.arrays.split)

    root = Path(root).expanduser()
    size = tuple(image_size) if image_size else DEFAULT_FOLDER_IMAGE_SIZE
    if not root.is_dir():
        raise DatasetError(f"{root}: --stream needs a folder of images (one subfolder per class, or flat)")
    within = os.path.realpath(root)
    files, labels, class_names, _ = scan_image_folder(root)
    label_arr = np.asarray(labels, dtype=np.int64) if labels is not None else None
    train_idx, test_idx = split(len(files), label_arr, test_fraction, seed, f"custom:{root.name}")
    rng = np.random.default_rng(seed + 7)
    eval_test = np.sort(rng.permutation(test_idx)[:max_eval_images])
    knn_train = np.sort(rng.permutation(train_idx)[:max_eval_images]) if label_arr is not None else train_idx[:1]
    test_images = _decode_all([files[i] for i in eval_test], size, grayscale, workers, within)
    knn_images = _decode_all([files[i] for i in knn_train], size, grayscale, workers, within)
    c = 1 if grayscale else 3
    n_cls = f"{len(class_names)} classes" if class_names else "no classes"
    return StreamedDataset(
        name=f"custom:{root.name}",
        train_images=knn_images,
        train_labels=None if label_arr is None else label_arr[knn_train],
        test_images=test_images,
        test_labels=None if label_arr is None else label_arr[eval_test],
        class_names=class_names,
        source=(f"image folder {root} ({len(files):,} images, {n_cls}, as {c}x{size[0]}x{size[1]}), streamed; "
                f"random split test_fraction={test_fraction:g} seed={seed}; "
                f"{len(eval_test):,} of {len(test_idx):,} test images evaluated"),
        train_stream=ImageFolderStream([files[i] for i in train_idx], size, grayscale, workers, within),
        n_test_total=int(len(test_idx)),
    )


def _decode_all(files: list[Path], size, grayscale: bool, workers: int, within: str | None) -> np.ndarray:
    """Decode files into one float32 (N, C, H, W) array in [0, 1], with worker processes."""
    stream = ImageFolderStream(files, size, grayscale, within=within)
    loader = torch.utils.data.DataLoader(stream, batch_size=256, num_workers=workers)
    out = np.empty((len(stream), *stream.image_shape), dtype=np.float32)
    start = 0
    for batch in loader:
        out[start:start + len(batch)] = batch.numpy() / np.float32(255)
        start += len(batch)
    return out


@dataclass
class StreamBatches:
    """One DataLoader for the whole run; ``__call__(epoch)`` yields this rank's float batches on the device."""

    stream: ImageFolderStream
    batch_size: int
    seed: int
    workers: int
    device: torch.device
    loader: Any = field(init=False)
    sampler: Any = field(init=False)

    def __post_init__(self) -> None:
        from torch.utils.data import DataLoader, DistributedSampler

        from core import distributed

        d = distributed.info()
        # DistributedSampler pads the shards to equal length, so every rank makes the same
        # number of steps; in one process it is a seeded shuffle reshuffled by set_epoch.
        self.sampler = DistributedSampler(self.stream, num_replicas=d.world_size, rank=d.rank,
                                          shuffle=True, seed=self.seed, drop_last=False)
        self.loader = DataLoader(
            self.stream, batch_size=self.batch_size, sampler=self.sampler, num_workers=self.workers,
            pin_memory=self.device.type == "cuda", persistent_workers=self.workers > 0,
            prefetch_factor=4 if self.workers > 0 else None, drop_last=False,
        )

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.batch_size)

    def __call__(self, epoch: int) -> Iterator[torch.Tensor]:
        self.sampler.set_epoch(epoch)
        for batch in self.loader:
            yield batch.to(self.device, non_blocking=True).float().div_(255)


def wrap(loop, train_x, config, device: torch.device):
    """The fit loop's batches (core.train.Loop) from a folder on disk; the loop unchanged for a tensor."""
    if not is_stream(train_x):
        return loop
    return dataclasses.replace(loop, batches=StreamBatches(train_x, config.batch_size, config.seed, train_x.workers,
                                                           device))


def check_stream(stream: ImageFolderStream, model, config) -> None:
    """What the fit loop cannot do with a stream: PCA (closed form over all images), a validation split."""
    from core.models import PCA

    if isinstance(model, PCA):
        raise ValueError("PCA is fitted in closed form on all images in memory; it cannot train on a stream")
    if config.validation_fraction > 0:
        raise ValueError("validation_fraction > 0 is not supported when streaming the training images")
    if tuple(stream.image_shape) != tuple(model.image_shape):
        raise ValueError(f"the stream gives images of shape {stream.image_shape}, the model expects {model.image_shape}")
