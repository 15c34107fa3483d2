"""Load test of a class: 20 sessions browse for two minutes while 3 more train, through the queue.

    python -m bench.load_test_class                          # 20 + 3 sessions, 120 s
    python -m bench.load_test_class --sessions 4 --trainers 2 --seconds 30

One `streamlit run` server on 127.0.0.1 (script runs timed server-side), one headless
Chromium, one browser context per session (each its own Streamlit session and private
workspace). The browsing sessions walk the pages as in bench/load_test.py. Each trainer is a
websocket client (bench/ws_session.py) and a client of its own, as a student on their own
machine: the server trusts the header X-Test-User to tell them apart (every session here
comes from 127.0.0.1). It goes to the Train page and submits three VAEs on digits, one after
the other: the first two are admitted (one trains, one waits: at most one running job per
client), the third must be refused by the per-client limit (the limit said), then it polls
its jobs' live view every second as a browser does. The server runs ``--workers`` training
processes at most (default 1), the rest wait in the queue.

Checked, besides the latency and the errors of bench/load_test.py:
  * the queue: a monitor reads the workspaces every 0.3 s (job folders, and the pid of each
    job's process, alive or not): training processes at once <= workers, per session <= 1
    running and <= 2 waiting or running;
  * the pages: a waiting job shows its place in the queue; the third job is refused;
  * every checkpoint saved afterwards loads (SHA-256 checked against its card) and decodes
    finite images; each lies in its own session's workspace.

Bounded: the browsing window, then at most --train-wait seconds for the queue to drain; the
whole run is cancelled after --hard-stop seconds and the server always stopped. Writes
bench/results/load_class.json and load_class.md and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import tempfile
import time
from pathlib import Path

from bench.load_test import _ERRORS_JS, REPO, Session, pct, session_factory, user_loop, walk_the_tour, warm_up
from bench.run_all import RESULTS, machine_info, machine_markdown, md_table, write_results
from bench.ws_session import WsSession
from devtools.e2e import read_run_log, timed_app_server

JOBS_PER_TRAINER = 3  # the third is over the per-client limit of 2
QUEUE_TEXT = re.compile(r"Waiting in the queue: number (\d+) of (\d+)")
SHOWN_JOB = re.compile(r"(?:Waiting to train|Training|Trained) (my-[A-Za-z0-9_-]+)")
SAVED = re.compile(r"Saved \*\*(my-[A-Za-z0-9_-]+)\*\*")
LIMIT_TEXT = re.compile(r"may have \d+ at once|jobs are waiting")
# Every session here connects from 127.0.0.1 (one address): the server trusts this header to tell
# the trainers apart, as it would trust a proxy that names each student (LATENT_EXPLORER_CLIENT_HEADER).
HEADER = "X-Test-User"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def monitor(workspaces: Path, stop: asyncio.Event, seen: dict) -> None:
    """Sample the workspaces: running processes (all, per session), active jobs per session."""
    while not stop.is_set():
        running_by_ws, active_by_ws, pids = {}, {}, set()
        for job in workspaces.glob("*/jobs/*"):
            ws = job.parent.parent.name
            active_by_ws[ws] = active_by_ws.get(ws, 0) + 1
            try:
                pid = int((job / "pid").read_text())
            except (OSError, ValueError):
                continue
            if _alive(pid):
                running_by_ws[ws] = running_by_ws.get(ws, 0) + 1
                pids.add(pid)
        seen["samples"] += 1
        seen["max_running"] = max(seen["max_running"], sum(running_by_ws.values()))
        seen["max_running_per_session"] = max([seen["max_running_per_session"], *running_by_ws.values()])
        seen["max_active_per_session"] = max([seen["max_active_per_session"], *active_by_ws.values()])
        seen["pids"] |= pids
        now = time.monotonic()
        for job in workspaces.glob("*/jobs/*"):
            times = seen["jobs"].setdefault(job.name, {"first_seen": now})
            if (job / "pid").exists() and "started" not in times:
                times["started"] = now
            times["last_seen"] = now
        await asyncio.sleep(0.3)


SLIDERS = {"manifold": "Grid size", "interpolation": "Steps", "beta": "β"}  # the page's main slider


async def ws_user_loop(s: WsSession, deadline: float, seed: int) -> None:
    """bench.load_test.user_loop for a websocket session: the same tour, the same sliders."""
    async def navigate(target: str) -> None:
        await s.act(f"navigate: {target}", s.navigate(target))

    async def interact(target: str, rng: random.Random) -> None:
        if target in SLIDERS:
            await s.act(f"slider: {SLIDERS[target]}", s.move_slider(SLIDERS[target], rng.uniform(0.05, 0.95)))
        else:
            await asyncio.sleep(rng.uniform(1.0, 2.0))  # reading the page

    await walk_the_tour(deadline, seed, navigate, interact)


async def ask_to_train(s: WsSession, epochs: int) -> str:
    """On the Train page: set the epochs, click Train (whether the page enables it or not, as a
    hostile client would); "admitted", or the page's refusal (its error box, or its limit warning)."""
    await s.act("train: open the page", s.navigate("train"))
    await s.act("train: epochs", s.set_number("Epochs", epochs))
    shown = set(SHOWN_JOB.findall(s.text()))  # the session's jobs so far
    await s.act("train: click Train", s.click("Train"))
    if set(SHOWN_JOB.findall(s.text())) - shown:
        return "admitted"
    if s.alerts:
        return s.alerts[-1]
    limit = [t for t in s.texts if LIMIT_TEXT.search(t)]
    return limit[-1] if limit else "no answer: " + s.text()[-200:]


