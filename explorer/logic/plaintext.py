"""Text a visitor chose (upload names, class names, folder names, model titles), shown as
plain text wherever it appears: never a link, an image, markup or a path.

    file_name(name)     an uploaded file's name as a short, safe file name (no folders, no
                        control characters or NUL, at most MAX_NAME_CHARS)
    markdown_text(s)    ``s`` for Streamlit's Markdown (st.markdown, st.error, captions):
                        each character that can open Markdown backslash-escaped (CommonMark),
                        so ``[x](url)``, ``![i](src)``, ``**``, ``$math$``, ``http://`` and
                        ``www.`` links, ``:emoji:`` stay literal
    plotly_text(s)      ``s`` for a Plotly label (legend, hover, annotation, title): HTML
                        escaped, and ``%`` too, which hover templates would fill in
"""

from __future__ import annotations

import html
import re

MAX_NAME_CHARS = 64  # the longest upload name kept (the suffix included)
_UNSAFE_NAME = re.compile(r"[^\w.\- ]+")  # \w: letters and digits of any script, and "_"
_MARKDOWN_ACTIVE = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:&=^\"'])")  # commas, ?, ;, /, @, % are inert


def file_name(name: object, default: str = "upload") -> str:
    """``name`` as a file name to keep and to show: its last path part, runs of anything but
    letters, digits, ``_ . - `` and space replaced by ``_``, at most ``MAX_NAME_CHARS``
    characters with the suffix kept; ``default`` when nothing is left (or it is not a string)."""
    text = name if isinstance(name, str) else ""
    base = re.split(r"[\\/]", text)[-1]
    clean = _UNSAFE_NAME.sub("_", base).strip(" .")
    if not clean:
        return default
    stem, dot, suffix = clean.rpartition(".")
    suffix = f".{suffix[:10]}" if dot and stem else ""
    stem = stem if dot and stem else clean
    return stem[:MAX_NAME_CHARS - len(suffix)].rstrip(" .") + suffix or default


def markdown_text(text: object) -> str:
    """``text`` that Streamlit's Markdown shows exactly as written."""
    return _MARKDOWN_ACTIVE.sub(r"\\\1", str(text)).replace("\n", " ")


def plotly_text(value: object) -> str:
    """``value`` as plain text for a Plotly label: Plotly renders a subset of HTML there (links,
    styles) and fills ``%{...}`` in hover templates, so both are escaped."""
    return html.escape(str(value), quote=False).replace("%", "&#37;")


__all__ = ["MAX_NAME_CHARS", "file_name", "markdown_text", "plotly_text"]
