"""The compiled evaluator against the pure-Python reference, on generated rules and streams.

Every construct of the language (see tests/strategies.py) is generated; events
come with nulls, ties, bursts, window-boundary times and late arrivals, cut into
batches of 1, 7, random sizes or whole. The engine's generated kernels run as
plain Python for the many-example test (no compile time per generated rule set)
and jitted by numba for a smaller set, so both the generated logic and its
numba compilation are checked.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine_helpers import assert_same_violations, run_engine
from tests.reference import reference_evaluate
from tests.strategies import allowed_lateness, batch_cuts, batched_cases, event_streams, rule_sets, split_batches


def _check(program, events, lateness, batches, jit):
    want = reference_evaluate(program, events, lateness)
    got, late = run_engine(program, batches, lateness, jit=jit)
    assert late == want.late
    assert_same_violations(got, want.violations)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batched_cases())
def test_generated_kernels_match_reference(case):
    _check(*case, jit=False)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_sets(), st.lists(event_streams(max_events=80), min_size=3, max_size=3),
       allowed_lateness(), st.data())
def test_jitted_kernels_match_reference_in_any_batching(program, streams, lateness, data):
    """One numba compile per rule set, then several streams and batchings through it."""
    from tosengine.runtime.ruleset import RuleSet

    rs = RuleSet(program)
    for events in streams:
        want = reference_evaluate(program, events, lateness)
        for cuts in ([], list(range(1, len(events))), list(range(7, len(events), 7)),
                     data.draw(batch_cuts(len(events)))):
            got, late = run_engine(rs, split_batches(events, cuts), lateness)
            assert late == want.late
            assert_same_violations(got, want.violations)