async def trainer(s: WsSession, epochs: int, deadline: float) -> dict:
    """Submit JOBS_PER_TRAINER VAEs one after the other, then watch them (the jobs' live view, a
    fragment, polled every second as the browser does) until saved or ``deadline``."""
    info: dict = {"session": s.name, "accepted": [], "refused_by_limit": False, "queue_positions": [], "saved": []}
    for k in range(JOBS_PER_TRAINER):
        before = list(info["accepted"])
        answer = await ask_to_train(s, epochs)
        text = s.text()
        info["queue_positions"] += [int(m.group(1)) for m in QUEUE_TEXT.finditer(text)]
        if k < JOBS_PER_TRAINER - 1:
            new = [n for n in SHOWN_JOB.findall(text) if n not in before]
            if answer == "admitted" and new:
                info["accepted"].append(new[0])
            else:
                s.errors.append(f"job {k + 1} not admitted: {answer[:200]}")
        else:
            active = len(re.findall(r"(?:Waiting to train|Training) my-", text))
            info["limit_applied"] = active >= 2  # else a job had finished already: a third one is allowed
            info["refused_by_limit"] = bool(LIMIT_TEXT.search(answer))
    while time.monotonic() < deadline and len(info["saved"]) < len(info["accepted"]):
        await s.act("train: live view", s.rerun(fragment_of="Cancel"))
        text = s.text()
        info["queue_positions"] += [int(m.group(1)) for m in QUEUE_TEXT.finditer(text)]
        info["saved"] += [n for n in sorted(set(SAVED.findall(text))) if n in info["accepted"] and n not in info["saved"]]
        await asyncio.sleep(1.0)
    return info


async def run(args, tmp: Path, run_log: Path) -> dict:
    from playwright.async_api import async_playwright

    from devtools.browser import CHROMIUM_ARGS, CHROMIUM_PATH

    workspaces = tmp / "workspaces"
    env = {"LATENT_EXPLORER_WORKSPACES": str(workspaces), "LATENT_EXPLORER_PUBLISHED": str(tmp / "published"),
           "LATENT_EXPLORER_TRAIN_WORKERS": str(args.workers), "LATENT_EXPLORER_JOBS_PER_CLIENT": "2",
           "LATENT_EXPLORER_CLIENT_HEADER": HEADER}
    result: dict = {"machine": machine_info(), "workers": args.workers}
    seen = {"samples": 0, "max_running": 0, "max_running_per_session": 0, "max_active_per_session": 0, "pids": set(),
            "jobs": {}}
    with timed_app_server(run_log, env=env, extra_args=args.server_arg, root=args.root) as url:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
            try:
                new_session = session_factory(browser)
                result["warm_up_seconds"] = await warm_up(new_session, url)

                if args.client == "browser":
                    users = [await new_session(f"user-{i}") for i in range(args.sessions)]
                else:
                    users = [WsSession(f"user-{i}", url) for i in range(args.sessions)]
                trainers = [WsSession(f"trainer-{i}", url, {HEADER: f"trainer-{i}"}) for i in range(args.trainers)]
                everyone = [*users, *trainers]
                for start in range(0, len(everyone), 6):  # a class arriving, not one burst of 23 page loads
                    await asyncio.gather(*(s.open(url) if isinstance(s, Session) else s.open()
                                           for s in everyone[start:start + 6]))
                stop = asyncio.Event()
                watch = asyncio.create_task(monitor(workspaces, stop, seen))
                t_start = time.time()
                deadline = time.monotonic() + args.seconds
                train_tasks = [asyncio.create_task(trainer(t, args.epochs, deadline + args.train_wait))
                               for t in trainers]
                loop = user_loop if args.client == "browser" else ws_user_loop
                await asyncio.gather(*(loop(u, deadline, i) for i, u in enumerate(users)))
                t_users_end = time.time()
                train_info = await asyncio.gather(*train_tasks)
                stop.set()
                await watch
                for s in everyone:
                    if not isinstance(s, Session):
                        await s.close()
                        continue
                    s.errors.extend(f"final: {e}" for e in await s.page.evaluate(_ERRORS_JS))
                    s.errors.extend(f"javascript: {e}" for e in s.js_errors)
                    if disc := await s.page.evaluate("() => window.__st.disconnects"):
                        s.errors.append(f"{disc} websocket disconnect(s)")
                result.update(window={"start": t_start, "users_end": t_users_end, "end": time.time()},
                              sessions=users, trainers=trainers, train=train_info)
            finally:
                await browser.close()
    result["queue"] = {**seen, "pids": sorted(seen["pids"])}
    result["checkpoints"] = check_checkpoints(workspaces)
    return result


