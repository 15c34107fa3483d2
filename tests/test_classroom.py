"""The class store (explorer/logic/classroom.py): codes, who may read and write, rate limit, caps, expiry,
on SQLite always and on a throwaway PostgreSQL server (Debian's package) where one can be started."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from explorer.logic import classroom
from explorer.logic.classroom import ClassError, ClassStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found and Path(found[-1]).with_name("pg_ctl").exists() else None


def _server_user() -> list[str] | None:
    """The command prefix that runs the server's tools as a user PostgreSQL accepts (it refuses root)."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("runuser"):
        return None
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return ["runuser", "-u", user, "--"]
    return None


class PostgresServer:
    """initdb into a fresh folder and a server on a unix socket in it (no TCP), stopped at the end."""

    def __init__(self, bin_dir: Path, as_user: list[str]) -> None:
        self.bin, self.as_user, self.databases = bin_dir, as_user, 0
        # Under /tmp, not pytest's tmp_path: the server's user must reach it (pytest's folders are the
        # running user's only) and a unix socket's path must stay short.
        self.root = Path(tempfile.mkdtemp(prefix="classes-pg-"))
        self.data = self.root / "data"
        if as_user:
            shutil.chown(self.root, user=as_user[2])
        self._tool("initdb", "-D", str(self.data), "-U", "classes", "--auth=trust", "-E", "UTF8", "--no-sync")
        self._tool("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "start",
                   "-o", f"-k {self.root} -c listen_addresses='' -c fsync=off")  # throwaway data

    def _tool(self, name: str, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bin / name), *args], check=True, capture_output=True, timeout=120)

    def fresh_url(self) -> str:
        """The URL of a new, empty database on this server."""
        self.databases += 1
        name = f"classes{self.databases}"
        import psycopg
        with psycopg.connect(f"postgresql:///postgres?host={self.root}&user=classes", autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return f"postgresql:///{name}?host={self.root}&user=classes"

    def stored_bytes(self) -> bytes:
        """Everything the server keeps on disk, its write-ahead log included, once written out."""
        import psycopg
        with psycopg.connect(f"postgresql:///postgres?host={self.root}&user=classes", autocommit=True) as db:
            db.execute("CHECKPOINT")
        return b"".join(p.read_bytes() for p in self.data.rglob("*") if p.is_file())

    def stop(self) -> None:
        try:
            self._tool("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_server():
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server here (/usr/lib/postgresql/*/bin/initdb, pg_ctl: apt-get install postgresql)")
    as_user = _server_user()
    if as_user is None:
        pytest.skip("running as root without runuser or a postgres/nobody user to run PostgreSQL as")
    try:
        server = PostgresServer(bin_dir, as_user)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"PostgreSQL could not be started here: {getattr(err, 'stderr', b'') or err}")
    yield server
    server.stop()


class Backend:
    """One database under test: its URL and, to look for what must never be stored, its bytes on disk."""

    def __init__(self, url: str, stored_bytes) -> None:
        self.url, self.stored_bytes = url, stored_bytes


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path):
    if request.param == "sqlite":
        path = tmp_path / "classes.sqlite3"
        return Backend(f"sqlite:///{path}", lambda: b"".join(p.read_bytes() for p in tmp_path.glob("classes.sqlite3*")))
    server = request.getfixturevalue("postgres_server")
    return Backend(server.fresh_url(), server.stored_bytes)


@pytest.fixture
def store(backend, clock):
    return ClassStore(backend.url, expiry_s=3600, max_classes=3, max_answers=4, min_interval_s=1.0, clock=clock)


def test_a_class_round_trip(store, clock):
    opened = store.open_class("pca-to-beta-vae")
    assert len(opened.code) == classroom.CODE_LENGTH and set(opened.code) <= set(classroom.CODE_ALPHABET)
    assert store.lesson_of(opened.code) == ("pca-to-beta-vae", 1, False)
    store.submit(opened.code, "student-a", 4, "[0.5, -1]")
    clock.now += 2
    store.submit(opened.code, "student-b", 4, "[1, 1]")
    clock.now += 2
    store.submit(opened.code, "student-a", 4, "[0.25, 0]")  # a new answer replaces the old
    assert store.answers(opened.code, opened.key, 4) == ["[1, 1]", "[0.25, 0]"]
    assert store.answers(opened.code, opened.key, 3) == []
    store.set_step(opened.code, opened.key, 5, revealed=True)
    assert store.lesson_of(opened.code) == ("pca-to-beta-vae", 5, True)


def test_codes_are_typed_loosely_and_shown_in_groups(store):
    opened = store.open_class("x")
    shown = classroom.shown_code(opened.code)
    assert shown[5] == "-" and shown.replace("-", "") == opened.code
    assert store.lesson_of(" " + shown.lower() + " ")[0] == "x"


@pytest.mark.parametrize("code", ["", "ABC", "ABCDEFGHJK1", "ABCDEFGHJ0", "ABCDE FGHJ!", "x" * 5000, None])
def test_bad_codes_are_refused_without_a_lookup(store, code):
    with pytest.raises(ClassError, match="not a class code"):
        store.lesson_of(code)
    with pytest.raises(ClassError, match="not a class code"):
        store.submit(code, "s", 1, "[0, 0]")


def test_an_unknown_code_is_no_class(store):
    with pytest.raises(ClassError, match="no class with that code"):
        store.submit("ABCDEFGHJK", "s", 1, "[0, 0]")


def test_students_cannot_read_or_steer_a_class(store):
    opened = store.open_class("x")
    other = store.open_class("y")
    store.submit(opened.code, "s", 1, "[0, 0]")
    for key in ("", "guess", other.key):
        with pytest.raises(ClassError, match="only the class's presenter"):
            store.answers(opened.code, key, 1)
        with pytest.raises(ClassError, match="only the class's presenter"):
            store.set_step(opened.code, key, 2)


def test_no_name_is_stored(store, backend):
    opened = store.open_class("x")
    store.submit(opened.code, "student-token-123", 1, "[0, 0]")
    raw = backend.stored_bytes()
    assert opened.code.encode() in raw  # what is stored is on these bytes
    assert b"student-token-123" not in raw and opened.key.encode() not in raw


def test_rate_limit_per_student(store, clock):
    opened = store.open_class("x")
    store.submit(opened.code, "s", 1, "[0, 0]")
    clock.now += 0.5
    with pytest.raises(ClassError, match="one answer per 1 s"):
        store.submit(opened.code, "s", 2, "[0, 0]")
    store.submit(opened.code, "t", 2, "[0, 0]")  # another student is not held back
    clock.now += 0.6
    store.submit(opened.code, "s", 2, "[1, 1]")
    assert sorted(store.answers(opened.code, opened.key, 2)) == ["[0, 0]", "[1, 1]"]


def test_caps_on_answers_classes_and_size(store, clock):
    opened = store.open_class("x")
    for i in range(4):
        store.submit(opened.code, f"s{i}", 1, "[0, 0]")
    with pytest.raises(ClassError, match="holds 4 answers"):
        store.submit(opened.code, "s9", 1, "[0, 0]")
    clock.now += 5
    store.submit(opened.code, "s0", 1, "[1, 1]")  # replacing one's own answer stays possible at the cap
    with pytest.raises(ClassError, match="at most 200 characters"):
        store.submit(opened.code, "s1", 2, "x" * 201)
    store.open_class("y")
    store.open_class("z")
    with pytest.raises(ClassError, match="3 classes are open"):
        store.open_class("w")


def test_classes_expire_with_the_workspaces(store, clock):
    old = store.open_class("x")
    store.submit(old.code, "s", 1, "[0, 0]")
    clock.now += 3000
    young = store.open_class("y")
    clock.now += 700  # old: 3700 s > 3600 s; young: 700 s
    with pytest.raises(ClassError, match="no class with that code"):
        store.submit(old.code, "t", 1, "[0, 0]")
    assert store.sweep() == 1
    assert store.lesson_of(young.code)[0] == "y"
    (count,), = store._run("SELECT COUNT(*) FROM answers")
    assert count == 0


def test_concurrent_students_all_land(store, clock):
    store.max_answers = 100
    opened = store.open_class("x")
    errors = []

    def send(i: int) -> None:
        try:
            store.submit(opened.code, f"student{i}", 1, f"[{i}, 0]")
        except ClassError as err:
            errors.append(err)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and len(store.answers(opened.code, opened.key, 1)) == 20


def test_replicas_share_one_database_and_its_caps(backend, clock):
    """App replicas (stores on one URL, one per student here so that all write at once): a class opened on
    one is answered on the others, and the cap holds for students writing through all of them."""
    replicas = [ClassStore(backend.url, max_answers=10, clock=clock) for _ in range(24)]
    opened = replicas[0].open_class("x")
    refused, threads = [], []

    def send(replica: ClassStore, i: int) -> None:
        try:
            replica.submit(opened.code, f"student{i}", 1, f"[{i}, 0]")
        except ClassError as err:
            refused.append(str(err))

    for i in range(24):
        threads.append(threading.Thread(target=send, args=(replicas[i], i)))
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(replicas[1].answers(opened.code, opened.key, 1)) == 10
    assert len(refused) == 14 and all("holds 10 answers" in r for r in refused)


def test_unsupported_urls_are_refused(tmp_path):
    for url in ("classes.sqlite3", "mysql://x", "sqlite:/relative", ""):
        with pytest.raises(ClassError, match="unsupported class database URL"):
            ClassStore(url)


def test_an_unreachable_postgresql_is_a_clear_error():
    pytest.importorskip("psycopg")
    with pytest.raises(ClassError, match="class database cannot be reached") as caught:
        ClassStore("postgresql://user:secret-password@127.0.0.1:1/classes")
    assert "secret-password" not in str(caught.value)
