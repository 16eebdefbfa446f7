"""Checks of the hypothesis strategies: valid IR, full coverage, and the
reference evaluator runs on what they generate."""

from __future__ import annotations

import json
import re
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reference import reference_evaluate
from tests.strategies import (
    TEST_SCHEMA,
    allowed_lateness,
    batch_cuts,
    event_streams,
    rule_sets,
    split_batches,
)
from tosengine.ir.nodes import (
    Action,
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
    Severity,
    Unary,
    UnaryOp,
)
from tosengine.language.schema import Schema
from tosengine.language.types import Type

try:
    import re2 as _regex
except ImportError:  # pragma: no cover
    import re as _regex

INT, FLOAT, BOOL, STRING, TS, DUR = (
    Type.INT, Type.FLOAT, Type.BOOL, Type.STRING, Type.TIMESTAMP, Type.DURATION,
)
NUMERIC = (INT, FLOAT)

# ---------------------------------------------------------------- the validator


class InvalidIR(AssertionError):
    pass


def _require(cond: bool, what: str) -> None:
    if not cond:
        raise InvalidIR(what)


_PY_TYPES = {INT: int, FLOAT: float, BOOL: bool, STRING: str, TS: int, DUR: int}


def _value_of_type(v: object, t: Type) -> bool:
    return v is not None and type(v) is _PY_TYPES[t]


def binary_result_type(op: BinaryOp, lt: Type, rt: Type) -> Type | None:
    """The type of ``lt op rt`` under the checker's rules, or None if ill-typed."""
    if op.is_logical:
        return BOOL if lt is BOOL and rt is BOOL else None
    if op.is_comparison:
        if lt in NUMERIC and rt in NUMERIC:
            return BOOL
        if lt is rt and lt in (TS, DUR):
            return BOOL
        if lt is rt and lt in (STRING, BOOL) and op in (BinaryOp.EQ, BinaryOp.NE):
            return BOOL
        return None
    if lt in NUMERIC and rt in NUMERIC:
        if op is BinaryOp.DIV:
            return FLOAT
        return INT if lt is INT and rt is INT else FLOAT
    if op is BinaryOp.ADD:
        return {(TS, DUR): TS, (DUR, TS): TS, (DUR, DUR): DUR}.get((lt, rt))
    if op is BinaryOp.SUB:
        return {(TS, TS): DUR, (TS, DUR): TS, (DUR, DUR): DUR}.get((lt, rt))
    return None


_AGG_ARGS = {
    AggFunc.SUM: {INT: INT, FLOAT: FLOAT, DUR: DUR},
    AggFunc.AVG: {INT: FLOAT, FLOAT: FLOAT},
    AggFunc.STDDEV: {INT: FLOAT, FLOAT: FLOAT},
    AggFunc.MIN: {INT: INT, FLOAT: FLOAT, TS: TS, DUR: DUR},
    AggFunc.MAX: {INT: INT, FLOAT: FLOAT, TS: TS, DUR: DUR},
    AggFunc.DISTINCT: {t: INT for t in Type},
    AggFunc.FRACTION: {BOOL: FLOAT},
    AggFunc.COUNT: {BOOL: INT},
}


def _children(e: Expr) -> tuple[Expr, ...]:
    if isinstance(e, Unary):
        return (e.operand,)
    if isinstance(e, Binary):
        return (e.left, e.right)
    if isinstance(e, (InList, IsNull)):
        return (e.operand,)
    if isinstance(e, Call):
        return e.args
    return ()


