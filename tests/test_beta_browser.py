"""The Beta page's charts in a real browser at a laptop's and a phone's width: no label drawn over
another (β labels on the curve, the per-dimension KL rows, axis titles) and none cut off by its
chart's edge. Chromium through Playwright; skipped only when it is missing."""

from __future__ import annotations

import pytest

from devtools.browser import chromium_missing_reason
from devtools.e2e import app_server, assert_no_errors, new_app_page, open_app, save_artifact
from explorer.ui import loaders

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_missing_reason() is not None, reason=chromium_missing_reason() or ""),
]

# Every text of every Plotly chart: its box against the chart's box and against each other text.
LABELS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(plot => {
  const frame = plot.getBoundingClientRect();
  const boxes = [...plot.querySelectorAll(
      'g.textpoint text, .xtick text, .ytick text, .g-xtitle text, .g-ytitle text, .legendtext, .annotation-text')]
    .map(t => ({text: t.textContent, box: t.getBoundingClientRect()})).filter(t => t.box.width > 0);
  const cut = boxes.filter(({box}) => box.left < frame.left - 1 || box.right > frame.right + 1
                                       || box.top < frame.top - 1 || box.bottom > frame.bottom + 1).map(t => t.text);
  const overlaps = [];
  boxes.forEach((a, i) => boxes.slice(i + 1).forEach(b => {
    if (a.box.left < b.box.right - 1 && b.box.left < a.box.right - 1 && a.box.top < b.box.bottom - 1
        && b.box.top < a.box.bottom - 1) overlaps.push([a.text, b.text]);
  }));
  return {texts: boxes.length, cut, overlaps};
})"""


@pytest.fixture(scope="module")
def server():
    with app_server() as url:
        yield url


@pytest.mark.timeout(300)
@pytest.mark.parametrize("width", [1400, 390])
@pytest.mark.parametrize("link", ["", "?model=mnist-vae-2-beta0.5", "?model=frey-vae-2-beta2"])
def test_beta_charts_have_no_overlapping_or_cut_labels(browser, server, width, link):
    shipped = {p.stem for p in loaders.shipped_dir().glob("*.json")}
    if link and link.split("=")[1] not in shipped:
        pytest.skip(f"{link} is not shipped here")
    page = new_app_page(browser, viewport={"width": width, "height": 900})
    try:
        open_app(page, server, "Beta_and_tradeoff" + link, timeout=120_000)
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot g.textpoint text').length > 0",
                               timeout=60_000)
        charts = page.evaluate(LABELS_JS)
        assert len(charts) >= 3 and all(c["texts"] for c in charts)
        for chart in charts:
            assert chart["overlaps"] == [] and chart["cut"] == [], chart
        assert_no_errors(page, f"Beta page {link or 'default'} at {width} px")
    finally:
        save_artifact(page, f"beta_{width}_{link.split('=')[-1] or 'default'}")
        page.context.close()
