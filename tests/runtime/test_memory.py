"""Bounded memory: state follows the keys open in windows, not every key ever seen.

Closed windows release their key slots; string dictionaries drop the strings no
open state refers to (compaction) and the evaluator rewrites the codes its state
holds. Compaction is checked against the reference with a tiny threshold (so it
runs after nearly every batch), and a 5-million-event stream of ever-new keys
shows the engine's memory stays flat. ``max_keys`` reports going over the cap as
its own condition.
"""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tosengine
from tosengine.ir import load_text
from tosengine.runtime import evaluator as evaluator_module
from tosengine.runtime.evaluator import StateLimitExceeded
from tosengine.runtime.ruleset import RuleSet
from tests.engine_helpers import assert_same_violations, check_distinct_tables, run_engine
from tests.reference import reference_evaluate
from tests.strategies import batched_cases

REUSE = """
rule reused_request_id {
  title    "Request id reused"
  clause   "1"
  severity low
  action   log
  per      request_id
  window   1m
  let uses = count()
  when     uses >= 2
  message  "request {request_id} used {uses} times"
}
"""

T0 = 1_700_000_000_000


def always_compact():
    """Compact whenever a dictionary reaches its threshold, however much of it is live."""
    return patch.object(evaluator_module, "COMPACT_DEAD", 0.0)


def engine_bytes(ev) -> int:
    """Bytes of everything an evaluator keeps between batches."""
    total = ev.state.nbytes
    for d in ev.dictionaries:
        total += d.table.nbytes + d.hashes.nbytes + d.starts.nbytes + d.arena.nbytes
    return total + sum(a.nbytes for a in ev.luts.arrays)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batched_cases(max_events=80), st.integers(2, 6), st.booleans())
def test_compaction_matches_reference(case, threshold, checkpoint):
    """Compacting after (nearly) every batch changes no result, also across a restore."""
    program, events, lateness, batches = case
    want = reference_evaluate(program, events, lateness)
    with patch.object(evaluator_module, "COMPACT_MIN", threshold), always_compact():
        rs = RuleSet(program, jit=False)
        if checkpoint:
            ev = rs.stream(allowed_lateness_ms=lateness)
            got = []
            for i, b in enumerate(batches):
                got += [v.to_dict() for v in ev.feed(b)]
                if i % 5 == 4:
                    ev = rs.restore(ev.checkpoint())
            got += [v.to_dict() for v in ev.flush()]
            late = [d.position for d in ev.dead_letters if d.reason == "late"]
        else:
            got, late = run_engine(rs, batches, lateness)
    assert late == want.late
    assert_same_violations(got, want.violations)


def test_compaction_keeps_open_keys_and_literals():
    rules = REUSE.replace('when     uses >= 2', 'when     uses >= 2 and request_id != "keep"')
    rs = RuleSet(load_text(rules), jit=False)
    with patch.object(evaluator_module, "COMPACT_MIN", 4), always_compact():
        ev = rs.stream()
        out = []
        for i in range(40):  # each batch one minute later: keys of the last minute only
            ids = [f"a{i}", f"b{i}", "keep", f"a{i}"]
            out += ev.feed([{"ts": T0 + i * 60_000 + j, "request_id": r}
                            for j, r in enumerate(ids)])
        out += ev.flush()
        assert len(ev.dictionaries[0]) < 12  # null, the literal, this minute's ids
    assert [v.key["request_id"] for v in out] == [f"a{i}" for i in range(40)]


LOWERED_LITERAL = """
rule lowered_default {
  title    "A literal's lower case"
  clause   "1"
  severity low
  action   log
  let id = lower(coalesce(request_id, "Alpha-1"))
  when     id is not null
  message  "{id}"
}
"""


