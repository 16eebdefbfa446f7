"""Dormant keys: closing stops visiting a key whose windows cannot fire until its next event.

In a sliding window with ``min_events`` above one, a key whose window holds
all its events and too few of them goes dormant: closing passes over it
(reading only the active list) until its next event wakes it or its last
window closes. These streams make keys go dormant, wake up inside and after
their windows, and go quiet for good; the violations must be the reference
evaluator's, whether the events come one per batch or all at once, with and
without allowed lateness, and the state invariants must hold between batches.
"""

from __future__ import annotations

import pytest

import tosengine
from tosengine.compiler import layout as Lo
from tests.engine_helpers import assert_same_violations, check_slots
from tests.reference import reference_evaluate

RULES = """
rule busy_account {
  title    "busy"
  severity low
  per      account_id
  window   10s every 1s
  let      requests = count()
  let      ips = distinct(ip)
  when     requests >= 3
}

rule busy_pair {
  title    "busy pair"
  severity low
  per      account_id, ip
  window   5s every 1s
  let      requests = count()
  when     requests >= 2 and fraction(status == 429) > 40%
}
"""


def _events() -> list[dict]:
    out = []

    def add(ms: int, account: str, ip: str = "10.0.0.1", status: int = 200) -> None:
        out.append({"ts": ms, "account_id": account, "ip": ip, "status": status})

    for s in range(0, 60):  # a clock key: the watermark moves every second
        add(s * 1000 + 500, "clock", f"10.1.0.{s % 3}")
    add(0, "wakes")
    add(1_000, "wakes", "10.0.0.2", 429)
    add(8_000, "wakes", "10.0.0.3")  # wakes inside the windows of its first events: fires
    add(200, "quiet")  # one event, never again: dormant, then released
    add(3_000, "gap", status=429)
    add(30_000, "gap", status=429)  # long after: a new slot (the old one was released)
    add(30_100, "gap", status=429)
    add(31_000, "gap", status=429)
    add(12_000, "twice")
    add(13_000, "twice")  # dormant after a window of two events...
    add(21_900, "twice")  # ...woken just inside the last window holding 13 s: fires
    add(40_000, "twice", "10.0.0.9", 429)
    return sorted(out, key=lambda e: e["ts"])


@pytest.mark.parametrize("lateness", [0, 2_000])
@pytest.mark.parametrize("one_per_batch", [True, False])
def test_dormant_keys_wake_and_release_like_the_reference(lateness: int, one_per_batch: bool) -> None:
    rs = tosengine.compile(RULES)
    events = _events()
    ev = rs.stream(allowed_lateness_ms=lateness)
    got = []
    dormant_seen = 0
    for batch in ([e] for e in events) if one_per_batch else [events]:
        got += [v.to_dict() for v in ev.feed(batch)]
        check_slots(ev)
        for w, _ in enumerate(ev.state.windows):
            I, AL, M = ev.state.I[w], ev.state.AL[w], ev.state.M[w]
            active = AL[: int(M[Lo.M_ACTIVE]), Lo.AL_SLOT]
            dormant_seen += int((I[active, Lo.WCNT] < 0).sum())
    got += [v.to_dict() for v in ev.flush()]
    want = reference_evaluate(rs.program, events, lateness).violations
    assert_same_violations(got, want)
    assert {v["key"]["account_id"] for v in want} >= {"wakes", "twice", "gap"}
    if one_per_batch:
        assert dormant_seen > 0  # the streams do exercise dormancy
