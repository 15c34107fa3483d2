"""The baseline: the canonical pytorch/examples ``vae/main.py`` training loop, re-implemented.

What it keeps from the example (the BCE + KL version, before the continuous-Bernoulli term):

* the model: fc1 784->400, fc21 / fc22 400->20 (mean, log-variance), fc3 20->400,
  fc4 400->784, ReLU, sigmoid output;
* the loss: ``F.binary_cross_entropy(recon, x, reduction="sum")`` + the closed-form KL,
  summed over the batch (Kingma & Welling, 2014, Appendix B);
* the data path: a ``torch.utils.data.DataLoader`` (batch 128, ``shuffle=True``, no worker
  processes on the CPU) over a Dataset that builds a PIL image per sample from uint8 pixels
  (as ``torchvision.datasets.MNIST.__getitem__`` does) and applies ``transforms.ToTensor()``;
* Adam with lr 1e-3, ``loss.item()`` after every batch, a test pass after every epoch whose
  loss is the same -ELBO (one posterior sample per image, as ``forward`` always samples)
  summed over the test set and divided by its size.

What it leaves out: the progress prints and the PNG grids the example writes each epoch
(they would only slow the baseline down), and the download (the pixels are passed in).

    python -m bench.baseline_pytorch_vae --data-dir /work/shared/data --epochs 10
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.utils.data
from PIL import Image
from torch import nn, optim
from torch.nn import functional as F
from torchvision import transforms


class UInt8Images(torch.utils.data.Dataset):
    """uint8 images (N, 28, 28) served one at a time as torchvision's MNIST serves them:
    ``Image.fromarray(img, mode="L")`` then the transform."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Callable | None = None):
        if images.dtype != np.uint8 or images.ndim != 3:
            raise ValueError(f"images must be uint8 (N, H, W), got {images.dtype} {images.shape}")
        self.data = torch.from_numpy(images)
        self.targets = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        img, target = self.data[index], int(self.targets[index])
        img = Image.fromarray(img.numpy(), mode="L")
        if self.transform is not None:
            img = self.transform(img)
        return img, target


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        std = torch.exp(0.5 * logvar)
        return mu + torch.randn_like(std) * std

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Reconstruction + KL divergence, summed over the pixels, latent dims and the batch."""
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    # Kingma and Welling, Auto-Encoding Variational Bayes, ICLR 2014, Appendix B:
    # -KL = 0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2)
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


@dataclass
class BaselineEpoch:
    epoch: int
    train_loss: float  # -ELBO per training image, averaged over the epoch (as the example prints)
    test_loss: float  # -ELBO per test image
    elapsed: float  # seconds since training started, at the end of this epoch's test pass
    train_seconds: float  # this epoch's training pass alone (no test pass)


@dataclass
class BaselineResult:
    history: list[BaselineEpoch] = field(default_factory=list)
    seconds: float = 0.0
    model: VAE | None = None


def train_baseline(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    epochs: int = 10,
    batch_size: int = 128,
    seed: int = 1,
    device: str = "cpu",
) -> BaselineResult:
    """The example's main loop: train(epoch); test(epoch) for each epoch. uint8 (N, 28, 28) in."""
    torch.manual_seed(seed)
    dev = torch.device(device)
    kwargs = {"num_workers": 1, "pin_memory": True} if dev.type == "cuda" else {}
    train_loader = torch.utils.data.DataLoader(
        UInt8Images(train_images, train_labels, transforms.ToTensor()), batch_size=batch_size, shuffle=True, **kwargs)
    test_loader = torch.utils.data.DataLoader(
        UInt8Images(test_images, test_labels, transforms.ToTensor()), batch_size=batch_size, shuffle=True, **kwargs)
    model = VAE().to(dev)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    result = BaselineResult(model=model)

    def train(epoch: int) -> float:
        model.train()
        train_loss = 0.0
        for data, _ in train_loader:
            data = data.to(dev)
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        return train_loss / len(train_loader.dataset)

    def test(epoch: int) -> float:
        model.eval()
        test_loss = 0.0
        with torch.no_grad():
            for data, _ in test_loader:
                data = data.to(dev)
                recon_batch, mu, logvar = model(data)
                test_loss += loss_function(recon_batch, data, mu, logvar).item()
        return test_loss / len(test_loader.dataset)

    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        train_loss = train(epoch)
        train_seconds = time.perf_counter() - t0
        test_loss = test(epoch)
        result.history.append(BaselineEpoch(epoch, train_loss, test_loss, time.perf_counter() - started, train_seconds))
    result.seconds = time.perf_counter() - started
    model.cpu().eval()
    return result


def main(argv: list[str] | None = None) -> int:
    from bench.bench_data import load_benchmark_data

    parser = argparse.ArgumentParser(description="The pytorch/examples VAE loop on the MNIST subset / t10k.")
    parser.add_argument("--data-dir", default="/work/shared/data")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    data = load_benchmark_data(args.data_dir)
    result = train_baseline(data.train_u8, data.train_labels, data.test_u8, data.test_labels, args.epochs, seed=args.seed)
    for e in result.history:
        print(f"epoch {e.epoch}: train {e.train_loss:.2f}  test {e.test_loss:.2f} nats  ({e.elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
