"""``tosengine run RULES INPUT...``: evaluate a rule set over logs or a live stream.

The main loop is :class:`RunSession`: inputs are read in order, batch by
batch; each batch's violations and dead letters go to the writers
(:mod:`tosengine.cli.writers`) as soon as the batch is evaluated, so a stream
on stdin produces violations as its windows close. Options that act between
batches (checkpoints, say) hook into :attr:`RunSession.hooks`.

Exit codes: 0 no violations, 1 violations found (0 with ``--exit-zero``),
2 a usage error or errors in the rules (printed as ``tosengine check`` prints
them) or an input that cannot be read at all, 3 the first bad event under
``--strict``, 4 more keys open than ``--max-keys`` allows.
"""

from __future__ import annotations

import enum
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, List, Optional

import typer

from tosengine.api import duration_ms
from tosengine.cli.common import EXIT_USAGE, print_rule_error, require_paths
from tosengine.cli.summary import RunProgress, print_summary, text_console
from tosengine.cli.writers import DeadLetterWriter, JsonlWriter, ViolationWriter, violation_writer
from tosengine.language import RuleError
from tosengine.language.schema import Schema
from tosengine.runtime.evaluator import DeadLetter, Evaluator, InvalidSettings, StateLimitExceeded
from tosengine.runtime.inputs import RawBatch
from tosengine.runtime.readahead import source_batches
from tosengine.runtime.reasons import LATE
from tosengine.runtime.ruleset import RuleSet
from tosengine.runtime.sources import SourceError, source_kind
from tosengine.runtime.violation import Violation

EXIT_NONE = 0
EXIT_VIOLATIONS = 1
EXIT_STRICT = 3
EXIT_STATE_LIMIT = 4
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
DEFAULT_BATCH_SIZE = 65_536
STDIN = "-"

#: Called after each batch's output is written: (session, batch, violations, dead letters).
BatchHook = Callable[["RunSession", RawBatch, list[Violation], list[DeadLetter]], None]


def display_name(name: str) -> str:
    """How an input is named in the summary and in messages (stdin is ``<stdin>``)."""
    return "<stdin>" if name == STDIN else name


@dataclass
class SourceStats:
    """What was read from one input: events (lines or rows holding an event), bad and late ones."""

    name: str
    events: int = 0
    bad: int = 0
    late: int = 0


@dataclass
class RunStats:
    """Counts of a run, for the summary."""

    sources: dict[str, SourceStats] = field(default_factory=dict)
    violations: Counter[str] = field(default_factory=Counter)  # rule -> count
    dead_letters: Counter[str] = field(default_factory=Counter)  # reason -> count
    elapsed_s: float = 0.0

    @property
    def events(self) -> int:
        return sum(s.events for s in self.sources.values())

    @property
    def violations_total(self) -> int:
        return sum(self.violations.values())

    @property
    def dead_total(self) -> int:
        return sum(self.dead_letters.values())


class StrictInputError(Exception):
    """``--strict``: the first event that could not be evaluated."""

    def __init__(self, letter: DeadLetter, name: str) -> None:
        self.letter = letter
        self.name = name
        super().__init__(self.message())

    def message(self) -> str:
        d = self.letter
        where = "row" if _is_table(self.name) else "line"
        detail = f" ({d.detail})" if d.detail else ""
        return f"error: {display_name(self.name)}: {where} {d.position}: {d.reason}{detail}"


def _is_table(name: str) -> bool:
    return source_kind(name) in ("parquet", "ipc")


def read_batches(name: str, schema: Schema, batch_size: int = DEFAULT_BATCH_SIZE,
                 stdin: IO[bytes] | None = None, threads: int = 1) -> Iterator[RawBatch]:
    """The batches of one input (a path, or ``-`` for stdin); a file is read ahead in a
    background thread when ``threads >= 2``."""
    return source_batches(name, schema, threads=threads, batch_size=batch_size, stdin=stdin)


