"""How fast the app answers: server-side reruns per page, and what a user waits for in Chromium.

    python -m bench.bench_app                  # everything (about 3-5 minutes on 2 cores)
    python -m bench.bench_app --no-browser     # AppTest reruns only
    python -m bench.bench_app --reruns 10

1. Server-side rerun per page (``streamlit.testing.v1.AppTest``, in this process): run the page
   once to warm the caches (models, data, encodings), then time N plain reruns, then N reruns
   each after changing the page's main widget to a value not seen before (so the work it
   triggers is not already cached). Target: Manifold and Latent sliders under 100 ms.
2. In Chromium (a real ``streamlit run`` server, Debian's Chromium):
   * cold start: process start -> server healthy -> first page rendered (fresh server each time);
   * first render: opening the app (a new session on a warm server) -> the page drawn, per page;
   * slider release -> new image: the plain Streamlit slider of Latent sliders (release -> the new
     decoded <img> loaded) and the Manifold grid size (release -> the new grid drawn);
   * the browser-side decoder of Latent sliders: pointer move -> image drawn, from the
     component's own counters (no server round trip while dragging).

Writes bench/results/app.json and app.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.run_all import RESULTS, machine_info, machine_markdown, md_table, write_results

REPO = Path(__file__).resolve().parents[1]
PREFERRED_MODEL = "mnist-vae-2"  # the model every page shows while timed (when it is shipped)


# ---- 1. server-side reruns (AppTest) -----------------------------------------------------------

def _by_key(elements, prefix: str):
    for el in elements:
        if el.key and el.key.startswith(prefix):
            return el
    raise LookupError(f"no widget whose key starts with {prefix!r}")


def _slider_values(el, count: int) -> list:
    """``count`` distinct values along a slider, inside its range, on its step."""
    lo, hi, step = float(el.min), float(el.max), float(el.step or 1)
    n = int(round((hi - lo) / step))
    picks = sorted({int(round(n * (0.05 + 0.9 * k / max(1, count - 1)))) for k in range(count)})
    values = [lo + p * step for p in picks]
    return [int(v) for v in values] if isinstance(el.value, int) else [round(v, 6) for v in values]


def _change_spec(page: str):
    """(description, setup(at), change(at, k) -> at) for a page's main widget."""
    def slider(key, label):
        def change(at, k):
            el = _by_key(at.slider, key)
            values = [v for v in _slider_values(el, 40) if v != el.value]
            return el.set_value(values[k % len(values)]).run()
        return label, None, change

    if page == "streamlit_app.py":
        return "button 'New samples' (a new prior sample)", None, lambda at, k: _by_key(at.button, "home_new_samples").click().run()
    if "Latent_map" in page:
        def change(at, k):
            el = _by_key(at.toggle, "map_ellipses")
            return el.set_value(not el.value).run()
        return "toggle 'Posterior ellipses' (on/off)", None, change
    if "Manifold" in page:
        return slider("manifold_n", "slider 'Grid size n' (a new n each time, up to 30x30)")
    if "Latent_sliders" in page:
        def setup(at):
            _by_key(at.toggle, "sliders_native").set_value(True).run()

        def change(at, k):
            el = _by_key(at.slider, "sliders_native_")
            lo, hi = float(el.min), float(el.max)
            value = lo + (hi - lo) * (0.1 + 0.8 * ((k * 0.618) % 1.0))
            return el.set_value(round(value, 2)).run()
        return "plain slider z0 (server decode, traversals, neighbours)", setup, change
    if "Interpolation" in page:
        return slider("interp_steps", "slider 'Steps'")
    if "Beta" in page:
        def change(at, k):
            el = _by_key(at.select_slider, "beta_value_")
            options = [o for o in el.options if str(o) != str(el.value)]
            return el.set_value(type(el.value)(options[k % len(options)])).run()
        return "select slider 'beta' (another model of the sweep)", None, change
    if "Compare" in page:
        return "button 'Other images'", None, lambda at, k: _by_key(at.button, "compare_shuffle").click().run()
    if "Train" in page:
        def change(at, k):
            el = _by_key(at.number_input, "train_epochs_vae")
            return el.set_value(5 + (k % 50)).run()
        return "number 'Epochs'", None, change
    return None


