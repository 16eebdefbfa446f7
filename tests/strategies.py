"""Hypothesis strategies for differential tests of the engine against the reference.

* :func:`rule_sets` -- a checked :class:`Program` over :data:`TEST_SCHEMA`:
  1-4 well-typed rules (event and windowed) that respect every invariant of
  ``tosengine/ir/nodes.py`` and use every construct of the language.
* :func:`event_streams` -- normalised event dicts (int ms times) with ties,
  bursts, times on window boundaries, backward jitter (late events), nulls,
  missing fields and low-cardinality keys. Floats are multiples of 0.25 and ints
  are small, so integer and float sums are exact in any order.
* :func:`batch_cuts` -- cut points splitting ``n`` events into batches;
  :func:`split_batches` applies them.
* :func:`allowed_lateness` -- run option values.

Numeric caveats for whoever compares results: ``stddev`` (and values computed
from it) may differ from another algorithm in the last bits, so compare floats
with a tolerance (and messages holding such floats accordingly); every other
aggregate over these streams is exact. Aggregate arguments of ``sum``/``avg``/
``stddev`` never divide, so their per-event values stay multiples of 1/2**k.
"""

from __future__ import annotations

from typing import Callable, Sequence

from hypothesis import strategies as st

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
    Let,
    LetRef,
    Literal,
    MessagePart,
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

__all__ = [
    "TEST_SCHEMA",
    "rule_sets",
    "event_streams",
    "batch_cuts",
    "split_batches",
    "allowed_lateness",
    "REGEX_PATTERNS",
    "MESSAGE_SPECS",
]

INT, FLOAT, BOOL, STRING, TS, DUR = (
    Type.INT, Type.FLOAT, Type.BOOL, Type.STRING, Type.TIMESTAMP, Type.DURATION,
)

#: The schema every generated program uses.
TEST_SCHEMA = Schema(
    (
        Field("ts", TS, is_time=True),
        Field("request_id", STRING),
        Field("k1", STRING),
        Field("k2", STRING),
        Field("s", STRING),
        Field("i", INT),
        Field("f", FLOAT),
        Field("b", BOOL),
        Field("t2", TS),
    )
)

_FIELDS_BY_TYPE: dict[Type, tuple[str, ...]] = {
    t: tuple(f.name for f in TEST_SCHEMA.fields if f.type is t) for t in Type
}

# key fields (weighted towards the low-cardinality strings); no float keys
_KEY_FIELDS = ("k1", "k1", "k1", "k2", "k2", "b", "i", "s", "t2")

K1_VALUES = ("a", "b", "c")
K2_VALUES = ("x", "y")
#: string values of `s` (and string literals): ASCII and non-ASCII, empty, no newlines
TEXT_VALUES = ("", "a", "alpha", "Alpha-1", "beta", "GAMMA", "ünï", "ÄBç", "a.b",
               "chat.completions", "x", "b2")
_STRING_LITERALS = TEXT_VALUES + K1_VALUES + K2_VALUES
#: patterns for startswith/endswith/contains
_SUBSTRINGS = ("", "a", "al", "A", "beta", "-1", ".", "ü", "x", "c", "ion")
#: regexes whose meaning is the same in RE2 and Python `re` on the strings above
REGEX_PATTERNS = ("a", "^a", "a$", "^$", "[0-9]+", "^(alpha|beta)$", "a.b", r"\.",
                  "^.{3,5}$", "ü", "[A-Z]{2,}", "^[a-c]$", "(?i)alpha", "l+p?h")
#: format specs per placeholder type ("" is the default rendering)
MESSAGE_SPECS: dict[Type, tuple[str, ...]] = {
    INT: ("", "%", "d", ",", ",d", ".2f", ".1e", ".0%"),
    FLOAT: ("", "%", ".2f", ".3e", ",", ",.1f", ".0%", ".1%", "f"),
    BOOL: ("",),
    STRING: ("",),
    TS: ("",),
    DUR: ("",),
}

_NUMERIC = (INT, FLOAT)


# --------------------------------------------------------------------------
# literals
# --------------------------------------------------------------------------


