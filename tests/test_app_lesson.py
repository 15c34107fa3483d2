"""AppTest of the Lesson page: every step of the shipped lesson opens, Back and Next, ?lesson=&step= links,
each prediction's Reveal shows the answer measured on the shipped models, and a class (presenter + student)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from streamlit.testing.v1 import AppTest

from explorer.ui import loaders

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "8_Lesson.py")
LESSON = "pca-to-beta-vae"
TIMEOUT = 300
NEEDED = ("mnist-pca-2", "mnist-linear-ae-2", "mnist-ae-2", "mnist-vae-2", "mnist-vae-16", "mnist-vae-16-beta8")


@pytest.fixture(autouse=True)
def _setup(monkeypatch, tmp_path):
    have = {p.stem for p in loaders.shipped_dir().glob("*.json")}
    missing = [n for n in NEEDED if n not in have]
    if missing:
        pytest.skip(f"checkpoint(s) {', '.join(missing)} not in {loaders.shipped_dir()}")
    monkeypatch.setenv("LATENT_EXPLORER_CLASSES_DB", f"sqlite:///{tmp_path / 'classes.sqlite3'}")
    monkeypatch.setenv("LATENT_EXPLORER_WORKSPACES", str(tmp_path / "workspaces"))


def page(**query: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    assert_ok(at)
    return at


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def step_shown(at: AppTest) -> tuple[int, int]:
    text = next(m.value for m in at.markdown if "Step " in m.value and " of " in m.value)
    k, n = re.search(r"Step (\d+) of (\d+)", text).groups()
    return int(k), int(n)


def test_every_step_opens_with_back_and_next():
    at = page()
    assert step_shown(at) == (1, 8)
    assert at.button(key="lesson_back").disabled
    for k in range(2, 9):
        at.button(key="lesson_next").click().run()
        assert_ok(at)
        assert step_shown(at) == (k, 8)
        assert at.query_params["step"] in (str(k), [str(k)])
    assert at.button(key="lesson_next").disabled
    at.button(key="lesson_back").click().run()
    assert step_shown(at) == (7, 8)
    assert not at.button(key="lesson_back").disabled


def test_a_step_link_opens_that_step():
    at = page(lesson=LESSON, step="7")
    assert step_shown(at) == (7, 8)
    assert any("rate-distortion" in m.value.lower() or "β" in m.value for m in at.markdown)


@pytest.mark.parametrize("query, note", [
    ({"lesson": "../secret"}, "no lesson `../secret`"),
    ({"step": "99"}, "step 99 is not a step of this lesson (1 to 8)"),
    ({"step": "two"}, "`two` in the link's `step` is not a number"),
    ({"class": "NOTACODE"}, "not a class code"),
    ({"class": "ABCDEFGHJK"}, "no class with that code"),
])
def test_bad_links_are_noted(query, note):
    at = page(**query)
    assert step_shown(at)[0] == 1
    warnings = [w.value for w in at.warning] + [w.value for w in at.sidebar.warning]
    assert any(note in w for w in warnings), warnings


def predict_and_reveal(k: int, answer) -> AppTest:
    at = page(lesson=LESSON, step=str(k))
    base = f"lesson_{LESSON}_{k}"
    if isinstance(answer, str):
        at.radio(key=base + "_choice").set_value(answer).run()
    else:
        at.number_input(key=base + "_x").set_value(answer[0])
        at.number_input(key=base + "_y").set_value(answer[1]).run()
    assert not at.success
    at.button(key=base + "_reveal").click().run()
    assert_ok(at)
    return at


def test_map_prediction_reveals_the_posterior_draws_of_the_image():
    at = predict_and_reveal(4, (0.0, 0.0))
    codes = load_file(str(ROOT / "checkpoints" / "mnist-vae-2.codes.safetensors"))
    mean, sigma = codes["means"][7].astype(float), np.exp(0.5 * codes["logvars"][7].astype(float))
    text = at.success[0].value
    assert f"centre on ({mean[0]:.2f}, {mean[1]:.2f})" in text
    assert f"{np.linalg.norm(mean / sigma):.1f} σ from their centre" in text


def test_curve_prediction_reveals_the_cards_rate_and_distortion():
    card = json.loads((ROOT / "checkpoints" / "mnist-vae-16-beta8.json").read_text())
    at = predict_and_reveal(7, (10.0, 140.0))
    text = at.success[0].value
    assert f"rate {card['metrics']['kl']:.2f} nats, distortion {card['metrics']['reconstruction']:.1f} nats" in text
    assert f"{10.0 - card['metrics']['kl']:+.2f} nats of rate" in text


def test_choice_predictions_reveal_measured_answers():
    at = predict_and_reveal(2, "90")
    text = at.success[0].value
    angle = float(re.search(r"largest principal angle measures ([\d.]+)°", text).group(1))
    assert "you chose about 90°" in text and angle < 15  # a linear AE spans PCA's subspace (Baldi & Hornik)
    at = predict_and_reveal(3, "mnist-ae-2")
    assert "Grid B" in at.success[0].value and "How far off: right" in at.success[0].value
    at = predict_and_reveal(5, "mnist-ae-2")
    text = at.success[0].value
    bits = {m: (float(a), float(b)) for m, a, b in
            re.findall(r"(mnist-\w+-2): spread over the digits ([\d.]+) ± ([\d.]+) bits", text)}
    assert set(bits) == {"mnist-ae-2", "mnist-vae-2"}, text
    # The VAE's prior samples spread over more digits, by more than the spread over draws.
    (ae, ae_sd), (vae, vae_sd) = bits["mnist-ae-2"], bits["mnist-vae-2"]
    assert vae - ae > 3 * (ae_sd + vae_sd) and "the measured answer is **mnist-vae-2" in text
    from core.judge import JUDGE_PATH
    if JUDGE_PATH.with_suffix(".safetensors").exists():
        assert "recognised as a digit by the judge" in text and "the judge's labels" in text


def test_a_class_sees_its_students_predictions():
    teacher = page(lesson=LESSON, step="4")
    teacher.sidebar.toggle(key="lesson_presenter").set_value(True).run()
    assert any("Teacher's notes" in e.label for e in teacher.expander)
    teacher.sidebar.button(key="lesson_start_class").click().run()
    assert_ok(teacher)
    code, _ = teacher.session_state["lesson_presenting"]
    assert any(code[:5] in m.value for m in teacher.sidebar.markdown)
    assert any("0 predictions from the class" in c.value for c in teacher.caption)

    students = []
    for i, point in enumerate([(0.5, 0.5), (1.0, -0.5)]):
        student = page(lesson=LESSON, **{"class": code})
        assert step_shown(student)[0] == 4  # follows the presenter's step
        base = f"lesson_{LESSON}_4"
        student.number_input(key=base + "_x").set_value(point[0])
        student.number_input(key=base + "_y").set_value(point[1]).run()
        student.button(key=f"lesson_sent_{code}_4_button").click().run()
        assert_ok(student)
        assert not student.warning, [w.value for w in student.warning]
        students.append(student)
    teacher.run()
    assert any("2 predictions from the class" in c.value for c in teacher.caption)
    teacher.button(key=f"lesson_{LESSON}_4_reveal").click().run()
    students[0].run()
    assert students[0].success, "the presenter's Reveal reveals the step for the class"
    assert not any("Teacher's notes" in e.label for e in students[0].expander)
