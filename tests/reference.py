"""The reference evaluator: the checked IR evaluated in plain Python.

This is the project's oracle. It is written straight from the language contract
(``spec/language.md``) and ``docs/semantics.md`` and is deliberately slow and
simple: it walks the events once to find the late ones, then evaluates each
rule directly -- event rules event by event, windowed rules by collecting the
events of every key and window in lists and computing each aggregate from its
list at the end. The compiled engine must agree with it on every input.

Decisions the semantics page does not state, and which this module takes (the
SQL/Flink answer where there is one), are marked ``DECISION`` below.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from tosengine.ir.nodes import (
    AggFunc,
    Aggregate,
    Binary,
    BinaryOp,
    Call,
    Expr,
    FieldRef,
    Func,
    InList,
    IsNull,
    KeyRef,
    LetRef,
    Literal,
    Placeholder,
    PlaceholderKind,
    Program,
    Rule,
    Unary,
    UnaryOp,
)
from tosengine.language.schema import Schema
from tosengine.language.types import Type

try:  # RE2 is what the engine uses; Python's `re` agrees on the common subset.
    import re2 as _regex
except ImportError:  # pragma: no cover - google-re2 is a project dependency
    import re as _regex

__all__ = [
    "ReferenceResult",
    "reference_evaluate",
    "format_timestamp",
    "render_value",
    "wrap64",
]

_INT64_MIN = -(2**63)
_TWO64 = 2**64
_MS_PER_DAY = 86_400_000
_MS_PER_HOUR = 3_600_000


@dataclass(frozen=True)
class ReferenceResult:
    """What :func:`reference_evaluate` returns."""

    violations: list[dict]
    late: list[int]


# --------------------------------------------------------------------------
# Small value helpers
# --------------------------------------------------------------------------


def wrap64(x: int) -> int:
    """``x`` wrapped into a signed 64-bit integer (two's complement)."""
    return (x - _INT64_MIN) % _TWO64 + _INT64_MIN


def _is_int_like(t: Type) -> bool:
    """Types whose values are Python ints that wrap at 64 bits."""
    return t in (Type.INT, Type.TIMESTAMP, Type.DURATION)


def _as_type(v: Any, t: Type) -> Any:
    """``v`` as a value of type ``t``: ints widen to float, NaN is null."""
    if v is None:
        return None
    if t is Type.FLOAT:
        v = float(v)
        return None if math.isnan(v) else v
    return v


def _days_to_civil(days: int) -> tuple[int, int, int]:
    """Proleptic Gregorian (year, month, day) of a day count from 1970-01-01.

    Howard Hinnant's ``civil_from_days``; only used outside datetime's range.
    """
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def format_timestamp(ms: int) -> str:
    """RFC 3339 UTC with milliseconds, e.g. ``2026-01-05T13:00:00.000Z``.

    DECISION: years outside 0000..9999 (which RFC 3339 cannot write) are
    written as ISO 8601 expanded years with a sign (``+10000-...``, ``-0001-...``).
    """
    days, rem = divmod(ms, _MS_PER_DAY)
    hh, rem = divmod(rem, _MS_PER_HOUR)
    mi, rem = divmod(rem, 60_000)
    ss, milli = divmod(rem, 1000)
    try:
        d = (_EPOCH + _dt.timedelta(days=days)).date()
        y, mo, da = d.year, d.month, d.day
    except OverflowError:
        y, mo, da = _days_to_civil(days)
    if 0 <= y <= 9999:
        year = f"{y:04d}"
    else:
        year = f"{y:+05d}"
    return f"{year}-{mo:02d}-{da:02d}T{hh:02d}:{mi:02d}:{ss:02d}.{milli:03d}Z"


def render_value(v: Any, t: Type) -> Any:
    """A value as it appears in a violation's ``values``/``key``/``request_id``."""
    v = _as_type(v, t)
    if v is None:
        return None
    if t is Type.TIMESTAMP:
        return format_timestamp(v)
    return v


def _render_placeholder(v: Any, t: Type, spec: str) -> str:
    v = _as_type(v, t)
    if v is None:
        return "null"
    if spec == "":
        if t is Type.BOOL:
            return "true" if v else "false"
        if t is Type.FLOAT:
            return repr(v)
        if t is Type.TIMESTAMP:
            return format_timestamp(v)
        return str(v)  # int, duration (int ms), string
    if spec == "%":
        return format(v, ".1%")
    # DECISION: a spec applied to a timestamp formats its RFC 3339 text; the
    # checker should only allow specs on numbers, so this never matters.
    if t is Type.TIMESTAMP:
        v = format_timestamp(v)
    return format(v, spec)


# --------------------------------------------------------------------------
# Expressions
# --------------------------------------------------------------------------


class _Ctx:
    """What an expression can see.

    ``event``: the current event (event rules, where, aggregate arguments);
    ``lets``: the let values computed so far; ``key``: the key field values of
    the window (windowed rules); ``window``: the events of the window.
    """

    __slots__ = ("event", "lets", "key", "window")

    def __init__(
        self,
        event: Mapping[str, Any] | None = None,
        lets: dict[str, Any] | None = None,
        key: Mapping[str, Any] | None = None,
        window: list[Mapping[str, Any]] | None = None,
    ) -> None:
        self.event = event
        self.lets = lets if lets is not None else {}
        self.key = key
        self.window = window


_regex_cache: dict[str, Any] = {}


def _search(pattern: str, s: str) -> bool:
    rx = _regex_cache.get(pattern)
    if rx is None:
        rx = _regex_cache[pattern] = _regex.compile(pattern)
    return rx.search(s) is not None


def _and3(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _or3(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def _arith(op: BinaryOp, a: Any, b: Any, lt: Type, rt: Type, result: Type) -> Any:
    """``a op b`` for non-null operands."""
    if op is BinaryOp.DIV:
        fa, fb = float(a), float(b)
        if fb == 0.0:
            return None
        return _as_type(fa / fb, Type.FLOAT)
    if result is Type.FLOAT or lt is Type.FLOAT or rt is Type.FLOAT:
        fa, fb = float(a), float(b)
        if op is BinaryOp.ADD:
            r = fa + fb
        elif op is BinaryOp.SUB:
            r = fa - fb
        elif op is BinaryOp.MUL:
            r = fa * fb
        elif op is BinaryOp.MOD:
            if fb == 0.0:
                return None
            r = fa % fb  # Python float %: the sign of the divisor
        else:  # pragma: no cover
            raise AssertionError(op)
        return _as_type(r, Type.FLOAT)
    # int, timestamp and duration arithmetic: exact, then wrapped to 64 bits
    if op is BinaryOp.ADD:
        return wrap64(a + b)
    if op is BinaryOp.SUB:
        return wrap64(a - b)
    if op is BinaryOp.MUL:
        return wrap64(a * b)
    if op is BinaryOp.MOD:
        if b == 0:
            return None
        return wrap64(a % b)  # floor modulo
    raise AssertionError(op)  # pragma: no cover


def _compare(op: BinaryOp, a: Any, b: Any, lt: Type, rt: Type) -> bool:
    if lt is Type.FLOAT or rt is Type.FLOAT:  # the int widens to float
        a, b = float(a), float(b)
    if op is BinaryOp.EQ:
        return a == b
    if op is BinaryOp.NE:
        return a != b
    if op is BinaryOp.LT:
        return a < b
    if op is BinaryOp.LE:
        return a <= b
    if op is BinaryOp.GT:
        return a > b
    if op is BinaryOp.GE:
        return a >= b
    raise AssertionError(op)  # pragma: no cover


def evaluate_expr(e: Expr, ctx: _Ctx) -> Any:
    """The value of ``e`` (None for null), as a value of ``e.type``."""
    if isinstance(e, Literal):
        return _as_type(e.value, e.type)
    if isinstance(e, FieldRef):
        assert ctx.event is not None, f"field {e.name} outside an event"
        return _as_type(ctx.event.get(e.name), e.type)
    if isinstance(e, KeyRef):
        assert ctx.key is not None, f"key {e.name} outside a window"
        return _as_type(ctx.key[e.name], e.type)
    if isinstance(e, LetRef):
        return _as_type(ctx.lets[e.name], e.type)
    if isinstance(e, Unary):
        v = evaluate_expr(e.operand, ctx)
        if v is None:
            return None
        if e.op is UnaryOp.NOT:
            return not v
        if e.operand.type is Type.FLOAT or e.type is Type.FLOAT:
            return _as_type(-float(v), Type.FLOAT)
        return wrap64(-v)
    if isinstance(e, Binary):
        if e.op is BinaryOp.AND:
            return _and3(evaluate_expr(e.left, ctx), evaluate_expr(e.right, ctx))
        if e.op is BinaryOp.OR:
            return _or3(evaluate_expr(e.left, ctx), evaluate_expr(e.right, ctx))
        a = evaluate_expr(e.left, ctx)
        b = evaluate_expr(e.right, ctx)
        if a is None or b is None:
            return None
        if e.op.is_comparison:
            return _compare(e.op, a, b, e.left.type, e.right.type)
        return _arith(e.op, a, b, e.left.type, e.right.type, e.type)
    if isinstance(e, InList):
        v = evaluate_expr(e.operand, ctx)
        if v is None:
            return None
        values = [_as_type(x, e.operand.type) for x in e.values]
        found = any(v == x for x in values)
        return (not found) if e.negated else found
    if isinstance(e, IsNull):
        v = evaluate_expr(e.operand, ctx)
        return (v is not None) if e.negated else (v is None)
    if isinstance(e, Call):
        return _call(e, ctx)
    if isinstance(e, Aggregate):
        return _aggregate(e, ctx)
    raise TypeError(f"not an expression: {e!r}")  # pragma: no cover


def _call(e: Call, ctx: _Ctx) -> Any:
    f = e.func
    if f is Func.COALESCE:
        x = evaluate_expr(e.args[0], ctx)
        if x is None:
            x = evaluate_expr(e.args[1], ctx)
        return _as_type(x, e.type)
    v = evaluate_expr(e.args[0], ctx)
    if v is None:
        return None
    if f in (Func.STARTSWITH, Func.ENDSWITH, Func.CONTAINS, Func.MATCHES):
        p = evaluate_expr(e.args[1], ctx)
        if p is None:  # never: patterns are literals
            return None
        if f is Func.STARTSWITH:
            return v.startswith(p)
        if f is Func.ENDSWITH:
            return v.endswith(p)
        if f is Func.CONTAINS:
            return p in v
        return _search(p, v)
    if f is Func.LOWER:
        return v.lower()
    if f is Func.LEN:
        return len(v)
    if f is Func.ABS:
        if e.type is Type.FLOAT:
            return abs(float(v))
        return wrap64(abs(v))
    if f is Func.HOUR:
        return (v % _MS_PER_DAY) // _MS_PER_HOUR
    if f is Func.WEEKDAY:
        # 1970-01-01 was a Thursday (3 with Monday = 0)
        return (v // _MS_PER_DAY + 3) % 7
    raise AssertionError(f)  # pragma: no cover


def _aggregate(e: Aggregate, ctx: _Ctx) -> Any:
    assert ctx.window is not None, "aggregate outside a window"
    events = ctx.window
    if e.func is AggFunc.COUNT and e.arg is None:
        return len(events)
    assert e.arg is not None
    arg_type = e.arg.type
    vals = [evaluate_expr(e.arg, _Ctx(event=ev)) for ev in events]
    if e.func is AggFunc.COUNT:
        return sum(1 for v in vals if v is True)
    if e.func is AggFunc.FRACTION:
        return sum(1 for v in vals if v is True) / len(events)
    xs = [v for v in vals if v is not None]
    if e.func is AggFunc.DISTINCT:
        return len(set(xs))  # Python: -0.0 == 0.0, same hash
    if not xs:
        return None
    if e.func is AggFunc.SUM:
        if arg_type is Type.FLOAT:
            acc = 0.0
            for x in xs:
                acc += x
            return _as_type(acc, Type.FLOAT)
        return wrap64(sum(xs))
    if e.func is AggFunc.AVG:
        if arg_type is Type.FLOAT:
            acc = 0.0
            for x in xs:
                acc += x
        else:
            acc = float(wrap64(sum(xs)))
        return _as_type(acc / len(xs), Type.FLOAT)
    if e.func in (AggFunc.MIN, AggFunc.MAX):
        # DECISION: among equal values (only -0.0 and 0.0 can differ) the
        # first in event order wins, as with a running `if x < best` update.
        best = xs[0]
        for x in xs[1:]:
            if (x < best) if e.func is AggFunc.MIN else (x > best):
                best = x
        return best
    if e.func is AggFunc.STDDEV:
        fs = [float(x) for x in xs]
        n = len(fs)
        acc = 0.0
        for x in fs:
            acc += x
        mean = acc / n
        sq = 0.0
        for x in fs:
            sq += (x - mean) * (x - mean)
        var = sq / n
        if math.isnan(var):
            return None
        return _as_type(math.sqrt(var), Type.FLOAT)
    raise AssertionError(e.func)  # pragma: no cover


# --------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------


def _normalise_event(schema: Schema, ev: Mapping[str, object]) -> dict[str, Any]:
    """The event's schema fields, typed; missing and NaN fields are null."""
    out: dict[str, Any] = {}
    for f in schema.fields:
        out[f.name] = _as_type(ev.get(f.name), f.type)
    return out


def _key_value(v: Any, t: Type) -> Any:
    # DECISION: a float key of -0.0 groups with 0.0 (they are equal) and is
    # shown as 0.0, so a key never depends on which event came first.
    if t is Type.FLOAT and v == 0.0:
        return 0.0
    return v


def _key_sort(values: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
    return tuple((v is not None, v if v is not None else 0) for v in values)


def _truthy(v: Any) -> bool:
    """``where``/``when``/``unless``: null is false."""
    return v is True


def _message(rule: Rule, lets: Mapping[str, Any], key: Mapping[str, Any],
             event: Mapping[str, Any] | None) -> str | None:
    if rule.message is None:
        return None
    out: list[str] = []
    for part in rule.message:
        if isinstance(part, str):
            out.append(part)
            continue
        assert isinstance(part, Placeholder)
        if part.kind is PlaceholderKind.LET:
            v = lets[part.name]
        elif part.kind is PlaceholderKind.KEY:
            v = key[part.name]
        else:
            assert event is not None, "field placeholder in a windowed rule"
            v = event.get(part.name)
        out.append(_render_placeholder(v, part.type, part.spec))
    return "".join(out)


def _violation(program: Program, rule: Rule, key_vals: tuple[Any, ...],
               window: tuple[int, int] | None, time: int, lets: Mapping[str, Any],
               message: str | None, n_events: int, first: int, last: int,
               request_id: Any) -> dict:
    types = {f.name: f.type for f in program.schema.fields}
    let_types = {let.name: let.type for let in rule.lets}
    return {
        "rule": rule.name,
        "title": rule.title,
        "clause": rule.clause,
        "severity": rule.severity.value,
        "action": rule.action.value,
        "key": {n: render_value(v, types[n]) for n, v in zip(rule.key, key_vals)},
        "window_start": None if window is None else format_timestamp(window[0]),
        "window_end": None if window is None else format_timestamp(window[1]),
        "time": format_timestamp(time),
        "values": {n: render_value(v, let_types[n]) for n, v in lets.items()},
        "message": message,
        "events": n_events,
        "first_seen": format_timestamp(first),
        "last_seen": format_timestamp(last),
        "request_id": request_id,
    }


class _Cooldown:
    """The time of the last *reported* violation per key."""

    def __init__(self, cooldown_ms: int | None) -> None:
        self.cooldown_ms = cooldown_ms
        self.last: dict[tuple[Any, ...], int] = {}

    def allows(self, key: tuple[Any, ...], t: int) -> bool:
        """Whether a violation at ``t`` is reported (and if so, remember it)."""
        if self.cooldown_ms is not None:
            t0 = self.last.get(key)
            if t0 is not None and t < t0 + self.cooldown_ms:
                return False  # suppressed: does not restart the cooldown
            self.last[key] = t
        return True


def _eval_lets(rule: Rule, ctx: _Ctx) -> dict[str, Any]:
    for let in rule.lets:
        ctx.lets[let.name] = _as_type(evaluate_expr(let.expr, ctx), let.type)
    return ctx.lets


def _event_rule(program: Program, idx: int, rule: Rule, events: list[dict[str, Any]],
                out: list[tuple[tuple, dict]]) -> None:
    tf = program.schema.time_field
    has_request_id = "request_id" in program.schema
    rid_type = program.schema.get("request_id").type if has_request_id else None
    types = {f.name: f.type for f in program.schema.fields}
    cooldown = _Cooldown(rule.cooldown_ms)
    for ev in events:
        if rule.where is not None and not _truthy(evaluate_expr(rule.where, _Ctx(event=ev))):
            continue
        ctx = _Ctx(event=ev)
        lets = _eval_lets(rule, ctx)
        if not _truthy(evaluate_expr(rule.when, ctx)):
            continue
        if rule.unless is not None and _truthy(evaluate_expr(rule.unless, ctx)):
            continue
        key_vals = tuple(_key_value(ev[n], types[n]) for n in rule.key)
        t = ev[tf]
        if not cooldown.allows(key_vals, t):
            continue
        key_map = dict(zip(rule.key, key_vals))
        rid = render_value(ev.get("request_id"), rid_type) if has_request_id else None
        v = _violation(program, rule, key_vals, None, t, lets,
                       _message(rule, lets, key_map, ev), 1, t, t, rid)
        out.append(((t, idx, _key_sort(key_vals)), v))


def _windows_of(t: int, length: int, step: int) -> range:
    """The starts ``k*step`` of every window ``[k*step, k*step+length)`` holding ``t``."""
    last_k = t // step  # floor division: right for negative times
    first_k = (t - length) // step + 1
    return range(first_k * step, last_k * step + 1, step)


def _windowed_rule(program: Program, idx: int, rule: Rule, events: list[dict[str, Any]],
                   out: list[tuple[tuple, dict]]) -> None:
    assert rule.window is not None
    tf = program.schema.time_field
    types = {f.name: f.type for f in program.schema.fields}
    length, step = rule.window.length_ms, rule.window.step_ms
    # key values -> window start -> the events (in input order) that passed where
    groups: dict[tuple[Any, ...], dict[int, list[dict[str, Any]]]] = {}
    for ev in events:
        if rule.where is not None and not _truthy(evaluate_expr(rule.where, _Ctx(event=ev))):
            continue
        key_vals = tuple(_key_value(ev[n], types[n]) for n in rule.key)
        per_key = groups.setdefault(key_vals, {})
        for start in _windows_of(ev[tf], length, step):
            per_key.setdefault(start, []).append(ev)
    for key_vals, windows in groups.items():
        cooldown = _Cooldown(rule.cooldown_ms)
        key_map = dict(zip(rule.key, key_vals))
        for start in sorted(windows):
            win = windows[start]
            end = start + length
            ctx = _Ctx(key=key_map, window=win)
            lets = _eval_lets(rule, ctx)
            if not _truthy(evaluate_expr(rule.when, ctx)):
                continue
            if rule.unless is not None and _truthy(evaluate_expr(rule.unless, ctx)):
                continue
            if not cooldown.allows(key_vals, end):
                continue
            times = [ev[tf] for ev in win]
            v = _violation(program, rule, key_vals, (start, end), end, lets,
                           _message(rule, lets, key_map, None), len(win),
                           min(times), max(times), None)
            out.append(((end, idx, _key_sort(key_vals)), v))


def reference_evaluate(
    program: Program,
    events: Sequence[Mapping[str, object]],
    allowed_lateness_ms: int = 0,
) -> ReferenceResult:
    """Evaluate ``program`` over ``events`` (in order) as the contract says.

    ``events`` are already normalised: the time field is int epoch ms, other
    fields are Python values or absent/None. Returns every violation, sorted by
    (time, rule order, key with nulls first), and the indices of the late events.
    """
    schema = program.schema
    tf = schema.time_field
    late: list[int] = []
    accepted: list[dict[str, Any]] = []
    max_time: int | None = None
    for i, raw in enumerate(events):
        t = raw.get(tf)
        if isinstance(t, bool) or not isinstance(t, int):
            raise ValueError(f"event {i}: time field {tf!r} must be int ms, got {t!r}")
        # the watermark as it stood before this event; -inf before the first
        if max_time is not None and t < max_time - allowed_lateness_ms:
            late.append(i)
            continue
        max_time = t if max_time is None else max(max_time, t)
        accepted.append(_normalise_event(schema, raw))

    out: list[tuple[tuple, dict]] = []
    for idx, rule in enumerate(program.rules):
        if rule.is_windowed:
            _windowed_rule(program, idx, rule, accepted, out)
        else:
            _event_rule(program, idx, rule, accepted, out)
    out.sort(key=lambda kv: kv[0])  # stable: ties keep input order
    return ReferenceResult(violations=[v for _, v in out], late=late)
