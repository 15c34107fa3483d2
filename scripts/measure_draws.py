"""Measure the shipped models over many draws (core/realism.py) and write the numbers the pages quote.

    nice python -m scripts.measure_draws            # about 10 minutes on one CPU thread

Writes checkpoints/judge/draws.json (read by the Interpolation, Manifold, Compare and Home pages:
each model's numbers with their spread, and every pair's path measures so a page can say where
its pair falls) and bench/results/judge.md (the tables). For each model: 5 x 1,000 samples from
the prior, 200 random test pairs (10 steps, linear and spherical paths), the cells of the
Manifold page's default grid, a 2-D map's holes, and reconstructions as the ceiling.

Every member of a shipped beta sweep is also judged on the Beta page's own draws, z ~ N(0, I)
for every beta (``sweep_priors``); ``--sweeps-only`` measures just those and keeps the rest.

16-D PCA and a 16-D linear AE are not shipped; they are fitted here (seed 0, the CLI's defaults)
so that the 16-D rows have all four kinds. The 16-D "AE" is the shipped beta = 0 VAE
(reconstruction only), sampled like an AE from a Gaussian fitted to its test codes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from core import judge, realism
from core.atomicfile import write_atomically
from core.card import Card
from core.checkpoints import list_checkpoints, load_checkpoint
from core.data import load_dataset
from core.pipeline import train_and_save
from core.runspec import RunSpec
from explorer.logic import analysis, spaces

REPO = Path(__file__).resolve().parents[1]
DRAWS_JSON = REPO / "checkpoints" / "judge" / "draws.json"
RESULTS_MD = REPO / "bench" / "results" / "judge.md"
# Samples per batch and batches, random test pairs, images per path (the page's default), the Manifold
# page's default grid (n x n, a VAE's linear span); --quick shrinks the draws to check the script.
SETTINGS = {"samples": 1000, "seeds": 5, "pairs": 200, "steps": 10, "grid_n": 20, "span": 3.0}
QUICK = {"samples": 100, "seeds": 2, "pairs": 10}
# (row label, checkpoint name or None when fitted here, kind, latent dim); the order of the tables.
MODELS = {
    "mnist": [
        ("PCA", "mnist-pca-2", "pca", 2), ("linear AE", "mnist-linear-ae-2", "linear-ae", 2),
        ("AE", "mnist-ae-2", "ae", 2), ("VAE", "mnist-vae-2", "vae", 2),
        ("PCA", None, "pca", 16), ("linear AE", None, "linear-ae", 16),
        ("AE (VAE beta 0)", "mnist-vae-16-beta0", "ae", 16), ("VAE", "mnist-vae-16", "vae", 16),
    ],
    "frey": [
        ("PCA", "frey-pca-2", "pca", 2), ("linear AE", "frey-linear-ae-2", "linear-ae", 2),
        ("AE", "frey-ae-2", "ae", 2), ("VAE", "frey-vae-2", "vae", 2), ("VAE", "frey-vae-8", "vae", 8),
    ],
}


def fitted_here(dataset, kind: str, dim: int):
    """An unshipped linear model of dimension ``dim``: PCA in closed form, the linear AE with the CLI's defaults."""
    run = RunSpec.for_kind(kind, dim, seed=0, device="cpu")
    return train_and_save(dataset, run.model_config(dataset.image_shape), run.train_config(), None, iwae_k=0).model


def measure_model(model, card: Card | None, role: str, dataset, scorer, pairs: np.ndarray, settings: dict) -> dict:
    """Every measure of one model (see the module docstring)."""
    variational = role == "vae"  # the beta = 0 VAE is sampled like an AE: it has no prior to speak of
    test_codes = realism.encode(model, dataset.test_images)
    steps, n = settings["steps"], settings["grid_n"]
    out = {"prior": realism.prior_samples(model, variational, test_codes, scorer, settings["samples"],
                                          settings["seeds"]),
           "reconstructions": realism.reconstructions(model, dataset.test_images, scorer),
           "interpolation": {method: realism.interpolations(model, dataset.test_images, scorer, pairs, steps, method)
                             for method in realism.PATHS}}
    stats = (spaces.prior_stats(model.latent_dim, settings["span"]) if model.variational
             else spaces.stats_from_codes(test_codes))
    dims = (0, 1) if card is None else analysis.map_dims(card)
    out["manifold"] = {**realism.grid_cells(model, spaces.grid_over(stats, dims, n, "linear").z.numpy(), scorer),
                       "dims": list(dims), "n": n}
    if model.latent_dim == 2:
        out["holes"] = realism.holes(model, test_codes, stats.low, stats.high, scorer)
    return out


