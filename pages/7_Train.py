"""Train: fit a model in the background, watch its losses and latent map, keep it as a checkpoint."""

import streamlit as st

from core.card import KIND_LABELS, Card, beta_suffix
from explorer.logic import training
from explorer.ui import loaders, train_form

st.set_page_config(page_title="Train · Latent explorer", page_icon="🏋️", layout="wide")
st.title("Train a model")
st.markdown(
    "Pick data and a model, and train it here. Training runs in the background, so the other pages stay "
    "usable; the result is saved as a checkpoint and appears in every page's model picker, marked "
    "*(trained here)*. Cancelling, or a run whose loss diverges, saves nothing."
)

job: training.TrainingJob | None = st.session_state.get("train_job")
busy = job is not None and job.running
if job is not None and job.view().phase == "done" and st.session_state.get("train_saved") != job.spec.name:
    st.session_state.train_saved = job.spec.name
    st.session_state.train_name = ""  # that name is taken now: back to a fresh suggestion
errors: list[str] = []

st.subheader("1 · Data")
choice = train_form.pick_data(busy)
data = choice.data
if isinstance(data, str):
    errors.append(data)

st.subheader("2 · Model")
run = train_form.pick_run(busy)
configs = None
if not isinstance(data, str):
    try:
        configs = run.configs(data)
    except ValueError as err:
        st.error(f"Cannot train this model: {err}")
        errors.append(str(err))

st.subheader("3 · Name")
if busy:
    st.caption(f"Training **{job.spec.name}**. The settings unlock when it finishes or is cancelled.")
else:
    board = loaders.job_board()
    cards = loaders.all_cards()
    shipped = {c.name for c in cards if c.origin == "shipped"}
    trained = {c.name for c in cards if c.origin == "trained"}
    stem = data.name.removeprefix("custom:").rsplit(".", 1)[0] if not isinstance(data, str) else "my-data"
    beta_tag = beta_suffix(run.beta) if run.kind == "vae" and run.beta != 1 else ""
    suggested = training.unique_name(f"my-{stem}-{run.kind}-{run.latent_dim}{beta_tag}",
                                     shipped | trained | board.busy_names())
    name = st.columns([3, 1])[0].text_input(
        "Checkpoint name", key="train_name", placeholder=suggested,
        help="Letters, digits, '-' and '_'. Leave empty to use the suggestion.").strip() or suggested
    problem = training.check_name(name, shipped, trained, board.busy_names())
    if problem:
        st.error(problem)
        errors.append(problem)
    st.caption(f"Saved to `{loaders.trained_dir() / name}` (.safetensors + .json).")

    if st.button("Train", type="primary", key="train_start", disabled=bool(errors)):
        upload = choice.upload
        new_job = training.new_job(
            name, loaders.trained_dir(), data, *configs, upload=(upload.getvalue(), upload.name) if upload else None,
            folder=choice.folder, image_size=choice.size,
            title=f"{KIND_LABELS[run.kind]}, {run.latent_dim}-D on {data.name} (trained here)")
        refused = board.submit(new_job)
        if refused:
            new_job.discard()
            st.error(refused)
        else:
            st.session_state.train_job = new_job
            st.rerun()

if job is not None:
    st.caption(f"Losses in nats per image; {Card.of(job.spec.card_fields()).training_label}.")
    if busy:
        st.fragment(run_every=1.0)(train_form.show_job)(job, live=True)
    else:
        train_form.show_job(job)

train_form.download_checkpoint(job)  # the finished run's weights and card, as a zip
