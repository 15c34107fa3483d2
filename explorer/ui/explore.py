"""Cached computations for the exploration pages (home, latent map, manifold, sliders).

Pages stay thin: they read widgets, call these, and hand the results to the figure builders of explorer.logic.
Everything here is keyed by the checkpoint path (models are loaded once by
explorer.ui.loaders and never mutated), so a rerun with the same settings decodes nothing.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import streamlit as st

from core.card import Card
from core.data import DatasetError
from core.latent import prior_samples
from explorer.logic import analysis, images, manifold_figures, spaces, uploads
from explorer.ui import loaders, sidebar


MANIFOLD_MIN_PX = 480  # the decoded grid is upscaled to at least this many pixels across


class Codes(NamedTuple):
    """The encoded test set of a checkpoint's dataset."""

    means: np.ndarray  # (N, D)
    logvars: np.ndarray | None  # (N, D), VAE only
    labels: np.ndarray | None  # (N,)


class Manifold(NamedTuple):
    png: str  # the tiled grid (no padding) as a PNG data URI
    x_values: np.ndarray  # (n,) latent values of the columns, left to right
    y_values: np.ndarray  # (n,) latent values of the rows, top to bottom
    cell_shape: tuple[int, int]  # (h, w) of one image


def require_model(hint: str | None = None, **kwargs) -> sidebar.Selection:
    """The sidebar's dataset and model pickers (``kwargs`` go to sidebar.pick_model); stops
    the page with a hint when there is no model to show."""
    selection = sidebar.pick_model(**kwargs)
    if selection is None:
        st.info(
            (hint + " " if hint else "") + "No model to show for this choice yet. The shipped checkpoints live in "
            "`checkpoints/` (rebuild them with `python -m core pretrain`), or train one on the Train page."
        )
        st.stop()
    return selection


def partner_card(card: Card, kind: str) -> Card | None:
    """The checkpoint of ``kind`` made to be compared with ``card``: the plain model of that kind
    for the same dataset and latent dim (analysis.plain_model)."""
    return analysis.plain_model(loaders.all_cards(), card.dataset_name, card.latent_dim, kind, besides=card.name)


def dim_names(latent_dim: int) -> list[str]:
    return [f"z{d}" for d in range(latent_dim)]


def codes(selection: sidebar.Selection) -> Codes | None:
    """The encoded test set, or None when the data is not on this machine."""
    if selection.dataset is None:
        return None
    try:
        means, logvars, labels = loaders.encoded(selection.path)
    except DatasetError:
        return None
    return Codes(means, logvars, labels)


@st.cache_data(show_spinner=False, max_entries=128)
def _stats(path: str, has_data: bool, span: float) -> spaces.CodeStats:
    model = loaders.load_model(path).model
    if model.variational:
        return spaces.prior_stats(model.latent_dim, span)
    means = loaders.encoded(path)[0] if has_data else None
    return spaces.model_stats(model, means)


def code_stats(selection: sidebar.Selection, span: float = 3.0) -> spaces.CodeStats:
    """The range to explore the model's codes over: +-span for a VAE (its prior's scale),
    the data's code range for the others (see spaces.model_stats)."""
    return _stats(selection.path, codes(selection) is not None, float(span))


@st.cache_data(show_spinner="Decoding the grid...", max_entries=256)
def _manifold(path: str, has_data: bool, span: float, n: int, spacing: str, dims: tuple[int, int],
              base: tuple[float, ...] | None) -> Manifold:
    model = loaders.load_model(path).model
    stats = _stats(path, has_data, span)
    grid = spaces.grid_over(stats, dims, n, spacing, None if base is None else np.asarray(base))
    decoded = loaders.decode(model, grid.z)  # one batch: n * n codes
    h, w = decoded.shape[2:]
    # Upscaled here (nearest neighbour) so the browser does not blur small images.
    factor = max(1, int(np.ceil(MANIFOLD_MIN_PX / (n * max(h, w)))))
    picture = images.upscale(images.tile(decoded, ncols=n, padding=0), factor)
    return Manifold(manifold_figures.png_data_uri(picture), grid.x_values, grid.y_values, (h * factor, w * factor))


def manifold(selection: sidebar.Selection, n: int, spacing: str, dims: tuple[int, int],
             base: np.ndarray | None = None, span: float = 3.0) -> Manifold:
    """Decode an n x n grid over two dims (others at ``base`` or 0) in one batch; cached by
    every argument. ``span`` bounds a VAE's linear grid (+-span); other models use their
    data's code range."""
    key = None if base is None else tuple(round(float(v), 6) for v in np.asarray(base).reshape(-1))
    return _manifold(selection.path, codes(selection) is not None, float(span), int(n), spacing,
                     (int(dims[0]), int(dims[1])), key)


@st.cache_data(show_spinner=False, max_entries=64)
def _line(path: str, has_data: bool, span: float, n: int, spacing: str) -> tuple[np.ndarray, np.ndarray]:
    model = loaders.load_model(path).model
    values = spaces.axis_values(_stats(path, has_data, span), 0, n, spacing)
    decoded = loaders.decode(model, values.reshape(-1, 1))
    factor = images.display_scale(model.image_shape[1], target=56)
    return images.to_uint8(images.upscale(images.tile(decoded, ncols=n, padding=1), factor)), values


