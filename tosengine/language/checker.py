"""Checking a parsed rule set: names, types and rule structure.

The checker reads the ASTs of every file of a set together: it picks the
schema, resolves every name (fields, lists, consts, lets, functions), types
every expression, enforces the windowed/event rule restrictions of the
language contract, and reports every problem it finds. It never stops at the
first error; a name or expression already found wrong is not reported again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from tosengine.language import ast, limits, messages
from tosengine.language.checked import (
    CheckedLet,
    CheckedRule,
    CheckedRuleSet,
    ConstUse,
    FieldUse,
    KeyUse,
    LetUse,
    ListValues,
    MessageHole,
    Ref,
    Value,
)
from tosengine.language.diagnostics import Reporter, suggest
from tosengine.language.functions import AGGREGATES, ALL_NAMES, FUNCTIONS, PATTERN_FUNCTIONS, aggregate_result, arity_text
from tosengine.language.loader import ListFileError, list_file_path, read_list_file
from tosengine.language.parser import ParsedFile, decode_string
from tosengine.language.schema import DEFAULT_SCHEMA, Field, Schema
from tosengine.language.source import Span
from tosengine.language.template import Hole, parse_template, spec_fits, valid_spec
from tosengine.language.types import FIELD_TYPES, Type

__all__ = ["check", "SEVERITIES", "ACTIONS"]

SEVERITIES = ("info", "low", "medium", "high", "critical")
ACTIONS = ("log", "warn", "review", "throttle", "suspend", "block")

_NUMERIC = (Type.INT, Type.FLOAT)
_ORDERED = (Type.INT, Type.FLOAT, Type.TIMESTAMP, Type.DURATION)

_T = Type | None  # None: unknown because of an error already reported


def check(parsed: Sequence[ParsedFile], reporter: Reporter) -> CheckedRuleSet | None:
    """Check the parsed files of one rule set together.

    Problems go to ``reporter``; the result is None when there were any
    (including syntax errors reported earlier to the same reporter).
    """
    result = _Checker(parsed, reporter).run()
    return None if reporter.has_errors else result


def _wrap64(x: int) -> int:
    return (x - limits.INT64_MIN) % (1 << 64) + limits.INT64_MIN


@dataclass
class _Scope:
    """What names mean inside one rule."""

    rule: str
    windowed: bool
    key: dict[str, Type]
    all_lets: dict[str, ast.LetClause] = field(default_factory=dict)
    visible: dict[str, _T] = field(default_factory=dict)
    current_let: str | None = None


@dataclass(frozen=True)
class _Ctx:
    """Where an expression is: ``where``, ``event`` (event rule), ``window``, ``agg`` (aggregate argument)."""

    scope: _Scope
    mode: str


class _Checker:
    def __init__(self, parsed: Sequence[ParsedFile], reporter: Reporter) -> None:
        self.parsed = list(parsed)
        self.rep = reporter
        self.types: dict[int, Type] = {}
        self.refs: dict[int, Ref] = {}
        self.lists: dict[int, ListValues] = {}
        self.broken: set[str] = set().union(*(p.broken for p in parsed)) if parsed else set()
        self.fields: dict[str, Type] = {}
        self.schema: Schema | None = None
        self.names: dict[str, tuple[str, Any, str]] = {}  # name -> (kind, decl, file)
        self.consts: dict[str, tuple[Value, Type] | None] = {}
        self.list_values: dict[str, ListValues | None] = {}
        self._const_state: dict[str, str] = {}
        self._const_stack: list[str] = []

    # ---- the whole set -----------------------------------------------------

    def run(self) -> CheckedRuleSet | None:
        decls: list[tuple[Any, str]] = []
        for p in self.parsed:
            for d in p.module.declarations:
                if len(decls) == limits.MAX_DECLARATIONS:
                    self.rep.error(_decl_span(d), messages.too_many_declarations(limits.MAX_DECLARATIONS))
                    break
                decls.append((d, p.source.name))
            else:
                continue
            break
        self._schema([d for d, _ in decls if isinstance(d, ast.SchemaDecl)])
        for d, f in decls:
            if not isinstance(d, ast.SchemaDecl):
                self._declare(d, f)
        for d, f in decls:
            if isinstance(d, ast.ConstDecl) and self.names.get(d.name.name, (None, None))[1] is d:
                self._const(d.name.name)
        for d, f in decls:
            if isinstance(d, ast.ListDecl) and self.names.get(d.name.name, (None, None))[1] is d:
                self.list_values[d.name.name] = self._list_decl(d, f)
        rules = []
        for d, f in decls:
            if isinstance(d, ast.RuleDecl):
                r = self._rule(d, f)
                if r is not None:
                    rules.append(r)
        if self.schema is None:
            return None
        return CheckedRuleSet(
            schema=self.schema,
            rules=tuple(rules),
            sources=tuple(p.source for p in self.parsed),
            modules=tuple(p.module for p in self.parsed),
            types=self.types,
            refs=self.refs,
            lists=self.lists,
        )

    def _schema(self, decls: list[ast.SchemaDecl]) -> None:
        if not decls:
            self.schema = DEFAULT_SCHEMA
            self.fields = {f.name: f.type for f in DEFAULT_SCHEMA.fields}
            return
        first = decls[0]
        for extra in decls[1:]:
            self.rep.error(extra.span, messages.second_schema(str(first.span)))
        out: list[Field] = []
        seen: dict[str, Span] = {}
        time_at: ast.SchemaField | None = None
        ok = True
        for f in first.fields:
            name = f.name.name
            t = FIELD_TYPES.get(f.type.name)
            if t is None:
                ok = False
                self.rep.error(f.type.span, messages.unknown_type(f.type.name, suggest(f.type.name, FIELD_TYPES)))
            if name in seen:
                ok = False
                self.rep.error(f.name.span, messages.duplicate_schema_field(name, str(seen[name])))
                continue
            seen[name] = f.name.span
            if f.is_time:
                if time_at is not None:
                    ok = False
                    self.rep.error(f.span, messages.second_time_field(name, str(time_at.name.span)))
                else:
                    time_at = f
                    if t is not None and t is not Type.TIMESTAMP:
                        ok = False
                        self.rep.error(f.type.span, messages.time_field_type(name, str(t)))
            if t is not None:
                self.fields[name] = t
                out.append(Field(name, t, f is time_at))
            else:
                self.fields.setdefault(name, None)  # type: ignore[arg-type]
        if time_at is None:
            ok = False
            self.rep.error(first.span, messages.no_time_field())
        if ok:
            self.schema = Schema(tuple(out))

    def _declare(self, d: Any, file: str) -> None:
        kind = {ast.ListDecl: "list", ast.ConstDecl: "const", ast.RuleDecl: "rule"}[type(d)]
        name = d.name.name
        if name in self.names:
            first_kind, first, _ = self.names[name]
            self.rep.error(d.name.span, messages.duplicate_name(kind, name, str(first.name.span), first_kind))
            return
        self.names[name] = (kind, d, file)
        if kind in ("list", "const") and name in self.fields:
            self.rep.error(d.name.span, messages.name_hides_field(kind, name))

    def _kind(self, name: str) -> str | None:
        entry = self.names.get(name)
        return entry[0] if entry else None

    # ---- consts and lists ----------------------------------------------------

    def _const(self, name: str) -> tuple[Value, Type] | None:
        state = self._const_state.get(name)
        if state == "done":
            return self.consts.get(name)
        if state == "visiting":
            i = self._const_stack.index(name)
            cycle = self._const_stack[i:]
            where = [str(self.names[n][1].name.span) for n in cycle]
            decl = self.names[cycle[-1]][1]
            self.rep.error(decl.value.span, messages.const_cycle(cycle, where))
            for n in cycle:
                self._const_state[n] = "done"
                self.consts[n] = None
            return None
        decl = self.names[name][1]
        self._const_state[name] = "visiting"
        self._const_stack.append(name)
        try:
            value = self._value(decl.value, "const")
        finally:
            self._const_stack.pop()
        if self._const_state.get(name) != "done":
            self._const_state[name] = "done"
            self.consts[name] = value
        return self.consts.get(name)

    def _value(self, e: ast.Expr, what: str) -> tuple[Value, Type] | None:
        """A constant value: a literal, a negated number, or a const's name."""
        if isinstance(e, ast.Paren):
            return self._value(e.expr, what)
        if isinstance(e, ast.Literal):
            return self._literal(e)
        if isinstance(e, ast.Unary) and e.op == "-":
            inner = e.operand
            if isinstance(inner, ast.Literal) and inner.kind == "int" and inner.value == -limits.INT64_MIN:
                return limits.INT64_MIN, Type.INT
            v = self._value(inner, what)
            if v is None:
                return None
            if v[1] is Type.FLOAT:
                return -v[0], Type.FLOAT  # type: ignore[operator]
            if v[1] in (Type.INT, Type.DURATION):
                return _wrap64(-v[0]), v[1]  # type: ignore[operator]
            self.rep.error(e.span, messages.operand_type("-", str(v[1])))
            return None
        if isinstance(e, ast.Name):
            kind = self._kind(e.name)
            if kind == "const":
                return self._const(e.name)
            if e.name in self.broken:
                return None
            if kind is not None:
                self.rep.error(e.span, messages.not_a_const(e.name, kind))
                return None
            if e.name in self.fields:
                msg = messages.list_item_not_constant() if what == "list item" else messages.const_not_constant()
                self.rep.error(e.span, msg)
                return None
            consts = [n for n, (k, _, _) in self.names.items() if k == "const"]
            self.rep.error(e.span, messages.unknown_name(e.name, suggest(e.name, consts)))
            return None
        if isinstance(e, ast.ErrorExpr):
            return None
        if isinstance(e, ast.ListLit) and what == "list item":
            self.rep.error(e.span, messages.nested_list())
            return None
        msg = messages.list_item_not_constant() if what == "list item" else messages.const_not_constant()
        self.rep.error(e.span, msg)
        return None

    def _literal(self, e: ast.Literal, negated: bool = False) -> tuple[Value, Type] | None:
        kind, value = e.kind, e.value
        if kind == "int":
            if value > limits.INT64_MAX and not (negated and value == -limits.INT64_MIN):
                self.rep.error(e.span, messages.int_out_of_range(e.text))
                return None
            return value, Type.INT
        if kind in ("float", "percent"):
            if math.isinf(value):  # type: ignore[arg-type]
                self.rep.error(e.span, messages.value_overflow(f"the number {e.text}"))
                return None
            return value, Type.FLOAT
        if kind == "duration":
            if value > limits.INT64_MAX:
                self.rep.error(e.span, messages.value_overflow(f"the duration {e.text}"))
                return None
            return value, Type.DURATION
        if kind == "bool":
            return value, Type.BOOL
        return value, Type.STRING

    def _list_items(self, lit: ast.ListLit) -> ListValues | None:
        if not isinstance(lit, ast.ListLit):  # an ErrorExpr, already reported
            return None
        values: list[Value] = []
        first: tuple[Type, Span] | None = None
        types: set[Type] = set()
        ok = True
        for item in lit.items:
            v = self._value(item, "list item")
            if v is None:
                ok = False
                continue
            value, t = v
            if first is None:
                first = (t, item.span)
            elif t is not first[0] and {t, first[0]} != {Type.INT, Type.FLOAT}:
                self.rep.error(item.span, messages.mixed_list(str(first[0]), str(t)))
                ok = False
                continue
            types.add(t)
            values.append(value)
        if not ok:
            return None
        t = None if not types else Type.FLOAT if types == {Type.INT, Type.FLOAT} else types.pop()
        return ListValues(tuple(values), t)

    def _list_decl(self, d: ast.ListDecl, file: str) -> ListValues | None:
        if d.items is not None:
            return self._list_items(d.items)
        assert d.path is not None
        shown = str(d.path.value)
        try:
            values, t = read_list_file(list_file_path(file, shown), shown)
        except ListFileError as e:
            self.rep.error(d.path.span, e.message)
            return None
        return ListValues(values, t)

    # ---- rules ---------------------------------------------------------------

    def _rule(self, d: ast.RuleDecl, file: str) -> CheckedRule | None:
        get = d.clause
        name = d.name.name
        title = get("title")
        when = get("when")
        for keyword, present in (("title", title), ("when", when)):
            if present is None:
                self.rep.error(d.name.span, messages.missing_clause(name, keyword))

        severity = self._word(get("severity"), SEVERITIES, messages.unknown_severity, "medium")
        action = self._word(get("action"), ACTIONS, messages.unknown_action, "review")
        tags = self._tags(get("tags"))

        per = get("per")
        key: dict[str, Type] = {}
        if isinstance(per, ast.PerClause):
            for f in per.fields:
                if f.name in key:
                    self.rep.error(f.span, messages.duplicate_per_field(f.name))
                elif f.name not in self.fields:
                    if f.name not in self.broken:
                        self.rep.error(f.span, messages.unknown_field(f.name, suggest(f.name, self.fields)))
                elif self.fields[f.name] is not None:
                    key[f.name] = self.fields[f.name]

        window_clause = get("window")
        window: tuple[int, int] | None = None
        windowed = window_clause is not None
        if isinstance(window_clause, ast.WindowClause):
            window = self._window(window_clause)
            if per is None:
                self.rep.error(window_clause.span, messages.window_needs_per(name))

        scope = _Scope(name, windowed, key)
        for let in d.lets:
            scope.all_lets.setdefault(let.name.name, let)

        where = get("where")
        if isinstance(where, ast.ExprClause):
            self._condition(where, _Ctx(scope, "where"))

        lets: list[CheckedLet] = []
        seen_lets: dict[str, Span] = {}
        mode = "window" if windowed else "event"
        for let in d.lets:
            lname = let.name.name
            scope.current_let = lname
            t = self._expr(let.expr, _Ctx(scope, mode))
            scope.current_let = None
            if lname in seen_lets:
                self.rep.error(let.name.span, messages.duplicate_let(lname, str(seen_lets[lname])))
                continue
            seen_lets[lname] = let.name.span
            if lname in self.fields:
                self.rep.error(let.name.span, messages.name_hides_field("let", lname))
            elif self._kind(lname) in ("list", "const"):
                kind, other, _ = self.names[lname]
                self.rep.error(let.name.span, messages.let_hides_name(lname, kind, str(other.name.span)))
            scope.visible[lname] = t
            if t is not None:
                lets.append(CheckedLet(lname, let.expr, t))

        if isinstance(when, ast.ExprClause):
            self._condition(when, _Ctx(scope, mode))
        unless = get("unless")
        if isinstance(unless, ast.ExprClause):
            self._condition(unless, _Ctx(scope, mode))

        cooldown = get("cooldown")
        cooldown_ms = None
        if isinstance(cooldown, ast.CooldownClause):
            cooldown_ms = self._duration(cooldown.duration, "cooldown")

        message_clause = get("message")
        message = None
        if isinstance(message_clause, ast.TextClause):
            message = self._message(message_clause, scope)

        if title is None or when is None:
            return None
        assert isinstance(title, ast.TextClause) and isinstance(when, ast.ExprClause)
        text = lambda k: c.value.value if isinstance(c := get(k), ast.TextClause) else None  # noqa: E731
        return CheckedRule(
            decl=d,
            file=file,
            name=name,
            title=str(title.value.value),
            clause=text("clause"),
            quote=text("quote"),
            severity=severity,
            action=action,
            tags=tags,
            key=tuple(f.name for f in per.fields) if isinstance(per, ast.PerClause) else (),
            window=window,
            where=where.expr if isinstance(where, ast.ExprClause) else None,
            lets=tuple(lets),
            when=when.expr,
            unless=unless.expr if isinstance(unless, ast.ExprClause) else None,
            cooldown_ms=cooldown_ms,
            message=message,
        )

    def _word(self, clause: Any, allowed: tuple[str, ...], msg: Any, default: str) -> str:
        if not isinstance(clause, ast.WordClause):
            return default
        word = clause.value.name
        if word not in allowed:
            self.rep.error(clause.value.span, msg(word, suggest(word, allowed)))
            return default
        return word

    def _tags(self, clause: Any) -> tuple[str, ...]:
        if not isinstance(clause, ast.TagsClause) or not isinstance(clause.tags, ast.ListLit):
            return ()
        out = []
        for item in clause.tags.items:
            v = self._value(item, "list item")
            if v is None:
                continue
            if v[1] is not Type.STRING:
                self.rep.error(item.span, messages.tag_not_string(str(v[1])))
                continue
            out.append(str(v[0]))
        return tuple(out)

    def _duration(self, e: ast.Expr, what: str) -> int | None:
        if isinstance(e, ast.Name) and e.name in self.fields and self._kind(e.name) is None:
            self.rep.error(e.span, messages.duration_expected(f"the field '{e.name}'"))
            return None
        v = self._value(e, "const")
        if v is None:
            return None
        if v[1] is not Type.DURATION:
            self.rep.error(e.span, messages.duration_expected(str(v[1])))
            return None
        if v[0] <= 0:  # type: ignore[operator]
            self.rep.error(e.span, messages.duration_not_positive(what))
            return None
        return int(v[0])

    def _window(self, w: ast.WindowClause) -> tuple[int, int] | None:
        length = self._duration(w.length, "window length")
        step = self._duration(w.every, "window step") if w.every is not None else length
        if length is None or step is None:
            return None
        assert w.every is not None or step == length
        if step > length:
            self.rep.error(w.every.span, messages.step_longer_than_window(_ms_text(step), _ms_text(length)))  # type: ignore[union-attr]
            return None
        if length % step:
            self.rep.error(w.span, messages.window_not_multiple(_ms_text(length), _ms_text(step)))
            return None
        return length, step

    def _condition(self, clause: ast.ExprClause, ctx: _Ctx) -> None:
        t = self._expr(clause.expr, ctx)
        if t is not None and t is not Type.BOOL:
            self.rep.error(clause.expr.span, messages.condition_type(clause.keyword, _tname(t)))

    def _message(self, clause: ast.TextClause, scope: _Scope) -> tuple[str | MessageHole, ...] | None:
        lit = clause.value
        source = self.rep.sources.get(lit.span.file)
        where: list[int] = []
        if source is not None:
            _, _, where = decode_string(source.text[lit.span.start : lit.span.end])
        value = str(lit.value)
        if len(where) != len(value):  # no source text at hand: point at the string
            where = []

        def span(a: int, z: int) -> Span:
            if not where or source is None:
                return lit.span
            start = lit.span.start + where[a]
            end = lit.span.start + where[max(a, z - 1)] + 1
            return source.span(start, end)

        parts, errors = parse_template(value)
        for err in errors:
            self.rep.error(span(err.start, err.end), messages.message_syntax(err.problem))
        out: list[str | MessageHole] = []
        ok = not errors
        for p in parts:
            if isinstance(p, str):
                out.append(p)
                continue
            hole = self._hole(p, scope, span(p.start, p.end))
            if hole is None:
                ok = False
            else:
                out.append(hole)
        return tuple(out) if ok else None

    def _hole(self, p: Hole, scope: _Scope, span: Span) -> MessageHole | None:
        name = p.name
        if name in scope.visible:
            t = scope.visible[name]
            kind = "let"
        elif name in scope.key:
            t, kind = scope.key[name], "key"
        elif not scope.windowed and name in self.fields:
            t, kind = self.fields[name], "field"
        else:
            names = list(scope.visible) + list(scope.key)
            if not scope.windowed:
                names += list(self.fields)
            self.rep.error(span, messages.unknown_placeholder(name, suggest(name, names), scope.windowed))
            return None
        if not valid_spec(p.spec):
            self.rep.error(span, messages.bad_format_spec(p.spec))
            return None
        if t is None:
            return None
        if not spec_fits(p.spec, t):
            self.rep.error(span, messages.spec_for_type(p.spec, name, str(t)))
            return None
        return MessageHole(name, kind, t, p.spec)

    # ---- expressions -----------------------------------------------------------

    def _expr(self, e: ast.Expr, ctx: _Ctx, negated: bool = False) -> Any:
        t = self._expr_type(e, ctx, negated)
        if isinstance(t, Type):
            self.types[id(e)] = t
        return t

    def _expr_type(self, e: ast.Expr, ctx: _Ctx, negated: bool) -> Any:
        if isinstance(e, ast.Literal):
            v = self._literal(e, negated)
            return None if v is None else v[1]
        if isinstance(e, ast.Name):
            return self._name(e, ctx)
        if isinstance(e, ast.Paren):
            return self._expr(e.expr, ctx, negated)
        if isinstance(e, ast.Unary):
            return self._unary(e, ctx)
        if isinstance(e, ast.Binary):
            return self._binary(e, ctx)
        if isinstance(e, ast.In):
            return self._in(e, ctx)
        if isinstance(e, ast.IsNull):
            self._expr(e.operand, ctx)
            return Type.BOOL
        if isinstance(e, ast.Call):
            return self._call(e, ctx)
        if isinstance(e, ast.ListLit):
            self.rep.error(e.span, messages.list_in_expression())
            return None
        return None  # ErrorExpr: already reported

    def _name(self, e: ast.Name, ctx: _Ctx) -> _T:
        name, scope = e.name, ctx.scope
        if name in scope.all_lets:
            if ctx.mode == "where":
                self.rep.error(e.span, messages.let_in_where(name))
                return None
            if ctx.mode == "agg":
                self.rep.error(e.span, messages.let_in_aggregate(name))
                return None
            if name in scope.visible:
                t = scope.visible[name]
                if t is not None:
                    self.refs[id(e)] = LetUse(name, t)
                return t
            if name == scope.current_let:
                self.rep.error(e.span, messages.let_in_own_definition(name))
            else:
                self.rep.error(e.span, messages.let_used_before(name, str(scope.all_lets[name].name.span)))
            return None
        if name in self.fields:
            t = self.fields[name]
            if t is None:
                return None
            if ctx.mode == "window":
                if name in scope.key:
                    self.refs[id(e)] = KeyUse(name, t)
                    return t
                self.rep.error(e.span, messages.field_outside_aggregate(name))
                return None
            self.refs[id(e)] = FieldUse(name, t)
            return t
        kind = self._kind(name)
        if kind == "const":
            v = self._const(name)
            if v is None:
                return None
            self.refs[id(e)] = ConstUse(name, v[0], v[1])
            return v[1]
        if kind == "list":
            self.rep.error(e.span, messages.list_as_value(name))
            return None
        if name in self.broken:
            return None
        if kind == "rule":
            self.rep.error(e.span, messages.rule_as_value(name))
            return None
        fields = list(self.fields)
        others = [n for n, (k, _, _) in self.names.items() if k == "const"]
        if ctx.mode not in ("where", "agg"):
            others += [n for n in scope.visible]
        best = suggest(name, fields + others)
        if best is None or best in self.fields:
            self.rep.error(e.span, messages.unknown_field(name, best) if best else messages.unknown_name(name, None))
        else:
            self.rep.error(e.span, messages.unknown_name(name, best))
        return None

    def _unary(self, e: ast.Unary, ctx: _Ctx) -> _T:
        if e.op == "not":
            t = self._expr(e.operand, ctx)
            if t is None:
                return None
            if t is not Type.BOOL:
                self.rep.error(e.span, messages.operand_type("not", _tname(t)))
                return None
            return Type.BOOL
        t = self._expr(e.operand, ctx, negated=True)
        if t is None:
            return None
        if t not in (Type.INT, Type.FLOAT, Type.DURATION):
            self.rep.error(e.span, messages.operand_type("-", _tname(t)))
            return None
        return t

    def _binary(self, e: ast.Binary, ctx: _Ctx) -> _T:
        lt = self._expr(e.left, ctx)
        rt = self._expr(e.right, ctx)
        op = e.op
        if op in ("and", "or"):
            bad = [t for t in (lt, rt) if t is not None and t is not Type.BOOL]
            if bad:
                self.rep.error(e.span, messages.operand_types(op, _tname(lt), _tname(rt)))
                return None
            return Type.BOOL if lt is not None and rt is not None else None
        if lt is None or rt is None:
            return Type.BOOL if op in ("==", "!=", "<", "<=", ">", ">=") else None
        if not isinstance(lt, Type) or not isinstance(rt, Type):  # pragma: no cover
            return None
        if op in ("==", "!=", "<", "<=", ">", ">="):
            return self._compare(e, lt, rt)
        result = _arith(op, lt, rt)
        if result is None:
            self.rep.error(e.span, messages.operand_types(op, str(lt), str(rt)))
        return result

    def _compare(self, e: ast.Binary, lt: Type, rt: Type) -> _T:
        op = e.op
        numeric = lt in _NUMERIC and rt in _NUMERIC
        if Type.STRING in (lt, rt) and (lt in _NUMERIC or rt in _NUMERIC):
            self.rep.error(e.span, messages.compare_string_number(str(lt), str(rt)))
            return Type.BOOL
        if op in ("==", "!="):
            if lt is rt or numeric:
                return Type.BOOL
        else:
            if lt is Type.STRING and rt is Type.STRING:
                self.rep.error(e.span, messages.string_ordering(op))
                return Type.BOOL
            if numeric or (lt is rt and lt in _ORDERED):
                return Type.BOOL
        self.rep.error(e.span, messages.compare_types(op, str(lt), str(rt)))
        return Type.BOOL

    def _in(self, e: ast.In, ctx: _Ctx) -> _T:
        lt = self._expr(e.operand, ctx)
        values = self._container(e.container, ctx)
        if values is None:
            return Type.BOOL
        if lt is not None and values.type is not None:
            ok = values.type is lt or (lt is Type.FLOAT and values.type is Type.INT)
            if not ok:
                self.rep.error(e.span, messages.in_element_type(str(lt), str(values.type)))
                return Type.BOOL
        self.lists[id(e)] = values
        return Type.BOOL

    def _container(self, c: ast.Expr, ctx: _Ctx) -> ListValues | None:
        if isinstance(c, ast.Paren):
            return self._container(c.expr, ctx)
        if isinstance(c, ast.ListLit):
            return self._list_items(c)
        if isinstance(c, ast.Name):
            kind = self._kind(c.name)
            if kind == "list":
                return self.list_values.get(c.name)
            if kind is None and c.name not in self.fields and c.name not in ctx.scope.all_lets:
                if c.name not in self.broken:
                    lists = [n for n, (k, _, _) in self.names.items() if k == "list"]
                    self.rep.error(c.span, messages.unknown_name(c.name, suggest(c.name, lists)))
                return None
        t = self._expr(c, ctx)
        if t is not None:
            self.rep.error(c.span, messages.in_needs_list(_tname(t)))
        return None

    def _call(self, e: ast.Call, ctx: _Ctx) -> _T:
        name = e.func
        if name in AGGREGATES:
            return self._aggregate(e, ctx)
        if name not in FUNCTIONS:
            for a in e.args:
                self._expr(a, ctx)
            self.rep.error(e.func_span, messages.unknown_function(name, suggest(name, ALL_NAMES)))
            return None
        params = FUNCTIONS[name]
        if len(e.args) != len(params):
            for a in e.args:
                self._expr(a, ctx)
            want = f"{len(params)} argument{'s' if len(params) != 1 else ''} ({', '.join(params)})"
            self.rep.error(e.span, messages.argument_count(name, want, len(e.args)))
            return None
        types = [self._expr(a, ctx) for a in e.args]
        if any(t is None for t in types):
            return _FUNC_RESULT.get(name)
        if name in PATTERN_FUNCTIONS:
            return self._pattern_call(e, types)
        t = types[0]
        if name in ("lower", "len"):
            if t is not Type.STRING:
                return self._arg_error(e, 1, "a string", t)
            return Type.STRING if name == "lower" else Type.INT
        if name == "abs":
            if t not in (Type.INT, Type.FLOAT, Type.DURATION):
                return self._arg_error(e, 1, "a number or a duration", t)
            return t
        if name in ("hour", "weekday"):
            if t is not Type.TIMESTAMP:
                return self._arg_error(e, 1, "a timestamp", t)
            return Type.INT
        # coalesce
        a, b = types
        if a is b:
            return a
        if a in _NUMERIC and b in _NUMERIC:
            return Type.FLOAT
        self.rep.error(e.span, messages.coalesce_types(str(a), str(b)))
        return None

    def _pattern_call(self, e: ast.Call, types: list[Any]) -> _T:
        name = e.func
        if types[0] is not Type.STRING:
            return self._arg_error(e, 1, "a string", types[0])
        pattern = e.args[1]
        while isinstance(pattern, ast.Paren):
            pattern = pattern.expr
        literal = isinstance(pattern, ast.Literal) or (
            isinstance(pattern, ast.Name) and isinstance(self.refs.get(id(pattern)), ConstUse)
        )
        if not literal:
            self.rep.error(e.args[1].span, messages.pattern_not_literal(name))
            return Type.BOOL
        if types[1] is not Type.STRING:
            return self._arg_error(e, 2, "a string", types[1])
        if name == "matches":
            value = pattern.value if isinstance(pattern, ast.Literal) else self.refs[id(pattern)].value  # type: ignore[union-attr]
            problem = _regex_problem(str(value))
            if problem is not None:
                self.rep.error(e.args[1].span, messages.invalid_regex(str(value), problem))
        return Type.BOOL

    def _arg_error(self, e: ast.Call, index: int, expected: str, got: Any) -> None:
        self.rep.error(e.args[index - 1].span, messages.argument_type(e.func, index, expected, _tname(got)))
        return None

    def _aggregate(self, e: ast.Call, ctx: _Ctx) -> _T:
        name = e.func
        counts, accepted = AGGREGATES[name]
        if ctx.mode == "where":
            self.rep.error(e.func_span, messages.aggregate_in_where(name))
            return None
        if ctx.mode == "event":
            self.rep.error(e.func_span, messages.aggregate_in_event_rule(name))
            return None
        if ctx.mode == "agg":
            self.rep.error(e.func_span, messages.nested_aggregate(name))
            return None
        inner = _Ctx(ctx.scope, "agg")
        types = [self._expr(a, inner) for a in e.args]
        if len(e.args) not in counts:
            self.rep.error(e.span, messages.argument_count(name, arity_text(counts), len(e.args)))
            return None
        if not types:
            return Type.INT
        t = types[0]
        if t is None:
            return aggregate_result(name, Type.FLOAT) if name not in ("sum", "min", "max") else None
        if accepted is not None and t not in accepted:
            want = _kinds_text(accepted)
            self.rep.error(e.args[0].span, messages.argument_type(name, 1, want, _tname(t)))
            return None
        return aggregate_result(name, t)


