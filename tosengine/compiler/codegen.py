"""Plan → readable Python source of a numba kernel module.

The generated module has, for each rule, an ``update_<n>`` function (one
pass over a segment of the batch) and, for windowed rules, a ``close_<n>``
function (evaluate every window the watermark has passed); a ``run_batch``
driver calls them all, segment by segment, so every rule is evaluated in one
pass per batch; ``flush`` closes everything at the end of the input.

Kernels never allocate state. When a table is full a function records what it
needs in ``ctl`` and returns where it stopped; the runtime grows that table and
calls ``run_batch`` again, which resumes exactly there (every step before a
capacity check is idempotent). Values travel as (value, is_null) pairs of
local variables; strings are dictionary codes (0 = null).
"""

from __future__ import annotations

from contextlib import contextmanager

from tosengine import ir
from tosengine.compiler.plan import (
    D_Q_COUNT,
    D_Q_SORTED,
    D_R_COUNT,
    D_S_COUNT,
    D_WORDS,
    M_ACTIVE,
    M_DIST,
    M_FREE,
    M_KEYS,
    M_MAX_PANE,
    M_NEXT_CLOSE,
    M_NEXT_W,
    M_RMASK,
    M_UNUSED,
    LutKind,
    Plan,
    RulePlan,
)
from tosengine.language.types import Type

CODEGEN_VERSION = "1"

# ctl words shared by the driver and the runtime
C_POS, C_SEGEND, C_PHASE, C_RULE, C_RESUME, C_WM, C_LATENESS, C_OUT, C_NEED, C_NEED_RULE = range(10)
CTL_SIZE = 16
PH_FIND, PH_UPDATE, PH_CLOSE = 0, 1, 2
NEED_OUT, NEED_SLOTS, NEED_KEYS = 1, 2, 3
NEED_S, NEED_Q, NEED_R = 10, 20, 30  # + distinct index

I64_MAX = 2**63 - 1
I64_MIN = -(2**63)

JIT = '@njit(cache=True, nogil=True, error_model="numpy")'


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


