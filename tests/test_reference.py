"""Unit tests of the reference evaluator against hand-computed answers.

Every expected value below was worked out by hand from the language contract
and docs/semantics.md (the working is in the comments); none was obtained by
running the reference. The IR is built by hand with the dataclasses.
"""

from __future__ import annotations

import math

import pytest

from tests.reference import ReferenceResult, format_timestamp, reference_evaluate, wrap64
from tosengine.ir.nodes import (
    Action,
    AggFunc,
    Aggregate,
    Binary,
    BinaryOp,
    Call,
    FieldRef,
    Func,
    InList,
    IsNull,
    KeyRef,
    Let,
    LetRef,
    Literal,
    Placeholder,
    PlaceholderKind,
    Program,
    Rule,
    Severity,
    Unary,
    UnaryOp,
    Window,
)
from tosengine.language.schema import Field, Schema
from tosengine.language.types import Type

INT, FLOAT, BOOL, STRING, TS, DUR = (
    Type.INT, Type.FLOAT, Type.BOOL, Type.STRING, Type.TIMESTAMP, Type.DURATION,
)

S = Schema(
    (
        Field("ts", TS, is_time=True),
        Field("request_id", STRING),
        Field("org", STRING),
        Field("user", STRING),
        Field("endpoint", STRING),
        Field("n", INT),
        Field("x", FLOAT),
        Field("flag", BOOL),
        Field("t2", TS),
    )
)
# a schema without request_id
S_NO_RID = Schema((Field("ts", TS, is_time=True), Field("org", STRING), Field("n", INT)))


# ---------------------------------------------------------------- builders


def f(name: str, schema: Schema = S) -> FieldRef:
    fld = schema.get(name)
    assert fld is not None
    return FieldRef(name, fld.type)


def k(name: str, schema: Schema = S) -> KeyRef:
    fld = schema.get(name)
    assert fld is not None
    return KeyRef(name, fld.type)


def lit(v, t: Type | None = None) -> Literal:
    if t is None:
        t = {bool: BOOL, int: INT, float: FLOAT, str: STRING}[type(v)]
    return Literal(v, t)


def dur(ms: int) -> Literal:
    return Literal(ms, DUR)


def _arith_type(op: BinaryOp, lt: Type, rt: Type) -> Type:
    if op is BinaryOp.DIV:
        return FLOAT
    if lt is TS and rt is TS:
        return DUR
    if TS in (lt, rt):
        return TS
    if lt is DUR and rt is DUR:
        return DUR
    if FLOAT in (lt, rt):
        return FLOAT
    return INT


def b(op: str, left, right) -> Binary:
    o = BinaryOp(op)
    if o.is_comparison or o.is_logical:
        t = BOOL
    else:
        t = _arith_type(o, left.type, right.type)
    return Binary(o, left, right, t)


def neg(x) -> Unary:
    return Unary(UnaryOp.NEG, x, x.type)


def not_(x) -> Unary:
    return Unary(UnaryOp.NOT, x, BOOL)


def call(func: str, *args, t: Type | None = None) -> Call:
    fn = Func(func)
    if t is None:
        t = {
            Func.STARTSWITH: BOOL, Func.ENDSWITH: BOOL, Func.CONTAINS: BOOL,
            Func.MATCHES: BOOL, Func.LOWER: STRING, Func.LEN: INT, Func.HOUR: INT,
            Func.WEEKDAY: INT,
        }.get(fn)
        if t is None:  # abs, coalesce
            t = FLOAT if any(a.type is FLOAT for a in args) else args[0].type
    return Call(fn, tuple(args), t)


def agg(func: str, arg=None) -> Aggregate:
    fn = AggFunc(func)
    if fn in (AggFunc.COUNT, AggFunc.DISTINCT):
        t = INT
    elif fn in (AggFunc.AVG, AggFunc.STDDEV, AggFunc.FRACTION):
        t = FLOAT
    else:
        t = arg.type
    return Aggregate(fn, arg, t)


def count() -> Aggregate:
    return Aggregate(AggFunc.COUNT, None, INT)


def let(name: str, expr) -> Let:
    return Let(name, expr, expr.type)


def lref(lt: Let) -> LetRef:
    return LetRef(lt.name, lt.type)


def ph(name: str, kind: str, t: Type, spec: str = "") -> Placeholder:
    return Placeholder(name, PlaceholderKind(kind), t, spec)


TRUE = lit(True)


def rule(name: str = "r", when=TRUE, *, window: tuple[int, int] | None = None,
         key: tuple[str, ...] = (), where=None, lets=(), unless=None,
         cooldown: int | None = None, message=None, title: str = "T",
         clause: str | None = "C 1", severity=Severity.MEDIUM,
         action=Action.REVIEW) -> Rule:
    return Rule(
        name=name, title=title, clause=clause, quote=None, severity=severity,
        action=action, tags=(), key=key,
        window=None if window is None else Window(*window), where=where,
        lets=tuple(lets), when=when, unless=unless, cooldown_ms=cooldown,
        message=None if message is None else tuple(message),
    )


def prog(*rules: Rule, schema: Schema = S) -> Program:
    return Program(schema, tuple(rules))


def ev(ts: int, **fields) -> dict:
    return {"ts": ts, **fields}


T = format_timestamp


def run(program: Program, events, lateness: int = 0) -> ReferenceResult:
    return reference_evaluate(program, events, allowed_lateness_ms=lateness)


def only_values(res: ReferenceResult) -> dict:
    assert len(res.violations) == 1, res.violations
    return res.violations[0]["values"]


def event_values(*lets_: Let, event: dict, schema: Schema = S) -> dict:
    """The let values of an always-firing event rule on one event."""
    res = run(prog(rule(lets=lets_), schema=schema), [event])
    return only_values(res)


