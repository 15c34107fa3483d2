"""End to end in a real browser: the app as a user drives it.

One ``streamlit run streamlit_app.py`` server per module (stopped at the end, whatever
happens), Debian's Chromium through Playwright, one fresh browser context (a new Streamlit
session) per test. Models trained here go to the session's workspace in a temporary folder
(LATENT_EXPLORER_WORKSPACES).
Every wait is on Streamlit's DOM (see devtools/e2e.py); every test ends with "no
exception, no traceback, no error alert, still connected". A full-page screenshot of each
test's last state is kept in artifacts/screenshots/ (gitignored).

Skipped, with the reason, only when /usr/bin/chromium (or Playwright) is missing.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from devtools.browser import chromium_missing_reason, component_frame
from devtools.e2e import (
    app_pages, app_server, assert_no_errors, choose, click_button, click_nav, click_toggle, data_trace, drag_slider,
    error_texts, fill_input, image_fingerprint, images_src, main_text, new_app_page, open_app, plotly_chart_count,
    plotly_image_hrefs, plotly_point_xy, plotly_traces, rerun, save_artifact, selectbox_options, selectbox_value,
    slider_value, wait_idle,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_missing_reason() is not None, reason=chromium_missing_reason() or ""),
]

PAGES = app_pages()


def _path(prefix: str) -> str:
    """The URL path of the page whose short name starts with ``prefix`` (from the file names in pages/)."""
    hits = [path for name, path in PAGES if name.startswith(prefix)]
    if not hits:
        pytest.skip(f"no page named {prefix}* in pages/")
    return hits[0]

TRAINED_NAME = "e2e-digits-vae"

CANVAS_HASH = """() => { const c = latentDecoderRoot.getElementById('image');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 2166136261; for (let i = 0; i < d.length; i += 4) { h ^= d[i] + 7 * d[i + 1] + 13 * d[i + 2]; h = Math.imul(h, 16777619); }
    return h >>> 0; }"""


# ---- fixtures -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("trained")


@pytest.fixture(scope="module")
def server(trained_dir):
    with app_server(env={"LATENT_EXPLORER_TRAINED": str(trained_dir / "published"),
                         "LATENT_EXPLORER_WORKSPACES": str(trained_dir / "workspaces")}) as url:
        yield url


@pytest.fixture
def page(browser, server, request):
    page = new_app_page(browser)
    page.artifact_saved = False
    yield page
    if not page.artifact_saved:  # the last state of every test, passed or failed
        save_artifact(page, "test_" + re.sub(r"[^\w.-]+", "_", request.node.name.removeprefix("test_")))
    page.context.close()


def _png(picture: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="PNG")
    return buf.getvalue()


def _digit_one_png() -> bytes:
    """A hand-drawn looking '1': a dark stroke on a white 64 x 64 page (the app inverts and centres it)."""
    picture = np.full((64, 64), 255, np.uint8)
    for row in range(12, 54):
        col = 30 + (54 - row) // 8
        picture[row, col - 3:col + 4] = 20
    return _png(picture)


def _pick_model(page, wanted: tuple[str, ...]) -> str:
    """Select the first of ``wanted`` (names) that the sidebar's model picker offers; returns its label."""
    options = selectbox_options(page, "Model", "stSidebar")
    for name in wanted:
        hit = next((o for o in options if o.startswith(name + " ·")), None)
        if hit:
            choose(page, "Model", hit, "stSidebar")
            return hit
    pytest.fail(f"none of {wanted} among the model picker's options {options}")


# ---- every page -------------------------------------------------------------------------------

@pytest.mark.timeout(180)
@pytest.mark.parametrize("name,path", PAGES, ids=[n for n, _ in PAGES])
def test_page_opens_without_errors(page, server, name, path):
    open_app(page, server, path)
    title = page.locator('[data-testid="stMain"] h1').first
    assert title.is_visible() and title.inner_text().strip()
    assert "Traceback" not in main_text(page)
    assert_no_errors(page, name)
    page.artifact_saved = save_artifact(page, f"page_{name}") is not None


@pytest.mark.timeout(240)
def test_sidebar_reaches_every_page_in_one_session(page, server):
    open_app(page, server)
    links = page.locator('[data-testid="stSidebarNav"] a')
    labels = [t.strip() for t in links.all_inner_texts()]
    assert len(labels) == len(PAGES), f"the sidebar menu {labels} does not list the {len(PAGES)} pages"
    titles = [page.locator('[data-testid="stMain"] h1').first.inner_text()]
    for i in [*range(1, len(labels)), 0]:  # every page, then back home
        rerun(page, lambda: links.nth(i).click())
        titles.append(page.locator('[data-testid="stMain"] h1').first.inner_text())
        assert_no_errors(page, f"{labels[i]} (reached from the sidebar)")
    assert titles[-1] == titles[0], "the menu's first entry did not lead back home"
    assert len(set(titles)) == len(labels), f"pages with the same title: {titles}"


