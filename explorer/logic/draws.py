"""The numbers measured over many draws, as the pages quote them.

``python -m scripts.measure_draws`` measures every shipped model with the judge (core/judge.py,
core/realism.py) and writes checkpoints/judge/draws.json: samples from the prior, interpolation
paths between 200 random test pairs, manifold grid cells and a 2-D map's holes, each with its
spread. Here: reading that file, finding a model's entry (only while its weights are the ones
measured), and writing the sentences that compare models from it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.card import Card

# Beside the judge (core/judge.JUDGE_PATH). Not imported from there: core.judge imports torch, and
# the home page quotes these numbers before torch is loaded.
DRAWS_PATH = Path(__file__).resolve().parents[2] / "checkpoints" / "judge" / "draws.json"


def read_draws(path: str | Path = DRAWS_PATH) -> dict | None:
    """The measured numbers, or None when the file is missing or unreadable."""
    try:
        draws = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return draws if isinstance(draws, dict) and isinstance(draws.get("datasets"), dict) else None


def entry_for(draws: dict | None, card: Card) -> dict | None:
    """A model's measured numbers, or None: not measured, or its weights changed since."""
    block = ((draws or {}).get("datasets") or {}).get(card.dataset_name) or {}
    entry = (block.get("models") or {}).get(card.name)
    if not entry or entry.get("weights_sha256") != card.get("weights_sha256"):
        return None
    return entry


def entry_named(draws: dict | None, dataset: str, name: str) -> dict | None:
    """An entry by name (the 16-D PCA and linear AE the script fits itself are measured, not shipped)."""
    return (((draws or {}).get("datasets") or {}).get(dataset) or {}).get("models", {}).get(name)


def share(e: dict | None) -> str:
    """A share with its spread: '41% ± 1.2' (std over batches of samples) or '41% [37–45]' (bootstrap
    95% interval over pairs or cells)."""
    if e is None:
        return "n/a"
    if "std" in e:
        return f"{100 * e['mean']:.0f}% ± {100 * e['std']:.1f}"
    return f"{100 * e['mean']:.0f}% [{100 * e['low']:.0f}–{100 * e['high']:.0f}]"


def value(e: dict | None, digits: int = 2) -> str:
    """A number with its spread, as ``share`` writes it."""
    if e is None:
        return "n/a"
    if "std" in e:
        return f"{e['mean']:.{digits}f} ± {e['std']:.{digits}f}"
    return f"{e['mean']:.{digits}f} [{e['low']:.{digits}f}–{e['high']:.{digits}f}]"


def judged_by(draws: dict, dataset: str) -> str:
    """How 'recognised' is decided for this dataset, in words."""
    scorer = draws["datasets"][dataset]["scorer"]
    if "test_accuracy" in scorer:
        return (f"the judge, a digit classifier trained on real digits only (test accuracy "
                f"{100 * scorer['test_accuracy']:.1f}%), is at least {100 * scorer['threshold']:.0f}% sure it is one "
                f"digit (true of {100 * scorer['real_test_recognised']:.0f}% of real test digits)")
    return (f"it lies as close to a real test face as {100 * scorer['quantile']:.0f}% of real training faces do, "
            f"in the space of the training faces' top {scorer['components']} principal components")


# ----------------------------------------------------------------------------- Interpolation


def path_summary(entry: dict, method: str) -> dict:
    return entry["interpolation"][method]["summary"]


def percentile_of(value: float, population) -> float:
    """Where one pair falls among many (in %): the share of ``population`` below ``value``, plus half
    the share equal to it (mid-rank), so a value that ties with every pair sits at the 50th, not the 100th."""
    population = np.asarray(population, dtype=np.float64)
    below = (population < value - 1e-9).mean()
    equal = (np.abs(population - value) <= 1e-9).mean()
    return float(100.0 * (below + equal / 2))


def pair_placement(entry: dict, method: str, unevenness: float, recognised: float) -> tuple[float, float]:
    """Where one path falls among the measured pairs: the percentiles of its two measures."""
    per_pair = entry["interpolation"][method]["per_pair"]
    return percentile_of(unevenness, per_pair["unevenness"]), percentile_of(recognised, per_pair["recognised"])


