"""Event sources by name: files (JSON Lines plain or gzip, Parquet, Arrow IPC) and stdin.

:func:`read_source` reads one source incrementally and yields
:class:`~tosengine.runtime.inputs.RawBatch` es; nothing reads a whole file
into memory. The kind of file is told by its name:

* ``-``: standard input, JSON Lines (gzip when it starts with the gzip magic
  bytes), read as data arrives;
* ``.jsonl``, ``.ndjson``, ``.json`` (read as JSON Lines), and the same with
  ``.gz``;
* ``.parquet``, ``.pq``: by record batches of ``batch_size`` rows, only the
  schema's columns;
* ``.arrow``, ``.ipc``, ``.feather``: Arrow IPC file or stream format, by
  record batches (sliced to ``batch_size`` rows).

A source that cannot be read to its end (missing, unknown kind, truncated or
corrupt gzip, unreadable Parquet) raises :class:`SourceError` — after yielding
every batch read before the fault.
"""

from __future__ import annotations

import gzip
import io
import os
import select
import sys
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

import pyarrow as pa

from tosengine.language.schema import Schema
from tosengine.runtime.inputs import RawBatch
from tosengine.runtime.jsonl import MAX_LINE_BYTES, read_jsonl

__all__ = ["SourceError", "read_source", "source_kind", "BATCH_SIZE"]

BATCH_SIZE = 65_536
_JSONL = (".jsonl", ".ndjson", ".json")
_PARQUET = (".parquet", ".pq")
_IPC = (".arrow", ".ipc", ".feather")


class SourceError(Exception):
    """A source could not be read to its end; the message is one line naming the source."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


def source_kind(name: str | os.PathLike[str]) -> str:
    """``"stdin"``, ``"jsonl"``, ``"jsonl.gz"``, ``"parquet"`` or ``"ipc"`` for a source name."""
    text = os.fspath(name)
    if text == "-":
        return "stdin"
    low = text.lower()
    if low.endswith(".gz") and low[:-3].endswith(_JSONL):
        return "jsonl.gz"
    if low.endswith(_JSONL):
        return "jsonl"
    if low.endswith(_PARQUET):
        return "parquet"
    if low.endswith(_IPC):
        return "ipc"
    raise SourceError(text, "unknown kind of file (use .jsonl, .ndjson, .json, any of those "
                            "with .gz, .parquet, .arrow, .ipc, .feather, or - for stdin)")


def read_source(name: str | os.PathLike[str], schema: Schema, *, batch_size: int = BATCH_SIZE,
                stdin: BinaryIO | None = None, max_line_bytes: int = MAX_LINE_BYTES,
                start_offset: int = 0, start_position: int = 0) -> Iterator[RawBatch]:
    """Read one source as record batches of at most ``batch_size`` rows.

    ``name`` is a path or ``"-"`` for standard input (``sys.stdin.buffer``
    unless ``stdin`` is given). Each batch carries ``source`` (``name`` as
    given, ``"-"`` for stdin), the 1-based line number (JSON Lines) or 0-based
    row index (Parquet/IPC) of each row, the rows already known bad with their
    reason, and how far the source was read (see :class:`RawBatch`).

    To resume after a batch, pass its ``end_offset`` as ``start_offset`` and
    its ``end_position`` as ``start_position`` (JSON Lines: skips that many
    bytes of the — decompressed — stream and numbers lines from there;
    Parquet/IPC: skips that many rows).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    source = os.fspath(name)
    kind = source_kind(name)
    if kind == "stdin":
        yield from _stdin(stdin, schema, batch_size, max_line_bytes, start_offset, start_position)
    elif kind in ("jsonl", "jsonl.gz"):
        yield from _jsonl_file(source, kind == "jsonl.gz", schema, batch_size, max_line_bytes,
                               start_offset, start_position)
    elif kind == "parquet":
        yield from _parquet(source, schema, batch_size, start_position)
    else:
        yield from _ipc(source, batch_size, start_position)


# -- JSON Lines ---------------------------------------------------------------------


def _jsonl_file(source: str, gz: bool, schema: Schema, batch_size: int, max_line_bytes: int,
                start_offset: int, start_position: int) -> Iterator[RawBatch]:
    try:
        fh = open(source, "rb")
    except OSError as exc:
        raise SourceError(source, f"cannot open: {exc.strerror or exc}") from exc
    with fh:
        size = os.fstat(fh.fileno()).st_size

        def progress() -> tuple[int | None, int | None]:
            return fh.tell(), size

        stream: BinaryIO = fh
        total: int | None = size
        if gz:
            stream = gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[assignment]
            total = None
        if start_offset:
            _skip(stream, start_offset, source, seekable=not gz)
        yield from _guard(source, read_jsonl(
            stream, schema, source, batch_size=batch_size, max_line_bytes=max_line_bytes,
            start_offset=start_offset, start_line=start_position, total_bytes=total,
            file_progress=progress))


