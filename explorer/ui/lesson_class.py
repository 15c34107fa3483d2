"""The Lesson page's class: the presenter's sidebar (presenter mode, start a class, its code and link) and a
student's side (?class=CODE joins; their predictions go to the class store anonymously).

Session state: ``lesson_presenting`` = (code, key) for the teacher who opened the class;
``lesson_joined`` = (code, lesson) for a student who joined it.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from explorer.logic import classroom
from explorer.logic import share as links
from explorer.logic.lessons import Lesson, Step
from explorer.ui import lesson as lesson_ui
from explorer.ui import loaders, share


def join_from_link() -> None:
    """A new ?class=CODE: join that class (its lesson becomes this session's), or a note why not."""
    text = share.incoming("class")
    if text is None:
        return
    try:
        code = classroom.normal_code(text)
        lesson, _, _ = lesson_ui.store().lesson_of(code)
    except classroom.ClassError as err:
        share.refuse("class", str(err), "the lesson on its own, self-paced")
        return
    st.session_state["lesson_joined"] = (code, lesson)
    st.session_state.pop("lesson_followed", None)


def sidebar(lesson: Lesson) -> bool:
    """Presenter mode's toggle and the class box; True in presenter mode."""
    joined = st.session_state.get("lesson_joined")
    if joined is not None:
        st.sidebar.success(f"In class {classroom.shown_code(joined[0])}: your predictions are sent anonymously "
                           "to the presenter (no name is stored).")
        share.write("class", joined[0])
        share.show_note("class", st.sidebar)
        return False
    share.show_note("class", st.sidebar)
    presenting = st.sidebar.toggle("Presenter mode", key="lesson_presenter",
                                   help="Large type, the teacher's notes, and a class your students join.")
    if not presenting:
        return False
    if st.session_state.get("lesson_presenting") is None:
        st.sidebar.button("Start a class", key="lesson_start_class", type="primary", on_click=_start, args=(lesson,))
        if st.session_state.get("lesson_class_error"):
            st.sidebar.error(st.session_state.pop("lesson_class_error"))
    opened = st.session_state.get("lesson_presenting")
    if opened is not None:
        code = opened[0]
        st.sidebar.markdown(f"Class code: <span style='font-size:1.6rem;font-family:monospace;white-space:nowrap'><b>"
                            f"{classroom.shown_code(code)}</b></span>", unsafe_allow_html=True)
        url = links.view_url(_page_url(), {"lesson": lesson.name, "class": code})
        st.sidebar.caption(f"Students open: {url}")
        st.sidebar.button("End the class", key="lesson_end_class",
                          on_click=lambda: st.session_state.pop("lesson_presenting", None))
    return True


def _start(lesson: Lesson) -> None:
    try:
        opened = lesson_ui.store().open_class(lesson.name)
    except classroom.ClassError as err:
        st.session_state["lesson_class_error"] = str(err)
        return
    st.session_state["lesson_presenting"] = tuple(opened)
    lesson_ui.store().set_step(opened.code, opened.key, st.session_state.get(lesson_ui.step_key(lesson), 1))


def _page_url() -> str | None:
    try:
        return st.context.url
    except Exception:  # noqa: BLE001 - outside a browser session
        return None


def send(step: Step, k: int, predicted: Any) -> None:
    """A student in a class sends their prediction (the latest one counts)."""
    joined = st.session_state.get("lesson_joined")
    if joined is None or step.prediction is None:
        return
    base = f"lesson_sent_{joined[0]}_{k}"
    # A callback: the answer is stored before the page reruns, not after the figures above the button
    st.button("Send my prediction to the class", key=f"{base}_button", disabled=predicted is None,
              on_click=_submit, args=(joined[0], k, predicted, base))
    if st.session_state.get(f"{base}_problem"):
        st.warning(st.session_state.pop(f"{base}_problem"))
    elif st.session_state.get(base) is not None:
        st.caption("Sent. You may change it and send again; the latest counts.")


def _submit(code: str, k: int, predicted: Any, base: str) -> None:
    try:
        lesson_ui.store().submit(code, loaders.session_token(), k, lesson_ui.encode_answer(predicted))
        st.session_state[base] = predicted
    except classroom.ClassError as err:
        st.session_state[f"{base}_problem"] = str(err)


def presented() -> tuple[str, str] | None:
    return st.session_state.get("lesson_presenting")


def class_answers(step: Step, k: int) -> list:
    """The class's predictions for step ``k`` (the presenter's view), decoded; [] outside a class."""
    opened = presented()
    if opened is None or step.prediction is None:
        return []
    try:
        return lesson_ui.decode_answers(step, lesson_ui.store().answers(opened[0], opened[1], k))
    except classroom.ClassError as err:
        st.warning(str(err))
        return []


def reveal_for_class(k: int, revealed: bool) -> None:
    opened = presented()
    if opened is not None:
        lesson_ui.store().set_step(opened[0], opened[1], k, revealed)


def follow_presenter(k: int, revealed: bool) -> None:
    """For a student in a class: every REFRESH_S, rerun the page when the presenter has moved to another step
    or revealed this one (a fragment: one small read of the class store, nothing drawn)."""
    joined = st.session_state.get("lesson_joined")
    if joined is None:
        return

    @st.fragment(run_every=lesson_ui.REFRESH_S)
    def check() -> None:
        try:
            _, step, shown = lesson_ui.store().lesson_of(joined[0])
        except classroom.ClassError:
            return
        if step != st.session_state.get("lesson_followed") or (step == k and shown and not revealed):
            st.rerun()

    check()


def class_revealed(k: int) -> bool:
    """Whether the presenter revealed step ``k`` of the class this student joined."""
    joined = st.session_state.get("lesson_joined")
    if joined is None:
        return False
    try:
        _, step, revealed = lesson_ui.store().lesson_of(joined[0])
    except classroom.ClassError:
        return False
    return revealed and step == k


__all__ = ["join_from_link", "sidebar", "send", "presented", "class_answers", "reveal_for_class", "follow_presenter",
           "class_revealed"]
