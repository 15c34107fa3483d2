"""Checkpoint cards and weights are untrusted input: every reader (load_checkpoint, the listings,
the numpy decoder, the stored codes, the CLI's list and evaluate) refuses each attack of
devtools/hostile_cards.py with a message naming the file, without hanging, recursing or
allocating what the file announces, and every listing goes on past it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.__main__ import main
from core.card import MAX_CARD_BYTES, card_problem
from core.checkpoints import CheckpointError, list_checkpoints, load_checkpoint, read_card, save_checkpoint
from core.codes import load_codes_for
from core.npdecode import load_numpy_decoder
from core.safefile import UntrustedFileError, load_json, read_regular
from devtools.hostile_cards import ATTACK_CLASSES, ATTACKS, WEIGHTS_ATTACKS, good_checkpoint, hostile_folder

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 30  # a reader still busy after this is hanging (a FIFO) or reading without end (/dev/zero)

MESSAGES = {
    "fifo-card": r"fifo-card\.json is a FIFO; only regular files are read",
    "fifo-weights": r"fifo-weights\.safetensors is a FIFO; only regular files are read",
    "card-to-dev-zero": r"card-to-dev-zero\.json is a symbolic link; only regular files are read",
    "weights-to-dev-zero": r"weights-to-dev-zero\.safetensors is a symbolic link",
    "card-symlink": r"card-symlink\.json is a symbolic link",
    "card-is-a-folder": r"card-is-a-folder\.json is a folder",
    "card-5mb": r"card-5mb\.json is 5\.0 MB; at most 1\.0 MB is read",
    "weights-padded": r"weights-padded\.safetensors holds [\d,]+ bytes but its header announces [\d,]+",
    "weights-header-says-1tb": r"header announces 1,000,000,000,[\d,]+: it is truncated or corrupt",
    "weights-over-the-card": r"weights-over-the-card\.safetensors is 2\.0 MB; its card allows at most 1\.\d MB",
    "weights-header-length-2-63": r"its header length 9,223,372,036,854,775,808 does not fit",
    "deep-100000": r"deep-100000\.json nests arrays or objects more than 64 levels deep",
    "deep-in-a-field": r"nests arrays or objects more than 64 levels deep",
    "metrics-list": r"field 'metrics' of the wrong type or size \(metrics must map names to numbers\)",
    "metrics-of-objects": r"field 'metrics' of the wrong type",
    "history-object": r"field 'history' of the wrong type",
    "name-object": r"field 'name' of the wrong type",
    "kind-unknown": r"field 'kind' of the wrong type or size \(one of \('pca'",
    "model-config-text": r"invalid model_config: model_config is a str, not an object",
    "hidden-text": r"invalid model_config: hidden=\['a'\] must be at most 16 positive integers",
    "image-size-text": r"dataset\.image_size that is not two positive integers",
    "not-utf8": r"not-utf8\.json is not UTF-8 text",
    "card-a-list": r"has no 'model_config'; it is not a checkpoint card",
    "hidden-40000": r"invalid model_config: the model would have 3,263,040,786 parameters .*at most 20,000,000",
    "image-2000x2000": r"image_shape=\(1, 2000, 2000\) is too large: at most 3 channels and 65,536 pixels",
    "hidden-10-to-the-30": r"would have [\d,]{30,} parameters",
}


def finishes(fn, seconds: float = WAIT_S):
    """fn()'s result (or its exception, SystemExit included), failing if it runs past ``seconds``."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            box["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still reading after {seconds} s (a FIFO or an endless file)"
    if "error" in box:
        raise box["error"]
    return box.get("value")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    return hostile_folder(tmp_path_factory.mktemp("published"))


def test_every_attack_has_its_message_and_every_class_several_attacks():
    assert set(MESSAGES) == set(ATTACKS)
    assert all(len(names) >= 3 for names in ATTACK_CLASSES.values())


@pytest.mark.parametrize("name", list(ATTACKS))
def test_load_checkpoint_refuses_each_attack_with_a_message_naming_the_file(hostile, name):
    with pytest.raises(CheckpointError, match=MESSAGES[name]) as info:
        finishes(lambda: load_checkpoint(hostile / name))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", [n for n in ATTACKS if n not in WEIGHTS_ATTACKS])
def test_reading_the_card_alone_refuses_it(hostile, name):
    with pytest.raises(CheckpointError, match=MESSAGES[name]):
        finishes(lambda: read_card(hostile / name))


def test_the_listing_names_each_bad_checkpoint_once_and_keeps_the_good_one(hostile):
    cards = finishes(lambda: list_checkpoints(hostile, check=True))
    by_name = {Path(c["path"]).name: c for c in cards}
    assert len(cards) == len(ATTACKS) + 1
    assert "error" not in by_name["good"] and by_name["good"]["kind"] == "ae"
    for name in ATTACKS:
        assert re.search(MESSAGES[name], by_name[name]["error"]), (name, by_name[name]["error"])
    # Without the weights check only the cards are judged: the weights attacks read as cards.
    unchecked = {Path(c["path"]).name: c for c in finishes(lambda: list_checkpoints(hostile))}
    assert [n for n in ATTACKS if "error" not in unchecked[n]] == list(WEIGHTS_ATTACKS)


