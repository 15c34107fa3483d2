"""Benchmark: updates per second while drawing and while dragging on the map (latent_canvas).

Runs `streamlit run devtools/apps/draw_demo.py` on a free localhost port and drives it with headless
Chromium (the system's /usr/bin/chromium, through Playwright), with 2,000 points on the map:

- drawing: a "7" (two strokes) on the pad; counted in the component (window.latentCanvasStats):
  drawings fitted like MNIST and encoded per second while the pointer moves, and the encode
  time (fit + encoder forward pass) per update;
- dragging: a press on the map and a figure-eight for --seconds; decoded-and-drawn frames per
  second, decode time per frame;
- first paint: from the page's navigation start to the component's first decoded image, over
  --reps fresh page loads;
for each model (VAE 2-D, VAE 16-D, AE, PCA; MLP encoders 784-400-200-2D, PCA 784-2).
Values sent to Python during either: 0 (one value on release).

Run from the repository root:  python -m bench.bench_draw_drag [--reps 5] [--seconds 1]
Writes bench/results/draw_drag.json and .md (bench.run_all.write_results). Figures are medians
over reps; the target is 30 updates a second or more.
"""

from __future__ import annotations

import argparse
import statistics

from bench.run_all import RESULTS, machine_info, write_results
from devtools.browser import REPO_ROOT, chromium, chromium_missing_reason, streamlit_server
from devtools.draw_support import SEVEN, draw, drag_map, open_demo, rate, wait_idle

DEMO = REPO_ROOT / "devtools" / "apps" / "draw_demo.py"
MODELS = ("mnist-vae-2", "mnist-vae-16", "mnist-ae-2", "mnist-pca-2")
N_POINTS = 2000
TARGET = 30.0


def median(xs) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def first_paint_ms(page, frame) -> float:
    """From the page's navigation start to the component's first decoded image (one clock: the epoch)."""
    return frame.evaluate("() => latentCanvasStats.firstFrameAt") - page.evaluate("() => performance.timeOrigin")


def bench_model(page, url: str, name: str, reps: int, seconds: float) -> dict:
    paints = []
    for _ in range(reps):  # a fresh page load each: the weights travel every time
        frame = open_demo(page, url, f"model={name}&points={N_POINTS}")
        paints.append(first_paint_ms(page, frame))
    draw_rates, drag_rates, sent = [], [], 0
    for _ in range(reps):
        clear = frame.get_by_role("button", name="Clear")
        if clear.is_enabled():  # disabled while the pad is empty
            clear.click()
        before, after, moving = draw(page, frame, SEVEN, seconds=seconds / 2)
        draw_rates.append(rate(before, after, "encodes", moving))
        sent += after["sent"] - before["sent"]
        wait_idle(page)
        before, during, spent = drag_map(page, frame, seconds=seconds)
        drag_rates.append(rate(before, during, "decodes", spent))
        sent += during["sent"] - before["sent"]
        wait_idle(page)  # the release's rerun
    ms = frame.evaluate("() => ({enc: latentCanvasStats.encodeMs, dec: latentCanvasStats.decodeMs})")
    return dict(
        model=name, points=N_POINTS, reps=reps, first_paint_ms=median(paints), first_paint_ms_all=paints,
        drawing_updates_per_s=median(draw_rates), drawing_updates_per_s_all=draw_rates,
        dragging_updates_per_s=median(drag_rates), dragging_updates_per_s_all=drag_rates,
        encode_ms=median(ms["enc"]), decode_ms=median(ms["dec"]), values_sent_while_moving=sent,
    )


def to_markdown(result: dict) -> str:
    rows = result["models"]
    env = result["machine"]
    head = ("| model | first paint, ms | drawing: updates/s | dragging: updates/s | fit + encode, ms | decode + draw, ms "
            "| sent while moving |\n")
    head += "|---|---|---|---|---|---|---|\n"
    body = "".join(
        f"| {r['model']} | {r['first_paint_ms']:.0f} | {r['drawing_updates_per_s']:.0f} | {r['dragging_updates_per_s']:.0f} | "
        f"{r['encode_ms']:.2f} | {r['decode_ms']:.2f} | {r['values_sent_while_moving']} |\n" for r in rows)
    return (
        "# Draw and drag in the browser (latent_canvas)\n\n"
        f"`python -m bench.bench_draw_drag --reps {result['reps']} --seconds {result['seconds']}` on "
        f"{env.get('time')}; {env.get('nproc')} CPUs ({env.get('cpu_model')}), headless Chromium with "
        f"--disable-gpu (software rendering), Streamlit {env.get('streamlit')}. {N_POINTS:,} points on the map. "
        "First paint: navigation start to the component's first decoded image (a fresh page load each rep). "
        "Updates are counted by the component: a drawing fitted and encoded, or an image decoded and drawn "
        "(at most one per animation frame). Medians over reps; target >= "
        f"{TARGET:.0f}/s. Pointer moves are Playwright's, as fast as it sends them.\n\n" + head + body
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0, help="length of each drag (each drawing takes half)")
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--out", default=str(RESULTS / "draw_drag"))
    args = ap.parse_args(argv)
    reason = chromium_missing_reason()
    if reason:
        raise SystemExit(f"cannot run: {reason}")
    with streamlit_server(DEMO) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        models = [bench_model(page, url, name, args.reps, args.seconds) for name in args.models]
    result = dict(models=models, reps=args.reps, seconds=args.seconds, target_per_s=TARGET, machine=machine_info())
    write_results(args.out, result, to_markdown)
    return 0 if all(min(m["drawing_updates_per_s"], m["dragging_updates_per_s"]) >= TARGET for m in models) else 1


if __name__ == "__main__":
    raise SystemExit(main())
