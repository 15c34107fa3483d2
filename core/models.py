"""Four latent models behind one interface: PCA, LinearAE, AE and VAE.

Every model maps images (N, C, H, W) in [0, 1] to a latent code and back:

    encode(x)      -> Posterior(mean (N, D), logvar (N, D) or None when deterministic)
    decode(z)      -> images (N, C, H, W) in [0, 1]
    reconstruct(x) -> decode(encode(x).mean)

Only the VAE has a posterior spread; the others return ``logvar=None``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from core import dense
from core.losses import LIKELIHOODS, kl_per_dimension, reconstruction_nll
from core.dense import DenseLayer
from core.runsettings import SettingError, check_settings, setting
from core.sizes import CONV_CHANNELS, image_problem, size_problem

MODEL_KINDS = ("pca", "linear-ae", "ae", "vae")
ARCHITECTURES = ("mlp", "conv")
CONV_STAGES = (2, 4)


def default_conv_stages(image_shape: tuple[int, int, int]) -> int:
    """4 stride-2 stages for images of 64x64 and up (sides divisible by 16), else 2 (the original design)."""
    _, h, w = image_shape
    return 4 if h >= 64 and w >= 64 and h % 16 == 0 and w % 16 == 0 else 2


@dataclass
class ModelConfig:
    kind: str = setting("vae", "the model: PCA, a linear AE, a deep AE or a VAE", required=True, choices=MODEL_KINDS,
                        flag="--model", label="Model")
    image_shape: tuple[int, int, int]  # (C, H, W) of the images the model reads and writes
    latent_dim: int = setting(2, "D, the size of the latent code", required=True, low=1, label="Latent dimension")
    hidden: tuple[int, ...] = setting(  # the decoder mirrors them; the linear models have none
        (400, 200), "hidden widths: the encoder's (MLP) or its last dense layer's (conv), e.g. 400,200", low=1)
    architecture: str = setting(
        "mlp", "mlp, or conv for images of 28x28 and larger (AE and VAE only)", choices=ARCHITECTURES)
    likelihood: str = setting(
        "bernoulli", "p(x|z): Bernoulli (cross-entropy) suits near-binary images like digits; Gaussian with fixed "
        "variance c (squared error) suits grey-level images like faces",
        choices=LIKELIHOODS, label="Likelihood p(x|z)")
    gaussian_variance: float = setting(
        0.01, "fixed variance c of the gaussian likelihood (weight 1/(2c) on squared error)", low=0, low_open=True)
    input_noise: float = setting(
        0.0, "std of Gaussian noise added to the inputs while training (denoising)", low=0, high=1)
    conv_stages: int = setting(  # the CLI derives it from the image size (default_conv_stages)
        2, "stride-2 convolutions of the conv architecture: 2 (28x28) or 4 (64x64 faces)",
        choices=CONV_STAGES, flag=None)

    def __post_init__(self) -> None:
        self.image_shape = tuple(int(s) for s in self.image_shape)
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.kind in ("pca", "linear-ae"):
            # A linear model's natural objective is squared error (PCA minimises it exactly).
            self.likelihood = "gaussian"
            self.architecture = "mlp"
            self.hidden = ()

    @property
    def num_pixels(self) -> int:
        return int(np.prod(self.image_shape))

    def validate(self) -> "ModelConfig":
        """Raise ValueError naming the field, its value and what is allowed."""
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise SettingError("image_shape", f"image_shape={self.image_shape} must be (C, H, W) with positive sizes")
        check_settings(self)
        if self.latent_dim > self.num_pixels:
            raise SettingError("latent_dim",
                f"latent_dim={self.latent_dim} must be at most the number of pixels per image "
                f"({self.num_pixels}) for images of shape {self.image_shape}"
            )
        if self.kind in ("ae", "vae") and not self.hidden:
            raise SettingError("hidden", f"hidden={self.hidden} must hold at least one width for kind={self.kind!r}")
        if self.architecture == "conv":
            _, h, w = self.image_shape
            if h < 28 or w < 20 or h % 4 or w % 4:
                raise SettingError("architecture",
                    f"architecture='conv' needs images at least 28 pixels high and 20 wide, with height "
                    f"and width divisible by 4; got image_shape={self.image_shape}"
                )
            if self.conv_stages == 4 and (h < 64 or w < 64 or h % 16 or w % 16):
                raise SettingError("conv_stages",
                    f"conv_stages=4 needs images at least 64x64 with height and width divisible by 16; "
                    f"got image_shape={self.image_shape}"
                )
        if problem := image_problem(self.image_shape):  # from the configuration: nothing is allocated before this
            raise SettingError("image_shape", problem)
        if problem := size_problem(self):
            raise SettingError(None, problem)
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["conv_stages"] == 2:  # the default is left out, so cards of models without the field read the same
            del d["conv_stages"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        return cls(**d)


class Posterior(NamedTuple):
    mean: torch.Tensor  # (N, D)
    logvar: torch.Tensor | None  # (N, D), or None for a deterministic encoder


class LossTerms(NamedTuple):
    reconstruction: torch.Tensor  # (N,) -log p(x|z) in nats, summed over pixels
    kl: torch.Tensor  # (N,) KL(q(z|x) || p(z)) in nats, zeros for deterministic models
    kl_per_dim: torch.Tensor  # (N, D)


def mlp(widths: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ConvEncoder(nn.Module):
    """``stages`` stride-2 convolutions (2, or 4 for 64x64) then dense layers: (N, C, H, W) -> (N, out_dim).

    With stages=2 the modules (and state_dict keys) are exactly the original ones.
    """

    def __init__(self, image_shape: tuple[int, int, int], hidden: tuple[int, ...], out_dim: int, stages: int = 2):
        super().__init__()
        c, h, w = image_shape
        channels = CONV_CHANNELS[stages]
        layers: list[nn.Module] = []
        for c_in, c_out in zip((c, *channels[:-1]), channels):
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU()]
        self.conv = nn.Sequential(*layers, nn.Flatten())
        scale = 2 ** stages
        self.dense = mlp([channels[-1] * (h // scale) * (w // scale), *hidden, out_dim])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.conv(x))


class ConvDecoder(nn.Module):
    """Mirror of ConvEncoder: (N, D) -> logits (N, C, H, W)."""

    def __init__(self, image_shape: tuple[int, int, int], hidden: tuple[int, ...], latent_dim: int, stages: int = 2):
        super().__init__()
        c, h, w = image_shape
        channels = CONV_CHANNELS[stages][::-1]  # e.g. (64, 32) or (64, 64, 32, 32)
        scale = 2 ** stages
        self.grid = (channels[0], h // scale, w // scale)
        self.dense = nn.Sequential(mlp([latent_dim, *reversed(hidden), int(np.prod(self.grid))]), nn.ReLU())
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(channels, (*channels[1:], c))):
            layers.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1))
            if i < len(channels) - 1:
                layers.append(nn.ReLU())
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.dense(z).view(-1, *self.grid))


class LatentModel(nn.Module):
    """Base class: owns the shared behaviour; variants override encode / decoder_output."""

    variational = False

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config.validate()

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.config.image_shape

    @property
    def device(self) -> torch.device:
        return next(iter(self.state_dict().values())).device

    def encode(self, x: torch.Tensor) -> Posterior:
        raise NotImplementedError

    def decoder_output(self, z: torch.Tensor) -> torch.Tensor:
        """What the likelihood reads: logits (bernoulli) or the mean (gaussian), (N, C, H, W)."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes (N, D) -> images (N, C, H, W) in [0, 1]."""
        out = self.decoder_output(z)
        return torch.sigmoid(out) if self.config.likelihood == "bernoulli" else out.clamp(0.0, 1.0)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x).mean)

    def sample_latent(self, posterior: Posterior) -> torch.Tensor:
        """The code the decoder sees while training: the mean, or a sample for a VAE."""
        return posterior.mean

    def loss_terms(self, x: torch.Tensor, noisy_input: torch.Tensor | None = None) -> LossTerms:
        """Per-image reconstruction and KL terms; the encoder reads ``noisy_input`` when given."""
        posterior = self.encode(x if noisy_input is None else noisy_input)
        z = self.sample_latent(posterior)
        recon = reconstruction_nll(self.decoder_output(z), x, self.config.likelihood, self.config.gaussian_variance)
        if posterior.logvar is None:
            per_dim = torch.zeros_like(posterior.mean)
        else:
            per_dim = kl_per_dimension(posterior.mean, posterior.logvar)
        return LossTerms(recon, per_dim.sum(1), per_dim)

    def forward(self, x: torch.Tensor) -> LossTerms:
        """The training forward pass: ``loss_terms(x)``. In train mode a denoising model's encoder
        reads x plus Gaussian noise of std ``input_noise`` (Vincent et al., 2008), like dropout."""
        noise = self.config.input_noise
        noisy = (x + noise * torch.randn_like(x)).clamp(0.0, 1.0) if self.training and noise > 0 else None
        return self.loss_terms(x, noisy)

    def decoder_layers(self) -> list[DenseLayer] | None:
        """The decoder as dense layers (z -> flat image in [0, 1]), or None if it is convolutional:
        core.dense.decoder_layers on this model's own weights (the numpy decoder reads a
        checkpoint's through the same function)."""
        return dense.decoder_layers(self.config.to_dict(), {k: v.cpu().float() for k, v in self.state_dict().items()})

    def encoder_layers(self) -> list[DenseLayer] | None:
        """The encoder as dense layers (flat image -> mean, or mean then logvar for a VAE: 2D
        outputs), the last one "linear"; None if it is convolutional. For the browser's encoder."""
        return None


