"""Read ahead: a source's batches are read in a background thread while the caller evaluates.

Reading JSON Lines (``pyarrow.json``), gzip and Parquet releases the GIL, and
so do the evaluator's numba kernels, so reading batch *n + 1* on one core while
batch *n* is evaluated on the other shortens a run by up to the smaller of the
two. :func:`readahead` wraps any iterator: a thread takes its items into a
queue of at most ``depth`` items (memory stays bounded: ``depth`` batches
waiting, one being read, one being evaluated) and the caller gets them in
order. An exception of the iterator (a :class:`~tosengine.runtime.sources.SourceError`,
say) is raised in the caller after every item produced before it. When the
caller stops early (closes the generator, or an exception or ``KeyboardInterrupt``
leaves its loop and the generator is closed), the thread stops after the
item it is reading, the wrapped iterator is closed (its files with it) and the
thread is joined: none is left behind. While a read-ahead runs, the
interpreter's GIL switch interval is at most :data:`SWITCH_INTERVAL_S`
(see :func:`short_switch_interval`).

:func:`source_batches` is what ``tosengine.evaluate(..., threads=)`` and
``tosengine run --threads`` share: a source's batches, read ahead when
``threads >= 2``. Standard input is always read in the calling thread (a read
that waits on a live stream cannot be interrupted from another thread).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, TypeVar

from tosengine.language.schema import Schema
from tosengine.runtime.inputs import RawBatch
from tosengine.runtime.sources import read_source

__all__ = ["readahead", "source_batches", "check_threads", "short_switch_interval", "DEPTH",
           "THREAD_NAME", "SWITCH_INTERVAL_S"]

T = TypeVar("T")
DEPTH = 2  # items waiting in the queue
THREAD_NAME = "tosengine-readahead"
_POLL_S = 0.1  # how often a producer waiting on a full queue looks whether the caller stopped
#: The interpreter's GIL switch interval while reading ahead (Python's default is 5 ms): the
#: evaluating thread takes the GIL back after each numba call, and waits up to this long for it
#: when the reader runs Python (the per-line path of a chunk with bad lines).
SWITCH_INTERVAL_S = 0.0005
_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.0


class _End:
    """The wrapped iterator ended (``error`` None) or raised ``error``."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


def check_threads(threads: object) -> int:
    """``threads`` as an int; a ``ValueError`` with a one-line message unless it is an integer >= 1."""
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    return threads


def readahead(items: Iterator[T], depth: int = DEPTH) -> Iterator[T]:
    """Yield the items of ``items`` in order, produced by a background thread ``depth`` items ahead.

    The thread starts at the first ``next()``. See the module docstring for
    errors and stopping early.
    """
    if depth < 1:
        raise ValueError("depth must be >= 1")
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        """Put ``item`` unless the caller stopped first; whether it was put."""
        while not stop.is_set():
            try:
                q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        it = iter(items)
        try:
            while not stop.is_set():
                try:
                    item = next(it)
                except StopIteration:
                    put(_End(None))
                    return
                if not put(item):
                    return
        except BaseException as exc:  # noqa: BLE001 - every error goes to the caller
            put(_End(exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                try:
                    close()  # the iterator's files, in the thread that used them
                except Exception as exc:  # noqa: BLE001 - told to a caller still listening
                    put(_End(exc))

    thread = threading.Thread(target=produce, name=THREAD_NAME, daemon=True)
    with short_switch_interval():
        thread.start()
        try:
            while True:
                item = q.get()
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    return
                yield item  # type: ignore[misc]
        finally:
            stop.set()
            try:
                while True:
                    q.get_nowait()  # let go of batches nobody will take
            except queue.Empty:
                pass
            thread.join()


@contextmanager
def short_switch_interval() -> Iterator[None]:
    """``sys.setswitchinterval`` at most :data:`SWITCH_INTERVAL_S` while any read-ahead runs.

    The interval is process-wide: the one found when the first read-ahead
    started is put back when the last one ends.
    """
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_saved, SWITCH_INTERVAL_S))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


def source_batches(name: str | os.PathLike[str], schema: Schema, *, threads: int = 1,
                   batch_size: int | None = None, stdin: BinaryIO | None = None,
                   start_offset: int = 0, start_position: int = 0) -> Iterator[RawBatch]:
    """The batches of one source (:func:`~tosengine.runtime.sources.read_source`), read ahead
    in a background thread when ``threads >= 2`` and the source is a file.

    ``threads=1`` reads in the calling thread, exactly as ``read_source``. The
    batches, their positions and offsets are the same either way.
    """
    check_threads(threads)
    kw: dict[str, object] = {"stdin": stdin, "start_offset": start_offset,
                             "start_position": start_position}
    if batch_size is not None:
        kw["batch_size"] = batch_size
    batches = read_source(name, schema, **kw)  # type: ignore[arg-type]
    if threads < 2 or os.fspath(name) == "-":  # stdin
        return batches
    return readahead(batches)