def window_values(*lets_: Let, events, key=("org",), window=(1000, 1000)) -> dict:
    """The let values of an always-firing windowed rule whose events share one window."""
    res = run(prog(rule(lets=lets_, key=key, window=window)), events)
    return only_values(res)


# ---------------------------------------------------------------- timestamps


def test_format_timestamp_hand_values():
    # 0 ms is the epoch; -1 ms is the last millisecond of 1969;
    # 2026-01-05T13:00Z = 20458 days * 86400000 + 13 * 3600000 = 1767618000000
    assert T(0) == "1970-01-01T00:00:00.000Z"
    assert T(-1) == "1969-12-31T23:59:59.999Z"
    assert T(1_767_618_000_000) == "2026-01-05T13:00:00.000Z"
    assert T(1_767_618_000_000 + 61_234) == "2026-01-05T13:01:01.234Z"
    # 2000-02-29 (leap day): 11016 days -> 951782400000
    assert T(951_782_400_000) == "2000-02-29T00:00:00.000Z"


def test_wrap64():
    assert wrap64(2**63) == -(2**63)
    assert wrap64(-(2**63) - 1) == 2**63 - 1
    assert wrap64(2**64) == 0
    assert wrap64(5) == 5


# ---------------------------------------------------------------- windows


def test_tumbling_window_epoch_aligned_full_violation():
    # window 10ms, per org, when count() >= 2.
    # events at 3, 9 -> [0,10) holds 2; 10, 19 -> [10,20) holds 2; 25 -> [20,30) holds 1.
    # violations at ends 10 and 20; the [20,30) window has only one event.
    r = rule("burst", b(">=", count(), lit(2)), window=(10, 10), key=("org",),
             lets=[let("c", count())], message=["{", ph("c", "let", INT), "} in ",
                                                ph("org", "key", STRING)],
             title="Too many", clause="Terms 1(a)", severity=Severity.HIGH,
             action=Action.THROTTLE)
    events = [ev(3, org="a"), ev(9, org="a"), ev(10, org="a"), ev(19, org="a"), ev(25, org="a")]
    res = run(prog(r), events)
    assert res.late == []
    assert res.violations == [
        {
            "rule": "burst", "title": "Too many", "clause": "Terms 1(a)",
            "severity": "high", "action": "throttle", "key": {"org": "a"},
            "window_start": "1970-01-01T00:00:00.000Z",
            "window_end": "1970-01-01T00:00:00.010Z",
            "time": "1970-01-01T00:00:00.010Z",
            "values": {"c": 2}, "message": "{2} in a",
            "events": 2,
            "first_seen": "1970-01-01T00:00:00.003Z",
            "last_seen": "1970-01-01T00:00:00.009Z",
            "request_id": None,
        },
        {
            "rule": "burst", "title": "Too many", "clause": "Terms 1(a)",
            "severity": "high", "action": "throttle", "key": {"org": "a"},
            "window_start": "1970-01-01T00:00:00.010Z",
            "window_end": "1970-01-01T00:00:00.020Z",
            "time": "1970-01-01T00:00:00.020Z",
            "values": {"c": 2}, "message": "{2} in a",
            "events": 2,
            "first_seen": "1970-01-01T00:00:00.010Z",
            "last_seen": "1970-01-01T00:00:00.019Z",
            "request_id": None,
        },
    ]


def test_sliding_window_event_in_length_over_step_windows():
    # window 20 every 10. Window k = [10k, 10k+20).
    # 5  -> k=-1 [-10,10), k=0 [0,20)
    # 15 -> k=0 [0,20),   k=1 [10,30)
    # 25 -> k=1 [10,30),  k=2 [20,40)
    # counts: [-10,10):1  [0,20):2  [10,30):2  [20,40):1
    r = rule(when=TRUE, window=(20, 10), key=("org",), lets=[let("c", count())])
    res = run(prog(r), [ev(5, org="a"), ev(15, org="a"), ev(25, org="a")])
    got = [(v["window_start"], v["window_end"], v["events"], v["values"]["c"],
            v["first_seen"], v["last_seen"]) for v in res.violations]
    assert got == [
        ("1969-12-31T23:59:59.990Z", "1970-01-01T00:00:00.010Z", 1, 1,
         "1970-01-01T00:00:00.005Z", "1970-01-01T00:00:00.005Z"),
        ("1970-01-01T00:00:00.000Z", "1970-01-01T00:00:00.020Z", 2, 2,
         "1970-01-01T00:00:00.005Z", "1970-01-01T00:00:00.015Z"),
        ("1970-01-01T00:00:00.010Z", "1970-01-01T00:00:00.030Z", 2, 2,
         "1970-01-01T00:00:00.015Z", "1970-01-01T00:00:00.025Z"),
        ("1970-01-01T00:00:00.020Z", "1970-01-01T00:00:00.040Z", 1, 1,
         "1970-01-01T00:00:00.025Z", "1970-01-01T00:00:00.025Z"),
    ]


def test_sliding_window_four_panes_boundary_event():
    # window 40 every 10: the event at exactly 20 is in k = -1, 0, 1, 2
    # ([-10,30), [0,40), [10,50), [20,60)); it is not in [-20,20) (end exclusive).
    r = rule(window=(40, 10), key=("org",))
    res = run(prog(r), [ev(20, org="a")])
    assert [(v["window_start"], v["window_end"]) for v in res.violations] == [
        (T(-10), T(30)), (T(0), T(40)), (T(10), T(50)), (T(20), T(60)),
    ]


