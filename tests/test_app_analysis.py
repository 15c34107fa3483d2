"""AppTest for the analysis pages (Interpolation, Beta and the tradeoff, Compare, Train).

Each page renders without an exception on the shipped checkpoints, and driving its main
widget changes what is shown. The Train page trains a tiny digits model for real (into a
temporary workspace) and rejects a bad upload; test_app_sessions.py has the shared-server cases.
"""

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.checkpoints import list_checkpoints
from explorer.logic import analysis, plaintext
from explorer.ui import loaders

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = loaders.shipped_dir()
needs_shipped = pytest.mark.skipif(
    not any(SHIPPED.glob("*.json")),
    reason=f"no shipped checkpoints in {SHIPPED}: build them with `python -m core pretrain`",
)


def page(name: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def values(v) -> np.ndarray:
    """A trace's x / y as an array (Plotly writes numpy arrays as base64 'bdata')."""
    if isinstance(v, dict) and "bdata" in v:
        out = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return out.reshape(v["shape"]) if "shape" in v else out
    return np.asarray(v if v is not None else [])


def figures(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def figure_with(at: AppTest, trace_name: str) -> dict:
    found = [f for f in figures(at) if any(trace_name in (t.get("name") or "") for t in f["data"])]
    assert found, f"no chart with a trace named {trace_name!r}"
    return found[0]


def shipped_cards() -> list[dict]:
    return [c for c in loaders.all_cards() if c.get("origin") == "shipped"]


# --------------------------------------------------------------------------- Beta


@needs_shipped
def test_beta_page_slider_moves_the_map_and_the_highlight():
    groups = analysis.sweep_groups(loaders.all_cards())
    if not groups:
        pytest.skip("no beta sweep among the checkpoints")
    at = page("5_Beta_and_tradeoff.py")
    name = at.selectbox(key="beta_sweep_mnist").value
    group = groups[name]
    slider = at.select_slider(key=f"beta_value_{name}")
    first = float(slider.value)

    def state() -> tuple[np.ndarray, tuple[float, float]]:
        rd = figure_with(at, "chosen")
        chosen = next(t for t in rd["data"] if t["name"].startswith("chosen"))
        latent = figures(at)[0]  # the latent map comes first
        xy = np.concatenate([values(t["x"]) for t in latent["data"] if t["type"] == "scattergl"])
        return xy, (float(values(chosen["x"])[0]), float(values(chosen["y"])[0]))

    xy_before, point_before = state()
    other = next(b for b in group.betas if b != first)
    at.select_slider(key=f"beta_value_{name}").set_value(other).run()
    assert not at.exception, [e.value for e in at.exception]
    xy_after, point_after = state()
    m = group.at_beta(other)["metrics"]  # the curve, the headline and the map: one sweep
    assert point_after == pytest.approx((m["kl"], m["reconstruction"]))
    headline = {mt.label: mt.value for mt in at.metric}
    assert headline["Reconstruction (distortion), nats"].startswith(f"{m['reconstruction']:.1f}")
    assert point_after != point_before
    assert xy_after.shape == xy_before.shape and not np.allclose(xy_after, xy_before)
    assert any("nats per image" in c.value for c in at.caption)


@needs_shipped
def test_beta_page_never_shows_reconstruction_falling_with_beta_unless_it_says_noise():
    """The 2-D sweep's headline once fell from 154.0 (beta 0.5) to 152.0 (beta 1) with no word about it."""
    at = page("5_Beta_and_tradeoff.py")
    at.selectbox(key="beta_sweep_mnist").set_value("mnist-vae-2").run()
    group = analysis.sweep_groups(loaders.all_cards())["mnist-vae-2"]
    previous = None
    for b in group.betas:
        at.select_slider(key="beta_value_mnist-vae-2").set_value(b).run()
        assert not at.exception, [e.value for e in at.exception]
        shown = float(next(m.value for m in at.metric if m.label.startswith("Reconstruction")).split()[0])
        if previous is not None and shown < previous:
            assert any("within training noise" in i.value for i in at.info), (b, shown, previous)
        previous = shown
    rd = figure_with(at, "chosen")  # the curve is this sweep's, with its measured spread
    assert len(values(rd["data"][0]["x"])) == len(group.betas)


@needs_shipped
def test_beta_page_offers_the_faces_sweep_in_its_dataset_picker():
    at = page("5_Beta_and_tradeoff.py")
    assert "frey" in at.selectbox(key="dataset_picker").options
    at.selectbox(key="dataset_picker").set_value("frey").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="beta_sweep_frey").value == "frey-vae-2"
    assert "faces" not in "".join(i.value for i in at.info)  # no silent switch to another dataset
    assert any("393 test images" in c.value for c in at.caption)  # the count of the data shown


# --------------------------------------------------------------------------- Interpolation


@needs_shipped
def test_interpolation_steps_change_the_path():
    at = page("4_Interpolation.py")
    assert any("images 1 to 10" in c for im in at.image for c in im.captions)
    at.slider(key="interp_steps").set_value(5).run()
    assert not at.exception
    assert any("images 1 to 5" in c for im in at.image for c in im.captions)
    assert not any(t["type"] == "scatter" for t in figure_with(at, "")["data"]), "a 5-image pair is not placed"
    assert any("not placed among them" in c.value for c in at.caption)
    at.radio(key="interp_method").set_value("spherical").run()
    assert not at.exception
    if any(r.key == "interp_mode" for r in at.radio):
        at.radio(key="interp_mode").set_value("Random").run()
        assert not at.exception
        at.button(key="interp_random").click().run()
        assert not at.exception


# --------------------------------------------------------------------------- Compare


@needs_shipped
def test_compare_page_shows_each_kind_and_the_subspace_angle():
    at = page("6_Compare.py")
    table = next(d.value for d in at.dataframe if "kind" in d.value.columns)  # the test metrics
    kinds = list(table["kind"])
    assert len(kinds) >= 2 and kinds == sorted(kinds, key=analysis.KIND_ORDER.index)
    if {"pca", "linear-ae"} <= set(kinds):
        assert any("up to a rotation/scale inside it" in m.value for m in at.markdown)
    # the latent maps: one figure, one map per model titled by its kind, each on its own axes
    (maps,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.proto.id and "compare_maps" in c.proto.id]
    titles = [a["text"] for a in maps["layout"]["annotations"]]
    assert len(titles) == len(kinds) and all(t.startswith("<b>") for t in titles)
    assert {t.get("xaxis", "x") for t in maps["data"]} == {"x"} | {f"x{k}" for k in range(2, len(kinds) + 1)}
    before = [m.value for m in at.markdown]
    if any(b.key == "compare_shuffle" for b in at.button):
        at.button(key="compare_shuffle").click().run()
        assert not at.exception and [m.value for m in at.markdown] == before


# --------------------------------------------------------------------------- Train


@pytest.fixture
def trained_here(tmp_path, monkeypatch):
    """Every session's workspace goes under tmp_path/workspaces."""
    monkeypatch.setenv("LATENT_EXPLORER_WORKSPACES", str(tmp_path / "workspaces"))
    monkeypatch.setenv("LATENT_EXPLORER_PUBLISHED", str(tmp_path / "published"))
    return tmp_path / "workspaces"


def test_train_page_trains_a_tiny_digits_model(trained_here):
    at = page("7_Train.py")
    at.selectbox(key="train_dataset").set_value("digits")
    at.number_input(key="train_epochs_vae").set_value(5)
    at.text_input(key="train_name").set_value("apptest-digits").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.button(key="train_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (job,) = at.session_state["train_jobs"]
    assert job.wait(300), "the job did not finish"
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Saved **apptest-digits**" in s.value for s in at.success)
    # five epochs on digits collapse (KL ~0 in both dims): the page says so, with the fixes
    warnings = [w.value for w in at.warning if "collapse" in w.value]
    assert warnings and "warm the KL up" in warnings[0] and "more epochs" in warnings[0]
    models = trained_here / at.session_state["_workspace_token"] / "models"
    assert (models / "apptest-digits.safetensors").exists()
    (card,) = list_checkpoints(models)
    assert card["name"] == "apptest-digits" and len(card["history"]) == 5 and card["trained_in_app"]
    assert isinstance(loaders.data_for(card), type(job.spec.dataset))


def test_train_page_defaults_the_likelihood_to_the_one_the_data_suits(trained_here):
    """A Bernoulli VAE collapses on the faces at the page's defaults; a Gaussian one does not."""
    at = page("7_Train.py")
    at.selectbox(key="train_dataset").set_value("digits").run()
    assert at.radio(key="train_likelihood_bernoulli").value == "bernoulli"
    at.selectbox(key="train_dataset").set_value("frey").run()
    assert not at.exception
    assert at.radio(key="train_likelihood_gaussian").value == "gaussian"


def test_train_page_rejects_a_bad_upload_and_bad_settings(trained_here):
    at = page("7_Train.py")
    at.number_input(key="train_dim").set_value(100).run()  # digits have 64 pixels
    assert any("latent_dim=100 must be at most the number of pixels" in e.value for e in at.error)
    assert at.button(key="train_start").disabled
    if shipped_cards():
        at.number_input(key="train_dim").set_value(2)
        at.text_input(key="train_name").set_value(shipped_cards()[0]["name"]).run()
        assert any("is a shipped checkpoint" in e.value for e in at.error)
    at.text_input(key="train_name").set_value("bad name!").run()
    assert any("letters, digits" in e.value for e in at.error)
    at.radio(key="train_source").set_value("Your .npz / .npy file").run()
    at.file_uploader(key="train_upload").set_value(("broken.npz", b"this is not numpy", "application/octet-stream"))
    at.run()
    assert not at.exception
    assert any(e.value.startswith(plaintext.markdown_text("broken.npz: ")) for e in at.error), [e.value for e in at.error]
    assert at.button(key="train_start").disabled
    assert not trained_here.exists() or not [p for p in trained_here.rglob("*") if p.is_file()]


# --------------------------------------------------------------------------- without the data


@pytest.fixture
def faces_without_data(tmp_path, monkeypatch):
    """Untrained frey-shaped checkpoints (the four kinds and a 2-member beta sweep) whose data
    is not on this machine: an empty data root, and no network (or a failing download)."""
    import torch

    from core.checkpoints import save_checkpoint
    from core.models import ModelConfig, build_model

    folder = tmp_path / "checkpoints"
    torch.manual_seed(0)
    for name, kind, beta in [("frey-pca-2", "pca", 1.0), ("frey-linear-ae-2", "linear-ae", 1.0),
                             ("frey-ae-2", "ae", 1.0), ("frey-vae-2", "vae", 1.0), ("frey-vae-2-beta4", "vae", 4.0)]:
        model = build_model(ModelConfig(kind, (1, 28, 20), 2, hidden=(16,), likelihood="gaussian"))
        if kind == "pca":
            with torch.no_grad():
                model.components.copy_(torch.linalg.qr(torch.randn(560, 2))[0].T)
                model.mean.fill_(0.5)
        vae = kind == "vae"
        metrics = {"mse": 0.02, "reconstruction": 900.0 + 10 * beta, "kl": 6.0 / beta if vae else None,
                   "kl_per_dim": [3.0 / beta, 3.0 / beta] if vae else None, "neg_elbo": 906.0 if vae else None,
                   "active_units": 2 if vae else None, "knn_accuracy": None, "likelihood": "gaussian"}
        card = {"dataset": {"name": "frey"}, "metrics": metrics, "sweep": "frey-vae-2" if vae else None,
                "train_config": {"beta": beta, "reconstruction_weight": 1.0}, "title": name,
                "history": [{"epoch": 1, "train_reconstruction": 950.0, "test_reconstruction": 940.0,
                             "train_kl": 5.0 if vae else 0.0, "test_kl": 5.0 if vae else None}]}
        save_checkpoint(model, folder / name, card)
    monkeypatch.setenv("LATENT_EXPLORER_CHECKPOINTS", str(folder))
    monkeypatch.setenv("LATENT_EXPLORER_TRAINED", str(tmp_path / "trained"))
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path / "no-data"))
    # as if the repository's data/ were gone too (the faces ship there now): nothing to load
    from core.data import bundled

    monkeypatch.setattr(bundled, "BUNDLED_DIR", tmp_path / "no-bundled-data")
    return folder


