"""Fixtures of the audit tests (the generators live in audit_synth.py)."""

from __future__ import annotations

import pytest

from audit.audit_synth import MODALITIES


@pytest.fixture(params=MODALITIES)
def modality(request: pytest.FixtureRequest) -> str:
    return request.param