def interpolation_caption(draws: dict, dataset: str, entries: dict[str, dict], method: str) -> str:
    """What the many pairs show, model by model, with the spread; which model is most even and
    which stays most on the data (the two need not be the same)."""
    settings = draws["settings"]
    parts = []
    for label, entry in entries.items():
        s = path_summary(entry, method)
        parts.append(f"**{label}**: largest step {value(s['unevenness'])} × the mean step, "
                     f"{share(s['recognised'])} of the intermediate images recognised")
    text = (f"Over {settings['pairs']} random pairs of test images ({settings['steps']} images per path, {method} "
            "path), mean [bootstrap 95% interval]: " + "; ".join(parts) + ". ")
    if len(entries) > 1:
        even = min(entries, key=lambda k: path_summary(entries[k], method)["unevenness"]["mean"])
        on_data = max(entries, key=lambda k: path_summary(entries[k], method)["recognised"]["mean"])
        if even != on_data:
            text += (f"Even is not the same as on the data: {even}'s steps are the most even, yet {on_data} keeps "
                     "the most of its path recognisable. ")
        else:
            text += f"{even}'s paths are both the most even and the most often recognised. "
    return text + f"An image counts as recognised when {judged_by(draws, dataset)}."


# ----------------------------------------------------------------------------- prior samples and grids

KIND_WORDS = {"pca": "PCA", "linear-ae": "linear AE", "ae": "AE", "vae": "VAE"}


def by_dim(draws: dict | None, dataset: str) -> dict[int, dict[str, tuple[str, dict]]]:
    """latent dim -> kind -> (model name, entry): the measured models of one dataset."""
    out: dict[int, dict[str, tuple[str, dict]]] = {}
    for name, entry in ((((draws or {}).get("datasets") or {}).get(dataset) or {}).get("models") or {}).items():
        out.setdefault(int(entry["latent_dim"]), {})[entry["kind"]] = (name, entry)
    return out


def clearly_apart(a: dict, b: dict) -> bool:
    """Two statistics over independent batches differ by more than twice their combined spread."""
    return abs(a["mean"] - b["mean"]) > 2 * np.hypot(a["std"], b["std"])


def _prior_pair(dim: int, ae: tuple[str, dict], vae: tuple[str, dict]) -> str:
    """One dimension's AE-versus-VAE sentence: recognised shares and distances, and what they say."""
    (ae_name, a), (vae_name, v) = ae, vae
    pa, pv = a["prior"], v["prior"]
    text = (f"**{dim}-D**: the VAE ({vae_name}) {share(pv['recognised'])} recognised, median distance to the "
            f"nearest test image {value(pv['nearest_l2_median'])}; the {a.get('label', 'AE')} ({ae_name}) "
            f"{share(pa['recognised'])}, {value(pa['nearest_l2_median'])}")
    closer = "VAE" if pv["nearest_l2_median"]["mean"] < pa["nearest_l2_median"]["mean"] else "AE"
    more = "VAE" if pv["recognised"]["mean"] > pa["recognised"]["mean"] else "AE"
    verdicts = []
    if clearly_apart(pv["nearest_l2_median"], pa["nearest_l2_median"]):
        verdicts.append(f"the {closer}'s samples lie closer to real images")
    if clearly_apart(pv["recognised"], pa["recognised"]):
        verdicts.append(f"more of the {more}'s are recognised")
    return text + (" — " + " and ".join(verdicts) if verdicts else " — no difference beyond the spread")


def prior_comparison(draws: dict | None, dataset: str) -> str | None:
    """What samples from the prior show, AE against VAE, at every dimension measured with both.

    The AE has no prior: its codes are drawn from a Gaussian fitted to its test codes (the 16-D
    'AE' is the beta = 0 VAE, trained on reconstruction only)."""
    dims = {d: kinds for d, kinds in sorted(by_dim(draws, dataset).items()) if {"ae", "vae"} <= set(kinds)}
    if not dims:
        return None
    s = draws["settings"]
    parts = [_prior_pair(d, kinds["ae"], kinds["vae"]) for d, kinds in dims.items()]
    return (f"Measured over {s['seeds']} × {s['samples']:,} decoded samples from the prior (the AE's from a Gaussian "
            "fitted to its test codes), mean ± std over the batches: " + "; ".join(parts) + ". "
            + lesson_framing(dims, scorer_name(draws, dataset)) + f"An image counts as recognised when "
            f"{judged_by(draws, dataset)}.")


def scorer_name(draws: dict, dataset: str) -> str:
    return "the judge" if "test_accuracy" in draws["datasets"][dataset]["scorer"] else "the face measure"


def _verdict(ae: dict, vae: dict, vae_better_when_lower: bool) -> str:
    """'vae', 'ae' or 'tie': which model's statistic is better, beyond the spread."""
    if not clearly_apart(ae, vae):
        return "tie"
    vae_lower = vae["mean"] < ae["mean"]
    return "vae" if vae_lower == vae_better_when_lower else "ae"


