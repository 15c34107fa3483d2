"""The Latent map page's parts: points in the chosen plane, the clicked image and its
posterior draws, and the user's uploaded image."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import streamlit as st

from explorer.logic import analysis, drawing, figures, plaintext, spaces, uploads

from explorer.ui import explore, loaders
from explorer.ui.sidebar import Selection

N_ELLIPSES = 100
N_DRAWS = 6
K_NEAREST = 10  # the drawing's nearest test images whose labels are counted
AXES_MODES = {"dims": "two latent dims", "pca": "PCA projection of the means"}


class Upload(NamedTuple):
    name: str
    prepared: uploads.PreparedImage
    mean: np.ndarray  # (D,)
    logvar: np.ndarray | None  # (D,)
    reconstruction: np.ndarray  # (C, H, W)


def chart_key(selection: Selection) -> str:
    """The map chart's widget key: one per model, so a click on one model's map stays its own."""
    return f"latent_map_{selection.name}"


def selected_index(state: Any, n_points: int) -> int | None:
    """The dataset index of the clicked point in a Plotly selection state, else None.

    Accepts Streamlit's PlotlyState and a plain dict of the same shape
    ({"selection": {"points": [{"customdata": [index], ...}]}}); the browser sends a row of
    customdata as {"0": index}, a list or a number. Points without a dataset index (the
    prior's circles, an uploaded star) are ignored.
    """
    for point in figures.selection_points(state):
        try:
            value = point.get("customdata")
        except AttributeError:
            continue
        if isinstance(value, dict):  # a 2-D customdata row may arrive as {"0": index}
            value = value.get("0", next(iter(value.values()), None))
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        try:
            index = int(value)
        except (TypeError, ValueError):
            continue
        if 0 <= index < n_points:
            return index
    return None


def axis_titles(mode: str, dims: tuple[int, int]) -> tuple[str, str]:
    return ("PC 1 of the means", "PC 2 of the means") if mode == "pca" else (f"z{dims[0]}", f"z{dims[1]}")


def map_figure(selection: Selection, codes: explore.Codes | None, projection: spaces.Projection, mode: str,
               dims: tuple[int, int], *, ellipses: bool, prior: bool, index: int | None,
               posterior: spaces.PosteriorDraws | None, upload: Upload | None):
    """The latent map with everything the page asked for: ellipses of a fixed sample of images
    (and of the upload), the prior's circles, the clicked image, its posterior draws, the star."""
    d = selection.model.latent_dim
    xy = np.zeros((0, 2)) if codes is None else projection.apply(codes.means)
    titles = axis_titles(mode, dims)
    if d == 1:  # one latent dim: spread the points vertically at random so they do not hide each other
        xy[:, 1] = np.random.default_rng(0).uniform(-1.0, 1.0, len(xy))
        titles, ellipses, prior = ("z0", "random spread (no meaning)"), False, False
    shapes = None
    if ellipses and codes is not None:
        shapes = ellipses_for(projection, codes.means, codes.logvars, spaces.ellipse_sample(len(xy), N_ELLIPSES))
    markers = []
    if upload is not None:
        ux, uy = projection.apply(upload.mean)[0]
        markers.append(figures.MapMarker(float(ux), float(uy), "your image"))
        if ellipses and upload.logvar is not None:
            extra = ellipses_for(projection, upload.mean[None], upload.logvar[None], np.array([0]))
            shapes = extra if shapes is None else figures.Ellipses(
                np.concatenate([shapes.centers, extra.centers]),
                np.concatenate([shapes.covariances, extra.covariances]), 2.0)
    highlight = None
    if index is not None:
        highlight = figures.MapMarker(float(xy[index, 0]), float(xy[index, 1]), explore.image_caption(selection, index))
    return figures.latent_map(
        xy, None if codes is None else codes.labels, explore.class_names(selection), axis_titles=titles,
        ellipses=shapes, prior_center=projection.apply(np.zeros(d))[0] if prior else None, highlight=highlight,
        samples=None if posterior is None else projection.apply(posterior.z), markers=markers,
    )


def ellipses_for(projection: spaces.Projection, means: np.ndarray, logvars: np.ndarray,
                 idx: np.ndarray) -> figures.Ellipses:
    """Posterior ellipses (mean +- 2 sigma) of the images ``idx``, seen in the map's plane."""
    return figures.Ellipses(projection.apply(means[idx]), projection.covariances(logvars[idx]), 2.0)


def draws(mean: np.ndarray, logvar: np.ndarray, seed: int) -> spaces.PosteriorDraws:
    return spaces.posterior_draws(mean, logvar, N_DRAWS, seed)


def show_selected(selection: Selection, index: int, codes: explore.Codes, seed: int,
                  posterior: spaces.PosteriorDraws | None) -> None:
    """The clicked image, its reconstruction and (VAE) decodes of z ~ q(z|x)."""
    model = selection.model
    image = np.array(selection.dataset.test_images[index])  # a writable copy
    mean = codes.means[index]
    recon = loaders.decode(model, mean[None])[0]
    scale = explore.show_scale(selection)
    st.markdown(f"**{plaintext.markdown_text(explore.image_caption(selection, index).capitalize())}**")
    a, b = st.columns(2)
    a.image(explore.picture(image, scale), caption="original x")
    b.image(explore.picture(recon, scale), caption="reconstruction: decode(mean)")
    if posterior is None:
        st.caption(f"Code: ({', '.join(f'{v:.2f}' for v in mean)}). This model is deterministic: one image, one point.")
        return
    sigma = np.exp(0.5 * codes.logvars[index])
    st.markdown(
        "**The reparameterization trick, made visible.** The encoder gives a Gaussian q(z|x) = N(μ, σ²); "
        "training decodes a sample z = μ + σ ⊙ ε with ε ~ N(0, I), so gradients reach μ and σ. "
        "Each image below decodes one such z (crosses on the map)."
    )
    st.dataframe(pd.DataFrame({"dim": explore.dim_names(model.latent_dim), "μ": mean, "σ": sigma}).set_index("dim").T,
                 width="stretch")
    decoded = loaders.decode(model, posterior.z)
    per_row = 3
    for start in range(0, len(decoded), per_row):
        for k, col in enumerate(st.columns(per_row), start):
            if k < len(decoded):
                eps = posterior.eps[k]
                label = "ε = (" + ", ".join(f"{v:.2f}" for v in eps) + ")" if len(eps) <= 3 else f"draw {k + 1}"
                col.image(explore.picture(decoded[k], max(1, scale // 2)), caption=label)
    if model.latent_dim > 3:
        st.dataframe(pd.DataFrame(posterior.eps, columns=[f"ε{d}" for d in range(model.latent_dim)],
                                  index=[f"draw {k + 1}" for k in range(len(decoded))]).round(2), width="stretch")


def read_upload(selection: Selection, file) -> Upload | None:
    """Decode, prepare and encode an uploaded file; shows st.error and returns None when bad."""
    if file is None:
        return None
    try:
        prepared = uploads.prepare_upload(file.getvalue(), selection.model.image_shape,
                                          dark_background=explore.dark_background(selection))
    except ValueError as err:
        st.error(plaintext.markdown_text(f"Could not use {plaintext.file_name(file.name)}: {err}"))
        return None
    mean, logvar = loaders.encode(selection.model, prepared.image[None])
    recon = loaders.decode(selection.model, mean)[0]
    return Upload(plaintext.file_name(file.name), prepared, mean[0], None if logvar is None else logvar[0], recon)


def show_upload(selection: Selection, upload: Upload, codes: explore.Codes | None) -> None:
    scale = explore.show_scale(selection)
    a, b, c = st.columns([1, 1, 2])
    a.image(explore.picture(upload.prepared.image, scale), caption="what the model reads")
    b.image(explore.picture(upload.reconstruction, scale), caption="its reconstruction")
    w, h = upload.prepared.original_size
    notes = [f"{plaintext.markdown_text(upload.name)}: {w} x {h} pixels, resized to the model's {selection.model.image_shape[2]} x "
             f"{selection.model.image_shape[1]}."]
    if explore.dark_background(selection):
        notes.append("This model's images are light strokes on a black background (like MNIST), centred in the "
                     "frame; " + ("your image was dark on light, so its colours were inverted, and " if
                                  upload.prepared.inverted else "") + "the strokes were cropped and centred.")
    c.markdown("\n\n".join(notes))
    if codes is not None and codes.labels is not None and selection.dataset.class_names:
        show_neighbours(selection, upload, codes, c)


def show_neighbours(selection: Selection, upload: Upload, codes: explore.Codes, where) -> None:
    """The labels of the image's nearest test codes (the whole latent space), with counts; for a
    2-D model, how much two dimensions mix the classes, measured, and a switch to more dims."""
    names = selection.dataset.class_names
    near = spaces.nearest(codes.means, upload.mean, K_NEAREST)
    counts = ", ".join(f"**{plaintext.markdown_text(names[label])}** × {n}" for label, n in spaces.label_counts(codes.labels[near]))
    where.markdown(f"Labels of its {len(near)} nearest test images in the latent space "
                   f"({selection.model.latent_dim}-D): {counts}.")
    if selection.model.latent_dim == 2:
        two_dims_note(selection, where)


def two_dims_note(selection: Selection, where) -> None:
    """Two dims mix classes: the share of test images whose neighbours vote their own label here and
    in the larger model of the same data, and a button that switches to it."""
    card, names = selection.card, selection.dataset.class_names
    here = explore.neighbour_agreement(card)
    if here is None:
        return
    what = "digits" if drawing.drawing_offered(card.dataset_name) else "classes"
    text = (f"Two dimensions mix some {what}: for {here.share:.0%} (± {1.96 * here.stderr:.0%}) of {here.n:,} test "
            f"images, the most common label among their {here.k} nearest test codes is their own")
    if here.mixed:
        label, other, share = here.mixed[0]
        text += (f"; {share:.0%} of the {plaintext.markdown_text(names[label])}s sit among "
                 f"{plaintext.markdown_text(names[other])}s")
    larger = analysis.larger_model(loaders.all_cards(), card)
    there = None if larger is None else explore.neighbour_agreement(larger)
    if there is not None:
        text += f". In **{larger.name}**'s {larger.latent_dim}-D space: {there.share:.0%} (± {1.96 * there.stderr:.0%})."
    else:
        text += ". No model of this data with more dimensions is here; train one on the Train page."
    where.info(text)
    if larger is not None and where.button(f"Switch to {larger.name} ({larger.latent_dim}-D)", key="map_switch_larger",
                                           on_click=_pick, args=(larger.name,)):
        st.rerun()  # the whole page: the sidebar's picker shows the new model


def _pick(name: str) -> None:
    """Pick ``name`` in the sidebar's model picker (sidebar.pick_card's keys), as if chosen there."""
    st.session_state["picked_model"] = name
    st.session_state.pop("model_picker", None)  # the picker is rebuilt on the remembered choice


__all__ = ["N_ELLIPSES", "N_DRAWS", "AXES_MODES", "Upload", "chart_key", "selected_index", "axis_titles", "map_figure",
           "ellipses_for", "draws", "show_selected", "read_upload", "show_upload",
           "show_neighbours", "two_dims_note", "K_NEAREST"]