def _stdin(stdin: BinaryIO | None, schema: Schema, batch_size: int, max_line_bytes: int,
           start_offset: int, start_position: int) -> Iterator[RawBatch]:
    fh = stdin if stdin is not None else sys.stdin.buffer
    ready = _ready_check(fh)
    stream: BinaryIO = fh
    peek = getattr(fh, "peek", None)
    if peek is not None and start_offset == 0:
        try:
            head = peek(2)[:2]
        except (OSError, ValueError):
            head = b""
        if head == b"\x1f\x8b":
            stream = gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[assignment]
    if start_offset:
        _skip(stream, start_offset, "-", seekable=False)
    yield from _guard("-", read_jsonl(
        stream, schema, "-", batch_size=batch_size, max_line_bytes=max_line_bytes,
        start_offset=start_offset, start_line=start_position, ready=ready))


def _ready_check(fh: BinaryIO) -> Callable[[], bool] | None:
    """A function saying whether more input is waiting now (None if it cannot tell).

    ``read1`` of a buffered reader returns its whole buffer, so after a read
    only the file descriptor can hold more: ``select`` sees it.
    """
    try:
        fd = fh.fileno()
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None

    def ready() -> bool:
        try:
            r, _, _ = select.select([fd], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(r)

    return ready


def _skip(stream: BinaryIO, nbytes: int, source: str, *, seekable: bool) -> None:
    if seekable:
        stream.seek(nbytes)
        return
    left = nbytes
    while left:
        got = stream.read(min(left, 1 << 20))
        if not got:
            raise SourceError(source, f"cannot resume at byte {nbytes}: the input is shorter")
        left -= len(got)


def _guard(source: str, batches: Iterator[RawBatch]) -> Iterator[RawBatch]:
    """Turn a fault of the byte stream into a :class:`SourceError` naming the source."""
    try:
        yield from batches
    except EOFError as exc:
        raise SourceError(source, "truncated gzip data (the file ends inside a compressed "
                                  "block); events before the cut were read") from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise SourceError(source, f"corrupt gzip data: {exc}") from exc
    except OSError as exc:
        raise SourceError(source, f"read error: {exc.strerror or exc}") from exc


# -- Parquet and Arrow IPC --------------------------------------------------------------


def _parquet(source: str, schema: Schema, batch_size: int, start: int) -> Iterator[RawBatch]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(source)
    except OSError as exc:
        raise SourceError(source, f"cannot open: {exc.strerror or exc}") from exc
    except pa.ArrowException as exc:
        raise SourceError(source, f"not a readable Parquet file: {exc}") from exc
    names = pf.schema_arrow.names
    columns = [n for n in schema.names if n in names]
    total = pf.metadata.num_rows
    size = os.path.getsize(source)
    # skip whole row groups before ``start``
    groups, pos = [], 0
    for g in range(pf.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        if pos + n > start:
            groups.append(g)
        else:
            pos += n
    try:
        for b in pf.iter_batches(batch_size=batch_size, row_groups=groups, columns=columns,
                                 use_threads=False):
            yield from _rows(b, source, pos, start, total, size)
            pos += b.num_rows
    except pa.ArrowException as exc:
        raise SourceError(source, f"unreadable Parquet data after row {pos}: {exc}") from exc
    finally:
        pf.close()


def _ipc(source: str, batch_size: int, start: int) -> Iterator[RawBatch]:
    try:
        mm = pa.memory_map(source, "r")
    except OSError as exc:
        raise SourceError(source, f"cannot open: {exc.strerror or exc}") from exc
    size = os.path.getsize(source)
    with mm:
        batches: Iterator[pa.RecordBatch]
        try:
            reader = pa.ipc.open_file(mm)
            total: int | None = None
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        except pa.ArrowInvalid:
            mm.seek(0)
            try:
                batches = iter(pa.ipc.open_stream(mm))
            except pa.ArrowInvalid as exc:
                raise SourceError(source, f"not an Arrow IPC file or stream: {exc}") from exc
            total = None
        pos = 0
        try:
            for big in batches:
                for off in range(0, max(big.num_rows, 1), batch_size):
                    b = big.slice(off, batch_size)
                    if b.num_rows:
                        yield from _rows(b, source, pos, start, total, size)
                    pos += b.num_rows
        except pa.ArrowException as exc:
            raise SourceError(source, f"unreadable Arrow data after row {pos}: {exc}") from exc


def _rows(b: pa.RecordBatch, source: str, pos: int, start: int, total: int | None,
          size: int) -> Iterator[RawBatch]:
    """A batch at row ``pos``, less the rows before ``start`` (resuming)."""
    if pos + b.num_rows <= start:
        return
    if pos < start:
        b = b.slice(start - pos)
        pos = start
    yield RawBatch(b, source, pos, end_position=pos + b.num_rows, total_rows=total,
                   file_size=size)
