"""The checked, typed, frozen intermediate representation of a rule set.

Everything past the front end (the compiler, the runtime, the reference
evaluator in the tests) reads only these classes. By the time a :class:`Program`
exists every name is resolved, every expression has a type, ``const`` and
``list`` names are inlined as literals, literal arithmetic is folded, and the
windowed/event rule restrictions of the language contract hold:

* ``where`` and aggregate arguments only use :class:`FieldRef` (per-event).
* In a windowed rule, ``let``/``when``/``unless`` use :class:`Aggregate`,
  :class:`KeyRef`, :class:`LetRef` and literals, never a bare :class:`FieldRef`.
* In an event rule, ``let``/``when``/``unless`` use :class:`FieldRef`,
  :class:`LetRef` and literals, never an :class:`Aggregate` or :class:`KeyRef`.

Value conventions: ``int``/``float``/``bool``/``string`` are Python values;
``timestamp`` values are int milliseconds since the Unix epoch (UTC) and
``duration`` values are int milliseconds.

Source locations are kept for people (``Rule.location``) but never take part in
equality or in :meth:`Program.fingerprint`, so moving a rule inside a file does
not change what it compiles to.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Union

from tosengine.language.schema import Schema
from tosengine.language.types import Type

Value = Union[int, float, bool, str]


@dataclass(frozen=True, slots=True)
class Location:
    """Where a rule was declared: file, 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


# --------------------------------------------------------------------------
# Expressions. Every node has a ``type``.
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant. ``value`` is None never; there is no null literal."""

    value: Value
    type: Type


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A per-event field of the schema (null when the event lacks it)."""

    name: str
    type: Type


@dataclass(frozen=True, slots=True)
class KeyRef:
    """A key field (one of the rule's ``per`` fields) in window context."""

    name: str
    type: Type


@dataclass(frozen=True, slots=True)
class LetRef:
    """The value of an earlier ``let`` of the same rule."""

    name: str
    type: Type


class UnaryOp(enum.Enum):
    NEG = "-"
    NOT = "not"


@dataclass(frozen=True, slots=True)
class Unary:
    """``-x`` (numeric or duration) or ``not x`` (bool, three-valued)."""

    op: UnaryOp
    operand: Expr
    type: Type


class BinaryOp(enum.Enum):
    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"
    MOD = "%"
    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    AND = "and"
    OR = "or"

    @property
    def is_comparison(self) -> bool:
        return self in _COMPARISONS

    @property
    def is_logical(self) -> bool:
        return self in (BinaryOp.AND, BinaryOp.OR)

    @property
    def is_arithmetic(self) -> bool:
        return not (self.is_comparison or self.is_logical)


_COMPARISONS = frozenset(
    {BinaryOp.EQ, BinaryOp.NE, BinaryOp.LT, BinaryOp.LE, BinaryOp.GT, BinaryOp.GE}
)


@dataclass(frozen=True, slots=True)
class Binary:
    """Arithmetic, comparison or logical operator.

    Operand types are as the checker left them: ``int`` and ``float`` may be
    mixed (the int widens), ``timestamp - timestamp`` is a ``duration``,
    ``timestamp ± duration`` a ``timestamp``. ``/`` always gives ``float``.
    """

    op: BinaryOp
    left: Expr
    right: Expr
    type: Type


@dataclass(frozen=True, slots=True)
class InList:
    """``operand in [values]`` / ``operand not in [values]``.

    ``values`` are the list's distinct values in first-seen order, all of the
    operand's type (ints widened to float for a float operand).
    """

    operand: Expr
    values: tuple[Value, ...]
    negated: bool
    type: Type = Type.BOOL


@dataclass(frozen=True, slots=True)
class IsNull:
    """``operand is null`` / ``operand is not null``; never null itself."""

    operand: Expr
    negated: bool
    type: Type = Type.BOOL


class Func(enum.Enum):
    """Per-event functions of the language."""

    STARTSWITH = "startswith"  # (string, literal string) -> bool
    ENDSWITH = "endswith"  # (string, literal string) -> bool
    CONTAINS = "contains"  # (string, literal string) -> bool
    MATCHES = "matches"  # (string, literal regex) -> bool, RE2 search semantics
    LOWER = "lower"  # (string) -> string
    LEN = "len"  # (string) -> int, Unicode code points
    ABS = "abs"  # (int|float|duration) -> same
    HOUR = "hour"  # (timestamp) -> int 0..23, UTC
    WEEKDAY = "weekday"  # (timestamp) -> int 0..6, 0 = Monday
    COALESCE = "coalesce"  # (x, default) -> common type


