"""Benchmark: decoding in the browser while dragging, against Streamlit's own sliders.

Runs `streamlit run devtools/apps/decoder_demo.py` on a free localhost port and drives it with
headless Chromium (the system's /usr/bin/chromium, through Playwright):

- component, sliders (VAE, 16-D, 784-pixel MLP decoder 16-200-400-784) and pad (VAE, 2-D):
  a drag of --seconds with as many pointer moves as Playwright sends; counted in the
  component (window.latentDecoderStats): frames decoded and drawn during the drag (per
  second), latency from the input handler to the pixels written ("draw") and to the next
  animation frame after the draw ("frame", i.e. the frame that shows it was produced),
  values sent to Python during the drag, and the time from release to the end of the one
  rerun it causes;
- native: the same drag on st.slider + st.image (server decode): image loads during the
  drag, release -> new image loaded (in-page clock), release -> rerun finished;
- payload: websocket bytes of the first load (weights) and of a later rerun;
- raw decode speed of decoder.js (no drawing), for the 784-pixel and a 4096-pixel decoder.

Run from the repository root:  python -m bench.bench_browser_decode [--reps 3] [--seconds 1]
Writes bench/results/browser_decode.json and .md. Reported figures are medians over reps
(latencies pooled over all frames of all reps).
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import platform
import statistics
import subprocess
import time

import numpy as np
import streamlit
import torch

from core.models import ModelConfig, build_model
from explorer.logic.browser_model import pack_dense
from explorer.ui.latent_decoder import COMPONENT_DIR
from devtools.browser import CHROMIUM_PATH, REPO_ROOT, chromium, chromium_missing_reason, component_frame, streamlit_server

DEMO = REPO_ROOT / "devtools" / "apps" / "decoder_demo.py"
RESULTS = REPO_ROOT / "bench" / "results"

# In the main page: image loads and pointer down/up, on the page's own clock.
NATIVE_PROBE = """
window.__bench = {loads: [], down: null, up: null};
document.addEventListener('load', e => { if (e.target.tagName === 'IMG') window.__bench.loads.push(performance.now()); }, true);
document.addEventListener('pointerdown', () => { window.__bench.down = performance.now(); }, true);
document.addEventListener('pointerup', () => { window.__bench.up = performance.now(); }, true);
"""
STATS = """() => ({draws: latentDecoderStats.draws, sent: latentDecoderStats.valuesSent,
                   nDraw: latentDecoderStats.drawLatencyMs.length, nFrame: latentDecoderStats.frameLatencyMs.length})"""


def runs(page) -> int:
    return int(page.get_by_text("runs=").inner_text().split("runs=")[1])


def wait_runs(page, after: int, timeout: float = 20.0) -> float:
    """Seconds until the demo's last element shows a run count above `after`."""
    t0 = time.monotonic()
    while runs(page) <= after:
        if time.monotonic() - t0 > timeout:
            raise TimeoutError("no rerun")
        page.wait_for_timeout(5)
    return time.monotonic() - t0


def wait_idle(page, quiet_ms: int = 400, timeout: float = 20.0) -> None:
    """Wait until no rerun finished for quiet_ms (a pending release rerun is over)."""
    t0, last, since = time.monotonic(), runs(page), time.monotonic()
    while time.monotonic() - since < quiet_ms / 1000 and time.monotonic() - t0 < timeout:
        page.wait_for_timeout(50)
        now = runs(page)
        if now != last:
            last, since = now, time.monotonic()


def drag(page, start, path, seconds: float) -> tuple[int, float]:
    page.mouse.move(*start)
    page.mouse.down()
    moves, t0 = 0, time.monotonic()
    while (t := time.monotonic() - t0) < seconds:
        page.mouse.move(*path(t / seconds))
        moves += 1
    return moves, time.monotonic() - t0


def median(xs):
    return float(statistics.median(xs)) if xs else float("nan")


def p95(xs):
    return float(np.percentile(xs, 95)) if xs else float("nan")


