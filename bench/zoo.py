"""The bug zoo as a benchmark: detection rate, false alarms and seconds per case for `nr.check`.

    OMP_NUM_THREADS=1 .venv/bin/python bench/zoo.py [--measurements] [NAME_SUBSTRING ...]
    OMP_NUM_THREADS=1 .venv/bin/python bench/zoo.py --mutants [--save] [NAME_SUBSTRING ...]

A planted bug counts as detected when a finding with its root-cause code is at warning or
error; a healthy setup is a false alarm when any finding is at warning or error.

``--mutants`` runs the mutation zoo (tests/zoo/mutations.py): every healthy setup is trained in
plain PyTorch and must reach its minimum metric; every mutant is trained the same way and
counts only when its metric is clearly worse (it manifests). Detection is reported per
operator, false alarms per healthy setup, and wall-clock and CPU seconds per case (the machine
is shared: CPU seconds show what the check itself costs). ``--save`` writes the verification
(metrics, manifests or not) to tests/zoo/verified.json for the test suite.
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
        f"train-eval {(stats.get('train_eval') or {}).get('excess', float('nan')):.3g}",
        f"work {stats.get('work_seconds', float('nan')):.1f} s",
    ]
    return "; ".join(parts)


def mutants(argv: list[str]) -> int:
    import json
    from collections import defaultdict

    from zoo.mutations import HEALTHY_MIN, manifests, mutants, verify

    wanted = [a for a in argv if not a.startswith("--")]
    healthy_metric: dict[str, float] = {}
    saved: dict[str, dict] = {}
    per_op: dict[str, list[bool]] = defaultdict(list)
    alarms: dict[str, list[str]] = {}
    quiet_equivalent: list[bool] = []
    walls, cpus = [], []
    for case in mutants():
        if wanted and not any(w in case.name for w in wanted):
            continue
        metric = verify(case)
        if case.operator is None:
            healthy_metric[case.setup.name] = metric
        base = healthy_metric.get(case.setup.name)
        if base is None:
            base = healthy_metric[case.setup.name] = verify(
                type(case)(case.setup, None, frozenset())
            )
        real = case.operator is None or manifests(metric, base)
        saved[case.name] = {"metric": metric, "healthy": base, "manifests": real}
        kwargs = case.build()
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        t0, c0 = time.perf_counter(), time.process_time()
        result = check(**kwargs)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        walls.append(wall)
        cpus.append(cpu)
        loud = result.at_least("warning")
        codes = ", ".join(f"{f.code}:{f.severity.value[0]}" for f in loud) or "-"
        if case.operator is None:
            ok = base >= HEALTHY_MIN and not loud
            label = "clean" if ok else ("UNTRAINED" if base < HEALTHY_MIN else "FALSE ALARM")
            alarms[case.setup.name] = [f.code for f in loud]
        elif real:
            ok = any(f.code in case.expect for f in loud)
            per_op[case.operator].append(ok)
            label = "found" if ok else "MISSED"
        else:
            ok = True
            quiet_equivalent.append(not loud)
            label = "no-effect"
        print(
            f"{label:11s} {case.name:42s} metric {metric:6.3f} (healthy {base:.3f}) "
            f"{wall:5.1f} s wall {cpu:5.1f} s cpu  {codes}",
            flush=True,
        )
        if "--measurements" in argv:
            print(f"{'':12s}{measurements(result.stats)}", flush=True)
    print()
    found = [v for vs in per_op.values() for v in vs]
    for op, vs in sorted(per_op.items()):
        print(f"  {op:22s} {sum(vs)}/{len(vs)} detected")
    if found:
        print(
            f"detection rate: {sum(found)}/{len(found)} verified mutants ({100 * sum(found) / len(found):.1f}%)"
        )
    if alarms:
        bad = {k: v for k, v in alarms.items() if v}
        print(f"false alarms:   {len(bad)}/{len(alarms)} healthy setups {bad or ''}")
    if quiet_equivalent:
        print(
            f"mutants without effect on the metric (not counted): {len(quiet_equivalent)}, "
            f"{sum(quiet_equivalent)} with no warning"
        )
    if walls:
        print(
            f"seconds per case: median {statistics.median(walls):.1f}, max {max(walls):.1f} wall; "
            f"median {statistics.median(cpus):.1f}, max {max(cpus):.1f} CPU"
        )
    if "--save" in argv and not wanted:
        out = Path(__file__).resolve().parents[1] / "tests" / "zoo" / "verified.json"
        out.write_text(json.dumps(saved, indent=1, sort_keys=True) + "\n")
    ok_all = all(found) and not any(alarms.values())
    return 0 if ok_all else 1


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    if "--mutants" in argv:
        return mutants(argv)
    show = "--measurements" in argv
    wanted = [a for a in argv if not a.startswith("--")]
    rows = []
    cpu_secs: list[float] = []
    for case in CASES + HEALTHY:
        if wanted and not any(w in case.name for w in wanted):
            continue
        kwargs = case.build()
        t0, c0 = time.perf_counter(), time.process_time()
        result = check(**kwargs)
        seconds = time.perf_counter() - t0
        cpu_secs.append(time.process_time() - c0)
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
            f"seconds per case: median {statistics.median(secs):.1f}, max {max(secs):.1f} wall; "
            f"median {statistics.median(cpu_secs):.1f}, max {max(cpu_secs):.1f} CPU "
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
