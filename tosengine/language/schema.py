"""Event schemas: the fields a rule set may use, and the built-in default.

A schema names each event field and its type; exactly one field is marked as
the event time. A rule set without a ``schema`` block uses
:data:`DEFAULT_SCHEMA`, the LLM API usage log of the language contract.
"""

from __future__ import annotations

from dataclasses import dataclass

from tosengine.language.types import Type


@dataclass(frozen=True, slots=True)
class Field:
    """One event field: its name, type, and whether it is the event time."""

    name: str
    type: Type
    is_time: bool = False


@dataclass(frozen=True, slots=True)
class Schema:
    """An ordered set of event fields with exactly one time field."""

    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        times = [f for f in self.fields if f.is_time]
        if len(times) != 1:
            raise ValueError("a schema has exactly one time field")
        if times[0].type is not Type.TIMESTAMP:
            raise ValueError("the time field must have type timestamp")
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("schema field names must be unique")

    @property
    def time_field(self) -> str:
        """The name of the event-time field."""
        return next(f.name for f in self.fields if f.is_time)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def get(self, name: str) -> Field | None:
        """The field called ``name``, or None."""
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def __contains__(self, name: object) -> bool:
        return any(f.name == name for f in self.fields)


DEFAULT_SCHEMA = Schema(
    (
        Field("ts", Type.TIMESTAMP, is_time=True),
        Field("request_id", Type.STRING),
        Field("account_id", Type.STRING),
        Field("org_id", Type.STRING),
        Field("api_key_id", Type.STRING),
        Field("ip", Type.STRING),
        Field("country", Type.STRING),
        Field("user_agent", Type.STRING),
        Field("endpoint", Type.STRING),
        Field("model", Type.STRING),
        Field("status", Type.INT),
        Field("input_tokens", Type.INT),
        Field("output_tokens", Type.INT),
        Field("n", Type.INT),
        Field("temperature", Type.FLOAT),
        Field("logprobs", Type.BOOL),
        Field("prompt_hash", Type.STRING),
        Field("flagged", Type.BOOL),
    )
)
