"""Hypothesis strategies that write random, valid rule-set TEXT.

:func:`rule_set_texts` draws a whole rule set as source text: an optional
schema, consts (including an alias), lists (literal and from files), and event
and windowed rules using every clause, every literal form, every operator,
function and aggregate, with random layout -- any whitespace, and comments in
odd places (between any two tokens, at the start and end of the file). Every
generated set is meant to pass the checker, so the same texts test the
checker, lowering and the formatter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

from tosengine.language.types import Type

INT, FLOAT, BOOL, STRING, TS, DUR = (
    Type.INT, Type.FLOAT, Type.BOOL, Type.STRING, Type.TIMESTAMP, Type.DURATION,
)

DATA = Path(__file__).resolve().parent / "data"
STRING_LIST_FILE = DATA / "list-strings.txt"
INT_LIST_FILE = DATA / "list-ints.txt"

DEFAULT_FIELDS: dict[Type, list[str]] = {
    INT: ["status", "input_tokens", "output_tokens", "n"],
    FLOAT: ["temperature"],
    BOOL: ["logprobs", "flagged"],
    STRING: ["request_id", "account_id", "org_id", "api_key_id", "ip", "country", "user_agent",
             "endpoint", "model", "prompt_hash"],
    TS: ["ts"],
}
CUSTOM_FIELDS: list[tuple[str, Type]] = [
    ("i0", INT), ("i1", INT), ("f0", FLOAT), ("b0", BOOL), ("s0", STRING), ("s1", STRING), ("t1", TS),
]

REGEXES = ["^a", "b$", "[0-9]+", "^(x|y)$", r"\.", "(?i)abc", "a{2,3}"]
SPECS: dict[Type, list[str]] = {
    INT: ["", "%", "d", ",", ",d", ".2f", ".1e", ".0%"],
    FLOAT: ["", "%", ".2f", ".3e", ",", ",.1f", ".0%"],
    DUR: ["", "d", ","],
    BOOL: [""], STRING: [""], TS: [""],
}
# Level of an expression for parenthesising (higher binds tighter).
OR, AND, NOT, CMP, ADD, MUL, NEG, ATOM = range(1, 9)
PUNCT = {"(", ")", "[", "]", ","}
COMMENT_ALPHABET = st.sampled_from(list("abc xyz#\"'{}[]()\\%:=-") + ["rule ", "list ", "const ", "schema ", "when "])


# --------------------------------------------------------------------------
# Literals
# --------------------------------------------------------------------------


def int_text(draw, lo: int = 0, hi: int = 10**7) -> str:
    v = draw(st.integers(lo, hi))
    digits = str(v)
    if len(digits) > 3 and draw(st.booleans()):
        groups = []
        while len(digits) > 3:
            groups.insert(0, digits[-3:])
            digits = digits[:-3]
        groups.insert(0, digits)
        return "_".join(groups)
    return digits


def float_text(draw) -> str:
    return draw(st.sampled_from(["0.5", "1.25", "1_000.5", "2.5e3", "1e-3", "0.0", "3.75", "12.5"]))


def percent_text(draw) -> str:
    return draw(st.sampled_from(["90%", "12.5%", "0%", "100%", "1_000%", "33.3%"]))


def duration_text(draw) -> str:
    return draw(st.sampled_from(["500ms", "30s", "5m", "1h", "7d", "1_000ms", "90s", "2h"]))


_STRING_CHARS = st.sampled_from(list("abcXYZ 019._-/{}#\"\\\n\té€") + ["rule", "when", "\u2603"])


def escape(value: str, draw) -> str:
    """A string literal for ``value``, sometimes with \\u{...} escapes."""
    out = ['"']
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append(draw(st.sampled_from(["\\t", "\\u{9}"])))
        elif ord(ch) > 127 and draw(st.booleans()):
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def string_text(draw, max_size: int = 8) -> str:
    value = "".join(draw(st.lists(_STRING_CHARS, max_size=max_size)))
    return escape(value, draw)


def plain_string(draw) -> str:
    """A short string without braces (safe inside messages and as patterns)."""
    return escape("".join(draw(st.lists(st.sampled_from(list("abc xy.-/é")), max_size=6))), draw)


# --------------------------------------------------------------------------
# Expressions
# --------------------------------------------------------------------------


@dataclass
class Ctx:
    """What an expression may use.

    ``mode``: "row" (per event: where, event-rule lets, aggregate arguments),
    "window" (windowed let/when/unless).
    """

    mode: str
    fields: dict[Type, list[str]]
    keys: dict[Type, list[str]]
    lets: dict[Type, list[str]]
    consts: dict[Type, list[str]]
    lists: dict[Type, list[str]]
    time_field: str

    def row(self) -> "Ctx":
        return Ctx("row", self.fields, {}, {}, self.consts, self.lists, self.time_field)


def paren(tokens: list[str], level: int, need: int) -> list[str]:
    return ["(", *tokens, ")"] if level < need else tokens


class Gen:
    """Draws expressions of a given type as (tokens, level)."""

    def __init__(self, draw, ctx: Ctx) -> None:
        self.draw = draw
        self.ctx = ctx

    def pick(self, options):
        return self.draw(st.sampled_from(options))

    def leaf(self, t: Type) -> tuple[list[str], int]:
        d, ctx = self.draw, self.ctx
        options: list = []
        if ctx.mode == "row":
            options += ctx.fields.get(t, [])
        else:
            options += ctx.keys.get(t, [])
        options += ctx.lets.get(t, [])
        options += ctx.consts.get(t, [])
        literal = {
            INT: lambda: int_text(d),
            FLOAT: lambda: float_text(d) if d(st.booleans()) else percent_text(d),
            BOOL: lambda: self.pick(["true", "false"]),
            STRING: lambda: string_text(d),
            DUR: lambda: duration_text(d),
        }.get(t)
        if literal is not None and (not options or d(st.integers(0, 2)) == 0):
            return [literal()], ATOM
        if not options:  # a timestamp in a window context
            return [self.pick(["min", "max"]), "(", ctx.time_field, ")"], ATOM
        return [self.pick(options)], ATOM

    def expr(self, t: Type, depth: int) -> tuple[list[str], int]:
        d = self.draw
        if depth <= 0 or d(st.integers(0, 3)) == 0:
            return self.leaf(t)
        makers = getattr(self, f"_{t.value}")(depth - 1)
        tokens, level = d(st.sampled_from(makers))()
        if d(st.integers(0, 9)) == 0:  # redundant parentheses now and then
            return ["(", *tokens, ")"], ATOM
        return tokens, level

    # ---- building blocks ---------------------------------------------------

    def binop(self, op: str, level: int, lt: Type, rt: Type, depth: int, nonassoc: bool = False):
        def make():
            a, al = self.expr(lt, depth)
            b, bl = self.expr(rt, depth)
            left_need = level + 1 if nonassoc else level
            return [*paren(a, al, left_need), op, *paren(b, bl, level + 1)], level
        return make

    def call(self, name: str, *arg_types: Type, depth: int):
        def make():
            tokens = [name, "("]
            for i, at in enumerate(arg_types):
                if i:
                    tokens.append(",")
                tokens += self.expr(at, depth)[0]
            return [*tokens, ")"], ATOM
        return make

    def agg(self, name: str, arg: Type | None, depth: int):
        def make():
            if arg is None:
                return [name, "(", ")"], ATOM
            inner = Gen(self.draw, self.ctx.row())
            return [name, "(", *inner.expr(arg, depth)[0], ")"], ATOM
        return make

    def neg(self, t: Type, depth: int):
        def make():
            a, al = self.expr(t, depth)
            return ["-", *paren(a, al, NEG)], NEG
        return make

    # ---- per type ------------------------------------------------------------

    def _window(self) -> bool:
        return self.ctx.mode == "window"

    def _int(self, depth: int):
        m = [self.binop(op, lvl, INT, INT, depth) for op, lvl in (("+", ADD), ("-", ADD), ("*", MUL), ("%", MUL))]
        m += [self.neg(INT, depth), self.call("len", STRING, depth=depth), self.call("abs", INT, depth=depth),
              self.call("hour", TS, depth=depth), self.call("weekday", TS, depth=depth),
              self.call("coalesce", INT, INT, depth=depth)]
        if self._window():
            m += [self.agg("count", None, depth), self.agg("count", BOOL, depth), self.agg("sum", INT, depth),
                  self.agg("min", INT, depth), self.agg("max", INT, depth),
                  self.agg("distinct", self.pick([STRING, INT, FLOAT, BOOL]), depth)]
        return m

    def _float(self, depth: int):
        m = [self.binop("/", MUL, self.pick([INT, FLOAT]), self.pick([INT, FLOAT]), depth),
             self.binop("+", ADD, FLOAT, INT, depth), self.binop("*", MUL, INT, FLOAT, depth),
             self.binop("-", ADD, FLOAT, FLOAT, depth), self.binop("%", MUL, FLOAT, INT, depth),
             self.neg(FLOAT, depth), self.call("abs", FLOAT, depth=depth),
             self.call("coalesce", FLOAT, INT, depth=depth)]
        if self._window():
            m += [self.agg("avg", INT, depth), self.agg("stddev", FLOAT, depth), self.agg("fraction", BOOL, depth),
                  self.agg("sum", FLOAT, depth), self.agg("max", FLOAT, depth)]
        return m

    def _bool(self, depth: int):
        d = self.draw
        m = [self.binop("and", AND, BOOL, BOOL, depth), self.binop("or", OR, BOOL, BOOL, depth)]

        def not_():
            a, al = self.expr(BOOL, depth)
            return ["not", *paren(a, al, NOT)], NOT

        def compare():
            t = self.pick([INT, FLOAT, STRING, TS, DUR, BOOL])
            ops = ["==", "!="] if t in (STRING, BOOL) else ["==", "!=", "<", "<=", ">", ">="]
            rt = self.pick([INT, FLOAT]) if t in (INT, FLOAT) else t
            return self.binop(self.pick(ops), CMP, t, rt, depth, nonassoc=True)()

        def in_list():
            t = self.pick([STRING, INT])
            a, al = self.expr(t, depth)
            names = self.ctx.lists.get(t, [])
            if names and d(st.booleans()):
                container = [self.pick(names)]
            else:
                consts = self.ctx.consts.get(STRING, [])
                items = [
                    (self.pick(consts) if consts and d(st.booleans()) else plain_string(d)) if t is STRING
                    else int_text(d)
                    for _ in range(d(st.integers(0, 3)))
                ]
                container = ["["]
                for i, it in enumerate(items):
                    container += ([","] if i else []) + [it]
                if items and d(st.booleans()):
                    container.append(",")
                container.append("]")
            op = ["not", "in"] if d(st.booleans()) else ["in"]
            return [*paren(a, al, ADD), *op, *container], CMP

        def is_null():
            a, al = self.expr(self.pick([INT, STRING, FLOAT, BOOL]), depth)
            tail = ["is", "not", "null"] if d(st.booleans()) else ["is", "null"]
            return [*paren(a, al, ADD), *tail], CMP

        def pattern():
            func = self.pick(["startswith", "endswith", "contains", "matches"])
            s = self.expr(STRING, depth)[0]
            if func == "matches":
                pat = escape(self.pick(REGEXES), d)
            else:
                consts = self.ctx.consts.get(STRING, [])
                pat = self.pick(consts) if consts and d(st.booleans()) else plain_string(d)
            return [func, "(", *s, ",", pat, ")"], ATOM

        def bool_coalesce():
            return self.call("coalesce", BOOL, BOOL, depth=depth)()

        return m + [not_, compare, in_list, is_null, pattern, bool_coalesce]

    def _string(self, depth: int):
        m = [self.call("lower", STRING, depth=depth), self.call("coalesce", STRING, STRING, depth=depth)]
        return m

    def _timestamp(self, depth: int):
        m = [self.binop("+", ADD, TS, DUR, depth), self.binop("-", ADD, TS, DUR, depth),
             self.binop("+", ADD, DUR, TS, depth)]
        if self._window():
            m.append(self.agg(self.pick(["min", "max"]), TS, depth))
        return m

    def _duration(self, depth: int):
        m = [self.binop("-", ADD, TS, TS, depth), self.binop("+", ADD, DUR, DUR, depth),
             self.neg(DUR, depth), self.call("abs", DUR, depth=depth)]
        if self._window():
            m.append(self.agg("sum", DUR, depth))
        return m


# --------------------------------------------------------------------------
# Declarations
# --------------------------------------------------------------------------


@dataclass
class Env:
    fields: dict[Type, list[str]]
    time_field: str
    consts: dict[Type, list[str]] = field(default_factory=dict)
    lists: dict[Type, list[str]] = field(default_factory=dict)


def schema_decl(draw) -> tuple[list[list[str]], Env]:
    fields = list(CUSTOM_FIELDS)
    fields = draw(st.permutations(fields))
    time_at = draw(st.integers(0, len(fields)))
    tokens = ["schema", "{"]
    by_type: dict[Type, list[str]] = {}
    for i, (name, t) in enumerate(fields):
        if i == time_at:
            tokens += ["t0", "timestamp", "time"]
        tokens += [name, t.value]
        by_type.setdefault(t, []).append(name)
    if time_at == len(fields):
        tokens += ["t0", "timestamp", "time"]
    tokens.append("}")
    by_type.setdefault(TS, []).append("t0")
    return [tokens], Env(by_type, "t0")


def const_decls(draw, env: Env) -> list[list[str]]:
    decls = []
    makers = [
        ("c_int", INT, lambda: draw(st.sampled_from([[int_text(draw)], ["-", int_text(draw)]]))),
        ("c_float", FLOAT, lambda: [float_text(draw)]),
        ("c_pct", FLOAT, lambda: [percent_text(draw)]),
        ("c_str", STRING, lambda: [plain_string(draw)]),
        ("c_bool", BOOL, lambda: [draw(st.sampled_from(["true", "false"]))]),
        ("c_dur", DUR, lambda: [duration_text(draw)]),
    ]
    for name, t, value in makers:
        if draw(st.booleans()):
            decls.append(["const", name, "=", *value()])
            env.consts.setdefault(t, []).append(name)
    if "c_int" in env.consts.get(INT, []) and draw(st.booleans()):
        decls.append(["const", "c_alias", "=", "c_int"])
        env.consts[INT].append("c_alias")
    return decls


def list_decls(draw, env: Env) -> list[list[str]]:
    decls = []
    if draw(st.booleans()):
        items = [plain_string(draw) for _ in range(draw(st.integers(0, 4)))]
        if "c_str" in env.consts.get(STRING, []) and draw(st.booleans()):
            items.append("c_str")
        tokens = ["list", "l_str", "=", "["]
        for i, it in enumerate(items):
            tokens += ([","] if i else []) + [it]
        decls.append([*tokens, "]"])
        env.lists.setdefault(STRING, []).append("l_str")
    if draw(st.booleans()):
        items = [draw(st.sampled_from([[int_text(draw)], ["-", int_text(draw)]])) for _ in range(draw(st.integers(1, 4)))]
        tokens = ["list", "l_int", "=", "["]
        for i, it in enumerate(items):
            tokens += ([","] if i else []) + it
        if draw(st.booleans()):
            tokens.append(",")
        decls.append([*tokens, "]"])
        env.lists.setdefault(INT, []).append("l_int")
    if draw(st.booleans()):
        decls.append(["list", "l_file", "from", escape(str(STRING_LIST_FILE), draw)])
        env.lists.setdefault(STRING, []).append("l_file")
    if draw(st.booleans()):
        decls.append(["list", "l_ints", "from", escape(str(INT_LIST_FILE), draw)])
        env.lists.setdefault(INT, []).append("l_ints")
    return decls


def message_tokens(draw, holes: dict[str, Type]) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        if holes and draw(st.booleans()):
            name = draw(st.sampled_from(sorted(holes)))
            spec = draw(st.sampled_from(SPECS[holes[name]]))
            parts.append("{" + name + (":" + spec if spec else "") + "}")
        else:
            text = "".join(draw(st.lists(st.sampled_from(list("ab c{}.%\"\\\n")), max_size=5)))
            parts.append(text.replace("{", "{{").replace("}", "}}"))
    return escape("".join(parts), draw)


def rule_decl(draw, env: Env, index: int) -> list[str]:
    windowed = draw(st.booleans())
    clauses: list[list[str]] = []
    clauses.append(["title", string_text(draw)])
    for kw in ("clause", "quote"):
        if draw(st.booleans()):
            clauses.append([kw, string_text(draw)])
    if draw(st.booleans()):
        clauses.append(["severity", draw(st.sampled_from(["info", "low", "medium", "high", "critical"]))])
    if draw(st.booleans()):
        clauses.append(["action", draw(st.sampled_from(["log", "warn", "review", "throttle", "suspend", "block"]))])
    if draw(st.booleans()):
        tags = [plain_string(draw) for _ in range(draw(st.integers(0, 3)))]
        tokens = ["tags", "["]
        for i, t in enumerate(tags):
            tokens += ([","] if i else []) + [t]
        clauses.append([*tokens, "]"])
    keyable = [(n, t) for t in (STRING, INT, BOOL) for n in env.fields.get(t, [])]
    per: list[tuple[str, Type]] = []
    if windowed or draw(st.booleans()):
        per = draw(st.lists(st.sampled_from(keyable), min_size=1, max_size=2, unique=True))
        tokens = ["per"]
        for i, (n, _) in enumerate(per):
            tokens += ([","] if i else []) + [n]
        clauses.append(tokens)
    keys: dict[Type, list[str]] = {}
    for n, t in per:
        keys.setdefault(t, []).append(n)
    if windowed:
        step_ms, step_text = draw(st.sampled_from([(1000, "1s"), (30_000, "30s"), (60_000, "1m"),
                                                   (300_000, "5m"), (3_600_000, "1h")]))
        k = draw(st.integers(1, 4))
        length = step_ms * k
        length_text = f"{length // 1000}s" if length % 60_000 else f"{length // 60_000}m"
        if draw(st.booleans()):
            clauses.append(["window", length_text, "every", step_text])
        else:
            clauses.append(["window", length_text])
    ctx = Ctx("window" if windowed else "row", env.fields, keys, {}, env.consts, env.lists, env.time_field)
    if draw(st.booleans()):
        clauses.append(["where", *Gen(draw, ctx.row()).expr(BOOL, 3)[0]])
    lets: dict[Type, list[str]] = {}
    holes: dict[str, Type] = {}
    for i in range(draw(st.integers(0, 3))):
        t = draw(st.sampled_from([INT, FLOAT, BOOL, STRING, DUR, TS]))
        gen = Gen(draw, Ctx(ctx.mode, env.fields, keys, lets, env.consts, env.lists, env.time_field))
        expr = gen.expr(t, 3)[0]
        name = f"v{i}"
        clauses.append(["let", name, "=", *expr])
        lets = {k: list(v) for k, v in lets.items()}
        lets.setdefault(t, []).append(name)
        holes[name] = t
    full = Ctx(ctx.mode, env.fields, keys, lets, env.consts, env.lists, env.time_field)
    clauses.append(["when", *Gen(draw, full).expr(BOOL, 4)[0]])
    if draw(st.booleans()):
        clauses.append(["unless", *Gen(draw, full).expr(BOOL, 2)[0]])
    if draw(st.booleans()):
        clauses.append(["cooldown", duration_text(draw)])
    if draw(st.booleans()):
        for n, t in per:
            holes[n] = t
        if not windowed:
            for t, names in env.fields.items():
                for n in names:
                    holes.setdefault(n, t)
        clauses.append(["message", message_tokens(draw, holes)])
    # any clause order, but the lets keep theirs
    let_clauses = [c for c in clauses if c[0] == "let"]
    others = draw(st.permutations([c for c in clauses if c[0] != "let"]))
    at = draw(st.integers(0, len(others)))
    ordered = list(others[:at]) + let_clauses + list(others[at:])
    tokens = ["rule", f"r{index}", "{"]
    for c in ordered:
        tokens += c
    return [*tokens, "}"]


def separator(draw, left: str, right: str) -> str:
    choice = draw(st.integers(0, 15))
    if choice <= 7:
        if (left in PUNCT or right in PUNCT) and not (left.endswith("%") and right == "(") and choice <= 2:
            return ""
        return " "
    if choice <= 9:
        return "\n"
    if choice == 10:
        return "\n\n"
    if choice == 11:
        return "\t"
    text = "".join(draw(st.lists(COMMENT_ALPHABET, max_size=12)))
    return draw(st.sampled_from(["  #", " #", "\n# ", "#"])) + text + draw(st.sampled_from(["\n", "\n\n", "\n  "]))


@st.composite
def rule_set_texts(draw) -> str:
    """A valid rule set's text, with random layout and comments anywhere."""
    if draw(st.integers(0, 2)) == 0:
        decls, env = schema_decl(draw)
    else:
        decls, env = [], Env({t: list(v) for t, v in DEFAULT_FIELDS.items()}, "ts")
    decls += const_decls(draw, env)
    decls += list_decls(draw, env)
    decls += [rule_decl(draw, env, i) for i in range(draw(st.integers(1, 3)))]
    decls = draw(st.permutations(decls))
    tokens = [t for d in decls for t in d]
    out = []
    if draw(st.booleans()):
        out.append("# " + "".join(draw(st.lists(COMMENT_ALPHABET, max_size=10))) + "\n")
    for i, tok in enumerate(tokens):
        if i:
            out.append(separator(draw, tokens[i - 1], tok))
        out.append(tok)
    if draw(st.booleans()):
        out.append(" # the end")
    if draw(st.booleans()):
        out.append("\n")
    return "".join(out)
