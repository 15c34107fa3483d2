"""The Train page's parts: where the images come from, the run's settings, and a job's progress.

The session's jobs (``st.session_state.train_jobs``) and its own models (``own_models``)
are drawn here too; submitting goes through the server's queue (``loaders.job_queue``).
"""

from __future__ import annotations

from typing import NamedTuple

import streamlit as st

from core.card import KIND_LABELS
from core.data import DATASET_NAMES, Dataset, default_likelihood
from core.runspec import IMAGE_SIDE, RUN_SETTINGS, RunSpec
from explorer.logic import plaintext, serverdata
from explorer.ui import loaders

SOURCES = ("A dataset of this app", "Your .npz / .npy file", "An image folder on the server")


def sources() -> tuple[str, ...]:
    """The data sources on offer: server folders only when the operator named a data root."""
    return SOURCES if loaders.settings().server_data_root is not None else SOURCES[:2]


def _server_data(text: str, size: tuple[int, int] | None, grayscale: bool) -> tuple[Dataset | str, str | None]:
    """(the dataset or what is wrong, its real path) for a path typed by the visitor, confined to the data root."""
    root = loaders.settings().server_data_root
    if not text.strip():
        return "Type the path of a folder of images (or a .npz / .npy file) inside the server's data folder.", None
    real = serverdata.confine(text, root)
    if real is None:
        return serverdata.not_available(text.strip()), None
    data = loaders.dataset(str(real), size, grayscale)
    return (serverdata.scrub(data, root) if isinstance(data, str) else data), str(real)


class DataChoice(NamedTuple):
    data: Dataset | str  # the dataset, or what is missing / wrong
    size: tuple[int, int] | None  # (H, W) to resize own data to
    grayscale: bool
    upload: object | None  # Streamlit's UploadedFile
    folder: str | None  # an image folder on the server


def _own_data_settings(source: str, busy: bool) -> tuple[tuple[int, int] | None, bool]:
    c1, c2, c3, c4 = st.columns(4)
    resize = source == SOURCES[2] or c1.checkbox(
        "Resize images", value=True, key="train_resize", disabled=busy,
        help="Arrays are resized like folders unless unticked; a model reads at most 256 x 256 pixels.")
    if source == SOURCES[2]:
        c1.markdown("Images are resized to")
    side = (IMAGE_SIDE.low, IMAGE_SIDE.high, IMAGE_SIDE.default)  # what --image-size allows
    h = c2.number_input("Height", *side, key="train_h", disabled=busy or not resize)
    w = c3.number_input("Width", *side, key="train_w", disabled=busy or not resize)
    grayscale = c4.checkbox("Grayscale", value=True, key="train_gray", disabled=busy,
                            help="Convert colour images to one channel.")
    return ((int(h), int(w)) if resize else None), grayscale


def pick_data(busy: bool = False) -> DataChoice:
    """Section 1: a registered dataset, an uploaded array file, or an image folder; says what it holds."""
    offered = sources()
    if st.session_state.get("train_source") not in (None, *offered):
        del st.session_state["train_source"]  # the server folders were switched off
    source = st.radio("Images from", offered, horizontal=True, key="train_source", disabled=busy)
    size, grayscale, upload, folder = None, True, None, None
    if source != SOURCES[0]:
        size, grayscale = _own_data_settings(source, busy)
    if source == SOURCES[0]:
        key = st.columns([1, 2])[0].selectbox("Dataset", DATASET_NAMES, key="train_dataset", disabled=busy)
        data = loaders.dataset(key)
    elif source == SOURCES[1]:
        upload = st.file_uploader("Images: an (N, H, W), (N, H, W, C) or (N, C, H, W) array, uint8 0-255 or float "
                                  "in [0, 1], under 'images' or 'x'; optional labels under 'labels' or 'y'",
                                  type=["npz", "npy"], key="train_upload", disabled=busy)
        data = loaders.uploaded(upload, size, grayscale)
    else:
        typed = st.text_input("Folder (one subfolder per class, or images directly inside) or .npz / .npy file, "
                              "inside the server's data folder", key="train_folder", disabled=busy,
                              placeholder="my-images")
        data, folder = _server_data(typed, size, grayscale)
    if isinstance(data, str):
        (st.info if data.startswith(("Upload", "Type")) else st.error)(plaintext.markdown_text(data))
    else:
        c, hh, ww = data.image_shape
        classes = (f"{len(data.class_names)} classes" if data.class_names
                   else ("labelled" if data.labeled else "no labels"))
        st.success(plaintext.markdown_text(f"{len(data.train_images):,} training and {len(data.test_images):,} test "
                                           f"images of {c} x {hh} x {ww} pixels, {classes}. {data.source}."))
        if data.notice:
            st.info(data.notice)
    return DataChoice(data, size, grayscale, upload, folder)