class RunSession:
    """Evaluate ``inputs`` in order with one evaluator and write results batch by batch.

    ``writer`` receives each batch's violations, ``dead_letters`` its bad and
    late events; ``progress`` is told about every batch. Pass ``evaluator`` to
    continue from existing state. Functions in :attr:`hooks` run after each
    batch's output is written. ``threads >= 2`` reads each file ahead in a
    background thread while the batch before is evaluated.
    """

    def __init__(self, ruleset: RuleSet, inputs: Sequence[str], *, allowed_lateness_ms: int = 0,
                 batch_size: int = DEFAULT_BATCH_SIZE, strict: bool = False,
                 writer: ViolationWriter | None = None, dead_letters: DeadLetterWriter | None = None,
                 progress: RunProgress | None = None, evaluator: Evaluator | None = None,
                 stdin: IO[bytes] | None = None, threads: int = 1) -> None:
        self.ruleset = ruleset
        self.inputs = list(inputs)
        self.batch_size = batch_size
        self.strict = strict
        self.writer = writer
        self.dead_writer = dead_letters
        self.progress = progress
        self.stdin = stdin
        self.threads = threads
        self.evaluator = evaluator if evaluator is not None else ruleset.stream(
            allowed_lateness_ms=allowed_lateness_ms)
        self.stats = RunStats()
        self.hooks: list[BatchHook] = []
        self.current: str | None = None

    def batches(self, name: str) -> Iterator[RawBatch]:
        """The batches of input ``name``; override to skip what was already read."""
        return read_batches(name, self.ruleset.program.schema, self.batch_size, self.stdin,
                            self.threads)

    def run(self) -> RunStats:
        """Read every input, then end the stream (closing every open window)."""
        started = time.perf_counter()
        try:
            for name in self.inputs:
                self.read(name)
            self.finish()
        finally:
            self.stats.elapsed_s = time.perf_counter() - started
            if self.progress is not None:
                self.progress.stop()
        return self.stats

    def read(self, name: str) -> None:
        """Evaluate every batch of one input."""
        self.current = name
        self.stats.sources.setdefault(name, SourceStats(display_name(name)))
        if self.progress is not None:
            self.progress.source(display_name(name), None)
        batches = self.batches(name)
        try:
            for raw in batches:
                self.step(name, raw)
        finally:  # however the loop ends (--strict, Ctrl-C): a read-ahead thread stops now
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    def step(self, name: str, raw: RawBatch) -> None:
        """Evaluate one batch, count it, write its results, run the hooks."""
        ev = self.evaluator
        try:
            violations = ev.feed(raw)
        except StateLimitExceeded as e:  # the batch was evaluated: write its results, then stop
            letters = ev.take_dead_letters()
            self.stats.sources[name].events += raw.batch.num_rows
            self._count_letters(self.stats.sources[name], letters)
            self._write(e.violations, letters)
            raise
        letters = ev.take_dead_letters()
        src = self.stats.sources[name]
        if letters and self.strict:
            # events read up to and including the first bad one
            first = letters[0].position
            src.events += sum(1 for row in range(raw.batch.num_rows) if raw.position(row) <= first)
            self._count_letters(src, letters[:1])
            if self.dead_writer is not None:
                self.dead_writer.write(letters[:1])
            raise StrictInputError(letters[0], name)
        src.events += raw.batch.num_rows
        self._count_letters(src, letters)
        self._write(violations, letters)
        if self.progress is not None:
            done, total = _done(raw)
            self.progress.update(raw.batch.num_rows, len(violations), done, total)
        for hook in self.hooks:
            hook(self, raw, violations, letters)

    def finish(self) -> None:
        """End of input: the violations of windows still open."""
        violations = self.evaluator.flush()
        letters = self.evaluator.take_dead_letters()
        if self.current is not None:
            self._count_letters(self.stats.sources[self.current], letters)
        self._write(violations, letters)
        if self.progress is not None:
            self.progress.update(0, len(violations), None, None)

    def _write(self, violations: list[Violation], letters: list[DeadLetter]) -> None:
        for v in violations:
            self.stats.violations[v.rule] += 1
        if self.writer is not None:
            self.writer.write(violations)
        if self.dead_writer is not None:
            self.dead_writer.write(letters)

    def _count_letters(self, src: SourceStats, letters: list[DeadLetter]) -> None:
        for d in letters:
            self.stats.dead_letters[d.reason] += 1
            if d.reason == LATE:
                src.late += 1
            else:
                src.bad += 1


