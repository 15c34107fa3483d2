"""Time from a click on the Latent map to the posterior panel, on 2 CPU threads.

    python -m bench.bench_posterior                       # mnist-vae-2 and frey-vae-2, 20 images each
    python -m bench.bench_posterior --models mnist-vae-2 --images 40

A click on an image the panel has not seen runs ``core.posterior.image_posterior`` (the
quadrature, the optimised q, both ELBOs) and builds the figure and the numbers: that is the
click-to-panel time (target < 1 s). The IWAE section follows on screen, after the pool of
20,000 importance samples (``iwae_pool``); it is timed too, as click-to-IWAE. The baseline
in the same run is the page's existing work for a click: encoding the image and decoding its
6 posterior draws. Every image is new (no cache), one after another, after one warm-up image.

Writes bench/results/posterior.json and posterior.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from bench.run_all import RESULTS, machine_info, machine_markdown, md_table, write_results
from core import posterior
from core.checkpoints import load_checkpoint
from core.data import load_dataset
from explorer.logic import posterior_figures


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def time_model(name: str, n_images: int) -> dict:
    model, card = load_checkpoint(f"checkpoints/{name}")
    data = load_dataset(card["dataset"]["name"], None, download=False)
    images = torch.from_numpy(data.test_images[:n_images + 1])
    panel, iwae, baseline = [], [], []
    for i, x in enumerate(images):
        t0 = time.perf_counter()
        with torch.no_grad():
            mean, logvar = model.encode(x[None])
            model.decode(mean + torch.exp(0.5 * logvar) * torch.randn(6, mean.shape[1]))
        t1 = time.perf_counter()
        view = posterior.image_posterior(model, x)
        posterior_figures.posterior_figure(view)
        posterior_figures.numbers_table(view)
        t2 = time.perf_counter()
        curve = posterior.iwae_curve(posterior.iwae_pool(model, x), posterior_figures.IWAE_KS)
        posterior_figures.iwae_figure(curve, 100, view.log_px, view.elbo_encoder)
        posterior_figures.caption(view, curve, 100)
        t3 = time.perf_counter()
        if i == 0:
            continue  # warm-up
        baseline.append(t1 - t0)
        panel.append(t2 - t1)
        iwae.append(t3 - t1)
    return {
        "model": name, "images": n_images,
        "panel_median_s": statistics.median(panel), "panel_p95_s": _percentile(panel, 95),
        "iwae_median_s": statistics.median(iwae), "iwae_p95_s": _percentile(iwae, 95),
        "baseline_median_s": statistics.median(baseline),
        "panel_over_baseline": statistics.median(panel) / statistics.median(baseline),
    }


def to_markdown(result: dict) -> str:
    rows = [[r["model"], r["images"], f"{r['panel_median_s']:.3f}", f"{r['panel_p95_s']:.3f}",
             f"{r['iwae_median_s']:.3f}", f"{r['iwae_p95_s']:.3f}", f"{r['baseline_median_s'] * 1000:.1f}",
             f"{r['panel_over_baseline']:.0f}x"] for r in result["rows"]]
    return "\n".join([
        "# Click to posterior panel", "",
        f"torch threads: {result['threads']}; each image new (no cache), after one warm-up image.", "",
        md_table([["model", "images", "panel median s", "panel p95 s", "to IWAE median s", "to IWAE p95 s",
                   "baseline (encode + 6 draws) ms", "panel / baseline"], *rows]),
        "", "Target: the panel (figure + numbers) within 1 s of the click.", "",
        machine_markdown(result["machine"]), "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["mnist-vae-2", "frey-vae-2"])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "posterior"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = [time_model(name, args.images) for name in args.models]
    write_results(args.out, {"threads": args.threads, "rows": rows, "machine": machine_info()}, to_markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
