"""The Train page's jobs: submitting one to the server's queue, drawing the session's jobs
(waiting with their place in the queue, running, finished), and the session's own models."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.card import Card
from core.checkpoints import checkpoint_paths, list_checkpoints
from core.data import Dataset
from core.models import ModelConfig
from core.train import TrainConfig
from explorer.logic import analysis, charts, exports, figures, serverdata, training
from explorer.logic.workspace import client_usage, megabytes, quota_problem, tree_size
from explorer.ui import loaders
from explorer.ui.train_form import DataChoice


def session_jobs() -> list[training.TrainingJob]:
    """The session's jobs still worth showing: every active one, and the last finished one."""
    jobs = st.session_state.get("train_jobs", [])
    finished = [j for j in jobs if not j.active]
    keep = [j for j in jobs if j.active or (finished and j is finished[-1])]
    st.session_state["train_jobs"] = keep
    return keep


def limit_problem() -> str | None:
    """Why this client cannot start another job now (its limit, all its tabs together), or None."""
    return loaders.job_queue().client_limit_problem(loaders.client())


def submit(name: str, choice: DataChoice, data: Dataset, configs: tuple[ModelConfig, TrainConfig],
           title: str) -> str | None:
    """Queue a job for the page's choices; None, or why it was refused (then nothing was written)."""
    current, ws, client = loaders.settings(), loaders.workspace(), loaders.client()
    upload, root = choice.upload, current.data
    job = training.new_job(
        name, loaders.trained_dir(), data, *configs, upload=(upload.getvalue(), upload.name) if upload else None,
        folder=choice.folder, image_size=choice.size, grayscale=choice.grayscale,
        data_root=str(root), title=title, owner=loaders.session_token(), client=client,
        session_id=loaders.session_id(), workspace=ws.root, work_root=ws.jobs, threads=current.threads_per_job)

    def check(need: int, reserved_mine: int, reserved_all: int) -> str | None:
        total = tree_size(current.workspaces) + (tree_size(current.published) if current.publish_trained else 0)
        problem = quota_problem(need, client_usage(current.workspaces, client), reserved_mine,
                                current.client_quota_bytes, total, reserved_all, current.total_quota_bytes)
        if problem is None:
            ws.ensure(client)  # the queue writes the job's files into it once admitted
        return problem

    refused = loaders.job_queue().submit(job, check)
    if refused is None:
        st.session_state.setdefault("train_jobs", []).append(job)
    return refused


def show_jobs(jobs: list[training.TrainingJob], live: bool = False) -> None:
    """Every job of the session, newest first; ``live`` polls (run it in a fragment)."""
    for job in reversed(jobs):
        show_job(job, live)
    seen = st.session_state.setdefault("train_seen_finished", set())
    done_now = {j.spec.job_id for j in jobs if not j.active} - seen
    if done_now:
        seen |= done_now
        if live:
            st.rerun()  # redraw the whole page once: the name suggestion, the limits, stop polling


def _queue_text(view: training.JobView) -> str:
    queue = loaders.job_queue()
    running, waiting = len(queue.running()), len(queue.waiting())
    return (f"Waiting in the queue: number {view.position} of {waiting}. {running} of {queue.workers} training "
            f"slot{'s' * (queue.workers != 1)} on this server are busy; it starts when one is free.")


def show_job(job: training.TrainingJob, live: bool = False) -> None:
    """A job's place in the queue or progress, losses and latent map."""
    view, key = job.view(), job.spec.job_id
    verb = {"queued": "Waiting to train", "done": "Trained"}.get(view.phase, "Stopped" if view.finished else "Training")
    st.subheader(f"{verb} {view.name}")
    st.caption(f"Losses in nats per image; {job.spec.card().training_label}.")
    text = {"starting": "Starting the training process...", "evaluating": "Evaluating on the test split...",
            "training": f"Epoch {view.epoch} of {view.epochs}", "queued": "In the queue"}.get(
        view.phase, view.phase.capitalize())
    st.progress(view.progress, text=f"{text} · {view.seconds:.0f} s")
    if view.phase == "queued":
        st.info(_queue_text(view))
    if not view.finished:
        if view.cancel_requested:
            st.info("Cancelling...")
        elif st.button("Cancel", key=f"train_cancel_{key}"):
            job.cancel()
    elif view.phase == "done":
        m = view.card.get("metrics") or {}
        st.success(f"Saved **{view.name}** in {view.seconds:.0f} s: test reconstruction "
                   f"{analysis.fmt(m.get('reconstruction'))} nats per image ({view.card.training_label}). "
                   "Pick it in the sidebar of any page.")
        collapse = view.card.collapse
        if collapse:
            st.warning(collapse[0].upper() + collapse[1:], icon="⚠️")
        download_checkpoint(job.spec.out, view.name, key=f"train_download_{key}")
    elif view.phase == "cancelled":
        st.info(view.message)
    else:
        st.error(view.message)
    if view.phase != "queued":
        _show_curves(job, view, key)


