"""AppTest of the exploration pages: home, Latent map, Manifold, Latent sliders.

Each page renders with the shipped checkpoints (``checkpoints/``, or
``$LATENT_EXPLORER_CHECKPOINTS``), and driving its main widget changes what is shown.
Tests that need a particular checkpoint skip, naming it, when it is not there.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.ui import home, loaders
from devtools.browser import component_args

ROOT = Path(__file__).resolve().parent.parent
HOME = str(ROOT / "streamlit_app.py")
MAP = str(ROOT / "pages" / "1_Latent_map.py")
MANIFOLD = str(ROOT / "pages" / "2_Manifold.py")
SLIDERS = str(ROOT / "pages" / "3_Latent_sliders.py")
TIMEOUT = 180


def shipped_names() -> set[str]:
    return {p.stem for p in loaders.shipped_dir().glob("*.json")}


@pytest.fixture(scope="module", autouse=True)
def _need_checkpoints():
    if not shipped_names():
        pytest.skip(f"no checkpoints in {loaders.shipped_dir()} yet: run `python -m core pretrain` "
                    "(or point LATENT_EXPLORER_CHECKPOINTS at a folder of checkpoints)")


def need(*names: str) -> None:
    missing = [n for n in names if n not in shipped_names()]
    if missing:
        pytest.skip(f"checkpoint(s) {', '.join(missing)} not in {loaders.shipped_dir()}")


def app(page: str, dataset: str, model: str, key: str = "model") -> AppTest:
    """A page with the sidebar's dataset and model chosen, run once."""
    need(model)
    at = AppTest.from_file(page, default_timeout=TIMEOUT)
    at.session_state["picked_dataset"] = dataset
    at.session_state[f"picked_{key}"] = model
    at.run()
    assert_ok(at)
    assert at.selectbox(key=f"{key}_picker").value == model
    return at


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def figures_of(at: AppTest) -> list[dict]:
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


def image_urls(at: AppTest) -> list[str]:
    return [url for img in at.image for url in img.value]


def image_captions(at: AppTest) -> list[str]:
    return [c for img in at.image for c in img.captions]


def values(data) -> np.ndarray:
    """A Plotly array from a figure's JSON: a list, or a typed array {"dtype", "bdata"}."""
    if isinstance(data, dict) and "bdata" in data:
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"]))
    return np.asarray(data)


def png_size(uri: str) -> tuple[int, int]:
    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).size


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------- home


def test_home_lists_models_links_pages_and_shows_prior_samples():
    need("mnist-vae-2")
    at = AppTest.from_file(HOME, default_timeout=TIMEOUT)
    at.session_state["picked_dataset"] = "mnist"
    at.run()
    assert_ok(at)
    table = at.dataframe[0].value
    assert set(table["name"]) == {c["name"] for c in loaders.all_cards()}
    assert {"kind", "data", "D", "beta", "likelihood", "test MSE", "Bernoulli NLL", "-ELBO Bernoulli",
            "-ELBO Gaussian", "KL", "active units", "kNN 1%"} <= set(table.columns)
    # One scale for every model; nats of a likelihood only in that likelihood's column.
    assert (table["Bernoulli NLL"] != "").all()
    frey = table[table["data"] == "frey"]  # an undefined value is a blank, never "None" or "nan"
    assert (frey["-ELBO Bernoulli"] == "").all() and (frey["-ELBO Gaussian"] != "").any()
    assert not table.isin(["None", "nan"]).any().any() and table["D"].str.fullmatch(r"\d+").all()
    # A link to every other file in pages/ (and nothing else), labelled as in explorer.ui.home.PAGES.
    files = sorted(p.name for p in (ROOT / "pages").glob("*.py") if p.name != Path(home.HOME.path).name)
    assert sorted(Path(p.path).name for p in home.PAGES if (ROOT / p.path).exists()) == files
    labels = [link.value for link in at.get("page_link")]
    assert sorted(labels) == sorted(p.label for p in home.PAGES if (ROOT / p.path).exists())
    samples = image_urls(at)
    assert len(samples) == 1
    at.button(key="home_new_samples").click().run()
    assert_ok(at)
    assert image_urls(at) != samples  # new prior samples


# --------------------------------------------------------------------------- latent map


