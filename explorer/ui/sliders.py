"""The Latent sliders page's parts: where to start, the two slider controls (decoded in the
browser, or plain Streamlit sliders decoded on the server), traversal rows and neighbours.

Both controls take the starting code and return the code on screen, so the page swaps one
for the other with a single call.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import numpy as np
import pandas as pd
import streamlit as st
import torch

from core.card import Card
from core.latent import prior_samples, traversal
from explorer.logic import analysis, charts, images, plaintext, spaces
from explorer.ui import explore, loaders
from explorer.ui.sidebar import Selection

MAX_DIMS = 16
STARTS = ("zero", "random", "image")
START_HELP = (
    "The origin (for a VAE the centre of its prior); a random code (a VAE: z ~ N(0, I); the other "
    "models: a Gaussian fitted to their codes); or the code of a test image (its posterior mean)."
)
TRAVERSAL_STEPS = 9
CHANGED_PIXEL = 0.1  # a pixel "changed" when it moved by more than this on the [0, 1] scale


class Row(NamedTuple):
    picture: np.ndarray  # uint8, images side by side
    caption: str


def starts(link: np.ndarray | None) -> tuple[str, ...]:
    """The starts on offer: STARTS, and "link" while a link's code (``?z=``) is there."""
    return STARTS if link is None else (*STARTS, "link")


def most_expressive_vae(cards: list[Card]) -> Card | None:
    """The model a dataset's sliders open on: its most expressive VAE the page can show (frey-vae-8, mnist-vae-16)."""
    return analysis.most_expressive_vae(cards, MAX_DIMS)


def start_label(start: str, model) -> str:
    return {"zero": "0 (the origin)", "random": "a prior sample" if model.variational else "a random code",
            "image": "an encoded test image", "link": "the code in the link"}[start]


def range_note(selection: Selection) -> str:
    stats = explore.code_stats(selection)
    return f"Slider range from {stats.source}."


def randomize() -> None:
    """Button callback: a new seed, and start from a random code."""
    st.session_state["sliders_seed"] = st.session_state.get("sliders_seed", 0) + 1
    st.session_state["sliders_start"] = "random"


def start_code(selection: Selection, start: str, index: int, seed: int,
               link: np.ndarray | None = None) -> np.ndarray:
    """The code (D,) the sliders start from (``link``: the code of a ``?z=`` link)."""
    d = selection.model.latent_dim
    if start == "link" and link is not None and len(link) == d:
        return np.asarray(link, dtype=np.float64)
    if start == "random":
        if selection.model.variational:
            return prior_samples(1, d, seed).numpy()[0].astype(np.float64)
        stats = explore.code_stats(selection)
        return stats.mean + stats.std * np.random.default_rng(seed).standard_normal(d)
    if start == "image":
        codes = explore.codes(selection)
        if codes is not None and 0 <= index < len(codes.means):
            return codes.means[index].astype(np.float64)
    return np.zeros(d)


