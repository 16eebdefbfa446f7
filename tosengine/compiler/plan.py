"""IR → Plan: every decision the code generator and the runtime share.

The plan says which event columns the kernels read and how each is encoded,
which string fields share a dictionary (a *group*: fields whose values are
compared with each other, so equal strings get equal codes), which per-string
lookup tables (LUTs) exist, and for each windowed rule its descriptors for the
generic window machine (:mod:`tosengine.compiler.windows`): the per-event
arguments its aggregates read, its per-pane accumulators and its aggregates.

Encodings (what the runtime hands the kernel for each used field):

* time field: ``int64`` milliseconds, never null;
* ``int``/``timestamp``: ``int64`` values + ``uint8`` null mask;
* ``float``: ``float64`` values + ``uint8`` null mask (NaN is null);
* ``bool``: ``uint8`` values (0/1) + ``uint8`` null mask;
* ``string``: ``int32`` dictionary codes of the field's group, 0 = null.

A LUT maps a group's codes to the value of one string function (``startswith``,
``len``, ``in [...]``, ``lower`` ...), so kernels never touch a Python string.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tosengine import ir
from tosengine.compiler import layout
from tosengine.language.types import Type

# ---------------------------------------------------------------------------
# Plan data
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """An event field read by the kernels."""

    name: str
    type: Type
    group: int | None = None  # string dictionary group


@dataclass(frozen=True)
class Group:
    """A string dictionary shared by ``fields``.

    ``literals`` are interned first, so literal ``i`` always has code ``i + 1``.
    """

    id: int
    fields: tuple[str, ...]
    literals: tuple[str, ...]

    def literal_code(self, text: str) -> int:
        return self.literals.index(text) + 1


class LutKind:
    BOOL = "bool"  # uint8 0/1
    INT = "int"  # int64
    CODE = "code"  # int32 codes of the same group


@dataclass(frozen=True)
class Lut:
    """``op(string, arg)`` tabulated over the codes of ``group``."""

    id: int
    group: int
    op: str  # startswith endswith contains matches len lower in
    arg: object  # pattern string, regex string, tuple of strings, or None
    kind: str


@dataclass(frozen=True)
class Arg:
    """A per-event value a windowed rule's aggregates read (one per selected event).

    ``mode`` "truth" stores 1 where the (bool) expression is true, else 0, and
    is never null; "value" stores the value and a null flag. Floats go to the
    float argument matrix, everything else (ints, bools, times, string codes,
    and the bit patterns of floats counted by ``distinct``) to the int matrix.
    """

    index: int
    expr: ir.Expr
    mode: str  # "truth" or "value"
    is_float: bool
    for_distinct: bool = False


@dataclass(frozen=True)
class Acc:
    """One per-pane accumulator word of a windowed rule (a row of its ``A`` descriptor)."""

    kind: int
    offset: int  # word within the pane block of its row (int I or float F)
    arg: int = -1
    arg_float: bool = False
    aux1: int = 0  # MEAN: index of the nn accumulator
    aux2: int = 0  # MEAN: index of the m2 accumulator


@dataclass(frozen=True)
class Agg:
    """One aggregate of a windowed rule (a row of its ``G`` descriptor)."""

    node: ir.Aggregate
    func: int
    is_float: bool
    acc1: int
    acc2: int = 0
    acc3: int = 0  # AVG: 1 when the summed argument is a float


@dataclass(frozen=True)
class RulePlan:
    """Layout and code-generation facts for one rule."""

    index: int
    rule: ir.Rule
    key_types: tuple[Type, ...]
    keymode: int  # layout.KEY_CODE / KEY_HASH for windowed rules, 0 for event rules
    window_index: int = -1  # position among the windowed rules
    args: tuple[Arg, ...] = ()
    accs: tuple[Acc, ...] = ()
    aggs: tuple[Agg, ...] = ()
    distincts: tuple[tuple[int, int], ...] = ()  # (arg index, dcnt accumulator index)
    pane_words_i: int = 0
    pane_words_f: int = 0
    dist0: int = 0  # this rule's first distinct table in the global lists
    min_events: int = 1  # fewer events in a window cannot satisfy ``when`` (see min_events)

    @property
    def windowed(self) -> bool:
        return self.rule.window is not None

    @property
    def sliding(self) -> bool:
        return self.rule.window is not None and not self.rule.window.is_tumbling

    @property
    def key_width(self) -> int:
        return len(self.rule.key)

    @property
    def pane_base(self) -> int:
        return layout.pane_base(self.key_width)

    @property
    def cw_agg0(self) -> int:
        return layout.cw_agg0(self.key_width)

    def agg_index(self, node: ir.Aggregate) -> int:
        return next(k for k, a in enumerate(self.aggs) if a.node == node)

    def params(self) -> list[int]:
        """The rule's ``P`` parameter words (see :mod:`tosengine.compiler.layout`)."""
        w = self.rule.window
        assert w is not None
        p = [0] * layout.P_SIZE
        p[layout.P_LENGTH] = w.length_ms
        p[layout.P_STEP] = w.step_ms
        p[layout.P_PANES] = w.panes
        p[layout.P_KEYMODE] = self.keymode
        p[layout.P_KEYW] = self.key_width
        p[layout.P_PBASE] = self.pane_base
        p[layout.P_SI] = self.pane_words_i
        p[layout.P_SF] = max(self.pane_words_f, 1)
        p[layout.P_NACC] = len(self.accs)
        p[layout.P_NDIST] = len(self.distincts)
        p[layout.P_NAGG] = len(self.aggs)
        p[layout.P_DIST0] = self.dist0
        p[layout.P_MINCNT] = self.min_events
        return p

    def acc_rows(self) -> list[list[int]]:
        return [[a.kind, a.offset, a.arg, int(a.arg_float), a.aux1, a.aux2] for a in self.accs]

    def agg_rows(self) -> list[list[int]]:
        return [[g.func, int(g.is_float), g.acc1, g.acc2, g.acc3] for g in self.aggs]

    def distinct_rows(self) -> list[list[int]]:
        return [[arg, acc] for arg, acc in self.distincts]