def check_expr(e: Expr, mode: str, schema: Schema, key: tuple[str, ...],
               lets: dict[str, Type]) -> None:
    """Raise :class:`InvalidIR` unless ``e`` is a valid checked expression.

    ``mode``: "row" (where / aggregate arguments), "event" (event rule
    let/when/unless) or "window" (windowed let/when/unless).
    """
    _require(isinstance(e.type, Type), f"no type: {e!r}")
    kids = _children(e)
    if kids:
        _require(any(not isinstance(k, Literal) for k in kids),
                 f"unfolded literal-only node: {e!r}")
    if isinstance(e, Literal):
        _require(e.type is not TS, "no timestamp literals")
        _require(_value_of_type(e.value, e.type), f"literal {e.value!r} is not {e.type}")
    elif isinstance(e, FieldRef):
        _require(mode in ("row", "event"), f"field {e.name} in {mode} context")
        fld = schema.get(e.name)
        _require(fld is not None and fld.type is e.type, f"bad field {e!r}")
    elif isinstance(e, KeyRef):
        _require(mode == "window", f"key ref {e.name} in {mode} context")
        _require(e.name in key, f"key ref {e.name} not a per field")
        _require(schema.get(e.name).type is e.type, f"key type {e!r}")
    elif isinstance(e, LetRef):
        _require(mode in ("event", "window"), f"let ref {e.name} in {mode} context")
        _require(lets.get(e.name) is e.type, f"let ref {e.name} not an earlier let of {e.type}")
    elif isinstance(e, Aggregate):
        _require(mode == "window", f"aggregate in {mode} context")
        if e.arg is None:
            _require(e.func is AggFunc.COUNT and e.type is INT, f"bad count(): {e!r}")
        else:
            check_expr(e.arg, "row", schema, key, {})
            _require(_AGG_ARGS[e.func].get(e.arg.type) is e.type, f"bad aggregate type {e!r}")
    elif isinstance(e, Unary):
        if e.op is UnaryOp.NOT:
            _require(e.operand.type is BOOL and e.type is BOOL, f"bad not: {e!r}")
        else:
            _require(e.operand.type in (INT, FLOAT, DUR) and e.type is e.operand.type,
                     f"bad negation: {e!r}")
    elif isinstance(e, Binary):
        _require(binary_result_type(e.op, e.left.type, e.right.type) is e.type,
                 f"bad binary type: {e.op} {e.left.type} {e.right.type} -> {e.type}")
    elif isinstance(e, InList):
        _require(e.type is BOOL and len(e.values) >= 1, "bad in-list")
        _require(all(_value_of_type(v, e.operand.type) for v in e.values),
                 f"in-list values not of type {e.operand.type}: {e.values}")
        _require(len(set(e.values)) == len(e.values), "in-list values not distinct")
        _require(isinstance(e.negated, bool), "negated")
    elif isinstance(e, IsNull):
        _require(e.type is BOOL and isinstance(e.negated, bool), "bad is null")
    elif isinstance(e, Call):
        _check_call(e)
    else:
        raise InvalidIR(f"not an expression: {e!r}")
    for k in kids:
        check_expr(k, mode, schema, key, lets)


def _check_call(e: Call) -> None:
    f, args = e.func, e.args
    ts = [a.type for a in args]
    if f in (Func.STARTSWITH, Func.ENDSWITH, Func.CONTAINS, Func.MATCHES):
        _require(ts == [STRING, STRING] and e.type is BOOL, f"bad {f.value} types")
        _require(isinstance(args[1], Literal), f"{f.value} pattern is not a literal")
        if f is Func.MATCHES:
            _regex.compile(args[1].value)
    elif f is Func.LOWER:
        _require(ts == [STRING] and e.type is STRING, "bad lower")
    elif f is Func.LEN:
        _require(ts == [STRING] and e.type is INT, "bad len")
    elif f is Func.ABS:
        _require(len(ts) == 1 and ts[0] in (INT, FLOAT, DUR) and e.type is ts[0], "bad abs")
    elif f in (Func.HOUR, Func.WEEKDAY):
        _require(ts == [TS] and e.type is INT, f"bad {f.value}")
    elif f is Func.COALESCE:
        _require(len(ts) == 2, "coalesce arity")
        if ts[0] in NUMERIC and ts[1] in NUMERIC:
            want = INT if ts == [INT, INT] else FLOAT
        else:
            _require(ts[0] is ts[1], f"coalesce of {ts}")
            want = ts[0]
        _require(e.type is want, "bad coalesce type")
    else:  # pragma: no cover
        raise InvalidIR(f"unknown function {f}")


_SPEC = re.compile(r"^(%|,?(\.\d+)?[fe%d]|,)?$")


