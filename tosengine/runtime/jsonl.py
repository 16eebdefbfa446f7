"""JSON Lines → :class:`RawBatch` es: Arrow's C++ reader for clean chunks, orjson for the rest.

A byte stream is cut into chunks of whole lines (at most ``batch_size`` lines,
or fewer when a live stream has no more data ready). A chunk whose lines all
start with ``{``, are valid UTF-8 and within the length limit goes whole to
``pyarrow.json`` with an explicit schema (fields the schema lacks are
ignored). When Arrow rejects it, the chunk is retried in sub-chunks of
:data:`SUB_LINES` lines, and only a sub-chunk Arrow still rejects is read line
by line with ``orjson`` to find and dead-letter its bad lines; its good lines
are validated value by value as in-memory dicts are
(:func:`tosengine.runtime.inputs.dicts_to_batch`).

Both paths give the same rows and the same verdicts: a line orjson rejects is
offered to Arrow alone when it holds what Arrow accepts and orjson does not
(``NaN``/``Infinity`` literals, nesting deeper than 1024), so a line's verdict
never depends on its neighbours. Blank lines are skipped; a UTF-8 byte order
mark at the start of the stream is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import BinaryIO

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from tosengine.language.schema import Schema
from tosengine.language.types import Type
from tosengine.runtime.inputs import RawBatch, arrow_schema, dicts_to_batch, raw_text
from tosengine.runtime.reasons import (
    BAD_TIME,
    INVALID_UTF8,
    MISSING_TIME,
    NOT_JSON,
    NOT_OBJECT,
    TOO_LONG,
    WRONG_TYPE,
)
from tosengine.runtime.timeparse import time_ms

MAX_LINE_BYTES = 1 << 20  # default longest line read (bytes, without the line end)
BLOCK_BYTES = 1 << 20  # bytes asked of the stream per read
CHUNK_BYTES = 64 << 20  # a batch is cut early when its lines reach this many bytes
SUB_LINES = 2048  # lines per sub-chunk when a chunk fails
_BOM = b"\xef\xbb\xbf"
_WS = b" \t\r"
_CHANGED = re.compile(r"Column\(/([^)]*)\) changed from (\w+) to (\w+)")
_JSON_TYPE = {"list": "array", "int": "number", "float": "number", "str": "string",
              "bool": "boolean", "NoneType": "null"}
_ORJSON_AT = re.compile(r": line \d+ column (\d+) \(char \d+\)$")


class ChunkParser:
    """Parses chunks of whole JSON lines of one source into :class:`RawBatch` es."""

    def __init__(self, schema: Schema, source: str | None, *,
                 max_line_bytes: int = MAX_LINE_BYTES, fast: bool = True,
                 sub_lines: int = SUB_LINES) -> None:
        self.fast = fast  # False: every line through orjson (the reference path in tests)
        self.sub_lines = sub_lines
        self.schema = schema
        self.source = source
        self.max_line = int(max_line_bytes)
        self.arrow = arrow_schema(schema)
        self.times = [f for f in schema.fields if f.type is Type.TIMESTAMP]
        self.as_int: set[str] = set()  # timestamp fields Arrow currently reads as int64
        self.block = max(1 << 20, self.max_line + 64)

    # -- one chunk --------------------------------------------------------------

    def parse(self, chunk: bytes, ends: np.ndarray, first_line: int) -> RawBatch:
        """Rows of ``chunk``; ``ends[i]`` is the end (``\\n`` or chunk end) of line ``i``,
        and line 0 is line number ``first_line + 1``."""
        b = np.frombuffer(chunk, np.uint8)
        k = len(ends)
        starts = np.empty(k, np.int64)
        if k:
            starts[0] = 0
            starts[1:] = ends[:-1] + 1
        e = ends.astype(np.int64)
        if len(b):
            last = b[np.clip(e - 1, 0, len(b) - 1)]
            e = e - ((e > starts) & (last == 13))
        lens = e - starts
        first = np.zeros(k, np.uint8)  # first byte of each non-empty line
        if len(b):
            first = np.where(lens > 0, b[np.minimum(starts, len(b) - 1)], 0).astype(np.uint8)
        blank = lens == 0
        for i in np.flatnonzero(~blank & ((first == 32) | (first == 9) | (first == 13))):
            text = chunk[starts[i]:e[i]].strip(_WS)
            if text:
                first[i] = text[0]
            else:
                blank[i] = True
        rows = np.flatnonzero(~blank)
        batch, bad, raw = _merge(self._parts(Lines(chunk, starts, e, lens, first), rows),
                                 self.arrow)
        if len(rows) == k:
            return RawBatch(batch, self.source, first_line + 1, None, bad, raw)
        numbers = (rows + first_line + 1).tolist()
        return RawBatch(batch, self.source, numbers[0] if numbers else first_line + 1, numbers,
                        bad, raw)

    def _parts(self, lines: Lines, rows: np.ndarray) -> list[_Part]:
        """The whole chunk through Arrow; failing that, sub-chunks; failing that, line by line."""
        if not len(rows):
            return []
        if not self.fast:
            return [self._per_line(lines, rows)]
        whole = self._fast(lines, rows)
        if whole is not None:
            return [whole]
        subs = [rows[g:g + self.sub_lines] for g in range(0, len(rows), self.sub_lines)]
        return [self._fast(lines, sub) or self._per_line(lines, sub) for sub in subs]

    def too_long(self, prefix: bytes, length: int, line_number: int) -> RawBatch:
        """A one-row batch for a line longer than the limit, of which ``prefix`` was kept."""
        return dicts_to_batch([None], self.schema,
                              bad={0: (TOO_LONG, _too_long(length, self.max_line))},
                              raw={0: raw_text(prefix)}, source=self.source,
                              first_position=line_number)

    # -- the C++ reader ---------------------------------------------------------

    def _fast(self, lines: Lines, rows: np.ndarray) -> _Part | None:
        """Rows ``rows`` (contiguous line indexes, blank lines between allowed) through Arrow."""
        if (lines.lens[rows] > self.max_line).any() or (lines.first[rows] != 123).any():
            return None
        lo, hi = int(lines.starts[rows[0]]), int(lines.ends[rows[-1]])
        data = lines.chunk[lo:hi] if (lo, hi) != (0, len(lines.chunk)) else lines.chunk
        if not _utf8(data):
            return None
        table = self._read(data, len(rows))
        if table is None:
            return None
        return self._finish(table, lines, rows)

    def _read(self, data: bytes, nrows: int) -> pa.Table | None:
        for _ in range(len(self.times) + 1):
            schema = pa.schema([
                pa.field(f.name, (pa.int64() if f.name in self.as_int else pa.string())
                         if f.type is Type.TIMESTAMP else self.arrow.field(f.name).type)
                for f in self.schema.fields])
            try:
                table = pj.read_json(
                    pa.BufferReader(data),
                    read_options=pj.ReadOptions(use_threads=False, block_size=self.block),
                    parse_options=pj.ParseOptions(explicit_schema=schema,
                                                  unexpected_field_behavior="ignore",
                                                  newlines_in_values=False))
            except (pa.ArrowException, ValueError) as exc:
                if not self._flip(str(exc)):
                    return None
                continue
            return table if table.num_rows == nrows else None
        return None

    def _flip(self, message: str) -> bool:
        """Read a timestamp field as the other of string/int64 after Arrow saw the other."""
        m = _CHANGED.search(message)
        if m is None or m.group(1) not in {f.name for f in self.times}:
            return False
        name, was, now = m.groups()
        if was == "string" and now == "number" and name not in self.as_int:
            self.as_int.add(name)
            return True
        if was == "number" and now == "string" and name in self.as_int:
            self.as_int.discard(name)
            return True
        return False

    def _finish(self, table: pa.Table, lines: Lines, rows: np.ndarray) -> _Part:
        n = table.num_rows
        columns = [table.column(i).combine_chunks() if table.column(i).num_chunks != 1
                   else table.column(i).chunk(0) for i in range(table.num_columns)]
        bad: dict[int, tuple[str, str]] = {}
        badmask = np.zeros(n, bool)
        for i, f in enumerate(self.schema.fields):
            col = columns[i]
            if f.type is Type.TIMESTAMP:
                ms, unreadable = time_ms(col)
                valid = col.is_valid().to_numpy(zero_copy_only=False) if col.null_count \
                    else np.ones(n, bool)
                if f.is_time:
                    _mark(bad, badmask, ~valid, MISSING_TIME, f.name)
                    _mark(bad, badmask, unreadable & valid, BAD_TIME, f.name)
                else:
                    _mark(bad, badmask, unreadable & valid, WRONG_TYPE, f.name)
                columns[i] = pa.array(ms, pa.int64(), mask=~valid | unreadable)
            elif f.type is Type.FLOAT and col.null_count < n:
                nan = pc.is_nan(col)
                if pc.any(nan).as_py():
                    columns[i] = pc.if_else(nan, pa.scalar(None, pa.float64()), col)
        if badmask.any():
            keep = pa.array(~badmask)
            columns = [pc.if_else(keep, c, pa.scalar(None, c.type)) for c in columns]
        batch = pa.RecordBatch.from_arrays(columns, schema=self.arrow)
        raw = {r: raw_text(lines.line(int(rows[r]))) for r in bad}
        return _Part(batch, bad, raw)

    # -- orjson, line by line ---------------------------------------------------

    def _per_line(self, lines: Lines, rows: np.ndarray) -> _Part:
        """Each line through orjson: bad lines get their reason, good ones are validated."""
        events: list[object] = [None] * len(rows)
        bad: dict[int, tuple[str, str]] = {}
        loads = orjson.loads
        for j, i in enumerate(rows.tolist()):
            line = lines.line(i)
            if len(line) > self.max_line:
                bad[j] = (TOO_LONG, _too_long(len(line), self.max_line))
                continue
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad[j] = (INVALID_UTF8, f"byte {exc.start + 1}")
                continue
            try:
                ev = loads(line)
            except orjson.JSONDecodeError as exc:
                ev = self._arrow_line(line, str(exc))
                if ev is None:
                    bad[j] = (NOT_JSON, _orjson_detail(str(exc)))
                    continue
            if not isinstance(ev, dict):
                bad[j] = (NOT_OBJECT, _JSON_TYPE.get(type(ev).__name__, type(ev).__name__))
                continue
            events[j] = ev
        rb = dicts_to_batch(events, self.schema, bad=bad)
        raw = {r: raw_text(lines.line(int(rows[r]))) for r in rb.bad}
        return _Part(rb.batch, rb.bad, raw)

    def _arrow_line(self, line: bytes, message: str) -> dict[str, object] | None:
        """The schema fields of a line orjson rejects but Arrow's reader accepts, else None."""
        if not line.lstrip(_WS).startswith(b"{") or not (
                b"NaN" in line or b"Infinity" in line or "depth" in message):
            return None
        table = self._read(line, 1)
        if table is None:
            return None
        return table.to_pylist()[0]


