"""Driving the real app in Chromium: waits on Streamlit's DOM, error checks, timed reruns, screenshots.

Shared by tests/test_e2e.py, bench/bench_app.py, bench/load_test.py and scripts/screenshots.py.

How we know Streamlit is done: every tab gets a RunTracker (``page.runs``) that reads the
app's websocket with Streamlit's own protobufs: the rerun requests the browser sends and the
``script_finished`` messages the server returns. That is the ground truth; under load a browser
may draw a quick run's "running" and "notRunning" as one frame, so the DOM alone can miss it.
The DOM then says when the page is drawn: ``[data-testid="stApp"]`` carries
``data-test-script-state`` ("notRunning" when idle), the status widget is gone and no skeleton
is left (``wait_idle``). An init script (``INIT_SCRIPT``) installed before Streamlit's own
JavaScript also notes each state change with ``performance.now()``, so a rerun's duration is
measured in the page's clock. No fixed sleeps.

    with app_server(env={"LATENT_EXPLORER_TRAINED": tmp}) as url, chromium() as browser:
        page = new_app_page(browser)
        open_app(page, url, "Latent_sliders")
        ms = rerun(page, lambda: page.keyboard.press("ArrowRight"))
        assert not error_texts(page)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from devtools.browser import REPO_ROOT, _healthy, free_port, stop_process_group, streamlit_server

ARTIFACTS = REPO_ROOT / "artifacts" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}
APP_SCRIPT = REPO_ROOT / "streamlit_app.py"

# Runs in every document before Streamlit's bundle: counts finished script runs, logs state
# changes, and notes disconnects and uncaught JavaScript errors.
INIT_SCRIPT = r"""
(() => {
  const st = window.__st = {done: 0, started: 0, log: [], lastDoneAt: 0, lastStartAt: 0,
                           disconnects: 0, connLog: [], mark: 0, markDone: 0};
  new MutationObserver((mutations) => {
    for (const m of mutations) {
      const now = performance.now();
      if (m.attributeName === 'data-test-script-state') {
        const v = m.target.getAttribute('data-test-script-state');
        if (v === m.oldValue) continue;
        st.log.push([Math.round(now), v]);
        if (st.log.length > 200) st.log.shift();
        if (v === 'notRunning') { st.done++; st.lastDoneAt = now; }
        else { st.started++; st.lastStartAt = now; }  // rerunRequested (the client asked), running (the server began)
      } else if (m.attributeName === 'data-test-connection-state') {
        const v = m.target.getAttribute('data-test-connection-state');
        if (v === m.oldValue) continue;
        st.connLog.push([Math.round(now), v]);
        if (st.connLog.length > 1 && v !== 'CONNECTED' && st.connLog.some(e => e[1] === 'CONNECTED')) st.disconnects++;
      }
    }
  }).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                        attributeFilter: ['data-test-script-state', 'data-test-connection-state']});
})();
"""

# Idle: the script is not running, the status widget is gone, no skeleton placeholders left.
IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
  if (document.querySelector('[data-testid="stMain"] [data-testid="stSkeleton"]')) return false;
  return true;
}"""

# ---- the server ---------------------------------------------------------------------------

@contextlib.contextmanager
def app_server(script: str | Path = APP_SCRIPT, env: dict[str, str] | None = None,
               timeout: float = 90.0) -> Iterator[str]:
    """``streamlit run script`` on a free localhost port with extra environment variables.

    The variables are set only while the server starts (it copies the environment), then the
    caller's environment is restored; the server is always stopped on exit.
    """
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        server = streamlit_server(script, timeout=timeout)
        url = server.__enter__()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        yield url
    finally:
        server.__exit__(None, None, None)


