"""(Re)build the stored codes of every checkpoint in a folder: NAME.codes.safetensors beside
NAME.safetensors (core/codes.py), from the checkpoints as they are now.

    python -m scripts.build_codes                         # checkpoints/
    python -m scripts.build_codes --dir runs/x --only mnist-vae-2 --data-dir DATA

Run it after rebuilding checkpoints by hand (``python -m core pretrain`` does it by itself).
A checkpoint whose data is not on this machine is skipped with a note; the app then encodes
on first use, as it does for any checkpoint without codes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.codes import MAX_CODES, build_codes, codes_path, dataset_for
from core.data import DatasetError

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default=str(REPO / "checkpoints"))
    parser.add_argument("--only", nargs="*", help="checkpoint names (default: every one in --dir)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--limit", type=int, default=MAX_CODES, help="the most test images encoded per checkpoint")
    args = parser.parse_args(argv)
    from core.checkpoints import list_checkpoints

    cards = [c for c in list_checkpoints(args.dir) if not c.error and (not args.only or c["name"] in args.only)]
    datasets: dict[tuple, object] = {}
    total, failed = 0, 0
    for card in cards:
        key = (str((card.get("dataset") or {}).get("path") or (card.get("dataset") or {}).get("name")),
               tuple(card["model_config"]["image_shape"]), str((card.get("dataset") or {}).get("image_size")))
        t0 = time.perf_counter()
        try:
            if key not in datasets:
                datasets[key] = dataset_for(card, args.data_dir)
            path = build_codes(card["path"], datasets[key], limit=args.limit)
        except DatasetError as err:
            print(f"skipped {card['name']}: its data is not here ({err})", file=sys.stderr)
            failed += 1
            continue
        size = path.stat().st_size
        total += size
        print(f"{path.name}: {size / 1024:.0f} KiB ({time.perf_counter() - t0:.1f} s)")
    print(f"{len(cards) - failed} codes file(s), {total / 2**20:.2f} MiB in all"
          + (f"; {failed} skipped" if failed else ""))
    return 1 if failed and args.only else 0


if __name__ == "__main__":
    raise SystemExit(main())
