"""Every benchmark in one command; writes bench/results/*.json|md and bench/results/summary.md.

    python bench/run_all.py                    # all of them (about 6-10 minutes on 2 cores)
    python bench/run_all.py --skip load        # leave out the load test
    python bench/run_all.py --only latency app
    python bench/run_all.py --summary-only     # rebuild summary.md from the result files

Each benchmark runs as its own process (``python -m bench.<name>`` from the repository root),
so one failing does not stop the others; summary.md says which failed and why. Run a single
one the same way, e.g. ``python -m bench.bench_latency``.

Benchmarks (in this order):
    training  bench/bench_training.py: images/s and time-to-quality vs the DataLoader baseline
    latency   bench/bench_latency.py: decode 1 / 30x30 grid, encode 10,000 (vs baselines)
    browser_decode  bench/bench_browser_decode.py: decoding in the browser while dragging vs st.slider
    draw_drag  bench/bench_draw_drag.py: updates/s while drawing and dragging on the map (2,000 points)
    app       bench/bench_app.py: server-side rerun per page (AppTest), Chromium first render,
              slider release -> new image, cold start
    load      bench/load_test.py: 10 browser sessions + 1 training for a minute
    start     bench/bench_start.py: cold start against a trivial app, warm first picture per page,
              latency with 20 sessions (pass --before DIR by hand for a before/after table)
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"

BENCHMARKS = {
    # name: (module, extra args, time limit in seconds, glob patterns of its markdown results)
    "training": ("bench.bench_training", [], 1800, ["training*.md"]),
    "latency": ("bench.bench_latency", [], 600, ["latency.md"]),
    "browser_decode": ("bench.bench_browser_decode", [], 600, ["browser_decode.md"]),
    "draw_drag": ("bench.bench_draw_drag", [], 600, ["draw_drag.md"]),
    "app": ("bench.bench_app", [], 900, ["app.md"]),
    "load": ("bench.load_test", [], 400, ["load.md", "load-*.md"]),
    "start": ("bench.bench_start", [], 2400, ["start.md"]),
    "class": ("bench.bench_class", [], 1200, ["class.md"]),
}


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def without_machine_paths(text: str) -> str:
    """Results are committed: this checkout becomes ".", its parent "..", the home folder "~",
    and a temporary folder (another checkout, say) "<tmp>"."""
    for path, short in ((REPO, "."), (REPO.parent, ".."), (Path.home(), "~")):
        text = re.sub(re.escape(str(path)) + r"(?![\w.+-])", short, text)  # whole names only
    return re.sub(r"/tmp/[\w.+-]+", "<tmp>", text)


def write_results(out: str | Path, result: dict, to_markdown) -> str:
    """Write OUT.json and OUT.md (the Markdown made by ``to_markdown(result)``), print and return the
    Markdown; without machine paths (see without_machine_paths)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(without_machine_paths(json.dumps(result, indent=1)))
    md = without_machine_paths(to_markdown(result))
    out.with_suffix(".md").write_text(md)
    print(md)
    return md


def machine_info(brief: bool = False) -> dict:
    """What the figures depend on: cores, CPU, memory, versions, and the load right now."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    info = {"load_average_1_5_15": [round(v, 2) for v in load] if load[0] is not None else None,
            "time": _dt.datetime.now().isoformat(timespec="seconds")}
    if brief:
        return info
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": mem_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "streamlit": _version("streamlit"),
        "playwright": _version("playwright"),
        "numpy": _version("numpy"),
        **info,
    }


def machine_markdown(info: dict) -> str:
    load = info.get("load_average_1_5_15")
    return (f"Machine: {info['nproc']} cores ({info['cpu_model']}), {info.get('memory_gib')} GiB RAM, "
            f"{info['platform']}; Python {info['python']}, torch {info['torch']}, streamlit {info['streamlit']}, "
            f"playwright {info['playwright']}; load average (1/5/15 min) {load} at {info['time']}.")


def md_table(rows: list[list]) -> str:
    """rows[0] is the header."""
    rows = [[str(c) for c in r] for r in rows]
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join(" --- " for _ in rows[0]) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)


def run_one(name: str, extra: list[str]) -> dict:
    module, args, limit, _ = BENCHMARKS[name]
    script = REPO / (module.replace(".", "/") + ".py")
    if not script.exists():
        return {"name": name, "status": "skipped", "why": f"{script.relative_to(REPO)} does not exist"}
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", module, *args, *extra]
    print(f"\n=== {name}: {' '.join(cmd[1:])} (limit {limit} s)", flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, timeout=limit, start_new_session=True)
        status = "ok" if proc.returncode == 0 else f"failed (exit code {proc.returncode})"
    except subprocess.TimeoutExpired:
        status = f"stopped after {limit} s"
    return {"name": name, "status": status, "seconds": round(time.perf_counter() - t0, 1)}


def _results_note(patterns: list[str]) -> str:
    found = [p for pattern in patterns for p in sorted(RESULTS.glob(pattern))]
    if not found:
        return "none"
    return ", ".join(f"{p.name} ({_dt.datetime.fromtimestamp(p.stat().st_mtime).isoformat(timespec='minutes')})"
                     for p in found)


def write_summary(runs: list[dict], before: dict) -> Path:
    after = machine_info(brief=True)
    ran = {r["name"]: r for r in runs}
    parts = ["# Benchmark summary", "",
             "Written by `python bench/run_all.py`; every figure comes from the result files next to this one.", "",
             "When this summary was written: " + machine_markdown(before)
             + f" Load average when it finished: {after['load_average_1_5_15']}. Each section below states the "
             "machine and its load when that benchmark ran (the machine is shared: load matters).", "",
             md_table([["benchmark", "status", "seconds", "results in the summary"]] +
                      [[name, (ran[name]["status"] + (f" ({ran[name]['why']})" if ran[name].get("why") else ""))
                        if name in ran else "not run by this invocation", ran.get(name, {}).get("seconds", "-"),
                        _results_note(files)]
                       for name, (_, _, _, files) in BENCHMARKS.items()]), ""]
    for name, (_, _, _, files) in BENCHMARKS.items():
        for pattern in files:
            for path in sorted(RESULTS.glob(pattern)):
                text = path.read_text().strip()
                # demote the result file's headings one level under the summary's title
                text = "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())
                parts += [text, ""]
    out = RESULTS / "summary.md"
    out.write_text("\n".join(parts))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark and write bench/results/summary.md.")
    parser.add_argument("--only", nargs="*", choices=list(BENCHMARKS), help="run only these")
    parser.add_argument("--skip", nargs="*", choices=list(BENCHMARKS), default=[], help="leave these out")
    parser.add_argument("--summary-only", action="store_true",
                        help="run nothing: rebuild summary.md from the result files already there")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    before = machine_info()
    print(machine_markdown(before))
    names = [n for n in (args.only or BENCHMARKS) if n not in args.skip]
    runs = [] if args.summary_only else [run_one(n, []) for n in names]
    out = write_summary(runs, before)
    print(f"\nwrote {out.relative_to(REPO)}")
    for r in runs:
        print(f"  {r['name']}: {r['status']}")
    return 0 if all(r["status"] in ("ok", "skipped") for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
