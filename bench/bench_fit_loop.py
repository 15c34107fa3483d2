"""The fit loop, this checkout against another one: its size in lines and its epoch time.

    python -m bench.bench_fit_loop --before /tmp/old-checkout       # writes bench/results/fit_loop.*
    python -m bench.bench_fit_loop --before /tmp/old-checkout --quick   # 1 repeat, 3 epochs, writes nothing

Size: the lines (``def`` to last line, docstrings and comments included) of every function and
class in each checkout's core/train.py from ``def fit`` on (TrainConfig and the per-kind
defaults above it are run settings, not the loop), plus the whole of core/distributed.py,
core/amp.py and core/streaming.py.

Time: a VAE of pytorch/examples' shape (784-400-20) trained by ``core.train.fit`` on the 5,000
images of the offline MNIST subset (batch 128, lr 1e-3, no test split, so an epoch is training
only), on one torch thread, in a fresh process per run; the two checkouts alternate which runs
first. Reported: the median of every epoch's seconds after the first (warm-up) over all
repeats, and the ratio after / before.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.run_all import RESULTS, machine_info, machine_markdown, md_table
from core.settings import settings

REPO = Path(__file__).resolve().parents[1]
WRAPPERS = ("core/distributed.py", "core/amp.py", "core/streaming.py")

RUN = """
import json, sys, torch
torch.set_num_threads(1)
from core.data import load_dataset
from core.models import ModelConfig, build_model
from core.train import TrainConfig, fit
data = load_dataset("mnist", download=False)
x = torch.from_numpy(data.train_images)
torch.manual_seed(0)
model = build_model(ModelConfig("vae", data.image_shape, 20, hidden=(400,)))
result = fit(model, x, None, TrainConfig(epochs=int(sys.argv[1]), batch_size=128, lr=1e-3, device="cpu"))
print(json.dumps([s.seconds for s in result.history]))
"""


def loop_lines(root: Path) -> dict:
    """Lines per function/class of core/train.py from ``def fit`` on, and of the wrapper modules."""
    tree = ast.parse((root / "core" / "train.py").read_text())
    fit_line = next(n.lineno for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "fit")
    parts = {n.name: n.end_lineno - n.lineno + 1 for n in tree.body
             if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.lineno >= fit_line}
    wrappers = {w: len((root / w).read_text().splitlines()) for w in WRAPPERS}
    return {"train.py from fit": parts, "train.py loop total": sum(parts.values()), "wrappers": wrappers}


def epoch_seconds(root: Path, epochs: int) -> list[float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LATENT_EXPLORER_DATA": str(settings().data)}  # the same images
    out = subprocess.run([sys.executable, "-c", RUN, str(epochs)], cwd=root, capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])[1:]  # the first epoch warms up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="a checkout of the code to compare with")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="1 repeat, 3 epochs; writes nothing")
    args = parser.parse_args()
    roots = {"before": Path(args.before).resolve(), "after": REPO}
    repeats, epochs = (1, 3) if args.quick else (args.repeats, args.epochs)
    seconds: dict[str, list[float]] = {name: [] for name in roots}
    for r in range(repeats):
        for name in (list(roots) if r % 2 == 0 else list(roots)[::-1]):
            seconds[name] += epoch_seconds(roots[name], epochs)
    medians = {name: statistics.median(s) for name, s in seconds.items()}
    result = {
        "machine": machine_info(),
        "settings": {"repeats": repeats, "epochs": epochs, "threads": 1, "model": "vae 784-400-20",
                     "data": "offline MNIST subset, 5,000 images", "batch_size": 128},
        "lines": {name: loop_lines(root) for name, root in roots.items()},
        "epoch_seconds": seconds,
        "median_epoch_seconds": medians,
        "ratio_after_before": medians["after"] / medians["before"],
    }
    rows = [[name, result["lines"][name]["train.py loop total"], sum(result["lines"][name]["wrappers"].values()),
             f"{medians[name]:.3f}", len(seconds[name])] for name in roots]
    md = "\n".join([
        "# The fit loop: lines and epoch time", "", machine_markdown(result["machine"]), "",
        md_table([["checkout", "train.py lines from fit", "distributed + amp + streaming lines",
                   "median epoch s", "epochs timed"], *rows]),
        "", f"after / before epoch time: {result['ratio_after_before']:.3f}", "",
        "Per function (core/train.py):", "",
        *(f"- {name}: {result['lines'][name]['train.py from fit']}" for name in roots),
    ])
    print(md)
    if not args.quick:
        (RESULTS / "fit_loop.json").write_text(json.dumps(result, indent=2) + "\n")
        (RESULTS / "fit_loop.md").write_text(md + "\n")


if __name__ == "__main__":
    main()
