"""Invariants of the window machine's per-key state, checked between batches.

The differential tests compare violations with the reference evaluator; these
look inside the state, so a slip that happens not to change a violation in the
generated streams is still caught:

* WCNT (events of window NEXT_WIN, kept incrementally as events arrive and as
  NEXT_WIN moves) equals the sum of the CNT of that window's panes;
* the ring holds every pane an open window of the key can still read: from
  NEXT_WIN to LAST_PANE is never more panes than the ring has
  (``plan.ring_size``), and each of those panes is stamped with its own index
  or holds no events;
* the active list's AL_DUE column says when closing must look at the key: its
  NEXT_WIN, or, for a dormant key (WCNT below zero: -1 - its count), its LAST_PANE; a key is dormant
  only while window NEXT_WIN holds all its events and fewer than the rule's
  ``min_events``, so no later window can fire before its next event.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from tosengine.runtime.ruleset import RuleSet
from tests.engine_helpers import check_slots
from tests.strategies import batched_cases


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batched_cases(max_events=60))
def test_window_counts_and_rings_hold_between_batches(case):
    program, _, lateness, batches = case
    ev = RuleSet(program, jit=False).stream(allowed_lateness_ms=lateness)
    for b in batches:
        ev.feed(b)
        check_slots(ev)
    ev.flush()


def test_invariants_are_checked_on_open_keys():
    """The check above looks at real slots: a sliding window with lateness keeps keys open."""
    rules = """
rule r {
  title    "t"
  severity low
  per      account_id
  window   4s every 1s
  when     count() >= 100
}
"""
    from tosengine.ir import load_text

    ev = RuleSet(load_text(rules), jit=False).stream(allowed_lateness_ms=1500)
    t0 = 1_700_000_000_000
    for i in range(20):
        ev.feed([{"ts": t0 + i * 700 - (i % 3) * 400, "account_id": f"a{i % 4}"}])
        assert check_slots(ev) >= 1
