"""Issue 11, items 3-5 in a real browser: the menu, deep links, the link box, downloads.

One fresh ``streamlit run streamlit_app.py`` per module: the first test opens a deep link
before anyone opened the app's root (the case where Streamlit would run the page file
without the router). Chromium through Playwright, one browser context per test; models
trained here go to a temporary folder. Skipped only when Chromium (or Playwright) is missing.
"""

from __future__ import annotations

import io
import re
import zipfile
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from devtools.browser import chromium_missing_reason
from devtools.e2e import (
    app_server, assert_no_errors, choose, click_button, click_nav, fill_input, new_app_page, open_app, rerun,
    save_artifact, selectbox_value, slider_value, wait_idle,
)
from explorer.ui import home, loaders, share

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_missing_reason() is not None, reason=chromium_missing_reason() or ""),
]

Z16 = [round(float(v), 3) for v in np.linspace(-1.2, 1.5, 16)]
NOTE = "Part of the link was not used"


def need(*names: str) -> None:
    have = {p.stem for p in loaders.shipped_dir().glob("*.json")}
    missing = [n for n in names if n not in have]
    if missing:
        pytest.skip(f"checkpoint(s) {', '.join(missing)} not in {loaders.shipped_dir()}")


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("trained")


@pytest.fixture(scope="module")
def server(trained_dir):
    with app_server(env={"LATENT_EXPLORER_TRAINED": str(trained_dir)}) as url:
        yield url


@pytest.fixture
def page(browser, server, request):
    page = new_app_page(browser)
    page.context.set_default_timeout(60_000)
    yield page
    save_artifact(page, "share_" + re.sub(r"[^\w.-]+", "_", request.node.name.removeprefix("test_")))
    page.context.close()