def _show_curves(job: training.TrainingJob, view: training.JobView, key: str) -> None:
    left, right = st.columns(2)
    left.markdown("**Loss per epoch**")
    if view.history:
        left.plotly_chart(charts.history_chart(view.history), key=f"train_history_{key}",
                          config={"displayModeBar": False})
    else:
        left.caption("The curves start after the first epoch.")
    if view.snapshot is not None:
        snap = view.snapshot
        right.markdown(f"**Latent map of {len(snap.xy)} test images**, "
                       + ("before training" if snap.epoch == 0 else f"after epoch {snap.epoch}"))
        right.plotly_chart(figures.latent_map(
            snap.xy, snap.labels, job.spec.dataset.class_names, axis_titles=(f"z{snap.dims[0]}", f"z{snap.dims[1]}"),
            height=380), key=f"train_map_{key}", config={"displayModeBar": False})


def own_models(busy: set[str]) -> None:
    """The session's own models (private to it), the room they take, and a button to delete each."""
    current, ws = loaders.settings(), loaders.workspace()
    if current.publish_trained:
        st.caption("Models trained here are published: every visitor of this server sees them.")
        return
    cards = [c for c in list_checkpoints(ws.models) if not c.error and c.name not in busy]
    used = client_usage(current.workspaces, loaders.client())
    with st.expander(f"Your models: {len(cards)}; all your tabs use {megabytes(used)} of "
                     f"{megabytes(current.client_quota_bytes)}"):
        st.caption("Private to this browser session: other visitors do not see them. They are deleted "
                   f"{current.expiry_hours:g} hours after the session was last used.")
        for card in cards:
            left, middle, right = st.columns([4, 2, 1])
            left.markdown(f"`{card.name}` · {card.kind_label}, {card.latent_dim}-D on {card.dataset_name}")
            with middle:
                download_checkpoint(ws.models / card.name, card.name, key=f"train_zip_{card.name}")
            if right.button("Delete", key=f"train_delete_{card.name}"):
                delete_own_model(ws.models, card)
                # models are cached by path: the name stays taken for this session
                st.session_state.setdefault("train_deleted_names", set()).add(card.name)
                st.rerun()


def download_checkpoint(stem: Path | str, name: str, key: str) -> None:
    """A checkpoint (NAME.safetensors + NAME.json) as one zip, built only when clicked."""
    try:
        exports.checkpoint_files(stem)
    except FileNotFoundError as err:
        st.info(f"Nothing to download: {err}.")
        return
    st.download_button(
        f"Download {name} (.zip)", data=lambda: exports.checkpoint_zip(stem), file_name=f"{name}.zip",
        mime="application/zip", on_click="ignore", key=key, icon="⬇️",
        help="The weights (.safetensors) and the card (.json): put both in another app's checkpoints/ folder, or "
             "load them with core.checkpoints.load_checkpoint.",
    )


def delete_own_model(folder: Path, card: Card) -> None:
    """Delete one of the session's checkpoints and the upload it was trained on (only inside the workspace)."""
    card = card.updated(path=str(folder / Path(card.path).name))
    for path in checkpoint_paths(card.path):
        path.unlink(missing_ok=True)
    if card.dataset.get("path"):  # stored relative to the checkpoint's folder
        upload = card.dataset_key
        if serverdata.inside(upload, folder / "data"):
            Path(upload).unlink(missing_ok=True)
