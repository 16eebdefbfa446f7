"""Every accepted form of events → Arrow record batches (plus rows known bad).

Accepted: a pyarrow ``Table`` or ``RecordBatch``; a pandas or polars
``DataFrame``; a mapping of column name → numpy array or list; an iterable of
dicts (validated value by value against the schema); a path to ``.parquet``
(read by row groups), ``.jsonl`` or ``.jsonl.gz``.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pyarrow as pa

from tosengine.language.schema import Schema
from tosengine.language.types import Type
from tosengine.runtime.encode import BAD_TIME, MISSING_TIME, WRONG_TYPE
from tosengine.runtime.timeparse import parse_rfc3339

NOT_JSON = "not_json"
NOT_OBJECT = "not_object"
DICT_CHUNK = 65_536
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
    """A record batch and what is already known about it."""

    batch: pa.RecordBatch
    source: str | None = None
    first_position: int = 0  # position (row or line number) of row 0
    positions: list[int] | None = None  # per-row positions when not contiguous
    bad: dict[int, tuple[str, str]] = field(default_factory=dict)  # row -> (reason, detail)
    raw: dict[int, str] = field(default_factory=dict)  # row -> raw text of bad input

    def position(self, row: int) -> int:
        return self.positions[row] if self.positions is not None else self.first_position + row


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
        yield from _read_path(Path(events), schema)  # type: ignore[arg-type]
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
        f = float(value)
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
    readable time, are recorded as bad; their cells are left null.
    """
    bad = dict(bad or {})
    raw = dict(raw or {})
    columns: dict[str, list[object]] = {f.name: [None] * len(events) for f in schema.fields}
    tf = schema.time_field
    for row, ev in enumerate(events):
        if row in bad:
            continue
        if not isinstance(ev, Mapping):
            bad[row] = (NOT_OBJECT, type(ev).__name__)
            continue
        reason = None
        for f in schema.fields:
            value = ev.get(f.name)
            if f.is_time:
                if value is None:
                    reason = reason or (MISSING_TIME, tf)
                    continue
                ms, ok = _time(value)
                if not ok:
                    reason = reason or (BAD_TIME, tf)
                columns[tf][row] = ms
                continue
            v, ok = _check(value, f.type)
            if not ok:
                reason = reason or (WRONG_TYPE, f.name)
                continue
            columns[f.name][row] = v
        if reason is not None:
            bad[row] = reason
    arrays = [pa.array(columns[f.name], type=_ARROW[f.type]) for f in schema.fields]
    batch = pa.RecordBatch.from_arrays(arrays, names=list(schema.names))
    return RawBatch(batch, source, first_position, positions, bad, raw)


def _read_path(path: Path, schema: Schema) -> Iterator[RawBatch]:
    name = path.name.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        pos = 0
        for b in pf.iter_batches(batch_size=DICT_CHUNK):
            yield RawBatch(b, str(path), pos)
            pos += b.num_rows
        return
    if name.endswith(".jsonl") or name.endswith(".jsonl.gz") or name.endswith(".ndjson"):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rb") as fh:  # type: ignore[operator]
            yield from json_lines(fh, schema, str(path))
        return
    raise ValueError(f"{path}: unknown event file type (use .parquet, .jsonl or .jsonl.gz)")


def json_lines(lines: Iterable[bytes], schema: Schema, source: str) -> Iterator[RawBatch]:
    """Parse JSON lines (1-based line numbers as positions); bad lines are kept as bad rows."""
    events: list[object] = []
    positions: list[int] = []
    bad: dict[int, tuple[str, str]] = {}
    raw: dict[int, str] = {}
    for lineno, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        row = len(events)
        positions.append(lineno)
        try:
            ev = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            bad[row] = (NOT_JSON, str(exc).split(":")[0])
            raw[row] = text[:1024].decode("utf-8", "replace")
            events.append(None)
        else:
            if not isinstance(ev, dict):
                bad[row] = (NOT_OBJECT, type(ev).__name__)
                raw[row] = text[:1024].decode("utf-8", "replace")
            events.append(ev)
        if len(events) >= DICT_CHUNK:
            yield dicts_to_batch(events, schema, source=source, positions=positions, bad=bad,
                                 raw=raw)
            events, positions, bad, raw = [], [], {}, {}
    if events:
        yield dicts_to_batch(events, schema, source=source, positions=positions, bad=bad, raw=raw)
