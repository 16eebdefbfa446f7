"""Helpers shared by the commands: paths and printing errors."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import typer

from tosengine.language import RuleError

EXIT_OK = 0
EXIT_RULES = 1
EXIT_USAGE = 2


def require_paths(paths: Sequence[Path]) -> None:
    """Exit with a usage error when a path does not exist."""
    missing = [p for p in paths if not p.exists()]
    for p in missing:
        typer.echo(f"error: no such file or folder: '{p}'", err=True)
    if missing:
        raise typer.Exit(EXIT_USAGE)


def print_rule_error(err: RuleError) -> None:
    """Print every diagnostic to stderr exactly as the error renders it."""
    typer.echo(err.render(), err=True)
