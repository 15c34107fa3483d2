"""A short GPU check of the GPU path: a 64x64 conv VAE with AMP, in memory and streamed.

    python -m bench.bench_gpu --out-dir OUT          # needs CUDA; about a minute on one H200

1. In memory: synthetic 64x64 grayscale "faces" (an ellipse with eyes and a mouth, random
   pose, size and shading; 18,000 train / 2,000 test), a VAE with the 4-stage conv
   (conv_stages=4, hidden 256, 32-D), batch 256, Adam 1e-3, amp off / bf16 / fp16: images/s
   (median epoch after the first; each epoch includes a 2,000-image test pass) and test -ELBO.
2. Streamed: the same kind of images written as PNG files, trained through
   ``python -m core train --stream --workers 8 --amp auto --device cuda`` (torchvision decoding
   in DataLoader workers, pinned memory): images/s from the card's history, and its -ELBO.

Prints a table and writes OUT/gpu.json (and the streamed run's checkpoint under OUT/).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def synthetic_faces(n: int, seed: int = 0, size: int = 64) -> torch.Tensor:
    """(n, 1, size, size) float in [0, 1]: shaded ellipse faces with two eyes and a mouth."""
    g = torch.Generator().manual_seed(seed)
    u = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    cx, cy = (u(n) - 0.5) * 0.3, (u(n) - 0.5) * 0.3
    ax, ay = 0.45 + 0.2 * u(n), 0.6 + 0.2 * u(n)
    shade = 0.5 + 0.4 * u(n)
    X, Y = xx[None] - cx[:, None, None], yy[None] - cy[:, None, None]
    face = ((X / ax[:, None, None]) ** 2 + (Y / ay[:, None, None]) ** 2 < 1).float()
    img = face * (shade[:, None, None] + 0.15 * X)
    ex, ey = 0.15 + 0.1 * u(n), -0.2 + 0.1 * (u(n) - 0.5)
    for side in (-1, 1):
        eye = ((X - side * ex[:, None, None]) ** 2 + (Y - ey[:, None, None]) ** 2) < 0.006
        img = torch.where(eye, torch.zeros_like(img), img)
    mouth = ((Y - 0.3 - 0.1 * u(n)[:, None, None]).abs() < 0.03) & (X.abs() < 0.2 * ax[:, None, None] / 0.5)
    img = torch.where(mouth, 0.1 * torch.ones_like(img), img)
    return (img + 0.03 * torch.randn(img.shape, generator=g)).clamp(0, 1)[:, None]


def in_memory(mode: str, x: torch.Tensor, t: torch.Tensor, epochs: int, device: str = "cuda") -> dict:
    from core.models import ModelConfig, build_model
    from core.train import TrainConfig, fit

    torch.manual_seed(0)
    model = build_model(ModelConfig("vae", (1, 64, 64), 32, hidden=(256,), architecture="conv", conv_stages=4))
    result = fit(model, x, t, TrainConfig(epochs=epochs, batch_size=256, amp=mode, device=device))
    secs = [s.seconds for s in result.history]
    return {"mode": mode, "images_per_s": len(x) / statistics.median(secs[1:]), "epoch_seconds": secs,
            "test_neg_elbo": [round(s.test_neg_elbo, 2) for s in result.history], "device": result.device}


def streamed(out_dir: Path, n_files: int, epochs: int, workers: int, device: str = "cuda") -> dict:
    import numpy as np
    from PIL import Image

    from core.__main__ import main
    from core.checkpoints import read_card

    folder = Path("/tmp/bench_gpu_faces")
    folder.mkdir(exist_ok=True)
    imgs = (synthetic_faces(n_files, seed=1)[:, 0] * 255).round().to(torch.uint8).numpy()
    t0 = time.perf_counter()
    for i, a in enumerate(imgs):
        Image.fromarray(np.ascontiguousarray(a)).save(folder / f"{i:05d}.png")
    write_s = time.perf_counter() - t0
    out = out_dir / "faces-stream-vae"
    t0 = time.perf_counter()
    code = main(["train", "--dataset", str(folder), "--stream", "--workers", str(workers), "--image-size", "64x64",
                 "--architecture", "conv", "--hidden", "256", "--latent-dim", "32", "--epochs", str(epochs),
                 "--batch-size", "256", "--device", device, "--amp", "auto", "--iwae-k", "10", "--out", str(out)])
    wall = time.perf_counter() - t0
    card = read_card(out)
    secs = [h["seconds"] for h in card["history"]]
    n = card["dataset"]["n_train"]
    return {"exit_code": code, "files": n_files, "write_png_s": round(write_s, 1), "n_train": n,
            "workers": workers, "amp": card["train_config"].get("amp"), "conv_stages": card["model_config"]["conv_stages"],
            "images_per_s": n / statistics.median(secs[1:] or secs), "epoch_seconds": secs, "wall_s": round(wall, 1),
            "test_neg_elbo": card["metrics"]["neg_elbo"], "iwae_nll": card["metrics"]["iwae_nll"],
            "device": card["device"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", default="gpu-out")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--files", type=int, default=6000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--smoke-cpu", action="store_true", help="a tiny run on the CPU (checks the script only)")
    args = parser.parse_args()
    device, n_images, modes = "cuda", 20_000, ("off", "bf16", "fp16")
    if args.smoke_cpu:
        device, n_images, modes, args.files, args.epochs, args.workers = "cpu", 1000, ("off", "bf16"), 300, 2, 2
    elif not torch.cuda.is_available():
        print("no CUDA GPU: nothing to measure")
        return 0
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    from core.amp import resolve

    info = {"gpu": torch.cuda.get_device_name() if device == "cuda" else "cpu", "torch": torch.__version__,
            "bf16": device == "cpu" or torch.cuda.is_bf16_supported(), "amp_auto": resolve("auto", torch.device(device)).name}
    print(info, flush=True)
    data = synthetic_faces(n_images)
    x, t = data[: n_images * 9 // 10], data[n_images * 9 // 10:]
    runs = []
    for mode in modes:
        r = in_memory(mode, x, t, args.epochs, device)
        runs.append(r)
        print(f"in memory, amp={mode}: {r['images_per_s']:.0f} images/s, test -ELBO by epoch {r['test_neg_elbo']}",
              flush=True)
    s = streamed(out_dir, args.files, max(2, args.epochs - 2), args.workers, device)
    print(f"streamed ({s['workers']} workers, amp={s['amp']}): {s['images_per_s']:.0f} images/s, "
          f"test -ELBO {s['test_neg_elbo']:.2f}, IWAE(k=10) {s['iwae_nll']:.2f}, exit {s['exit_code']}", flush=True)
    (out_dir / "gpu.json").write_text(json.dumps({"info": info, "in_memory": runs, "streamed": s}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