# Runs inside a `streamlit run` process started by timed_app_server(): every script run (a
# page, or a fragment) is timed around Streamlit's exec_func_with_error_handling and appended
# to $LATENT_EXPLORER_RUN_LOG as one JSON line: wall-clock start, ms, page, fragment or not.
_TIMING_LAUNCHER = r"""
import json, os, sys, threading, time
from streamlit.runtime.scriptrunner import script_runner as _sr
_inner = _sr.exec_func_with_error_handling
_path = os.environ["LATENT_EXPLORER_RUN_LOG"]
_lock = threading.Lock()
def _timed(func, ctx):
    t0 = time.time(); p0 = time.perf_counter()
    try:
        return _inner(func, ctx)
    finally:
        ms = (time.perf_counter() - p0) * 1000
        page = ""
        try:
            info = ctx.pages_manager.get_page_script(ctx.page_script_hash) or {}
            page = str(info.get("page_name") or info.get("url_pathname") or info.get("script_path") or "")
        except Exception:
            pass
        line = json.dumps({"start": t0, "ms": ms, "page": page, "session": ctx.session_id[:8],
                           "fragment": bool(getattr(ctx, "current_fragment_id", None) or
                                            getattr(ctx, "fragment_ids_this_run", None))})
        with _lock, open(_path, "a") as f:
            f.write(line + "\n")
_sr.exec_func_with_error_handling = _timed
sys.argv = ["streamlit"] + sys.argv[1:]
from streamlit.web.cli import main
main()
"""


@contextlib.contextmanager
def timed_app_server(run_log: str | Path, script: str | Path = APP_SCRIPT, env: dict[str, str] | None = None,
                     timeout: float = 90.0, extra_args: list[str] | None = None,
                     root: str | Path = REPO_ROOT) -> Iterator[str]:
    """Like app_server, and every script run's server-side duration goes to ``run_log`` (JSON lines;
    read them with read_run_log). The same `streamlit run` flags as devtools.browser.streamlit_server.
    ``root``: the checkout the server runs in (another one for before/after benchmarks)."""
    root = Path(root)
    script = root / Path(script).relative_to(REPO_ROOT) if Path(script).is_relative_to(REPO_ROOT) else script
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable, "-c", _TIMING_LAUNCHER, "run", str(script),
        "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.fileWatcherType", "none", "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false", "--global.developmentMode", "false", *(extra_args or []),
    ]
    Path(run_log).write_text("")
    full_env = dict(os.environ, **(env or {}), LATENT_EXPLORER_RUN_LOG=str(run_log),
                    PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, cwd=root, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"streamlit did not become healthy at {url} (exit code {proc.poll()}):\n"
                                   + log.read().decode(errors="replace")[-3000:])
            time.sleep(0.2)
        yield url
    finally:
        stop_process_group(proc)
        log.close()


def read_run_log(run_log: str | Path) -> list[dict]:
    """The server-side script runs logged by timed_app_server: [{start, ms, page, session, fragment}]."""
    path = Path(run_log)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ---- pages of the app ----------------------------------------------------------------------

HOME_PAGE = REPO_ROOT / "pages" / "0_Home.py"  # the menu's default page, at the root URL (explorer/ui/home.py)


def page_files() -> list[Path]:
    """pages/*.py but the home page, in the sidebar's order (the numeric prefix)."""
    def order(p: Path) -> tuple[int, str]:
        m = re.match(r"(\d+)", p.name)
        return (int(m.group(1)) if m else 10**6, p.name)

    return sorted((p for p in (REPO_ROOT / "pages").glob("*.py") if not p.name.startswith("_") and p != HOME_PAGE),
                  key=order)


def url_path(page_file: Path) -> str:
    """Streamlit's URL path for a page file: '3_Latent_sliders.py' -> 'Latent_sliders'."""
    return re.sub(r"^[\d_\s-]*", "", page_file.stem).replace(" ", "_")


def app_pages() -> list[tuple[str, str]]:
    """(short name, url path) of every page, home first: [('home', ''), ('latent_map', 'Latent_map'), ...]."""
    pages = [("home", "")]
    pages += [(url_path(p).lower(), url_path(p)) for p in page_files()]
    return pages