# ---- Latent sliders ---------------------------------------------------------------------------

@pytest.mark.timeout(180)
def test_dragging_a_browser_slider_redraws_the_image_then_updates_the_page(page, server):
    open_app(page, server, _path("latent_sliders"))
    frame = component_frame(page, timeout=60)
    frame.wait_for_function("() => latentDecoderStats.draws > 0 || latentDecoderStats.serverImagesDrawn > 0",
                            timeout=60_000)
    wait_idle(page, settle_ms=300)
    first_image = frame.evaluate(CANVAS_HASH)
    traversals = images_src(page)
    slider = frame.locator("#sliders input").first
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()  # in the page's viewport, iframe offset included
    y = box["y"] + box["height"] / 2
    x0 = box["x"] + box["width"] / 2

    def drag():
        page.mouse.move(x0, y)
        page.mouse.down()
        for k in range(1, 11):
            page.mouse.move(x0 + k * box["width"] * 0.04, y)
        assert frame.evaluate(CANVAS_HASH) != first_image, "the image did not change while dragging"
        page.mouse.up()

    rerun(page, drag)
    assert frame.evaluate(CANVAS_HASH) != first_image
    # Python heard the release: the traversals and neighbours around the new code were redrawn
    page.wait_for_function("(old) => [...document.querySelectorAll('[data-testid=\"stMain\"] img')]"
                           ".map(e => e.src).join() !== old.join()", arg=traversals, timeout=30_000)
    assert_no_errors(page, "Latent sliders after a drag")


@pytest.mark.timeout(180)
def test_dragging_a_plain_slider_changes_the_decoded_image(page, server):
    open_app(page, server, _path("latent_sliders"))
    rerun(page, lambda: click_toggle(page, "Plain Streamlit sliders"))
    before_value = slider_value(page, "z0")
    before = images_src(page)
    rerun(page, lambda: drag_slider(page, "z0", fraction=0.85))
    assert slider_value(page, "z0") > before_value
    decoded = page.locator('[data-testid="stMain"] [data-testid="stImage"]', has_text="decode(z)").locator("img")
    assert decoded.count() == 1
    assert decoded.first.get_attribute("src") not in before, "the decoded image did not change"
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=decoded.first.element_handle())
    assert_no_errors(page, "Latent sliders (plain sliders) after a drag")


# ---- Latent map -----------------------------------------------------------------------------

@pytest.mark.timeout(180)
def test_clicking_a_point_on_the_latent_map_shows_its_decodes(page, server):
    open_app(page, server, _path("latent_map"))
    label = _pick_model(page, ("mnist-vae-2", "digits-vae-2"))
    wait_idle(page, settle_ms=500)  # the drawing component reports back once loaded (a run of its own)
    trace = data_trace(plotly_traces(page))
    assert "Click a point" in main_text(page)
    x, y = plotly_point_xy(page, trace=trace, point=0)
    full_runs, fragment_runs = page.runs.finished, page.runs.fragments
    rerun(page, lambda: page.mouse.click(x, y))
    # the map and what it shows are an st.fragment: a click reruns them, not the sidebar and the page
    assert (page.runs.finished, page.runs.fragments) == (full_runs, fragment_runs + 1)
    captions = page.locator('[data-testid="stMain"] [data-testid="stImageCaption"]').all_inner_texts()
    assert any("original" in c for c in captions), captions
    assert any("reconstruction" in c for c in captions), captions
    if "VAE" in label:  # decodes of z = mu + sigma * eps, one per draw
        assert sum(c.startswith("ε =") or c.startswith("draw") for c in captions) >= 2, captions
        before = image_fingerprint(page)
        rerun(page, lambda: click_button(page, "Draw new ε"))
        assert image_fingerprint(page) != before
    assert_no_errors(page, "Latent map after a click")


@pytest.mark.timeout(180)
def test_uploading_an_image_and_a_bad_file(page, server):
    open_app(page, server, _path("latent_map"))
    wait_idle(page, settle_ms=500)  # the drawing component reports back once loaded (a run of its own)
    uploader = page.locator('[data-testid="stMain"] [data-testid="stFileUploaderDropzoneInput"]').first
    rerun(page, lambda: uploader.set_input_files(
        files=[{"name": "my-one.png", "mimeType": "image/png", "buffer": _digit_one_png()}]))
    captions = page.locator('[data-testid="stMain"] [data-testid="stImageCaption"]').all_inner_texts()
    assert any("what the model reads" in c for c in captions), captions
    assert "my-one.png" in main_text(page)
    assert any(t["name"] == "your image" for t in plotly_traces(page)), "no star for the upload on the map"
    assert_no_errors(page, "Latent map after an upload")

    # a file that is not an image, under an image's name: one clear message, nothing breaks
    rerun(page, lambda: uploader.set_input_files(
        files=[{"name": "broken.png", "mimeType": "image/png", "buffer": b"this is not a PNG at all" * 10}]))
    alerts = page.locator('[data-testid="stMain"] [data-testid="stAlertContentError"]').all_inner_texts()
    assert len(alerts) == 1 and "broken.png" in alerts[0], alerts
    assert "Traceback" not in alerts[0]
    assert_no_errors(page, "Latent map after a bad upload", allow_error_alerts=True)
    # the app keeps working: the map still answers a click
    x, y = plotly_point_xy(page, trace=data_trace(plotly_traces(page)), point=1)
    rerun(page, lambda: page.mouse.click(x, y))
    captions = page.locator('[data-testid="stMain"] [data-testid="stImageCaption"]').all_inner_texts()
    assert any("original" in c for c in captions), captions
    assert_no_errors(page, "Latent map after a bad upload and a click", allow_error_alerts=True)