def meta_size(rp: RulePlan) -> int:
    return layout.M_DIST + layout.D_WORDS * len(rp.distincts)


@dataclass(frozen=True)
class Plan:
    """Everything the generator and runtime need to agree on."""

    program: ir.Program
    columns: tuple[Column, ...]
    groups: tuple[Group, ...]
    luts: tuple[Lut, ...]
    rules: tuple[RulePlan, ...]
    lut_index: dict = field(default_factory=dict, compare=False)  # (group, op, arg) -> Lut

    @property
    def time_field(self) -> str:
        return self.program.schema.time_field

    @property
    def window_rules(self) -> tuple[RulePlan, ...]:
        return tuple(rp for rp in self.rules if rp.windowed)

    @property
    def distinct_count(self) -> int:
        return sum(len(rp.distincts) for rp in self.rules)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def group_of_field(self, name: str) -> Group:
        for g in self.groups:
            if name in g.fields:
                return g
        raise KeyError(name)

    def string_group(self, e: ir.Expr, lets: dict[str, ir.Expr]) -> int:
        """The dictionary group whose codes the string expression ``e`` yields."""
        srcs = sorted(_string_sources(e, lets))
        return self.group_of_field(srcs[0] if srcs else LITERALS).id


# ---------------------------------------------------------------------------
# Building the plan
# ---------------------------------------------------------------------------


def children(e: ir.Expr) -> tuple[ir.Expr, ...]:
    """Direct sub-expressions of ``e``."""
    if isinstance(e, ir.Unary):
        return (e.operand,)
    if isinstance(e, ir.Binary):
        return (e.left, e.right)
    if isinstance(e, (ir.InList, ir.IsNull)):
        return (e.operand,)
    if isinstance(e, ir.Call):
        return e.args
    if isinstance(e, ir.Aggregate):
        return (e.arg,) if e.arg is not None else ()
    return ()


def walk(e: ir.Expr):
    """Pre-order traversal."""
    stack = [e]
    while stack:
        x = stack.pop()
        yield x
        stack.extend(reversed(children(x)))


def rule_exprs(rule: ir.Rule) -> list[ir.Expr]:
    out = [let.expr for let in rule.lets] + [rule.when]
    if rule.where is not None:
        out.append(rule.where)
    if rule.unless is not None:
        out.append(rule.unless)
    return out


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


LITERALS = ""  # pseudo-field of the group holding string expressions made of literals only


def _string_sources(e: ir.Expr, lets: dict[str, ir.Expr]) -> set[str]:
    """String fields a string-typed expression's codes come from."""
    if isinstance(e, (ir.FieldRef, ir.KeyRef)):
        return {e.name}
    if isinstance(e, ir.LetRef):
        return _string_sources(lets[e.name], lets)
    if isinstance(e, ir.Call) and e.func in (ir.Func.LOWER, ir.Func.COALESCE):
        out: set[str] = set()
        for a in e.args:
            out |= _string_sources(a, lets)
        return out
    return set()


