"""Lessons: ordered steps read from a TOML file under lessons/ (pure; the format is in lessons/README.md).

A step names a page and its state with the deep-link parameters the pages already read
(``model``, ``z``, ``beta``: parsed by explorer.logic.share, the same readers a link goes
through), a text, the controls shown, the teacher's notes and optionally a prediction. A file
is checked against the models this server has (``Catalog``); anything wrong is a
``LessonError`` whose message names the file, the step and the field.

The answer to a prediction is never in the file: the file says *what* to measure (which test
image, which β, which models to choose among) and the Lesson page measures it on the models.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from explorer.logic import share as links

MAX_FILE_BYTES = 200_000  # a lesson is text a teacher writes; a larger file is refused unread
MAX_STEPS = 60
MAX_TEXT = 6000  # characters of a step's text or notes

# The views the Lesson page draws beside a step's text, by the page they come from (its URL path).
VIEWS = {
    "Home": "samples decoded from the prior",
    "Latent_map": "the encoded test set",
    "Manifold": "a grid of decoded codes",
    "Latent_sliders": "the image decoded from one code",
    "Interpolation": "the decoded path between two test images",
    "Beta_and_tradeoff": "the rate-distortion curve of a β sweep",
    "Compare": "the principal angles between a linear AE's subspace and PCA's",
}
LINK_PARAMETERS = ("model", "z", "beta")
CONTROLS = {  # what a step may show besides the figure
    "model": "a picker among the models of the step's dataset and latent size",
    "seed": "the random seed of the samples drawn",
}
PREDICTION_KINDS = ("map", "choice", "curve")
MAP_TARGETS = ("code", "posterior_samples")  # where a test image encodes; where q(z|x)'s samples fall
CHOICE_MEASURES = {
    "largest_subspace_angle": "the option nearest the largest principal angle (degrees) between the "
                              "linear AE's decoder subspace and PCA's",
    "deterministic_ae": "the option whose model is the plain (deterministic) autoencoder",
    "most_digit_like_samples": "the option whose prior samples lie nearest the test images",
    "most_digits_covered": "the option whose prior samples spread over the most digits (nearest test images' labels)",
}
SAMPLE_MEASURES = ("most_digit_like_samples", "most_digits_covered")


class LessonError(ValueError):
    """A lesson file that cannot be used, with the file, the step and the field in its message."""


class ModelInfo(NamedTuple):
    kind: str  # "pca", "linear-ae", "ae", "vae"
    latent_dim: int
    dataset: str
    beta: float | None


@dataclass(frozen=True)
class Catalog:
    """The models a lesson may name: {checkpoint name: ModelInfo}."""

    models: Mapping[str, ModelInfo]

    def sweep_betas(self, model: str) -> list[float]:
        """The betas of the VAEs sharing ``model``'s dataset and latent size (its β sweep)."""
        info = self.models[model]
        return sorted({m.beta for m in self.models.values() if m.kind == "vae" and m.beta is not None
                       and m.dataset == info.dataset and m.latent_dim == info.latent_dim})


@dataclass(frozen=True)
class Prediction:
    kind: str  # one of PREDICTION_KINDS
    question: str
    image: int | None = None  # map: the test image
    target: str | None = None  # map: one of MAP_TARGETS
    options: tuple[str, ...] = ()  # choice: the options (model names, or numbers for an angle)
    measure: str | None = None  # choice: one of CHOICE_MEASURES
    beta: float | None = None  # curve: the β to place on the curve


@dataclass(frozen=True)
class Step:
    title: str
    page: str  # a key of VIEWS
    link: Mapping[str, Any]  # parsed: model (str), z (tuple of floats), beta (float)
    text: str
    controls: tuple[str, ...] = ()
    notes: str = ""
    prediction: Prediction | None = None

    @property
    def model(self) -> str:
        return self.link["model"]

    def query(self) -> dict[str, str]:
        """The step's state as the pages' link parameters (strings, as in a URL)."""
        out = {"model": self.model}
        if "z" in self.link:
            out["z"] = links.format_floats(self.link["z"])
        if "beta" in self.link:
            out["beta"] = links.format_number(self.link["beta"])
        return out


