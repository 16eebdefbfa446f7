"""The front end's entry points: read, parse and check rule sets.

Each function collects every problem it finds and raises one
:class:`RuleError` holding them all.
"""

from __future__ import annotations

import os
from typing import Sequence

from tosengine.language import ast
from tosengine.language.checked import CheckedRuleSet
from tosengine.language.checker import check
from tosengine.language.diagnostics import Reporter, TooManyErrors
from tosengine.language.loader import normalize, read_sources, rule_files
from tosengine.language.parser import ParsedFile, parse_source
from tosengine.language.source import SourceFile

__all__ = ["check_paths", "check_text", "check_sources", "parse_file", "parse_text"]


def check_sources(sources: Sequence[SourceFile], reporter: Reporter | None = None) -> CheckedRuleSet:
    """Parse and check the given sources as one rule set."""
    rep = reporter or Reporter()
    try:
        parsed = []
        for s in sources:
            rep.add_source(s)
            parsed.append(parse_source(s, rep))
        result = check(parsed, rep)
    except TooManyErrors:
        rep.too_many()
        result = None
    rep.raise_if_errors()
    assert result is not None
    return result


def check_paths(paths: Sequence[str | os.PathLike]) -> CheckedRuleSet:
    """Check the rule set made of ``paths`` (``.tos`` files and folders).

    Raises :class:`RuleError` listing every problem, including paths that do
    not exist and files that cannot be read.
    """
    rep = Reporter()
    sources = read_sources(rule_files(paths, rep), rep)
    # what could be read is still parsed and checked, to report everything at once
    return check_sources(sources, rep)


def check_text(text: str, filename: str = "<rules>") -> CheckedRuleSet:
    """Check rule text as a whole rule set; raises :class:`RuleError`."""
    return check_sources([SourceFile(filename, normalize(text))])


def parse_file(text: str, filename: str = "<rules>") -> ParsedFile:
    """Parse one file's text (no checking): its AST and comments.

    Raises :class:`RuleError` on syntax errors.
    """
    source = SourceFile(filename, normalize(text))
    rep = Reporter({filename: source})
    parsed = None
    try:
        parsed = parse_source(source, rep)
    except TooManyErrors:
        rep.too_many()
    rep.raise_if_errors()
    assert parsed is not None
    return parsed


def parse_text(text: str, filename: str = "<rules>") -> ast.Module:
    """The AST of one file's text; raises :class:`RuleError` on syntax errors."""
    return parse_file(text, filename).module