def sweep_priors(dataset, scorer, settings: dict, log) -> dict:
    """Each shipped beta-sweep member of this dataset, decoded from N(0, I) as the Beta page draws it
    whatever the beta (so beta = 0 is judged on the prior it was never pulled towards)."""
    cards = [c for c in list_checkpoints(REPO / "checkpoints") if c.dataset_name == dataset.name]
    out = {}
    for group in analysis.sweep_groups(cards).values():
        for card in group.models:
            model, _ = load_checkpoint(card.path)
            out[card.name] = {"sweep": group.name, "beta": card.beta, "latent_dim": group.latent_dim,
                              "weights_sha256": card.get("weights_sha256"),
                              "prior": realism.prior_samples(model, True, np.zeros((1, group.latent_dim)), scorer,
                                                             settings["samples"], settings["seeds"])}
            log(f"sweep {group.name}: {card.name}")
    return out


def scorer_reference(dataset, scorer) -> dict:
    if isinstance(scorer, realism.DigitScorer):
        card = judge.read_judge_card()
        real = realism.summarise(scorer(dataset.test_images))
        return {"kind": scorer.kind, "threshold": judge.CONFIDENT, "test_accuracy": card["test"]["accuracy"],
                "real_test_recognised": real["recognised"], "real_test_entropy": real["entropy"]}
    real = scorer(dataset.train_images)
    return {"kind": scorer.kind, "components": realism.FACE_COMPONENTS, "quantile": realism.FACE_QUANTILE,
            "threshold": scorer.threshold, "real_train_recognised": float(real.recognised.mean()),
            "real_train_nearest_l2_median": float(np.median(real.nearest_l2))}


def measure_dataset(name: str, settings: dict, log) -> tuple[dict, dict]:
    dataset = load_dataset(name, download=False)
    scorer = realism.scorer_for(dataset)
    pairs = realism.random_pairs(len(dataset.test_images), settings["pairs"], seed=0)
    models = {}
    for label, checkpoint, role, dim in MODELS[name]:
        started = time.perf_counter()
        if checkpoint is None:
            model, card, key = fitted_here(dataset, role, dim), None, f"{name}-{role}-{dim}"
        else:
            (model, card), key = load_checkpoint(REPO / "checkpoints" / checkpoint), checkpoint
        entry = {"label": label, "kind": role, "latent_dim": dim, "dataset": name, "shipped": card is not None,
                 "weights_sha256": None if card is None else card.get("weights_sha256")}
        models[key] = {**entry, **measure_model(model, card, role, dataset, scorer, pairs, settings)}
        log(f"{key}: {time.perf_counter() - started:.0f} s")
    return scorer_reference(dataset, scorer), models, sweep_priors(dataset, scorer, settings, log)


def fmt_spread(entry: dict | None, digits: int = 2, percent: bool = False) -> str:
    if entry is None:
        return ""
    scale = 100 if percent else 1
    unit = "%" if percent else ""
    if "std" in entry:
        return f"{entry['mean'] * scale:.{digits}f}{unit} ± {entry['std'] * scale:.{digits}f}"
    low, high = entry["low"] * scale, entry["high"] * scale
    return f"{entry['mean'] * scale:.{digits}f}{unit} [{low:.{digits}f}, {high:.{digits}f}]"