@dataclass(frozen=True)
class Lesson:
    name: str  # the file's stem: ?lesson=NAME
    title: str
    summary: str
    steps: tuple[Step, ...] = field(default_factory=tuple)


class _Where:
    """Builds the messages: ``lesson.toml: step 3 ("The AE's holes"), field `prediction.kind`: ...``."""

    def __init__(self, source: str, step: int | None = None, title: str | None = None) -> None:
        self.source, self.step, self.title = source, step, title

    def error(self, fld: str, problem: str) -> LessonError:
        where = self.source
        if self.step is not None:
            where += f": step {self.step}" + (f' ("{links.shown(self.title)}")' if self.title else "")
        return LessonError(f"{where}, field `{fld}`: {problem}")


def _text(raw: Mapping, key: str, where: _Where, required: bool = True, limit: int = MAX_TEXT,
          prefix: str = "") -> str:
    value, fld = raw.get(key), prefix + key
    if value is None:
        if required:
            raise where.error(fld, "missing")
        return ""
    if not isinstance(value, str):
        raise where.error(fld, f"must be text, not {type(value).__name__}")
    if len(value) > limit:
        raise where.error(fld, f"is {len(value):,} characters long; at most {limit:,}")
    if required and not value.strip():
        raise where.error(fld, "is empty")
    return value.strip()


def _unknown(raw: Mapping, known: tuple[str, ...] | set[str], where: _Where, prefix: str = "") -> None:
    extra = sorted(set(raw) - set(known))
    if extra:
        raise where.error(prefix + extra[0], f"unknown; known fields: {', '.join(sorted(known))}")


def _link(raw: Any, where: _Where, catalog: Catalog) -> dict[str, Any]:
    """The step's deep-link state, read by the pages' own link parsers."""
    if not isinstance(raw, Mapping):
        raise where.error("link", "must be a table such as { model = \"mnist-vae-2\" }")
    _unknown(raw, LINK_PARAMETERS, where, "link.")
    text = {k: v if isinstance(v, str) else _as_text(v) for k, v in raw.items()}
    model = links.parse_choice("model", text.get("model"), catalog.models)
    if model.value is None:
        raise where.error("link.model", model.problem or "missing: every step names its model")
    out: dict[str, Any] = {"model": model.value}
    info = catalog.models[model.value]
    if "z" in text:
        z = links.parse_floats("z", text["z"], length=info.latent_dim)
        if z.value is None:
            raise where.error("link.z", z.problem or "empty")
        out["z"] = z.value
    if "beta" in text:
        beta = links.parse_number_in("beta", text["beta"], catalog.sweep_betas(model.value),
                                     what=f"β of {model.value}'s sweep")
        if beta.value is None:
            raise where.error("link.beta", beta.problem or "empty")
        out["beta"] = beta.value
    return out