class ExprGen:
    """Generates statements for IR expressions in one rule and context.

    ``ctx`` is "event" (row ``i`` of the batch columns) or "window" (slot
    ``s`` of a windowed rule, with aggregates already computed).
    """

    def __init__(self, plan: Plan, rp: RulePlan, em: Emitter, ctx: str) -> None:
        self.plan, self.rp, self.em, self.ctx = plan, rp, em, ctx
        self.lets: dict[str, tuple[str, str]] = {}
        self.aggs: dict[ir.Aggregate, tuple[str, str]] = {}
        self.lets_expr = {let.name: let.expr for let in rp.rule.lets}
        self.cache: dict[ir.Expr, tuple[str, str]] = {}

    # -- helpers -----------------------------------------------------------

    def _assign(self, v_expr: str, n_expr: str) -> tuple[str, str]:
        v, n = self.em.tmp("v"), self.em.tmp("n")
        self.em(f"{v} = {v_expr}")
        self.em(f"{n} = {n_expr}")
        return v, n

    def group_of(self, e: ir.Expr) -> int:
        return self.plan.string_group(e, self.lets_expr)

    def lut(self, group: int, op: str, arg: object) -> str:
        return lut_name(self.plan.lut_index[(group, op, arg)].id)

    # -- entry -------------------------------------------------------------

    def gen(self, e: ir.Expr) -> tuple[str, str]:
        if e in self.cache:
            return self.cache[e]
        out = self._gen(e)
        self.cache[e] = out
        return out

    def truth(self, e: ir.Expr) -> str:
        """A Python bool: the expression is true (null counts as false)."""
        v, n = self.gen(e)
        return f"({v} and not {n})"

    def _gen(self, e: ir.Expr) -> tuple[str, str]:
        t = e.type
        if isinstance(e, ir.Literal):
            if t is Type.STRING:
                return self._code_pair(e)
            return _lit(e.value, t), "False"
        if isinstance(e, ir.FieldRef):
            assert self.ctx == "event", "field reference in window context"
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
            word = f"I_{r}[s, {self.rp.KEY0 + j}]"
            null = f"((I_{r}[s, {self.rp.KEY0 + self.rp.key_width}] >> {j}) & 1) != 0"
            if t is Type.BOOL:
                return f"({word} != 0)", f"({null})"
            return word, f"({null})"
        if isinstance(e, ir.LetRef):
            return self.lets[e.name]
        if isinstance(e, ir.Aggregate):
            return self.aggs[e]
        if t is Type.STRING:
            return self._code_pair(e)
        if isinstance(e, ir.Unary):
            v, n = self.gen(e.operand)
            if e.op is ir.UnaryOp.NOT:
                return f"(not {v})", n
            return self._assign(f"-{v}", n)
        if isinstance(e, ir.IsNull):
            _, n = self.gen(e.operand)
            return (f"(not {n})" if e.negated else n), "False"
        if isinstance(e, ir.InList):
            return self._in_list(e)
        if isinstance(e, ir.Call):
            return self._call(e)
        if isinstance(e, ir.Binary):
            return self._binary(e)
        raise AssertionError(f"unknown IR node {e!r}")

    # -- strings -----------------------------------------------------------

    def _code_pair(self, e: ir.Expr) -> tuple[str, str]:
        c = self.code(e)
        return c, f"({c} == 0)"

    def code(self, e: ir.Expr) -> str:
        """A dictionary code (int) for a string expression; 0 is null."""
        if isinstance(e, ir.Literal):
            return self.code_in(e, self.group_of(e))
        if isinstance(e, ir.FieldRef):
            if self.ctx == "window":
                raise AssertionError("field reference in window context")
            v = self.em.tmp("c")
            self.em(f"{v} = np.int64({col(e.name)}[i])")
            return v
        if isinstance(e, ir.KeyRef):
            if self.ctx == "event":
                return self.code(ir.FieldRef(e.name, e.type))
            return f"I_{self.rp.index}[s, {self.rp.KEY0 + self.rp.rule.key.index(e.name)}]"
        if isinstance(e, ir.LetRef):
            return self.lets[e.name][0]
        if isinstance(e, ir.Call) and e.func is ir.Func.LOWER:
            inner = self.code(e.args[0])
            v = self.em.tmp("c")
            self.em(f"{v} = np.int64({self.lut(self.group_of(e.args[0]), 'lower', None)}[{inner}])")
            return v
        if isinstance(e, ir.Call) and e.func is ir.Func.COALESCE:
            g = self.group_of(e)
            a = self.code_in(e.args[0], g)
            b = self.code_in(e.args[1], g)
            v = self.em.tmp("c")
            self.em(f"{v} = {a} if {a} != 0 else {b}")
            return v
        raise AssertionError(f"not a string expression: {e!r}")

    def code_in(self, e: ir.Expr, group: int) -> str:
        """Like :meth:`code`, but a literal becomes its pinned code in ``group``."""
        if isinstance(e, ir.Literal):
            return str(self.plan.groups[group].literal_code(str(e.value)))
        return self.code(e)

    # -- operators ---------------------------------------------------------

    def _in_list(self, e: ir.InList) -> tuple[str, str]:
        if e.operand.type is Type.STRING:
            c = self.code(e.operand)
            lut = self.lut(self.group_of(e.operand), "in", tuple(e.values))
            v = f"({lut}[{c}] != 0)"
            n = f"({c} == 0)"
        else:
            x, n = self.gen(e.operand)
            if not e.values:
                v = "False"
            else:
                v = "(" + " or ".join(f"{x} == {_lit(val, e.operand.type)}" for val in e.values) + ")"
        if e.negated:
            v = f"(not {v})"
        return self._assign(v, n)

    def _call(self, e: ir.Call) -> tuple[str, str]:
        f = e.func
        if f in (ir.Func.STARTSWITH, ir.Func.ENDSWITH, ir.Func.CONTAINS, ir.Func.MATCHES):
            c = self.code(e.args[0])
            pat = e.args[1]
            assert isinstance(pat, ir.Literal)
            lut = self.lut(self.group_of(e.args[0]), f.value, pat.value)
            return self._assign(f"{lut}[{c}] != 0", f"{c} == 0")
        if f is ir.Func.LEN:
            c = self.code(e.args[0])
            lut = self.lut(self.group_of(e.args[0]), "len", None)
            return self._assign(f"{lut}[{c}]", f"{c} == 0")
        if f is ir.Func.ABS:
            v, n = self.gen(e.args[0])
            return self._assign(f"abs({v})", n)
        if f is ir.Func.HOUR:
            v, n = self.gen(e.args[0])
            return self._assign(f"({v} // 3600000) % 24", n)
        if f is ir.Func.WEEKDAY:
            v, n = self.gen(e.args[0])
            return self._assign(f"({v} // 86400000 + 3) % 7", n)
        if f is ir.Func.COALESCE:
            a, na = self.gen(e.args[0])
            b, nb = self.gen(e.args[1])
            if e.type is Type.FLOAT:
                a, b = f"np.float64({a})", f"np.float64({b})"
            return self._assign(f"{b} if {na} else {a}", f"{na} and {nb}")
        raise AssertionError(f"unknown function {f}")

    def _binary(self, e: ir.Binary) -> tuple[str, str]:
        op = e.op
        if op.is_logical:
            a, na = self.gen(e.left)
            b, nb = self.gen(e.right)
            if op is ir.BinaryOp.AND:
                decided = self.em.tmp("f")  # some side is a known false
                self.em(f"{decided} = ((not {na}) and not {a}) or ((not {nb}) and not {b})")
            else:
                decided = self.em.tmp("f")  # some side is a known true
                self.em(f"{decided} = ((not {na}) and {a}) or ((not {nb}) and {b})")
            n = f"(not {decided}) and ({na} or {nb})"
            v = f"not {decided}" if op is ir.BinaryOp.AND else decided
            return self._assign(v, n)
        if op.is_comparison:
            if e.left.type is Type.STRING:
                g = self.group_of(e.left if not isinstance(e.left, ir.Literal) else e.right)
                a = self.code_in(e.left, g)
                b = self.code_in(e.right, g)
                return self._assign(f"{a} {op.value} {b}", f"{a} == 0 or {b} == 0")
            a, na = self.gen(e.left)
            b, nb = self.gen(e.right)
            return self._assign(f"{a} {op.value} {b}", f"{na} or {nb}")
        a, na = self.gen(e.left)
        b, nb = self.gen(e.right)
        if op is ir.BinaryOp.DIV:
            v, n = self._assign(f"{a} / ({b} if {b} != 0 else 1)", f"{na} or {nb} or {b} == 0")
        elif op is ir.BinaryOp.MOD:
            v, n = self._assign(f"{a} % ({b} if {b} != 0 else 1)", f"{na} or {nb} or {b} == 0")
        else:
            v, n = self._assign(f"{a} {op.value} {b}", f"{na} or {nb}")
        if e.type is Type.FLOAT:
            self.em(f"{n} = {n} or {v} != {v}")
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


def rule_state_args(rp: RulePlan) -> list[str]:
    """Names of one rule's state arrays (``<name>_<rule index>``)."""
    r = rp.index
    if not rp.needs_slots:
        return []
    out = [f"I_{r}"]
    if rp.windowed:
        out += [f"F_{r}"]
    out += [f"M_{r}", f"K_{r}"]
    for d in rp.distincts:
        out.append(f"S_{r}_{d.index}")
        if rp.sliding:
            out += [f"Q_{r}_{d.index}", f"R_{r}_{d.index}"]
    return out


def state_args(plan: Plan) -> list[str]:
    out: list[str] = []
    for rp in plan.rules:
        out += rule_state_args(rp)
    return out


