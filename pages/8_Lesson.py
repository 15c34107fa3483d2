"""Lesson: a guided lesson from lessons/*.toml, step by step; predict, then reveal the measured answer."""

import streamlit as st

from explorer.logic import share as links
from explorer.ui import lesson as lesson_ui
from explorer.ui import lesson_class
from explorer.ui import lesson_views as views

st.set_page_config(page_title="Lesson · Latent explorer", page_icon="🎓", layout="wide")
lesson_class.join_from_link()
lesson = lesson_ui.pick_lesson()
presenter = lesson_class.sidebar(lesson)
if presenter:
    st.markdown(lesson_ui.PROJECTOR_CSS, unsafe_allow_html=True)
k = lesson_ui.current_step(lesson)
step = lesson.steps[k - 1]
base = lesson_ui.step_state(lesson, k)
chart_key = f"{base}_chart"
labels = lesson_ui.option_labels(step)

st.title(lesson.title)
if k == 1 and lesson.summary:
    st.caption(lesson.summary)
lesson_ui.navigation(lesson, k)

left, right = st.columns([2, 3], gap="large")
with left:
    st.subheader(step.title)
    st.markdown(step.text)
    model = lesson_ui.step_model(step, base)
    seed = lesson_ui.step_seed(step, base)
    predicted = answer = None
    if step.prediction is not None:
        if step.prediction.kind == "map":
            views.test_image(model, step.prediction.image)
        predicted = lesson_ui.prediction_input(step, base, chart_key, labels)
        lesson_class.send(step, k, predicted)
        if st.button("Reveal", key=f"{base}_reveal", type="primary"):
            st.session_state[f"{base}_revealed"] = True
            lesson_class.reveal_for_class(k, True)
        revealed = st.session_state.get(f"{base}_revealed") or lesson_class.class_revealed(k)
        if revealed:
            answer = views.measure(step, seed)
            if predicted is None:
                st.info(f"Measured: {views.outcome(step, answer, None, labels).answer_text}. You made no prediction.")
            else:
                outcome = views.outcome(step, answer, predicted, labels)
                st.success(f"Measured: {outcome.answer_text}.\n\nHow far off: {outcome.off_text}.")
    page_url = links.view_url(step.page if step.page != "Home" else "./", step.query())
    st.markdown(f"[Open this view on its own page]({page_url})")
    lesson_class.follow_presenter(k, answer is not None)
    if presenter:
        with st.expander("Teacher's notes", expanded=True):
            st.markdown(step.notes or "_No notes for this step._")


def figure() -> None:
    others = lesson_class.class_answers(step, k)
    if lesson_class.presented() is not None and step.prediction is not None:
        st.caption(f"{len(others)} prediction{'s' if len(others) != 1 else ''} from the class so far "
                   "(dark diamonds; refreshed every few seconds).")
    views.show(step, model, chart_key, seed, predicted, answer, others, labels)


with right:
    if presenter and lesson_class.presented() is not None:
        st.fragment(figure, run_every=lesson_ui.REFRESH_S)()
    else:
        figure()
