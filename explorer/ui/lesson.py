"""The Lesson page's parts: which lesson and step (from the sidebar or ?lesson=NAME&step=k), Back/Next,
the step's text, its prediction and Reveal, and the class (presenter and students, ?class=CODE).

The lesson files are read by explorer.logic.lessons; the figures and measured answers come from
explorer.ui.lesson_views; a class's predictions go through explorer.logic.classroom.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from explorer.logic import classroom, lessons
from explorer.logic import share as links
from explorer.logic.lessons import Lesson, Step
from explorer.ui import lesson_views as views
from explorer.ui import loaders, share

LESSONS = loaders.REPO_ROOT / "lessons"
DEFAULT_LESSON = "pca-to-beta-vae"
REFRESH_S = 2.0  # how often the presenter's view reads the class's predictions
PROJECTOR_CSS = """<style>
[data-testid="stMainBlockContainer"] p, [data-testid="stMainBlockContainer"] li { font-size: 1.35rem; }
[data-testid="stMainBlockContainer"] h1 { font-size: 2.6rem; }
</style>"""


def catalog() -> lessons.Catalog:
    return lessons.Catalog({c.name: lessons.ModelInfo(c.kind, c.latent_dim, c.dataset_name, c.beta)
                            for c in loaders.all_cards()})


@st.cache_resource(show_spinner=False)
def _store(url: str, expiry_s: float) -> classroom.ClassStore:
    return classroom.ClassStore(url, expiry_s=expiry_s)


def store() -> classroom.ClassStore:
    current = loaders.settings()
    return _store(current.classes_db, current.expiry_hours * 3600)


def pick_lesson() -> Lesson:
    """The sidebar's lesson (a new ?lesson= or a class's lesson picks it); stops the page with the file's
    problem when the lesson cannot be used."""
    names = lessons.lesson_names(LESSONS)
    linked = share.incoming("lesson")
    if linked is not None:
        if linked in names:
            st.session_state["lesson_name"] = linked
        else:
            share.refuse("lesson", f"there is no lesson `{links.shown(linked)}` here", "the first lesson")
    joined = st.session_state.get("lesson_joined")
    if joined is not None:
        st.session_state["lesson_name"] = joined[1]
    if not names:
        st.info("No lesson files in `lessons/`: see lessons/README.md for how to write one.")
        st.stop()
    default = DEFAULT_LESSON if DEFAULT_LESSON in names else names[0]
    if st.session_state.get("lesson_name") not in names:
        st.session_state["lesson_name"] = default
    name = st.sidebar.selectbox("Lesson", names, key="lesson_name", disabled=joined is not None)
    share.write("lesson", name)
    share.show_note("lesson")
    try:
        return lessons.load_lesson(LESSONS, name, catalog())
    except lessons.LessonError as err:
        st.error(f"This lesson cannot be shown: {err}")
        st.stop()


def step_key(lesson: Lesson) -> str:
    return f"lesson_step_{lesson.name}"


def current_step(lesson: Lesson) -> int:
    """The step on screen, 1-based: a new ?step=k moves to it; a student in a class follows the presenter."""
    key = step_key(lesson)
    parsed = lessons.parse_step(share.incoming("step"), len(lesson.steps))
    if parsed.problem:
        share.refuse("step", parsed.problem, "the first step")
    if parsed.value is not None:
        st.session_state[key] = parsed.value
    joined = st.session_state.get("lesson_joined")
    if joined is not None:
        try:
            _, step, _ = store().lesson_of(joined[0])
        except classroom.ClassError:
            step = None
        if step is not None and step != st.session_state.get("lesson_followed"):
            st.session_state["lesson_followed"] = st.session_state[key] = min(step, len(lesson.steps))
    k = min(max(int(st.session_state.get(key, 1)), 1), len(lesson.steps))
    st.session_state[key] = k
    share.write("step", str(k))
    share.show_note("step")
    return k


def _move(lesson: Lesson, delta: int) -> None:
    key = step_key(lesson)
    st.session_state[key] = min(max(st.session_state.get(key, 1) + delta, 1), len(lesson.steps))
    presented = st.session_state.get("lesson_presenting")
    if presented is not None:
        store().set_step(presented[0], presented[1], st.session_state[key])


def navigation(lesson: Lesson, k: int) -> None:
    """Back, "Step k of N", Next; the arrow keys press Back and Next."""
    back, middle, forward = st.columns([1, 3, 1], vertical_alignment="center")
    back.button("Back", key="lesson_back", disabled=k <= 1, on_click=_move, args=(lesson, -1), shortcut="left",
                width="stretch")
    middle.markdown(f"<div style='text-align:center;font-size:1.2rem'><b>Step {k} of {len(lesson.steps)}</b> · "
                    f"{lesson.steps[k - 1].title}</div>", unsafe_allow_html=True)
    forward.button("Next", key="lesson_next", disabled=k >= len(lesson.steps), on_click=_move, args=(lesson, 1),
                   shortcut="right", width="stretch", type="primary")


def step_state(lesson: Lesson, k: int) -> str:
    return f"lesson_{lesson.name}_{k}"


def step_model(step: Step, base: str) -> str:
    """The step's model, or the one picked when the step shows the model control."""
    if "model" not in step.controls:
        return step.model
    info = catalog().models[step.model]
    options = [n for n, m in catalog().models.items() if m.dataset == info.dataset and m.latent_dim == info.latent_dim]
    return st.selectbox("Model", options, index=options.index(step.model), key=f"{base}_model")