@dataclass(frozen=True, slots=True)
class Call:
    """A per-event function call. Pattern arguments are :class:`Literal`."""

    func: Func
    args: tuple[Expr, ...]
    type: Type


class AggFunc(enum.Enum):
    """Aggregates of windowed rules."""

    COUNT = "count"  # count() -> int events; count(bool) -> int events where true
    SUM = "sum"  # int -> int, float -> float, duration -> duration
    AVG = "avg"  # numeric -> float
    MIN = "min"  # int|float|timestamp|duration -> same
    MAX = "max"
    STDDEV = "stddev"  # numeric -> float, population
    DISTINCT = "distinct"  # any -> int, distinct non-null values
    FRACTION = "fraction"  # bool -> float, count(arg) / count()


@dataclass(frozen=True, slots=True)
class Aggregate:
    """An aggregate over the events of one key and window.

    ``arg`` is a per-event expression (only :class:`FieldRef` leaves, no
    aggregates), or None for ``count()``.
    """

    func: AggFunc
    arg: Expr | None
    type: Type


Expr = Union[Literal, FieldRef, KeyRef, LetRef, Unary, Binary, InList, IsNull, Call, Aggregate]


# --------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------


class Severity(enum.Enum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Action(enum.Enum):
    LOG = "log"
    WARN = "warn"
    REVIEW = "review"
    THROTTLE = "throttle"
    SUSPEND = "suspend"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class Window:
    """``window length every step``; a tumbling window has step == length.

    Windows are ``[k*step, k*step + length)`` in milliseconds from the epoch.
    ``length`` is a whole multiple of ``step``; both are > 0.
    """

    length_ms: int
    step_ms: int

    @property
    def is_tumbling(self) -> bool:
        return self.length_ms == self.step_ms

    @property
    def panes(self) -> int:
        """How many windows each event belongs to (length / step)."""
        return self.length_ms // self.step_ms


@dataclass(frozen=True, slots=True)
class Let:
    """``let name = expr``."""

    name: str
    expr: Expr
    type: Type


class PlaceholderKind(enum.Enum):
    LET = "let"
    KEY = "key"  # a per field (windowed or event rule)
    FIELD = "field"  # an event field (event rules only)


@dataclass(frozen=True, slots=True)
class Placeholder:
    """``{name}`` or ``{name:spec}`` in a message.

    ``spec`` is "" (default rendering), "%" (a percentage with one decimal),
    or a validated Python format spec such as ".2f" or ",d".
    """

    name: str
    kind: PlaceholderKind
    type: Type
    spec: str = ""


MessagePart = Union[str, Placeholder]


@dataclass(frozen=True, slots=True)
class Rule:
    """One checked rule. ``window`` is None for an event rule."""

    name: str
    title: str
    clause: str | None
    quote: str | None
    severity: Severity
    action: Action
    tags: tuple[str, ...]
    key: tuple[str, ...]  # the `per` fields, in order ((): no per)
    window: Window | None
    where: Expr | None
    lets: tuple[Let, ...]
    when: Expr
    unless: Expr | None
    cooldown_ms: int | None
    message: tuple[MessagePart, ...] | None
    location: Location | None = field(default=None, compare=False, hash=False)

    @property
    def is_windowed(self) -> bool:
        return self.window is not None


@dataclass(frozen=True, slots=True)
class Program:
    """A checked rule set: its schema and its rules in declaration order.

    Rule order is files in sorted path order, then order within a file.
    """

    schema: Schema
    rules: tuple[Rule, ...]

    def rule(self, name: str) -> Rule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)

    def fingerprint(self) -> str:
        """A stable sha256 of everything that affects evaluation (no locations)."""
        return hashlib.sha256(dump(self).encode()).hexdigest()


def dump(node: object) -> str:
    """A canonical, stable text form of an IR value (used for hashing and tests)."""
    if is_dataclass(node) and not isinstance(node, type):
        parts = [
            f"{f.name}={dump(getattr(node, f.name))}" for f in fields(node) if f.compare
        ]
        return f"{type(node).__name__}({', '.join(parts)})"
    if isinstance(node, enum.Enum):
        return f"{type(node).__name__}.{node.name}"
    if isinstance(node, tuple):
        inner = ", ".join(dump(x) for x in node)
        return f"({inner},)" if len(node) == 1 else f"({inner})"
    if isinstance(node, float):
        return f"float({node!r})"
    return repr(node)
