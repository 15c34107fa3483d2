"""Load test of fairness: one client opens 20 sessions and floods the training queue; another
client's job must still start and finish.

    python -m bench.load_test_fair                             # 20 sessions of one client, 1 worker
    python -m bench.load_test_fair --flood 6 --job-minutes 0.5 --epochs 2
    python -m bench.load_test_fair --root /path/to/older/checkout --train-wait 240   # the same against old code

One `streamlit run` server on 127.0.0.1. Every connection here comes from 127.0.0.1, so the
two clients are told apart the way an operator's proxy would tell them: the server trusts
the header X-Test-User (LATENT_EXPLORER_CLIENT_HEADER), and each websocket session
(bench/ws_session.py, Streamlit's own protocol) sends its user in it. Mallory opens
``--flood`` sessions, and in each one asks the Train page for a 500-epoch VAE on digits (she
clicks Train whether the page enables it or not). Then Victor asks for a small VAE
(``--epochs``) and watches his page until it says Saved. The server runs ``--workers``
training processes and stops a job after ``--job-minutes``. Finally Mallory closes her
sessions, and the queue must drop her jobs once a session has been gone for Streamlit's
``server.disconnectedSessionTTL`` (``--session-ttl`` seconds here).

Measured: how many of Mallory's jobs were admitted; Victor's wait in the queue (his job's
folder written -> its process started, from the workspaces sampled every 0.3 s) and his time
to a saved model (click -> "Saved" on his page); the places in the queue his page showed;
how long Mallory's jobs outlived her sessions; that Victor's checkpoint is saved, that Mallory
saved no more than her admitted jobs (early stopping may end one before her tabs close), and
that every saved checkpoint loads. Writes bench/results/load_fair.json and load_fair.md; exit code 1 unless
Victor's model was saved and Mallory's jobs were gone in time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from bench.load_test import REPO
from bench.load_test_class import HEADER, QUEUE_TEXT, SAVED, ask_to_train, check_checkpoints
from bench.run_all import RESULTS, machine_info, machine_markdown, md_table, write_results
from bench.ws_session import WsSession
from devtools.e2e import timed_app_server
from explorer.logic.clients import client_id, client_key
from explorer.logic.workspace import CLIENT

FLOOD_EPOCHS = 500  # the Train page's maximum


def key_of(user: str) -> str:
    return client_key(client_id(None, {HEADER: user}, HEADER))


async def sample(workspaces: Path, names: dict[str, str], stop: asyncio.Event, jobs: dict) -> None:
    """Every 0.3 s: each job folder's client, when it was first seen, when its process started, last seen."""
    while not stop.is_set():
        now = time.monotonic()
        for folder in workspaces.glob("*/jobs/*"):
            try:
                client = (folder.parent.parent / ".client").read_text().strip()
            except OSError:
                client = "?"
            record = jobs.setdefault(folder.name, {"client": names.get(client, "?"), "first_seen": now})
            if "started" not in record and (folder / "pid").exists():
                record["started"] = now
            record["last_seen"] = now
        await asyncio.sleep(0.3)