_FUNC_RESULT: dict[str, Type] = {
    "startswith": Type.BOOL, "endswith": Type.BOOL, "contains": Type.BOOL, "matches": Type.BOOL,
    "lower": Type.STRING, "len": Type.INT, "hour": Type.INT, "weekday": Type.INT,
}


def _arith(op: str, lt: Type, rt: Type) -> Type | None:
    """The result type of an arithmetic operator, or None when it does not apply."""
    if lt in _NUMERIC and rt in _NUMERIC:
        if op == "/":
            return Type.FLOAT
        return Type.INT if lt is Type.INT and rt is Type.INT else Type.FLOAT
    T, D = Type.TIMESTAMP, Type.DURATION
    if op == "+":
        return {(T, D): T, (D, T): T, (D, D): D}.get((lt, rt))
    if op == "-":
        return {(T, D): T, (T, T): D, (D, D): D}.get((lt, rt))
    return None


def _tname(t: Any) -> str:
    if t is None:
        return "an unknown value"
    return str(t)


def _kinds_text(types: frozenset[Type]) -> str:
    order = [Type.BOOL, Type.INT, Type.FLOAT, Type.STRING, Type.TIMESTAMP, Type.DURATION]
    names = {Type.BOOL: "a condition", Type.INT: "an int", Type.FLOAT: "a float", Type.STRING: "a string",
             Type.TIMESTAMP: "a timestamp", Type.DURATION: "a duration"}
    return messages.one_of([names[t] for t in order if t in types])


def _ms_text(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a valid RE2 regular expression, or None."""
    import re2

    options = re2.Options()
    options.log_errors = False
    try:
        re2.compile(pattern, options=options)
    except Exception as e:  # re2 raises its own error type, with bytes
        arg = e.args[0] if e.args else type(e).__name__
        text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
        return text.split(": ", 1)[0].strip()[:120] or "not a valid pattern"
    return None


def _decl_span(d: Any) -> Span:
    return d.span
