"""The server's training queue: a bounded number of training processes, fair to clients.

One JobQueue per server process (the page holds it with ``st.cache_resource``). Limits count
per client (``spec.client``: an address or a user a proxy names, explorer/logic/clients.py),
never per browser session, since sessions are free. ``submit`` admits a job or says why
not, before anything is written:

  * the name is being trained right now (same output path) -> refused, the running job untouched;
  * the job would need more than ``max_bytes`` of disk (checkpoint and upload) -> refused;
  * the client already has ``per_client`` jobs waiting or running (all its tabs) -> refused;
  * ``max_waiting`` jobs wait already (all clients) -> refused;
  * the caller's ``check`` (the disk quota) objects -> refused.

An admitted job writes its files (``job.prepare()``) and waits; it reserves no disk while it
waits. A dispatcher thread starts waiting jobs while fewer than ``workers`` run, at most one
per client at a time, in turns: one job per client per round, and within a round the client
whose last job started longest ago goes first (``in_turn``), so a client's queued jobs never
push another client's job back. Starting a job checks the quota again, with the disk that
running jobs will still write. The same thread stops a job that has run ``max_seconds``
(phase "failed", nothing saved), cancels a job whose browser session has been gone for
``session_grace_s`` (nobody could reach its result), and calls ``sweep`` every
``sweep_every_s`` seconds (expired workspaces; ``protected()`` lists the workspaces of
active jobs, which are never touched). Nothing here imports Streamlit.
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from explorer.logic.workspace import megabytes

if TYPE_CHECKING:  # only for the annotations: importing training imports torch (seconds on a cold start)
    from explorer.logic.training import TrainingJob

log = logging.getLogger(__name__)

# check(bytes the job needs, bytes the client's running jobs will still write, the same for all clients)
QuotaCheck = Callable[[int, int, int], "str | None"]


class JobQueue:
    def __init__(self, workers: int = 1, max_waiting: int = 20, per_client: int = 2,
                 max_seconds: float | None = None, max_bytes: int | None = None,
                 session_alive: Callable[[str], bool] | None = None, session_grace_s: float = 120.0,
                 sweep: Callable[[set[Path]], object] | None = None, sweep_every_s: float = 600.0,
                 tick_s: float = 0.25):
        self.workers, self.max_waiting, self.per_client = max(1, workers), max_waiting, max(1, per_client)
        self.max_seconds, self.max_bytes = max_seconds, max_bytes
        self._session_alive, self._session_grace = session_alive, session_grace_s
        self._jobs: list[TrainingJob] = []  # active (waiting or running), in the order they came
        self._needs: dict[int, tuple[int, int]] = {}  # id(job) -> (upload bytes, checkpoint bytes)
        self._checks: dict[int, QuotaCheck] = {}  # id(job) -> its quota check, run again when it starts
        self._last_start: dict[str, float] = {}  # client -> when its last job started (the turns)
        self._gone_since: dict[str, float] = {}  # session id -> when it was first seen gone
        self._lock = threading.RLock()
        self._sweep, self._sweep_every, self._last_sweep = sweep, sweep_every_s, 0.0
        self._stop = threading.Event()
        self.sweep_now()  # at startup
        self._thread = threading.Thread(target=self._loop, args=(tick_s,), name="train-queue", daemon=True)
        self._thread.start()
        atexit.register(self.shutdown)

    # ------------------------------------------------------------------ asking

    def submit(self, job: TrainingJob, check: QuotaCheck | None = None) -> str | None:
        """Admit ``job`` (None) or say why not (nothing written then).

        ``check(need, reserved_by_client, reserved_by_all)`` gets the bytes the job needs and those
        the running jobs will still write (their checkpoints), and returns a refusal or None; it
        runs under the queue's lock, now and again when the job starts.
        """
        with self._lock:
            self._pump()
            spec = job.spec
            if any(j.spec.out == spec.out for j in self._jobs):
                return f"a model named {spec.name!r} is being trained right now; pick another name"
            upload, checkpoint = spec.estimated_bytes()
            if self.max_bytes is not None and upload + checkpoint > self.max_bytes:
                return (f"This job would need about {megabytes(upload + checkpoint)} of disk (the checkpoint "
                        f"{megabytes(checkpoint)}" + (f", the upload {megabytes(upload)}" if upload else "")
                        + f"); one job may need at most {megabytes(self.max_bytes)} on this server. Pick a smaller "
                        "model or upload. Nothing was saved.")
            limit = self.client_limit_problem(spec.client)
            if limit:
                return limit
            waiting = [j for j in self._jobs if not j.started]
            if len(waiting) >= self.max_waiting:
                return (f"{len(waiting)} jobs are waiting for this server already (the limit is {self.max_waiting}); "
                        "try again in a few minutes")
            if check is not None:
                problem = check(upload + checkpoint, *self._reserved(spec.client))
                if problem:
                    return problem
            try:
                job.prepare()
            except OSError as err:
                job.discard()
                log.error("could not write the files of training job %s: %s", spec.name, err)
                return f"the server could not store this job ({type(err).__name__}); nothing was saved"
            self._jobs.append(job)
            self._needs[id(job)] = (upload, checkpoint)
            if check is not None:
                self._checks[id(job)] = check
            self._pump()
        return None

    def client_jobs(self, client: str) -> list[TrainingJob]:
        """The client's active jobs (all its sessions), in the order they came."""
        with self._lock:
            return [j for j in self._jobs if j.spec.client == client and not j.finished]

    def client_limit_problem(self, client: str) -> str | None:
        """Why the client may not submit another job now (``per_client``, all its tabs together), or None."""
        mine = self.client_jobs(client)
        if len(mine) < self.per_client:
            return None
        running = sum(j.started for j in mine)
        return (f"You have {running} job{'s' * (running != 1)} training and {len(mine) - running} waiting (in this "
                f"tab or your others); one visitor may have {self.per_client} at once. Wait for one to finish, "
                "or cancel it.")

    def running(self) -> list[TrainingJob]:
        with self._lock:
            self._pump()
            return [j for j in self._jobs if j.started]

    def waiting(self) -> list[TrainingJob]:
        """The waiting jobs, in the order they will start (``in_turn``)."""
        with self._lock:
            self._pump()
            return self.in_turn()

    def busy_names(self, owner: str | None = None) -> set[str]:
        """Names being trained (by ``owner``'s jobs only, when given)."""
        with self._lock:
            return {j.spec.name for j in self._jobs if owner is None or j.spec.owner == owner}

    def protected(self) -> set[Path]:
        """The workspaces of active jobs: never expired."""
        with self._lock:
            return {Path(j.spec.workspace) for j in self._jobs if j.spec.workspace is not None}

    def in_turn(self) -> list[TrainingJob]:
        """The waiting jobs in the order they start: round k holds each client's k-th job (its running job
        counts as one); within a round, the client whose last job started longest ago (or never) first,
        then the order they came."""
        with self._lock:
            rounds = {}
            for job in self._jobs:
                if job.started:
                    rounds[job.spec.client] = rounds.get(job.spec.client, 0) + 1
            keyed = []
            for arrival, job in enumerate(self._jobs):
                if job.started:
                    continue
                client = job.spec.client
                turn = rounds.get(client, 0)
                rounds[client] = turn + 1
                keyed.append(((turn, self._last_start.get(client, -math.inf), arrival), job))
            return [job for _, job in sorted(keyed, key=lambda pair: pair[0])]

    # ------------------------------------------------------------------ the dispatcher

    def _reserved(self, client: str) -> tuple[int, int]:
        """Checkpoint bytes the running jobs will still write: (the client's, everyone's)."""
        running = [j for j in self._jobs if j.started and not j.finished]
        mine = sum(self._needs.get(id(j), (0, 0))[1] for j in running if j.spec.client == client)
        return mine, sum(self._needs.get(id(j), (0, 0))[1] for j in running)

    def _pump(self) -> None:
        """Forget finished jobs, stop the ones past a limit, start waiting ones in turn while workers are
        free, number the rest."""
        with self._lock:
            now = time.monotonic()
            self._stop_overdue_and_abandoned(now)
            self._forget_finished()
            running = [j for j in self._jobs if j.started]
            for job in self.in_turn():
                if len(running) >= self.workers:
                    break
                client = job.spec.client
                if any(r.spec.client == client for r in running):
                    continue  # one running job per client; their next one waits its turn
                check = self._checks.get(id(job))
                problem = check(self._needs[id(job)][1], *self._reserved(client)) if check else None
                if problem:
                    job.fail(f"It could not start: {problem}")
                    continue
                try:
                    job.start()
                except Exception as err:  # noqa: BLE001 - the job fails, the queue goes on
                    log.exception("could not start training job %s", job.spec.name)
                    job.fail(f"could not start the training process: {err}")
                self._last_start[client] = now
                if not job.finished:
                    running.append(job)
            self._forget_finished()
            for position, job in enumerate(self.in_turn(), start=1):
                job.position = position

    def _forget_finished(self) -> None:
        self._jobs = [j for j in self._jobs if not j.poll()]
        active = {id(j) for j in self._jobs}
        self._needs = {k: v for k, v in self._needs.items() if k in active}
        self._checks = {k: v for k, v in self._checks.items() if k in active}

    def _stop_overdue_and_abandoned(self, now: float) -> None:
        """Stop running jobs past ``max_seconds``; cancel the jobs of sessions gone for ``session_grace_s``."""
        sessions = {j.spec.session_id for j in self._jobs if j.spec.session_id}
        for session in sessions:
            if self._session_alive is None or self._session_alive(session):
                self._gone_since.pop(session, None)
            else:
                self._gone_since.setdefault(session, now)
        self._gone_since = {s: t for s, t in self._gone_since.items() if s in sessions}
        for job in self._jobs:
            gone = self._gone_since.get(job.spec.session_id)
            if gone is not None and now - gone >= self._session_grace:
                log.info("cancelling training job %s: its session is gone", job.spec.name)
                job.cancel("Cancelled: the browser tab that asked for it was closed, and nobody else can open "
                           "its result. Nothing was saved.")
            elif self.max_seconds is not None and job.started and job.running_seconds > self.max_seconds:
                minutes = self.max_seconds / 60
                job.cancel(f"Stopped after {minutes:g} minutes: one job may train for at most {minutes:g} minutes "
                           "on this server. Nothing was saved; train for fewer epochs, or a smaller model.",
                           phase="failed")

    def sweep_now(self) -> None:
        if self._sweep is None:
            return
        self._last_sweep = time.monotonic()
        try:
            self._sweep(self.protected())
        except Exception:  # noqa: BLE001 - a failed sweep must not stop the queue
            log.exception("sweeping expired workspaces failed")

    def _loop(self, tick_s: float) -> None:
        while not self._stop.wait(tick_s):
            self._pump()
            if self._sweep is not None and time.monotonic() - self._last_sweep > self._sweep_every:
                self.sweep_now()

    def shutdown(self) -> None:
        """Cancel every job and stop their processes (at server exit)."""
        self._stop.set()
        with self._lock:
            jobs, self._jobs = list(self._jobs), []
        for job in jobs:
            job.terminate()
