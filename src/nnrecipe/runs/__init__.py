"""The runs of a folder side by side: `nnrecipe runs [FOLDER]` and ``FOLDER/index.html``.

Like NVIDIA DIGITS' job list: one row per run folder (data, task, model, key settings,
valid / test scores, findings, status), read from the run folders' typed files. A folder that
does not parse is a row saying why, never a crash.
"""

from __future__ import annotations

from pathlib import Path

from nnrecipe.runs.index import INDEX, write_index
from nnrecipe.runs.listing import RunRow, list_runs, runs_table


def refresh_index(run_dir: Path) -> Path | None:
    """Rewrite ``runs/index.html`` after a run whose folder is in the default ``runs/``
    folder (a run elsewhere leaves that folder alone); returns the page or None."""
    parent = Path(run_dir).parent
    try:
        if parent.resolve() != Path("runs").resolve():
            return None
        return write_index(parent, list_runs(parent))
    except OSError:
        return None  # the run itself is done and saved: a page that cannot be written waits


__all__ = ["INDEX", "RunRow", "list_runs", "refresh_index", "runs_table", "write_index"]
