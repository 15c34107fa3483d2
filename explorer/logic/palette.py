"""The app's colours, defined once: the class palette and the "your image" marker.

Plotly figures (explorer/logic/figures.py, charts.py) read them here, and the canvas
components (explorer/components/latent_canvas, latent_decoder) receive them from Python in
their arguments, so a class has one colour and the user's image one marker on every map.
No Plotly import here: the components' Python side loads it before any figure is built.
"""

from __future__ import annotations

# Ten distinguishable colours (Tableau 10), one per class; more classes cycle.
CLASS_COLORS = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)

# The user's own image (an upload or a drawing) on every map: a gold star with a dark outline,
# larger than the data's dots so it reads apart from the yellow class.
YOUR_IMAGE_SYMBOL = "star"
YOUR_IMAGE_FILL = "#ffd700"
YOUR_IMAGE_LINE = "#111111"


def class_color(label: int) -> str:
    return CLASS_COLORS[int(label) % len(CLASS_COLORS)]


def for_components(class_names: list[str] | None = None) -> dict:
    """The colours as the canvas components read them (their ``palette`` argument)."""
    return {"classes": list(CLASS_COLORS), "class_names": None if class_names is None else [str(n) for n in class_names],
            "your_image": {"fill": YOUR_IMAGE_FILL, "line": YOUR_IMAGE_LINE}}


__all__ = ["CLASS_COLORS", "YOUR_IMAGE_SYMBOL", "YOUR_IMAGE_FILL", "YOUR_IMAGE_LINE", "class_color", "for_components"]