def test_event_exactly_on_boundary_starts_new_window():
    # tumbling 10: 9 is in [0,10); 10 is in [10,20) -- not in [0,10).
    r = rule(window=(10, 10), key=("org",), lets=[let("c", count())])
    res = run(prog(r), [ev(9, org="a"), ev(10, org="a")])
    assert [(v["window_start"], v["events"]) for v in res.violations] == [
        (T(0), 1), (T(10), 1),
    ]


def test_negative_times_windows_floor_division():
    # tumbling 1000: -1500 in [-2000,-1000); -1000 and -1 in [-1000,0).
    r = rule(window=(1000, 1000), key=("org",), lets=[let("c", count())])
    res = run(prog(r), [ev(-1500, org="a"), ev(-1000, org="a"), ev(-1, org="a")])
    assert [(v["window_start"], v["window_end"], v["values"]["c"]) for v in res.violations] == [
        ("1969-12-31T23:59:58.000Z", "1969-12-31T23:59:59.000Z", 1),
        ("1969-12-31T23:59:59.000Z", "1970-01-01T00:00:00.000Z", 2),
    ]
    assert res.violations[1]["first_seen"] == "1969-12-31T23:59:59.000Z"
    assert res.violations[1]["last_seen"] == "1969-12-31T23:59:59.999Z"


# ---------------------------------------------------------------- aggregates


def test_count_expr_and_fraction_with_nulls():
    # flag: True, None, False, True, (missing) -> count(flag) = 2 (null is not true),
    # count() = 5, fraction(flag) = 2/5 = 0.4, count(not flag) = 1 (not null = null)
    evs = [ev(1, org="a", flag=True), ev(2, org="a", flag=None), ev(3, org="a", flag=False),
           ev(4, org="a", flag=True), ev(5, org="a")]
    vals = window_values(
        let("c", count()), let("ct", agg("count", f("flag"))),
        let("fr", agg("fraction", f("flag"))), let("cn", agg("count", not_(f("flag")))),
        events=evs,
    )
    assert vals == {"c": 5, "ct": 2, "fr": 0.4, "cn": 1}


def test_sum_avg_min_max_skip_nulls():
    # n: 3, None, 5, -2, (missing) -> non-null 3, 5, -2
    # sum = 6, avg = 6/3 = 2.0, min = -2, max = 5, count() = 5
    evs = [ev(1, org="a", n=3), ev(2, org="a", n=None), ev(3, org="a", n=5),
           ev(4, org="a", n=-2), ev(5, org="a")]
    vals = window_values(
        let("s", agg("sum", f("n"))), let("a", agg("avg", f("n"))),
        let("lo", agg("min", f("n"))), let("hi", agg("max", f("n"))),
        let("c", count()), events=evs,
    )
    assert vals == {"s": 6, "a": 2.0, "lo": -2, "hi": 5, "c": 5}
    assert type(vals["s"]) is int and type(vals["a"]) is float


def test_aggregates_of_all_null_input():
    # every n and x is null: sum/avg/min/max/stddev null, distinct 0, count(flag) 0,
    # count() still counts the 2 events.
    evs = [ev(1, org="a"), ev(2, org="a", n=None, x=None, flag=None)]
    vals = window_values(
        let("s", agg("sum", f("n"))), let("a", agg("avg", f("x"))),
        let("lo", agg("min", f("x"))), let("hi", agg("max", f("n"))),
        let("sd", agg("stddev", f("n"))), let("d", agg("distinct", f("n"))),
        let("cf", agg("count", f("flag"))), let("fr", agg("fraction", f("flag"))),
        let("c", count()), events=evs,
    )
    assert vals == {"s": None, "a": None, "lo": None, "hi": None, "sd": None, "d": 0,
                    "cf": 0, "fr": 0.0, "c": 2}


def test_stddev_population():
    # 2,4,4,4,5,5,7,9: mean 5; squared deviations 9,1,1,1,0,0,4,16 = 32; 32/8 = 4; sqrt 2.0
    evs = [ev(i, org="a", n=v) for i, v in enumerate([2, 4, 4, 4, 5, 5, 7, 9])]
    evs.append(ev(20, org="a"))  # a null is skipped
    assert window_values(let("sd", agg("stddev", f("n"))), events=evs) == {"sd": 2.0}
    # one value: 0.0 (divides by n = 1)
    assert window_values(let("sd", agg("stddev", f("x"))),
                         events=[ev(1, org="a", x=3.5)]) == {"sd": 0.0}
    # floats 1.0, 3.0: mean 2; deviations 1, 1; var 1; stddev 1.0
    assert window_values(let("sd", agg("stddev", f("x"))),
                         events=[ev(1, org="a", x=1.0), ev(2, org="a", x=3.0)]) == {"sd": 1.0}


def test_distinct_negative_zero_equals_zero_and_skips_nulls():
    # x: 0.0, -0.0, 1.5, None, 1.5 -> {0.0, 1.5} -> 2
    # org is the key (all "a") -> distinct(org) = 1; user: u1, u2, None, u1, u3 -> 3
    evs = [ev(1, org="a", x=0.0, user="u1"), ev(2, org="a", x=-0.0, user="u2"),
           ev(3, org="a", x=1.5), ev(4, org="a", x=None, user="u1"),
           ev(5, org="a", x=1.5, user="u3")]
    vals = window_values(let("dx", agg("distinct", f("x"))), let("do", agg("distinct", f("org"))),
                         let("du", agg("distinct", f("user"))), events=evs)
    assert vals == {"dx": 2, "do": 1, "du": 3}


def test_float_sum_and_avg():
    # x: 0.25, 0.5, None, 2 (an int in a float field widens) -> sum 2.75, avg 2.75/3
    evs = [ev(1, org="a", x=0.25), ev(2, org="a", x=0.5), ev(3, org="a"), ev(4, org="a", x=2)]
    vals = window_values(let("s", agg("sum", f("x"))), let("a", agg("avg", f("x"))), events=evs)
    assert vals == {"s": 2.75, "a": 2.75 / 3}
    assert type(vals["s"]) is float


