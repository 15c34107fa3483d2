"""The class store (explorer/logic/classroom.py) on SQLite: codes, who may read and write, rate limit, caps,
expiry. PostgreSQL is not supported yet: its URL is refused with a message."""

from __future__ import annotations

import threading

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


@pytest.fixture
def store(tmp_path, clock):
    return ClassStore(f"sqlite:///{tmp_path / 'classes.sqlite3'}", expiry_s=3600, max_classes=3, max_answers=4,
                      min_interval_s=1.0, clock=clock)


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


def test_no_name_is_stored(store, tmp_path):
    opened = store.open_class("x")
    store.submit(opened.code, "student-token-123", 1, "[0, 0]")
    raw = (tmp_path / "classes.sqlite3").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("classes.sqlite3-*"))
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


def test_only_sqlite_urls(tmp_path):
    for url in ("postgresql://db/classes", "classes.sqlite3", "mysql://x"):
        with pytest.raises(ClassError, match="unsupported class database URL"):
            ClassStore(url)
