"""Issue 11, items 3-6: the menu, shareable links (?model=, ?z=, ?beta=), downloads, denoising.

Pure parts (explorer.logic.share, exports, denoising) first; then every page under AppTest
with good and bad query parameters: a bad one falls back to the default with a visible
note, never an exception. The browser side is in tests/test_share_browser.py.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.card import Card
from core.checkpoints import load_checkpoint
from core.pipeline import train_and_save
from core.runspec import RunSpec
from explorer.logic import denoising, exports, share
from explorer.ui import home, loaders

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 180


def shipped(*names: str) -> None:
    have = {p.stem for p in loaders.shipped_dir().glob("*.json")}
    missing = [n for n in names if n not in have]
    if missing:
        pytest.skip(f"checkpoint(s) {', '.join(missing)} not in {loaders.shipped_dir()}")


# ---- explorer.logic.share ------------------------------------------------------------------

def test_floats_parse_and_format_round_trip():
    assert share.parse_floats("z", "0.5, -1.25,3").value == (0.5, -1.25, 3.0)
    assert share.parse_floats("z", share.format_floats([0.5, -1.25, 0.0, -0.0001, 2.0]), 5).value == (
        0.5, -1.25, 0.0, 0.0, 2.0)
    assert share.format_floats([1 / 3, -2.5]) == "0.333,-2.5"
    assert share.parse_floats("z", None) == (None, None) and share.parse_floats("z", "") == (None, None)


@pytest.mark.parametrize("text,words", [
    ("1,2,3", "has 3 values"),
    ("1,nan", "not a finite number"),
    ("inf,1", "not a finite number"),
    ("1,abc", "is not a number"),
    ("1,", "is not a number"),
    ("1e9,0", "beyond"),
    ("1," * 5000, "characters long"),
])
def test_bad_floats_are_refused_with_a_reason(text, words):
    parsed = share.parse_floats("z", text, length=2)
    assert parsed.value is None and words in parsed.problem


def test_choices_and_numbers_in_a_list():
    assert share.parse_choice("model", "b", ["a", "b"]).value == "b"
    refused = share.parse_choice("model", "`evil` [x](http://x)\nline", ["a"])
    assert refused.value is None and refused.problem.count("`") == 2 and "\n" not in refused.problem
    assert share.parse_number_in("beta", "4", [0.5, 1.0, 4.0]).value == 4.0
    assert share.parse_number_in("beta", "4.0000", [0.5, 1.0, 4.0]).value == 4.0
    assert "not a β" in share.parse_number_in("beta", "3", [1.0, 4.0], what="β").problem
    assert "not one number" in share.parse_number_in("beta", "1,4", [1.0, 4.0]).problem
    assert "not a number" in share.parse_number_in("beta", "x", [1.0]).problem


def test_view_url_keeps_the_page_and_encodes_the_state():
    url = share.view_url("http://host:8501/Latent_sliders?old=1", {"model": "mnist-vae-16", "z": "0.5,-1"})
    assert url == "http://host:8501/Latent_sliders?model=mnist-vae-16&z=0.5,-1"
    assert share.view_url(None, {"beta": "4"}) == "?beta=4"
    assert share.view_url("http://h/", {}) == "http://h/"


# ---- explorer.logic.exports ----------------------------------------------------------------

def test_png_bytes_and_data_uris_keep_the_size():
    from explorer.logic.manifold_figures import png_data_uri

    picture = np.random.default_rng(0).random((30, 45))
    png = exports.png_bytes(picture)
    assert Image.open(io.BytesIO(png)).size == (45, 30)
    assert exports.png_from_data_uri(png_data_uri(picture)).startswith(exports.PNG_SIGNATURE)
    with pytest.raises(ValueError):
        exports.png_from_data_uri("not a data uri")


def test_codes_csv_columns_for_an_ae_and_a_vae():
    means = np.arange(12, dtype=float).reshape(4, 3)
    frame = pd.read_csv(io.BytesIO(exports.csv_bytes(exports.codes_frame(np.arange(4), means, labels=[1, 0, 1, 2]))))
    assert list(frame.columns) == ["index", "label", "z0", "z1", "z2"] and len(frame) == 4
    logvars = np.zeros((4, 3))
    frame = pd.read_csv(io.BytesIO(exports.csv_bytes(exports.codes_frame(np.arange(4), means, logvars, None))))
    assert list(frame.columns) == ["index", "label", "z0", "z1", "z2", "logvar0", "logvar1", "logvar2",
                                   "sigma0", "sigma1", "sigma2"]
    assert frame["label"].isna().all() and np.allclose(frame["sigma1"], 1.0)


def test_checkpoint_zip_holds_the_pair(tmp_path):
    shipped("digits-ae-2")
    stem = loaders.shipped_dir() / "digits-ae-2"
    with zipfile.ZipFile(io.BytesIO(exports.checkpoint_zip(stem))) as archive:
        assert sorted(archive.namelist()) == ["digits-ae-2.json", "digits-ae-2.safetensors"]
        archive.extractall(tmp_path)
    assert load_checkpoint(tmp_path / "digits-ae-2").card["name"] == "digits-ae-2"
    with pytest.raises(FileNotFoundError):
        exports.checkpoint_zip(tmp_path / "nothing")


# ---- explorer.logic.denoising --------------------------------------------------------------

def test_corruption_is_seeded_and_bounded():
    x = np.full((3, 1, 8, 8), 0.5, np.float32)
    masked = denoising.corrupt(x, "mask", 0.5, seed=1)
    assert 0.3 < (masked == 0).mean() < 0.7 and set(np.unique(masked)) <= {0.0, 0.5}
    noisy = denoising.corrupt(x, "gaussian", 0.3, seed=1)
    assert noisy.min() >= 0 and noisy.max() <= 1 and not np.allclose(noisy, x)
    assert np.array_equal(noisy, denoising.corrupt(x, "gaussian", 0.3, seed=1))
    assert np.array_equal(denoising.corrupt(x, "mask", 0.0), x)
    assert denoising.mse_per_pixel(masked, x) == pytest.approx(0.25 * (masked == 0).mean())
    with pytest.raises(ValueError):
        denoising.corrupt(x, "salt", 0.1)


def test_find_denoiser_by_name_or_by_input_noise():
    def card(name, noise=0.0, kind="ae", origin="shipped"):
        return Card.from_dict({"name": name, "kind": kind, "dataset": {"name": "mnist"},
                               "model_config": {"latent_dim": 2, "input_noise": noise}}, origin=origin)

    plain, dae, other = card("mnist-ae-2"), card("mnist-dae-2", 0.3), card("my-noisy", 0.5, origin="trained")
    assert denoising.find_denoiser([plain, other, dae], "mnist", 2).name == "mnist-dae-2"
    assert denoising.find_denoiser([plain, other], "mnist", 2).name == "my-noisy"
    assert denoising.find_denoiser([plain], "mnist", 2) is None
    from explorer.logic import analysis
    assert [c.name for c in analysis.models_of([plain, dae], "mnist", 2, "ae")] == ["mnist-ae-2"]


# ---- the menu ------------------------------------------------------------------------------

def test_menu_has_home_first_emoji_icons_and_every_page():
    files = {p.name for p in (ROOT / "pages").glob("*.py")}
    assert {Path(p.path).name for p in (home.HOME, *home.PAGES)} == files
    for page in (home.HOME, *home.PAGES):
        assert page.icon and not page.icon.startswith(":"), f"{page.label}: {page.icon} is not an emoji"
    assert [p.url_path for p in home.PAGES][:3] == ["Latent_map", "Manifold", "Latent_sliders"]
    assert "material" not in (ROOT / "streamlit_app.py").read_text()
    for page in (ROOT / "pages").glob("*.py"):
        assert ":material/" not in page.read_text(), page.name


def test_router_opens_home():
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.title[0].value == "Latent explorer"
    assert any(c.value.startswith("?") or "://" in c.value for c in at.sidebar.code)  # the link box


# ---- query parameters, page by page ---------------------------------------------------------

def run_page(name: str, **params: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=TIMEOUT)
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def notes(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if "link was not used" in w.value]


@pytest.mark.parametrize("page", ["1_Latent_map.py", "2_Manifold.py"])
def test_model_param_picks_dataset_and_model(page):
    shipped("digits-ae-2", "mnist-vae-2")
    at = run_page(page, model="digits-ae-2")
    assert at.selectbox(key="dataset_picker").value == "digits"
    assert at.selectbox(key="model_picker").value == "digits-ae-2"
    assert at.query_params["model"] == "digits-ae-2" and not notes(at)


@pytest.mark.parametrize("bad", ["no-such-model", "x" * 10_000, "mnist-vae-2\n<script>", ""])
def test_bad_model_param_falls_back_with_a_note(bad):
    shipped("mnist-vae-2")
    at = run_page("1_Latent_map.py", model=bad)
    assert at.selectbox(key="model_picker").value == "mnist-vae-2"
    assert len(notes(at)) == (1 if bad else 0)
    assert at.query_params["model"] == "mnist-vae-2"  # the URL now says what is shown
    at.run()  # the note stays while the fallback is shown...
    assert len(notes(at)) == (1 if bad else 0)
    at.selectbox(key="model_picker").set_value("mnist-ae-2").run()  # ...and goes when the user picks
    assert not notes(at) and at.query_params["model"] == "mnist-ae-2"


def test_home_ignores_the_model_param():
    shipped("mnist-vae-2", "mnist-ae-2")
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.query_params["model"] = "mnist-ae-2"  # the home page's picker is its own (VAEs): the link is not for it
    at.run()
    assert not at.exception and not notes(at)


def test_sliders_apply_a_valid_code_and_keep_it():
    shipped("mnist-vae-16")
    z = ",".join(f"{v:g}" for v in np.linspace(-1.5, 1.5, 16))
    at = run_page("3_Latent_sliders.py", model="mnist-vae-16", z=z)
    assert at.radio(key="sliders_start").value == "link" and not notes(at)
    table = at.dataframe[-1].value
    assert np.allclose(table.to_numpy()[0], np.linspace(-1.5, 1.5, 16), atol=1e-6)
    assert np.allclose([float(v) for v in at.query_params["z"].split(",")], np.linspace(-1.5, 1.5, 16), atol=1e-3)
    at.radio(key="sliders_start").set_value("zero").run()  # the user moves on: the URL follows
    assert at.query_params["z"] == ",".join(["0"] * 16)


@pytest.mark.parametrize("z", ["1,2", "1,nan," + "0," * 14 + "0", "inf" + ",0" * 15, "a" + ",0" * 15,
                               "0," * 3000, "1e300" + ",0" * 15])
def test_sliders_refuse_a_bad_code_with_a_note(z):
    shipped("mnist-vae-16")
    at = run_page("3_Latent_sliders.py", model="mnist-vae-16", z=z)
    assert at.radio(key="sliders_start").value == "zero"
    assert len(notes(at)) == 1 and "z" in notes(at)[0]
    assert "link" not in at.radio(key="sliders_start").options


def test_beta_param_sets_the_slider_or_falls_back():
    shipped("mnist-vae-2", "mnist-vae-2-beta4")
    from explorer.logic import analysis

    default = analysis.sweep_groups(loaders.all_cards())[analysis.default_sweep(
        analysis.sweep_groups(loaders.all_cards()), "mnist")]
    at = run_page("5_Beta_and_tradeoff.py", beta="4")
    assert at.select_slider[0].value == 4.0 and not notes(at)
    assert at.query_params["beta"] == "4" and at.query_params["model"] == default.at_beta(4.0).name
    for bad in ("3", "abc", "nan", "1,4", "9" * 5000):
        at = run_page("5_Beta_and_tradeoff.py", beta=bad)
        assert at.select_slider[0].value == 1.0 and len(notes(at)) == 1, bad
        assert at.query_params["beta"] == "1"


def test_beta_page_follows_a_model_of_a_sweep_or_notes_another_model():
    shipped("mnist-vae-2", "mnist-ae-2")
    from explorer.logic import analysis

    groups = analysis.sweep_groups(loaders.all_cards())
    name, group = next(((n, g) for n, g in groups.items() if n != "mnist-vae-2"), ("mnist-vae-2", groups["mnist-vae-2"]))
    member = group.models[-1]  # the largest beta
    at = run_page("5_Beta_and_tradeoff.py", model=member.name)
    assert at.sidebar.selectbox(key=f"beta_sweep_{group.dataset}").value == name and not notes(at)
    assert at.select_slider[0].value == group.betas[-1] and at.query_params["model"] == member.name
    at = run_page("5_Beta_and_tradeoff.py", model="mnist-ae-2")
    assert len(notes(at)) == 1
    assert at.sidebar.selectbox(key="beta_sweep_mnist").value == analysis.default_sweep(groups, "mnist")


@pytest.mark.parametrize("page", ["4_Interpolation.py", "6_Compare.py"])
def test_dataset_pages_follow_the_model_param(page):
    shipped("digits-ae-2")
    assert run_page(page, model="digits-ae-2").selectbox(key="dataset_picker").value == "digits"
    at = run_page(page, model="nope")
    assert at.selectbox(key="dataset_picker").value == "mnist" and len(notes(at)) == 1


# ---- the Compare page's denoising section ----------------------------------------------------

@pytest.fixture(scope="module")
def digits_dae(tmp_path_factory, digits):
    folder = tmp_path_factory.mktemp("dae")
    model_config, train_config = RunSpec("ae", 2, hidden=(32,), input_noise=0.3, epochs=2).configs(digits)
    train_and_save(digits, model_config, train_config, folder / "digits-dae-2", eval_images=200)
    return folder


def compare_digits(monkeypatch, trained: Path) -> AppTest:
    """The Compare page on digits (the shipped AE and VAE), with ``trained`` as the published folder."""
    shipped("digits-ae-2", "digits-vae-2")
    monkeypatch.setenv("LATENT_EXPLORER_TRAINED", str(trained))
    at = AppTest.from_file(str(ROOT / "pages" / "6_Compare.py"), default_timeout=TIMEOUT)
    at.session_state["picked_dataset"] = "digits"
    at.run()
    assert not at.exception
    return at


def test_compare_says_when_there_is_no_denoising_ae(monkeypatch, tmp_path):
    at = compare_digits(monkeypatch, tmp_path)
    note = next(i.value for i in at.info if "No denoising autoencoder" in i.value)
    assert "digits-dae-2" not in note and all(name in note for name in denoising.shipped_denoisers())
    labels = [m.label for m in at.metric]
    assert any(lab.startswith("AE:") for lab in labels) and any(lab.startswith("VAE:") for lab in labels)


def test_compare_shows_the_denoising_ae_and_errors_against_clean_images(monkeypatch, digits_dae):
    at = compare_digits(monkeypatch, digits_dae)
    errors = {m.label.split(":")[0]: float(m.value) for m in at.metric if "vs clean" in m.label}
    assert set(errors) == {"AE", "Denoising AE", "VAE"}, errors
    at.radio(key="denoise_kind").set_value("mask").run()
    at.slider(key="denoise_amount_mask").set_value(0.0).run()
    clean = {m.label.split(":")[0]: float(m.value) for m in at.metric if "vs clean" in m.label}
    at.slider(key="denoise_amount_mask").set_value(0.8).run()
    noisy = {m.label.split(":")[0]: float(m.value) for m in at.metric if "vs clean" in m.label}
    assert not at.exception and all(noisy[k] > clean[k] for k in clean), (clean, noisy)


def test_compare_denoising_sentences_follow_the_measured_errors(monkeypatch, tmp_path):
    at = compare_digits(monkeypatch, tmp_path)
    page = " ".join(m.value for m in at.markdown)
    assert "smooths over small" not in page
    errors = {m.label.split(":")[0]: float(m.value) for m in at.metric if "vs clean" in m.label}
    sentence = next(m.value for m in at.markdown if "minus the AE" in m.value)
    assert "95% CI" in sentence and "images" in sentence
    if "level" not in sentence:  # the lower measured error is the one named closer to the clean images
        closer = "The VAE" if errors["VAE"] < errors["AE"] else "The AE"
        assert sentence.startswith(closer), (sentence, errors)
    levels = next(d.value for d in at.dataframe if "noise" in d.value.columns)  # every noise level, measured
    assert list(levels["noise"]) == [denoising.noise_label(k, a) for k, a in denoising.NOISE_LEVELS]
    assert levels["VAE − AE"].str.contains(r"\(.+ to .+\)").all()