def _errors(at) -> list[str]:
    return [str(e.message)[:300] for e in at.exception] + [str(e.value)[:300] for e in at.error]


def apptest_page(page: str, reruns: int) -> dict:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / page), default_timeout=300)
    shipped = Path(os.environ.get("LATENT_EXPLORER_CHECKPOINTS", REPO / "checkpoints"))
    if (shipped / f"{PREFERRED_MODEL}.json").exists():  # the sidebar's remembered choice, as after a user picked it
        at.session_state["picked_dataset"] = PREFERRED_MODEL.split("-")[0]
        at.session_state["picked_model"] = PREFERRED_MODEL
    t0 = time.perf_counter()
    at.run()
    first = (time.perf_counter() - t0) * 1000
    out: dict = {"page": page, "first_run_ms": first, "errors": _errors(at)}
    if at.exception:
        return out
    plain = []
    for _ in range(reruns):
        t0 = time.perf_counter()
        at.run()
        plain.append((time.perf_counter() - t0) * 1000)
    out["rerun_ms"] = _stats(plain)
    spec = _change_spec(page)
    if spec is not None:
        label, setup, change = spec
        out["widget"] = label
        try:
            if setup:
                setup(at)
            change(at, 0)  # the first change may load more (e.g. a second decoder): not timed
            times = []
            for k in range(1, reruns + 1):
                t0 = time.perf_counter()
                at = change(at, k) or at
                times.append((time.perf_counter() - t0) * 1000)
            out["widget_rerun_ms"] = _stats(times)
        except (LookupError, AttributeError, ValueError) as err:
            out["widget_error"] = f"{type(err).__name__}: {err}"
        out["errors"] += _errors(at)
    return out


def _stats(values: list[float]) -> dict:
    values = sorted(values)
    return {"median": statistics.median(values), "p90": values[int(0.9 * (len(values) - 1))],
            "min": values[0], "n": len(values)}


def app_pages() -> list[str]:
    from devtools.e2e import page_files

    return ["streamlit_app.py"] + [str(p.relative_to(REPO)) for p in page_files()]


# ---- 2. in Chromium ------------------------------------------------------------------------------

def browser_timings(repeats: int, cold_starts: int) -> dict:
    from devtools.browser import chromium, chromium_missing_reason
    from devtools.e2e import app_pages as url_pages, app_server, new_app_page, open_app, timed_app_server

    reason = chromium_missing_reason()
    if reason:
        return {"skipped": reason}
    out: dict = {}
    trained = tempfile.mkdtemp(prefix="bench-app-trained-")
    env = {"LATENT_EXPLORER_TRAINED": trained, "LATENT_EXPLORER_WORKSPACES": str(Path(trained) / "workspaces")}
    pages = dict(url_pages())
    run_log = Path(trained) / "runs.jsonl"
    with chromium() as browser:
        print("  cold starts ...", flush=True)
        cold = []  # a fresh server each time
        for _ in range(cold_starts):
            t0 = time.perf_counter()
            with app_server(env=env) as url:
                healthy = (time.perf_counter() - t0) * 1000
                page = new_app_page(browser)
                open_app(page, url, "", timeout=180_000)
                cold.append({"healthy_ms": healthy, "first_page_ms": (time.perf_counter() - t0) * 1000})
                page.context.close()
        out["cold_start"] = {
            "runs": cold,
            "healthy_ms": statistics.median(c["healthy_ms"] for c in cold),
            "first_page_ms": statistics.median(c["first_page_ms"] for c in cold),
        }
        with timed_app_server(run_log, env=env) as url:
            print("  first renders ...", flush=True)
            for name, path in pages.items():  # warm every page once (models, data, encodings load on first use)
                page = new_app_page(browser)
                open_app(page, url, path, timeout=180_000)
                page.context.close()
            first = {}
            for name, path in pages.items():
                times = []
                for _ in range(repeats):
                    page = new_app_page(browser)
                    times.append(open_app(page, url, path, timeout=120_000))
                    page.context.close()
                first[name] = _stats(times)
            out["first_render_ms"] = first
            print("  slider timings ...", flush=True)
            out.update(_guarded(lambda: _interactions(browser, url, pages, repeats, run_log, decoder=True)))
        # the same interactions on a server that skips Streamlit's gc.collect() after every run
        print("  slider timings, runner.postScriptGC=false ...", flush=True)
        with timed_app_server(run_log, env=env, extra_args=["--runner.postScriptGC", "false"]) as url:
            for name in ("latent_sliders", "manifold"):
                if name in pages:
                    page = new_app_page(browser)
                    open_app(page, url, pages[name], timeout=180_000)
                    page.context.close()
            out["without_post_script_gc"] = _guarded(
                lambda: _interactions(browser, url, pages, repeats, run_log, decoder=False))
    return out