def run_args(plan: Plan) -> list[str]:
    """The argument list of the generated ``run`` function, shared with the runtime."""
    return ["ctl", "final", "ts", "late", *column_args(plan), *lut_args(plan), *state_args(plan),
            "out_i", "out_f"]


def generate(plan: Plan) -> str:
    """The complete kernel module source for ``plan``."""
    em = Emitter()
    fp = plan.program.fingerprint()
    em('"""tosengine kernels, generated from a rule set. Do not edit.')
    em()
    em(f"Rule set fingerprint: {fp}")
    em(f"Code generator version: {CODEGEN_VERSION}")
    em()
    em("`run` evaluates every rule of the set in one pass per batch segment. Strings")
    em("are dictionary codes (0 = null); `c_<field>`/`m_<field>` are a column's values")
    em("and null mask; `lut_<n>` are per-string lookup tables; `I_<r>`/`F_<r>`/`M_<r>`")
    em("are rule r's slot rows and counters (layouts in the comments of each rule).")
    em('"""')
    em()
    em("import numpy as np")
    em("from numba import njit")
    em()
    em("from tosengine.compiler.prims import EMPTY, drop_queue_head, ht_delete, ht_find")
    em("from tosengine.compiler.prims import ht_upsert, sort_queue")
    em()
    em(f"I64_MAX = np.int64({I64_MAX})")
    em(f"I64_MIN = np.int64({I64_MIN})")
    em()
    em()
    _gen_run(plan, em)
    for rp in plan.rules:
        if rp.needs_slots and not rp.windowed:
            em()
            em()
            _gen_sweep(plan, rp, em)
    return em.text()


def _rule_comment(plan: Plan, rp: RulePlan, em: Emitter) -> None:
    r = rp.rule
    em(f"# rule {rp.index} `{r.name}`: {'windowed' if rp.windowed else 'event'} rule")
    if r.window is not None:
        em(f"#   window {r.window.length_ms} ms every {r.window.step_ms} ms "
           f"({r.window.panes} pane(s) per window), per {', '.join(r.key)}")
    if rp.needs_slots:
        em(f"#   I row: 0 next window, 1 last pane, 2 active position, 3 last report, "
           f"4 active list, 5 free stack, {rp.KEY0}.. key words, "
           f"{rp.KEY0 + rp.key_width} key null bits")
    if rp.windowed:
        words = ", ".join(f"{a.offset} {a.kind}" for a in rp.accs if a.dtype == "i")
        em(f"#   I panes from {rp.pane_base}, {rp.pane_words_i} words each: {words}")
        fwords = ", ".join(f"{a.offset} {a.kind}" for a in rp.accs if a.dtype == "f")
        if fwords:
            em(f"#   F panes {rp.pane_words_f} words each: {fwords}")


def _gen_slot_lookup(plan: Plan, rp: RulePlan, em: Emitter, on_full: str,
                     init_new: list[str]) -> None:
    """Find or allocate slot ``s`` for the key of row ``i``.

    ``on_full`` is the statement that returns when no slot or key entry is free.
    ``init_new`` are statements run for a newly allocated slot.
    """
    r = rp.index
    K = rp.key_width
    key_words: list[str] = []
    null_bits: list[str] = []
    for j, (name, t) in enumerate(zip(rp.rule.key, rp.key_types)):
        if name == plan.time_field:
            key_words.append("ts[i]")
            continue
        if t is Type.STRING:
            key_words.append(f"np.int64({col(name)}[i])")
            null_bits.append(f"(np.int64({col(name)}[i] == 0) << {j})")
        else:
            key_words.append(f"np.int64({col(name)}[i])")
            null_bits.append(f"(np.int64({mask(name)}[i] != 0) << {j})")
    em(f"nullbits = {' | '.join(null_bits) if null_bits else '0'}")
    if K == 0:
        em("s = I_%d[0, %d] if M_%d[%d] > 0 else np.int64(-1)" % (r, rp.ACTIVE, r, M_ACTIVE))
    elif rp.key_string_only:
        em(f"kc = {key_words[0]}")
        em(f"s = np.int64(K_{r}[kc])")
    else:
        for j, w in enumerate(key_words):
            em(f"k{j} = {w}")
        em(f"ke = ht_find(K_{r}, {_key3(K)})")
        em(f"s = K_{r}[ke, {_kval(K)}] if ke >= 0 else np.int64(-1)")
    with em.block("if s < 0:"):
        if K > 0 and not rp.key_string_only:
            with em.block(f"if M_{r}[{M_KEYS}] * 2 >= K_{r}.shape[0]:"):
                em(on_full.replace("NEED", str(NEED_KEYS)))
        with em.block(f"if M_{r}[{M_FREE}] > 0:"):
            em(f"M_{r}[{M_FREE}] -= 1")
            em(f"s = I_{r}[M_{r}[{M_FREE}], {rp.FREE}]")
        with em.block(f"elif M_{r}[{M_UNUSED}] < I_{r}.shape[0]:"):
            em(f"s = M_{r}[{M_UNUSED}]")
            em(f"M_{r}[{M_UNUSED}] += 1")
        with em.block("else:"):
            em(on_full.replace("NEED", str(NEED_SLOTS)))
        if K > 0 and rp.key_string_only:
            em(f"K_{r}[kc] = s")
        elif K > 0:
            em(f"ke, _new = ht_upsert(K_{r}, {_key3(K)})")
            em(f"K_{r}[ke, {_kval(K)}] = s")
            em(f"M_{r}[{M_KEYS}] += 1")
        for j, w in enumerate(key_words):
            em(f"I_{r}[s, {rp.KEY0 + j}] = {w}")
        em(f"I_{r}[s, {rp.KEY0 + K}] = nullbits")
        em(f"I_{r}[s, {rp.LAST_REPORT}] = EMPTY")
        em(f"I_{r}[s, {rp.POS}] = M_{r}[{M_ACTIVE}]")
        em(f"I_{r}[M_{r}[{M_ACTIVE}], {rp.ACTIVE}] = s")
        em(f"M_{r}[{M_ACTIVE}] += 1")
        for line in init_new:
            em(line)


