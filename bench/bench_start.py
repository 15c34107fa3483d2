"""Fast start, and fast with a whole class on it: before/after in one run.

    python -m bench.bench_start --before /tmp/perf-base         # this checkout ("after") against another
    python -m bench.bench_start --cold 3 --warm 5 --sessions 20 --seconds 60
    python -m bench.bench_start --skip-load                     # cold and warm only (about 4 minutes)

``--before`` is a second checkout of this repository (say ``git worktree add /tmp/perf-base main``);
without it only this checkout is measured. Everything is measured in this one run, the two
checkouts interleaved, so the machine's load falls on both alike:

1. cold start, "first picture": from `streamlit run` (a fresh server, a fresh browser tab)
   to the first picture on the page (an <img> loaded, or a Plotly chart drawn), for a trivial
   app (devtools/apps/trivial_app.py: a title and one image) and for the home page, Latent
   map and Latent sliders of each checkout; the ratio home / trivial is the measure
   (goal: under 2x);
2. warm first picture per page: a warm server (every page opened once), then a new session
   (a new browser context) opens each page; ms to the first picture and to the page being
   drawn and idle; then the student reloads it (the browser's cache now holds Streamlit's
   and Plotly's JavaScript: the "warm reload"); and a tour in one tab through the
   sidebar (goal: every page's first picture within 1.5 s);
3. interaction latency under load: bench/load_test_class.py with ``--sessions`` browsing
   sessions and ``--trainers`` sessions training, per checkout; p50 / p95 from the interaction
   to the updated figure (goal: p95 under 1 s).

Prints the before/after table and writes it to bench/results/start.md (and start.json).
Medians over repeats; the machine's load average is recorded with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.run_all import RESULTS, machine_info, machine_markdown, md_table, write_results

REPO = Path(__file__).resolve().parents[1]
TRIVIAL = REPO / "devtools" / "apps" / "trivial_app.py"
TRIVIAL_PLOTLY = REPO / "devtools" / "apps" / "trivial_plotly_app.py"
COLD_PAGES = ("home", "latent_map", "latent_sliders")
AFTER_HOME = "latent_map"  # also measured on a fresh server right after the home page, as a class would open it
READING_S = 5.0
WEBGL_POINTS = 10_000  # the Latent map's encoded test set: the trivial WebGL app draws as many
NO_PICTURE = {"train"}  # URL paths of the pages that show no picture until something is trained

# The first picture on the page: an <img> that has loaded, or a Plotly chart that has drawn
# (on a page that shows none, the first run drawn). Elements of the page being left (marked
# stale while the next page runs) do not count; ``after`` (a page's title): only once the
# title on screen is another one (a click in the sidebar).
FIRST_PICTURE_JS = """([noPicture, after]) => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main) return false;
  const fresh = (el) => !el.closest('[data-stale="true"]');
  if (after !== null) {
    const h1 = main.querySelector('h1');
    if (!h1 || !fresh(h1) || h1.innerText.trim() === after) return false;
  }
  for (const img of main.querySelectorAll('img'))
    if (fresh(img) && img.complete && img.naturalWidth > 0 && img.getBoundingClientRect().width > 0) return true;
  for (const gd of main.querySelectorAll('.js-plotly-plot'))
    if (fresh(gd) && gd._fullLayout && gd.querySelector('.main-svg')) return true;
  // a page without any picture (Train): its first run drawn (never for the others: between the
  // websocket's connection and the first run, an empty page is 'notRunning' too)
  if (!noPicture) return false;
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning' && !!main.querySelector('h1')
    && !document.querySelector('[data-testid="stStatusWidget"]')
    && !main.querySelector('img, .js-plotly-plot, [data-testid="stImage"], [data-testid="stPlotlyChart"], iframe');
}"""


def _server(script: Path, root: Path, env: dict | None = None):
    from devtools.browser import free_port

    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
           "--server.runOnSave", "false", "--browser.gatherUsageStats", "false", "--global.developmentMode", "false"]
    full_env = dict(os.environ, PYTHONPATH=str(root), **(env or {}))
    proc = subprocess.Popen(cmd, cwd=root, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    return proc, f"http://127.0.0.1:{port}"


def _wait_healthy(url: str, proc, timeout: float = 120) -> None:
    from devtools.browser import _healthy

    deadline = time.monotonic() + timeout
    while not _healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"streamlit did not start at {url}")
        time.sleep(0.02)


def first_picture(browser, url: str, path: str, t0: float | None = None, reload: bool = False) -> dict:
    """Open a page in a new session; ms from ``t0`` (default: now) to the first picture and to idle.
    ``reload``: then reload it once it is idle, and add ms from the reload to its first picture."""
    from devtools.e2e import IDLE_JS, new_app_page

    no_picture = path.split("?")[0].strip("/").lower() in NO_PICTURE
    page = new_app_page(browser)
    try:
        t0 = time.perf_counter() if t0 is None else t0
        page.goto(url.rstrip("/") + "/" + path, wait_until="commit", timeout=180_000)
        page.wait_for_function(FIRST_PICTURE_JS, arg=[no_picture, None], timeout=180_000, polling=10)
        picture = (time.perf_counter() - t0) * 1000
        page.wait_for_function(IDLE_JS, timeout=180_000, polling=20)
        out = {"picture_ms": picture, "idle_ms": (time.perf_counter() - t0) * 1000}
        if reload:
            t1 = time.perf_counter()
            page.reload(wait_until="commit", timeout=180_000)  # a new document: nothing on it is stale
            page.wait_for_function(FIRST_PICTURE_JS, arg=[no_picture, None], timeout=180_000, polling=10)
            out["reload_ms"] = (time.perf_counter() - t1) * 1000
            page.wait_for_function(IDLE_JS, timeout=180_000, polling=20)
        return out
    finally:
        page.context.close()


def cold_start(browser, script: Path, root: Path, path: str, trained: str, then: str | None = None) -> dict:
    """A fresh server, then ``path`` in a new tab: ms from `streamlit run` to its first picture.
    ``then``: after that page, a class reading it for READING_S seconds, then ``then`` in a new
    tab: its own first picture, from its request (the measure replaces the first page's)."""
    from devtools.browser import stop_process_group

    t0 = time.perf_counter()
    proc, url = _server(script, root, {"LATENT_EXPLORER_TRAINED": trained})
    try:
        _wait_healthy(url, proc)
        healthy = (time.perf_counter() - t0) * 1000
        out = first_picture(browser, url, path, t0)
        if then is not None:
            time.sleep(READING_S)
            out = first_picture(browser, url, then)
        out["healthy_ms"] = healthy
        return out
    finally:
        stop_process_group(proc)


def measure_cold(browser, roots: dict[str, Path], repeats: int, trained: str) -> dict:
    from devtools.e2e import app_pages

    paths = dict(app_pages())
    runs: dict[str, list[dict]] = {}
    for rep in range(repeats):
        jobs = [("trivial app", TRIVIAL, REPO, "", None)]
        for name in COLD_PAGES:
            jobs += [(f"{label}: {name}", root / "streamlit_app.py", root, paths[name], None)
                     for label, root in roots.items()]
        jobs += [(f"{label}: {AFTER_HOME} after home", root / "streamlit_app.py", root, "", paths[AFTER_HOME])
                 for label, root in roots.items()]
        for key, script, root, path, then in jobs:
            r = cold_start(browser, script, root, path, trained, then)
            runs.setdefault(key, []).append(r)
            print(f"  cold {rep + 1}/{repeats} {key}: first picture {r['picture_ms']:.0f} ms", flush=True)
    return {k: {"runs": v, "picture_ms": statistics.median(r["picture_ms"] for r in v),
                "idle_ms": statistics.median(r["idle_ms"] for r in v),
                "healthy_ms": statistics.median(r["healthy_ms"] for r in v)} for k, v in runs.items()}


def tour_in_one_tab(browser, url: str, pages: list[tuple[str, str]]) -> dict[str, float]:
    """A student in one tab: the home page, then every other page through the sidebar, in the
    menu's order, then home again; ms from each click to that page's first picture."""
    from devtools.e2e import IDLE_JS, new_app_page

    page = new_app_page(browser)
    out: dict[str, float] = {}
    try:
        page.goto(url, wait_until="commit", timeout=180_000)
        page.wait_for_function(FIRST_PICTURE_JS, arg=[False, None], timeout=180_000, polling=10)
        for name, path in [*pages[1:], pages[0]]:
            page.wait_for_function(IDLE_JS, timeout=180_000, polling=20)
            title = page.locator('[data-testid="stMain"] h1').first.inner_text().strip()
            links = page.locator('[data-testid="stSidebarNav"] a')
            hrefs = [(links.nth(i).get_attribute("href") or "").rstrip("/") for i in range(links.count())]
            index = next(i for i, h in enumerate(hrefs) if h.split("/")[-1] == path.rstrip("/").split("/")[-1]
                         or (not path and h.split("/")[-1] == url.rstrip("/").split("/")[-1]))
            t0 = time.perf_counter()
            links.nth(index).click()
            page.wait_for_function(FIRST_PICTURE_JS, arg=[path.strip("/").lower() in NO_PICTURE, title],
                                   timeout=180_000, polling=10)
            out[name] = (time.perf_counter() - t0) * 1000
    finally:
        page.context.close()
    return out


def measure_warm(browser, roots: dict[str, Path], repeats: int, trained: str) -> dict:
    """Warm servers (every page opened once). Per page: a new browser context opens it (a new
    student, nothing cached: Streamlit's and Plotly's JavaScript loaded afresh), then reloads it
    (the same student, those now cached), beside the trivial apps opened the same way; and a
    tour in one tab through the sidebar."""
    from devtools.browser import stop_process_group
    from devtools.e2e import app_pages

    pages = app_pages()
    servers = {label: _server(root / "streamlit_app.py", root, {"LATENT_EXPLORER_TRAINED": trained})
               for label, root in roots.items()}
    plotly_app = _server(TRIVIAL_PLOTLY, REPO)
    baselines = {"trivial app": (_server(TRIVIAL, REPO), ""), "trivial Plotly app": (plotly_app, ""),
                 "trivial WebGL app": (plotly_app, f"?points={WEBGL_POINTS}")}
    out: dict = {}
    tours: dict = {}
    try:
        for (proc, url), query in baselines.values():
            _wait_healthy(url, proc)
            first_picture(browser, url, query)
        for label, (proc, url) in servers.items():
            _wait_healthy(url, proc)
            for _, path in pages:  # warm: models, data, codes load on first use
                first_picture(browser, url, path)
        for rep in range(repeats):
            for name, path in pages:
                for base, ((_, url), query) in baselines.items():
                    out.setdefault(base, {}).setdefault(name, []).append(first_picture(browser, url, query, reload=True))
                for label, (_, url) in servers.items():
                    out.setdefault(label, {}).setdefault(name, []).append(first_picture(browser, url, path, reload=True))
            for label, (_, url) in servers.items():
                for name, ms in tour_in_one_tab(browser, url, pages).items():
                    tours.setdefault(label, {}).setdefault(name, []).append(ms)
        print("  warm first pictures measured", flush=True)
    finally:
        for proc, _ in {*servers.values(), *(server for server, _ in baselines.values())}:
            stop_process_group(proc)
    result = {label: {name: {"picture_ms": statistics.median(r["picture_ms"] for r in runs),
                             "idle_ms": statistics.median(r["idle_ms"] for r in runs),
                             "reload_ms": statistics.median(r["reload_ms"] for r in runs), "n": len(runs)}
                      for name, runs in by_page.items()} for label, by_page in out.items()}
    for label, by_page in tours.items():
        for name, values in by_page.items():
            result[label][name]["tab_ms"] = statistics.median(values)
    return result


def measure_load(roots: dict[str, Path], sessions: int, seconds: float, trainers: int) -> dict:
    """bench/load_test_class.py on each checkout in turn: ``sessions`` browsing sessions (websocket
    clients: twenty Chromium tabs would take the server's cores) while ``trainers`` Chromium tabs
    submit VAEs on the Train page."""
    out = {}
    for label, root in roots.items():
        with tempfile.TemporaryDirectory(prefix="bench-start-load-") as tmp:
            target = Path(tmp) / "load"
            cmd = [sys.executable, "-m", "bench.load_test_class", "--root", str(root), "--sessions", str(sessions),
                   "--trainers", str(trainers), "--seconds", str(seconds), "--train-wait", "300", "--out", str(target)]
            print(f"  load test on {label} ({sessions} sessions + {trainers} trainers, {seconds:.0f} s) ...", flush=True)
            subprocess.run(cmd, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=seconds + 1200,
                           stdout=subprocess.DEVNULL)
            path = target.with_suffix(".json")
            out[label] = json.loads(path.read_text()) if path.exists() else {"error": "the load test wrote nothing"}
    return out


def _f(v) -> str:
    return "-" if v is None else f"{v:.0f}"


def to_markdown(r: dict) -> str:
    labels = list(r["roots"])
    lines = ["# Start-up and responsiveness", "",
             "Written by `python -m bench.bench_start " + " ".join(r["argv"]) + "`. " + machine_markdown(r["machine"])
             + f" Load average when it finished: {r['machine_after']['load_average_1_5_15']}.", "",
             "Checkouts: " + ", ".join(f"**{k}** = `{v}` ({r['commits'].get(k, '?')})" for k, v in r["roots"].items())
             + ". Headless Chromium on the same machine; medians.", ""]
    cold = r.get("cold")
    if cold:
        trivial = cold["trivial app"]["picture_ms"]
        rows = [["cold start: `streamlit run` -> first picture", "trivial app (ms)"]
                + [f"{label} (ms)" for label in labels] + [f"{label} / trivial" for label in labels]]
        for name in [*COLD_PAGES, f"{AFTER_HOME} after home"]:
            vals = [cold.get(f"{label}: {name}", {}).get("picture_ms") for label in labels]
            rows.append([name, _f(trivial)] + [_f(v) for v in vals] + [f"{v / trivial:.2f}x" if v else "-" for v in vals])
        lines += [f"## Cold start ({len(cold['trivial app']['runs'])} fresh servers each, interleaved)", "",
                  md_table(rows), "", f"'{AFTER_HOME} after home': a fresh server opens the home page, and "
                  f"{READING_S:.0f} s later (a class reading it) {AFTER_HOME} in a new tab; ms from that request "
                  "to its first picture. Goal: the home page within 2x the trivial app.", ""]
    warm = r.get("warm")
    if warm:
        names = list(warm[labels[0]])
        bases = [b for b in ("trivial app", "trivial Plotly app", "trivial WebGL app") if b in warm]
        floors = [["yardstick (warm server)", "new browser (ms)", "reload (ms)"]]
        floors += [[b, _f(statistics.median(v["picture_ms"] for v in warm[b].values())),
                    _f(statistics.median(v["reload_ms"] for v in warm[b].values()))] for b in bases]
        rows = [["page (warm server)"] + [f"{label}: new browser (ms)" for label in labels]
                + [f"{label}: reload (ms)" for label in labels]
                + [f"{label}: in one tab, from the click (ms)" for label in labels]
                + [f"{label}: new browser, page idle (ms)" for label in labels]]
        for name in names:
            rows.append([name] + [_f(warm[label][name]["picture_ms"]) for label in labels]
                        + [_f(warm[label][name].get("reload_ms")) for label in labels]
                        + [_f(warm[label][name].get("tab_ms")) for label in labels]
                        + [_f(warm[label][name]["idle_ms"]) for label in labels])
        lines += [f"## Warm first picture per page ({warm[labels[0]][names[0]]['n']} repeats, interleaved)", "",
                  md_table(rows), "",
                  "New browser: a new browser context (a new student, nothing cached) opens the page's URL. Reload: "
                  "that student then reloads the page (Streamlit's and Plotly's JavaScript now in the browser's "
                  "cache: the \"warm reload\"). In one tab: a student on the home page clicks each page in "
                  "the sidebar in the menu's order, then Home; ms from the click to the new page's first picture. "
                  "Goal: every page's first picture within 1500 ms.", "",
                  "The yardsticks, opened the same way just before each page (medians over all of them): the trivial "
                  "app (a title and one image: Streamlit's own floor, its page, scripts and websocket), the trivial "
                  "Plotly app (one small chart: plus Plotly's several MB of JavaScript) and the trivial WebGL app "
                  f"(one WebGL scatter of {WEBGL_POINTS:,} points, as many as the Latent map and Manifold draw: plus "
                  "WebGL's set-up in a browser without a GPU):", "", md_table(floors), ""]
    load = r.get("load")
    if load:
        rows = [["under load", "browsing sessions", "interactions", "p50 (ms)", "p95 (ms)", "max (ms)",
                 "server page run p95 (ms)", "server fragment run p95 (ms)", "errors"]]
        for label in labels:
            x = load.get(label) or {}
            if "client_rerun" not in x:
                rows.append([label, "-", "-", "-", "-", "-", "-", "-", x.get("error", "?")])
                continue
            c, sp, sf = x["client_rerun"], x["server_page_runs"], x["server_fragment_runs"]
            rows.append([label, x["sessions"], c["n"], _f(c["p50_ms"]), _f(c["p95_ms"]), _f(c["max_ms"]),
                         _f(sp["p95_ms"]), _f(sf["p95_ms"]), len(x.get("errors", []))])
        lines += [f"## Interaction latency under load ({r['sessions']} browsing sessions + {r['trainers']} sessions "
                  f"training, {r['seconds']:.0f} s each, one checkout after the other)", "", md_table(rows), "",
                  "bench/load_test_class.py: the browsing sessions are websocket clients speaking Streamlit's protocol "
                  "(they walk the pages, move sliders and fetch the pictures, as a browser would, and draw nothing); "
                  "the trainers are Chromium tabs submitting VAEs on the Train page. p50 / p95: from the rerun request "
                  "(a widget moved, a page opened) to the server's 'script finished' for it (a full run, or the run "
                  "of the fragment the widget is in). Goal: p95 under 1000 ms. Errors include the queue's limits "
                  "(a checkout without the queue cannot honour them).", ""]
    return "\n".join(lines) + "\n"


def _commit(root: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", help="a second checkout to measure as 'before'")
    parser.add_argument("--cold", type=int, default=3, help="fresh servers per app and page")
    parser.add_argument("--warm", type=int, default=5, help="new sessions per page on a warm server")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--trainers", type=int, default=3, help="sessions each submitting VAEs while the others browse")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--skip-warm", action="store_true")
    parser.add_argument("--out", default=str(RESULTS / "start"))
    args = parser.parse_args(argv)

    from devtools.browser import chromium, chromium_missing_reason

    if chromium_missing_reason():
        print(f"skipped: {chromium_missing_reason()}")
        return 0
    roots = {"before": Path(args.before).resolve()} if args.before else {}
    roots["after" if args.before else "this checkout"] = REPO
    result: dict = {"argv": argv if argv is not None else sys.argv[1:], "machine": machine_info(),
                    "roots": {k: str(v) for k, v in roots.items()}, "commits": {k: _commit(v) for k, v in roots.items()},
                    "sessions": args.sessions, "trainers": args.trainers, "seconds": args.seconds}
    with tempfile.TemporaryDirectory(prefix="bench-start-") as trained:
        with chromium() as browser:
            if not args.skip_cold:
                result["cold"] = measure_cold(browser, roots, args.cold, trained)
            if not args.skip_warm:
                result["warm"] = measure_warm(browser, roots, args.warm, trained)
        if not args.skip_load:
            result["load"] = measure_load(roots, args.sessions, args.seconds, args.trainers)
    result["machine_after"] = machine_info(brief=True)
    write_results(args.out, result, to_markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
