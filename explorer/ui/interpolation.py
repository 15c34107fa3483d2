"""Parts of the Interpolation page: each model's path with its two measures, and the measures
over many pairs (explorer/logic/draws.py) with the pair on screen placed among them.

Two measures tell *even* apart from *on the data* (core/realism.py): the largest step over the
mean step (1 when every step changes the image as much as any other), and the share of the
intermediate images that are recognised (the digit judge, or the face feature map). A blurry
cross-fade is perfectly even and rarely recognised; a path through a hole has one big jump.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from core import realism
from explorer.logic import analysis, charts, draws, images
from explorer.logic.plaintext import markdown_text
from explorer.ui import explore, loaders, sidebar


@st.cache_resource(show_spinner=False, max_entries=8)
def _face_scorer(path: str) -> realism.FaceScorer | None:
    data = loaders.data_for(loaders.load_model(path).card)
    return None if isinstance(data, str) else realism.FaceScorer(data.train_images, data.test_images)


def scorer_for(panel: sidebar.Selection):
    """What recognises this model's images: the judge for MNIST digits, the face feature map for
    Frey (it needs the faces); None for other data or when it is missing."""
    if loaders.judge_applies(panel.card, panel.model.image_shape):
        model = loaders.judge()
        return None if model is None else realism.DigitScorer(model=model)
    if panel.card.dataset_name == "frey" and panel.dataset is not None:
        return _face_scorer(panel.path)
    return None


def largest_step_text(path: analysis.InterpolationPath) -> str:
    """Where the largest step is. Images are numbered 1 to N from the left; step k goes from image k
    to image k + 1, as on the chart's axis."""
    k = int(np.argmax(path.steps)) + 1
    return f"largest change at step {k} (image {k} → image {k + 1})"


def show_path(panel: sidebar.Selection, path: analysis.InterpolationPath, measured: dict | None, method: str,
              placeable: bool) -> tuple[float, float] | None:
    """One model's row: its measures in words, then its decoded path. Returns the pair's
    (largest / mean step, share recognised) when the judge could score it."""
    scorer = scorer_for(panel)
    label = panel.card.display_name
    text = f"**{markdown_text(label)}** · {largest_step_text(path)}"
    measures = None
    if scorer is not None:
        m = realism.path_measures(path.images, scorer)
        inner = len(path.images) - 2
        measures = (m.unevenness, m.recognised)
        text += (f" · largest step {m.unevenness:.2f} × the mean step · "
                 f"{round(m.recognised * inner)} of {inner} intermediate images recognised")
        if measured is not None and placeable:
            u, r = draws.pair_placement(measured, method, *measures)
            text += (f" · among {len(measured['interpolation'][method]['per_pair']['recognised'])} random pairs: "
                     f"largest/mean at percentile {u:.0f} (higher: less even), share recognised at percentile {r:.0f}")
    st.markdown(text)
    factor = images.display_scale(panel.model.image_shape[1], target=80)
    st.image(explore.row_picture(path.images, factor), caption=f"images 1 to {len(path.images)}, left to right")
    return measures


def measures_section(rows: dict, measured: dict[str, dict], found: dict | None, dataset: str, method: str,
                     steps: int) -> None:
    """The chart of the two measures over many pairs (the pair on screen starred) and its caption."""
    st.subheader("Even, and on the data?")
    if not measured or found is None:
        st.info("No measurements over many pairs for these models (scripts/measure_draws.py measures the "
                "shipped MNIST and Frey models): only this pair's measures are shown above.")
        return
    st.plotly_chart(charts.path_measures_chart(rows), key="interp_measures", config={"displayModeBar": False})
    note = ""
    if steps != found["settings"]["steps"]:
        note = (f" The boxes were measured with {found['settings']['steps']} images per path and this path has "
                f"{steps}, so its star is not placed among them.")
    st.caption(draws.interpolation_caption(found, dataset, measured, method) + " Boxes: the "
               f"{found['settings']['pairs']} pairs (line: median, dashed: mean); ★: the pair on screen." + note)
