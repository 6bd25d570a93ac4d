"""Live progress of a search: a table of the latest trials and an overall progress bar.

Drawn with rich on a terminal; silent when quiet or when stderr is not a TTY.
"""

from __future__ import annotations

from typing import Any

from nnrecipe.progress import enabled
from nnrecipe.tune.study import feasible

# Rows of the live table (the latest trials; the best one is always shown).
SHOWN_TRIALS = 12


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


class TrialsDisplay:
    """``with TrialsDisplay(total) as d: d.update(study.get_trials())``."""

    def __init__(self, total: int, *, title: str = "tune", quiet: bool = False) -> None:

        self.total, self.title = total, title
        self.active = enabled() and not quiet
        self.live: Any = None

    def __enter__(self) -> TrialsDisplay:
        if self.active:
            from rich.console import Console
            from rich.live import Live

            self.live = Live(
                self._render([]),
                console=Console(stderr=True),
                refresh_per_second=2,
                transient=False,
            )
            self.live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.stop()

    def update(self, trials: list[Any]) -> None:
        if self.live is not None:
            self.live.update(self._render(trials))

    def _render(self, trials: list[Any]) -> Any:
        from rich.console import Group
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
        from rich.table import Table

        done = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
        ok = [t for t in done if t.state.name == "COMPLETE" and feasible(t)]
        best = min(ok, key=lambda t: t.value) if ok else None
        table = Table(title=f"{self.title}: trials", expand=False)
        for col in ("#", "state", "valid error", "params", "parameters"):
            table.add_column(col, overflow="fold")
        shown = [t for t in trials if not t.user_attrs.get("surplus")][-SHOWN_TRIALS:]
        if best is not None and best not in shown:
            shown = [best, *shown[1:]]
        colors = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red", "RUNNING": "cyan"}
        for t in shown:
            state = t.state.name.lower()
            if t.user_attrs.get("infeasible"):
                state = "infeasible"
            mark = " ★" if best is not None and t.number == best.number else ""
            params = ", ".join(f"{k}={_fmt(v)}" for k, v in t.params.items())
            table.add_row(
                f"{t.number}{mark}",
                f"[{colors.get(t.state.name, 'white')}]{state}[/]",
                _fmt(t.value) if t.value is not None else "",
                params,
                _fmt(t.user_attrs.get("parameters", "")),
            )
        bar = Progress(
            TextColumn("[bold]trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(f"best valid error {best.value:.4f}" if best else ""),
        )
        bar.add_task("trials", total=self.total, completed=min(len(done), self.total))
        return Group(table, bar)