async def run(args, tmp: Path) -> dict:
    workspaces = tmp / "workspaces"
    env = {"LATENT_EXPLORER_WORKSPACES": str(workspaces), "LATENT_EXPLORER_PUBLISHED": str(tmp / "published"),
           "LATENT_EXPLORER_TRAIN_WORKERS": str(args.workers), "LATENT_EXPLORER_CLIENT_HEADER": HEADER,
           "LATENT_EXPLORER_JOB_MAX_MINUTES": str(args.job_minutes)}
    names = {key_of("mallory"): "mallory", key_of("victor"): "victor"}
    jobs: dict = {}
    result: dict = {"machine": machine_info()}
    with timed_app_server(tmp / "runs.jsonl", env=env, root=args.root,
                          extra_args=["--server.disconnectedSessionTTL", str(args.session_ttl)]) as url:
        stop = asyncio.Event()
        watch = asyncio.create_task(sample(workspaces, names, stop, jobs))
        mallory = [WsSession(f"mallory-{i}", url, {HEADER: "mallory"}) for i in range(args.flood)]
        victor = WsSession("victor", url, {HEADER: "victor"})
        for s in mallory:
            s.expect_errors = True  # her refusals are the point
        everyone = [*mallory, victor]
        for start in range(0, len(everyone), 6):
            await asyncio.gather(*(s.open() for s in everyone[start:start + 6]))
        answers = await asyncio.gather(*(ask_to_train(s, FLOOD_EPOCHS) for s in mallory))
        t_ask = time.monotonic()
        victor_answer = await ask_to_train(victor, args.epochs)
        positions, saved_after = [], None
        while victor_answer == "admitted" and time.monotonic() - t_ask < args.train_wait:
            await victor.act("poll", victor.rerun())
            text = victor.text()
            positions += [int(m.group(1)) for m in QUEUE_TEXT.finditer(text)]
            if SAVED.search(text):
                saved_after = time.monotonic() - t_ask
                break
            await asyncio.sleep(1.0)
        t_close = time.monotonic()
        for s in mallory:
            await s.close()
        gone_after = None  # stays None when no job could be told to be hers (a server that marks no clients)
        while any(r["client"] == "mallory" for r in jobs.values()) and time.monotonic() - t_close < args.session_ttl + 60:
            await asyncio.sleep(0.5)
            if not any(r["client"] == "mallory" and r["last_seen"] > time.monotonic() - 1.0 for r in jobs.values()):
                gone_after = time.monotonic() - t_close
                break
        await victor.close()
        stop.set()
        await watch
    mine = [r for r in jobs.values() if r["client"] == "victor"]
    result.update(
        flood=args.flood, workers=args.workers, job_minutes=args.job_minutes, session_ttl=args.session_ttl,
        epochs=args.epochs, mallory_answers=answers, victor_answer=victor_answer, victor_positions=sorted(set(positions)),
        victor_saved_after_s=saved_after, mallory_jobs_gone_after_close_s=gone_after,
        victor_queue_wait_s=[round(r["started"] - r["first_seen"], 1) for r in mine if "started" in r],
        victor_training_s=[round(r["last_seen"] - r["started"], 1) for r in mine if "started" in r],
        jobs=sorted(({k: (round(v - t_ask, 1) if isinstance(v, float) else v) for k, v in r.items()}
                     for r in jobs.values()), key=lambda r: r["first_seen"]),
        errors=[f"{s.name}: {e}" for s in everyone for e in s.errors],
        checkpoints=owned_checkpoints(workspaces, names),
    )
    return result


def owned_checkpoints(workspaces: Path, names: dict[str, str]) -> list[dict]:
    """check_checkpoints, each with the client whose workspace holds it ('mallory', 'victor' or None)."""
    owners = {ws.name[:6]: names.get((ws / CLIENT).read_text().strip()) if (ws / CLIENT).is_file() else None
              for ws in workspaces.glob("*") if ws.is_dir()}
    return [{**c, "owner": owners.get(c["workspace"])} for c in check_checkpoints(workspaces)]


def summarize(r: dict) -> dict:
    admitted = sum(a == "admitted" for a in r["mallory_answers"])
    refusals = sorted({a[:120] for a in r["mallory_answers"] if a != "admitted"})
    checks = {
        "Victor's job admitted": (r["victor_answer"], "admitted", r["victor_answer"] == "admitted"),
        "Victor's job started": (r["victor_queue_wait_s"], "a wait in s", bool(r["victor_queue_wait_s"])),
        "Victor's model saved": (r["victor_saved_after_s"], "seconds after his click",
                                 r["victor_saved_after_s"] is not None),
        "Mallory's jobs admitted": (admitted, "<= 2 (one visitor's limit)", admitted <= 2),
        "Mallory's jobs gone after her sessions closed": (
            r["mallory_jobs_gone_after_close_s"], f"<= {r['session_ttl']} s + 30 s",
            r["mallory_jobs_gone_after_close_s"] is not None
            and r["mallory_jobs_gone_after_close_s"] <= r["session_ttl"] + 30),
        # Mallory's admitted jobs may finish (and save) before her tabs close: early stopping can end a
        # 500-epoch run on small data in seconds. What must hold: Victor's model is saved, every saved
        # model loads, and Mallory saved no more than the jobs she was admitted.
        "checkpoints saved that load (Victor's one; Mallory's at most her admitted jobs)": (
            [f"{c['owner']}: {c['name']}" for c in r["checkpoints"]], "all loadable",
            sum(c["owner"] == "victor" for c in r["checkpoints"]) == 1
            and sum(c["owner"] == "mallory" for c in r["checkpoints"]) <= admitted
            and all(c.get("loadable") for c in r["checkpoints"])),
    }
    return {**r, "benchmark": "load_fair", "mallory_admitted": admitted, "mallory_refusals": refusals,
            "checks": {k: {"value": v, "wanted": w, "ok": ok} for k, (v, w, ok) in checks.items()},
            "machine_after": machine_info(brief=True)}


