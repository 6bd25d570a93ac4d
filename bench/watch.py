"""The cost of `nr.watch`, and the loop zoo as a benchmark.

    OMP_NUM_THREADS=1 .venv/bin/python bench/watch.py [--rounds N] [--zoo]

Cost: the same loop (optimizer and scheduler created inside, a DataLoader-free batch loop, a
validation pass per epoch) timed unwatched and watched, interleaved round by round (the order
alternates, so machine load hits both alike); the median of the per-round ratios is printed,
for a tiny model (the hooks' overhead alone) and an MLP doing real work. Goals: <= 1.10 and
<= 1.03.

Zoo (`loop_zoo()`, also called by bench/zoo.py): every loop of tests/zoo/loops.py watched; a
planted bug counts as found when its code is at warning or error, a healthy loop is a false
alarm when any finding is.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import nnrecipe as nr  # noqa: E402


def _data(n: int, d: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, d, generator=g), torch.randint(0, k, (n,), generator=g)


def _loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, batch: int) -> None:
    """A user's loop: AdamW, per-batch one-cycle, zero_grad, eval-mode validation per epoch."""
    steps = epochs * (len(x) // batch)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    xv = x[:batch]
    for _ in range(epochs):
        model.train()
        for i in range(0, len(x) - batch + 1, batch):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[i : i + batch]), y[i : i + batch]).backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            model(xv)


def _timed(build, x, y, *, watched: bool, **kw) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one loop, model built outside."""
    torch.manual_seed(0)
    model = build()
    t0, c0 = time.perf_counter(), time.process_time()
    if watched:
        with nr.watch(model):
            _loop(model, x, y, **kw)
    else:
        _loop(model, x, y, **kw)
    return time.perf_counter() - t0, time.process_time() - c0


def cost(name: str, build, x, y, *, rounds: int, goal: float, **kw) -> float:
    """Median watched/unwatched ratio over interleaved rounds. The goal is checked on CPU time:
    on a shared machine the wall clock also measures the other processes (both are printed)."""
    _timed(build, x, y, watched=True, **kw)  # warm-up: allocator, kernels, imports
    wall, cpu, plain_cpu = [], [], []
    for r in range(rounds):
        order = (False, True) if r % 2 == 0 else (True, False)
        t = {w: _timed(build, x, y, watched=w, **kw) for w in order}
        wall.append(t[True][0] / t[False][0])
        cpu.append(t[True][1] / t[False][1])
        plain_cpu.append(t[False][1])
        print(
            f"  {name} round {r + 1}: unwatched {t[False][0]:.3f} s ({t[False][1]:.3f} s CPU), "
            f"watched {t[True][0]:.3f} s ({t[True][1]:.3f} s CPU)",
            flush=True,
        )
    steps = kw["epochs"] * (len(x) // kw["batch"])
    med = statistics.median(cpu)
    print(
        f"{name}: watched / unwatched = {med:.3f} CPU time, {statistics.median(wall):.3f} wall "
        f"(medians of {rounds} rounds; {steps} steps of {1e3 * statistics.median(plain_cpu) / steps:.2f} "
        f"ms CPU unwatched; goal <= {goal})",
        flush=True,
    )
    return med


def loop_zoo() -> int:
    """Detection rate, false alarms and seconds per case of the loop zoo; 0 when all pass."""
    import importlib.util

    from zoo.loops import BUGS, HEALTHY, run

    cases = BUGS + HEALTHY
    if importlib.util.find_spec("lightning") is not None:
        from zoo import loops_lightning

        cases = BUGS + loops_lightning.BUGS + HEALTHY + loops_lightning.HEALTHY
    rows = []
    for case in cases:
        t0 = time.perf_counter()
        _, result = run(case)
        seconds = time.perf_counter() - t0
        loud = result.at_least("warning")
        ok = any(f.code == case.expect for f in loud) if case.expect else not loud
        rows.append((case, ok, seconds))
        label = ("found" if ok else "MISSED") if case.expect else ("clean" if ok else "FALSE ALARM")
        codes = ", ".join(f"{f.code}:{f.severity.value[0]}" for f in loud) or "-"
        print(
            f"{label:11s} {case.disguise:10s} {case.name:38s} {case.expect or 'healthy':27s} "
            f"{seconds:5.2f} s  {codes}",
            flush=True,
        )
    bugs = [r for r in rows if r[0].expect]
    healthy = [r for r in rows if not r[0].expect]
    print()
    print(
        f"loop zoo detection rate: {sum(r[1] for r in bugs)}/{len(bugs)} planted bugs "
        f"({len({r[0].expect for r in bugs})} codes)"
    )
    print(f"loop zoo false alarms:   {sum(not r[1] for r in healthy)}/{len(healthy)} healthy loops")
    secs = [r[2] for r in rows]
    print(f"loop zoo seconds per case: median {statistics.median(secs):.2f}, max {max(secs):.2f}")
    return 0 if all(r[1] for r in rows) else 1


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    rounds = int(argv[argv.index("--rounds") + 1]) if "--rounds" in argv else 7
    x, y = _data(2048, 16, 4)
    tiny = cost(
        "tiny (Linear 16->4, batch 32)",
        lambda: nn.Linear(16, 4),
        x,
        y,
        rounds=rounds,
        goal=1.10,
        epochs=16,
        batch=32,
    )
    xm, ym = _data(4096, 256, 10)
    mlp = cost(
        "MLP (256-512-512-10, dropout, BatchNorm, batch 128)",
        lambda: nn.Sequential(
            nn.Linear(256, 512),
            nn.BatchNorm1d(512),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10),
        ),
        xm,
        ym,
        rounds=rounds,
        goal=1.03,
        epochs=6,
        batch=128,
    )
    code = 0 if tiny <= 1.10 and mlp <= 1.03 else 1
    if "--zoo" in argv:
        print()
        code |= loop_zoo()
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