class Lines:
    """Line boundaries of a chunk (``ends`` exclude the ``\\n`` and a ``\\r`` before it)."""

    __slots__ = ("chunk", "starts", "ends", "lens", "first")

    def __init__(self, chunk: bytes, starts: np.ndarray, ends: np.ndarray, lens: np.ndarray,
                 first: np.ndarray) -> None:
        self.chunk, self.starts, self.ends, self.lens, self.first = chunk, starts, ends, lens, first

    def line(self, i: int) -> bytes:
        return self.chunk[int(self.starts[i]):int(self.ends[i])]


class _Part:
    __slots__ = ("batch", "bad", "raw")

    def __init__(self, batch: pa.RecordBatch, bad: dict[int, tuple[str, str]],
                 raw: dict[int, str]) -> None:
        self.batch, self.bad, self.raw = batch, bad, raw


def _merge(parts: list[_Part], schema: pa.Schema) -> tuple[pa.RecordBatch, dict, dict]:
    if len(parts) == 1:
        return parts[0].batch, parts[0].bad, parts[0].raw
    bad: dict[int, tuple[str, str]] = {}
    raw: dict[int, str] = {}
    base = 0
    for p in parts:
        bad.update({base + r: v for r, v in p.bad.items()})
        raw.update({base + r: v for r, v in p.raw.items()})
        base += p.batch.num_rows
    table = pa.Table.from_batches([p.batch for p in parts], schema=schema).combine_chunks()
    batches = table.to_batches()
    batch = batches[0] if batches else pa.RecordBatch.from_pylist([], schema=schema)
    return batch, bad, raw


