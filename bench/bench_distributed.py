"""Training throughput of 1 and 2 gloo processes on the CPU: images/s and test -ELBO.

    python -m bench.bench_distributed                 # 3 repeats, writes bench/results/distributed.*
    python -m bench.bench_distributed --quick         # 1 repeat, 2 epochs, writes nothing

Every configuration trains the same VAE (784-400-20, Bernoulli, Adam 1e-3) on the same data
(MNIST's offline 5,000-image subset from ``--data-dir``; scikit-learn's digits if that is
missing) at the same **global batch of 128**, for ``--epochs`` epochs:

* 1 process, 1 thread: ``core.train.fit`` as ``python -m core train`` runs it;
* 1 process, 2 threads: the same, torch using both cores (the other way to use 2 cores);
* 2 processes x 1 thread, gloo: ``torchrun --standalone --nproc_per_node 2``, per-rank batch 64.

Images/s = training images / the median epoch's wall time (epochs after the first: the first
includes DDP's start and allocator warm-up; no test pass is timed). The test -ELBO is measured
after the last epoch on rank 0. Each figure is the median over ``--repeats`` launches.
Process start-up (importing torch, forming the group) is reported apart.

Writes bench/results/distributed.json and bench/results/distributed.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = "/work/shared/data"
GLOBAL_BATCH = 128


def worker(args: argparse.Namespace) -> None:
    """One training (under torchrun: one rank); rank 0 prints a JSON line."""
    sys.path.insert(0, str(REPO))
    import torch

    torch.set_num_threads(args.threads)
    from core import distributed
    from core.data import DatasetError, load_dataset
    from core.models import ModelConfig, build_model
    from core.train import TrainConfig, evaluate_terms, fit

    distributed.init_from_env("cpu")
    d = distributed.info()
    try:
        ds = load_dataset("mnist", args.data_dir, download=False)
    except DatasetError:
        ds = load_dataset("digits")
    x, t = torch.from_numpy(ds.train_images), torch.from_numpy(ds.test_images)
    torch.manual_seed(args.seed)
    model = build_model(ModelConfig("vae", ds.image_shape, 20, hidden=(400,)))
    config = TrainConfig(epochs=args.epochs, batch_size=GLOBAL_BATCH // d.world_size, seed=args.seed, device="cpu")
    result = fit(model, x, None, config)
    if d.is_main:
        recon, kl = evaluate_terms(model, t)
        epoch_s = [s.seconds for s in result.history]
        steady = epoch_s[1:] or epoch_s
        print("RESULT " + json.dumps({
            "world_size": d.world_size, "threads": args.threads, "dataset": ds.name, "n_train": len(x),
            "epoch_seconds": epoch_s, "images_per_s": len(x) / statistics.median(steady),
            "test_neg_elbo": recon + kl, "since_start_s": time.time() - args.t0,
        }), flush=True)
    distributed.shutdown()


def launch(world: int, threads: int, args: argparse.Namespace, seed: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    tail = ["--worker", "--threads", str(threads), "--epochs", str(args.epochs), "--seed", str(seed),
            "--data-dir", args.data_dir, "--t0", repr(time.time())]
    if world == 1:
        cmd = [sys.executable, "-m", "bench.bench_distributed", *tail]
    else:
        torchrun = str(Path(sys.executable).with_name("torchrun"))
        cmd = [torchrun, "--standalone", "--nproc_per_node", str(world), "-m", "bench.bench_distributed", *tail]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    r = json.loads(lines[-1][len("RESULT "):])
    r["startup_s"] = r["since_start_s"] - sum(r["epoch_seconds"])
    return r


CONFIGS = [(1, 1, "1 process, 1 thread"), (1, 2, "1 process, 2 threads"), (2, 1, "2 processes x 1 thread (gloo)")]


def to_markdown(result: dict) -> str:
    from bench.run_all import machine_markdown, md_table

    rows = [["configuration", "per-rank batch", "global batch", "train images/s (median)", "runs (images/s)",
             "test -ELBO (nats, median)", "start-up s"]]
    for c in result["configs"]:
        rows.append([c["label"], GLOBAL_BATCH // c["world_size"], GLOBAL_BATCH, f"{c['images_per_s']:.0f}",
                     ", ".join(f"{v:.0f}" for v in c["runs_images_per_s"]), f"{c['test_neg_elbo']:.2f}",
                     f"{c['startup_s']:.1f}"])
    one = result["configs"][0]["images_per_s"]
    two = result["configs"][2]["images_per_s"]
    return "\n".join([
        "# Distributed training on the CPU: 1 vs 2 gloo processes", "",
        "Written by `python -m bench.bench_distributed`. " + machine_markdown(result["machine"]), "",
        f"Data: {result['dataset']} ({result['n_train']:,} training images). Model: VAE 784-400-20, Bernoulli, "
        f"Adam 1e-3, {result['epochs']} epochs, global batch {GLOBAL_BATCH} in every row. Images/s: training "
        f"images / median epoch wall time (first epoch excluded); medians of {result['repeats']} launches.", "",
        md_table(rows), "",
        f"2 processes vs 1 process at 1 thread: {two / one:.2f}x the images/s. On a 2-core machine that "
        "other jobs share, two ranks contend for the same cores as the gradient all-reduce (gloo over "
        "loopback, once per step); the speed-up that matters comes from several GPUs or machines. "
        "The test -ELBO is the same objective's result either way (see tests/test_distributed.py).",
    ]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    parser.add_argument("--quick", action="store_true", help="1 repeat, 2 epochs; writes nothing")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--t0", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    if args.quick:
        args.repeats, args.epochs = 1, 2
    from bench.run_all import RESULTS, machine_info, write_results

    machine = machine_info()
    runs: dict[tuple, list[dict]] = {c[:2]: [] for c in CONFIGS}
    for rep in range(args.repeats):
        for world, threads, label in CONFIGS:  # interleaved, so load drifts hit every configuration
            r = launch(world, threads, args, seed=rep)
            runs[(world, threads)].append(r)
            print(f"repeat {rep + 1}: {label}: {r['images_per_s']:.0f} images/s, "
                  f"test -ELBO {r['test_neg_elbo']:.2f}, start-up {r['startup_s']:.1f} s", flush=True)
    configs = []
    for world, threads, label in CONFIGS:
        rs = runs[(world, threads)]
        configs.append({
            "label": label, "world_size": world, "threads": threads,
            "images_per_s": statistics.median(r["images_per_s"] for r in rs),
            "runs_images_per_s": [r["images_per_s"] for r in rs],
            "test_neg_elbo": statistics.median(r["test_neg_elbo"] for r in rs),
            "runs_test_neg_elbo": [r["test_neg_elbo"] for r in rs],
            "startup_s": statistics.median(r["startup_s"] for r in rs),
        })
    first = runs[CONFIGS[0][:2]][0]
    result = {"machine": machine, "dataset": first["dataset"], "n_train": first["n_train"], "epochs": args.epochs,
              "repeats": args.repeats, "global_batch": GLOBAL_BATCH, "configs": configs}
    if args.quick:
        print(to_markdown(result))
    else:
        write_results(RESULTS / "distributed", result, to_markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
