"""Reading ahead in a background thread (``threads=2``) changes nothing but the speed.

The wrapper itself: items in order, an error after the items before it, a
bounded queue, no thread left behind however the caller stops. Through
``tosengine.evaluate``: the same violations and dead letters (positions
included) as ``threads=1`` on JSON Lines with bad and late lines, gzip and
Parquet of several batches, and the same ``SourceError`` after the same
batches for a truncated gzip file.
"""

from __future__ import annotations

import gzip
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tosengine
from tosengine.runtime.evaluator import StateLimitExceeded
from tosengine.runtime.inputs import RawBatch
from tosengine.runtime.readahead import (
    SWITCH_INTERVAL_S,
    THREAD_NAME,
    check_threads,
    readahead,
    source_batches,
)
from tosengine.runtime.sources import SourceError
from tosengine.runtime.timeparse import format_ms
from tests.runtime.test_sources import RULES

T0 = 1_767_571_200_000  # 2026-01-05T00:00:00Z
N = 70_000  # two batches of read_source's 65,536 lines


def readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    yield
    assert readers() == []


# -- the wrapper --------------------------------------------------------------------


def counted(n: int, log: list[int], fail_at: int | None = None,
            closed: list[bool] | None = None) -> Iterator[int]:
    try:
        for i in range(n):
            if i == fail_at:
                raise ValueError(f"fault at {i}")
            log.append(i)
            yield i
    finally:
        if closed is not None:
            closed.append(True)


def test_items_come_in_order_whatever_the_speeds() -> None:
    def jittery() -> Iterator[int]:
        for i in range(200):
            if i % 7 == 0:
                time.sleep(0.001)
            yield i

    got = []
    for i in readahead(jittery()):
        if i % 5 == 0:
            time.sleep(0.001)
        got.append(i)
    assert got == list(range(200))


def test_an_error_comes_after_the_items_before_it() -> None:
    got: list[int] = []
    with pytest.raises(ValueError, match="fault at 3"):
        for i in readahead(counted(10, [], fail_at=3)):
            got.append(i)
    assert got == [0, 1, 2]


def test_the_queue_bounds_how_far_the_reader_gets_ahead() -> None:
    produced: list[int] = []
    ahead = []
    for k, _ in enumerate(readahead(counted(30, produced), depth=2)):
        deadline = time.monotonic() + 5
        while len(produced) < min(k + 4, 30) and time.monotonic() < deadline:
            time.sleep(0.001)  # let the reader fill the queue
        time.sleep(0.01)  # a reader that ignored the bound would get further now
        ahead.append(len(produced) - (k + 1))
    assert max(ahead) == 3  # two in the queue, one waiting to be put
    assert len(produced) == 30


@pytest.mark.parametrize("how", ["close", "exception", "keyboard_interrupt"])
def test_a_caller_that_stops_early_leaves_no_thread(how: str) -> None:
    produced: list[int] = []
    closed: list[bool] = []
    items = readahead(counted(1_000_000, produced, closed=closed))
    if how == "close":
        assert next(items) == 0
        assert readers()
        items.close()
    else:
        error = RuntimeError if how == "exception" else KeyboardInterrupt
        with pytest.raises(error):
            with closing(items):
                for _ in items:
                    raise error()
    assert readers() == []
    assert closed == [True]  # the source was closed (its files with it)
    assert len(produced) <= 4


def test_the_switch_interval_is_short_while_reading_ahead_and_restored_after() -> None:
    before = sys.getswitchinterval()
    assert before > SWITCH_INTERVAL_S  # Python's default, 5 ms
    seen = []
    outer = readahead(iter(range(3)))
    for i in outer:
        seen.append(sys.getswitchinterval())
        if i == 0:
            inner = readahead(iter(range(2)))
            assert list(inner) == [0, 1]  # ends while the outer one still runs
    assert seen == [SWITCH_INTERVAL_S] * 3
    assert sys.getswitchinterval() == before
    items = readahead(iter(range(5)))
    next(items)
    items.close()  # stopped early: restored too
    assert sys.getswitchinterval() == before


def test_an_unstarted_wrapper_starts_no_thread() -> None:
    items = readahead(iter([1, 2]))
    assert readers() == []
    assert list(items) == [1, 2]


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "2", None])
def test_threads_must_be_an_integer_of_at_least_one(value: object) -> None:
    with pytest.raises(ValueError, match="threads must be"):
        check_threads(value)
    with pytest.raises(ValueError, match="threads must be"):
        tosengine.evaluate(RULES, [], threads=value)  # type: ignore[arg-type]


# -- sources and evaluate -----------------------------------------------------------


