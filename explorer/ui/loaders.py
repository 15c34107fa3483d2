"""Cached loaders shared by every page: checkpoints, datasets, encodings.

Models are loaded once per process (``st.cache_resource``) and never mutated afterwards.
Datasets are cached as resources too, with their arrays made read-only: ``st.cache_data``
would copy tens of megabytes on every rerun. Small derived arrays use ``st.cache_data``.

torch is imported inside the functions that need it, not here: the home page's first
picture (numpy_decoder) and the card list must not wait seconds for it on a cold start.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from core.card import Card
from core.checkpoints import Checkpoint, list_checkpoints, load_checkpoint  # torch: imported when loading
from core.codes import load_codes_for
from core.data import Dataset, DatasetError, default_data_dir, load_dataset
from core.npdecode import NumpyDecoder, load_numpy_decoder

if TYPE_CHECKING:  # imported where used: torch and the training code take seconds to import
    from core.models import LatentModel
    from explorer.logic.training import JobBoard

REPO_ROOT = Path(__file__).resolve().parents[2]


def shipped_dir() -> Path:
    """The pre-trained checkpoints ($LATENT_EXPLORER_CHECKPOINTS overrides, for tests)."""
    return Path(os.environ.get("LATENT_EXPLORER_CHECKPOINTS", REPO_ROOT / "checkpoints"))


def trained_dir() -> Path:
    """Where the Train page saves models ($LATENT_EXPLORER_TRAINED overrides)."""
    return Path(os.environ.get("LATENT_EXPLORER_TRAINED", default_data_dir() / "trained"))


def data_dir() -> Path | None:
    value = os.environ.get("LATENT_EXPLORER_DATA")
    return Path(value) if value else None


def _folder_signature() -> tuple:
    """Changes whenever a card is added, removed or rewritten, so the card cache refreshes."""
    sig = []
    for folder in (shipped_dir(), trained_dir()):
        if folder.is_dir():
            sig.extend((str(p), p.stat().st_mtime_ns) for p in sorted(folder.glob("*.json")))
    return tuple(sig)


@st.cache_data(show_spinner=False)
def _cards(signature: tuple) -> list[dict]:
    cards = []
    for origin, folder in (("shipped", shipped_dir()), ("trained", trained_dir())):
        for card in list_checkpoints(folder):
            card["origin"] = origin
            cards.append(card)
    return cards


def all_cards() -> list[Card]:
    """Every readable checkpoint card, shipped first then trained in the app, each with its path."""
    return [Card.from_dict(c) for c in _cards(_folder_signature()) if "error" not in c]


@st.cache_resource(show_spinner="Loading model...", max_entries=64)
def load_model(path: str) -> Checkpoint:
    return load_checkpoint(path)


@st.cache_resource(show_spinner=False, max_entries=64)
def numpy_decoder(path: str) -> NumpyDecoder | None:
    """The checkpoint's decoder in numpy (core/npdecode.py), or None when it is not dense."""
    return load_numpy_decoder(path)


@st.cache_resource(show_spinner="Loading data...", max_entries=16)
def _load_data(key: str, image_size: tuple[int, int] | None, grayscale: bool, data_root: str | None) -> Dataset | str:
    try:
        dataset = load_dataset(key, data_root, image_size=image_size, grayscale=grayscale)
    except DatasetError as err:
        return str(err)
    for arr in (dataset.train_images, dataset.test_images, dataset.train_labels, dataset.test_labels):
        if arr is not None:
            arr.flags.writeable = False
    return dataset


def dataset(key: str, image_size: tuple[int, int] | None = None, grayscale: bool = True) -> Dataset | str:
    """A registered dataset by name, or an image folder / .npz / .npy by path, or the error
    message saying how to get it. Native size unless ``image_size`` (H, W) is given."""
    root = data_dir()
    size = None if image_size is None else (int(image_size[0]), int(image_size[1]))
    return _load_data(str(key), size, bool(grayscale), str(root) if root else None)


