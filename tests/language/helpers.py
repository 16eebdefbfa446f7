"""Shared helpers for the front-end tests."""

from __future__ import annotations

import re
from pathlib import Path

from tosengine.language import RuleError, check_text

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
GOLDEN = REPO / "tests" / "golden"
#: The language contract, outside the repository; tests fall back to the copy.
SPEC_ORIGINAL = REPO / ".." / "shared" / "spec" / "language.md"
SPEC_COPY = DATA / "spec-language.md"
RULES_DIR = REPO / "rules"


def spec_path() -> Path:
    return SPEC_ORIGINAL if SPEC_ORIGINAL.is_file() else SPEC_COPY


def rule_pack_files() -> list[Path]:
    """Whatever .tos files the shipped rule pack holds right now."""
    return sorted(RULES_DIR.rglob("*.tos")) if RULES_DIR.is_dir() else []


def errors(text: str, filename: str = "t.tos") -> str:
    """The rendered errors of rule text, or "" when it checks."""
    try:
        check_text(text, filename)
    except RuleError as e:
        return e.render()
    return ""


def codes(text: str) -> list[str]:
    """The error codes of rule text, in order."""
    try:
        check_text(text, "t.tos")
    except RuleError as e:
        return [d.code for d in e.diagnostics]
    return []


def rule(body: str, name: str = "r", title: bool = True) -> str:
    """A rule with ``body`` as its clauses (a title added unless asked not to)."""
    head = '  title "t"\n' if title else ""
    return f"rule {name} {{\n{head}{body}\n}}\n"


_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```", re.S | re.M)


def code_blocks(markdown: str) -> list[tuple[str, str, int]]:
    """(info string, code, line) of every fenced block of a Markdown text."""
    out = []
    for m in _FENCE.finditer(markdown):
        line = markdown.count("\n", 0, m.start()) + 1
        out.append((m.group(1).strip(), m.group(2), line))
    return out
