"""The views in a real browser: tables fit at 1400 px with blanks blank, and one palette and one
"your drawing" star on the Plotly map and the draw-and-drag canvas of the Latent map."""

from __future__ import annotations

import pytest

from devtools.browser import chromium_missing_reason
from devtools.draw_support import SEVEN, canvas_frame, draw
from devtools.e2e import app_server, new_app_page, open_app, wait_idle
from explorer.logic import palette
from explorer.ui import loaders

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_missing_reason() is not None, reason=chromium_missing_reason() or ""),
]
WIDE = {"width": 1400, "height": 1000}
GRID_FITS = """(grid) => { const s = grid.querySelector('.dvn-scroller');
  return {scroll: s.scrollWidth, client: s.clientWidth}; }"""


def need(*names: str) -> None:
    have = {p.stem for p in loaders.shipped_dir().glob("*.json")}
    if missing := [n for n in names if n not in have]:
        pytest.skip(f"checkpoint(s) {', '.join(missing)} not shipped here")


@pytest.fixture(scope="module")
def url():
    with app_server() as base:
        yield base


def table_texts(page, column: str) -> tuple[list[str], list[str], dict]:
    """Headers, cells and sizes of the table that has ``column``."""
    header = page.locator('[role="columnheader"]', has_text=column)
    grid = page.locator('[data-testid="stDataFrame"]', has=header).first
    grid.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    headers = grid.locator('[role="columnheader"]').all_inner_texts()
    cells = grid.locator('[role="gridcell"]').all_inner_texts()
    return headers, cells, grid.evaluate(GRID_FITS)


@pytest.mark.parametrize("path, column", [("Compare?model=frey-vae-2", "−ELBO Gaussian, c = 0.03"),
                                          ("", "−ELBO Gauss.")])
def test_tables_fit_at_1400px_and_blanks_are_blank(browser, url, path, column):
    need("frey-vae-2", "frey-ae-2")
    page = new_app_page(browser, WIDE)
    open_app(page, url, path, timeout=240_000)
    wait_idle(page, settle_ms=500)
    headers, cells, size = table_texts(page, column)
    assert column in headers, headers
    assert cells and "None" not in cells and "nan" not in cells and "" in cells  # PCA has no KL: blank
    assert size["scroll"] <= size["client"] + 1, f"the table scrolls sideways at 1400 px: {size}"
    page.close()


def test_the_map_and_the_canvas_share_one_palette_and_one_star(browser, url):
    need("mnist-vae-2")
    page = new_app_page(browser, WIDE)
    open_app(page, url, "Latent_map?model=mnist-vae-2", timeout=240_000)
    frame = canvas_frame(page)
    legend = frame.locator("#legend .legend-class")
    assert legend.all_inner_texts() == [str(d) for d in range(10)]  # the drag map's class legend
    swatches = frame.evaluate("() => [...latentCanvasRoot.querySelectorAll('#legend .legend-class i')]"
                              ".map(i => getComputedStyle(i).backgroundColor)")
    plotly = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"] .js-plotly-plot')._fullData"
                           ".filter(t => /^[0-9]$/.test(t.name)).map(t => [t.name, t.marker.color])")
    assert [c for _, c in sorted(plotly)] == list(palette.CLASS_COLORS)
    assert swatches == [rgb(c) for c in palette.CLASS_COLORS]
    frame.locator('canvas[data-role="draw"]').scroll_into_view_if_needed()
    draw(page, frame, SEVEN, seconds=0.3)
    frame.get_by_role("button", name="Use my drawing on the page").click()
    page.get_by_text("your drawing: 28 x 28 pixels").wait_for(timeout=60_000)
    wait_idle(page, settle_ms=500)
    star = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"] .js-plotly-plot')._fullData"
                         ".filter(t => t.name === 'your image').map(t => [t.marker.symbol, t.marker.color])")
    canvas_star = frame.evaluate("() => getComputedStyle(latentCanvasRoot.querySelector('#legend .legend-star i'))"
                                 ".backgroundColor")
    assert star == [["star", palette.YOUR_IMAGE_FILL]] and canvas_star == rgb(palette.YOUR_IMAGE_FILL)
    page.close()


def rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"
