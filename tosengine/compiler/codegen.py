"""Plan → readable Python source of the rule-specific numba kernels.

A rule set compiles to two functions, both one pass over their input:

* ``select`` reads a batch: for each windowed rule it selects the rows its
  ``where`` admits and writes their key words and the per-event arguments of
  its aggregates; for each event rule it evaluates ``where``, ``let``,
  ``when`` and ``unless`` and writes the rows that fire with their values;
* ``judge`` reads the windows the window machine closed: for each windowed
  rule it evaluates ``let``, ``when`` and ``unless`` over their aggregates.

Everything stateful (slots, panes, accumulators, distinct sets, watermark,
cooldowns) is the fixed, cached library in :mod:`tosengine.compiler.windows`,
so only these two small functions are compiled per rule set. Values travel as
``(value, is_null)`` pairs of Python expressions; strings are dictionary codes
(0 = null); columns are ``c_<field>`` (values) and ``m_<field>`` (null mask).
"""

from __future__ import annotations

import re
from collections import Counter
from contextlib import contextmanager

from tosengine import ir
from tosengine.compiler import layout
from tosengine.compiler.plan import LutKind, Plan, RulePlan
from tosengine.language.types import Type

CODEGEN_VERSION = "3"

JIT = '@njit(cache=True, nogil=True, error_model="numpy", no_cfunc_wrapper=True)'


