"""Every accepted form of events → Arrow record batches (plus rows known bad).

Accepted: a pyarrow ``Table`` or ``RecordBatch``; a pandas or polars
``DataFrame``; a mapping of column name → numpy array or list; an iterable of
dicts (validated value by value against the schema); a path or ``"-"`` (stdin)
read by :func:`tosengine.runtime.sources.read_source` (JSON Lines, plain or
gzip, Parquet, Arrow IPC).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import orjson
import pyarrow as pa

from tosengine.language.schema import Schema
from tosengine.language.types import Type
from tosengine.runtime.reasons import (
    BAD_TIME,
    INVALID_UTF8,
    MISSING_TIME,
    NOT_JSON,
    NOT_OBJECT,
    WRONG_TYPE,
)
from tosengine.runtime.timeparse import parse_rfc3339

__all__ = ["RawBatch", "record_batches", "dicts_to_batch", "arrow_schema", "raw_text",
           "NOT_JSON", "NOT_OBJECT", "RAW_BYTES"]

DICT_CHUNK = 65_536
RAW_BYTES = 1024  # bytes of a bad line kept as its dead-letter ``raw``
_I64 = (-(2**63), 2**63 - 1)
_ARROW = {
    Type.INT: pa.int64(),
    Type.FLOAT: pa.float64(),
    Type.BOOL: pa.bool_(),
    Type.STRING: pa.string(),
    Type.TIMESTAMP: pa.int64(),
}


@dataclass
class RawBatch:
    """A record batch and what is already known about it.

    ``bad`` maps a row to ``(reason, detail)`` for rows known bad before
    encoding (their cells are null); ``raw`` maps a row to the text shown in
    its dead-letter record. Positions are 1-based line numbers for JSON Lines
    and 0-based row indexes for tables.

    Sources also say how far they got, for progress and for resuming:
    ``end_offset`` is the number of bytes of the source's byte stream consumed
    through the end of this batch (the *decompressed* stream for ``.gz``;
    ``None`` for Parquet/IPC and in-memory inputs); ``end_position`` the lines
    (JSON Lines) or rows (tables) consumed through this batch, blank lines
    included; ``total_bytes``/``total_rows`` the size of the stream or table when
    known without reading it; ``file_offset``/``file_size`` the bytes of the file
    on disk read so far (compressed bytes for ``.gz``, read-ahead included) and
    its size, for progress bars.
    """

    batch: pa.RecordBatch
    source: str | None = None
    first_position: int = 0  # position (row or line number) of row 0
    positions: list[int] | None = None  # per-row positions when not contiguous
    bad: dict[int, tuple[str, str]] = field(default_factory=dict)  # row -> (reason, detail)
    raw: dict[int, str] = field(default_factory=dict)  # row -> raw text of bad input
    end_offset: int | None = None
    end_position: int | None = None
    total_bytes: int | None = None
    total_rows: int | None = None
    file_offset: int | None = None
    file_size: int | None = None

    def position(self, row: int) -> int:
        return self.positions[row] if self.positions is not None else self.first_position + row


def arrow_schema(schema: Schema) -> pa.Schema:
    """The Arrow schema of batches read from text: timestamps as int64 UTC milliseconds."""
    return pa.schema([pa.field(f.name, _ARROW[f.type]) for f in schema.fields])


def raw_text(line: bytes, limit: int = RAW_BYTES) -> str:
    """The first ``limit`` bytes of ``line`` as text for a dead-letter record.

    A character cut at the limit is dropped whole; bytes that are not valid
    UTF-8 are written as ``\\xNN`` escapes.
    """
    if len(line) > limit:
        cut = limit
        while cut > 0 and (line[cut] & 0xC0) == 0x80:
            cut -= 1
        line = line[:cut]
    return line.decode("utf-8", "backslashreplace")


def is_path(events: object) -> bool:
    return isinstance(events, (str, os.PathLike))


def record_batches(events: object, schema: Schema) -> Iterator[RawBatch]:
    """Normalise any accepted form of ``events`` into :class:`RawBatch` es."""
    if isinstance(events, RawBatch):
        yield events
        return
    if isinstance(events, pa.RecordBatch):
        yield RawBatch(events)
        return
    if isinstance(events, pa.Table):
        pos = 0
        for b in events.to_batches():
            yield RawBatch(b, first_position=pos)
            pos += b.num_rows
        return
    if is_path(events):
        from tosengine.runtime.sources import read_source

        yield from read_source(events, schema)  # type: ignore[arg-type]
        return
    mod = type(events).__module__
    if mod.startswith("pandas"):
        yield from record_batches(pa.Table.from_pandas(events, preserve_index=False), schema)
        return
    if mod.startswith("polars"):
        yield from record_batches(events.to_arrow(), schema)  # type: ignore[attr-defined]
        return
    if isinstance(events, Mapping):
        yield from record_batches(pa.table(dict(events)), schema)
        return
    if isinstance(events, Iterable):
        chunk: list[object] = []
        pos = 0
        for ev in events:
            chunk.append(ev)
            if len(chunk) >= DICT_CHUNK:
                yield dicts_to_batch(chunk, schema, first_position=pos)
                pos += len(chunk)
                chunk = []
        if chunk or pos == 0:
            yield dicts_to_batch(chunk, schema, first_position=pos)
        return
    raise TypeError(f"cannot read events from {type(events).__name__}")


def _check(value: object, t: Type) -> tuple[object, bool]:
    """``(normalised value, ok)`` of one JSON-like value for a field of type ``t``."""
    if value is None:
        return None, True
    if t is Type.STRING:
        return value, isinstance(value, str)
    if t is Type.BOOL:
        return value, isinstance(value, bool)
    if t is Type.INT:
        ok = type(value) is int and _I64[0] <= value <= _I64[1]  # type: ignore[operator]
        return value, ok
    if t is Type.FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, False
        try:
            f = float(value)
        except OverflowError:  # an int too big for a double
            return None, False
        return (None if f != f else f), True
    if t is Type.TIMESTAMP:
        return _time(value)
    return None, False


def _time(value: object) -> tuple[int | None, bool]:
    if type(value) is int:
        return (value, True) if _I64[0] <= value <= _I64[1] else (None, False)  # type: ignore[operator]
    if isinstance(value, str):
        ms = parse_rfc3339(value)
        return ms, ms is not None
    return None, False


def dicts_to_batch(events: list[object], schema: Schema, *, first_position: int = 0,
                   source: str | None = None, positions: list[int] | None = None,
                   bad: dict[int, tuple[str, str]] | None = None,
                   raw: dict[int, str] | None = None) -> RawBatch:
    """Validate event dicts value by value and build a record batch.

    Rows that are not objects, or hold a value of the wrong type, or lack a
    readable time, are recorded as bad with the first failing field in schema
    order; every cell of a bad row is null, and its ``raw`` text is the event
    as JSON unless ``raw`` already has it. Rows already in ``bad`` are skipped.
    """
    bad = dict(bad or {})
    raw = dict(raw or {})
    n = len(events)
    fields = schema.fields
    columns: list[list[object]] = [[None] * n for _ in fields]
    tf = schema.time_field
    for row, ev in enumerate(events):
        if row in bad:
            continue
        if not isinstance(ev, Mapping):
            bad[row] = (NOT_OBJECT, type(ev).__name__)
        else:
            values: list[object] = []
            reason = None
            for f in fields:
                value = ev.get(f.name)
                if f.is_time:
                    if value is None:
                        reason = (MISSING_TIME, tf)
                        break
                    v, ok = _time(value)
                    if not ok:
                        reason = (BAD_TIME, tf)
                        break
                else:
                    v, ok = _check(value, f.type)
                    if not ok:
                        reason = (WRONG_TYPE, f.name)
                        break
                    if type(v) is str and not _encodes(v):  # a lone surrogate
                        reason = (INVALID_UTF8, f.name)
                        break
                values.append(v)
            if reason is None:
                for column, v in zip(columns, values):
                    column[row] = v
                continue
            bad[row] = reason
        if row not in raw:
            raw[row] = _event_text(ev)
    arrays = [pa.array(c, type=_ARROW[f.type]) for c, f in zip(columns, fields)]
    batch = pa.RecordBatch.from_arrays(arrays, schema=arrow_schema(schema))
    return RawBatch(batch, source, first_position, positions, bad, raw)


def _encodes(text: str) -> bool:
    """Whether ``text`` is valid Unicode for UTF-8 (Python strs may hold lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _event_text(ev: object) -> str:
    try:
        return orjson.dumps(ev, default=str).decode()
    except (TypeError, orjson.JSONEncodeError):
        return repr(ev)[:RAW_BYTES]
