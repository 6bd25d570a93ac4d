"""The bug zoo: every planted bug is found with its root-cause code at warning or error, and no
healthy setup gets a warning or an error. Cases that take a few seconds run with the slow tests."""

from __future__ import annotations

import pytest

import nnrecipe as nr
from zoo.cases import CASES, HEALTHY

# Cases measured above ~3 s on a loaded 2-core machine (bench/zoo.py); every code keeps at least
# one fast case in the regular suite.
SLOW = {
    "softmax-then-nll",
    "batch-mean-centering",
    "reshape-mixes-batch",
    "zero-mask-input",
    "batchnorm-beta-minus-5",
    "shared-tanh-conv-small",
    "shared-relu-conv-gain-2",
    "sgd-lr-20",
    "builtin-cnn2d-digits",
    "builtin-cnn1d-mnist1d",
}


def _param(case):
    marks = [pytest.mark.slow] if case.name in SLOW else []
    return pytest.param(case, id=case.name, marks=marks)


def test_zoo_is_big_enough():
    codes = {c.expect for c in CASES}
    assert len(CASES) >= 25 and len(HEALTHY) >= 8
    from nnrecipe.checks.codes import CODES

    assert codes == set(CODES)  # every code at least once
    families = {c.family for c in CASES}
    assert families == {"tabular", "cnn2d", "cnn1d"}
    twice = [code for code in codes if sum(c.expect == code for c in CASES) >= 2]
    assert len(twice) >= 5


def test_every_code_has_a_fast_case():
    from nnrecipe.checks.codes import CODES

    fast = {c.expect for c in CASES if c.name not in SLOW}
    assert fast == set(CODES)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_planted_bug_is_found(case):
    result = nr.check(**case.build())
    loud = {f.code for f in result.at_least("warning")}
    assert case.expect in loud, f"{case.name}: expected {case.expect}, got {result}"


@pytest.mark.parametrize("case", [_param(c) for c in HEALTHY])
def test_healthy_setup_is_quiet(case):
    result = nr.check(**case.build())
    assert not result.at_least("warning"), f"{case.name}: false alarm\n{result}"
