"""Limits an anonymous visitor cannot multiply: who a client is (address or a trusted proxy
header), the queue's limits and turns per client, disk reserved only by running jobs (and
checked again when a job starts), caps on a job's size and running time, and jobs of a
browser session that is gone. The queue's bookkeeping is tested with light jobs that record
what the queue does to them; the time limit with a real training process."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.checkpoints import checkpoint_paths
from core.models import ModelConfig
from core.train import TrainConfig
from explorer.logic import training
from tests.test_training_jobs import alive
from explorer.logic.clients import client_id, client_key
from explorer.logic.jobqueue import JobQueue
from explorer.logic.workspace import Workspace, client_usage, new_token, quota_problem

MB = 1_000_000


# --------------------------------------------------------------------------- who a client is


@pytest.mark.parametrize("address,same_as,different_from", [
    ("203.0.113.7", "203.0.113.7", "203.0.113.8"),
    ("2001:db8:1:2::1", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:3::1"),  # one /64 is one client
    ("::ffff:203.0.113.7", "203.0.113.7", "203.0.113.8"),  # IPv4 in IPv6 clothing
    ("fe80::1%eth0", "fe80::2", "fe81::1"),
    (None, None, "203.0.113.7"),  # this machine (Streamlit gives no address for 127.0.0.1)
])
def test_clients_are_told_apart_by_their_address(address, same_as, different_from):
    assert client_id(address) == client_id(same_as)
    assert client_id(address) != client_id(different_from)


def test_a_proxy_header_names_the_client_only_when_the_operator_trusts_it():
    headers = {"X-Forwarded-User": "alice"}
    assert client_id("10.0.0.1", headers) == client_id("10.0.0.1") == "address:10.0.0.1"  # not trusted: ignored
    assert client_id("10.0.0.1", headers, "X-Forwarded-User") == "user:alice"
    assert client_id("10.0.0.2", headers, "X-Forwarded-User") == "user:alice"  # alice on another machine
    assert client_id("10.0.0.1", {"X-Forwarded-User": "  "}, "X-Forwarded-User") == "address:10.0.0.1"
    assert client_id("10.0.0.1", {}, "X-Forwarded-User") == "address:10.0.0.1"
    assert client_id(None, {"X-Forwarded-User": "address:10.0.0.1"}, "X-Forwarded-User") != "address:10.0.0.1"
    assert len(client_id(None, {"X-Forwarded-User": "u" * 10_000}, "X-Forwarded-User")) < 300


def test_client_keys_are_fixed_length_and_hide_the_address():
    key = client_key("address:203.0.113.7")
    assert len(key) == 32 and "203" not in key and key == client_key("address:203.0.113.7")
    assert key != client_key("address:203.0.113.8")


def test_disk_use_counts_every_workspace_of_the_client(tmp_path):
    alice, bob = client_key("user:alice"), client_key("user:bob")
    tabs = [Workspace.of(tmp_path, new_token()).ensure(alice) for _ in range(3)]
    other = Workspace.of(tmp_path, new_token()).ensure(bob)
    for k, ws in enumerate(tabs):
        (ws.models / "m.safetensors").write_bytes(b"x" * 1000 * (k + 1))
    (other.models / "m.safetensors").write_bytes(b"x" * 50_000)
    unmarked = Workspace.of(tmp_path, new_token()).ensure()
    (unmarked.models / "m.safetensors").write_bytes(b"x" * 7000)
    used = client_usage(tmp_path, alice)
    assert used == sum(ws.size() for ws in tabs) and 6000 <= used < 7000
    assert client_usage(tmp_path, bob) == other.size() and client_usage(tmp_path / "none", alice) == 0


# --------------------------------------------------------------------------- the queue's bookkeeping


@dataclass
class Spec:
    name: str
    client: str
    checkpoint_bytes: int = 1 * MB
    upload_bytes: int = 0
    session_id: str = ""
    owner: str = ""
    workspace: Path | None = None

    @property
    def out(self) -> str:
        return f"/models/{self.client}/{self.name}"

    def estimated_bytes(self) -> tuple[int, int]:
        return self.upload_bytes, self.checkpoint_bytes


@dataclass
class Job:
    """A job that trains nothing: the test ends it (``end``); it records what the queue did to it."""

    spec: Spec
    position: int | None = None
    phase: str = "queued"
    message: str | None = None
    started_at: float | None = None
    events: list = field(default_factory=list)

    started = property(lambda self: self.started_at is not None)
    finished = property(lambda self: self.phase in training.FINISHED)
    running_seconds = property(lambda self: 0.0 if self.started_at is None else time.monotonic() - self.started_at)

    def poll(self) -> bool:
        return self.finished

    def prepare(self) -> None:
        self.events.append("prepared")

    def discard(self) -> None:
        self.phase = "cancelled"

    def start(self):
        self.started_at, self.phase = time.monotonic(), "training"
        self.events.append("started")
        return self

    def fail(self, message: str) -> None:
        self.phase, self.message = "failed", message

    def cancel(self, reason: str | None = None, phase: str = "cancelled") -> None:
        if not self.finished:
            self.phase, self.message = phase, reason

    def terminate(self) -> None:
        self.cancel()

    def end(self) -> None:
        self.phase = "done"


@pytest.fixture
def make_queue():
    queues = []

    def make(**kwargs) -> JobQueue:
        queue = JobQueue(tick_s=3600, **kwargs)  # the test drives it (running() pumps), not the thread
        queues.append(queue)
        return queue

    yield make
    for queue in queues:
        queue.shutdown()


def test_one_client_with_twenty_sessions_gets_two_jobs_and_another_client_still_gets_in(make_queue):
    queue = make_queue(workers=1, max_waiting=20, per_client=2)
    flood = [Job(Spec(f"m{k}", "mallory", owner=f"tab-{k}")) for k in range(20)]
    answers = [queue.submit(job) for job in flood]
    assert answers[:2] == [None, None]
    assert all("one visitor may have 2 at once" in a and "in this tab or your others" in a for a in answers[2:])
    assert [j.events for j in flood[2:]] == [[]] * 18  # refused jobs wrote nothing
    victim = Job(Spec("v", "victor"))
    assert queue.submit(victim) is None
    assert victim.position == 1 and flood[1].position == 2  # ahead of mallory's second job, which came first
    flood[0].end()
    queue.running()
    assert victim.started and not flood[1].started


def test_clients_take_turns_whatever_order_their_jobs_came_in(make_queue):
    queue = make_queue(workers=1, max_waiting=20, per_client=3)
    a1, a2, a3 = (Job(Spec(f"a{k}", "ann")) for k in (1, 2, 3))
    b1, c1 = Job(Spec("b1", "bea")), Job(Spec("c1", "cy"))
    for job in (a1, a2, a3, b1, c1):
        assert queue.submit(job) is None
    assert a1.started and [j.spec.name for j in queue.waiting()] == ["b1", "c1", "a2", "a3"]
    order = [a1]
    for _ in range(4):
        order[-1].end()
        (started,) = queue.running()
        order.append(started)
    assert [j.spec.name for j in order] == ["a1", "b1", "c1", "a2", "a3"]


def test_a_client_runs_one_job_at_a_time_and_free_workers_go_to_others(make_queue):
    queue = make_queue(workers=2, max_waiting=20, per_client=2)
    a1, a2, b1 = Job(Spec("a1", "ann")), Job(Spec("a2", "ann")), Job(Spec("b1", "bea"))
    for job in (a1, a2, b1):
        queue.submit(job)
    assert a1.started and b1.started and not a2.started and a2.position == 1


def test_waiting_jobs_reserve_no_disk(make_queue):
    """Eleven visitors queue big jobs: the room left is what is on disk and what the running job will write."""
    queue = make_queue(workers=1, max_waiting=20, per_client=2)
    on_disk, total_quota = 3 * MB, 2000 * MB

    def check(need, mine, everyone):
        return quota_problem(need, 0, mine, 200 * MB, on_disk, everyone, total_quota)

    for k in range(11):
        assert queue.submit(Job(Spec(f"big{k}", f"visitor-{k}", checkpoint_bytes=180 * MB)), check) is None
    student = Job(Spec("mnist-vae", "student", checkpoint_bytes=5 * MB))
    assert queue.submit(student, check) is None
    assert queue._reserved("visitor-0") == (180 * MB, 180 * MB)
    assert queue._reserved("student") == (0, 180 * MB)


def test_a_client_quota_counts_its_running_job(make_queue):
    queue = make_queue(workers=1, max_waiting=20, per_client=2)

    def check(need, mine, everyone):
        return quota_problem(need, 10 * MB, mine, 200 * MB, 10 * MB, everyone, 2000 * MB)

    assert queue.submit(Job(Spec("a1", "ann", checkpoint_bytes=150 * MB)), check) is None
    refused = queue.submit(Job(Spec("a2", "ann", checkpoint_bytes=50 * MB)), check)
    assert "Not enough room for your models" in refused and "your job under way will need 150.0 MB" in refused
    assert queue.submit(Job(Spec("b1", "bea", checkpoint_bytes=50 * MB)), check) is None


def test_the_quota_is_checked_again_when_a_job_starts(make_queue):
    queue = make_queue(workers=1, max_waiting=20, per_client=2)
    disk = {"used": 0}

    def check(need, mine, everyone):
        return quota_problem(need, 0, mine, 200 * MB, disk["used"], everyone, 1000 * MB)

    first, second = Job(Spec("a", "ann", checkpoint_bytes=100 * MB)), Job(Spec("b", "bea", checkpoint_bytes=100 * MB))
    assert queue.submit(first, check) is None and queue.submit(second, check) is None
    disk["used"] = 950 * MB  # others' models filled the disk while it waited
    first.end()
    assert queue.running() == [] and second.phase == "failed"
    assert second.message.startswith("It could not start: The server's room") and "Nothing was saved" in second.message


def test_a_job_bigger_than_the_cap_is_refused_before_anything_is_written(make_queue):
    queue = make_queue(workers=1, per_client=2, max_bytes=100 * MB)
    big = Job(Spec("big", "ann", checkpoint_bytes=90 * MB, upload_bytes=20 * MB))
    refused = queue.submit(big)
    assert "about 110.0 MB" in refused and "at most 100.0 MB" in refused and big.events == []
    assert queue.submit(Job(Spec("ok", "ann", checkpoint_bytes=90 * MB, upload_bytes=9 * MB))) is None


def test_jobs_of_a_session_gone_for_the_grace_are_cancelled(make_queue):
    alive = {"tab-a": True, "tab-b": True}
    queue = make_queue(workers=1, per_client=2, session_alive=lambda s: alive[s], session_grace_s=0.3)
    running, waiting = Job(Spec("a1", "ann", session_id="tab-a")), Job(Spec("a2", "ann", session_id="tab-a"))
    other = Job(Spec("b1", "bea", session_id="tab-b"))
    for job in (running, waiting, other):
        queue.submit(job)
    alive["tab-a"] = alive["tab-b"] = False
    queue.running()
    alive["tab-b"] = True  # a dropped connection that came back within the grace
    time.sleep(0.35)
    queue.running()
    assert running.phase == waiting.phase == "cancelled" and "tab that asked for it was closed" in running.message
    assert other.started and not other.finished


# --------------------------------------------------------------------------- the time limit, on a real process


@pytest.mark.timeout(300)
def test_a_job_past_its_time_limit_is_stopped_and_saves_nothing(tmp_path, digits):
    model = ModelConfig(kind="vae", image_shape=digits.image_shape, latent_dim=2, hidden=(32,), likelihood="bernoulli")
    spec = training.JobSpec("slow", tmp_path, digits, model, TrainConfig(epochs=5000, batch_size=64), eval_images=50,
                            client="ann")
    job = training.TrainingJob(spec)
    queue = JobQueue(workers=1, max_seconds=3.0, tick_s=0.1)
    try:
        assert queue.submit(job) is None and job.started
        assert job.wait(60), "the job was not stopped"
    finally:
        queue.shutdown()
    view = job.view()
    assert view.phase == "failed" and view.message.startswith("Stopped after 0.05 minutes"), view.message
    assert "Nothing was saved" in view.message and 3.0 < view.seconds < 3.0 + training.CANCEL_GRACE_S + 5
    assert not any(p.exists() for p in checkpoint_paths(spec.out)) and not alive(job.pid)


# --------------------------------------------------------------------------- the load test: a real server


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_one_client_with_twenty_sessions_cannot_starve_another(tmp_path):
    """bench/load_test_fair.py against a real server: Mallory floods the queue from 20 sessions, Victor's
    job still starts (after at most the job Mallory has training, stopped at the time limit) and is saved;
    Mallory's jobs go once her sessions have closed."""
    import json
    import subprocess
    import sys

    out = tmp_path / "fair"
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "bench.load_test_fair", "--flood", "20", "--epochs", "1", "--job-minutes", "1.5",
         "--session-ttl", "5", "--train-wait", "240", "--hard-stop", "800", "--out", str(out)],
        cwd=repo, capture_output=True, text=True, timeout=850)
    result = json.loads(out.with_suffix(".json").read_text())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert result["mallory_admitted"] == 2 and result["victor_answer"] == "admitted"
    assert all("one visitor may have 2 at once" in a for a in result["mallory_refusals"])
    (wait,) = result["victor_queue_wait_s"]
    assert wait < 1.5 * 60 + 30  # behind Mallory's running job only, not her queued one
    assert result["victor_saved_after_s"] is not None and result["victor_positions"] == [1]
    assert result["mallory_jobs_gone_after_close_s"] <= 5 + 30 and not result["errors"], result["errors"]