def _key3(K: int) -> str:
    """Arguments of ht_find/ht_upsert for a general key of K fields (+ null bits)."""
    words = [f"k{j}" for j in range(K)] + ["nullbits"]
    if len(words) > 3:
        raise NotImplementedError("keys of more than two fields with hashing")
    while len(words) < 3:
        words.append("0")
    return ", ".join(words) + f", {K + 1}"


def _kval(K: int) -> int:
    return K + 2


def _gen_release(plan: Plan, rp: RulePlan, em: Emitter, k_var: str) -> None:
    """Release slot ``s`` standing at active position ``k_var``."""
    r = rp.index
    K = rp.key_width
    if K > 0 and rp.key_string_only:
        em(f"K_{r}[I_{r}[s, {rp.KEY0}]] = -1")
    elif K > 0:
        words = [f"I_{r}[s, {rp.KEY0 + j}]" for j in range(K)] + [f"I_{r}[s, {rp.KEY0 + K}]"]
        while len(words) < 3:
            words.append("0")
        em(f"ke = ht_find(K_{r}, {', '.join(words)}, {K + 1})")
        em(f"ht_delete(K_{r}, ke, {K + 1})")
        em(f"M_{r}[{M_KEYS}] -= 1")
    if rp.windowed:
        em(f"I_{r}[s, {rp.NEXT_WIN}] = I64_MAX")
    em(f"last = I_{r}[M_{r}[{M_ACTIVE}] - 1, {rp.ACTIVE}]")
    em(f"I_{r}[{k_var}, {rp.ACTIVE}] = last")
    em(f"I_{r}[last, {rp.POS}] = {k_var}")
    em(f"M_{r}[{M_ACTIVE}] -= 1")
    em(f"I_{r}[M_{r}[{M_FREE}], {rp.FREE}] = s")
    em(f"M_{r}[{M_FREE}] += 1")


def _emit_out_common(plan: Plan, em: Emitter, rp: RulePlan) -> None:
    em("o = ctl[%d]" % C_OUT)
    em(f"out_i[o, {plan.O_RULE}] = {rp.index}")


def _emit_lets_out(plan: Plan, rp: RulePlan, g: ExprGen, em: Emitter) -> None:
    """Store every let value of the rule in output row ``o``."""
    bits = []
    for j, let in enumerate(rp.rule.lets):
        v, n = g.lets[let.name]
        bits.append(f"(np.int64({n}) << {j})")
        if let.type is Type.FLOAT:
            em(f"out_f[o, {j}] = {v}")
        else:
            em(f"out_i[o, {plan.o_let0 + j}] = np.int64({v})")
    em(f"out_i[o, {plan.O_LETNULL}] = {' | '.join(bits) if bits else '0'}")


def _need_update(r: int, need: str) -> str:
    """Statement: record a full table while feeding row i to rule r, and stop."""
    return (f"ctl[{C_NEED}] = {need}; ctl[{C_NEED_RULE}] = {r}; ctl[{C_RULE}] = {r}; "
            f"ctl[{C_RESUME}] = i; return 1")


def _need_close(r: int, need: int) -> str:
    """Statement: record a full table while closing windows of rule r, and stop."""
    return f"ctl[{C_NEED}] = {need}; ctl[{C_NEED_RULE}] = {r}; ctl[{C_RULE}] = {r}; return 1"


def _gen_update(plan: Plan, rp: RulePlan, em: Emitter) -> None:
    """The section of ``run`` that feeds rows lo..hi of the segment to one rule."""
    r = rp.index
    rule = rp.rule
    em()
    _rule_comment(plan, rp, em)
    with em.block(f"if rr <= {r}:"):
        if rp.windowed:
            em(f"rmask = M_{r}[{M_RMASK}]")
        with em.block(f"for i in range(ctl[{C_RESUME}] if rr == {r} else lo, hi):"):
            with em.block("if late[i]:"):
                em("continue")
            g = ExprGen(plan, rp, em, "event")
            if rule.where is not None:
                with em.block(f"if not {g.truth(rule.where)}:"):
                    em("continue")
            if rp.windowed:
                _gen_window_update_body(plan, rp, em, g)
            else:
                _gen_event_body(plan, rp, em, g)


def _gen_event_body(plan: Plan, rp: RulePlan, em: Emitter, g: ExprGen) -> None:
    r = rp.index
    rule = rp.rule
    for let in rule.lets:
        g.lets[let.name] = g.gen(let.expr)
    with em.block(f"if not {g.truth(rule.when)}:"):
        em("continue")
    if rule.unless is not None:
        with em.block(f"if {g.truth(rule.unless)}:"):
            em("continue")
    need_out = _need_update(r, str(NEED_OUT))
    with em.block(f"if ctl[{C_OUT}] >= out_i.shape[0]:"):
        em(need_out)
    if rule.cooldown_ms is not None:
        on_full = _need_update(r, "NEED")
        _gen_slot_lookup(plan, rp, em, on_full, [])
        em(f"prev = I_{r}[s, {rp.LAST_REPORT}]")
        with em.block(f"if prev != EMPTY and ts[i] < prev + {rule.cooldown_ms}:"):
            em("continue")
        em(f"I_{r}[s, {rp.LAST_REPORT}] = ts[i]")
    _emit_out_common(plan, em, rp)
    em(f"out_i[o, {plan.O_ROW}] = i")
    em(f"out_i[o, {plan.O_WIN}] = -1")
    em(f"out_i[o, {plan.O_TIME}] = ts[i]")
    em(f"out_i[o, {plan.O_EVENTS}] = 1")
    em(f"out_i[o, {plan.O_FIRST}] = ts[i]")
    em(f"out_i[o, {plan.O_LAST}] = ts[i]")
    bits = []
    for j, (name, t) in enumerate(zip(rule.key, rp.key_types)):
        if name == plan.time_field:
            em(f"out_i[o, {plan.O_KEY0 + j}] = ts[i]")
            continue
        em(f"out_i[o, {plan.O_KEY0 + j}] = np.int64({col(name)}[i])")
        if t is Type.STRING:
            bits.append(f"(np.int64({col(name)}[i] == 0) << {j})")
        else:
            bits.append(f"(np.int64({mask(name)}[i] != 0) << {j})")
    em(f"out_i[o, {plan.o_keynull}] = {' | '.join(bits) if bits else '0'}")
    _emit_lets_out(plan, rp, g, em)
    em(f"ctl[{C_OUT}] = o + 1")


