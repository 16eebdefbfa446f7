"""``tosengine check PATH...``: read and check a rule set, report every problem."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from tosengine.cli.common import EXIT_RULES, print_rule_error, require_paths
from tosengine.language import RuleError, check_paths


def check(
    paths: List[Path] = typer.Argument(..., help="Rule files (.tos) and folders of them, read recursively."),
) -> None:
    """Check a rule set: syntax, names, types and rule structure.

    Prints every problem with its file:line:column and exits 1, or prints a
    one-line summary and exits 0.
    """
    require_paths(paths)
    try:
        checked = check_paths(paths)
    except RuleError as err:
        print_rule_error(err)
        raise typer.Exit(EXIT_RULES) from None
    rules, files = len(checked.rules), len(checked.sources)
    typer.echo(f"ok: {rules} rule{'s' if rules != 1 else ''} in {files} file{'s' if files != 1 else ''}")
