"""The Lesson page's live figures and measured answers, one per page a step can name.

Every figure comes from the builders the pages use (explorer.logic.figures, charts,
manifold_figures) over the cached loads of explorer.ui.loaders / explore; every answer is
measured here on the models and data (never read from the lesson file).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import streamlit as st

from core.card import Card
from explorer.logic import analysis, charts, figures, images, lesson_figures, manifold_figures, reveal, spaces
from explorer.logic.lessons import Step
from explorer.ui import explore, loaders, sidebar

N_POSTERIOR_DRAWS = 200
N_SAMPLES_JUDGED = 400  # prior samples per model for the digit-likeness measure
N_REFERENCES = 2000  # test images they are compared with
JUDGE_SEEDS = 5  # independent draws of the samples: the spread shown beside each measure
MAP_POINTS = 3000
MIN_RATE = 0.01  # nats: the log axis starts no lower
CLASS_COLOR = "#222222"  # the class's predictions: dark diamonds, apart from every class colour of the map


class Answer(NamedTuple):
    """A measured answer: ``value`` is what the outcome compares with; ``extra`` what the figure draws."""

    value: Any
    extra: Any = None


def card_named(name: str) -> Card:
    return next(c for c in loaders.all_cards() if c.name == name)


def selection_of(name: str) -> sidebar.Selection:
    return sidebar.selection_for(card_named(name))


def sweep_of(name: str) -> analysis.SweepGroup:
    groups = analysis.sweep_groups(loaders.all_cards())
    return next(g for g in groups.values() if any(c.name == name for c in g.models))


# ---- measurements ------------------------------------------------------------------------------

@st.cache_data(show_spinner="Measuring the angles...", max_entries=16)
def subspace_angles(linear_path: str, pca_path: str) -> np.ndarray:
    return analysis.principal_angles_deg(loaders.load_model(linear_path).model, loaders.load_model(pca_path).model)


@st.cache_data(show_spinner="Judging the samples...", max_entries=32)
def judged_samples(path: str) -> dict[str, np.ndarray]:
    """Measures of N_SAMPLES_JUDGED prior samples, one value per each of JUDGE_SEEDS draws: the squared
    distance per pixel to the nearest of N_REFERENCES test images, the share the judge recognises as a
    digit (core/judge.py; NaN without it) and the digits' spread in bits (the judge's labels of the
    recognised samples; without the judge, the nearest test image's label)."""
    from core import judge
    from core.latent import prior_samples

    checkpoint = loaders.load_model(path)
    data = loaders.data_for(checkpoint.card)
    references, labels = np.asarray(data.test_images[:N_REFERENCES]), np.asarray(data.test_labels[:N_REFERENCES])
    out: dict[str, list[float]] = {"distance": [], "recognised": [], "bits": []}
    for seed in range(JUDGE_SEEDS):
        samples = loaders.decode(checkpoint.model, prior_samples(N_SAMPLES_JUDGED, checkpoint.model.latent_dim, seed))
        distance, nearest_bits = reveal.judge_samples(samples, references, labels)
        p = loaders.judge_probabilities(samples) if samples.shape[1:] == judge.IMAGE_SHAPE else None
        out["distance"].append(distance)
        if p is None:
            out["recognised"].append(np.nan)
            out["bits"].append(nearest_bits)
        else:
            recognised = judge.recognised(p)
            out["recognised"].append(float(recognised.mean()))
            out["bits"].append(reveal.label_bits(p[recognised, :judge.CLASSES].argmax(axis=1)))
    return {k: np.asarray(v) for k, v in out.items()}


def pca_partner(step: Step) -> Card | None:
    return explore.partner_card(card_named(step.model), "pca")


def measure(step: Step, seed: int) -> Answer:
    """The answer to the step's prediction, measured on its model(s)."""
    p = step.prediction
    if p.kind == "map":
        codes = explore.codes(selection_of(step.model))
        mean = codes.means[p.image]
        if p.target == "code":
            return Answer(mean, codes.means)
        sigma = np.exp(0.5 * codes.logvars[p.image])
        return Answer(mean, (spaces.posterior_draws(mean, codes.logvars[p.image], N_POSTERIOR_DRAWS, seed).z, sigma))
    if p.kind == "curve":
        group = sweep_of(step.model)
        card = group.at_beta(p.beta)
        return Answer((card["metrics"]["kl"], card["metrics"]["reconstruction"]), analysis.rate_distortion(group.models))
    if p.measure == "largest_subspace_angle":
        angles = subspace_angles(card_named(step.model).path, pca_partner(step).path)
        return Answer(reveal.nearest_option(float(angles.max()), p.options),
                      f"the largest principal angle measures {angles.max():.2f}° (all: "
                      + ", ".join(f"{a:.2f}°" for a in angles) + ")")
    if p.measure == "deterministic_ae":
        answer = next(o for o in p.options if card_named(o).kind == "ae")
        return Answer(answer, f"{answer} is the {card_named(answer).kind_label}; the others: "
                      + ", ".join(f"{o} ({card_named(o).kind_label})" for o in p.options if o != answer))
    scores = {o: judged_samples(card_named(o).path) for o in p.options}
    key = "distance" if p.measure == "most_digit_like_samples" else "bits"
    answer = (min if key == "distance" else max)(scores, key=lambda o: scores[o][key].mean())
    judged = not any(np.isnan(v["recognised"]).any() for v in scores.values())
    labelled = "the judge's labels of the samples it recognises" if judged else "the labels of their nearest test images"
    return Answer(answer, f"over {JUDGE_SEEDS} draws of {N_SAMPLES_JUDGED} prior samples each (mean ± sd over the "
                  f"draws): " + "; ".join(_judged_text(o, v, judged) for o, v in scores.items())
                  + f". Spread over the digits: the entropy of {labelled}, in bits (ten digits equally often: 3.32)")