def _acc_index(rp: RulePlan, kind: str, expr: ir.Expr | None, base: str, fbase: str) -> str:
    a = rp.acc(kind, expr)
    return f"{base} + {a.offset}" if a.dtype == "i" else f"{fbase} + {a.offset}"


def _gen_window_update_body(plan: Plan, rp: RulePlan, em: Emitter, g: ExprGen) -> None:
    r = rp.index
    w = rp.rule.window
    assert w is not None
    on_full = _need_update(r, "NEED")
    em("t = ts[i]")
    em(f"p = t // {w.step_ms}")
    _gen_slot_lookup(plan, rp, em, on_full, [
        f"I_{r}[s, {rp.NEXT_WIN}] = p - {w.panes - 1}",
        f"I_{r}[s, {rp.LAST_PANE}] = p",
        f"for q in range(rmask + 1):",
        f"    I_{r}[s, {rp.pane_base} + q * {rp.pane_words_i} + {rp.acc('stamp', None).offset}] = EMPTY",
    ])
    em(f"b = {rp.pane_base} + (p & rmask) * {rp.pane_words_i}")
    em(f"bf = (p & rmask) * {max(rp.pane_words_f, 1)}")
    stamp = rp.acc("stamp", None)
    with em.block(f"if I_{r}[s, b + {stamp.offset}] != p:"):
        for a in rp.accs:
            arr = f"I_{r}" if a.dtype == "i" else f"F_{r}"
            idx = f"b + {a.offset}" if a.dtype == "i" else f"bf + {a.offset}"
            em(f"{arr}[s, {idx}] = {_acc_init(a)}")
        em(f"I_{r}[s, b + {stamp.offset}] = p")
    with em.block(f"if p > I_{r}[s, {rp.LAST_PANE}]:"):
        em(f"I_{r}[s, {rp.LAST_PANE}] = p")
    with em.block(f"if p - {w.panes - 1} < I_{r}[s, {rp.NEXT_WIN}]:"):
        em("# an earlier event (within the allowed lateness) opens earlier windows")
        em(f"I_{r}[s, {rp.NEXT_WIN}] = p - {w.panes - 1}")
    with em.block(f"if p > M_{r}[{M_MAX_PANE}]:"):
        em(f"M_{r}[{M_MAX_PANE}] = p")
    for d in rp.distincts:
        base = M_DIST + D_WORDS * d.index
        with em.block(f"if M_{r}[{base + D_S_COUNT}] * 2 >= S_{r}_{d.index}.shape[0]:"):
            em(on_full.replace("NEED", str(NEED_S + d.index)))
        if rp.sliding:
            with em.block(f"if M_{r}[{base + D_Q_COUNT}] >= Q_{r}_{d.index}.shape[0]:"):
                em(on_full.replace("NEED", str(NEED_Q + d.index)))
    # accumulate
    em(f"I_{r}[s, b + {rp.acc('cnt', None).offset}] += 1")
    fi = rp.acc("first", None).offset
    la = rp.acc("last", None).offset
    em(f"if t < I_{r}[s, b + {fi}]: I_{r}[s, b + {fi}] = t")
    em(f"if t > I_{r}[s, b + {la}]: I_{r}[s, b + {la}] = t")
    args_done: set = set()
    for a in rp.accs:
        if a.expr is None or a.expr in args_done:
            continue
        x = a.expr
        args_done.add(x)
        kinds = {b.kind for b in rp.accs if b.expr == x}
        if "true" in kinds:
            em(f"if {g.truth(x)}: I_{r}[s, b + {rp.acc('true', x).offset}] += 1")
        value_kinds = kinds & {"nn", "sum", "min", "max", "mean", "dcnt"}
        if not value_kinds:
            continue
        v, n = g.gen(x)
        with em.block(f"if not {n}:"):
            if "nn" in kinds:
                em(f"I_{r}[s, b + {rp.acc('nn', x).offset}] += 1")
            if "sum" in kinds:
                em(f"{_arr(rp, 'sum', x)}[s, {_acc_index(rp, 'sum', x, 'b', 'bf')}] += {v}")
            if "min" in kinds:
                idx = f"{_arr(rp, 'min', x)}[s, {_acc_index(rp, 'min', x, 'b', 'bf')}]"
                em(f"if {v} < {idx}: {idx} = {v}")
            if "max" in kinds:
                idx = f"{_arr(rp, 'max', x)}[s, {_acc_index(rp, 'max', x, 'b', 'bf')}]"
                em(f"if {v} > {idx}: {idx} = {v}")
            if "mean" in kinds:
                mi = f"F_{r}[s, {_acc_index(rp, 'mean', x, 'b', 'bf')}]"
                m2 = f"F_{r}[s, {_acc_index(rp, 'm2', x, 'b', 'bf')}]"
                em(f"kn = I_{r}[s, b + {rp.acc('nn', x).offset}]")
                em(f"xf = np.float64({v})")
                em(f"d0 = xf - {mi}")
                em(f"{mi} += d0 / kn")
                em(f"{m2} += d0 * (xf - {mi})")
            if "dcnt" in kinds:
                d = next(dd for dd in rp.distincts if dd.expr == x)
                base = M_DIST + D_WORDS * d.index
                em(f"dv = {_distinct_word(v, x.type)}")
                em(f"de, dnew = ht_upsert(S_{r}_{d.index}, s, p, dv, 3)")
                with em.block("if dnew:"):
                    em(f"M_{r}[{base + D_S_COUNT}] += 1")
                    if rp.sliding:
                        q = f"Q_{r}_{d.index}"
                        em(f"qn = M_{r}[{base + D_Q_COUNT}]")
                        em(f"{q}[qn, 0] = s")
                        em(f"{q}[qn, 1] = p")
                        em(f"{q}[qn, 2] = dv")
                        em(f"if qn > 0 and p < {q}[qn - 1, 1]: M_{r}[{base + D_Q_SORTED}] = 0")
                        em(f"M_{r}[{base + D_Q_COUNT}] = qn + 1")
                    else:
                        em(f"I_{r}[s, b + {d.acc.offset}] += 1")


