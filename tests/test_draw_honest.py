"""The Latent map's draw-and-drag section tells the truth: one class palette for Plotly and the
canvases, the drawing pad only for digit data with counts from the data shown, and beside a
drawing the labels of its nearest test images, with how much two dimensions mix the digits."""

from __future__ import annotations

import glob
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.codes import load_codes
from explorer.logic import analysis, figures, palette, spaces
from explorer.ui import loaders
from devtools.browser import component_args

ROOT = Path(__file__).resolve().parent.parent
MAP = ROOT / "pages" / "1_Latent_map.py"
HEX_LIST = re.compile(r"[\[(]\s*((?:[\"']#[0-9a-fA-F]{6}[\"']\s*,\s*){9}[\"']#[0-9a-fA-F]{6}[\"'])")


def shipped(*names: str) -> None:
    have = {p.stem for p in loaders.shipped_dir().glob("*.json")}
    if missing := [n for n in names if n not in have]:
        pytest.skip(f"checkpoint(s) {', '.join(missing)} not shipped here")


def latent_map(model: str, dataset: str, **state) -> AppTest:
    at = AppTest.from_file(str(MAP), default_timeout=240)
    at.session_state["picked_dataset"] = dataset
    at.session_state["picked_model"] = model
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def n_test(model: str) -> int:
    card = next(c for c in loaders.all_cards() if c.name == model)
    return len(loaders.encoded(card.path)[0])


def canvas_args(at: AppTest) -> dict:
    (args,) = component_args(at, "latent_canvas")
    return args


# ---- one palette -------------------------------------------------------------------------

def test_one_class_palette_is_defined_in_explorer():
    palettes = set()
    for path in glob.glob(str(ROOT / "explorer" / "**" / "*.py"), recursive=True) + glob.glob(
            str(ROOT / "explorer" / "**" / "*.js"), recursive=True):
        for m in HEX_LIST.finditer(Path(path).read_text()):
            palettes.add(tuple(c.lower() for c in re.findall(r"#[0-9a-fA-F]{6}", m.group(1))))
    assert palettes == {tuple(palette.CLASS_COLORS)}


def test_plotly_map_and_canvas_get_the_same_colours_and_star():
    shipped("mnist-ae-2")
    at = latent_map("mnist-ae-2", "mnist")
    sent = canvas_args(at)["model"]["palette"]
    assert sent["classes"] == list(palette.CLASS_COLORS)
    assert sent["class_names"] == [str(d) for d in range(10)]  # the drag map's legend
    fig = figures.latent_map(np.zeros((3, 2)), np.array([0, 2, 2]), ["zero", "one", "two"],
                             markers=[figures.MapMarker(1.0, 1.0, "your drawing")])
    two = next(t for t in fig.data if t.name == "two")
    assert two.marker.color == sent["classes"][2]
    star = next(t for t in fig.data if t.name == "your drawing")
    assert (star.marker.symbol, star.marker.color, star.marker.line.color) == (
        "star", sent["your_image"]["fill"], sent["your_image"]["line"])


def test_the_components_read_their_colours_from_python():
    for path in ("latent_decoder/plane.js", "latent_canvas/main.js", "latent_decoder/main.js", "latent_decoder/common.js"):
        source = (ROOT / "explorer" / "components" / path).read_text()
        assert "PALETTE" not in source and "#ffd700" not in source, path
    for path in ("latent_canvas/main.js", "latent_decoder/main.js"):  # from the browser model's export
        assert "setPalette(args.model.palette)" in (ROOT / "explorer" / "components" / path).read_text(), path


# ---- the draw panel only where drawing makes sense ------------------------------------------

def test_frey_gets_a_drag_map_without_the_drawing_pad_and_its_own_count():
    shipped("frey-vae-2")
    if isinstance(loaders.data_for(next(c for c in loaders.all_cards() if c.name == "frey-vae-2")), str):
        pytest.skip("the Frey data is not on this machine")
    at = latent_map("frey-vae-2", "frey")
    headings = [h.value for h in at.subheader]
    assert "Draw and drag" not in headings and "Drag through the latent space" in headings
    assert canvas_args(at)["show_drawing"] is False
    caption = next(c.value for c in at.caption if "Press and drag" in c.value)
    assert "Draw a digit" not in caption and "MNIST" not in caption
    assert f" {n_test('frey-vae-2'):,} test images of frey" in caption and "2,000" not in caption