def test_latent_map_of_a_2d_vae_draws_classes_ellipses_and_the_prior():
    at = app(MAP, "mnist", "mnist-vae-2")
    (fig,) = figures_of(at)
    names = [t.get("name") for t in fig["data"]]
    assert [n for n in names if n in list("0123456789")] == list("0123456789")
    assert any(n.startswith("q(z|x)") for n in names) and any(n.startswith("prior") for n in names)
    assert fig["data"][0]["type"] == "scattergl"
    at.toggle(key="map_ellipses").set_value(False).run()
    assert not any(t.get("name", "").startswith("q(z|x)") for t in figures_of(at)[0]["data"])


def test_latent_map_choosing_dims_changes_the_map():
    at = app(MAP, "mnist", "mnist-vae-16")
    before = figures_of(at)[0]
    at.selectbox(key="map_dx_mnist-vae-16").set_value(5).run()
    assert_ok(at)
    after = figures_of(at)[0]
    assert after["layout"]["xaxis"]["title"]["text"] == "z5"
    assert not np.array_equal(values(after["data"][0]["x"]), values(before["data"][0]["x"]))
    at.radio(key="map_axes").set_value("pca").run()
    assert_ok(at)
    assert figures_of(at)[0]["layout"]["xaxis"]["title"]["text"].startswith("PC 1")


def test_latent_map_click_shows_the_image_and_posterior_decodes():
    at = app(MAP, "mnist", "mnist-vae-2")
    assert any("Click a point" in i.value for i in at.info)
    at.session_state["latent_map_mnist-vae-2"] = {
        "selection": {"points": [{"curve_number": 0, "point_number": 0, "point_index": 0, "customdata": [7]}],
                      "point_indices": [0], "box": [], "lasso": []},
    }
    at.run()
    assert_ok(at)
    captions = image_captions(at)
    assert "original x" in captions and "reconstruction: decode(mean)" in captions
    eps_captions = [c for c in captions if c.startswith("ε = (")]
    assert len(eps_captions) == 6
    fig = figures_of(at)[0]
    assert any(t.get("name") == "z ~ q(z|x)" for t in fig["data"])  # the draws, on the map
    assert any(t.get("name", "").startswith("test image 7") for t in fig["data"])
    at.button(key="map_new_eps").click().run()
    assert [c for c in image_captions(at) if c.startswith("ε = (")] != eps_captions


def test_latent_map_deterministic_model_shows_image_and_reconstruction():
    at = app(MAP, "mnist", "mnist-ae-2")
    at.session_state["latent_map_mnist-ae-2"] = {"selection": {"points": [{"customdata": [3]}]}}
    at.run()
    assert_ok(at)
    captions = image_captions(at)
    assert "original x" in captions and not any(c.startswith("ε") for c in captions)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [("notes.png", b"these are not pixels", "not an image"), ("empty.png", b"", "empty")],
)
def test_latent_map_bad_upload_shows_an_error_and_the_page_keeps_working(name, data, message):
    at = app(MAP, "mnist", "mnist-vae-2")
    at.file_uploader(key="map_upload").set_value((name, data, "image/png")).run()
    assert_ok(at)
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert len(figures_of(at)) == 1  # the map is still there


def test_latent_map_drag_pad_shows_the_browser_decoder_over_the_codes():
    at = app(MAP, "mnist", "mnist-vae-2")
    at.toggle(key="map_pad_on").set_value(True).run()
    assert_ok(at)
    # the page also shows the draw-and-drag component (latent_canvas): pick the decoder's
    (args,) = component_args(at, "latent_decoder")
    assert args["mode"] == "pad" and args["dims"] == [0, 1] and args["points_token"]


def test_latent_map_upload_is_encoded_and_drawn_as_a_star():
    at = app(MAP, "mnist", "mnist-vae-2")
    paper = np.full((120, 120), 255, dtype=np.uint8)
    paper[20:100, 50:65] = 0  # a dark "1" on white paper
    at.file_uploader(key="map_upload").set_value(("one.png", _png(paper), "image/png")).run()
    assert_ok(at)
    assert not at.error
    star = [t for t in figures_of(at)[0]["data"] if t.get("name") == "your image"]
    assert len(star) == 1 and star[0]["marker"]["symbol"] == "star"
    assert {"what the model reads", "its reconstruction"} <= set(image_captions(at))
    assert any("inverted" in m.value for m in at.markdown)


# --------------------------------------------------------------------------- manifold


def _manifold_grid(at: AppTest) -> dict:
    return next(f for f in figures_of(at) if f["data"][0]["type"] == "image")


