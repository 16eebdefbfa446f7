"""read_source: JSON Lines (plain, gzip, stdin, live pipes), Parquet and Arrow IPC by batches.

The JSON Lines reader has two paths — Arrow's C++ reader for clean chunks and
orjson line by line for chunks it rejects — that must give identical rows and
verdicts for any line; a hypothesis test compares them over generated lines,
good and bad.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import tosengine
from tosengine.language.schema import DEFAULT_SCHEMA, Field, Schema
from tosengine.language.types import Type
from tosengine.runtime.inputs import RawBatch
from tosengine.runtime.jsonl import ChunkParser
from tosengine.runtime.sources import SourceError, read_source, source_kind

RULES = """
rule big_output {
  title "Very long output"  clause "T1"  severity high  action review
  per account_id
  when output_tokens > 1000
  message "account {account_id}: {output_tokens}"
}
rule busy_account {
  title "Busy account"  clause "T2"  severity low  action log
  per account_id
  window 1m
  let requests = count()
  when requests >= 3
  message "account {account_id}: {requests}"
}
"""


def event(i: int) -> dict[str, object]:
    return {"ts": 1767571200000 + i * 7_000, "account_id": f"a{i % 5}", "status": 200,
            "output_tokens": 3000 if i % 11 == 0 else 10, "temperature": 0.5,
            "request_id": f"r{i}", "logprobs": i % 2 == 0, "note": {"x": [i]}}


def jsonl_bytes(n: int, *, blank_every: int = 0) -> bytes:
    out = []
    for i in range(n):
        out.append(json.dumps(event(i)).encode())
        if blank_every and i % blank_every == 0:
            out.append(b"")
    return b"\n".join(out) + b"\n"


def rows(batches: list[RawBatch]) -> tuple[list[dict], list[int], list[tuple]]:
    """All rows, their positions, and the (position, reason, detail, raw) of bad ones."""
    out, pos, bad = [], [], []
    for rb in batches:
        out += rb.batch.to_pylist()
        pos += [rb.position(r) for r in range(rb.batch.num_rows)]
        bad += [(rb.position(r), *rb.bad[r], rb.raw[r]) for r in sorted(rb.bad)]
    return out, pos, bad


# -- kinds, formats, offsets -----------------------------------------------------------


def test_source_kinds() -> None:
    assert [source_kind(n) for n in ("-", "a.jsonl", "a.NDJSON", "a.json", "a.jsonl.gz",
                                     "a.json.gz", "a.parquet", "a.arrow", "a.feather", "a.ipc")] \
        == ["stdin", "jsonl", "jsonl", "jsonl", "jsonl.gz", "jsonl.gz", "parquet", "ipc", "ipc",
            "ipc"]
    with pytest.raises(SourceError, match=r"^a\.csv: unknown kind of file"):
        source_kind("a.csv")


def test_plain_gzip_and_stdin_read_the_same_rows_with_offsets(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + jsonl_bytes(100, blank_every=9)
    nlines = data.count(b"\n")
    plain = tmp_path / "e.ndjson"
    plain.write_bytes(data)
    gz = tmp_path / "e.json.gz"
    gz.write_bytes(gzip.compress(data))
    base = list(read_source(plain, DEFAULT_SCHEMA, batch_size=16))
    assert len(base) == -(-nlines // 16)
    assert [rb.end_position for rb in base] == [min(16 * (k + 1), nlines) for k in range(len(base))]
    assert base[-1].end_offset == len(data) == base[-1].total_bytes
    assert base[-1].file_offset == base[-1].file_size == len(data)
    offsets = [rb.end_offset for rb in base]
    assert offsets == sorted(offsets)
    got_rows, got_pos, got_bad = rows(base)
    assert len(got_rows) == 100 and got_bad == []
    assert got_pos[:3] == [1, 3, 4]  # line 2 is blank
    assert got_rows[0]["ts"] == 1767571200000 and got_rows[0]["account_id"] == "a0"
    for other in (read_source(gz, DEFAULT_SCHEMA, batch_size=16),
                  read_source("-", DEFAULT_SCHEMA, batch_size=16, stdin=io.BytesIO(data)),
                  read_source("-", DEFAULT_SCHEMA, batch_size=16,
                              stdin=io.BufferedReader(io.BytesIO(gzip.compress(data))))):
        batches = list(other)
        assert rows(batches) == (got_rows, got_pos, got_bad)
        assert [rb.end_offset for rb in batches] == offsets
        assert [rb.end_position for rb in batches] == [rb.end_position for rb in base]
    last = list(read_source(gz, DEFAULT_SCHEMA, batch_size=16))[-1]
    assert last.total_bytes is None and last.file_size == gz.stat().st_size
    assert {rb.source for rb in base} == {str(plain)}


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_resume_from_any_batch_end(tmp_path: Path, suffix: str) -> None:
    data = jsonl_bytes(60, blank_every=7).replace(b'"a3"', b'"a3\xff"')  # some invalid_utf8
    path = tmp_path / f"e{suffix}"
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    batches = list(read_source(path, DEFAULT_SCHEMA, batch_size=9))
    assert any(rb.bad for rb in batches)
    for k in range(len(batches)):
        rest = list(read_source(path, DEFAULT_SCHEMA, batch_size=9,
                                start_offset=batches[k].end_offset or 0,
                                start_position=batches[k].end_position or 0))
        assert rows(rest) == rows(batches[k + 1:])


def test_batches_are_also_cut_by_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tosengine.runtime.jsonl as jsonl

    data = jsonl_bytes(50)
    path = tmp_path / "e.jsonl"
    path.write_bytes(data)
    whole = rows(list(read_source(path, DEFAULT_SCHEMA)))
    monkeypatch.setattr(jsonl, "CHUNK_BYTES", 1000)
    batches = list(read_source(path, DEFAULT_SCHEMA))
    sizes = np.diff([0] + [rb.end_offset for rb in batches])
    assert len(batches) > 5 and max(sizes) <= 1000
    assert rows(batches) == whole


def test_a_line_longer_than_a_read_block_is_skipped_as_it_streams(tmp_path: Path) -> None:
    huge = b'{"ts": 1, "user_agent": "' + b"y" * (3 << 20) + b'"}'
    data = b"\n".join([json.dumps(event(0)).encode(), huge, json.dumps(event(1)).encode(),
                       huge + b"\xff"])  # the file ends inside a long line
    path = tmp_path / "long.jsonl"
    path.write_bytes(data)
    batches = list(read_source(path, DEFAULT_SCHEMA, max_line_bytes=1000))
    got, pos, bad = rows(batches)
    assert [r["request_id"] for r in got] == ["r0", None, "r1", None]
    assert pos == [1, 2, 3, 4]
    assert bad == [(2, "too_long", f"{len(huge)} bytes, limit 1000", huge[:1024].decode()),
                   (4, "too_long", f"{len(huge) + 1} bytes, limit 1000", huge[:1024].decode())]
    assert batches[-1].end_offset == len(data) and batches[-1].end_position == 4


def test_missing_and_corrupt_files_raise_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="nope.jsonl: cannot open"):
        list(read_source(tmp_path / "nope.jsonl", DEFAULT_SCHEMA))
    bad_gz = tmp_path / "x.jsonl.gz"
    bad_gz.write_bytes(b"this is not gzip\n")
    with pytest.raises(SourceError, match="x.jsonl.gz: corrupt gzip data"):
        list(read_source(bad_gz, DEFAULT_SCHEMA))
    bad_pq = tmp_path / "x.parquet"
    bad_pq.write_bytes(b"PAR1 nonsense")
    with pytest.raises(SourceError, match="x.parquet: not a readable Parquet file"):
        list(read_source(bad_pq, DEFAULT_SCHEMA))
    bad_ipc = tmp_path / "x.arrow"
    bad_ipc.write_bytes(b"nonsense")
    with pytest.raises(SourceError, match="x.arrow: not an Arrow IPC file or stream"):
        list(read_source(bad_ipc, DEFAULT_SCHEMA))


# -- live streams ----------------------------------------------------------------------------


def test_stdin_pipe_yields_batches_as_lines_arrive() -> None:
    r, w = os.pipe()
    got_first = threading.Event()
    first = b"".join(json.dumps(event(i)).encode() + b"\n" for i in range(3))
    second = b"".join(json.dumps(event(i)).encode() + b"\n" for i in range(3, 5))

    def writer() -> None:
        with os.fdopen(w, "wb") as fh:
            fh.write(first + second[:10])  # and half a line
            fh.flush()
            got_first.wait(timeout=20)
            fh.write(second[10:])

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    with os.fdopen(r, "rb") as stdin:
        batches = []
        for rb in read_source("-", DEFAULT_SCHEMA, stdin=stdin):
            batches.append(rb)
            got_first.set()  # the writer holds the rest until a batch came out
    t.join(timeout=20)
    assert [rb.batch.num_rows for rb in batches] == [3, 2]
    assert rows(batches)[1] == [1, 2, 3, 4, 5]
    assert {rb.source for rb in batches} == {"-"}


# -- the two JSON paths agree ------------------------------------------------------------

SCHEMA = Schema((Field("s", Type.STRING), Field("ts", Type.TIMESTAMP, is_time=True),
                 Field("i", Type.INT), Field("f", Type.FLOAT), Field("b", Type.BOOL),
                 Field("t2", Type.TIMESTAMP)))
TIMES = ["2026-01-05T00:00:00Z", "2026-01-05T01:02:03.5+05:30", "2026-01-05 00:00:00.123456789Z",
         "2026-01-05t00:00:00z", "1969-12-31T23:59:59.9999-00:30", "2026-01-05T00:00:00+0100",
         "2026-01-05", "0000-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "soon", ""]
anything = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**64), 2**64),
    st.sampled_from([0, -0.0, 3.0, 1e300, 2**63, -(2**63), 10**30, 1767571200000]),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5),
    st.sampled_from(TIMES), st.lists(st.integers(0, 9), max_size=2),
    st.dictionaries(st.sampled_from("ab"), st.integers(0, 9), max_size=2))
times = st.one_of(st.sampled_from(TIMES), st.integers(-(2**63), 2**63 - 1), st.none())
FIELDS = {
    "s": st.one_of(st.none(), st.text(max_size=5)),
    "ts": times,
    "i": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    "f": st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False),
                   st.integers(-(2**70), 2**70)),
    "b": st.one_of(st.none(), st.booleans()),
    "t2": times,
    "extra": anything,
}


@st.composite
def objects(draw: st.DrawFn) -> dict[str, object]:
    """Mostly well-typed events (so whole chunks take the fast path), sometimes not."""
    out = {}
    for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), unique=True, max_size=6)):
        wrong = draw(st.integers(0, 15)) == 0
        out[name] = draw(anything if wrong else FIELDS[name])
    return out


values = anything
MUTATIONS = ["none"] * 40 + ["nan", "inf", "bom", "lead_ws", "trail_ws", "cut", "utf8", "two",
                            "scalar", "null", "blank", "deep", "dup", "long", "escape"]


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    """A line, good or bad in one of many ways, sometimes with whitespace around it."""
    line = draw(one_line())
    pad = draw(st.sampled_from([b""] * 6 + [b" ", b"\t "]))
    return pad + line + draw(st.sampled_from([b""] * 6 + [b" ", b"\r"]))


@st.composite
def one_line(draw: st.DrawFn) -> bytes:
    obj = draw(objects())
    text = json.dumps(obj).encode()
    how = draw(st.sampled_from(MUTATIONS))
    key = draw(st.sampled_from(["f", "extra", "i", "ts", "s"]))
    body = text[:-1] + (b", " if obj else b"")
    if how == "nan":
        return body + f'"{key}": NaN}}'.encode()
    if how == "inf":
        return body + f'"{key}": {draw(st.sampled_from(["Infinity", "-Infinity"]))}}}'.encode()
    if how == "bom":
        return b"\xef\xbb\xbf" + text
    if how == "lead_ws":
        return b" \t" + text
    if how == "trail_ws":
        return text + draw(st.sampled_from([b" ", b"\r", b"\t "]))
    if how == "cut":
        return text[: draw(st.integers(0, len(text) - 1))]
    if how == "utf8":
        return body + f'"{key}": "'.encode() + b"\xff\xc3" + b'"}'
    if how == "two":
        return text + draw(st.sampled_from([b" ", b"", b" null "])) + text
    if how == "scalar":
        return json.dumps(draw(values)).encode()
    if how == "null":
        return b"null"
    if how == "blank":
        return draw(st.sampled_from([b"", b"  ", b"\t"]))
    if how == "deep":
        return body + b'"extra": ' + b"[" * 1100 + b"]" * 1100 + b"}"
    if how == "dup":
        return body + f'"{key}": 1, "{key}": "x"}}'.encode()
    if how == "long":
        return body + b'"extra": "' + b"z" * 300 + b'"}'
    if how == "escape":
        return body + f'"s": "\\u00e9\\ud83d\\ude00\\n{key}"}}'.encode()
    return text


def ends_of(chunk: bytes) -> np.ndarray:
    ends = np.flatnonzero(np.frombuffer(chunk, np.uint8) == 10)
    if not chunk.endswith(b"\n"):
        ends = np.append(ends, len(chunk))
    return ends


def parsed(parser: ChunkParser, chunk: bytes) -> tuple[pa.RecordBatch, dict, dict, list[int]]:
    rb = parser.parse(chunk, ends_of(chunk), 10)
    return rb.batch, rb.bad, rb.raw, [rb.position(r) for r in range(rb.batch.num_rows)]


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example([b'{"ts": 1, "f": NaN}', b'{"ts": 2, "extra": Infinity, "f": -Infinity}'], 1)
@example([b' \t{"ts": 1, "f": NaN}', b'{"ts": 2}'], 2)
@example([b'{"ts": 1, "extra": ' + b"[" * 1100 + b"]" * 1100 + b"}", b'{"ts": "2026-01-05T00:00:00Z"}'], 2)
@example([b'{"ts": "2026-01-05T00:00:00+0100"}', b'{"ts": 3, "t2": "2026-01-05T00Z"}'], 4)
@example([b'\xef\xbb\xbf{"ts": 1}', b'{"ts": 1} {"ts": 2}', b'{"ts": 1, "i": 1, "i": 2}'], 1)
@example([b'{"ts": 1, "i": 3.0, "s": 1}', b'{"ts": "x", "b": 1}', b'{"ts": 2, "f": 1e400}'], 1)
@given(st.lists(lines(), min_size=1, max_size=10), st.integers(1, 4))
def test_fast_and_per_line_paths_agree(batch: list[bytes], sub: int) -> None:
    chunk = b"\n".join(batch) + b"\n"
    fast = parsed(ChunkParser(SCHEMA, "s", max_line_bytes=200, sub_lines=sub), chunk)
    slow = parsed(ChunkParser(SCHEMA, "s", max_line_bytes=200, fast=False), chunk)
    assert fast[0].schema == slow[0].schema
    assert fast[0].to_pylist() == slow[0].to_pylist()
    assert fast[1:] == slow[1:]


def test_clean_chunks_never_touch_the_per_line_path() -> None:
    class NoFallback(ChunkParser):
        def _per_line(self, lines, rows):  # type: ignore[no-untyped-def]
            raise AssertionError("fell back")

    chunk = jsonl_bytes(500, blank_every=50)
    times = b"".join(json.dumps({**event(i), "ts": f"2026-01-05T00:00:0{i}+01:00"}).encode()
                     + b"\n" for i in range(3))
    p = NoFallback(DEFAULT_SCHEMA, "x")
    for data in (chunk, times, chunk):  # epoch ints, then strings, then ints again
        rb = p.parse(data, ends_of(data), 0)
        assert rb.bad == {} and rb.batch.num_rows == data.count(b"{\"ts\"")
    assert p.parse(times, ends_of(times), 0).batch.column("ts")[0].as_py() == 1767567600000


# -- Parquet and Arrow IPC --------------------------------------------------------------------


@pytest.fixture(scope="module")
def table() -> pa.Table:
    evs = [event(i) for i in range(1000)]
    for e in evs:
        e.pop("note")
        e["unused"] = "x"
    t = pa.Table.from_pylist(evs)
    return t.set_column(t.schema.get_field_index("ts"), "ts",
                        t.column("ts").cast(pa.timestamp("ms", tz="UTC")))


@pytest.fixture(scope="module")
def ruleset() -> tosengine.RuleSet:
    return tosengine.compile(RULES)


def violations(rs: tosengine.RuleSet, batches: object) -> list[dict]:
    ev = rs.stream()
    out = []
    for b in batches:  # type: ignore[attr-defined]
        out += [v.to_dict() for v in ev.feed(b)]
    return out + [v.to_dict() for v in ev.flush()]


def test_parquet_is_read_by_batches_and_only_schema_columns(tmp_path: Path, table: pa.Table,
                                                            ruleset: tosengine.RuleSet) -> None:
    path = tmp_path / "e.parquet"
    pq.write_table(table, path, row_group_size=300)
    batches = list(read_source(path, DEFAULT_SCHEMA, batch_size=128))
    assert [b.batch.num_rows for b in batches] == [128] * 7 + [104]
    assert [b.first_position for b in batches][:3] == [0, 128, 256]
    assert batches[-1].end_position == batches[-1].total_rows == 1000
    assert "unused" not in batches[0].batch.schema.names
    expected = violations(ruleset, [table])
    assert expected and violations(ruleset, batches) == expected
    rest = list(read_source(path, DEFAULT_SCHEMA, batch_size=128, start_position=650))
    assert rest[0].first_position == 650
    assert sum(b.batch.num_rows for b in rest) == 350


@pytest.mark.parametrize("form", ["file", "stream", "feather"])
def test_arrow_ipc_is_read_by_batches(tmp_path: Path, table: pa.Table, form: str,
                                      ruleset: tosengine.RuleSet) -> None:
    path = tmp_path / ("e.feather" if form == "feather" else "e.arrow")
    if form == "feather":
        feather.write_feather(table, path, chunksize=400)
    else:
        new = pa.ipc.new_file if form == "file" else pa.ipc.new_stream
        with new(path, table.schema) as w:
            for b in table.to_batches(max_chunksize=400):
                w.write_batch(b)
    batches = list(read_source(path, DEFAULT_SCHEMA, batch_size=150))
    assert [b.batch.num_rows for b in batches] == [150, 150, 100] * 2 + [150, 50]
    assert [b.position(0) for b in batches][:4] == [0, 150, 300, 400]
    assert violations(ruleset, batches) == violations(ruleset, [table])


def test_evaluator_feed_of_a_path_uses_read_source(tmp_path: Path,
                                                   ruleset: tosengine.RuleSet) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(jsonl_bytes(200) + b"not json\n")
    ev = ruleset.stream()
    ev.feed(path)
    assert [(d.source, d.position, d.reason) for d in ev.dead_letters] == \
        [(str(path), 201, "not_json")]


def test_the_dead_letter_example_of_docs_input_md(tmp_path: Path, ruleset: tosengine.RuleSet,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "input.md").read_text()
    blocks = [b.split("\n", 1)[1] for b in doc.split("```jsonl")[1:]]
    events, letters = (b.split("```")[0] for b in blocks[:2])
    monkeypatch.chdir(tmp_path)
    Path("events.jsonl").write_bytes(events.encode().replace(b"\\xff", b"\xff"))
    ev = ruleset.stream()
    for b in read_source("events.jsonl", ev.program.schema, max_line_bytes=100):
        ev.feed(b)
    got = [d.to_dict() for d in ev.take_dead_letters()]
    assert got == [json.loads(line) for line in letters.splitlines()]
