"""What the checker hands on: a rule set whose names and types are all known.

The checked set keeps the AST and adds side tables keyed by node identity:
the type of every expression node, what every name refers to, and the values
of every list used with ``in``. Lowering (``tosengine.ir.lower``) reads only
this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from tosengine.language import ast
from tosengine.language.schema import Schema
from tosengine.language.source import SourceFile
from tosengine.language.types import Type

Value = Union[int, float, bool, str]

__all__ = [
    "Value", "FieldUse", "KeyUse", "LetUse", "ConstUse", "Ref", "ListValues",
    "MessageHole", "CheckedLet", "CheckedRule", "CheckedRuleSet",
]


@dataclass(frozen=True, slots=True)
class FieldUse:
    """A name that is an event field (per-event context)."""

    name: str
    type: Type


@dataclass(frozen=True, slots=True)
class KeyUse:
    """A name that is a key field of a windowed rule, outside aggregates."""

    name: str
    type: Type


@dataclass(frozen=True, slots=True)
class LetUse:
    """A name that is an earlier ``let`` of the rule."""

    name: str
    type: Type


@dataclass(frozen=True, slots=True)
class ConstUse:
    """A name that is a ``const``: its value, inlined by lowering."""

    name: str
    value: Value
    type: Type


Ref = Union[FieldUse, KeyUse, LetUse, ConstUse]


@dataclass(frozen=True, slots=True)
class ListValues:
    """The values of a list (declared, from a file, or written inline).

    ``type`` is the element type, or None for an empty list.
    """

    values: tuple[Value, ...]
    type: Type | None


@dataclass(frozen=True, slots=True)
class MessageHole:
    """A checked ``{name:spec}``; ``kind`` is "let", "key" or "field"."""

    name: str
    kind: str
    type: Type
    spec: str


@dataclass(frozen=True, slots=True)
class CheckedLet:
    name: str
    expr: ast.Expr
    type: Type


@dataclass(frozen=True, slots=True)
class CheckedRule:
    """One rule with every clause resolved; expressions are AST nodes."""

    decl: ast.RuleDecl
    file: str
    name: str
    title: str
    clause: str | None
    quote: str | None
    severity: str
    action: str
    tags: tuple[str, ...]
    key: tuple[str, ...]
    window: tuple[int, int] | None  # (length_ms, step_ms)
    where: ast.Expr | None
    lets: tuple[CheckedLet, ...]
    when: ast.Expr
    unless: ast.Expr | None
    cooldown_ms: int | None
    message: tuple[str | MessageHole, ...] | None

    @property
    def is_windowed(self) -> bool:
        return self.window is not None


@dataclass(frozen=True)
class CheckedRuleSet:
    """A rule set that passed every check.

    ``types`` maps ``id(node)`` of every checked expression node to its type;
    ``refs`` maps ``id(name)`` of every :class:`ast.Name` in an expression to
    what it names; ``lists`` maps ``id(node)`` of every ``in`` node to the
    values searched. The modules are kept so that those ids stay valid.
    """

    schema: Schema
    rules: tuple[CheckedRule, ...]
    sources: tuple[SourceFile, ...]
    modules: tuple[ast.Module, ...]
    types: dict[int, Type] = field(repr=False)
    refs: dict[int, Ref] = field(repr=False)
    lists: dict[int, ListValues] = field(repr=False)

    def type_of(self, node: ast.Expr) -> Type:
        return self.types[id(node)]

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sources)