def test_manifold_changing_n_changes_the_grid():
    at = app(MANIFOLD, "mnist", "mnist-vae-2")
    grid = _manifold_grid(at)
    assert grid["layout"]["xaxis"]["range"] == [0, 20]
    width_20 = png_size(grid["data"][0]["source"])[0]
    at.slider(key="manifold_n").set_value(7).run()
    assert_ok(at)
    grid = _manifold_grid(at)
    assert grid["layout"]["xaxis"]["range"] == [0, 7]
    assert png_size(grid["data"][0]["source"])[0] != width_20
    density = next(f for f in figures_of(at) if f["data"][0]["type"] != "image")
    grid_points = next(t for t in density["data"] if t.get("name") == "decoded grid points")
    assert len(values(grid_points["x"])) == 49


def test_manifold_spacing_changes_the_grid_values():
    at = app(MANIFOLD, "mnist", "mnist-vae-2")
    linear = _manifold_grid(at)["layout"]["xaxis"]["ticktext"]
    at.radio(key="manifold_spacing").set_value("gaussian").run()
    assert_ok(at)
    assert _manifold_grid(at)["layout"]["xaxis"]["ticktext"] != linear


def test_manifold_rerun_decodes_nothing(monkeypatch):
    at = app(MANIFOLD, "mnist", "mnist-vae-2")
    calls = []
    original = loaders.decode
    monkeypatch.setattr(loaders, "decode", lambda *a, **k: calls.append(1) or original(*a, **k))
    at.run()
    assert_ok(at)
    assert calls == []  # the grid comes from the cache


def test_manifold_compare_shows_the_ae_beside_the_vae():
    need("mnist-ae-2")
    at = app(MANIFOLD, "mnist", "mnist-vae-2")
    at.toggle(key="manifold_compare").set_value(True).run()
    assert_ok(at)
    grids = [f for f in figures_of(at) if f["data"][0]["type"] == "image"]
    assert len(grids) == 2
    titles = [g["layout"]["title"]["text"] for g in grids]
    assert "mnist-ae-2" in titles[0] and "mnist-vae-2" in titles[1]


def test_manifold_other_dims_fixed_at_an_encoded_image():
    at = app(MANIFOLD, "mnist", "mnist-vae-16")
    before = _manifold_grid(at)["data"][0]["source"]
    at.radio(key="manifold_fix").set_value("an encoded test image").run()
    assert_ok(at)
    assert _manifold_grid(at)["data"][0]["source"] != before


# --------------------------------------------------------------------------- sliders


def test_sliders_native_slider_changes_the_decoded_image():
    at = app(SLIDERS, "mnist", "mnist-vae-2")
    at.toggle(key="sliders_native").set_value(True).run()
    assert_ok(at)
    sliders = [s for s in at.slider if s.label.startswith("z")]
    assert [s.label for s in sliders] == ["z0", "z1"]
    decoded = [img for img in at.image if "decode(z)" in img.captions]
    before = decoded[0].value
    sliders[0].set_value(2.0).run()
    assert_ok(at)
    after = [img for img in at.image if "decode(z)" in img.captions][0].value
    assert after != before


def test_sliders_one_per_dim_for_16_dims():
    at = app(SLIDERS, "mnist", "mnist-vae-16")
    at.toggle(key="sliders_native").set_value(True).run()
    assert_ok(at)
    assert len([s for s in at.slider if s.label.startswith("z")]) == 16


def test_sliders_browser_release_updates_traversals_and_code():
    at = app(SLIDERS, "mnist", "mnist-vae-2")
    (args,) = component_args(at, "latent_decoder")
    assert args["mode"] == "sliders" and args["z"] == [0.0, 0.0]
    before = image_urls(at)
    # What the browser sends on release: the user's code and the start it came from.
    at.session_state["sliders_decoder"] = {"value": {"z": [1.5, -2.0], "base": args["z_token"], "seq": 1,
                                                     "event": "release"}}
    at.run()
    assert_ok(at)
    assert image_urls(at) != before  # traversals and neighbours follow the returned code
    assert at.dataframe[-1].value.iloc[0].tolist() == pytest.approx([1.5, -2.0])


def test_sliders_start_from_an_image_and_randomize():
    at = app(SLIDERS, "mnist", "mnist-vae-2")
    at.radio(key="sliders_start").set_value("image").run()
    assert_ok(at)
    z_image = at.dataframe[-1].value.iloc[0].tolist()
    assert z_image != [0.0, 0.0]
    at.button(key="sliders_randomize").click().run()
    assert_ok(at)
    assert at.radio(key="sliders_start").value == "random"
    assert at.dataframe[-1].value.iloc[0].tolist() not in (z_image, [0.0, 0.0])