def step_seed(step: Step, base: str) -> int:
    if "seed" not in step.controls:
        return 0
    return int(st.number_input("Seed of the random draws", 0, 10_000, 0, key=f"{base}_seed"))


def _sync_click(base: str, chart_key: str) -> None:
    """A click on the chart (read from its state at the top of the run) becomes the prediction's inputs."""
    from explorer.logic.lesson_figures import clicked_point

    point = clicked_point(st.session_state.get(chart_key))
    if point is not None and point != st.session_state.get(f"{base}_last_click"):
        st.session_state[f"{base}_last_click"] = point
        st.session_state[f"{base}_x"], st.session_state[f"{base}_y"] = round(point[0], 3), round(point[1], 3)


def prediction_input(step: Step, base: str, chart_key: str, labels: dict[str, str]) -> Any:
    """The student's prediction: a point ((x, y), clicked on the chart or typed) or an option; None until given."""
    p = step.prediction
    st.markdown(f"**Predict:** {p.question}")
    if p.kind == "choice":
        return st.radio("Your answer", p.options, index=None, key=f"{base}_choice", format_func=lambda o: labels[o],
                        horizontal=True)
    _sync_click(base, chart_key)
    names = ("z0", "z1") if p.kind == "map" else ("rate (KL, nats)", "distortion (nats)")
    st.caption("Click on the chart where you expect it, or type the coordinates.")
    left, right = st.columns(2)
    x = left.number_input(names[0], value=None, step=0.1, format="%.3f", key=f"{base}_x")
    y = right.number_input(names[1], value=None, step=0.5 if p.kind == "curve" else 0.1, format="%.3f", key=f"{base}_y")
    return None if x is None or y is None else (float(x), float(y))


def option_labels(step: Step) -> dict[str, str]:
    """How options are shown: grids to tell apart are "Grid A", "Grid B" (their names would give it away)."""
    p = step.prediction
    if p is None or p.kind != "choice":
        return {}
    if p.measure == "deterministic_ae":
        return {o: f"Grid {chr(65 + i)}" for i, o in enumerate(p.options)}
    if p.measure == "largest_subspace_angle":
        return {o: f"about {o}°" for o in p.options}
    return {o: views.card_named(o).display_name for o in p.options}


def encode_answer(predicted: Any) -> str:
    return json.dumps(predicted if isinstance(predicted, str) else [round(v, 4) for v in predicted])


def decode_answers(step: Step, answers: list[str]) -> list:
    """The class's stored answers that fit the step's prediction (anything else is skipped)."""
    out = []
    for text in answers:
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if step.prediction.kind == "choice" and isinstance(value, str):
            out.append(value)
        elif isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
            out.append(tuple(float(v) for v in value))
    return out


__all__ = ["LESSONS", "DEFAULT_LESSON", "REFRESH_S", "PROJECTOR_CSS", "catalog", "store", "pick_lesson",
           "current_step", "navigation", "step_state", "step_model", "step_seed", "prediction_input",
           "option_labels", "encode_answer", "decode_answers"]
