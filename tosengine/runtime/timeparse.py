"""Event times: RFC 3339 strings, epoch milliseconds or Arrow timestamps → UTC ms.

Whole Arrow arrays go through Arrow's C++ ISO 8601 parser; only values it
rejects (more than three fractional digits far from 1970, a lower-case ``z``,
or garbage) fall back to a strict per-value parser here, which either reads
them or reports them bad. Sub-millisecond digits are truncated toward the past
(floor), so a time never moves into a later window.
"""

from __future__ import annotations

import functools

import calendar
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(Z|z|[+-]\d{2}:\d{2})\Z",
    re.ASCII,
)
# the same shape for Arrow's RE2, year 0000 excluded (Arrow's parser takes it, ours does not)
_RFC3339_RE2 = (
    r"^([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})-[0-9]{2}-[0-9]{2}"
    r"[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|z|[+-][0-9]{2}:[0-9]{2})$"
)
_UNIT_MS = {"s": (1000, 1), "ms": (1, 1), "us": (1, 1000), "ns": (1, 1_000_000)}


def parse_rfc3339(text: str) -> int | None:
    """Epoch milliseconds of an RFC 3339 date-time, or None if it is not one."""
    m = _RFC3339.match(text)
    if m is None:
        return None
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    if not (1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1] if y >= 1 else False):
        return None
    if h > 23 or mi > 59 or s > 59:
        return None
    frac = m.group(7) or ""
    ms = int((frac + "000")[:3])
    zone = m.group(8)
    offset = 0
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        oh, om = int(zone[1:3]), int(zone[4:6])
        if oh > 23 or om > 59:
            return None
        offset = sign * (oh * 3600 + om * 60)
    secs = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) - offset
    return secs * 1000 + ms


def time_ms(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``(milliseconds int64, bad bool)`` for a time column; null or unreadable is bad.

    Accepts Arrow timestamps of any unit and zone, integers (epoch ms) and
    strings (RFC 3339). Any other type makes every non-null value bad.
    """
    n = len(array)
    t = array.type
    if pa.types.is_dictionary(t):
        array = array.cast(t.value_type)
        t = array.type
    valid = array.is_valid().to_numpy(zero_copy_only=False) if array.null_count else np.ones(n, bool)
    if pa.types.is_timestamp(t):
        mul, div = _UNIT_MS[t.unit]
        raw = array.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        return (raw * mul) // div if (mul, div) != (1, 1) else raw.astype(np.int64), ~valid
    if pa.types.is_integer(t):
        if pa.types.is_uint64(t):
            raw = array.fill_null(0).to_numpy(zero_copy_only=False)
            too_big = raw > np.iinfo(np.int64).max
            return raw.astype(np.int64), ~valid | too_big
        return array.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False), ~valid
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return _strings_ms(array, valid)
    if pa.types.is_null(t):
        return np.zeros(n, np.int64), np.ones(n, bool)
    return np.zeros(n, np.int64), np.ones(n, bool)


def _strings_ms(array: pa.Array, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Arrow's ISO 8601 cast is laxer than RFC 3339 ("+0100", "T00Z"): only
    # strings of the RFC 3339 shape go to it, the rest are bad
    shaped = pc.match_substring_regex(array, _RFC3339_RE2).fill_null(False)
    ok = shaped.to_numpy(zero_copy_only=False)
    if not ok.all():
        array = pc.if_else(shaped, array, pa.nulls(len(array), array.type))
    for unit, div in (("ms", 1), ("ns", 1_000_000)):
        try:
            raw = array.cast(pa.timestamp(unit, tz="UTC")).cast(pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        out = raw.fill_null(0).to_numpy(zero_copy_only=False)
        return (out // div if div != 1 else out), ~(valid & ok)
    # some values need the strict parser: do them one by one
    out = np.zeros(len(array), np.int64)
    bad = ~(valid & ok)
    for k, text in enumerate(array.to_pylist()):
        if text is None:
            continue
        ms = parse_rfc3339(text)
        if ms is None:
            bad[k] = True
        else:
            out[k] = ms
    return out, bad


def format_ms(ms: int) -> str:
    """RFC 3339 UTC with milliseconds, e.g. ``2026-01-05T13:00:00.000Z``."""
    days, rem = divmod(int(ms), 86_400_000)
    h, rem = divmod(rem, 3_600_000)
    mi, rem = divmod(rem, 60_000)
    s, frac = divmod(rem, 1000)
    return f"{_date_text(days)}T{h:02d}:{mi:02d}:{s:02d}.{frac:03d}Z"


@functools.lru_cache(maxsize=4096)
def _date_text(days: int) -> str:
    """``YYYY-MM-DD`` of a day count from 1970-01-01 (one violation's times share a few days)."""
    y, mo, d = _civil_from_days(days)
    return f"{y:04d}-{mo:02d}-{d:02d}"


def _civil_from_days(z: int) -> tuple[int, int, int]:
    """Proleptic Gregorian date of a day count from 1970-01-01 (H. Hinnant's algorithm)."""
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + (m <= 2), m, d)
