"""What each hostile checkpoint (devtools/hostile_cards.py) and an oversized training run cost:
the outcome and the peak memory it adds, each in a process of its own with its address space
capped (so a failure cannot take the machine down) and a time limit (a FIFO hangs a reader).

    python -m bench.bench_hostile_cards                       this checkout
    python -m bench.bench_hostile_cards --old /path/to/older  and an older checkout beside it

Writes bench/results/hostile_cards.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.run_all import machine_info, write_results
from devtools.hostile_cards import ATTACK_CLASSES, hostile_folder

ROOT = Path(__file__).resolve().parent.parent
TIME_LIMIT_S = 20
HEADROOM = 2 * 2**30  # address space beyond what importing torch maps

LOAD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]), int(sys.argv[2])))
import torch
from core.checkpoints import load_checkpoint

def status(key):
    return int(open("/proc/self/status").read().split(key + ":")[1].split()[0]) / 1024

open("/proc/self/clear_refs", "w").write("5")  # the peak starts again from the memory in use now
before = status("VmRSS")
try:
    load_checkpoint(sys.argv[1])
    outcome = "loaded"
except BaseException as err:
    outcome = f"{type(err).__name__}: {err}"
print(f"extra_mb={status('VmHWM') - before:.1f}")
print("outcome=" + outcome.replace(chr(10), " "))
"""

def baseline_address_space(root: Path) -> int:
    code = "import torch, core.checkpoints; print(open('/proc/self/status').read().split('VmPeak:')[1].split()[0])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True,
                         env={**os.environ, "PYTHONPATH": str(root)})
    return int(out.stdout.strip()) * 1024


def run(args: list[str], root: Path) -> tuple[str, str]:
    """(stdout, what happened) of ``python ARGS`` in checkout ``root``, killed after TIME_LIMIT_S."""
    try:
        out = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=root,
                             timeout=TIME_LIMIT_S, env={**os.environ, "PYTHONPATH": str(root)})
    except subprocess.TimeoutExpired:
        return "", f"hung: killed after {TIME_LIMIT_S} s"
    tail = (out.stderr.strip().splitlines() or [""])[-1][-110:]
    return out.stdout, f"exit {out.returncode}" + (" with a traceback" if "Traceback" in out.stderr else "") + \
        (f": {tail}" if out.returncode else "")


def measure(root: Path, folder: Path, huge: Path) -> dict:
    cap = baseline_address_space(root) + HEADROOM
    rows = []
    for attack_class, names in ATTACK_CLASSES.items():
        for name in names:
            stdout, status = run(["-c", LOAD, str(folder / name), str(cap)], root)
            fields = dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)
            outcome = fields.get("outcome", status).replace(str(folder), "<folder>")
            rows.append({"class": attack_class, "attack": name, "outcome": outcome[:24] + " ... " + outcome[-90:]
                         if len(outcome) > 120 else outcome,
                         "extra_mb": float(fields["extra_mb"]) if "extra_mb" in fields else None})
    _, listing = run(["-m", "core", "list", str(folder)], root)
    train_code = ("import resource, runpy, sys; cap = int(sys.argv.pop(1)); "
                  "resource.setrlimit(resource.RLIMIT_AS, (cap, cap)); "
                  "import atexit; atexit.register(lambda: print('peak_kb', "
                  "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)); "
                  "sys.argv[0] = 'python -m core'; runpy.run_module('core', run_name='__main__')")
    out = subprocess.run([sys.executable, "-c", train_code, str(cap), "train", "--dataset", str(huge), "--model",
                          "vae", "--latent-dim", "2", "--epochs", "1", "--no-download", "--out",
                          str(folder.parent / "huge-model")], capture_output=True, text=True, cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root)}, timeout=600)
    lines = out.stderr.strip().splitlines()
    peak = int(lines[-1].split()[1]) / 1024 if lines and lines[-1].startswith("peak_kb") else None
    message = next((line for line in reversed(lines) if "rror" in line), "")[-140:]
    return {"cap_gb": round(cap / 2**30, 1), "loads": rows, "cli_list": listing,
            "cli_train_2000x2000": {"exit": out.returncode, "traceback": "Traceback" in out.stderr,
                                    "peak_mb": peak, "message": message}}


def to_markdown(result: dict) -> str:
    lines = ["# Hostile checkpoints and an oversized run: outcome and peak memory", "",
             "Each case runs in its own process, its address space capped (`cap_gb`, torch's own mapping "
             f"plus 2 GB) and killed after {TIME_LIMIT_S} s. `extra MB`: the peak resident memory the load "
             "adds to the process once torch is imported (VmHWM reset before it).", ""]
    for label, checkout in result["checkouts"].items():
        lines += [f"## {label} (cap {checkout['cap_gb']} GB)", "", "| class | attack | outcome | extra MB |",
                  "| --- | --- | --- | --- |"]
        for row in checkout["loads"]:
            extra = "-" if row["extra_mb"] is None else f"{row['extra_mb']:.1f}"
            lines.append(f"| {row['class']} | {row['attack']} | {row['outcome'].replace('|', '/')} | {extra} |")
        train = checkout["cli_train_2000x2000"]
        lines += ["", f"`python -m core list` on the folder: {checkout['cli_list']}", "",
                  f"`python -m core train` on 4 images of 2000 x 2000: exit {train['exit']}, "
                  f"traceback {train['traceback']}, peak {train['peak_mb']:.0f} MB: {train['message']}", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, help="an older checkout to measure beside this one")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "hostile_cards"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = hostile_folder(Path(tmp) / "published")
        huge = Path(tmp) / "huge.npy"
        np.save(huge, np.random.default_rng(0).integers(0, 256, (4, 2000, 2000), dtype=np.uint8))
        checkouts = {"this checkout": measure(ROOT, folder, huge)}
        if args.old:
            checkouts["older checkout"] = measure(args.old.resolve(), folder, huge)
    write_results(args.out, {"machine": machine_info(brief=True), "checkouts": checkouts}, to_markdown)


if __name__ == "__main__":
    main()
