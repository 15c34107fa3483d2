"""Codes beside checkpoints: NAME.codes.safetensors holds a checkpoint's encoded test set.

Opening a latent map then means reading a few hundred kilobytes instead of importing torch
and encoding 10,000 images. Written when the shipped checkpoints are built
(core/pretrain/run.py, and ``python -m scripts.build_codes`` for the ones already there);
read by explorer/ui/loaders.encoded, which encodes instead whenever the file is missing or
stale.

The file (safetensors, no pickle):
    means     (N, D) float16   posterior means of the first N test images (N <= MAX_CODES)
    logvars   (N, D) float16   VAEs only
    labels    (N,)   uint8 / int16 / int32 / int64, when the data is labeled
    metadata  format, weights_sha256 (the checkpoint's, from its card), dataset, n, n_test,
              test_sha256 (a fingerprint of the N test images and labels)

Stale means: the card's weights_sha256 differs (the checkpoint was rebuilt), or the test
images on this machine are not the ones encoded (``test_sha256``; e.g. the full MNIST
instead of the bundled subset). float16 keeps ~3 significant digits: plenty for a map.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from core.atomicfile import write_atomically
from core.checkpoints import read_card
from core.safefile import read_safetensors, safetensors_metadata

if TYPE_CHECKING:
    from core.data import Dataset
    from core.models import LatentModel

FORMAT = "latent-explorer-codes-1"
SUFFIX = ".codes.safetensors"
MAX_CODES = 10_000  # the most test codes stored (and shown on a map)
MAX_CODES_FILE_BYTES = 64 * 10**6  # a codes file read whole: 10,000 codes of up to ~1,500 dimensions
BATCH = 2000


class StoredCodes(NamedTuple):
    means: np.ndarray  # (N, D) float32, read-only
    logvars: np.ndarray | None  # (N, D) float32, read-only; VAE only
    labels: np.ndarray | None  # (N,) int64, read-only
    metadata: dict[str, str]


def codes_path(checkpoint: str | Path) -> Path:
    """dir/NAME.codes.safetensors for 'dir/NAME' (or 'dir/NAME.json' / '.safetensors')."""
    path = Path(checkpoint)
    if path.suffix in (".json", ".safetensors"):
        path = path.with_suffix("")
    return path.with_name(path.name + SUFFIX)


def test_fingerprint(images: np.ndarray, labels: np.ndarray | None) -> str:
    """SHA-256 of test images (and labels): which images a file of codes belongs to."""
    h = hashlib.sha256(str(images.shape).encode())
    h.update(np.ascontiguousarray(images, dtype=np.float32).tobytes())
    if labels is not None:
        h.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return h.hexdigest()


def _label_dtype(labels: np.ndarray) -> type:
    lo, hi = (int(labels.min()), int(labels.max())) if len(labels) else (0, 0)
    for dtype in (np.uint8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return dtype
    return np.int64


def encode_test_set(model: LatentModel, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Posterior means (and logvars for a VAE) of ``images``, float32, in batches."""
    import torch

    means, logvars = [], []
    with torch.no_grad():
        for start in range(0, len(images), BATCH):
            posterior = model.encode(torch.from_numpy(np.array(images[start:start + BATCH], dtype=np.float32)))
            means.append(posterior.mean.numpy())
            if posterior.logvar is not None:
                logvars.append(posterior.logvar.numpy())
    return np.concatenate(means), (np.concatenate(logvars) if logvars else None)