# ---- script runs, seen on the websocket -----------------------------------------------------------

class RunTracker:
    """Counts one tab's Streamlit script runs from its websocket (parsed with Streamlit's protobufs).

    ``requests``: rerun requests the browser sent (BackMsg.rerun_script: a widget change, a page
    switch); ``started``: runs the server began (ForwardMsg.new_session); ``finished``: full runs
    that ended (ForwardMsg.script_finished, not cut short for a newer rerun); ``fragments``:
    fragment runs that ended. Times are ``time.perf_counter()`` in this process.

    The websocket is the ground truth: unlike the DOM's script-state attribute, it cannot miss a
    quick run whose two state changes a busy browser drew as one.
    """

    def __init__(self) -> None:
        # imported here, not inside the websocket handlers (the first import of streamlit takes a while)
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._back, self._forward = BackMsg, ForwardMsg
        self.requests = self.started = self.finished = self.fragments = 0
        self.t_request = self.t_finished = 0.0
        self.request_times: list[float] = []
        self.events: list[tuple[float, str]] = []  # (time, "start" | "finish"), in arrival order

    def attach(self, page) -> "RunTracker":
        page.on("websocket", self._on_websocket)
        return self

    def _on_websocket(self, ws) -> None:
        if "/_stcore/stream" in ws.url:
            ws.on("framesent", self._sent)
            ws.on("framereceived", self._received)

    def _sent(self, payload) -> None:
        if isinstance(payload, (bytes, bytearray)):
            msg = self._back()
            with contextlib.suppress(Exception):
                msg.ParseFromString(bytes(payload))
                if msg.WhichOneof("type") == "rerun_script":
                    self.requests += 1
                    self.t_request = time.perf_counter()
                    self.request_times.append(self.t_request)

    def _received(self, payload) -> None:
        ForwardMsg = self._forward  # noqa: N806 - the protobuf class
        if not isinstance(payload, (bytes, bytearray)):
            return
        msg = ForwardMsg()
        try:
            msg.ParseFromString(bytes(payload))
        except Exception:  # noqa: BLE001 - not a ForwardMsg: not ours to count
            return
        kind = msg.WhichOneof("type")
        now = time.perf_counter()
        if kind == "new_session":
            self.started += 1
            self.events.append((now, "start"))
        elif kind == "script_finished":
            status = msg.script_finished
            if status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                self.fragments += 1
                self.events.append((now, "finish"))  # a widget inside an st.fragment reruns only that
            elif status != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                self.finished += 1
                self.t_finished = now
                self.events.append((now, "finish"))

    def finished_after(self, t: float) -> float | None:
        """When the first run (full, or of a fragment) that started after ``t`` finished (None: not yet).

        A run already under way at ``t`` (say, a page's own follow-up rerun) does not count."""
        started = next((te for te, e in self.events if e == "start" and te > t), None)
        if started is None:
            return None
        return next((te for te, e in self.events if e == "finish" and te >= started), None)


# ---- one browser tab ------------------------------------------------------------------------

def new_app_page(browser, viewport: dict | None = None):
    """A fresh browser context (a new Streamlit session) with the run counters installed.

    ``page.runs`` (a RunTracker) counts script runs from the websocket; uncaught JavaScript
    errors are collected in ``page.js_errors``.
    """
    context = browser.new_context(viewport=viewport or VIEWPORT, device_scale_factor=1)
    context.add_init_script(INIT_SCRIPT)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda err: page.js_errors.append(str(err)))
    page.runs = RunTracker().attach(page)
    return page


def open_app(page, base_url: str, path: str = "", timeout: float = 60_000) -> float:
    """Load a page of the app and wait until its first run is done and rendered; returns ms."""
    t0 = time.perf_counter()
    page.goto(base_url.rstrip("/") + "/" + path.lstrip("/"), wait_until="domcontentloaded", timeout=timeout)
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    _wait_runs(page, 1, timeout)
    wait_idle(page, timeout)
    wait_charts(page, timeout)
    return (time.perf_counter() - t0) * 1000