def test_compaction_keeps_what_literals_map_to():
    """``lower("Alpha-1")`` is a string no event and no state holds: compaction keeps it
    because the literal it comes from is always kept (found by the property above)."""
    rs = RuleSet(load_text(LOWERED_LITERAL), jit=False)
    with patch.object(evaluator_module, "COMPACT_MIN", 2), always_compact():
        ev = rs.stream()
        out = []
        for i in range(6):  # new ids in every batch force compactions
            out += ev.feed([{"ts": T0 + i, "request_id": f"r{i}"},
                            {"ts": T0 + i, "request_id": None}])
    assert [v.message for v in out] == [f"r{i}" if j == 0 else "alpha-1"
                                        for i in range(6) for j in range(2)]


DISTINCT_PROMPTS = """
rule sliding_prompts {
  title    "Distinct prompts, sliding"
  clause   "1"
  severity low
  action   log
  per      org_id
  window   4m every 1m
  let prompts = distinct(prompt_hash)
  when     prompts >= 40
  message  "{org_id}: {prompts}"
}

rule tumbling_prompts {
  title    "Distinct prompts, tumbling"
  clause   "1"
  severity low
  action   log
  per      org_id
  window   2m
  let prompts = distinct(prompt_hash)
  when     prompts >= 30
  message  "{org_id}: {prompts}"
}
"""


@pytest.mark.parametrize("lateness", [0, 90_000])
def test_compaction_rehashes_distinct_sets_whose_values_were_renumbered(lateness):
    """Compaction renumbers the strings a distinct set holds, so every entry has a new
    hash: the set is rehashed, not purged in place, and counts stay exact."""
    program = load_text(DISTINCT_PROMPTS)
    rng = np.random.default_rng(7)
    times = np.sort(rng.integers(0, 40 * 60_000, 8000))
    # half the prompts are never seen again: they die as windows close, and compaction
    # renumbers the strings after them, which the open sets still hold
    events = [{"ts": T0 + int(t), "org_id": f"org{rng.integers(3)}",
               "prompt_hash": f"p{rng.integers(300)}" if i % 2 else f"once{i}"}
              for i, t in enumerate(times)]
    batches = [events[i:i + 50] for i in range(0, len(events), 50)]
    want = reference_evaluate(program, events, lateness)
    assert len(want.violations) > 10
    got, entries = [], 0
    with patch.object(evaluator_module, "COMPACT_MIN", 8), always_compact():
        ev = RuleSet(program, jit=False).stream(allowed_lateness_ms=lateness)
        for b in batches:
            got += [v.to_dict() for v in ev.feed(b)]
            entries += check_distinct_tables(ev)
        got += [v.to_dict() for v in ev.flush()]
    assert entries > 10_000
    assert [d.position for d in ev.dead_letters if d.reason == "late"] == want.late
    assert_same_violations(got, want.violations)


def test_compaction_waits_until_half_the_strings_are_dead():
    """A dictionary whose strings are mostly held by open windows is not rewritten (its
    size stays within twice the live strings); once most are dead, it is compacted."""
    rs = RuleSet(load_text(REUSE.replace("window   1m", "window   1h")), jit=False)
    calls = []
    real = evaluator_module.State.remap_codes

    def spy(self, keys, distincts, remap):
        calls.append(int((remap > 0).sum()))
        return real(self, keys, distincts, remap)

    with patch.object(evaluator_module, "COMPACT_MIN", 8), \
            patch.object(evaluator_module.State, "remap_codes", spy):
        ev = rs.stream()
        for i in range(10):  # 40 new ids within one hour: all open, nothing to drop
            ev.feed([{"ts": T0 + i * 1000 + j, "request_id": f"x{i}-{j}"} for j in range(4)])
        assert calls == []
        assert len(ev.dictionaries[0]) == 41
        # two hours later: the first hour's ids are dead
        ev.feed([{"ts": T0 + 7_200_000 + j, "request_id": f"y{j}"} for j in range(20)])
        assert calls == [20]  # only this batch's ids are kept
        assert len(ev.dictionaries[0]) == 21


