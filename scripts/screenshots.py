"""The README's pictures: start the app, visit every page in Chromium, save docs/images/pages/<page>.png.

    .venv/bin/python -m scripts.screenshots                 # every page (about 2 minutes)
    .venv/bin/python -m scripts.screenshots --pages latent_map manifold
    .venv/bin/python -m scripts.screenshots --no-train      # the Train page as it opens, no demo training

Run by hand (it is not a test). Needs Debian's Chromium at /usr/bin/chromium (or CHROMIUM_PATH)
and the shipped checkpoints. The Lesson page: a prediction before and after Reveal, and the
presenter's view with three students' predictions (docs/images/lesson_*.png). One session walks the pages through the sidebar, so the model
picked once (``--model``, default mnist-vae-2) is the one the pages show (Latent sliders: mnist-vae-16). On the Latent map a
point is clicked, so the picture shows its decodes; on the Train page a small VAE is trained on
digits first (into a temporary folder), so it shows the loss curves and the latent map.
Viewport 1280 x 900, full page (the viewport grows to the page's height for the shot).
After the Latent map, a "7" is drawn and the map dragged: docs/images/draw.png and drag.png
(the draw-and-drag component), and the whole page with the drawing sent at 1400 and 390 px:
docs/images/latent_map_draw_1400.png, latent_map_draw_390.png (--no-draw skips them). The Beta page at
1400 and 390 px: docs/images/beta_1400.png, beta_390.png (``--pages beta`` takes only those).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from devtools.browser import REPO_ROOT, chromium, chromium_missing_reason
from devtools.e2e import (
    VIEWPORT, app_pages, app_server, choose, click_button, data_trace, error_texts, fill_input, full_page_screenshot,
    new_app_page, open_app, plotly_point_xy, plotly_traces, rerun, selectbox_options, wait_charts, wait_idle,
)

OUT = REPO_ROOT / "docs" / "images" / "pages"
SLIDERS_MODEL = "mnist-vae-16"  # Latent sliders shows this one when it is shipped
_IMAGES_LOADED = """() => [...document.querySelectorAll('[data-testid="stMain"] img')].every(i => i.complete && i.naturalWidth > 0)"""


def settle(page) -> None:
    """Idle, charts drawn, pictures loaded, custom components drawn."""
    wait_idle(page, settle_ms=500)
    wait_charts(page)
    page.wait_for_function(_IMAGES_LOADED, timeout=30_000)
    if page.evaluate("() => !!window.latentDecoderStats"):  # a decoder component on the page
        page.wait_for_function("() => latentDecoderStats.draws > 0 || latentDecoderStats.serverImagesDrawn > 0",
                               timeout=30_000)


def pick_model(page, name: str) -> None:
    options = selectbox_options(page, "Model", "stSidebar")
    label = next((o for o in options if o.startswith(name + " ·")), None)
    if label:
        choose(page, "Model", label, "stSidebar")
    else:
        print(f"  (model {name} not offered here; keeping {options[:1]})")


def prepare(page, name: str, model: str) -> None:
    """What a page shows in its picture beyond its defaults."""
    if name in ("latent_map", "manifold"):
        pick_model(page, model)
    if name == "latent_sliders":  # the page is made for a model with more dims than two
        pick_model(page, SLIDERS_MODEL if SLIDERS_MODEL in " ".join(selectbox_options(page, "Model", "stSidebar"))
                   else model)
    if name == "latent_map":
        x, y = plotly_point_xy(page, trace=data_trace(plotly_traces(page)), point=3)
        rerun(page, lambda: page.mouse.click(x, y))
        page.evaluate("() => window.scrollTo(0, 0)")
    if name == "train":
        choose(page, "Dataset", "digits", "stMain")
        rerun(page, lambda: fill_input(page, "Epochs", 60))
        rerun(page, lambda: fill_input(page, "Checkpoint name", "digits-vae-2-demo"))
        click_button(page, "Train")
        page.get_by_text("Saved digits-vae-2-demo").wait_for(timeout=300_000)
        wait_idle(page, settle_ms=1500)


def draw_and_drag_shots(page, out: Path) -> list[Path]:
    """On the Latent map: draw a "7" (docs/images/draw.png), then drag on the map and shoot
    with the button still pressed (docs/images/drag.png): the component only."""
    from devtools.draw_support import SEVEN, canvas_frame, draw, drag_map

    frame = canvas_frame(page)
    element = frame.evaluate_handle("() => latentCanvasRoot.host").as_element()  # the shadow root's host
    element.scroll_into_view_if_needed()
    draw(page, frame, SEVEN, seconds=0.4)
    page.wait_for_timeout(200)
    shots = [out / "draw.png", out / "drag.png"]
    element.screenshot(path=str(shots[0]))
    drag_map(page, frame, seconds=0.7, release=False)
    page.wait_for_timeout(100)
    element.screenshot(path=str(shots[1]))
    page.mouse.up()
    wait_idle(page, settle_ms=300)
    return shots


DRAW_WIDTHS = (1400, 390)  # a projector and a phone


def draw_page_shots(browser, url: str, out: Path, model: str) -> list[Path]:
    """The whole Latent map after a "7" is drawn, sent to the page and the map dragged, at each of
    DRAW_WIDTHS (docs/images/latent_map_draw_<width>.png): the drag map's legend, the drawing's star on
    both maps, its nearest test labels and, for a 2-D model, the note on what two dimensions mix."""
    from devtools.draw_support import SEVEN, canvas_frame, draw, drag_map

    shots = []
    for width in DRAW_WIDTHS:
        page = new_app_page(browser, {"width": width, "height": 900})
        open_app(page, url, f"Latent_map?model={model}", timeout=180_000)
        frame = canvas_frame(page)
        frame.locator('canvas[data-role="draw"]').scroll_into_view_if_needed()
        draw(page, frame, SEVEN, seconds=0.4)
        rerun(page, frame.get_by_role("button", name="Use my drawing on the page").click, timeout=120_000)
        frame = canvas_frame(page)
        frame.locator('canvas[data-role="map"]').scroll_into_view_if_needed()
        drag_map(page, frame, seconds=0.5)
        settle(page)
        shots.append(full_page_screenshot(page, out / f"latent_map_draw_{width}.png"))
        page.close()
    return shots


def beta_shots(browser, url: str, out: Path) -> list[Path]:
    """The whole Beta page at each of DRAW_WIDTHS (docs/images/beta_<width>.png): the curve's β
    labels, the per-dimension KL rows and the axis titles readable on a projector and a phone."""
    shots = []
    for width in DRAW_WIDTHS:
        page = new_app_page(browser, {"width": width, "height": 900})
        open_app(page, url, "Beta_and_tradeoff", timeout=180_000)
        settle(page)
        shots.append(full_page_screenshot(page, out / f"beta_{width}.png"))
        page.close()
    return shots


def faces_shot(browser, url: str, out: Path) -> Path:
    """The Frey faces on the Latent sliders page, opened by a share link in a fresh session
    (docs/images/frey_sliders.png): faces work offline on the shipped data and 8-D VAE."""
    page = new_app_page(browser, VIEWPORT)
    open_app(page, url, "Latent_sliders?model=frey-vae-8", timeout=180_000)
    settle(page)
    return full_page_screenshot(page, out / "frey_sliders.png")


def lesson_shots(browser, url: str, out: Path) -> list[Path]:
    """The Lesson page's step 4 with a prediction clicked (docs/images/lesson_predict.png), after Reveal
    (lesson_reveal.png), and the presenter's view of a class with three students' predictions
    (lesson_presenter.png)."""
    from devtools.lesson_support import LESSON, MAP_STEP, click_prediction, join_and_predict, start_class

    page = new_app_page(browser, VIEWPORT)
    open_app(page, url, f"Lesson?lesson={LESSON}&step={MAP_STEP}", timeout=180_000)
    click_prediction(page, 40, 22)
    settle(page)
    shots = [full_page_screenshot(page, out / "lesson_predict.png")]
    rerun(page, lambda: click_button(page, "Reveal"))
    settle(page)
    shots.append(full_page_screenshot(page, out / "lesson_reveal.png"))
    presenter = new_app_page(browser, VIEWPORT)
    open_app(presenter, url, f"Lesson?lesson={LESSON}&step={MAP_STEP}", timeout=180_000)
    code = start_class(presenter)
    for column, row in ((40, 22), (44, 30), (25, 35)):
        student = new_app_page(browser, VIEWPORT)
        join_and_predict(student, url, code, column, row)
        student.context.close()
    presenter.get_by_text("3 predictions from the class").wait_for(timeout=30_000)
    settle(presenter)
    shots.append(full_page_screenshot(presenter, out / "lesson_presenter.png"))
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Save a full-page screenshot of every page into docs/images/pages/.")
    parser.add_argument("--pages", nargs="*", help="short names (home, latent_map, ...); default: all")
    parser.add_argument("--model", default="mnist-vae-2", help="the model the pages with a model picker show")
    parser.add_argument("--no-train", action="store_true", help="show the Train page as it opens")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--faces-only", action="store_true",
                        help="only the Frey Latent sliders shot (docs/images/frey_sliders.png)")
    parser.add_argument("--no-draw", dest="draw", action="store_false",
                        help="skip the draw-and-drag shots (docs/images/draw.png, drag.png)")
    args = parser.parse_args(argv)
    reason = chromium_missing_reason()
    if reason:
        print(f"cannot take screenshots: {reason}")
        return 1
    pages = [(n, p) for n, p in app_pages() if not args.pages or n in args.pages]
    out = Path(args.out)
    problems = []
    with tempfile.TemporaryDirectory(prefix="screenshots-trained-") as trained, \
            app_server(env={"LATENT_EXPLORER_TRAINED": trained, "LATENT_EXPLORER_WORKSPACES": trained + "/workspaces",
                                     "LATENT_EXPLORER_CLASSES_DB": f"sqlite:///{trained}/classes.sqlite3"}) as url, chromium() as browser:
        if args.faces_only or not args.pages:
            print(f"  wrote {faces_shot(browser, url, out.parent)}")
        if args.faces_only:
            return 0
        if not args.pages or "beta" in args.pages:
            for shot in beta_shots(browser, url, out.parent):
                print(f"  wrote {shot}")
        if not args.pages or "lesson" in args.pages:
            for shot in lesson_shots(browser, url, out.parent):
                print(f"  wrote {shot}")
        page = new_app_page(browser, VIEWPORT)
        open_app(page, url, timeout=180_000)
        for name, path in pages:
            print(f"{name} ...", flush=True)
            # through the sidebar, not a new URL: a page load would start a new session
            links = page.locator('[data-testid="stSidebarNav"] a')
            link = links.first if not path else page.locator(f'[data-testid="stSidebarNav"] a[href$="/{path}"]').first
            if "active" not in (link.get_attribute("aria-current") or "") and page.url.rstrip("/") != (url + "/" + path).rstrip("/"):
                rerun(page, link.click, timeout=180_000)
            wait_charts(page)
            if name != "train" or not args.no_train:
                prepare(page, name, args.model)
            settle(page)
            errors = error_texts(page)
            if errors:
                problems.append(f"{name}: {errors}")
            shot = full_page_screenshot(page, out / f"{name}.png")
            print(f"  wrote {shot.relative_to(REPO_ROOT) if shot.is_relative_to(REPO_ROOT) else shot}")
            if name == "latent_map" and args.draw:  # draw and drag: docs/images/draw.png, drag.png
                for extra in draw_and_drag_shots(page, out.parent) + draw_page_shots(browser, url, out.parent,
                                                                                      args.model):
                    print(f"  wrote {extra}")
    for p in problems:
        print(f"problem: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
