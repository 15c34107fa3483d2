"""Shareable links: reading and writing a view's state in the URL's query string (pure).

Every reader takes the raw text of one query parameter and returns ``Parsed``: the value, or
None with the reason in words (for the page's note); a bad parameter never raises.

    ?model=mnist-vae-16            every page: the sidebar's model (or its dataset)
    &z=0.5,-1.2,...                Latent sliders: the code on screen, D comma-separated floats
    &beta=4                        Beta and the tradeoff: one beta of the sweep
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlencode

MAX_TEXT = 4000  # characters: a longer parameter is refused without being read
MAX_ABS_CODE = 100.0  # |z_i| above this is no code any model here produces
DECIMALS = 3


class Parsed(NamedTuple):
    value: Any  # None when the parameter is missing or refused
    problem: str | None = None  # why it was refused, for the page's note


def shown(text: str, limit: int = 40) -> str:
    """A parameter as a note quotes it (inside backticks): short, on one line, no backticks."""
    text = " ".join(str(text).replace("`", "'").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _too_long(name: str, text: str) -> Parsed | None:
    if len(text) > MAX_TEXT:
        return Parsed(None, f"the link's `{name}` is {len(text):,} characters long, more than any valid value")
    return None


def parse_choice(name: str, text: str | None, options: Iterable[str], what: str = "model") -> Parsed:
    """One of ``options``, by its exact name."""
    if text is None or text == "":
        return Parsed(None)
    text = str(text)
    if (refused := _too_long(name, text)) is not None:
        return refused
    if text.strip() in set(options):
        return Parsed(text.strip())
    return Parsed(None, f"there is no {what} `{shown(text)}` here")


def parse_floats(name: str, text: str | None, length: int | None = None, bound: float = MAX_ABS_CODE) -> Parsed:
    """Comma-separated finite floats (a tuple), ``length`` of them when given, each within ±bound."""
    if text is None or text == "":
        return Parsed(None)
    text = str(text)
    if (refused := _too_long(name, text)) is not None:
        return refused
    parts = [p.strip() for p in text.split(",")]
    values = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            return Parsed(None, f"`{shown(part)}` in the link's `{name}` is not a number")
        if not math.isfinite(value):
            return Parsed(None, f"the link's `{name}` holds `{shown(part)}`, not a finite number")
        if abs(value) > bound:
            return Parsed(None, f"the link's `{name}` holds {value:g}, beyond ±{bound:g}")
        values.append(value)
    if length is not None and len(values) != length:
        return Parsed(None, f"the link's `{name}` has {len(values)} values; this model needs {length}")
    return Parsed(tuple(values))


def parse_number_in(name: str, text: str | None, options: Iterable[float], what: str = "value") -> Parsed:
    """A number that is one of ``options`` (compared to 1e-9); returns the matching option."""
    parsed = parse_floats(name, text, bound=math.inf)
    if parsed.value is None:
        return parsed
    if len(parsed.value) != 1:
        return Parsed(None, f"the link's `{name}` is `{shown(text)}`, not one number")
    options = list(options)
    hit = next((o for o in options if math.isclose(o, parsed.value[0], rel_tol=1e-9, abs_tol=1e-9)), None)
    if hit is None:
        listed = ", ".join(f"{o:g}" for o in options)
        return Parsed(None, f"{name} = {parsed.value[0]:g} is not a {what} ({listed})")
    return Parsed(hit)


def format_floats(values: Iterable[float], decimals: int = DECIMALS) -> str:
    """Floats for a link: rounded, without trailing zeros ("0.5,-1.25,0")."""
    out = []
    for v in values:
        text = f"{float(v):.{decimals}f}".rstrip("0").rstrip(".")
        out.append("0" if text in ("", "-0") else text)
    return ",".join(out)


def format_number(value: float) -> str:
    return f"{float(value):g}"


def view_url(base: str | None, params: Mapping[str, str]) -> str:
    """The link to a view: the page's URL (without its query) and the parameters, in order."""
    base = (base or "").split("?", 1)[0].split("#", 1)[0]
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")}, safe=",")
    return f"{base}?{query}" if query else (base or "?")


__all__ = ["MAX_TEXT", "MAX_ABS_CODE", "DECIMALS", "Parsed", "shown", "parse_choice", "parse_floats", "parse_number_in",
           "format_floats", "format_number", "view_url"]
