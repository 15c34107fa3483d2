"""Draw and drag in a real browser (headless Chromium through Playwright).

- the JavaScript pieces alone: the encoder forward pass (decoder.js) against torch's encode()
  for PCA, the linear AE, the AE and the VAE (mean and logvar), and fitLikeMnist (draw.js)
  against the Python reference explorer.logic.drawing.fit_like_mnist;
- the component on `streamlit run devtools/apps/draw_demo.py`: strokes move the encoded point,
  dragging on the map decodes at 30 or more frames a second with 2,000 points, undo / clear /
  eraser, the send button delivers the image to Python, a face model offers no drawing, DPR 2;
- the Latent map page: a sent drawing shows up as "your drawing".
Skips with the reason when /usr/bin/chromium (or Playwright) is missing.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.checkpoints import load_checkpoint
from explorer.logic.browser_model import pack_dense
from explorer.logic.drawing import FIT, fit_like_mnist
from explorer.ui.latent_canvas import COMPONENT_DIR
from explorer.ui.latent_decoder import COMPONENT_DIR as SHARED_DIR
from devtools.browser import REPO_ROOT, chromium_missing_reason, streamlit_server
from devtools.draw_support import ONE, SEVEN, STATE, STATS, IMAGE_HASH, canvas_frame, draw, drag_map, open_demo, rate, runs, wait_runs
from tests.test_draw_unit import CONFIGS, random_model

DEMO = REPO_ROOT / "devtools" / "apps" / "draw_demo.py"
pytestmark = pytest.mark.skipif(chromium_missing_reason() is not None, reason=str(chromium_missing_reason()))


@pytest.fixture(scope="module")
def js_page(browser):
    page = browser.new_page()
    page.set_content("<!doctype html><html><body></body></html>")
    page.add_script_tag(path=str(SHARED_DIR / "decoder.js"))
    page.add_script_tag(path=str(COMPONENT_DIR / "draw.js"))
    yield page
    page.close()


def shipped(name: str):
    path = REPO_ROOT / "checkpoints" / f"{name}.safetensors"
    if not path.exists():
        pytest.skip(f"{name} is not shipped")
    return load_checkpoint(str(path)).model.eval()


def ink_strokes(seed: int) -> np.ndarray:
    """Soft random strokes on a 280 x 280 grid, in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:280, :280]
    ink = np.zeros((280, 280))
    for _ in range(3):
        (x0, y0), (x1, y1) = rng.uniform(40, 240, size=(2, 2))
        t = np.clip(((xx - x0) * (x1 - x0) + (yy - y0) * (y1 - y0)) / ((x1 - x0) ** 2 + (y1 - y0) ** 2), 0, 1)
        dist = np.hypot(xx - x0 - t * (x1 - x0), yy - y0 - t * (y1 - y0))
        ink = np.maximum(ink, np.clip(1.5 - dist / 8, 0, 1))
    return np.round(ink * 255) / 255  # what a canvas holds: multiples of 1/255


# ---- the JavaScript pieces against torch and Python ---------------------------------------

@pytest.mark.parametrize("name", ["pca", "linear-ae", "ae", "vae", "mnist-vae-2", "mnist-pca-2"])
def test_js_encoder_matches_torch(js_page, name):
    model = random_model(name) if name in CONFIGS else shipped(name)
    d, n = model.latent_dim, model.config.num_pixels
    meta, blob = pack_dense(model.encoder_layers(), n, 2 * d if model.variational else d, "encoder_layers")
    x = torch.rand(3, *model.image_shape) * (torch.rand(3, *model.image_shape) > 0.7)  # sparse, like a drawing
    x = torch.cat([x, torch.from_numpy(fit_like_mnist(ink_strokes(0), model.image_shape[1:]))[None, None]])
    got = js_page.evaluate(
        """([meta, bytes, xs]) => { const enc = LatentDecoder.makeDecoder(
               LatentDecoder.unpackLayers(meta, new Uint8Array(bytes)), "the image", "encoder");
             return xs.map(x => Array.from(enc.decode(x))); }""",
        [meta, list(blob), x.flatten(1).tolist()])
    with torch.no_grad():
        posterior = model.encode(x)
    got = np.asarray(got)
    np.testing.assert_allclose(got[:, :d], posterior.mean.numpy(), atol=1e-4)
    if model.variational:
        np.testing.assert_allclose(got[:, d:], posterior.logvar.numpy(), atol=1e-4)
    else:
        assert got.shape[1] == d


