"""Versions and machine facts for run folders and bug reports, without importing torch."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

PACKAGES = ("nnrecipe", "torch", "torchvision", "numpy", "scikit-learn", "optuna", "cleanlab")


def versions() -> dict[str, str]:
    """Python's and the installed packages' versions (from their metadata: nothing imported)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for pkg in PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def gpus() -> list[str]:
    """The NVIDIA GPUs the driver lists (Linux), read from /proc: no CUDA runtime needed."""
    root = Path("/proc/driver/nvidia/gpus")
    names = []
    for info in sorted(root.glob("*/information")) if root.is_dir() else []:
        for line in info.read_text(errors="replace").splitlines():
            if line.startswith("Model:"):
                names.append(line.split(":", 1)[1].strip())
    return names


def machine() -> dict[str, str]:
    """Platform, cores, thread setting and GPUs, as the lines of `nnrecipe env`."""
    found = gpus()
    apple = sys.platform == "darwin" and platform.machine() == "arm64"
    return {
        "platform": platform.platform(),
        "cpu cores available": str(cpu_cores()),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset (torch: one thread per core)"),
        "gpus (NVIDIA driver)": ", ".join(found) if found else "none found",
        # What nnrecipe would pick, from the driver alone (`nnrecipe env --torch` asks torch).
        "device": "cuda" if found else "mps (if torch has it), else cpu" if apple else "cpu",
    }
