"""Data-parallel training on `torch.distributed` (the engine behind ``torchrun``).

Every process (rank) holds a full copy of the model, wrapped in `DistributedDataParallel`,
which averages the gradients across ranks in the backward pass: all ranks apply the same
update. ``nnrecipe run DATA --nproc N`` starts N ranks through `torch.distributed.run`;
``torchrun ... -m nnrecipe run DATA`` does the same with torchrun's own options (``--nnodes``,
``--rdzv-endpoint``, ...). Gloo on the CPU, NCCL on CUDA.

- In-memory data: one seeded permutation per epoch, the same on every rank; each global batch
  of ``batch_size × world_size`` samples is cut into one part per rank. A last, smaller global
  batch is cut as evenly as possible and each rank's loss weighted by its share, so the
  averaged gradient is the one of the whole global batch, as in one process.
- Streamed data: a `DistributedSampler` (seeded, ``set_epoch`` every epoch).
- Rank 0 alone writes checkpoints, metrics, the report and progress; the others read the
  checkpoint on resume. The RNG states of every rank go into the checkpoint, so a resumed run
  with the same world size is bit-identical on CPU.

`nr.run` joins the process group torchrun prepared; a script of your own calls
``torch.distributed.init_process_group()`` first, and `nr.Learner` trains data-parallel on it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from nnrecipe.data.batch import Inputs, batch_take
from nnrecipe.data.split import Split

# Set by `launch` for its processes: they end when the `nnrecipe` command does, even on SIGKILL.
LAUNCHED_BY_NNRECIPE = "NNRECIPE_LAUNCHED"
# A rank waits this long for the others (a stage running on rank 0 alone, e.g. the audit).
TIMEOUT = timedelta(minutes=60)


def in_launcher() -> bool:
    """True inside a process started by torchrun (``nnrecipe run --nproc N`` or torchrun)."""
    return "LOCAL_RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device: str | None = None) -> bool:
    """Join the process group torchrun set up (env://); True when this call created it."""
    if not in_launcher() or dist.is_initialized():
        return False
    if os.environ.get(LAUNCHED_BY_NNRECIPE):
        _die_with_parent()
    cuda = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    if cuda:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group(backend="nccl" if cuda else "gloo", timeout=TIMEOUT)
    return True


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent (the launcher) dies: torchrun starts
    its processes in sessions of their own, so a killed `nnrecipe` command would leave them
    training on, writing into the run folder it was killed in."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the launcher died before the request: follow it now
        os._exit(137)


def teardown() -> None:
    """Leave the process group together: ranks that finished early (every rank but 0 stops
    after training) wait for rank 0, so that no process exits while another still holds the
    group (gloo aborts the late one with "terminate called without an active exception")."""
    if dist.is_initialized():
        try:
            dist.barrier()
        except Exception:  # noqa: BLE001 - a rank that died: leave anyway
            pass
        dist.destroy_process_group()


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def local_world_size() -> int:
    return int(os.environ.get("LOCAL_WORLD_SIZE", world_size()))


def is_main() -> bool:
    """Whether this process writes (rank 0, or the only process)."""
    return rank() == 0


def broadcast(obj: Any, src: int = 0) -> Any:
    """`obj` of rank `src`, on every rank (picklable objects; `obj` is ignored elsewhere)."""
    if world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def gather(obj: Any) -> list[Any]:
    """`obj` of every rank, in rank order, on every rank."""
    if world_size() == 1:
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def all_sum(t: Tensor) -> Tensor:
    """`t` summed over the ranks (in place, returned)."""
    if world_size() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """`model` in DistributedDataParallel (rank 0's weights are broadcast to the others)."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def drop_last_for(n: int, global_batch: int, world: int) -> bool:
    """Drop the last global batch when some rank would get fewer than 2 of its samples (a
    batch of one breaks BatchNorm; none breaks the collective)."""
    rest = n % global_batch
    return 0 < rest < 2 * world and n > rest


def shard_batches(
    split: Split,
    batch_size: int,
    *,
    generator: torch.Generator,
    drop_last: bool,
    epoch: int,
    seed: int,
    pin_memory: bool = False,
) -> Iterator[tuple[Inputs, Tensor, float]]:
    """This rank's part of every global batch: ``(x, y, weight)``, where `weight` scales the
    rank's mean loss so that the average over ranks is the global batch's mean loss."""
    r, w = rank(), world_size()
    if not split.in_memory:
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(
            split.dataset,  # type: ignore[arg-type]
            num_replicas=w,
            rank=r,
            shuffle=True,
            seed=seed,
            drop_last=drop_last,
        )
        sampler.set_epoch(epoch)  # a new order each epoch, the same on every rank
        batches = split.batches(
            batch_size, sampler=sampler, drop_last=drop_last, pin_memory=pin_memory
        )
        for xb, yb in batches:
            yield xb, yb, 1.0  # the sampler pads every rank to the same number of samples
        return
    n = len(split)
    g = batch_size * w
    order = torch.randperm(n, generator=generator)  # the same draw on every rank
    stop = n - n % g if drop_last and n >= g else n
    for start in range(0, stop, g):
        part = order[start : start + g].tensor_split(w)[r]
        size = min(g, n - start)
        weight = 1.0 if size == g else len(part) * w / size
        yield batch_take(split.x, part), split.y[part], weight  # type: ignore[arg-type,index]


def launch(nproc: int, args: list[str]) -> int:
    """Run ``nnrecipe ARGS`` in `nproc` processes on this machine through torch.distributed.run
    (torchrun's engine, standalone rendezvous on a free port); returns the exit code."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser
    from torch.distributed.run import run as torchrun

    options = get_args_parser().parse_args(
        # "--": every later argument is nnrecipe's, even one torchrun would read as its own.
        ["--standalone", f"--nproc-per-node={nproc}", "--module", "--", "nnrecipe", *args]
    )
    import logging

    # The processes print their own one-line errors; torchrun's agent would add its log lines.
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    os.environ[LAUNCHED_BY_NNRECIPE] = "1"
    try:
        torchrun(options)
    except ChildFailedError as e:
        codes = [f.exitcode for f in e.failures.values()]
        return 2 if 2 in codes else next((c for c in codes if c > 0), 1)
    return 0