def _literal_values(t: Type) -> st.SearchStrategy:
    if t is INT:
        return st.one_of(st.integers(-3, 12), st.integers(-50, 100))
    if t is FLOAT:
        return st.integers(-20, 60).map(lambda k: k * 0.25)
    if t is BOOL:
        return st.booleans()
    if t is STRING:
        return st.sampled_from(_STRING_LITERALS)
    if t is DUR:
        return st.one_of(st.sampled_from((0, 1, 5, 10, 20, 50, 100)), st.integers(0, 300))
    raise ValueError(f"no literals of type {t}")  # timestamps have no literal syntax


# --------------------------------------------------------------------------
# expressions
# --------------------------------------------------------------------------

_ROW = "row"  # where and aggregate arguments: fields and literals only
_EVENT = "event"  # event rule let/when/unless: fields, earlier lets, literals
_WINDOW = "window"  # windowed let/when/unless: aggregates, keys, earlier lets, literals


class _ExprGen:
    """Draws well-typed expressions of a requested type in one context.

    Every compound node has at least one non-literal child (the front end folds
    literal arithmetic), timestamps never appear as literals, and each mode uses
    only the leaves the IR allows there.
    """

    def __init__(self, draw: Callable, mode: str, key: Sequence[str] = (),
                 lets: Sequence[tuple[str, Type]] = (), no_div: bool = False) -> None:
        self.draw = draw
        self.mode = mode
        self.key = tuple(key)
        self.lets = tuple(lets)
        self.no_div = no_div

    # -- availability of a non-literal expression of each type ------------

    def avail(self, t: Type) -> bool:
        if self.mode != _WINDOW or t is not STRING:
            return True
        return any(TEST_SCHEMA.get(k).type is STRING for k in self.key) or any(
            lt is STRING for _, lt in self.lets)

    # -- leaves ------------------------------------------------------------

    def _leaves(self, t: Type) -> list[Callable[[], Expr]]:
        out: list[Callable[[], Expr]] = []
        if self.mode in (_ROW, _EVENT):
            for name in _FIELDS_BY_TYPE[t]:
                out.append(lambda name=name: FieldRef(name, t))
            if t is DUR:
                out.append(lambda: Binary(BinaryOp.SUB, FieldRef("ts", TS),
                                          FieldRef("t2", TS), DUR))
        if self.mode in (_EVENT, _WINDOW):
            for name, lt in self.lets:
                if lt is t:
                    out.append(lambda name=name: LetRef(name, t))
        if self.mode == _WINDOW:
            for name in self.key:
                if TEST_SCHEMA.get(name).type is t:
                    out.append(lambda name=name: KeyRef(name, t))
            if t is not STRING and t is not BOOL:
                out.append(lambda: self.aggregate(t))
            if t is BOOL:
                out.append(lambda: Binary(
                    self.draw(st.sampled_from((BinaryOp.GT, BinaryOp.GE, BinaryOp.LT))),
                    Aggregate(AggFunc.COUNT, None, INT),
                    Literal(self.draw(st.integers(0, 6)), INT), BOOL))
        return out

    def literal(self, t: Type) -> Literal:
        return Literal(self.draw(_literal_values(t)), t)

    # -- entry point -------------------------------------------------------

    def gen(self, t: Type, depth: int, need: bool = True) -> Expr:
        """An expression of type ``t``; ``need``: it must not be a bare literal."""
        draw = self.draw
        if not need and t is not TS and draw(st.integers(0, 9)) < 6:
            return self.literal(t)
        if not self.avail(t):
            assert not need, f"no non-literal {t} here"
            return self.literal(t)
        leaves = self._leaves(t)
        compounds = self._compounds(t) if depth > 0 else []
        if compounds and (not leaves or draw(st.integers(0, 2)) > 0):
            build = draw(st.sampled_from(compounds))
            return build(depth - 1)
        assert leaves, f"no leaf of type {t} in mode {self.mode}"
        return draw(st.sampled_from(leaves))()

    def _two(self, lt: Type, rt: Type, d: int) -> tuple[Expr, Expr] | None:
        """Two operands, at least one of them not a literal."""
        sides = [s for s, ty in ((0, lt), (1, rt)) if self.avail(ty)]
        if not sides:
            return None
        must = self.draw(st.sampled_from(sides)) if len(sides) > 1 else sides[0]
        # the non-forced side is usually a literal, so thresholds stay simple
        left = self.gen(lt, d, need=(must == 0))
        right = self.gen(rt, d, need=(must == 1))
        return left, right

    def _binary(self, op: BinaryOp, lt: Type, rt: Type, t: Type) -> Callable[[int], Expr]:
        def build(d: int) -> Expr:
            pair = self._two(lt, rt, d)
            assert pair is not None
            return Binary(op, pair[0], pair[1], t)
        return build

    def _compounds(self, t: Type) -> list[Callable[[int], Expr]]:
        draw = self.draw
        out: list[Callable[[int], Expr]] = []
        ok = self.avail

        def binop(ops: Sequence[BinaryOp], lt: Type, rt: Type, rtype: Type) -> None:
            if ok(lt) or ok(rt):
                def build(d: int) -> Expr:
                    return self._binary(draw(st.sampled_from(tuple(ops))), lt, rt, rtype)(d)
                out.append(build)

        def unary(op: UnaryOp, ot: Type) -> None:
            if ok(ot):
                out.append(lambda d: Unary(op, self.gen(ot, d), t))

        def call(func: Func, argt: Type, *, pattern: Sequence[str] | None = None,
                 rtype: Type = t) -> None:
            if not ok(argt):
                return
            if pattern is not None:
                out.append(lambda d: Call(func, (self.gen(argt, d),
                                                 Literal(draw(st.sampled_from(tuple(pattern))),
                                                         STRING)), rtype))
            else:
                out.append(lambda d: Call(func, (self.gen(argt, d),), rtype))

        def coalesce(xt: Type, dt: Type) -> None:
            if ok(xt):
                out.append(lambda d: Call(Func.COALESCE, (self.gen(xt, d),
                                                          self.gen(dt, d, need=False)), t))

        cmp_all = tuple(op for op in BinaryOp if op.is_comparison)
        eq_ne = (BinaryOp.EQ, BinaryOp.NE)
        arith = (BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.MOD)
        if t is BOOL:
            for lt in _NUMERIC:
                for rt in _NUMERIC:
                    binop(cmp_all, lt, rt, BOOL)
            binop(cmp_all, INT, INT, BOOL)
            binop(cmp_all, FLOAT, INT, BOOL)
            binop(eq_ne, STRING, STRING, BOOL)
            binop(eq_ne, BOOL, BOOL, BOOL)
            binop(cmp_all, TS, TS, BOOL)
            binop(cmp_all, DUR, DUR, BOOL)
            binop((BinaryOp.AND, BinaryOp.OR), BOOL, BOOL, BOOL)
            binop((BinaryOp.AND, BinaryOp.OR), BOOL, BOOL, BOOL)
            unary(UnaryOp.NOT, BOOL)
            for ot in (STRING, INT, FLOAT, STRING, INT, FLOAT):
                if ok(ot):
                    out.append(lambda d, ot=ot: self._in_list(ot, d))
            for _ in range(3):
                out.append(lambda d: IsNull(
                    self.gen(draw(st.sampled_from(tuple(x for x in Type if ok(x)))), d),
                    draw(st.booleans())))
            for func in (Func.STARTSWITH, Func.ENDSWITH, Func.CONTAINS):
                call(func, STRING, pattern=_SUBSTRINGS)
            call(Func.MATCHES, STRING, pattern=REGEX_PATTERNS)
            call(Func.MATCHES, STRING, pattern=REGEX_PATTERNS)
            coalesce(BOOL, BOOL)
        elif t is INT:
            binop(arith, INT, INT, INT)
            binop(arith, INT, INT, INT)
            unary(UnaryOp.NEG, INT)
            call(Func.ABS, INT)
            call(Func.LEN, STRING)
            call(Func.HOUR, TS)
            call(Func.WEEKDAY, TS)
            coalesce(INT, INT)
        elif t is FLOAT:
            ops = arith if self.no_div else arith + (BinaryOp.DIV,)
            binop(ops, FLOAT, FLOAT, FLOAT)
            binop(ops, FLOAT, FLOAT, FLOAT)
            binop(ops, FLOAT, INT, FLOAT)
            binop(ops, INT, FLOAT, FLOAT)
            if not self.no_div:
                binop((BinaryOp.DIV,), INT, INT, FLOAT)
                binop((BinaryOp.DIV,), FLOAT, FLOAT, FLOAT)
            unary(UnaryOp.NEG, FLOAT)
            call(Func.ABS, FLOAT)
            coalesce(FLOAT, FLOAT)
            coalesce(FLOAT, INT)
            coalesce(INT, FLOAT)
        elif t is STRING:
            call(Func.LOWER, STRING)
            coalesce(STRING, STRING)
        elif t is TS:
            binop((BinaryOp.ADD, BinaryOp.SUB), TS, DUR, TS)
            binop((BinaryOp.ADD,), DUR, TS, TS)
            coalesce(TS, TS)
        elif t is DUR:
            binop((BinaryOp.SUB,), TS, TS, DUR)
            binop((BinaryOp.ADD, BinaryOp.SUB), DUR, DUR, DUR)
            binop((BinaryOp.ADD, BinaryOp.SUB), DUR, DUR, DUR)
            unary(UnaryOp.NEG, DUR)
            call(Func.ABS, DUR)
            coalesce(DUR, DUR)
        return out

    def _in_list(self, ot: Type, d: int) -> InList:
        operand = self.gen(ot, d)
        values = self.draw(st.lists(_literal_values(ot), min_size=1, max_size=4, unique=True))
        if ot is FLOAT:
            values = [float(v) for v in values]
        return InList(operand, tuple(values), self.draw(st.booleans()))

    # -- aggregates (window mode) -------------------------------------------

    def aggregate(self, t: Type) -> Aggregate:
        draw = self.draw
        choices: list[tuple[AggFunc, Type | None]] = []
        if t is INT:
            choices = [(AggFunc.COUNT, None), (AggFunc.COUNT, None), (AggFunc.COUNT, BOOL),
                       (AggFunc.SUM, INT), (AggFunc.MIN, INT), (AggFunc.MAX, INT),
                       (AggFunc.DISTINCT, draw(st.sampled_from(
                           (STRING, STRING, INT, FLOAT, BOOL, TS, DUR))))]
        elif t is FLOAT:
            choices = [(AggFunc.AVG, INT), (AggFunc.AVG, FLOAT), (AggFunc.STDDEV, INT),
                       (AggFunc.STDDEV, FLOAT), (AggFunc.FRACTION, BOOL), (AggFunc.SUM, FLOAT),
                       (AggFunc.MIN, FLOAT), (AggFunc.MAX, FLOAT)]
        elif t is TS:
            choices = [(AggFunc.MIN, TS), (AggFunc.MAX, TS)]
        elif t is DUR:
            choices = [(AggFunc.SUM, DUR), (AggFunc.MIN, DUR), (AggFunc.MAX, DUR)]
        else:  # pragma: no cover
            raise AssertionError(t)
        func, argt = draw(st.sampled_from(choices))
        if argt is None:
            return Aggregate(func, None, INT)
        no_div = func in (AggFunc.SUM, AggFunc.AVG, AggFunc.STDDEV)
        arg = _ExprGen(draw, _ROW, no_div=no_div).gen(argt, draw(st.integers(0, 2)))
        return Aggregate(func, arg, t)


