"""Checkpoint and restore: a restored evaluator continues exactly as an uninterrupted one.

Generated rule sets and streams (tests/strategies.py) are fed batch by batch; at
random batch boundaries the evaluator is checkpointed and replaced by one
restored from the bytes (into a *new* RuleSet of the same program, so nothing
is shared but the checkpoint). The violations, dead letters and counters must
equal those of the uninterrupted run exactly. Corrupt checkpoints, checkpoints
of other rules or formats, and crashes while a checkpoint file is written fail
cleanly or leave the previous checkpoint intact.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import textwrap
import time

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tosengine.ir import load_text
from tosengine.runtime import checkpoint as ck
from tosengine.runtime.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tosengine.runtime.ruleset import RuleSet
from tests.strategies import allowed_lateness, batch_cuts, event_streams, rule_sets, split_batches

RULES = """
rule many_requests {
  title    "Many requests"
  clause   "1"
  severity low
  action   log
  per      api_key_id
  window   1m
  let reqs = count()
  let ms = distinct(model)
  when     reqs >= 3
  cooldown 2m
  message  "key {api_key_id}: {reqs} requests, {ms} models"
}
"""


def _events(n: int, start: int = 1_700_000_000_000) -> list[dict]:
    return [{"ts": start + 997 * i, "api_key_id": f"k{i % 5}", "model": f"m{i % 3}",
             "request_id": f"r{i}"} for i in range(n)]


def _run(rs_factory, program, batches, lateness, checkpoint_after: set[int]):
    """Feed ``batches``; after each batch index in ``checkpoint_after`` checkpoint and restore."""
    rs = rs_factory(program)
    ev = rs.stream(allowed_lateness_ms=lateness)
    out: list[dict] = []
    dead: list[dict] = []
    for i, b in enumerate(batches):
        out += [v.to_dict() for v in ev.feed(b)]
        if i % 2:
            dead += [d.to_dict() for d in ev.take_dead_letters()]
        if i in checkpoint_after:
            data = ev.checkpoint(position={"batch": i})
            ev = rs_factory(program).restore(data)
            assert ev.position == {"batch": i}
    out += [v.to_dict() for v in ev.flush()]
    dead += [d.to_dict() for d in ev.take_dead_letters()]
    return out, dead, dict(ev.counts), ev.rows_fed


@st.composite
def cases(draw, max_events: int = 60):
    program = draw(rule_sets())
    events = draw(event_streams(max_events=max_events))
    lateness = draw(allowed_lateness())
    batches = split_batches(events, draw(batch_cuts(len(events))))
    points = draw(st.sets(st.integers(0, max(len(batches) - 1, 0))))
    return program, batches, lateness, points


def _interpreted(program):
    return RuleSet(program, jit=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_restore_continues_exactly_interpreted(case):
    program, batches, lateness, points = case
    want = _run(_interpreted, program, batches, lateness, set())
    got = _run(_interpreted, program, batches, lateness, points)
    assert got == want


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_sets(), st.lists(cases(max_events=80), min_size=3, max_size=3))
def test_restore_continues_exactly_jitted(program, more):
    """One numba compile per rule set, then several streams each checkpointed at random."""
    rs = RuleSet(program)
    for _, batches, lateness, points in more:
        want = _run(lambda p: rs, program, batches, lateness, set())
        got = _run(lambda p: rs, program, batches, lateness, points)
        assert got == want


def test_restore_after_growth_and_at_every_batch():
    """Tables that grew (slots, keys, distinct sets, cooldowns) survive a restore at every batch."""
    program = load_text(RULES)
    events = _events(3000)
    batches = [events[i:i + 101] for i in range(0, len(events), 101)]
    want = _run(_interpreted, program, batches, 0, set())
    got = _run(_interpreted, program, batches, 0, set(range(len(batches))))
    assert got == want
    assert len(want[0]) > 10


def _checkpoint() -> tuple[RuleSet, bytes]:
    rs = RuleSet(load_text(RULES), jit=False)
    ev = rs.stream(allowed_lateness_ms=5)
    ev.feed(_events(50))
    return rs, ev.checkpoint(position={"offset": 123})


def test_checkpoint_keeps_lateness_and_position():
    rs, data = _checkpoint()
    ev = rs.restore(data)
    assert ev.allowed_lateness_ms == 5
    assert ev.position == {"offset": 123}
    assert ck.read_checkpoint(data).position == {"offset": 123}


def test_other_rules_are_refused():
    _, data = _checkpoint()
    other = RuleSet(load_text(RULES.replace("reqs >= 3", "reqs >= 4")), jit=False)
    with pytest.raises(CheckpointError, match="different rules"):
        other.restore(data)


def test_other_engine_layout_is_refused(monkeypatch):
    rs, data = _checkpoint()
    monkeypatch.setattr(ck, "engine_hash", lambda ev: "0" * 32)
    with pytest.raises(CheckpointError, match="engine build"):
        rs.restore(data)


@pytest.mark.parametrize("damage", ["flip", "truncate", "extend", "magic", "version", "empty"])
def test_corrupt_checkpoints_are_refused(damage):
    rs, data = _checkpoint()
    b = bytearray(data)
    if damage == "flip":
        b[len(b) // 2] ^= 0x01
    elif damage == "truncate":
        del b[-10:]
    elif damage == "extend":
        b += b"\0"
    elif damage == "magic":
        b[0:8] = b"NOTCKPT\0"
    elif damage == "version":
        b[8:12] = struct.pack("<I", ck.FORMAT_VERSION + 1)
    else:
        b = bytearray()
    with pytest.raises(CheckpointError):
        rs.restore(bytes(b))


def _reseal(meta: dict, payload: bytes) -> bytes:
    m = orjson.dumps(meta)
    digest = __import__("hashlib").blake2b(m + payload, digest_size=32).digest()
    return ck._HEADER.pack(ck.MAGIC, ck.FORMAT_VERSION, len(m), len(payload), digest) + m + payload


def _parts(data: bytes) -> tuple[dict, bytes]:
    _, _, meta_len, _, _ = ck._HEADER.unpack_from(data)
    body = data[ck._HEADER.size:]
    return orjson.loads(body[:meta_len]), body[meta_len:]


def test_object_arrays_are_refused_even_with_a_valid_checksum():
    """Nothing in a checkpoint may run code: an object (pickle) dtype is rejected."""
    rs, data = _checkpoint()
    meta, payload = _parts(data)
    meta["arrays"][0]["dtype"] = "|O"
    with pytest.raises(CheckpointError, match="dtype"):
        rs.restore(_reseal(meta, payload))


def test_state_of_another_shape_is_refused_even_with_a_valid_checksum():
    rs, data = _checkpoint()
    meta, payload = _parts(data)
    del meta["tree"]["state"]["max_seen"]
    with pytest.raises(CheckpointError, match="fields differ"):
        rs.restore(_reseal(meta, payload))
    meta, payload = _parts(data)
    meta["tree"]["state"]["state"]["@obj"] = "Other"
    with pytest.raises(CheckpointError, match="not a State"):
        rs.restore(_reseal(meta, payload))


def test_saved_arrays_share_no_memory():
    """Each array is saved once; aliasing is by identity, so no two may be views of one buffer."""
    rs = RuleSet(load_text(RULES), jit=False)
    ev = rs.stream()
    ev.feed(_events(500))
    w = ck._Writer()
    w.obj(ev, "evaluator")
    arrays = {}

    def collect(o, depth=0):
        for v in (vars(o).values() if ck._is_walkable(o) else ()):
            for x in (v if isinstance(v, list) else v.values() if isinstance(v, dict) else [v]):
                if isinstance(x, list):
                    for y in x:
                        if isinstance(y, np.ndarray):
                            arrays[id(y)] = y
                elif isinstance(x, np.ndarray):
                    arrays[id(x)] = x
                elif ck._is_walkable(x) and depth < 4:
                    collect(x, depth + 1)

    collect(ev)
    items = list(arrays.values())
    assert len(items) > 20
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            assert not np.shares_memory(a, b)


def test_file_helpers_round_trip(tmp_path):
    rs = RuleSet(load_text(RULES), jit=False)
    ev = rs.stream()
    ev.feed(_events(100))
    path = tmp_path / "state.ckpt"
    save_checkpoint(ev, path, position=[1, 2])
    loaded = load_checkpoint(path)
    assert loaded.position == [1, 2]
    assert loaded.restore(rs).rows_fed == 100
    assert [p.name for p in tmp_path.iterdir()] == ["state.ckpt"]  # no temporary left


def test_failed_write_leaves_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "state.ckpt"
    ck.write_atomic(path, b"old")

    def boom(*a):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        ck.write_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.ckpt"]


def test_sigkill_during_write_leaves_previous_checkpoint(tmp_path):
    path = tmp_path / "state.ckpt"
    ck.write_atomic(path, b"old" * 1000)
    code = textwrap.dedent(f"""
        import sys
        from tosengine.runtime.checkpoint import write_atomic
        print("start", flush=True)
        write_atomic({str(path)!r}, b"new" * 100000)
    """)
    env = dict(os.environ, **{ck.SLOW_WRITE_ENV: "30"})
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"start"
    deadline = time.monotonic() + 20
    while not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):  # mid-write
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert path.read_bytes() == b"old" * 1000