def _done(raw: RawBatch) -> tuple[int | None, int | None]:
    """Progress through an input: bytes of the file read, else rows, with the total when known."""
    if raw.file_offset is not None and raw.file_size is not None:
        return raw.file_offset, raw.file_size
    if raw.end_position is not None and raw.total_rows is not None:
        return raw.end_position, raw.total_rows
    return None, None


# -- the command ------------------------------------------------------------------


class Format(str, enum.Enum):
    table = "table"
    jsonl = "jsonl"
    json = "json"


def load_rules(path: Path) -> RuleSet:
    """Check and compile the rule set at ``path``; rule errors print as ``check`` prints them (exit 2)."""
    from tosengine.ir import load_paths

    require_paths([path])
    try:
        return RuleSet(load_paths([path]))
    except RuleError as err:
        print_rule_error(err)
        raise typer.Exit(EXIT_USAGE) from None


def check_inputs(inputs: Sequence[str]) -> None:
    """Usage errors in the inputs: none given, a path that does not exist, stdin twice."""
    if not inputs:
        typer.echo("error: no input: name one or more files, or - for stdin", err=True)
        raise typer.Exit(EXIT_USAGE)
    if inputs.count(STDIN) > 1:
        typer.echo("error: stdin (-) can be read only once", err=True)
        raise typer.Exit(EXIT_USAGE)
    require_paths([Path(p) for p in inputs if p != STDIN])
    for name in inputs:
        try:
            source_kind(name)
        except SourceError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(EXIT_USAGE) from None


def execute(ruleset: RuleSet, inputs: Sequence[str], *, fmt: str = "table", output: Path | None = None,
            dead_letter: Path | None = None, allowed_lateness_ms: int = 0,
            batch_size: int = DEFAULT_BATCH_SIZE, strict: bool = False, progress: bool | None = None,
            summary: bool = True, configure: Callable[[RunSession], None] | None = None,
            append: bool = False, max_keys: int | None = None, threads: int = 1) -> RunStats:
    """Run ``ruleset`` over ``inputs`` with the writers, progress bar and summary of ``tosengine run``.

    ``progress`` None shows the bar when stderr is a terminal, unless jsonl or
    json violations go to a stdout that is a terminal too. ``threads >= 2`` reads
    each file ahead in a background thread. ``configure`` is
    called with the session before it runs (to add hooks). ``append`` (JSON Lines
    only) writes after what the output files hold (a resumed run). Raises
    :class:`StrictInputError` under ``strict``; writers are closed either way.
    """
    err = text_console(sys.stderr, stderr=True)
    # auto: on a terminal, unless violations stream to the same terminal as they are found
    streaming_to_terminal = output is None and fmt != "table" and sys.stdout.isatty()
    show = (sys.stderr.isatty() and not streaming_to_terminal) if progress is None else progress
    writer = (JsonlWriter(output, append=True) if append
              else violation_writer(fmt, output, ruleset.program))
    dead = DeadLetterWriter(dead_letter, append=append) if dead_letter is not None else None
    session = RunSession(ruleset, inputs, allowed_lateness_ms=allowed_lateness_ms, batch_size=batch_size,
                         strict=strict, writer=writer, dead_letters=dead, progress=RunProgress(err, show),
                         threads=threads)
    if configure is not None:
        configure(session)
    session.evaluator.max_keys = max_keys  # also over a restored evaluator's
    try:
        stats = session.run()
    finally:
        writer.close()
        if dead is not None:
            dead.close()
        if summary:
            print_summary(err, session.stats, ruleset.program)
    return stats


