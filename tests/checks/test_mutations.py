"""The mutation zoo (tests/zoo/mutations.py): every healthy setup trains well and gets no warning;
every mutant that manifests in a plain PyTorch training run is found by one of its root-cause
codes at warning or error. A fixed, seeded subset of the cheap setups runs in the default
suite, the rest with the slow tests; `bench/zoo.py --mutants` prints the per-operator table."""

from __future__ import annotations

import json
import random
from functools import cache
from pathlib import Path

import pytest

import nnrecipe as nr
from zoo.mutations import HEALTHY_MIN, OPERATORS, SETUPS, Mutant, manifests, mutants, verify

CHEAP = {"mlp-breast-cancer", "mlp-bn-digits"}  # check < 1 s CPU, plain training < 0.5 s
ALL = mutants()
# The last `bench/zoo.py --mutants --save`: which mutants manifested (each test verifies again).
_VERIFIED = Path(__file__).resolve().parents[1] / "zoo" / "verified.json"
_seen = json.loads(_VERIFIED.read_text()) if _VERIFIED.exists() else {}
_bugs = [
    m
    for m in ALL
    if m.operator is not None
    and m.setup.name in CHEAP
    and _seen.get(m.name, {}).get("manifests", True)
]
FAST = {m.name for m in random.Random(16).sample(_bugs, 8)} | {
    m.name for m in ALL if m.operator is None and m.setup.name in CHEAP
}


@cache
def _healthy_metric(setup_name: str) -> float:
    setup = next(s for s in SETUPS if s.name == setup_name)
    return verify(Mutant(setup, None, frozenset()))


# The one verified mutant the checks miss (bench/zoo.py --mutants: 73 of 74 found): a GRU's depth
# is inside one layer, so the gradient profile cannot see a x0.01 init, and the probes train at
# the range test's higher rate, which escapes it. Kept visible; passes when it is fixed.
KNOWN_MISSES = {"gru-waves/init-x0.01"}


def _param(m: Mutant):
    marks = [] if m.name in FAST else [pytest.mark.slow]
    if m.name in KNOWN_MISSES:
        marks.append(pytest.mark.xfail(reason="known miss, see KNOWN_MISSES", strict=False))
    return pytest.param(m, id=m.name, marks=marks)


def _check(m: Mutant) -> nr.Result:
    kwargs = {k: v for k, v in m.build().items() if v is not None}
    return nr.check(**kwargs)


def test_the_zoo_spans_families_and_operators():
    assert {s.family for s in SETUPS} >= {"mlp", "cnn1d", "cnn2d", "resnet", "rnn"}
    assert len(OPERATORS) >= 15
    assert len([m for m in ALL if m.operator]) >= 100


@pytest.mark.parametrize("m", [_param(m) for m in ALL if m.operator is None])
def test_healthy_setup_trains_well_and_is_quiet(m):
    assert _healthy_metric(m.setup.name) >= HEALTHY_MIN
    result = _check(m)
    assert not result.at_least("warning"), f"{m.name}: false alarm\n{result}"


@pytest.mark.parametrize("m", [_param(m) for m in ALL if m.operator is not None])
def test_manifesting_mutant_is_found_by_a_root_cause_code(m):
    metric = verify(m)
    if not manifests(metric, _healthy_metric(m.setup.name)):
        pytest.skip(f"{m.name} does not manifest (metric {metric:.3f}): not a counted mutant")
    loud = {f.code for f in _check(m).at_least("warning")}
    assert loud & m.expect, f"{m.name}: expected one of {sorted(m.expect)}, got {sorted(loud)}"