def test_numpy_decoder_and_stored_codes_refuse_without_hanging(hostile, tmp_path):
    for name in WEIGHTS_ATTACKS + ("fifo-card", "deep-100000", "hidden-40000"):
        assert finishes(lambda: load_numpy_decoder(hostile / name)) is None, name
    assert load_numpy_decoder(hostile / "good") is not None
    good = good_checkpoint(tmp_path)
    os.mkfifo(tmp_path / "good.codes.safetensors")
    assert finishes(lambda: load_codes_for(good)) is None
    os.unlink(tmp_path / "good.codes.safetensors")
    os.symlink("/dev/zero", tmp_path / "good.codes.safetensors")
    assert finishes(lambda: load_codes_for(good)) is None


# --------------------------------------------------------------------------- JSON depth and size


@pytest.mark.parametrize("depth", [65, 100_000, 1_000_000])
def test_deep_json_is_refused_quickly_without_recursion(depth):
    for text in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth, "[" * depth):
        start = time.perf_counter()
        with pytest.raises(UntrustedFileError, match="more than 64 levels deep"):
            load_json(text, "card")
        assert time.perf_counter() - start < 5


def test_depth_counts_only_brackets_outside_strings():
    text = json.dumps({"a": "[" * 1000, "b": [[1]], "c": '\\"[[[', "d": "}}}"})
    assert load_json(text, "card")["a"] == "[" * 1000
    assert load_json("[" * 64 + "]" * 64, "card") is not None


@pytest.mark.parametrize(
    ("metrics", "ok"),
    [({"mse": 0.1, "likelihood": "bernoulli", "kl_per_dim": [0.1, 2.0], "iwae_nll": None}, True),
     ([0.1], False), ({"mse": {"x": 1}}, False), ({"mse": [[1]]}, False), ({"mse": "x" * 30_000}, False),
     ({1: 0.1}, True)],  # JSON keys are always text; a Python int key never comes from a file
)
def test_metrics_must_be_a_mapping_of_numbers(metrics, ok):
    card = {"model_config": {"kind": "ae", "image_shape": [1, 8, 8], "latent_dim": 2, "hidden": [8]},
            "metrics": json.loads(json.dumps(metrics))}
    assert (card_problem(card) is None) == ok


def test_a_regular_file_over_the_cap_is_refused_before_reading(tmp_path):
    (tmp_path / "big").write_bytes(bytes(MAX_CARD_BYTES + 1))
    with pytest.raises(UntrustedFileError, match=r"is 1\.0 MB; at most 1\.0 MB is read"):
        read_regular(tmp_path / "big", MAX_CARD_BYTES)
    assert len(read_regular(tmp_path / "big", MAX_CARD_BYTES + 1)) == MAX_CARD_BYTES + 1


def test_a_long_history_is_thinned_so_the_card_stays_readable(tmp_path):
    from core.models import ModelConfig, build_model

    fields = ("train_reconstruction", "train_kl", "train_loss", "test_reconstruction", "test_kl", "test_neg_elbo")
    history = [{"epoch": e, **{f: 100.0 / e + i for i, f in enumerate(fields)}} for e in range(1, 9_001)]
    card = save_checkpoint(build_model(ModelConfig("ae", (1, 8, 8), 2, hidden=(8,))), tmp_path / "long",
                           {"history": history})
    size = (tmp_path / "long.json").stat().st_size
    assert size <= MAX_CARD_BYTES
    kept = read_card(tmp_path / "long")["history"]
    assert card["history_every"] > 1 and kept[0]["epoch"] == 1 and kept[-1]["epoch"] == 9_000
    assert [h["epoch"] for h in kept[:3]] == [1, 1 + card["history_every"], 1 + 2 * card["history_every"]]
    load_checkpoint(tmp_path / "long")


# --------------------------------------------------------------------------- memory, measured under a cap

PEAK_SCRIPT = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))  # a failure cannot take the machine down
import torch
from core.checkpoints import CheckpointError, load_checkpoint

def status(key):
    return int(open("/proc/self/status").read().split(key + ":")[1].split()[0]) / 1024

open("/proc/self/clear_refs", "w").write("5")  # the peak (VmHWM) starts again from the memory in use now
before = status("VmRSS")
try:
    load_checkpoint(sys.argv[1])
    print("loaded")
except CheckpointError as err:
    print("refused:", str(err)[-80:])
