"""Mini-batching (``tosengine.runtime.deferral``): rules whose windows cannot close wait.

Waiting must be invisible: every ``feed()`` returns exactly what it returns when
no rule waits (``DEFER_EVENTS`` = 0), also across a checkpoint and restore taken
while rows wait (it feeds them first), and with string compactions (which feed
them first too: they hold string codes). The reference comparisons of
``tests/test_differential.py`` and the compaction property of ``test_memory.py``
run with waiting on as well (their batches are far smaller than
``DEFER_EVENTS``).
"""

from __future__ import annotations

from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tosengine.ir import load_text
from tosengine.runtime import deferral
from tosengine.runtime import evaluator as evaluator_module
from tosengine.runtime.evaluator import StateLimitExceeded
from tosengine.runtime.ruleset import RuleSet
from tests.strategies import batched_cases

HOURLY = """
rule busy_key {
  title    "Busy key"
  clause   "1"
  severity low
  action   log
  per      api_key_id
  window   2h every 1h
  let uses = count()
  let ips = distinct(ip)
  when     uses >= 3 and ips >= 2
  message  "{api_key_id}: {uses} events from {ips} IPs"
}
"""

T0 = 1_700_000_000_000


def per_feed(rs: RuleSet, batches: list, lateness: int = 0, checkpoint_every: int = 0,
             max_keys: int | None = None) -> list[list[dict]]:
    """What each ``feed()`` returned, then what ``flush()`` returned."""
    ev = rs.stream(allowed_lateness_ms=lateness, max_keys=max_keys)
    out = []
    for i, b in enumerate(batches):
        out.append([v.to_dict() for v in ev.feed(b)])
        if checkpoint_every and i % checkpoint_every == checkpoint_every - 1:
            ev = rs.restore(ev.checkpoint())
    out.append([v.to_dict() for v in ev.flush()])
    return out


def without_waiting(fn, *args, **kwargs):
    with patch.object(deferral, "DEFER_EVENTS", 0):
        return fn(*args, **kwargs)


def hourly_events(minutes: int) -> list[dict]:
    """One event a minute for each of three keys, from two IPs."""
    return [{"ts": T0 + m * 60_000 + k, "api_key_id": f"k{k}", "ip": f"10.0.0.{(m + k) % 2}"}
            for m in range(minutes) for k in range(3)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batched_cases(max_events=80), st.sampled_from([0, 2, 3]))
def test_every_feed_returns_what_it_returns_without_waiting(case, checkpoint_every):
    program, _, lateness, batches = case
    rs = RuleSet(program, jit=False)
    want = without_waiting(per_feed, rs, batches, lateness)
    assert per_feed(rs, batches, lateness, checkpoint_every) == want


def test_rules_wait_between_window_ends_and_report_on_time():
    rs = RuleSet(load_text(HOURLY))
    batches = [hourly_events(300)[i:i + 20] for i in range(0, 900, 20)]
    ev = rs.stream()
    waited = 0
    for b in batches:
        ev.feed(b)
        waited += ev.deferred.waiting
    ev.flush()
    # 20 events are ~7 minutes: most batches end no window, and their rows wait
    assert waited > len(batches) // 2
    assert per_feed(rs, batches) == without_waiting(per_feed, rs, batches)


def test_a_rule_waits_at_most_defer_events():
    rs = RuleSet(load_text(HOURLY))
    events = hourly_events(50)  # 150 events inside the first hour: no window ends
    with patch.object(deferral, "DEFER_EVENTS", 40):
        ev = rs.stream()
        waited = 0
        for i in range(0, len(events), 10):
            ev.feed(events[i:i + 10])
            assert ev.deferred.waited(0) <= 40 and ev.deferred.count[0] <= 40
            waited += ev.deferred.count[0] > 0
        assert waited > 5


def test_a_checkpoint_feeds_waiting_rows_first():
    rs = RuleSet(load_text(HOURLY))
    events = hourly_events(200)
    batches = [events[i:i + 15] for i in range(0, len(events), 15)]
    want = per_feed(rs, batches)
    ev = rs.stream()
    got = [[v.to_dict() for v in ev.feed(b)] for b in batches[:7]]
    assert ev.deferred.waiting
    data = ev.checkpoint()
    assert not ev.deferred.waiting
    restored = rs.restore(data)
    got += [[v.to_dict() for v in restored.feed(b)] for b in batches[7:]]
    got.append([v.to_dict() for v in restored.flush()])
    assert any(got) and got == want


def test_compaction_feeds_waiting_rows_first():
    """Waiting rows hold string codes: compaction must not drop or renumber them unseen."""
    rs = RuleSet(load_text(HOURLY))
    events = [{"ts": T0 + i * 20_000, "api_key_id": f"k{i % 7}", "ip": f"10.{i}.0.{i % 2}"}
              for i in range(1500)]
    batches = [events[i:i + 25] for i in range(0, len(events), 25)]
    with patch.object(evaluator_module, "COMPACT_MIN", 16), \
            patch.object(evaluator_module, "COMPACT_DEAD", 0.0):
        got = per_feed(rs, batches)
        want = without_waiting(per_feed, rs, batches)
    assert any(got) and got == want


def test_max_keys_turns_waiting_off():
    """Over ``max_keys`` is reported in the batch that goes over, as without waiting."""
    rs = RuleSet(load_text(HOURLY))
    events = [{"ts": T0 + i * 1000, "api_key_id": f"k{i}", "ip": "10.0.0.1"} for i in range(60)]
    ev = rs.stream(max_keys=25)
    with pytest.raises(StateLimitExceeded):
        for i in range(0, 60, 10):
            ev.feed(events[i:i + 10])
            assert not ev.deferred.waiting
    assert i == 20  # keys 0..29 are in state after the third batch