def save_codes(model: LatentModel, dataset: Dataset, path: str | Path, card: dict | None = None,
               limit: int = MAX_CODES) -> Path:
    """Encode the first ``limit`` test images of ``dataset`` with ``model``; write the codes file
    of checkpoint ``path`` (dir/NAME) atomically. ``card``: the checkpoint's card (its
    weights_sha256 ties the codes to the weights); read from dir/NAME.json when not given."""
    from safetensors.numpy import save_file

    target = codes_path(path)
    if card is None:
        card = read_card(target.with_name(target.name[: -len(SUFFIX)]))
    n = min(int(limit), len(dataset.test_images))
    images = dataset.test_images[:n]
    labels = None if dataset.test_labels is None else dataset.test_labels[:n]
    means, logvars = encode_test_set(model, images)
    tensors = {"means": means.astype(np.float16)}
    if logvars is not None:
        tensors["logvars"] = logvars.astype(np.float16)
    if labels is not None:
        tensors["labels"] = labels.astype(_label_dtype(labels))
    metadata = {"format": FORMAT, "weights_sha256": str(card.get("weights_sha256", "")),
                "dataset": dataset.name, "n": str(n), "n_test": str(len(dataset.test_images)),
                "test_sha256": test_fingerprint(images, labels)}
    return write_atomically(target, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def load_codes(path: str | Path) -> StoredCodes:
    """Read a codes file (raises OSError / ValueError when it is missing or damaged)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    data = read_safetensors(path, MAX_CODES_FILE_BYTES)  # a regular file, as long as its header says
    metadata = safetensors_metadata(data, str(path))
    try:
        arrays = load(data)
    except SafetensorError as err:
        raise ValueError(f"{path} is truncated or corrupt: {err}") from err
    if metadata.get("format") != FORMAT or "means" not in arrays:
        raise ValueError(f"{path} is not a codes file of format {FORMAT}")
    means = arrays["means"].astype(np.float32)
    logvars = arrays["logvars"].astype(np.float32) if "logvars" in arrays else None
    labels = arrays["labels"].astype(np.int64) if "labels" in arrays else None
    for arr in (means, logvars, labels):
        if arr is not None:
            arr.flags.writeable = False
    if len(means) != int(metadata.get("n", -1)) or any(a is not None and len(a) != len(means) for a in (logvars, labels)):
        raise ValueError(f"{path}: the arrays do not hold n = {metadata.get('n')} codes")
    return StoredCodes(means, logvars, labels, metadata)


def load_codes_for(checkpoint: str | Path, dataset: Dataset | None = None) -> StoredCodes | None:
    """The stored codes of a checkpoint, or None when there are none or they are stale: the
    card's weights_sha256 differs, or (given ``dataset``) its test images are not the ones
    encoded. A damaged file counts as none (the caller encodes)."""
    path = codes_path(checkpoint)
    if not path.exists():
        return None
    try:
        stored = load_codes(path)
        card = read_card(path.with_name(path.name[: -len(SUFFIX)]))
    except (OSError, ValueError, KeyError):
        return None
    if not card.get("weights_sha256") or stored.metadata.get("weights_sha256") != card["weights_sha256"]:
        return None
    if dataset is not None:
        n = len(stored.means)
        if len(dataset.test_images) < n or int(stored.metadata.get("n_test", -1)) != len(dataset.test_images):
            return None
        labels = None if dataset.test_labels is None else dataset.test_labels[:n]
        if stored.metadata.get("test_sha256") != test_fingerprint(dataset.test_images[:n], labels):
            return None
    return stored


def dataset_for(card: Card, data_root: str | Path | None = None) -> Dataset:
    """The dataset a checkpoint card was trained on, at the model's image size (the same
    choice as explorer/ui/loaders.data_for, without Streamlit's caches); raises DatasetError."""
    from core.data import DatasetError, load_dataset

    shape, size = card.image_shape, card.image_size
    dataset = load_dataset(card.dataset_key, data_root, image_size=size, grayscale=shape[0] == 1)
    if dataset.image_shape != shape and not size:
        dataset = load_dataset(card.dataset_key, data_root, image_size=shape[1:], grayscale=shape[0] == 1)
    if dataset.image_shape != shape:
        raise DatasetError(f"the dataset gives {dataset.image_shape} images but the model reads {shape}")
    return dataset


def build_codes(checkpoint: str | Path, dataset: Dataset | None = None, data_root: str | Path | None = None,
                limit: int = MAX_CODES) -> Path:
    """(Re)build NAME.codes.safetensors for checkpoint ``dir/NAME`` from its current weights."""
    from core.checkpoints import load_checkpoint

    model, card = load_checkpoint(checkpoint)
    return save_codes(model, dataset if dataset is not None else dataset_for(card, data_root), checkpoint, card, limit)


__all__ = ["FORMAT", "SUFFIX", "MAX_CODES", "StoredCodes", "codes_path", "test_fingerprint", "encode_test_set",
           "save_codes", "load_codes", "load_codes_for", "dataset_for", "build_codes"]