def lesson_framing(dims: dict[int, dict[str, tuple[str, dict]]], scorer: str = "the judge") -> str:
    """Where the lesson 'a VAE's prior samples look more like the data than an AE's' shows, by the
    distance to the nearest test image and by the scorer, and where it does not."""
    words = {"vae": "the VAE's are better", "ae": "the AE's are better", "tie": "no difference beyond the spread"}
    sentences = []
    for measure, key, lower in (("by distance", "nearest_l2_median", True), (f"by {scorer}", "recognised", False)):
        verdicts = {d: _verdict(k["ae"][1]["prior"][key], k["vae"][1]["prior"][key], lower) for d, k in dims.items()}
        holds = [f"{d}-D" for d, v in verdicts.items() if v == "vae"]
        others = "; ".join(f"{d}-D: {words[v]}" for d, v in verdicts.items() if v != "vae")
        if holds:
            sentences.append(f"{measure} it shows in {', '.join(holds)}" + (f" and not elsewhere ({others})" if others
                                                                           else ""))
        else:
            sentences.append(f"{measure} it shows in none ({others})")
    return "So the lesson (a VAE's prior samples look more like the data than an AE's): " + "; ".join(sentences) + ". "


def prior_sentence(draws: dict | None, card: Card) -> str | None:
    """One model's prior samples, measured: share recognised and distance, with spread."""
    entry = entry_for(draws, card)
    if entry is None:
        return None
    s, p = draws["settings"], entry["prior"]
    return (f"Over {s['seeds']} × {s['samples']:,} such draws, {share(p['recognised'])} are recognised; median "
            f"distance to the nearest test image {value(p['nearest_l2_median'])} (mean ± std over the batches).")


def model_line(draws: dict | None, card: Card, method: str = "linear") -> str | None:
    """One model's prior samples and interpolation paths, measured, in one line."""
    entry = entry_for(draws, card)
    if entry is None:
        return None
    p, path = entry["prior"], path_summary(entry, method)
    return (f"**{card.kind_label}** ({card.name}): prior samples {share(p['recognised'])} "
            f"recognised, median distance {value(p['nearest_l2_median'])}; path intermediates "
            f"{share(path['recognised'])} recognised, largest step {value(path['unevenness'])} × the mean")


def manifold_sentence(draws: dict | None, card: Card) -> str | None:
    """What the measured default grid (and, in 2-D, the holes around the codes) show for one model."""
    entry = entry_for(draws, card)
    if entry is None:
        return None
    m, s = entry["manifold"], draws["settings"]
    text = (f"Measured on the default {s['grid_n']} × {s['grid_n']} linear grid over z{m['dims'][0]}, z{m['dims'][1]} "
            f"(VAE ±{s['span']:g}, other models their codes' range): {share(m['recognised'])} of the cells recognised "
            "(in brackets: bootstrap 95% intervals).")
    holes = entry.get("holes")
    if holes:
        inside, near = holes["recognised_in_holes"], holes["recognised_near_data"]
        text += (f" Holes: {share(holes['hole_share'])} of that box is farther from every test code than 99% of "
                 f"test codes are from their nearest neighbour; codes there are recognised {share(inside)}, codes "
                 f"near the data {share(near)}.")
    return text


# ----------------------------------------------------------------------------- the Beta page


def sweep_prior_caption(draws: dict | None, dataset: str, members: list[Card]) -> str | None:
    """What the scorer makes of the Beta page's prior samples, beta by beta, with the spread, and
    where along the sweep they are recognised most. Only members whose weights were measured count."""
    block = (((draws or {}).get("datasets") or {}).get(dataset) or {}).get("sweep_priors") or {}
    rows = []
    for card in members:
        entry = block.get(card.name)
        if entry and entry.get("weights_sha256") == card.get("weights_sha256"):
            rows.append((card.beta, entry["prior"]["recognised"]))
    if len(rows) < 2:
        return None
    s = draws["settings"]
    best_beta, best = max(rows, key=lambda r: r[1]["mean"])
    text = (f"Over {s['seeds']} × {s['samples']:,} such draws (mean ± std over the batches), the share recognised: "
            + "; ".join(f"β = {beta:g}: {share(r)}" for beta, r in rows)
            + f". Most at β = {best_beta:g}")
    ends = []
    for beta, r in (rows[0], rows[-1]):
        if beta != best_beta:
            ends.append(f"β = {beta:g} {'clearly fewer' if clearly_apart(r, best) else 'as many within the spread'}")
    text += (f" ({', '.join(ends)})" if ends else "") + ". "
    return text + f"An image counts as recognised when {judged_by(draws, dataset)}."
