"""``tosengine run --state DIR``: checkpoint a run as it goes and resume it after a crash.

Every ``--checkpoint-every`` events or ``--checkpoint-interval`` of wall time
(after a batch's output is written and flushed), the run writes one
checkpoint file, atomically, to ``DIR/checkpoint``: the evaluator's whole state
(:mod:`tosengine.runtime.checkpoint`) and the position it corresponds to —
which input, how far into it (bytes of the decompressed stream for JSON Lines,
rows for Parquet/Arrow; for stdin the bytes of the stream, which must be
replayed from its start), the length of the violations file and of the
dead-letter file, and the counts for the summary. The output files are
fsynced first, so a checkpoint never claims output that is not on disk.

Started again with the same ``--state DIR``, the run restores the state,
truncates the violations and dead-letter files to their checkpointed lengths
(dropping what was written after the checkpoint: it is written again), skips
the input already accounted for and carries on. The violations file then
equals an uninterrupted run's. On success the checkpoint is removed, so the
next run with that DIR starts afresh.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tosengine.runtime.checkpoint import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from tosengine.runtime.inputs import RawBatch
from tosengine.runtime.ruleset import RuleSet
from tosengine.runtime.readahead import source_batches

CHECKPOINT = "checkpoint"
DEFAULT_INTERVAL_MS = 30_000


class ResumeError(Exception):
    """The state folder cannot be used for this run (other inputs, corrupt checkpoint...)."""


@dataclass
class Position:
    """Where a run stands: the checkpoint's ``position``."""

    inputs: list[str]
    index: int  # input being read (inputs before it are done)
    offset: int  # bytes of that input's stream consumed (JSON Lines), else 0
    rows: int  # lines (JSON Lines) or rows (tables) of that input consumed
    output_bytes: int
    dead_bytes: int
    stats: dict[str, Any]


def _fsync_size(path: Path | None) -> int:
    if path is None:
        return 0
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def _truncate(path: Path | None, size: int) -> None:
    if path is None:
        return
    if not path.exists() or path.stat().st_size < size:
        raise ResumeError(f"{path} is shorter than the checkpoint says ({size} bytes): it was "
                          "changed since; remove the state folder to start over")
    with open(path, "r+b") as fh:
        fh.truncate(size)
        fh.flush()
        os.fsync(fh.fileno())


