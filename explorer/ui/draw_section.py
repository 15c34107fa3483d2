"""The Latent map page's "Draw and drag" section: the latent_canvas component for the chosen
model, and the drawing it sends, turned into the page's "your image" (the upload path).

    draw_box = st.container()                       # where the section goes on the page
    upload = draw_section.newest_image(selection, upload_file, upload)   # before the map figure
    with draw_box:
        draw_section.show(selection, codes, dims, start)

The drawing arrives in the component's value (st.session_state), so ``newest_image`` can read it
before the component is drawn further down: one click on "Use my drawing on the page" is one
rerun that puts the drawing on the map (a star) and in "Your own image".
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.logic import spaces, uploads
from explorer.ui import explore, loaders, mapview
from explorer.logic.drawing import DIGIT_DATASETS, drawing_offered, drawing_support
from explorer.ui.latent_canvas import latent_canvas, read_value
from explorer.ui.sidebar import Selection

MAP_POINTS = 2000  # the component's map: a fixed sample of the encoded test set
DRAWING_NAME = "your drawing"


def component_key(selection: Selection) -> str:
    return f"map_draw_{selection.name}"


def model_id(selection: Selection) -> str:
    """Names the weights for the browser's cache (the encoder and decoder travel together)."""
    return loaders.browser_model_id(selection.card, "canvas")


def drawing_upload(selection: Selection, image: np.ndarray) -> mapview.Upload:
    """A sent drawing (C, H, W) as the page's Upload: encoded and reconstructed on the server."""
    mean, logvar = loaders.encode(selection.model, image[None])
    recon = loaders.decode(selection.model, mean)[0]
    h, w = selection.model.image_shape[1:]
    prepared = uploads.PreparedImage(image.astype(np.float32), False, (w, h))
    return mapview.Upload(DRAWING_NAME, prepared, mean[0], None if logvar is None else logvar[0], recon)


def newest_image(selection: Selection, upload_file, upload: mapview.Upload | None) -> mapview.Upload | None:
    """The uploaded file's image or the sent drawing, whichever came last (a new file or a new
    drawing replaces the other on the figures)."""
    sent = read_value(component_key(selection), selection.model.image_shape)
    seq = sent.drawing_seq if sent is not None and sent.drawing is not None else 0
    file_id = getattr(upload_file, "file_id", None)
    memo = st.session_state.setdefault(f"{component_key(selection)}_newest", {"seq": 0, "file": None, "use": "file"})
    if seq != memo["seq"]:
        memo.update(seq=seq, use="drawing" if seq else "file")
    if file_id != memo["file"]:
        memo.update(file=file_id, use="file" if file_id else memo["use"])
    if memo["use"] == "drawing" and sent is not None and sent.drawing is not None:
        return drawing_upload(selection, sent.drawing)
    return upload


def show(selection: Selection, codes: explore.Codes | None, dims: tuple[int, int], start: np.ndarray) -> None:
    """The section: a heading, the component (or why it is not offered), a caption. The drawing pad
    is offered for digit data only (drawing.drawing_offered); other data get the map to drag on."""
    model = selection.model
    offered = drawing_offered(selection.card.dataset_name)
    st.subheader("Draw and drag" if offered else "Drag through the latent space")
    if model.latent_dim < 2:
        st.info("This model has one latent dimension: there is no plane to drag on.")
        return
    decoder, encoder = loaders.dense_layers(selection.path)
    if decoder is None:
        st.info("This model's decoder is convolutional, which the browser cannot run: use the pad below "
                "(\"Explore by dragging\"), which decodes on the server when you release.")
        return
    points = labels = None
    if codes is not None:
        subset = spaces.ellipse_sample(len(codes.means), MAP_POINTS, seed=1)
        points = codes.means[subset][:, list(dims)]
        labels = None if codes.labels is None else codes.labels[subset]
    note = drawing_support(model.image_shape, explore.dark_background(selection), encoder is not None)
    latent_canvas(
        model_id(selection), decoder, encoder, model.image_shape, np.asarray(start, dtype=np.float64),
        dims=dims, points=points, point_labels=labels, dim_names=explore.dim_names(model.latent_dim),
        variational=model.variational, draw_note=note, class_names=explore.class_names(selection),
        show_drawing=offered, key=component_key(selection),
    )
    st.caption(" ".join(_caption_parts(selection, codes, dims, points, offered)))


def _caption_parts(selection: Selection, codes: explore.Codes | None, dims: tuple[int, int],
                   points: np.ndarray | None, offered: bool) -> list[str]:
    """What the section's caption says, every count taken from the data on the map."""
    model, data = selection.model, selection.dataset
    parts = []
    if offered:
        h, w = model.image_shape[1:]
        fitted = "like MNIST" if min(h, w) >= 16 else f"like MNIST, then at the model's {w} x {h} pixels"
        parts.append(f"Draw a digit: your browser fits it {fitted}, encodes it on every stroke and puts it on the "
                     "map (the star" + (", with its ±1σ and 2σ ellipse of q(z|x))" if model.variational else ")") + ".")
    parts.append("Press and drag on the map: the image decodes under the pointer.")
    if points is not None and codes is not None:
        shown = f"{len(points):,}" + ("" if len(points) == len(codes.means) else f" of the {len(codes.means):,}")
        source = DIGIT_DATASETS.get(selection.card.dataset_name, selection.card.dataset_name)
        parts.append(f"The map shows z{dims[0]} and z{dims[1]} of {shown} test images of {source}"
                     + ("" if data is None or data.test_labels is None else ", coloured by label as on the map above")
                     + ".")
    if model.latent_dim > 2:
        parts.append("The other dims keep their values (the drawing's code, or the clicked image's).")
    return parts


__all__ = ["MAP_POINTS", "DRAWING_NAME", "component_key", "model_id", "drawing_upload", "newest_image", "show"]
