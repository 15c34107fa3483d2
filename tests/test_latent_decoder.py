"""Tests of explorer/ui/latent_decoder.py and its static frontend (explorer/components/latent_decoder/).

Three layers:
- the wrapper's input checks and weight packing (plain pytest), and AppTest: the component
  cannot run its JavaScript there, so the wrapper must return the initial z;
- the browser's decode (decoder.js, loaded alone in headless Chromium) against torch;
- the experience against a real `streamlit run devtools/apps/decoder_demo.py`: the image follows
  the pointer during a drag, Python hears once on release, the weights travel once.
Browser tests skip with the reason when /usr/bin/chromium (or Playwright) is missing.
"""

from __future__ import annotations

import base64
import json
import re
import time

import numpy as np
import pytest
import torch

from core.models import DenseLayer, ModelConfig, build_model
from explorer.logic.browser_model import pack_dense
from explorer.ui.latent_decoder import COMPONENT_DIR, latent_decoder
from devtools.browser import REPO_ROOT, chromium_missing_reason, component_args, component_frame, streamlit_server

DEMO = REPO_ROOT / "devtools" / "apps" / "decoder_demo.py"
needs_chromium = pytest.mark.skipif(chromium_missing_reason() is not None, reason=str(chromium_missing_reason()))


def _model(config: ModelConfig, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(config).eval()
    if config.kind == "pca":  # random orthonormal axes and a mean, instead of a fit
        with torch.no_grad():
            q, _ = torch.linalg.qr(torch.randn(config.num_pixels, config.latent_dim))
            model.components.copy_(q.T * 6)
            model.mean.uniform_(0.2, 0.8)
    elif config.kind == "linear-ae":  # outputs around 0.5, some clamped at 0 and 1
        with torch.no_grad():
            model.decoder.weight.mul_(2.0)
            model.decoder.bias.add_(0.5)
    elif config.architecture == "mlp":  # spread the outputs over [0, 1]
        with torch.no_grad():
            model.decoder[-1].weight.mul_(4.0)
    return model


MODELS = {
    "vae-mlp-2d": ModelConfig("vae", (1, 28, 28), 2),
    "vae-mlp-16d": ModelConfig("vae", (1, 28, 28), 16),
    "pca": ModelConfig("pca", (1, 28, 28), 8),
    "linear-ae": ModelConfig("linear-ae", (1, 20, 28), 5),
    "ae-gaussian": ModelConfig("ae", (1, 8, 8), 3, hidden=(32,), likelihood="gaussian"),
    "vae-rgb": ModelConfig("vae", (3, 32, 32), 4, hidden=(64, 32)),
}


# ---- wrapper: validation and packing ------------------------------------------------------

def _layers(latent_dim=2, pixels=4, activation="sigmoid"):
    rng = np.random.default_rng(0)
    return [
        DenseLayer(rng.normal(size=(3, latent_dim)).astype(np.float32), np.zeros(3, np.float32), "relu"),
        DenseLayer(rng.normal(size=(pixels, 3)).astype(np.float32), np.zeros(pixels, np.float32), activation),
    ]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(z=[0.0, 0.0, 0.0]), r"layers\[0\].weight has shape \(3, 2\): it reads 2 values but gets 3"),
        (dict(image_shape=(1, 3, 3)), r"layers ends with 4 values; it must give 9"),
        (dict(image_shape=(2, 2, 1)), r"\(2, 2, 1\) must be \(C, H, W\) with C = 1 or 3"),
        (dict(image_shape=(1, 2)), r"image_shape=\(1, 2\) must be \(C, H, W\)"),
        (dict(mode="grid"), r"mode='grid' is not one of \('sliders', 'pad'\)"),
        (dict(mode="pad", dims=(0, 2)), r"dims=\(0, 2\) is out of range: each must be in \[0, 1\]"),
        (dict(mode="pad", dims=(1, 1)), r"dims=\(1, 1\) must be two different latent dims"),
        (dict(value_range=0), r"value_range=0 must be a positive finite number"),
        (dict(z=[0.0, float("nan")]), r"z holds non-finite values"),
        (dict(dim_names=["a"]), r"dim_names has 1 names but len\(z\)=2"),
        (dict(layers=_layers(activation="tanh")), r"layers\[1\].activation='tanh' is not one of \('relu', 'sigmoid', 'clamp01', 'linear'\)"),
        (dict(layers=[]), r"layers=\[\] must hold at least one DenseLayer"),
        (dict(points=np.zeros((5, 3))), r"points has shape \(5, 3\); it must be \(N, 2\)"),
        (dict(points=np.zeros((5, 2)), point_labels=np.zeros(4, int)), r"point_labels has shape \(4,\); it must be \(5,\)"),
        (dict(points=np.zeros((5, 2)), point_labels=np.full(5, 0.5)), r"point_labels must be non-negative integers"),
        (dict(layers=None, server_image=np.zeros((3, 2, 2))), r"server_image has shape \(3, 2, 2\); it must be \(C, H, W\) = \(1, 2, 2\)"),
        (dict(model_id=""), r"model_id='' must be a non-empty string"),
    ],
)
def test_latent_decoder_rejects_bad_input(kwargs, match):
    args = dict(model_id="m", layers=_layers(), image_shape=(1, 2, 2), z=[0.0, 0.0], key="k")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        latent_decoder(args.pop("model_id"), args.pop("layers"), args.pop("image_shape"), args.pop("z"), **args)


