"""Load test: 10 browser sessions use the app for a minute while an 11th trains a model.

    python -m bench.load_test                       # 10 sessions, 60 s (about 3 minutes in all)
    python -m bench.load_test --sessions 4 --seconds 20

One `streamlit run` server on localhost (its script runs timed server-side, see
devtools.e2e.timed_app_server), one headless Chromium, one browser context per session.
Each user session walks the pages through the sidebar and, on each, moves what a user moves:
the grid size on Manifold, a plain slider on Latent sliders, a point on Latent map, the steps
on Interpolation, beta on Beta and the tradeoff. Meanwhile the trainer session starts a VAE on
`digits` on the Train page and watches it (its live view reruns every second).

Measured:
  * client side, per interaction: from the input event to the script being idle again
    (Streamlit's status widget gone), p50 / p95 over all sessions, and per kind;
  * server side: every script run's duration in the server process (page runs and the
    trainer's fragment runs apart);
  * errors: exception boxes, error alerts, JavaScript errors, websocket disconnects, and
    interactions that never finished (60 s) -- the target is zero;
  * the trained checkpoint: saved, and loadable afterwards (core.checkpoints.load_checkpoint,
    SHA-256 checked against its card) and decoding finite images.

Bounded: the minute of load, then at most --train-wait seconds for training to finish; the
whole run is cancelled after --hard-stop seconds and the server is always stopped.
Writes bench/results/load.json and load.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import tempfile
import time
from pathlib import Path

from bench.run_all import RESULTS, machine_info, machine_markdown, md_table, write_results
from devtools.e2e import IDLE_JS, INIT_SCRIPT, VIEWPORT, RunTracker, read_run_log, timed_app_server

REPO = Path(__file__).resolve().parents[1]
TRAIN_NAME = "load-test-digits-vae"
ACTION_TIMEOUT_MS = 60_000
NO_RERUN_MS = 5_000  # an input that starts no run within this long caused none
DEBUG_DIR = os.environ.get("LOAD_TEST_DEBUG_DIR")  # screenshots of interactions that caused no rerun

_ERRORS_JS = """() => {
  const out = [];
  for (const e of document.querySelectorAll('[data-testid="stException"]')) out.push('exception: ' + e.innerText.slice(0, 300));
  for (const e of document.querySelectorAll('[data-testid="stAlertContentError"]')) out.push('error alert: ' + e.innerText.slice(0, 300));
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-connection-state') !== 'CONNECTED') out.push('not connected');
  return out;
}"""


class Session:
    """One browser context = one Streamlit session, with its own measurements."""

    def __init__(self, name: str, context, page):
        self.name, self.context, self.page = name, context, page
        self.latencies: list[tuple[str, float]] = []  # (kind, ms): rerun request sent -> script finished received
        self.idle_latencies: list[tuple[str, float]] = []  # (kind, ms): rerun request sent -> page idle, drawn
        self.runs = RunTracker().attach(page)
        self.no_rerun: list[str] = []
        self.errors: list[str] = []
        self.js_errors: list[str] = []
        page.on("pageerror", lambda err: self.js_errors.append(str(err)[:300]))

    async def idle(self, timeout: float = ACTION_TIMEOUT_MS) -> None:
        await self.page.wait_for_function(IDLE_JS, timeout=timeout, polling=50)

    async def open(self, url: str) -> float:
        t0 = time.perf_counter()
        await self.page.goto(url, wait_until="domcontentloaded", timeout=ACTION_TIMEOUT_MS)
        while self.runs.finished < 1:
            if time.perf_counter() - t0 > 120:
                raise TimeoutError("the first page did not finish in 120 s")
            await asyncio.sleep(0.02)
        await self.idle(120_000)
        return (time.perf_counter() - t0) * 1000

    async def act(self, kind: str, action) -> float | None:
        """Do one interaction; returns the ms from the browser's rerun request to the server's
        "script finished" (None when it caused no rerun). Also notes when the page was idle again."""
        page, runs = self.page, self.runs
        try:
            await self.idle()  # a previous run (or a page's own follow-up rerun) is over
            requests, finished = runs.requests, runs.finished
            t0 = time.perf_counter()
            await action()
            while runs.requests == requests and runs.finished == finished:
                if time.perf_counter() - t0 > NO_RERUN_MS / 1000:
                    self.no_rerun.append(kind)
                    if DEBUG_DIR:
                        await page.screenshot(path=f"{DEBUG_DIR}/{self.name}-norerun-{len(self.no_rerun)}.png")
                    return None
                await asyncio.sleep(0.01)
            while (t_finished := runs.finished_after(t0)) is None:
                if time.perf_counter() - t0 > ACTION_TIMEOUT_MS / 1000:
                    raise TimeoutError(f"no finished run {ACTION_TIMEOUT_MS} ms after the interaction")
                await asyncio.sleep(0.01)
            t_request = runs.request_times[requests] if len(runs.request_times) > requests else t0
            await self.idle()
            t_idle = time.perf_counter()
        except Exception as err:  # noqa: BLE001 - a timeout or a vanished element is a finding, not a crash
            self.errors.append(f"{kind}: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
            if DEBUG_DIR:
                with contextlib.suppress(Exception):
                    await page.screenshot(path=f"{DEBUG_DIR}/{self.name}-error-{len(self.errors)}.png")
            return None
        ms = (t_finished - t_request) * 1000
        self.latencies.append((kind, ms))
        self.idle_latencies.append((kind, (t_idle - t_request) * 1000))
        found = await page.evaluate(_ERRORS_JS)
        self.errors.extend(f"{kind}: {e}" for e in found)
        return ms

    # ---- widgets (async twins of devtools.e2e's) ----
    async def nav(self, pattern: str) -> None:
        links = self.page.locator('[data-testid="stSidebarNav"] a')
        texts = [re.sub(r"^\W+", "", t.strip()) for t in await links.all_inner_texts()]  # without the emoji icon
        index = 0 if pattern == "home" else next(i for i, t in enumerate(texts) if t.lower().startswith(pattern.lower()))
        await links.nth(index).click()

    async def drag(self, label: str, fraction: float) -> None:
        page = self.page
        slider = page.locator('[data-testid="stMain"] [data-testid="stSlider"]').filter(
            has=page.locator('[data-testid="stWidgetLabel"]', has_text=label)).first
        await slider.scroll_into_view_if_needed()
        track = await slider.locator('[role="group"] > div').first.bounding_box()
        thumb = await slider.locator('[role="group"] > div > div[style*="translate"]').first.bounding_box()
        y = track["y"] + track["height"] / 2
        now = (thumb["x"] + thumb["width"] / 2 - track["x"]) / track["width"]
        if abs(fraction - now) < 0.15:  # too close: the value might not change, and no rerun would follow
            fraction = 0.15 + 0.7 * (now < 0.5)
        await page.mouse.move(thumb["x"] + thumb["width"] / 2, thumb["y"] + thumb["height"] / 2)
        await page.mouse.down()
        await page.mouse.move(track["x"] + track["width"] * fraction, y, steps=5)
        await page.mouse.up()

    async def key_slider(self, label: str) -> None:
        page = self.page
        thumb = page.locator('[data-testid="stMain"] [data-testid="stSlider"]').filter(
            has=page.locator('[data-testid="stWidgetLabel"]', has_text=label)).first.locator('input[type="range"]').first
        at_max = await thumb.get_attribute("value") == await thumb.get_attribute("max")
        await thumb.focus()
        await page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")

    async def toggle(self, label: str) -> None:
        await self.page.locator('[data-testid="stMain"] [data-testid="stCheckbox"]', has_text=label).first.locator(
            "label").first.click()

    async def click_map_point(self, point: int) -> None:
        """Click one data point of the latent map (a different one each time: a new selection)."""
        page = self.page
        handle = await page.wait_for_function(
            """(i) => { const gd = document.querySelector('[data-testid="stMain"] .js-plotly-plot');
              if (!gd || !gd._fullData || !gd._fullLayout) return false;
              const traces = gd._fullData.filter(t => t.customdata && t.customdata.length && t.x && t.x.length);  // data points, not outlines
              if (!traces.length) return false;
              gd.scrollIntoView({block: 'center'});
              const t = traces.reduce((a, b) => (b.x.length > a.x.length ? b : a));
              const j = i % t.x.length, fl = gd._fullLayout;
              const xa = fl[(t.xaxis || 'x').replace('x', 'xaxis')], ya = fl[(t.yaxis || 'y').replace('y', 'yaxis')];
              const r = gd.getBoundingClientRect();
              const xy = [r.left + xa._offset + xa.l2p(t.x[j]), r.top + ya._offset + ya.l2p(t.y[j])];
              return Number.isFinite(xy[0]) && Number.isFinite(xy[1]) ? xy : false; }""",
            arg=point, timeout=ACTION_TIMEOUT_MS, polling=100)
        x, y = await handle.json_value()
        await page.mouse.click(x, y)


TOUR = ["manifold", "latent sliders", "latent map", "interpolation", "beta", "compare", "home"]


async def walk_the_tour(deadline: float, seed: int, navigate, interact) -> None:
    """A user's walk through TOUR until ``deadline``: each session starts at another page
    (``seed``); on each page, ``await navigate(page)`` then two or three ``await interact(page, rng)``,
    with a user's pause after each."""
    rng = random.Random(seed)
    k = seed % len(TOUR)
    while time.monotonic() < deadline:
        target = TOUR[k % len(TOUR)]
        k += 1
        await navigate(target)
        for _ in range(rng.randint(2, 3)):
            if time.monotonic() >= deadline:
                return
            await interact(target, rng)
            await asyncio.sleep(rng.uniform(0.2, 0.8))  # a user's pause between moves