def _judged_text(name: str, v: dict[str, np.ndarray], judged: bool) -> str:
    text = f"{name}: spread over the digits {v['bits'].mean():.2f} ± {v['bits'].std(ddof=1):.2f} bits"
    if judged:
        text += f", recognised as a digit by the judge {v['recognised'].mean():.0%} ± {v['recognised'].std(ddof=1):.0%}"
    return text + (f", squared distance per pixel to the nearest of {N_REFERENCES} test images "
                   f"{v['distance'].mean():.4f} ± {v['distance'].std(ddof=1):.4f}")


def outcome(step: Step, answer: Answer, predicted: Any, labels: dict[str, str]) -> reveal.Outcome:
    """How far ``predicted`` was from the answer; None: the answer against itself (its text alone counts)."""
    p = step.prediction
    if predicted is None:
        predicted = answer.value
    if p.kind == "map" and p.target == "code":
        return reveal.map_code(predicted, answer.value, answer.extra)
    if p.kind == "map":
        return reveal.map_samples(predicted, answer.extra[0], answer.value, answer.extra[1])
    if p.kind == "curve":
        return reveal.curve_point(predicted, answer.value, answer.extra.rates, answer.extra.distortions,
                                  min_rate=MIN_RATE)
    return reveal.choice(labels[predicted], [labels[o] for o in p.options], labels[answer.value], answer.extra)


def test_image(model: str, index: int) -> None:
    selection = selection_of(model)
    if selection.dataset is not None:
        st.image(explore.picture(selection.dataset.test_images[index], explore.show_scale(selection)),
                 caption=explore.image_caption(selection, index))


# ---- figures -----------------------------------------------------------------------------------

def _plot(fig, key: str, clickable: bool) -> None:
    if clickable:
        st.plotly_chart(fig, key=key, on_select="rerun", selection_mode="points", config={"displayModeBar": False})
    else:
        st.plotly_chart(fig, key=key + "_plain", config={"displayModeBar": False})


def map_view(step: Step, model: str, key: str, predicted, answer: Answer | None, others: list, clickable: bool) -> None:
    selection = selection_of(model)
    codes = explore.codes(selection)
    if codes is None:
        st.warning(f"The map needs the data, which is not on this machine: {selection.data_error}")
        return
    idx = analysis.subsample(len(codes.means), MAP_POINTS)
    dims = analysis.map_dims(selection.card)
    p = step.prediction
    highlight = samples = None
    if answer is not None:
        highlight = figures.MapMarker(*np.asarray(answer.value)[:2], f"test image {p.image}")
        samples = None if p.target == "code" else answer.extra[0][:, list(dims)]
    fig = figures.latent_map(codes.means[idx][:, list(dims)], None if codes.labels is None else codes.labels[idx],
                             explore.class_names(selection), index=idx, axis_titles=(f"z{dims[0]}", f"z{dims[1]}"),
                             prior_center=(0.0, 0.0) if selection.model.variational else None,
                             highlight=highlight, samples=samples, height=520)
    if clickable:
        lesson_figures.add_click_grid(fig, figures.padded_range(codes.means[idx, dims[0]]),
                                      figures.padded_range(codes.means[idx, dims[1]]))
    lesson_figures.add_points(fig, others, "the class's predictions", CLASS_COLOR, "diamond", 12)
    lesson_figures.add_points(fig, [predicted] if predicted is not None else [], "your prediction", "#000000", "x")
    _plot(fig, key, clickable)


def curve_view(step: Step, key: str, predicted, answer: Answer | None, others: list, clickable: bool) -> None:
    group = sweep_of(step.model)
    hidden = step.prediction.beta if step.prediction is not None and answer is None else None
    models = [c for c in group.models if hidden is None or not np.isclose(c.beta, hidden)]
    points = analysis.rate_distortion(models)
    chosen_beta = step.prediction.beta if step.prediction is not None else step.link.get("beta")
    chosen = points.betas.index(chosen_beta) if chosen_beta in points.betas else None
    fig = charts.rate_distortion_chart(points.betas, points.rates, points.distortions, chosen=chosen,
                                       likelihood=group.models[0].likelihood_label, rate_std=points.rate_std,
                                       distortion_std=points.distortion_std, height=460)
    # A log rate axis: β = 0's rate is hundreds of nats, the larger βs' a few; on a linear axis they crowd at 0.
    log_rates = np.log10(np.maximum(points.rates, MIN_RATE))
    fig.update_xaxes(type="log", range=figures.padded_range(log_rates, 0.08))
    if clickable:
        lesson_figures.add_click_grid(fig, figures.padded_range(log_rates, 0.08),
                                      figures.padded_range(np.asarray(points.distortions), 0.15), log_x=True)
    lesson_figures.add_points(fig, others, "the class's predictions", CLASS_COLOR, "diamond", 12)
    lesson_figures.add_points(fig, [predicted] if predicted is not None else [], "your prediction", "#000000", "x")
    _plot(fig, key, clickable)


