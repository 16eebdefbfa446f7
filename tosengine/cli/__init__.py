"""The ``tosengine`` command line: one typer app, one module per command.

Exit codes: 0 success, 1 problems in the rules (or files that ``fmt --check``
would change; for ``run``: violations found), 2 a usage error such as a path
that does not exist, 3 ``run --strict`` met a bad event, 4 ``--max-keys``
exceeded, 70 an internal error, 130 interrupted. See docs/cli.md.
"""

from __future__ import annotations

import os
import sys

import typer

# check and fmt need only the front end; the other commands load the evaluator
# (numba, Arrow), so they are imported only when one of them may run
EXIT_INTERNAL = 70  # sysexits EX_SOFTWARE: a bug of tosengine, not of the input
_FRONT_END_ONLY = ("check", "fmt")


def build_app(commands: tuple[str, ...] | None = None) -> typer.Typer:
    """The typer app with ``commands`` (default: all of them)."""
    app = typer.Typer(
        name="tosengine",
        help="Terms-of-service compliance rules: check, format and run .tos rule files.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    from tosengine.cli import check, fmt

    app.command("check")(check.check)
    app.command("fmt")(fmt.fmt)
    if commands is None or not set(commands) <= set(_FRONT_END_ONLY):
        from tosengine.cli import demo, generate, run

        app.command("run")(run.run)
        app.command("generate")(generate.generate)
        app.command("demo")(demo.demo)
    return app


def __getattr__(name: str) -> typer.Typer:
    if name == "app":  # the full app, for tests and embedding (typer's CliRunner)
        app = build_app()
        globals()["app"] = app
        return app
    raise AttributeError(f"module 'tosengine.cli' has no attribute {name!r}")


def main() -> None:
    """Entry point of the ``tosengine`` console script."""
    command = sys.argv[1] if len(sys.argv) > 1 else None
    app = build_app((command,) if command in _FRONT_END_ONLY else None)
    try:
        app()
    except Exception as e:  # never a traceback for people; TOSENGINE_DEBUG=1 shows it
        if os.environ.get("TOSENGINE_DEBUG"):
            raise
        print(f"internal error: {type(e).__name__}: {e}", file=sys.stderr)
        print("(set TOSENGINE_DEBUG=1 to see where)", file=sys.stderr)
        sys.exit(EXIT_INTERNAL)
