"""Lesson files (explorer/logic/lessons.py): the shipped lesson and the README's example load against the
shipped checkpoints; every bad form of a file is refused with a message naming the step and the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from explorer.logic import lessons
from explorer.logic.lessons import Catalog, LessonError, ModelInfo

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "lessons"

CATALOG = Catalog({
    "pca-2": ModelInfo("pca", 2, "mnist", None),
    "lin-2": ModelInfo("linear-ae", 2, "mnist", None),
    "ae-2": ModelInfo("ae", 2, "mnist", None),
    "vae-2": ModelInfo("vae", 2, "mnist", 1.0),
    "vae-16": ModelInfo("vae", 16, "mnist", 1.0),
    "vae-16-b8": ModelInfo("vae", 16, "mnist", 8.0),
    "vae-16-b0": ModelInfo("vae", 16, "mnist", 0.0),
})

GOOD_STEP = '''
[[step]]
title = "One"
page = "Latent_map"
link = { model = "vae-2" }
text = "Look."
'''


def lesson_text(step: str = "", head: str = 'title = "T"\n') -> str:
    return head + GOOD_STEP + step


def refused(text: str, *fragments: str) -> str:
    with pytest.raises(LessonError) as err:
        lessons.parse_lesson(text, "t", CATALOG)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def shipped_catalog() -> Catalog:
    from core.checkpoints import list_checkpoints

    cards = [c for c in list_checkpoints(ROOT / "checkpoints") if not c.error]
    if not cards:
        pytest.skip("no shipped checkpoints in checkpoints/")
    return Catalog({c.name: ModelInfo(c.kind, c.latent_dim, c.dataset_name, c.beta) for c in cards})


def test_shipped_lesson_follows_the_argument_with_predictions_and_notes():
    lesson = lessons.load_lesson(LESSONS, "pca-to-beta-vae", shipped_catalog())
    assert lesson.title == "From PCA to the β-VAE"
    assert len(lesson.steps) >= 8
    kinds = [s.prediction.kind for s in lesson.steps if s.prediction is not None]
    assert len(kinds) >= 3 and set(kinds) == {"map", "choice", "curve"}
    assert all(s.notes for s in lesson.steps)
    pages = [s.page for s in lesson.steps]
    assert pages.index("Compare") < pages.index("Manifold") < pages.index("Beta_and_tradeoff")


def test_readme_example_is_the_file_the_tests_load():
    example = (LESSONS / "examples" / "minimal.toml").read_text()
    assert example.strip() in (LESSONS / "README.md").read_text()
    assert example.strip() in (ROOT / "README.md").read_text()
    lesson = lessons.load_lesson(LESSONS / "examples", "minimal", shipped_catalog())
    assert [s.page for s in lesson.steps] == ["Latent_map", "Latent_map"]
    assert lesson.steps[1].prediction.image == 3


def test_a_step_reads_link_values_with_the_pages_parsers():
    step = '''
[[step]]
title = "Two"
page = "Latent_sliders"
link = { model = "vae-2", z = [0.5, -1.25] }
text = "t"
[[step]]
title = "Three"
page = "Beta_and_tradeoff"
link = { model = "vae-16", beta = "8" }
text = "t"
'''
    lesson = lessons.parse_lesson(lesson_text(step), "t", CATALOG)
    assert lesson.steps[1].link["z"] == (0.5, -1.25)
    assert lesson.steps[1].query() == {"model": "vae-2", "z": "0.5,-1.25"}
    assert lesson.steps[2].query() == {"model": "vae-16", "beta": "8"}


@pytest.mark.parametrize("step, fragments", [
    ('[[step]]\ntitle = "Bad"\npage = "Nowhere"\nlink = { model = "vae-2" }\ntext = "t"\n',
     ('step 2 ("Bad")', "field `page`", "`Nowhere` is not a page")),
    ('[[step]]\ntitle = "Bad"\npage = "Home"\nlink = { model = "vae-2", colour = "red" }\ntext = "t"\n',
     ("step 2", "field `link.colour`", "unknown")),
    ('[[step]]\ntitle = "Bad"\npage = "Home"\nlink = { model = "missing-model" }\ntext = "t"\n',
     ("step 2", "field `link.model`", "no model `missing-model`")),
    ('[[step]]\ntitle = "Bad"\npage = "Home"\nlink = { }\ntext = "t"\n', ("field `link.model`", "missing")),
    ('[[step]]\ntitle = "Bad"\npage = "Latent_sliders"\nlink = { model = "vae-2", z = [1, 2, 3] }\ntext = "t"\n',
     ("field `link.z`", "3 values; this model needs 2")),
    ('[[step]]\ntitle = "Bad"\npage = "Latent_sliders"\nlink = { model = "vae-2", z = "1,nan" }\ntext = "t"\n',
     ("field `link.z`", "not a finite number")),
    ('[[step]]\ntitle = "Bad"\npage = "Beta_and_tradeoff"\nlink = { model = "vae-16", beta = 3 }\ntext = "t"\n',
     ("field `link.beta`", "beta = 3 is not a β of vae-16's sweep")),
    ('[[step]]\ntitle = "Bad"\npage = "Home"\nlink = { model = "vae-2" }\ntext = "t"\nsound = "loud"\n',
     ("field `sound`", "unknown")),
    ('[[step]]\ntitle = "Bad"\npage = "Home"\nlink = { model = "vae-2" }\n', ("field `text`", "missing")),
    ('[[step]]\ntitle = "Bad"\npage = "Home"\nlink = { model = "vae-2" }\ntext = "t"\ncontrols = ["volume"]\n',
     ("field `controls`",)),
])
def test_bad_steps_are_refused_naming_step_and_field(step, fragments):
    refused(lesson_text(step), *fragments)


def prediction_step(page: str, model: str, prediction: str) -> str:
    return (f'[[step]]\ntitle = "P"\npage = "{page}"\nlink = {{ model = "{model}" }}\ntext = "t"\n'
            f'prediction = {{ question = "Q?", {prediction} }}\n')


@pytest.mark.parametrize("page, model, prediction, fragments", [
    ("Latent_map", "vae-2", 'kind = "guess"', ("field `prediction.kind`", "`guess` is not one of map, choice, curve")),
    ("Latent_map", "vae-2", 'kind = "map", image = -1, target = "code"', ("field `prediction.image`",)),
    ("Latent_map", "vae-2", 'kind = "map", image = 1.5, target = "code"', ("field `prediction.image`",)),
    ("Latent_map", "vae-2", 'kind = "map", image = 3, target = "moon"', ("field `prediction.target`",)),
    ("Latent_map", "ae-2", 'kind = "map", image = 3, target = "posterior_samples"',
     ("field `prediction.target`", "not a VAE")),
    ("Latent_map", "vae-16", 'kind = "map", image = 3, target = "code"', ("field `link.model`", "2-D")),
    ("Home", "vae-2", 'kind = "map", image = 3, target = "code"', ("field `prediction.kind`", "Latent_map")),
    ("Latent_map", "vae-2", 'kind = "map", image = 3, target = "code", answer = [0, 0]',
     ("field `prediction.answer`", "unknown")),
    ("Home", "vae-2", 'kind = "choice", options = ["ae-2", "vae-2"], measure = "vibes"', ("field `prediction.measure`",)),
    ("Home", "vae-2", 'kind = "choice", options = ["ae-2"], measure = "most_digit_like_samples"',
     ("field `prediction.options`", "2 to 6")),
    ("Home", "vae-2", 'kind = "choice", options = ["ae-2", "nope"], measure = "most_digit_like_samples"',
     ("field `prediction.options`", "no model `nope`")),
    ("Home", "vae-2", 'kind = "choice", options = ["ae-2", "ae-2"], measure = "most_digit_like_samples"',
     ("field `prediction.options`", "twice")),
    ("Manifold", "ae-2", 'kind = "choice", options = ["vae-2", "pca-2"], measure = "deterministic_ae"',
     ("field `prediction.options`", "exactly one")),
    ("Home", "vae-2", 'kind = "choice", options = ["ae-2", "vae-16"], measure = "most_digit_like_samples"',
     ("field `prediction.options`", "latent size")),
    ("Compare", "lin-2", 'kind = "choice", options = ["0", "120"], measure = "largest_subspace_angle"',
     ("field `prediction.options`", "`120` is not an angle")),
    ("Compare", "ae-2", 'kind = "choice", options = ["0", "45"], measure = "largest_subspace_angle"',
     ("field `prediction.measure`", "linear AE")),
    ("Beta_and_tradeoff", "vae-16", 'kind = "curve", beta = 5', ("field `prediction.beta`", "5 is not a β")),
    ("Beta_and_tradeoff", "vae-16", 'kind = "curve"', ("field `prediction.beta`",)),
    ("Latent_map", "vae-2", 'kind = "curve", beta = 8', ("field `prediction.kind`", "Beta_and_tradeoff")),
])
def test_bad_predictions_are_refused_naming_the_field(page, model, prediction, fragments):
    refused(lesson_text(prediction_step(page, model, prediction)), *fragments)


def test_a_prediction_step_keeps_its_model():
    step = prediction_step("Beta_and_tradeoff", "vae-16", 'kind = "curve", beta = 8') + 'controls = ["model"]\n'
    refused(lesson_text(step), "field `controls`", "keeps its model")


def test_a_question_is_required():
    step = '[[step]]\ntitle = "P"\npage = "Beta_and_tradeoff"\nlink = { model = "vae-16" }\ntext = "t"\n' \
           'prediction = { kind = "curve", beta = 8 }\n'
    refused(lesson_text(step), "field `prediction.question`", "missing")


def test_good_predictions_of_each_kind_parse():
    steps = (prediction_step("Latent_map", "vae-2", 'kind = "map", image = 3, target = "posterior_samples"')
             + prediction_step("Manifold", "ae-2", 'kind = "choice", options = ["ae-2", "vae-2"], '
                                                   'measure = "deterministic_ae"')
             + prediction_step("Compare", "lin-2", 'kind = "choice", options = [0, 45, 90], '
                                                   'measure = "largest_subspace_angle"')
             + prediction_step("Beta_and_tradeoff", "vae-16", 'kind = "curve", beta = 8'))
    lesson = lessons.parse_lesson(lesson_text(steps), "t", CATALOG)
    kinds = [s.prediction.kind for s in lesson.steps[1:]]
    assert kinds == ["map", "choice", "choice", "curve"]
    assert lesson.steps[3].prediction.options == ("0", "45", "90")
    assert lesson.steps[4].prediction.beta == 8.0


@pytest.mark.parametrize("text, fragments", [
    ('title = "T"\n[[step]\n', ("field `(file)`", "not valid TOML")),
    ('title = "T"\n', ("field `step`", "at least one")),
    ('title = "T"\nstep = 3\n', ("field `step`",)),
    ('title = "T"\nauthor = "me"\n' + GOOD_STEP, ("field `author`", "unknown")),
    (GOOD_STEP, ("field `title`", "missing")),
    ('title = "T"\n' + "#" * (lessons.MAX_FILE_BYTES + 1) + "\n" + GOOD_STEP, ("larger than",)),
    ('title = "T"\n' + GOOD_STEP * (lessons.MAX_STEPS + 1), ("at most",)),
])
def test_bad_files_are_refused(text, fragments):
    refused(text, *fragments)


def test_a_link_cannot_name_a_file_outside_the_lessons(tmp_path):
    (tmp_path / "lessons").mkdir()
    (tmp_path / "secret.toml").write_text(lesson_text())
    (tmp_path / "lessons" / "ok.toml").write_text(lesson_text())
    assert lessons.lesson_names(tmp_path / "lessons") == ["ok"]
    for name in ("../secret", "/etc/passwd", "ok.toml", ""):
        with pytest.raises(LessonError, match="no lesson"):
            lessons.load_lesson(tmp_path / "lessons", name, CATALOG)
    assert lessons.load_lesson(tmp_path / "lessons", "ok", CATALOG).steps[0].title == "One"


def test_a_file_error_names_the_file(tmp_path):
    (tmp_path / "broken.toml").write_text(lesson_text(prediction_step("Home", "vae-2", 'kind = "curve", beta = 8')))
    with pytest.raises(LessonError) as err:
        lessons.load_lesson(tmp_path, "broken", CATALOG)
    assert re.match(r"broken\.toml: step 2 \(\"P\"\), field `prediction.kind`", str(err.value)), str(err.value)


@pytest.mark.parametrize("text, value, problem", [
    (None, None, False), ("", None, False), ("3", 3, False), ("8", 8, False), ("3.0", 3, False),
    ("0", None, True), ("9", None, True), ("2.5", None, True), ("two", None, True), ("1e999", None, True),
    ("x" * 5000, None, True),
])
def test_step_parameter(text, value, problem):
    parsed = lessons.parse_step(text, 8)
    assert parsed.value == value
    assert (parsed.problem is not None) == problem