def test_min_max_of_timestamps_and_sum_of_durations():
    # t2 for events at ts 100, 200, 300: 90, None, 250.
    # min(t2) = 90, max(t2) = 250 (timestamps, rendered RFC 3339)
    # sum(ts - t2) = (100-90) + null + (300-250) = 10 + 50 = 60 ms (a duration, int ms)
    # min(ts - t2) = 10
    evs = [ev(100, org="a", t2=90), ev(200, org="a"), ev(300, org="a", t2=250)]
    diff = b("-", f("ts"), f("t2"))
    assert diff.type is DUR
    vals = window_values(let("lo", agg("min", f("t2"))), let("hi", agg("max", f("t2"))),
                         let("sd", agg("sum", diff)), let("md", agg("min", diff)), events=evs)
    assert vals == {"lo": "1970-01-01T00:00:00.090Z", "hi": "1970-01-01T00:00:00.250Z",
                    "sd": 60, "md": 10}


def test_int_sum_wraps_at_64_bits():
    # 2**62 + 2**62 = 2**63 -> wraps to -2**63; avg = -2**63 / 2 as float = -2**62
    evs = [ev(1, org="a", n=2**62), ev(2, org="a", n=2**62)]
    vals = window_values(let("s", agg("sum", f("n"))), let("a", agg("avg", f("n"))), events=evs)
    assert vals == {"s": -(2**63), "a": float(-(2**62))}


def test_int_arithmetic_wraps_at_64_bits():
    # n = 2**32: n * n = 2**64 -> 0; (2**63 - 1) + 1 -> -2**63; -(-2**63) -> -2**63
    vals = event_values(let("sq", b("*", f("n"), f("n"))), event=ev(0, n=2**32))
    assert vals == {"sq": 0}
    vals = event_values(let("p", b("+", f("n"), lit(1))), let("m", neg(b("-", f("n"), lit(2**63 - 1)))),
                        event=ev(0, n=2**63 - 1))
    # m = -((2**63-1) - (2**63-1)) = 0
    assert vals == {"p": -(2**63), "m": 0}
    vals = event_values(let("m", neg(f("n"))), let("a", call("abs", f("n"))),
                        event=ev(0, n=-(2**63)))
    assert vals == {"m": -(2**63), "a": -(2**63)}


def test_where_filters_before_aggregation():
    # where endpoint == "chat": events 1 (chat), 2 (embed), 3 (null endpoint -> where null -> out),
    # 4 (chat) -> count 2, first_seen 1, last_seen 4. Key "b" has only an embed event:
    # no window exists for it, so no violation.
    r = rule(window=(10, 10), key=("org",), where=b("==", f("endpoint"), lit("chat")),
             lets=[let("c", count())])
    evs = [ev(1, org="a", endpoint="chat"), ev(2, org="a", endpoint="embed"), ev(3, org="a"),
           ev(4, org="a", endpoint="chat"), ev(5, org="b", endpoint="embed")]
    res = run(prog(r), evs)
    assert [(v["key"], v["values"], v["events"], v["first_seen"], v["last_seen"])
            for v in res.violations] == [({"org": "a"}, {"c": 2}, 2, T(1), T(4))]


# ---------------------------------------------------------------- logic, null, arithmetic


def test_three_valued_logic():
    # flag null: null and false = false; null or true = true; not null = null;
    # null and true = null; null or false = null
    flag = f("flag")
    vals = event_values(
        let("a", b("and", flag, lit(False))), let("o", b("or", flag, TRUE)),
        let("n", not_(flag)), let("at", b("and", flag, TRUE)), let("of", b("or", flag, lit(False))),
        let("ft", b("and", lit(False), flag)), let("tn", b("or", TRUE, flag)),
        event=ev(0, flag=None),
    )
    assert vals == {"a": False, "o": True, "n": None, "at": None, "of": None,
                    "ft": False, "tn": True}


def test_when_null_is_false_unless_null_exempts_nothing():
    # event 0: flag null -> when null -> no violation
    # event 1: flag true, n null -> when true, unless (n > 1) null -> reported
    # event 2: flag true, n 5 -> unless true -> exempt
    # event 3: flag true, n 0 -> unless false -> reported
    r = rule(when=f("flag"), unless=b(">", f("n"), lit(1)))
    res = run(prog(r), [ev(0), ev(1, flag=True), ev(2, flag=True, n=5), ev(3, flag=True, n=0)])
    assert [v["time"] for v in res.violations] == [T(1), T(3)]
    # `not flag` with flag null is still null -> no violation
    res = run(prog(rule(when=not_(f("flag")))), [ev(0), ev(1, flag=False)])
    assert [v["time"] for v in res.violations] == [T(1)]


def test_division():
    # 7 / 2 = 3.5 (int / int is float); n / 0 -> null; 0 / 0 -> null; x / 0.0 -> null;
    # x / -0.0 -> null; 1 / x with x = 4.0 -> 0.25
    vals = event_values(
        let("h", b("/", f("n"), lit(2))), let("z", b("/", f("n"), lit(0))),
        let("zz", b("/", b("-", f("n"), f("n")), lit(0))), let("fz", b("/", f("x"), lit(0.0))),
        let("fnz", b("/", f("x"), lit(-0.0))), let("q", b("/", lit(1), f("x"))),
        event=ev(0, n=7, x=4.0),
    )
    assert vals == {"h": 3.5, "z": None, "zz": None, "fz": None, "fnz": None, "q": 0.25}


