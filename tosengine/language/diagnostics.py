"""Diagnostics for people, and the one exception type of the front end.

Every problem found in a rule set becomes a :class:`Diagnostic`; the front end
collects them and raises a single :class:`RuleError` holding all of them. A
diagnostic renders as::

    rules/distill.tos:12:9: error: unknown field 'contry'
       12 |   when  contry in blocked
          |         ^^^^^^
          = help: did you mean 'country'?
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from tosengine.language import messages
from tosengine.language.messages import Message
from tosengine.language.source import SourceFile, Span

__all__ = ["Diagnostic", "RuleError", "Reporter", "suggest", "TooManyErrors"]

#: Longest source line shown in full; longer lines are cut around the caret.
_SHOWN_LINE = 120
_GUTTER = 5


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One error: a stable ``code``, a one-line ``message`` and where it is.

    ``span`` is None for problems that have no place in a file (a missing
    path); ``file`` then names the file or path when there is one.
    ``source_line`` is the text of the span's first line, kept so that the
    diagnostic renders on its own. ``help`` is a suggestion and ``notes`` are
    extra lines, e.g. where a duplicate name was first declared.
    """

    code: str
    message: str
    span: Span | None = None
    file: str | None = None
    help: str | None = None
    notes: tuple[str, ...] = ()
    source_line: str = ""

    @property
    def location(self) -> str:
        """``file:line:column``, ``file``, or "" when the problem has no place."""
        if self.span is not None:
            return str(self.span)
        return self.file or ""

    def sort_key(self) -> tuple:
        if self.span is None:
            return (self.file or "", 0, 0)
        return (self.span.file, self.span.line, self.span.column)

    def render(self) -> str:
        """The diagnostic as people read it (see the module docstring)."""
        head = f"{self.location}: error: {self.message}" if self.location else f"error: {self.message}"
        lines = [head]
        if self.span is not None:
            lines.extend(_snippet(self.span, self.source_line))
        pad = " " * _GUTTER
        if self.help:
            lines.append(f"{pad} = help: {self.help}")
        for note in self.notes:
            lines.append(f"{pad} = note: {note}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def _snippet(span: Span, text: str) -> list[str]:
    """The source line and a caret line under the span."""
    shown = "".join(c if c.isprintable() else " " for c in text)
    start = max(0, min(span.column - 1, len(shown)))
    if span.end_line == span.line:
        width = span.end_column - span.column
    else:
        width = len(shown) - start
    width = max(1, width)
    prefix = ""
    if len(shown) > _SHOWN_LINE:
        cut = max(0, start - 40)
        window = shown[cut : cut + _SHOWN_LINE]
        if cut > 0:
            prefix = "..."
        suffix = "..." if cut + _SHOWN_LINE < len(shown) else ""
        start = start - cut
        shown = prefix + window + suffix
        start += len(prefix)
        width = min(width, max(1, len(prefix) + len(window) - start))
    gutter = f"{span.line:>{_GUTTER}}"
    return [
        f"{gutter} | {shown}".rstrip(),
        f"{' ' * len(gutter)} | {' ' * start}{'^' * width}",
    ]


class RuleError(Exception):
    """A rule set has problems; ``diagnostics`` lists every one found.

    ``str(err)`` is the rendering people see: every diagnostic, in file and
    position order, separated by blank lines.
    """

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        diags = tuple(diagnostics)
        if not diags:
            raise ValueError("a RuleError needs at least one diagnostic")
        self.diagnostics: tuple[Diagnostic, ...] = diags
        super().__init__(self.render())

    def render(self) -> str:
        """Every diagnostic, rendered, separated by blank lines."""
        return "\n\n".join(d.render() for d in self.diagnostics)

    def __str__(self) -> str:
        return self.render()


class TooManyErrors(Exception):
    """Raised inside the front end when the error limit is reached."""


#: Most diagnostics reported for one rule set; after that, one more says so.
MAX_ERRORS = 100


class Reporter:
    """Collects diagnostics while the front end works through a rule set."""

    def __init__(self, sources: dict[str, SourceFile] | None = None) -> None:
        self.sources: dict[str, SourceFile] = dict(sources or {})
        self.diagnostics: list[Diagnostic] = []

    def add_source(self, source: SourceFile) -> None:
        self.sources[source.name] = source

    def error(
        self,
        where: Span | str | None,
        msg: Message,
        *,
        help: str | None = None,
        notes: Sequence[str] = (),
    ) -> None:
        """Record an error at a span (or for a file/path named by a string)."""
        if len(self.diagnostics) >= MAX_ERRORS:
            raise TooManyErrors
        span = where if isinstance(where, Span) else None
        file = where if isinstance(where, str) else None
        line = ""
        if span is not None and span.file in self.sources:
            line = self.sources[span.file].line_text(span.line)
        self.diagnostics.append(
            Diagnostic(
                code=msg.code,
                message=msg.text,
                span=span,
                file=file,
                help=help if help is not None else msg.help,
                notes=tuple(notes) + msg.notes,
                source_line=line,
            )
        )

    def too_many(self) -> None:
        """Note that the limit was reached (called once, after TooManyErrors)."""
        m = messages.too_many_errors(MAX_ERRORS)
        self.diagnostics.append(Diagnostic(code=m.code, message=m.text))

    @property
    def has_errors(self) -> bool:
        return bool(self.diagnostics)

    def sorted(self) -> list[Diagnostic]:
        """The diagnostics in file and position order (stable)."""
        return sorted(self.diagnostics, key=Diagnostic.sort_key)

    def raise_if_errors(self) -> None:
        if self.diagnostics:
            raise RuleError(self.sorted())


def _osa_distance(a: str, b: str, cap: int) -> int:
    """Optimal-string-alignment edit distance, or ``cap + 1`` once it exceeds ``cap``."""
    if abs(len(a) - len(b)) > cap:
        return cap + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        best = cur[0]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                v = min(v, prev2[j - 2] + 1)
            cur[j] = v
            best = min(best, v)
        if best > cap:
            return cap + 1
        prev2, prev = prev, cur
    return prev[len(b)]


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The known name nearest to a misspelt ``name``, if one is close enough.

    Close enough: at most 1 edit for names of up to 4 characters, 2 up to 8,
    3 beyond (an edit inserts, deletes, replaces or swaps two neighbours).
    Case differences count as edits but a case-only difference always matches.
    """
    cap = 1 if len(name) <= 4 else 2 if len(name) <= 8 else 3
    lowered = name.lower()
    best: tuple[int, str] | None = None
    for cand in sorted(set(candidates)):
        if cand == name:
            continue
        if cand.lower() == lowered:
            return cand
        d = _osa_distance(lowered, cand.lower(), cap)
        if d <= cap and (best is None or d < best[0]):
            best = (d, cand)
    return best[1] if best else None
