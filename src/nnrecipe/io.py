"""Files: atomic writes, and reads of JSON files that say which file is wrong.

Everything a run writes goes through `atomic_write_*` (a temporary file in the same folder,
fsync, rename), so a kill never leaves a half-written file. Everything read back from a run
folder goes through `read_json`, so a damaged file is one sentence naming it, never a traceback.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from nnrecipe.errors import ConfigError

# One mode for every file a run writes (the report, JSON, checkpoints): readable by the group
# and others, like the files any other tool writes with the default umask.
FILE_MODE = 0o644


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: Any) -> None:
    """`obj` as indented JSON (values JSON does not know are written as text)."""
    atomic_write_text(path, json.dumps(obj, indent=2, default=str))


def read_json(path: Path, *, what: str = "file", kind: type | None = dict) -> Any:
    """The JSON value in `path`; a missing, unreadable or malformed file (or one whose top
    level is not `kind`) raises `ConfigError` naming the file and how to recover."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"The {what} {str(path)!r} is missing.") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"The {what} {str(path)!r} cannot be read ({e}).") from None
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise ConfigError(
            f"The {what} {str(path)!r} is not valid JSON ({str(e)[:80]}): it is damaged; "
            "rebuild it (rerun the step that wrote it) or remove it."
        ) from None
    if kind is not None and not isinstance(value, kind):
        raise ConfigError(
            f"The {what} {str(path)!r} holds a JSON {type(value).__name__}, not the "
            f"{kind.__name__} nnrecipe writes: it is damaged; rebuild it or remove it."
        )
    return value
