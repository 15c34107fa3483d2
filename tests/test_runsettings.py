"""The run settings have one range each: the Train page's widgets, the CLI's flags and the configs'
validation accept and refuse the same values, and the reproduce command rebuilds the same run."""

from __future__ import annotations

import argparse
import dataclasses
import copy
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import __main__ as cli
from core.models import ModelConfig
from core.pretrain.specs import SPECS
from core.runsettings import SettingError, settings_of
from core.runspec import RUN_SETTINGS, RunSpec
from core.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (1, 28, 28)
MODEL_FIELDS = {s.name for s in settings_of(ModelConfig)}


def train_action(flag: str) -> argparse.Action:
    train = cli.build_parser()._subparsers._group_actions[0].choices["train"]
    return next(a for a in train._actions if flag in a.option_strings)


def argparse_accepts(flag: str, value) -> bool:
    action = train_action(flag)
    if action.choices is not None:
        return value in action.choices
    try:
        action.type(repr(value) if isinstance(value, float) else str(value))
    except argparse.ArgumentTypeError:
        return False
    return True


def validation_accepts(name: str, value) -> bool:
    # a VAE (beta counts) with a validation split (any patience may run)
    spec = RunSpec(**{"kind": "vae", "latent_dim": 2, "validation_fraction": 0.1, name: value})
    try:
        spec.model_config(SHAPE).validate() if name in MODEL_FIELDS else spec.train_config().validate()
    except SettingError as err:
        assert err.setting == name, err  # the error names the setting, so the CLI can name its flag
        return False
    return True


def outside(setting, bound: str, value: float) -> float:
    """A value just past ``value``, the setting's low or high bound."""
    step = 1 if setting.type is int else max(abs(value) * 1e-3, 1e-3)
    return value + (step if bound == "high" else -step)


def check_range(setting, low, high) -> None:
    """[low, high] (None: unbounded) is what argparse and validation accept for ``setting``."""
    flag, name = setting.cli_flag, setting.name
    low, high = (None if v is None else setting.type(v) for v in (low, high))  # a widget's bounds come as floats
    for bound, value in (("low", low), ("high", high)):
        if value is None:
            continue
        accepted = not (bound == "low" and setting.low_open)
        assert argparse_accepts(flag, value) == accepted, f"{flag} {value}: argparse disagrees with the range"
        assert validation_accepts(name, value) == accepted, f"{name}={value}: validation disagrees with the range"
        past = outside(setting, bound, value) if bound == "high" or not setting.low_open else value
        assert not argparse_accepts(flag, past), f"{flag} {past} is accepted by argparse, outside [{low}, {high}]"
        assert not validation_accepts(name, past), f"{name}={past} passes validation, outside [{low}, {high}]"


@pytest.mark.parametrize("setting", [s for s in RUN_SETTINGS.values() if s.cli_flag and s.type in (int, float)],
                         ids=lambda s: s.name)
def test_every_numeric_flag_has_the_settings_range_in_argparse_and_validation(setting):
    check_range(setting, setting.low, setting.high)
    if setting.high is None:  # unbounded in the table: unbounded on the command line
        assert argparse_accepts(setting.cli_flag, setting.type(10**9))


@pytest.mark.parametrize("setting", [s for s in RUN_SETTINGS.values() if s.choices], ids=lambda s: s.name)
def test_every_choice_setting_offers_the_same_choices_everywhere(setting):
    if setting.cli_flag:
        assert tuple(train_action(setting.cli_flag).choices) == setting.choices
    assert all(validation_accepts(setting.name, choice) for choice in setting.choices)
    assert not validation_accepts(setting.name, "bogus")


def test_the_train_pages_widgets_have_the_range_argparse_and_validation_have():
    """Each number on the Train page allows exactly what `python -m core train` and the configs allow
    (β up to 1000, seeds up to 2**32 - 1: the form once stopped at 100 and 2**31 - 1)."""
    at = AppTest.from_file(str(ROOT / "pages" / "7_Train.py"), default_timeout=120)
    at.run()
    assert not at.exception
    by_label = {s.label: s for s in RUN_SETTINGS.values() if s.label}
    checked = set()
    for widget in at.number_input:
        if widget.key in ("train_h", "train_w"):  # the resize of own data: --image-size HxW
            continue
        setting = by_label[widget.label]
        check_range(setting, widget.min, widget.max)
        assert (widget.min, widget.max) == (setting.low, setting.high), setting.name
        checked.add(setting.name)
    assert checked == {"latent_dim", "beta", "epochs", "batch_size", "lr", "seed"}
    assert len(at.selectbox(key="train_kind").options) == len(by_label["Model"].choices)


def test_the_train_pages_resize_has_the_range_of_image_size():
    at = AppTest.from_file(str(ROOT / "pages" / "7_Train.py"), default_timeout=120)
    at.run()
    at.radio(key="train_source").set_value("Your .npz / .npy file").run()
    parse = train_action("--image-size").type
    for key in ("train_h", "train_w"):
        low, high = int(at.number_input(key=key).min), int(at.number_input(key=key).max)
        assert parse(f"{low}x{high}") == (low, high) and parse(f"{high}x{low}") == (high, low)
        for bad in (f"{low - 1}x{high}", f"{low}x{high + 1}"):
            with pytest.raises(argparse.ArgumentTypeError):
                parse(bad)


def test_a_setting_error_names_its_setting_across_processes():
    with pytest.raises(SettingError) as info:
        RunSpec("vae", 2, beta=1001.0).train_config().validate()
    # A process pool sends the exception back through __reduce__, which copy.copy calls too.
    sent = copy.copy(info.value)
    assert (sent.setting, str(sent)) == ("beta", "beta=1001.0 must be a number in [0, 1000]")


def test_runspec_holds_the_settings_of_both_configs_and_nothing_else():
    fields = [f.name for f in dataclasses.fields(RunSpec)]
    assert fields == [s.name for s in (*settings_of(ModelConfig), *settings_of(TrainConfig))] + ["kl_only"]
    assert set(TrainConfig.__dataclass_fields__) - set(fields) == {"reconstruction_weight"}  # RunSpec.kl_only
    assert set(ModelConfig.__dataclass_fields__) - set(fields) == {"image_shape"}  # from the data


CUSTOM = [
    RunSpec.for_kind("vae", 2),
    RunSpec.for_kind("ae", 3, hidden=(64,), architecture="conv", input_noise=0.3, seed=2**32 - 1, batch_size=7),
    RunSpec.for_kind("vae", 4, beta=250.0, beta_schedule="linear", warmup_epochs=3, amp="bf16", device="cpu",
                     likelihood="gaussian", gaussian_variance=0.03, lr_schedule="constant", patience=0,
                     validation_fraction=0.0),
    RunSpec.for_kind("vae", 2, kl_only=True, epochs=7),
    RunSpec.for_kind("linear-ae", 2),
]


@pytest.mark.parametrize("spec", [*CUSTOM, *(s.run for s in SPECS)], ids=lambda s: f"{s.kind}-{s.latent_dim}")
def test_the_reproduce_command_rebuilds_the_same_run(spec):
    """spec -> its configs -> the command the app shows (jobspec.cli_command) -> the CLI -> the same configs."""
    model_config, train_config = spec.model_config(SHAPE), spec.train_config()
    command = RunSpec.from_configs(model_config, train_config).train_command("digits", "out")
    args = cli.build_parser().parse_args(command.split()[3:])
    rebuilt = cli._run_spec(args, args.beta, SHAPE)
    assert rebuilt.model_config(SHAPE) == model_config, command
    assert rebuilt.train_config() == train_config, command
