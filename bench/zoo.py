"""The bug zoo as a benchmark: detection rate, false alarms and seconds per case for `nr.check`.

    OMP_NUM_THREADS=1 .venv/bin/python bench/zoo.py [--measurements] [NAME_SUBSTRING ...]

A planted bug counts as detected when a finding with its root-cause code is at warning or
error; a healthy setup is a false alarm when any finding is at warning or error.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import torch  # noqa: E402

from nnrecipe.checks import check  # noqa: E402
from zoo.cases import CASES, HEALTHY  # noqa: E402


def measurements(stats: dict) -> str:
    """The numbers the thresholds were chosen from, for one case."""
    li = stats.get("loss_at_init") or {}
    ii = stats.get("input_ignored") or {}
    du = stats.get("dead_units") or {}
    lr = stats.get("lr_range") or {}
    prof = stats.get("gradient_profile") or []
    ratio = prof[0]["grad_norm"] / prof[-2]["grad_norm"] if len(prof) >= 2 else None
    parts = [
        f"init {li.get('loss', float('nan')):.4g}/{li.get('uniform_loss', float('nan')):.4g}",
        f"inputs t={ii.get('t', float('nan')):.3g} gain={ii.get('gain', float('nan')):.3g}",
        f"dead {du.get('fraction', float('nan')):.2f}({du.get('when', '-')})",
        f"lr {lr.get('configured', float('nan')):.2g} vs min {lr.get('lr_min', float('nan')):.2g}",
        f"grad ratio {ratio:.3g}" if ratio else "grad ratio -",
    ]
    return "; ".join(parts)


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    show = "--measurements" in argv
    wanted = [a for a in argv if not a.startswith("--")]
    rows = []
    for case in CASES + HEALTHY:
        if wanted and not any(w in case.name for w in wanted):
            continue
        kwargs = case.build()
        t0 = time.perf_counter()
        result = check(**kwargs)
        seconds = time.perf_counter() - t0
        loud = result.at_least("warning")
        if case.expect is None:
            ok = not loud
        else:
            ok = any(f.code == case.expect for f in loud)
        rows.append((case, ok, seconds))
        codes = ", ".join(f"{f.code}:{f.severity.value[0]}" for f in loud) or "-"
        label = (
            "found"
            if case.expect and ok
            else "MISSED"
            if case.expect
            else "clean"
            if ok
            else "FALSE ALARM"
        )
        print(
            f"{label:11s} {case.family:7s} {case.name:30s} {str(case.expect or 'healthy'):22s} "
            f"{seconds:5.1f} s  {codes}",
            flush=True,
        )
        if show:
            print(f"{'':12s}{measurements(result.stats)}", flush=True)
    bugs = [r for r in rows if r[0].expect]
    healthy = [r for r in rows if not r[0].expect]
    secs = [r[2] for r in rows]
    print()
    if bugs:
        print(
            f"detection rate: {sum(r[1] for r in bugs)}/{len(bugs)} planted bugs "
            f"({len({r[0].expect for r in bugs})} codes)"
        )
    if healthy:
        print(f"false alarms:   {sum(not r[1] for r in healthy)}/{len(healthy)} healthy setups")
    if secs:
        print(
            f"seconds per case: median {statistics.median(secs):.1f}, max {max(secs):.1f} "
            f"(torch threads: {torch.get_num_threads()})"
        )
    code = 0 if all(r[1] for r in rows) else 1
    if not wanted:  # nr.watch's loop zoo, next to the check zoo (bench/watch.py)
        from watch import loop_zoo

        print()
        code = max(code, loop_zoo())
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
