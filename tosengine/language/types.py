"""The value types of the rule language.

`int` and `float` are 64-bit; `timestamp` values are UTC milliseconds since the
Unix epoch; `duration` values are milliseconds. Durations exist only inside
rules (literals such as ``5m`` and differences of timestamps); schema fields
have one of the five field types.
"""

from __future__ import annotations

import enum


class Type(enum.Enum):
    """A value type of the rule language."""

    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STRING = "string"
    TIMESTAMP = "timestamp"
    DURATION = "duration"

    @property
    def is_numeric(self) -> bool:
        return self in (Type.INT, Type.FLOAT)

    def __str__(self) -> str:
        return self.value


#: Types a schema field may be declared with.
FIELD_TYPES: dict[str, Type] = {
    t.value: t for t in (Type.INT, Type.FLOAT, Type.BOOL, Type.STRING, Type.TIMESTAMP)
}
