"""Driving the Lesson page in Chromium: click a prediction on a chart, read it back, start a class and
send students' predictions. Shared by tests/test_lesson_browser.py, bench/bench_class.py and
scripts/screenshots.py.
"""

from __future__ import annotations

import re

from devtools.e2e import click_button, click_toggle, main_text, open_app, plotly_traces, rerun, wait_idle
from explorer.logic.lesson_figures import CLICK_GRID_NAME, GRID_POINTS

LESSON = "pca-to-beta-vae"
MAP_STEP = 4  # the shipped lesson's "where do the samples of q(z|x) fall?"
CODE_PATTERN = re.compile(r"\b([A-Z0-9]{5})-([A-Z0-9]{5})\b")


def step_of(page) -> tuple[int, int]:
    """(k, N) of the "Step k of N" on screen."""
    k, n = re.search(r"Step (\d+) of (\d+)", main_text(page)).groups()
    return int(k), int(n)


def grid_point(page, column: int, row: int, chart: int = 0) -> tuple[tuple[float, float], tuple[float, float]]:
    """((x, y) in the chart's data, (x, y) in viewport pixels) of one point of the click grid."""
    traces = plotly_traces(page, chart)
    grid = next(i for i, t in enumerate(traces) if t["name"] == CLICK_GRID_NAME)
    index = GRID_POINTS * row + column
    data, pixel = page.evaluate(
        """([c, t, i]) => {
          const gd = document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')[c];
          gd.scrollIntoView({block: 'center'});
          const fl = gd._fullLayout, tr = gd._fullData[t], xa = fl.xaxis, ya = fl.yaxis, r = gd.getBoundingClientRect();
          // d2l: a log axis places log10(value)
          return [[tr.x[i], tr.y[i]], [r.left + xa._offset + xa.l2p(xa.d2l(tr.x[i])),
                                       r.top + ya._offset + ya.l2p(ya.d2l(tr.y[i]))]];
        }""", [chart, grid, index])
    return tuple(data), tuple(pixel)


def click_prediction(page, column: int, row: int) -> tuple[float, float]:
    """Click the click grid's point (column, row); returns its data coordinates."""
    data, (x, y) = grid_point(page, column, row)
    rerun(page, lambda: page.mouse.click(x, y))
    wait_idle(page)
    return data


def typed_point(page, names: tuple[str, str] = ("z0", "z1")) -> tuple[float, float]:
    """The prediction's two number inputs, as they read now."""
    return tuple(float(page.locator('[data-testid="stNumberInput"]', has_text=name).locator("input").input_value())
                 for name in names)


def start_class(page) -> str:
    """Presenter mode on, Start a class: the class code (canonical, without the dash)."""
    rerun(page, lambda: click_toggle(page, "Presenter mode", "stSidebar"))
    rerun(page, lambda: click_button(page, "Start a class", "stSidebar"))
    wait_idle(page)
    text = page.locator('[data-testid="stSidebar"]').inner_text()
    return "".join(CODE_PATTERN.search(text).groups())


def join_and_predict(page, url: str, code: str, column: int, row: int) -> tuple[float, float]:
    """A student opens the class link, clicks a prediction on the map and sends it."""
    open_app(page, url, f"Lesson?lesson={LESSON}&class={code}")
    point = click_prediction(page, column, row)
    rerun(page, lambda: click_button(page, "Send my prediction"))
    return point


__all__ = ["LESSON", "MAP_STEP", "step_of", "grid_point", "click_prediction", "typed_point", "start_class",
           "join_and_predict"]