@pytest.mark.parametrize("name", ["4_Interpolation.py", "5_Beta_and_tradeoff.py", "6_Compare.py"])
def test_pages_say_the_data_is_missing_and_keep_the_decoder_parts(faces_without_data, name):
    at = page(name)
    assert any("frey_rawface.mat" in w.value for w in at.warning), [w.value for w in at.warning]
    assert len(at.image) > 0, "the decoder-only pictures are still drawn"
    if name == "4_Interpolation.py":
        assert any("drawn from N(0, I)" in w.value for w in at.warning)
        assert any("No measurements over many pairs" in i.value for i in at.info)  # models never measured
    if name == "5_Beta_and_tradeoff.py":
        assert figure_with(at, "chosen")
    if name == "6_Compare.py":
        assert len(at.dataframe[0].value) == 4


@pytest.mark.parametrize("kind", ["linear-ae", "ae", "vae"])
def test_train_page_offers_each_kinds_converging_defaults(kind):
    """The Train page's epochs and learning rate follow the model kind (core.train.KIND_DEFAULTS),
    so a student who only presses Train gets a linear AE that reaches PCA's plane."""
    from core.train import KIND_DEFAULTS

    at = page("7_Train.py")
    at.selectbox(key="train_kind").set_value(kind).run()
    assert not at.exception
    assert at.number_input(key=f"train_epochs_{kind}").value == KIND_DEFAULTS[kind]["epochs"]
    assert at.number_input(key=f"train_lr_{kind}").value == pytest.approx(KIND_DEFAULTS[kind]["lr"])
    assert any("schedule" in c.value for c in at.caption)