def test_digits_get_the_pad_and_the_count_of_the_digits_test_set():
    shipped("digits-vae-2")
    at = latent_map("digits-vae-2", "digits")
    assert "Draw and drag" in [h.value for h in at.subheader] and canvas_args(at)["show_drawing"] is True
    caption = next(c.value for c in at.caption if "Press and drag" in c.value)
    assert f" {n_test('digits-vae-2'):,} test images of scikit-learn's 8 x 8 digits" in caption and "2,000" not in caption


# ---- beside the drawing: its nearest test labels, and what two dimensions mix ------------------

def sent_drawing(model: str) -> dict:
    one = np.zeros((28, 28), np.float32)
    one[4:24, 13:16] = 1.0  # a vertical bar: a 1
    value = {"z": [0.0, 0.0], "base": "-", "drawing": one.ravel().tolist(), "drawing_seq": 1}
    return {f"map_draw_{model}": {"value": value}}  # the component's state, as the browser sends it


def test_a_drawing_shows_its_nearest_labels_the_2d_mixing_and_switches_to_16d():
    shipped("mnist-vae-2", "mnist-vae-16")
    at = latent_map("mnist-vae-2", "mnist", **sent_drawing("mnist-vae-2"))
    near = next(m.value for m in at.markdown if m.value.startswith("Labels of its 10 nearest test images"))
    counts = [int(n) for n in re.findall(r"× (\d+)", near)]
    assert sum(counts) == 10 and counts == sorted(counts, reverse=True)
    note = next(i.value for i in at.info if i.value.startswith("Two dimensions mix some digits"))
    shares = [int(s) for s in re.findall(r"(\d+)% \(± ", note)]
    assert len(shares) == 2 and shares[0] < shares[1]  # 2-D against the 16-D model, both measured
    assert "mnist-vae-16" in note
    next(b for b in at.button if b.label == "Switch to mnist-vae-16 (16-D)").click().run()
    assert not at.exception and at.selectbox(key="model_picker").value == "mnist-vae-16"


def test_neighbour_agreement_against_sklearns_leave_one_out_knn():
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 400)
    means = rng.normal(size=(400, 2)) + labels[:, None] * 1.5
    got = spaces.neighbour_agreement(means, labels, k=5, at_most=400)
    right = 0
    for i in range(400):  # leave image i out, fit on the others: the same vote
        others = np.arange(400) != i
        knn = KNeighborsClassifier(5, algorithm="brute").fit(means[others], labels[others])
        proba = knn.predict_proba(means[i:i + 1])[0]
        right += int(np.argmax(proba) == labels[i])
    assert got.share == pytest.approx(right / 400, abs=0.01) and got.n == 400
    assert got.stderr == pytest.approx(np.sqrt(got.share * (1 - got.share) / 400))
    assert all(0 < share <= 1 and label != other for label, other, share in got.mixed)


def test_two_dims_mix_more_digits_than_sixteen_in_the_shipped_models():
    shipped("mnist-vae-2", "mnist-vae-16")
    two, sixteen = (load_codes(loaders.shipped_dir() / f"{n}.codes.safetensors") for n in ("mnist-vae-2", "mnist-vae-16"))
    a2 = spaces.neighbour_agreement(two.means, two.labels)
    a16 = spaces.neighbour_agreement(sixteen.means, sixteen.labels)
    assert a16.share - a16.stderr * 3 > a2.share + a2.stderr * 3


def test_larger_model_prefers_the_same_kind_and_the_textbook_one():
    cards = loaders.all_cards()
    by_name = {c.name: c for c in cards}
    if "mnist-vae-2" not in by_name or "mnist-vae-16" not in by_name:
        pytest.skip("the shipped MNIST VAEs are not here")
    assert analysis.larger_model(cards, by_name["mnist-vae-2"]).name == "mnist-vae-16"
    assert analysis.larger_model(cards, by_name["mnist-vae-16"]) is None or \
        analysis.larger_model(cards, by_name["mnist-vae-16"]).latent_dim > 16
    assert all(analysis.larger_model(cards, c) is None or analysis.larger_model(cards, c).dataset_name == c.dataset_name
               for c in cards)
