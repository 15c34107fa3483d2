"""Latent sliders: one slider per latent dim, the decoded image follows."""

import streamlit as st

from explorer.ui import explore, share, sidebar, sliders

st.set_page_config(page_title="Latent sliders · Latent explorer", page_icon="🎚️", layout="wide")
st.title("Latent sliders")
st.markdown(
    "One slider per latent dimension; the decoder turns the code into an image. Start from the origin, "
    "a random code or an encoded test image, then move one dimension at a time. The models with more "
    "dimensions (**mnist-vae-16**, **frey-vae-8**) are made for this: some dimensions change the pose or "
    "the stroke, others nothing at all (the VAE switched them off)."
)
selection = explore.require_model(max_latent_dim=sliders.MAX_DIMS, default=sliders.most_expressive_vae,
                                  hint=f"This page shows models with at most {sliders.MAX_DIMS} latent dims.")
model, d = selection.model, selection.model.latent_dim
st.caption(sidebar.units_caption(selection.card) + " " + sliders.range_note(selection))

has_data = selection.dataset is not None
link = share.linked_code(selection.name, d)  # ?z=...: the code of a shared link
note = st.empty()  # why a link's z was not used, if it was not
c1, c2, c3 = st.columns([4, 2, 2], vertical_alignment="bottom")
start = c1.radio("Start from", sliders.starts(link), horizontal=True, key="sliders_start",
                 format_func=lambda s: sliders.start_label(s, model), help=sliders.START_HELP)
index = 0
if start == "image":
    if not has_data:
        st.warning(f"No dataset images on this machine: {selection.data_error}")
    else:
        index = int(c2.number_input("Test image", 0, len(selection.dataset.test_images) - 1, 0,
                                    key=f"sliders_index_{selection.name}"))
c3.button("Randomize", on_click=sliders.randomize, key="sliders_randomize",
          help="Draw a new random code and start from it.")
z0 = sliders.start_code(selection, start, index, st.session_state.get("sliders_seed", 0), link)

native = st.toggle("Plain Streamlit sliders (decode on the server after each release)", key="sliders_native",
                   value=not sliders.browser_decoder_available(),
                   help="Off: the sliders decode in your browser and the image follows the pointer while "
                        "you drag. On: ordinary sliders; the server decodes after each release.")
if native:
    z = sliders.native_sliders(selection, z0)
else:
    z = sliders.browser_sliders(selection, z0, key="sliders_decoder")
share.write_code(z)
share.show_note("z", note)

st.subheader("Around this code")
left, right = st.columns(2)
with left:
    order = sliders.dims_by_information(selection)
    chosen = st.multiselect("Traversals: vary one dim, keep the others", list(range(d)), default=order[:4],
                            format_func=lambda i: sliders.dim_label(selection, i), key=f"sliders_dims_{selection.name}")
    for row in sliders.traversal_rows(selection, z, chosen):
        st.image(row.picture, caption=row.caption)
with right:
    if has_data:
        near = sliders.neighbours(selection, z, k=8)
        st.image(near.picture, caption=near.caption)
    else:
        st.info(f"Nearest dataset images need the data: {selection.data_error}")
    st.markdown("**The code on screen**")
    st.dataframe(sliders.code_table(z), column_config=sliders.code_columns(d), width="stretch")

st.subheader("What else changed")
st.caption("Move one of the traversal dims and compare with the code on screen: which pixels changed, and, "
           "for digits, how a digit classifier's verdict moved.")
sliders.show_what_changed(selection, z, chosen)