def _arr(rp: RulePlan, kind: str, x: ir.Expr) -> str:
    return f"I_{rp.index}" if rp.acc(kind, x).dtype == "i" else f"F_{rp.index}"


def _distinct_word(v: str, t: Type) -> str:
    if t is Type.FLOAT:
        return f"(np.float64({v}) + 0.0).view(np.int64)"
    return f"np.int64({v})"


def _acc_init(a) -> str:
    if a.kind == "first":
        return "I64_MAX"
    if a.kind == "last":
        return "I64_MIN"
    if a.kind == "min":
        return "np.inf" if a.dtype == "f" else "I64_MAX"
    if a.kind == "max":
        return "-np.inf" if a.dtype == "f" else "I64_MIN"
    if a.kind == "stamp":
        return "EMPTY"
    return "0.0" if a.dtype == "f" else "0"


def _gen_close(plan: Plan, rp: RulePlan, em: Emitter) -> None:
    r = rp.index
    rule = rp.rule
    w = rule.window
    assert w is not None
    NP = w.panes
    em()
    em(f"# close windows of rule {r} `{rule.name}` that end at or before wm (all if final)")
    with em.block(f"if rr <= {r} and (final or M_{r}[{M_NEXT_CLOSE}] <= wm):"):
        em(f"rmask = M_{r}[{M_RMASK}]")
        em(f"w_lo = M_{r}[{M_NEXT_W}]")
        em(f"w_hi = M_{r}[{M_MAX_PANE}] if final else (wm - {w.length_ms}) // {w.step_ms}")
        em(f"w_end = min(w_hi, M_{r}[{M_MAX_PANE}])")
        em(f"todo = w_end - w_lo + 1 if w_end >= w_lo else 0")
        with em.block(f"if ctl[{C_OUT}] + M_{r}[{M_ACTIVE}] * todo > out_i.shape[0]:"):
            em(_need_close(r, NEED_OUT))
        if rp.sliding:
            for d in rp.distincts:
                base = M_DIST + D_WORDS * d.index
                with em.block(f"if (M_{r}[{base + D_R_COUNT}] + M_{r}[{base + D_Q_COUNT}]) * 2 "
                              f">= R_{r}_{d.index}.shape[0]:"):
                    em(_need_close(r, NEED_R + d.index))
                q = f"Q_{r}_{d.index}"
                with em.block(f"if M_{r}[{base + D_Q_SORTED}] == 0:"):
                    em(f"sort_queue({q}, M_{r}[{base + D_Q_COUNT}])")
                    em(f"M_{r}[{base + D_Q_SORTED}] = 1")
        with em.block("for w in range(w_lo, w_end + 1):"):
            if rp.sliding:
                for d in rp.distincts:
                    _gen_queue_drain(rp, em, d, f"w + {NP - 1}")
            em("k = 0")
            with em.block(f"while k < M_{r}[{M_ACTIVE}]:"):
                em(f"s = I_{r}[k, {rp.ACTIVE}]")
                with em.block(f"if I_{r}[s, {rp.NEXT_WIN}] > w:"):
                    em("k += 1")
                    em("continue")
                _gen_window_eval(plan, rp, em)
                em(f"I_{r}[s, {rp.NEXT_WIN}] = w + 1")
                cond = f"w + 1 > I_{r}[s, {rp.LAST_PANE}]"
                if rule.cooldown_ms is not None:
                    cond += (f" and (final or I_{r}[s, {rp.LAST_REPORT}] == EMPTY or "
                             f"I_{r}[s, {rp.LAST_REPORT}] + {rule.cooldown_ms} <= wm)")
                with em.block(f"if {cond}:"):
                    _gen_release(plan, rp, em, "k")
                    em("continue")
                em("k += 1")
        if rule.cooldown_ms is not None:
            em("# keys kept only by a running cooldown: release those that expired")
            em("k = 0")
            with em.block(f"while k < M_{r}[{M_ACTIVE}]:"):
                em(f"s = I_{r}[k, {rp.ACTIVE}]")
                with em.block(f"if I_{r}[s, {rp.NEXT_WIN}] > I_{r}[s, {rp.LAST_PANE}] and "
                              f"(final or I_{r}[s, {rp.LAST_REPORT}] + {rule.cooldown_ms} <= wm):"):
                    _gen_release(plan, rp, em, "k")
                    em("continue")
                em("k += 1")
        em(f"if w_hi + 1 > M_{r}[{M_NEXT_W}]: M_{r}[{M_NEXT_W}] = w_hi + 1")
        em(f"M_{r}[{M_NEXT_CLOSE}] = I64_MAX if final else (wm // {w.step_ms} + 1) * {w.step_ms}")


