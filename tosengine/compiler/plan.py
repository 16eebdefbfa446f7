"""IR → Plan: every decision the code generator and the runtime share.

The plan says which event columns the kernels read and how each is encoded,
which string fields share a dictionary (a *group*: fields whose values are
compared with each other, so equal strings get equal codes), which per-string
lookup tables (LUTs) exist, and for each rule the layout of its state rows.

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

from dataclasses import dataclass, field

from tosengine import ir
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
class Acc:
    """One per-pane accumulator word of a windowed rule."""

    kind: str  # stamp cnt first last true nn sum min max mean m2 dcnt
    expr: ir.Expr | None
    dtype: str  # "i" (int64 row) or "f" (float64 row)
    offset: int  # word offset within the pane block of its row


@dataclass(frozen=True)
class DistinctState:
    """Hash-set state of one ``distinct(x)`` aggregate."""

    index: int  # 0.. within the rule
    expr: ir.Expr
    acc: Acc  # the dcnt word (per-pane distinct count or rep histogram)


@dataclass(frozen=True)
class RulePlan:
    """Layout and code-generation facts for one rule."""

    index: int
    rule: ir.Rule
    key_types: tuple[Type, ...]
    key_string_only: bool  # one string key field: code → slot array, else a hash table
    needs_slots: bool  # windowed, or event rule with cooldown
    accs: tuple[Acc, ...] = ()
    distincts: tuple[DistinctState, ...] = ()
    aggregates: tuple[ir.Aggregate, ...] = ()
    pane_words_i: int = 0
    pane_words_f: int = 0

    @property
    def windowed(self) -> bool:
        return self.rule.window is not None

    @property
    def sliding(self) -> bool:
        return self.rule.window is not None and not self.rule.window.is_tumbling

    # fixed columns of the int64 state row
    NEXT_WIN = 0  # first window index not yet evaluated
    LAST_PANE = 1  # highest pane with events
    POS = 2  # position in the active list
    LAST_REPORT = 3  # time of the last reported violation (cooldown)
    ACTIVE = 4  # column used as the active-slot list
    FREE = 5  # column used as the free-slot stack
    KEY0 = 6  # key words start here; then one word of key null bits

    @property
    def key_width(self) -> int:
        return len(self.rule.key)

    @property
    def pane_base(self) -> int:
        return self.KEY0 + self.key_width + 1

    def acc(self, kind: str, expr: ir.Expr | None = None) -> Acc:
        for a in self.accs:
            if a.kind == kind and a.expr == expr:
                return a
        raise KeyError((kind, expr))


# meta words of every rule (int64 array ``M``)
M_ACTIVE = 0  # number of active slots
M_FREE = 1  # number of free slots on the stack
M_UNUSED = 2  # next never-used slot
M_NEXT_CLOSE = 3  # watermark at which the next window closes
M_RMASK = 4  # ring size - 1 (panes per slot row)
M_NEXT_W = 5  # every window below this index is evaluated for all keys
M_MAX_PANE = 6  # highest pane with events over all keys
M_KEYS = 7  # entries in the key hash table
M_DIST = 8  # per distinct aggregate: 5 words from here
D_S_COUNT, D_Q_COUNT, D_Q_SORTED, D_Q_LAST, D_R_COUNT = range(5)
D_WORDS = 5


def meta_size(rp: RulePlan) -> int:
    return M_DIST + D_WORDS * len(rp.distincts)


@dataclass(frozen=True)
class Plan:
    """Everything the generator and runtime need to agree on."""

    program: ir.Program
    columns: tuple[Column, ...]
    groups: tuple[Group, ...]
    luts: tuple[Lut, ...]
    rules: tuple[RulePlan, ...]
    key_words: int  # max key width over rules (output row layout)
    let_words: int  # max lets over rules
    lut_index: dict = field(default_factory=dict, compare=False)  # (group, op, arg) -> Lut

    @property
    def time_field(self) -> str:
        return self.program.schema.time_field

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

    # output row layout (int64 ``out_i``; float64 ``out_f`` holds float lets)
    O_RULE, O_ROW, O_WIN, O_TIME, O_EVENTS, O_FIRST, O_LAST, O_LETNULL = range(8)
    O_KEY0 = 8

    @property
    def o_keynull(self) -> int:
        return self.O_KEY0 + self.key_words

    @property
    def o_let0(self) -> int:
        return self.o_keynull + 1

    @property
    def out_width_i(self) -> int:
        return self.o_let0 + max(self.let_words, 1)

    @property
    def out_width_f(self) -> int:
        return max(self.let_words, 1)


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

    rules = tuple(_plan_rule(i, r, program) for i, r in enumerate(program.rules))
    return Plan(
        program=program,
        columns=columns,
        groups=groups,
        luts=tuple(luts),
        rules=rules,
        key_words=max([len(r.key) for r in program.rules] + [1]),
        let_words=max([len(r.lets) for r in program.rules] + [1]),
        lut_index=lut_index,
    )


def _aggregates(rule: ir.Rule) -> list[ir.Aggregate]:
    out: list[ir.Aggregate] = []
    for root in rule_exprs(rule):
        for node in walk(root):
            if isinstance(node, ir.Aggregate) and node not in out:
                out.append(node)
    return out


def _plan_rule(index: int, rule: ir.Rule, program: ir.Program) -> RulePlan:
    key_types = tuple(program.schema.get(k).type for k in rule.key)  # type: ignore[union-attr]
    key_string_only = len(key_types) == 1 and key_types[0] is Type.STRING
    needs_slots = rule.window is not None or rule.cooldown_ms is not None
    if rule.window is None:
        return RulePlan(index, rule, key_types, key_string_only, needs_slots)

    aggs = _aggregates(rule)
    accs_i: list[tuple[str, ir.Expr | None]] = [("stamp", None), ("cnt", None),
                                                 ("first", None), ("last", None)]
    accs_f: list[tuple[str, ir.Expr | None]] = []

    def add(kind: str, expr: ir.Expr | None, is_float: bool) -> None:
        lst = accs_f if is_float else accs_i
        if (kind, expr) not in lst:
            lst.append((kind, expr))

    for a in aggs:
        x = a.arg
        xf = x is not None and x.type is Type.FLOAT
        if a.func in (ir.AggFunc.COUNT, ir.AggFunc.FRACTION):
            if x is not None:
                add("true", x, False)
        elif a.func in (ir.AggFunc.SUM, ir.AggFunc.AVG):
            add("nn", x, False)
            add("sum", x, xf)
        elif a.func in (ir.AggFunc.MIN, ir.AggFunc.MAX):
            add("nn", x, False)
            add(a.func.value, x, xf)
        elif a.func is ir.AggFunc.STDDEV:
            add("nn", x, False)
            add("mean", x, True)
            add("m2", x, True)
        elif a.func is ir.AggFunc.DISTINCT:
            add("dcnt", x, False)
    accs = tuple(
        [Acc(k, e, "i", o) for o, (k, e) in enumerate(accs_i)]
        + [Acc(k, e, "f", o) for o, (k, e) in enumerate(accs_f)]
    )
    distinct_exprs = [a.arg for a in aggs if a.func is ir.AggFunc.DISTINCT]
    distincts = tuple(
        DistinctState(j, x, next(a for a in accs if a.kind == "dcnt" and a.expr == x))
        for j, x in enumerate(distinct_exprs)
    )
    return RulePlan(
        index, rule, key_types, key_string_only, needs_slots,
        accs=accs, distincts=distincts, aggregates=tuple(aggs),
        pane_words_i=len(accs_i), pane_words_f=len(accs_f),
    )


def ring_size(window: ir.Window, allowed_lateness_ms: int) -> int:
    """Panes kept per slot: the windows of one event plus the lateness span, as a power of two."""
    need = window.panes + -(-allowed_lateness_ms // window.step_ms) + 1
    size = 1
    while size < need:
        size *= 2
    return size