def _dense_layers_from(sequential: nn.Sequential, final_activation: str) -> list[DenseLayer]:
    linears = [m for m in sequential.modules() if isinstance(m, nn.Linear)]  # nested: the encoder's Flatten + mlp
    return [
        DenseLayer(
            m.weight.detach().cpu().float().numpy().copy(),
            m.bias.detach().cpu().float().numpy().copy(),
            final_activation if i == len(linears) - 1 else "relu",
        )
        for i, m in enumerate(linears)
    ]


class PCA(LatentModel):
    """Principal component analysis as a linear encoder/decoder, fitted in closed form.

    encode: z = (x - mean) W^T ; decode: x = z W + mean, W the top-D principal axes.
    Scores are not whitened, so their spread is the explained variance per axis.
    """

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        p, d = config.num_pixels, config.latent_dim
        self.register_buffer("components", torch.zeros(d, p))
        self.register_buffer("mean", torch.zeros(p))
        self.register_buffer("explained_variance", torch.zeros(d))

    def fit_closed_form(self, x: torch.Tensor) -> "PCA":
        from sklearn.decomposition import PCA as SklearnPCA

        flat = x.detach().cpu().flatten(1).double().numpy()
        if self.latent_dim > min(flat.shape):
            raise ValueError(
                f"latent_dim={self.latent_dim} must be at most min(n_images, n_pixels) = {min(flat.shape)} for PCA"
            )
        fitted = SklearnPCA(n_components=self.latent_dim, svd_solver="full").fit(flat)
        self.components.copy_(torch.from_numpy(fitted.components_).float())
        self.mean.copy_(torch.from_numpy(fitted.mean_).float())
        self.explained_variance.copy_(torch.from_numpy(fitted.explained_variance_).float())
        return self

    def encode(self, x: torch.Tensor) -> Posterior:
        return Posterior((x.flatten(1) - self.mean) @ self.components.T, None)

    def decoder_output(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.components + self.mean).view(-1, *self.image_shape)

    def encoder_layers(self) -> list[DenseLayer]:
        # (x - mean) W^T = x W^T - (W mean): one affine layer; the bias folded in float64.
        w = self.components.cpu().double()
        return [DenseLayer(w.float().numpy().copy(), (-(w @ self.mean.cpu().double())).float().numpy(), "linear")]