async def user_loop(s: Session, deadline: float, seed: int) -> None:
    async def navigate(target: str) -> None:
        await s.act(f"navigate: {target}", lambda: s.nav(target))

    async def interact(target: str, rng: random.Random) -> None:
        if target == "manifold":
            await s.act("slider: manifold grid size", lambda: s.drag("Grid size", rng.uniform(0.1, 0.9)))
        elif target == "latent sliders":
            plain = await s.page.locator('[data-testid="stMain"] [data-testid="stSlider"]').filter(
                has=s.page.locator('[data-testid="stWidgetLabel"]', has_text="z0")).count()
            if not plain:
                await s.act("toggle: plain sliders", lambda: s.toggle("Plain Streamlit sliders"))
            await s.act("slider: latent z0", lambda: s.drag("z0", rng.uniform(0.1, 0.9)))
        elif target == "latent map":
            await s.act("click: latent map point", lambda: s.click_map_point(rng.randrange(10_000)))
        elif target == "interpolation":
            await s.act("slider: interpolation steps", lambda: s.drag("Steps", rng.uniform(0.1, 0.9)))
        elif target == "beta":
            await s.act("slider: beta", lambda: s.key_slider("β"))
        else:
            await asyncio.sleep(rng.uniform(1.0, 2.0))  # reading the page

    await walk_the_tour(deadline, seed, navigate, interact)


