"""Helpers for browser tests and benchmarks: a free port, a `streamlit run` server that is
always stopped, and headless Chromium (the system's, never a downloaded one).

    with streamlit_server("devtools/apps/decoder_demo.py") as url, chromium() as browser:
        page = browser.new_page()
        page.goto(url + "/?mode=pad")

Tests that need Chromium call ``require_chromium()`` (a pytest skip with the reason when
/usr/bin/chromium or Playwright is missing).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_missing_reason() -> str | None:
    """Why browser tests cannot run here, or None when they can."""
    if not Path(CHROMIUM_PATH).exists():
        return f"Chromium not found at {CHROMIUM_PATH} (apt-get install -y chromium, or set CHROMIUM_PATH)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    return None


def require_chromium() -> None:
    """pytest.skip with the reason when Chromium or Playwright is missing."""
    import pytest

    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def streamlit_server(script: str | Path, *, timeout: float = 60.0, extra_args: list[str] | None = None) -> Iterator[str]:
    """Run `streamlit run script` headless on a free localhost port; yield its base URL.

    The server (its whole process group) is stopped on exit, whatever happened.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--global.developmentMode", "false",
        *(extra_args or []),
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                out = log.read().decode(errors="replace")[-3000:]
                raise RuntimeError(f"streamlit did not become healthy at {url} (exit code {proc.poll()}):\n{out}")
            time.sleep(0.2)
        yield url
    finally:
        stop_process_group(proc)
        log.close()


@contextlib.contextmanager
def chromium(**launch_kwargs):
    """Headless system Chromium via Playwright (no browser download, localhost only)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS, **launch_kwargs)
        try:
            yield browser
        finally:
            browser.close()


def component_frame(page, timeout: float = 30.0, stats: str = "latentDecoderStats"):
    """The Playwright Frame that holds the browser components (Custom Components v2 live in the
    page itself: its main frame), once a component's JavaScript has started (window[stats] exists).
    Playwright's CSS locators reach into the components' shadow roots."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if page.main_frame.evaluate(f"() => !!window.{stats}"):
                return page.main_frame
        page.wait_for_timeout(100)
    raise TimeoutError(f"no component with window.{stats} after {timeout} s")


def component_args(at, name: str) -> list[dict]:
    """The ``args`` Python sent to each browser component named ``name`` (latent_decoder,
    latent_canvas) on an AppTest page: the JSON part of its data."""
    found = []
    for element in at.get("bidi_component"):
        proto = element.proto
        if proto.component_name == name or proto.component_name.endswith("." + name):
            text = proto.mixed.json if proto.WhichOneof("data") == "mixed" else proto.json
            found.append(json.loads(text)["args"])
    return found


__all__ = [
    "CHROMIUM_ARGS", "CHROMIUM_PATH", "REPO_ROOT", "chromium", "chromium_missing_reason", "component_args",
    "component_frame", "free_port", "require_chromium", "streamlit_server",
]


def stop_process_group(proc: subprocess.Popen) -> None:
    """Stop a server started in its own process group: SIGTERM, then SIGKILL after 10 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