def _code_combos(e: ir.Expr) -> list[tuple[ir.Expr, ...]]:
    """String expressions at ``e`` whose codes must share one dictionary."""
    S = Type.STRING
    if isinstance(e, ir.Binary) and e.op in (ir.BinaryOp.EQ, ir.BinaryOp.NE) and e.left.type is S:
        return [(e.left, e.right)]
    if isinstance(e, ir.Call) and e.type is S and e.func is ir.Func.COALESCE:
        return [tuple(e.args)]
    if isinstance(e, ir.Call) and e.args and e.args[0].type is S:
        return [(e.args[0],)]
    if isinstance(e, (ir.InList, ir.IsNull)) and e.operand.type is S:
        return [(e.operand,)]
    if isinstance(e, ir.Aggregate) and e.arg is not None and e.arg.type is S:
        return [(e.arg,)]
    return []


def _code_literals(e: ir.Expr) -> list[str]:
    """String literals inside a code expression (through lower/coalesce)."""
    if isinstance(e, ir.Literal) and e.type is Type.STRING:
        return [str(e.value)]
    if isinstance(e, ir.Call) and e.func in (ir.Func.LOWER, ir.Func.COALESCE):
        return [x for a in e.args for x in _code_literals(a)]
    return []


def build_plan(program: ir.Program) -> Plan:
    """Analyse ``program`` into a :class:`Plan`."""
    schema = program.schema
    used: dict[str, Type] = {schema.time_field: Type.TIMESTAMP}
    uf = _UnionFind()
    literal_pairs: list[tuple[str, str]] = []  # (field, literal) to pin in its group

    for rule in program.rules:
        lets = {let.name: let.expr for let in rule.lets}
        for k in rule.key:
            used[k] = schema.get(k).type  # type: ignore[union-attr]
            if used[k] is Type.STRING:
                uf.find(k)
        combos = [(let.expr,) for let in rule.lets if let.type is Type.STRING]
        for root in rule_exprs(rule):
            for node in walk(root):
                if isinstance(node, (ir.FieldRef, ir.KeyRef)):
                    used[node.name] = node.type
                    if node.type is Type.STRING:
                        uf.find(node.name)
                combos += _code_combos(node)
        for combo in combos:
            srcs = sorted(set().union(*(_string_sources(x, lets) for x in combo)) or {LITERALS})
            for a in srcs:
                uf.union(srcs[0], a)
            literal_pairs += [(srcs[0], lit) for x in combo for lit in _code_literals(x)]

    string_fields = sorted(n for n, t in used.items() if t is Type.STRING)
    if LITERALS in uf.parent:
        string_fields = [LITERALS, *string_fields]
    roots = sorted({uf.find(f) for f in string_fields})
    group_fields = {r: tuple(f for f in string_fields if uf.find(f) == r) for r in roots}
    group_lits: dict[str, list[str]] = {r: [] for r in roots}
    for f, lit in literal_pairs:
        lst = group_lits[uf.find(f)]
        if lit not in lst:
            lst.append(lit)
    groups = tuple(
        Group(i, group_fields[r], tuple(group_lits[r])) for i, r in enumerate(roots)
    )
    gid = {f: g.id for g in groups for f in g.fields}

    columns = tuple(
        Column(name, used[name], gid.get(name))
        for name in schema.names
        if name in used
    )

    # LUTs: string functions over a code expression
    luts: list[Lut] = []
    lut_index: dict = {}

    def need_lut(group: int, op: str, arg: object, kind: str) -> None:
        k = (group, op, arg)
        if k not in lut_index:
            lut = Lut(len(luts), group, op, arg, kind)
            luts.append(lut)
            lut_index[k] = lut

    def group_of(e: ir.Expr, lets: dict[str, ir.Expr]) -> int:
        srcs = sorted(_string_sources(e, lets))
        return gid[srcs[0] if srcs else LITERALS]

    for rule in program.rules:
        lets = {let.name: let.expr for let in rule.lets}
        for root in rule_exprs(rule):
            for node in walk(root):
                if isinstance(node, ir.Call):
                    f = node.func
                    if f in (ir.Func.STARTSWITH, ir.Func.ENDSWITH, ir.Func.CONTAINS,
                             ir.Func.MATCHES):
                        pat = node.args[1]
                        assert isinstance(pat, ir.Literal)
                        need_lut(group_of(node.args[0], lets), f.value, pat.value, LutKind.BOOL)
                    elif f is ir.Func.LEN:
                        need_lut(group_of(node.args[0], lets), "len", None, LutKind.INT)
                    elif f is ir.Func.LOWER:
                        need_lut(group_of(node.args[0], lets), "lower", None, LutKind.CODE)
                elif isinstance(node, ir.InList) and node.operand.type is Type.STRING:
                    need_lut(group_of(node.operand, lets), "in", tuple(node.values),
                             LutKind.BOOL)

    rules: list[RulePlan] = []
    dist0 = 0
    for i, r in enumerate(program.rules):
        rp = _plan_rule(i, r, program, sum(x.windowed for x in rules), dist0)
        dist0 += len(rp.distincts)
        rules.append(rp)
    return Plan(
        program=program,
        columns=columns,
        groups=groups,
        luts=tuple(luts),
        rules=tuple(rules),
        lut_index=lut_index,
    )


