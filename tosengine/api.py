"""The embedding API: ``tosengine.compile`` and ``tosengine.evaluate``."""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Iterable
from contextlib import AbstractContextManager, closing, nullcontext
from pathlib import Path

from tosengine import ir
from tosengine.language.schema import Schema
from tosengine.runtime.evaluator import DeadLetter, sort_violations
from tosengine.runtime.inputs import is_path
from tosengine.runtime.readahead import check_threads, source_batches
from tosengine.runtime.ruleset import RuleSet
from tosengine.runtime.violation import Violation

_DURATION = re.compile(r"\s*(\d[\d_]*)\s*(ms|s|m|h|d)\s*\Z")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}

RuleSource = RuleSet | ir.Program | str | os.PathLike


def compile(source: RuleSource) -> RuleSet:  # noqa: A001 - the public name is the point
    """Check and compile a rule set.

    ``source`` is a path to a ``.tos`` file or a folder of them (read
    recursively, in sorted order), rule text, a checked ``ir.Program``, or a
    :class:`RuleSet` (returned as is). Raises :class:`tosengine.RuleError`
    with every problem found. Kernels are generated on first evaluation and
    cached on disk.
    """
    if isinstance(source, RuleSet):
        return source
    if isinstance(source, ir.Program):
        return RuleSet(source)
    from tosengine.ir import load_paths, load_text

    if isinstance(source, os.PathLike):
        return RuleSet(load_paths([source]))
    if isinstance(source, str):
        if "\n" not in source and "{" not in source and "=" not in source:
            return RuleSet(load_paths([source]))
        return RuleSet(load_text(source))
    raise TypeError(f"cannot compile rules from {type(source).__name__}")


def duration_ms(value: int | str | _dt.timedelta) -> int:
    """Milliseconds of ``30000``, ``"30s"``, ``"5m"`` or a ``timedelta``."""
    if isinstance(value, _dt.timedelta):
        return int(value / _dt.timedelta(milliseconds=1))
    if isinstance(value, bool):
        raise TypeError("a duration is an int of milliseconds, a string such as '30s', or a timedelta")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return int(m.group(1).replace("_", "")) * _UNIT_MS[m.group(2)]
        raise ValueError(f"expected a duration such as 500ms, 30s, 5m, 1h or 7d, got {value!r}")
    raise TypeError("a duration is an int of milliseconds, a string such as '30s', or a timedelta")


def evaluate(
    rules: RuleSource,
    events: object,
    *,
    allowed_lateness: int | str | _dt.timedelta = 0,
    dead_letters: list[DeadLetter] | None = None,
    max_keys: int | None = None,
    threads: int = 1,
) -> list[Violation]:
    """Evaluate ``events`` against ``rules`` and return every violation, sorted.

    ``events`` is an iterable of dicts, a path (``.jsonl``, ``.jsonl.gz``,
    ``.parquet``), a pyarrow ``Table``/``RecordBatch``, a pandas or polars
    ``DataFrame``, or a mapping of column name to numpy array. Several inputs
    can be passed as a list of paths. ``allowed_lateness`` is milliseconds, a
    duration string such as ``"30s"``, or a ``timedelta``. Events that cannot be
    evaluated (bad or late) are appended to ``dead_letters`` when a list is given.
    ``max_keys`` caps the keys open in windows: going over it raises
    :class:`~tosengine.runtime.evaluator.StateLimitExceeded`. ``threads=2`` (or
    more) reads files ahead in a background thread while the rules are
    evaluated (two cores busy; the same violations and dead letters as
    ``threads=1``); other forms of events are always read in the calling thread.
    """
    check_threads(threads)
    ruleset = compile(rules)
    ev = ruleset.stream(allowed_lateness_ms=duration_ms(allowed_lateness), max_keys=max_keys)
    schema = ruleset.program.schema
    out: list[Violation] = []
    for part in _inputs(events):
        with _parts(part, schema, threads) as parts:
            for p in parts:
                out += ev.feed(p)
                if dead_letters is not None:
                    dead_letters += ev.take_dead_letters()
    out += ev.flush()
    if dead_letters is not None:
        dead_letters += ev.take_dead_letters()
    return sort_violations(out, ruleset.program)


def _parts(events: object, schema: Schema, threads: int) -> AbstractContextManager[Iterable[object]]:
    """A path as its batches (read ahead with ``threads >= 2``; closed when the loop ends
    however it ends), anything else as one part for ``feed``."""
    if is_path(events):
        return closing(source_batches(events, schema, threads=threads))  # type: ignore[arg-type]
    return nullcontext([events])


def _inputs(events: object) -> list[object]:
    """Several paths in one call are read in order, one after another."""
    if isinstance(events, (list, tuple)) and events and all(
        isinstance(e, (str, os.PathLike)) for e in events
    ):
        return [Path(e) for e in events]
    return [events]
