"""Message templates: ``"{requests} requests, {share:%} from one key"``.

``{name}`` inserts a value, ``{name:spec}`` formats it, ``{{`` and ``}}`` are
literal braces. A spec is ``%`` (a percentage with one decimal), ``,``, or a
Python format spec of the form ``[,][.N](f|e|%)`` or ``[,]d``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tosengine.language.types import Type

__all__ = ["Hole", "TemplateError", "parse_template", "valid_spec", "spec_fits"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SPEC = re.compile(r"(?:%|,|,?(?:\.[0-9]{1,2})?[fe%]|,?d)\Z")


@dataclass(frozen=True, slots=True)
class Hole:
    """A ``{name:spec}`` placeholder at ``start:end`` of the template value."""

    name: str
    spec: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class TemplateError:
    """A malformed template at ``start:end`` of its value."""

    problem: str
    start: int
    end: int


def parse_template(text: str) -> tuple[list[str | Hole], list[TemplateError]]:
    """Split a template into text pieces and holes (adjacent text merged)."""
    parts: list[str | Hole] = []
    errors: list[TemplateError] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "{" and text.startswith("{{", i):
            buf.append("{")
            i += 2
        elif c == "}" and text.startswith("}}", i):
            buf.append("}")
            i += 2
        elif c == "}":
            errors.append(TemplateError("a lone '}'", i, i + 1))
            i += 1
        elif c == "{":
            close = text.find("}", i + 1)
            if close < 0:
                errors.append(TemplateError("a '{' without its '}'", i, i + 1))
                break
            inner = text[i + 1 : close]
            name, _, spec = inner.partition(":")
            name = name.strip()
            if not _NAME.match(name):
                what = "an empty placeholder '{}'" if not inner else f"'{{{inner}}}' does not start with a name"
                errors.append(TemplateError(what, i, close + 1))
            else:
                if buf:
                    parts.append("".join(buf))
                    buf = []
                parts.append(Hole(name, spec, i, close + 1))
            i = close + 1
        else:
            buf.append(c)
            i += 1
    if buf:
        parts.append("".join(buf))
    return parts, errors


def valid_spec(spec: str) -> bool:
    """Whether ``spec`` is "" or one of the allowed format specs."""
    return spec == "" or bool(_SPEC.match(spec))


def spec_fits(spec: str, t: Type) -> bool:
    """Whether a valid ``spec`` can format a value of type ``t``."""
    if spec == "":
        return True
    if t in (Type.INT, Type.DURATION):
        return True
    if t is Type.FLOAT:
        return not spec.endswith("d")
    return False
