"""A class running a lesson: a teacher opens it and gets a short code, students send their predictions.

The store keeps no names: a student is a random token of their browser session, stored only as
its SHA-256. A student may write into a class whose code they were given, one answer per step
(the latest counts), no faster than ``min_interval_s``; only the presenter, who holds the class's
secret key, reads the answers. Each class holds at most ``max_answers`` answers of at most
``MAX_ANSWER_CHARS`` characters, at most ``max_classes`` classes are open, and a class expires
with the workspaces (``expiry_s`` after it opened).

One small interface over a database URL: ``sqlite:///PATH`` (the default, under the operator's
data root; stdlib sqlite3). Nothing here imports Streamlit.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import NamedTuple

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud and typed on phones
CODE_LENGTH = 10  # 31**10 ~ 8e14 codes: with the rate limit, not guessable in practice
MAX_ANSWER_CHARS = 200
MAX_LESSON_CHARS = 100

_SCHEMA = """
CREATE TABLE IF NOT EXISTS classes (
    code TEXT PRIMARY KEY, key_hash TEXT NOT NULL, lesson TEXT NOT NULL, step INTEGER NOT NULL,
    revealed INTEGER NOT NULL DEFAULT 0, opened REAL NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    code TEXT NOT NULL, student TEXT NOT NULL, step INTEGER NOT NULL, answer TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (code, student, step));
CREATE INDEX IF NOT EXISTS answers_by_step ON answers (code, step);
"""


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


class ClassStore:
    """The classes and their answers, in the database at ``url``."""

    def __init__(self, url: str, *, expiry_s: float = 24 * 3600, max_classes: int = 200, max_answers: int = 5000,
                 min_interval_s: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        if not url.startswith("sqlite:///"):
            raise ClassError(f"unsupported class database URL `{url.split(':', 1)[0]}:...`: "
                             "use sqlite:///PATH")
        self.path = Path(url[len("sqlite:///"):])
        self.expiry_s, self.max_classes, self.max_answers = expiry_s, max_classes, max_answers
        self.min_interval_s, self.clock = min_interval_s, clock
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock, closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                rows = db.execute(sql, args).fetchall()
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return rows

    def sweep(self) -> int:
        """Delete the classes (and their answers) opened more than ``expiry_s`` ago; how many went."""
        cutoff = self.clock() - self.expiry_s
        with self._lock, closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            gone = db.execute("SELECT code FROM classes WHERE opened < ?", (cutoff,)).fetchall()
            db.execute("DELETE FROM answers WHERE code IN (SELECT code FROM classes WHERE opened < ?)", (cutoff,))
            db.execute("DELETE FROM classes WHERE opened < ?", (cutoff,))
            db.execute("COMMIT")
        return len(gone)

    def open_class(self, lesson: str) -> OpenedClass:
        """A new class for ``lesson`` at step 1; ClassError when the server has too many open."""
        if not lesson or len(lesson) > MAX_LESSON_CHARS:
            raise ClassError("a class needs the name of its lesson")
        self.sweep()
        (count,), = self._run("SELECT COUNT(*) FROM classes")
        if count >= self.max_classes:
            raise ClassError(f"{count} classes are open on this server, the most it keeps; try again later")
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        key = secrets.token_urlsafe(24)
        self._run("INSERT INTO classes VALUES (?, ?, ?, 1, 0, ?)", (code, _digest(key), lesson, self.clock()))
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
        with self._lock, closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                (last,), = db.execute("SELECT MAX(at) FROM answers WHERE code = ? AND student = ?", (code, who))
                if last is not None and now - last < self.min_interval_s:
                    raise ClassError(f"one answer per {self.min_interval_s:g} s: wait a moment and send it again")
                exists = db.execute("SELECT 1 FROM answers WHERE code = ? AND student = ? AND step = ?",
                                    (code, who, int(step))).fetchone()
                (count,), = db.execute("SELECT COUNT(*) FROM answers WHERE code = ?", (code,))
                if not exists and count >= self.max_answers:
                    raise ClassError(f"this class holds {count} answers, the most it keeps")
                db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?)", (code, who, int(step), answer, now))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def answers(self, code: str, key: str, step: int) -> list[str]:
        """The class's answers to ``step``, oldest first (presenter only)."""
        code = self._presenter(code, key)
        rows = self._run("SELECT answer FROM answers WHERE code = ? AND step = ? ORDER BY at", (code, int(step)))
        return [r[0] for r in rows]


__all__ = ["CODE_ALPHABET", "CODE_LENGTH", "MAX_ANSWER_CHARS", "ClassError", "OpenedClass", "ClassStore",
           "normal_code", "shown_code"]
