"""The ``tosengine`` command line: one typer app, one module per command.

Exit codes: 0 success, 1 problems in the rules (or files that ``fmt --check``
would change), 2 a usage error such as a path that does not exist.
"""

from __future__ import annotations

import os
import sys

import typer

from tosengine.cli import check as _check
from tosengine.cli import demo as _demo
from tosengine.cli import fmt as _fmt
from tosengine.cli import generate as _generate
from tosengine.cli import run as _run

app = typer.Typer(
    name="tosengine",
    help="Terms-of-service compliance rules: check, format and run .tos rule files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("check")(_check.check)
app.command("fmt")(_fmt.fmt)
app.command("run")(_run.run)
app.command("generate")(_generate.generate)
app.command("demo")(_demo.demo)


def main() -> None:
    """Entry point of the ``tosengine`` console script."""
    try:
        app()
    except Exception as e:  # never a traceback for people; TOSENGINE_DEBUG=1 shows it
        if os.environ.get("TOSENGINE_DEBUG"):
            raise
        print(f"internal error: {type(e).__name__}: {e}", file=sys.stderr)
        print("(set TOSENGINE_DEBUG=1 to see where)", file=sys.stderr)
        sys.exit(3)
