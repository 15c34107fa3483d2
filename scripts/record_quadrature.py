"""Record log p(x) by quadrature, the optimised q and the ELBO's two gaps on 2-D VAE cards.

    python -m scripts.record_quadrature --only mnist-vae-2 --first 200 --iwae-k 5000
    python -m scripts.record_quadrature --only frey-vae-2 digits-vae-2 --iwae-k 5000   # the full test sets

Each card gets a "quadrature" entry: the metrics of ``python -m core evaluate NAME --json
--quadrature`` on the same images (a stated sample or the full test set) and the command that
reproduces them. The weights, and the card's other entries, stay as they are; the card is
rewritten atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from core.atomicfile import write_atomically
from core.checkpoints import read_card

REPO = Path(__file__).resolve().parents[1]
RECORDED_KEYS = ("n_test", "likelihood", "nll_quadrature", "quadrature_change", "iwae_nll", "iwae_k", "neg_elbo",
                 "neg_elbo_encoder", "neg_elbo_optimised", "amortization_gap", "approximation_gap")


def record(name: str, folder: Path, first: int | None, iwae_k: int, data_dir: str | None) -> dict:
    """Evaluate checkpoint ``name`` with --quadrature and write the result into its card."""
    import contextlib
    import io

    from core.__main__ import main

    argv = ["evaluate", str(folder / name), "--json", "--quadrature", "--iwae-k", str(iwae_k), "--no-download"]
    argv += ["--first", str(first)] if first else []
    argv += ["--data-dir", data_dir] if data_dir else []
    out = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        status = main(argv)
    if status:
        raise SystemExit(f"evaluate {name} failed with status {status}")
    metrics = json.loads(out.getvalue())["metrics"]
    card_path = folder / f"{name}.json"
    card = read_card(card_path).to_dict()
    n = metrics["n_test"]
    card["quadrature"] = {
        "images": f"the first {n} test images" if first else f"the full test set ({n} images)",
        "command": "python -m core evaluate " + " ".join(argv[1:]).replace(str(folder), folder.name),
        "seconds": round(time.perf_counter() - t0, 1),
        **{key: metrics[key] for key in RECORDED_KEYS},
    }
    write_atomically(card_path, lambda tmp: Path(tmp).write_text(json.dumps(card, indent=1)))
    return card["quadrature"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default=str(REPO / "checkpoints"))
    parser.add_argument("--only", nargs="+", required=True, help="checkpoint names (2-D VAEs)")
    parser.add_argument("--first", type=int, default=None, help="the first N test images (default: all)")
    parser.add_argument("--iwae-k", type=int, default=5000)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    for name in args.only:
        entry = record(name, Path(args.dir), args.first, args.iwae_k, args.data_dir)
        print(name, json.dumps(entry), file=sys.stdout, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
