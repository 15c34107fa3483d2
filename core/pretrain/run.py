"""The pretrain run: load each dataset once, train every spec, store it as float16 with its card.

Determinism: fixed seeds, the CPU, and one BLAS thread (``PRETRAIN_THREADS``). The same
machine gives the same numbers; another CPU or library version gives numbers within noise.
One thread is also the fastest choice on a small shared machine: two threads contending
with other processes for two cores ran an epoch 10-20 times slower in our measurements.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from core.checkpoints import read_card, save_checkpoint
from core.data import Dataset, DatasetError, load_dataset
from core.evaluate import evaluate
from core.pipeline import TrainedModel, tensors_of, train_and_save
from core.pretrain import specs as spec_table
from core.pretrain.float16 import (
    FLOAT16_TOLERANCE,
    PRECISION,
    calibration_codes,
    float16_check,
    float16_weights,
    verify_saved,
)
from core.pretrain.specs import DATA_NEEDS, SHIPPED_SPLITS, PretrainSpec, format_spec_list, rebuild_command
from core.report import format_metrics_table
from core.train import TqdmCallback

PRETRAIN_THREADS = 1  # BLAS threads while rebuilding: deterministic, and fastest on a shared 2-core machine
IWAE_K = 100  # importance samples of the -log p(x) estimate (VAEs)
SEED_METRICS = ("mse", "bernoulli_nll_at_mean", "reconstruction", "kl", "neg_elbo", "active_units")


def load_data(spec: PretrainSpec, data_dir: str | Path | None) -> Dataset:
    # MNIST never downloads here: the shipped models train on the bundled 5,000-image subset,
    # and downloading the full training set would change (and slow down) the rebuild.
    dataset = load_dataset(spec.dataset, data_dir, download=spec.dataset == "frey")
    expected = SHIPPED_SPLITS.get(spec.dataset)
    got = (len(dataset.train_images), len(dataset.test_images))
    if expected and got != expected:
        print(
            f"note: {spec.dataset} here has {got[0]:,} training / {got[1]:,} test images; the shipped "
            f"checkpoints used {expected[0]:,} / {expected[1]:,}, so the rebuilt numbers will differ. "
            f"For the shipped data the data dir needs: {DATA_NEEDS[spec.dataset]}.",
            file=sys.stderr,
        )
    return dataset


def train_seeds(spec: PretrainSpec, dataset: Dataset, show_progress: bool) -> tuple[TrainedModel, dict | None]:
    """Train ``spec`` with seeds 0..spec.seeds-1; return the most typical run and the seeds' record.

    Several seeds measure what training noise alone moves the numbers by (the spread), which is
    what a rebuild on another machine is compared with. The shipped run is the one closest to
    the seeds' mean (in units of their spread), so the card's numbers are typical, not lucky.
    """
    runs: list[TrainedModel] = []
    for seed in range(spec.seeds):
        train_config = spec.run.replace(seed=seed).train_config()
        callbacks = [TqdmCallback(train_config.epochs, f"{spec.name} seed {seed}")] if show_progress else []
        runs.append(train_and_save(dataset, spec.model_config(dataset.image_shape), train_config, None, callbacks,
                                   iwae_k=0))
    if spec.seeds == 1:
        chosen, record = runs[0], None
    else:
        record = seed_record([r.metrics.to_dict() for r in runs], spec.kind)
        chosen = runs[record["shipped_seed"]]
    if spec.kind == "vae":  # the IWAE estimate of the shipped run only (it costs as much as the training)
        train_x, test_x = tensors_of(dataset)
        seed = chosen.card["train_config"]["seed"]
        chosen.metrics = evaluate(chosen.model, test_x, dataset.test_labels, train_x, dataset.train_labels,
                                  iwae_k=IWAE_K, seed=seed)
        chosen.card["metrics"] = chosen.metrics.to_dict()
    return chosen, record


def seed_record(runs: list[dict], kind: str, shipped: int | None = None) -> dict:
    """A card's ``seeds`` record from the test metrics of seeds 0..n-1: each run, their mean and
    standard deviation, and the shipped seed (``shipped``, or else the most typical run: the one
    closest to the seeds' mean in units of their spread, so the card's numbers are not lucky ones)."""
    table = {key: [float(r[key]) for r in runs] for key in SEED_METRICS if runs[0].get(key) is not None}
    spread = {key: float(np.std(values, ddof=1)) for key, values in table.items()}
    typical = ("reconstruction", "kl") if kind == "vae" else ("mse",)

    def distance(i: int) -> float:
        return sum(((table[k][i] - np.mean(table[k])) / (spread[k] or 1.0)) ** 2 for k in typical)

    return {
        "shipped_seed": min(range(len(runs)), key=distance) if shipped is None else shipped,
        "runs": [{"seed": i, **{k: table[k][i] for k in table}} for i in range(len(runs))],
        "mean": {k: float(np.mean(v)) for k, v in table.items()},
        "std": spread,
    }


def pretrain_one(spec: PretrainSpec, dataset: Dataset, out: str | Path, data_dir: str | Path | None,
                 show_progress: bool = True) -> dict:
    """Train, check the float16 storage, save NAME.safetensors + NAME.json; return the card."""
    started = time.perf_counter()
    trained, seeds = train_seeds(spec, dataset, show_progress)
    stored, rounding = float16_weights(trained.model, calibration_codes(trained.model, dataset))
    check = {**float16_check(trained.model, stored, dataset), "rounding": rounding}
    if not check["max_abs_diff"] <= FLOAT16_TOLERANCE:
        raise RuntimeError(
            f"{spec.name}: float16 weights change decoded images by up to {check['max_abs_diff']:.2e} "
            f"(allowed {FLOAT16_TOLERANCE:g}); nothing was saved"
        )
    card = dict(trained.card)
    card.update(
        title=spec.title,
        description=spec.description,
        sweep=spec.sweep,
        seeds=seeds,
        command=rebuild_command(spec),
        rebuild_data=DATA_NEEDS.get(spec.dataset),
        pretrain={"threads": torch.get_num_threads(), "seconds": None},
        float16_check=check,
    )
    path = Path(out) / spec.name
    card["pretrain"]["seconds"] = round(time.perf_counter() - started, 2)
    saved = save_checkpoint(stored, path, card, precision=PRECISION)  # float16-exact: stored as is
    verify_saved(trained.model, path, dataset)
    write_codes(path, dataset)
    return saved


def write_codes(path: Path, dataset: Dataset) -> None:
    """NAME.codes.safetensors beside the checkpoint just saved (core/codes.py): the app's latent
    maps load these codes instead of encoding the test set."""
    from core.codes import build_codes

    build_codes(path, dataset)


def run_pretrain(out: str | Path = "checkpoints", data_dir: str | Path | None = None,
                 only: list[str] | None = None, list_only: bool = False) -> int:
    """Rebuild the shipped checkpoints into ``out``; returns a process exit status."""
    from tqdm.auto import tqdm

    try:
        specs = spec_table.select_specs(only)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if list_only:
        print(format_spec_list(specs))
        return 0

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(PRETRAIN_THREADS)
    started = time.perf_counter()
    cards: list[dict] = []
    skipped: list[str] = []
    datasets: dict[str, Dataset | DatasetError] = {}
    try:
        bar = tqdm(total=len(specs), desc="pretrain", unit="model")
        for spec in specs:
            if spec.dataset not in datasets:
                try:
                    datasets[spec.dataset] = load_data(spec, data_dir)
                except DatasetError as err:
                    datasets[spec.dataset] = err
            dataset = datasets[spec.dataset]
            if isinstance(dataset, DatasetError):
                if only:
                    bar.close()
                    print(f"error: cannot build {spec.name}: {dataset}", file=sys.stderr)
                    return 2
                tqdm.write(f"skipping {spec.name}: dataset {spec.dataset!r} is not available ({dataset})",
                           file=sys.stderr)
                skipped.append(spec.name)
                bar.update(1)
                continue
            card = pretrain_one(spec, dataset, out, data_dir)
            cards.append(card)
            m = card["metrics"]
            score = f"-ELBO {m['neg_elbo']:.1f}" if m.get("neg_elbo") is not None else f"MSE {m['mse']:.4f}"
            tqdm.write(f"saved {Path(out) / spec.name} ({score}, {card['pretrain']['seconds']:.0f} s)")
            bar.update(1)
        bar.close()
    finally:
        torch.set_num_threads(previous_threads)

    total = time.perf_counter() - started
    if cards:
        print(format_metrics_table([read_card(Path(out) / card["name"]) for card in cards]))
    print(f"built {len(cards)} checkpoint(s) into {out} in {total / 60:.1f} min"
          + (f"; skipped {len(skipped)}: {', '.join(skipped)}" if skipped else ""))
    return 0