def check_rule(schema: Schema, r: Rule) -> None:
    _require(isinstance(r.title, str) and r.title, "title")
    _require(isinstance(r.severity, Severity) and isinstance(r.action, Action), "enums")
    _require(all(isinstance(t, str) for t in r.tags), "tags")
    _require(len(set(r.key)) == len(r.key), "duplicate key field")
    _require(all(k in schema for k in r.key), "unknown key field")
    if r.window is not None:
        w = r.window
        _require(w.length_ms > 0 and w.step_ms > 0 and w.length_ms % w.step_ms == 0,
                 f"bad window {w}")
        _require(len(r.key) >= 1, "windowed rule without per")
        mode = "window"
    else:
        mode = "event"
    _require(r.cooldown_ms is None or (type(r.cooldown_ms) is int and r.cooldown_ms >= 0),
             "cooldown")
    if r.where is not None:
        _require(r.where.type is BOOL, "where is not bool")
        check_expr(r.where, "row", schema, r.key, {})
    lets: dict[str, Type] = {}
    for let in r.lets:
        _require(let.name not in lets and let.name not in schema, f"let name {let.name}")
        _require(let.type is let.expr.type, f"let {let.name} type")
        check_expr(let.expr, mode, schema, r.key, lets)
        lets[let.name] = let.type
    _require(r.when.type is BOOL, "when is not bool")
    check_expr(r.when, mode, schema, r.key, lets)
    if r.unless is not None:
        _require(r.unless.type is BOOL, "unless is not bool")
        check_expr(r.unless, mode, schema, r.key, lets)
    if r.message is not None:
        for part in r.message:
            if isinstance(part, str):
                continue
            _require(isinstance(part, Placeholder), "message part")
            _require(_SPEC.match(part.spec) is not None, f"spec {part.spec!r}")
            if part.spec:
                _require(part.type in NUMERIC, f"spec on a {part.type}")
            if part.kind is PlaceholderKind.LET:
                _require(lets.get(part.name) is part.type, f"placeholder let {part.name}")
            elif part.kind is PlaceholderKind.KEY:
                _require(part.name in r.key, f"placeholder key {part.name}")
                _require(schema.get(part.name).type is part.type, "placeholder key type")
            else:
                _require(r.window is None, "field placeholder in a windowed rule")
                fld = schema.get(part.name)
                _require(fld is not None and fld.type is part.type, "placeholder field")


def check_program(p: Program) -> None:
    """Raise :class:`InvalidIR` unless ``p`` respects the invariants of ir/nodes.py."""
    _require(isinstance(p, Program) and isinstance(p.schema, Schema), "program")
    names = [r.name for r in p.rules]
    _require(len(set(names)) == len(names), "duplicate rule names")
    for r in p.rules:
        check_rule(p.schema, r)


# ---------------------------------------------------------------- constructs


def _walk(e: Expr):
    yield e
    for k in _children(e):
        yield from _walk(k)
    if isinstance(e, Aggregate) and e.arg is not None:
        yield from _walk(e.arg)


def constructs(p: Program) -> set[str]:
    """Labels of the language constructs a program uses."""
    out: set[str] = {f"rules:{len(p.rules)}"}
    for r in p.rules:
        out.add("rule:windowed" if r.window else "rule:event")
        if r.window:
            out.add("window:tumbling" if r.window.is_tumbling else "window:sliding")
            out.add(f"window:panes:{r.window.panes}")
        out.add(f"key:{min(len(r.key), 2)}:{'windowed' if r.window else 'event'}")
        for k in r.key:
            out.add(f"keytype:{TEST_SCHEMA.get(k).type.value}")
        for clause in ("where", "unless"):
            if getattr(r, clause) is not None:
                out.add(f"{clause}:{'windowed' if r.window else 'event'}")
        if r.cooldown_ms is not None:
            out.add(f"cooldown:{'windowed' if r.window else 'event'}")
        if r.lets:
            out.add("let")
        exprs = [x for x in (r.where, r.when, r.unless) if x is not None]
        exprs += [let.expr for let in r.lets]
        for x in exprs:
            for n in _walk(x):
                if isinstance(n, Binary):
                    out.add(f"op:{n.op.value}")
                    if n.op.is_comparison:
                        out.add(f"cmp:{n.left.type.value}:{n.right.type.value}")
                    elif n.op.is_arithmetic:
                        lt, rt = n.left.type, n.right.type
                        if lt in NUMERIC and rt in NUMERIC:
                            out.add(f"arith:{'int' if n.type is INT else 'float'}:{n.op.value}")
                        else:
                            out.add(f"arith:{lt.value}{n.op.value}{rt.value}")
                elif isinstance(n, Unary):
                    out.add(f"unary:{n.op.value}:{n.type.value}")
                elif isinstance(n, Call):
                    out.add(f"func:{n.func.value}")
                elif isinstance(n, Aggregate):
                    out.add(f"agg:{n.func.value}" + ("()" if n.arg is None else ""))
                elif isinstance(n, InList):
                    out.add(f"in:{n.negated}:{n.operand.type.value}")
                elif isinstance(n, IsNull):
                    out.add(f"isnull:{n.negated}")
                elif isinstance(n, LetRef):
                    out.add("letref")
                elif isinstance(n, KeyRef):
                    out.add("keyref")
                elif isinstance(n, Literal):
                    out.add(f"literal:{n.type.value}")
        if r.message is not None:
            out.add("message")
            for part in r.message:
                if isinstance(part, Placeholder):
                    out.add(f"placeholder:{part.kind.value}")
                    out.add(f"placeholder:{part.type.value}")
                    out.add(f"spec:{part.spec if part.spec in ('', '%') else 'other'}")
    return out


