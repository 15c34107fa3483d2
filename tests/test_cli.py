"""Tests of the command line (core.__main__.main): train, sweep, list, evaluate, and the
error messages for bad arguments (naming the argument, the value and the allowed range)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from core.__main__ import main
from core.checkpoints import load_checkpoint
from core.models import VAE

# Small and fast: digits (bundled), a narrow network, two epochs.
REPO = Path(__file__).resolve().parents[1]
FAST = ["--dataset", "digits", "--hidden", "32", "--epochs", "2", "--no-download"]


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(autouse=True)
def data_dir(tmp_path_factory, monkeypatch):
    """Never touch the user's cache: the default data root is an empty temp folder."""
    root = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(root))
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One VAE trained through the CLI, shared by the list / evaluate tests."""
    folder = tmp_path_factory.mktemp("ckpts")
    argv = ["train", *FAST, "--model", "vae", "--latent-dim", "2", "--iwae-k", "10", "--out", str(folder / "vae")]
    assert main(argv) == 0
    return folder, argv


def test_train_writes_both_files_and_prints_the_table(tmp_path, capsys):
    out = tmp_path / "models" / "ae2"
    code = main(["train", *FAST, "--model", "ae", "--latent-dim", "2", "--seed", "3", "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["ae2.json", "ae2.safetensors"]
    stdout = capsys.readouterr().out
    assert f"saved {out}.safetensors and {out}.json" in stdout
    header, row = stdout.strip().splitlines()[-2:]
    assert header.split() == ["name", "kind", "dataset", "D", "beta", "MSE", "BCE@mean", "recon", "KL", "-ELBO", "IWAE", "AU",
                              "kNN", "1%"]
    assert row.split()[8] == "B"  # nats in the model's own likelihood say which, next to the number
    assert row.split()[:4] == ["ae2", "ae", "digits", "2"]
    model, card = load_checkpoint(out)
    assert card["command"] == (
        f"python -m core train --dataset digits --hidden 32 --epochs 2 --no-download --model ae "
        f"--latent-dim 2 --seed 3 --out ae2"  # cards hold no machine paths: relative to the checkpoint's folder
    )
    assert card["train_config"]["seed"] == 3 and card["epochs"] == 2 and len(card["history"]) == 2
    assert card["dataset"]["name"] == "digits" and card["metrics"]["mse"] > 0
    assert model.config.hidden == (32,)


def test_list_prints_a_table_and_json(trained, capsys):
    folder, _ = trained
    assert main(["list", str(folder)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:3] == ["name", "kind", "dataset"]
    assert lines[1].split()[:5] == ["vae", "vae", "digits", "2", "1"]
    assert main(["list", str(folder), "--json"]) == 0
    cards = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in cards] == ["vae"]
    assert cards[0]["path"] == str(folder / "vae") and cards[0]["kind"] == "vae"


def test_list_of_an_empty_folder(tmp_path, capsys):
    assert main(["list", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == f"no checkpoints in {tmp_path}"


def test_evaluate_json_reproduces_the_card_metrics(trained, capsys):
    folder, _ = trained
    assert main(["evaluate", str(folder / "vae"), "--iwae-k", "10", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"checkpoint", "dataset", "metrics"}
    assert result["dataset"]["name"] == "digits"
    metrics = result["metrics"]
    card = load_checkpoint(folder / "vae").card
    # Same weights, same test split, same seeds: the same numbers as at training time.
    for key in ("mse", "reconstruction", "kl", "neg_elbo", "iwae_nll", "active_units", "knn_accuracy"):
        assert metrics[key] == pytest.approx(card["metrics"][key], rel=1e-6), key
    assert metrics["iwae_k"] == 10 and metrics["likelihood"] == "bernoulli"
    assert metrics["neg_elbo"] == pytest.approx(metrics["reconstruction"] + metrics["kl"])


def test_evaluate_table_names_the_units(trained, capsys):
    folder, _ = trained
    assert main(["evaluate", str(folder / "vae.json"), "--iwae-k", "0"]) == 0
    out = capsys.readouterr().out
    assert "units: nats per image, bernoulli likelihood; MSE per pixel; test images: 359" in out


def test_evaluate_finds_custom_resized_data_again(tmp_path, capsys):
    """The card records the file and the resize, so `evaluate` reloads the same test split."""
    images = np.random.default_rng(0).integers(0, 256, (60, 8, 8), dtype=np.uint8)
    np.save(tmp_path / "faces.npy", images)
    out = tmp_path / "custom-ae"
    assert main(["train", "--dataset", str(tmp_path / "faces.npy"), "--image-size", "12x12", "--model", "ae",
                 "--latent-dim", "2", "--hidden", "16", "--epochs", "1", "--out", str(out)]) == 0
    card = load_checkpoint(out).card
    assert card["dataset"]["path"] == "faces.npy"  # relative to the checkpoint's folder, no machine path
    assert card["dataset"]["image_size"] == [12, 12] and card["dataset"]["image_shape"] == [1, 12, 12]
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["metrics"]["n_test"] == 12
    assert result["metrics"]["mse"] == pytest.approx(card["metrics"]["mse"], rel=1e-6)


def test_sweep_writes_one_checkpoint_per_beta(tmp_path, capsys):
    prefix = tmp_path / "sweep" / "vae2"
    assert main(["sweep", *FAST, "--model", "vae", "--latent-dim", "2", "--betas", "0,0.5,4", "--iwae-k", "0",
                 "--out", str(prefix)]) == 0
    names = sorted(p.name for p in prefix.parent.iterdir())
    assert names == sorted(f"vae2-beta{b}.{ext}" for b in ("0", "0.5", "4") for ext in ("json", "safetensors"))
    for beta in (0.0, 0.5, 4.0):
        _, card = load_checkpoint(f"{prefix}-beta{beta:g}")
        assert card.beta == beta == card["train_config"]["beta"] and "beta" not in card  # stored once
    assert capsys.readouterr().out.count("saved ") == 3


def test_a_diverging_run_exits_1_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(VAE, "decoder_output", lambda self, z: torch.full((len(z), 1, 8, 8), float("nan")))
    code = main(["train", *FAST, "--model", "vae", "--out", str(tmp_path / "bad")])
    assert code == 1
    assert "error: training diverged: the loss became nan in epoch 1" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- argument errors


def test_a_bad_setting_in_the_environment_stops_the_run_with_its_name(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_MAX_DATA_BYTES", "lots")
    assert main(["train", "--model", "pca", "--dataset", "digits", "--out", str(tmp_path / "p")]) == 2
    assert "LATENT_EXPLORER_MAX_DATA_BYTES='lots' is not a size" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def fails_with(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--beta", "-1"], r"argument --beta: invalid value '-1': must be a number in \[0, 1000\]"),
        (["--beta", "nan"], r"argument --beta: invalid value 'nan': must be a number in \[0, 1000\]"),
        (["--latent-dim", "0"], r"argument --latent-dim: invalid value '0': must be an integer >= 1"),
        (["--latent-dim", "two"], r"argument --latent-dim: invalid value 'two': expected an integer >= 1"),
        (["--epochs", "0"], r"argument --epochs: invalid value '0': must be an integer in \[1, 10000\]"),
        (["--lr", "0"], r"argument --lr: invalid value '0': must be a number in \(0, 1\]"),
        (["--image-size", "3x3"], r"argument --image-size: invalid value '3x3': expected HxW with sides in \[4, 256\]"),
        (["--image-size", "big"], r"argument --image-size: invalid value 'big': expected HxW"),
        (["--hidden", "400,-2"], r"argument --hidden: invalid value '400,-2': expected comma-separated integers >= 1"),
        (["--model", "gan"], r"argument --model: invalid choice: 'gan' \(choose from .*pca.*linear-ae.*ae.*vae"),
    ],
)
def test_bad_train_arguments_name_the_argument_value_and_range(tmp_path, capsys, args, message):
    err = fails_with(["train", *FAST, *args, "--out", str(tmp_path / "m")], capsys)
    assert re.search(message, err), err
    assert list(tmp_path.iterdir()) == []


def test_unknown_dataset(tmp_path, capsys):
    err = fails_with(["train", "--dataset", "cifar-100", "--out", str(tmp_path / "m")], capsys)
    assert "argument --dataset: unknown dataset 'cifar-100': valid names are digits, mnist" in err


def test_latent_dim_larger_than_the_input_for_pca(tmp_path, capsys):
    err = fails_with(["train", *FAST, "--model", "pca", "--latent-dim", "65", "--out", str(tmp_path / "m")], capsys)
    assert "argument --latent-dim: latent_dim=65 must be at most the number of pixels per image (64)" in err
    assert list(tmp_path.iterdir()) == []


def test_pca_latent_dim_larger_than_the_number_of_images(tmp_path, capsys):
    # 30 images of 8x8: 24 train images < 40 components <= 64 pixels.
    images = np.random.default_rng(0).integers(0, 256, (30, 8, 8), dtype=np.uint8)
    np.save(tmp_path / "tiny.npy", images)
    err = fails_with(["train", "--dataset", str(tmp_path / "tiny.npy"), "--model", "pca", "--latent-dim", "40",
                      "--out", str(tmp_path / "m")], capsys)
    assert "argument --latent-dim: latent_dim=40 is larger than PCA allows here: at most min(images, pixels) = 24" in err


def test_negative_beta_in_a_sweep(tmp_path, capsys):
    err = fails_with(["sweep", *FAST, "--betas", "0,-1", "--out", str(tmp_path / "s")], capsys)
    assert "argument --betas: invalid value '-1': must be a number in [0, 1000] (each of the comma-separated betas)" in err


def test_evaluate_refuses_a_pickle(tmp_path, capsys):
    (tmp_path / "model.pt").write_bytes(b"\x80\x04")
    err = fails_with(["evaluate", str(tmp_path / "model.pt")], capsys)
    assert "argument checkpoint:" in err and "pickled file format" in err


# --------------------------------------------------------------------------- defaults that converge


@pytest.mark.parametrize("dataset", ["digits", pytest.param("mnist", marks=pytest.mark.slow)])
def test_a_linear_ae_at_the_defaults_reaches_pcas_test_error(dataset, tmp_path, capsys):
    """`python -m core train --model linear-ae --dataset D --latent-dim 2`, no other flag, lands within
    1% of PCA's test MSE (Eckart-Young: PCA's plane is the best any linear map can do), on digits and
    on the offline MNIST subset (tested on the shipped t10k images)."""
    for kind in ("linear-ae", "pca"):
        assert main(["train", "--model", kind, "--dataset", dataset, "--latent-dim", "2",
                     "--out", str(tmp_path / kind)]) == 0
    capsys.readouterr()
    linear, pca = (load_checkpoint(tmp_path / kind)[1] for kind in ("linear-ae", "pca"))
    assert linear["train_config"]["epochs"] == 100 and linear["train_config"]["lr_schedule"] == "cosine"
    assert linear["metrics"]["n_test"] == pca["metrics"]["n_test"]
    ratio = linear["metrics"]["mse"] / pca["metrics"]["mse"]
    assert 0.995 < ratio < 1.01, ratio


@pytest.mark.parametrize("kind, epochs", [("vae", 50), ("ae", 50), ("linear-ae", 100), ("pca", 1)])
def test_each_kind_gets_its_own_training_defaults(kind, epochs, tmp_path, monkeypatch):
    seen = {}

    def fake_train_and_save(dataset, model_config, train_config, out, *args, **kwargs):
        seen["config"] = train_config
        raise SystemExit(0)

    monkeypatch.setattr("core.pipeline.train_and_save", fake_train_and_save)
    with pytest.raises(SystemExit):
        main(["train", "--model", kind, "--dataset", "digits", "--out", str(tmp_path / "m")])
    assert seen["config"].epochs == epochs
    if kind in ("vae", "ae"):
        assert seen["config"].patience > 0 and 0 < seen["config"].validation_fraction <= 0.5


@pytest.mark.parametrize("name", ["frey-vae-2", "mnist-vae-2"])
def test_evaluate_measures_a_shipped_model_on_its_own_test_images_offline(name, data_dir, capsys):
    """With an empty data directory and no network, `evaluate` finds the shipped test images
    (data/) and measures on exactly the images the card was measured on: same count, same
    fingerprint, and an -ELBO within the float16 storage's rounding of the card's."""
    from core.checkpoints import read_card

    path = REPO / "checkpoints" / name
    card = read_card(path)
    assert main(["evaluate", str(path), "--iwae-k", "0", "--no-download", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["metrics"]["n_test"] == card["metrics"]["n_test"] == card["dataset"]["n_test"]
    if "fingerprint" in card["dataset"]:
        assert result["dataset"]["fingerprint"] == card["dataset"]["fingerprint"]
    assert result["metrics"]["neg_elbo"] == pytest.approx(card["metrics"]["neg_elbo"], rel=0.005)


def test_a_collapsed_vae_is_flagged_in_the_output_and_on_its_card(tmp_path, capsys):
    """Five epochs on digits: KL ~0 in both dims (no active unit): the CLI says collapse and how to avoid it."""
    out = tmp_path / "collapsed"
    assert main(["train", "--model", "vae", "--dataset", "digits", "--epochs", "5", "--no-download",
                 "--iwae-k", "0", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    _, card = load_checkpoint(out)
    assert card["metrics"]["active_units"] == 0
    assert "warning: posterior collapse" in captured.err and "warm the KL up" in captured.err
    assert card["collapse"].startswith("posterior collapse") and "more epochs" in card["collapse"]
