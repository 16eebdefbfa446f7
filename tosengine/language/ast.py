"""The abstract syntax tree of a rule file, as written (before any checking).

Nodes are frozen dataclasses. Every node carries its :class:`Span`, which takes
no part in equality, so two parses of text that differ only in layout and
comments give equal trees. Clauses of a rule are kept in the canonical clause
order (:data:`CLAUSE_ORDER`, ``let`` clauses in their written order), not in
the order they were written, for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from tosengine.language.source import Span

# --------------------------------------------------------------------------
# Expressions
# --------------------------------------------------------------------------

#: Kinds of :class:`Literal`.
LITERAL_KINDS = ("int", "float", "percent", "string", "bool", "duration")


@dataclass(frozen=True, slots=True)
class Literal:
    """A literal value.

    ``kind`` is one of :data:`LITERAL_KINDS`. ``value`` is the Python value:
    an exact int, a float (``90%`` is 0.9), a decoded str, a bool, or an int
    of milliseconds for a duration. ``text`` is the spelling of a number or
    duration as written (kept so that formatting never rewrites ``200_000``),
    and "" for strings and booleans.
    """

    kind: str
    value: int | float | str | bool
    text: str
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Name:
    """A name used in an expression: a field, list, const or let."""

    name: str
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Unary:
    """``-x`` or ``not x``; ``op`` is "-" or "not"."""

    op: str
    operand: Expr
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Binary:
    """``left op right`` for arithmetic, comparison, ``and`` and ``or``."""

    op: str
    left: Expr
    right: Expr
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class In:
    """``operand in container`` / ``operand not in container``."""

    operand: Expr
    container: Expr
    negated: bool
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class IsNull:
    """``operand is null`` / ``operand is not null``."""

    operand: Expr
    negated: bool
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Call:
    """``func(args...)``: a function or an aggregate, resolved by the checker."""

    func: str
    args: tuple[Expr, ...]
    span: Span = field(compare=False, repr=False)
    func_span: Span = field(compare=False, repr=False, default=None)  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Paren:
    """``(expr)``: kept so that formatting keeps the author's grouping."""

    expr: Expr
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ListLit:
    """``[item, ...]``."""

    items: tuple[Expr, ...]
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ErrorExpr:
    """Stands in for an expression that could not be built (already reported)."""

    span: Span = field(compare=False, repr=False)


Expr = Union[Literal, Name, Unary, Binary, In, IsNull, Call, Paren, ListLit, ErrorExpr]


# --------------------------------------------------------------------------
# Declarations
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ident:
    """A declared name, with where it was written."""

    name: str
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SchemaField:
    """``name type [time]`` inside ``schema { ... }``."""

    name: Ident
    type: Ident
    is_time: bool
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SchemaDecl:
    """``schema { fields }``."""

    fields: tuple[SchemaField, ...]
    span: Span = field(compare=False, repr=False)
    open_span: Span = field(compare=False, repr=False, default=None)  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class ListDecl:
    """``list name = [items]`` (``items`` set) or ``list name from "path"`` (``path`` set)."""

    name: Ident
    items: ListLit | None
    path: Literal | None
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ConstDecl:
    """``const name = value``."""

    name: Ident
    value: Expr
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class TextClause:
    """``title``, ``clause``, ``quote`` or ``message`` followed by a string."""

    keyword: str
    value: Literal
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class WordClause:
    """``severity WORD`` or ``action WORD``."""

    keyword: str
    value: Ident
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class TagsClause:
    """``tags [strings]``."""

    tags: ListLit
    span: Span = field(compare=False, repr=False)
    keyword: str = field(default="tags", init=False)


@dataclass(frozen=True, slots=True)
class PerClause:
    """``per field, ...``."""

    fields: tuple[Ident, ...]
    span: Span = field(compare=False, repr=False)
    keyword: str = field(default="per", init=False)


@dataclass(frozen=True, slots=True)
class WindowClause:
    """``window length`` or ``window length every step`` (durations or const names)."""

    length: Expr
    every: Expr | None
    span: Span = field(compare=False, repr=False)
    keyword: str = field(default="window", init=False)


@dataclass(frozen=True, slots=True)
class ExprClause:
    """``where``, ``when`` or ``unless`` followed by an expression."""

    keyword: str
    expr: Expr
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class LetClause:
    """``let name = expr``."""

    name: Ident
    expr: Expr
    span: Span = field(compare=False, repr=False)
    keyword: str = field(default="let", init=False)


@dataclass(frozen=True, slots=True)
class CooldownClause:
    """``cooldown duration``."""

    duration: Expr
    span: Span = field(compare=False, repr=False)
    keyword: str = field(default="cooldown", init=False)


Clause = Union[
    TextClause, WordClause, TagsClause, PerClause, WindowClause, ExprClause, LetClause,
    CooldownClause,
]

#: The canonical order of clauses inside a rule (formatting uses it too).
CLAUSE_ORDER: tuple[str, ...] = (
    "title", "clause", "quote", "severity", "action", "tags",
    "per", "window", "where",
    "let",
    "when", "unless", "cooldown", "message",
)

#: Clauses that are grouped together, separated by blank lines when formatted.
CLAUSE_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"title", "clause", "quote", "severity", "action", "tags"}),
    frozenset({"per", "window", "where"}),
    frozenset({"let"}),
    frozenset({"when", "unless", "cooldown", "message"}),
)


@dataclass(frozen=True, slots=True)
class RuleDecl:
    """``rule name { clauses }``; ``clauses`` in :data:`CLAUSE_ORDER`."""

    name: Ident
    clauses: tuple[Clause, ...]
    span: Span = field(compare=False, repr=False)
    open_span: Span = field(compare=False, repr=False, default=None)  # type: ignore[assignment]

    def clause(self, keyword: str) -> Clause | None:
        """The clause with this keyword (the first ``let`` for ``"let"``), or None."""
        for c in self.clauses:
            if c.keyword == keyword:
                return c
        return None

    @property
    def lets(self) -> tuple[LetClause, ...]:
        return tuple(c for c in self.clauses if isinstance(c, LetClause))


Declaration = Union[SchemaDecl, ListDecl, ConstDecl, RuleDecl]


@dataclass(frozen=True, slots=True)
class Module:
    """The declarations of one file, in written order."""

    file: str
    declarations: tuple[Declaration, ...]


@dataclass(frozen=True, slots=True)
class Comment:
    """A ``# ...`` comment; ``text`` includes the ``#``, not the line break."""

    text: str
    span: Span = field(compare=False, repr=False)
