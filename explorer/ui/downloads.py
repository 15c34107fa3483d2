"""Download buttons of the exploration pages: the Manifold's decoded grid as PNG, the Latent
map's codes as CSV. The file is built when the button is clicked (a callable ``data``), so a
rerun costs nothing, and the click does not rerun the page."""

from __future__ import annotations

import numpy as np

from explorer.logic import exports
from explorer.ui import explore
from explorer.ui.sidebar import Selection


def grid_png(container, panel: Selection, grid: explore.Manifold, n: int) -> None:
    """The decoded grid exactly as drawn (n x n tiles, no padding) as a PNG file."""
    h, w = grid.cell_shape
    container.download_button(
        "Download the grid (PNG)", data=lambda: exports.png_from_data_uri(grid.png),
        file_name=f"{panel.name}-manifold-{n}x{n}.png", mime="image/png", on_click="ignore",
        key=f"manifold_png_{panel.name}", help=f"{n} x {n} decoded images, {n * w} x {n * h} pixels.",
    )


def codes_csv(container, selection: Selection, codes: explore.Codes) -> None:
    """The codes of the points on the map (every encoded test image) as a CSV file."""
    index = np.arange(len(codes.means))
    extra = ", logvar and sigma of q(z|x) per dim" if codes.logvars is not None else ""
    container.download_button(
        "Download the codes (CSV)", on_click="ignore", key=f"map_csv_{selection.name}",
        data=lambda: exports.csv_bytes(exports.codes_frame(index, codes.means, codes.logvars, codes.labels)),
        file_name=f"{selection.name}-codes.csv", mime="text/csv",
        help=f"One row per test image on the map ({len(index):,}): index, label, z0..z{codes.means.shape[1] - 1}"
             f"{extra}.",
    )


__all__ = ["grid_png", "codes_csv"]
