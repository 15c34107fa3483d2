"""Pages that compare models quote the measurements over many draws (checkpoints/judge/draws.json,
built by scripts/measure_draws.py with the judge of core/judge.py): Interpolation, Manifold,
Compare and Home. Each number on screen is checked against that file, and the pair on the
Interpolation page against an independent recomputation."""

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.logic import analysis, draws
from explorer.ui import loaders
from tests.test_app_analysis import ROOT, figure_with, figures, needs_shipped, page, shipped_cards, values


@pytest.fixture(scope="module")
def found() -> dict:
    measured = draws.read_draws()
    assert measured is not None, "checkpoints/judge/draws.json ships with the app (python -m scripts.measure_draws)"
    return measured


def shipped(name: str):
    return next(c for c in shipped_cards() if c.name == name)


# --------------------------------------------------------------------------- Interpolation


def _interpolation_rows(at: AppTest) -> dict[str, str]:
    """Each model row's text (label -> markdown) on the Interpolation page."""
    return {m.value.split("**")[1].replace("\\", ""): m.value  # names are shown Markdown-escaped
            for m in at.markdown if m.value.startswith("**") and " · " in m.value}


def _on_screen_paths(at: AppTest) -> dict[str, tuple]:
    """The page's default pair, recomputed here: label -> (path, card), from the shipped models."""
    from core.data import load_dataset

    data = load_dataset("mnist", download=False)
    i, j = analysis.pair_by_class(data.test_labels, 3, 8, 0)  # the page's default: a 3 to an 8, seed 0
    cards = {c.display_name: c for c in shipped_cards()}
    out = {}
    for label in _interpolation_rows(at):
        model = loaders.load_model(cards[label].path).model
        z0, z1 = analysis.encode_pair(model, data.test_images[i], data.test_images[j])
        out[label] = (analysis.interpolation_path(model, z0, z1, 10, "linear"), cards[label])
    return out


@needs_shipped
def test_interpolation_names_the_largest_step_in_the_numbering_of_its_images():
    at = page("4_Interpolation.py")
    rows = _interpolation_rows(at)
    assert rows, "one row of text per model"
    for label, (path, _) in _on_screen_paths(at).items():
        k = int(np.argmax(path.steps)) + 1  # step k: image k -> image k + 1, images numbered from 1
        assert f"step {k} (image {k} → image {k + 1})" in rows[label], rows[label]
    assert any("images 1 to 10, left to right" in c for im in at.image for c in im.captions), "images numbered"


@needs_shipped
def test_interpolation_measures_over_many_pairs_and_places_the_pair_on_screen():
    from core import realism
    from explorer.logic import draws

    found = draws.read_draws()
    assert found is not None, "checkpoints/judge/draws.json ships with the app (python -m scripts.measure_draws)"
    at = page("4_Interpolation.py")
    chart = figure_with(at, "this pair")
    layouts = [json.dumps(f["layout"]) for f in figures(at)]
    assert not any("pixel change" in layout for layout in layouts), "the mean-|pixel change| chart is gone"
    rows = _interpolation_rows(at)
    judge_scorer = realism.DigitScorer(model=loaders.judge())
    for label, (path, card) in _on_screen_paths(at).items():
        entry = draws.entry_for(found, card)
        per_pair = entry["interpolation"]["linear"]["per_pair"]
        assert len(per_pair["unevenness"]) >= 200
        boxes = [t for t in chart["data"] if t["type"] == "box" and t["name"] == card.name]
        np.testing.assert_allclose(values(boxes[0]["x"]), per_pair["unevenness"])
        np.testing.assert_allclose(values(boxes[1]["x"]), np.asarray(per_pair["recognised"]) * 100)
        m = realism.path_measures(path.images, judge_scorer)  # this pair, measured independently
        star = next(t for t in chart["data"] if t["name"] == f"{card.name}: this pair" and t.get("xaxis") == "x")
        assert values(star["x"])[0] == pytest.approx(m.unevenness, rel=1e-4)
        u, r = draws.pair_placement(entry, "linear", m.unevenness, m.recognised)
        assert f"largest/mean at percentile {u:.0f}" in rows[label]
        assert f"share recognised at percentile {r:.0f}" in rows[label]
        summary = entry["interpolation"]["linear"]["summary"]
        caption = next(c.value for c in at.caption if "random pairs of test images" in c.value)
        assert draws.share(summary["recognised"]) in caption
        assert f"{summary['unevenness']['mean']:.2f}" in caption


# --------------------------------------------------------------------------- Manifold, Compare, Home


@needs_shipped
def test_manifold_captions_the_grid_with_what_the_judge_measured_on_it(found):
    at = page("2_Manifold.py")
    vae = draws.entry_for(found, shipped("mnist-vae-2"))
    captions = " ".join(c.value for c in at.caption)
    assert f"{draws.share(vae['manifold']['recognised'])} of the cells recognised" in captions
    assert f"{draws.share(vae['holes']['hole_share'])} of that box" in captions
    assert "every part of the grid decodes to something plausible" not in " ".join(m.value for m in at.markdown)
    at.toggle(key="manifold_compare").set_value(True).run()
    assert not at.exception
    ae = draws.entry_for(found, shipped("mnist-ae-2"))
    captions = " ".join(c.value for c in at.caption)
    assert f"{draws.share(ae['manifold']['recognised'])} of the cells recognised" in captions
    at.slider(key="manifold_n").set_value(10).run()
    assert any("for that default grid, not the one shown" in c.value for c in at.caption)


@needs_shipped
def test_compare_states_what_samples_and_paths_show_over_many_draws(found):
    at = page("6_Compare.py")
    text = " ".join(m.value for m in at.markdown)
    for name in ("mnist-pca-2", "mnist-ae-2", "mnist-vae-2"):
        entry = draws.entry_for(found, shipped(name))
        assert f"prior samples {draws.share(entry['prior']['recognised'])} recognised" in text
    caption = next(c.value for c in at.caption if "decoded samples from the prior" in c.value)
    ae16, vae16 = (found["datasets"]["mnist"]["models"][n]["prior"]["nearest_l2_median"]
                   for n in ("mnist-vae-16-beta0", "mnist-vae-16"))
    assert "**16-D**" in caption and draws.value(ae16) in caption and draws.value(vae16) in caption


@needs_shipped
def test_home_quotes_the_measured_prior_samples_beside_them(found):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    entry = draws.entry_for(found, shipped("mnist-vae-2"))
    captions = " ".join(c.value for c in at.caption)
    assert f"{draws.share(entry['prior']['recognised'])} are recognised" in captions
    assert "**2-D**" in captions and "**16-D**" in captions



@needs_shipped
def test_beta_page_captions_its_prior_samples_with_what_the_judge_measured_per_beta(found):
    at = page("5_Beta_and_tradeoff.py")
    caption = next(c.value for c in at.caption if c.value.startswith("The same 64 draws of z"))
    assert "with β near 0 many fall in holes" not in caption  # the 2-D sweep's β = 0 samples are not the fewest
    measured = found["datasets"]["mnist"]["sweep_priors"]
    sweep = [m for m in measured.values() if m["sweep"] == "mnist-vae-16"]
    assert len(sweep) >= 5
    for m in sweep:
        assert f"β = {m['beta']:g}: {draws.share(m['prior']['recognised'])}" in caption
    best = max(sweep, key=lambda m: m["prior"]["recognised"]["mean"])
    assert f"Most at β = {best['beta']:g}" in caption