def bench_component(page, url: str, query: str, reps: int, seconds: float) -> dict:
    paints = []
    for _ in range(reps):  # navigation start -> the component's first decoded image, a fresh load each
        page.goto(f"{url}/?{query}")
        frame = component_frame(page)
        frame.wait_for_function("() => latentDecoderStats.draws > 0")
        paints.append(frame.evaluate("() => latentDecoderStats.firstFrameAt") - page.evaluate("() => performance.timeOrigin"))
    page.wait_for_timeout(500)
    per_rep, draw_lat, frame_lat, release = [], [], [], []
    for rep in range(reps):
        if "pad" in query:
            box = frame.locator("#pad").bounding_box()
            cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"] * 0.4
            start, path = (cx, cy), lambda t: (cx + r * math.sin(2 * math.pi * t), cy - r * math.sin(4 * math.pi * t) / 2)
        else:
            box = frame.locator("#sliders input").nth(rep % 16).bounding_box()
            y = box["y"] + box["height"] / 2
            start = (box["x"] + box["width"] / 2, y)
            path = lambda t, b=box, y=y: (b["x"] + b["width"] * (0.5 + 0.45 * math.sin(2 * math.pi * t)), y)  # noqa: E731
        wait_idle(page)
        before, runs_before = frame.evaluate(STATS), runs(page)
        moves, duration = drag(page, start, path, seconds)
        during = frame.evaluate(STATS)
        runs_at_release = runs(page)
        page.mouse.up()
        release.append(wait_runs(page, runs_at_release) * 1000)
        lat = frame.evaluate("([a, b]) => [latentDecoderStats.drawLatencyMs.slice(a), latentDecoderStats.frameLatencyMs.slice(b)]",
                             [before["nDraw"], before["nFrame"]])
        draw_lat += lat[0]
        frame_lat += lat[1]
        drawn = during["draws"] - before["draws"]
        per_rep.append(dict(moves=moves, seconds=duration, frames_drawn=drawn, fps=drawn / duration,
                            values_sent_during_drag=during["sent"] - before["sent"],
                            reruns_during_drag=runs_at_release - runs_before))
    decode_ms = frame.evaluate("() => latentDecoderStats.decodeMs")
    return dict(
        reps=per_rep,
        first_paint_ms=median(paints), first_paint_ms_all=paints,
        fps=median([r["fps"] for r in per_rep]),
        frames_drawn=median([r["frames_drawn"] for r in per_rep]),
        moves=median([r["moves"] for r in per_rep]),
        values_sent_during_drag=max(r["values_sent_during_drag"] for r in per_rep),
        reruns_during_drag=max(r["reruns_during_drag"] for r in per_rep),
        draw_latency_ms=median(draw_lat), draw_latency_p95_ms=p95(draw_lat),
        frame_latency_ms=median(frame_lat), frame_latency_p95_ms=p95(frame_lat),
        decode_and_draw_ms=median(decode_ms),
        release_to_rerun_done_ms=median(release),
    )


def bench_native(page, url: str, reps: int, seconds: float) -> dict:
    page.goto(f"{url}/?model=vae16&mode=native")
    page.get_by_text("runs=").wait_for()
    page.wait_for_timeout(800)
    per_rep, image_lat, release = [], [], []
    for rep in range(reps):
        thumb = page.locator(f".st-key-native{rep % 16} input[type=range]").locator("xpath=../..").bounding_box()
        x0, y0 = thumb["x"] + thumb["width"] / 2, thumb["y"] + thumb["height"] / 2
        wait_idle(page)
        runs_before = runs(page)
        moves, duration = drag(page, (x0, y0), lambda t: (x0 + 150 * math.sin(2 * math.pi * t), y0), seconds)
        during = page.evaluate("() => window.__bench.loads.filter(t => t > window.__bench.down).length")
        runs_at_release = runs(page)
        page.mouse.up()
        release.append(wait_runs(page, runs_at_release) * 1000)
        page.wait_for_function("() => window.__bench.loads.some(t => t > window.__bench.up)", timeout=20_000)
        image_lat.append(page.evaluate("() => window.__bench.loads.find(t => t > window.__bench.up) - window.__bench.up"))
        per_rep.append(dict(moves=moves, seconds=duration, image_updates_during_drag=during,
                            reruns_during_drag=runs_at_release - runs_before))
    return dict(
        reps=per_rep,
        image_updates_during_drag=median([r["image_updates_during_drag"] for r in per_rep]),
        reruns_during_drag=max(r["reruns_during_drag"] for r in per_rep),
        fps=median([r["image_updates_during_drag"] / r["seconds"] for r in per_rep]),
        moves=median([r["moves"] for r in per_rep]),
        release_to_new_image_ms=median(image_lat),
        release_to_rerun_done_ms=median(release),
    )