class Resume:
    """Checkpointing and resuming of one ``tosengine run`` (see the module docstring)."""

    def __init__(self, state_dir: Path, ruleset: RuleSet, inputs: Sequence[str], *,
                 output: Path | None, dead_letter: Path | None, every: int | None,
                 interval_ms: int | None, allowed_lateness_ms: int | None = None) -> None:
        self.dir = state_dir
        self.path = state_dir / CHECKPOINT
        self.ruleset = ruleset
        self.inputs = list(inputs)
        self.output = output
        self.dead_letter = dead_letter
        self.allowed_lateness_ms = allowed_lateness_ms
        if every is None and interval_ms is None:
            interval_ms = DEFAULT_INTERVAL_MS
        self.every = every
        self.interval_ms = interval_ms
        self.start: Position | None = None
        self.evaluator = None
        self.since = 0
        self.last = time.monotonic()
        self.next_input = 0  # inputs are read in order, each once
        self.current = (0, 0, 0)  # (input index, offset, rows) after the last batch

    @property
    def resuming(self) -> bool:
        return self.start is not None

    def prepare(self) -> None:
        """Create the folder, or load its checkpoint and cut the outputs back to it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in self.dir.glob(f".{CHECKPOINT}.*.tmp"):  # a write cut short by a crash
            stale.unlink()
        if not self.path.exists():
            return
        try:
            ck = load_checkpoint(self.path)
            pos = Position(**ck.position)
        except (CheckpointError, TypeError) as e:
            raise ResumeError(f"{self.path}: {e}") from None
        if (self.allowed_lateness_ms is not None
                and ck.allowed_lateness_ms != self.allowed_lateness_ms):
            raise ResumeError(f"{self.path} was written with --allowed-lateness "
                              f"{ck.allowed_lateness_ms}ms, not {self.allowed_lateness_ms}ms; "
                              "resume with the same options or remove it to start over")
        if pos.inputs != self.inputs:
            raise ResumeError(f"{self.path} is the state of a run over other inputs "
                              f"({', '.join(pos.inputs)}); remove it to start over")
        try:
            self.evaluator = self.ruleset.restore(ck)
        except CheckpointError as e:
            raise ResumeError(f"{self.path}: {e}") from None
        _truncate(self.output, pos.output_bytes)
        _truncate(self.dead_letter, pos.dead_bytes)
        self.start = pos

    # -- the session ------------------------------------------------------------

    def configure(self, session: Any) -> None:
        """Hook into a :class:`~tosengine.cli.run.RunSession`: restored state, skipping, checkpoints."""
        from tosengine.cli.run import RunStats, SourceStats

        if self.start is not None:
            session.evaluator = self.evaluator
            s = self.start.stats
            session.stats = RunStats(
                sources={k: SourceStats(**v) for k, v in s["sources"].items()},
                violations=Counter(s["violations"]), dead_letters=Counter(s["dead_letters"]))
        schema = self.ruleset.program.schema

        def batches(name: str) -> Iterator[RawBatch]:
            i = self.next_input
            self.next_input += 1
            offset = rows = 0
            if self.start is not None:
                if i < self.start.index:
                    return iter(())
                if i == self.start.index:
                    offset, rows = self.start.offset, self.start.rows
            self.current = (i, offset, rows)
            return source_batches(name, schema, threads=session.threads, batch_size=session.batch_size,
                                  stdin=session.stdin, start_offset=offset, start_position=rows)

        session.batches = batches
        session.hooks.append(self._after_batch)

    def _after_batch(self, session: Any, raw: RawBatch, violations: list, letters: list) -> None:
        i, _, _ = self.current
        offset = raw.end_offset if raw.end_offset is not None else 0
        rows = raw.end_position if raw.end_position is not None else 0
        self.current = (i, offset, rows)
        self.since += raw.batch.num_rows
        now = time.monotonic()
        due = (self.every is not None and self.since >= self.every) or (
            self.interval_ms is not None and (now - self.last) * 1000 >= self.interval_ms)
        if due:
            self.save(session)

    def save(self, session: Any) -> None:
        """Write a checkpoint of the session as it stands after its last batch."""
        i, offset, rows = self.current
        st = session.stats
        pos = Position(
            inputs=self.inputs, index=i, offset=offset, rows=rows,
            output_bytes=_fsync_size(self.output), dead_bytes=_fsync_size(self.dead_letter),
            stats={"sources": {k: asdict(v) for k, v in st.sources.items()},
                   "violations": dict(st.violations), "dead_letters": dict(st.dead_letters)})
        save_checkpoint(session.evaluator, self.path, position=asdict(pos))
        self.since = 0
        self.last = time.monotonic()

    def finished(self) -> None:
        """The run ended normally: its checkpoint is no longer needed."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def open_state(state_dir: Path, ruleset: RuleSet, inputs: Sequence[str], *, fmt: str,
               output: Path | None, dead_letter: Path | None, every: int | None,
               interval: str | None, allowed_lateness_ms: int | None = None) -> Resume:
    """Check the ``--state`` options and load the folder's checkpoint (usage errors exit 2)."""
    import typer

    from tosengine.api import duration_ms
    from tosengine.cli.common import EXIT_USAGE

    def fail(message: str) -> typer.Exit:
        typer.echo(f"error: {message}", err=True)
        return typer.Exit(EXIT_USAGE)

    if fmt != "jsonl" or output is None:
        raise fail("--state needs --format jsonl and --output FILE (the output is cut back to "
                   "the checkpoint when a run resumes)")
    interval_ms = None
    if interval is not None:
        try:
            interval_ms = duration_ms(interval)
        except ValueError as e:
            raise fail(f"--checkpoint-interval: {e}") from None
        if interval_ms <= 0:
            raise fail("--checkpoint-interval must be positive")
    resume = Resume(state_dir, ruleset, inputs, output=output, dead_letter=dead_letter,
                    every=every, interval_ms=interval_ms, allowed_lateness_ms=allowed_lateness_ms)
    try:
        resume.prepare()
    except (ResumeError, OSError) as e:
        raise fail(str(e)) from None
    return resume
