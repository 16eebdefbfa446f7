"""Lowering a checked rule set to the IR.

Names become :class:`FieldRef`, :class:`KeyRef`, :class:`LetRef` or
:class:`Aggregate`; ``const`` and ``list`` names are inlined as literals;
parentheses disappear; literal arithmetic, comparisons and logic are folded
with exactly the run-time semantics (64-bit wrapping ints, float division, a
null result -- division by zero, NaN -- is left for run time since there is no
null literal); ``90%`` is the float 0.9 and durations are int milliseconds.
"""

from __future__ import annotations

import math
import os
from typing import Sequence

from tosengine.ir import nodes as ir
from tosengine.language import ast
from tosengine.language.checked import (
    CheckedRule,
    CheckedRuleSet,
    ConstUse,
    FieldUse,
    KeyUse,
    LetUse,
    MessageHole,
)
from tosengine.language.frontend import check_paths, check_text
from tosengine.language.types import Type

__all__ = ["lower", "load_paths", "load_text"]

_INT64_MIN = -(2**63)
_UNARY = {"-": ir.UnaryOp.NEG, "not": ir.UnaryOp.NOT}
_BINARY = {op.value: op for op in ir.BinaryOp}
_AGGREGATES = frozenset(f.value for f in ir.AggFunc)


def load_paths(paths: Sequence[str | os.PathLike]) -> ir.Program:
    """Read, check and lower the rule set made of ``paths`` (files and folders).

    Raises :class:`tosengine.language.RuleError` with every problem found.
    """
    return lower(check_paths(paths))


def load_text(text: str, filename: str = "<rules>") -> ir.Program:
    """Check and lower rule text; raises :class:`tosengine.language.RuleError`."""
    return lower(check_text(text, filename))


def lower(checked: CheckedRuleSet) -> ir.Program:
    """The IR program of a checked rule set."""
    low = _Lowerer(checked)
    return ir.Program(checked.schema, tuple(low.rule(r) for r in checked.rules))


def _wrap64(x: int) -> int:
    return (x - _INT64_MIN) % (1 << 64) + _INT64_MIN


class _Lowerer:
    def __init__(self, checked: CheckedRuleSet) -> None:
        self.c = checked

    def rule(self, r: CheckedRule) -> ir.Rule:
        span = r.decl.span
        return ir.Rule(
            name=r.name,
            title=r.title,
            clause=r.clause,
            quote=r.quote,
            severity=ir.Severity(r.severity),
            action=ir.Action(r.action),
            tags=r.tags,
            key=r.key,
            window=ir.Window(*r.window) if r.window else None,
            where=self.expr(r.where) if r.where is not None else None,
            lets=tuple(ir.Let(let.name, self.expr(let.expr), let.type) for let in r.lets),
            when=self.expr(r.when),
            unless=self.expr(r.unless) if r.unless is not None else None,
            cooldown_ms=r.cooldown_ms,
            message=self.message(r.message) if r.message is not None else None,
            location=ir.Location(span.file, span.line, span.column),
        )

    @staticmethod
    def message(parts: tuple[str | MessageHole, ...]) -> tuple[ir.MessagePart, ...]:
        out: list[ir.MessagePart] = []
        for p in parts:
            if isinstance(p, str):
                out.append(p)
            else:
                out.append(ir.Placeholder(p.name, ir.PlaceholderKind(p.kind), p.type, p.spec))
        return tuple(out)

    def expr(self, e: ast.Expr) -> ir.Expr:
        t = self.c.types.get(id(e))
        if isinstance(e, ast.Paren):
            return self.expr(e.expr)
        if isinstance(e, ast.Literal):
            assert t is not None
            return ir.Literal(e.value, t)
        if isinstance(e, ast.Name):
            ref = self.c.refs[id(e)]
            if isinstance(ref, FieldUse):
                return ir.FieldRef(ref.name, ref.type)
            if isinstance(ref, KeyUse):
                return ir.KeyRef(ref.name, ref.type)
            if isinstance(ref, LetUse):
                return ir.LetRef(ref.name, ref.type)
            assert isinstance(ref, ConstUse)
            return ir.Literal(ref.value, ref.type)
        assert t is not None, f"unchecked expression {e!r}"
        if isinstance(e, ast.Unary):
            return self.unary(e, t)
        if isinstance(e, ast.Binary):
            left, right = self.expr(e.left), self.expr(e.right)
            op = _BINARY[e.op]
            if isinstance(left, ir.Literal) and isinstance(right, ir.Literal):
                folded = _fold_binary(op, left, right, t)
                if folded is not None:
                    return folded
            return ir.Binary(op, left, right, t)
        if isinstance(e, ast.In):
            return self.in_list(e)
        if isinstance(e, ast.IsNull):
            operand = self.expr(e.operand)
            if isinstance(operand, ir.Literal):  # a literal is never null
                return ir.Literal(e.negated, Type.BOOL)
            return ir.IsNull(operand, e.negated)
        if isinstance(e, ast.Call):
            args = tuple(self.expr(a) for a in e.args)
            if e.func in _AGGREGATES:
                return ir.Aggregate(ir.AggFunc(e.func), args[0] if args else None, t)
            return ir.Call(ir.Func(e.func), args, t)
        raise TypeError(f"cannot lower {e!r}")  # pragma: no cover

    def unary(self, e: ast.Unary, t: Type) -> ir.Expr:
        operand = e.operand
        while isinstance(operand, ast.Paren):
            operand = operand.expr
        if e.op == "-" and isinstance(operand, ast.Literal) and operand.kind == "int":
            # -9223372036854775808 is written as the negation of a literal
            # that on its own does not fit in 64 bits
            return ir.Literal(_wrap64(-int(operand.value)), Type.INT)
        inner = self.expr(e.operand)
        if isinstance(inner, ir.Literal):
            if e.op == "not":
                return ir.Literal(not inner.value, Type.BOOL)
            if t is Type.FLOAT:
                return ir.Literal(-float(inner.value), Type.FLOAT)
            return ir.Literal(_wrap64(-int(inner.value)), t)
        return ir.Unary(_UNARY[e.op], inner, t)

    def in_list(self, e: ast.In) -> ir.Expr:
        operand = self.expr(e.operand)
        values = self.c.lists[id(e)].values
        if operand.type is Type.FLOAT:
            values = tuple(float(v) for v in values)
        distinct: list[ir.Value] = []
        for v in values:
            if not any(v == d for d in distinct):
                distinct.append(v)
        if isinstance(operand, ir.Literal):
            found = any(operand.value == v for v in distinct)
            return ir.Literal(found != e.negated, Type.BOOL)
        return ir.InList(operand, tuple(distinct), e.negated)