class Emitter:
    """Collects indented source lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.level = 0
        self.counter = 0

    def __call__(self, line: str = "") -> None:
        self.lines.append(("    " * self.level + line) if line else "")

    @contextmanager
    def block(self, header: str):
        self(header)
        self.level += 1
        try:
            yield
        finally:
            self.level -= 1

    def tmp(self, prefix: str = "t") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def col(name: str) -> str:
    return f"c_{name}"


def mask(name: str) -> str:
    return f"m_{name}"


def lut_name(i: int) -> str:
    return f"lut_{i}"


def _lit(value: object, t: Type) -> str:
    if t is Type.BOOL:
        return "True" if value else "False"
    if t is Type.FLOAT:
        v = float(value)  # type: ignore[arg-type]
        if v != v:
            return "np.nan"
        if v in (float("inf"), float("-inf")):
            return "np.inf" if v > 0 else "-np.inf"
        return repr(v)
    return repr(int(value))  # type: ignore[arg-type]


_SIMPLE = re.compile(r"-?[A-Za-z_0-9.]+\Z")


def _or(*parts: str) -> str:
    """``a | b`` of null flags, dropping constant False parts."""
    live = [p for p in parts if p != "False"]
    if not live:
        return "False"
    return live[0] if len(live) == 1 else "(" + " | ".join(live) + ")"


_ZERO_TEST = re.compile(r"\(([^()]+) (==|!=) 0\)\Z")


def _not(x: str) -> str:
    if x in ("True", "False"):
        return "True" if x == "False" else "False"
    m = _ZERO_TEST.match(x)
    if m:  # (a == 0) <-> (a != 0)
        return f"({m.group(1)} {'!=' if m.group(2) == '==' else '=='} 0)"
    if x.startswith("(not ") and x.endswith(")") and _balanced(x[5:-1]):  # not not a == a
        return x[5:-1]
    return f"(not {x})"


def _invert(x: str) -> str:
    """``_not`` for numpy bool arrays: ``not`` would ask an array for one truth value, and
    ``~`` is wrong for a Python bool (a comparison of two literals), so ``np.logical_not``."""
    if x in ("True", "False"):
        return "True" if x == "False" else "False"
    m = _ZERO_TEST.match(x)
    if m:
        return f"({m.group(1)} {'!=' if m.group(2) == '==' else '=='} 0)"
    if x.startswith("np.logical_not(") and x.endswith(")") and _balanced(x[15:-1]):
        return x[15:-1]
    return f"np.logical_not({x})"


def _balanced(x: str) -> bool:
    """``x`` is one expression as far as parentheses go: none closes one it did not open."""
    depth = 0
    for ch in x:
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return False
    return depth == 0


class ExprGen:
    """Generates code for IR expressions in one rule and context.

    ``ctx`` is "event" (row ``i`` of the batch columns) or "closed" (row ``q``
    of a windowed rule's closed windows: aggregates and key words). Values are
    ``(value, is_null)`` pairs of Python expressions; sub-expressions are
    inlined unless used more than once, then they get a local variable. Logic
    uses ``&``/``|`` on bools (no short-circuit branches): a smaller control
    flow graph compiles much faster and runs branch-free.
    """

    def __init__(self, plan: Plan, rp: RulePlan, em: Emitter, ctx: str) -> None:
        self.plan, self.rp, self.em, self.ctx = plan, rp, em, ctx
        self.vec = ctx == "closed"  # closed windows are evaluated as numpy arrays, all at once
        self.not_ = _invert if self.vec else _not
        self.lets: dict[str, tuple[str, str]] = {}
        self.lets_expr = {let.name: let.expr for let in rp.rule.lets}
        self.cache: dict[ir.Expr, tuple[str, str]] = {}
        self.uses: Counter = Counter()
        from tosengine.compiler.plan import rule_exprs, walk

        for root in rule_exprs(rp.rule):
            for node in walk(root):
                self.uses[node] += 1

    # -- helpers -----------------------------------------------------------

    def name(self, expr: str, prefix: str = "v") -> str:
        """``expr`` itself if it is a name or literal, else a new local holding it."""
        if _SIMPLE.match(expr) or expr in ("True", "False"):
            return expr
        v = self.em.tmp(prefix)
        self.em(f"{v} = {expr}")
        return v

    def group_of(self, e: ir.Expr) -> int:
        return self.plan.string_group(e, self.lets_expr)

    def lut(self, group: int, op: str, arg: object) -> str:
        return lut_name(self.plan.lut_index[(group, op, arg)].id)

    # -- entry -------------------------------------------------------------

    def gen(self, e: ir.Expr) -> tuple[str, str]:
        if e in self.cache:
            return self.cache[e]
        v, n = self._gen(e)
        if self.uses[e] > 1 and not isinstance(e, ir.Literal):
            v, n = self.name(v), self.name(n, "n")
        self.cache[e] = (v, n)
        return v, n

    def where(self, cond: str, a: str, b: str) -> str:
        """``a`` where ``cond`` holds, else ``b``."""
        return f"np.where({cond}, {a}, {b})" if self.vec else f"({a} if {cond} else {b})"

    def bind_let(self, let: ir.Let) -> None:
        """Compute ``let`` once into locals: it is read by the clauses and written out."""
        v, n = self.gen(let.expr)
        self.lets[let.name] = (self.name(v), self.name(n, "n"))

    def truth(self, e: ir.Expr) -> str:
        """A Python bool: the expression is true (null counts as false).

        ``a and b`` is true when both are, ``a or b`` when either is, ``not a``
        when ``a`` is false: no null flags of the parts are needed.
        """
        return self._holds(e, True)

    def _holds(self, e: ir.Expr, value: bool) -> str:
        """A Python bool: the expression is ``value`` (null is neither true nor false).

        By De Morgan, ``a and b`` is false when either part is false, ``a or b``
        when both are, and ``not a`` is ``value`` when ``a`` is the other one.
        """
        if e not in self.cache:
            if isinstance(e, ir.Binary) and e.op.is_logical:
                op = "&" if (e.op is ir.BinaryOp.AND) == value else "|"
                return f"({self._holds(e.left, value)} {op} {self._holds(e.right, value)})"
            if isinstance(e, ir.Unary) and e.op is ir.UnaryOp.NOT:
                return self._holds(e.operand, not value)
        v, n = self.gen(e)
        if not value:
            v = self.not_(v)
        return v if n == "False" else f"({v} & {self.not_(n)})"

    def _gen(self, e: ir.Expr) -> tuple[str, str]:
        t = e.type
        if isinstance(e, ir.Literal):
            if t is Type.STRING:
                return self._code_pair(e)
            return _lit(e.value, t), "False"
        if isinstance(e, ir.FieldRef):
            assert self.ctx == "event", "field reference outside the event context"
            if e.name == self.plan.time_field:
                return "ts[i]", "False"
            if t is Type.STRING:
                return self._code_pair(e)
            if t is Type.BOOL:
                return f"({col(e.name)}[i] != 0)", f"({mask(e.name)}[i] != 0)"
            return f"{col(e.name)}[i]", f"({mask(e.name)}[i] != 0)"
        if isinstance(e, ir.KeyRef):
            if self.ctx == "event":
                return self._gen(ir.FieldRef(e.name, e.type))
            j = self.rp.rule.key.index(e.name)
            r = self.rp.index
            word = f"cw_{r}[q, {layout.CW_KEY0 + j}]"
            null = f"(((cw_{r}[q, {layout.CW_KEY0 + self.rp.key_width}] >> {j}) & 1) != 0)"
            if t is Type.BOOL:
                return f"({word} != 0)", null
            return word, null
        if isinstance(e, ir.LetRef):
            return self.lets[e.name]
        if isinstance(e, ir.Aggregate):
            r = self.rp.index
            k = self.rp.agg_index(e)
            if t is Type.FLOAT:
                return f"cwf_{r}[q, {k}]", f"(cwn_{r}[q, {k}] != 0)"
            return f"cw_{r}[q, {self.rp.cw_agg0 + k}]", f"(cwn_{r}[q, {k}] != 0)"
        if t is Type.STRING:
            return self._code_pair(e)
        if isinstance(e, ir.Unary):
            v, n = self.gen(e.operand)
            if e.op is ir.UnaryOp.NOT:
                return self.not_(v), n
            return f"(-{v})", n
        if isinstance(e, ir.IsNull):
            _, n = self.gen(e.operand)
            return (self.not_(n) if e.negated else n), "False"
        if isinstance(e, ir.InList):
            return self._in_list(e)
        if isinstance(e, ir.Call):
            return self._call(e)
        if isinstance(e, ir.Binary):
            return self._binary(e)
        raise AssertionError(f"unknown IR node {e!r}")

    # -- strings -----------------------------------------------------------

    def _code_pair(self, e: ir.Expr) -> tuple[str, str]:
        c = self.name(self.code(e), "c")
        return c, ("False" if c.lstrip("-").isdigit() and c != "0" else f"({c} == 0)")

    def code(self, e: ir.Expr) -> str:
        """A dictionary code (int) for a string expression; 0 is null."""
        if e in self.cache:
            return self.cache[e][0]
        if isinstance(e, ir.Literal):
            return self.code_in(e, self.group_of(e))
        if isinstance(e, ir.FieldRef):
            if self.ctx != "event":
                raise AssertionError("field reference outside the event context")
            return f"{col(e.name)}[i]"
        if isinstance(e, ir.KeyRef):
            if self.ctx == "event":
                return self.code(ir.FieldRef(e.name, e.type))
            return f"cw_{self.rp.index}[q, {layout.CW_KEY0 + self.rp.rule.key.index(e.name)}]"
        if isinstance(e, ir.LetRef):
            return self.lets[e.name][0]
        if isinstance(e, ir.Call) and e.func is ir.Func.LOWER:
            inner = self.code(e.args[0])
            return f"{self.lut(self.group_of(e.args[0]), 'lower', None)}[{inner}]"
        if isinstance(e, ir.Call) and e.func is ir.Func.COALESCE:
            g = self.group_of(e)
            a = self.name(self.code_in(e.args[0], g), "c")
            b = self.code_in(e.args[1], g)
            if a.isdigit():
                return a if a != "0" else b
            return self.where(f"{a} == 0", b, a)
        raise AssertionError(f"not a string expression: {e!r}")

    def code_in(self, e: ir.Expr, group: int) -> str:
        """Like :meth:`code`, but a literal becomes its pinned code in ``group``."""
        if isinstance(e, ir.Literal):
            return str(self.plan.groups[group].literal_code(str(e.value)))
        return self.code(e)

    # -- operators ---------------------------------------------------------

    def _in_list(self, e: ir.InList) -> tuple[str, str]:
        if e.operand.type is Type.STRING:
            c = self.name(self.code(e.operand), "c")
            lut = self.lut(self.group_of(e.operand), "in", tuple(e.values))
            v = f"({lut}[{c}] != 0)"
            n = f"({c} == 0)"
        else:
            x, n = self.gen(e.operand)
            if not e.values:
                v = "False"
            else:
                x = self.name(x)
                v = "(" + " | ".join(f"({x} == {_lit(val, e.operand.type)})"
                                     for val in e.values) + ")"
        return (self.not_(v) if e.negated else v), n

    def _call(self, e: ir.Call) -> tuple[str, str]:
        f = e.func
        if f in (ir.Func.STARTSWITH, ir.Func.ENDSWITH, ir.Func.CONTAINS, ir.Func.MATCHES):
            c = self.name(self.code(e.args[0]), "c")
            pat = e.args[1]
            assert isinstance(pat, ir.Literal)
            lut = self.lut(self.group_of(e.args[0]), f.value, pat.value)
            return f"({lut}[{c}] != 0)", f"({c} == 0)"
        if f is ir.Func.LEN:
            c = self.name(self.code(e.args[0]), "c")
            lut = self.lut(self.group_of(e.args[0]), "len", None)
            return f"{lut}[{c}]", f"({c} == 0)"
        if f is ir.Func.ABS:
            v, n = self.gen(e.args[0])
            return f"abs({v})", n
        if f is ir.Func.HOUR:
            v, n = self.gen(e.args[0])
            return f"(({v} // 3600000) % 24)", n
        if f is ir.Func.WEEKDAY:
            v, n = self.gen(e.args[0])
            return f"(({v} // 86400000 + 3) % 7)", n
        if f is ir.Func.COALESCE:
            a, na = self.gen(e.args[0])
            b, nb = self.gen(e.args[1])
            if na == "False":
                return a, "False"
            if e.type is Type.FLOAT:
                a, b = f"np.float64({a})", f"np.float64({b})"
            na = self.name(na, "n")
            return self.where(na, b, a), f"({na} & {nb})" if nb != "False" else "False"
        raise AssertionError(f"unknown function {f}")

    def _binary(self, e: ir.Binary) -> tuple[str, str]:
        op = e.op
        if op.is_logical:
            a, na = self.gen(e.left)
            b, nb = self.gen(e.right)
            if na == "False" and nb == "False":
                return f"({a} {'&' if op is ir.BinaryOp.AND else '|'} {b})", "False"
            a, na, b, nb = self.name(a), self.name(na, "n"), self.name(b), self.name(nb, "n")
            not_ = self.not_
            if op is ir.BinaryOp.AND:  # known false if either side is a known false
                decided = self.name(f"(({not_(na)} & {not_(a)}) | ({not_(nb)} & {not_(b)}))", "d")
                return not_(decided), f"({not_(decided)} & {_or(na, nb)})"
            decided = self.name(f"(({not_(na)} & {a}) | ({not_(nb)} & {b}))", "d")
            return decided, f"({not_(decided)} & {_or(na, nb)})"
        if op.is_comparison:
            if e.left.type is Type.STRING:
                g = self.group_of(e.left if not isinstance(e.left, ir.Literal) else e.right)
                a = self.name(self.code_in(e.left, g), "c")
                b = self.name(self.code_in(e.right, g), "c")
                nulls = [f"({x} == 0)" for x in (a, b) if not x.isdigit()]
                return f"({a} {op.value} {b})", _or(*nulls)
            a, na = self.gen(e.left)
            b, nb = self.gen(e.right)
            return f"({a} {op.value} {b})", _or(na, nb)
        a, na = self.gen(e.left)
        b, nb = self.gen(e.right)
        if op in (ir.BinaryOp.DIV, ir.BinaryOp.MOD):
            b = self.name(b)
            zero = f"({b} == 0)"
            v = f"({a} {op.value} ({b} + {zero}))"  # a zero divisor is replaced by 1; null anyway
            n = _or(na, nb, zero)
        else:
            v, n = f"({a} {op.value} {b})", _or(na, nb)
        if e.type is Type.FLOAT:
            v = self.name(v)
            n = _or(n, f"({v} != {v})")
        return v, n


# ---------------------------------------------------------------------------
# Module generation
# ---------------------------------------------------------------------------


def column_args(plan: Plan) -> list[str]:
    """Argument names of the encoded batch columns, in plan order."""
    out: list[str] = []
    for c in plan.columns:
        if c.name == plan.time_field:
            continue
        out.append(col(c.name))
        if c.type is not Type.STRING:
            out.append(mask(c.name))
    return out


def lut_args(plan: Plan) -> list[str]:
    return [lut_name(lut.id) for lut in plan.luts]


def select_outputs(rp: RulePlan) -> list[str]:
    """Arrays ``select`` fills for one rule."""
    r = rp.index
    if rp.windowed:
        return [f"sel_{r}", f"kw_{r}", f"ia_{r}", f"fa_{r}", f"na_{r}"]
    return [f"row_{r}", f"kw_{r}", f"lvi_{r}", f"lvf_{r}", f"lvn_{r}"]


def judge_io(rp: RulePlan) -> list[str]:
    """Arrays ``judge`` reads and fills for one windowed rule."""
    r = rp.index
    return [f"cw_{r}", f"cwf_{r}", f"cwn_{r}", f"fire_{r}", f"lvi_{r}", f"lvf_{r}", f"lvn_{r}"]


def select_args(plan: Plan) -> list[str]:
    outs = [name for rp in plan.rules for name in select_outputs(rp)]
    return ["ts", "skip", *column_args(plan), *lut_args(plan), *outs, "counts"]


def judge_args(plan: Plan) -> list[str]:
    ios = [name for rp in plan.window_rules for name in judge_io(rp)]
    return [*lut_args(plan), *ios, "ncw"]


def generate(plan: Plan) -> str:
    """The complete kernel module source for ``plan``."""
    em = Emitter()
    em('"""tosengine kernels, generated from a rule set. Do not edit.')
    em()
    em(f"Rule set fingerprint: {plan.program.fingerprint()}")
    em(f"Code generator version: {CODEGEN_VERSION}")
    em()
    em("select_<r> (jitted) reads a batch and keeps the rows rule r needs, with their")
    em("values; judge_<r> (numpy, all rows at once) evaluates the windows of rule r")
    em("that the window machine (tosengine.compiler.windows) closed. Each takes only")
    em("the arrays its rule uses; `select` and `judge` call them for every rule.")
    em("Columns are c_<field> (values; strings as dictionary codes, 0 = null) and")
    em("m_<field> (null masks); lut_<n> are per-string lookup tables.")
    em('"""')
    em()
    em("import numpy as np")
    em("from numba import njit")
    em("from tosengine.compiler.prims import float_bits")
    calls: list[str] = []
    for rp in plan.rules:
        params = _emit_function(em, f"select_{rp.index}", select_args(plan), _select_body(plan, rp),
                                jit=True)
        calls.append(f"counts[{rp.index}] = select_{rp.index}({', '.join(params)})")
    em()
    em()
    with em.block(f"def select({', '.join(select_args(plan))}):"):
        em('"""Every rule\'s select kernel over the batch; counts[r] = rows rule r kept."""')
        for line in calls:
            em(line)
        em("return 0")
    judges = []
    for rp in plan.window_rules:
        params = _emit_function(em, f"judge_{rp.index}", judge_args(plan), _judge_body(plan, rp),
                                jit=False)
        judges.append((rp.window_index, f"judge_{rp.index}({', '.join(params)})"))
    em()
    em()
    with em.block(f"def judge({', '.join(judge_args(plan))}):"):
        em('"""Every windowed rule\'s judge over its closed windows (ncw[w] of them)."""')
        if judges:
            with em.block('with np.errstate(all="ignore"):  # as error_model="numpy": inf, nan, no warning'):
                for w, call in judges:
                    with em.block(f"if ncw[{w}]:"):
                        em(call)
        em("return 0")
    return em.text()


_IDENT = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def _emit_function(em: Emitter, name: str, candidates: list[str], body: Emitter, *,
                   jit: bool) -> list[str]:
    """Emit ``name`` taking the names of ``candidates`` its body uses; those names."""
    used = set(_IDENT.findall(body.text()))
    params = [a for a in candidates if a in used]
    em()
    em()
    if jit:
        em(JIT)
    with em.block(f"def {name}({', '.join(params)}):"):
        for line in body.lines:
            em(line)
    return params


def _rule_doc(rp: RulePlan, em: Emitter, what: str) -> None:
    em(f'"""Rule {rp.index} `{rp.rule.name}`: {what}."""')


def _key_words(plan: Plan, rp: RulePlan, em: Emitter, out: str) -> None:
    """Write row i's key words and their null bits into ``out[m]``."""
    bits = []
    for j, (name, t) in enumerate(zip(rp.rule.key, rp.key_types)):
        if name == plan.time_field:
            em(f"{out}[m, {j}] = ts[i]")
            continue
        em(f"{out}[m, {j}] = {col(name)}[i]")
        bits.append(f"(({col(name)}[i] == 0) << {j})" if t is Type.STRING
                    else f"(({mask(name)}[i] != 0) << {j})")
    em(f"{out}[m, {rp.key_width}] = {' | '.join(bits) if bits else '0'}")


def _lets_out(rp: RulePlan, g: ExprGen, em: Emitter, row: str) -> None:
    r = rp.index
    for j, let in enumerate(rp.rule.lets):
        v, n = g.lets[let.name]
        if let.type is Type.FLOAT:
            em(f"lvf_{r}[{row}, {j}] = {v}")
        else:
            em(f"lvi_{r}[{row}, {j}] = {v}")
        em(f"lvn_{r}[{row}, {j}] = {n}")


def _select_body(plan: Plan, rp: RulePlan) -> Emitter:
    """Body of ``select_<r>``: one pass over the batch; returns how many rows it kept."""
    em = Emitter()
    r = rp.index
    rule = rp.rule
    if rp.windowed:
        _rule_doc(rp, em, "the rows its `where` admits, their key words and aggregate arguments;"
                  " returns how many")
    else:
        _rule_doc(rp, em, "the rows that fire, their key words and let values; returns how many")
    em("m = 0")
    with em.block("for i in range(skip.shape[0]):"):
        with em.block("if skip[i]:"):
            em("continue")
        g = ExprGen(plan, rp, em, "event")
        if rule.where is not None:
            with em.block(f"if {_not(g.truth(rule.where))}:"):
                em("continue")
        if rp.windowed:
            em(f"sel_{r}[m] = i")
            _key_words(plan, rp, em, f"kw_{r}")
            for a in rp.args:
                if a.mode == "truth":
                    em(f"ia_{r}[{a.index}, m] = {g.truth(a.expr)}")
                    continue
                v, n = g.gen(a.expr)
                if a.is_float:
                    em(f"fa_{r}[{a.index}, m] = {v}")
                elif a.expr.type is Type.FLOAT:  # distinct over floats: bit pattern
                    em(f"ia_{r}[{a.index}, m] = float_bits({v})")
                else:
                    em(f"ia_{r}[{a.index}, m] = {v}")
                em(f"na_{r}[{a.index}, m] = {n}")
        else:
            for let in rule.lets:
                g.bind_let(let)
            with em.block(f"if {_not(g.truth(rule.when))}:"):
                em("continue")
            if rule.unless is not None:
                with em.block(f"if {g.truth(rule.unless)}:"):
                    em("continue")
            em(f"row_{r}[m] = i")
            if rp.key_width:
                _key_words(plan, rp, em, f"kw_{r}")
            else:
                em(f"kw_{r}[m, 0] = 0")
            _lets_out(rp, g, em, "m")
        em("m += 1")
    em("return m")
    return em


def _judge_body(plan: Plan, rp: RulePlan) -> Emitter:
    """Body of ``judge_<r>``: let, when and unless over each closed window of the rule."""
    em = Emitter()
    r = rp.index
    rule = rp.rule
    _rule_doc(rp, em, f"let, when and unless over its ncw[{rp.window_index}] closed windows, "
                      "as numpy arrays")
    em(f"q = slice(ncw[{rp.window_index}])  # every closed window at once")
    g = ExprGen(plan, rp, em, "closed")
    for let in rule.lets:
        g.bind_let(let)
    cond = g.truth(rule.when)
    if rule.unless is not None:
        cond = f"{cond} & {g.not_(g.truth(rule.unless))}"
    em(f"fire_{r}[q] = {cond}")
    _lets_out(rp, g, em, "q")
    em("return 0")
    return em