def samples_view(names: list[str], labels: list[str], seed: int) -> None:
    cols = st.columns(len(names))
    for col, name, label in zip(cols, names, labels):
        selection = selection_of(name)
        scale = images.display_scale(selection.model.image_shape[1], target=56)
        col.image(images.upscale(explore.prior_picture(selection, count=36, ncols=6, seed=seed), scale), caption=label)


def grid_view(names: list[str], labels: list[str], key: str, ticks: bool) -> None:
    """Decoded grids side by side; ``ticks=False`` hides the latent values (an AE's range would tell it apart)."""
    cols = st.columns(len(names))
    for i, (col, name, label) in enumerate(zip(cols, names, labels)):
        grid = explore.manifold(selection_of(name), 15, "linear", (0, 1))
        fig = manifold_figures.manifold_figure(grid.png, grid.x_values, grid.y_values, grid.cell_shape, title=label,
                                               height=380)
        fig.update_xaxes(showticklabels=ticks)
        fig.update_yaxes(showticklabels=ticks)
        with col:
            st.plotly_chart(fig, key=f"{key}_grid{i}", config={"displayModeBar": False})


def angles_view(step: Step, revealed: bool) -> None:
    partner = pca_partner(step)
    if partner is None:
        st.warning(f"No PCA of the same data and size as {step.model} is here to compare with.")
    elif revealed or step.prediction is None:
        angles = subspace_angles(card_named(step.model).path, partner.path)
        st.plotly_chart(charts.principal_angle_bars(angles), key="lesson_angles", config={"displayModeBar": False})
        st.caption(f"Principal angles between the column space of {step.model}'s decoder and the top "
                   f"{len(angles)} components of {partner.name}, in pixel space.")
    else:
        st.info("The measured angles appear on Reveal.")


def interpolation_view(model: str) -> None:
    selection = selection_of(model)
    labels = selection.dataset.test_labels if selection.dataset is not None else None
    ends = analysis.pair_by_class(labels, 1, 7) if labels is not None else None
    path = explore.interpolation(selection.path, ends, 0, 10, "linear")
    st.image(explore.row_picture(path.images, images.display_scale(selection.model.image_shape[1], target=56)))
    st.caption(f"From test image {ends[0]} to test image {ends[1]}, 10 steps. " if ends else ""
               f"Mean pixel change per step {path.mean_step:.3f}; largest jump {path.largest_jump:.3f}.")


def code_view(step: Step, model: str) -> None:
    selection = selection_of(model)
    z = np.asarray(step.link.get("z", np.zeros(selection.model.latent_dim)), np.float32)
    st.image(explore.picture(loaders.decode(selection.model, z[None])[0], explore.show_scale(selection)),
             caption=f"decode(z), z = ({', '.join(f'{v:g}' for v in z)})")


def show(step: Step, model: str, key: str, seed: int, predicted, answer: Answer | None, others: list,
         labels: dict[str, str]) -> None:
    """The step's live figure: its page's view of ``model``, the prediction and (revealed) the answer;
    ``others``: the class's predictions (points) for the presenter."""
    p = step.prediction
    clickable = p is not None and p.kind in ("map", "curve") and answer is None
    if step.page == "Latent_map":
        map_view(step, model, key, predicted, answer, others, clickable)
    elif step.page == "Beta_and_tradeoff":
        curve_view(step, key, predicted, answer, others, clickable)
    elif step.page in ("Home", "Manifold"):
        names = list(p.options) if p is not None and p.kind == "choice" else [model]
        shown = [labels.get(n, card_named(n).display_name) for n in names]
        if answer is not None:
            shown = [f"{label}: {card_named(n).display_name}" if label != card_named(n).display_name else label
                     for n, label in zip(names, shown)]
        if step.page == "Home":
            samples_view(names, shown, seed)
        else:
            grid_view(names, shown, key, ticks=answer is not None or p is None)
    elif step.page == "Compare":
        angles_view(step, answer is not None)
    elif step.page == "Interpolation":
        interpolation_view(model)
    else:
        code_view(step, model)
    if p is not None and p.kind == "choice" and others:
        st.plotly_chart(lesson_figures.votes_figure([labels[o] for o in p.options], reveal.votes(others, p.options),
                                                    None if answer is None else labels[answer.value]),
                        key=key + "_votes", config={"displayModeBar": False})


__all__ = ["show", "Answer", "card_named", "selection_of", "sweep_of", "measure", "outcome", "map_view", "curve_view",
           "samples_view", "grid_view", "angles_view", "interpolation_view", "code_view", "N_POSTERIOR_DRAWS"]