def test_sliders_switching_model_resets_traversals_to_its_dims():
    need("mnist-vae-16")
    at = app(SLIDERS, "mnist", "mnist-vae-2")
    assert len([c for c in image_captions(at) if "→" in c]) == 2  # one traversal row per dim
    at.selectbox(key="model_picker").set_value("mnist-vae-16").run()
    assert_ok(at)
    rows = [c for c in image_captions(at) if "→" in c]
    assert len(rows) == 4  # the four most informative dims of the 16
    assert len(at.dataframe[-1].value.columns) == 16


def _what_changed(at: AppTest) -> dict[str, dict]:
    """The readout's figures by their first trace's type ("bar", "heatmap"s in page order)."""
    figures = figures_of(at)
    return {"bars": [f for f in figures if f["data"][0]["type"] == "bar"],
            "heatmaps": [f for f in figures if f["data"][0]["type"] == "heatmap"]}


def _heatmap(figure: dict) -> np.ndarray:
    z = figure["data"][0]["z"]
    if isinstance(z, dict):
        return values(z).reshape([int(n) for n in z["shape"].split(",")])
    return np.asarray(z, dtype=float)


def test_sliders_what_changed_shows_the_judge_and_the_pixel_change_of_the_moved_dim():
    need("mnist-vae-16")
    at = app(SLIDERS, "mnist", "mnist-vae-16")
    at.toggle(key="sliders_native").set_value(True).run()
    at.radio(key="sliders_start").set_value("image").run()
    assert_ok(at)
    dims = at.multiselect(key="sliders_dims_mnist-vae-16").value
    dim = dims[1]
    at.selectbox(key="sliders_moved_dim_mnist-vae-16").set_value(dim).run()
    at.select_slider(key=f"sliders_moved_step_mnist-vae-16_{dim}").set_value(2).run()
    assert_ok(at)
    z = np.asarray(at.dataframe[-1].value.iloc[0].tolist(), dtype=np.float32)
    assert np.abs(z).sum() > 0  # an encoded test image, not the origin
    model = loaders.load_model(next(c for c in loaders.all_cards() if c.name == "mnist-vae-16").path).model
    moved_values = np.linspace(-3.0, 3.0, 9)  # a VAE's traversal spans its prior, +-3 standard deviations
    codes = np.repeat(z[None], 10, axis=0)
    codes[1:, dim] = moved_values
    decoded = loaders.decode(model, codes)  # decode(z), then z with the dim at each traversal value
    expected = loaders.judge_probabilities(decoded)
    shown = _what_changed(at)
    (bars,) = shown["bars"]
    assert values(bars["data"][0]["y"]) == pytest.approx(expected[0], abs=1e-4)  # the judge on decode(z)
    assert values(bars["data"][1]["y"]) == pytest.approx(expected[1 + 2], abs=1e-4)  # ... and on the moved image
    assert expected[0].sum() == pytest.approx(1.0, abs=1e-5) and len(bars["data"][0]["x"]) == 11
    probability_map, change_map = shown["heatmaps"]
    np.testing.assert_allclose(_heatmap(probability_map), expected[1:], atol=1e-4)  # a row per traversal value
    np.testing.assert_allclose(_heatmap(change_map), np.abs(decoded[1 + 2, 0] - decoded[0, 0]), atol=1e-4)
    assert _heatmap(change_map).max() > 0.05  # the moved dim changes the image


def test_sliders_what_changed_for_faces_shows_the_pixel_change_and_no_judge():
    need("frey-vae-8")
    at = AppTest.from_file(SLIDERS, default_timeout=TIMEOUT)
    at.session_state["picked_dataset"] = "frey"
    at.run()
    assert_ok(at)
    assert at.selectbox(key="model_picker").value == "frey-vae-8"
    shown = _what_changed(at)
    assert not shown["bars"] and len(shown["heatmaps"]) == 1  # the pixel change only
    assert _heatmap(shown["heatmaps"][0]).shape == (28, 20)
    assert any("judge reads MNIST digits" in i.value and "frey" in i.value for i in at.info)


