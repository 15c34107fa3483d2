"""One torchrun worker for tests/test_distributed.py: several CLI runs inside one process group.

    torchrun --standalone --nproc_per_node 2 tests/ddp_worker.py RESULTS_DIR

Starting processes is the slow part on a small CI machine, so one launch covers:

1. ``sweep`` (2 gloo processes, per-rank batch 32) on digits: the card, and who called save_checkpoint;
2. ``train`` with an --out that cannot be written: every rank must stop with exit code 2, no hang;
3. ``train`` where rank 1's loss becomes NaN in epoch 2: every rank must stop at that step
   with exit code 1, nothing written;
4. through core.pipeline: a callback on rank 0 that cancels in epoch 2 (every rank must stop
   there), and early stopping on a validation split (every rank must stop at the same epoch).

Each rank writes RESULTS_DIR/rank<R>.json with the exit codes and its save_checkpoint calls.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import core.models  # noqa: E402
import core.pipeline  # noqa: E402
from core import distributed  # noqa: E402
from core.__main__ import main  # noqa: E402

COMMON = ["--model", "vae", "--dataset", "digits", "--latent-dim", "2", "--hidden", "64", "--epochs", "5",
          "--batch-size", "32", "--lr", "1e-3", "--lr-schedule", "constant", "--iwae-k", "0", "--device", "cpu"]


def run() -> None:
    results = Path(sys.argv[1])
    torch.set_num_threads(1)
    distributed.init_from_env("cpu")
    rank = distributed.info().rank
    saves: list[str] = []
    real_save = core.pipeline.save_checkpoint

    def recording_save(model, path, *args, **kwargs):
        saves.append(str(path))
        return real_save(model, path, *args, **kwargs)

    core.pipeline.save_checkpoint = recording_save
    codes = {}
    codes["sweep"] = main(["sweep", *COMMON, "--betas", "1", "--out", str(results / "out" / "ddp")])

    blocker = results / "a-file"
    blocker.write_text("not a folder")
    codes["bad_out"] = main(["train", *COMMON, "--out", str(blocker / "sub" / "x")])

    real_forward = core.models.LatentModel.forward
    calls = {"n": 0}

    def nan_on_rank1(self, x):  # rank 1's model diverges in its 31st training step (23 steps per epoch)
        calls["n"] += 1
        terms = real_forward(self, x)
        if rank == 1 and calls["n"] > 30:
            return terms._replace(reconstruction=terms.reconstruction * float("nan"))
        return terms

    core.models.LatentModel.forward = nan_on_rank1
    codes["nan"] = main(["train", *COMMON, "--out", str(results / "nan" / "x")])
    core.models.LatentModel.forward = real_forward

    # Through the library: a callback on rank 0 cancels in epoch 2; early stopping on a validation split.
    from core.data import load_dataset
    from core.models import ModelConfig
    from core.train import TrainConfig

    digits = load_dataset("digits")
    model_config = ModelConfig("vae", digits.image_shape, 2, hidden=(64,))

    class CancelAt2:
        def on_epoch_end(self, stats):
            return stats.epoch == 2

    cancelled = core.pipeline.train_and_save(digits, model_config, TrainConfig(epochs=5, batch_size=32, device="cpu"),
                                             None, callbacks=[CancelAt2()] if rank == 0 else [], iwae_k=0)
    early = core.pipeline.train_and_save(
        digits, model_config,
        TrainConfig(epochs=12, batch_size=32, lr=3e-2, validation_fraction=0.2, patience=1, device="cpu"),
        None, iwae_k=0)
    library = {
        "cancel": [cancelled.result.cancelled, len(cancelled.result.history)],
        "early": [early.result.best_epoch, len(early.result.history), early.result.n_validation,
                  [s.validation_loss for s in early.result.history]],
    }
    (results / f"rank{rank}.json").write_text(json.dumps({"codes": codes, "nan_steps": calls["n"], "saves": saves,
                                                          "library": library, "world": distributed.info().world_size}))
    distributed.shutdown()


if __name__ == "__main__":
    run()
