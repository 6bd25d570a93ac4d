"""The loop zoo: every planted bug in a user's loop is found by `nr.watch` with its code at
warning or error, and no healthy loop gets a warning or an error."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zoo.loops import BUGS, HEALTHY, run  # noqa: E402

if importlib.util.find_spec("lightning") is not None:
    from zoo import loops_lightning

    LIT_BUGS, LIT_HEALTHY = loops_lightning.BUGS, loops_lightning.HEALTHY
else:  # the optional extra is missing: the Lightning cases are skipped, not silently passed
    LIT_BUGS, LIT_HEALTHY = [], []

NEW_CODES = {
    "missing-zero-grad",
    "zero-grad-in-accumulation",
    "eval-without-eval-mode",
    "train-in-eval-mode",
    "scheduler-before-optimizer",
    "lr-collapse",
    "augmented-validation",
}


def test_zoo_is_big_enough():
    from nnrecipe.watch.codes import CODES

    assert set(CODES) == NEW_CODES
    bugs = BUGS + LIT_BUGS
    for code in NEW_CODES:
        assert sum(c.expect == code for c in bugs) >= 2, code
    assert {c.disguise for c in BUGS} == {"plain", "dataloader"}
    assert len(HEALTHY + LIT_HEALTHY) >= 8
    assert len({c.name for c in bugs + HEALTHY + LIT_HEALTHY}) == len(bugs + HEALTHY + LIT_HEALTHY)


@pytest.mark.skipif(not LIT_BUGS, reason="lightning is not installed")
def test_every_new_code_is_planted_in_every_disguise():
    assert {c.disguise for c in LIT_BUGS} == {"lightning"} and LIT_HEALTHY
    for code in NEW_CODES:
        disguises = {c.disguise for c in BUGS + LIT_BUGS if c.expect == code}
        assert disguises == {"plain", "dataloader", "lightning"}, code


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in BUGS + LIT_BUGS])
def test_planted_bug_is_found(case):
    _, result = run(case)
    loud = {f.code for f in result.at_least("warning")}
    assert case.expect in loud, f"{case.name}: expected {case.expect}, got {result}"


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in HEALTHY + LIT_HEALTHY])
def test_healthy_loop_is_quiet(case):
    _, result = run(case)
    assert not result.at_least("warning"), f"{case.name}: {result}"