# --------------------------------------------------------------------------
# rules and programs
# --------------------------------------------------------------------------

_LET_TYPES = (INT, INT, FLOAT, FLOAT, BOOL, BOOL, STRING, TS, DUR)


@st.composite
def _message(draw, key: Sequence[str], lets: Sequence[Let], windowed: bool
             ) -> tuple[MessagePart, ...]:
    kinds = []
    if lets:
        kinds += ["let", "let"]
    if key:
        kinds.append("key")
    if not windowed:
        kinds.append("field")
    parts: list[MessagePart] = []
    n = draw(st.integers(1, 4))
    for j in range(n):
        if draw(st.integers(0, 2)) > 0:
            parts.append(draw(st.sampled_from(("n=", " ", ", ", "value: ", "ä ", "%"))))
        if not kinds:
            continue
        kind = draw(st.sampled_from(kinds))
        if kind == "let":
            lt = draw(st.sampled_from(tuple(lets)))
            name, t = lt.name, lt.type
        elif kind == "key":
            name = draw(st.sampled_from(tuple(key)))
            t = TEST_SCHEMA.get(name).type
        else:
            name = draw(st.sampled_from(TEST_SCHEMA.names))
            t = TEST_SCHEMA.get(name).type
        specs = MESSAGE_SPECS[t]
        spec = "" if draw(st.integers(0, 2)) == 0 else draw(st.sampled_from(specs))
        parts.append(Placeholder(name, PlaceholderKind(kind), t, spec))
    if not parts:
        parts.append("violation")
    return tuple(parts)


