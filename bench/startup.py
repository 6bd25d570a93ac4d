"""Start-up time of the `nnrecipe` command against bare Python and ``import torch``.

Each command runs `--runs` times, interleaved; the median wall time is printed. Goal: the
light commands (``--help``, ``explain CODE``, ``env``) <= 0.5 s, without importing torch.

    python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass": ["-c", "pass"],
    'python -c "import torch"': ["-c", "import torch"],
    'python -c "import nnrecipe"': ["-c", "import nnrecipe"],
    "nnrecipe --help": ["-m", "nnrecipe", "--help"],
    "nnrecipe explain loss-at-init": ["-m", "nnrecipe", "explain", "loss-at-init"],
    "nnrecipe env": ["-m", "nnrecipe", "env"],
    "nnrecipe datasets": ["-m", "nnrecipe", "datasets"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    times: dict[str, list[float]] = {k: [] for k in COMMANDS}
    for _ in range(args.runs):
        for name, argv in COMMANDS.items():
            t0 = time.perf_counter()
            subprocess.run([sys.executable, *argv], check=True, capture_output=True)
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["python -c pass"])
    print(f"{'command':<32}{'median s':>10}{'minus python':>14}")
    for name, v in times.items():
        print(f"{name:<32}{statistics.median(v):>10.3f}{statistics.median(v) - base:>14.3f}")


if __name__ == "__main__":
    main()
