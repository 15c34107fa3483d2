"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
import socket

import pytest
import torch

from core.data import Dataset, load_dataset
from core.settings import settings


@pytest.fixture(autouse=True)
def settings_follow_the_environment(monkeypatch):
    """core.settings.settings() reads the environment once per process, as a server does; here each
    test starts fresh, and every monkeypatch.setenv / delenv makes the next call read it again."""
    settings.cache_clear()
    for name in ("setenv", "delenv"):
        change = getattr(monkeypatch, name)

        def change_and_forget(*args, _change=change, **kwargs):
            _change(*args, **kwargs)
            settings.cache_clear()

        setattr(monkeypatch, name, change_and_forget)
    yield
    settings.cache_clear()


@pytest.fixture(scope="module")
def single_thread():
    """Tiny models run fastest on one thread, and the test machine is shared.
    Modules opt in with ``pytestmark = pytest.mark.usefixtures("single_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def no_network(monkeypatch):
    """Offline, as on a user's fresh machine: any connection fails at once.
    Modules opt in with ``pytestmark = pytest.mark.usefixtures("no_network")``."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture(scope="session")
def digits() -> Dataset:
    """scikit-learn's bundled 8x8 digits (offline), loaded once."""
    return load_dataset("digits", download=False)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright, one per test module; skips with the reason when it is missing."""
    from devtools.browser import chromium, chromium_missing_reason

    if reason := chromium_missing_reason():
        pytest.skip(reason)
    with chromium() as b:
        yield b


@pytest.fixture
def fresh_server(tmp_path, monkeypatch):
    """Fresh operator settings under tmp_path: no config file, workspaces and the published folder
    there, no other LATENT_EXPLORER_ variable of this shell (the data folder stays)."""
    for name in [k for k in os.environ if k.startswith("LATENT_EXPLORER_") and k != "LATENT_EXPLORER_DATA"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LATENT_EXPLORER_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("LATENT_EXPLORER_WORKSPACES", str(tmp_path / "workspaces"))
    monkeypatch.setenv("LATENT_EXPLORER_PUBLISHED", str(tmp_path / "published"))
    return tmp_path
