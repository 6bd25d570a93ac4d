"""Planted bugs in tables and ratings are found by their root-cause code at warning or error;
the healthy setups get no warning and no error."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = str(Path(__file__).resolve().parents[1])
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from zoo.tables import CASES, HEALTHY, run  # noqa: E402


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_planted_bug_found(case):
    result = run(case)
    loud = {f.code for f in result.at_least("warning")}
    assert case.expect in loud, [f.message for f in result.at_least("warning")]


SLOW = {"movielens-check", "movielens-audit"}  # ~10 s each on a loaded 2-core machine


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            c,
            id=c.name,
            marks=[pytest.mark.slow] if c.name in SLOW else [],
        )
        for c in HEALTHY
    ],
)
def test_healthy_setup_quiet(case):
    result = run(case)
    assert [f.message for f in result.at_least("warning")] == []