@pytest.fixture
def conv_model(tmp_path, monkeypatch) -> str:
    """A convolutional 2-D VAE for MNIST-sized images (random weights), as if trained here."""
    import torch

    from core.checkpoints import save_checkpoint
    from core.models import ModelConfig, build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig("vae", (1, 28, 28), 2, hidden=(32,), architecture="conv"))
    save_checkpoint(model, tmp_path / "mnist-conv-vae-2", {"dataset": {"name": "mnist"}})
    monkeypatch.setenv("LATENT_EXPLORER_TRAINED", str(tmp_path))
    return "mnist-conv-vae-2"


def test_sliders_convolutional_decoder_is_decoded_on_the_server(conv_model):
    at = AppTest.from_file(SLIDERS, default_timeout=TIMEOUT)
    at.session_state["picked_dataset"] = "mnist"
    at.session_state["picked_model"] = conv_model
    at.run()
    assert_ok(at)
    assert at.selectbox(key="model_picker").value == conv_model
    (args,) = component_args(at, "latent_decoder")
    assert args["model"]["decoder"] is None and args["server_notice"]  # the browser cannot run a conv decoder
    at.toggle(key="sliders_native").set_value(True).run()
    assert_ok(at)
    assert any("decode(z)" in img.captions for img in at.image)


# --------------------------------------------------------------------------- unusual models


@pytest.fixture
def one_dim_model(tmp_path, monkeypatch) -> str:
    """A 1-D VAE on digits (random weights), as if trained on the Train page."""
    import torch

    from core.checkpoints import save_checkpoint
    from core.models import ModelConfig, build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig("vae", (1, 8, 8), 1, hidden=(16,)))
    save_checkpoint(model, tmp_path / "tiny-vae-1", {"dataset": {"name": "digits"}})
    monkeypatch.setenv("LATENT_EXPLORER_TRAINED", str(tmp_path))
    return "tiny-vae-1"


@pytest.mark.parametrize("page", [MAP, MANIFOLD, SLIDERS])
def test_pages_handle_a_model_with_one_latent_dim(one_dim_model, page):
    at = AppTest.from_file(page, default_timeout=TIMEOUT)
    at.session_state["picked_dataset"] = "digits"
    at.session_state["picked_model"] = one_dim_model
    at.run()
    assert_ok(at)
    assert at.selectbox(key="model_picker").value == one_dim_model
    if page == MAP:
        assert figures_of(at)[0]["layout"]["yaxis"]["title"]["text"].startswith("random spread")
    elif page == MANIFOLD:
        assert any("single latent dimension" in i.value for i in at.info) and at.image
    else:
        assert len([c for c in image_captions(at) if "→" in c]) == 1


# --------------------------------------------------------------------------- without data


@pytest.mark.parametrize("page", [MAP, MANIFOLD, SLIDERS])
def test_pages_work_without_the_data(monkeypatch, page):
    """Decoder-only views work when the dataset is not on the machine (Frey offline)."""
    need("mnist-vae-2")
    message = "frey_rawface.mat is not in the data folder (offline): download it to use the data views"
    monkeypatch.setattr(loaders, "data_for", lambda card: message)
    at = AppTest.from_file(page, default_timeout=TIMEOUT)
    at.session_state["picked_dataset"] = "mnist"
    at.session_state["picked_model"] = "mnist-vae-2"
    at.run()
    assert_ok(at)
    assert any("Data not available" in w.value for w in at.sidebar.warning)
    if page == SLIDERS:
        at.toggle(key="sliders_native").set_value(True).run()
        assert_ok(at)
        assert any("decode(z)" in img.captions for img in at.image)
    else:
        assert figures_of(at)


@pytest.mark.parametrize("page", [MAP, MANIFOLD, SLIDERS])
def test_faces_open_on_their_most_expressive_vae_and_its_most_informative_dims(page):
    """Frey once opened on frey-ae-2, and frey-vae-8's Manifold on z0/z1, unused dims (a thin line)."""
    need("frey-vae-8")
    at = AppTest.from_file(page, default_timeout=TIMEOUT)
    at.session_state["picked_dataset"] = "frey"
    at.run()
    assert_ok(at)
    card = next(c for c in loaders.all_cards() if c.name == "frey-vae-8")
    assert at.selectbox(key="model_picker").value == "frey-vae-8"
    kl = card.metrics["kl_per_dim"]
    top = sorted(range(len(kl)), key=lambda d: -kl[d])[:2]
    shown = [s.value for s in at.selectbox if s.label in ("Horizontal", "Vertical", "Horizontal dim", "Vertical dim")]
    if page != SLIDERS:
        assert shown == top and min(kl[d] for d in shown) > 0.01  # both dims carry information
