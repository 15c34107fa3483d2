"""A class running a lesson: a teacher opens it and gets a short code, students send their predictions.

The store keeps no names: a student is a random token of their browser session, stored only as
its SHA-256. A student may write into a class whose code they were given, one answer per step
(the latest counts), no faster than ``min_interval_s``; only the presenter, who holds the class's
secret key, reads the answers. Each class holds at most ``max_answers`` answers of at most
``MAX_ANSWER_CHARS`` characters, at most ``max_classes`` classes are open, and a class expires
with the workspaces (``expiry_s`` after it opened).

One small interface over a database URL: ``sqlite:///PATH`` (the default, under the operator's
data root; stdlib sqlite3) or ``postgresql://...`` (psycopg 3), so that several app replicas behind a
load balancer can share one class database. The SQL is written once; what differs between the two
lives in ``_Dialect``. Nothing here imports Streamlit.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud and typed on phones
CODE_LENGTH = 10  # 31**10 ~ 8e14 codes: with the rate limit, not guessable in practice
MAX_ANSWER_CHARS = 200
MAX_LESSON_CHARS = 100

# Portable SQL: DOUBLE PRECISION (PostgreSQL's REAL is 4 bytes, too coarse for a Unix time; SQLite reads it
# as its 8-byte REAL), and ON CONFLICT ... DO UPDATE, which both databases spell the same way.
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS classes (
    code TEXT PRIMARY KEY, key_hash TEXT NOT NULL, lesson TEXT NOT NULL, step INTEGER NOT NULL,
    revealed INTEGER NOT NULL DEFAULT 0, opened DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS answers (
    code TEXT NOT NULL, student TEXT NOT NULL, step INTEGER NOT NULL, answer TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL, PRIMARY KEY (code, student, step))""",
    "CREATE INDEX IF NOT EXISTS answers_by_step ON answers (code, step)",
)
_PG_WRITE_LOCK = 0x6C657373  # pg_advisory_xact_lock's key for this store: one writer at a time, all replicas


class ClassError(ValueError):
    """A request the class store refuses, with the reason in words a student or teacher can read."""


class OpenedClass(NamedTuple):
    code: str  # what students type or open with ?class=CODE
    key: str  # the presenter's secret: reads the answers and moves the class's step


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def normal_code(text: str | None) -> str:
    """A code as typed (any case, spaces or dashes between groups) -> its canonical form; ClassError if
    it cannot be a code (nothing is looked up)."""
    code = re.sub(r"[\s-]", "", str(text or "")).upper()
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        raise ClassError("that is not a class code (10 letters and digits, as the teacher showed them)")
    return code


def shown_code(code: str) -> str:
    """A code in two groups of five, as the presenter shows it."""
    return f"{code[:5]}-{code[5:]}"


class _Dialect(NamedTuple):
    """All that differs between the databases: how to connect (in autocommit mode, transactions are
    explicit), the statements that open a transaction holding the store's one write lock, and the
    driver's placeholder for the ``?`` the SQL here is written with."""

    connect: Callable[[], Any]
    begin: tuple[str, ...]
    placeholder: str