def _gen_queue_drain(rp: RulePlan, em: Emitter, d, frontier: str) -> None:
    """Move queued distinct values of panes <= frontier into the rep histogram."""
    r = rp.index
    base = M_DIST + D_WORDS * d.index
    q, R = f"Q_{r}_{d.index}", f"R_{r}_{d.index}"
    off = d.acc.offset
    em(f"qn = M_{r}[{base + D_Q_COUNT}]")
    em("m = 0")
    with em.block(f"while m < qn and {q}[m, 1] <= {frontier}:"):
        em(f"qs = {q}[m, 0]")
        em(f"qp = {q}[m, 1]")
        em(f"re, rnew = ht_upsert({R}, qs, {q}[m, 2], 0, 2)")
        with em.block("if rnew:"):
            em(f"M_{r}[{base + D_R_COUNT}] += 1")
        with em.block("else:"):
            em(f"prev = {R}[re, 3]")
            with em.block(f"if prev >= I_{r}[qs, {rp.NEXT_WIN}] and prev != qp:"):
                em(f"I_{r}[qs, {rp.pane_base} + (prev & rmask) * {rp.pane_words_i} + {off}] -= 1")
        em(f"{R}[re, 3] = qp")
        em(f"I_{r}[qs, {rp.pane_base} + (qp & rmask) * {rp.pane_words_i} + {off}] += 1")
        em("m += 1")
    with em.block("if m > 0:"):
        em(f"drop_queue_head({q}, m, qn)")
        em(f"M_{r}[{base + D_Q_COUNT}] = qn - m")


def _gen_window_eval(plan: Plan, rp: RulePlan, em: Emitter) -> None:
    """Combine the panes of window w for slot s, then evaluate the rule."""
    r = rp.index
    rule = rp.rule
    w = rule.window
    assert w is not None
    # combined accumulators
    names: dict[tuple[str, object], str] = {}
    for a in rp.accs:
        if a.kind == "stamp":
            continue
        nm = em.tmp(f"a_{a.kind}_")
        names[(a.kind, a.expr)] = nm
        if a.kind in ("mean", "m2"):
            continue
        em(f"{nm} = {_acc_init(a)}")
    has_std = any(a.kind == "mean" for a in rp.accs)
    std_vars: dict = {}
    for a in rp.accs:
        if a.kind == "mean":
            cn, cm, c2 = em.tmp("sn"), em.tmp("sm"), em.tmp("s2")
            em(f"{cn} = 0")
            em(f"{cm} = 0.0")
            em(f"{c2} = 0.0")
            std_vars[a.expr] = (cn, cm, c2)
    stamp = rp.acc("stamp", None)
    with em.block(f"for pp in range(w, w + {w.panes}):"):
        em(f"b = {rp.pane_base} + (pp & rmask) * {rp.pane_words_i}")
        em(f"bf = (pp & rmask) * {max(rp.pane_words_f, 1)}")
        with em.block(f"if I_{r}[s, b + {stamp.offset}] != pp:"):
            em("continue")
        for a in rp.accs:
            if a.kind in ("stamp", "mean", "m2"):
                continue
            nm = names[(a.kind, a.expr)]
            src = f"{'I' if a.dtype == 'i' else 'F'}_{r}[s, {'b' if a.dtype == 'i' else 'bf'} + {a.offset}]"
            if a.kind in ("first", "min"):
                em(f"if {src} < {nm}: {nm} = {src}")
            elif a.kind in ("last", "max"):
                em(f"if {src} > {nm}: {nm} = {src}")
            else:
                em(f"{nm} += {src}")
        if has_std:
            for x, (cn, cm, c2) in std_vars.items():
                nn = f"I_{r}[s, b + {rp.acc('nn', x).offset}]"
                mean = f"F_{r}[s, bf + {rp.acc('mean', x).offset}]"
                m2 = f"F_{r}[s, bf + {rp.acc('m2', x).offset}]"
                with em.block(f"if {nn} > 0:"):
                    with em.block(f"if {cn} == 0:"):
                        em(f"{cm} = {mean}")
                        em(f"{c2} = {m2}")
                        em(f"{cn} = {nn}")
                    with em.block("else:"):
                        em(f"tot = {cn} + {nn}")
                        em(f"dd = {mean} - {cm}")
                        em(f"{cm} += dd * {nn} / tot")
                        em(f"{c2} += {m2} + dd * dd * {cn} * {nn} / tot")
                        em(f"{cn} = tot")
    cnt = names[("cnt", None)]
    with em.block(f"if {cnt} > 0:"):
        g = ExprGen(plan, rp, em, "window")
        for agg in rp.aggregates:
            x = agg.arg
            f = agg.func
            if f is ir.AggFunc.COUNT:
                v, n = (cnt if x is None else names[("true", x)]), "False"
            elif f is ir.AggFunc.FRACTION:
                v, n = f"{names[('true', x)]} / {cnt}", "False"
            elif f is ir.AggFunc.SUM:
                v, n = names[("sum", x)], f"{names[('nn', x)]} == 0"
            elif f is ir.AggFunc.AVG:
                nn = names[("nn", x)]
                v, n = f"{names[('sum', x)]} / ({nn} if {nn} > 0 else 1)", f"{nn} == 0"
            elif f in (ir.AggFunc.MIN, ir.AggFunc.MAX):
                v, n = names[(f.value, x)], f"{names[('nn', x)]} == 0"
            elif f is ir.AggFunc.STDDEV:
                cn, cm, c2 = std_vars[x]
                v, n = f"np.sqrt({c2} / ({cn} if {cn} > 0 else 1))", f"{cn} == 0"
            elif f is ir.AggFunc.DISTINCT:
                v, n = names[("dcnt", x)], "False"
            else:
                raise AssertionError(f)
            g.aggs[agg] = g._assign(v, n)
        for let in rule.lets:
            g.lets[let.name] = g.gen(let.expr)
        cond = g.truth(rule.when)
        if rule.unless is not None:
            cond = f"{cond} and not {g.truth(rule.unless)}"
        em(f"fire = {cond}")
        if rule.cooldown_ms is not None:
            em("wend = w * %d + %d" % (w.step_ms, w.length_ms))
            em(f"prev = I_{r}[s, {rp.LAST_REPORT}]")
            with em.block(f"if fire and prev != EMPTY and wend < prev + {rule.cooldown_ms}:"):
                em("fire = False")
            with em.block("if fire:"):
                em(f"I_{r}[s, {rp.LAST_REPORT}] = wend")
        with em.block("if fire:"):
            _emit_out_common(plan, em, rp)
            em(f"out_i[o, {plan.O_ROW}] = -1")
            em(f"out_i[o, {plan.O_WIN}] = w")
            em(f"out_i[o, {plan.O_TIME}] = w * {w.step_ms} + {w.length_ms}")
            em(f"out_i[o, {plan.O_EVENTS}] = {cnt}")
            em(f"out_i[o, {plan.O_FIRST}] = {names[('first', None)]}")
            em(f"out_i[o, {plan.O_LAST}] = {names[('last', None)]}")
            for j in range(rp.key_width + 1):
                em(f"out_i[o, {plan.O_KEY0 + j if j < rp.key_width else plan.o_keynull}] = "
                   f"I_{r}[s, {rp.KEY0 + j}]")
            _emit_lets_out(plan, rp, g, em)
            em(f"ctl[{C_OUT}] = o + 1")


