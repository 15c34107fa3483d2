"""The Lesson page in Chromium: a ?lesson=&step= link opens that step, a click on the map is the
prediction, Reveal shows the measured answer beside it, and the arrow keys move between steps.
Skipped only when Chromium (or Playwright) is missing."""

from __future__ import annotations

import numpy as np
import pytest

from devtools.browser import chromium_missing_reason
from devtools.e2e import (
    app_server, assert_no_errors, click_button, main_text, new_app_page, open_app, plotly_traces, rerun, save_artifact,
    wait_idle,
)
from devtools.lesson_support import click_prediction, join_and_predict, start_class, step_of, typed_point
from explorer.logic import lesson_figures
from explorer.ui import loaders

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_missing_reason() is not None, reason=chromium_missing_reason() or ""),
]
LINK = "Lesson?lesson=pca-to-beta-vae&step=4"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if "mnist-vae-2" not in {p.stem for p in loaders.shipped_dir().glob("*.json")}:
        pytest.skip("mnist-vae-2 is not among the shipped checkpoints")
    tmp = tmp_path_factory.mktemp("lesson")
    with app_server(env={"LATENT_EXPLORER_CLASSES_DB": f"sqlite:///{tmp / 'classes.sqlite3'}",
                         "LATENT_EXPLORER_WORKSPACES": str(tmp / "workspaces")}) as url:
        yield url


@pytest.fixture
def page(browser, server, request):
    page = new_app_page(browser, viewport={"width": 1400, "height": 1000})
    page.context.set_default_timeout(60_000)
    yield page
    save_artifact(page, "lesson_" + request.node.name.removeprefix("test_"))


def test_a_click_on_the_map_is_the_prediction_and_reveal_measures_it(page, server):
    open_app(page, server, LINK)
    assert_no_errors(page, LINK)
    assert step_of(page) == (4, 8)
    want = click_prediction(page, lesson_figures.GRID_POINTS // 4, lesson_figures.GRID_POINTS // 3)
    typed = typed_point(page)
    # The click is the grid point under the mouse (Plotly may report a data point within a few pixels)
    assert np.allclose(typed, want, atol=0.05), (typed, want)
    shown = next(t for t in plotly_traces(page) if t["name"] == "your prediction")
    assert (shown["x"][0], shown["y"][0]) == pytest.approx(tuple(typed), abs=1e-3)
    rerun(page, lambda: click_button(page, "Reveal"))
    wait_idle(page)
    assert_no_errors(page, "after Reveal")
    text = main_text(page)
    assert "draws of q(z|x) centre on" in text and "from their centre" in text, text[:2000]
    assert any(t["name"] == "your prediction" for t in plotly_traces(page))
    assert not any(t["name"] == lesson_figures.CLICK_GRID_NAME for t in plotly_traces(page))


def test_a_step_link_and_the_arrow_keys(page, server):
    open_app(page, server, "Lesson?lesson=pca-to-beta-vae&step=7")
    assert step_of(page) == (7, 8)
    assert "β: rate against distortion" in main_text(page)
    page.locator('[data-testid="stMain"] h1').first.click()
    rerun(page, lambda: page.keyboard.press("ArrowLeft"))
    wait_idle(page)
    assert step_of(page) == (6, 8)
    assert "step=6" in page.url
    rerun(page, lambda: click_button(page, "Next"))
    rerun(page, lambda: click_button(page, "Next"))
    wait_idle(page)
    assert step_of(page) == (8, 8)
    assert_no_errors(page, "step 8")


def test_the_presenter_sees_a_students_click_and_the_student_follows(browser, page, server):
    open_app(page, server, "Lesson?lesson=pca-to-beta-vae&step=4")
    code = start_class(page)
    assert "0 predictions from the class" in main_text(page)
    student = new_app_page(browser)
    try:
        point = join_and_predict(student, server, code, 40, 20)
        assert step_of(student) == (4, 8)
        assert "Sent." in main_text(student)
        page.get_by_text("1 prediction from the class").wait_for(timeout=15_000)  # the presenter's view refreshes itself
        # The count is text and comes first; the chart with the class's trace follows it.
        page.wait_for_function(
            """() => [...document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')].some(
                 gd => (gd._fullData || []).some(t => t.name === "the class's predictions"))""",
            timeout=15_000)
        shown = next(t for t in plotly_traces(page) if t["name"] == "the class's predictions")
        assert (shown["x"][0], shown["y"][0]) == pytest.approx(point, abs=0.05)
        rerun(page, lambda: click_button(page, "Reveal"))
        student.get_by_text("draws of q(z|x) centre on").wait_for(timeout=15_000)  # the class sees the answer
        rerun(page, lambda: click_button(page, "Next"))
        student.get_by_text("Step 5 of 8").wait_for(timeout=15_000)  # and follows the presenter's step
        assert_no_errors(student, "the student's page")
    finally:
        student.context.close()


def test_the_shipped_lesson_walked_end_to_end(page, server):
    """Every step, a prediction and Reveal on every step that asks for one, Next to the end and Back."""
    open_app(page, server, "Lesson?lesson=pca-to-beta-vae", timeout=180_000)
    for k in range(1, 9):
        assert step_of(page) == (k, 8)
        if page.get_by_text("Predict:").count():
            radios = page.locator('[data-testid="stMain"] [data-testid="stRadio"] [role="radiogroup"] label')
            if radios.count():
                rerun(page, lambda: radios.last.click())
            else:
                click_prediction(page, 30, 30)
            rerun(page, lambda: click_button(page, "Reveal"))
            wait_idle(page)
            text = main_text(page)
            assert "Measured:" in text and "How far off:" in text, f"step {k}: {text[:1500]}"
        assert_no_errors(page, f"step {k}")
        if k < 8:
            rerun(page, lambda: click_button(page, "Next"))
            wait_idle(page)
    rerun(page, lambda: click_button(page, "Back"))
    wait_idle(page)
    assert step_of(page) == (7, 8) and "step=7" in page.url
