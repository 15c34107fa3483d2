"""How long do save_checkpoint and load_checkpoint take, against another revision's, in one run?

Loads core/checkpoints.py as it is at ``--baseline`` (a git revision) beside the working tree's,
and saves the same models with both, alternating, into folders on the repository's disk (fsync
costs what it costs there): the shipped mnist-vae-2 (float16, its card of ~50 KB) and a small
digits VAE, each save followed by a load. Reports each one's median and the ratio to the baseline.

    python -m bench.bench_save --baseline 21ebf08
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch

import core.checkpoints as current
from bench.run_all import REPO, RESULTS, machine_info, write_results
from core.models import ModelConfig, build_model


def module_at(revision: str):
    """core/checkpoints.py as it is at ``revision``, imported under another name."""
    source = subprocess.run(["git", "show", f"{revision}:core/checkpoints.py"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(f"checkpoints_{revision}", None))
    exec(compile(source, f"{revision}:core/checkpoints.py", "exec"), module.__dict__)  # noqa: S102 - our own file
    return module


def cases() -> dict:
    shipped = current.load_checkpoint(REPO / "checkpoints" / "mnist-vae-2")
    card = {k: v for k, v in shipped.card.items() if k not in ("weights_sha256", "path")}
    torch.manual_seed(0)
    small = build_model(ModelConfig("vae", (1, 8, 8), 2, hidden=(16,)))
    return {"mnist-vae-2 (float16)": (shipped.model, card, "float16"),
            "digits VAE hidden 16 (float32)": (small, {"train_config": {"seed": 0}}, "float32")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="git revision whose save is the baseline")
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--out", default=str(RESULTS / "save"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    savers = {"baseline": module_at(args.baseline), "current": current}
    folder = Path(tempfile.mkdtemp(prefix=".bench_save.", dir=REPO))
    rows = []
    try:
        for case, (model, card, precision) in cases().items():
            times: dict[tuple[str, str], list[float]] = {(n, op): [] for n in savers for op in ("save", "load")}
            for i in range(args.repeats + 1):
                for name, module in savers.items():
                    started = time.perf_counter()
                    module.save_checkpoint(model, folder / name / "m", dict(card), precision=precision)
                    saved = time.perf_counter()
                    module.load_checkpoint(folder / name / "m")  # raises unless the pair matches
                    if i:  # the first round imports what it needs
                        times[name, "save"].append(saved - started)
                        times[name, "load"].append(time.perf_counter() - saved)
            for op in ("save", "load"):
                base, now = (statistics.median(times[n, op]) * 1e3 for n in ("baseline", "current"))
                rows.append({"case": case, "operation": op, "baseline_ms": round(base, 2),
                             "current_ms": round(now, 2), "ratio": round(now / base, 3), "repeats": args.repeats})
                print(rows[-1], flush=True)
    finally:
        shutil.rmtree(folder)
    result = {"baseline": args.baseline, "rows": rows, "machine": machine_info(brief=True)}
    return 0 if write_results(args.out, result, lambda r: "\n".join([
        "# save_checkpoint and load_checkpoint: median time, against a baseline revision in the same run", "",
        f"`python -m bench.bench_save --baseline {r['baseline']}`; saves alternate between the two, into folders "
        "on the repository's disk; medians over the repeats (the first save of each left out).", "",
        "| case | operation | baseline ms | current ms | ratio | repeats |", "| --- | --- | --- | --- | --- | --- |",
        *(f"| {x['case']} | {x['operation']} | {x['baseline_ms']} | {x['current_ms']} | {x['ratio']} | {x['repeats']} |"
          for x in r["rows"]), ""])) else 1


if __name__ == "__main__":
    raise SystemExit(main())