def test_floor_modulo():
    # -7 % 3 = 2; 7 % -3 = -2; 7 % 0 -> null; 5.5 % 2.0 = 1.5; -5.5 % 2 = 0.5 (int widens)
    vals = event_values(
        let("a", b("%", neg(f("n")), lit(3))), let("b_", b("%", f("n"), lit(-3))),
        let("z", b("%", f("n"), lit(0))), let("fm", b("%", f("x"), lit(2.0))),
        let("fn", b("%", neg(f("x")), lit(2))),
        event=ev(0, n=7, x=5.5),
    )
    assert vals == {"a": 2, "b_": -2, "z": None, "fm": 1.5, "fn": 0.5}


def test_null_propagation_comparison_in_list_is_null():
    # n null: n + 1 null, n > 1 null, n == n null, n in [1,2] null, n not in [1,2] null,
    # n is null true, n is not null false; s present: "a" in ["a","b"] true, not in -> false
    n = f("n")
    vals = event_values(
        let("p", b("+", n, lit(1))), let("gt", b(">", n, lit(1))), let("eq", b("==", n, n)),
        let("inl", InList(n, (1, 2), False)), let("nin", InList(n, (1, 2), True)),
        let("isn", IsNull(n, False)), let("isnn", IsNull(n, True)),
        let("sin", InList(f("org"), ("a", "b"), False)),
        let("snin", InList(f("org"), ("a", "b"), True)),
        let("xin", InList(f("x"), (1.0, 2.5), False)),
        event=ev(0, org="a", x=1),
    )
    assert vals == {"p": None, "gt": None, "eq": None, "inl": None, "nin": None,
                    "isn": True, "isnn": False, "sin": True, "snin": False, "xin": True}


def test_int_float_widening_and_nan_is_null():
    # n = 2, x = 2.0: n == x true; n + x = 4.0 (float); n * 0.5 = 1.0
    vals = event_values(let("eq", b("==", f("n"), f("x"))), let("s", b("+", f("n"), f("x"))),
                        let("m", b("*", f("n"), lit(0.5))), event=ev(0, n=2, x=2.0))
    assert vals == {"eq": True, "s": 4.0, "m": 1.0}
    assert type(vals["s"]) is float
    # a NaN field is null; inf - inf is NaN, hence null; inf itself stays inf
    vals = event_values(let("isn", IsNull(f("x"), False)), event=ev(0, x=float("nan")))
    assert vals == {"isn": True}
    vals = event_values(let("d", b("-", f("x"), f("x"))), let("i", b("+", f("x"), lit(1.0))),
                        event=ev(0, x=math.inf))
    assert vals == {"d": None, "i": math.inf}


def test_string_functions():
    # s = "Hello, World": startswith "Hell" true; endswith "world" false (case);
    # contains ", " true; matches "W.r" true (search, not full match);
    # matches "^World" false (anchored); lower "hello, world"; len 12.
    # "ÄBç" lower -> "äbç", len 3 (code points). null -> null everywhere.
    s = f("user")
    lets_ = [
        let("sw", call("startswith", s, lit("Hell"))), let("ew", call("endswith", s, lit("world"))),
        let("ct", call("contains", s, lit(", "))), let("m1", call("matches", s, lit("W.r"))),
        let("m2", call("matches", s, lit("^World"))), let("lo", call("lower", s)),
        let("ln", call("len", s)),
    ]
    assert event_values(*lets_, event=ev(0, user="Hello, World")) == {
        "sw": True, "ew": False, "ct": True, "m1": True, "m2": False,
        "lo": "hello, world", "ln": 12}
    assert event_values(*lets_, event=ev(0, user="ÄBç")) == {
        "sw": False, "ew": False, "ct": False, "m1": False, "m2": False, "lo": "äbç", "ln": 3}
    assert event_values(*lets_, event=ev(0)) == {k_: None for k_ in
                                                  ["sw", "ew", "ct", "m1", "m2", "lo", "ln"]}


def test_abs_hour_weekday_coalesce():
    # ts = 1767618000000 = 2026-01-05T13:00Z, a Monday -> hour 13, weekday 0
    # ts = -1 = 1969-12-31T23:59:59.999Z, a Wednesday -> hour 23, weekday 2
    # ts = 0 = 1970-01-01, a Thursday -> hour 0, weekday 3
    # abs(-3) = 3, abs(-2.5) = 2.5; coalesce(n, 7) with n null -> 7; coalesce(n, x) -> float
    lets_ = [let("h", call("hour", f("ts"))), let("w", call("weekday", f("ts")))]
    assert event_values(*lets_, event=ev(1_767_618_000_000)) == {"h": 13, "w": 0}
    assert event_values(*lets_, event=ev(-1)) == {"h": 23, "w": 2}
    assert event_values(*lets_, event=ev(0)) == {"h": 0, "w": 3}
    vals = event_values(
        let("an", call("abs", f("n"))), let("ax", call("abs", f("x"))),
        let("c1", call("coalesce", f("user"), lit("anon"))),
        let("c2", call("coalesce", f("n"), lit(7))),
        let("c3", call("coalesce", f("n"), f("x"))),
        event=ev(0, n=None, x=-2.5),
    )
    assert vals == {"an": None, "ax": 2.5, "c1": "anon", "c2": 7, "c3": -2.5}
    vals = event_values(let("an", call("abs", f("n"))), let("c3", call("coalesce", f("n"), f("x"))),
                        event=ev(0, n=-3, x=1.0))
    assert vals == {"an": 3, "c3": -3.0}
    assert type(vals["c3"]) is float


