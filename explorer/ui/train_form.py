"""The Train page's parts: where the images come from, the run's settings, and a job's progress.

The session's jobs (``st.session_state.train_jobs``) and its own models (``own_models``)
are drawn here too; submitting goes through the server's queue (``loaders.job_queue``).
"""

from __future__ import annotations

from typing import NamedTuple

import streamlit as st

from core.card import KIND_LABELS
from core.data import DATASET_NAMES, Dataset, default_likelihood
from core.losses import LIKELIHOODS
from core.models import MODEL_KINDS
from core.runspec import RunSpec
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
    h = c2.number_input("Height", 4, 256, 28, key="train_h", disabled=busy or not resize)
    w = c3.number_input("Width", 4, 256, 28, key="train_w", disabled=busy or not resize)
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


def pick_run(data: Dataset | str, busy: bool = False) -> RunSpec:
    """Section 2: the model and how to train it; the likelihood defaults to the one ``data`` suits."""
    c1, c2, c3, c4 = st.columns(4)
    kind = c1.selectbox("Model", MODEL_KINDS, index=3, format_func=KIND_LABELS.get, key="train_kind", disabled=busy)
    latent_dim = c2.number_input("Latent dimension", 1, 512, 2, key="train_dim", disabled=busy)
    beta = c3.number_input("β (weight on the KL term)", 0.0, 100.0, 1.0, 0.25, key="train_beta",
                           disabled=busy or kind != "vae",
                           help="1 = the ELBO; > 1 a β-VAE (Higgins et al., 2017); 0 = no KL term. VAE only.")
    if kind in ("pca", "linear-ae"):
        likelihood = "gaussian"
        c4.markdown("Likelihood p(x|z)  \nGaussian (squared error): fixed for linear models")
    else:
        suited = default_likelihood(data.name if isinstance(data, Dataset) else "")
        # Keyed by the suited likelihood: picking faces brings the Gaussian back (a Bernoulli VAE collapses on them).
        likelihood = c4.radio("Likelihood p(x|z)", LIKELIHOODS, index=LIKELIHOODS.index(suited), horizontal=True,
                              key=f"train_likelihood_{suited}", disabled=busy, format_func=str.capitalize,
                              help="Bernoulli (cross-entropy) suits near-binary images like digits; Gaussian with "
                                   "fixed variance c = 0.01 (squared error) suits grey-level images like faces.")
    defaults = RunSpec.for_kind(kind, 2)  # each kind's settings that converge (core.train.KIND_DEFAULTS)
    c1, c2, c3, c4 = st.columns(4)
    # Keyed by kind, so switching the model kind brings that kind's defaults back.
    epochs = c1.number_input("Epochs", 1, 500, defaults.epochs, key=f"train_epochs_{kind}",
                             disabled=busy or kind == "pca", help="PCA is fitted in closed form, in one pass.")
    batch_size = c2.number_input("Batch size", 1, 4096, 128, key="train_batch", disabled=busy)
    lr = c3.number_input("Learning rate (Adam)", 1e-5, 1.0, defaults.lr, 5e-4, format="%.4f", key=f"train_lr_{kind}",
                         disabled=busy)
    seed = c4.number_input("Seed", 0, 2**31 - 1, 0, key="train_seed", disabled=busy)
    if kind != "pca":
        stopping = (f"; it stops early when {defaults.validation_fraction:.0%} of the training images, held out, "
                    f"have not improved for {defaults.patience} epochs" if defaults.patience else "")
        st.caption(f"The step size decays along a {defaults.lr_schedule} schedule{stopping}. These defaults "
                   f"are the ones that reach what the app teaches for a {KIND_LABELS[kind]} (e.g. a linear AE "
                   "within 1% of PCA's error).")
    return RunSpec.for_kind(kind, int(latent_dim), likelihood=likelihood, epochs=int(epochs),
                            batch_size=int(batch_size), lr=float(lr), beta=float(beta), seed=int(seed))