@pytest.mark.parametrize("seed, shape", [(0, (28, 28)), (1, (28, 28)), (2, (28, 28)), (3, (8, 8)), (4, (28, 20))])
def test_js_fit_like_mnist_matches_python(js_page, seed, shape):
    ink = ink_strokes(seed)
    got = js_page.evaluate(
        "([ink, h, w, fit]) => Array.from(LatentDraw.fitLikeMnist(new Float32Array(ink), 280, 280, h, w, fit).image)",
        [ink.astype(np.float32).ravel().tolist(), *shape, FIT])
    want = fit_like_mnist(ink.astype(np.float32), shape)
    np.testing.assert_allclose(np.asarray(got).reshape(shape), want, atol=1e-5)
    assert want.any()


# ---- the component ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    with streamlit_server(DEMO) as url:
        yield url


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    yield page
    page.close()


def test_strokes_move_the_encoded_point_live(page, server):
    frame = open_demo(page, server, "model=mnist-vae-2")
    assert frame.evaluate(STATE)["empty"]
    runs_before = runs(page)
    before, after, seconds = draw(page, frame, ONE, seconds=1.0)
    one = frame.evaluate(STATE)
    assert not one["empty"] and one["mean"] is not None and len(one["logvar"]) == 2
    assert one["z"] == one["mean"]  # the marker jumps to the drawing: its reconstruction is shown
    assert rate(before, after, "encodes", seconds) >= 30, (before, after, seconds)
    assert after["sent"] == before["sent"] and runs(page) == runs_before  # drawing costs no rerun
    # the model image is the Python reference's fit of the very ink on the pad
    ink = np.asarray(frame.evaluate("() => latentCanvasInk()"), dtype=np.float32).reshape(280, 280)
    np.testing.assert_allclose(np.asarray(one["modelImage"]).reshape(28, 28), fit_like_mnist(ink), atol=1e-5)
    draw(page, frame, [[(0.2, 0.5), (0.8, 0.5)]], seconds=0.4)  # a cross bar: a different digit
    two = frame.evaluate(STATE)
    assert np.abs(np.subtract(two["mean"], one["mean"])).max() > 0.05
    # the browser's code is torch's encoding of the same model image
    model = load_checkpoint(str(REPO_ROOT / "checkpoints" / "mnist-vae-2.safetensors")).model.eval()
    with torch.no_grad():
        posterior = model.encode(torch.tensor(two["modelImage"]).view(1, 1, 28, 28))
    np.testing.assert_allclose(two["mean"], posterior.mean[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(two["logvar"], posterior.logvar[0].numpy(), atol=1e-4)


@pytest.mark.parametrize("name", ["mnist-pca-2", "mnist-linear-ae-2", "mnist-ae-2"])
def test_drawing_works_for_every_kind(page, server, name):
    frame = open_demo(page, server, f"model={name}")
    draw(page, frame, SEVEN, seconds=0.4)
    state = frame.evaluate(STATE)
    assert state["logvar"] is None and len(state["mean"]) == 2
    model = load_checkpoint(str(REPO_ROOT / "checkpoints" / f"{name}.safetensors")).model.eval()
    with torch.no_grad():
        mean = model.encode(torch.tensor(state["modelImage"]).view(1, 1, 28, 28)).mean[0].numpy()
    np.testing.assert_allclose(state["mean"], mean, rtol=1e-4, atol=1e-3)


def test_undo_clear_and_eraser(page, server):
    frame = open_demo(page, server, "model=mnist-ae-2")
    draw(page, frame, SEVEN[:1], seconds=0.3)
    first = frame.evaluate(STATE)
    draw(page, frame, SEVEN[1:], seconds=0.3)
    assert frame.evaluate(STATE)["mean"] != first["mean"]
    frame.get_by_role("button", name="Undo").click()
    page.wait_for_timeout(150)
    assert frame.evaluate(STATE)["mean"] == pytest.approx(first["mean"], abs=1e-6)
    ink = sum(frame.evaluate("() => latentCanvasInk()"))
    frame.get_by_role("button", name="Eraser").click()
    assert frame.get_by_role("button", name="Eraser").get_attribute("aria-pressed") == "true"
    draw(page, frame, [[(0.25, 0.22), (0.5, 0.22)]], seconds=0.3)
    assert sum(frame.evaluate("() => latentCanvasInk()")) < ink * 0.8
    frame.get_by_role("button", name="Clear").click()
    page.wait_for_timeout(150)
    state = frame.evaluate(STATE)
    assert state["empty"] and state["mean"] is None and state["strokes"] == 0
    assert frame.get_by_role("button", name="Use my drawing on the page").is_disabled()


def test_dragging_the_map_decodes_at_30_fps_with_2000_points(page, server):
    frame = open_demo(page, server, "model=mnist-vae-16&points=2000")
    assert frame.evaluate("() => latentCanvasState().z.length") == 16
    draw(page, frame, SEVEN, seconds=0.3)  # the other 14 dims: the drawing's code
    start = frame.evaluate(STATE)["z"]
    hashes: set = set()
    runs_before = runs(page)
    before, during, seconds = drag_map(page, frame, seconds=1.5, hashes=hashes)
    fps = rate(before, during, "decodes", seconds)
    assert fps >= 30, f"{fps:.1f} decoded frames a second while dragging"
    assert len(hashes) >= 10 and during["sent"] == before["sent"]
    wait_runs(page, runs_before)  # one rerun, on release
    page.wait_for_timeout(300)
    z = frame.evaluate(STATE)["z"]
    np.testing.assert_allclose(z[2:], start[2:], atol=1e-6)  # only the two shown dims moved
    assert np.abs(np.subtract(z[:2], start[:2])).max() > 0.1
    returned = json.loads(page.get_by_text("returned_z=").inner_text().removeprefix("returned_z="))
    np.testing.assert_allclose(returned, z, atol=1e-3)


def test_send_delivers_the_drawing_to_python(page, server):
    frame = open_demo(page, server, "model=mnist-vae-2")
    draw(page, frame, SEVEN, seconds=0.3)
    image = np.asarray(frame.evaluate(STATE)["modelImage"])
    runs_before = runs(page)
    frame.get_by_role("button", name="Use my drawing on the page").click()
    wait_runs(page, runs_before)
    shown = page.get_by_text("drawing_seq=").inner_text()
    assert "drawing_seq=1" in shown
    assert float(shown.split("drawing_sum=")[1]) == pytest.approx(image.sum(), abs=0.01)
    assert page.get_by_text("sent drawing 1").count() == 1  # the st.image caption


def test_a_face_model_offers_no_drawing(page, server):
    frame = open_demo(page, server, "model=frey-vae-2")
    assert "digit models" in frame.locator("#draw-off").inner_text()
    draw(page, frame, ONE, seconds=0.2)
    assert frame.evaluate(STATE)["strokes"] == 0 and frame.evaluate(STATS)["encodes"] == 0
    before, during, seconds = drag_map(page, frame, seconds=0.5)  # the map still works
    assert during["decodes"] > before["decodes"]


def test_drawing_is_the_same_at_device_pixel_ratio_2(browser, server):
    images = []
    for dpr in (1, 2):
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, device_scale_factor=dpr)
        page = context.new_page()
        frame = open_demo(page, server, "model=mnist-vae-2")
        assert frame.evaluate("() => latentCanvasRoot.querySelector('canvas[data-role=draw]').width") == 240 * dpr
        draw(page, frame, SEVEN, seconds=0.3)
        images.append(np.asarray(frame.evaluate(STATE)["modelImage"]))
        assert frame.evaluate(IMAGE_HASH, "decoded")
        context.close()
    assert np.abs(images[0] - images[1]).max() < 0.15 and np.abs(images[0] - images[1]).mean() < 0.01


# ---- the Latent map page -----------------------------------------------------------------

def test_latent_map_page_shows_a_sent_drawing(browser):
    from devtools.e2e import app_server, new_app_page, open_app, wait_idle

    with app_server() as url:
        page = new_app_page(browser)
        open_app(page, url, "Latent_map", timeout=180_000)
        frame = canvas_frame(page)
        frame.locator('canvas[data-role="draw"]').scroll_into_view_if_needed()
        draw(page, frame, SEVEN, seconds=0.3)
        assert not frame.evaluate(STATE)["empty"]
        frame.get_by_role("button", name="Use my drawing on the page").click()
        page.get_by_text("your drawing: 28 x 28 pixels").wait_for(timeout=60_000)
        wait_idle(page)
        main = page.locator('[data-testid="stMain"]')
        assert main.get_by_text("what the model reads").count() >= 1
        assert main.get_by_text("its reconstruction").count() >= 1
        page.close()