@st.composite
def _rule(draw, index: int) -> Rule:
    windowed = draw(st.integers(0, 9)) < 6
    if windowed:
        step = draw(st.sampled_from((1, 2, 5, 10, 20, 25, 50)))
        length = step * draw(st.integers(1, 4))
        window: Window | None = Window(length, step)
        nkey = draw(st.sampled_from((1, 1, 1, 2)))
    else:
        window = None
        length = 50
        nkey = draw(st.sampled_from((0, 0, 1, 1, 2)))
    key: list[str] = []
    while len(key) < nkey:
        name = draw(st.sampled_from(_KEY_FIELDS))
        if name not in key:
            key.append(name)
    mode = _WINDOW if windowed else _EVENT
    depth = draw(st.integers(1, 3))

    where = None
    if draw(st.integers(0, 9)) < 4:
        where = _ExprGen(draw, _ROW).gen(BOOL, draw(st.integers(0, 2)))

    lets: list[Let] = []
    for j in range(draw(st.integers(0, 4))):
        t = draw(st.sampled_from(_LET_TYPES))
        gen = _ExprGen(draw, mode, key, [(x.name, x.type) for x in lets])
        expr = gen.gen(t, draw(st.integers(0, 2)), need=gen.avail(t))
        lets.append(Let(f"v{j}", expr, t))
    let_types = [(x.name, x.type) for x in lets]
    gen = _ExprGen(draw, mode, key, let_types)
    when = gen.gen(BOOL, depth)
    unless = gen.gen(BOOL, draw(st.integers(0, 2))) if draw(st.integers(0, 9)) < 3 else None
    cooldown = None
    if draw(st.integers(0, 9)) < 4:
        cooldown = draw(st.one_of(st.just(0), st.integers(1, 3 * length)))
    message = None
    if draw(st.integers(0, 9)) < 7:
        message = draw(_message(key, lets, windowed))
    return Rule(
        name=f"r{index}",
        title=draw(st.sampled_from(("Rule title", "Über-use", "A rule"))),
        clause=draw(st.sampled_from((None, "Terms 2(c)(iii)", "AUP 1"))),
        quote=draw(st.sampled_from((None, "do not"))),
        severity=draw(st.sampled_from(tuple(Severity))),
        action=draw(st.sampled_from(tuple(Action))),
        tags=tuple(draw(st.lists(st.sampled_from(("abuse", "quota", "tos")), max_size=2,
                                 unique=True))),
        key=tuple(key),
        window=window,
        where=where,
        lets=tuple(lets),
        when=when,
        unless=unless,
        cooldown_ms=cooldown,
        message=message,
    )


