"""Denoising, measured: each model's error against the CLEAN test images when it reconstructs
corrupted copies, at several noise levels and masking, with the paired bootstrap CI of each
difference (the numbers behind the Compare page's denoising captions).

    python -m scripts.measure_denoising [--data DIR] [--n 500]

Writes bench/results/denoising.md. The VAE is decoded at its posterior mean (what the page
shows) and, for reference, at one draw z ~ q(z|x).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from core.checkpoints import load_checkpoint
from core.data import load_dataset
from explorer.logic import analysis, denoising

ROOT = Path(__file__).resolve().parents[1]
SETS = {  # dataset: (the models, by role)
    "mnist": {"AE": "mnist-ae-2", "Denoising AE": "mnist-dae-2", "VAE": "mnist-vae-2"},
    "digits": {"AE": "digits-ae-2", "VAE": "digits-vae-2"},
    "frey": {"AE": "frey-ae-2", "VAE": "frey-vae-2"},
}


def reconstruct(model, noisy: np.ndarray, sampled: bool = False) -> np.ndarray:
    with torch.no_grad():
        posterior = model.encode(torch.from_numpy(noisy))
        z = posterior.mean
        if sampled:
            z = z + torch.exp(0.5 * posterior.logvar) * torch.randn(z.shape, generator=torch.Generator().manual_seed(0))
        return model.decode(z).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/work/shared/data")
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    lines = ["# Denoising: MSE per pixel against the clean test images", "",
             f"`python -m scripts.measure_denoising --n {args.n}`: the same {args.n} test images per dataset "
             "(analysis.subsample seed 1, as the Compare page), noise seed 0; differences are paired over the "
             "images, with a 95% percentile bootstrap CI (2,000 resamples). Every model is decoded at its posterior "
             "mean; the VAE also at one draw z ~ q(z|x).", ""]
    for dataset, roles in SETS.items():
        models = {role: load_checkpoint(ROOT / "checkpoints" / f"{name}.safetensors").model for role, name in roles.items()}
        data = load_dataset(dataset, args.data, download=False)
        idx = analysis.subsample(len(data.test_images), args.n, seed=1)
        clean = np.asarray(data.test_images[idx], dtype=np.float32)
        reconstructors = {role: (lambda noisy, m=m: reconstruct(m, noisy)) for role, m in models.items()}
        reconstructors["VAE, z ~ q(z|x)"] = lambda noisy: reconstruct(models["VAE"], noisy, sampled=True)
        rows = denoising.level_rows(denoising.errors_by_level(reconstructors, clean), baseline="AE")
        lines += [f"## {dataset} ({len(idx)} of {len(data.test_images)} test images): "
                  + ", ".join(f"{r} = {n}" for r, n in roles.items()), "",
                  "| " + " | ".join(rows[0]) + " |", "|" + " --- |" * len(rows[0])]
        for row in rows:
            lines.append("| " + " | ".join(v if isinstance(v, str) else f"{v:.4f}" for v in row.values()) + " |")
            print(dataset, lines[-1], flush=True)
        lines.append("")
    out = ROOT / "bench" / "results" / "denoising.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
