"""format_ms: RFC 3339 UTC with milliseconds, checked against Python's datetime."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from tosengine.runtime.timeparse import format_ms

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
LO = int((dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc) - EPOCH) / dt.timedelta(milliseconds=1))
HI = int((dt.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=dt.timezone.utc) - EPOCH)
         / dt.timedelta(milliseconds=1))


@given(st.integers(LO, HI))
def test_format_ms_is_datetimes_iso_text(ms):
    want = (EPOCH + dt.timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")
    assert format_ms(ms) == want.replace("+00:00", "Z")


def test_format_ms_edges():
    assert format_ms(0) == "1970-01-01T00:00:00.000Z"
    assert format_ms(-1) == "1969-12-31T23:59:59.999Z"
    assert format_ms(LO) == "0001-01-01T00:00:00.000Z"
    assert format_ms(HI) == "9999-12-31T23:59:59.999Z"
