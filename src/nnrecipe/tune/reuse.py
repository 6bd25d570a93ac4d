"""Reuse a finished search (``nnrecipe run DATA --tune-study TUNE``): open the study of a tune
folder (or its ``study.db`` / journal file), check that it searched this data with this model
and space, and return its best settings without running a trial."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from nnrecipe.data import Data
from nnrecipe.errors import ConfigError
from nnrecipe.models import model_for
from nnrecipe.tune import study as st
from nnrecipe.tune.space import default_space, normalize_space

SQLITE_HEADER = b"SQLite format 3\x00"


def _has_optuna_tables(path: Path) -> bool:
    """Read-only look: does this SQLite file hold Optuna's tables (opening it with Optuna
    would otherwise create them in the user's database)?"""
    try:
        with sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True) as con:
            rows = con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    except sqlite3.Error:
        return False
    return "studies" in {r[0] for r in rows}


def _not_a_study(path: Path, why: str) -> ConfigError:
    return ConfigError(
        f"--tune-study {str(path)!r} is not a study ({why}): pass the folder `nnrecipe tune` "
        "printed, or its study.db."
    )


def locate(path: str | Path) -> tuple[str, str | None]:
    """(storage URL, study name or None) of a tune folder, a study.db or a journal file."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(
            f"--tune-study {str(p)!r} does not exist: pass the folder `nnrecipe tune` printed."
        )
    name = None
    if p.is_dir():
        saved = p / "tune.json"
        if saved.is_file():
            try:
                name = json.loads(saved.read_text()).get("study")
            except (OSError, ValueError, AttributeError):
                name = None
        if (p / "study.db").is_file():
            p = p / "study.db"
        elif saved.is_file():
            try:
                return str(json.loads(saved.read_text())["storage"]), name
            except (OSError, ValueError, KeyError, TypeError):
                raise _not_a_study(p, "its tune.json is damaged") from None
        else:
            raise _not_a_study(p, "a folder without study.db or tune.json")
    if st.is_journal(str(p)):
        return f"journal:{p.resolve()}", name
    with open(p, "rb") as f:
        head = f.read(len(SQLITE_HEADER))
    if head != SQLITE_HEADER or not _has_optuna_tables(p):
        raise _not_a_study(p, "not an Optuna SQLite database or journal file")
    return f"sqlite:///{p.resolve()}", name


def open_study(path: str | Path, name: str | None = None) -> tuple[Any, str, str]:
    """The Optuna study at `path`: (study, storage URL, study name)."""
    import optuna

    url, saved_name = locate(path)
    storage = st.make_storage(url)
    names = optuna.get_all_study_names(storage)
    name = name or saved_name or (names[0] if len(names) == 1 else None)
    if name not in names:
        raise ConfigError(
            f"--tune-study {str(path)!r} holds the studies {names}, not {name!r}: name one "
            "with tune_study."
        )
    return optuna.load_study(study_name=name, storage=storage), url, name


def check_matches(study: Any, path: str | Path, data: Data, model: str, space: Any) -> None:
    """One sentence when the study searched other data, another model or another space."""
    attrs = study.user_attrs
    saved = attrs.get("data_fingerprint")
    if saved is not None and saved != data.fingerprint():
        raise ConfigError(
            f"--tune-study {str(path)!r} was tuned on other data ({attrs.get('data_name')}, "
            f"fingerprint {saved}; this run's {data.name} is {data.fingerprint()}): tune this "
            "data, or run the data the study was tuned on."
        )
    searched = attrs.get("model")
    if searched is not None and searched != model:
        raise ConfigError(
            f"--tune-study {str(path)!r} searched model {searched!r}, this run builds {model!r}: "
            f"add --model {searched}, or tune {model!r}."
        )
    expected = json.loads(json.dumps(normalize_space(space)))
    recorded = attrs.get("space")
    best = st.ranked(study)
    knobs = set(best[0].params) if best else set()
    if (recorded is not None and recorded != expected) or (
        recorded is None and knobs and knobs != set(expected)
    ):
        theirs = sorted(recorded or knobs)
        raise ConfigError(
            f"--tune-study {str(path)!r} searched another space (knobs {theirs}, this run's "
            f"{sorted(expected)}): give the same tune_space, or tune again."
        )
    if not best:
        raise ConfigError(
            f"--tune-study {str(path)!r} has no complete feasible trial: continue the search "
            "(`nnrecipe tune` with the same --out) first."
        )


def check_reusable(config: Any, data: Data) -> None:
    """Raise the one-sentence error `reuse` would, before a run spends time on its audit."""
    model = config.model or model_for(data)
    space = config.tune_space if config.tune_space is not None else default_space(model)
    the_study, _, _ = open_study(config.tune_study_path, config.tune_study)
    check_matches(the_study, config.tune_study_path, data, model, space)


def reuse(
    path: str | Path,
    data: Data,
    *,
    out: Path,
    model: str | None = None,
    space: dict[str, Any] | None = None,
    study: str | None = None,
) -> Any:
    """The finished search at `path` as a `TuneResult` (its best settings and trials), checked
    against `data`, `model` and `space`; writes ``out/tune.json`` for the run's report."""
    from nnrecipe.tune.search import _result

    model = model or model_for(data)
    space = space if space is not None else default_space(model)
    the_study, url, name = open_study(path, study)
    check_matches(the_study, path, data, model, space)
    Path(out).mkdir(parents=True, exist_ok=True)
    return _result(the_study, Path(out), url, name, data, model, 0.0)