def wait_idle(page, timeout: float = 60_000, settle_ms: float = 0) -> None:
    """Wait until the script is idle, the status widget gone and no skeletons are left.

    ``settle_ms``: also require that no run started within that many ms (for pages that
    rerun themselves, e.g. a component reporting back once it has loaded).
    """
    page.wait_for_function(IDLE_JS, timeout=timeout, polling=50)
    if settle_ms:
        deadline = time.monotonic() + timeout / 1000
        while time.monotonic() < deadline:
            quiet = page.evaluate("(ms) => performance.now() - Math.max(window.__st.lastDoneAt, window.__st.lastStartAt) >= ms",
                                  settle_ms)
            if quiet and page.evaluate(IDLE_JS):
                return
            page.wait_for_timeout(min(50, settle_ms))
        raise TimeoutError(f"the app did not stay idle for {settle_ms} ms within {timeout} ms")


def rerun(page, action: Callable[[], object], timeout: float = 60_000) -> float:
    """Do ``action`` (a widget interaction), wait for the rerun it causes; returns its ms.

    Measured in the page's clock: from just before the action to the moment the script state
    went back to idle (so the Python-side cost of polling is not counted).
    """
    runs = page.runs
    page.evaluate("() => { window.__st.mark = performance.now(); window.__st.markDone = window.__st.done; }")
    t0 = time.perf_counter()
    action()
    t_finished = _wait_run_after(page, t0, timeout)
    wait_idle(page, timeout)
    if page.evaluate("() => window.__st.done > window.__st.markDone"):
        return page.evaluate("() => window.__st.lastDoneAt - window.__st.mark")
    return (t_finished - (runs.request_times[-1] if runs.request_times else t0)) * 1000  # websocket time


def _wait_run_after(page, t0: float, timeout: float) -> float:
    """Wait until a script run that started after ``t0`` has finished; returns when (perf_counter).
    Playwright delivers the websocket events while it waits."""
    deadline = time.monotonic() + timeout / 1000
    while (done := page.runs.finished_after(t0)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no script run started and finished within {timeout} ms; rerun requests sent: "
                               f"{page.runs.requests}, runs started: {page.runs.started}, finished: {page.runs.finished}")
        page.wait_for_timeout(20)
    return done


def _wait_runs(page, finished: int, timeout: float) -> None:
    """Wait until ``page.runs.finished`` reaches ``finished``."""
    deadline = time.monotonic() + timeout / 1000
    while page.runs.finished < finished:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no finished script run ({page.runs.finished} < {finished}) after {timeout} ms; "
                               f"rerun requests sent: {page.runs.requests}, runs started: {page.runs.started}")
        page.wait_for_timeout(20)


def run_count(page) -> int:
    return page.runs.finished


def disconnects(page) -> int:
    return page.evaluate("() => window.__st.disconnects")


# ---- what is on the page ----------------------------------------------------------------------

def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def error_texts(page, allow_error_alerts: bool = False) -> list[str]:
    """Exception boxes, tracebacks and error alerts anywhere on the page (main and sidebar)."""
    found: list[str] = []
    for el in page.locator('[data-testid="stException"]').all():
        found.append("exception: " + el.inner_text()[:500])
    if not allow_error_alerts:
        for el in page.locator('[data-testid="stAlertContentError"]').all():
            found.append("error alert: " + el.inner_text()[:500])
    text = page.locator('[data-testid="stApp"]').inner_text()
    if "Traceback" in text and not found:
        idx = text.index("Traceback")
        found.append("traceback text: " + text[max(0, idx - 200): idx + 300])
    for err in getattr(page, "js_errors", []):
        found.append("javascript error: " + err[:300])
    if page.locator('[data-testid="stApp"][data-test-connection-state="CONNECTED"]').count() == 0:
        found.append("the app is not connected to the server")
    return found


