"""Adversarial input: every class of hostile event gets its defined outcome, nothing crashes.

Each class is evaluated through :func:`tosengine.evaluate`, from files and (where
the class exists for Python values) from dicts, against a rule set holding an
event rule that fires for every evaluated event (``seen``) and a window rule per
request id. So the violations of ``seen`` count the evaluated events, the dead
letters count the others, and the two add up to the lines read. Outcomes are
listed in docs/reliability.md.
"""

from __future__ import annotations

import gzip

import pytest

import tosengine
from tosengine.runtime.sources import SourceError

RULES = """
rule seen {
  title    "every evaluated event"
  clause   "1"
  severity info
  action   log
  when     true
  message  "seen"
}

rule per_request {
  title    "request ids in a minute"
  clause   "2"
  severity low
  action   log
  per      request_id
  window   1m
  let uses = count()
  when     uses >= 1
  message  "{request_id}: {uses}"
}
"""

T = 1_700_000_000_000
GOOD = b'{"ts": 1700000000000, "request_id": "r"}'


@pytest.fixture(scope="module")
def rules():
    return tosengine.compile(RULES)


def outcome(rules, events):
    """(evaluated events, [(reason, detail)] of the dead letters, windowed violations)."""
    dead: list = []
    vs = tosengine.evaluate(rules, events, dead_letters=dead)
    seen = sum(1 for v in vs if v.rule == "seen")
    return seen, [(d.reason, d.detail) for d in dead], [v for v in vs if v.rule != "seen"]


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def lines(*items: bytes) -> bytes:
    return b"".join(x + b"\n" for x in items)


# -- files ---------------------------------------------------------------------------


def test_10mb_single_line_is_dead_lettered_too_long(rules, tmp_path):
    huge = b'{"ts": 1700000000000, "request_id": "' + b"a" * 10_000_000 + b'"}'
    seen, dead, _ = outcome(rules, write(tmp_path, "long.jsonl", lines(GOOD, huge, GOOD)))
    assert seen == 2
    assert [r for r, _ in dead] == ["too_long"]


def test_deep_nesting_outside_the_schema_is_ignored_inside_is_not_json(rules, tmp_path):
    deep = b"[" * 100_000 + b"]" * 100_000
    data = lines(b'{"ts": 1700000000000, "extra": ' + deep + b"}",
                 b'{"ts": 1700000000000, "request_id": ' + deep + b"}", GOOD)
    seen, dead, _ = outcome(rules, write(tmp_path, "deep.jsonl", data))
    assert seen == 2
    assert [r for r, _ in dead] == ["not_json"]


