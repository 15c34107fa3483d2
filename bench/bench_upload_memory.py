"""Memory of reading uploaded .npz files: several visitors uploading at once, and what stays held.

    python -m bench.bench_upload_memory [--visitors 3] [--images 50000] [--cap-gb 6]

Each case runs in a fresh process whose address space is capped (``RLIMIT_AS``, ``--cap-gb``),
so a regression ends in a MemoryError there, never in the machine running out. The process
imports the loader, writes one uncompressed .npz of ``--images`` 28x28 uint8 images (39 MB at
50,000: the size of the audit's upload), then ``--visitors`` threads each parse it with
``explorer.logic.training.load_upload`` at the same moment. Reported, in MB of resident memory
(``/proc/self/status``): the process after its imports (baseline), the peak while parsing
(VmHWM), and what is held once the datasets are dropped (the visitors left). A last case
gives the labels values up to 2^62 (the audit's upload that took the server to 9.8 GB on the
Interpolation page) and asks for the classes its pickers offer. Writes
bench/results/upload_memory.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

CASE = r"""
import gc, json, resource, sys, threading
import numpy as np
cap = int(sys.argv[1]); visitors = int(sys.argv[2]); n = int(sys.argv[3]); path = sys.argv[4]; huge = sys.argv[5] == "1"
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
from explorer.logic.training import load_upload

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB -> MB

rng = np.random.default_rng(0)
labels = (np.arange(n) % 10) * (2**62 // 9) if huge else np.arange(n) % 10  # huge: values up to 2^62
np.savez(path, images=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), labels=labels)
data = open(path, "rb").read()
gc.collect()
base = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:  # reset VmHWM to the current RSS
    f.write("5")
held, errors = [], []

def visit():
    try:
        dataset = load_upload(data, "digits.npz")
        dataset.classes_in("test")  # what the Interpolation page's class pickers offer
        held.append(dataset)
    except BaseException as e:  # a MemoryError under the cap is the result to report
        errors.append(f"{type(e).__name__}: {e}")

threads = [threading.Thread(target=visit) for _ in range(visitors)]
for t in threads: t.start()
for t in threads: t.join()
peak = status("VmHWM")
shapes = [list(d.train_images.shape) for d in held]
held.clear(); gc.collect()
after = status("VmRSS")
print(json.dumps(dict(base_mb=base, peak_mb=peak, after_mb=after, file_mb=len(data) / 2**20,
                      loaded=len(shapes), errors=errors, train_shape=shapes[0] if shapes else None)))
"""


def run_case(visitors: int, images: int, cap_gb: float, huge_labels: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", CASE, str(int(cap_gb * 2**30)), str(visitors), str(images),
                              str(Path(tmp) / "digits.npz"), str(int(huge_labels))],
                             capture_output=True, text=True, timeout=600)
    case = dict(visitors=visitors, labels="up to 2^62" if huge_labels else "0..9")
    if out.returncode != 0:
        return dict(case, error=out.stderr.strip().splitlines()[-1:])
    return dict(case, **json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=3)
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--cap-gb", type=float, default=6.0)
    args = parser.parse_args(argv)
    rows = [run_case(v, args.images, args.cap_gb) for v in sorted({1, args.visitors})]
    rows.append(run_case(1, args.images, args.cap_gb, huge_labels=True))
    lines = ["| visitors at once | labels | file MB | baseline MB | peak MB | peak - baseline MB | held after MB | loaded "
             "| errors |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['visitors']} | {r['labels']} | | | | | | 0 | {r['error']} |")
            continue
        lines.append(f"| {r['visitors']} | {r['labels']} | {r['file_mb']:.0f} | {r['base_mb']:.0f} | {r['peak_mb']:.0f} | "
                     f"{r['peak_mb'] - r['base_mb']:.0f} | {r['after_mb'] - r['base_mb']:+.0f} | {r['loaded']} | "
                     f"{'; '.join(r['errors']) or '-'} |")
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "upload_memory.json").write_text(json.dumps(rows, indent=2) + "\n")
    (RESULTS / "upload_memory.md").write_text(
        f"# Uploaded .npz files: memory\n\n`python -m bench.bench_upload_memory --visitors {args.visitors} "
        f"--images {args.images} --cap-gb {args.cap_gb:g}` (address space capped at {args.cap_gb:g} GB)\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