def check_checkpoints(workspaces: Path) -> list[dict]:
    import torch

    from core.checkpoints import load_checkpoint

    out = []
    for card_path in sorted(workspaces.glob("*/models/*.json")):
        entry = {"name": card_path.stem, "workspace": card_path.parent.parent.name[:6]}
        try:
            model, card = load_checkpoint(card_path.with_suffix(""))
            with torch.no_grad():
                finite = bool(torch.isfinite(model.decode(torch.zeros(4, model.latent_dim))).all())
            entry.update(loadable=True, decodes_finite=finite, epochs=card.get("epochs"))
        except Exception as err:  # noqa: BLE001 - the finding is the point
            entry.update(loadable=False, error=f"{type(err).__name__}: {err}")
        out.append(entry)
    return out


def summarize(raw: dict, run_log: Path, args) -> dict:
    users, trainers = raw["sessions"], raw["trainers"]
    lat = [ms for u in users for _, ms in u.latencies]
    lat_idle = [ms for u in users for _, ms in u.idle_latencies]
    lat_train = [ms for t in trainers for _, ms in t.latencies]
    w = raw["window"]
    runs = [r for r in read_run_log(run_log) if w["start"] <= r["start"] <= w["users_end"]]
    errors = [f"{s.name}: {e}" for s in [*users, *trainers] for e in s.errors]
    q, train, ckpts = raw["queue"], raw["train"], raw["checkpoints"]
    accepted = sorted(n for t in train for n in t["accepted"])
    limits = {
        "max training processes at once": (q["max_running"], f"<= {args.workers}", q["max_running"] <= args.workers),
        "max running jobs of one session": (q["max_running_per_session"], "<= 1", q["max_running_per_session"] <= 1),
        "max waiting + running jobs of one session": (q["max_active_per_session"], "<= 2",
                                                      q["max_active_per_session"] <= 2),
        "third job refused while the session had 2 jobs": (
            sum(t["refused_by_limit"] for t in train if t.get("limit_applied")),
            f"= {sum(bool(t.get('limit_applied')) for t in train)} (sessions with 2 jobs then)",
            any(t.get("limit_applied") for t in train)
            and all(t["refused_by_limit"] for t in train if t.get("limit_applied"))),
        "a waiting job showed its place in the queue": (sum(bool(t["queue_positions"]) for t in train), ">= 1",
                                                        any(t["queue_positions"] for t in train)),
        "checkpoints saved = jobs accepted": (len(ckpts), f"= {len(accepted)}",
                                              sorted(c["name"] for c in ckpts) == accepted),  # names repeat across sessions
        "checkpoints that load and decode finite images": (
            sum(bool(c.get("loadable") and c.get("decodes_finite")) for c in ckpts), f"= {len(ckpts)}",
            all(c.get("loadable") and c.get("decodes_finite") for c in ckpts)),
    }
    for what, (value, want, ok) in limits.items():
        if not ok:
            errors.append(f"limit not honoured: {what}: {value} (wanted {want})")

    def stats(values):
        return {"n": len(values), "p50_ms": pct(values, 0.5), "p95_ms": pct(values, 0.95),
                "max_ms": max(values) if values else None}

    return {
        "benchmark": "load_class", "sessions": len(users), "trainers": len(trainers), "seconds": args.seconds,
        "epochs": args.epochs, "workers": args.workers, "client": args.client, "machine": raw["machine"],
        "media_fetched": sum(getattr(u, "media_fetched", 0) for u in users),
        "machine_after": machine_info(brief=True), "warm_up_seconds": raw.get("warm_up_seconds"),
        "client_rerun": stats(lat), "client_rerun_to_idle": stats(lat_idle), "trainer_interactions": stats(lat_train),
        "server_page_runs": stats([r["ms"] for r in runs if not r["fragment"]]),
        "server_fragment_runs": stats([r["ms"] for r in runs if r["fragment"]]),
        "interactions_without_rerun": sum(len(u.no_rerun) for u in users),
        "limits": {k: {"value": v, "wanted": want, "ok": ok} for k, (v, want, ok) in limits.items()},
        "queue_samples": q["samples"], "job_processes": len(q["pids"]),
        "job_seconds": sorted(round(t["last_seen"] - t["started"], 1) for t in q["jobs"].values() if "started" in t),
        "wait_seconds": sorted(round(t.get("started", t["last_seen"]) - t["first_seen"], 1) for t in q["jobs"].values()),
        "train": train, "checkpoints": ckpts, "errors": errors,
    }