def assert_no_errors(page, what: str = "", allow_error_alerts: bool = False) -> None:
    errors = error_texts(page, allow_error_alerts)
    assert not errors, f"errors on {what or page.url}:\n" + "\n".join(errors)


def images_src(page, scope: str = '[data-testid="stMain"]') -> list[str]:
    """The src of every <img> in the scope (st.image serves each picture under a new URL)."""
    return page.locator(f"{scope} img").evaluate_all("els => els.map(e => e.src)")


def image_fingerprint(page, scope: str = '[data-testid="stMain"]') -> list[str]:
    """Something that changes when any picture in scope changes: img src, canvases' pixels, plotly image data."""
    return page.evaluate(
        """(scope) => {
          const root = document.querySelector(scope) || document;
          const out = [...root.querySelectorAll('img')].map(e => e.src);
          for (const c of root.querySelectorAll('canvas')) {
            try { out.push(c.toDataURL().slice(-200)); } catch (e) {}
          }
          for (const im of root.querySelectorAll('.js-plotly-plot image')) out.push((im.getAttribute('href') || '').slice(-200));
          return out;
        }""",
        scope,
    )


def plotly_image_hrefs(page, scope: str = "stMain") -> list[str]:
    """The tail of every raster image inside Plotly charts (e.g. a decoded grid drawn as a layout image)."""
    return page.evaluate(
        """(scope) => [...document.querySelectorAll(`[data-testid="${scope}"] .js-plotly-plot image`)]
                        .map(e => (e.getAttribute('href') || e.getAttribute('xlink:href') || '').slice(-300))""",
        scope,
    )


def sidebar_links(page) -> list[tuple[str, str]]:
    return page.locator('[data-testid="stSidebarNav"] a').evaluate_all("els => els.map(a => [a.innerText, a.href])")


# ---- widgets ----------------------------------------------------------------------------------

def slider_input(page, label: str | None = None, index: int = 0, scope: str = "stMain"):
    """The hidden range <input> of a Streamlit slider (react-aria), by label or position."""
    sliders = page.locator(f'[data-testid="{scope}"] [data-testid="stSlider"]')
    if label is not None:
        sliders = sliders.filter(has=page.locator('[data-testid="stWidgetLabel"]', has_text=label))
    return sliders.nth(index).locator('input[type="range"]').first


def slider_value(page, label: str | None = None, index: int = 0, scope: str = "stMain") -> float:
    return float(slider_input(page, label, index, scope).get_attribute("value"))


def drag_slider(page, label: str | None = None, index: int = 0, fraction: float = 0.8,
                scope: str = "stMain", steps: int = 8, release: bool = True) -> None:
    """Press the slider's thumb, drag it to ``fraction`` of the track with the mouse, release
    (unless ``release`` is False: then the caller releases with ``page.mouse.up()``)."""
    slider = page.locator(f'[data-testid="{scope}"] [data-testid="stSlider"]')
    if label is not None:
        slider = slider.filter(has=page.locator('[data-testid="stWidgetLabel"]', has_text=label))
    slider = slider.nth(index)
    slider.scroll_into_view_if_needed()
    track = slider.locator('[role="group"] > div').first.bounding_box()
    thumb = slider.locator('[role="group"] > div > div[style*="translate"]').first.bounding_box()
    y = track["y"] + track["height"] / 2
    page.mouse.move(thumb["x"] + thumb["width"] / 2, thumb["y"] + thumb["height"] / 2)
    page.mouse.down()
    page.mouse.move(track["x"] + track["width"] * fraction, y, steps=steps)
    if release:
        page.mouse.up()


def nudge_slider(page, label: str | None = None, index: int = 0, key: str = "ArrowRight",
                 presses: int = 1, scope: str = "stMain") -> None:
    """Move a slider by keyboard steps (one rerun after the last key, like a release)."""
    inp = slider_input(page, label, index, scope)
    inp.focus()
    for _ in range(presses):
        page.keyboard.press(key)