print("extra_mb", status("VmHWM") - before)
"""


@pytest.mark.parametrize("name", ["hidden-40000", "weights-header-says-1tb", "card-5mb", "deep-100000",
                                  "weights-to-dev-zero", "weights-over-the-card"])
def test_memory_attacks_cost_almost_nothing(hostile, name):
    """The peak resident memory a refusal adds, in a process capped at 6 GB of address space
    (importing torch alone maps 3.2 GB)."""
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(hostile / name)], capture_output=True, text=True,
                         timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "refused:" in out.stdout, out.stdout
    extra = float(out.stdout.split("extra_mb")[1])
    print(f"{name}: peak +{extra:.1f} MB")
    assert extra < 40, out.stdout


# --------------------------------------------------------------------------- the command line


def test_cli_list_names_each_bad_card_once_and_prints_the_rest(hostile):
    out = subprocess.run([sys.executable, "-m", "core", "list", str(hostile)], capture_output=True, text=True,
                         timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    warnings = out.stderr.strip().splitlines()
    assert len(warnings) == len(ATTACKS)
    for name in ATTACKS:
        line = next(w for w in warnings if w.startswith(f"warning: skipped {name}: "))
        assert re.search(MESSAGES[name], line), line
    rows = out.stdout.strip().splitlines()
    assert rows[0].split()[:2] == ["name", "kind"] and [r.split()[0] for r in rows[1:]] == ["good"]


@pytest.mark.parametrize("name", list(ATTACKS))
def test_cli_evaluate_gives_a_one_line_error(hostile, name, capsys):
    with pytest.raises(SystemExit) as info:
        finishes(lambda: main(["evaluate", str(hostile / name), "--no-download"]))
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("python -m core: error: argument checkpoint: ") or "error: argument checkpoint" in err[-1]
    assert re.search(MESSAGES[name], err[-1]), err
    assert len(err) == 2  # argparse's usage line, then the error


# --------------------------------------------------------------------------- the app

APP_ATTACKS = ("fifo-card", "deep-100000", "metrics-list", "weights-to-dev-zero", "hidden-40000")


def test_bad_cards_in_the_published_folder_leave_every_page_working_and_are_named(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    for name in [k for k in os.environ if k.startswith("LATENT_EXPLORER_") and k != "LATENT_EXPLORER_DATA"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LATENT_EXPLORER_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("LATENT_EXPLORER_WORKSPACES", str(tmp_path / "workspaces"))
    monkeypatch.setenv("LATENT_EXPLORER_PUBLISHED", str(hostile_folder(tmp_path / "published", APP_ATTACKS)))
    router = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    router.run()  # the router names the skipped cards before every page (here: the home page)
    assert not router.exception, [e.message for e in router.exception]
    named = [w.value for w in router.sidebar.warning if "not listed" in w.value]
    assert len(named) == 1, [w.value for w in router.sidebar.warning]
    lines = named[0].splitlines()
    for name in APP_ATTACKS:  # one line each (a name is shown as typed: Markdown characters escaped)
        assert sum(line.startswith("- " + name.replace("-", "\\-") + ":") for line in lines) == 1, (name, lines)
    assert "published" not in named[0]  # the server's folder is not shown
    for page in sorted((ROOT / "pages").glob("[1-9]_*.py")):  # AppTest runs a page's file without the router
        at = AppTest.from_file(str(page), default_timeout=180)
        at.run()  # a FIFO card would hang the run (AppTest then raises after its timeout)
        assert not at.exception, (page.name, [e.message for e in at.exception])
        assert at.title, page.name


def _weights_of_another_shape_with_a_matching_hash(folder: Path) -> None:
    """A checkpoint whose card and weights agree on the hash and the stored configs, but whose tensors
    have other shapes: every check before building passes; loading it fails."""
    import hashlib

    import safetensors
    from safetensors.torch import save_file

    from core.models import ModelConfig, build_model

    good_checkpoint(folder, "odd")
    with safetensors.safe_open(str(folder / "odd.safetensors"), framework="pt") as f:
        metadata = f.metadata()
    other = build_model(ModelConfig("ae", (1, 8, 8), 2, hidden=(4,))).state_dict()
    save_file({k: v.contiguous() for k, v in other.items()}, str(folder / "odd.safetensors"), metadata=metadata)
    card = json.loads((folder / "odd.json").read_text())
    card["weights_sha256"] = hashlib.sha256((folder / "odd.safetensors").read_bytes()).hexdigest()
    (folder / "odd.json").write_text(json.dumps(card))


def test_a_model_that_fails_to_load_stops_the_page_with_one_message(fresh_server, monkeypatch):
    from streamlit.testing.v1 import AppTest

    tmp_path = fresh_server
    _weights_of_another_shape_with_a_matching_hash(tmp_path / "published")
    assert "error" not in list_checkpoints(tmp_path / "published", check=True)[0]  # listed: it looks whole
    at = AppTest.from_file(str(ROOT / "pages" / "1_Latent_map.py"), default_timeout=180)
    at.session_state["picked_dataset"] = "digits"
    at.session_state["picked_model"] = "odd"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("odd cannot be loaded: "), errors
    assert "has shape" in errors[0] and str(tmp_path) not in errors[0]