def _number(column, name: str, key: str, value: float | None = None, disabled: bool = False) -> float:
    """The number input of run setting ``name``: its label, range, step and help from its Setting
    (core.runsettings), so the form allows what the CLI and validation allow. An open lower bound
    (lr > 0) is the widget's minimum, refused with the setting's message when chosen."""
    s = RUN_SETTINGS[name]
    bound = {"min_value": s.low, "max_value": s.high, "value": s.default if value is None else value, "step": s.step}
    typed = {k: (None if v is None else s.type(v)) for k, v in bound.items()}  # Streamlit wants one number type
    return column.number_input(s.label, **typed, format=s.format, key=key, help=s.help, disabled=disabled)


def pick_run(data: Dataset | str, busy: bool = False) -> RunSpec:
    """Section 2: the model and how to train it; the likelihood defaults to the one ``data`` suits."""
    c1, c2, c3, c4 = st.columns(4)
    kinds = RUN_SETTINGS["kind"]
    kind = c1.selectbox(kinds.label, kinds.choices, index=kinds.choices.index(kinds.default), help=kinds.help,
                        format_func=KIND_LABELS.get, key="train_kind", disabled=busy)
    latent_dim = _number(c2, "latent_dim", "train_dim", disabled=busy)
    beta = _number(c3, "beta", "train_beta", disabled=busy or kind != "vae")
    likelihoods = RUN_SETTINGS["likelihood"]
    if kind in ("pca", "linear-ae"):
        likelihood = "gaussian"
        c4.markdown(f"{likelihoods.label}  \nGaussian (squared error): fixed for linear models")
    else:
        suited = default_likelihood(data.name if isinstance(data, Dataset) else "")
        # Keyed by the suited likelihood: picking faces brings the Gaussian back (a Bernoulli VAE collapses on them).
        likelihood = c4.radio(likelihoods.label, likelihoods.choices, index=likelihoods.choices.index(suited),
                              horizontal=True, key=f"train_likelihood_{suited}", disabled=busy,
                              format_func=str.capitalize, help=likelihoods.help)
    defaults = RunSpec.for_kind(kind, 2)  # each kind's settings that converge (core.train.KIND_DEFAULTS)
    c1, c2, c3, c4 = st.columns(4)
    # Keyed by kind, so switching the model kind brings that kind's defaults back.
    epochs = _number(c1, "epochs", f"train_epochs_{kind}", defaults.epochs, disabled=busy or kind == "pca")
    batch_size = _number(c2, "batch_size", "train_batch", disabled=busy)
    lr = _number(c3, "lr", f"train_lr_{kind}", defaults.lr, disabled=busy)
    seed = _number(c4, "seed", "train_seed", disabled=busy)
    if kind != "pca":
        stopping = (f"; it stops early when {defaults.validation_fraction:.0%} of the training images, held out, "
                    f"have not improved for {defaults.patience} epochs" if defaults.patience else "")
        st.caption(f"The step size decays along a {defaults.lr_schedule} schedule{stopping}. These defaults "
                   f"are the ones that reach what the app teaches for a {KIND_LABELS[kind]} (e.g. a linear AE "
                   "within 1% of PCA's error).")
    return RunSpec.for_kind(kind, latent_dim, likelihood=likelihood, epochs=epochs, batch_size=batch_size, lr=lr,
                            beta=beta, seed=seed)