async def trainer(s: Session, url: str, epochs: int, deadline_train: float) -> dict:
    page = s.page
    info: dict = {"name": TRAIN_NAME, "dataset": "digits", "kind": "VAE", "epochs": epochs}
    await s.nav("train")
    await s.idle()

    async def fill(label: str, value) -> None:
        field = page.locator('[data-testid="stMain"] [data-testid="stNumberInput"], '
                             '[data-testid="stMain"] [data-testid="stTextInput"]').filter(
            has=page.locator('[data-testid="stWidgetLabel"]', has_text=label)).first.locator("input").first
        await field.fill(str(value))
        await field.press("Enter")

    await s.act("train form: epochs", lambda: fill("Epochs", epochs))
    await s.act("train form: name", lambda: fill("Checkpoint name", TRAIN_NAME))
    t0 = time.monotonic()
    info["started_at_s"] = t0
    await page.locator('[data-testid="stMain"] [data-testid="stButton"] button', has_text="Train").first.click()
    try:
        await page.get_by_text(f"Saved {TRAIN_NAME}").wait_for(timeout=max(1.0, deadline_train - time.monotonic()) * 1000)
        info["finished"] = True
        info["train_seconds_seen"] = time.monotonic() - t0
    except Exception as err:  # noqa: BLE001
        info["finished"] = False
        s.errors.append(f"training did not finish in time: {type(err).__name__}")
    s.errors.extend(f"train page: {e}" for e in await page.evaluate(_ERRORS_JS))
    return info


