"""``tosengine fmt``: the canonical layout of a rule file.

The layout is the one of the language contract's example: clause keywords
padded to one column, ``let`` names aligned within a rule, clauses in the
canonical order with a blank line between groups, long ``and``/``or``
conditions broken before the operator. Every comment is kept: a comment
between clauses travels with the clause after it, a comment at the end of a
line stays there, and a comment inside an expression or a declaration's
header moves to the line above it. Formatting is idempotent and the formatted
text parses to the same AST as the original.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Sequence

from tosengine.language import ast
from tosengine.language.frontend import parse_file
from tosengine.language.parser import ParsedFile

__all__ = ["format_text", "format_parsed", "expr_text", "string_text", "WIDTH"]

#: The line width that long conditions are broken to fit.
WIDTH = 100
_INDENT = "  "
_KEYWORD_WIDTH = 10  # "severity" and "cooldown" plus two spaces


def format_text(text: str, filename: str = "<rules>") -> str:
    """The canonical layout of one rule file's text.

    Raises :class:`RuleError` when the text has syntax errors (names and
    types are not checked: formatting needs only a clean parse).
    """
    return format_parsed(parse_file(text, filename))


# --------------------------------------------------------------------------
# Expressions and literals
# --------------------------------------------------------------------------


def string_text(value: str) -> str:
    """A string literal that reads back as ``value``."""
    out = ['"']
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable():
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _literal(e: ast.Literal) -> str:
    if e.kind == "string":
        return string_text(str(e.value))
    if e.kind == "bool":
        return "true" if e.value else "false"
    return e.text


def expr_text(e: Any) -> str:
    """An expression on one line."""
    if isinstance(e, ast.Literal):
        return _literal(e)
    if isinstance(e, ast.Name):
        return e.name
    if isinstance(e, ast.Binary):
        return f"{expr_text(e.left)} {e.op} {expr_text(e.right)}"
    if isinstance(e, ast.Unary):
        return f"not {expr_text(e.operand)}" if e.op == "not" else f"-{expr_text(e.operand)}"
    if isinstance(e, ast.In):
        return f"{expr_text(e.operand)} {'not in' if e.negated else 'in'} {expr_text(e.container)}"
    if isinstance(e, ast.IsNull):
        return f"{expr_text(e.operand)} is {'not null' if e.negated else 'null'}"
    if isinstance(e, ast.Call):
        return f"{e.func}({', '.join(expr_text(a) for a in e.args)})"
    if isinstance(e, ast.Paren):
        return f"({expr_text(e.expr)})"
    if isinstance(e, ast.ListLit):
        return f"[{', '.join(expr_text(a) for a in e.items)}]"
    raise TypeError(f"cannot format {e!r}")  # pragma: no cover - ErrorExpr never parses cleanly


def _chain(e: ast.Binary) -> tuple[Any, list[tuple[str, Any]]]:
    """``a or b or c`` as (a, [("or", b), ("or", c)])."""
    op = e.op
    rest: list[tuple[str, Any]] = []
    node: Any = e
    while isinstance(node, ast.Binary) and node.op == op:
        rest.append((op, node.right))
        node = node.left
    rest.reverse()
    return node, rest


def _expr_lines(e: Any, col: int, cont: int | None = None) -> list[str]:
    """An expression whose first line starts at column ``col``.

    The first line is returned unindented, later lines indented absolutely. A
    long ``and``/``or`` chain breaks before each operator, the operators at
    column ``cont`` (default ``col``); an ``and`` chain inside a broken ``or``
    chain is indented two more columns.
    """
    cont = col if cont is None else cont
    flat = expr_text(e)
    if col + len(flat) <= WIDTH:
        return [flat]
    if isinstance(e, ast.Paren) and isinstance(e.expr, ast.Binary) and e.expr.op in ("and", "or"):
        inner = _expr_lines(e.expr, col + 1, cont + 1)
        inner[0] = "(" + inner[0]
        inner[-1] += ")"
        return inner
    if not (isinstance(e, ast.Binary) and e.op in ("and", "or")):
        return [flat]
    first, rest = _chain(e)

    def nested(x: Any) -> bool:
        return isinstance(x, ast.Binary) and x.op in ("and", "or")

    lines = _expr_lines(first, col, cont + 2 if nested(first) else cont)
    for op, operand in rest:
        start = cont + len(op) + 1
        sub = _expr_lines(operand, start, start + 2 if nested(operand) else start)
        lines.append(" " * cont + f"{op} {sub[0]}")
        lines.extend(sub[1:])
    return lines


# --------------------------------------------------------------------------
# Where comments go
# --------------------------------------------------------------------------


@dataclass
class _Notes:
    """Comments attached to one item: above it, inside it (moved above), after it."""

    leading: list[ast.Comment] = field(default_factory=list)
    inner: list[ast.Comment] = field(default_factory=list)
    trailing: list[ast.Comment] = field(default_factory=list)


@dataclass
class _Layout:
    """Comments of a container: per item, hoisted out of its header, after its
    opening bracket on the same line, and after its last item."""

    items: list[_Notes]
    hoisted: list[ast.Comment] = field(default_factory=list)
    header: list[ast.Comment] = field(default_factory=list)
    footer: list[ast.Comment] = field(default_factory=list)


def _distribute(
    comments: Sequence[ast.Comment],
    items: Sequence[Any],
    open_end: int | None = None,
    open_line: int | None = None,
) -> _Layout:
    """Attach each comment to an item of a container.

    ``items`` have spans and are in written order. ``open_end`` is the offset
    just past the container's opening bracket; comments before it are
    hoisted above the container.
    """
    layout = _Layout([_Notes() for _ in items])
    starts = [it.span.start for it in items]
    for c in comments:
        pos = c.span.start
        if open_end is not None and pos < open_end:
            layout.hoisted.append(c)
            continue
        i = bisect.bisect_right(starts, pos) - 1  # the last item starting before c
        if i >= 0 and pos < items[i].span.end:
            layout.items[i].inner.append(c)
        elif i >= 0 and items[i].span.end_line == c.span.line:
            layout.items[i].trailing.append(c)
        elif i < 0 and open_line is not None and c.span.line == open_line:
            layout.header.append(c)
        elif i + 1 < len(items):
            layout.items[i + 1].leading.append(c)
        else:
            layout.footer.append(c)
    return layout


def _with_trailing(lines: list[str], trailing: Sequence[ast.Comment]) -> list[str]:
    if trailing:
        lines = list(lines)
        lines[-1] += "  " + "  ".join(c.text.rstrip() for c in trailing)
    return lines


def _comment_lines(comments: Sequence[ast.Comment], indent: str) -> list[str]:
    return [indent + c.text.rstrip() for c in comments]


# --------------------------------------------------------------------------
# Declarations
# --------------------------------------------------------------------------


def _clause_group(keyword: str) -> int:
    return next(i for i, g in enumerate(ast.CLAUSE_GROUPS) if keyword in g)


def _clause_lines(c: Any, let_width: int) -> list[str]:
    """One clause, indented, possibly over several lines."""
    if isinstance(c, ast.LetClause):
        head = f"{_INDENT}let {c.name.name:<{let_width}} = "
        sub = _expr_lines(c.expr, len(head))
        return [head + sub[0]] + sub[1:]
    head = f"{_INDENT}{c.keyword:<{_KEYWORD_WIDTH}}"
    if isinstance(c, ast.TextClause):
        value = _literal(c.value)
    elif isinstance(c, ast.WordClause):
        value = c.value.name
    elif isinstance(c, ast.TagsClause):
        value = expr_text(c.tags)
    elif isinstance(c, ast.PerClause):
        value = ", ".join(f.name for f in c.fields)
    elif isinstance(c, ast.WindowClause):
        value = expr_text(c.length)
        if c.every is not None:
            value += f" every {expr_text(c.every)}"
    elif isinstance(c, ast.CooldownClause):
        value = expr_text(c.duration)
    else:
        sub = _expr_lines(c.expr, len(head))
        return [head + sub[0]] + sub[1:]
    return [head + value]


def _rule_lines(d: ast.RuleDecl, comments: Sequence[ast.Comment]) -> tuple[list[str], list[ast.Comment]]:
    written = sorted(d.clauses, key=lambda c: c.span.start)
    layout = _distribute(comments, written, d.open_span.end, d.open_span.line)
    notes = {id(c): n for c, n in zip(written, layout.items)}
    lines = _with_trailing([f"rule {d.name.name} {{"], layout.header)
    let_width = max((len(c.name.name) for c in d.lets), default=0)
    group = None
    for c in d.clauses:
        g = _clause_group(c.keyword)
        if group is not None and g != group:
            lines.append("")
        group = g
        n = notes[id(c)]
        lines += _comment_lines(n.leading + n.inner, _INDENT)
        lines += _with_trailing(_clause_lines(c, let_width), n.trailing)
    lines += _comment_lines(layout.footer, _INDENT)
    lines.append("}")
    return lines, layout.hoisted


def _schema_lines(d: ast.SchemaDecl, comments: Sequence[ast.Comment]) -> tuple[list[str], list[ast.Comment]]:
    layout = _distribute(comments, d.fields, d.open_span.end, d.open_span.line)
    lines = _with_trailing(["schema {"], layout.header)
    width = max((len(f.name.name) for f in d.fields), default=0) + 2
    for f, n in zip(d.fields, layout.items):
        lines += _comment_lines(n.leading + n.inner, _INDENT)
        text = f"{_INDENT}{f.name.name:<{width}}{f.type.name}" + (" time" if f.is_time else "")
        lines += _with_trailing([text], n.trailing)
    lines += _comment_lines(layout.footer, _INDENT)
    lines.append("}")
    return lines, layout.hoisted


def _list_lines(d: ast.ListDecl, comments: Sequence[ast.Comment]) -> tuple[list[str], list[ast.Comment]]:
    if d.items is None:
        assert d.path is not None
        return [f"list {d.name.name} from {_literal(d.path)}"], list(comments)
    lit = d.items
    layout = _distribute(comments, lit.items, lit.span.start + 1, lit.span.line)
    head = f"list {d.name.name} = "
    flat = head + expr_text(lit)
    inside = layout.header or layout.footer or any(n.leading or n.inner or n.trailing for n in layout.items)
    if not inside and len(flat) <= WIDTH:
        return [flat], layout.hoisted
    lines = _with_trailing([head + "["], layout.header)
    for item, n in zip(lit.items, layout.items):
        lines += _comment_lines(n.leading + n.inner, _INDENT)
        lines += _with_trailing([f"{_INDENT}{expr_text(item)},"], n.trailing)
    lines += _comment_lines(layout.footer, _INDENT)
    lines.append("]")
    return lines, layout.hoisted


def _decl_lines(d: Any, comments: Sequence[ast.Comment], name_width: int = 0) -> tuple[list[str], list[ast.Comment]]:
    """A declaration's lines, and the comments from inside it that go above it."""
    if isinstance(d, ast.RuleDecl):
        return _rule_lines(d, comments)
    if isinstance(d, ast.SchemaDecl):
        return _schema_lines(d, comments)
    if isinstance(d, ast.ListDecl):
        return _list_lines(d, comments)
    assert isinstance(d, ast.ConstDecl)
    return [f"const {d.name.name:<{name_width}} = {expr_text(d.value)}"], list(comments)


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------


