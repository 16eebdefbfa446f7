"""Cooldown when many windows close at once and the cooldown table grows meanwhile.

Closing several windows in one call (a whole batch, or flush) judges rows whose
times can lie far below the watermark; growing the key → last-report table then
must not forget keys whose cooldown still covers rows of the same call (found by
the jitted differential test: a second window of a key was reported inside its
cooldown).
"""

from __future__ import annotations

import tosengine
from tests.engine_helpers import assert_same_violations
from tests.reference import reference_evaluate

RULES = """
rule sliding_with_cooldown {
  title    "t"
  severity high
  per      account_id
  window   10ms every 5ms
  when     count() >= 1
  cooldown 25ms
}
"""


def test_cooldown_survives_table_growth_while_windows_close_together() -> None:
    keys = 100  # well past the table's first growth (32 keys)
    events = [{"ts": 1, "account_id": f"a{i}"} for i in range(keys)]
    events.append({"ts": 10_000, "account_id": "late-comer"})  # the watermark jumps far ahead
    rs = tosengine.compile(RULES)
    for batches in ([events], [events[:keys], events[keys:]]):
        ev = rs.stream()
        got = [v for b in batches for v in ev.feed(b)] + ev.flush()
        # each key's windows [-5, 5) and [0, 10) both hold its event; the second
        # ends 5 ms after the first, inside the 25 ms cooldown
        assert len([v for v in got if v.key["account_id"] != "late-comer"]) == keys
        want = reference_evaluate(rs.program, events, 0).violations
        assert_same_violations([v.to_dict() for v in got], want)