def _guarded(measure) -> dict:
    """Run one group of measurements; a failure is recorded (and printed), not fatal to the rest."""
    try:
        return measure()
    except Exception as err:  # noqa: BLE001 - a benchmark reports what failed and goes on
        message = f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"
        print(f"  failed: {message}", flush=True)
        return {"error": message}


def _interactions(browser, url: str, pages: dict, repeats: int, run_log: Path, decoder: bool) -> dict:
    """Slider release -> new image (and -> rerun over), client side; the same runs' server-side script time."""
    from devtools.browser import component_frame
    from devtools.e2e import (
        click_toggle, drag_slider, error_texts, new_app_page, open_app, read_run_log, rerun, wait_idle,
    )

    out: dict = {}
    if "latent_sliders" in pages:
        page = new_app_page(browser)
        open_app(page, url, pages["latent_sliders"])
        rerun(page, lambda: click_toggle(page, "Plain Streamlit sliders"))
        t_start = time.time()
        times, reruns = [], []
        for k in range(repeats * 2):
            image_ms, rerun_ms = _release_to_image(
                page, lambda: drag_slider(page, "z0", fraction=0.25 + 0.5 * (k % 2), release=False), "decode(z)")
            times.append(image_ms)
            reruns.append(rerun_ms)
        server = [r["ms"] for r in read_run_log(run_log) if r["start"] >= t_start and not r["fragment"]]
        out["slider_release_to_image_ms"] = _stats(times)
        out["slider_release_to_rerun_done_ms"] = _stats(reruns)
        if server:
            out["slider_server_script_ms"] = _stats(server)
        out["errors_sliders"] = error_texts(page)

        if decoder:  # browser-side decoding: pointer move -> image drawn (no server in the loop)
            rerun(page, lambda: click_toggle(page, "Plain Streamlit sliders"))
            frame = component_frame(page, timeout=60)
            frame.wait_for_function("() => latentDecoderStats.draws > 0", timeout=60_000)
            wait_idle(page, settle_ms=300)
            slider = frame.locator("#sliders input").first
            slider.scroll_into_view_if_needed()
            box = slider.bounding_box()
            y = box["y"] + box["height"] / 2
            page.mouse.move(box["x"] + box["width"] / 2, y)
            page.mouse.down()
            for k in range(120):
                page.mouse.move(box["x"] + box["width"] * (0.1 + 0.8 * ((k % 40) / 40)), y)
            page.mouse.up()
            wait_idle(page)
            lat = frame.evaluate("() => latentDecoderStats.drawLatencyMs.slice()")
            dec = frame.evaluate("() => latentDecoderStats.decodeMs.slice()")
            if lat:
                out["browser_decoder_move_to_draw_ms"] = _stats(lat)
            if dec:
                out["browser_decoder_decode_ms"] = _stats(dec)
        page.context.close()

    if "manifold" in pages:
        page = new_app_page(browser)
        open_app(page, url, pages["manifold"])
        t_start = time.time()
        times, reruns = [], []
        for k in range(repeats * 2):
            grid_ms, rerun_ms = _release_to_grid(
                page, lambda: drag_slider(page, "Grid size", fraction=0.3 + 0.06 * k, release=False))
            times.append(grid_ms)
            reruns.append(rerun_ms)
        server = [r["ms"] for r in read_run_log(run_log) if r["start"] >= t_start and not r["fragment"]]
        out["manifold_release_to_grid_ms"] = _stats(times)
        out["manifold_release_to_rerun_done_ms"] = _stats(reruns)
        if server:
            out["manifold_server_script_ms"] = _stats(server)
        out["errors_manifold"] = error_texts(page)
        page.context.close()
    return out