def _widget(page, testid: str, label: str, scope: str):
    return page.locator(f'[data-testid="{scope}"] [data-testid="{testid}"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=label)).first


def selectbox_options(page, label: str, scope: str = "stApp") -> list[str]:
    """The visible texts of a st.selectbox's options (opens the list, then closes it)."""
    box = _widget(page, "stSelectbox", label, scope)
    box.locator('[role="combobox"], input').first.click()
    options = page.locator('[role="option"]')
    options.first.wait_for(state="visible")
    texts = options.all_inner_texts()
    page.keyboard.press("Escape")
    return texts


def select_option(page, label: str, option: str, scope: str = "stApp") -> None:
    """Pick the option whose visible text contains ``option`` in the st.selectbox labelled ``label``."""
    box = _widget(page, "stSelectbox", label, scope)
    box.locator('[role="combobox"], input').first.click()
    page.locator('[role="option"]', has_text=option).first.click()


def selectbox_value(page, label: str, scope: str = "stApp") -> str:
    """The shown text of a st.selectbox's current choice."""
    return _widget(page, "stSelectbox", label, scope).locator('input[role="combobox"]').first.input_value()


def choose(page, label: str, option: str, scope: str = "stApp", timeout: float = 60_000) -> float | None:
    """Select ``option`` and wait for the rerun; returns its ms, or None when it was already chosen."""
    if option in selectbox_value(page, label, scope):
        return None
    return rerun(page, lambda: select_option(page, label, option, scope), timeout)


def fill_input(page, label: str, value, scope: str = "stMain") -> None:
    """Type into a st.number_input / st.text_input and commit it (Enter): one rerun."""
    field = page.locator(f'[data-testid="{scope}"] [data-testid="stNumberInput"], '
                         f'[data-testid="{scope}"] [data-testid="stTextInput"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=label)).first.locator("input").first
    field.fill(str(value))
    field.press("Enter")


def click_toggle(page, label: str, scope: str = "stMain") -> None:
    """Click a st.toggle / st.checkbox by its label."""
    page.locator(f'[data-testid="{scope}"] [data-testid="stCheckbox"]', has_text=label).first.locator("label").first.click()


def click_button(page, label: str, scope: str = "stMain") -> None:
    page.locator(f'[data-testid="{scope}"] [data-testid="stButton"] button', has_text=label).first.click()


def click_nav(page, label: str) -> None:
    """Follow a link of the sidebar's page navigation (client-side, same session)."""
    page.locator('[data-testid="stSidebarNav"] a', has_text=label).first.click()


def wait_charts(page, timeout: float = 30_000) -> None:
    """Wait until every Plotly chart in the main area has drawn (its SVG exists)."""
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stPlotlyChart"]')]
                 .every(c => c.querySelector('.js-plotly-plot .main-svg'))""",
        timeout=timeout, polling=100)


def plotly_point_xy(page, chart: int = 0, trace: int = 0, point: int = 0, scope: str = "stMain") -> tuple[float, float]:
    """Viewport pixel position of one data point of a Plotly chart (SVG or WebGL traces alike).

    Uses the chart's own axes (``_fullLayout.xaxis.l2p``), so it works where no SVG element
    exists for the point (Scattergl draws on a canvas).
    """
    page.locator(f'[data-testid="{scope}"] .js-plotly-plot').nth(chart).wait_for(state="visible")
    return tuple(page.evaluate(
        """([scope, chart, trace, i]) => {
          const gd = document.querySelectorAll(`[data-testid="${scope}"] .js-plotly-plot`)[chart];
          gd.scrollIntoView({block: 'center'});
          const fl = gd._fullLayout, t = gd._fullData[trace];
          const xa = fl[(t.xaxis || 'x').replace('x', 'xaxis')], ya = fl[(t.yaxis || 'y').replace('y', 'yaxis')];
          const r = gd.getBoundingClientRect();
          return [r.left + xa._offset + xa.l2p(t.x[i]), r.top + ya._offset + ya.l2p(t.y[i])];
        }""",
        [scope, chart, trace, point],
    ))


def data_trace(traces: list[dict]) -> int:
    """The index of the largest trace of clickable data points (points carrying customdata)."""
    points = [i for i, t in enumerate(traces) if t["customdata"] and t["n"] > 0]
    if not points:
        raise AssertionError(f"no trace of data points (with customdata) among {[(t['name'], t['type']) for t in traces]}")
    return max(points, key=lambda i: traces[i]["n"])


def plotly_chart_count(page, scope: str = "stMain") -> int:
    return page.locator(f'[data-testid="{scope}"] .js-plotly-plot').count()


def plotly_traces(page, chart: int = 0, scope: str = "stMain") -> list[dict]:
    """[{name, type, mode, n, visible, customdata, x, y}] of a Plotly chart's traces (x and y only
    for traces of at most 20 points, e.g. a highlight marker; customdata: whether points carry it,
    as the data points of a latent map do, its outlines and markers not)."""
    page.locator(f'[data-testid="{scope}"] .js-plotly-plot').nth(chart).wait_for(state="visible")
    return page.evaluate(
        """([scope, chart]) => {
          const gd = document.querySelectorAll(`[data-testid="${scope}"] .js-plotly-plot`)[chart];
          return gd._fullData.map(t => {
            const n = t.x ? t.x.length : 0;
            const small = n > 0 && n <= 20;
            return {name: t.name, type: t.type, mode: t.mode, n: n, visible: t.visible,
                    customdata: !!(t.customdata && t.customdata.length),
                    x: small ? Array.from(t.x) : null, y: small ? Array.from(t.y) : null};
          });
        }""",
        [scope, chart],
    )


def full_page_screenshot(page, path: str | Path, width: int | None = None, max_height: int = 6000) -> Path:
    """Screenshot of the whole page: Streamlit scrolls inside its own container, so the
    viewport is first grown to the content's height, then restored."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = page.viewport_size or VIEWPORT
    height = page.evaluate("""() => {
        const els = [document.querySelector('[data-testid="stMain"]'),
                     document.querySelector('[data-testid="stAppViewContainer"]'),
                     document.querySelector('[data-testid="stMainBlockContainer"]'),
                     document.scrollingElement];
        return Math.max(...els.filter(Boolean).map(e => e.scrollHeight));
    }""")
    new = {"width": width or old["width"], "height": int(min(max(height, old["height"]), max_height))}
    if new != old:
        page.set_viewport_size(new)
        page.wait_for_timeout(300)  # layout and Plotly's resize handler: nothing to wait on in the DOM
        wait_idle(page)
    page.screenshot(path=str(path), full_page=True)
    if new != old:
        page.set_viewport_size(old)
    return path


def save_artifact(page, name: str) -> Path | None:
    """A full-page screenshot under artifacts/screenshots/ (never fails a test)."""
    try:
        return full_page_screenshot(page, ARTIFACTS / f"{name}.png")
    except Exception:  # noqa: BLE001 - an artifact must not hide the real failure
        return None


__all__ = [
    "APP_SCRIPT", "ARTIFACTS", "IDLE_JS", "INIT_SCRIPT", "RunTracker", "VIEWPORT", "app_pages", "app_server", "assert_no_errors",
    "disconnects", "drag_slider", "error_texts", "full_page_screenshot", "image_fingerprint", "images_src",
    "main_text", "new_app_page", "read_run_log", "timed_app_server", "nudge_slider", "open_app", "page_files", "data_trace", "plotly_chart_count", "plotly_image_hrefs", "plotly_point_xy", "plotly_traces", "rerun", "run_count",
    "choose", "click_button", "click_nav", "click_toggle", "fill_input", "save_artifact", "select_option",
    "selectbox_options", "selectbox_value", "wait_charts", "sidebar_links", "slider_input", "slider_value", "url_path", "wait_idle",
]