EXPECTED_CONSTRUCTS = (
    {"rule:windowed", "rule:event", "window:tumbling", "window:sliding",
     "window:panes:2", "window:panes:3", "window:panes:4",
     "key:0:event", "key:1:event", "key:2:event", "key:1:windowed", "key:2:windowed",
     "keytype:string", "keytype:int", "keytype:bool", "keytype:timestamp",
     "where:windowed", "where:event", "unless:windowed", "unless:event",
     "cooldown:windowed", "cooldown:event", "let", "letref", "keyref", "message",
     "rules:1", "rules:2", "rules:3", "rules:4"}
    | {f"op:{op.value}" for op in BinaryOp}
    | {f"unary:not:bool", "unary:-:int", "unary:-:float", "unary:-:duration"}
    | {f"func:{f.value}" for f in Func}
    | {f"agg:{a.value}" for a in AggFunc} | {"agg:count()"}
    | {f"in:{neg}:{t}" for neg in (True, False) for t in ("string", "int", "float")}
    | {"isnull:True", "isnull:False"}
    | {f"placeholder:{k.value}" for k in PlaceholderKind}
    | {f"placeholder:{t.value}" for t in Type}
    | {"spec:", "spec:%", "spec:other"}
    | {f"literal:{t.value}" for t in Type if t is not TS}
    | {f"cmp:{a}:{b}" for a in ("int", "float") for b in ("int", "float")}
    | {"cmp:string:string", "cmp:bool:bool", "cmp:timestamp:timestamp",
       "cmp:duration:duration"}
    | {f"arith:int:{op}" for op in "+-*%"} | {f"arith:float:{op}" for op in "+-*/%"}
    | {"arith:timestamp-timestamp", "arith:timestamp+duration", "arith:timestamp-duration",
       "arith:duration+timestamp", "arith:duration+duration", "arith:duration-duration"}
)