def _aggregates(rule: ir.Rule) -> list[ir.Aggregate]:
    out: list[ir.Aggregate] = []
    for root in rule_exprs(rule):
        for node in walk(root):
            if isinstance(node, ir.Aggregate) and node not in out:
                out.append(node)
    return out


def _plan_rule(index: int, rule: ir.Rule, program: ir.Program, window_index: int,
               dist0: int) -> RulePlan:
    key_types = tuple(program.schema.get(k).type for k in rule.key)  # type: ignore[union-attr]
    if rule.window is None:
        return RulePlan(index, rule, key_types, 0)
    keymode = layout.KEY_CODE if key_types == (Type.STRING,) else layout.KEY_HASH

    args: list[Arg] = []

    def arg(expr: ir.Expr, mode: str, for_distinct: bool = False) -> Arg:
        for a in args:
            if a.expr == expr and a.mode == mode and a.for_distinct == for_distinct:
                return a
        is_float = mode == "value" and expr.type is Type.FLOAT and not for_distinct
        a = Arg(len(args), expr, mode, is_float, for_distinct)
        args.append(a)
        return a

    # accumulators 0..3 are always STAMP, CNT, FIRST, LAST (the machine relies on it)
    accs: list[Acc] = [Acc(layout.ACC_STAMP, layout.STAMP), Acc(layout.ACC_CNT, layout.CNT),
                       Acc(layout.ACC_FIRST, layout.FIRST), Acc(layout.ACC_LAST, layout.LAST)]
    words = {"i": layout.PANE_FIXED, "f": 0}

    def acc(kind: int, a: Arg, is_float: bool) -> int:
        for k, x in enumerate(accs):
            if x.kind == kind and x.arg == a.index:
                return k
        row = "f" if is_float else "i"
        accs.append(Acc(kind, words[row], a.index, a.is_float))
        words[row] += 1
        return len(accs) - 1

    aggs: list[Agg] = []
    distincts: list[tuple[int, int]] = []
    for node in _aggregates(rule):
        x = node.arg
        f = node.func
        if f in (ir.AggFunc.COUNT, ir.AggFunc.FRACTION):
            a1 = 1 if x is None else acc(layout.ACC_TRUE, arg(x, "truth"), False)
            if f is ir.AggFunc.COUNT:
                aggs.append(Agg(node, layout.AGG_COUNT, False, a1))
            else:
                aggs.append(Agg(node, layout.AGG_FRACTION, True, a1, 1))
            continue
        assert x is not None
        xf = x.type is Type.FLOAT
        if f is ir.AggFunc.DISTINCT:
            a = arg(x, "value", for_distinct=True)
            d = acc(layout.ACC_DCNT, a, False)
            if (a.index, d) not in distincts:
                distincts.append((a.index, d))
            aggs.append(Agg(node, layout.AGG_DISTINCT, False, d))
            continue
        a = arg(x, "value")
        nn = acc(layout.ACC_NN, a, False)  # before the accumulators that read it
        if f in (ir.AggFunc.SUM, ir.AggFunc.AVG):
            sm = acc(layout.ACC_SUM_F if xf else layout.ACC_SUM_I, a, xf)
            if f is ir.AggFunc.SUM:
                aggs.append(Agg(node, layout.AGG_SUM, xf, sm, nn))
            else:
                aggs.append(Agg(node, layout.AGG_AVG, True, sm, nn, int(xf)))
        elif f in (ir.AggFunc.MIN, ir.AggFunc.MAX):
            is_min = f is ir.AggFunc.MIN
            kind = ((layout.ACC_MIN_F if xf else layout.ACC_MIN_I) if is_min
                    else (layout.ACC_MAX_F if xf else layout.ACC_MAX_I))
            m = acc(kind, a, xf)
            aggs.append(Agg(node, layout.AGG_MIN if is_min else layout.AGG_MAX, xf, m, nn))
        elif f is ir.AggFunc.STDDEV:
            m2 = acc(layout.ACC_M2, a, True)
            mean = acc(layout.ACC_MEAN, a, True)
            accs[mean] = Acc(layout.ACC_MEAN, accs[mean].offset, a.index, a.is_float, nn, m2)
            aggs.append(Agg(node, layout.AGG_STDDEV, True, mean, m2))
        else:  # pragma: no cover - the IR has no other aggregate
            raise AssertionError(f)
    return RulePlan(
        index, rule, key_types, keymode, window_index,
        args=tuple(args), accs=tuple(accs), aggs=tuple(aggs), distincts=tuple(distincts),
        pane_words_i=words["i"], pane_words_f=words["f"], dist0=dist0,
        min_events=min_events(rule),
    )