def _gen_sweep(plan: Plan, rp: RulePlan, em: Emitter) -> None:
    r = rp.index
    cd = rp.rule.cooldown_ms
    em(JIT)
    args = ["wm", *rule_state_args(rp)]
    with em.block(f"def sweep_{r}({', '.join(args)}):"):
        em(f'"""Release cooldown slots of `{rp.rule.name}` that can no longer suppress anything."""')
        em("k = 0")
        with em.block(f"while k < M_{r}[{M_ACTIVE}]:"):
            em(f"s = I_{r}[k, {rp.ACTIVE}]")
            with em.block(f"if I_{r}[s, {rp.LAST_REPORT}] == EMPTY or "
                          f"I_{r}[s, {rp.LAST_REPORT}] + {cd} <= wm:"):
                _gen_release(plan, rp, em, "k")
                em("continue")
            em("k += 1")
        em("return 0")


def _gen_run(plan: Plan, em: Emitter) -> None:
    windowed = [rp for rp in plan.rules if rp.windowed]
    em(JIT)
    with em.block(f"def run({', '.join(run_args(plan))}):"):
        em('"""Evaluate one batch (or, with final, close every window at the end of input).')
        em()
        em("Returns 0 when done, 1 when a table must grow first (ctl says which); calling")
        em("again resumes exactly where it stopped.")
        em('"""')
        em("n = ts.shape[0]")
        em(f"L = ctl[{C_LATENESS}]")
        with em.block("while True:"):
            with em.block(f"if not final and ctl[{C_PHASE}] == {PH_FIND}:"):
                em("# find the next segment: rows before the watermark reaches a window end")
                em(f"pos = ctl[{C_POS}]")
                with em.block("if pos >= n:"):
                    em("return 0")
                with em.block(f"if ctl[{C_WM}] == EMPTY:"):
                    em("j = pos")
                    with em.block("while j < n and late[j]:"):
                        em("j += 1")
                    with em.block("if j == n:"):
                        em(f"ctl[{C_POS}] = n")
                        em("return 0")
                    em(f"ctl[{C_WM}] = ts[j] - L")
                    for rp in windowed:
                        w = rp.rule.window
                        assert w is not None
                        em(f"M_{rp.index}[{M_NEXT_CLOSE}] = (ctl[{C_WM}] // {w.step_ms} + 1) * {w.step_ms}")
                        em(f"M_{rp.index}[{M_NEXT_W}] = (ctl[{C_WM}] - {w.length_ms}) // {w.step_ms} + 1")
                em("nc = I64_MAX")
                for rp in windowed:
                    em(f"if M_{rp.index}[{M_NEXT_CLOSE}] < nc: nc = M_{rp.index}[{M_NEXT_CLOSE}]")
                em("seg = pos")
                with em.block("while seg < n and (late[seg] or ts[seg] - L < nc):"):
                    em("seg += 1")
                em(f"ctl[{C_SEGEND}] = seg")
                em(f"ctl[{C_RULE}] = 0")
                em(f"ctl[{C_RESUME}] = pos")
                em(f"ctl[{C_PHASE}] = {PH_UPDATE}")
            with em.block(f"if not final and ctl[{C_PHASE}] == {PH_UPDATE}:"):
                em(f"lo = ctl[{C_POS}]")
                em(f"hi = ctl[{C_SEGEND}]")
                em(f"rr = ctl[{C_RULE}]")
                for rp in plan.rules:
                    _gen_update(plan, rp, em)
                em()
                em(f"ctl[{C_RULE}] = 0")
                em(f"ctl[{C_PHASE}] = {PH_CLOSE}")
            with em.block(f"if final or ctl[{C_PHASE}] == {PH_CLOSE}:"):
                em(f"seg = ctl[{C_SEGEND}]")
                em(f"wm = ctl[{C_WM}] if final else ts[seg] - L if seg < n else 0")
                with em.block("if final or seg < n:"):
                    em(f"if wm > ctl[{C_WM}]: ctl[{C_WM}] = wm")
                    em(f"rr = ctl[{C_RULE}]")
                    for rp in windowed:
                        _gen_close(plan, rp, em)
                em(f"ctl[{C_RULE}] = 0")
                with em.block("if final:"):
                    em("return 0")
                em(f"ctl[{C_POS}] = seg")
                em(f"ctl[{C_PHASE}] = {PH_FIND}")
