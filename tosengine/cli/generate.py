"""``tosengine generate``: write a synthetic usage log with planted violators and its ground truth."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from tosengine.cli.common import EXIT_USAGE

SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")


def generate(
    events: int = typer.Option(1_000_000, "--events", "-n", min=1, help="Number of events."),
    seed: int = typer.Option(0, "--seed", "-s", help="Random seed: the same seed gives the same log."),
    output: Path = typer.Option(..., "--output", "-o", help="Log file to write: .jsonl, .jsonl.gz or .parquet."),
    days: float = typer.Option(2.0, "--days", help="Days of traffic the log spans."),
) -> None:
    """Generate a realistic synthetic usage log in the default schema.

    Background traffic is heavy-tailed over organizations, accounts and keys,
    follows each country's working day, and trips no shipped rule; planted
    violators trip every theme of the shipped pack. The ground truth naming
    each planted violator is written next to the log as FILE.truth.json.
    """
    from tosengine.generator import MIN_EVENTS, generate as _generate, truth_path, write_log

    if not output.name.lower().endswith(SUFFIXES):
        typer.echo(f"error: '{output}': the log must end in {', '.join(SUFFIXES)}", err=True)
        raise typer.Exit(EXIT_USAGE)
    if events < MIN_EVENTS:
        typer.echo(f"error: --events must be at least {MIN_EVENTS:,} to hold the planted violators", err=True)
        raise typer.Exit(EXIT_USAGE)
    if not output.parent.is_dir():
        typer.echo(f"error: no such folder: '{output.parent}'", err=True)
        raise typer.Exit(EXIT_USAGE)
    try:
        started = time.perf_counter()
        log = _generate(events, seed, days=days)
        write_log(log, output)
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    elapsed = time.perf_counter() - started
    typer.echo(f"wrote {log.table.num_rows:,} events to {output} ({output.stat().st_size:,} bytes) "
               f"in {elapsed:.1f} s; ground truth: {truth_path(output)} "
               f"({len(log.truth)} planted violators)")
