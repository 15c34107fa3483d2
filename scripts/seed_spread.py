"""Measure a shipped checkpoint's seed-to-seed spread without replacing it: train its spec again
with seeds 1..N-1, evaluate each on the test split, and write the seeds' record (each run, mean,
standard deviation; core.pretrain.run.seed_record) into its card. The weights stay the shipped
seed 0, so every number on the card still describes the file beside it.

    python -m scripts.seed_spread --only mnist-vae-2 mnist-vae-2-beta0.5 --seeds 3

The Beta page draws these spreads beside the rate-distortion curve and the headline numbers:
a difference between two betas smaller than the training noise is said to be noise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from core.atomicfile import write_atomically
from core.checkpoints import read_card
from core.pipeline import train_and_save
from core.pretrain.run import PRETRAIN_THREADS, load_data, seed_record
from core.pretrain.specs import select_specs

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", required=True, help="shipped checkpoint names")
    parser.add_argument("--seeds", type=int, default=3, help="seeds in all, the shipped seed 0 included")
    parser.add_argument("--dir", default=str(REPO / "checkpoints"))
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    if args.seeds < 2:
        parser.error("--seeds must be at least 2 (a spread needs two runs)")
    torch.set_num_threads(PRETRAIN_THREADS)
    for spec in select_specs(args.only):
        card_path = Path(args.dir) / f"{spec.name}.json"
        card = read_card(card_path).to_dict()
        if card["train_config"]["seed"] != 0 or (card.get("seeds") or {}).get("shipped_seed", 0) != 0:
            print(f"{spec.name}: the shipped weights are not seed 0; rebuild it with `python -m core pretrain`",
                  file=sys.stderr)
            return 2
        dataset = load_data(spec, args.data_dir)
        runs = [card["metrics"]]
        for seed in range(1, args.seeds):
            trained = train_and_save(dataset, spec.model_config(dataset.image_shape),
                                     spec.run.replace(seed=seed).train_config(), None, iwae_k=0)
            runs.append(trained.metrics.to_dict())
            print(f"{spec.name} seed {seed}: reconstruction {runs[-1]['reconstruction']:.2f}, "
                  f"KL {runs[-1].get('kl') or 0:.2f}", flush=True)
        card["seeds"] = seed_record(runs, spec.kind, shipped=0)
        text = json.dumps(card, indent=1, sort_keys=False)
        write_atomically(card_path, lambda tmp: Path(tmp).write_text(text))
        std = card["seeds"]["std"]
        print(f"{spec.name}: spread over {args.seeds} seeds: reconstruction ± {std['reconstruction']:.2f}, "
              f"KL ± {std.get('kl', float('nan')):.2f} nats", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
