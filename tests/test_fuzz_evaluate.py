"""Fuzz ``tosengine.evaluate`` with event dicts of arbitrary JSON values.

Whatever the values (wrong types, nesting, huge or negative numbers, odd
times, missing fields), evaluate never raises, and every event is either
evaluated (an event rule fires for each) or dead-lettered with a known reason.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tosengine
from tosengine.runtime.reasons import REASONS

RULES = """
rule seen {
  title    "every evaluated event"
  clause   "1"
  severity info
  action   log
  when     true
  message  "seen {request_id}"
}

rule busy_key {
  title    "busy key"
  clause   "2"
  severity low
  action   log
  per      api_key_id, status
  window   1m every 10s
  let calls  = count()
  let tokens = sum(input_tokens)
  let ips    = distinct(ip)
  let temp   = avg(temperature)
  when     calls >= 2 and (tokens > 10 or ips >= 2 or temp > 0.5)
  cooldown 30s
  message  "{api_key_id}: {calls} calls, {tokens} tokens, {ips} ips, temperature {temp}"
}
"""

RULESET = tosengine.compile(RULES)
FIELDS = [f.name for f in RULESET.program.schema.fields]
T = 1_700_000_000_000

json_scalars = (st.none() | st.booleans() | st.integers() | st.integers(-2**80, 2**80)
                | st.floats() | st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=4)
                           | st.dictionaries(st.text(max_size=5), c, max_size=4), max_leaves=10)
times = st.one_of(
    st.integers(T - 120_000, T + 120_000),  # mostly plausible, in any order
    st.integers(T - 120_000, T + 120_000),
    st.integers(-2**63, 2**63 - 1),
    st.integers(-2**70, 2**70),
    st.sampled_from(["1970-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "2024-02-30T00:00:00Z",
                     "2024-01-01T00:00:00+14:00", "2024-01-01", "", "0000-01-01T00:00:00Z"]),
    json_values,
)
plausible = {
    "api_key_id": st.sampled_from(["k1", "k2", "", "ключ"]),
    "ip": st.sampled_from(["10.0.0.1", "10.0.0.2", "::1"]),
    "status": st.sampled_from([200, 429, -1, 2**62]),
    "input_tokens": st.integers(-2**63, 2**63 - 1),
    "temperature": st.floats(),
}


@st.composite
def events(draw):
    ev = {}
    if draw(st.integers(0, 9)):
        ev["ts"] = draw(times)
    for name in FIELDS[1:]:
        how = draw(st.integers(0, 5))
        if how == 0:
            ev[name] = draw(json_values)
        elif how <= 2 and name in plausible:
            ev[name] = draw(plausible[name])
    ev.update(draw(st.dictionaries(st.text(max_size=6), json_values, max_size=2)))
    # a non-object event (a list made only of strings would be a list of paths)
    return ev if draw(st.integers(0, 30)) else draw(json_values.filter(
        lambda x: not isinstance(x, str)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), max_size=40), st.sampled_from([0, 0, 1000, 60_000]))
def test_evaluate_accounts_for_every_event(batch, lateness):
    dead: list = []
    violations = tosengine.evaluate(RULESET, batch, dead_letters=dead,
                                    allowed_lateness=lateness)
    seen = sum(1 for v in violations if v.rule == "seen")
    assert seen + len(dead) == len(batch)
    assert {d.reason for d in dead} <= set(REASONS)
    for v in violations:
        v.model_dump_json()  # every violation can be written