def _sqlite(path: Path) -> _Dialect:
    def connect() -> sqlite3.Connection:
        db = sqlite3.connect(path, timeout=10, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    path.parent.mkdir(parents=True, exist_ok=True)
    return _Dialect(connect, ("BEGIN IMMEDIATE",), "?")


def _postgresql(url: str) -> _Dialect:
    import psycopg  # only a PostgreSQL store needs the driver

    def connect() -> psycopg.Connection:
        try:
            return psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as err:  # the driver's text names the host; the URL may hold a password
            raise ClassError("the class database cannot be reached; ask the server's operator") from err

    # A transaction-scoped advisory lock is PostgreSQL's counterpart of SQLite's BEGIN IMMEDIATE: the
    # checks in submit and open_class (rate limit, caps) see no other replica's write in between.
    return _Dialect(connect, ("BEGIN", f"SELECT pg_advisory_xact_lock({_PG_WRITE_LOCK})"), "%s")


def _dialect(url: str) -> _Dialect:
    if url.startswith("sqlite:///"):
        return _sqlite(Path(url[len("sqlite:///"):]))
    if url.startswith(("postgresql://", "postgres://")):
        return _postgresql(url)
    raise ClassError(f"unsupported class database URL `{url.split(':', 1)[0]}:...`: "
                     "use sqlite:///PATH or postgresql://USER@HOST/DATABASE")


class ClassStore:
    """The classes and their answers, in the database at ``url``."""

    def __init__(self, url: str, *, expiry_s: float = 24 * 3600, max_classes: int = 200, max_answers: int = 5000,
                 min_interval_s: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        self._dialect = _dialect(url)
        self.expiry_s, self.max_classes, self.max_answers = expiry_s, max_classes, max_answers
        self.min_interval_s, self.clock = min_interval_s, clock
        self._lock = threading.Lock()
        with self._transaction() as run:
            for statement in _SCHEMA:
                run(statement)

    @contextmanager
    def _transaction(self) -> Iterator[Callable[..., list[tuple]]]:
        """A write transaction (committed at the end, rolled back on an error) and its ``run(sql, args)``,
        which takes SQL with ``?`` placeholders and returns the rows."""
        dialect = self._dialect
        with self._lock, closing(dialect.connect()) as db:
            for statement in dialect.begin:
                db.execute(statement)

            def run(sql: str, args: tuple = ()) -> list[tuple]:
                cursor = db.execute(sql.replace("?", dialect.placeholder), args)
                return cursor.fetchall() if cursor.description else []

            try:
                yield run
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._transaction() as run:
            return run(sql, args)

    def sweep(self) -> int:
        """Delete the classes (and their answers) opened more than ``expiry_s`` ago; how many went."""
        cutoff = self.clock() - self.expiry_s
        with self._transaction() as run:
            gone = run("SELECT code FROM classes WHERE opened < ?", (cutoff,))
            run("DELETE FROM answers WHERE code IN (SELECT code FROM classes WHERE opened < ?)", (cutoff,))
            run("DELETE FROM classes WHERE opened < ?", (cutoff,))
        return len(gone)

    def open_class(self, lesson: str) -> OpenedClass:
        """A new class for ``lesson`` at step 1; ClassError when the server has too many open."""
        if not lesson or len(lesson) > MAX_LESSON_CHARS:
            raise ClassError("a class needs the name of its lesson")
        self.sweep()
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        key = secrets.token_urlsafe(24)
        with self._transaction() as run:
            (count,), = run("SELECT COUNT(*) FROM classes")
            if count >= self.max_classes:
                raise ClassError(f"{count} classes are open on this server, the most it keeps; try again later")
            run("INSERT INTO classes VALUES (?, ?, ?, 1, 0, ?)", (code, _digest(key), lesson, self.clock()))
        return OpenedClass(code, key)

    def _alive(self, code: str) -> tuple:
        rows = self._run("SELECT key_hash, lesson, step, revealed, opened FROM classes WHERE code = ?", (code,))
        if not rows or rows[0][4] < self.clock() - self.expiry_s:
            raise ClassError("no class with that code is running (it may have ended)")
        return rows[0]

    def lesson_of(self, code: str) -> tuple[str, int, bool]:
        """(the class's lesson, its current step, whether that step is revealed); ClassError for a bad code."""
        _, lesson, step, revealed, _ = self._alive(normal_code(code))
        return lesson, int(step), bool(revealed)

    def _presenter(self, code: str, key: str) -> str:
        code = normal_code(code)
        if not hmac.compare_digest(self._alive(code)[0], _digest(key or "")):
            raise ClassError("only the class's presenter can do that")
        return code

    def set_step(self, code: str, key: str, step: int, revealed: bool = False) -> None:
        """The presenter moves the class to ``step`` (and reveals it or not)."""
        code = self._presenter(code, key)
        self._run("UPDATE classes SET step = ?, revealed = ? WHERE code = ?", (int(step), int(revealed), code))

    def submit(self, code: str, student: str, step: int, answer: str) -> None:
        """Store one student's answer to ``step`` (replacing their earlier one); ClassError when refused."""
        code = normal_code(code)
        self._alive(code)
        if not student:
            raise ClassError("no student token")
        if len(answer) > MAX_ANSWER_CHARS:
            raise ClassError(f"an answer is at most {MAX_ANSWER_CHARS} characters")
        who, now = _digest(student), self.clock()
        with self._transaction() as run:
            (last,), = run("SELECT MAX(at) FROM answers WHERE code = ? AND student = ?", (code, who))
            if last is not None and now - last < self.min_interval_s:
                raise ClassError(f"one answer per {self.min_interval_s:g} s: wait a moment and send it again")
            exists = run("SELECT 1 FROM answers WHERE code = ? AND student = ? AND step = ?", (code, who, int(step)))
            (count,), = run("SELECT COUNT(*) FROM answers WHERE code = ?", (code,))
            if not exists and count >= self.max_answers:
                raise ClassError(f"this class holds {count} answers, the most it keeps")
            run("INSERT INTO answers VALUES (?, ?, ?, ?, ?) ON CONFLICT (code, student, step) "
                "DO UPDATE SET answer = excluded.answer, at = excluded.at", (code, who, int(step), answer, now))

    def answers(self, code: str, key: str, step: int) -> list[str]:
        """The class's answers to ``step``, oldest first (presenter only)."""
        code = self._presenter(code, key)
        rows = self._run("SELECT answer FROM answers WHERE code = ? AND step = ? ORDER BY at", (code, int(step)))
        return [r[0] for r in rows]


__all__ = ["CODE_ALPHABET", "CODE_LENGTH", "MAX_ANSWER_CHARS", "ClassError", "OpenedClass", "ClassStore",
           "normal_code", "shown_code"]