def test_sliders_mode_allows_at_most_16_dims():
    layers = _layers(latent_dim=17)
    with pytest.raises(ValueError, match=r"mode='sliders' shows at most 16 dims; len\(z\)=17 \(use mode='pad'\)"):
        latent_decoder("m", layers, (1, 2, 2), [0.0] * 17, key="k")


def test_bias_shape_is_checked():
    bad = [DenseLayer(np.zeros((4, 2), np.float32), np.zeros(3, np.float32), "sigmoid")]
    with pytest.raises(ValueError, match=r"layers\[0\].bias has shape \(3,\); it must be \(4,\)"):
        pack_dense(bad, 2, 4, "layers")


@pytest.mark.parametrize("name", list(MODELS))
def test_packed_layers_decode_like_torch_in_numpy(name):
    """The packing format (what decoder.js reads) reproduces model.decode when replayed in numpy."""
    model = _model(MODELS[name])
    meta, blob = pack_dense(model.decoder_layers(), model.latent_dim, model.config.num_pixels, "layers")
    floats = np.frombuffer(blob, dtype="<f4")
    z = torch.randn(5, model.latent_dim)
    x = z.numpy().astype(np.float64)
    at = 0
    for layer in meta:
        w = floats[at: at + layer["out"] * layer["in"]].reshape(layer["out"], layer["in"])
        at += w.size
        b = floats[at: at + layer["out"]]
        at += b.size
        x = x @ w.T + b
        x = {"relu": lambda v: np.maximum(v, 0), "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
             "clamp01": lambda v: np.clip(v, 0, 1)}[layer["activation"]](x)
    assert at == floats.size
    with torch.no_grad():
        ref = model.decode(z).flatten(1).numpy()
    np.testing.assert_allclose(x, ref, atol=1e-5)


def test_conv_decoder_has_no_layers():
    assert _model(ModelConfig("vae", (1, 28, 28), 2, architecture="conv", hidden=(32,))).decoder_layers() is None


