"""The server's training queue: a bounded number of training processes, fair to sessions.

One JobQueue per server process (the page holds it with ``st.cache_resource``). ``submit``
admits a job or says why not, before anything is written:

  * the name is being trained right now (same output path) -> refused, the running job untouched;
  * the session already has ``per_session`` jobs waiting or running -> refused;
  * ``max_waiting`` jobs wait already (all sessions) -> refused;
  * the caller's ``check`` (the disk quota) objects -> refused.

An admitted job writes its files (``job.prepare()``) and waits; a dispatcher thread starts
waiting jobs in order while fewer than ``workers`` run, at most one per session at a time,
and keeps each waiting job's ``position`` (1 = next). The same thread calls ``sweep``
every ``sweep_every_s`` seconds (expired workspaces; ``protected()`` lists the workspaces
of active jobs, which are never touched). Nothing here imports Streamlit.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for the annotations: importing training imports torch (seconds on a cold start)
    from explorer.logic.training import TrainingJob

log = logging.getLogger(__name__)


class JobQueue:
    def __init__(self, workers: int = 1, max_waiting: int = 20, per_session: int = 2,
                 sweep: Callable[[set[Path]], object] | None = None, sweep_every_s: float = 600.0,
                 tick_s: float = 0.25):
        self.workers, self.max_waiting, self.per_session = max(1, workers), max_waiting, max(1, per_session)
        self._jobs: list[TrainingJob] = []  # active (waiting or running), in the order they came
        self._lock = threading.RLock()
        self._sweep, self._sweep_every, self._last_sweep = sweep, sweep_every_s, 0.0
        self._stop = threading.Event()
        self.sweep_now()  # at startup
        self._thread = threading.Thread(target=self._loop, args=(tick_s,), name="train-queue", daemon=True)
        self._thread.start()
        atexit.register(self.shutdown)

    # ------------------------------------------------------------------ asking

    def submit(self, job: TrainingJob, check: Callable[[int, int], str | None] | None = None) -> str | None:
        """Admit ``job`` (None) or say why not (nothing written then).

        ``check(reserved_by_owner, reserved_by_all)`` gets the bytes the active jobs will still
        write (their checkpoints) and returns a refusal or None; it runs under the queue's lock.
        """
        with self._lock:
            self._pump()
            spec = job.spec
            if any(j.spec.out == spec.out for j in self._jobs):
                return f"a model named {spec.name!r} is being trained right now; pick another name"
            mine = self.jobs_of(spec.owner)
            if len(mine) >= self.per_session:
                return (f"you have {len(mine)} training jobs waiting or running (the limit per session is "
                        f"{self.per_session}); wait for one to finish, or cancel it")
            waiting = [j for j in self._jobs if not j.started]
            if len(waiting) >= self.max_waiting:
                return (f"{len(waiting)} jobs are waiting for this server already (the limit is {self.max_waiting}); "
                        "try again in a few minutes")
            if check is not None:
                reserved = {id(j): j.spec.estimated_bytes()[1] for j in self._jobs}
                problem = check(sum(reserved[id(j)] for j in mine), sum(reserved.values()))
                if problem:
                    return problem
            try:
                job.prepare()
            except OSError as err:
                job.discard()
                log.error("could not write the files of training job %s: %s", spec.name, err)
                return f"the server could not store this job ({type(err).__name__}); nothing was saved"
            self._jobs.append(job)
            self._pump()
        return None

    def jobs_of(self, owner: str) -> list[TrainingJob]:
        """The session's active jobs, in the order they came."""
        with self._lock:
            return [j for j in self._jobs if j.spec.owner == owner and not j.finished]

    def running(self) -> list[TrainingJob]:
        with self._lock:
            self._pump()
            return [j for j in self._jobs if j.started]

    def waiting(self) -> list[TrainingJob]:
        with self._lock:
            self._pump()
            return [j for j in self._jobs if not j.started]

    def busy_names(self, owner: str | None = None) -> set[str]:
        """Names being trained (by ``owner``'s jobs only, when given)."""
        with self._lock:
            return {j.spec.name for j in self._jobs if owner is None or j.spec.owner == owner}

    def protected(self) -> set[Path]:
        """The workspaces of active jobs: never expired."""
        with self._lock:
            return {Path(j.spec.workspace) for j in self._jobs if j.spec.workspace is not None}

    # ------------------------------------------------------------------ the dispatcher

    def _pump(self) -> None:
        """Forget finished jobs, start waiting ones while workers are free, number the rest."""
        with self._lock:
            self._jobs = [j for j in self._jobs if not j.poll()]
            running = [j for j in self._jobs if j.started]
            for job in [j for j in self._jobs if not j.started]:
                if len(running) >= self.workers:
                    break
                if any(r.spec.owner == job.spec.owner for r in running):
                    continue  # one running job per session; the next one of theirs waits
                try:
                    job.start()
                except Exception as err:  # noqa: BLE001 - the job fails, the queue goes on
                    log.exception("could not start training job %s", job.spec.name)
                    job.fail(f"could not start the training process: {err}")
                if not job.finished:
                    running.append(job)
            self._jobs = [j for j in self._jobs if not j.finished]
            for position, job in enumerate((j for j in self._jobs if not j.started), start=1):
                job.position = position

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
