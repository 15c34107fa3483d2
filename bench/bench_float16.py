"""Is plain float16 rounding within the shipped tolerance (0.5/255), or does it need error feedback?

No float32 originals of the shipped checkpoints are kept, so this retrains shipped specs in float32
(core/pretrain/specs.py, the shipped seed, one thread, the pretrain recipe) and reports, per model,
the largest |decode(float16 weights) - decode(float32 weights)| with plain rounding to the nearest
float16 and with the error-feedback rounding (GPTQ's update, core/pretrain/float16.py) the shipped
weights were made with, against FLOAT16_TOLERANCE. Two sets of codes: the card's 256 check codes (z = 0, N(0, I) samples,
test codes; core.pretrain.float16.check_codes) and a wide set (as many N(0, I) samples as test
images, plus every test image's code). It also says whether the retrained float32 model, rounded
as shipped, gives the shipped weights bit for bit (then the retrain is the shipped model's original).

    nice -n 10 python -m bench.bench_float16                      # the sharpest decoders first
    python -m bench.bench_float16 --only mnist-vae-16 frey-vae-8
    nice -n 10 python -m bench.bench_float16 --resume            # the ones OUT.json does not have yet
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bench.run_all import RESULTS, write_results
from core.checkpoints import load_checkpoint
from core.models import LatentModel
from core.pipeline import train_and_save
from core.pretrain.float16 import FLOAT16_TOLERANCE, calibration_codes, check_codes, float16_roundtrip, float16_weights
from core.pretrain.run import PRETRAIN_THREADS, load_data
from core.pretrain.specs import select_specs, spec_names

# The sharpest decoders first (the largest plain-rounding errors the cards recorded at build time), then
# every other shipped checkpoint, the slowest to retrain (frey-linear-ae-2, 1,000 epochs) last.
SHARPEST = ("mnist-vae-16", "mnist-vae-16-beta0", "frey-vae-8", "mnist-vae-2", "mnist-vae-16-beta0.1",
            "mnist-dae-2", "mnist-ae-2")
DEFAULT_ORDER = (*SHARPEST, *(n for n in spec_names() if n not in SHARPEST and n != "frey-linear-ae-2"),
                 "frey-linear-ae-2")


@torch.no_grad()
def worst(model: LatentModel, stored: LatentModel, z: torch.Tensor) -> float:
    return float((model.decode(z) - stored.decode(z)).abs().max())


def measure(name: str) -> dict:
    spec = select_specs([name])[0]
    shipped = load_checkpoint(f"checkpoints/{name}")
    seed = (shipped.card.get("seeds") or {}).get("shipped_seed", spec.run.seed)
    dataset = load_data(spec, None)
    started = time.perf_counter()
    run = spec.run.replace(seed=seed)
    model = train_and_save(dataset, spec.model_config(dataset.image_shape), run.train_config(), None,
                           iwae_k=0, eval_images=200).model.eval()
    train_s = time.perf_counter() - started
    plain = float16_roundtrip(model)
    feedback, _ = float16_weights(model, calibration_codes(model, dataset))  # as shipped
    check = check_codes(model, dataset)
    wide = check_codes(model, dataset, n=2 * len(dataset.test_images))
    prior, test = wide[: len(wide) - len(dataset.test_images)], wide[len(wide) - len(dataset.test_images):]
    same = all(torch.equal(v, feedback.state_dict()[k]) for k, v in shipped.model.state_dict().items())
    card = shipped.card["float16_check"]
    return {
        "name": name, "seed": seed, "train_s": round(train_s, 1),
        "check_codes": len(check), "wide_codes": len(wide),
        "plain_check": worst(model, plain, check), "feedback_check": worst(model, feedback, check),
        "plain_wide": worst(model, plain, wide), "feedback_wide": worst(model, feedback, wide),
        "plain_wide_prior": worst(model, plain, prior), "plain_wide_test": worst(model, plain, test),
        "feedback_wide_prior": worst(model, feedback, prior), "feedback_wide_test": worst(model, feedback, test),
        "tolerance": FLOAT16_TOLERANCE,
        "card_plain_check": card.get("max_abs_diff_round_to_nearest"), "card_feedback_check": card["max_abs_diff"],
        "retrain_gives_shipped_weights": same,
        "shipped_vs_retrained_feedback_wide": worst(shipped.model, feedback, wide),
    }


def to_markdown(result: dict) -> str:
    head = ["name", "seed", "plain_check", "feedback_check", "plain_wide_prior", "plain_wide_test",
            "feedback_wide_prior", "feedback_wide_test", "card_plain_check",
            "card_feedback_check", "retrain_gives_shipped_weights", "train_s"]
    fmt = lambda v: f"{v:.2e}" if isinstance(v, float) and v < 1 else str(v)  # noqa: E731
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    rows += ["| " + " | ".join(fmt(r[k]) for k in head) + " |" for r in result["rows"]]
    return "\n".join([
        "# float16 storage: plain rounding vs error feedback, against the tolerance", "",
        f"Largest |decoded pixel| difference from the retrained float32 model (pixels in [0, 1]); tolerance "
        f"0.5/255 = {FLOAT16_TOLERANCE:.2e}. check: the card's 256 codes; wide: N(0, I) samples and every test "
        "image's code (2 x test images), split into its N(0, I) half (prior) and its test-code half (test). card_*: what the card recorded at build time on the original float32 "
        "model. `nice -n 10 python -m bench.bench_float16` (one thread; `--resume` goes on from the results file).", "",
        *rows, "",
        f"Plain rounding within tolerance on every model measured: {result['plain_within_tolerance']}"
        + "".join(f"; over it: {', '.join(over)}" for over in [[f"{r['name']} ({r['plain_wide']:.2e})" for r in
                  result["rows"] if r["plain_wide"] > r["tolerance"]]] if over) + ".",
        f"Error feedback within tolerance on every model measured: "
        f"{all(r['feedback_wide'] <= r['tolerance'] for r in result['rows'])} "
        f"(largest {max(r['feedback_wide'] for r in result['rows']):.2e}).",
        f"Retraining gave the shipped weights bit for bit: "
        f"{sum(r['retrain_gives_shipped_weights'] for r in result['rows'])} of {len(result['rows'])}.", ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", default=list(DEFAULT_ORDER), help="shipped checkpoint names, in order")
    parser.add_argument("--out", default=str(RESULTS / "float16"))
    parser.add_argument("--resume", action="store_true", help="keep OUT.json's rows and measure only the others")
    args = parser.parse_args(argv)
    torch.set_num_threads(PRETRAIN_THREADS)
    done = Path(args.out).with_suffix(".json")
    rows: list[dict] = json.loads(done.read_text())["rows"] if args.resume and done.exists() else []
    for name in [n for n in args.only if n not in {r["name"] for r in rows}]:
        rows.append(measure(name))
        print(rows[-1], flush=True)
        write_results(args.out, summary(rows), to_markdown)  # after every model: a long run keeps what it measured
    write_results(args.out, summary(rows), to_markdown)
    return 0


def summary(rows: list[dict]) -> dict:
    return {"rows": rows, "plain_within_tolerance": all(r["plain_wide"] <= r["tolerance"] for r in rows)}


if __name__ == "__main__":
    raise SystemExit(main())