PAGE_TARGETS = ["latent map", "manifold", "latent sliders", "interpolation", "beta", "compare", "train"]


def session_factory(browser):
    """An async maker of Sessions: a fresh browser context (own cookies, own Streamlit session) each."""
    async def new_session(name: str) -> Session:
        context = await browser.new_context(viewport=VIEWPORT)
        await context.add_init_script(INIT_SCRIPT)
        return Session(name, context, await context.new_page())

    return new_session


async def warm_up(new_session, url: str) -> float:
    """Load every page once, so the timed part measures a running app, not first loads; seconds."""
    warm = await new_session("warm-up")
    t0 = time.perf_counter()
    await warm.open(url)
    for target in PAGE_TARGETS:
        await warm.act(f"warm-up: {target}", lambda: warm.nav(target))
    await warm.context.close()
    return time.perf_counter() - t0


async def run(args, trained_dir: Path, run_log: Path) -> dict:
    from playwright.async_api import async_playwright

    from devtools.browser import CHROMIUM_ARGS, CHROMIUM_PATH

    result: dict = {"machine": machine_info()}
    # the trained model is published into trained_dir (not kept in the trainer's private workspace)
    env = {"LATENT_EXPLORER_TRAINED": str(trained_dir), "LATENT_EXPLORER_PUBLISH_TRAINED": "1",
           "LATENT_EXPLORER_WORKSPACES": str(trained_dir / "workspaces")}
    with timed_app_server(run_log, env=env, extra_args=args.server_arg, root=args.root) as url:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
            try:
                new_session = session_factory(browser)
                result["warm_up_seconds"] = await warm_up(new_session, url)

                users = [await new_session(f"user-{i}") for i in range(args.sessions)]
                train_session = await new_session("trainer")
                await asyncio.gather(*(u.open(url) for u in [*users, train_session]))
                t_start = time.time()
                deadline = time.monotonic() + args.seconds
                train_task = asyncio.create_task(
                    trainer(train_session, url, args.epochs, time.monotonic() + args.seconds + args.train_wait))
                await asyncio.gather(*(user_loop(u, deadline, i) for i, u in enumerate(users)))
                t_users_end = time.time()
                train_info = await train_task
                # a last look at every page: nothing broke
                for u in users:
                    u.errors.extend(f"final: {e}" for e in await u.page.evaluate(_ERRORS_JS))
                    u.errors.extend(f"javascript: {e}" for e in u.js_errors)
                    disc = await u.page.evaluate("() => window.__st.disconnects")
                    if disc:
                        u.errors.append(f"{disc} websocket disconnect(s)")
                train_session.errors.extend(f"javascript: {e}" for e in train_session.js_errors)
                result.update(window={"start": t_start, "users_end": t_users_end, "end": time.time()},
                              sessions=users, trainer=train_session, train=train_info)
            finally:
                await browser.close()
    return result


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def summarize(raw: dict, run_log: Path, trained_dir: Path, args) -> dict:
    users: list[Session] = raw["sessions"]
    trainer_s: Session = raw["trainer"]
    lat = [ms for u in users for _, ms in u.latencies]
    lat_idle = [ms for u in users for _, ms in u.idle_latencies]
    by_kind: dict[str, list[float]] = {}
    for u in users:
        for kind, ms in u.latencies:
            by_kind.setdefault(kind, []).append(ms)
    w = raw["window"]
    runs = [r for r in read_run_log(run_log) if w["start"] <= r["start"] <= w["users_end"]]
    page_runs = [r["ms"] for r in runs if not r["fragment"]]
    fragment_runs = [r["ms"] for r in runs if r["fragment"]]
    errors = [f"{u.name}: {e}" for u in [*users, trainer_s] for e in u.errors]

    checkpoint: dict = {"path": str(trained_dir / TRAIN_NAME)}
    try:
        import torch

        from core.checkpoints import load_checkpoint

        model, card = load_checkpoint(trained_dir / TRAIN_NAME)
        with torch.no_grad():
            images = model.decode(torch.zeros(4, model.latent_dim))
        checkpoint.update(loadable=True, hash_checked=True, epochs=card.get("epochs"),
                          decodes_finite=bool(torch.isfinite(images).all()),
                          test_reconstruction=(card.get("metrics") or {}).get("reconstruction"))
    except Exception as err:  # noqa: BLE001 - the finding is the point
        checkpoint.update(loadable=False, error=f"{type(err).__name__}: {err}")
        errors.append(f"checkpoint: {checkpoint['error']}")

    def stats(values):
        return {"n": len(values), "p50_ms": pct(values, 0.5), "p95_ms": pct(values, 0.95),
                "max_ms": max(values) if values else None}

    return {
        "benchmark": "load",
        "sessions": len(users), "seconds": args.seconds, "machine": raw["machine"],
        "machine_after": machine_info(brief=True),
        "server_args": args.server_arg,
        "warm_up_seconds": raw.get("warm_up_seconds"),
        "client_rerun": stats(lat),
        "client_rerun_to_idle": stats(lat_idle),
        "client_rerun_by_kind": {k: stats(v) for k, v in sorted(by_kind.items())},
        "interactions": len(lat),
        "interactions_without_rerun": sum(len(u.no_rerun) for u in users),
        "without_rerun_by_kind": {k: sum(u.no_rerun.count(k) for u in users)
                                  for k in sorted({k for u in users for k in u.no_rerun})},
        "server_page_runs": stats(page_runs),
        "server_fragment_runs": stats(fragment_runs),
        "errors": errors,
        "train": {k: v for k, v in raw["train"].items() if k != "started_at_s"},
        "checkpoint": checkpoint,
    }


