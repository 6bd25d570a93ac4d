"""Device and CPU-thread choice.

On small CPU machines torch's default of one OpenMP thread per core can be far slower than one
thread when anything else runs: idle OpenMP workers spin-wait for the next parallel region and
fight other processes for the cores. Measured on this project's 2-core machines with another
process busy: 500 Adam steps of a small MLP took 0.4 s on one thread and 3-85 s on two; a
MNIST-1D CNN epoch took 15.5 s vs 134 s. Larger conv nets at batch 512 gain from two threads.

nnrecipe sets ``OMP_WAIT_POLICY=PASSIVE`` (unless set) when it is imported before torch, so idle
threads sleep: measured with other processes busy, two threads on an MNIST-1D CNN took 22.7 s per
two epochs spinning and 4.9 s passive (one thread: 4-6 s). And nnrecipe measures: a few training steps of the actual model and batch on one thread and on
all cores, and takes more threads only when they are clearly faster (25% or more). Steps that
take under 5 ms on one thread never use more. The user can override (``threads=N``,
``--threads N``) and the choice is recorded in the run folder (and kept on resume, since float
sums may differ between thread counts).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import torch

from nnrecipe.errors import ConfigError

# More threads must be at least this much faster to be chosen.
SPEEDUP_NEEDED = 1.25
# A step faster than this on one thread is too small to gain from more.
SMALL_STEP_SECONDS = 0.005


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The given device, else CUDA, else Apple MPS, else the CPU.

    Raises:
        ConfigError: the device is unknown to torch or absent on this machine.
    """
    if device is not None:
        return check_device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def check_device(device: str | torch.device) -> torch.device:
    """`device` as a torch.device, if torch knows it and this machine has it."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ConfigError(
            f"Unknown device {str(device)!r} ({str(e).splitlines()[0][:80]}): use cpu, cuda, "
            "cuda:N or mps."
        ) from None
    have = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None
        and torch.backends.mps.is_available(),
    }.get(dev.type)
    if not have:
        found = "cuda" if torch.cuda.is_available() else "no GPU"
        raise ConfigError(
            f"Device {str(device)!r} is not available on this machine (it has {found}): "
            "drop --device to use the best device present, or pass --device cpu."
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(
            f"Device {str(device)!r} does not exist: this machine has "
            f"{torch.cuda.device_count()} CUDA device(s)."
        )
    return dev


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def _time_steps(step: Callable[[], None], threads: int, repeats: int = 3) -> float:
    torch.set_num_threads(threads)
    step()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
    return best


def choose_threads(step: Callable[[], None], max_threads: int | None = None) -> int:
    """The number of CPU threads for training, measured on `step` (one training step)."""
    cores = max_threads or cpu_count()
    if cores <= 1:
        torch.set_num_threads(1)
        return 1
    one = _time_steps(step, 1)
    if one < SMALL_STEP_SECONDS:
        torch.set_num_threads(1)
        return 1
    many = _time_steps(step, cores)
    chosen = cores if one / many >= SPEEDUP_NEEDED else 1
    torch.set_num_threads(chosen)
    return chosen
