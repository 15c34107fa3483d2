"""The GPU path, tested on the CPU where it can be: mixed precision (bf16 autocast),
the 4-stage conv for 64x64 faces, a folder streamed through torchvision with DataLoader workers.
The CUDA tests at the end are skipped, with the reason, where no GPU is visible."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core import amp, streaming
from core.__main__ import main
from core.checkpoints import load_checkpoint, save_checkpoint
from core.data import DatasetError, load_dataset
from core.models import ModelConfig, build_model, count_parameters, default_conv_stages
from core.train import TrainConfig, fit

pytestmark = pytest.mark.usefixtures("single_thread")

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA GPU visible (torch.cuda.is_available() is False)")


# ------------------------------------------------------------------------------ mixed precision


def test_amp_modes_resolve_per_device():
    cpu = torch.device("cpu")
    assert amp.resolve("off", cpu).dtype is None
    assert amp.resolve("auto", cpu).dtype == torch.bfloat16 and amp.resolve("auto", cpu).scaler is None
    assert amp.resolve("bf16", cpu).name == "bf16"
    with pytest.raises(ValueError, match="amp='fp16' needs CUDA"):
        amp.resolve("fp16", cpu)
    with pytest.raises(ValueError, match="amp='half' is not one of"):
        TrainConfig(amp="half").validate()


def test_bf16_autocast_trains_to_about_the_float32_elbo_on_the_cpu(digits):
    x, t = torch.from_numpy(digits.train_images), torch.from_numpy(digits.test_images)
    elbo = {}
    for mode in ("off", "bf16"):
        torch.manual_seed(0)
        model = build_model(ModelConfig("vae", digits.image_shape, latent_dim=2, hidden=(64,)))
        result = fit(model, x, t, TrainConfig(epochs=4, batch_size=64, amp=mode, device="cpu"))
        elbo[mode] = result.history[-1].test_neg_elbo
        assert next(model.parameters()).dtype == torch.float32  # weights stay float32
    assert np.isfinite(elbo["bf16"]) and abs(elbo["bf16"] - elbo["off"]) < 0.05 * elbo["off"], elbo


@pytest.mark.parametrize("scaled", [False, True], ids=["bf16", "bf16+grad-scaler"])
def test_the_amp_wrapper_trains_like_torch_amp_recipe(digits, monkeypatch, scaled):
    """fit with core.amp's wrapper (autocast around the model, the grad scaler behind the optimizer)
    ends on the very weights of torch.amp's recipe written out by hand: autocast forward, a float32
    loss, ``scaler.scale(loss).backward(); scaler.step(opt); scaler.update()``. The scaler runs on
    the CPU here (resolve allows fp16, and so the scaler, on CUDA only)."""
    x = torch.from_numpy(digits.train_images[:300])
    config = TrainConfig(epochs=3, batch_size=64, lr=3e-3, amp="bf16", device="cpu", seed=2)

    def precision(mode, device):
        return amp.MixedPrecision("cpu", torch.bfloat16, torch.amp.GradScaler("cpu", init_scale=2.0**12)
                                  if scaled else None)

    def new_model():
        torch.manual_seed(2)
        return build_model(ModelConfig("vae", digits.image_shape, latent_dim=2, hidden=(32,)))

    monkeypatch.setattr(amp, "resolve", precision)
    wrapped = new_model()
    fit(wrapped, x, None, config)

    recipe = new_model()
    torch.manual_seed(config.seed)
    shuffler = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.Adam(recipe.parameters(), lr=config.lr)
    scaler = precision("bf16", "cpu").scaler
    recipe.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(x), generator=shuffler)
        for start in range(0, len(x), config.batch_size):
            batch = x[order[start:start + config.batch_size]]
            with torch.autocast("cpu", dtype=torch.bfloat16):
                terms = recipe.loss_terms(batch)
            loss = (terms.reconstruction.float() + terms.kl.float()).sum() / config.batch_size
            optimizer.zero_grad(set_to_none=True)
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
    for (name, a), b in zip(wrapped.state_dict().items(), recipe.state_dict().values()):
        assert torch.equal(a, b), name


# ------------------------------------------------------------------------------ conv for 64x64


def test_64x64_conv_has_four_stages_and_28x28_keeps_the_original_layers():
    assert default_conv_stages((1, 64, 64)) == 4 and default_conv_stages((1, 28, 28)) == 2
    assert default_conv_stages((1, 28, 20)) == 2 and default_conv_stages((3, 72, 72)) == 2
    small = build_model(ModelConfig("vae", (1, 28, 28), 2, hidden=(256,), architecture="conv"))
    assert [k for k in small.state_dict() if "conv" in k] == [  # the keys shipped conv checkpoints hold
        "encoder.conv.0.weight", "encoder.conv.0.bias", "encoder.conv.2.weight", "encoder.conv.2.bias",
        "decoder.deconv.0.weight", "decoder.deconv.0.bias", "decoder.deconv.2.weight", "decoder.deconv.2.bias"]
    assert "conv_stages" not in small.config.to_dict()  # a model without conv stages writes no such field
    config = ModelConfig("vae", (3, 64, 64), 16, hidden=(256,), architecture="conv", conv_stages=4)
    faces = build_model(config)
    x = torch.rand(5, 3, 64, 64)
    terms = faces.loss_terms(x)
    assert faces.decoder_output(faces.encode(x).mean).shape == x.shape and terms.kl.shape == (5,)
    # 4x4x64 = 1,024 features into the dense layer, not 16x16x64 = 16,384: about 8x fewer weights
    two_stage = build_model(ModelConfig("vae", (3, 64, 64), 16, hidden=(256,), architecture="conv"))
    assert count_parameters(faces) * 5 < count_parameters(two_stage)
    with pytest.raises(ValueError, match="conv_stages=4 needs images at least 64x64"):
        ModelConfig("vae", (1, 28, 28), 2, architecture="conv", conv_stages=4).validate()


def test_64x64_conv_checkpoint_round_trips(tmp_path):
    model = build_model(ModelConfig("vae", (1, 64, 64), 4, hidden=(64,), architecture="conv", conv_stages=4))
    card = save_checkpoint(model, tmp_path / "faces")
    assert card["model_config"]["conv_stages"] == 4
    loaded, _ = load_checkpoint(tmp_path / "faces")
    z = torch.randn(3, 4)
    torch.testing.assert_close(loaded.decode(z), model.eval().decode(z))


def test_an_old_card_without_conv_stages_loads_as_two_stages():
    d = ModelConfig("ae", (1, 28, 28), 2, architecture="conv").to_dict()
    assert ModelConfig.from_dict(d).conv_stages == 2


# ------------------------------------------------------------------------------ streaming a folder


@pytest.fixture(scope="module")
def face_folder(tmp_path_factory) -> Path:
    """Two 'classes' of colour images of mixed sizes and formats (PNG, JPEG, BMP for the PIL fallback)."""
    root = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir()
        for i in range(12):
            h, w = (80, 70) if i % 2 else (64, 64)
            yy, xx = np.mgrid[0:h, 0:w]
            base = (128 + 100 * np.sin(xx / (5 + i) + (c == "b") * yy / 7))[..., None]
            img = np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
            suffix = (".png", ".jpg", ".bmp")[i % 3]
            Image.fromarray(img).save(root / c / f"{i:02d}{suffix}")
    return root


@pytest.mark.parametrize("grayscale", [True, False])
def test_the_stream_splits_and_decodes_like_the_in_memory_loader(face_folder, grayscale):
    size = (32, 32)
    memory = load_dataset(face_folder, image_size=size, grayscale=grayscale)
    streamed = streaming.load_streamed(face_folder, size, grayscale=grayscale, workers=0)
    assert streamed.image_shape == memory.image_shape
    assert len(streamed.train_stream) == len(memory.train_images)
    np.testing.assert_array_equal(streamed.test_labels, memory.test_labels)
    # the same images: PIL's gray weights; torchvision's antialiased bilinear resize vs PIL's, within rounding
    diff = np.abs(streamed.test_images - memory.test_images)
    assert diff.max() <= 3 / 255 and diff.mean() < 0.5 / 255, (diff.max() * 255, diff.mean() * 255)
    item = streamed.train_stream[0]
    assert item.dtype == torch.uint8 and tuple(item.shape) == memory.image_shape
    np.testing.assert_allclose(item.numpy() / 255, memory.train_images[0], atol=3 / 255)
    assert streamed.describe()["streamed"] is True


def test_unreadable_and_huge_images_are_refused_naming_the_file(tmp_path, monkeypatch):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DatasetError, match=r"broken\.jpg: cannot read it as an image"):
        streaming.decode_image_file(bad, (32, 32))
    big = tmp_path / "big.png"
    Image.new("L", (200, 100)).save(big)
    monkeypatch.setattr(streaming, "MAX_IMAGE_PIXELS", 10_000)
    with pytest.raises(DatasetError, match=r"big\.png: refused, 200x100 = 20,000 pixels is more than the 10,000"):
        streaming.decode_image_file(big, (32, 32))
    monkeypatch.setattr(streaming, "MAX_FILE_BYTES", 10)
    with pytest.raises(DatasetError, match=r"big\.png: .* bytes is larger than the 10 allowed"):
        streaming.decode_image_file(big, (32, 32))


def test_cli_trains_a_64x64_conv_vae_on_a_streamed_folder_with_workers(face_folder, tmp_path, capsys):
    out = tmp_path / "faces-vae"
    code = main(["train", "--dataset", str(face_folder), "--stream", "--workers", "2", "--image-size", "64x64",
                 "--architecture", "conv", "--hidden", "32", "--latent-dim", "2", "--epochs", "2",
                 "--batch-size", "8", "--iwae-k", "0", "--device", "cpu", "--amp", "bf16", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["model_config"]["conv_stages"] == 4 and card["train_config"]["amp"] == "bf16"
    assert card["dataset"]["streamed"] is True and card["dataset"]["n_train"] == 20
    assert "distributed" not in card and np.isfinite(card["metrics"]["neg_elbo"])
    model, _ = load_checkpoint(out)  # what the explorer's pickers load
    assert model.image_shape == (1, 64, 64)


def test_stream_refuses_pca_and_a_validation_split(face_folder):
    stream = streaming.load_streamed(face_folder, (32, 32)).train_stream
    with pytest.raises(ValueError, match="PCA is fitted in closed form"):
        fit(build_model(ModelConfig("pca", (1, 32, 32), 2)), stream, None, TrainConfig())
    with pytest.raises(ValueError, match="validation_fraction > 0 is not supported"):
        fit(build_model(ModelConfig("ae", (1, 32, 32), 2)), stream, None, TrainConfig(validation_fraction=0.1))


# ------------------------------------------------------------------------------ on a GPU


@needs_cuda
@pytest.mark.parametrize("mode", ["auto", "bf16", "fp16"])
def test_cuda_amp_trains_a_64x64_conv_vae(mode):
    if mode == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16 support")
    torch.manual_seed(0)
    x = (torch.rand(512, 1, 64, 64) > 0.7).float()
    model = build_model(ModelConfig("vae", (1, 64, 64), 8, hidden=(128,), architecture="conv", conv_stages=4))
    result = fit(model, x[:448], x[448:], TrainConfig(epochs=3, batch_size=64, amp=mode, device="cuda"))
    assert result.device.startswith("cuda")
    losses = [s.test_neg_elbo for s in result.history]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    precision = amp.resolve(mode, torch.device("cuda"))
    assert (precision.scaler is not None) == (precision.dtype == torch.float16)


@needs_cuda
def test_cuda_stream_uses_pinned_memory_and_workers(face_folder):
    stream = streaming.load_streamed(face_folder, (64, 64), workers=2).train_stream
    batches = streaming.StreamBatches(stream, 8, 0, stream.workers, torch.device("cuda"))
    assert batches.loader.pin_memory and batches.loader.persistent_workers
    got = list(batches(1))
    assert sum(len(b) for b in got) == len(stream) and got[0].is_cuda and got[0].dtype == torch.float32
