"""The operator's settings, paths confined to the server's data root, per-session workspaces:
quotas and expiry. Pure logic, no Streamlit (the pages' side is in test_app_sessions.py)."""

import os
import time

import pytest

from core.settings import Settings, SettingsError, load_settings, settings
from explorer.logic import serverdata
from explorer.logic.workspace import Workspace, new_token, quota_problem, sweep_expired, tree_size


@pytest.fixture
def root(tmp_path):
    """A data root with an image folder and a .npz inside, and secrets next to it."""
    data = tmp_path / "data-root"
    (data / "shapes" / "dots").mkdir(parents=True)
    (data / "shapes" / "dots" / "0.png").write_bytes(b"png")
    (data / "faces.npz").write_bytes(b"npz")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "grades.npz").write_bytes(b"npz")
    return data


# --------------------------------------------------------------------------- confinement


def test_paths_inside_the_root_resolve(root):
    assert serverdata.confine("shapes", root) == root / "shapes"
    assert serverdata.confine(" faces.npz ", root) == root / "faces.npz"
    assert serverdata.confine(str(root / "shapes"), root) == root / "shapes"  # absolute, inside
    assert serverdata.confine("shapes/../faces.npz", root) == root / "faces.npz"


@pytest.mark.parametrize("text", [
    "../secret", "../secret/grades.npz", "/etc", "/etc/passwd", "/", "..", "shapes/../../secret",
    "missing-folder", "/no/such/path", "shapes/dots/0.png", "", "   ", "bad\x00name",
])
def test_everything_else_gets_none(root, text):
    assert serverdata.confine(text, root) is None


def test_the_message_is_the_same_for_missing_and_forbidden_paths(root):
    """A visitor cannot tell which paths exist: the answer depends only on what they typed."""
    assert serverdata.not_available("x") == serverdata.not_available("x")
    missing, forbidden = serverdata.not_available("../nothing-here"), serverdata.not_available("../secret")
    assert missing.replace("nothing-here", "secret") == forbidden


def test_links_out_of_the_root_are_refused(root, tmp_path):
    (root / "escape").symlink_to(tmp_path / "secret")
    (root / "escape.npz").symlink_to(tmp_path / "secret" / "grades.npz")
    (root / "shapes" / "dots" / "peek.png").symlink_to(tmp_path / "secret" / "grades.npz")
    (root / "inner").symlink_to(root / "faces.npz")
    assert serverdata.confine("escape", root) is None
    assert serverdata.confine("escape/grades.npz", root) is None
    assert serverdata.confine("escape.npz", root) is None
    assert serverdata.confine("shapes", root) is None  # holds a link out of the root
    assert serverdata.confine("inner", root) == root / "faces.npz"  # a link that stays inside is fine
    assert serverdata.confine("shapes/dots/../../faces.npz", root) == root / "faces.npz"


def test_a_root_that_is_a_link_is_followed(root, tmp_path):
    (tmp_path / "link-root").symlink_to(root)
    assert serverdata.confine("faces.npz", tmp_path / "link-root") == root / "faces.npz"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_an_unreadable_folder_is_refused_like_a_missing_one(root):
    (root / "locked").mkdir(mode=0o000)
    try:
        assert serverdata.confine("locked", root) is None
    finally:
        (root / "locked").chmod(0o700)


def test_no_root_means_no_server_paths(root):
    assert serverdata.confine(str(root / "faces.npz"), None) is None


def test_messages_do_not_show_the_roots_real_path(root):
    assert serverdata.scrub(f"{root}/shapes: no images", root) == "shapes: no images"
    assert serverdata.shown_path(root / "shapes", root) == "shapes"


# --------------------------------------------------------------------------- settings


def test_defaults_are_the_safe_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_CONFIG", str(tmp_path / "none.toml"))
    s = load_settings({})
    assert s.server_data_root is None and s.publish_trained is False
    assert s.client_quota_mb > 0 and s.total_quota_mb > 0 and s.expiry_hours > 0 and s.client_header is None
    assert 1 <= s.train_workers <= (os.cpu_count() or 1) and s.jobs_per_client == 2 and s.train_queue > 0
    assert s.job_max_seconds == 1800 and s.job_max_bytes == 100_000_000


def test_environment_over_file(tmp_path, monkeypatch):
    config = tmp_path / "latent-explorer.toml"
    config.write_text('[latent_explorer]\nserver_data_root = "%s"\nsession_quota_mb = 5\ntrain_workers = 1000\n'
                      % tmp_path)
    monkeypatch.setenv("LATENT_EXPLORER_CONFIG", str(config))
    assert load_settings({}).client_quota_bytes == 5_000_000  # the older file key
    s = load_settings({"LATENT_EXPLORER_CLIENT_QUOTA_MB": "7", "LATENT_EXPLORER_PUBLISH_TRAINED": "1"})
    assert s.server_data_root == tmp_path.resolve() and s.client_quota_bytes == 7_000_000 and s.publish_trained
    assert s.train_workers == (os.cpu_count() or 1)  # never more workers than cores
    assert load_settings({"LATENT_EXPLORER_TRAINED": "/x"}).published == type(tmp_path)("/x")  # the older names
    assert load_settings({"LATENT_EXPLORER_SESSION_QUOTA_MB": "9"}).client_quota_bytes == 9_000_000
    assert load_settings({"LATENT_EXPLORER_JOBS_PER_SESSION": "3"}).jobs_per_client == 3
    s = load_settings({"LATENT_EXPLORER_CLIENT_HEADER": "X-Forwarded-User", "LATENT_EXPLORER_JOB_MAX_MINUTES": "0.5"})
    assert s.client_header == "X-Forwarded-User" and s.job_max_seconds == 30


