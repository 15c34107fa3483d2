"""The checkpoints shipped in checkpoints/: they load, decode sensibly, carry complete cards,
fit the size budget, survive float16 storage, and `pretrain` reproduces them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.test_pretrain import EXPECTED_NAMES
import torch
from safetensors import safe_open

from core.pretrain import float16, run
from core.pretrain import specs as specs_module
from core.checkpoints import list_checkpoints, load_checkpoint, read_card
from core.pretrain import pretrain_specs, run_pretrain

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "checkpoints"
SHARED_DATA = Path(
    os.environ.get("LATENT_EXPLORER_SHARED_DATA") or REPO.parent / "shared" / "data"
)
MAX_TOTAL_BYTES = 40 * 1024 * 1024
EXPECTED = sorted(EXPECTED_NAMES)  # the names the app relies on
SPECS = {s.name: s for s in pretrain_specs()}
# Everything shipped (a checkpoint added by hand must load and decode too), and what pretrain builds.
SHIPPED_NAMES = sorted(set(EXPECTED) | {p.stem for p in SHIPPED.glob("*.json")})


pytestmark = pytest.mark.usefixtures("no_network")


def card_of(name: str) -> dict:
    return read_card(SHIPPED / name)


def metrics_of(name: str) -> dict:
    return card_of(name)["metrics"]


# ------------------------------------------------------------------------------ presence and size


def test_every_expected_checkpoint_is_shipped_as_a_pair():
    cards = list_checkpoints(SHIPPED)
    assert [c.get("error") for c in cards if "error" in c] == []
    assert set(EXPECTED) <= {c["name"] for c in cards}
    assert set(EXPECTED) == set(SPECS), "pretrain builds exactly the names the app relies on"
    files = sorted(p.name for p in SHIPPED.iterdir() if not p.name.startswith("."))
    codes = [f for f in files if f.endswith(".codes.safetensors")]  # optional: core/codes.py, issue 12
    assert {f[: -len(".codes.safetensors")] for f in codes} <= set(SHIPPED_NAMES)
    assert sorted(set(files) - set(codes)) == sorted([f"{n}.json" for n in SHIPPED_NAMES]
                                                     + [f"{n}.safetensors" for n in SHIPPED_NAMES])


def test_shipped_folder_fits_the_size_budget():
    total = sum(p.stat().st_size for p in SHIPPED.iterdir() if p.is_file())
    assert total < MAX_TOTAL_BYTES, f"checkpoints/ holds {total / 2**20:.1f} MiB, the budget is 40 MB"


# ------------------------------------------------------------------------------ every checkpoint


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_loads_and_decodes_prior_samples_into_valid_images(name):
    model, card = load_checkpoint(SHIPPED / name)  # also verifies the weights' SHA-256
    shape = tuple(card["dataset"]["image_shape"])
    assert model.image_shape == shape
    z = torch.randn((64, model.latent_dim), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        images = model.decode(z)
    assert images.shape == (64, *shape) and images.dtype == torch.float32
    assert torch.isfinite(images).all()
    assert images.min() >= 0 and images.max() <= 1


@pytest.mark.parametrize("name", EXPECTED)
def test_card_has_every_field(name):
    card = card_of(name)
    spec = SPECS[name]
    assert card["name"] == name and card["kind"] == spec.kind
    assert card["title"] == spec.title and card["description"] == spec.description
    assert card["sweep"] == spec.sweep
    assert card["precision"] == "float16"
    assert card["command"].startswith(f"python -m core pretrain --only {name}")
    if spec.dataset != "digits":
        assert "--data-dir" in card["command"] and card["rebuild_data"]
    assert "--out" not in card["command"], "shipped cards rebuild into checkpoints/"
    assert card["dataset"]["name"] == spec.dataset
    assert (card["dataset"]["n_train"], card["dataset"]["n_test"]) == specs_module.SHIPPED_SPLITS[spec.dataset]
    assert card["model_config"]["latent_dim"] == spec.latent_dim
    train = card["train_config"]
    assert (train["epochs"], train["lr"], train["beta"], train["seed"], train["device"]) == (
        spec.train.epochs, spec.train.lr, spec.train.beta, spec.train.seed, "cpu")
    assert len(card["history"]) == card["epochs"] == (1 if spec.kind == "pca" else spec.train.epochs)
    assert card["pretrain"]["threads"] == run.PRETRAIN_THREADS and card["pretrain"]["seconds"] > 0
    assert card["versions"]["torch"] and card["weights_sha256"]
    m = card["metrics"]
    assert m["n_test"] == card["dataset"]["n_test"]
    assert m["likelihood"] == card["model_config"]["likelihood"]
    for key in ("mse", "reconstruction"):
        assert isinstance(m[key], float)
    if spec.kind == "vae":
        for key in ("kl", "neg_elbo", "iwae_nll", "active_units", "kl_per_dim"):
            assert m[key] is not None, key
        assert m["iwae_k"] == 100
        assert len(m["kl_per_dim"]) == spec.latent_dim
    else:
        assert m["kl"] is None and m["neg_elbo"] is None and m["iwae_nll"] is None
    if spec.dataset != "frey":  # frey has no labels
        assert 0 < m["knn_accuracy"] <= 1 and m["knn_labels"] > 0


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_weights_are_stored_as_float16(name):
    with safe_open(str(SHIPPED / f"{name}.safetensors"), framework="pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    assert dtypes == {"F16"}


@pytest.mark.parametrize("name", EXPECTED)
def test_float16_weights_decode_like_the_float32_model(name):
    """The card keeps a few decodes of the float32 model before it was stored; the shipped
    float16 weights must reproduce them within 1e-3 per pixel."""
    model, card = load_checkpoint(SHIPPED / name)
    check = card["float16_check"]
    assert check["tolerance"] == float16.FLOAT16_TOLERANCE == 1e-3
    assert 0 <= check["max_abs_diff"] <= check["tolerance"]
    z = torch.tensor(check["reference_z"], dtype=torch.float32)
    reference = torch.tensor(check["reference_decoded_float32"], dtype=torch.float32)
    with torch.no_grad():
        decoded = model.decode(z).flatten(1)
    worst = (decoded - reference).abs().max().item()
    assert worst <= check["tolerance"], f"float16 weights move decoded pixels by {worst:.2e}"
    # the references are a real image each, not zeros
    assert reference.shape == (len(z), model.image_shape[0] * model.image_shape[1] * model.image_shape[2])
    assert reference.max() > 0.1


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_float32_arithmetic_on_the_stored_weights_matches_float64(name):
    """The loaded weights are finite and well-scaled: float32 decoding agrees with float64."""
    model, _ = load_checkpoint(SHIPPED / name)
    z = torch.randn((128, model.latent_dim), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        single = model.decode(z)
        double = model.double().decode(z.double())
    assert double.dtype == torch.float64
    assert (single.double() - double).abs().max().item() < 1e-4


# ------------------------------------------------------------------------------ what the metrics must show


def test_linear_autoencoders_reach_pca_error():
    """Eckart-Young: the best rank-2 linear reconstruction is PCA's; a trained linear AE gets within 1%."""
    for data in ("mnist", "frey", "digits"):
        pca = metrics_of(f"{data}-pca-2")["mse"]
        linear = metrics_of(f"{data}-linear-ae-2")["mse"]
        assert linear <= pca * 1.01, (data, linear, pca)


