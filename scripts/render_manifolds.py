"""Render the learned 2-D manifolds of the shipped VAEs as PNGs for the README.

    .venv/bin/python -m scripts.render_manifolds        # docs/images/manifold-{mnist,frey}-vae-2.png

Each image decodes an n x n grid of latent codes spaced by the inverse Gaussian CDF (equal
prior mass per cell, as in Kingma & Welling, 2014, Fig. 4), tiles the decoded images with
torchvision's make_grid, and enlarges the sheet by an integer factor with nearest-neighbour
sampling so every pixel stays a crisp square.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image
from torchvision.utils import make_grid

from core.checkpoints import load_checkpoint
from core.latent import latent_grid

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = ("mnist-vae-2", "frey-vae-2")


@torch.no_grad()
def manifold_sheet(name: str, folder: Path, n: int = 20, scale: int = 2, padding: int = 1) -> Image.Image:
    """The n x n manifold of checkpoint ``name`` as a grayscale PIL image.

    Row 0 is the top (largest z2), column 0 the left (smallest z1), like a plot of the plane.
    """
    model, _ = load_checkpoint(folder / name)
    if model.latent_dim != 2:
        raise SystemExit(f"{name}: a manifold sheet needs a 2-D latent space, the model has {model.latent_dim}")
    grid = latent_grid(2, n=n, spacing="gaussian")
    images = model.decode(grid.z)  # (n*n, C, H, W) in [0, 1]
    # grid lines that separate without glaring: mid-gray between dark digits, white between faces
    pad_value = 0.5 if float(images.mean()) < 0.3 else 1.0
    sheet = make_grid(images, nrow=n, padding=padding, pad_value=pad_value)  # (3, H', W'): channels repeated
    pixels = (sheet[0] * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    image = Image.fromarray(pixels)  # uint8 (H, W): grayscale
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(DEFAULT_MODELS), help="checkpoint names (2-D models)")
    parser.add_argument("--folder", default=str(REPO / "checkpoints"))
    parser.add_argument("--out-dir", default=str(REPO / "docs" / "images"))
    parser.add_argument("--n", type=int, default=20, help="grid size (n x n codes)")
    parser.add_argument("--scale", type=int, default=2, help="integer enlargement (nearest neighbour)")
    args = parser.parse_args(argv)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in args.names:
        image = manifold_sheet(name, Path(args.folder), n=args.n, scale=args.scale)
        path = out_dir / f"manifold-{name}.png"
        image.save(path, optimize=True)
        print(f"wrote {path} ({image.width}x{image.height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
