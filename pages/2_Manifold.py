"""Manifold: decode an n x n grid of codes over two latent dims, beside where the data lies."""

import numpy as np
import streamlit as st

from explorer.logic import analysis, draws, manifold_figures, spaces

from explorer.ui import downloads, explore, loaders, sidebar

st.set_page_config(page_title="Manifold · Latent explorer", page_icon="🔳", layout="wide")
st.title("Manifold")
st.markdown(
    "Every tile is the decoder's image of one code on a regular grid over two latent dimensions. "
    "On the right, the same coordinates: where the encoded test images lie (shaded) and the grid (red). "
    "The theory: where the grid leaves the data, an **AE** decodes anything at all, while a **VAE**'s KL term "
    "packs its codes into the prior so that the grid stays on the data. Under each grid: what a judge that no "
    "autoencoder trained measures on the default grid, and in 2-D on the holes between the codes."
)
selection = explore.require_model(default=analysis.opening_model("mnist-vae-2"))
model = selection.model
d = model.latent_dim
st.caption(sidebar.units_caption(selection.card) + " Axes in latent units: the code the decoder reads.")


def show(panel: sidebar.Selection, n: int, spacing: str, span: float, dims: tuple[int, int],
         base_index: int | None) -> None:
    """One model's decoded grid (left) beside its encoded test set and the grid (right)."""
    codes = explore.codes(panel)
    panel_base = None
    if base_index is not None and codes is not None:
        panel_base = codes.means[base_index]
    grid = explore.manifold(panel, n, spacing, dims, panel_base, span)
    stats = explore.code_stats(panel, span)
    axis_titles = (f"z{dims[0]}", f"z{dims[1]}")
    label = panel.card.display_name
    left, right = st.columns(2)
    left.plotly_chart(
        manifold_figures.manifold_figure(grid.png, grid.x_values, grid.y_values, grid.cell_shape,
                                         axis_titles=axis_titles, title=f"Decoded grid · {label}"),
        key=f"manifold_grid_{panel.name}", config={"displayModeBar": False},
    )
    downloads.grid_png(left, panel, grid, n)
    xy = np.zeros((0, 2)) if codes is None else codes.means[:, list(dims)]
    right.plotly_chart(
        manifold_figures.density_figure(xy, grid.x_values, grid.y_values, axis_titles=axis_titles,
                                        prior=panel.model.variational, title="Encoded test set and the grid"),
        key=f"manifold_density_{panel.name}", config={"displayModeBar": False},
    )
    where = "the prior N(0, I)" if panel.model.variational else stats.source
    note = f"Grid scale from {where}."
    if codes is None:
        note += f" No data density: {panel.data_error}"
    right.caption(note)
    measured = draws.manifold_sentence(loaders.many_draws(), panel.card)
    if measured is not None:
        default_grid = (n, spacing, span, base_index) == (20, "linear", 3.0, None)
        entry_dims = tuple(draws.entry_for(loaders.many_draws(), panel.card)["manifold"]["dims"])
        left.caption(measured if default_grid and tuple(dims) == entry_dims else
                     measured + " (These numbers are for that default grid, not the one shown.)")


@st.fragment  # moving a control reruns this part only, not the sidebar and the page around it
def grid_and_density() -> None:
    controls = st.columns([2, 2, 2, 3])
    n = controls[0].slider("Grid size n (n x n images)", 2, 30, 20, key="manifold_n")
    spacing = controls[1].radio(
        "Spacing", list(spaces.SPACING_LABELS), format_func=lambda s: spaces.SPACING_LABELS[s].split(" (")[0],
        key="manifold_spacing", help="Linear: evenly spaced codes. Inverse Gaussian CDF: evenly spaced quantiles of "
        "N(0, 1), so every cell holds the same prior mass (Kingma & Welling, 2014, Fig. 4); for an AE, of a Gaussian "
        "fitted to its codes.",
    )
    span = controls[2].slider("VAE linear span (±)", 0.5, 8.0, 3.0, 0.5, key="manifold_span",
                              disabled=spacing != "linear", help="A VAE's linear grid covers [-span, span] in both "
                              "dims (3 = the prior's 3σ). Other models span their data's code range.")
    compare = controls[3].toggle("Compare AE and VAE side by side", key="manifold_compare",
                                 help="The AE and the VAE of the same dataset and latent dim, next to each other.")

    if d == 1:
        st.info("This model has a single latent dimension, so there is no plane to tile: here is its decoder's line.")
        line, values = explore.decoded_line(selection, n, spacing, span)
        st.image(line, caption=f"z0 from {values[0]:.2f} to {values[-1]:.2f}")
        return
    dims, base_index = (0, 1), None
    if d > 2:
        names, top = explore.dim_names(d), analysis.map_dims(selection.card)  # the two with the most KL
        c1, c2, c3, c4 = st.columns(4)
        dx = c1.selectbox("Horizontal dim", range(d), index=top[0], format_func=names.__getitem__,
                          key=f"manifold_dx_{selection.name}")
        dy = c2.selectbox("Vertical dim", range(d), index=top[1], format_func=names.__getitem__,
                          key=f"manifold_dy_{selection.name}")
        if dx == dy:
            st.warning("Pick two different dims.")
            return
        dims = (dx, dy)
        fix = c3.radio("Other dims fixed at", ["0", "an encoded test image"], key="manifold_fix",
                       disabled=selection.dataset is None,
                       help="The dims not on the axes take this value in every tile.")
        if fix != "0" and selection.dataset is not None:
            base_index = int(c4.number_input("Test image", 0, len(selection.dataset.test_images) - 1, 0,
                                             key=f"manifold_base_{selection.name}"))

    panels = [selection]
    if compare:
        wanted = {"ae": "vae", "vae": "ae"}.get(selection.card["kind"], "ae")
        partner = explore.partner_card(selection.card, wanted)
        if partner is None:
            st.info(f"No {wanted.upper()} with a {d}-D latent space for {selection.card.dataset_name} "
                    "to compare with: showing this model alone.")
        else:
            pair = [selection, sidebar.selection_for(partner)]
            panels = sorted(pair, key=lambda s: s.card["kind"] != "ae")  # the AE first, then the VAE
    for panel in panels:
        show(panel, n, spacing, span, dims, base_index)


grid_and_density()
