"""Sizes from the configuration, never from a built model: the caps on parameters and pixels,
the Train page's disk estimate, uploads resized by default, and allocation failures turned
into one clear line (CLI, training process). Memory is measured in capped subprocesses.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import core.pipeline
from core.__main__ import main
from core.data import load_dataset
from core.models import ModelConfig
from core.sizes import FLOAT_BYTES, is_allocation_failure, parameter_count
from core.train import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
ALLOCATOR_ERROR = ("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                   "you tried to allocate 6400000000 bytes. Error code 12 (Cannot allocate memory)")


CAPPED = """
import atexit, resource, runpy, sys
cap = int(sys.argv.pop(1))
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))  # a failure cannot take the machine down
atexit.register(lambda: print("peak_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr))
sys.argv[0] = "python -m core"
runpy.run_module("core", run_name="__main__")
"""


def run_capped(args: list[str], cap_bytes: int) -> tuple[int, str, float]:
    """(exit status, stderr, peak resident MB) of ``python -m core ARGS`` under an address-space cap."""
    out = subprocess.run([sys.executable, "-c", CAPPED, str(cap_bytes), *args], capture_output=True, text=True,
                         timeout=600, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = out.stderr.rstrip().splitlines()
    assert lines and lines[-1].startswith("peak_kb "), out.stderr[-3000:]
    return out.returncode, "\n".join(lines[:-1]), int(lines[-1].split()[1]) / 1024


def baseline_address_space() -> int:
    """Bytes of address space a CLI process maps once torch and core are imported (torch alone maps GBs)."""
    code = ("import torch, core.__main__, core.pipeline; "
            "print(open('/proc/self/status').read().split('VmPeak:')[1].split()[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    return int(out.stdout.strip()) * 1024


def test_cli_train_on_2000x2000_images_is_one_line_without_building_the_model(tmp_path):
    np.save(tmp_path / "huge.npy", np.random.default_rng(0).integers(0, 256, (4, 2000, 2000), dtype=np.uint8))
    code, err, peak = run_capped(["train", "--dataset", str(tmp_path / "huge.npy"), "--model", "vae",
                                  "--latent-dim", "2", "--epochs", "1", "--out", str(tmp_path / "m"), "--no-download"],
                                 baseline_address_space() + 2 * 2**30)
    print(f"CLI on 4 images of 2000x2000: exit {code}, peak {peak:.0f} MB")
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "python -m core: error: argument --image-size: image_shape=(1, 2000, 2000) is too large: at most 3 channels "
        "and 65,536 pixels per image (e.g. 256 x 256) are accepted; resize the images")
    assert not list(tmp_path.glob("m*"))


def test_a_real_allocation_failure_in_cli_training_is_one_line(tmp_path):
    """A model under the caps (19.7 M parameters) in a process given 400 MB beyond what torch maps."""
    np.save(tmp_path / "big.npy", np.random.default_rng(0).integers(0, 256, (64, 256, 256), dtype=np.uint8))
    code, err, peak = run_capped(["train", "--dataset", str(tmp_path / "big.npy"), "--model", "vae",
                                  "--latent-dim", "2", "--hidden", "150", "--epochs", "1",
                                  "--out", str(tmp_path / "m"), "--no-download"],
                                 baseline_address_space() + 400 * 2**20)
    print(f"CLI training past its memory: exit {code}, peak {peak:.0f} MB")
    assert code == 1 and "Traceback" not in err, err[-3000:]
    assert err.strip().splitlines()[-1].split("\r")[-1].strip().startswith(
        "error: python -m core train ran out of memory and was stopped; nothing was saved.")
    assert not list(tmp_path.glob("m*"))


@pytest.mark.parametrize("failure", [MemoryError(), RuntimeError(ALLOCATOR_ERROR),
                                     RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")])
def test_allocation_failures_while_training_are_one_line(failure, tmp_path, monkeypatch, capsys):
    def fails(*args, **kwargs):
        raise failure

    monkeypatch.setattr(core.pipeline, "train_and_save", fails)
    assert main(["train", "--dataset", "digits", "--no-download", "--hidden", "8", "--epochs", "1",
                 "--out", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err.strip().splitlines()  # the epoch bar's line, ended by the error
    assert len(err) == 1 and err[0].endswith(
        "error: python -m core train ran out of memory and was stopped; nothing was saved. Use smaller "
        "images, smaller hidden widths or a smaller batch (a model may have at most 20,000,000 parameters "
        "and 65,536 pixels per image).")


def test_other_runtime_errors_are_not_called_memory(tmp_path, monkeypatch):
    def fails(*args, **kwargs):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(core.pipeline, "train_and_save", fails)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        main(["train", "--dataset", "digits", "--no-download", "--hidden", "8", "--epochs", "1",
              "--out", str(tmp_path / "m")])
    assert not is_allocation_failure(ValueError("out of memory"))


def test_the_training_process_reports_running_out_of_memory_plainly(tmp_path, monkeypatch):
    from explorer.logic import jobworker

    def fails(*args, **kwargs):
        raise RuntimeError(ALLOCATOR_ERROR)

    monkeypatch.setattr(jobworker, "train_and_save", fails)
    spec = {"data": {"key": "digits", "image_size": None, "grayscale": True, "data_root": None, "download": False},
            "model_config": ModelConfig("ae", (1, 8, 8), 2, hidden=(8,)).to_dict(),
            "train_config": TrainConfig(epochs=1).to_dict(), "out": str(tmp_path / "m"), "dataset_card": None,
            "eval_images": 10, "extra_card": {"title": "m"}, "command": "", "threads": 1, "parent_pid": os.getpid()}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    assert jobworker.run(tmp_path) == 0
    events = [json.loads(line) for line in (tmp_path / "progress.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "failed"
    assert events[-1]["message"].startswith("the training ran out of memory and was stopped; nothing was saved.")


def test_the_train_pages_disk_estimate_builds_nothing(monkeypatch):
    """The estimate of the 7.1 GB case (2000x2000 images, hidden 400, 200) is arithmetic."""
    import tracemalloc

    import core.models
    from explorer.logic.jobspec import CARD_BYTES, EPOCH_CARD_BYTES, JobSpec

    monkeypatch.setattr(core.models, "build_model", lambda config: pytest.fail("a model was built"))
    config = ModelConfig("vae", (1, 2000, 2000), 2, hidden=(400, 200))  # not validated: the estimate comes first
    spec = JobSpec("m", Path("out"), load_dataset("digits", download=False), config, TrainConfig(epochs=3))
    tracemalloc.start()
    upload, checkpoint = spec.estimated_bytes()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    pixels = 2000 * 2000
    encoder = (pixels * 400 + 400) + (400 * 200 + 200) + (200 * 4 + 4)  # mean and log-variance: 2 x 2 outputs
    decoder = (2 * 200 + 200) + (200 * 400 + 400) + (400 * pixels + pixels)
    assert parameter_count(config) == encoder + decoder == 3_204_162_404
    assert (upload, checkpoint) == (0, FLOAT_BYTES * parameter_count(config) + CARD_BYTES + 3 * EPOCH_CARD_BYTES)
    assert peak < 1_000_000


def test_uploads_are_resized_by_default_and_full_size_is_refused_plainly(fresh_server, monkeypatch):
    from streamlit.testing.v1 import AppTest

    tmp_path = fresh_server
    buffer = io.BytesIO()
    np.savez(buffer, images=np.random.default_rng(0).integers(0, 256, (8, 1000, 1000), dtype=np.uint8))
    at = AppTest.from_file(str(ROOT / "pages" / "7_Train.py"), default_timeout=180).run()
    at.radio(key="train_source").set_value("Your .npz / .npy file").run()
    at.file_uploader(key="train_upload").set_value(("big.npz", buffer.getvalue(), "application/octet-stream")).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.checkbox(key="train_resize").value is True
    assert any("of 1 x 28 x 28 pixels" in s.value for s in at.success), [s.value for s in at.success]
    at.checkbox(key="train_resize").uncheck().run()  # full size: refused from the configuration, nothing built
    assert not at.exception, [e.message for e in at.exception]
    assert any("image_shape=(1, 1000, 1000) is too large" in e.value for e in at.error), [e.value for e in at.error]
    assert at.button(key="train_start").disabled