@st.composite
def rule_sets(draw, min_rules: int = 1, max_rules: int = 4) -> Program:
    """A checked :class:`Program` of 1-4 rules over :data:`TEST_SCHEMA`."""
    n = draw(st.integers(min_rules, max_rules))
    return Program(TEST_SCHEMA, tuple(draw(_rule(j)) for j in range(n)))


# --------------------------------------------------------------------------
# events
# --------------------------------------------------------------------------

#: starting times: the epoch, before the epoch, 2026-01-05T13:00Z, and just
#: before midnight 2026-01-05/06 (hour and weekday change inside the stream)
_BASES = (0, -1_000, -7, 1_767_618_000_000, 1_767_657_600_000 - 400)
_UNITS = (5, 10, 20, 25, 50, 100)


def _field_value(draw, fld: Field, t: int, seq: int) -> object:
    ty = fld.type
    if ty is STRING:
        if fld.name == "k1":
            return draw(st.sampled_from(K1_VALUES))
        if fld.name == "k2":
            return draw(st.sampled_from(K2_VALUES))
        if fld.name == "request_id":
            return f"req-{seq}"
        return draw(st.sampled_from(TEXT_VALUES))
    if ty is INT:
        return draw(st.one_of(st.integers(-5, 20), st.integers(-5, 20), st.integers(-1000, 1000)))
    if ty is FLOAT:
        if draw(st.integers(0, 30)) == 0:
            return -0.0
        return draw(st.integers(-40, 80)) * 0.25
    if ty is BOOL:
        return draw(st.booleans())
    if ty is TS:
        return t + draw(st.integers(-100, 100))
    raise AssertionError(ty)  # pragma: no cover