def data_for(card: Card | dict) -> Dataset | str:
    """The dataset a checkpoint was trained on, or the error message saying how to get it.

    The card's ``dataset.image_size`` (set when the images were resized for training) picks
    the size; without it the native size is tried first, then the model's (H, W).
    """
    card = Card.of(card)
    shape, size = card.image_shape, card.image_size
    loaded = dataset(card.dataset_key, size, grayscale=shape[0] == 1)
    if isinstance(loaded, Dataset) and loaded.image_shape != shape and not size:
        loaded = dataset(card.dataset_key, shape[1:], grayscale=shape[0] == 1)
    if isinstance(loaded, Dataset) and loaded.image_shape != shape:
        return f"the dataset gives {loaded.image_shape} images but the model reads {shape}"
    return loaded


@st.cache_resource(show_spinner="Encoding...", max_entries=64)
def encoded(path: str, split: str = "test") -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(means (N, D), logvars (N, D) or None, labels or None) of a checkpoint's dataset split.

    The test split's codes come from NAME.codes.safetensors when it is there and matches the
    checkpoint (core/codes.py: built with the shipped checkpoints), else they are encoded here."""
    if split == "test":
        data = data_for(Card.from_dict(json.loads(Path(str(path) + ".json").read_text()), path=str(path)))
        if isinstance(data, str):
            raise DatasetError(data)
        stored = load_codes_for(path, data)  # None when missing, or stale (other weights or test images)
        if stored is not None:
            return stored.means, stored.logvars, stored.labels
    return _encode_split(path, split)


def _encode_split(path: str, split: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    import torch

    from core.evaluate import encode_means

    model = load_model(path).model
    dataset = data_for(load_model(path).card)
    if isinstance(dataset, str):
        raise DatasetError(dataset)
    images = torch.from_numpy(np.array(getattr(dataset, f"{split}_images")))
    labels = getattr(dataset, f"{split}_labels")
    with torch.no_grad():
        if model.variational:
            parts = [model.encode(images[i:i + 2000]) for i in range(0, len(images), 2000)]
            means = torch.cat([p.mean for p in parts]).numpy()
            logvars = torch.cat([p.logvar for p in parts]).numpy()
        else:
            means, logvars = encode_means(model, images).numpy(), None
    for arr in (means, logvars):
        if arr is not None:
            arr.flags.writeable = False
    return means, logvars, labels


def decode(model: LatentModel, z) -> np.ndarray:
    """Latent codes (N, D) (numpy or torch) -> images (N, C, H, W) float32 in [0, 1]."""
    import torch

    if isinstance(z, torch.Tensor):
        z = z.detach().to("cpu", torch.float32)
    else:
        z = torch.from_numpy(np.array(z, dtype=np.float32))  # a copy: inputs may be read-only
    with torch.no_grad():
        return model.decode(z.reshape(-1, model.latent_dim)).numpy()


def encode(model: LatentModel, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    import torch

    with torch.no_grad():
        posterior = model.encode(torch.from_numpy(np.array(images, dtype=np.float32)))  # a copy: inputs may be read-only
    return posterior.mean.numpy(), None if posterior.logvar is None else posterior.logvar.numpy()


# --------------------------------------------------------------------------- the Train page's


@st.cache_resource
def job_board() -> JobBoard:
    """The training jobs of this server process (shared by every session)."""
    from explorer.logic.training import JobBoard

    return JobBoard(max_running=2)


@st.cache_resource(show_spinner="Reading the upload...", max_entries=4)
def uploaded(file_id: str, size: tuple[int, int] | None, grayscale: bool, _data: bytes, filename: str) -> Dataset | str:
    """An uploaded .npz / .npy as a Dataset, or the error message saying what is wrong with it."""
    from explorer.logic.training import load_upload

    try:
        return load_upload(_data, filename, size, grayscale)
    except DatasetError as err:
        return str(err)
