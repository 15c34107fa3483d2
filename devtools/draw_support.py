"""Driving the latent_canvas component in Chromium: find it, draw strokes with pointer
events, drag on its map, read its stats. Shared by tests/test_draw_browser.py,
bench/bench_draw_drag.py and scripts/screenshots.py.

Rates are counted by the component itself (window.latentCanvasStats): ``encodes`` (a drawing
fitted and encoded), ``decodes`` (an image decoded and drawn, i.e. a frame shown); each happens
at most once per animation frame, whatever the pointer's rate.
"""

from __future__ import annotations

import contextlib
import math
import time

STATS = """() => ({frames: latentCanvasStats.frames, encodes: latentCanvasStats.encodes,
                   decodes: latentCanvasStats.decodes, sent: latentCanvasStats.valuesSent,
                   strokes: latentCanvasStats.strokeEvents, moves: latentCanvasStats.mapMoves})"""
STATE = "() => latentCanvasState()"
IMAGE_HASH = """(id) => { const c = latentCanvasRoot.getElementById(id);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 2166136261; for (let i = 0; i < d.length; i += 4) { h ^= d[i]; h = Math.imul(h, 16777619); }
    return h >>> 0; }"""

# A "7": the top bar, then the slanted stem, as fractions of the pad.
SEVEN = [[(0.28, 0.22), (0.72, 0.22)], [(0.72, 0.22), (0.45, 0.85)]]
ONE = [[(0.5, 0.15), (0.52, 0.85)]]


def canvas_frame(page, timeout: float = 40.0):
    """The frame holding the latent_canvas component (a Custom Component v2 lives in the page: the
    main frame) once its JavaScript runs and it drew a first frame."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if page.main_frame.evaluate("() => !!window.latentCanvasStats && latentCanvasStats.frames > 0"):
                return page.main_frame
        page.wait_for_timeout(100)
    raise TimeoutError(f"no drawn latent_canvas component after {timeout} s")


def runs(page) -> int:
    """The demo's run counter (devtools/apps/draw_demo.py prints runs=N last)."""
    return int(page.get_by_text("runs=").inner_text().split("runs=")[1])


def wait_idle(page, quiet_ms: int = 400, timeout: float = 20.0) -> None:
    """Until the demo's run counter stood still for quiet_ms (a pending rerun is over)."""
    t0, last, since = time.monotonic(), runs(page), time.monotonic()
    while time.monotonic() - since < quiet_ms / 1000 and time.monotonic() - t0 < timeout:
        page.wait_for_timeout(50)
        if (now := runs(page)) != last:
            last, since = now, time.monotonic()


def wait_runs(page, after: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while runs(page) <= after:
        if time.monotonic() > deadline:
            raise TimeoutError("no rerun")
        page.wait_for_timeout(50)


def open_demo(page, url: str, query: str = ""):
    page.goto(f"{url}/?{query}")
    frame = canvas_frame(page)
    wait_idle(page)
    return frame


def box(frame, role: str) -> dict:
    return frame.locator(f'canvas[data-role="{role}"]').bounding_box()


def draw(page, frame, strokes, seconds: float = 0.6) -> tuple[dict, dict, float]:
    """Draw strokes (lists of (fx, fy) pad fractions), each over `seconds` with as many pointer
    moves as Playwright sends. Returns (stats before, stats after, seconds spent moving)."""
    b = box(frame, "draw")
    before = frame.evaluate(STATS)
    moving = 0.0
    for stroke in strokes:
        pts = [(b["x"] + fx * b["width"], b["y"] + fy * b["height"]) for fx, fy in stroke]
        page.mouse.move(*pts[0])
        page.mouse.down()
        t0 = time.monotonic()
        while (t := (time.monotonic() - t0) / seconds) < 1:
            page.mouse.move(*_along(pts, t))
        page.mouse.move(*pts[-1])
        moving += time.monotonic() - t0
        page.mouse.up()
    page.wait_for_timeout(100)  # the last frame
    return before, frame.evaluate(STATS), moving


def _along(pts, t: float) -> tuple[float, float]:
    """The point a fraction t along a polyline (by segment, equal time per segment)."""
    k = min(int(t * (len(pts) - 1)), len(pts) - 2)
    u = t * (len(pts) - 1) - k
    (x0, y0), (x1, y1) = pts[k], pts[k + 1]
    return x0 + (x1 - x0) * u, y0 + (y1 - y0) * u


def drag_map(page, frame, seconds: float = 1.0, hashes: set | None = None, release: bool = True):
    """Press at the map's centre and circle around for `seconds`; optionally collect decoded-image
    hashes. Returns (stats before, stats at the end of the drag before release, seconds)."""
    b = box(frame, "map")
    cx, cy, r = b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, b["width"] * 0.3
    before = frame.evaluate(STATS)
    page.mouse.move(cx, cy)
    page.mouse.down()
    t0, n = time.monotonic(), 0
    while (t := (time.monotonic() - t0) / seconds) < 1:
        page.mouse.move(cx + r * math.sin(2 * math.pi * t), cy - r * math.sin(4 * math.pi * t) / 2)
        n += 1
        if hashes is not None and n % 3 == 0:
            hashes.add(frame.evaluate(IMAGE_HASH, "decoded"))
    spent = time.monotonic() - t0
    during = frame.evaluate(STATS)
    if release:
        page.mouse.up()
    return before, during, spent


def rate(before: dict, after: dict, key: str, seconds: float) -> float:
    return (after[key] - before[key]) / seconds


__all__ = ["STATS", "STATE", "IMAGE_HASH", "SEVEN", "ONE", "canvas_frame", "runs", "wait_idle", "wait_runs",
           "open_demo", "box", "draw", "drag_map", "rate"]