@pytest.mark.parametrize("env,message", [
    ({"LATENT_EXPLORER_CLIENT_QUOTA_MB": "lots"}, "must be a number"),
    ({"LATENT_EXPLORER_JOB_MAX_MINUTES": "-1"}, "must be above 0"),
    ({"LATENT_EXPLORER_CLIENT_HEADER": "X-User: admin"}, "must be a header name"),
    ({"LATENT_EXPLORER_CLIENT_HEADER": "X-User\r\nX-Other"}, "must be a header name"),
    ({"LATENT_EXPLORER_TRAIN_WORKERS": "0"}, "must be above 0"),
    ({"LATENT_EXPLORER_PUBLISH_TRAINED": "maybe"}, "must be 1 or 0"),
    ({"LATENT_EXPLORER_MAX_DATA_BYTES": "lots"}, "is not a size"),
    ({"LATENT_EXPLORER_MAX_DATA_BYTES": "0"}, "must be positive"),
    ({"LATENT_DIST_TIMEOUT_S": "soon"}, "must be a number"),
])
def test_bad_settings_are_refused_with_the_name(tmp_path, monkeypatch, env, message):
    monkeypatch.setenv("LATENT_EXPLORER_CONFIG", str(tmp_path / "none.toml"))
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


def test_settings_are_read_once_per_process(tmp_path, monkeypatch):
    config = tmp_path / "latent-explorer.toml"
    config.write_text("[latent_explorer]\nclient_quota_mb = 5\n")
    monkeypatch.setenv("LATENT_EXPLORER_CONFIG", str(config))
    first = settings()
    config.write_text("[latent_explorer]\nclient_quota_mb = 6\n")  # an edit while the server runs
    assert settings() is first and first.client_quota_mb == 5  # kept until the server restarts
    settings.cache_clear()
    assert settings().client_quota_mb == 6


def test_every_environment_read_is_a_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_CONFIG", str(tmp_path / "none.toml"))
    s = load_settings({"LATENT_EXPLORER_DATA": str(tmp_path), "LATENT_EXPLORER_MAX_DATA_BYTES": "2G",
                       "LATENT_EXPLORER_ALLOW_DOWNLOAD": "1", "LATENT_EXPLORER_CHECKPOINTS": str(tmp_path / "c"),
                       "LATENT_DIST_TIMEOUT_S": "60"})
    assert (s.data, s.max_data_bytes, s.allow_download, s.checkpoints, s.dist_timeout_s) == (
        tmp_path, 2 * 2**30, True, tmp_path / "c", 60.0)
    assert s.workspaces == tmp_path / "workspaces" and s.classes_db == f"sqlite:///{tmp_path / 'classes.sqlite3'}"
    default = load_settings({})
    assert default.max_data_bytes == 512 * 2**20 and default.allow_download is False


def test_unknown_keys_in_the_file_are_refused(tmp_path, monkeypatch):
    config = tmp_path / "c.toml"
    config.write_text("[latent_explorer]\nserver_data_rot = '/data'\n")
    monkeypatch.setenv("LATENT_EXPLORER_CONFIG", str(config))
    with pytest.raises(SettingsError, match="unknown keys"):
        load_settings({})


# --------------------------------------------------------------------------- workspaces


def test_tokens_are_unguessable_and_checked(tmp_path):
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) == 32 for t in tokens)
    for bad in ("..", "../x", "a" * 31, "", "a/b" + "c" * 29):
        with pytest.raises(ValueError):
            Workspace.of(tmp_path, bad)


def test_quota_refuses_what_would_not_fit():
    assert quota_problem(10, 50, 0, 100, 500, 0, 1000) is None
    assert "Not enough room for your models" in quota_problem(60, 50, 0, 100, 500, 0, 1000)
    assert "your job under way" in quota_problem(30, 50, 30, 100, 500, 0, 1000)
    assert "room for trained models is full" in quota_problem(10, 50, 0, 100, 995, 0, 1000)


def _workspace(root, age_s, token=None):
    ws = Workspace.of(root, token or new_token()).ensure()
    (ws.models / "m.json").write_text("{}")
    then = time.time() - age_s
    os.utime(ws.root / ".last-seen", (then, then))
    return ws


def test_expiry_removes_old_workspaces_but_not_a_running_jobs(tmp_path):
    old, fresh, busy, live = (_workspace(tmp_path, 3 * 3600), _workspace(tmp_path, 60),
                              _workspace(tmp_path, 3 * 3600), _workspace(tmp_path, 3 * 3600))
    (live.jobs / "job1").mkdir()
    (live.jobs / "job1" / "pid").write_text(str(os.getpid()))  # a live training process
    (tmp_path / "not-a-workspace").mkdir()
    os.utime(tmp_path / "not-a-workspace", (0, 0))
    removed = sweep_expired(tmp_path, 2 * 3600, protected={busy.root})
    assert removed == [old.root] and not old.root.exists()
    assert fresh.root.exists() and busy.root.exists() and live.root.exists()
    assert (tmp_path / "not-a-workspace").exists()
    assert tree_size(busy.root) == 2 and sweep_expired(tmp_path / "nowhere", 1) == []


def test_settings_type_defaults():
    assert Settings().client_quota_bytes == 200_000_000 and Settings().threads_per_job >= 1