def run(
    rules: str = typer.Argument(..., metavar="RULES",
                                help="A rule file (.tos) or a folder of them (the first input with --rules-pack)."),
    inputs: Optional[List[str]] = typer.Argument(
        None, metavar="INPUT...", help="Event files (.jsonl, .jsonl.gz, .parquet, .arrow) read in order; - is stdin."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format of the violations."),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="Write violations here instead of stdout (- is stdout)."),
    dead_letter: Optional[Path] = typer.Option(
        None, "--dead-letter", help="Write every bad or late event here (JSON Lines: source, position, reason, detail, raw)."),
    allowed_lateness: str = typer.Option("0s", "--allowed-lateness",
                                         help="How far behind the latest event time an event may arrive (500ms, 30s, 5m)."),
    batch_size: int = typer.Option(DEFAULT_BATCH_SIZE, "--batch-size", min=1, help="Events per batch."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad or late event (exit code 3)."),
    exit_zero: bool = typer.Option(False, "--exit-zero", help="Exit 0 even when there are violations."),
    rules_pack: bool = typer.Option(False, "--rules-pack",
                                    help="Use the rule pack shipped with tosengine; every argument is an input."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress",
                                            help="Progress bar on stderr (default: when stderr is a terminal)."),
    state: Optional[Path] = typer.Option(
        None, "--state", help="Checkpoint the run into this folder; run again with it to resume after a crash "
                              "(needs --format jsonl and --output)."),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", min=1,
                                                   help="With --state: checkpoint every N events."),
    checkpoint_interval: Optional[str] = typer.Option(
        None, "--checkpoint-interval", help="With --state: checkpoint this often (default 30s)."),
    max_keys: Optional[int] = typer.Option(
        None, "--max-keys", min=1, help="Stop with exit code 4 when more keys than this are open in windows "
                                        "(the batch that went over is reported first)."),
    threads: int = typer.Option(1, "--threads", min=1,
                                help="2 or more: read each file ahead in a second thread while the rules "
                                     "are evaluated (uses two cores; the same results)."),
) -> None:
    """Evaluate rules over event logs or a stream and report the violations.

    Violations go to stdout (or --output) as they are found; a summary goes to
    stderr. Exit codes: 0 no violations, 1 violations, 2 usage or rule errors,
    3 a bad event under --strict, 4 over --max-keys.
    """
    try:
        lateness = duration_ms(allowed_lateness)
    except ValueError as e:
        typer.echo(f"error: --allowed-lateness: {e}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    names = [rules, *(inputs or [])] if rules_pack else list(inputs or [])
    if output is not None and str(output) == STDIN:
        output = None  # -o - is stdout
    if rules_pack:
        from tosengine.cli.pack import shipped_rules

        check_inputs(names)
        with shipped_rules() as pack:
            ruleset = load_rules(pack)
    else:
        ruleset = load_rules(Path(rules))
        check_inputs(names)
    resume = None
    if state is not None:
        from tosengine.cli.resume import open_state

        resume = open_state(state, ruleset, names, fmt=fmt.value, output=output, dead_letter=dead_letter,
                            every=checkpoint_every, interval=checkpoint_interval, allowed_lateness_ms=lateness)
    try:
        stats = execute(ruleset, names, fmt=fmt.value, output=output, dead_letter=dead_letter,
                        allowed_lateness_ms=lateness, batch_size=batch_size, strict=strict, progress=progress,
                        configure=resume.configure if resume else None,
                        append=bool(resume and resume.resuming), max_keys=max_keys, threads=threads)
        if resume is not None:
            resume.finished()
    except StrictInputError as e:
        typer.echo(e.message(), err=True)
        raise typer.Exit(EXIT_STRICT) from None
    except SourceError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except InvalidSettings as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except StateLimitExceeded as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(EXIT_STATE_LIMIT) from None
    except KeyboardInterrupt:  # the output so far is written and closed, the summary printed
        typer.echo("interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if stats.violations_total and not exit_zero:
        raise typer.Exit(EXIT_VIOLATIONS)