def test_timestamp_and_duration_arithmetic():
    # ts = 1000, t2 = 400: ts - t2 = 600 ms (duration); ts + 5000ms = 6000 -> timestamp;
    # t2 - 500ms = -100 -> 1969-12-31T23:59:59.900Z; -(ts - t2) = -600;
    # ts - t2 > 500ms true; abs(t2 - ts) = 600
    d = b("-", f("ts"), f("t2"))
    vals = event_values(
        let("d", d), let("later", b("+", f("ts"), dur(5000))), let("early", b("-", f("t2"), dur(500))),
        let("nd", neg(d)), let("big", b(">", d, dur(500))),
        let("ad", call("abs", b("-", f("t2"), f("ts")))),
        event=ev(1000, t2=400),
    )
    assert vals == {"d": 600, "later": "1970-01-01T00:00:06.000Z",
                    "early": "1969-12-31T23:59:59.900Z", "nd": -600, "big": True, "ad": 600}


def test_let_chain_in_windowed_rule_with_key_ref():
    # 3 events of org "a" in [0,10): c = 3; dbl = c * 2 = 6; hot = dbl > 5 = true;
    # ratio = c / 4 = 0.75; isa = org == "a" (key ref) true. when hot -> violation.
    c = let("c", count())
    dbl = let("dbl", b("*", lref(c), lit(2)))
    hot = let("hot", b(">", lref(dbl), lit(5)))
    ratio = let("ratio", b("/", lref(c), lit(4)))
    isa = let("isa", b("==", k("org"), lit("a")))
    r = rule(when=lref(hot), window=(10, 10), key=("org",), lets=[c, dbl, hot, ratio, isa])
    res = run(prog(r), [ev(1, org="a"), ev(2, org="a"), ev(3, org="a"), ev(4, org="b")])
    # org b: c = 1, dbl = 2, hot false -> no violation
    assert [v["values"] for v in res.violations] == [
        {"c": 3, "dbl": 6, "hot": True, "ratio": 0.75, "isa": True}]


def test_windowed_unless_on_key():
    # unless org in ["partner"]: both keys have 1 event in [0,10); only "acme" is reported
    r = rule(window=(10, 10), key=("org",), unless=InList(k("org"), ("partner",), False))
    res = run(prog(r), [ev(1, org="partner"), ev(2, org="acme")])
    assert [v["key"] for v in res.violations] == [{"org": "acme"}]


# ---------------------------------------------------------------- cooldown


def test_cooldown_windowed_suppressed_do_not_restart():
    # tumbling 10, cooldown 25; one event per window -> candidate ends 10,20,30,40,50.
    # 10 reported (t0=10); 20 < 35 suppressed; 30 < 35 suppressed; 40 >= 35 reported (t0=40);
    # 50 < 65 suppressed. (Were suppressed ones restarting the cooldown, 40 would be
    # suppressed too.)
    r = rule(window=(10, 10), key=("org",), cooldown=25)
    res = run(prog(r), [ev(t, org="a") for t in (1, 11, 21, 31, 41)])
    assert [v["time"] for v in res.violations] == [T(10), T(40)]


def test_cooldown_windowed_per_key_sliding():
    # window 20 every 10, cooldown 20, events of "a" at 5 and 15, of "b" at 15.
    # a: windows [-10,10) end 10, [0,20) end 20, [10,30) end 30 -> 10 reported,
    #    20 < 30 suppressed, 30 >= 30 reported.
    # b: windows [0,20) end 20, [10,30) end 30 -> 20 reported, 30 < 40 suppressed.
    r = rule(window=(20, 10), key=("org",), cooldown=20)
    res = run(prog(r), [ev(5, org="a"), ev(15, org="a"), ev(15, org="b")])
    assert [(v["time"], v["key"]["org"]) for v in res.violations] == [
        (T(10), "a"), (T(20), "b"), (T(30), "a")]


def test_cooldown_event_rule_per_key_input_order():
    # cooldown 10, per org. a at 0 reported; a at 5 suppressed; b at 6 reported;
    # a at 10 reported (10 >= 0 + 10); a at 12 suppressed; a at 19 suppressed
    # (19 < 20; suppressed ones do not restart); a at 20 reported.
    r = rule(key=("org",), cooldown=10)
    evs = [ev(0, org="a"), ev(5, org="a"), ev(6, org="b"), ev(10, org="a"), ev(12, org="a"),
           ev(19, org="a"), ev(20, org="a")]
    res = run(prog(r), evs)
    assert [(v["time"], v["key"]) for v in res.violations] == [
        (T(0), {"org": "a"}), (T(6), {"org": "b"}), (T(10), {"org": "a"}), (T(20), {"org": "a"})]


def test_cooldown_event_rule_without_per_shares_one_key():
    # cooldown 10 without per: 0 reported, 5 (org b) suppressed, 10 reported
    r = rule(cooldown=10)
    res = run(prog(r), [ev(0, org="a"), ev(5, org="b"), ev(10, org="c")])
    assert [(v["time"], v["key"]) for v in res.violations] == [(T(0), {}), (T(10), {})]


def test_cooldown_only_counts_violations_that_fired():
    # when n > 0, cooldown 10. ts 0 n=1 reported; ts 5 n=0 not a violation; ts 8 n=1
    # suppressed (8 < 10); ts 10 n=1 reported.
    r = rule(when=b(">", f("n"), lit(0)), key=("org",), cooldown=10)
    res = run(prog(r), [ev(0, org="a", n=1), ev(5, org="a", n=0), ev(8, org="a", n=1),
                        ev(10, org="a", n=1)])
    assert [v["time"] for v in res.violations] == [T(0), T(10)]


# ---------------------------------------------------------------- keys and sorting