def bench_payload(page, url: str) -> dict:
    sizes: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda p: sizes.append(len(p))))
    page.goto(f"{url}/?model=vae16&mode=sliders")
    frame = component_frame(page)
    frame.wait_for_function("() => latentDecoderStats.draws > 0")
    page.wait_for_timeout(1000)
    first = sum(sizes)
    weights = frame.evaluate("() => latentDecoderStats.weightBytesReceived")
    out = {}
    for name in ("component_rerun", "native_rerun"):
        if name == "native_rerun":
            page.goto(f"{url}/?model=vae16&mode=native")
            page.get_by_text("runs=").wait_for()
            page.wait_for_timeout(800)
        sizes.clear()
        before = runs(page)
        page.get_by_role("button", name="rerun").click()
        wait_runs(page, before)
        page.wait_for_timeout(500)
        out[name] = sum(sizes)
    return dict(first_load_ws_bytes=first, weights_bytes=weights,
                rerun_ws_bytes_component=out["component_rerun"], rerun_ws_bytes_native=out["native_rerun"])


def bench_raw_decode(browser) -> dict:
    page = browser.new_page()
    page.set_content("<!doctype html><html><body></body></html>")
    page.add_script_tag(path=str(COMPONENT_DIR / "decoder.js"))
    out = {}
    for name, cfg in {"784px 16-200-400-784": ModelConfig("vae", (1, 28, 28), 16),
                      "4096px 16-200-400-4096": ModelConfig("vae", (1, 64, 64), 16)}.items():
        torch.manual_seed(0)
        model = build_model(cfg)
        meta, blob = pack_dense(model.decoder_layers(), cfg.latent_dim, cfg.num_pixels, "layers")
        ms = page.evaluate(
            """([meta, b64, n]) => {
                const dec = LatentDecoder.makeDecoder(LatentDecoder.unpackLayers(meta, LatentDecoder.fromBase64(b64)));
                const z = new Array(meta[0].in).fill(0); let acc = 0;
                for (let i = 0; i < 50; i++) { z[0] = i / 50; acc += dec.decode(z)[0]; }
                const t0 = performance.now();
                for (let i = 0; i < n; i++) { z[i % z.length] = Math.sin(i); acc += dec.decode(z)[0]; }
                return (performance.now() - t0) / n;
            }""",
            [meta, base64.b64encode(blob).decode(), 1000],
        )
        out[name] = dict(ms_per_decode=ms, decodes_per_second=1000 / ms)
    page.close()
    return out


def chromium_version() -> str:
    try:
        return subprocess.run([CHROMIUM_PATH, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception as err:  # noqa: BLE001 - informative only
        return f"unknown ({err})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=1.0, help="length of each drag")
    args = ap.parse_args()
    reason = chromium_missing_reason()
    if reason:
        raise SystemExit(f"cannot run: {reason}")
    with streamlit_server(DEMO) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1000, "height": 1400})
        page.add_init_script(NATIVE_PROBE)
        results = dict(
            component_sliders=bench_component(page, url, "model=vae16&mode=sliders", args.reps, args.seconds),
            component_pad=bench_component(page, url, "model=vae2&mode=pad", args.reps, args.seconds),
            native_slider=bench_native(page, url, args.reps, args.seconds),
        )
        page.close()
        results["payload"] = bench_payload(browser.new_page(), url)
        results["raw_decode"] = bench_raw_decode(browser)
    results["environment"] = dict(
        chromium=chromium_version(), flags="headless=new, --disable-gpu (software rendering)",
        cpus=os.cpu_count(), python=platform.python_version(),
        streamlit=streamlit.__version__, reps=args.reps, drag_seconds=args.seconds,
        when=time.strftime("%Y-%m-%d %H:%M:%S"),
    )
    write(results)