def _const_widths(decls: Sequence[Any], layout: _Layout) -> list[int]:
    """Name widths that align the ``=`` of adjacent ``const`` lines."""
    widths = [0] * len(decls)
    run: list[int] = []

    def close() -> None:
        w = max((len(decls[j].name.name) for j in run), default=0)
        for j in run:
            widths[j] = w
        run.clear()

    for i, d in enumerate(decls):
        notes = layout.items[i]
        if not isinstance(d, ast.ConstDecl):
            close()
            continue
        if run:
            prev = decls[run[-1]]
            prev_end = max([prev.span.end_line] + [c.span.line for c in layout.items[run[-1]].trailing])
            if notes.leading or notes.inner or d.span.line > prev_end + 1:
                close()
        run.append(i)
    close()
    return widths


def format_parsed(parsed: ParsedFile) -> str:
    """The canonical text of a cleanly parsed file."""
    decls = list(parsed.module.declarations)
    comments = list(parsed.comments)
    layout = _distribute(comments, decls)
    widths = _const_widths(decls, layout)
    out: list[str] = []
    prev_line = 0  # last source line of the previous top-level element

    def emit(lines: list[str], blank: bool) -> None:
        if out and blank:
            out.append("")
        out.extend(lines)

    def gap(first_line: int) -> bool:
        return prev_line > 0 and first_line > prev_line + 1

    prev_block = False
    for d, notes, width in zip(decls, layout.items, widths):
        lines, hoisted = _decl_lines(d, notes.inner, width)
        lines = _with_trailing(lines, notes.trailing)
        block = isinstance(d, (ast.RuleDecl, ast.SchemaDecl)) or len(lines) > 1
        forced = bool(out) and (block or prev_block)
        for i, c in enumerate(notes.leading):
            emit([c.text.rstrip()], gap(c.span.line) or (forced and i == 0))
            prev_line = c.span.line
        decl_gap = gap(d.span.line) or (forced and not notes.leading)
        if hoisted:
            emit(_comment_lines(hoisted, ""), decl_gap)
            decl_gap = False
        emit(lines, decl_gap)
        prev_line = max([d.span.end_line] + [c.span.line for c in notes.trailing])
        prev_block = block
    for c in layout.footer:
        emit([c.text.rstrip()], gap(c.span.line))
        prev_line = c.span.line
    return "\n".join(out) + "\n" if out else ""
