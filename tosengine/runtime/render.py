"""Rendering values for people: violation values and message templates."""

from __future__ import annotations

from tosengine import ir
from tosengine.language.types import Type
from tosengine.runtime.timeparse import format_ms


def json_value(value: object, t: Type) -> object:
    """A value as it appears in a violation's ``values``/``key`` (JSON-ready)."""
    if value is None:
        return None
    if t is Type.TIMESTAMP:
        return format_ms(int(value))  # type: ignore[call-overload]
    if t is Type.FLOAT:
        return float(value)  # type: ignore[arg-type]
    if t is Type.BOOL:
        return bool(value)
    if t in (Type.INT, Type.DURATION):
        return int(value)  # type: ignore[call-overload]
    return value


def text(value: object, t: Type, spec: str) -> str:
    """``{name}`` / ``{name:spec}`` in a message."""
    if value is None:
        return "null"
    if spec == "%":
        return format(float(value), ".1%")  # type: ignore[arg-type]
    if spec:
        if t is Type.TIMESTAMP:
            return format_ms(int(value))  # type: ignore[call-overload]
        try:
            return format(value, spec)
        except (ValueError, TypeError):
            return format(float(value), spec) if isinstance(value, (int, float)) else str(value)
    if t is Type.TIMESTAMP:
        return format_ms(int(value))  # type: ignore[call-overload]
    if t is Type.BOOL:
        return "true" if value else "false"
    if t is Type.FLOAT:
        return repr(float(value))  # type: ignore[arg-type]
    return str(value)


def message(parts: tuple[ir.MessagePart, ...] | None, lookup) -> str | None:
    """Render a message template; ``lookup(placeholder)`` gives the raw value."""
    if parts is None:
        return None
    out = []
    for p in parts:
        if isinstance(p, str):
            out.append(p)
        else:
            out.append(text(lookup(p), p.type, p.spec))
    return "".join(out)
