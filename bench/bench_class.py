"""A class on one step: N students (browser sessions) send predictions while the presenter's view updates.

    python -m bench.bench_class                 # 20 students
    python -m bench.bench_class --students 5

One `streamlit run` and one Chromium. The presenter opens the shipped lesson's map step
(devtools/lesson_support.MAP_STEP) and starts a class; N students join with ?class=CODE, each
in its own browser context (its own Streamlit session), and click a prediction on the map.
Then, one student after another, a student presses "Send my prediction" and the clock runs
until the presenter's page says the class's count went up (its figure is redrawn in the same
fragment run). The presenter's view reads the store every REFRESH_S seconds (explorer/ui/lesson.py),
so that period is the baseline: a click waits REFRESH_S / 2 on average for the next read.
Finally every student sends again at once (a burst), timed to the presenter's count of N.

Writes bench/results/class.json and class.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np

from bench.run_all import RESULTS, machine_info, machine_markdown, md_table, write_results
from devtools.browser import chromium
from devtools.e2e import app_server, click_button, new_app_page, open_app
from devtools.lesson_support import LESSON, MAP_STEP, click_prediction, start_class, typed_point
from explorer.ui.lesson import REFRESH_S


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def run(students: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp, \
            app_server(env={"LATENT_EXPLORER_CLASSES_DB": f"sqlite:///{tmp}/classes.sqlite3",
                            "LATENT_EXPLORER_WORKSPACES": f"{tmp}/workspaces"}) as url, chromium() as browser:
        presenter = new_app_page(browser)
        presenter.context.set_default_timeout(180_000)
        open_app(presenter, url, f"Lesson?lesson={LESSON}&step={MAP_STEP}", timeout=180_000)
        code = start_class(presenter)
        pages, joined_s = [], []
        for i in range(students):
            page = new_app_page(browser, viewport={"width": 1000, "height": 800})
            page.context.set_default_timeout(180_000)
            joined_s.append(open_app(page, url, f"Lesson?lesson={LESSON}&class={code}", timeout=180_000) / 1000)
            click_prediction(page, 15 + (i * 7) % 30, 15 + (i * 11) % 30)
            pages.append(page)
        one_by_one = []
        for i, page in enumerate(pages, start=1):
            t0 = time.perf_counter()
            click_button(page, "Send my prediction")
            presenter.get_by_text(f"{i} prediction{'s' if i != 1 else ''} from the class").wait_for()
            one_by_one.append(time.perf_counter() - t0)
            page.get_by_text("Sent.").wait_for()
        time.sleep(1.2)  # past the store's one-answer-per-second limit for each student
        new_points = []
        for i, page in enumerate(pages):  # a new point each: what the inputs hold is what is sent
            click_prediction(page, 20 + (i * 5) % 30, 20 + (i * 3) % 30)
            new_points.append(typed_point(page))
        t0 = time.perf_counter()
        for page in pages:  # sent by all at once
            click_button(page, "Send my prediction")
        presenter.wait_for_function(
            """(want) => { const gd = document.querySelector('[data-testid="stMain"] .js-plotly-plot');
                 const t = gd && gd._fullData.find(t => t.name === "the class's predictions");
                 if (!t || t.x.length !== want.length) return false;
                 return want.every(([x, y]) => t.x.some((tx, i) => Math.abs(tx - x) < 1e-3 && Math.abs(t.y[i] - y) < 1e-3));
               }""", arg=[list(p) for p in new_points], timeout=180_000)
        burst = time.perf_counter() - t0
        for page in pages:
            page.context.close()
    return {"students": students, "refresh_s": REFRESH_S, "join_s_median": statistics.median(joined_s),
            "click_to_presenter_s": [round(v, 3) for v in one_by_one],
            "median_s": statistics.median(one_by_one), "p95_s": percentile(one_by_one, 95),
            "max_s": max(one_by_one), "burst_all_shown_s": burst}


def to_markdown(result: dict) -> str:
    r = result
    rows = [["measure", "seconds"],
            [f"a student's Send -> the presenter's count and figure updated, median of {r['students']}",
             f"{r['median_s']:.2f}"],
            ["the same, 95th percentile", f"{r['p95_s']:.2f}"],
            ["the same, slowest", f"{r['max_s']:.2f}"],
            [f"baseline: the presenter's refresh period (a click waits half of it on average)", f"{r['refresh_s']:.2f}"],
            [f"burst: all {r['students']} send again at once -> the presenter's figure shows {r['students']} new points",
             f"{r['burst_all_shown_s']:.2f}"],
            ["a student opening the class link (first picture, median)", f"{r['join_s_median']:.2f}"]]
    return (f"# A class of {r['students']} students on one prediction step\n\n"
            "`python -m bench.bench_class`: one server, one Chromium, one browser context per student "
            "(its own Streamlit session); see the module's docstring.\n\n"
            + md_table(rows) + "\n\n" + machine_markdown(r["machine"]) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--out", default=str(RESULTS / "class"))
    args = parser.parse_args(argv)
    result = {"benchmark": "class", "machine": machine_info(), **run(args.students)}
    result["machine_after"] = machine_info(brief=True)
    write_results(args.out, result, to_markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