@pytest.mark.parametrize("query", [
    {"model": "vae2", "mode": "sliders"}, {"model": "vae16", "mode": "sliders"},
    {"model": "vae2", "mode": "pad"}, {"model": "conv", "mode": "sliders"}, {"model": "rgb", "mode": "pad"},
])
def test_apptest_degrades_to_the_initial_z(query):
    """AppTest runs no JavaScript: the page must run and the wrapper return the z it was given."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(DEMO), default_timeout=60)
    at.query_params.update(query)
    at.run()
    assert not at.exception
    shown = [m.value for m in at.markdown if m.value.startswith("returned_z=")]
    z = json.loads(shown[0].removeprefix("returned_z="))
    z0 = np.round(np.random.default_rng(0).normal(size=len(z)) * 0.5, 3)
    np.testing.assert_allclose(z, z0, atol=1e-4)
    at.run()  # a rerun also works (the component state is absent under AppTest)
    assert not at.exception


def test_weights_go_once_a_session_and_again_when_the_browser_needs_them():
    """Custom Components v2: the page's module keeps what it received until a reload (a new
    session), so the weights go on the first run only; a value naming them in "need" (the
    browser's small cache dropped them) gets them on the next run, once."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(DEMO), default_timeout=60)
    at.query_params.update({"model": "vae2", "mode": "sliders"})

    def payloads() -> set[str]:
        (element,) = at.get("bidi_component")
        proto = element.proto
        return set(json.loads(proto.mixed.json if proto.WhichOneof("data") == "mixed" else proto.json)) - {"args"}

    at.run()
    assert payloads() == {"weights"}
    at.run()
    assert payloads() == set()
    (args,) = component_args(at, "latent_decoder")
    at.session_state["decoder"] = {"value": {"z": [0.0, 0.0], "base": args["z_token"], "seq": 7, "event": "need",
                                             "need": [args["model_id"]]}}
    at.run()
    assert payloads() == {"weights"}
    at.run()  # the same value stays in the session: answered once
    assert payloads() == set()


# ---- the browser's decode against torch ---------------------------------------------------

@pytest.fixture(scope="module")
def decoder_page(browser):
    page = browser.new_page()
    page.set_content("<!doctype html><html><body><canvas id='c'></canvas></body></html>")
    page.add_script_tag(path=str(COMPONENT_DIR / "decoder.js"))
    yield page
    page.close()


@needs_chromium
@pytest.mark.parametrize("name", list(MODELS))
def test_browser_decode_matches_torch(decoder_page, name):
    model = _model(MODELS[name])
    meta, blob = pack_dense(model.decoder_layers(), model.latent_dim, model.config.num_pixels, "layers")
    gen = torch.Generator().manual_seed(1)
    z = torch.cat([torch.randn(6, model.latent_dim, generator=gen) * 1.5,
                   torch.full((1, model.latent_dim), 3.0), torch.zeros(1, model.latent_dim)])
    result = decoder_page.evaluate(
        """([meta, b64, zs, shape]) => {
            const flat = LatentDecoder.decodeBatch(meta, LatentDecoder.fromBase64(b64), zs);
            // also draw the last image the way the component does, and read it back
            const c = document.getElementById('c');
            c.width = shape[2]; c.height = shape[1];
            const ctx = c.getContext('2d');
            const img = ctx.createImageData(shape[2], shape[1]);
            LatentDecoder.toRGBA(flat[0], shape, img.data);
            ctx.putImageData(img, 0, 0);
            return {flat, rgba: Array.from(ctx.getImageData(0, 0, shape[2], shape[1]).data)};
        }""",
        [meta, base64.b64encode(blob).decode(), z.tolist(), list(model.image_shape)],
    )
    with torch.no_grad():
        ref = model.decode(z)
    got = np.asarray(result["flat"], dtype=np.float64).reshape(ref.shape)
    assert np.abs(got - ref.numpy()).max() < 1e-4
    c, h, w = model.image_shape
    rgba = np.asarray(result["rgba"]).reshape(h, w, 4)
    want = np.round(ref[0].numpy() * 255)  # (C, H, W)
    for ch in range(3):
        assert np.abs(rgba[..., ch] - want[ch if c == 3 else 0]).max() <= 1
    assert (rgba[..., 3] == 255).all()


@needs_chromium
def test_browser_decode_rejects_wrong_sizes(decoder_page):
    meta, blob = pack_dense(_layers(), 2, 4, "layers")
    err = decoder_page.evaluate(
        """([meta, b64]) => { try { LatentDecoder.decodeBatch(meta, LatentDecoder.fromBase64(b64), [[1, 2, 3]]); }
                              catch (e) { return e.message; } }""",
        [meta, base64.b64encode(blob).decode()],
    )
    assert err == "z has 3 values, the decoder reads 2"


# ---- the experience against a real streamlit server ---------------------------------------

@pytest.fixture(scope="module")
def server():
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    with streamlit_server(DEMO) as url:
        yield url


@pytest.fixture
def page(browser, server):
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    ws_frames: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda p: ws_frames.append(len(p))))
    page.ws_frames = ws_frames
    yield page
    page.close()


