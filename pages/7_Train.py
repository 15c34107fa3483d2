"""Train: fit a model in the background, watch its losses and latent map, keep it as a checkpoint."""

from pathlib import Path

import streamlit as st

from core.data import DATASET_NAMES, DatasetError
from core.losses import LIKELIHOODS
from core.models import MODEL_KINDS
from explorer.logic import analysis, charts, figures, training
from explorer.ui import loaders, sidebar

st.set_page_config(page_title="Train · Latent explorer", page_icon="🏋️", layout="wide")
st.title("Train a model")
st.markdown(
    "Pick data and a model, and train it here. Training runs in the background, so the other pages stay "
    "usable; the result is saved as a checkpoint and appears in every page's model picker, marked "
    "*(trained here)*. Cancelling, or a run whose loss diverges, saves nothing."
)


@st.cache_resource
def job_board() -> training.JobBoard:
    return training.JobBoard(max_running=2)


@st.cache_resource(show_spinner="Reading the upload...", max_entries=4)
def uploaded(file_id: str, size: tuple[int, int] | None, grayscale: bool, _data: bytes, filename: str):
    try:
        return training.load_upload(_data, filename, size, grayscale)
    except DatasetError as err:
        return str(err)


job: training.TrainingJob | None = st.session_state.get("train_job")
busy = job is not None and job.running
if job is not None and job.view().phase == "done" and st.session_state.get("train_saved") != job.spec.name:
    st.session_state.train_saved = job.spec.name
    st.session_state.train_name = ""  # that name is taken now: back to a fresh suggestion
errors: list[str] = []

st.subheader("1 · Data")
source = st.radio("Images from", ["A dataset of this app", "Your .npz / .npy file", "An image folder on the server"],
                  horizontal=True, key="train_source", disabled=busy)
own = source != "A dataset of this app"
size, grayscale, upload = None, True, None
if own:
    c1, c2, c3, c4 = st.columns(4)
    resize = source.startswith("An image") or c1.checkbox(
        "Resize images", key="train_resize", disabled=busy, help="Arrays keep their size unless ticked.")
    if source.startswith("An image"):
        c1.markdown("Images are resized to")
    h = c2.number_input("Height", 4, 256, 28, key="train_h", disabled=busy or not resize)
    w = c3.number_input("Width", 4, 256, 28, key="train_w", disabled=busy or not resize)
    grayscale = c4.checkbox("Grayscale", value=True, key="train_gray", disabled=busy,
                            help="Convert colour images to one channel.")
    size = (int(h), int(w)) if resize else None
if source == "A dataset of this app":
    key = st.columns([1, 2])[0].selectbox("Dataset", DATASET_NAMES, key="train_dataset", disabled=busy)
    data = loaders.dataset(key)
elif source.startswith("Your"):
    upload = st.file_uploader("Images: an (N, H, W), (N, H, W, C) or (N, C, H, W) array, uint8 0-255 or float in "
                              "[0, 1], under 'images' or 'x'; optional labels under 'labels' or 'y'",
                              type=["npz", "npy"], key="train_upload", disabled=busy)
    data = (uploaded(upload.file_id, size, grayscale, upload.getvalue(), upload.name) if upload
            else "Upload a .npz or .npy file.")
else:
    folder = st.text_input("Folder on the server (one subfolder per class, or images directly inside)",
                           key="train_folder", disabled=busy, placeholder="/data/my-images")
    data = loaders.dataset(str(Path(folder).expanduser().resolve()), size, grayscale) if folder.strip() \
        else "Type the path of a folder of images."
if isinstance(data, str):
    (st.info if data.startswith(("Upload", "Type")) else st.error)(data)
    errors.append(data)
else:
    c, hh, ww = data.image_shape
    classes = f"{len(data.class_names)} classes" if data.class_names else ("labelled" if data.labeled else "no labels")
    st.success(f"{len(data.train_images):,} training and {len(data.test_images):,} test images of {c} x {hh} x {ww} "
               f"pixels, {classes}. {data.source}.")
    if data.notice:
        st.info(data.notice)

st.subheader("2 · Model")
c1, c2, c3, c4 = st.columns(4)
kind = c1.selectbox("Model", MODEL_KINDS, index=3, format_func=sidebar.KIND_LABELS.get, key="train_kind", disabled=busy)
latent_dim = c2.number_input("Latent dimension", 1, 512, 2, key="train_dim", disabled=busy)
beta = c3.number_input("β (weight on the KL term)", 0.0, 100.0, 1.0, 0.25, key="train_beta",
                       disabled=busy or kind != "vae",
                       help="1 = the ELBO; > 1 a β-VAE (Higgins et al., 2017); 0 = no KL term. VAE only.")
if kind in ("pca", "linear-ae"):
    likelihood = "gaussian"
    c4.markdown("Likelihood p(x|z)  \nGaussian (squared error): fixed for linear models")
else:
    likelihood = c4.radio("Likelihood p(x|z)", LIKELIHOODS, horizontal=True, key="train_likelihood", disabled=busy,
                          format_func=str.capitalize, help="Bernoulli (cross-entropy) suits near-binary images like "
                          "digits; Gaussian with fixed variance c = 0.01 (squared error) suits grey-level images "
                          "like faces.")
