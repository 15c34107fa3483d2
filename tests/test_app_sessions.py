"""A server shared by a class, through AppTest: what one visitor can reach and do.

Server folders are off unless the operator names a root, and then confined to it (missing
and forbidden paths get the same message); each session's models and uploads are private;
the disk quota refuses a job before anything is written; jobs wait in a bounded queue (their
place shown), a client (all its sessions) has a job limit, and training runs in another process.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest

from core.card import Card
from streamlit.testing.v1 import AppTest

from core.checkpoints import list_checkpoints
from explorer.logic import plaintext, serverdata, workspace
from explorer.ui import loaders, train_form

ROOT = Path(__file__).resolve().parents[1]
TRAIN = str(ROOT / "pages" / "7_Train.py")
HOME = str(ROOT / "streamlit_app.py")
pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def server(fresh_server, monkeypatch):
    """Fresh operator settings: workspaces and the published folder under tmp_path, no server data root."""
    tmp_path = fresh_server
    monkeypatch.setenv("LATENT_EXPLORER_EXPIRY_HOURS", "1")
    yield tmp_path
    for at_jobs in _started:
        for job in at_jobs:
            job.terminate()
    _started.clear()


_started: list[list] = []


def run(path: str = TRAIN, token: str | None = None) -> AppTest:
    at = AppTest.from_file(path, default_timeout=120)
    if token:
        at.session_state["_workspace_token"] = token
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def jobs_of(at: AppTest) -> list:
    jobs = at.session_state["train_jobs"] if "train_jobs" in at.session_state else []
    _started.append(list(jobs))
    return jobs


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def pngs(folder: Path, classes=("dots", "bars"), n=12) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in classes:
        (folder / cls).mkdir(parents=True)
        for k in range(n):
            Image.fromarray(rng.integers(0, 255, (10, 12), dtype=np.uint8)).save(folder / cls / f"{k}.png")
    return folder


# --------------------------------------------------------------------------- server folders


def test_server_folders_are_off_unless_the_operator_names_a_root(server):
    at = run()
    assert at.radio(key="train_source").options == list(train_form.SOURCES[:2])
    at = AppTest.from_file(TRAIN, default_timeout=120)
    at.session_state["train_source"] = train_form.SOURCES[2]  # remembered from when it was on
    at.run()
    assert not at.exception and at.radio(key="train_source").value == train_form.SOURCES[0]
    assert not [t for t in at.text_input if t.key == "train_folder"]


def test_paths_outside_the_root_get_the_same_message_as_missing_ones(server, monkeypatch):
    root = pngs(server / "data-root" / "shapes").parent
    (server / "secret").mkdir()
    np.savez(server / "secret" / "grades.npz", images=np.zeros((20, 4, 4), np.uint8))
    (root / "escape").symlink_to(server / "secret")
    (root / "escape.npz").symlink_to(server / "secret" / "grades.npz")
    monkeypatch.setenv("LATENT_EXPLORER_SERVER_DATA_ROOT", str(root))
    at = run()
    at.radio(key="train_source").set_value(train_form.SOURCES[2]).run()
    answers = {}
    for typed in ["../secret", "../secret/grades.npz", str(server / "secret" / "grades.npz"), "/etc", "/etc/passwd",
                  "escape", "escape/grades.npz", "escape.npz", "no-such-folder", "../no-such-folder", "/no/such"]:
        at.text_input(key="train_folder").set_value(typed).run()
        assert not at.exception
        (message,) = errors(at)
        answers[typed] = message
        assert message == plaintext.markdown_text(serverdata.not_available(typed)), typed
        assert at.button(key="train_start").disabled
    shown = {t: m.replace(plaintext.markdown_text(t), "PATH") for t, m in answers.items()}  # as Markdown escapes it
    assert len(set(shown.values())) == 1  # one message whatever the path
    assert not any(plaintext.markdown_text(str(server)) in m for m in shown.values())  # only what was typed
    at.text_input(key="train_folder").set_value("shapes").run()
    assert not errors(at) and any("2 classes" in s.value for s in at.success)


def test_trains_on_a_folder_inside_the_root_and_reloads_it(server, monkeypatch):
    root = pngs(server / "data-root" / "shapes").parent
    monkeypatch.setenv("LATENT_EXPLORER_SERVER_DATA_ROOT", str(root))
    at = run()
    at.radio(key="train_source").set_value(train_form.SOURCES[2]).run()
    at.number_input(key="train_h").set_value(12)
    at.number_input(key="train_w").set_value(16)
    at.text_input(key="train_folder").set_value("shapes")
    at.selectbox(key="train_kind").set_value("ae").run()  # each kind has its own epochs field (its defaults)
    at.number_input(key="train_epochs_ae").set_value(1).run()
    assert not errors(at) and any("of 1 x 12 x 16 pixels, 2 classes" in s.value for s in at.success)
    at.button(key="train_start").click().run()
    (job,) = jobs_of(at)
    assert job.wait(180) and job.view().phase == "done", job.view().message
    (card,) = list_checkpoints(server / "workspaces" / at.session_state["_workspace_token"] / "models")
    assert card["dataset"]["image_size"] == [12, 16]
    assert not card["dataset"]["path"].startswith("/")  # stored relative to the checkpoint's folder
    assert Card.from_dict(card).dataset_key == str((root / "shapes").resolve())
    reloaded = loaders.data_for(card)
    assert not isinstance(reloaded, str) and reloaded.image_shape == (1, 12, 16)
    monkeypatch.delenv("LATENT_EXPLORER_SERVER_DATA_ROOT")  # switched off: its data is not read
    assert "not available to this session" in loaders.data_for(card)


# --------------------------------------------------------------------------- sessions


def _upload(at: AppTest, name: str) -> None:
    from core.data import load_dataset

    digits = load_dataset("digits")
    buffer = io.BytesIO()
    np.savez(buffer, images=(digits.train_images[:200, 0] * 255).astype(np.uint8), labels=digits.train_labels[:200])
    at.radio(key="train_source").set_value(train_form.SOURCES[1]).run()
    at.file_uploader(key="train_upload").set_value((name, buffer.getvalue(), "application/octet-stream")).run()


def test_a_sessions_models_and_uploads_are_private(server, monkeypatch):
    alice = run()
    _upload(alice, "alices.npz")
    alice.selectbox(key="train_kind").set_value("ae").run()
    alice.number_input(key="train_epochs_ae").set_value(1)
    alice.text_input(key="train_name").set_value("alices-model").run()
    assert not errors(alice), errors(alice)
    alice.button(key="train_start").click().run()
    (job,) = jobs_of(alice)
    assert job.wait(180) and job.view().phase == "done", job.view().message
    token = alice.session_state["_workspace_token"]
    own = server / "workspaces" / token / "models"
    assert (own / "alices-model.json").exists() and len(list((own / "data").glob("alices-model-*.npz"))) == 1
    assert not files_under(server / "published")

    home_a, home_b = run(HOME, token=token), run(HOME)
    assert "alices-model" in set(home_a.dataframe[0].value["name"])
    assert "alices-model" not in set(home_b.dataframe[0].value["name"])
    assert home_b.session_state["_workspace_token"] != token
    bob = run()
    bob.text_input(key="train_name").set_value("alices-model").run()
    assert not errors(bob), "bob may use the name: he cannot see alice's model"
    # a card naming alice's upload is not read for bob
    card = next(c for c in list_checkpoints(own) if c["name"] == "alices-model")
    with monkeypatch.context() as m:
        m.setattr(loaders, "session_token", lambda: workspace.new_token())
        assert "not available to this session" in loaders.data_for(card)
    # alice deletes her model: its files and its upload go, the name stays taken in her session
    alice.run()
    alice.button(key="train_delete_alices-model").click().run()
    assert not alice.exception and not files_under(own)
    alice.text_input(key="train_name").set_value("alices-model").run()
    assert any("taken" in e for e in errors(alice)), errors(alice)


def test_quota_exceeded_says_so_and_writes_nothing(server, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_CLIENT_QUOTA_MB", "0.02")  # 20 kB: less than a digits VAE
    at = run()
    at.selectbox(key="train_dataset").set_value("digits")
    at.text_input(key="train_name").set_value("too-big").run()
    at.button(key="train_start").click().run()
    assert not at.exception
    assert any("Not enough room for your models" in e and "Nothing was saved" in e for e in errors(at)), errors(at)
    assert not jobs_of(at) and not files_under(server / "workspaces")
    monkeypatch.setenv("LATENT_EXPLORER_CLIENT_QUOTA_MB", "100")
    monkeypatch.setenv("LATENT_EXPLORER_TOTAL_QUOTA_MB", "0.02")
    at.run()
    at.button(key="train_start").click().run()
    assert any("room for trained models is full" in e for e in errors(at)), errors(at)
    assert not files_under(server / "workspaces")


def test_jobs_queue_with_their_place_shown_and_a_limit_per_client(server, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_TRAIN_WORKERS", "1")
    at = run()
    at.selectbox(key="train_dataset").set_value("digits")
    at.number_input(key="train_epochs_vae").set_value(500)
    at.text_input(key="train_name").set_value("first").run()
    at.button(key="train_start").click().run()
    at.text_input(key="train_name").set_value("second").run()
    at.button(key="train_start").click().run()
    assert not at.exception and not errors(at), errors(at)
    first, second = jobs_of(at)
    assert first.started and not second.started  # one running job per client; the second waits
    assert first.pid is not None and first.pid != os.getpid()  # training runs in another process
    at.run()
    assert any("Waiting in the queue: number 1 of 1" in i.value for i in at.info), [i.value for i in at.info]
    assert any("one visitor may have 2 at once" in w.value for w in at.warning)
    assert at.button(key="train_start").disabled
    other_tab = run()  # a new session of the same client (the same address): the limit counts both
    assert other_tab.session_state["_workspace_token"] != at.session_state["_workspace_token"]
    assert any("one visitor may have 2 at once" in w.value for w in other_tab.warning)
    assert other_tab.button(key="train_start").disabled
    at.text_input(key="train_name").set_value("first").run()
    assert any("is being trained right now" in e for e in errors(at))
    at.button(key=f"train_cancel_{first.spec.job_id}").click().run()
    assert first.wait(30) and first.view().phase == "cancelled"
    assert wait_until(lambda: second.started), "the waiting job did not start"
    second.cancel()
    assert second.wait(30)


def wait_until(predicate, timeout=60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_expired_workspaces_are_removed_when_the_server_starts(server):
    old = workspace.Workspace.of(server / "workspaces", workspace.new_token()).ensure()
    (old.models / "m.json").write_text("{}")
    os.utime(old.root / ".last-seen", (time.time() - 7200, time.time() - 7200))
    fresh = workspace.Workspace.of(server / "workspaces", workspace.new_token()).ensure()
    run(HOME)
    assert not old.root.exists() and fresh.root.exists()
