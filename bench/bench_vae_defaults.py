"""Does the Train page's VAE, at its defaults, avoid posterior collapse on every bundled dataset?

Trains the page's default run (RunSpec.for_kind("vae", 2) with the likelihood the dataset suits,
core.data.default_likelihood) on digits, the MNIST subset and Frey, a few seeds each, and reports
the active units (core/collapse.py: mean test KL > 0.01 nats), the KL and the epochs run.

    python -m bench.bench_vae_defaults                     # digits and frey seeds 0-1, mnist seed 0
    python -m bench.bench_vae_defaults --datasets frey --seeds 0 1 2 --likelihood bernoulli
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.run_all import RESULTS, write_results
from core.collapse import collapse_note
from core.data import default_likelihood, load_dataset
from core.pipeline import train_and_save
from core.runspec import RunSpec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "frey", "mnist"])
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="default: 0 1 (mnist: 0)")
    parser.add_argument("--likelihood", default=None, help="default: the one each dataset suits")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for name in args.datasets:
        data = load_dataset(name, download=False)
        likelihood = args.likelihood or default_likelihood(name)
        for seed in args.seeds or ([0] if name == "mnist" else [0, 1]):
            run = RunSpec.for_kind("vae", 2, likelihood=likelihood, seed=seed)
            started = time.perf_counter()
            trained = train_and_save(data, run.model_config(data.image_shape), run.train_config(), None, iwae_k=0)
            m = trained.metrics
            rows.append({"dataset": name, "likelihood": likelihood, "seed": seed, "active_units": m.active_units,
                         "kl": round(m.kl, 3), "reconstruction": round(m.reconstruction, 2),
                         "epochs": len(trained.result.history),
                         "collapsed": collapse_note(m.kl_per_dim) is not None,
                         "seconds": round(time.perf_counter() - started, 1)})
            print(rows[-1], flush=True)
    head = ["dataset", "likelihood", "seed", "active_units", "kl", "reconstruction", "epochs", "collapsed", "seconds"]
    table = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    table += ["| " + " | ".join(str(r[k]) for k in head) + " |" for r in rows]
    write_results(RESULTS / "vae_defaults", {"rows": rows}, lambda _: "\n".join(
        ["# The Train page's VAE defaults: active units per bundled dataset", "",
         "2-D VAE, the page's defaults (core.train.KIND_DEFAULTS['vae']), test split; "
         "`python -m bench.bench_vae_defaults`.", "", *table, ""]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
