"""``tosengine demo``: generate a log with planted violators, run the shipped rules, check the answer."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from tosengine.cli.common import EXIT_USAGE
from tosengine.cli.run import DEFAULT_BATCH_SIZE, RunSession
from tosengine.cli.summary import RunProgress, print_summary, print_violations, text_console
from tosengine.cli.writers import CollectingWriter
from tosengine.runtime.violation import Violation

if TYPE_CHECKING:
    from tosengine.generator import PlantedViolator

LOG_FORMATS = ("parquet", "jsonl", "jsonl.gz")
SHOWN_PER_RULE = 5


@dataclass(frozen=True)
class Finding:
    """One planted violator and which of the rules it must trip were reported."""

    theme: str
    key: dict[str, str]
    description: str
    found: tuple[str, ...]
    missed: tuple[str, ...]


def matches(violation: Violation, rules: tuple[str, ...], key: dict[str, str]) -> bool:
    """The ground truth's rule: one of ``rules``, and every key field shared with ``key`` equal."""
    return violation.rule in rules and all(
        violation.key[f] == key[f] for f in violation.key if f in key)


def check_truth(violations: Sequence[Violation], truth: Sequence[PlantedViolator]
                ) -> tuple[list[Finding], list[Violation]]:
    """Each planted violator found or missed, and the violations matching no planted violator.

    A violation of exempt planted traffic (``GeneratedLog.exempt``) matches
    no planted violator, so it counts as unexpected.
    """
    findings = []
    for p in truth:
        hit = {r for r in p.rules if any(matches(v, (r,), p.key) for v in violations)}
        findings.append(Finding(p.theme, dict(p.key), p.description,
                                tuple(r for r in p.rules if r in hit), tuple(r for r in p.rules if r not in hit)))
    unexpected = [v for v in violations if not any(matches(v, p.rules, p.key) for p in truth)]
    return findings, unexpected


def demo(
    events: int = typer.Option(1_000_000, "--events", "-n", help="Events in the generated log."),
    seed: int = typer.Option(0, "--seed", "-s", help="Random seed of the generated log."),
    log_format: str = typer.Option("parquet", "--log-format", help="Format of the generated log: parquet, jsonl or jsonl.gz."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress",
                                            help="Progress bar on stderr (default: when stderr is a terminal)."),
) -> None:
    """Generate a usage log with planted violators, run the shipped rules on it, and check the result.

    Prints the violations grouped by rule, a summary, then one line per
    planted violator (found or missed) and the number of violations that match
    no planted violator. Exits 1 if a planted violator was missed.
    """
    from tosengine.cli.pack import shipped_rules
    from tosengine.cli.run import load_rules
    from tosengine.generator import MIN_EVENTS, generate, write_log

    if events < MIN_EVENTS:
        typer.echo(f"error: --events must be at least {MIN_EVENTS:,} to hold the planted violators", err=True)
        raise typer.Exit(EXIT_USAGE)
    if log_format not in LOG_FORMATS:
        typer.echo(f"error: --log-format must be one of {', '.join(LOG_FORMATS)}", err=True)
        raise typer.Exit(EXIT_USAGE)
    out = text_console(sys.stdout)
    err = text_console(sys.stderr, stderr=True)
    with shipped_rules() as pack:
        ruleset = load_rules(pack)
    with tempfile.TemporaryDirectory(prefix="tosengine-demo-") as tmp:
        path = Path(tmp) / f"demo.{log_format}"
        started = time.perf_counter()
        log = generate(events, seed)
        write_log(log, path)
        err.print(f"generated {log.table.num_rows:,} events with {len(log.truth)} planted violators in "
                  f"{time.perf_counter() - started:.1f} s: {path}")
        err.print(f"running the {len(ruleset.rules)} shipped rules")
        collected = CollectingWriter()
        show = sys.stderr.isatty() if progress is None else progress
        session = RunSession(ruleset, [str(path)], batch_size=DEFAULT_BATCH_SIZE, writer=collected,
                             progress=RunProgress(err, show))
        stats = session.run()
    print_violations(out, collected.violations, ruleset.program, limit_per_rule=SHOWN_PER_RULE)
    print_summary(err, stats, ruleset.program)
    findings, unexpected = check_truth(collected.violations, log.truth)
    out.print("[bold]planted violators[/bold]")
    for f in findings:
        who = ", ".join(f"{k}={v}" for k, v in f.key.items())
        state = "found " if not f.missed else "MISSED"
        rules = ", ".join(f.found) + (f"; missed {', '.join(f.missed)}" if f.missed else "")
        out.print(f"  {state} {f.theme}: {who} ({rules})", soft_wrap=True)
    missed = sum(1 for f in findings if f.missed)
    out.print(f"{len(findings) - missed} of {len(findings)} planted violators found; "
              f"{len(unexpected)} violation{'s' if len(unexpected) != 1 else ''} match no planted pattern")
    if missed:
        raise typer.Exit(1)