def test_100000_distinct_keys_in_one_batch(tmp_path):
    """100,000 new keys in one batch (100 of them twice): exactly the repeated keys are reported."""
    rules = tosengine.compile(RULES.split("rule per_request")[0].replace("rule seen", "rule reuse")
                              .replace("when     true", "when     false") + "rule per_request"
                              + RULES.split("rule per_request")[1].replace("uses >= 1", "uses >= 2"))
    n = 100_000
    ids = [f"key-{i}" for i in range(n)] + [f"key-{i}" for i in range(0, n, 1000)]
    stamps = [T + i // 100 for i in range(n)] + [T + 999] * (n // 1000)
    data = b"".join(b'{"ts": %d, "request_id": "%s"}\n' % (t, k.encode()) for t, k in zip(stamps, ids))
    for events in (write(tmp_path, "keys.jsonl", data),
                   [{"ts": t, "request_id": k} for t, k in zip(stamps, ids)]):
        dead: list = []
        vs = tosengine.evaluate(rules, events, dead_letters=dead)
        assert dead == []
        assert sorted(v.key["request_id"] for v in vs) == sorted(ids[n:])
        assert {v.values["uses"] for v in vs} == {2}


@pytest.mark.parametrize("stamp", [0, "1970-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z",
                                   -1, -86_400_000, "1969-12-31T23:59:59Z",
                                   253_402_300_799_999])
def test_extreme_timestamps_are_evaluated(rules, tmp_path, stamp):
    text = f'"{stamp}"' if isinstance(stamp, str) else str(stamp)
    event = b'{"ts": %s, "request_id": "x"}' % text.encode()
    for events in (write(tmp_path, "t.jsonl", lines(event)), [{"ts": stamp, "request_id": "x"}]):
        seen, dead, windowed = outcome(rules, events)
        assert (seen, dead, len(windowed)) == (1, [], 1)


def test_timestamps_beyond_year_9999_are_bad_time(rules, tmp_path):
    for stamp in (b'"10000-01-01T00:00:00Z"', b"%d" % 2**63, b"%d" % 2**70):
        event = b'{"ts": %s, "request_id": "x"}' % stamp
        seen, dead, _ = outcome(rules, write(tmp_path, "t.jsonl", lines(event)))
        assert (seen, dead) == (0, [("bad_time", "ts")])


def test_integers_beyond_64_bits(rules, tmp_path):
    big = b"123456789012345678901234567890"
    data = lines(b'{"ts": 1700000000000, "input_tokens": ' + big + b"}",
                 b'{"ts": ' + big + b"}",
                 b'{"ts": 1700000000000, "not_in_schema": ' + big + b"}")
    seen, dead, _ = outcome(rules, write(tmp_path, "big.jsonl", data))
    assert seen == 1
    assert dead == [("wrong_type", "input_tokens"), ("bad_time", "ts")]
    seen, dead, _ = outcome(rules, [{"ts": T, "input_tokens": 2**64}, {"ts": 2**64},
                                    {"ts": T, "not_in_schema": 2**200}])
    assert seen == 1
    assert dead == [("wrong_type", "input_tokens"), ("bad_time", "ts")]


def test_nan_and_infinity(rules, tmp_path):
    data = lines(b'{"ts": 1700000000000, "temperature": NaN}',
                 b'{"ts": 1700000000000, "temperature": Infinity}',
                 b'{"ts": 1700000000000, "temperature": -Infinity}',
                 b'{"ts": 1700000000000, "temperature": 1e400}')
    seen, dead, _ = outcome(rules, write(tmp_path, "nan.jsonl", data))
    assert seen == 3  # the literals are read as floats
    assert [r for r, _ in dead] == ["not_json"]  # a number that overflows a double is not
    seen, dead, _ = outcome(rules, [{"ts": T, "temperature": x}
                                    for x in (float("nan"), float("inf"), float("-inf"))])
    assert (seen, dead) == (3, [])


def test_invalid_utf8_and_surrogate_escapes(rules, tmp_path):
    data = lines(b'{"ts": 1700000000000, "request_id": "\xff\xfe"}',
                 b'{"ts": 1700000000000, "request_id": "\\ud800"}',
                 b'{"ts": 1700000000000, "request_id": "\\udc00x"}',
                 b'{"ts": 1700000000000, "request_id": "\\ud83d\\ude00"}',  # a valid pair
                 b'{"ts": 1700000000000, "extra": "\xc3"}')
    seen, dead, _ = outcome(rules, write(tmp_path, "utf.jsonl", data))
    assert seen == 1
    assert [r for r, _ in dead] == ["invalid_utf8", "not_json", "not_json", "invalid_utf8"]


def test_lone_surrogate_in_a_dict_is_dead_lettered(rules):
    seen, dead, _ = outcome(rules, [{"ts": T, "request_id": "\ud800"}, {"ts": T}])
    assert seen == 1
    assert [r for r, _ in dead] == ["invalid_utf8"]


def test_byte_order_mark(rules, tmp_path):
    bom = b"\xef\xbb\xbf"
    seen, dead, _ = outcome(rules, write(tmp_path, "bom.jsonl", lines(bom + GOOD, bom + GOOD)))
    assert seen == 1  # a BOM starting the file is skipped; one inside it is not JSON
    assert [r for r, _ in dead] == ["not_json"]


def test_crlf_line_ends(rules, tmp_path):
    seen, dead, _ = outcome(rules, write(tmp_path, "crlf.jsonl", GOOD + b"\r\n" + GOOD + b"\r\n"))
    assert (seen, dead) == (2, [])


def test_duplicate_keys_last_one_wins(rules, tmp_path):
    data = lines(b'{"ts": 1700000000000, "ts": "soon"}', b'{"ts": "soon", "ts": 1700000000000}',
                 b'{"ts": 1700000000000, "request_id": "a", "request_id": "b"}')
    for extra in (b"", b"{broken\n"):  # the fast reader and the line-by-line one agree
        seen, dead, windowed = outcome(rules, write(tmp_path, "dup.jsonl", data + extra))
        assert seen == 2
        assert dead[0] == ("bad_time", "ts")
        assert {v.key["request_id"] for v in windowed} == {None, "b"}


def test_truncated_gzip_is_a_clean_error_for_the_source(rules, tmp_path):
    whole = gzip.compress(lines(*[GOOD] * 100_000))
    path = write(tmp_path, "cut.jsonl.gz", whole[: len(whole) // 2])
    with pytest.raises(SourceError, match="truncated gzip"):
        tosengine.evaluate(rules, path)
    ev = rules.stream()
    with pytest.raises(SourceError):
        ev.feed(path)


def test_absurd_allowed_lateness_is_a_clean_error(rules):
    with pytest.raises(ValueError, match="too long for rule 'per_request'"):
        tosengine.evaluate(rules, [{"ts": T}], allowed_lateness="100000d")


def test_blank_lines_and_non_objects(rules, tmp_path):
    data = b"\n" + lines(GOOD, b"", b"[1, 2]", b'"text"', b"42", b"null", b"  ", GOOD)
    seen, dead, _ = outcome(rules, write(tmp_path, "mixed.jsonl", data))
    assert seen == 2
    assert [r for r, _ in dead] == ["not_object"] * 4


def test_counts_add_up_over_a_corpus_of_every_class(rules, tmp_path):
    """One file of every hostile class, mixed with good lines: evaluated + dead = lines read."""
    hostile = [b'{"ts": 1700000000000, "request_id": "' + b"a" * 2_000_000 + b'"}',
               b'{"ts": 1700000000000, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
               b'{"ts": 0}', b'{"ts": "9999-12-31T23:59:59Z"}', b'{"ts": -5}',
               b'{"ts": 1700000000000, "input_tokens": 99999999999999999999999}',
               b'{"ts": 1700000000000, "temperature": NaN}',
               b'{"ts": 1700000000000, "request_id": "\xff"}',
               b'{"ts": 1700000000000, "request_id": "\\udfff"}',
               b'\xef\xbb\xbf{"ts": 1}', b'{"ts": 1700000000000}\r', b'{"ts": 1, "ts": 2}',
               b'{"ts": 99999999999999999999999}', b"{", b"[]", b"nul"]
    body = []
    for i, h in enumerate(hostile * 3):
        body += [b'{"ts": %d, "request_id": "g%d"}' % (T + i, i), h]
    data = lines(*body)
    read = sum(1 for line in data.split(b"\n") if line.strip())
    ev = rules.stream()  # events older than the watermark are dead letters too ("late")
    seen = sum(1 for v in ev.feed(write(tmp_path, "corpus.jsonl", data)) + ev.flush()
               if v.rule == "seen")
    dead = ev.take_dead_letters()
    assert seen + len(dead) == read == ev.counts["events"]
    assert seen >= 3  # good lines before the year-9999 event; later ones are late
    assert {d.reason for d in dead} == {"too_long", "not_json", "not_object", "wrong_type",
                                        "invalid_utf8", "bad_time", "late"}
