"""The functions and aggregates of the language, and their types."""

from __future__ import annotations

from tosengine.language.types import Type

__all__ = ["FUNCTIONS", "AGGREGATES", "PATTERN_FUNCTIONS", "ALL_NAMES", "arity_text"]

NUMERIC = frozenset({Type.INT, Type.FLOAT})

#: Per-event functions: name -> parameter descriptions (for messages).
FUNCTIONS: dict[str, tuple[str, ...]] = {
    "startswith": ("s", "p"),
    "endswith": ("s", "p"),
    "contains": ("s", "p"),
    "matches": ("s", "regex"),
    "lower": ("s",),
    "len": ("s",),
    "abs": ("x",),
    "hour": ("t",),
    "weekday": ("t",),
    "coalesce": ("x", "default"),
}

#: Functions whose second argument is a pattern: a string literal or const.
PATTERN_FUNCTIONS = frozenset({"startswith", "endswith", "contains", "matches"})

#: Aggregates: name -> (allowed argument counts, accepted argument types or None for any).
AGGREGATES: dict[str, tuple[tuple[int, ...], frozenset[Type] | None]] = {
    "count": ((0, 1), frozenset({Type.BOOL})),
    "sum": ((1,), frozenset({Type.INT, Type.FLOAT, Type.DURATION})),
    "avg": ((1,), NUMERIC),
    "min": ((1,), frozenset({Type.INT, Type.FLOAT, Type.TIMESTAMP, Type.DURATION})),
    "max": ((1,), frozenset({Type.INT, Type.FLOAT, Type.TIMESTAMP, Type.DURATION})),
    "stddev": ((1,), NUMERIC),
    "distinct": ((1,), None),
    "fraction": ((1,), frozenset({Type.BOOL})),
}

ALL_NAMES = tuple(FUNCTIONS) + tuple(AGGREGATES)


def aggregate_result(name: str, arg: Type | None) -> Type:
    """The type of an aggregate given its argument's type."""
    if name in ("count", "distinct"):
        return Type.INT
    if name in ("avg", "stddev", "fraction"):
        return Type.FLOAT
    assert arg is not None
    return arg  # sum, min, max keep their argument's type


def arity_text(counts: tuple[int, ...]) -> str:
    """``1 argument``, ``0 or 1 arguments``."""
    words = " or ".join(str(c) for c in counts)
    return f"{words} argument" + ("" if counts == (1,) else "s")
