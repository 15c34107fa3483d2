"""Where the app's time goes: py-spy samples a real `streamlit run` server while Chromium opens pages.

    python -m bench.profile_app                      # cold start + warm reruns of home, Latent map, Latent sliders
    python -m bench.profile_app --root /tmp/perf-base --label before
    python -m bench.profile_app --pages home --warm-seconds 0

Needs py-spy (``pip install py-spy``; a profiling tool, not a requirement of the app).

Two profiles per run, every thread of the server process (idle threads left out):

* cold: the server starts under py-spy, one tab opens each page in turn (``--pages``), waiting
  for the page to be drawn; the samples from process start to the last page drawn;
* warm: a second server, every page opened once (not sampled), then py-spy attaches for
  ``--warm-seconds`` while new tabs keep opening the pages (each a new session: a full run).

Samples are grouped by what they were doing (the first matching rule from the top of
CATEGORIES, anywhere in the stack): imports, checkpoint loading, dataset loading, encoding the
test set, decoding, figure building, serialisation to the browser, the rest of Streamlit,
other. Also the top functions by inclusive samples.

Writes bench/results/profile[-LABEL].json and .md.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.run_all import RESULTS, machine_info, machine_markdown, md_table, write_results

REPO = Path(__file__).resolve().parents[1]
RATE = 250  # samples per second

# (category, substrings of a frame; a sample goes to the first category with a match anywhere in its stack)
CATEGORIES = [
    ("imports", ("_find_and_load", "_handle_fromlist")),
    ("checkpoint loading", ("load_checkpoint", "load_model (", "codes.py", "load_codes")),
    ("dataset loading", ("load_dataset", "_load_data (")),
    ("encoding the test set", ("encoded (", "encode_means")),
    ("decoding", ("decode (", "npdecode", "decoder_output")),
    ("figure building", ("explorer/logic/figures.py", "explorer/logic/charts.py", "map_figure", "plotly/basedatatypes")),
    ("serialisation to the browser", ("to_json", "marshall", "image_to_url", "SerializeToString", "_image_to_url",
                                      "PngImagePlugin", "arrow", "dataframe_util", "protobuf", "websocket")),
    ("Streamlit (other)", ("streamlit/",)),
]
# py-spy's idle detection misses some waits in this container: a sample whose innermost frame is
# one of these is a thread waiting (a queue, a selector, a sleep), not work, and is left out.
IDLE_LEAVES = ("Queue.get (queue.py", "select (selectors.py", "wait (threading.py", "task (streamlit/watcher",
               "_worker (concurrent/futures/thread.py:8", "run_forever", "_run_once (asyncio")
SKIP_TOP = ("threading.py", "<frozen importlib", "exec_func_with_error_handling", "script_runner.py",
            "(<module>) (", "_run_script", "code_to_exec", "_bootstrap", "run (", "events.py", "base_events.py",
            "asyncio/runners.py", "click/core.py", "<frozen runpy>", "streamlit/__main__.py", "web/bootstrap.py",
            "metrics_util.py", "cache_utils.py", "anyio/", "starlette/", "uvicorn/", "exec_func_with")


def page_paths() -> dict[str, str]:
    from devtools.e2e import app_pages

    return dict(app_pages())


def _server_cmd(root: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(root / "streamlit_app.py"),
            "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
            "--server.fileWatcherType", "none", "--server.runOnSave", "false",
            "--browser.gatherUsageStats", "false", "--global.developmentMode", "false"]


def _env(root: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(root), LATENT_EXPLORER_TRAINED=tempfile.mkdtemp(prefix="profile-trained-"))


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    from devtools.browser import _healthy

    deadline = time.monotonic() + timeout
    while not _healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"streamlit did not start at {url}")
        time.sleep(0.05)


def _open_pages(browser, url: str, names: list[str], paths: dict[str, str]) -> None:
    from devtools.e2e import new_app_page, open_app

    for name in names:
        page = new_app_page(browser)
        open_app(page, url, paths[name], timeout=180_000)
        page.context.close()


def _stop(proc: subprocess.Popen) -> None:
    from devtools.browser import stop_process_group

    stop_process_group(proc)


def profile_cold(root: Path, names: list[str], out: Path, browser) -> float:
    """py-spy runs the server; returns seconds from start to the last page drawn."""
    from devtools.browser import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"), "record", "-r", str(RATE),
           "--format", "raw", "-o", str(out), "--", *_server_cmd(root, port)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=root, env=_env(root), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        _wait_healthy(url, proc)
        _open_pages(browser, url, names, page_paths())
        elapsed = time.perf_counter() - t0
    finally:
        # SIGINT to py-spy's group: the server stops, py-spy writes its file
        os.killpg(proc.pid, 2)
        proc.wait(timeout=60)
    return elapsed


def profile_warm(root: Path, names: list[str], out: Path, browser, seconds: float) -> int:
    """Samples a warm server while new sessions open the pages; returns how many pages were opened."""
    from devtools.browser import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(_server_cmd(root, port), cwd=root, env=_env(root), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    opened = 0
    try:
        _wait_healthy(url, proc)
        paths = page_paths()
        _open_pages(browser, url, names, paths)  # warm the caches: not sampled
        spy = subprocess.Popen([shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"), "record",
                                "-r", str(RATE), "--format", "raw", "-o", str(out), "--pid", str(proc.pid),
                                "--duration", str(int(seconds))], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + seconds - 1
        while time.monotonic() < deadline:
            _open_pages(browser, url, [names[opened % len(names)]], paths)
            opened += 1
        spy.wait(timeout=seconds + 60)
    finally:
        _stop(proc)
    return opened


def read_collapsed(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    if not path.exists():
        return stacks
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def summarise(stacks: list[tuple[list[str], int]], top: int = 15) -> dict:
    total = sum(c for _, c in stacks)
    by_category: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    stacks = [(f, c) for f, c in stacks if not any(k in f[-1] for k in IDLE_LEAVES)]
    total = sum(c for _, c in stacks)
    for frames, count in stacks:
        joined = ";".join(frames)
        category = next((name for name, keys in CATEGORIES if any(k in joined for k in keys)), "other")
        by_category[category] += count
        for frame in set(frames[1:]):  # frames[0] is the thread
            if not any(s in frame for s in SKIP_TOP):
                inclusive[frame] += count
    return {
        "samples": total, "seconds": total / RATE,
        "categories": {name: by_category.get(name, 0) / RATE for name, _ in [*CATEGORIES, ("other", ())]},
        "top": [{"frame": _short(f), "seconds": c / RATE, "share": c / max(1, total)} for f, c in inclusive.most_common(top)],
    }


def _short(frame: str) -> str:
    for marker in ("site-packages/", "python3.11/", str(REPO) + "/", "/tmp/perf-base/"):
        frame = frame.replace(marker, "")
    return frame


def to_markdown(r: dict) -> str:
    lines = [f"# Profile{' (' + r['label'] + ')' if r.get('label') else ''}", "",
             f"`python -m bench.profile_app` on {r['root']}; py-spy at {RATE} Hz, every thread of the server, "
             "idle threads left out. " + machine_markdown(r["machine"]), ""]
    for kind in ("cold", "warm"):
        p = r.get(kind)
        if not p:
            continue
        what = (f"cold start: `streamlit run` -> {', '.join(r['pages'])} drawn in turn ({r['cold_seconds']:.1f} s wall)"
                if kind == "cold" else f"warm: {r['warm_opened']} new sessions opening the pages in {r['warm_seconds']:.0f} s")
        lines += [f"## {what}", "", f"{p['seconds']:.2f} s of samples in busy threads.", "",
                  md_table([["where", "seconds", "share"]] + [[k, f"{v:.2f}", f"{v / max(p['seconds'], 1e-9):.0%}"]
                                                             for k, v in p["categories"].items()]), "",
                  md_table([["top functions (inclusive)", "seconds", "share"]] +
                           [[t["frame"].replace("|", "/"), f"{t['seconds']:.2f}", f"{t['share']:.0%}"] for t in p["top"]]), ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=str(REPO), help="the app to profile (a checkout of this repository)")
    parser.add_argument("--label", default="", help="results go to bench/results/profile-LABEL.*")
    parser.add_argument("--pages", default="home,latent_map,latent_sliders")
    parser.add_argument("--warm-seconds", type=float, default=20.0)
    parser.add_argument("--from-raw", help="bench/results/profile-LABEL: summarise its kept samples again")
    args = parser.parse_args(argv)

    from devtools.browser import chromium, chromium_missing_reason

    if chromium_missing_reason():
        print(f"skipped: {chromium_missing_reason()}")
        return 0
    if args.from_raw:  # summarise the samples of an earlier run again (e.g. after changing CATEGORIES)
        out = Path(args.from_raw)
        result = json.loads(out.with_suffix(".json").read_text())
        for kind in ("cold", "warm"):
            if (Path(result["raw"]) / f"{kind}.txt").exists():
                result[kind] = summarise(read_collapsed(Path(result["raw"]) / f"{kind}.txt"))
        write_results(out, result, to_markdown)
        return 0
    root, names = Path(args.root).resolve(), args.pages.split(",")
    result: dict = {"label": args.label, "root": str(root), "pages": names, "machine": machine_info()}
    tmp = tempfile.mkdtemp(prefix="profile-")  # the raw samples stay there (py-spy's collapsed format)
    result["raw"] = tmp
    with chromium() as browser:
        cold = Path(tmp) / "cold.txt"
        result["cold_seconds"] = profile_cold(root, names, cold, browser)
        result["cold"] = summarise(read_collapsed(cold))
        if args.warm_seconds > 0:
            warm = Path(tmp) / "warm.txt"
            result["warm_opened"] = profile_warm(root, names, warm, browser, args.warm_seconds)
            result["warm_seconds"] = args.warm_seconds
            result["warm"] = summarise(read_collapsed(warm))
    out = RESULTS / ("profile" + (f"-{args.label}" if args.label else ""))
    write_results(out, result, to_markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
