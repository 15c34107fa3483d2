"""Benchmark: this checkout against another, in one run: cold start and drawing / dragging in the browser.

    git worktree add --detach /tmp/before REV
    python -m bench.bench_consolidation --before /tmp/before            # about 15 minutes
    python -m bench.bench_consolidation --before /tmp/before --cold 2 --reps 2

Each checkout is measured by its own benchmark scripts, the two interleaved so the machine's load
falls on both alike:

1. cold start: bench/bench_start.py (``--skip-warm --skip-load``) runs a fresh server per try for a
   trivial app and for each checkout's pages; the ratio "page / trivial app" is the measure;
2. drawing and dragging on the Latent map's canvas: bench/bench_draw_drag.py of each checkout,
   one rep at a time, alternating; updates per second (the component counts them) and first
   paint where the checkout's script measures it.

Writes bench/results/consolidation.md (and .json); medians over the tries.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.run_all import machine_info, write_results

RESULTS = Path(__file__).resolve().parent / "results"
HERE = Path(__file__).resolve().parents[1]
PAGES = ("home", "latent_map", "latent_sliders", "latent_map after home")
CANVAS_MEASURES = ("drawing_updates_per_s", "dragging_updates_per_s", "first_paint_ms")


def _commit(root: Path) -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()


def cold_start(before: Path, tries: int, tmp: Path) -> dict:
    out = tmp / "start"
    subprocess.run([sys.executable, "-m", "bench.bench_start", "--before", str(before), "--cold", str(tries),
                    "--skip-warm", "--skip-load", "--out", str(out)], cwd=HERE, check=True)
    cold = json.loads(out.with_suffix(".json").read_text())["cold"]
    trivial = cold["trivial app"]["picture_ms"]
    rows = {"trivial app": {"ms": trivial}}
    for side in ("before", "after"):
        for page in PAGES:
            ms = cold[f"{side}: {page}"]["picture_ms"]
            rows[f"{side}: {page}"] = {"ms": ms, "ratio": ms / trivial}
    return rows


def canvas(roots: dict[str, Path], reps: int, models: list[str], tmp: Path) -> dict:
    runs: dict[str, dict[str, dict[str, list[float]]]] = {side: {} for side in roots}
    for rep in range(reps):
        for side, root in roots.items():
            out = tmp / f"canvas-{side}-{rep}"
            subprocess.run([sys.executable, "-m", "bench.bench_draw_drag", "--reps", "1", "--models", *models,
                            "--out", str(out)], cwd=root, check=True)
            for row in json.loads(out.with_suffix(".json").read_text())["models"]:
                into = runs[side].setdefault(row["model"], {m: [] for m in CANVAS_MEASURES})
                for measure in CANVAS_MEASURES:
                    if row.get(measure) is not None:
                        into[measure].append(row[measure])
    return {side: {model: {m: (statistics.median(v) if v else None) for m, v in measures.items()}
                   for model, measures in by_model.items()} for side, by_model in runs.items()}


def to_markdown(r: dict) -> str:
    fmt = lambda v, spec: "–" if v is None else format(v, spec)  # noqa: E731
    lines = ["# This checkout against another, in one run: cold start, drawing and dragging", "",
             f"`python -m bench.bench_consolidation {' '.join(r['argv'])}`; before = {r['commits']['before']}, "
             f"after = {r['commits']['after']}. Machine: {r['machine']['nproc']} cores, load average "
             f"{r['machine']['load_average_1_5_15']} at the start, {r['load_after']} at the end. Medians.", "",
             "## Cold start: `streamlit run` to the page's first picture (a fresh server each try)", "",
             f"Trivial app: {r['cold']['trivial app']['ms']:.0f} ms.", "",
             "| page | before ms | after ms | before / trivial | after / trivial |", "| --- | --- | --- | --- | --- |"]
    for page in PAGES:
        b, a = r["cold"][f"before: {page}"], r["cold"][f"after: {page}"]
        lines.append(f"| {page} | {b['ms']:.0f} | {a['ms']:.0f} | {b['ratio']:.2f}x | {a['ratio']:.2f}x |")
    lines += ["", "## The Latent map's canvas (bench/bench_draw_drag.py of each checkout)", "",
              "| model | draw updates/s before | after | drag updates/s before | after | first paint ms before | after |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for model, after in r["canvas"]["after"].items():
        before = r["canvas"]["before"].get(model, {})
        lines.append(f"| {model} | {fmt(before.get('drawing_updates_per_s'), '.0f')} | "
                     f"{fmt(after['drawing_updates_per_s'], '.0f')} | {fmt(before.get('dragging_updates_per_s'), '.0f')} | "
                     f"{fmt(after['dragging_updates_per_s'], '.0f')} | {fmt(before.get('first_paint_ms'), '.0f')} | "
                     f"{fmt(after['first_paint_ms'], '.0f')} |")
    lines += ["", "A dash: that checkout's script does not measure it.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="a second checkout of this repository")
    ap.add_argument("--cold", type=int, default=3, help="fresh servers per page and checkout")
    ap.add_argument("--reps", type=int, default=3, help="canvas runs per checkout, alternating")
    ap.add_argument("--models", nargs="*", default=["mnist-vae-2", "mnist-ae-2"])
    ap.add_argument("--out", default=str(RESULTS / "consolidation"))
    args = ap.parse_args(argv)
    before = Path(args.before).resolve()
    if not (before / "bench" / "bench_draw_drag.py").is_file():
        ap.error(f"--before {args.before}: not a checkout of this repository (no bench/bench_draw_drag.py)")
    result = {"argv": ["--before", "<before>", "--cold", str(args.cold), "--reps", str(args.reps)],
              "machine": machine_info(), "commits": {"before": _commit(before), "after": _commit(HERE)}}
    with tempfile.TemporaryDirectory() as tmp:
        result["cold"] = cold_start(before, args.cold, Path(tmp))
        result["canvas"] = canvas({"before": before, "after": HERE}, args.reps, args.models, Path(tmp))
    result["load_after"] = machine_info(brief=True)["load_average_1_5_15"]
    write_results(args.out, result, to_markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