def test_null_keys_group_together_and_sort_first():
    # per org: org None at 1 and missing at 2 are one group (count 2); "a" at 3 (count 1).
    # same window end 10, same rule -> sorted by key with null first.
    r = rule(window=(10, 10), key=("org",), lets=[let("c", count())],
             message=["org=", ph("org", "key", STRING)])
    res = run(prog(r), [ev(3, org="a"), ev(1, org=None), ev(2)], lateness=5)
    assert [(v["key"], v["values"]["c"], v["message"]) for v in res.violations] == [
        ({"org": None}, 2, "org=null"), ({"org": "a"}, 1, "org=a")]


def test_multi_field_keys():
    # per org, user: (a,x) twice, (a,y) once, (None,x) once, all in [0,10).
    # sort by key tuple, null first: (None,x), (a,x), (a,y)
    r = rule(window=(10, 10), key=("org", "user"), lets=[let("c", count())])
    evs = [ev(1, org="a", user="x"), ev(2, org="a", user="y"), ev(3, org="a", user="x"),
           ev(4, user="x")]
    res = run(prog(r), evs)
    assert [(v["key"], v["values"]["c"]) for v in res.violations] == [
        ({"org": None, "user": "x"}, 1), ({"org": "a", "user": "x"}, 2),
        ({"org": "a", "user": "y"}, 1)]
    assert list(res.violations[0]["key"]) == ["org", "user"]


def test_int_and_timestamp_keys():
    # per n (int): n = 2, -1, None -> sorted None, -1, 2. per t2 (timestamp): rendered.
    r = rule(window=(10, 10), key=("n",))
    res = run(prog(r), [ev(1, n=2), ev(2, n=-1), ev(3)])
    assert [v["key"] for v in res.violations] == [{"n": None}, {"n": -1}, {"n": 2}]
    r = rule(key=("t2",))
    res = run(prog(r), [ev(1, t2=-1)])
    assert res.violations[0]["key"] == {"t2": "1969-12-31T23:59:59.999Z"}


def test_float_key_negative_zero_groups_with_zero():
    # DECISION (not in docs): per x, -0.0 and 0.0 are one group shown as 0.0
    r = rule(window=(10, 10), key=("x",), lets=[let("c", count())])
    res = run(prog(r), [ev(1, x=-0.0), ev(2, x=0.0)])
    assert [(v["key"], v["values"]["c"]) for v in res.violations] == [({"x": 0.0}, 2)]
    assert math.copysign(1.0, res.violations[0]["key"]["x"]) == 1.0


def test_sorting_by_time_then_rule_then_key():
    # rule 0 "w": windowed tumbling 10 per org -> violations at time 10 for keys a, b.
    # rule 1 "e": event rule per org -> one violation per event: times 3 (b), 10 (a).
    # rule 2 "e2": event rule on the same events, no per.
    # order: 3 e(b), 3 e2, 10 w(a), 10 w(b), 10 e(a), 10 e2
    w = rule("w", window=(10, 10), key=("org",))
    e = rule("e", key=("org",), where=b("==", f("n"), lit(1)))
    e2 = rule("e2", where=b("==", f("n"), lit(1)))
    res = run(prog(w, e, e2), [ev(3, org="b", n=1), ev(5, org="a"), ev(10, org="a", n=1)])
    got = [(v["time"], v["rule"], v["key"]) for v in res.violations]
    assert got == [
        (T(3), "e", {"org": "b"}), (T(3), "e2", {}),
        (T(10), "w", {"org": "a"}), (T(10), "w", {"org": "b"}),
        (T(10), "e", {"org": "a"}), (T(10), "e2", {}),
        (T(20), "w", {"org": "a"}),
    ]


# ---------------------------------------------------------------- lateness


def test_late_events_without_lateness():
    # times 10, 5, 10, 9, 11. watermark after 10 is 10: 5 late, 10 not late (10 >= 10),
    # 9 late, 11 fine -> late [1, 3]. The event rule fires on 10, 10, 11 only; the
    # windowed rule (tumbling 100) counts 3 events.
    evs = [ev(t, org="a") for t in (10, 5, 10, 9, 11)]
    res = run(prog(rule("e"), rule("w", window=(100, 100), key=("org",), lets=[let("c", count())])),
              evs)
    assert res.late == [1, 3]
    assert [(v["rule"], v["time"]) for v in res.violations] == [
        ("e", T(10)), ("e", T(10)), ("e", T(11)), ("w", T(100))]
    assert res.violations[-1]["values"] == {"c": 3}
    assert res.violations[-1]["first_seen"] == T(10)


def test_late_events_with_allowed_lateness():
    # lateness 2: after 10 the watermark is 8: 5 late, 10 ok, 9 ok (9 >= 8), 11 ok
    # (watermark 9) -> late [1]; tumbling 10 per org: [0,10) holds 9; [10,20) holds 10,10,11
    evs = [ev(t, org="a") for t in (10, 5, 10, 9, 11)]
    res = run(prog(rule("w", window=(10, 10), key=("org",), lets=[let("c", count())])), evs,
              lateness=2)
    assert res.late == [1]
    assert [(v["window_start"], v["values"]["c"]) for v in res.violations] == [
        (T(0), 1), (T(10), 3)]


def test_late_event_does_not_move_watermark():
    # lateness 5: 100 (wm 95); 96 ok; 94 late (94 < 95); 95 ok; 0 late; 101 ok (wm 96);
    # 95 late (95 < 96)
    evs = [ev(t) for t in (100, 96, 94, 95, 0, 101, 95)]
    res = run(prog(rule()), evs, lateness=5)
    assert res.late == [2, 4, 6]
    # sorted by time: 95, 96, 100, 101
    assert [v["time"] for v in res.violations] == [T(95), T(96), T(100), T(101)]


# ---------------------------------------------------------------- messages, request_id


