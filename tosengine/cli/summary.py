"""What ``tosengine run`` and ``demo`` show people: progress, violations tables, the summary.

Everything here renders with rich. On a terminal it is coloured; written to a
pipe or a file it is plain text (no escape codes), 160 columns wide.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import IO, TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tosengine import ir
from tosengine.runtime.reasons import REASONS
from tosengine.runtime.violation import Violation

if TYPE_CHECKING:
    from tosengine.cli.run import RunStats

PLAIN_WIDTH = 160
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")


def text_console(stream: IO[str], *, stderr: bool = False) -> Console:
    """A console on ``stream``: terminal features only when it is a terminal."""
    tty = stream.isatty() if hasattr(stream, "isatty") else False
    return Console(file=stream, stderr=stderr, width=None if tty else PLAIN_WIDTH,
                   no_color=not tty, highlight=False, soft_wrap=False)


def _key_text(key: dict[str, object]) -> str:
    return ", ".join(f"{k}={'null' if v is None else v}" for k, v in key.items())


def print_violations(console: Console, violations: list[Violation], program: ir.Program,
                     *, limit_per_rule: int | None = None) -> None:
    """One table per rule (in rule-set order) of its violations, in time order."""
    if not violations:
        console.print("no violations")
        return
    by_rule: dict[str, list[Violation]] = defaultdict(list)
    for v in violations:
        by_rule[v.rule].append(v)
    for rule in program.rules:
        vs = by_rule.get(rule.name)
        if not vs:
            continue
        n = len(vs)
        head = f"[bold]{rule.name}[/bold]: {rule.title}"
        meta = f"{rule.severity.value} / {rule.action.value}"
        if rule.clause:
            meta += f" · {rule.clause}"
        console.print(f"{head}\n  {meta} · {n:,} violation{'s' if n != 1 else ''}")
        table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False, padding=(0, 1))
        keyed = bool(rule.key)
        table.add_column("time", no_wrap=True)
        if keyed:
            table.add_column("key", overflow="fold")
        table.add_column("message", overflow="fold")
        shown = vs if limit_per_rule is None else vs[:limit_per_rule]
        for v in shown:
            text = v.message if v.message is not None else _key_text(v.values)
            table.add_row(v.time, *([_key_text(v.key)] if keyed else []), text)
        console.print(table)
        if len(shown) < n:
            console.print(f"  ... and {n - len(shown):,} more")
        console.print()


class RunProgress:
    """A progress bar per input on a terminal: bytes (or rows) done, events/s, violations so far.

    Disabled, every method does nothing.
    """

    def __init__(self, console: Console, enabled: bool) -> None:
        self.enabled = enabled
        self.started = time.perf_counter()
        self.events = 0
        self.violations = 0
        self._task: TaskID | None = None
        self._progress: Progress | None = None
        if enabled:
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                TextColumn("{task.fields[events]:>12,} events"),
                TextColumn("{task.fields[rate]:>10,.0f} events/s"),
                TextColumn("{task.fields[violations]:,} violations"),
                TimeElapsedColumn(), console=console, transient=False, refresh_per_second=8,
                # violations written to stdout must go to stdout, never through the bar's console
                redirect_stdout=False, redirect_stderr=False)
            self._progress.start()

    def source(self, name: str, total: int | None) -> None:
        """Start the bar of the next input (``total`` bytes or rows, None when unknown)."""
        if self._progress is None:
            return
        if self._task is None:
            self.started = time.perf_counter()  # rates count reading, not compiling the rules
        else:
            self._progress.update(self._task, total=self._progress.tasks[-1].completed or 1)
        self._task = self._progress.add_task(name, total=total, events=self.events, rate=0.0,
                                             violations=self.violations)

    def update(self, events: int, violations: int, done: int | None, total: int | None) -> None:
        """Count one more batch: ``events`` read and ``violations`` found in it."""
        self.events += events
        self.violations += violations
        if self._progress is None or self._task is None:
            return
        rate = self.events / max(time.perf_counter() - self.started, 1e-9)
        self._progress.update(self._task, completed=done, total=total, events=self.events, rate=rate,
                              violations=self.violations)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def print_summary(console: Console, stats: "RunStats", program: ir.Program) -> None:
    """Events read per source, violations by rule and severity, bad and late events by reason, throughput."""
    n_src = len(stats.sources)
    rate = stats.events / stats.elapsed_s if stats.elapsed_s > 0 else 0.0
    console.print(f"[bold]summary[/bold]: {stats.events:,} events from {n_src} source{'s' if n_src != 1 else ''}"
                  f" in {stats.elapsed_s:.2f} s ({rate:,.0f} events/s); {stats.violations_total:,} violation"
                  f"{'s' if stats.violations_total != 1 else ''}; {stats.dead_total:,} bad or late event"
                  f"{'s' if stats.dead_total != 1 else ''}")
    src = Table(box=box.SIMPLE, show_edge=False, pad_edge=False, title=None)
    src.add_column("source")
    src.add_column("events", justify="right")
    src.add_column("bad", justify="right")
    src.add_column("late", justify="right")
    for s in stats.sources.values():
        src.add_row(s.name, f"{s.events:,}", f"{s.bad:,}", f"{s.late:,}")
    console.print(src)
    if stats.violations_total:
        vt = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
        vt.add_column("rule")
        vt.add_column("severity")
        vt.add_column("violations", justify="right")
        for rule in program.rules:
            n = stats.violations.get(rule.name, 0)
            if n:
                vt.add_row(rule.name, rule.severity.value, f"{n:,}")
        console.print(vt)
        sev: dict[str, int] = defaultdict(int)
        for rule in program.rules:
            sev[rule.severity.value] += stats.violations.get(rule.name, 0)
        order = {name: i for i, name in enumerate(SEVERITY_ORDER)}
        console.print("  by severity: " + ", ".join(
            f"{k} {v:,}" for k, v in sorted(sev.items(), key=lambda kv: order.get(kv[0], 99)) if v))
    if stats.dead_total:
        dt = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
        dt.add_column("reason")
        dt.add_column("events", justify="right")
        dt.add_column("meaning")
        for reason, n in sorted(stats.dead_letters.items(), key=lambda kv: (-kv[1], kv[0])):
            dt.add_row(reason, f"{n:,}", REASONS.get(reason, ""))
        console.print(dt)
