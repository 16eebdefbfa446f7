"""Rule text to AST: Lark's LALR parser with the AST built during parsing.

The tree is built by a transformer handed to Lark (``transformer=``), so it
grows bottom-up inside the LALR loop and deep input never recurses in Python.
A file is cut at the reserved words ``schema``, ``list``, ``const`` and
``rule`` (outside strings and comments) and each declaration is parsed on its
own: after a syntax error the parser carries on at the next declaration, and
every independent error is reported.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from tosengine.cachedir import cache_dir
from tosengine.language import ast, limits, messages
from tosengine.language.diagnostics import Reporter, suggest
from tosengine.language.source import SourceFile, Span

__all__ = ["ParsedFile", "parse_source", "KEYWORDS", "decode_string", "DURATION_UNITS"]

#: Reserved words of the language.
KEYWORDS = frozenset(
    """schema list from const rule time title clause quote severity action tags per window
    every where let when unless cooldown message and or not in is null true false""".split()
)
TOP_KEYWORDS = ("schema", "list", "const", "rule")

#: Milliseconds per duration unit.
DURATION_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


@dataclass(frozen=True)
class ParsedFile:
    """One parsed file: its AST, its comments (for ``fmt``) and what failed.

    ``broken`` holds the names of declarations that had syntax errors, so that
    the checker does not report them again as unknown names.
    """

    source: SourceFile
    module: ast.Module
    comments: tuple[ast.Comment, ...]
    broken: frozenset[str] = field(default_factory=frozenset)


# --------------------------------------------------------------------------
# Strings
# --------------------------------------------------------------------------

_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
_UNICODE = re.compile(r"u\{([0-9A-Fa-f]{1,6})\}")


def decode_string(raw: str) -> tuple[str, list[tuple[int, int, messages.Message]], list[int]]:
    """Decode a string literal as written, quotes included.

    Returns the value, the problems found as ``(start, end, message)`` offsets
    into ``raw``, and for every character of the value the offset in ``raw``
    where it was written (used to point into message templates).
    """
    out: list[str] = []
    where: list[int] = []
    errors: list[tuple[int, int, messages.Message]] = []
    body_end = len(raw) - 1
    i = 1
    while i < body_end:
        c = raw[i]
        if c != "\\":
            out.append(c)
            where.append(i)
            i += 1
            continue
        nxt = raw[i + 1] if i + 1 < body_end else ""
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            where.append(i)
            i += 2
            continue
        if nxt == "u":
            m = _UNICODE.match(raw, i + 1, body_end)
            cp = int(m.group(1), 16) if m else -1
            if m and cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF:
                out.append(chr(cp))
                where.append(i)
                i = m.end()
                continue
            end = raw.find("}", i, body_end)
            end = end + 1 if end >= 0 and end - i <= 12 else i + 2
            errors.append((i, end, messages.invalid_unicode_escape(raw[i:end])))
            i = end
            continue
        errors.append((i, i + 2, messages.invalid_escape(raw[i : i + 2])))
        i += 2
    return "".join(out), errors, where


# --------------------------------------------------------------------------
# Building the AST while parsing
# --------------------------------------------------------------------------


#: Longer number literals are out of range anyway; they are not converted
#: (Python refuses to convert very long digit strings).
_MAX_DIGITS = 400


def _int(text: str) -> int:
    """The exact value of an integer literal; a huge stand-in when it is absurdly long."""
    return int(text) if len(text) <= _MAX_DIGITS else 10**_MAX_DIGITS


class _Chunk:
    """What the transformer needs while it parses one declaration."""

    def __init__(self, source: SourceFile, base: int, reporter: Reporter) -> None:
        self.source = source
        self.base = base
        self.reporter = reporter
        self.depth: dict[int, int] = {}


_Children = list[Any]


class _AstBuilder(Transformer):
    """Lark callbacks: parse-tree pieces in, AST nodes out."""

    def __init__(self) -> None:
        super().__init__(visit_tokens=False)
        self.chunk: _Chunk = None  # type: ignore[assignment]

    # ---- helpers ---------------------------------------------------------

    def _tspan(self, tok: Token) -> Span:
        b = self.chunk.base
        return self.chunk.source.span(b + tok.start_pos, b + tok.end_pos)

    def _span(self, items: _Children) -> Span:
        first = next(x for x in items if x is not None)
        last = next(x for x in reversed(items) if x is not None)
        a = self._tspan(first) if isinstance(first, Token) else first.span
        z = self._tspan(last) if isinstance(last, Token) else last.span
        return a.to(z)

    def _error(self, span: Span, msg: messages.Message) -> None:
        self.chunk.reporter.error(span, msg)

    def _ident(self, tok: Token) -> ast.Ident:
        span = self._tspan(tok)
        if len(tok) > limits.MAX_NAME_CHARS:
            self._error(span, messages.name_too_long(len(tok), limits.MAX_NAME_CHARS))
        return ast.Ident(str(tok), span)

    def _expr(self, node: Any, parts: list[Any]) -> Any:
        """Track nesting depth; too deep becomes an ErrorExpr (reported once)."""
        depth = self.chunk.depth
        best = 0
        for p in parts:
            if isinstance(p, ast.ErrorExpr):
                return p
            best = max(best, depth.get(id(p), 1))
        if best + 1 > limits.MAX_DEPTH:
            self._error(node.span, messages.too_deep(limits.MAX_DEPTH))
            return ast.ErrorExpr(node.span)
        depth[id(node)] = best + 1
        return node

    @staticmethod
    def _nodes(items: _Children) -> list[Any]:
        return [x for x in items if x is not None and not isinstance(x, Token)]

    # ---- declarations ----------------------------------------------------

    def start(self, c: _Children) -> Any:
        return c[0]

    def schema_decl(self, c: _Children) -> ast.SchemaDecl:
        return ast.SchemaDecl(tuple(self._nodes(c)), self._span(c), self._tspan(c[1]))

    def schema_field(self, c: _Children) -> ast.SchemaField:
        return ast.SchemaField(self._ident(c[0]), self._ident(c[1]), len(c) == 3, self._span(c))

    def list_values(self, c: _Children) -> ast.ListDecl:
        return ast.ListDecl(self._ident(c[1]), c[3], None, self._span(c))

    def list_file(self, c: _Children) -> ast.ListDecl:
        return ast.ListDecl(self._ident(c[1]), None, self.literal([c[3]]), self._span(c))

    def const_decl(self, c: _Children) -> ast.ConstDecl:
        return ast.ConstDecl(self._ident(c[1]), c[3], self._span(c))

    def rule_decl(self, c: _Children) -> ast.RuleDecl:
        clauses = self._nodes(c[3:-1])
        seen: dict[str, Any] = {}
        kept = []
        lets = 0
        for cl in clauses:
            if cl.keyword == "let":
                lets += 1
                if lets == limits.MAX_LETS + 1:
                    self._error(cl.span, messages.too_many_lets(limits.MAX_LETS))
            elif cl.keyword in seen:
                self._error(cl.span, messages.duplicate_clause(cl.keyword))
                continue
            seen[cl.keyword] = cl
            kept.append(cl)
        order = {k: i for i, k in enumerate(ast.CLAUSE_ORDER)}
        kept.sort(key=lambda cl: order[cl.keyword])
        return ast.RuleDecl(self._ident(c[1]), tuple(kept), self._span(c), self._tspan(c[2]))

    # ---- clauses -----------------------------------------------------------

    def text_clause(self, c: _Children) -> ast.TextClause:
        return ast.TextClause(str(c[0]), self.literal([c[1]]), self._span(c))

    def word_clause(self, c: _Children) -> ast.WordClause:
        return ast.WordClause(str(c[0]), self._ident(c[1]), self._span(c))

    def tags_clause(self, c: _Children) -> ast.TagsClause:
        return ast.TagsClause(c[1], self._span(c))

    def per_clause(self, c: _Children) -> ast.PerClause:
        names = tuple(self._ident(t) for t in c[1:] if t.type == "NAME")
        return ast.PerClause(names, self._span(c))

    def window_clause(self, c: _Children) -> ast.WindowClause:
        return ast.WindowClause(c[1], c[3] if len(c) > 2 else None, self._span(c))

    def expr_clause(self, c: _Children) -> ast.ExprClause:
        return ast.ExprClause(str(c[0]), c[1], self._span(c))

    def let_clause(self, c: _Children) -> ast.LetClause:
        return ast.LetClause(self._ident(c[1]), c[3], self._span(c))

    def cooldown_clause(self, c: _Children) -> ast.CooldownClause:
        return ast.CooldownClause(c[1], self._span(c))

    # ---- expressions -------------------------------------------------------

    def literal(self, c: _Children) -> ast.Literal:
        tok: Token = c[0]
        span = self._tspan(tok)
        text = str(tok)
        kind = tok.type
        if kind == "INT":
            return ast.Literal("int", _int(text), text, span)
        if kind == "FLOAT":
            return ast.Literal("float", float(text) if len(text) <= _MAX_DIGITS else math.inf, text, span)
        if kind == "PERCENT":
            digits = text[:-1].replace("_", "")
            value = float(Fraction(digits) / 100) if len(digits) <= _MAX_DIGITS else math.inf
            return ast.Literal("percent", value, text, span)
        if kind == "DURATION":
            unit = "ms" if text.endswith("ms") else text[-1]
            digits = text[: -len(unit)]
            return ast.Literal("duration", _int(digits) * DURATION_UNITS[unit], text, span)
        if kind in ("TRUE", "FALSE"):
            return ast.Literal("bool", kind == "TRUE", "", span)
        value, errors, _ = decode_string(text)
        for a, z, msg in errors:
            self._error(self.chunk.source.span(span.start + a, span.start + z), msg)
        if len(value) > limits.MAX_STRING_CHARS:
            self._error(span, messages.string_too_long(len(value), limits.MAX_STRING_CHARS))
        return ast.Literal("string", value, "", span)

    def name(self, c: _Children) -> ast.Name:
        ident = self._ident(c[0])
        return ast.Name(ident.name, ident.span)

    def binary(self, c: _Children) -> Any:
        left, op, right = c
        return self._expr(ast.Binary(str(op), left, right, self._span(c)), [left, right])

    def unary(self, c: _Children) -> Any:
        op, operand = c
        return self._expr(ast.Unary(str(op), operand, self._span(c)), [operand])

    def in_expr(self, c: _Children) -> Any:
        left, right = c[0], c[-1]
        return self._expr(ast.In(left, right, len(c) == 4, self._span(c)), [left, right])

    def is_null(self, c: _Children) -> Any:
        return self._expr(ast.IsNull(c[0], len(c) == 4, self._span(c)), [c[0]])

    def call(self, c: _Children) -> Any:
        args = tuple(self._nodes(c[2:-1]))
        node = ast.Call(str(c[0]), args, self._span(c), self._tspan(c[0]))
        return self._expr(node, list(args))

    def paren(self, c: _Children) -> Any:
        return self._expr(ast.Paren(c[1], self._span(c)), [c[1]])

    def list_lit(self, c: _Children) -> Any:
        items = tuple(self._nodes(c[1:-1]))
        return self._expr(ast.ListLit(items, self._span(c)), list(items))


@lru_cache(maxsize=1)
def _grammar() -> str:
    return resources.files("tosengine.language").joinpath("grammar.lark").read_text(encoding="utf-8")


_LOCK = threading.Lock()


def _table_cache() -> str | bool:
    """A file for Lark's LALR tables (built once per grammar: ~0.5 s saved per start).

    Kept in the user's own tosengine cache folder, beside the compiled kernels;
    Lark names the grammar's hash in the file and rebuilds when it changes.
    Without a writable folder the tables are simply built every time.
    """
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    digest = hashlib.sha256(_grammar().encode()).hexdigest()[:16]
    return str(folder / f"lark-lalr-{digest}.cache")


@lru_cache(maxsize=1)
def _parser() -> tuple[Lark, _AstBuilder]:
    builder = _AstBuilder()
    lark = Lark(
        _grammar(),
        cache=_table_cache(),
        parser="lalr",
        lexer="basic",
        keep_all_tokens=True,
        maybe_placeholders=False,
        transformer=builder,
    )
    return lark, builder


# --------------------------------------------------------------------------
# Cutting a file into declarations
# --------------------------------------------------------------------------

_SCAN = re.compile(
    r'(?P<comment>#[^\n]*)'
    r'|(?P<string>"(?:[^"\\\n]|\\.)*"?)'
    r'|(?P<word>[A-Za-z_][A-Za-z0-9_]*)'
    r'|[0-9][A-Za-z0-9_]*'
    r'|[^#"A-Za-z0-9_]+'
)


@dataclass(frozen=True, slots=True)
class _Cut:
    start: int
    keyword: str  # "" for the text before the first declaration
    name: str = ""  # the word after the keyword, if any
    too_deep: int = -1  # offset of the first bracket nested deeper than MAX_DEPTH


def _scan(text: str) -> tuple[list[_Cut], list[tuple[int, int]], bool]:
    """Declaration starts, comment offsets, and whether the prefix has code.

    Brackets are counted on the way, so that a declaration nested too deeply
    is reported without parsing it.
    """
    cuts: list[_Cut] = [_Cut(0, "")]
    comments: list[tuple[int, int]] = []
    prefix_code = False
    after_keyword = False
    depth = 0
    for m in _SCAN.finditer(text):
        kind = m.lastgroup
        if kind == "comment":
            comments.append(m.span())
            continue
        if kind == "word":
            word = m.group()
            if after_keyword:
                cuts[-1] = _Cut(cuts[-1].start, cuts[-1].keyword, word, cuts[-1].too_deep)
                after_keyword = False
            if word in TOP_KEYWORDS:
                cuts.append(_Cut(m.start(), word))
                after_keyword = True
                depth = 0
                continue
        else:
            run = m.group()
            if run.isspace():
                continue
            if kind is None and cuts[-1].too_deep < 0:
                for i, ch in enumerate(run):
                    if ch in "([":
                        depth += 1
                        if depth > limits.MAX_DEPTH:
                            last = cuts[-1]
                            cuts[-1] = _Cut(last.start, last.keyword, last.name, m.start() + i)
                            break
                    elif ch in ")]" and depth:
                        depth -= 1
        after_keyword = False
        if len(cuts) == 1:
            prefix_code = True
    return cuts, comments, prefix_code


# --------------------------------------------------------------------------
# Syntax errors in words
# --------------------------------------------------------------------------

_EXPR_START = frozenset(
    {"NAME", "INT", "FLOAT", "PERCENT", "DURATION", "STRING", "TRUE", "FALSE", "LPAR", "LSQB", "MINUS", "NOT"}
)
_OPERATORS = frozenset({"PLUS", "MINUS", "STAR", "SLASH", "MOD", "COMP_OP", "AND", "OR", "IN", "NOT", "IS"})
_CLAUSE_TERMS = frozenset(k.upper() for k in ast.CLAUSE_ORDER)
_DECL_TERMS = frozenset(k.upper() for k in TOP_KEYWORDS)
_PUNCT = {
    "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'",
    "COMMA": "','", "EQUAL": "'='", "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'", "SLASH": "'/'",
    "MOD": "'%'", "COMP_OP": "a comparison",
}
_SINGLE = {
    "NAME": "a name",
    "STRING": "a string in double quotes",
    "INT": "a number",
    "FLOAT": "a number",
    "PERCENT": "a number",
    "DURATION": "a duration such as 5m or 24h",
    "$END": "the end of the declaration",
}


def _describe_expected(accepts: set[str]) -> str:
    acc = set(accepts)
    parts: list[str] = []
    if "DURATION" in acc and "INT" not in acc:
        parts.append("a duration such as 5m or 24h")
        acc -= {"DURATION", "NAME"}
    if {"INT", "NAME", "LPAR"} <= acc:
        parts.append("an expression")
        acc -= _EXPR_START
    if len(acc & _OPERATORS) >= 3:
        parts.append("an operator")
        acc -= _OPERATORS | {"LPAR"}  # a '(' after a name would make a call: not worth saying
    if len(acc & _CLAUSE_TERMS) >= 3:
        parts.append("a new clause")
        acc -= _CLAUSE_TERMS
    if acc & _DECL_TERMS:
        parts.append("a declaration (schema, list, const or rule)")
        acc -= _DECL_TERMS
    for term in sorted(acc, key=lambda t: (t == "$END", t)):
        if term in _SINGLE:
            text = _SINGLE[term]
        elif term in _PUNCT:
            text = _PUNCT[term]
        else:
            text = f"'{term.lower()}'"
        if text not in parts:
            parts.append(text)
    return messages.one_of(parts) or "something else"


def _describe_token(kind: str, value: str) -> str:
    if kind == "$END":
        return "end of file"
    if kind == "NAME":
        return f"name '{value}'"
    if value in KEYWORDS:
        return f"keyword '{value}'"
    if kind in ("INT", "FLOAT", "PERCENT"):
        return f"number {value}"
    if kind == "DURATION":
        return f"duration {value}"
    if kind == "STRING":
        return "string " + (value if len(value) <= 24 else value[:20] + '..."')
    return f"'{value}'"


_BAD_NUMBER = re.compile(r"[0-9][A-Za-z0-9_.]*%?")


def _lex_error(source: SourceFile, pos: int, reporter: Reporter) -> None:
    text = source.text
    ch = text[pos]
    if ch == '"':
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        reporter.error(source.span(pos, end), messages.unterminated_string())
    elif ch.isdigit():
        m = _BAD_NUMBER.match(text, pos)
        end = m.end() if m else pos + 1
        reporter.error(source.span(pos, end), messages.invalid_number(text[pos:end]))
    else:
        reporter.error(source.span(pos, pos + 1), messages.unexpected_character(ch))


def _syntax_error(
    e: UnexpectedToken, source: SourceFile, base: int, cut_end: _Cut | None, reporter: Reporter
) -> None:
    tok = e.token
    try:
        accepts = set(e.accepts or e.expected)
    except Exception:  # pragma: no cover - accepts is best effort
        accepts = set(e.expected)
    kind = tok.type
    if kind == "$END":
        if cut_end is not None:  # the next declaration's keyword ended this one
            kind, value = cut_end.keyword.upper(), cut_end.keyword
            span = source.span(cut_end.start, cut_end.start + len(value))
        else:
            value = ""
            end = base + (tok.end_pos if tok.end_pos is not None else 0)
            start = base + (tok.start_pos if tok.start_pos is not None else 0)
            span = source.span(start, max(end, start + 1))
    else:
        value = str(tok)
        span = source.span(base + tok.start_pos, base + tok.end_pos)
    found = _describe_token(kind, value)
    line_start = source.text.rfind("\n", 0, span.start) + 1
    starts_line = not source.text[line_start : span.start].strip()
    structural = kind in _CLAUSE_TERMS or kind in _DECL_TERMS
    closers = [t for t in ("RPAR", "RSQB", "RBRACE") if t in accepts]
    words = {t.lower() for t in accepts if t.lower() in KEYWORDS}
    clause_context = len(accepts & _CLAUSE_TERMS) >= 3
    best = suggest(value, words | set(ast.CLAUSE_ORDER) if clause_context else words) if kind == "NAME" else None
    if kind == "NAME" and clause_context and (best is None or best in ast.CLAUSE_ORDER):
        msg = messages.unknown_clause(value, best)
    elif kind == "NAME" and accepts and accepts <= (_DECL_TERMS | {"$END"}):
        msg = messages.unknown_declaration(value, suggest(value, TOP_KEYWORDS))
    elif value in KEYWORDS and kind != "NAME" and accepts == {"NAME"} and not (structural and starts_line):
        msg = messages.keyword_as_name(value)
    elif kind in ("COMP_OP", "IN", "IS", "NOT") and "AND" in accepts and kind not in accepts:
        msg = messages.chained_comparison(value)
    elif kind == "EQUAL" and "AND" in accepts:
        msg = messages.assignment_in_expression()
    elif closers and structural:
        msg = messages.missing_close(found, _PUNCT[closers[0]])
    else:
        msg = messages.unexpected(found, _describe_expected(accepts))
        if value in KEYWORDS and kind != "NAME" and "NAME" in accepts and not (structural and starts_line):
            msg = messages.Message(msg.code, msg.text, f"'{value}' is a reserved word; choose another name")
        elif best is not None:
            msg = messages.Message(msg.code, msg.text, messages.did_you_mean(best))
    reporter.error(span, msg)


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------


def parse_source(source: SourceFile, reporter: Reporter) -> ParsedFile:
    """Parse one file; syntax errors go to ``reporter`` and parsing carries on.

    Raises :class:`TooManyErrors` (from the reporter) past the error limit.
    """
    text = source.text
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.MAX_FILE_BYTES:
        reporter.error(source.name, messages.file_too_large(size, limits.MAX_FILE_BYTES))
        return ParsedFile(source, ast.Module(source.name, ()), (), frozenset())
    cuts, comment_offsets, prefix_code = _scan(text)
    comments = tuple(ast.Comment(text[a:z], source.span(a, z)) for a, z in comment_offsets)
    decls: list[Any] = []
    broken: set[str] = set()
    lark, builder = _parser()
    for i, cut in enumerate(cuts):
        if i == 0 and not prefix_code:
            continue
        if i > limits.MAX_DECLARATIONS:
            reporter.error(source.span(cut.start, cut.start + len(cut.keyword)),
                           messages.too_many_declarations(limits.MAX_DECLARATIONS))
            break
        if cut.too_deep >= 0:
            reporter.error(source.span(cut.too_deep, cut.too_deep + 1), messages.too_deep(limits.MAX_DEPTH))
            if cut.name:
                broken.add(cut.name)
            continue
        end = cuts[i + 1].start if i + 1 < len(cuts) else len(text)
        nxt = cuts[i + 1] if i + 1 < len(cuts) else None
        before = len(reporter.diagnostics)
        with _LOCK:
            builder.chunk = _Chunk(source, cut.start, reporter)
            try:
                decl = lark.parse(text[cut.start : end])
            except UnexpectedCharacters as e:
                _lex_error(source, cut.start + e.pos_in_stream, reporter)
                decl = None
            except UnexpectedToken as e:
                _syntax_error(e, source, cut.start, nxt, reporter)
                decl = None
            except UnexpectedInput as e:  # pragma: no cover - other lark input errors
                pos = cut.start + (e.pos_in_stream or 0)
                reporter.error(source.span(pos, pos + 1), messages.unexpected("something else", "a declaration"))
                decl = None
            finally:
                builder.chunk = None  # type: ignore[assignment]
        if decl is None:
            if cut.name:
                broken.add(cut.name)
        elif len(reporter.diagnostics) > before and cut.name:
            broken.add(cut.name)
            decls.append(decl)
        else:
            decls.append(decl)
    return ParsedFile(source, ast.Module(source.name, tuple(decls)), comments, frozenset(broken))
