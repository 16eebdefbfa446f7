"""The rule language front end: parse `.tos` text, check it against a schema, format it.

Public API::

    checked = check_paths(["rules/"])     # every problem at once, as one RuleError
    checked = check_text(text, "x.tos")
    module = parse_text(text)             # the AST of one file
    text = format_text(text)              # canonical layout, comments kept

Lowering a checked set to the IR lives in :mod:`tosengine.ir` (``load_paths``,
``load_text``). Names load on first use, so importing ``tosengine.language.types``
(as the runtime does) does not load the parser.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

_LAZY = {
    "CheckedRule": "tosengine.language.checked",
    "CheckedRuleSet": "tosengine.language.checked",
    "Diagnostic": "tosengine.language.diagnostics",
    "RuleError": "tosengine.language.diagnostics",
    "SourceFile": "tosengine.language.source",
    "Span": "tosengine.language.source",
    "check_paths": "tosengine.language.frontend",
    "check_sources": "tosengine.language.frontend",
    "check_text": "tosengine.language.frontend",
    "parse_file": "tosengine.language.frontend",
    "parse_text": "tosengine.language.frontend",
    "format_text": "tosengine.language.format",
}

if TYPE_CHECKING:  # pragma: no cover
    from tosengine.language.checked import CheckedRule, CheckedRuleSet
    from tosengine.language.diagnostics import Diagnostic, RuleError
    from tosengine.language.format import format_text
    from tosengine.language.frontend import check_paths, check_sources, check_text, parse_file, parse_text
    from tosengine.language.source import SourceFile, Span


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tosengine.language' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