def _mark(bad: dict, badmask: np.ndarray, rows: np.ndarray, reason: str, detail: str) -> None:
    new = rows & ~badmask
    if new.any():
        for r in np.flatnonzero(new).tolist():
            bad[r] = (reason, detail)
        badmask |= new


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _too_long(length: int, limit: int) -> str:
    return f"{length} bytes, limit {limit}"


def _orjson_detail(message: str) -> str:
    m = _ORJSON_AT.search(message)
    if m is None:
        return message
    return f"{message[:m.start()]} at column {m.group(1)}"


# -- cutting a stream into chunks ----------------------------------------------


def read_jsonl(fh: BinaryIO, schema: Schema, source: str | None, *, batch_size: int,
               max_line_bytes: int = MAX_LINE_BYTES, start_offset: int = 0, start_line: int = 0,
               total_bytes: int | None = None,
               ready: Callable[[], bool] | None = None,
               file_progress: Callable[[], tuple[int | None, int | None]] | None = None,
               ) -> Iterator[RawBatch]:
    """Read JSON lines from ``fh`` (positioned at ``start_offset`` of its stream).

    Yields a batch every ``batch_size`` lines (or :data:`CHUNK_BYTES` bytes of
    whole lines, if less), at the end, and — when
    ``ready()`` says no more data is waiting (a live stream) — as soon as
    whole lines have arrived. Memory stays bounded: a line longer than
    ``max_line_bytes`` is skipped as it streams past, keeping only its start.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    parser = ChunkParser(schema, source, max_line_bytes=max_line_bytes)
    read = getattr(fh, "read1", None) or fh.read
    buf = bytearray()
    nls: list[np.ndarray] = []  # positions of '\n' in buf
    nlines = 0
    consumed = start_offset  # stream bytes before buf[0]
    line = start_line  # lines before buf[0]
    check_bom = start_offset == 0
    skipping: tuple[int, bytes, int] | None = None  # (line number, prefix, length so far)

    def stamp(rb: RawBatch) -> RawBatch:
        rb.end_offset, rb.end_position, rb.total_bytes = consumed, line, total_bytes
        if file_progress is not None:
            rb.file_offset, rb.file_size = file_progress()
        return rb

    def cut(k: int, final: bool) -> RawBatch:
        nonlocal buf, nls, nlines, consumed, line
        pos = np.concatenate(nls) if nls else np.zeros(0, np.int64)
        ends = pos[:k]
        end = int(ends[-1]) + 1 if k else 0
        if final and end < len(buf):
            ends = np.append(ends, len(buf))
            end = len(buf)
        chunk = bytes(buf[:end])
        del buf[:end]
        rest = pos[k:] - end
        nls = [rest] if len(rest) else []
        nlines = len(rest)
        rb = parser.parse(chunk, ends, line)
        consumed += end
        line += len(ends)
        return stamp(rb)

    while True:
        block = read(BLOCK_BYTES)
        eof = not block
        if skipping is not None and block:
            at = block.find(b"\n")
            number, prefix, length = skipping
            if at < 0:
                skipping = (number, prefix, length + len(block))
                continue
            length += at
            skipping = None
            consumed += length + 1
            line += 1
            yield stamp(parser.too_long(prefix, length, number))
            block = block[at + 1:]
        if block:
            pos = np.flatnonzero(np.frombuffer(block, np.uint8) == 10)
            if len(pos):
                nls.append(pos + len(buf))
                nlines += len(pos)
            buf += block
        if check_bom and (len(buf) >= 3 or eof):
            check_bom = False
            if buf.startswith(_BOM):
                del buf[:3]
                consumed += 3
                nls = [p - 3 for p in nls]
        while nlines >= batch_size:
            yield cut(batch_size, False)
        while nlines and int(nls[0][0]) < CHUNK_BYTES <= int(nls[-1][-1]):
            pos = np.concatenate(nls)
            yield cut(int(np.searchsorted(pos, CHUNK_BYTES)), False)
        if eof:
            if skipping is not None:
                number, prefix, length = skipping
                consumed += length
                line += 1
                yield stamp(parser.too_long(prefix, length, number))
            elif buf or nlines:
                yield cut(nlines, True)
            return
        tail = len(buf) - (int(nls[-1][-1]) + 1 if nls else 0)
        if tail > max_line_bytes:
            if nlines:
                yield cut(nlines, False)
            skipping = (line + 1, bytes(buf[:4 * 1024]), len(buf))
            buf.clear()
            nls = []
        elif nlines and ready is not None and not ready():
            yield cut(nlines, False)


__all__ = ["ChunkParser", "read_jsonl", "MAX_LINE_BYTES"]
