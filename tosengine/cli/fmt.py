"""``tosengine fmt [--check] PATH...``: rewrite rule files in the canonical layout."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import List

import typer

from tosengine.cli.common import EXIT_RULES, print_rule_error, require_paths
from tosengine.language import RuleError, format_text
from tosengine.language.diagnostics import Reporter
from tosengine.language.loader import read_sources, rule_files


def fmt(
    paths: List[Path] = typer.Argument(..., help="Rule files (.tos) and folders of them, read recursively."),
    check: bool = typer.Option(False, "--check", help="Change nothing; list the files that would change and exit 1."),
) -> None:
    """Format rule files: canonical layout, every comment kept.

    Files with syntax errors are reported and left alone.
    """
    require_paths(paths)
    rep = Reporter()
    sources = read_sources(rule_files(paths, rep), rep)
    failed = False
    if rep.has_errors:
        print_rule_error(RuleError(rep.sorted()))
        failed = True
    changed = []
    for source in sources:
        try:
            text = format_text(source.text, source.name)
        except RuleError as err:
            print_rule_error(err)
            failed = True
            continue
        if Path(source.name).read_bytes() == text.encode("utf-8"):  # CRLF or a BOM counts as a change
            continue
        changed.append(source.name)
        if check:
            typer.echo(source.name)
        else:
            _write(Path(source.name), text)
    if check:
        if changed:
            typer.echo(f"{len(changed)} of {len(sources)} files would be reformatted", err=True)
    else:
        typer.echo(f"{len(changed)} of {len(sources)} files reformatted", err=True)
    if failed or (check and changed):
        raise typer.Exit(EXIT_RULES)


def _write(path: Path, text: str) -> None:
    """Replace a file's text in one step, keeping its permissions."""
    mode = path.stat().st_mode
    fd, tmp = tempfile.mkstemp(prefix=".tosfmt-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