c1, c2, c3, c4 = st.columns(4)
epochs = c1.number_input("Epochs", 1, 500, 20, key="train_epochs", disabled=busy or kind == "pca",
                         help="PCA is fitted in closed form, in one pass.")
batch_size = c2.number_input("Batch size", 1, 4096, 128, key="train_batch", disabled=busy)
lr = c3.number_input("Learning rate (Adam)", 1e-5, 1.0, 1e-3, 5e-4, format="%.4f", key="train_lr", disabled=busy)
seed = c4.number_input("Seed", 0, 2**31 - 1, 0, key="train_seed", disabled=busy)
configs = None
if not isinstance(data, str):
    try:
        configs = training.make_configs(kind, data, int(latent_dim), beta, likelihood, int(epochs), int(batch_size),
                                        lr, int(seed))
    except ValueError as err:
        st.error(f"Cannot train this model: {err}")
        errors.append(str(err))

st.subheader("3 · Name")
if busy:
    st.caption(f"Training **{job.spec.name}**. The settings unlock when it finishes or is cancelled.")
else:
    cards = loaders.all_cards()
    shipped = {c["name"] for c in cards if c.get("origin") == "shipped"}
    trained = {c["name"] for c in cards if c.get("origin") == "trained"}
    stem = data.name.removeprefix("custom:").rsplit(".", 1)[0] if not isinstance(data, str) else "my-data"
    beta_tag = f"-beta{beta:g}" if kind == "vae" and beta != 1 else ""
    suggested = training.unique_name(f"my-{stem}-{kind}-{int(latent_dim)}{beta_tag}",
                                     shipped | trained | job_board().busy_names())
    name = st.columns([3, 1])[0].text_input(
        "Checkpoint name", key="train_name", placeholder=suggested,
        help="Letters, digits, '-' and '_'. Leave empty to use the suggestion.").strip() or suggested
    problem = training.check_name(name, shipped, trained, job_board().busy_names())
    if problem:
        st.error(problem)
        errors.append(problem)
    st.caption(f"Saved to `{loaders.trained_dir() / name}` (.safetensors + .json).")

    if st.button("Train", type="primary", key="train_start", disabled=bool(errors)):
        new_job = training.new_job(
            name, loaders.trained_dir(), data, *configs, upload=(upload.getvalue(), upload.name) if upload else None,
            folder=folder if source.startswith("An image") else None, image_size=size,
            title=f"{sidebar.KIND_LABELS[kind]}, {int(latent_dim)}-D on {data.name} (trained here)")
        refused = job_board().submit(new_job)
        if refused:
            new_job.discard()
            st.error(refused)
        else:
            st.session_state.train_job = new_job
            st.rerun()


def show_job(job: training.TrainingJob, live: bool = False) -> None:
    view = job.view()
    st.subheader(f"{'Training' if not view.finished else 'Trained' if view.phase == 'done' else 'Stopped'} {view.name}")
    text = {"starting": "Starting...", "evaluating": "Evaluating on the test split...",
            "training": f"Epoch {view.epoch} of {view.epochs}"}.get(view.phase, view.phase.capitalize())
    st.progress(view.progress, text=f"{text} · {view.seconds:.0f} s")
    if not view.finished:
        if view.cancel_requested:
            st.info("Cancelling after this epoch...")
        elif st.button("Cancel", key="train_cancel"):
            job.cancel()
    elif view.phase == "done":
        m = view.card.get("metrics") or {}
        st.success(f"Saved **{view.name}** in {view.seconds:.0f} s: test reconstruction "
                   f"{analysis.fmt(m.get('reconstruction'))} nats per image ({analysis.training_label(view.card)}). "
                   "Pick it in the sidebar of any page.")
    elif view.phase == "cancelled":
        st.info(view.message)
    else:
        st.error(view.message)
    left, right = st.columns(2)
    left.markdown("**Loss per epoch**")
    if view.history:
        left.plotly_chart(charts.history_chart(view.history), key="train_history", config={"displayModeBar": False})
    else:
        left.caption("The curves start after the first epoch.")
    if view.snapshot is not None:
        snap = view.snapshot
        right.markdown(f"**Latent map of {len(snap.xy)} test images**, "
                       + ("before training" if snap.epoch == 0 else f"after epoch {snap.epoch}"))
        right.plotly_chart(figures.latent_map(
            snap.xy, snap.labels, job.spec.dataset.class_names, axis_titles=(f"z{snap.dims[0]}", f"z{snap.dims[1]}"),
            height=380), key="train_map", config={"displayModeBar": False})
    if live and view.finished:
        st.rerun()  # redraw the whole page once: unlock the form, stop polling


if job is not None:
    st.caption(f"Losses in nats per image; {analysis.training_label(job.spec.card_fields())}.")
    if busy:
        st.fragment(run_every=1.0)(show_job)(job, live=True)
    else:
        show_job(job)
