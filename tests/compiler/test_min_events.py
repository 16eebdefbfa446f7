"""plan.min_events: the fewest events a window needs before its `when` can hold.

The window machine skips windows below that bound without judging them, so a
bound that is too high would lose violations: each case is checked against the
reference evaluator on windows of exactly K-1, K and K+1 events.
"""

from __future__ import annotations

import pytest

import tosengine
from tosengine.compiler.plan import min_events
from tests.engine_helpers import assert_same_violations
from tests.reference import reference_evaluate

CASES = [
    ("count() >= 3", 3),
    ("count() > 3", 4),
    ("3 < count()", 4),
    ("3 <= count()", 3),
    ("count() == 3", 3),
    ("count() > 2.5", 3),
    ("count() >= -4", 1),
    ("requests >= 3", 3),  # through a let
    ("distinct(ip) >= 2 and count() >= 3", 3),
    ("count() >= 5 or distinct(ip) >= 2", 2),
    ("count(status == 429) >= 3", 3),
    ("sum(input_tokens) >= 3", 1),  # a sum can exceed the count: bounds nothing
    ("not (count() < 3)", 1),
    ("count() < 3", 1),
    ("count() - 1 >= 3", 1),
]


def _rule(when: str) -> str:
    return f"""
rule r {{
  title    "t"
  severity low
  per      account_id
  window   1m
  let      requests = count()
  when     {when}
}}
"""


@pytest.mark.parametrize("when, bound", CASES, ids=[c[0] for c in CASES])
def test_bound(when: str, bound: int) -> None:
    (rule,) = tosengine.compile(_rule(when)).rules
    assert min_events(rule) == bound


@pytest.mark.parametrize("when", [c[0] for c in CASES])
def test_windows_at_the_bound_are_still_judged(when: str) -> None:
    rs = tosengine.compile(_rule(when))
    events = []
    for k, n in (("two", 2), ("three", 3), ("four", 4), ("five", 5)):
        for j in range(n):
            events.append({"ts": 1_000 + j, "account_id": k, "ip": f"10.0.0.{j % 2}",
                           "status": 429, "input_tokens": 1})
    events.sort(key=lambda e: e["ts"])
    got = [v.to_dict() for v in tosengine.evaluate(rs, events)]
    assert_same_violations(got, reference_evaluate(rs.program, events, 0).violations)