def to_markdown(r: dict) -> str:
    fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
    rows = [["measure", "n", "p50 (ms)", "p95 (ms)", "max (ms)"]]
    browsing = [("client: rerun request sent -> script finished received", "client_rerun")]
    if r["client"] == "browser":
        browsing.append(("client: rerun request sent -> page drawn, status widget gone", "client_rerun_to_idle"))
    for label, key in [*browsing,
                       ("trainers' form interactions (request -> finished)", "trainer_interactions"),
                       ("server: page script run", "server_page_runs"),
                       ("server: fragment run (the trainers' live views)", "server_fragment_runs")]:
        s = r[key]
        rows.append([label, s["n"], fmt(s["p50_ms"]), fmt(s["p95_ms"]), fmt(s["max_ms"])])
    lines = ["# Load test: a class", "",
             f"{r['sessions']} sessions walking the pages and moving sliders for {r['seconds']:.0f} s while "
             f"{r['trainers']} more each submit {JOBS_PER_TRAINER} VAEs on digits ({r['epochs']} epochs) on the Train "
             f"page; {r['workers']} training process(es) at most, 2 jobs per client (each trainer is one). One server on 127.0.0.1, one "
             "headless Chromium; the server, the training processes and Chromium share the machine's cores. "
             + ("The browsing sessions are Chromium tabs." if r["client"] == "browser" else
                "The browsing sessions are websocket clients speaking Streamlit's protocol (bench/ws_session.py: "
                "rerun requests with the page and widget states, the server's deltas, the pictures fetched from "
                f"/media/ as a browser would: {r['media_fetched']} of them), which draw nothing.")
             + " The trainers are websocket clients too, each a client of its own (header X-Test-User).", "",
             "Written by `python -m bench.load_test_class`. " + machine_markdown(r["machine"])
             + f" Load average when it finished: {r['machine_after']['load_average_1_5_15']}.", "",
             md_table(rows), "",
             md_table([["limit", "seen", "wanted", "honoured"]] +
                      [[k, v["value"], v["wanted"], "yes" if v["ok"] else "**NO**"] for k, v in r["limits"].items()]),
             "", f"Queue monitor: {r['queue_samples']} samples of the workspaces; {r['job_processes']} training "
             "processes seen (each job's own, from its pid file); seconds from process start to its folder gone: "
             f"{r['job_seconds']}; seconds waiting in the queue: {r['wait_seconds']}.", "",
             f"Errors: **{len(r['errors'])}**", ""]
    lines += [f"- {e}" for e in r["errors"][:40]]
    lines += ["", f"Interactions without a rerun: {r['interactions_without_rerun']}. "
              f"Warm-up before the clock started: {r['warm_up_seconds']:.0f} s.", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--client", choices=("ws", "browser"), default="ws",
                        help="browsing sessions as websocket clients (Streamlit's protocol, no drawing) or Chromium tabs")
    parser.add_argument("--trainers", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--epochs", type=int, default=5, help="epochs of each model trained (digits VAE)")
    parser.add_argument("--workers", type=int, default=1, help="LATENT_EXPLORER_TRAIN_WORKERS of the server")
    parser.add_argument("--train-wait", type=float, default=420.0, help="extra seconds for the queue to drain")
    parser.add_argument("--hard-stop", type=float, default=1000.0, help="cancel everything after this many seconds")
    parser.add_argument("--server-arg", action="append", default=[], help="extra `streamlit run` flag")
    parser.add_argument("--out", default=str(RESULTS / "load_class"), help="output path without extension")
    parser.add_argument("--root", default=str(REPO), help="the checkout to serve (bench/bench_start.py: before/after)")
    args = parser.parse_args(argv)

    from devtools.browser import chromium_missing_reason

    if reason := chromium_missing_reason():
        print(f"load test skipped: {reason}")
        return 0
    with tempfile.TemporaryDirectory(prefix="load-class-") as tmp:
        run_log = Path(tmp) / "runs.jsonl"
        try:
            raw = asyncio.run(asyncio.wait_for(run(args, Path(tmp), run_log), timeout=args.hard_stop))
        except asyncio.TimeoutError:
            print(f"load test stopped after {args.hard_stop} s (hard stop)")
            return 1
        result = summarize(raw, run_log, args)
    write_results(args.out, result, to_markdown)
    return 0 if not result["errors"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