def _batches(n: int, batch: int = 200_000, per_second: int = 1000):
    """``n`` events, ``per_second`` a second; every 1000th reuses the id of the event before it."""
    for lo in range(0, n, batch):
        i = np.arange(lo, min(lo + batch, n), dtype=np.int64)
        ids = i * 7919 % (n * 10)  # distinct for distinct i
        reuse = (i % 1000 == 999)
        ids = np.where(reuse, (i - 1) * 7919 % (n * 10), ids)
        ts = T0 + i * 1000 // per_second
        yield pa.record_batch({"ts": pa.array(ts), "request_id": pc.cast(pa.array(ids),
                                                                          pa.string())})


@pytest.mark.slow
def test_memory_stays_flat_over_5_million_new_keys():
    """5M events, ~60,000 keys open per minute, almost every key new: memory does not grow."""
    n = 5_000_000
    rs = tosengine.compile(load_text(REUSE))
    ev = rs.stream()
    proc = psutil.Process()
    held, rss, active, found = [], [], [], 0
    for b in _batches(n):
        found += len(ev.feed(b))
        held.append(engine_bytes(ev))
        rss.append(proc.memory_info().rss)
        active.append(ev.state.active_keys)
    found += len(ev.flush())
    # every 1000th event reuses its neighbour's id, within one minute unless the pair
    # straddles a minute boundary (the 60,000th event of a minute starts a new one)
    pairs = [(i - 1, i) for i in range(999, n, 1000)]
    want = sum(1 for a, b in pairs if a // 60_000 == b // 60_000)
    assert found == want
    early = max(held[: len(held) // 5])
    assert max(held) <= 1.25 * early, (early, max(held))
    assert max(rss[len(rss) // 5:]) - max(rss[: len(rss) // 5]) < 64 << 20  # < 64 MiB of drift
    top = int(np.argmax(active))
    per_key = held[top] / active[top]
    print(f"\nengine bytes {held[top]}, active keys {active[top]}, "
          f"bytes per active key {per_key:.0f}; peak engine bytes {max(held)}")
    assert per_key < 1024


def test_max_keys_reports_the_overflow_with_the_batch_results():
    rs = RuleSet(load_text(REUSE), jit=False)
    ev = rs.stream(max_keys=50)
    ev.feed([{"ts": T0 + i, "request_id": f"r{i}"} for i in range(50)])
    with pytest.raises(StateLimitExceeded) as info:
        ev.feed([{"ts": T0 + 100, "request_id": "r0"}, {"ts": T0 + 101, "request_id": "new"}])
    assert info.value.active_keys == 51 and info.value.max_keys == 50
    assert [v.key for v in info.value.violations] == []  # window still open: none yet
    # nothing was dropped: the state is consistent and the reused id is still reported
    assert [v.key["request_id"] for v in ev.flush()] == ["r0"]


def test_max_keys_through_evaluate():
    events = [{"ts": T0 + i, "request_id": f"r{i % 30}"} for i in range(60)]
    assert len(tosengine.evaluate(RuleSet(load_text(REUSE), jit=False), events,
                                  max_keys=30)) == 30
    with pytest.raises(StateLimitExceeded):
        tosengine.evaluate(RuleSet(load_text(REUSE), jit=False), events, max_keys=29)


DISTINCT = """
rule many_ips_sliding {
  title    "many ips"
  clause   "1"
  severity low
  action   log
  per      api_key_id
  window   1m every 20s
  let ips  = distinct(ip)
  when     ips >= 4
  message  "{api_key_id}: {ips} ips"
}

rule many_ips_tumbling {
  title    "many ips in 30s"
  clause   "2"
  severity low
  action   log
  per      api_key_id, country
  window   30s
  let ips  = distinct(ip)
  let agents = distinct(user_agent)
  when     ips >= 3 or agents >= 2
  cooldown 1m
  message  "{api_key_id}/{country}: {ips} ips, {agents} agents"
}
"""


@pytest.mark.parametrize("lateness", [0, 5_000])
def test_compaction_of_distinct_sets_changes_nothing(lateness):
    """Strings held by exact distinct sets (S, Q, R tables) are kept and rewritten."""
    events = []
    for i in range(4000):
        jitter = -(i % 7) * 600 if lateness and i % 5 == 0 else 0
        events.append({"ts": T0 + 97 * i + jitter, "api_key_id": f"k{i % 5}",
                       "country": ["US", "DE", None][i % 3],
                       "ip": f"10.{i % 37}.{i // 37 % 50}.1",
                       "user_agent": f"agent-{i // 400}-{i % 2}"})
    batches = [events[i:i + 250] for i in range(0, len(events), 250)]
    program = load_text(DISTINCT)
    counted = {"distinct": 0}
    real = evaluator_module.State.remap_codes

    def spy(self, keys, distincts, remap):
        counted["distinct"] += bool(distincts)
        return real(self, keys, distincts, remap)

    want, want_late = run_engine(RuleSet(program, jit=False), batches, lateness)
    with patch.object(evaluator_module, "COMPACT_MIN", 8), always_compact(), \
            patch.object(evaluator_module.State, "remap_codes", spy):
        got, late = run_engine(RuleSet(program, jit=False), batches, lateness)
    assert counted["distinct"] >= 3  # the dictionary doubles between compactions
    assert late == want_late
    assert got == want
    assert len(want) > 20


LOWER = """
const MARKER = "headless"

rule headless_agent {
  title    "headless agent"
  clause   "1"
  severity info
  action   log
  per      api_key_id
  where    user_agent is not null
  when     contains(lower(user_agent), MARKER)
  cooldown 1m
  message  "{api_key_id}: {user_agent}"
}

rule agents_per_key {
  title    "many lowered agents"
  clause   "2"
  severity low
  action   log
  per      api_key_id
  window   1m
  let agents = distinct(lower(user_agent))
  when     agents >= 3
  message  "{api_key_id}: {agents} agents"
}

rule headless_per_agent {
  title    "headless agent, per agent"
  clause   "3"
  severity info
  action   log
  per      user_agent
  window   1m
  let uses = count()
  when     uses >= 2 and contains(lower(user_agent), MARKER)
  message  "{user_agent}: {uses}"
}
"""


@pytest.mark.parametrize("drop", [None, "rule agents_per_key"])
def test_compaction_with_lower_tables_changes_nothing(drop):
    """``lower()`` tables map codes to codes of the same dictionary: both sides are kept.

    Without the distinct set of lowered agents, a lowered string is held only
    through the table entry of a raw agent some key slot holds.
    """
    text = LOWER
    if drop:
        start = text.index(drop)
        text = text[:start] + text[text.index("rule headless_per_agent"):]
    def agent(i: int) -> str:
        if i % 9 == 0:
            return f"HeadLess-{i // 50}"
        if i % 9 == 1:  # already lower case: the same string as a lowered one
            return f"agent-{i // 30}-{i % 3}"
        return f"Agent-{i // 30}-{i % 3}"

    events = [{"ts": T0 + 211 * i, "api_key_id": f"k{i % 4}", "user_agent": agent(i)}
              for i in range(3000)]
    batches = [events[i:i + 200] for i in range(0, len(events), 200)]
    program = load_text(text)
    want, _ = run_engine(RuleSet(program, jit=False), batches)
    with patch.object(evaluator_module, "COMPACT_MIN", 8), always_compact():
        rs = RuleSet(program, jit=False)
        ev = rs.stream()
        got = []
        for b in batches:
            got += [v.to_dict() for v in ev.feed(b)]
        got += [v.to_dict() for v in ev.flush()]
        assert len(ev.dictionaries[rs.kernels.plan.group_of_field("user_agent").id]) < 600
    assert got == want
    assert len(want) > 20