def write(r: dict) -> None:
    cs, cp, nat, pay = r["component_sliders"], r["component_pad"], r["native_slider"], r["payload"]
    rows = [
        ("first paint (navigation -> first image), ms", f"{cs['first_paint_ms']:.0f}", f"{cp['first_paint_ms']:.0f}", "-", ""),
        ("frames drawn per second during drag", f"{cs['fps']:.0f}", f"{cp['fps']:.0f}", f"{nat['fps']:.1f}", ">= 30"),
        ("image updates during a drag", f"{cs['frames_drawn']:.0f}", f"{cp['frames_drawn']:.0f}",
         f"{nat['image_updates_during_drag']:.0f}", ""),
        ("pointer moves sent during a drag", f"{cs['moves']:.0f}", f"{cp['moves']:.0f}", f"{nat['moves']:.0f}", ""),
        ("move -> pixels drawn, median (p95) ms", f"{cs['draw_latency_ms']:.1f} ({cs['draw_latency_p95_ms']:.1f})",
         f"{cp['draw_latency_ms']:.1f} ({cp['draw_latency_p95_ms']:.1f})", "-", ""),
        ("move -> next frame after draw, median (p95) ms", f"{cs['frame_latency_ms']:.1f} ({cs['frame_latency_p95_ms']:.1f})",
         f"{cp['frame_latency_ms']:.1f} ({cp['frame_latency_p95_ms']:.1f})", "-", "< 33"),
        ("decode + draw per frame, median ms", f"{cs['decode_and_draw_ms']:.2f}", f"{cp['decode_and_draw_ms']:.2f}", "-", ""),
        ("values sent to Python during drag", str(cs["values_sent_during_drag"]), str(cp["values_sent_during_drag"]), "-", "0"),
        ("script reruns during drag (max)", str(cs["reruns_during_drag"]), str(cp["reruns_during_drag"]),
         str(nat["reruns_during_drag"]), "0"),
        ("release -> new image, ms", "0 (already shown)", "0 (already shown)", f"{nat['release_to_new_image_ms']:.0f}", ""),
        ("release -> rerun finished, ms", f"{cs['release_to_rerun_done_ms']:.0f}", f"{cp['release_to_rerun_done_ms']:.0f}",
         f"{nat['release_to_rerun_done_ms']:.0f}", ""),
    ]
    head = ("", "component sliders (VAE 16-D)", "component pad (VAE 2-D)", "st.slider + st.image", "target")
    widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(5)]
    fmt = lambda row: " | ".join(str(c).ljust(w) for c, w in zip(row, widths))  # noqa: E731
    table = "\n".join([fmt(head), "-+-".join("-" * w for w in widths), *map(fmt, rows)])
    raw = "\n".join(f"  {k}: {v['ms_per_decode']:.3f} ms per decode ({v['decodes_per_second']:.0f}/s)" for k, v in r["raw_decode"].items())
    payload = (f"  first load: {pay['first_load_ws_bytes']:,} websocket bytes (weights {pay['weights_bytes']:,}, binary, once)\n"
               f"  later rerun: component {pay['rerun_ws_bytes_component']:,} bytes; "
               f"st.slider page {pay['rerun_ws_bytes_native']:,} bytes (+ the PNG over HTTP)")
    env = r["environment"]
    text = f"{table}\n\nraw decode in decoder.js (no drawing):\n{raw}\n\npayload:\n{payload}\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "browser_decode.json").write_text(json.dumps(r, indent=2) + "\n")
    md = (
        "# Browser decode vs Streamlit sliders\n\n"
        f"`python -m bench.bench_browser_decode --reps {env['reps']} --seconds {env['drag_seconds']}` on {env['when']}; "
        f"{env['chromium']}, {env['flags']}, {env['cpus']} CPUs, Streamlit {env['streamlit']}. "
        "Medians over reps; latencies pooled over every frame. Drags are Playwright mouse moves, "
        "as fast as it sends them (each waits for the renderer).\n\n"
        + "| " + " | ".join(head) + " |\n|" + "---|" * 5 + "\n"
        + "\n".join("| " + " | ".join(row) + " |" for row in rows)
        + f"\n\nRaw decode in decoder.js (no drawing):\n\n{raw}\n\nPayload:\n\n{payload}\n"
    )
    (RESULTS / "browser_decode.md").write_text(md)


if __name__ == "__main__":
    main()
