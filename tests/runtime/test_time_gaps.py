"""Windows over event times with huge gaps: closing must cost per window with events,
not per empty window index in between (a gap of 3,000 years at a 1 s step is ~1e11 indexes)."""

from __future__ import annotations

import pytest

import tosengine
from tests.reference import reference_evaluate
from tests.engine_helpers import assert_same_violations

RULES = """
rule gap {
  title "gap"
  severity low
  per account_id
  window 10s every 1s
  when count() >= 1
}
"""

YEAR_MS = 365 * 24 * 3600 * 1000


@pytest.mark.timeout(120)
def test_millennia_between_events_close_quickly_and_correctly() -> None:
    events = [
        {"ts": 0, "account_id": "a"},
        {"ts": 3000 * YEAR_MS, "account_id": "a"},
        {"ts": 6000 * YEAR_MS, "account_id": "b"},
        {"ts": 6000 * YEAR_MS + 500, "account_id": "a"},
    ]
    rs = tosengine.compile(RULES)
    got = tosengine.evaluate(rs, events)
    want = reference_evaluate(rs.program, events, 0).violations
    # every event opens 10 sliding windows that hold it; two of the last
    # events' windows are distinct keys
    assert len(got) == 40
    assert_same_violations([v.to_dict() for v in got], want)