def _open(page, server, query):
    page.goto(f"{server}/?{query}")
    frame = component_frame(page)
    # settled: the weights arrived and the page's runs are over
    frame.wait_for_function("() => latentDecoderStats.draws > 0 || latentDecoderStats.serverImagesDrawn > 0")
    _wait_idle(page)
    return frame


def _wait_idle(page, quiet_ms=400, timeout=20.0):
    """Until no script run finished for quiet_ms."""
    t0, last, since = time.monotonic(), _runs(page), time.monotonic()
    while time.monotonic() - since < quiet_ms / 1000 and time.monotonic() - t0 < timeout:
        page.wait_for_timeout(50)
        if (now := _runs(page)) != last:
            last, since = now, time.monotonic()


_CANVAS_HASH = """() => { const c = latentDecoderRoot.getElementById('image');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 2166136261; for (let i = 0; i < d.length; i += 4) { h ^= d[i] + 7 * d[i + 1] + 13 * d[i + 2]; h = Math.imul(h, 16777619); }
    return h >>> 0; }"""
_STATS = "() => ({draws: latentDecoderStats.draws, sent: latentDecoderStats.valuesSent, server: latentDecoderStats.serverImagesDrawn})"


def _runs(page) -> int:
    return int(re.search(r"runs=(\d+)", page.get_by_text("runs=").inner_text()).group(1))


def _returned_z(page) -> list[float]:
    return json.loads(page.get_by_text("returned_z=").inner_text().removeprefix("returned_z="))


def _drag(page, frame, start, path, seconds=1.0):
    """Press at start, move along path(t in [0,1]) for `seconds`, sampling stats and canvas hashes;
    return (stats before, stats at the end of the drag before release, hashes seen, moves)."""
    before = frame.evaluate(_STATS)
    runs_before = _runs(page)
    page.mouse.move(*start)
    page.mouse.down()
    hashes, moves = set(), 0
    t0 = time.monotonic()
    while (t := time.monotonic() - t0) < seconds:
        page.mouse.move(*path(t / seconds))
        moves += 1
        if moves % 2 == 0:
            hashes.add(frame.evaluate(_CANVAS_HASH))
    during = frame.evaluate(_STATS)
    assert _runs(page) == runs_before, "the script reran during the drag"
    page.mouse.up()
    return before, during, hashes, moves


def _wait_returned(page, frame, runs_before):
    deadline = time.monotonic() + 15
    while _runs(page) == runs_before and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    page.wait_for_timeout(300)
    return _returned_z(page), frame.evaluate("() => latentDecoderGetZ()")


@needs_chromium
def test_slider_drag_redraws_during_the_drag_and_returns_z_on_release(page, server):
    frame = _open(page, server, "model=vae16&mode=sliders")
    box = frame.locator("#sliders input").nth(3).bounding_box()
    y = box["y"] + box["height"] / 2
    x0 = box["x"] + box["width"] / 2
    runs = _runs(page)
    before, during, hashes, moves = _drag(
        page, frame, (x0, y), lambda t: (box["x"] + box["width"] * (0.5 + 0.45 * np.sin(2 * np.pi * t)), y))
    drawn = during["draws"] - before["draws"]
    assert drawn >= 10 and drawn >= 0.5 * min(moves, 60), (drawn, moves)
    assert len(hashes) >= 5, f"canvas showed only {len(hashes)} different images during {moves} moves"
    assert during["sent"] == before["sent"], "the component talked to Python during the drag"
    returned, shown = _wait_returned(page, frame, runs)
    assert _runs(page) == runs + 1  # one rerun for one release
    np.testing.assert_allclose(returned, np.round(shown, 4), atol=1e-4)
    z0 = np.round(np.random.default_rng(0).normal(size=16) * 0.5, 3)
    changed = np.flatnonzero(np.abs(np.asarray(returned) - z0) > 1e-3)
    assert changed.tolist() == [3]