_MARK = "() => { window.__st.mark = performance.now(); window.__st.markDone = window.__st.done; return window.__st.mark; }"


def _release_and_wait(page, press, changed_js: str, arg) -> tuple[float, float]:
    """Press and drag (``press``), then release; returns (ms from the release to ``changed_js``
    returning true, ms from the release to the rerun being over)."""
    from devtools.e2e import wait_charts, wait_idle

    wait_charts(page)
    # two animation frames: Plotly's redraw after the last rerun may still move the layout
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    press()
    t_release = page.evaluate(_MARK)
    page.mouse.up()
    done = page.wait_for_function(f"(arg) => ({changed_js})(arg) ? performance.now() : false",
                                  arg=arg, polling="raf", timeout=60_000).json_value()
    page.wait_for_function("() => window.__st.done > window.__st.markDone", timeout=60_000, polling=20)
    wait_idle(page)
    rerun_done = page.evaluate("() => window.__st.lastDoneAt")
    return done - t_release, rerun_done - t_release


_NEW_IMAGE = """([cap, old]) => { const box = [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stImage"]')]
                                 .find(e => e.innerText.includes(cap));
    const img = box && box.querySelector('img');
    return img && img.src !== old && img.complete && img.naturalWidth > 0; }"""

_NEW_GRID = """(old) => { const now = [...document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot image')]
                  .map(e => (e.getAttribute('href') || '').slice(-300)).join();
    return now && now !== old; }"""


def _release_to_image(page, press, caption: str) -> tuple[float, float]:
    """(release -> the new image loaded, release -> rerun over) in ms, for the st.image captioned ``caption``."""
    old = page.locator('[data-testid="stMain"] [data-testid="stImage"]', has_text=caption).locator("img").first.get_attribute("src")
    return _release_and_wait(page, press, _NEW_IMAGE, [caption, old])


def _release_to_grid(page, press) -> tuple[float, float]:
    old = page.evaluate("""() => [...document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot image')]
                             .map(e => (e.getAttribute('href') || '').slice(-300)).join()""")
    return _release_and_wait(page, press, _NEW_GRID, old)


# ---- report ----------------------------------------------------------------------------------------