# ---- Manifold -------------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_manifold_grid_follows_its_size_slider(page, server):
    open_app(page, server, _path("manifold"))
    before = plotly_image_hrefs(page)
    assert before, "no decoded grid on the page"
    n_before = slider_value(page, "Grid size")
    full_runs, fragment_runs = page.runs.finished, page.runs.fragments
    rerun(page, lambda: drag_slider(page, "Grid size", fraction=0.2))
    assert slider_value(page, "Grid size") < n_before
    # the controls and the figures are an st.fragment: the slider reruns them only, not the sidebar
    assert (page.runs.finished, page.runs.fragments) == (full_runs, fragment_runs + 1)
    page.wait_for_function(
        """(old) => { const now = [...document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot image')]
                        .map(e => (e.getAttribute('href') || e.getAttribute('xlink:href') || '').slice(-300));
                      return now.length > 0 && now.join() !== old.join(); }""",
        arg=before, timeout=30_000)
    assert_no_errors(page, "Manifold after moving the grid size")


# ---- Beta and the tradeoff ------------------------------------------------------------------------

def _chosen_point(page) -> tuple[str, float, float]:
    for chart in range(plotly_chart_count(page)):
        for t in plotly_traces(page, chart):
            if (t["name"] or "").startswith("chosen"):
                return t["name"], t["x"][0], t["y"][0]
    raise AssertionError("no highlighted point ('chosen: β=...') on any chart of the page")


@pytest.mark.timeout(180)
def test_beta_slider_moves_the_highlight_on_the_curve(page, server):
    open_app(page, server, _path("beta"))
    name, x, y = _chosen_point(page)
    slider = page.locator('[data-testid="stMain"] [data-testid="stSlider"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text="β")).first
    thumb = slider.locator('input[type="range"]').first
    at_max = thumb.get_attribute("value") == thumb.get_attribute("max")
    thumb.focus()
    rerun(page, lambda: page.keyboard.press("ArrowLeft" if at_max else "ArrowRight"))
    new_name, new_x, new_y = _chosen_point(page)
    assert new_name != name, f"the highlight still says {name}"
    assert (new_x, new_y) != (x, y), "the highlight did not move on the curve"
    assert_no_errors(page, "Beta page after moving β")


# ---- Train ----------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.timeout(420)
def test_train_a_tiny_model_then_pick_it(page, server, trained_dir):
    from core.checkpoints import load_checkpoint

    open_app(page, server, _path("train"))
    choose(page, "Dataset", "digits", "stMain")
    if "VAE" not in selectbox_value(page, "Model", "stMain"):
        choose(page, "Model", "VAE", "stMain")
    rerun(page, lambda: fill_input(page, "Epochs", 2))
    rerun(page, lambda: fill_input(page, "Checkpoint name", TRAINED_NAME))
    assert_no_errors(page, "Train page before training")
    click_button(page, "Train")
    page.get_by_text(f"Saved {TRAINED_NAME}").wait_for(timeout=300_000)
    wait_idle(page, settle_ms=1500)  # the live view's last rerun, which unlocks the form
    assert page.locator('[data-testid="stMain"] [data-testid="stException"]').count() == 0
    assert_no_errors(page, "Train page after training")

    (saved,) = (trained_dir / "workspaces").glob(f"*/models/{TRAINED_NAME}.json")  # in this session's workspace
    checkpoint = load_checkpoint(saved)
    assert checkpoint.card["dataset"]["name"] == "digits" and checkpoint.card["epochs"] == 2

    # the new model is in every page's picker, marked as trained here
    rerun(page, lambda: click_nav(page, "Latent sliders"))
    choose(page, "Dataset", "digits", "stSidebar")
    options = selectbox_options(page, "Model", "stSidebar")
    mine = [o for o in options if o.startswith(TRAINED_NAME + " ·")]
    assert mine and "trained here" in mine[0], options
    choose(page, "Model", mine[0], "stSidebar")
    assert TRAINED_NAME in selectbox_value(page, "Model", "stSidebar")
    assert_no_errors(page, "Latent sliders with the model trained here")
    assert not error_texts(page)