def events(n: int = N, start: int = T0) -> list[dict[str, object]]:
    """Accounts a0..a4999 in turn, every 10 ms (too slow to be busy) but for a burst of
    ``hot`` every 20,000 events; some big outputs; now and then an event 5 s late."""
    out = []
    for i in range(n):
        t = start + i * 10 - (5_000 if i % 9_973 == 0 else 0)
        account = "hot" if i % 20_000 < 3 else f"a{i % 5000}"
        out.append({"ts": t, "account_id": account, "output_tokens": 2000 if i % 7_919 == 0 else 10})
    return out


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("readahead")
    evs = events()
    lines = [orjson.dumps(e) for e in evs]
    for at in (10, 40_000, 66_000):  # bad lines in both batches
        lines[at] = b'{"ts": "yesterday", "account_id": "x"}'
    lines[50_000] = b"not json"
    text = b"\n".join(lines) + b"\n"
    paths = {"jsonl": d / "log.jsonl", "gz": d / "log.jsonl.gz", "parquet": d / "log.parquet",
             "cut": d / "cut.jsonl.gz", "later": d / "later.jsonl"}
    paths["later"].write_bytes(b"".join(orjson.dumps(e) + b"\n"
                                        for e in events(3_000, T0 + N * 10 + 60_000)))
    paths["jsonl"].write_bytes(text)
    whole = gzip.compress(text, compresslevel=1)
    paths["gz"].write_bytes(whole)
    paths["cut"].write_bytes(whole[: len(whole) * 3 // 4])  # ends inside a compressed block
    pq.write_table(pa.Table.from_pylist(evs), paths["parquet"], row_group_size=25_000)
    return paths


@pytest.fixture(scope="module")
def ruleset() -> tosengine.RuleSet:
    return tosengine.compile(RULES)


def summary(b: RawBatch) -> tuple:
    return (b.batch, b.source, b.first_position, b.positions, b.bad, b.raw, b.end_offset,
            b.end_position, b.total_bytes, b.total_rows, b.file_offset, b.file_size)


@pytest.mark.parametrize("kind", ["jsonl", "gz", "parquet"])
def test_the_same_batches_with_and_without_reading_ahead(logs: dict[str, Path], kind: str,
                                                         ruleset: tosengine.RuleSet) -> None:
    schema = ruleset.program.schema
    one = [summary(b) for b in source_batches(logs[kind], schema, threads=1, batch_size=10_000)]
    two = [summary(b) for b in source_batches(logs[kind], schema, threads=2, batch_size=10_000)]
    assert len(one) == 7
    assert one == two


@pytest.mark.parametrize("kind", ["jsonl", "gz", "parquet"])
def test_evaluate_gives_the_same_violations_and_dead_letters(logs: dict[str, Path], kind: str,
                                                             ruleset: tosengine.RuleSet) -> None:
    results = []
    for threads in (1, 2):
        letters: list = []
        vs = tosengine.evaluate(ruleset, logs[kind], dead_letters=letters, threads=threads)
        results.append(([v.to_dict() for v in vs], letters))
    (v1, d1), (v2, d2) = results
    assert v1 == v2
    assert d1 == d2
    assert {v["rule"] for v in v1} == {"big_output", "busy_account"}
    assert {v["key"]["account_id"] for v in v1 if v["rule"] == "busy_account"} == {"hot"}
    assert sum(d.reason == "late" for d in d1) == 7  # every 9,973rd event, 5 s behind
    if kind != "parquet":
        assert [(d.position, d.reason) for d in d1 if d.reason != "late"] == [
            (11, "bad_time"), (40_001, "bad_time"), (50_001, "not_json"), (66_001, "bad_time")]


def test_a_truncated_gzip_fails_the_same_after_the_same_batches(logs: dict[str, Path],
                                                                ruleset: tosengine.RuleSet) -> None:
    schema = ruleset.program.schema
    seen: dict[int, list[tuple]] = {}
    errors = {}
    for threads in (1, 2):
        seen[threads] = []
        with pytest.raises(SourceError) as exc:
            for b in source_batches(logs["cut"], schema, threads=threads, batch_size=10_000):
                seen[threads].append(summary(b))
        errors[threads] = str(exc.value)
    assert seen[1] == seen[2]
    assert len(seen[1]) >= 3
    assert errors[1] == errors[2]
    assert "truncated gzip data" in errors[2]
    with pytest.raises(SourceError, match="truncated gzip"):
        tosengine.evaluate(ruleset, logs["cut"], threads=2)


def test_evaluate_that_stops_mid_file_leaves_no_thread(logs: dict[str, Path],
                                                       ruleset: tosengine.RuleSet) -> None:
    with pytest.raises(StateLimitExceeded):
        tosengine.evaluate(ruleset, logs["jsonl"], max_keys=10, threads=2)
    assert readers() == []


def test_several_paths_and_in_memory_events_with_two_threads(logs: dict[str, Path],
                                                             ruleset: tosengine.RuleSet) -> None:
    paths = [logs["gz"], logs["later"]]
    both = tosengine.evaluate(ruleset, paths, threads=2)
    assert both == tosengine.evaluate(ruleset, paths)
    later = format_ms(T0 + N * 10 + 60_000)
    assert any(v.time >= later for v in both)  # the second file was read too
    evs = events(3_000)
    assert tosengine.evaluate(ruleset, evs, threads=2) == tosengine.evaluate(ruleset, evs)