class LinearAE(LatentModel):
    """One linear map each way, no nonlinearity, trained on squared error.

    Its optimum spans the same subspace as PCA's top-D axes (Baldi & Hornik, 1989),
    but the basis inside that subspace is arbitrary (any invertible mix of the axes).
    """

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.encoder = nn.Linear(config.num_pixels, config.latent_dim)
        self.decoder = nn.Linear(config.latent_dim, config.num_pixels)

    def encode(self, x: torch.Tensor) -> Posterior:
        return Posterior(self.encoder(x.flatten(1)), None)

    def decoder_output(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.image_shape)

    def encoder_layers(self) -> list[DenseLayer]:
        return _dense_layers_from(nn.Sequential(self.encoder), "linear")


class AE(LatentModel):
    """Deterministic autoencoder (MLP or conv). Nothing shapes its latent space, so codes
    of different classes sit where training happened to put them, with holes between."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.encoder = self._build_encoder(self.encoder_outputs)
        c = config
        if c.architecture == "conv":
            self.decoder = ConvDecoder(c.image_shape, c.hidden, c.latent_dim, c.conv_stages)
        else:
            self.decoder = mlp([c.latent_dim, *reversed(c.hidden), c.num_pixels])

    @property
    def encoder_outputs(self) -> int:
        return self.config.latent_dim

    def _build_encoder(self, out_dim: int) -> nn.Module:
        c = self.config
        if c.architecture == "conv":
            return ConvEncoder(c.image_shape, c.hidden, out_dim, c.conv_stages)
        return nn.Sequential(nn.Flatten(), mlp([c.num_pixels, *c.hidden, out_dim]))

    def encode(self, x: torch.Tensor) -> Posterior:
        return Posterior(self.encoder(x), None)

    def decoder_output(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decoder(z).view(-1, *self.image_shape)
        # The gaussian likelihood reads a mean in [0, 1]; bernoulli reads logits.
        return torch.sigmoid(out) if self.config.likelihood == "gaussian" else out

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decoder_output(z)
        return torch.sigmoid(out) if self.config.likelihood == "bernoulli" else out

    def encoder_layers(self) -> list[DenseLayer] | None:
        if self.config.architecture == "conv":
            return None
        return _dense_layers_from(self.encoder, "linear")  # a VAE's 2D outputs: mean, then logvar


class VAE(AE):
    """Variational autoencoder (Kingma & Welling, 2014).

    The encoder outputs a distribution q(z|x) = N(mean, diag(exp(logvar))); training decodes a
    sample drawn with the reparameterization trick and adds beta * KL(q(z|x) || N(0, I))
    (beta = 1: the ELBO; beta != 1: beta-VAE, Higgins et al., 2017).
    """

    variational = True

    @property
    def encoder_outputs(self) -> int:
        return 2 * self.config.latent_dim

    def encode(self, x: torch.Tensor) -> Posterior:
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return Posterior(mean, logvar)

    @staticmethod
    def reparameterize(mean: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mean + sigma * eps, eps ~ N(0, I): a sample whose gradient flows to mean and logvar."""
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + torch.exp(0.5 * logvar) * eps

    def sample_latent(self, posterior: Posterior) -> torch.Tensor:
        return self.reparameterize(posterior.mean, posterior.logvar)


_KIND_TO_CLASS: dict[str, type[LatentModel]] = {"pca": PCA, "linear-ae": LinearAE, "ae": AE, "vae": VAE}


def build_model(config: ModelConfig) -> LatentModel:
    """A fresh (untrained) model for the config; raises ValueError on a bad config."""
    config.validate()
    return _KIND_TO_CLASS[config.kind](config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "MODEL_KINDS", "CONV_STAGES", "default_conv_stages", "ModelConfig", "Posterior", "LossTerms", "DenseLayer", "LatentModel",
    "PCA", "LinearAE", "AE", "VAE", "build_model", "count_parameters",
]
