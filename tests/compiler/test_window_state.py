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
from hypothesis import strategies as st

from tosengine.compiler import layout as Lo
from tosengine.runtime.ruleset import RuleSet
from tests.strategies import allowed_lateness, batch_cuts, event_streams, rule_sets, split_batches


def check_slots(ev) -> int:
    """Assert the invariants for every active slot; return how many slots were checked."""
    st_ = ev.state
    checked = 0
    for w, rp in enumerate(st_.windows):
        I, AL, M = st_.I[w], st_.AL[w], st_.M[w]
        ring = int(M[Lo.M_RING])
        npanes = rp.rule.window.panes
        pbase, si = rp.pane_base, rp.pane_words_i
        for k in range(int(M[Lo.M_ACTIVE])):
            s = int(AL[k, Lo.AL_SLOT])
            nw, last = int(I[s, Lo.NEXT_WIN]), int(I[s, Lo.LAST_PANE])

            def pane_count(p: int) -> int:
                b = pbase + (p % ring) * si
                return int(I[s, b + Lo.CNT]) if I[s, b + Lo.STAMP] == p else 0

            assert last - nw < ring, (rp.rule.name, nw, last, ring)
            assert int(I[s, Lo.POS]) == k
            in_window = sum(pane_count(p) for p in range(nw, nw + npanes))
            if I[s, Lo.WCNT] < 0:
                assert int(AL[k, Lo.AL_DUE]) == last, (rp.rule.name, s)
                assert nw < last < nw + npanes and in_window < rp.min_events, (rp.rule.name, s)
                assert -int(I[s, Lo.WCNT]) - 1 == in_window, (rp.rule.name, s)
            else:
                assert int(AL[k, Lo.AL_DUE]) == nw, (rp.rule.name, s)
                assert int(I[s, Lo.WCNT]) == in_window, (rp.rule.name, s)
            for p in range(nw, last + 1):
                b = pbase + (p % ring) * si
                assert I[s, b + Lo.STAMP] == p or pane_count(p) == 0
            checked += 1
    return checked


@st.composite
def cases(draw):
    program = draw(rule_sets())
    events = draw(event_streams(max_events=60))
    lateness = draw(allowed_lateness())
    return program, lateness, split_batches(events, draw(batch_cuts(len(events))))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_window_counts_and_rings_hold_between_batches(case):
    program, lateness, batches = case
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
