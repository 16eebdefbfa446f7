"""Dead-letter reason codes: why an event was not evaluated.

Every event that is not evaluated goes to the dead-letter output with one of
these codes (see ``docs/input.md`` for an example of each). The codes are part
of the output format: never rename one.
"""

from __future__ import annotations

NOT_JSON = "not_json"
NOT_OBJECT = "not_object"
WRONG_TYPE = "wrong_type"
MISSING_TIME = "missing_time"
BAD_TIME = "bad_time"
INVALID_UTF8 = "invalid_utf8"
TOO_LONG = "too_long"
LATE = "late"

REASONS: dict[str, str] = {
    NOT_JSON: "the line is not valid JSON",
    NOT_OBJECT: "the line is JSON but not an object",
    WRONG_TYPE: "a schema field holds a value of the wrong type",
    MISSING_TIME: "the time field is absent or null",
    BAD_TIME: "the time field is neither an RFC 3339 string nor integer epoch milliseconds",
    INVALID_UTF8: "the line is not valid UTF-8",
    TOO_LONG: "the line is longer than the maximum line length",
    LATE: "the event is older than the watermark allows",
}

__all__ = ["NOT_JSON", "NOT_OBJECT", "WRONG_TYPE", "MISSING_TIME", "BAD_TIME", "INVALID_UTF8",
           "TOO_LONG", "LATE", "REASONS"]
