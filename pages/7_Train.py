"""Train: queue a model for training, watch its losses and latent map, keep it as a checkpoint."""

import streamlit as st

from core.card import KIND_LABELS, beta_suffix
from explorer.logic import training
from explorer.ui import loaders, train_form, train_jobs

st.set_page_config(page_title="Train · Latent explorer", page_icon="🏋️", layout="wide")
st.title("Train a model")
st.markdown(
    "Pick data and a model, and train it here. Training runs in a separate process on the server, in a queue "
    "shared with everyone using it, so the other pages stay usable. The result is saved as a checkpoint in "
    "your session's private workspace and appears in your model pickers on every page, marked *(trained "
    "here)*. Cancelling, or a run whose loss diverges, saves nothing."
)

if st.session_state.pop("train_reset_name", False):
    st.session_state.train_name = ""  # the last name is taken now: back to a fresh suggestion
errors: list[str] = []

st.subheader("1 · Data")
choice = train_form.pick_data()
data = choice.data
if isinstance(data, str):
    errors.append(data)

st.subheader("2 · Model")
run = train_form.pick_run(data)
configs = None
if not isinstance(data, str):
    try:
        configs = run.configs(data)
    except ValueError as err:
        st.error(f"Cannot train this model: {err}")
        errors.append(str(err))

st.subheader("3 · Name")
queue = loaders.job_queue()
publish = loaders.settings().publish_trained
busy = queue.busy_names(None if publish else loaders.session_token())
cards = loaders.all_cards()
shipped = {c.name for c in cards if c.origin == "shipped"}
trained = {c.name for c in cards if c.origin == "trained"} | st.session_state.get("train_deleted_names", set())
stem = data.name.removeprefix("custom:").rsplit(".", 1)[0] if not isinstance(data, str) else "my-data"
beta_tag = beta_suffix(run.beta) if run.kind == "vae" and run.beta != 1 else ""
suggested = training.unique_name(f"my-{stem}-{run.kind}-{run.latent_dim}{beta_tag}", shipped | trained | busy)
name = st.columns([3, 1])[0].text_input(
    "Checkpoint name", key="train_name", placeholder=suggested,
    help="Letters, digits, '-' and '_'. Leave empty to use the suggestion.").strip() or suggested
problem = training.check_name(name, shipped, trained, busy)
if problem:
    st.error(problem)
    errors.append(problem)
limit = train_jobs.limit_problem()
if limit:
    st.warning(limit)
st.caption(f"Saved as **{name}** (.safetensors + .json) "
           + ("in the published folder: everyone using this server sees it." if publish
              else "in your session's private workspace."))

if st.button("Train", type="primary", key="train_start", disabled=bool(errors or limit)):
    refused = train_jobs.submit(name, choice, data, configs,
                                title=f"{KIND_LABELS[run.kind]}, {run.latent_dim}-D on {data.name} (trained here)")
    if refused:
        st.error(refused)
    else:
        st.session_state.train_reset_name = True
        st.rerun()

jobs = train_jobs.session_jobs()
if any(j.active for j in jobs):
    st.fragment(run_every=1.0)(train_jobs.show_jobs)(jobs, live=True)
elif jobs:
    train_jobs.show_jobs(jobs)
train_jobs.own_models(busy)
