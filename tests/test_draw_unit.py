"""Draw and drag without a browser: encoder_layers() against torch, the Python reference of the
MNIST fitting, the latent_canvas wrapper's checks, and AppTest of the demo and the Latent map
(AppTest runs no JavaScript: the wrapper returns its defaults there)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.models import DenseLayer, ModelConfig, build_model
from explorer.logic.browser_model import pack_dense
from explorer.logic.drawing import area_weights, box_for, drawing_support, fit_like_mnist
from explorer.ui.latent_canvas import fit_extent, latent_canvas
from devtools.browser import component_args

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "devtools" / "apps" / "draw_demo.py"
MAP = ROOT / "pages" / "1_Latent_map.py"
CONFIGS = {
    "pca": ModelConfig("pca", (1, 28, 28), 2),
    "linear-ae": ModelConfig("linear-ae", (1, 28, 28), 2),
    "ae": ModelConfig("ae", (1, 28, 28), 2),
    "vae": ModelConfig("vae", (1, 28, 28), 16),
    "vae-digits": ModelConfig("vae", (1, 8, 8), 2, hidden=(32,)),
}


def random_model(name: str):
    torch.manual_seed(0)
    model = build_model(CONFIGS[name]).eval()
    if name == "pca":
        with torch.no_grad():
            q, _ = torch.linalg.qr(torch.randn(784, 2))
            model.components.copy_(q.T)
            model.mean.uniform_(0, 0.3)
    return model


def forward(layers: list[DenseLayer], x: np.ndarray) -> np.ndarray:
    h = x.astype(np.float64)
    for layer in layers:
        h = h @ layer.weight.T + layer.bias
        h = np.maximum(h, 0) if layer.activation == "relu" else h
    return h


@pytest.mark.parametrize("name", list(CONFIGS))
def test_encoder_layers_reproduce_encode(name):
    model = random_model(name)
    x = torch.rand(4, *model.image_shape)
    posterior = model.encode(x)
    want = posterior.mean if posterior.logvar is None else torch.cat([posterior.mean, posterior.logvar], 1)
    layers = model.encoder_layers()
    assert layers[-1].activation == "linear"
    np.testing.assert_allclose(forward(layers, x.flatten(1).numpy()), want.detach().numpy(), atol=2e-5)


def test_conv_models_export_no_encoder():
    model = build_model(ModelConfig("vae", (1, 28, 28), 2, architecture="conv", hidden=(32,)))
    assert model.encoder_layers() is None


# ---- the MNIST fitting (Python reference) -----------------------------------------------

def test_area_weights_average_and_sum_to_one():
    w = area_weights(7, 3)
    np.testing.assert_allclose(w.sum(1), 1.0)
    np.testing.assert_allclose(area_weights(10, 5)[0, :2], [0.5, 0.5])


def test_fit_like_mnist_fits_20px_and_centres_the_mass():
    ink = np.zeros((280, 280))
    ink[30:250, 60:110] = 1.0  # a tall bar, off centre
    image = fit_like_mnist(ink)
    rows, cols = np.flatnonzero(image.any(1)), np.flatnonzero(image.any(0))
    assert rows[-1] - rows[0] + 1 == 20 and cols[-1] - cols[0] + 1 < 20  # long side 20, aspect kept
    total = image.sum()
    cy, cx = (image.sum(1) * np.arange(28)).sum() / total, (image.sum(0) * np.arange(28)).sum() / total
    assert abs(cy - 13.5) <= 0.5 and abs(cx - 13.5) <= 0.5  # centre of mass at the centre (whole-pixel shift)
    assert 0 < image.max() <= 1 and image.dtype == np.float32


def test_fit_like_mnist_small_frames_and_empty_ink():
    assert not fit_like_mnist(np.zeros((50, 50))).any()
    assert box_for(28, 28) == 20 and box_for(8, 8) == 8 and box_for(28, 20) == 14
    ink = np.zeros((100, 100))
    ink[10:90, 40:60] = 1
    assert fit_like_mnist(ink, (8, 8)).any(1).sum() == 8


@pytest.mark.parametrize("bad, match", [(np.zeros(5), r"ink has shape \(5,\)"), (np.full((3, 3), 2.0), r"\[0, 1\]")])
def test_fit_like_mnist_rejects_bad_ink(bad, match):
    with pytest.raises(ValueError, match=match):
        fit_like_mnist(bad)


def test_drawing_support_says_why_not():
    assert drawing_support((1, 28, 28), True, True) is None
    assert drawing_support((1, 8, 8), True, True) is None
    assert "faces" in drawing_support((1, 28, 20), False, True)
    assert "convolutional" in drawing_support((1, 28, 28), True, False)


# ---- the wrapper's checks ------------------------------------------------------------

def _args(**kw):
    model = random_model("vae-digits")
    args = dict(model_id="m", decoder_layers=model.decoder_layers(), encoder_layers=model.encoder_layers(),
                image_shape=(1, 8, 8), z=[0.0, 0.0], variational=True, key="k")
    args.update(kw)
    return args


@pytest.mark.parametrize("kwargs, match", [
    (dict(model_id=""), r"model_id='' must be a non-empty string"),
    (dict(key=""), r"key='' must be a non-empty string"),
    (dict(z=[0.0]), r"z must hold at least 2 latent values"),
    (dict(z=[0.0, float("inf")]), r"z holds non-finite values"),
    (dict(image_shape=(2, 8, 8)), r"image_shape=\(2, 8, 8\) must be \(C, H, W\) with C = 1 or 3"),
    (dict(dims=(0, 0)), r"dims=\(0, 0\) must be two different latent dims in \[0, 1\]"),
    (dict(dims=(0, 5)), r"dims=\(0, 5\)"),
    (dict(map_px=50), r"map_px=50 must be an integer in \[160, 1000\]"),
    (dict(extent=(1, 0, 0, 1)), r"extent=\(1, 0, 0, 1\) must be \(xmin, xmax, ymin, ymax\)"),
    (dict(decoder_layers=None), r"decoder_layers=None: this component decodes in the browser"),
    (dict(variational=False), r"encoder_layers ends with 4 values; it must give 2"),
    (dict(image_shape=(1, 4, 4)), r"decoder_layers ends with 64 values; it must give 16"),
    (dict(points=np.zeros((5, 3))), r"points has shape \(5, 3\); it must be \(N, 2\) codes or \(N, 2\) on dims"),
    (dict(points=np.zeros((5, 2)), point_labels=np.zeros(4, int)), r"point_labels has shape \(4,\)"),
    (dict(point_labels=np.zeros(4, int)), r"point_labels was given without points"),
    (dict(dim_names=["a"]), r"dim_names has 1 names but len\(z\)=2"),
])
def test_latent_canvas_rejects_bad_input(kwargs, match):
    args = _args(**kwargs)
    with pytest.raises(ValueError, match=match):
        latent_canvas(args.pop("model_id"), args.pop("decoder_layers"), args.pop("encoder_layers"),
                      args.pop("image_shape"), args.pop("z"), **args)


def test_pack_dense_names_the_parameter():
    layers = [DenseLayer(np.zeros((2, 3), np.float32), np.zeros(2, np.float32), "tanh")]
    with pytest.raises(ValueError, match=r"encoder_layers\[0\].activation='tanh' is not one of"):
        pack_dense(layers, 3, 2, "encoder_layers")


def test_fit_extent_is_square_and_holds_z():
    pts = np.random.default_rng(0).normal(size=(500, 2)) * [1, 3]
    x0, x1, y0, y1 = fit_extent(pts, np.array([8.0, 0.0]))
    assert x1 - x0 == pytest.approx(y1 - y0) and x1 > 8.0


# ---- AppTest ---------------------------------------------------------------------------

def test_demo_runs_without_a_browser_and_returns_the_start():
    at = AppTest.from_file(str(DEMO), default_timeout=60)
    at.query_params["model"] = "mnist-vae-16"
    at.run()
    assert not at.exception
    shown = next(m.value for m in at.markdown if m.value.startswith("returned_z="))
    assert json.loads(shown.removeprefix("returned_z=")) == [0.0] * 16
    (args,) = component_args(at, "latent_canvas")
    assert args["model"]["variational"] and args["draw_note"] is None and args["points_token"]


def test_latent_map_shows_the_draw_and_drag_component():
    at = AppTest.from_file(str(MAP), default_timeout=180)
    at.session_state["picked_dataset"] = "mnist"
    at.session_state["picked_model"] = "mnist-ae-2"
    at.run()
    assert not at.exception
    assert "Draw and drag" in [h.value for h in at.subheader]
    (args,) = component_args(at, "latent_canvas")
    assert args["dims"] == [0, 1] and args["draw_note"] is None and not args["model"]["variational"]
