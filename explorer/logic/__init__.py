"""The explorer's pure logic: data in, numbers or figures out. No Streamlit here.

analysis (choosing and grouping checkpoints, paths, angles), figures and charts (Plotly
builders), spaces (latent ranges, grids, projections), images (tiling, upscaling),
uploads (preparing a user's image), training (background training jobs).
"""