def test_mnist_vae_2_quality():
    m = metrics_of("mnist-vae-2")
    assert 135 < m["neg_elbo"] < 160
    assert m["active_units"] == 2
    assert m["iwae_nll"] < m["neg_elbo"]
    assert m["knn_accuracy"] > 0.4  # 50 labels, 10 classes
    assert m["mse"] < metrics_of("mnist-pca-2")["mse"]


def test_2d_beta_sweep_trades_kl_for_reconstruction():
    group = sorted(
        (c for c in list_checkpoints(SHIPPED) if c.get("sweep") == "mnist-vae-2" and c["train_config"]["reconstruction_weight"] > 0),
        key=lambda c: c["beta"],
    )
    assert [c["beta"] for c in group] == [0, 0.25, 0.5, 1, 2, 4, 8]
    kls = [c["metrics"]["kl"] for c in group]
    recons = [c["metrics"]["reconstruction"] for c in group]
    assert kls == sorted(kls, reverse=True), kls
    assert recons[-1] > recons[3] > recons[0], recons


def test_kl_only_model_collapses_onto_the_prior():
    m = metrics_of("mnist-vae-2-klonly")
    assert m["kl"] < 0.05 and m["active_units"] == 0


def test_larger_beta_switches_off_latent_dimensions():
    units = [metrics_of(f"mnist-vae-10-beta{b}")["active_units"] for b in (1, 4, 8)]
    assert units == sorted(units, reverse=True) and units[0] > units[-1]


# ------------------------------------------------------------------------------ reproduction


def compare_metrics(rebuilt: dict, shipped: dict, rel: float) -> None:
    for key in ("mse", "reconstruction", "kl", "neg_elbo", "iwae_nll"):
        a, b = rebuilt.get(key), shipped.get(key)
        assert (a is None) == (b is None), key
        if a is not None:
            assert a == pytest.approx(b, rel=rel, abs=0.05 if key == "kl" else 1e-6), key
    assert rebuilt["active_units"] == shipped["active_units"]


def test_pretrain_reproduces_digits_vae_2(tmp_path):
    """Same seed, same machine: the same numbers (2% allows another CPU or BLAS build)."""
    assert run_pretrain(out=tmp_path, only=["digits-vae-2"]) == 0
    rebuilt = read_card(tmp_path / "digits-vae-2")
    shipped = card_of("digits-vae-2")
    compare_metrics(rebuilt["metrics"], shipped["metrics"], rel=0.02)
    assert rebuilt["dataset"] == shipped["dataset"]
    assert rebuilt["model_config"] == shipped["model_config"]
    assert rebuilt["train_config"] == shipped["train_config"]
    assert rebuilt["command"] == f"python -m core pretrain --only digits-vae-2 --out {tmp_path}"


def test_pretrain_reproduces_mnist_pca_2(tmp_path):
    """PCA is closed form, so the rebuild must match the shipped card and weights (needs MNIST's t10k files)."""
    if not (SHARED_DATA / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST t10k files not in {SHARED_DATA / 'mnist'}")
    assert run_pretrain(out=tmp_path, data_dir=SHARED_DATA, only=["mnist-pca-2"]) == 0
    rebuilt_model, rebuilt = load_checkpoint(tmp_path / "mnist-pca-2")
    shipped_model, shipped = load_checkpoint(SHIPPED / "mnist-pca-2")
    compare_metrics(rebuilt["metrics"], shipped["metrics"], rel=1e-4)
    assert rebuilt["metrics"]["knn_accuracy"] == shipped["metrics"]["knn_accuracy"]
    z = torch.tensor(shipped["float16_check"]["reference_z"])
    with torch.no_grad():
        assert (rebuilt_model.decode(z) - shipped_model.decode(z)).abs().max() < 1e-3