def decoded_line(selection: sidebar.Selection, n: int, spacing: str,
                 span: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """A 1-D model's manifold: n images along z0, (uint8 picture, the values of z0)."""
    return _line(selection.path, codes(selection) is not None, float(span), int(n), spacing)


@st.cache_data(show_spinner=False, max_entries=64)
def _projection(path: str) -> spaces.Projection:
    return spaces.pca_projection(loaders.encoded(path)[0])


def projection(selection: sidebar.Selection, mode: str, dims: tuple[int, int]) -> spaces.Projection:
    """``"pca"``: the codes' main plane (needs data); else the two latent dims."""
    if mode == "pca" and codes(selection) is not None and selection.model.latent_dim > 2:
        return _projection(selection.path)
    return spaces.dims_projection(selection.model.latent_dim, dims)


@st.cache_data(show_spinner=False, max_entries=64)
def _prior_picture(path: str, count: int, ncols: int, seed: int) -> np.ndarray:
    model = loaders.load_model(path).model
    decoded = loaders.decode(model, prior_samples(count, model.latent_dim, seed))
    return images.to_uint8(images.tile(decoded, ncols=ncols, padding=1))


def prior_picture(selection: sidebar.Selection, count: int = 48, ncols: int = 12, seed: int = 0) -> np.ndarray:
    """Images decoded from z ~ N(0, I), tiled (1-pixel white padding), uint8, not upscaled."""
    return _prior_picture(selection.path, count, ncols, seed)


@st.cache_data(show_spinner=False, max_entries=256)
def interpolation(model_path: str, ends: tuple[int, int] | None, seed: int, steps: int,
                  method: str) -> analysis.InterpolationPath:
    """The decoded path between test images ``ends`` = (i, j), or between two prior draws when None."""
    model, card = loaders.load_model(model_path)
    if ends is None:
        z0, z1 = prior_samples(2, model.latent_dim, seed=seed)
    else:
        x = loaders.data_for(card).test_images
        z0, z1 = analysis.encode_pair(model, np.array(x[ends[0]]), np.array(x[ends[1]]))
    return analysis.interpolation_path(model, z0, z1, steps, method)


@st.cache_data(show_spinner=False, max_entries=64)
def reconstructions(path: str, indices: tuple[int, ...], factor: int) -> np.ndarray:
    """One model's reconstructions of the given test images, side by side (uint8)."""
    model = loaders.load_model(path).model
    x = np.asarray(loaders.data_for(loaders.load_model(path).card).test_images[list(indices)])
    return row_picture(loaders.decode(model, loaders.encode(model, x)[0]), factor)


def show_scale(selection: sidebar.Selection) -> int:
    h = selection.model.image_shape[1]
    return images.display_scale(h, target=112)


def picture(image: np.ndarray, factor: int) -> np.ndarray:
    """One image (C, H, W) in [0, 1] -> an upscaled uint8 picture for st.image."""
    return images.to_uint8(images.upscale(images.one(image), factor))


def row_picture(batch: np.ndarray, factor: int) -> np.ndarray:
    """Images (N, C, H, W) side by side, upscaled, uint8."""
    return images.to_uint8(images.upscale(images.tile(batch, ncols=len(batch), padding=1), factor))


@st.cache_data(show_spinner=False, max_entries=64)
def _dark_background(path: str, has_data: bool) -> bool:
    if has_data:
        return uploads.dark_background(np.asarray(loaders.data_for(loaders.load_model(path).card).test_images[:200]))
    model = loaders.load_model(path).model
    return uploads.dark_background(loaders.decode(model, prior_samples(16, model.latent_dim, seed=0)))


def dark_background(selection: sidebar.Selection) -> bool:
    """Whether the model's images are light on dark (then uploads are inverted if needed)."""
    return _dark_background(selection.path, codes(selection) is not None)


@st.cache_data(show_spinner="Measuring how the classes mix...", max_entries=32)
def _agreement(path: str) -> spaces.NeighbourAgreement:
    means, _, labels = loaders.encoded(path)
    return spaces.neighbour_agreement(means, labels)


def neighbour_agreement(card: Card) -> spaces.NeighbourAgreement | None:
    """How often a test image's nearest test codes carry its label (spaces.neighbour_agreement), or
    None without labelled test data."""
    try:
        labels = loaders.encoded(card.path)[2]
    except DatasetError:
        return None
    return None if labels is None else _agreement(card.path)


def class_names(selection: sidebar.Selection) -> list[str] | None:
    return None if selection.dataset is None else selection.dataset.class_names


def image_caption(selection: sidebar.Selection, index: int) -> str:
    data = selection.dataset
    if data is None or data.test_labels is None:
        return f"test image {index}"
    return f"test image {index} · label {label_name(selection, int(data.test_labels[index]))}"


def label_name(selection: sidebar.Selection, label: int) -> str:
    names = class_names(selection)
    return names[label] if names and 0 <= label < len(names) else str(label)


__all__ = [
    "Codes", "Manifold", "require_model", "partner_card", "decoded_line", "dim_names", "codes",
    "code_stats", "manifold", "projection",
    "prior_picture", "interpolation", "reconstructions", "show_scale", "picture", "row_picture", "dark_background", "class_names", "image_caption",
    "label_name",
]