@needs_chromium
def test_pad_drag_redraws_during_the_drag_and_returns_z_on_release(page, server):
    frame = _open(page, server, "model=vae2&mode=pad")
    box = frame.locator("#pad").bounding_box()
    cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"] * 0.35
    runs = _runs(page)
    before, during, hashes, moves = _drag(
        page, frame, (cx, cy), lambda t: (cx + r * np.sin(2 * np.pi * t), cy - r * np.sin(4 * np.pi * t) / 2))
    drawn = during["draws"] - before["draws"]
    assert drawn >= 10 and drawn >= 0.5 * min(moves, 60), (drawn, moves)
    assert len(hashes) >= 5
    assert during["sent"] == before["sent"]
    returned, shown = _wait_returned(page, frame, runs)
    np.testing.assert_allclose(returned, np.round(shown, 4), atol=1e-4)
    # hover previews without moving the marker and without telling Python
    sent = frame.evaluate(_STATS)["sent"]
    draws = frame.evaluate(_STATS)["draws"]
    for k in range(10):
        page.mouse.move(cx - r * k / 10, cy + r * k / 20)
        page.wait_for_timeout(20)
    assert frame.evaluate(_STATS)["draws"] > draws
    assert frame.evaluate(_STATS)["sent"] == sent
    np.testing.assert_allclose(frame.evaluate("() => latentDecoderGetZ()"), shown)


@needs_chromium
def test_weights_travel_once_and_come_back_after_a_remount(page, server):
    frame = _open(page, server, "model=vae16&mode=sliders")
    big = [n for n in page.ws_frames if n > 100_000]
    weight_bytes = 4 * (16 * 200 + 200 + 200 * 400 + 400 + 400 * 784 + 784)
    assert frame.evaluate("() => latentDecoderStats.weightBytesReceived") == weight_bytes == 1_592_736
    # sent once, as binary, with the component's own files (html, css and JavaScript: about 35 KB)
    assert len(big) == 1 and weight_bytes < big[0] < weight_bytes + 50_000
    page.ws_frames.clear()
    runs = _runs(page)
    page.get_by_role("button", name="rerun").click()
    while _runs(page) == runs:
        page.wait_for_timeout(50)
    page.wait_for_timeout(300)
    print("rerun websocket frames:", page.ws_frames)
    assert max(page.ws_frames) < 50_000, page.ws_frames  # a rerun sends z, settings and the files, no weights
    # A reload is a new session: the weights travel once more.
    frame.evaluate("() => location.reload()")
    page.wait_for_timeout(500)
    frame = component_frame(page)
    frame.wait_for_function("() => latentDecoderStats.draws > 0", timeout=15_000)
    assert frame.evaluate("() => latentDecoderStats.weightBytesReceived") == weight_bytes


@needs_chromium
def test_buttons_set_z_and_report_it(page, server):
    frame = _open(page, server, "model=vae2&mode=sliders")
    runs = _runs(page)
    frame.get_by_role("button", name="Reset").click()
    returned, _ = _wait_returned(page, frame, runs)
    assert returned == [0.0, 0.0]
    runs = _runs(page)
    frame.get_by_role("button", name="Prior sample").click()
    returned, shown = _wait_returned(page, frame, runs)
    assert returned != [0.0, 0.0]
    np.testing.assert_allclose(returned, np.round(shown, 4), atol=1e-4)
    runs = _runs(page)
    frame.get_by_role("button", name="From image").click()
    returned, _ = _wait_returned(page, frame, runs)
    np.testing.assert_allclose(returned, np.round(np.random.default_rng(0).normal(size=2) * 0.5, 3), atol=1e-4)


@needs_chromium
def test_conv_decoder_falls_back_to_server_decoding_on_release(page, server):
    frame = _open(page, server, "model=conv&mode=sliders")
    assert "decoded on the server" in frame.locator("#notice").inner_text()
    assert frame.evaluate("() => latentDecoderStats.draws") == 0
    first = frame.evaluate(_CANVAS_HASH)
    box = frame.locator("#sliders input").nth(1).bounding_box()
    runs = _runs(page)
    before, during, _, _ = _drag(
        page, frame, (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2),
        lambda t: (box["x"] + box["width"] * (0.5 + 0.4 * t), box["y"] + box["height"] / 2), seconds=0.5)
    assert during["server"] == before["server"]  # nothing to draw until Python decodes
    returned, shown = _wait_returned(page, frame, runs)
    frame.wait_for_function(f"() => latentDecoderStats.serverImagesDrawn > {before['server']}")
    np.testing.assert_allclose(returned, np.round(shown, 4), atol=1e-4)
    assert frame.evaluate(_CANVAS_HASH) != first