def to_markdown(r: dict) -> str:
    c, ci, sp, sf = r["client_rerun"], r["client_rerun_to_idle"], r["server_page_runs"], r["server_fragment_runs"]
    fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
    lines = ["# Load test" + (f" ({' '.join(r['server_args'])})" if r.get("server_args") else ""), "",
             f"{r['sessions']} browser sessions (one headless Chromium, one context each) walking the pages and moving "
             f"sliders for {r['seconds']} s, while one more session trains a VAE on digits ({r['train'].get('epochs')} "
             "epochs) on the Train page. Localhost; the server and Chromium share the machine's cores."
             + (f" Server started with `{' '.join(r['server_args'])}`." if r.get("server_args") else ""), "",
             "Written by `python -m bench.load_test`. " + machine_markdown(r["machine"])
             + f" Load average when it finished: {r['machine_after']['load_average_1_5_15']}.", "",
             md_table([
                 ["measure", "n", "p50 (ms)", "p95 (ms)", "max (ms)"],
                 ["client: rerun request sent -> script finished received", c["n"], fmt(c["p50_ms"]), fmt(c["p95_ms"]),
                  fmt(c["max_ms"])],
                 ["client: rerun request sent -> page drawn, status widget gone", ci["n"], fmt(ci["p50_ms"]),
                  fmt(ci["p95_ms"]), fmt(ci["max_ms"])],
                 ["server: page script run", sp["n"], fmt(sp["p50_ms"]), fmt(sp["p95_ms"]), fmt(sp["max_ms"])],
                 ["server: fragment run (the trainer's live view)", sf["n"], fmt(sf["p50_ms"]), fmt(sf["p95_ms"]), fmt(sf["max_ms"])],
             ]), "",
             "Client-side times are read from each tab's websocket (Streamlit's BackMsg/ForwardMsg protobufs: the "
             "browser's rerun request, the server's script-finished message) and the DOM (status widget gone). "
             "Server-side times are the scripts' own run time in the server process.", "",
             "Client-side (request -> script finished), by kind of interaction:", "",
             md_table([["interaction", "n", "p50 (ms)", "p95 (ms)"]] +
                      [[k, v["n"], fmt(v["p50_ms"]), fmt(v["p95_ms"])] for k, v in r["client_rerun_by_kind"].items()]), ""]
    t, ck = r["train"], r["checkpoint"]
    lines += [f"Errors: **{len(r['errors'])}**" + (" (none: no exception, no error alert, no JavaScript error, no "
                                                    "disconnect, no interaction left unfinished)" if not r["errors"] else ""), ""]
    lines += [f"- {e}" for e in r["errors"][:30]]
    if r["errors"]:
        lines.append("")
    lines += [f"Training: {'finished' if t.get('finished') else 'NOT finished'}"
              + (f" in {t['train_seconds_seen']:.0f} s seen from the page" if t.get("train_seconds_seen") else "")
              + f"; checkpoint {'loadable (SHA-256 checked, decodes finite images)' if ck.get('loadable') and ck.get('decodes_finite') else 'NOT loadable: ' + str(ck.get('error'))}"
              + (f", {ck.get('epochs')} epochs, test reconstruction {ck['test_reconstruction']:.1f} nats"
                 if ck.get("test_reconstruction") is not None else "") + ".", ""]
    lines += [f"Interactions without a rerun: {r['interactions_without_rerun']} {r.get('without_rerun_by_kind') or ''}. "
              f"Warm-up before the clock started: {r['warm_up_seconds']:.0f} s.", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the model trained meanwhile (digits)")
    parser.add_argument("--train-wait", type=float, default=120.0, help="extra seconds allowed for training to end")
    parser.add_argument("--hard-stop", type=float, default=360.0, help="cancel everything after this many seconds")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="extra `streamlit run` flag, e.g. --server-arg=--runner.postScriptGC --server-arg=false")
    parser.add_argument("--out", default=str(RESULTS / "load"), help="output path without extension")
    parser.add_argument("--root", default=str(REPO), help="the checkout to serve (bench/bench_start.py: before/after)")
    args = parser.parse_args(argv)

    from devtools.browser import chromium_missing_reason

    reason = chromium_missing_reason()
    if reason:
        print(f"load test skipped: {reason}")
        return 0
    with tempfile.TemporaryDirectory(prefix="load-test-") as tmp:
        trained_dir, run_log = Path(tmp) / "trained", Path(tmp) / "runs.jsonl"
        trained_dir.mkdir()
        try:
            raw = asyncio.run(asyncio.wait_for(run(args, trained_dir, run_log), timeout=args.hard_stop))
        except asyncio.TimeoutError:
            print(f"load test stopped after {args.hard_stop} s (hard stop)")
            return 1
        result = summarize(raw, run_log, trained_dir, args)
    write_results(args.out, result, to_markdown)
    return 0 if not result["errors"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
