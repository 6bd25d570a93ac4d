"""The locked test set: every evaluation on test is counted in the run folder.

The run evaluates test once, at the end, with the models already chosen (a "session"); anything
else that evaluates test again (``nnrecipe diagnose RUN --evaluate``, a second run stage)
records another session. Two sessions or more mean the test set may be steering decisions.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from nnrecipe.errors import ConfigError
from nnrecipe.io import atomic_write_text, read_json

COUNTER_FILE = "test_evaluations.json"


def test_evaluations(run_dir: str | Path) -> list[dict[str, Any]]:
    """The recorded sessions of test evaluations of a run folder (oldest first)."""
    path = Path(run_dir) / COUNTER_FILE
    if not path.exists():
        return []
    sessions = read_json(path, what="test-evaluation counter").get("sessions")
    ok = isinstance(sessions, list) and all(
        isinstance(s, dict) and isinstance(s.get("session"), str) and isinstance(s.get("by"), list)
        for s in sessions
    )
    if not ok:
        raise ConfigError(
            f"The test-evaluation counter {str(path)!r} is damaged (no list of sessions): "
            "restore it from a backup, or remove it (the count of looks at test restarts)."
        )
    return sessions


def record_test_evaluation(run_dir: str | Path, *, by: str, session: str | None = None) -> int:
    """Record one evaluation on the test split; returns the number of sessions so far.

    Evaluations with the same `session` id (the stages of one run) count once.
    """

    sessions = test_evaluations(run_dir)
    session = session or uuid.uuid4().hex[:12]
    entry = next((s for s in sessions if s["session"] == session), None)
    if entry is None:
        entry = {"session": session, "by": [], "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        sessions.append(entry)
    entry["by"].append(by)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(run_dir) / COUNTER_FILE, json.dumps({"sessions": sessions}, indent=2))
    return len(sessions)