def test_message_formatting():
    # c = 3 -> "3"; fr = 0.523 -> "{fr:%}" "52.3%"; x = 0.1 + 0.2 -> repr "0.30000000000000004";
    # flag true -> "true"; s null -> "null"; s null with spec -> "null"; ts -> RFC 3339;
    # duration 600 -> "600"; big = 1234567.891 with ",.2f" -> "1,234,567.89"; n with "," ->
    # "1,234,567"; int with "%" -> "300.0%"; x with ".3e" -> "3.000e-01"
    r = rule(
        lets=[let("sum", b("+", f("x"), lit(0.2))), let("fr", b("/", f("n"), lit(1000))),
              let("d", b("-", f("ts"), f("t2"))), let("big", b("*", f("x"), lit(12345678.91))),
              let("three", b("-", f("n"), lit(520)))],
        message=[ph("fr", "let", FLOAT, "%"), " ", ph("sum", "let", FLOAT), " ",
                 ph("flag", "field", BOOL), " ", ph("user", "field", STRING), "|",
                 ph("user", "field", STRING, ".2f"), " ", ph("ts", "field", TS), " ",
                 ph("d", "let", DUR), " ", ph("big", "let", FLOAT, ",.2f"), " ",
                 ph("three", "let", INT, "%"), " ", ph("sum", "let", FLOAT, ".3e"), " ",
                 ph("org", "field", STRING), " {literal}"],
    )
    res = run(prog(r), [ev(1000, n=523, x=0.1, flag=True, t2=400, org="o")])
    assert res.violations[0]["message"] == (
        "52.3% 0.30000000000000004 true null|null 1970-01-01T00:00:01.000Z 600 "
        "1,234,567.89 300.0% 3.000e-01 o {literal}")
    r2 = rule(key=("n",), message=[ph("n", "key", INT, ","), " ", ph("n", "key", INT)])
    assert run(prog(r2), [ev(0, n=1234567)]).violations[0]["message"] == "1,234,567 1234567"
    r3 = rule(message=None)
    assert run(prog(r3), [ev(0)]).violations[0]["message"] is None


def test_message_windowed_bools_and_nulls():
    # per org (null) window 10: c = 2, any = count(flag) > 0 = true, avg(x) of no values = null
    r = rule(window=(10, 10), key=("org",),
             lets=[let("c", count()), let("any", b(">", agg("count", f("flag")), lit(0))),
                   let("ax", agg("avg", f("x")))],
             message=[ph("org", "key", STRING), ":", ph("c", "let", INT), ":",
                      ph("any", "let", BOOL), ":", ph("ax", "let", FLOAT, ".2f")])
    res = run(prog(r), [ev(1, flag=True), ev(2)])
    assert res.violations[0]["message"] == "null:2:true:null"


def test_request_id():
    # event rule with request_id in the schema: the event's value (null when missing);
    # windowed rule: null; schema without request_id: null.
    res = run(prog(rule("e"), rule("w", window=(10, 10), key=("org",))),
              [ev(1, request_id="req-1", org="a"), ev(2, org="a")])
    assert [(v["rule"], v["request_id"]) for v in res.violations] == [
        ("e", "req-1"), ("e", None), ("w", None)]
    res = run(prog(rule("e"), schema=S_NO_RID), [ev(1, request_id="req-1")])
    assert res.violations[0]["request_id"] is None


def test_event_rule_full_violation_and_unknown_fields_ignored():
    # one event; the field "zzz" is not in the schema and ignored. key org, values v = n + 1.
    r = rule("big_n", b(">", f("n"), lit(5)), key=("org",),
             lets=[let("v", b("+", f("n"), lit(1)))], clause=None,
             severity=Severity.CRITICAL, action=Action.BLOCK,
             message=["n=", ph("n", "field", INT), " v=", ph("v", "let", INT), " org=",
                      ph("org", "key", STRING)])
    res = run(prog(r), [ev(1_767_618_000_123, org="acme", n=9, request_id="r9", zzz=[1]),
                        ev(1_767_618_000_124, org="acme", n=5)])
    assert res.late == []
    assert res.violations == [{
        "rule": "big_n", "title": "T", "clause": None, "severity": "critical",
        "action": "block", "key": {"org": "acme"}, "window_start": None, "window_end": None,
        "time": "2026-01-05T13:00:00.123Z", "values": {"v": 10}, "message": "n=9 v=10 org=acme",
        "events": 1, "first_seen": "2026-01-05T13:00:00.123Z",
        "last_seen": "2026-01-05T13:00:00.123Z", "request_id": "r9",
    }]


def test_windowed_rule_when_on_aggregates():
    # per org, tumbling 100, when sum(n) > 10 and distinct(user) >= 2
    # a in [0,100): n 5, 7 (sum 12), users u1, u2 -> fires
    # b in [0,100): n 20, users u1, u1 -> distinct 1 -> no
    # a in [100,200): n 11, users u1 -> distinct 1 -> no
    when = b("and", b(">", agg("sum", f("n")), lit(10)), b(">=", agg("distinct", f("user")), lit(2)))
    r = rule(when=when, window=(100, 100), key=("org",))
    evs = [ev(1, org="a", n=5, user="u1"), ev(2, org="b", n=20, user="u1"),
           ev(3, org="a", n=7, user="u2"), ev(4, org="b", user="u1"),
           ev(150, org="a", n=11, user="u1")]
    res = run(prog(r), evs)
    assert [(v["key"], v["time"], v["events"]) for v in res.violations] == [
        ({"org": "a"}, T(100), 2)]


def test_empty_input():
    res = run(prog(rule(), rule("w", window=(10, 10), key=("org",))), [])
    assert res == ReferenceResult(violations=[], late=[])


def test_bad_time_is_rejected():
    with pytest.raises(ValueError):
        run(prog(rule()), [{"org": "a"}])