_SETTINGS = dict(deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------- tests


def test_validator_rejects_bad_ir():
    from dataclasses import replace
    from tosengine.ir.nodes import Window

    base = Rule(name="r", title="T", clause=None, quote=None, severity=Severity.LOW,
                action=Action.LOG, tags=(), key=("k1",), window=Window(10, 10), where=None,
                lets=(), when=Binary(BinaryOp.GT, Aggregate(AggFunc.COUNT, None, INT),
                                     Literal(1, INT), BOOL),
                unless=None, cooldown_ms=None, message=None)
    check_program(Program(TEST_SCHEMA, (base,)))
    bad = [
        replace(base, when=FieldRef("b", BOOL)),  # field in a windowed when
        replace(base, window=None, when=Binary(BinaryOp.GT, Aggregate(AggFunc.COUNT, None, INT),
                                               Literal(1, INT), BOOL)),  # agg in event rule
        replace(base, when=Binary(BinaryOp.GT, Literal(2, INT), Literal(1, INT), BOOL)),
        replace(base, when=LetRef("v0", BOOL)),  # unknown let
        replace(base, key=()),  # windowed without per
        replace(base, window=Window(15, 10)),
        replace(base, where=Binary(BinaryOp.GT, Aggregate(AggFunc.COUNT, None, INT),
                                   Literal(1, INT), BOOL)),
        replace(base, when=InList(KeyRef("k1", STRING), (1,), False)),
        replace(base, when=Binary(BinaryOp.LT, KeyRef("k1", STRING), Literal("a", STRING),
                                  BOOL)),
        replace(base, when=Call(Func.STARTSWITH, (KeyRef("k1", STRING), KeyRef("k1", STRING)),
                                BOOL)),
        replace(base, message=(Placeholder("i", PlaceholderKind.FIELD, INT),)),
    ]
    for r in bad:
        try:
            check_program(Program(TEST_SCHEMA, (r,)))
        except InvalidIR:
            continue
        raise AssertionError(f"accepted invalid IR: {r}")


@settings(max_examples=200, **_SETTINGS)
@given(rule_sets())
def test_generated_programs_are_valid(program):
    check_program(program)


def test_strategies_cover_every_construct():
    seen: Counter[str] = Counter()

    @settings(max_examples=400, derandomize=True, **_SETTINGS)
    @given(rule_sets())
    def collect(program):
        seen.update(constructs(program))

    collect()
    missing = EXPECTED_CONSTRUCTS - set(seen)
    assert not missing, sorted(missing)


def _json_like(v) -> bool:
    return json.loads(json.dumps(v, allow_nan=True)) == v or v != v


@settings(max_examples=300, **_SETTINGS)
@given(rule_sets(), event_streams(), allowed_lateness())
def test_reference_runs_on_generated_input(program, events, lateness):
    check_program(program)
    res = reference_evaluate(program, events, allowed_lateness_ms=lateness)
    keys = {"rule", "title", "clause", "severity", "action", "key", "window_start",
            "window_end", "time", "values", "message", "events", "first_seen", "last_seen",
            "request_id"}
    order = {r.name: j for j, r in enumerate(program.rules)}
    prev = None
    for v in res.violations:
        assert set(v) == keys
        assert _json_like(v)
        rule = program.rule(v["rule"])
        assert list(v["values"]) == [let.name for let in rule.lets]
        assert list(v["key"]) == list(rule.key)
        assert v["events"] >= 1
        sort_key = (v["time"], order[v["rule"]])  # RFC 3339 strings of one era sort by time
        if prev is not None and not v["time"].startswith("-") and not prev[0].startswith("-"):
            assert prev <= sort_key
        prev = sort_key
    assert res.late == sorted(set(res.late))
    assert all(0 <= j < len(events) for j in res.late)


def test_generated_rules_fire_sometimes_but_not_always():
    fired = Counter()

    @settings(max_examples=100, derandomize=True, **_SETTINGS)
    @given(rule_sets(min_rules=1, max_rules=1), event_streams(min_events=20))
    def collect(program, events):
        res = reference_evaluate(program, events)
        fired["fired" if res.violations else "silent"] += 1

    collect()
    total = fired["fired"] + fired["silent"]
    assert 0.2 * total <= fired["fired"] <= 0.9 * total, fired


def test_event_streams_have_the_promised_features():
    seen: Counter[str] = Counter()

    @settings(max_examples=100, derandomize=True, **_SETTINGS)
    @given(event_streams(min_events=10), allowed_lateness())
    def collect(events, lateness):
        res = reference_evaluate(Program(TEST_SCHEMA, ()), events, allowed_lateness_ms=lateness)
        if res.late:
            seen["late"] += 1
        times = [e["ts"] for e in events]
        if any(a == b for a, b in zip(times, times[1:])):
            seen["tie"] += 1
        if any(b < a for a, b in zip(times, times[1:])):
            seen["backwards"] += 1
        if any(t < 0 for t in times):
            seen["negative"] += 1
        if any(t % 50 == 0 for t in times):
            seen["boundary"] += 1
        for e in events:
            for fld in TEST_SCHEMA.fields:
                if fld.is_time:
                    continue
                if fld.name not in e:
                    seen[f"missing:{fld.name}"] += 1
                elif e[fld.name] is None:
                    seen[f"null:{fld.name}"] += 1
            if "f" in e and e["f"] is not None:
                assert (e["f"] * 4).is_integer()
            if "i" in e and e["i"] is not None:
                assert abs(e["i"]) <= 1000
            if set(e) - set(TEST_SCHEMA.names):
                seen["extra_field"] += 1

    collect()
    want = {"late", "tie", "backwards", "negative", "boundary", "extra_field"}
    want |= {f"{how}:{f.name}" for how in ("missing", "null") for f in TEST_SCHEMA.fields
             if not f.is_time}
    assert want <= set(seen), sorted(want - set(seen))


@settings(max_examples=100, **_SETTINGS)
@given(st.data())
def test_batch_cuts_partition_the_events(data):
    n = data.draw(st.integers(0, 40))
    events = [{"ts": j} for j in range(n)]
    cuts = data.draw(batch_cuts(n))
    assert cuts == sorted(cuts) and all(0 <= c <= n for c in cuts)
    batches = split_batches(events, cuts)
    assert [e for b in batches for e in b] == events
    assert len(batches) == len(cuts) + 1