@needs_shipped
def test_a_vae_trained_here_joins_the_sweep_of_its_data_and_dimension_or_the_page_says_why(trained_here):
    import torch

    from core.checkpoints import save_checkpoint
    from core.models import ModelConfig, build_model

    published = trained_here.parent / "published"
    torch.manual_seed(0)
    for name, dim, kl, recon in (("mine-beta3", 2, 3.0, 158.0), ("mine-3d", 3, 9.0, 140.0)):
        model = build_model(ModelConfig(kind="vae", image_shape=(1, 28, 28), latent_dim=dim, hidden=(8,)))
        save_checkpoint(model, published / name, {
            "dataset": {"name": "mnist", "n_test": 10000, "image_shape": [1, 28, 28]},
            "train_config": {"beta": 3.0, "reconstruction_weight": 1.0},
            "metrics": {"kl": kl, "reconstruction": recon, "kl_per_dim": [kl / dim] * dim}})
    at = page("5_Beta_and_tradeoff.py")
    at.selectbox(key="beta_sweep_mnist").set_value("mnist-vae-2").run()
    assert not at.exception, [e.value for e in at.exception]
    curve = figure_with(at, "your models")
    (mine,) = [t for t in curve["data"] if t["name"] == "your models"]
    assert list(mine["text"]) == ["mine-beta3"] and values(mine["y"])[0] == 158.0
    captions = " ".join(c.value for c in at.caption)
    assert "**mine-beta3** (β = 3)" in captions
    assert "Not on this curve: **mine-3d** is a 3-D VAE on mnist; this sweep is 2-D on mnist." in captions