def _fold_binary(op: ir.BinaryOp, a: ir.Literal, b: ir.Literal, t: Type) -> ir.Literal | None:
    """``a op b`` on literals, as run time computes it; None when the result is null."""
    x, y = a.value, b.value
    if op is ir.BinaryOp.AND:
        return ir.Literal(bool(x) and bool(y), Type.BOOL)
    if op is ir.BinaryOp.OR:
        return ir.Literal(bool(x) or bool(y), Type.BOOL)
    floats = a.type is Type.FLOAT or b.type is Type.FLOAT
    if op.is_comparison:
        if floats:
            x, y = float(x), float(y)
        result = {
            ir.BinaryOp.EQ: x == y, ir.BinaryOp.NE: x != y,
            ir.BinaryOp.LT: x < y, ir.BinaryOp.LE: x <= y,  # type: ignore[operator]
            ir.BinaryOp.GT: x > y, ir.BinaryOp.GE: x >= y,  # type: ignore[operator]
        }[op]
        return ir.Literal(result, Type.BOOL)
    if op is ir.BinaryOp.DIV:
        fx, fy = float(x), float(y)
        if fy == 0.0:
            return None
        return _float_literal(fx / fy)
    if floats or t is Type.FLOAT:
        fx, fy = float(x), float(y)
        if op is ir.BinaryOp.ADD:
            return _float_literal(fx + fy)
        if op is ir.BinaryOp.SUB:
            return _float_literal(fx - fy)
        if op is ir.BinaryOp.MUL:
            return _float_literal(fx * fy)
        if fy == 0.0:  # MOD
            return None
        return _float_literal(fx % fy)
    ix, iy = int(x), int(y)
    if op is ir.BinaryOp.ADD:
        return ir.Literal(_wrap64(ix + iy), t)
    if op is ir.BinaryOp.SUB:
        return ir.Literal(_wrap64(ix - iy), t)
    if op is ir.BinaryOp.MUL:
        return ir.Literal(_wrap64(ix * iy), t)
    if iy == 0:  # MOD
        return None
    return ir.Literal(_wrap64(ix % iy), t)


def _float_literal(v: float) -> ir.Literal | None:
    return None if math.isnan(v) else ir.Literal(v, Type.FLOAT)