def markdown(result: dict) -> str:
    s = result["settings"]
    lines = ["# The judge's measures over many draws", "",
             f"`python -m scripts.measure_draws`. Prior: {s['seeds']} x {s['samples']:,} samples, mean ± std over "
             f"the {s['seeds']} batches. Interpolation: {s['pairs']} random test pairs, {s['steps']} images per linear "
             f"path, mean [bootstrap 95% interval]. Manifold: the page's default {s['grid_n']}x{s['grid_n']} grid "
             f"(VAE ±{s['span']:g}, others their codes' range), share [bootstrap 95%]. Holes (2-D): 1,000 uniform "
             "codes in the grid's box; a hole has no test code within the radius 99% of test codes find a "
             "neighbour in. Recognised: see the scorer line (the judge's confidence, or the face feature map).", ""]
    for name, block in result["datasets"].items():
        ref = block["scorer"]
        lines += [f"## {name}", "", "Scorer: " + json.dumps(ref), "",
                  "| model | D | prior: recognised | prior: entropy | prior: median L2 to nearest test | "
                  "path: largest/mean step | path: intermediates recognised | path: mean step | grid cells "
                  "recognised | holes: share of box | recognised in holes | near data | reconstructions recognised |",
                  "|" + " --- |" * 13]
        for key, m in block["models"].items():
            p, lin, h = m["prior"], m["interpolation"]["linear"]["summary"], m.get("holes") or {}
            lines.append(" | ".join([
                f"| {m['label']} (`{key}`)", str(m["latent_dim"]), fmt_spread(p["recognised"], 1, True),
                fmt_spread(p.get("entropy"), 3), fmt_spread(p["nearest_l2_median"], 2),
                fmt_spread(lin["unevenness"], 2), fmt_spread(lin["recognised"], 1, True),
                fmt_spread(lin["mean_step"], 4), fmt_spread(m["manifold"]["recognised"], 1, True),
                fmt_spread(h.get("hole_share"), 1, True), fmt_spread(h.get("recognised_in_holes"), 1, True),
                fmt_spread(h.get("recognised_near_data"), 1, True),
                f"{m['reconstructions']['recognised'] * 100:.1f}%"]) + " |")
        lines += ["", "Beta sweeps, decoded from N(0, I) as the Beta page draws them for every beta:", "",
                  "| sweep | beta | prior: recognised | prior: median L2 to nearest test |", "|" + " --- |" * 4]
        for key, m in (block.get("sweep_priors") or {}).items():
            lines.append(f"| {m['sweep']} (`{key}`) | {m['beta']:g} | {fmt_spread(m['prior']['recognised'], 1, True)} | "
                         f"{fmt_spread(m['prior']['nearest_l2_median'], 2)} |")
        lines.append("")
    return "\n".join(lines)


def for_the_app(result: dict) -> dict:
    """The shipped JSON: everything but the unshipped models' per-pair lists, rounded."""
    def rounded(value):
        if isinstance(value, float):
            return round(value, 5)
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rounded(v) for v in value]
        return value

    out = rounded(result)
    for block in out["datasets"].values():
        for entry in block["models"].values():
            if not entry["shipped"]:  # no page shows their pairs
                for method in entry["interpolation"].values():
                    method.pop("per_pair", None)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=list(MODELS), help="datasets (default: all)")
    parser.add_argument("--quick", action="store_true", help="few draws, to check the script (writes to --out)")
    parser.add_argument("--sweeps-only", action="store_true",
                        help="measure only the beta sweeps' prior samples; keep the other numbers in the file")
    parser.add_argument("--out", default=None, help="folder for draws.json and judge.md (default: where they ship)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    settings = {**SETTINGS, **(QUICK if args.quick else {})}
    out_json, out_md = (DRAWS_JSON, RESULTS_MD) if args.out is None else (Path(args.out) / "draws.json",
                                                                         Path(args.out) / "judge.md")
    result = {"command": "python -m scripts.measure_draws", "settings": settings, "datasets": {}}
    if (args.only or args.sweeps_only) and out_json.exists():  # measure some datasets again, keep the others' numbers
        kept = json.loads(out_json.read_text())
        if kept.get("settings") == settings:
            result["datasets"] = {k: v for k, v in kept["datasets"].items() if k not in (args.only or MODELS)}
    for name in args.only or list(MODELS):
        if args.sweeps_only:
            kept = json.loads(out_json.read_text())["datasets"][name]
            dataset = load_dataset(name, download=False)
            result["datasets"][name] = {**kept, "sweep_priors": sweep_priors(dataset, realism.scorer_for(dataset),
                                                                             settings, print)}
            continue
        scorer, models, sweeps = measure_dataset(name, settings, print)
        result["datasets"][name] = {"scorer": scorer, "models": models, "sweep_priors": sweeps}
    result["datasets"] = {name: result["datasets"][name] for name in MODELS if name in result["datasets"]}
    payload = json.dumps(for_the_app(result), separators=(",", ":")) + "\n"
    write_atomically(out_json, lambda tmp: Path(tmp).write_text(payload))
    write_atomically(out_md, lambda tmp: Path(tmp).write_text(markdown(result) + "\n"))
    print(out_md.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
