"""Latent map: the encoded test set in the latent plane; click a point, upload an image."""

import numpy as np
import streamlit as st

from explorer.logic import analysis, spaces, uploads

from explorer.ui import downloads, draw_section, explore, mapview, posterior_panel, sidebar, sliders

st.set_page_config(page_title="Latent map · Latent explorer", page_icon="🗺️", layout="wide")
st.title("Latent map")
st.markdown(
    "Each dot is one test image, placed where the encoder puts it and coloured by its label. **PCA** and "
    "the **linear AE** spread the classes along straight directions; a deep **AE** packs them into "
    "irregular clusters with empty space between; a **VAE** encodes each image as a small Gaussian "
    "(the ellipses) and its KL term pulls them all into the N(0, I) prior (the dashed circles). "
    "Click a point to see the image it came from."
)
selection = explore.require_model(default=analysis.opening_model("mnist-vae-2"))
model, d = selection.model, selection.model.latent_dim
st.caption(sidebar.units_caption(selection.card) + " Axes in latent units.")
codes = explore.codes(selection)
if codes is None:
    st.warning(f"The test images are not on this machine, so there is no map of them: {selection.data_error} "
               "You can still encode your own image below and drag through the latent space.")

@st.fragment  # a control, a click on the map or an upload reruns this part only, not the sidebar
def map_and_details() -> None:
    mode, dims = "dims", (0, 1)
    controls = iter(st.columns(4, vertical_alignment="center"))
    if d > 2:
        mode = next(controls).radio("Axes", list(mapview.AXES_MODES), format_func=mapview.AXES_MODES.get,
                                    key="map_axes", disabled=codes is None)
        if mode == "dims":
            names, top = explore.dim_names(d), analysis.map_dims(selection.card)  # the two with the most KL
            dx = next(controls).selectbox("Horizontal", range(d), top[0], format_func=names.__getitem__,
                                          key=f"map_dx_{selection.name}")
            dy = next(controls).selectbox("Vertical", range(d), top[1], format_func=names.__getitem__,
                                          key=f"map_dy_{selection.name}")
            if dx == dy:
                st.warning("Pick two different dims.")
                return
            dims = (dx, dy)
    show_ellipses = show_prior = False
    if model.variational:
        with next(controls):
            show_ellipses = st.toggle("Posterior ellipses (±2σ)", True, key="map_ellipses", disabled=codes is None,
                                      help=f"mean ± 2σ of q(z|x) for {mapview.N_ELLIPSES} test images")
            show_prior = st.toggle("Prior N(0, I) circles", True, key="map_prior", help="1, 2 and 3σ of the prior")

    projection = explore.projection(selection, mode, dims)
    map_col, info_col = st.columns([3, 2])
    draw_box = st.container()  # draw and drag (explorer/ui/draw_section.py), filled below
    st.subheader("Your own image")
    upload_file = st.file_uploader(
        "Upload a PNG or JPEG: it is resized to the model's image size, encoded, and shown on the map as a star.",
        type=list(uploads.ACCEPTED_TYPES), key="map_upload", max_upload_size=uploads.MAX_UPLOAD_BYTES // 2**20,
    )
    upload = mapview.read_upload(selection, upload_file)
    upload = draw_section.newest_image(selection, upload_file, upload)  # a sent drawing, if newer than the file

    n_points = 0 if codes is None else len(codes.means)
    key = mapview.chart_key(selection)
    index = mapview.selected_index(st.session_state.get(key), n_points)
    seed = st.session_state.get("map_eps_seed", 0)
    posterior = None
    if index is not None and model.variational:
        posterior = mapview.draws(codes.means[index], codes.logvars[index], seed)

    fig = mapview.map_figure(selection, codes, projection, mode, dims, ellipses=show_ellipses, prior=show_prior,
                             index=index, posterior=posterior, upload=upload)
    map_col.plotly_chart(fig, on_select="rerun", selection_mode=("points",), key=key,
                         config={"scrollZoom": True, "displaylogo": False})
    if codes is not None:
        downloads.codes_csv(map_col, selection, codes)
    if mode == "pca":
        map_col.caption("The plane of the two directions along which the means vary most (not two latent dims); "
                        "ellipses and circles are projected into it.")

    with info_col:
        if index is None:
            st.info("Click a point on the map to see its image, its reconstruction"
                    + (" and decodes of samples from its posterior q(z|x)." if model.variational else "."))
        else:
            mapview.show_selected(selection, index, codes, seed, posterior)
            if posterior is not None:
                st.button("Draw new ε", key="map_new_eps",
                          on_click=lambda: st.session_state.update(map_eps_seed=seed + 1))
    posterior_panel.show(selection, None if posterior is None else index)  # a clicked VAE image: p(z|x), IWAE-k
    if upload is not None:
        mapview.show_upload(selection, upload, codes)
    # the code to start drawing and dragging from: the upload, else the clicked image, else 0
    start = upload.mean if upload is not None else (codes.means[index] if index is not None else np.zeros(d))
    with draw_box:
        draw_section.show(selection, codes, dims if mode == "dims" else (0, 1), start)

    st.subheader("Explore by dragging")
    if st.toggle("Show a 2-D pad: drag the marker and the decoder follows in your browser", key="map_pad_on"):
        pad_dims = dims if mode == "dims" else (0, 1)
        subset = None if codes is None else spaces.ellipse_sample(n_points, 3000, seed=1)
        sliders.browser_sliders(
            selection, np.asarray(start, dtype=np.float64), key=f"map_pad_{selection.name}", mode="pad",
            dims=pad_dims, points=None if subset is None else codes.means[subset],
            point_labels=None if subset is None or codes.labels is None else codes.labels[subset],
        )
        st.caption(f"The pad spans z{pad_dims[0]} and z{pad_dims[1]}; other dims stay at the starting code "
                   "(the clicked image, your upload, or 0).")


map_and_details()
