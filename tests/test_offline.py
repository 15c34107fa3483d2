"""Offline and private: visiting every page, the browser asks nothing of any machine but this one.

A real ``streamlit run`` server on 127.0.0.1 and Chromium (Playwright). Every request of the
browser context (pages, their iframes, fonts, images, websockets) is recorded; any that would
leave the machine is aborted and fails the test. The documents are also searched for URLs a
browser may fetch lazily or not at all in headless mode (the favicon, stylesheets, images):
Streamlit draws a ``:material/...:`` page icon from fonts.gstatic.com, for one.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from devtools.browser import chromium, chromium_missing_reason
from devtools.e2e import app_pages, app_server, assert_no_errors, new_app_page, open_app

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(600),
    pytest.mark.skipif(chromium_missing_reason() is not None, reason=chromium_missing_reason() or ""),
]

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

# URLs in the documents (main page and iframes) that a browser would load
DOCUMENT_URLS_JS = """() => {
  const out = [];
  const sel = 'link[href], script[src], img[src], iframe[src], source[src], video[src], audio[src], ' +
              'embed[src], object[data], image, use';
  for (const el of document.querySelectorAll(sel)) {
    const url = el.src || el.href?.baseVal || el.href || el.data ||
                el.getAttribute('href') || el.getAttribute('xlink:href') || '';
    if (url) out.push(String(url));
  }
  for (const sheet of document.styleSheets) {
    try { for (const rule of sheet.cssRules) {
      const m = rule.cssText.match(/url\\(["']?([^"')]+)/g) || [];
      for (const u of m) out.push(u.replace(/^url\\(["']?/, ''));
    } } catch (e) { if (sheet.href) out.push(sheet.href); }
  }
  return out;
}"""


def stays_here(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "javascript", ""):
        return True
    return parts.hostname in LOOPBACK or (parts.hostname or "").endswith(".localhost")


def test_stays_here_accepts_only_loopback():
    assert stays_here("http://127.0.0.1:8501/_stcore/stream") and stays_here("ws://localhost:1/x")
    assert stays_here("data:image/png;base64,AAA") and stays_here("blob:http://127.0.0.1:1/abc")
    assert stays_here("http://[::1]:8501/") and stays_here("about:blank") and stays_here("fonts/x.woff2")
    assert not stays_here("https://fonts.gstatic.com/s/i/x.svg") and not stays_here("https://webhooks.fivetran.com/x")
    assert not stays_here("http://127.0.0.1.example.com/") and not stays_here("http://10.0.0.1/")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("offline")
    with app_server(env={"LATENT_EXPLORER_TRAINED": str(tmp / "published"),
                         "LATENT_EXPLORER_WORKSPACES": str(tmp / "workspaces")}) as url:
        yield url


def test_every_request_goes_to_this_machine(server):
    requests: list[str] = []
    with chromium() as browser:
        page = new_app_page(browser)
        context = page.context

        def record(route):
            requests.append(route.request.url)
            route.continue_() if stays_here(route.request.url) else route.abort()

        context.route("**/*", record)
        page.on("websocket", lambda ws: requests.append(ws.url))
        in_documents: list[str] = []
        for name, path in app_pages():
            open_app(page, server, path)
            page.wait_for_timeout(500)  # late fetches (fonts of icons drawn after the run, the favicon)
            assert_no_errors(page, name)
            for frame in page.frames:
                in_documents += frame.evaluate(DOCUMENT_URLS_JS)
        context.close()
    leaving = sorted({u for u in requests if not stays_here(u)})
    assert not leaving, f"requests that leave the machine: {leaving}"
    leaving = sorted({u for u in in_documents if not stays_here(u)})
    assert not leaving, f"URLs in the pages that a browser would fetch from elsewhere: {leaving}"
    assert len(requests) > 20 and any("/_stcore/stream" in u for u in requests)
    print(f"{len(requests)} requests, {len({urlsplit(u).netloc for u in requests})} host(s): "
          f"{sorted({urlsplit(u).netloc for u in requests})}")
