"""The segmentation bug zoo: every planted bug is found with its root-cause code at warning or
error, by `nr.check` or `nr.audit`; no healthy setup gets a warning or an error. Cases that train
models (every full `nr.check`) run with the slow tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import nnrecipe as nr

TESTS = str(Path(__file__).resolve().parents[1])
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from zoo.segmentation import CASES, HEALTHY  # noqa: E402

# Fast: the audit cases and the bugs found before any training (the loss crashes at init).
# Every full check trains (range test, overfit, input-ignored): ~60 s each on 2 loaded cores.
FAST = {
    "masks-resized-bilinear",
    "masks-flipped",
    "class-indices-off-by-one",
    "output-cropped",
    "audit-shapes",
    "audit-shapes-24",
}


def _param(case):
    marks = [] if case.name in FAST else [pytest.mark.slow]
    return pytest.param(case, id=case.name, marks=marks)


def _run(case):
    kw = case.build()
    return nr.audit(kw["data"]) if case.stage == "audit" else nr.check(**kw)


def test_zoo_is_big_enough():
    assert len(CASES) >= 6 and len(HEALTHY) >= 3
    assert len({c.expect for c in CASES}) >= 6
    assert {c.stage for c in CASES} == {"check", "audit"}


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_planted_bug_is_found(case):
    result = _run(case)
    loud = {f.code for f in result.at_least("warning")}
    assert case.expect in loud, f"{case.name}: expected {case.expect}, got {result}"


@pytest.mark.parametrize("case", [_param(c) for c in HEALTHY])
def test_healthy_setup_is_quiet(case):
    result = _run(case)
    assert not result.at_least("warning"), f"{case.name}: false alarm\n{result}"
