"""DistributedDataParallel under torchrun: sharding, loss scaling, two gloo processes.

The two-process test launches ``torchrun --standalone --nproc_per_node 2 tests/ddp_worker.py``
once (process start-up is the slow part) and checks, from that one launch:

* the sweep's card records world size 2, gloo and global batch 64 = 2 x 32;
* only rank 0 called save_checkpoint, and the folder holds exactly NAME.safetensors + NAME.json;
* its test -ELBO matches one process at the same global batch (64): the gap to the one-process
  run of the same seed is no larger than the spread of one-process runs over seeds 0, 1, 2,
  measured here in the test. (Recorded when written: one process 29.416 / 29.176 / 29.539 nats
  for seeds 0 / 1 / 2, spread 0.364; two processes 29.422, gap 0.006.)
* a --out that cannot be written stops both ranks before training (exit code 2), and a NaN loss
  on rank 1 alone stops both ranks at that step (exit code 1) with nothing written; neither hangs
  (LATENT_DIST_TIMEOUT_S=60 turns a hang into an error, the launch itself is limited to 240 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from core import distributed
from core.distributed import DistInfo
from core.models import ModelConfig, build_model
from core.pipeline import train_and_save
from core.train import TrainConfig, batch_objective, fit, shuffled_batches, wrapped_loop

pytestmark = pytest.mark.usefixtures("single_thread")

REPO = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).with_name("torchrun")
SETTINGS = dict(latent_dim=2, hidden=(64,))  # as tests/ddp_worker.py's COMMON flags
EPOCHS, PER_RANK_BATCH, WORLD = 5, 32, 2


def as_rank(monkeypatch, rank: int, world: int) -> None:
    monkeypatch.setattr(distributed, "info", lambda: DistInfo(rank, world, rank, "gloo"))


@pytest.mark.parametrize("n, batch", [(10, 2), (11, 2), (9, 4), (1437, 32), (5, 4)])
def test_rank_batches_together_are_the_one_process_batches(monkeypatch, n, batch):
    """Step k's per-rank batches are, together, exactly batch k of one process at W x the batch size,
    every rank makes the same number of steps (short or empty batches at the end), and the next
    epoch reshuffles from the same seeded generator."""
    x = torch.arange(n).float().view(n, 1, 1, 1)
    for epoch in range(2):
        one = [b.flatten().tolist() for b in _batches(shuffled_batches, x, batch * WORLD, seed=7, epochs=epoch + 1)]
        per_rank = []
        for rank in range(WORLD):
            as_rank(monkeypatch, rank, WORLD)
            per_rank.append([b.flatten().tolist()
                             for b in _batches(distributed.shard_batches, x, batch, seed=7, epochs=epoch + 1)])
        monkeypatch.undo()
        assert len(per_rank[0]) == len(per_rank[1]) == len(one)
        for k, global_batch in enumerate(one):
            assert sorted(per_rank[0][k] + per_rank[1][k]) == sorted(global_batch)
        assert sorted(v for b in per_rank[0] + per_rank[1] for v in b) == list(range(n))


def _batches(batcher, x, batch, seed, epochs):
    shuffler = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        out = list(batcher(x, batch, shuffler))
    return out


def test_ddp_gradient_equals_the_one_process_gradient_at_the_global_batch(digits):
    """Each rank's loss is sum / per-rank batch; DDP averages the ranks' gradients. That mean is the
    gradient of sum over the global batch / global batch: the one-process objective."""
    torch.manual_seed(0)
    model = build_model(ModelConfig("ae", digits.image_shape, **SETTINGS))
    x = torch.from_numpy(digits.train_images[:60])  # 60 = a ragged global batch of 64

    def grads(loss):
        model.zero_grad()
        loss.backward()
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    terms = model.loss_terms(x)
    one_process = grads(batch_objective(terms.reconstruction, PER_RANK_BATCH * WORLD))
    shards = [x[r::WORLD] for r in range(WORLD)]
    ranks = [grads(batch_objective(model.loss_terms(s).reconstruction, PER_RANK_BATCH)) for s in shards]
    torch.testing.assert_close(sum(ranks) / WORLD, one_process, rtol=1e-5, atol=1e-6)


def test_the_ddp_wrapper_in_a_one_process_group_trains_the_same_weights(digits):
    """In a real gloo group of world size 1 the fit loop runs through core.distributed.wrap (DDP
    around the model, sharded batches, all-reduced sums, broadcast decisions) and must end on the
    very weights, and the very history, of the plain loop: the wrapper changes where work is done,
    never what is computed."""
    x, t = torch.from_numpy(digits.train_images[:400]), torch.from_numpy(digits.test_images[:100])
    config = TrainConfig(epochs=6, batch_size=48, lr=3e-2, validation_fraction=0.2, patience=2, device="cpu", seed=3)

    def run():
        torch.manual_seed(3)
        model = build_model(ModelConfig("vae", digits.image_shape, **SETTINGS, input_noise=0.1))
        return model, fit(model, x, t, config)

    plain_model, plain = run()
    assert not isinstance(wrapped_loop(plain_model, x, config, torch.device("cpu")).model, DistributedDataParallel)
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        assert isinstance(wrapped_loop(plain_model, x, config, torch.device("cpu")).model, DistributedDataParallel)
        ddp_model, ddp = run()
    finally:
        dist.destroy_process_group()
    assert [without_seconds(s) for s in ddp.history] == [without_seconds(s) for s in plain.history]
    assert (ddp.best_epoch, ddp.n_validation) == (plain.best_epoch, plain.n_validation) == (plain.best_epoch, 80)
    for (name, a), b in zip(plain_model.state_dict().items(), ddp_model.state_dict().values()):
        assert torch.equal(a, b), name


def without_seconds(stats) -> dict:
    return {k: v for k, v in stats.to_dict().items() if k != "seconds"}


def test_one_process_cards_have_no_distributed_fields(digits):
    assert distributed.info() == DistInfo() and distributed.card_fields(32) == {}
    trained = train_and_save(digits, ModelConfig("ae", digits.image_shape, **SETTINGS),
                             TrainConfig(epochs=1, batch_size=64), out=None, iwae_k=0)
    assert "distributed" not in trained.card and "amp" not in trained.card["train_config"]


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    if not TORCHRUN.exists():
        pytest.skip(f"torchrun not found next to {sys.executable}")
    results = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LATENT_DIST_TIMEOUT_S": "60", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [str(TORCHRUN), "--standalone", "--nproc_per_node", str(WORLD), str(REPO / "tests" / "ddp_worker.py"),
         str(results)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    ranks = [json.loads((results / f"rank{r}.json").read_text()) for r in range(WORLD)]
    return results, ranks, proc.stderr


def test_two_processes_card_records_world_size_backend_and_global_batch(two_process_run):
    results, ranks, _ = two_process_run
    card = json.loads((results / "out" / "ddp-beta1.json").read_text())
    assert card["distributed"] == {"world_size": 2, "backend": "gloo", "per_rank_batch": PER_RANK_BATCH,
                                   "global_batch": PER_RANK_BATCH * WORLD}
    assert card["train_config"]["batch_size"] == PER_RANK_BATCH and card["epochs"] == EPOCHS
    assert all(r["world"] == WORLD and r["codes"]["sweep"] == 0 for r in ranks)


def test_only_rank_0_writes(two_process_run):
    results, ranks, _ = two_process_run
    assert ranks[0]["saves"] == [str(results / "out" / "ddp-beta1")]
    assert ranks[1]["saves"] == []
    assert sorted(p.name for p in (results / "out").iterdir()) == ["ddp-beta1.json", "ddp-beta1.safetensors"]


def test_an_unwritable_out_stops_every_rank_before_training(two_process_run):
    results, ranks, stderr = two_process_run
    assert [r["codes"]["bad_out"] for r in ranks] == [2, 2]
    assert "argument --out: cannot write to" in stderr


def test_a_nan_on_one_rank_stops_every_rank_and_writes_nothing(two_process_run):
    results, ranks, stderr = two_process_run
    assert [r["codes"]["nan"] for r in ranks] == [1, 1]
    assert [r["nan_steps"] for r in ranks] == [31, 31]  # both stopped at the step where rank 1's loss became NaN
    assert "the loss became nan in epoch 2 " in stderr  # the global batch's loss (rank 0 prints it)
    assert not any((results / "nan").iterdir())


def test_two_processes_reach_the_one_process_elbo_at_the_same_global_batch(two_process_run, digits):
    results, _, _ = two_process_run
    ddp = json.loads((results / "out" / "ddp-beta1.json").read_text())["metrics"]["neg_elbo"]
    one = {}
    for seed in (0, 1, 2):
        trained = train_and_save(
            digits, ModelConfig("vae", digits.image_shape, **SETTINGS),
            TrainConfig(epochs=EPOCHS, batch_size=PER_RANK_BATCH * WORLD, seed=seed, device="cpu"),
            out=None, iwae_k=0,
        )
        one[seed] = trained.metrics.neg_elbo
    spread = max(one.values()) - min(one.values())
    print(f"one process -ELBO by seed {one}, spread {spread:.3f}; two processes {ddp:.3f}")
    assert abs(ddp - one[0]) <= spread, (ddp, one)


def test_rank_0_decides_cancel_and_early_stopping_for_every_rank(two_process_run):
    _, ranks, _ = two_process_run
    assert [r["library"]["cancel"] for r in ranks] == [[True, 2], [True, 2]]
    early = [r["library"]["early"] for r in ranks]
    assert early[0][:3] == early[1][:3]  # same best epoch, same number of epochs, same validation split
    assert early[0][1] < 12 and early[0][0] is not None  # it did stop early, keeping the best epoch's weights
    assert early[0][3] == early[1][3]  # rank 0's validation losses, broadcast to rank 1