_AT_MOST_EVENTS = (ir.AggFunc.COUNT, ir.AggFunc.DISTINCT)  # never more than the window's events


def min_events(rule: ir.Rule) -> int:
    """The fewest events a window needs for the rule's ``when`` to hold (at least 1).

    ``count()``, ``count(x)`` and ``distinct(x)`` never exceed the number of
    events, so a conjunct such as ``requests >= 500`` (directly or through
    ``let`` names) means a window of fewer events cannot fire; the window
    machine then skips such windows without combining their panes or handing
    them to ``judge``. ``and`` takes the larger bound, ``or`` the smaller;
    anything else (``not``, arithmetic, other aggregates) bounds nothing.
    """
    lets = {let.name: let.expr for let in rule.lets}
    return max(1, _min_events(rule.when, lets, 0))


def _min_events(e: ir.Expr, lets: dict[str, ir.Expr], depth: int) -> int:
    if depth > 64:  # let chains are acyclic; this only bounds the recursion
        return 0
    if isinstance(e, ir.LetRef):
        return _min_events(lets[e.name], lets, depth + 1)
    if isinstance(e, ir.Binary):
        if e.op is ir.BinaryOp.AND:
            return max(_min_events(e.left, lets, depth + 1), _min_events(e.right, lets, depth + 1))
        if e.op is ir.BinaryOp.OR:
            return min(_min_events(e.left, lets, depth + 1), _min_events(e.right, lets, depth + 1))
        flipped = {ir.BinaryOp.LT: ir.BinaryOp.GT, ir.BinaryOp.LE: ir.BinaryOp.GE}
        left, op, right = e.left, e.op, e.right
        if op in flipped:
            left, op, right = right, flipped[op], left
        if op not in (ir.BinaryOp.GT, ir.BinaryOp.GE, ir.BinaryOp.EQ):
            return 0
        if not (_counts_events(left, lets, depth) and isinstance(right, ir.Literal)):
            return 0
        k = right.value
        if isinstance(k, bool) or not isinstance(k, (int, float)) or k != k:  # NaN bounds nothing
            return 0
        if k >= 2**62:
            return 2**62
        # an integer count c with c > k, c >= k or c == k
        return max(0, math.floor(k) + 1 if op is ir.BinaryOp.GT else math.ceil(k))
    return 0


def _counts_events(e: ir.Expr, lets: dict[str, ir.Expr], depth: int) -> bool:
    """Whether ``e`` is an aggregate that never exceeds the window's number of events."""
    while isinstance(e, ir.LetRef) and depth <= 64:
        e = lets[e.name]
        depth += 1
    return isinstance(e, ir.Aggregate) and e.func in _AT_MOST_EVENTS


def ring_size(window: ir.Window, allowed_lateness_ms: int) -> int:
    """Panes kept per slot (pane ``p`` of a key is at ``p % ring`` in its row).

    While the panes of window ``w`` are still needed (its end is above the
    watermark ``wm``), a key can hold events up to ``wm + lateness``: the
    window's own panes plus at most ``ceil(lateness / step)`` more. A tumbling
    window without allowed lateness needs one pane.
    """
    return window.panes + -(-allowed_lateness_ms // window.step_ms)
