"""Bad input is never fatal and never lost: every kind of bad line, between good ones.

A JSON Lines file holds good events, blank lines and one line of each bad kind
(``docs/input.md``). The test asserts the exact dead-letter records, the counts
by reason, and that the good events give the same violations as the good
events alone — with a small rule set written here and with the shipped pack.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

import tosengine
from tosengine.runtime.evaluator import DeadLetter
from tosengine.runtime.jsonl import MAX_LINE_BYTES
from tosengine.runtime.reasons import REASONS
from tosengine.runtime.sources import SourceError, read_source

RULES = """
rule big_output {
  title     "Very long output"
  clause    "T1"
  severity  high
  action    review
  per       account_id
  when      output_tokens > 1000
  message   "account {account_id}: {output_tokens} output tokens"
}

rule busy_account {
  title     "Busy account"
  clause    "T2"
  severity  low
  action    log
  per       account_id
  window    1m
  let requests = count()
  when      requests >= 3
  message   "account {account_id}: {requests} requests in a minute"
}
"""
ROOT = Path(__file__).resolve().parents[2]
LONG = b'{"ts": "2026-01-05T00:00:09Z", "account_id": "a1", "user_agent": "' + \
    b"x" * MAX_LINE_BYTES + b'"}'


def good(second: int, account: str, out: int = 10, *, ts: object = None) -> bytes:
    when = ts if ts is not None else f"2026-01-05T00:00:{second:02d}Z"
    return json.dumps({"ts": when, "account_id": account, "output_tokens": out,
                       "status": 200, "extra": {"nested": [1, 2]}}).encode()


# (line, expected dead letter as (reason, detail, raw)) for each bad kind; None = good
LINES: list[tuple[bytes, tuple[str, str, str] | None]] = [
    (good(1, "a1"), None),
    (b"", None),
    (b'{"ts": "2026-01-05T00:00:02Z", "account_id": "a1"',
     ("not_json", "unexpected end of data at column 50",
      '{"ts": "2026-01-05T00:00:02Z", "account_id": "a1"')),
    (good(2, "a1", 5000), None),
    (b'["2026-01-05T00:00:03Z", "a1"]',
     ("not_object", "array", '["2026-01-05T00:00:03Z", "a1"]')),
    (b"   \t", None),
    (b'{"ts": "2026-01-05T00:00:03Z", "account_id": "a1", "output_tokens": "5000"}',
     ("wrong_type", "output_tokens",
      '{"ts": "2026-01-05T00:00:03Z", "account_id": "a1", "output_tokens": "5000"}')),
    (b'{"ts": "2026-01-05T00:00:03Z", "account_id": "a2", "status": 200.0}',
     ("wrong_type", "status", '{"ts": "2026-01-05T00:00:03Z", "account_id": "a2", "status": 200.0}')),
    (good(3, "a2", ts="2026-01-05T01:00:03+01:00"), None),
    (b'{"account_id": "a1", "output_tokens": 9000}',
     ("missing_time", "ts", '{"account_id": "a1", "output_tokens": 9000}')),
    (b'{"ts": null, "account_id": "a1"}', ("missing_time", "ts", '{"ts": null, "account_id": "a1"}')),
    (b'{"ts": "yesterday", "account_id": "a1"}',
     ("bad_time", "ts", '{"ts": "yesterday", "account_id": "a1"}')),
    (b'{"ts": 1767571204000.5, "account_id": "a1"}',
     ("bad_time", "ts", '{"ts": 1767571204000.5, "account_id": "a1"}')),
    (good(4, "a1", ts=1767571204000), None),
    (b'{"ts": "2026-01-05T00:00:05Z", "account_id": "a\xff\xfe1"}',
     ("invalid_utf8", "byte 48", '{"ts": "2026-01-05T00:00:05Z", "account_id": "a\\xff\\xfe1"}')),
    (LONG, ("too_long", f"{len(LONG)} bytes, limit {MAX_LINE_BYTES}", LONG[:1024].decode())),
    (good(6, "a3", 2000), None),
    (b"\r", None),
    (good(0, "a4"), ("late", "2026-01-05T00:00:00.000Z",
                     '{"ts":1767571200000,"account_id":"a4","status":200,"output_tokens":10}')),
    (b"null", ("not_object", "null", "null")),
    (good(7, "a3"), None),
]


def write(path: Path, lines: list[bytes], *, crlf: bool = False) -> Path:
    end = b"\r\n" if crlf else b"\n"
    path.write_bytes(b"".join(line + end for line in lines))
    return path


def expected_letters(source: str) -> list[DeadLetter]:
    return [DeadLetter(source, n, *want) for n, (_, want) in enumerate(LINES, start=1)
            if want is not None]


@pytest.fixture(scope="module")
def ruleset() -> tosengine.RuleSet:
    return tosengine.compile(RULES)


def run(rules: object, source: object) -> tuple[list[dict], list[DeadLetter], Counter[str]]:
    rs = tosengine.compile(rules)
    ev = rs.stream()
    out = [v.to_dict() for v in ev.feed(source)]
    out += [v.to_dict() for v in ev.flush()]
    return out, ev.take_dead_letters(), ev.counts


def test_every_bad_kind_is_dead_lettered_exactly(tmp_path: Path, ruleset: object) -> None:
    path = write(tmp_path / "mixed.jsonl", [line for line, _ in LINES])
    violations, letters, counts = run(ruleset, path)
    assert letters == expected_letters(str(path))
    kinds = Counter(want[0] for _, want in LINES if want is not None)
    assert set(kinds) == set(REASONS)  # every documented reason occurs
    assert {k: counts[f"dead_letter.{k}"] for k in kinds} == dict(kinds)
    assert counts["events"] == sum(1 for line, _ in LINES if line.strip())

    clean = write(tmp_path / "clean.jsonl",
                  [line for line, want in LINES if want is None and line.strip()]
                  + [good(0, "a4")])  # the late event is good, only late
    alone, alone_letters, _ = run(ruleset, clean)
    assert [d.reason for d in alone_letters] == ["late"]
    assert violations == alone
    assert {v["rule"] for v in violations} == {"big_output", "busy_account"}


def test_crlf_and_gzip_give_the_same_dead_letters(tmp_path: Path, ruleset: object) -> None:
    plain = write(tmp_path / "a.jsonl", [line for line, _ in LINES])
    crlf = write(tmp_path / "b.jsonl", [line for line, _ in LINES], crlf=True)
    gz = tmp_path / "c.jsonl.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    base, letters, _ = run(ruleset, plain)
    for other in (crlf, gz):
        got, other_letters, _ = run(ruleset, other)
        assert got == base
        assert [(d.position, d.reason, d.detail) for d in other_letters] == \
            [(d.position, d.reason, d.detail) for d in letters]


def test_a_file_of_only_bad_lines(tmp_path: Path, ruleset: object) -> None:
    bad = [line for line, want in LINES if want is not None and want[0] != "late"]
    path = write(tmp_path / "bad.jsonl", bad + [b"", b"{}", b"42", b"\xff"])
    violations, letters, counts = run(ruleset, path)
    assert violations == []
    assert [d.position for d in letters] == [*range(1, len(bad) + 1), len(bad) + 2,
                                             len(bad) + 3, len(bad) + 4]
    assert [d.reason for d in letters][-3:] == ["missing_time", "not_object", "invalid_utf8"]
    assert counts["events"] == len(bad) + 3


def test_truncated_gzip_yields_what_was_readable_then_a_source_error(tmp_path: Path,
                                                                     ruleset: object) -> None:
    lines = [good(s % 60, f"a{s % 7}") for s in range(3000)]
    data = gzip.compress(b"\n".join(lines) + b"\n")
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    ev = ruleset.stream()  # type: ignore[attr-defined]
    got = 0
    with pytest.raises(SourceError) as err:
        for rb in read_source(path, ev.program.schema, batch_size=500):
            ev.feed(rb)
            got += rb.batch.num_rows
    assert err.value.source == str(path)
    assert str(err.value).startswith(f"{path}: truncated gzip data")
    assert "\n" not in str(err.value)
    assert 0 < got < len(lines)
    assert ev.counts["events"] == got


@pytest.mark.slow
def test_the_shipped_pack_gives_the_same_violations_with_bad_lines_between(
        tmp_path: Path) -> None:
    from tosengine.generator import generate, write_log

    log = tmp_path / "log.jsonl"
    write_log(generate(84_000, seed=11), log)
    lines = log.read_bytes().splitlines()[20_000:45_000]
    bad = [(line, want) for line, want in LINES if want is not None and want[0] != "late"]
    mixed: list[bytes] = []
    inserted: Counter[str] = Counter()
    for i, line in enumerate(lines):
        mixed.append(line)
        if i % 997 == 0:
            line, want = bad[(i // 997) % len(bad)]
            mixed.append(line)
            inserted[want[0]] += 1
    clean_v, clean_letters, _ = run(ROOT / "rules", write(tmp_path / "clean.jsonl", lines))
    mixed_v, mixed_letters, counts = run(ROOT / "rules", write(tmp_path / "mixed.jsonl", mixed))
    assert clean_v, "the slice must hold violations for the comparison to mean anything"
    assert mixed_v == clean_v
    assert Counter(d.reason for d in mixed_letters if d.reason != "late") == inserted
    assert [d for d in mixed_letters if d.reason == "late"] == [] == \
        [d for d in clean_letters if d.reason == "late"]
