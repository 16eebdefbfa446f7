"""Interim reader used until :mod:`tosengine.runtime.sources` lands: orjson per line, pyarrow for Parquet.

Slow but complete: every line is parsed alone, bad lines are dead-lettered.
A stream on stdin yields a batch whenever no more input is waiting, so a
live stream is evaluated as it arrives.
"""

from __future__ import annotations

import gzip
import select
import sys
from collections.abc import Iterator
from typing import IO

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from tosengine.language.schema import Schema
from tosengine.runtime.inputs import NOT_JSON, RawBatch, arrow_schema, dicts_to_batch, raw_text


def read_interim(name: str, schema: Schema, batch_size: int, stdin: IO[bytes] | None) -> Iterator[RawBatch]:
    low = name.lower()
    if name == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        yield from _lines(stream, schema, "-", batch_size, live=True)
    elif low.endswith(".parquet"):
        pos = 0
        target = arrow_schema(schema)
        for b in pq.ParquetFile(name).iter_batches(batch_size=batch_size):
            yield RawBatch(_conform(b, target, schema), name, pos)
            pos += b.num_rows
    elif low.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        opener = gzip.open if low.endswith(".gz") else open
        with opener(name, "rb") as fh:  # type: ignore[operator]
            yield from _lines(fh, schema, name, batch_size, live=False)
    else:
        raise ValueError(f"{name}: unknown event file type (use .jsonl, .jsonl.gz or .parquet)")


def _conform(b: pa.RecordBatch, target: pa.Schema, schema: Schema) -> pa.RecordBatch:
    cols = []
    for f in target:
        if f.name in b.schema.names:
            col = b.column(f.name)
            if pa.types.is_timestamp(col.type):
                col = col.cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())
            cols.append(col.cast(f.type))
        else:
            cols.append(pa.nulls(b.num_rows, f.type))
    return pa.RecordBatch.from_arrays(cols, schema=target)


def _waiting(stream: IO[bytes]) -> bool:
    try:
        return bool(select.select([stream], [], [], 0)[0])
    except (ValueError, OSError, TypeError):
        return True


def _lines(stream: IO[bytes], schema: Schema, source: str, batch_size: int, live: bool) -> Iterator[RawBatch]:
    events: list[object] = []
    positions: list[int] = []
    bad: dict[int, tuple[str, str]] = {}
    raw: dict[int, str] = {}
    lineno = 0

    def batch() -> RawBatch:
        return dicts_to_batch(events, schema, source=source, positions=positions, bad=bad, raw=raw,
                              first_position=positions[0])

    readline = stream.readline
    while True:
        if live and events and not _waiting(stream):
            yield batch()
            events, positions, bad, raw = [], [], {}, {}
        line = readline()
        if not line:
            break
        lineno += 1
        if not line.strip():
            continue
        row = len(events)
        try:
            ev = orjson.loads(line)
        except orjson.JSONDecodeError:
            ev = None
            bad[row] = (NOT_JSON, "")
            raw[row] = raw_text(line.rstrip(b"\r\n"))
        events.append(ev)
        positions.append(lineno)
        if len(events) >= batch_size:
            yield batch()
            events, positions, bad, raw = [], [], {}, {}
    if events:
        yield batch()