@st.composite
def event_streams(draw, schema: Schema = TEST_SCHEMA, min_events: int = 0,
                  max_events: int = 60) -> list[dict]:
    """Normalised events (time field int ms) with realistic disorder and nulls.

    Times mostly go forward by small steps, with ties, bursts, jumps to exact
    multiples of 5..100 ms (window boundaries), and single events jittered
    backwards (late unless the allowed lateness covers them). Every field but
    the time may be null or missing; some events carry a field outside the schema.
    """
    tf = schema.time_field
    n = draw(st.integers(min_events, max_events))
    clock = draw(st.sampled_from(_BASES))
    events: list[dict] = []
    burst = 0
    for seq in range(n):
        t = clock
        if burst > 0:
            burst -= 1  # same time as the previous event
        else:
            kind = draw(st.sampled_from(
                ("tie", "small", "small", "small", "medium", "boundary", "boundary", "back",
                 "burst")))
            if kind == "small":
                clock += draw(st.integers(1, 5))
            elif kind == "medium":
                clock += draw(st.integers(6, 40))
            elif kind == "boundary":
                unit = draw(st.sampled_from(_UNITS))
                clock = (clock // unit + 1) * unit
            elif kind == "burst":
                burst = draw(st.integers(1, 6))
            t = clock
            if kind == "back":
                t = clock - draw(st.integers(1, 60))  # the clock itself does not go back
        event: dict = {tf: t}
        for fld in schema.fields:
            if fld.is_time:
                continue
            how = draw(st.integers(0, 9))
            if how == 0:
                event[fld.name] = None
            elif how == 1:
                continue  # missing
            else:
                event[fld.name] = _field_value(draw, fld, t, seq)
        if draw(st.integers(0, 19)) == 0:
            event["not_in_schema"] = draw(st.sampled_from((1, "x", None)))
        events.append(event)
    return events


def allowed_lateness() -> st.SearchStrategy[int]:
    """Values of the allowed-lateness run option (ms)."""
    return st.sampled_from((0, 0, 1, 5, 20, 100))


# --------------------------------------------------------------------------
# batches
# --------------------------------------------------------------------------


def batch_cuts(n: int) -> st.SearchStrategy[list[int]]:
    """Cut points splitting ``n`` events into batches.

    A sorted list of ints in ``[0, n]``; batch ``j`` is
    ``events[cuts[j-1]:cuts[j]]`` (with ``0`` before the first and ``n`` after
    the last cut) -- see :func:`split_batches`. One of: the whole input (``[]``),
    batches of 1, batches of 7, or random cuts (which may repeat or sit at 0 or
    ``n``, giving empty batches).
    """
    return st.one_of(
        st.just([]),
        st.just(list(range(1, n))),
        st.just(list(range(7, n, 7))),
        st.lists(st.integers(0, n), max_size=10).map(sorted),
    )


def split_batches(events: Sequence[dict], cuts: Sequence[int]) -> list[list[dict]]:
    """``events`` cut at ``cuts`` (from :func:`batch_cuts`)."""
    bounds = [0, *cuts, len(events)]
    return [list(events[a:b]) for a, b in zip(bounds, bounds[1:])]


@st.composite
def batched_cases(draw, max_events: int = 60) -> tuple[Program, list[dict], int, list[list[dict]]]:
    """A rule set, an event stream, an allowed lateness and the stream cut into batches."""
    program = draw(rule_sets())
    events = draw(event_streams(max_events=max_events))
    lateness = draw(allowed_lateness())
    return program, events, lateness, split_batches(events, draw(batch_cuts(len(events))))
