"""The rule language front end: parse `.tos` text, check it against a schema, format it.

Public API::

    checked = check_paths(["rules/"])     # every problem at once, as one RuleError
    checked = check_text(text, "x.tos")
    module = parse_text(text)             # the AST of one file
    text = format_text(text)              # canonical layout, comments kept

Lowering a checked set to the IR lives in :mod:`tosengine.ir` (``load_paths``,
``load_text``).
"""

from tosengine.language.checked import CheckedRule, CheckedRuleSet
from tosengine.language.diagnostics import Diagnostic, RuleError
from tosengine.language.format import format_text
from tosengine.language.frontend import check_paths, check_sources, check_text, parse_file, parse_text
from tosengine.language.source import SourceFile, Span

__all__ = [
    "CheckedRule",
    "CheckedRuleSet",
    "Diagnostic",
    "RuleError",
    "SourceFile",
    "Span",
    "check_paths",
    "check_sources",
    "check_text",
    "format_text",
    "parse_file",
    "parse_text",
]