def to_markdown(r: dict) -> str:
    rows = [["check", "seen", "wanted", "held"]] + [
        [k, v["value"], v["wanted"], "yes" if v["ok"] else "**NO**"] for k, v in r["checks"].items()]
    lines = [
        "# Load test: one client floods the queue, another trains", "",
        f"Mallory opens {r['flood']} sessions as one client and asks for a {FLOOD_EPOCHS}-epoch VAE in each; then "
        f"Victor, another client, asks for a {r['epochs']}-epoch VAE on digits. {r['workers']} training process(es); a "
        f"job is stopped after {r['job_minutes']:g} min; a session gone {r['session_ttl']} s loses its jobs. The "
        f"clients are told apart by the header {HEADER}, which the server trusts (LATENT_EXPLORER_CLIENT_HEADER).", "",
        "Written by `python -m bench.load_test_fair`. " + machine_markdown(r["machine"])
        + f" Load average when it finished: {r['machine_after']['load_average_1_5_15']}.", "",
        md_table(rows), "",
        f"Victor's queue wait (job written -> process started): **{r['victor_queue_wait_s']} s**; his training "
        f"(process start -> job gone): {r['victor_training_s']} s; click -> \"Saved\" on his page: "
        f"**{r['victor_saved_after_s'] if r['victor_saved_after_s'] is None else round(r['victor_saved_after_s'], 1)} s**;"
        f" places in the queue his page showed: {r['victor_positions']}.", "",
        f"Mallory: {r['mallory_admitted']} of {r['flood']} jobs admitted; the others were told: "
        + "; ".join(f"\"{a}\"" for a in r["mallory_refusals"]), "",
        "Jobs seen (seconds from Victor's click; started = its process): "
        + "; ".join(f"{j['client']} {j['first_seen']}..{j.get('started', '-')}..{j['last_seen']}" for j in r["jobs"]),
        "", f"Errors: **{len(r['errors'])}**", "",
    ]
    lines += [f"- {e}" for e in r["errors"][:30]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flood", type=int, default=20, help="sessions of the flooding client")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the other client's VAE")
    parser.add_argument("--workers", type=int, default=1, help="LATENT_EXPLORER_TRAIN_WORKERS of the server")
    parser.add_argument("--job-minutes", type=float, default=1.0, help="LATENT_EXPLORER_JOB_MAX_MINUTES")
    parser.add_argument("--session-ttl", type=int, default=10, help="server.disconnectedSessionTTL (seconds)")
    parser.add_argument("--train-wait", type=float, default=300.0, help="seconds the other client waits at most")
    parser.add_argument("--hard-stop", type=float, default=900.0, help="cancel everything after this many seconds")
    parser.add_argument("--out", default=str(RESULTS / "load_fair"), help="output path without extension")
    parser.add_argument("--root", default=str(REPO), help="the checkout to serve (another one: before/after)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="load-fair-") as tmp:
        try:
            raw = asyncio.run(asyncio.wait_for(run(args, Path(tmp)), timeout=args.hard_stop))
        except asyncio.TimeoutError:
            print(f"load test stopped after {args.hard_stop} s (hard stop)")
            return 1
    result = summarize(raw)
    write_results(args.out, result, to_markdown)
    return 0 if all(c["ok"] for c in result["checks"].values()) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