def to_markdown(result: dict) -> str:
    lines = ["# App responsiveness", "",
             "Written by `python -m bench.bench_app`. " + machine_markdown(result["machine"])
             + f" Load average when it finished: {result['machine_after']['load_average_1_5_15']}.", ""]
    rows = [["page", "first run (ms)", "rerun (median ms)", "main widget", "rerun after a change (median ms)",
             "p90 (ms)", "target"]]
    for p in result.get("apptest", []):
        name = Path(p["page"]).stem
        target = "< 100 ms" if ("Manifold" in name or "sliders" in name) else ""
        w = p.get("widget_rerun_ms")
        verdict = ""
        if target and w:
            verdict = "met" if w["median"] < 100 else "missed"
        rows.append([name, f"{p['first_run_ms']:.0f}", f"{p['rerun_ms']['median']:.0f}" if "rerun_ms" in p else "error",
                     p.get("widget", "-") + (f" ({p['widget_error']})" if p.get("widget_error") else ""),
                     f"{w['median']:.0f}" if w else "-", f"{w['p90']:.0f}" if w else "-",
                     f"{target} {verdict}".strip()])
    lines += ["## Server-side rerun per page (AppTest, in-process)", "",
              f"Model: {PREFERRED_MODEL} where the page has a model picker. {result.get('reruns')} reruns each; "
              "'after a change' sets the page's main widget to a value not seen before (where it has values), so "
              "what it triggers is computed, not read from a cache. The pages share one process, so only the first "
              "page's first run pays for loading models and data.", "", md_table(rows), ""]
    errors = {Path(p["page"]).stem: p["errors"] for p in result.get("apptest", []) if p.get("errors")}
    if errors:
        lines += ["Errors seen: " + "; ".join(f"{k}: {v}" for k, v in errors.items()), ""]
    b = result.get("browser") or {}
    if b.get("skipped"):
        lines += [f"Browser timings skipped: {b['skipped']}", ""]
    elif b:
        rows = [["what", "median (ms)", "p90 (ms)", "n"]]
        cs = b.get("cold_start")
        if cs:
            rows.append(["cold start: `streamlit run` -> server healthy", f"{cs['healthy_ms']:.0f}", "", len(cs["runs"])])
            rows.append(["cold start: `streamlit run` -> first page rendered", f"{cs['first_page_ms']:.0f}", "",
                         len(cs["runs"])])
        for name, s in (b.get("first_render_ms") or {}).items():
            rows.append([f"open the app -> page rendered: {name} (warm server)", f"{s['median']:.0f}", f"{s['p90']:.0f}", s["n"]])
        labels = (("slider_release_to_image_ms", "plain slider release -> new image loaded (Latent sliders)"),
                  ("slider_release_to_rerun_done_ms", "plain slider release -> whole page rerun over (Latent sliders)"),
                  ("slider_server_script_ms", "  of which the script itself, server side (Latent sliders)"),
                  ("manifold_release_to_grid_ms", "grid-size slider release -> new grid drawn (Manifold)"),
                  ("manifold_release_to_rerun_done_ms", "grid-size slider release -> whole page rerun over (Manifold)"),
                  ("manifold_server_script_ms", "  of which the script itself, server side (Manifold)"),
                  ("browser_decoder_move_to_draw_ms", "browser decoder: pointer move -> image drawn"),
                  ("browser_decoder_decode_ms", "browser decoder: one decode in JavaScript"))
        for key, label in labels:
            if key in b:
                s = b[key]
                rows.append([label, f"{s['median']:.1f}", f"{s['p90']:.1f}", s["n"]])
        for where, group in (("", b), ("runner.postScriptGC=false: ", b.get("without_post_script_gc") or {})):
            if group.get("error"):
                rows.append([f"{where}measurement failed: {group['error']}", "-", "-", "-"])
        nogc = b.get("without_post_script_gc") or {}
        for key, label in labels[:6]:
            if key in nogc:
                s = nogc[key]
                rows.append([label.replace("(", "(runner.postScriptGC=false, ", 1) if "(" in label else label + " (no GC)",
                             f"{s['median']:.1f}", f"{s['p90']:.1f}", s["n"]])
        lines += ["## In Chromium (headless, localhost)", "",
                  "Client-side times run from the input event to the change on screen, in the page's clock. "
                  "'Server side' is the script's own run time in the server process (timed around Streamlit's "
                  "script execution); the rest is Streamlit's work after the script (by default a full "
                  "`gc.collect()` after every run, `runner.postScriptGC`), the websocket and the browser drawing. "
                  "The last rows repeat the slider measurements on a server started with "
                  "`--runner.postScriptGC false`.", "", md_table(rows), ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reruns", type=int, default=15, help="timed reruns per page and per widget change")
    parser.add_argument("--repeats", type=int, default=5, help="browser repeats per measurement")
    parser.add_argument("--cold-starts", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--pages", nargs="*", help="only these page files (default: all)")
    parser.add_argument("--out", default=str(RESULTS / "app"), help="output path without extension")
    args = parser.parse_args(argv)

    result: dict = {"benchmark": "app", "machine": machine_info(), "reruns": args.reruns, "apptest": []}
    os.environ.setdefault("LATENT_EXPLORER_TRAINED", tempfile.mkdtemp(prefix="bench-app-trained-"))
    os.environ.setdefault("LATENT_EXPLORER_WORKSPACES", os.environ["LATENT_EXPLORER_TRAINED"] + "/workspaces")
    for page in args.pages or app_pages():
        print(f"AppTest {page} ...", flush=True)
        result["apptest"].append(apptest_page(page, args.reruns))
    if not args.no_browser:
        print("Chromium timings ...", flush=True)
        result["browser"] = browser_timings(args.repeats, args.cold_starts)
    result["machine_after"] = machine_info(brief=True)
    write_results(args.out, result, to_markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
