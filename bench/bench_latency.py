"""Decode and encode latency of the shipped checkpoints, each against a baseline in the same run.

    python -m bench.bench_latency                      # the shipped MNIST 2-D models
    python -m bench.bench_latency --models mnist-vae-2 --repeats 100

What is timed (medians over repeats, CPU, after a warm-up call):

* decode one image: the app's path (``explorer.ui.loaders.decode``: ``torch.no_grad``, one code)
  against the same forward with autograd left on (what a plain ``model.decode(z)`` costs);
* a 30 x 30 manifold grid: ``core.latent.latent_grid`` + one batched decode of the 900 codes
  + tiling into one picture, against decoding the 900 codes one at a time in a Python loop;
* encode 10,000 images: ``core.evaluate.encode_means`` (2,000-image batches, no autograd)
  against the textbook ``DataLoader(TensorDataset(x), batch_size=128)`` evaluation loop.

The 10,000 images are uniform noise of the model's image shape: the cost of these dense and
convolutional networks does not depend on pixel values, and the benchmark then needs no data.

Writes bench/results/latency.json and latency.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from bench.run_all import RESULTS, machine_info, machine_markdown, md_table, write_results
from core.checkpoints import load_checkpoint
from core.evaluate import encode_means
from core.latent import latent_grid

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = ("mnist-vae-2", "mnist-ae-2", "mnist-pca-2", "mnist-linear-ae-2", "mnist-vae-16", "mnist-conv-vae-2")


def timed(fn, repeats: int, warmup: int = 1) -> dict:
    """Median, p10/p90 and min of fn() in milliseconds over ``repeats`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "median_ms": statistics.median(times),
        "p10_ms": times[int(0.1 * (len(times) - 1))],
        "p90_ms": times[int(0.9 * (len(times) - 1))],
        "min_ms": times[0],
        "repeats": repeats,
    }


def bench_model(path: Path, repeats: int) -> dict:
    from explorer.logic.images import tile
    from explorer.ui.loaders import decode as app_decode

    model, card = load_checkpoint(path)
    model.eval()
    d = model.latent_dim
    z1 = np.zeros((1, d), dtype=np.float32)
    z1_t = torch.zeros(1, d)
    out: dict = {"name": path.name, "kind": card["kind"], "latent_dim": d,
                 "image_shape": list(model.image_shape),
                 "architecture": card["model_config"].get("architecture", "mlp")}

    # one image
    out["decode_1"] = timed(lambda: app_decode(model, z1), repeats)
    out["decode_1_baseline"] = timed(lambda: model.decode(z1_t).detach().numpy(), repeats)

    # 30 x 30 grid
    def grid_ours():
        grid = latent_grid(d, (0, 1) if d > 1 else (0, 0), n=30)
        return tile(app_decode(model, grid.z), 30)

    def grid_loop():
        grid = latent_grid(d, (0, 1), n=30)
        return [model.decode(z[None]).detach() for z in grid.z]

    if d >= 2:
        out["decode_grid_30x30"] = timed(grid_ours, max(5, repeats // 10))
        out["decode_grid_30x30_baseline"] = timed(grid_loop, max(3, repeats // 40))

    # encode 10,000 images
    x = torch.rand((10_000, *model.image_shape), generator=torch.Generator().manual_seed(0))

    def encode_loop():
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=128)
        with torch.no_grad():
            return torch.cat([model.encode(batch)[0] for (batch,) in loader])

    out["encode_10k"] = timed(lambda: encode_means(model, x), max(3, repeats // 20))
    out["encode_10k_baseline"] = timed(encode_loop, max(3, repeats // 40))

    # the same batched work on one thread: on a small, shared machine (or a server that runs
    # several sessions at once) torch's default of one thread per core can lose to one thread
    threads = torch.get_num_threads()
    if threads > 1:
        torch.set_num_threads(1)
        try:
            if d >= 2:
                out["decode_grid_30x30_1thread"] = timed(grid_ours, max(5, repeats // 10))
            out["encode_10k_1thread"] = timed(lambda: encode_means(model, x), max(3, repeats // 20))
        finally:
            torch.set_num_threads(threads)
    return out


ROWS = (
    ("decode 1 image", "decode_1", "decode_1_baseline", "same forward, autograd on"),
    ("decode 30x30 grid (+ tiling)", "decode_grid_30x30", "decode_grid_30x30_baseline", "900 single-code decodes in a loop"),
    ("encode 10,000 images", "encode_10k", "encode_10k_baseline", "DataLoader(batch_size=128) loop, no_grad"),
)


def to_markdown(result: dict) -> str:
    lines = ["# Decode / encode latency (CPU, medians)", "",
             "Written by `python -m bench.bench_latency`. " + machine_markdown(result["machine"])
             + f" Load average when it finished: {result['machine_after']['load_average_1_5_15']}.", "",
             f"Threads: torch.get_num_threads() = {result['torch_threads']}. "
             "Speed-up = baseline median / ours median (same run, same process).", ""]
    rows = [["model", "task", "ours (ms)", "p90 (ms)", "baseline", "baseline (ms)", "speed-up"]]
    for m in result["models"]:
        for label, ours, base, base_label in ROWS:
            if ours not in m:
                continue
            o, b = m[ours]["median_ms"], m[base]["median_ms"]
            rows.append([m["name"], label, f"{o:.3g}", f"{m[ours]['p90_ms']:.3g}", base_label, f"{b:.3g}", f"{b / o:.1f}x"])
    lines.append(md_table(rows))
    one = [["model", "task", f"{result['torch_threads']} threads (ms)", "1 thread (ms)", "1 thread / default"]]
    for m in result["models"]:
        for label, key in (("decode 30x30 grid (+ tiling)", "decode_grid_30x30"), ("encode 10,000 images", "encode_10k")):
            if f"{key}_1thread" in m:
                a, b = m[key]["median_ms"], m[f"{key}_1thread"]["median_ms"]
                one.append([m["name"], label, f"{a:.3g}", f"{b:.3g}", f"{b / a:.2f}"])
    if len(one) > 1:
        lines += ["", "Same work on one torch thread (torch.set_num_threads(1)), same run:", "", md_table(one)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoints", default=str(REPO / "checkpoints"), help="folder of checkpoints")
    parser.add_argument("--models", nargs="*", default=None,
                        help=f"names to time (default: those of {', '.join(DEFAULT_MODELS)} that exist)")
    parser.add_argument("--repeats", type=int, default=200, help="repeats for one-image decodes (others scale down)")
    parser.add_argument("--out", default=str(RESULTS / "latency"), help="output path without extension")
    args = parser.parse_args(argv)

    folder = Path(args.checkpoints)
    names = args.models or [n for n in DEFAULT_MODELS if (folder / f"{n}.json").exists()]
    if not names:
        print(f"no checkpoints to time in {folder} (looked for {', '.join(DEFAULT_MODELS)})")
        return 1
    result = {"benchmark": "latency", "machine": machine_info(), "torch_threads": torch.get_num_threads(),
              "models": []}
    for name in names:
        print(f"timing {name} ...", flush=True)
        result["models"].append(bench_model(folder / name, args.repeats))
    result["machine_after"] = machine_info(brief=True)
    write_results(args.out, result, to_markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