def query(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def menu(page) -> list[str]:
    """The menu's labels (each link shows its emoji, then its title)."""
    return [t.strip().splitlines()[-1].strip() for t in page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()]


def link_box(page) -> str:
    """Open the sidebar's link popover as a user would, read the link, close it again."""
    page.locator('[data-testid="stSidebar"] [data-testid="stPopover"] button', has_text=share.LINK_LABEL).click()
    code = page.locator('[data-testid="stPopoverBody"] [data-testid="stCode"]').last
    code.wait_for(state="visible", timeout=10_000)
    text = code.inner_text().strip()
    page.keyboard.press("Escape")
    code.wait_for(state="hidden", timeout=10_000)
    return text


def notes(page) -> list[str]:
    return [t for t in page.locator('[data-testid="stAlertContentWarning"]').all_inner_texts() if NOTE in t]


def radio_checked(page, label: str) -> str:
    group = page.locator('[data-testid="stRadio"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=label)).first
    return group.locator('label:has(input:checked)').inner_text().strip()


def download(page, label: str) -> bytes:
    button = page.locator('[data-testid="stDownloadButton"] button', has_text=label).first
    button.scroll_into_view_if_needed()
    with page.expect_download(timeout=60_000) as info:
        button.click()
    return open(info.value.path(), "rb").read()


# ---- deep links ------------------------------------------------------------------------------

@pytest.mark.timeout(240)
def test_a_deep_link_first_thing_on_a_fresh_server_restores_model_and_code(page, server):
    need("mnist-vae-16")
    z = ",".join(f"{v:g}" for v in Z16)
    open_app(page, server, f"Latent_sliders?model=mnist-vae-16&z={z}")
    wait_idle(page, settle_ms=800)
    labels = menu(page)
    assert labels[0] == "Home" and "streamlit app" not in " ".join(labels).lower(), labels
    assert labels[1:] == [p.label for p in home.PAGES], labels
    assert page.locator('[data-testid="stMain"] h1').first.inner_text() == "Latent sliders"
    assert selectbox_value(page, "Model", "stSidebar").startswith("mnist-vae-16 ·")
    assert radio_checked(page, "Start from") == "the code in the link"
    got = query(page)
    assert got["model"] == "mnist-vae-16"
    assert np.allclose([float(v) for v in got["z"].split(",")], Z16, atol=1e-3)
    assert link_box(page).startswith(server.rstrip("/") + "/Latent_sliders?model=mnist-vae-16&z=")
    assert not notes(page)
    assert_no_errors(page, "Latent sliders from a deep link")


HIGHLIGHTER_JS = """() => performance.getEntriesByType('resource')
  .some(e => e.name.includes('StreamlitSyntaxHighlighter'))"""


@pytest.mark.timeout(240)
@pytest.mark.parametrize("path", ["", "Latent_sliders", "Beta_and_tradeoff"])
def test_the_link_box_loads_the_code_highlighter_only_when_opened(page, server, path):
    """The link's code box pulls in Streamlit's 1.5 MB syntax highlighter: in the sidebar it was
    compiled by every page before its first chart (Beta: 2.0 s instead of 1.3 s in a new browser,
    bench/bench_start.py). In its popover it loads when a student opens the link, not before."""
    open_app(page, server, path)
    wait_idle(page, settle_ms=500)
    assert not page.evaluate(HIGHLIGHTER_JS), f"/{path} loaded the syntax highlighter before the link was opened"
    link = link_box(page)
    assert urlparse(link).path.strip("/") == path and link.startswith(server.rstrip("/"))
    assert page.evaluate(HIGHLIGHTER_JS)
    assert_no_errors(page, f"/{path} with its link opened")


@pytest.mark.timeout(180)
def test_the_link_box_url_opens_the_same_view_in_a_new_session(page, browser, server):
    need("mnist-ae-2")
    open_app(page, server, "Manifold?model=mnist-ae-2")
    link = link_box(page)
    assert urlparse(link).path == "/Manifold" and parse_qs(urlparse(link).query)["model"] == ["mnist-ae-2"]
    other = new_app_page(browser)
    try:
        open_app(other, server, link.removeprefix(server.rstrip("/")))
        assert selectbox_value(other, "Model", "stSidebar").startswith("mnist-ae-2 ·")
        assert other.locator('[data-testid="stMain"] h1').first.inner_text() == "Manifold"
        assert_no_errors(other, "Manifold from a copied link")
    finally:
        other.context.close()


@pytest.mark.timeout(180)
def test_beta_link_sets_the_slider(page, server):
    need("mnist-vae-16", "mnist-vae-16-beta4")  # the page opens MNIST on its seed-measured 16-D sweep
    open_app(page, server, "Beta_and_tradeoff?beta=4")
    slider = page.locator('[data-testid="stMain"] [data-testid="stSlider"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text="β")).first
    assert slider.locator('[data-testid="stSliderThumbValue"]').first.inner_text().strip() == "4"
    assert "mnist-vae-16-beta4" in page.locator('[data-testid="stMain"]').inner_text()
    assert query(page) == {"model": "mnist-vae-16-beta4", "beta": "4"}
    assert not notes(page)
    assert_no_errors(page, "Beta page from a link")


@pytest.mark.timeout(240)
@pytest.mark.parametrize("path,words", [
    ("Latent_map?model=no-such-model", "no-such-model"),
    ("Latent_sliders?model=mnist-vae-16&z=1,2", "needs 16"),
    ("Latent_sliders?model=mnist-vae-16&z=" + ",".join(["nan"] * 16), "finite"),
    ("Beta_and_tradeoff?beta=3", "β of the sweep"),
    ("Compare?model=" + "x" * 5000, "characters long"),
])
def test_bad_links_show_a_note_and_the_defaults(page, server, path, words):
    need("mnist-vae-2", "mnist-vae-16")
    open_app(page, server, path)
    wait_idle(page, settle_ms=800)
    found = notes(page)
    assert len(found) == 1 and words in found[0], found
    assert "Traceback" not in page.locator('[data-testid="stMain"]').inner_text()
    assert_no_errors(page, f"{path[:60]}")


@pytest.mark.timeout(180)
def test_the_model_follows_the_user_from_page_to_page(page, server):
    need("mnist-ae-2")
    open_app(page, server, "Latent_map?model=mnist-ae-2")
    rerun(page, lambda: click_nav(page, "Manifold"))
    wait_idle(page, settle_ms=300)
    assert page.locator('[data-testid="stMain"] h1').first.inner_text() == "Manifold"
    assert selectbox_value(page, "Model", "stSidebar").startswith("mnist-ae-2 ·")
    assert query(page).get("model") == "mnist-ae-2"
    assert_no_errors(page, "Manifold after the menu")


# ---- downloads -------------------------------------------------------------------------------

@pytest.mark.timeout(180)
def test_manifold_grid_downloads_as_a_png_of_the_grid(page, server):
    need("mnist-vae-2")
    from explorer.ui.explore import MANIFOLD_MIN_PX

    open_app(page, server, "Manifold?model=mnist-vae-2")
    n = int(slider_value(page, "Grid size"))
    picture = Image.open(io.BytesIO(download(page, "Download the grid (PNG)")))
    factor = max(1, int(np.ceil(MANIFOLD_MIN_PX / (n * 28))))
    assert picture.format == "PNG" and picture.size == (n * 28 * factor, n * 28 * factor)
    assert np.asarray(picture).std() > 10  # decoded digits, not a blank
    assert_no_errors(page, "Manifold after the download")


@pytest.mark.timeout(180)
def test_latent_map_codes_download_as_csv(page, server):
    need("mnist-vae-2")
    open_app(page, server, "Latent_map?model=mnist-vae-2")
    frame = pd.read_csv(io.BytesIO(download(page, "Download the codes (CSV)")))
    assert list(frame.columns) == ["index", "label", "z0", "z1", "logvar0", "logvar1", "sigma0", "sigma1"]
    means, logvars, labels = loaders.encoded(str(loaders.shipped_dir() / "mnist-vae-2"))
    assert len(frame) == len(means) and frame["index"].tolist() == list(range(len(means)))
    assert np.allclose(frame[["z0", "z1"]].to_numpy(), means, atol=1e-4)
    assert np.allclose(frame["sigma0"], np.exp(0.5 * logvars[:, 0]), rtol=1e-4)
    assert (frame["label"].to_numpy() == labels).all()
    assert_no_errors(page, "Latent map after the download")


@pytest.mark.slow
@pytest.mark.timeout(360)
def test_a_model_trained_here_downloads_as_a_zip_that_loads(page, server, trained_dir, tmp_path):
    from core.checkpoints import load_checkpoint

    name = "share-digits-pca"
    open_app(page, server, "Train")
    choose(page, "Dataset", "digits", "stMain")
    choose(page, "Model", "PCA", "stMain")
    rerun(page, lambda: fill_input(page, "Checkpoint name", name))
    click_button(page, "Train")
    page.get_by_text(f"Saved {name}").wait_for(timeout=300_000)
    wait_idle(page, settle_ms=1500)
    with zipfile.ZipFile(io.BytesIO(download(page, f"Download {name}"))) as archive:
        assert sorted(archive.namelist()) == [f"{name}.json", f"{name}.safetensors"]
        archive.extractall(tmp_path)
    checkpoint = load_checkpoint(tmp_path / name)
    assert checkpoint.card["name"] == name and checkpoint.card["kind"] == "pca"
    assert_no_errors(page, "Train page after the download")
