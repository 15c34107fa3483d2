"""Tables as the app shows them: each number formatted once, a blank where it is not defined.

Streamlit's data grid prints a grey "None" for a missing number whatever the column's format, so
the numbers go out as right-aligned text: ``blank_missing`` formats each with its column's spec
and leaves "" for a value that does not exist (a PCA's KL, an AE's −ELBO).

    tables.show(frame, {"mse": tables.Col("MSE / pixel", ".4f", help="..."), "model": tables.Col("model")})
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import streamlit as st

if TYPE_CHECKING:  # pandas only inside the functions: the home page imports this module before its first picture
    import pandas as pd


class Col(NamedTuple):
    """One column: its header, a Python format spec for numbers (None: text as is), tooltip, width, pinning."""

    label: str
    spec: str | None = None
    help: str | None = None
    width: str | int | None = None
    pinned: bool = False  # stays in view when a narrow screen scrolls the table sideways


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def blank_missing(table: "pd.DataFrame", columns: dict[str, Col]) -> "pd.DataFrame":
    """A copy of ``table`` with each number column as text in its spec, "" where the value is missing."""
    shown = table.copy()
    for key, col in columns.items():
        if key in shown.columns:
            shown[key] = ["" if _missing(v) else (format(v, col.spec) if col.spec else str(v)) for v in shown[key]]
    return shown


def column_config(columns: dict[str, Col]) -> dict:
    """Streamlit's column settings: numbers right-aligned, as a grid aligns numbers."""
    return {key: st.column_config.TextColumn(col.label, help=col.help, width=col.width,
                                             alignment="right" if col.spec else "left", pinned=col.pinned or None)
            for key, col in columns.items()}


def show(table: "pd.DataFrame", columns: dict[str, Col], where=None, **dataframe_args) -> None:
    """``table``'s columns named in ``columns``, in that order, blanks blank."""
    keep = [key for key in columns if key in table.columns]
    (where or st).dataframe(blank_missing(table[keep], columns), hide_index=True, column_order=keep,
                            column_config=column_config(columns), **dataframe_args)


def metric_columns(table: "pd.DataFrame") -> dict[str, Col]:
    """The Compare page's test metrics (explorer.logic.analysis.metrics_table), narrow enough that every
    column, the −ELBO of each likelihood included, fits the wide layout at 1400 px."""
    elbo = {key: Col(f"−ELBO {key.split(' · ')[1]}", ".1f", width=140,
                     help="Reconstruction + KL in the model's own likelihood, nats per image: an upper bound on "
                          "−log p(x); VAE only")
            for key in table.columns if key.startswith("neg_elbo")}
    return {
        "model": Col("model", pinned=True),
        "kind": Col("kind", width=70),
        "likelihood": Col("likelihood", width=130),
        "mse": Col("MSE / pixel", ".4f", help="Mean squared error of decode(mean), intensities in [0, 1]", width=85),
        "bernoulli_nll_at_mean": Col("Bern. NLL", ".1f", width=75,
                                     help="−log Bernoulli(x | decode(mean)) per image, nats: one scale for every model"),
        **elbo,
        "kl": Col("KL", ".2f", help="KL(q(z|x) ‖ N(0, I)) per image, nats; VAE only", width=50),
        "active_units": Col("active", ".0f", help="Active units: latent dims with KL > 0.01 nats; VAE only", width=55),
        "knn_accuracy": Col("kNN acc.", ".3f", width=70,
                            help="3-nearest-neighbour classifier on the codes, fitted with 1% of the training labels"),
    }


__all__ = ["Col", "blank_missing", "column_config", "show", "metric_columns"]