def _as_text(value: Any) -> str:
    """A TOML number or list as the text a link would carry (z = [0.5, -1] -> "0.5,-1")."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return ",".join(_as_text(v) for v in value)
    return str(value)


def _prediction(raw: Any, page: str, model: str, where: _Where, catalog: Catalog) -> Prediction:
    if not isinstance(raw, Mapping):
        raise where.error("prediction", "must be a table")
    kind = raw.get("kind")
    if kind not in PREDICTION_KINDS:
        raise where.error("prediction.kind", f"`{links.shown(str(kind))}` is not one of {', '.join(PREDICTION_KINDS)}")
    question = _text(raw, "question", where, limit=500, prefix="prediction.")
    fields = {"map": ("image", "target"), "choice": ("options", "measure"), "curve": ("beta",)}[kind]
    _unknown(raw, ("kind", "question", *fields), where, "prediction.")
    if kind == "map":
        return _map_prediction(raw, question, page, model, where, catalog)
    if kind == "choice":
        return _choice_prediction(raw, question, page, model, where, catalog)
    if page != "Beta_and_tradeoff":
        raise where.error("prediction.kind", "a point on the curve needs page = \"Beta_and_tradeoff\"")
    beta = links.parse_number_in("beta", _as_text(raw.get("beta", "")), catalog.sweep_betas(model),
                                 what=f"β of {model}'s sweep")
    if beta.value is None:
        raise where.error("prediction.beta", beta.problem or "missing: which β to place on the curve")
    return Prediction("curve", question, beta=beta.value)


def _map_prediction(raw: Mapping, question: str, page: str, model: str, where: _Where, catalog: Catalog) -> Prediction:
    if page != "Latent_map":
        raise where.error("prediction.kind", "a click on the map needs page = \"Latent_map\"")
    image = raw.get("image")
    if isinstance(image, bool) or not isinstance(image, int) or image < 0:
        raise where.error("prediction.image", "must be the index of a test image (an integer >= 0)")
    target = raw.get("target")
    if target not in MAP_TARGETS:
        raise where.error("prediction.target", f"`{links.shown(str(target))}` is not one of {', '.join(MAP_TARGETS)}")
    if target == "posterior_samples" and catalog.models[model].kind != "vae":
        raise where.error("prediction.target", f"{model} is not a VAE: it has no q(z|x) to sample")
    if catalog.models[model].latent_dim != 2:
        raise where.error("link.model", f"a click on the map needs a 2-D model; {model} is "
                                        f"{catalog.models[model].latent_dim}-D")
    return Prediction("map", question, image=image, target=target)


def _choice_prediction(raw: Mapping, question: str, page: str, model: str, where: _Where,
                       catalog: Catalog) -> Prediction:
    measure = raw.get("measure")
    if measure not in CHOICE_MEASURES:
        raise where.error("prediction.measure", f"`{links.shown(str(measure))}` is not one of "
                                                f"{', '.join(CHOICE_MEASURES)}")
    options = raw.get("options")
    if not isinstance(options, list) or not 2 <= len(options) <= 6:
        raise where.error("prediction.options", "must be a list of 2 to 6 options")
    texts = tuple(_as_text(o) for o in options)
    if len(set(texts)) != len(texts):
        raise where.error("prediction.options", "holds the same option twice")
    if measure == "largest_subspace_angle":
        if page != "Compare" or catalog.models[model].kind != "linear-ae":
            raise where.error("prediction.measure", "the subspace angle needs page = \"Compare\" and a linear AE")
        for text in texts:
            number = links.parse_floats("options", text, length=1, bound=90.0)
            if number.value is None:
                raise where.error("prediction.options", f"`{links.shown(text)}` is not an angle in degrees (0 to 90)")
        return Prediction("choice", question, options=texts, measure=measure)
    if page not in ("Home", "Manifold") or (measure in SAMPLE_MEASURES and page != "Home"):
        raise where.error("prediction.measure", "judging samples needs page = \"Home\"; telling grids apart "
                                                "page = \"Manifold\" (or \"Home\")")
    for text in texts:
        if text not in catalog.models:
            raise where.error("prediction.options", f"there is no model `{links.shown(text)}` here")
    if measure == "deterministic_ae" and sum(catalog.models[t].kind == "ae" for t in texts) != 1:
        raise where.error("prediction.options", "exactly one option must be a plain autoencoder (kind ae)")
    if len({catalog.models[t].latent_dim for t in texts}) != 1:
        raise where.error("prediction.options", "the models to choose among must share their latent size")
    return Prediction("choice", question, options=texts, measure=measure)


def _step(raw: Any, number: int, source: str, catalog: Catalog) -> Step:
    if not isinstance(raw, Mapping):
        raise _Where(source, number).error("step", "must be a table ([[step]])")
    title = raw.get("title") if isinstance(raw.get("title"), str) else None
    where = _Where(source, number, title)
    _unknown(raw, ("title", "page", "link", "text", "controls", "notes", "prediction"), where)
    title = _text(raw, "title", where, limit=120)
    page = raw.get("page")
    if page not in VIEWS:
        raise where.error("page", f"`{links.shown(str(page))}` is not a page a lesson can show "
                                  f"({', '.join(VIEWS)})")
    link = _link(raw.get("link", {}), where, catalog)
    controls = raw.get("controls", [])
    if not isinstance(controls, list) or any(c not in CONTROLS for c in controls):
        raise where.error("controls", f"must be a list of {', '.join(CONTROLS)}")
    prediction = None
    if "prediction" in raw:
        if "model" in controls:
            raise where.error("controls", "a step with a prediction keeps its model: leave out \"model\"")
        prediction = _prediction(raw["prediction"], page, link["model"], where, catalog)
    return Step(title, page, link, _text(raw, "text", where), tuple(controls), _text(raw, "notes", where, False),
                prediction)


def parse_lesson(text: str, name: str, catalog: Catalog, source: str | None = None) -> Lesson:
    """A lesson from its TOML text; ``name`` is what ``?lesson=`` calls it. Raises LessonError."""
    source = source or f"{name}.toml"
    where = _Where(source)
    if len(text.encode()) > MAX_FILE_BYTES:
        raise where.error("(file)", f"larger than {MAX_FILE_BYTES:,} bytes")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise where.error("(file)", f"not valid TOML: {err}") from None
    _unknown(raw, ("title", "summary", "step"), where)
    title = _text(raw, "title", where, limit=200)
    steps = raw.get("step")
    if not isinstance(steps, list) or not steps:
        raise where.error("step", "a lesson needs at least one [[step]]")
    if len(steps) > MAX_STEPS:
        raise where.error("step", f"{len(steps)} steps; at most {MAX_STEPS}")
    parsed = tuple(_step(s, k, source, catalog) for k, s in enumerate(steps, start=1))
    return Lesson(name, title, _text(raw, "summary", where, False), parsed)


def lesson_names(folder: Path) -> list[str]:
    """The lessons in ``folder``: the stems of its regular *.toml files, sorted."""
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.toml") if p.is_file() and not p.is_symlink())


def load_lesson(folder: Path, name: str, catalog: Catalog) -> Lesson:
    """``folder/NAME.toml``; ``name`` must be one of lesson_names(folder) (a link cannot name another file)."""
    if name not in lesson_names(folder):
        raise LessonError(f"there is no lesson `{links.shown(name)}` here")
    path = folder / f"{name}.toml"
    if path.stat().st_size > MAX_FILE_BYTES:
        raise _Where(path.name).error("(file)", f"larger than {MAX_FILE_BYTES:,} bytes")
    return parse_lesson(path.read_text(encoding="utf-8"), name, catalog, source=path.name)


def parse_step(text: str | None, count: int) -> links.Parsed:
    """``?step=k``: an integer from 1 to ``count``."""
    if text is None or text == "":
        return links.Parsed(None)
    parsed = links.parse_floats("step", text, length=1, bound=math.inf)
    if parsed.value is None:
        return parsed
    value = parsed.value[0]
    if value != int(value) or not 1 <= value <= count:
        return links.Parsed(None, f"step {links.shown(text)} is not a step of this lesson (1 to {count})")
    return links.Parsed(int(value))


__all__ = ["MAX_FILE_BYTES", "VIEWS", "LINK_PARAMETERS", "CONTROLS", "PREDICTION_KINDS", "MAP_TARGETS",
           "CHOICE_MEASURES", "SAMPLE_MEASURES", "LessonError", "ModelInfo", "Catalog", "Prediction", "Step", "Lesson", "parse_lesson",
           "lesson_names", "load_lesson", "parse_step"]
