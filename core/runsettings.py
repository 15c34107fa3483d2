"""Run settings, each declared once: its default, its range or choices, its help, its form label.

A setting is a field of ModelConfig or TrainConfig declared with ``setting(...)``, which keeps a
``Setting`` in the field's metadata. Everything else reads that table:

    ModelConfig.validate / TrainConfig.validate   Setting.problem(value), then the checks across fields
    core.runspec.RunSpec                          its fields are the settings of both configs
    python -m core train (core/__main__.py)       one flag per setting: Setting.flag, Setting.parse
    the Train page (explorer/ui/train_form.py)    widgets with the setting's label, range, step, help
    RunSpec.train_command                         the flags again, each value in Setting.text(value)

So a range is changed in one place, and tests/test_runsettings.py checks that argparse, the form
and validation agree on it.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import re
from dataclasses import dataclass
from typing import Any

_METADATA_KEY = "run_setting"


class SettingError(ValueError):
    """A value a setting does not allow, or a combination of settings that cannot run.

    ``setting`` names the field the message is about (None when no single setting is), so the
    CLI can name the flag and a form the widget without reading the message.
    """

    def __init__(self, setting: str | None, message: str):
        super().__init__(message)
        self.setting = setting

    def __reduce__(self):  # both arguments, so the error survives a trip to another process
        return type(self), (self.setting, str(self))


@dataclass(frozen=True)
class Setting:
    """One run setting. Numbers have a range [low, high] (open at low with ``low_open``; None:
    unbounded); strings a tuple of ``choices`` or a ``pattern``; a tuple of numbers (hidden
    widths) has the range on each item."""

    default: Any  # what the CLI and the Train page start from
    help: str  # one sentence, shown by --help and beside the form's widget
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple | None = None
    pattern: str | None = None  # a regular expression the whole (lower-cased) text must match
    describe: str = ""  # what is allowed, in words, where the range or choices cannot say it
    flag: str | None = ""  # the CLI flag: "" for "--" + the name with dashes; None for none
    label: str = ""  # the Train page's label for its widget
    step: float | None = None  # the widget's +/- step
    format: str | None = None  # the widget's printf-style format
    name: str = ""  # the field's name, filled in by settings_of

    @property
    def type(self) -> type:
        return type(self.default)

    @property
    def cli_flag(self) -> str | None:
        if self.flag is None:
            return None
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def allowed(self) -> str:
        """What is allowed, in words: "an integer in [1, 10000]", "a number in (0, 1]", ..."""
        if self.describe:
            return self.describe
        if self.choices is not None:
            return f"one of {self.choices}"
        noun = {int: "an integer", float: "a number", tuple: "comma-separated integers"}[self.type]
        if self.low is not None and self.high is not None:
            return f"{noun} in {'(' if self.low_open else '['}{self.text(self.low)}, {self.text(self.high)}]"
        if self.low is not None:
            return f"{noun} {'>' if self.low_open else '>='} {self.text(self.low)}"
        return noun

    def _in_range(self, number: Any) -> bool:
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            return False
        if self.type is int or self.type is tuple:
            if not isinstance(number, int):
                return False
        elif not math.isfinite(number):
            return False
        if self.low is not None and (number < self.low or (self.low_open and number == self.low)):
            return False
        return self.high is None or number <= self.high

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed, naming the setting, the value and the range; None when it is."""
        if self.choices is not None:
            return None if value in self.choices else f"{self.name}={value!r} is not one of {self.choices}"
        if self.type is bool:
            ok = isinstance(value, bool)
        elif self.type is str:
            ok = isinstance(value, str) and (self.pattern is None or re.fullmatch(self.pattern, value) is not None)
        elif self.type is tuple:
            ok = isinstance(value, tuple) and all(self._in_range(item) for item in value)
        else:
            ok = self._in_range(value)
        return None if ok else f"{self.name}={value!r} must be {self.allowed}"

    def parse(self, text: str) -> Any:
        """The argparse type: the value ``text`` spells, or ArgumentTypeError naming the text and the range."""
        try:
            if self.type is tuple:
                value: Any = tuple(int(part) for part in text.split(",") if part.strip())
            elif self.type is str:
                value = text.strip().lower()
            else:
                value = self.type(text)
        except ValueError:
            value = None
        if value is None or (self.type in (tuple, str) and self.problem(value)):
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected {self.allowed}")
        if self.problem(value):
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be {self.allowed}")
        return value

    def text(self, value: Any) -> str:
        """``value`` as the CLI reads it back (the reproduce command)."""
        if isinstance(value, tuple):
            return ",".join(str(v) for v in value)
        return f"{value:g}" if isinstance(value, float) else str(value)


def setting(default: Any, help: str, *, required: bool = False, **rules: Any) -> Any:
    """A dataclass field carrying its Setting; ``required``: the field has no default (the
    Setting's default is still what the CLI and the Train page start from)."""
    metadata = {_METADATA_KEY: Setting(default, help, **rules)}
    if required:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@functools.cache
def settings_of(cls: type) -> tuple[Setting, ...]:
    """The settings declared on dataclass ``cls``, named after their fields, in field order."""
    return tuple(dataclasses.replace(f.metadata[_METADATA_KEY], name=f.name)
                 for f in dataclasses.fields(cls) if _METADATA_KEY in f.metadata)


def setting_fields(cls: type) -> list[tuple[str, Any, dataclasses.Field]]:
    """The setting fields of dataclass ``cls`` as ``dataclasses.make_dataclass`` takes them."""
    return [(f.name, f.type, dataclasses.field(default=f.default, metadata=f.metadata))
            for f in dataclasses.fields(cls) if _METADATA_KEY in f.metadata]


def check_settings(config: Any) -> None:
    """Raise SettingError for the first field of ``config`` whose value its Setting does not allow."""
    for s in settings_of(type(config)):
        if problem := s.problem(getattr(config, s.name)):
            raise SettingError(s.name, problem)


__all__ = ["Setting", "SettingError", "check_settings", "setting", "setting_fields", "settings_of"]
