"""Source text, spans and line/column arithmetic.

A :class:`SourceFile` is the text of one rule file (or of rule text given
directly) with a table of line starts; a :class:`Span` is a region of it.
Lines and columns are 1-based and count Unicode code points; ``end_column``
is the column just past the last character of the span.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file: ``file:line:column`` up to ``end_line:end_column``.

    ``start`` and ``end`` are the same region as character offsets into the
    file's text (``end`` exclusive).
    """

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    start: int = 0
    end: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def to(self, other: Span) -> Span:
        """The span from the start of ``self`` to the end of ``other``."""
        return Span(
            self.file, self.line, self.column, other.end_line, other.end_column,
            self.start, other.end,
        )


@dataclass(frozen=True)
class SourceFile:
    """The text of one rule file and its name as shown to people."""

    name: str
    text: str
    _line_starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        starts = [0]
        find = self.text.find
        i = find("\n")
        while i >= 0:
            starts.append(i + 1)
            i = find("\n", i + 1)
        object.__setattr__(self, "_line_starts", tuple(starts))

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def offset(self, line: int, column: int) -> int:
        """The character offset of a 1-based (line, column)."""
        return self._line_starts[line - 1] + column - 1

    def span(self, start: int, end: int) -> Span:
        """The span of the characters ``text[start:end]``."""
        line, col = self.line_col(start)
        end_line, end_col = self.line_col(end)
        return Span(self.name, line, col, end_line, end_col, start, end)

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its line break."""
        if not 1 <= line <= len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        text = self.text[start:] if end < 0 else self.text[start:end]
        return text.rstrip("\r")
