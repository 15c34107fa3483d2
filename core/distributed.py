"""Training on several processes with PyTorch's DistributedDataParallel (``torchrun``).

    torchrun --nproc_per_node 2 -m core train --model vae --dataset digits --batch-size 64 --out runs/digits-ddp

Without a process group nothing here changes a run. Under torchrun (RANK / WORLD_SIZE /
LOCAL_RANK in the environment):

* ``init_from_env`` starts the default process group: gloo on the CPU, NCCL on CUDA (one GPU
  per process, ``cuda:LOCAL_RANK``), with a timeout so a rank that fails or stalls cannot
  hang the others forever (``LATENT_DIST_TIMEOUT_S``, default 1800 s: rank 0 alone evaluates
  and saves while the others wait).
* ``wrap`` puts the fit loop's parts (core.train.Loop) under the group: DDP around the model,
  ``shard_batches``, a batch's sums over every rank, rank 0's decisions broadcast.
* ``shard_batches`` deals each rank its share of every global batch of an in-memory tensor:
  the epoch's permutation is drawn from the same seeded generator as in one process, rank r
  takes positions r, r + W, r + 2W ... (DistributedSampler's layout), and every rank makes the
  same number of steps. The W per-rank batches of step k together are exactly the one-process
  batch k at batch size W x per-rank batch.
* Loss scaling: each rank's loss is its sum over images / the per-rank batch size and DDP
  averages gradients over ranks, so the gradient is sum over the global batch / (W x per-rank
  batch) = the one-process objective at the global batch size.
* Decisions (NaN guard, early stopping, a callback's cancel) are made on the same numbers on
  every rank: each batch's sums are all-reduced, rank 0's validation loss and cancel are broadcast.
* Only rank 0 evaluates and writes; ``card_fields`` adds world size, backend and global batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.distributed as dist

from core.settings import settings

NOISE_SEED_STRIDE = 1_000_003  # rank r draws its reparameterization noise from seed + r * stride


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """True when the environment asks for more than one process (torchrun, or the variables set by hand)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def backend_for(device: str) -> str:
    """NCCL for CUDA (auto picks CUDA when there is one), gloo otherwise."""
    wants_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    return "nccl" if wants_cuda else "gloo"


def init_from_env(device: str = "auto") -> bool:
    """Start the default process group from torchrun's environment; returns True if this call started it.

    Does nothing (returns False) without WORLD_SIZE > 1 or when a group already exists.
    On CUDA every process takes the GPU of its LOCAL_RANK.
    """
    if not launched_by_torchrun() or dist.is_initialized():
        return False
    backend = backend_for(device)
    if backend == "nccl":
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"LOCAL_RANK={local_rank} but only {torch.cuda.device_count()} CUDA device(s) are visible: "
                "start at most one process per GPU (torchrun --nproc_per_node <= GPUs)"
            )
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, timeout=_dt.timedelta(seconds=settings().dist_timeout_s))
    return True


def shutdown() -> None:
    """Destroy the process group if there is one (call once at exit)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def info() -> DistInfo:
    """Rank, world size, local rank and backend of the current process group (one process: rank 0 of 1)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")),
                    dist.get_backend())


def is_main() -> bool:
    return info().is_main


def training_device(device: torch.device) -> torch.device:
    """The device this rank trains on: ``cuda`` becomes ``cuda:LOCAL_RANK`` under NCCL."""
    d = info()
    if d.active and device.type == "cuda" and device.index is None:
        return torch.device("cuda", d.local_rank)
    return device


def wrap(loop, train_x, config, device: torch.device):
    """The fit loop's parts (core.train.Loop) under a process group; the loop unchanged without one.

    DDP around the model: it broadcasts rank 0's initial weights, then averages the ranks'
    gradients in ``loss.backward()``. A tensor is dealt out by ``shard_batches`` (a stream shards
    itself with DistributedSampler). A batch's sums are added over the ranks, so the NaN guard
    stops every rank at the same step and the epoch's means cover every image; rank 0 alone
    measures and runs the callbacks, its validation loss and cancel are broadcast. Each rank
    reseeds its noise stream (rank 0 keeps the one-process stream), so the ranks'
    reparameterization samples are independent.
    """
    d = info()
    if d.backend is None:
        return loop
    from torch.nn.parallel import DistributedDataParallel

    if d.rank:
        torch.manual_seed(config.seed + d.rank * NOISE_SEED_STRIDE)
    ids = [device.index if device.index is not None else d.local_rank] if device.type == "cuda" else None
    batches = loop.batches
    if isinstance(train_x, torch.Tensor):
        shuffler = torch.Generator().manual_seed(config.seed)
        batches = lambda epoch: shard_batches(train_x, config.batch_size, shuffler)  # noqa: E731
    return dataclasses.replace(
        loop, model=DistributedDataParallel(loop.model, device_ids=ids), batches=batches,
        sum_over_ranks=all_reduce_sum, agree=lambda loss, cancel: broadcast_decision(loss, cancel, device),
        reports=d.is_main,
    )


def shard_batches(train_x: torch.Tensor, batch_size: int, shuffler: torch.Generator) -> Iterator[torch.Tensor]:
    """One epoch of this rank's batches (of ``batch_size`` images, the last ones may be short or empty).

    The permutation comes from ``shuffler`` as in core.train.shuffled_batches (the same seed gives
    the same epoch orders); rank r takes every W-th position from r. All ranks make
    ceil(N / (W x batch_size)) steps, so DDP's collectives always pair up.
    """
    d = info()
    order = torch.randperm(len(train_x), generator=shuffler).to(train_x.device)
    shard = order[d.rank::d.world_size]
    for k in range(-(-len(train_x) // (batch_size * d.world_size))):
        yield train_x[shard[k * batch_size:(k + 1) * batch_size]]


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over ranks in place."""
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast_decision(validation_loss: float | None, cancel: bool, device: torch.device) -> tuple[float | None, bool]:
    """Rank 0's (validation loss, cancel) on every rank: the early-stopping and cancel decisions agree."""
    t = torch.tensor([float("nan") if validation_loss is None else validation_loss, float(cancel)],
                     dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    loss, flag = t.tolist()
    return (None if loss != loss else loss), flag > 0


def barrier() -> None:
    if info().active:
        dist.barrier()


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (downloads, caches), the other ranks after it."""
    d = info()
    if d.active and not d.is_main:
        dist.barrier()
    try:
        yield
    finally:
        if d.active and d.is_main:
            dist.barrier()


def check_output_writable(out: str | Path) -> str | None:
    """On rank 0, whether ``out``'s folder can take files; the verdict is shared with every rank.

    Returns None when writable, else the reason (the same string on every rank), so a wrong
    --out stops all ranks before training instead of failing on rank 0 after it.
    """
    d = info()
    reason = None
    if d.is_main:
        folder = Path(out).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
                pass
        except OSError as err:
            reason = f"cannot write to {folder} ({err.strerror or err})"
    if d.active:
        box = [reason]
        dist.broadcast_object_list(box, src=0)
        reason = box[0]
    return reason


def card_fields(per_rank_batch: int) -> dict:
    """What the card records about a distributed run ({} in one process: cards stay as they were)."""
    d = info()
    if not d.active:
        return {}
    return {"distributed": {
        "world_size": d.world_size,
        "backend": d.backend,
        "per_rank_batch": per_rank_batch,
        "global_batch": per_rank_batch * d.world_size,
    }}
