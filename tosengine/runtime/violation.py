"""Violations: the results of evaluation, as the language contract's Results section says."""

from __future__ import annotations

from typing import IO, Any, Iterable

import orjson
from pydantic import BaseModel, ConfigDict

JsonValue = Any


class Violation(BaseModel):
    """One breach of one rule: a key and window (windowed rules) or one event.

    Times are RFC 3339 UTC strings with milliseconds. ``values`` holds every
    ``let`` of the rule in order; ``key`` the ``per`` fields in order.
    """

    model_config = ConfigDict(frozen=True)

    rule: str
    title: str
    clause: str | None
    severity: str
    action: str
    key: dict[str, JsonValue]
    window_start: str | None
    window_end: str | None
    time: str
    values: dict[str, JsonValue]
    message: str | None
    events: int
    first_seen: str
    last_seen: str
    request_id: str | None

    def to_dict(self) -> dict[str, JsonValue]:
        """The violation as a plain dict with exactly the contract's field names."""
        return {name: getattr(self, name) for name in type(self).model_fields}

    def to_json(self) -> bytes:
        """One line of JSON (no trailing newline), serialised with orjson."""
        return orjson.dumps(self.to_dict())


def write_jsonl(violations: Iterable[Violation], out: IO[bytes]) -> int:
    """Write one JSON object per line to a binary stream; returns the count."""
    n = 0
    for v in violations:
        out.write(v.to_json())
        out.write(b"\n")
        n += 1
    return n