def _ranges(selection: Selection, z0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stats = explore.code_stats(selection)
    low = np.minimum(stats.low, z0)
    high = np.maximum(stats.high, z0)
    return np.floor(low * 10) / 10, np.ceil(high * 10) / 10


def browser_decoder_available() -> bool:
    try:
        import explorer.ui.latent_decoder  # noqa: F401
    except ImportError:
        return False
    return True


def model_id(selection: Selection) -> str:
    """Names the decoder's weights for the browser's cache."""
    return loaders.browser_model_id(selection.card, "decoder")


def decode_one(selection: Selection, z: np.ndarray) -> np.ndarray:
    """(D,) -> (C, H, W)."""
    return loaders.decode(selection.model, np.asarray(z, dtype=np.float32)[None])[0]


def browser_sliders(selection: Selection, z0: np.ndarray, key: str, mode: str = "sliders",
                    dims: tuple[int, int] = (0, 1), points: np.ndarray | None = None,
                    point_labels: np.ndarray | None = None) -> np.ndarray:
    """The browser-side decoder (explorer.ui.latent_decoder); returns the code after a release."""
    from explorer.ui.latent_decoder import latent_decoder

    layers, _ = loaders.dense_layers(selection.path)
    low, high = _ranges(selection, z0)
    value_range = float(max(np.abs(low).max(), np.abs(high).max()))
    z = latent_decoder(
        model_id(selection), layers, selection.model.image_shape, [float(v) for v in z0],
        mode=mode, dims=dims, value_range=value_range, points=points, point_labels=point_labels,
        server_image=None if layers is not None else (lambda zz: decode_one(selection, zz)),
        dim_names=explore.dim_names(selection.model.latent_dim), start_label="Back to start",
        image_px=224, key=key,
    )
    return np.asarray(z, dtype=np.float64)


def native_sliders(selection: Selection, z0: np.ndarray) -> np.ndarray:
    """One st.slider per dim and the decoded image; the sliders restart when z0 changes."""
    d = selection.model.latent_dim
    low, high = _ranges(selection, z0)
    token = hashlib.sha1(f"{selection.name}{np.round(z0, 5).tolist()}".encode()).hexdigest()[:10]
    left, right = st.columns([3, 2])
    cols = left.columns(2 if d > 4 else 1)
    z = np.zeros(d)
    for i in range(d):
        step = float(max(0.01, round((high[i] - low[i]) / 200, 2)))
        z[i] = cols[i % len(cols)].slider(
            f"z{i}", float(low[i]), float(high[i]), float(np.clip(z0[i], low[i], high[i])), step,
            key=f"sliders_native_{token}_{i}",
        )
    image = decode_one(selection, z)
    right.image(explore.picture(image, explore.show_scale(selection) * 2), caption="decode(z)")
    return z


def dims_by_information(selection: Selection) -> list[int]:
    """Latent dims, most informative first: by KL per dim (VAE), variance (PCA, data) or index."""
    d = selection.model.latent_dim
    kl = (selection.card.get("metrics") or {}).get("kl_per_dim")
    if kl and len(kl) == d:
        return [int(i) for i in np.argsort(-np.asarray(kl), kind="stable")]
    if not selection.model.variational and explore.codes(selection) is not None:
        return [int(i) for i in np.argsort(-explore.code_stats(selection).std, kind="stable")]
    return list(range(d))


def dim_label(selection: Selection, dim: int) -> str:
    kl = (selection.card.get("metrics") or {}).get("kl_per_dim")
    if kl and dim < len(kl):
        return f"z{dim} (KL {kl[dim]:.2f} nats)"
    return f"z{dim}"


def traversal_values(selection: Selection, dim: int, steps: int = TRAVERSAL_STEPS) -> np.ndarray:
    """The values a traversal of ``dim`` takes: ``steps`` evenly spaced across the dim's range."""
    stats = explore.code_stats(selection)
    return np.linspace(stats.low[dim], stats.high[dim], steps)


@st.cache_data(show_spinner=False, max_entries=512)
def _traversal_images(path: str, z: tuple[float, ...], dims: tuple[int, ...], values: tuple[tuple[float, ...], ...]
                      ) -> np.ndarray:
    """(len(dims), steps, C, H, W): one batched decode of every row; cached by the code, so a rerun
    that keeps z decodes nothing."""
    model = loaders.load_model(path).model
    base = torch.tensor(z, dtype=torch.float32)
    codes = torch.cat([traversal(base, d, np.asarray(v)) for d, v in zip(dims, values)])
    return loaders.decode(model, codes).reshape(len(dims), len(values[0]), *model.image_shape)


def traversal_images(selection: Selection, z: np.ndarray, dims: list[int], steps: int = TRAVERSAL_STEPS) -> np.ndarray:
    """Decode z with each of ``dims`` swept across traversal_values, the others kept: (len(dims), steps, C, H, W)."""
    return _traversal_images(
        selection.path, tuple(round(float(v), 6) for v in z), tuple(int(d) for d in dims),
        tuple(tuple(float(v) for v in traversal_values(selection, d, steps)) for d in dims),
    )


def traversal_rows(selection: Selection, z: np.ndarray, dims: list[int], steps: int = TRAVERSAL_STEPS) -> list[Row]:
    """For each dim: decode z with that dim swept across its range, the others kept."""
    if not dims:
        return []
    stats = explore.code_stats(selection)
    factor = images.display_scale(selection.model.image_shape[1], target=64)
    decoded = traversal_images(selection, z, dims, steps)
    return [
        Row(explore.row_picture(row, factor),
            f"{dim_label(selection, d)}: {stats.low[d]:.1f} → {stats.high[d]:.1f}, other dims as above")
        for d, row in zip(dims, decoded)
    ]


class ChangeReadout(NamedTuple):
    """What moving one dim does to the decoded image."""

    values: np.ndarray  # (steps,) the dim's traversal values
    moved: np.ndarray  # (C, H, W) decode(z with the dim at its chosen value)
    change: np.ndarray  # (H, W) |decode(moved) - decode(z)|, the largest over the channels
    probabilities: np.ndarray | None  # (steps + 1, 11) the judge's: decode(z), then each traversal value; None: no judge


def change_readout(selection: Selection, z: np.ndarray, dim: int, step: int) -> ChangeReadout:
    """Decode z, and z with ``dim`` at traversal_values[step]; the pixel change between them and, for
    digits the judge reads, its class probabilities on decode(z) and along the whole traversal."""
    values = traversal_values(selection, dim)
    row = traversal_images(selection, z, [dim])[0]
    here = decode_one(selection, z)
    change = np.abs(row[step] - here).max(axis=0)
    probabilities = None
    if loaders.judge_applies(selection.card, selection.model.image_shape):
        probabilities = loaders.judge_probabilities(np.concatenate([here[None], row]))
    return ChangeReadout(values, row[step], change, probabilities)


def judge_class_names() -> list[str]:
    from core import judge

    return [str(i) for i in range(judge.CLASSES)] + ["not a digit"]


def show_what_changed(selection: Selection, z: np.ndarray, dims: list[int]) -> None:
    """Move one of the traversal dims: the pixel change it makes and, for digits, how the judge's verdict moves."""
    if not dims:
        st.info("Choose a traversal dim above to see what else changes when it moves.")
        return
    c1, c2 = st.columns(2)
    dim = c1.selectbox("Move one dim", dims, format_func=lambda i: dim_label(selection, i),
                       key=f"sliders_moved_dim_{selection.name}")
    values = traversal_values(selection, dim)
    step = c2.select_slider(f"to z{dim} =", list(range(len(values))), value=len(values) - 1,
                            format_func=lambda i: f"{values[i]:+.2f}", key=f"sliders_moved_step_{selection.name}_{dim}")
    readout = change_readout(selection, z, dim, step)
    left, right = st.columns(2)
    with right:
        st.plotly_chart(charts.pixel_change_map(readout.change), key="sliders_change_map")
        changed = int((readout.change > CHANGED_PIXEL).sum())
        st.caption(f"|decode(z with z{dim} = {values[step]:+.2f}) − decode(z)| per pixel (0 to 1): mean "
                   f"{readout.change.mean():.3f}, largest {readout.change.max():.3f}; {changed} of "
                   f"{readout.change.size} pixels changed by more than {CHANGED_PIXEL}.")
    with left:
        if readout.probabilities is None:
            st.info(judge_missing_message(selection))
            return
        p, names = readout.probabilities, judge_class_names()
        st.plotly_chart(charts.class_probability_bars(
            {"decode(z)": p[0], f"z{dim} = {values[step]:+.2f}": p[1 + step]}, names), key="sliders_judge_bars")
        st.plotly_chart(charts.class_probability_heatmap(p[1:], [f"z{dim} = {v:+.2f}" for v in values], names,
                                                         chosen=step), key="sliders_judge_heatmap")
        st.caption(f"The judge (a digit classifier, core/judge.py) on the decoded image, and along z{dim}'s "
                   "traversal: one row per value, the other dims kept.")


def judge_missing_message(selection: Selection) -> str:
    if not loaders.judge_applies(selection.card, selection.model.image_shape):
        h, w = selection.model.image_shape[1:]
        return (f"The judge reads MNIST digits (28×28); this model's images ({selection.card.dataset_name}, "
                f"{h}×{w}) are not, so only the pixel change is shown.")
    return "The judge's files (core/judge.py) are not on this server, so only the pixel change is shown."


def neighbours(selection: Selection, z: np.ndarray, k: int = 8) -> Row:
    """The test images whose codes (posterior means) are nearest to z."""
    codes = explore.codes(selection)
    idx = spaces.nearest(codes.means, z, k)
    batch = np.array(selection.dataset.test_images[idx])  # fancy indexing copies; writable
    labels = selection.dataset.test_labels
    caption = f"The {len(idx)} test images whose codes lie nearest to this code" + (
        "" if labels is None else f" (labels {', '.join(explore.label_name(selection, int(labels[i])) for i in idx)})")
    return Row(explore.row_picture(batch, explore.show_scale(selection)), plaintext.markdown_text(caption))


def code_table(z: np.ndarray) -> pd.DataFrame:
    """The code as one row, a column per dim."""
    return pd.DataFrame([np.asarray(z, dtype=float)], columns=[f"z{i}" for i in range(len(z))], index=["z"])


def code_columns(d: int) -> dict:
    return {f"z{i}": st.column_config.NumberColumn(format="%.2f") for i in range(d)}


__all__ = [
    "MAX_DIMS", "STARTS", "START_HELP", "Row", "starts", "start_label", "range_note", "randomize", "start_code",
    "browser_decoder_available", "model_id", "decode_one", "browser_sliders", "native_sliders",
    "dims_by_information", "dim_label", "traversal_values", "traversal_images", "traversal_rows",
    "ChangeReadout", "change_readout", "judge_class_names", "show_what_changed", "neighbours", "code_table", "code_columns",
]
