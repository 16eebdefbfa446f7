"""The parser: every construct of the contract, literals, precedence, spans, recovery."""

from __future__ import annotations

import pytest

from tosengine.language import RuleError, parse_text
from tosengine.language import ast as A
from tosengine.language.parser import KEYWORDS

from .helpers import rule


def when_of(expr: str) -> A.Expr:
    """The AST of an expression, parsed as the `when` of a rule."""
    module = parse_text(f'rule r {{ title "t" when {expr} }}')
    clause = module.declarations[0].clause("when")
    assert isinstance(clause, A.ExprClause)
    return clause.expr


def const_of(value: str) -> A.Expr:
    decl = parse_text(f"const c = {value}").declarations[0]
    assert isinstance(decl, A.ConstDecl)
    return decl.value


def shape(e: A.Expr) -> object:
    """A compact, span-free picture of an expression tree."""
    if isinstance(e, A.Literal):
        return e.value
    if isinstance(e, A.Name):
        return e.name
    if isinstance(e, A.Binary):
        return (e.op, shape(e.left), shape(e.right))
    if isinstance(e, A.Unary):
        return (e.op, shape(e.operand))
    if isinstance(e, A.In):
        return ("not in" if e.negated else "in", shape(e.operand), shape(e.container))
    if isinstance(e, A.IsNull):
        return ("is not null" if e.negated else "is null", shape(e.operand))
    if isinstance(e, A.Call):
        return (e.func + "()", *[shape(a) for a in e.args])
    if isinstance(e, A.Paren):
        return ("()", shape(e.expr))
    if isinstance(e, A.ListLit):
        return ["[]", *[shape(a) for a in e.items]]
    raise AssertionError(e)


def syntax_error(text: str) -> str:
    with pytest.raises(RuleError) as e:
        parse_text(text, "t.tos")
    return e.value.render()


# ---- declarations ---------------------------------------------------------------


def test_every_declaration() -> None:
    m = parse_text(
        """# a comment
        schema { ts timestamp time  org string  n int }
        list a = ["x", "y",]
        list b from "lists/b.txt"
        const c = 42
        rule r { title "t" when true }
        """
    )
    schema, la, lb, c, r = m.declarations
    assert isinstance(schema, A.SchemaDecl)
    assert [(f.name.name, f.type.name, f.is_time) for f in schema.fields] == [
        ("ts", "timestamp", True), ("org", "string", False), ("n", "int", False)]
    assert isinstance(la, A.ListDecl) and shape(la.items) == ["[]", "x", "y"] and la.path is None
    assert isinstance(lb, A.ListDecl) and lb.items is None and lb.path.value == "lists/b.txt"
    assert isinstance(c, A.ConstDecl) and shape(c.value) == 42
    assert isinstance(r, A.RuleDecl) and r.name.name == "r"


def test_every_clause() -> None:
    m = parse_text(
        """rule r {
          title "T" clause "C" quote "Q" severity high action block tags ["a", "b"]
          per org_id, model window 24h every 1h where n > 1
          let a = count() let b = a + 1
          when b > 2 unless org_id in xs cooldown 5m message "{a}"
        }"""
    )
    r = m.declarations[0]
    assert [c.keyword for c in r.clauses] == [
        "title", "clause", "quote", "severity", "action", "tags", "per", "window", "where",
        "let", "let", "when", "unless", "cooldown", "message"]
    assert r.clause("severity").value.name == "high"
    assert [f.name for f in r.clause("per").fields] == ["org_id", "model"]
    w = r.clause("window")
    assert (w.length.value, w.every.value) == (86_400_000, 3_600_000)
    assert r.clause("cooldown").duration.value == 300_000
    assert [(x.name.name, shape(x.expr)) for x in r.lets] == [("a", ("count()",)), ("b", ("+", "a", 1))]
    assert shape(r.clause("tags").tags) == ["[]", "a", "b"]
    tumbling = parse_text('rule r { window 5m when true }').declarations[0].clause("window")
    assert tumbling.every is None


def test_clauses_are_kept_in_canonical_order_lets_in_written_order() -> None:
    a = parse_text('rule r { when x let b = 1 title "t" let a = b per org_id }')
    b = parse_text('rule r { title "t" per org_id let b = 1 let a = b when x }')
    assert a == b
    assert [c.keyword for c in a.declarations[0].clauses] == ["title", "per", "let", "let", "when"]
    assert [x.name.name for x in a.declarations[0].lets] == ["b", "a"]


def test_window_and_cooldown_take_const_names() -> None:
    r = parse_text("rule r { window day every hour cooldown day when true }").declarations[0]
    assert shape(r.clause("window").length) == "day" and shape(r.clause("cooldown").duration) == "day"


# ---- literals ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, kind, value",
    [
        ("42", "int", 42),
        ("200_000", "int", 200_000),
        ("1_000_000_000_000_000_000_000_001", "int", 1_000_000_000_000_000_000_000_001),
        ("9007199254740993", "int", 9007199254740993),  # not a float: exact
        ("0", "int", 0),
        ("0.9", "float", 0.9),
        ("1_000.5", "float", 1000.5),
        ("2.5e3", "float", 2500.0),
        ("1e-3", "float", 0.001),
        ("90%", "percent", 0.9),
        ("12.5%", "percent", 0.125),
        ("100%", "percent", 1.0),
        ("0.1%", "percent", 0.001),
        ("33.3%", "percent", 0.333),
        ("true", "bool", True),
        ("false", "bool", False),
        ("500ms", "duration", 500),
        ("30s", "duration", 30_000),
        ("5m", "duration", 300_000),
        ("1h", "duration", 3_600_000),
        ("7d", "duration", 604_800_000),
        ("1_000ms", "duration", 1000),
    ],
)
def test_literals(text: str, kind: str, value: object) -> None:
    lit = const_of(text)
    assert isinstance(lit, A.Literal)
    assert (lit.kind, lit.value) == (kind, value)
    assert type(lit.value) is type(value)
    if kind not in ("bool", "string"):
        assert lit.text == text


@pytest.mark.parametrize(
    "text, value",
    [
        (r'"plain"', "plain"),
        (r'"say \"hi\""', 'say "hi"'),
        (r'"back\\slash"', "back\\slash"),
        (r'"a\nb"', "a\nb"),
        (r'"a\tb"', "a\tb"),
        (r'"\u{41}\u{e9}\u{1F600}"', "Aé😀"),
        (r'"\u{10FFFF}"', "\U0010ffff"),
        ('"ünïcödé ☃"', "ünïcödé ☃"),
        ('""', ""),
        ('"# not a comment"', "# not a comment"),
        ('"rule { }"', "rule { }"),
    ],
)
def test_strings(text: str, value: str) -> None:
    lit = const_of(text)
    assert (lit.kind, lit.value) == ("string", value)


@pytest.mark.parametrize(
    "text, message",
    [
        (r'"\q"', "unknown escape '\\q' in string"),
        (r'"\u{110000}"', "invalid unicode escape '\\u{110000}'"),
        (r'"\u{D800}"', "invalid unicode escape '\\u{D800}'"),
        (r'"\u41"', "invalid unicode escape '\\u'"),
        ('"abc', "unterminated string"),
        ('"abc\ndef"', "unterminated string"),
    ],
)
def test_bad_strings(text: str, message: str) -> None:
    assert message in syntax_error(f"const c = {text}")


def test_list_literals() -> None:
    assert shape(const_of('["a", "b"]')) == ["[]", "a", "b"]
    assert shape(const_of("[]")) == ["[]"]
    assert shape(const_of("[1, -2, 3,]")) == ["[]", 1, ("-", 2), 3]


# ---- precedence ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr, tree",
    [
        ("a or b and c", ("or", "a", ("and", "b", "c"))),
        ("a and b or c", ("or", ("and", "a", "b"), "c")),
        ("not a and b", ("and", ("not", "a"), "b")),
        ("not a == b", ("not", ("==", "a", "b"))),
        ("not not a", ("not", ("not", "a"))),
        ("a == b and c != d", ("and", ("==", "a", "b"), ("!=", "c", "d"))),
        ("a + b == c * d", ("==", ("+", "a", "b"), ("*", "c", "d"))),
        ("a + b * c", ("+", "a", ("*", "b", "c"))),
        ("a * b + c", ("+", ("*", "a", "b"), "c")),
        ("a - b - c", ("-", ("-", "a", "b"), "c")),
        ("a / b / c", ("/", ("/", "a", "b"), "c")),
        ("a % b * c", ("*", ("%", "a", "b"), "c")),
        ("-a * b", ("*", ("-", "a"), "b")),
        ("- -a", ("-", ("-", "a"))),
        ("-f(x)", ("-", ("f()", "x"))),
        ("a * -b", ("*", "a", ("-", "b"))),
        ("(a + b) * c", ("*", ("()", ("+", "a", "b")), "c")),
        ("a + b in xs", ("in", ("+", "a", "b"), "xs")),
        ("a not in [1, 2]", ("not in", "a", ["[]", 1, 2])),
        ("not a in xs", ("not", ("in", "a", "xs"))),
        ("a + 1 is null", ("is null", ("+", "a", 1))),
        ("a is not null and b", ("and", ("is not null", "a"), "b")),
        ("a < b or c >= d", ("or", ("<", "a", "b"), (">=", "c", "d"))),
        ("f() + g(a, b + c)", ("+", ("f()",), ("g()", "a", ("+", "b", "c")))),
        ("x <= 5m", ("<=", "x", 300_000)),
    ],
)
def test_precedence(expr: str, tree: object) -> None:
    assert shape(when_of(expr)) == tree


@pytest.mark.parametrize(
    "expr, tree",
    [
        ("90%", 0.9),
        ("90% > x", (">", 0.9, "x")),
        ("(90%)", ("()", 0.9)),
        ("f(90%, 1)", ("f()", 0.9, 1)),
        ("[90%]", ["[]", 0.9]),
        ("90%-x", ("-", 0.9, "x")),
        ("a % b", ("%", "a", "b")),
        ("10 % 3", ("%", 10, 3)),
        ("10%3", ("%", 10, 3)),
        ("10%x", ("%", 10, "x")),
        ("10%_x", ("%", 10, "_x")),
        ("10%(3)", ("%", 10, ("()", 3))),
        ("12.5% * 2", ("*", 0.125, 2)),
        ("a%b", ("%", "a", "b")),
    ],
)
def test_percent_and_modulo(expr: str, tree: object) -> None:
    assert shape(when_of(expr)) == tree


def test_comparisons_do_not_chain() -> None:
    for expr in ("a < b < c", "a == b == c", "a == b in xs", "a < b is null", "a == b not in xs"):
        assert "comparisons do not chain" in syntax_error(rule(f"when {expr}"))


@pytest.mark.parametrize("word", sorted(KEYWORDS))
def test_keywords_are_reserved(word: str) -> None:
    assert syntax_error(f"rule {word} {{ }}")
    assert syntax_error(f"const {word} = 1")
    assert syntax_error(rule(f"let {word} = 1\nwhen true"))


def test_keyword_as_name_says_so() -> None:
    assert "expected a name, found keyword 'when'" in syntax_error("rule when { }")
    assert "'title' is a reserved word" in syntax_error(rule("when title > 1"))


def test_field_named_like_a_function_is_a_name() -> None:
    assert shape(when_of("count > len")) == (">", "count", "len")


# ---- comments and layout ------------------------------------------------------------


def test_comments_and_whitespace_are_insignificant() -> None:
    a = parse_text('rule r{title "t"when a>1 and b}')
    b = parse_text(
        "# lead\nrule # one\n r # two\n { # three\n title # four\n \"t\" # five\n"
        "\twhen a # six\n > # seven\n 1 and b # eight\n} # nine"
    )
    assert a == b


def test_comments_are_collected_with_spans() -> None:
    from tosengine.language import parse_file

    parsed = parse_file('# one\nconst c = "# not" # two\n', "f.tos")
    assert [(c.text, c.span.line, c.span.column) for c in parsed.comments] == [("# one", 1, 1), ("# two", 2, 19)]


def test_crlf_and_bom() -> None:
    assert parse_text('\ufeffrule r {\r\n title "t"\r\n when true\r\n}\r\n') == parse_text('rule r { title "t" when true }')


# ---- spans ----------------------------------------------------------------------------


def test_spans() -> None:
    m = parse_text('rule r {\n  title "t"\n  when  contry in blocked\n}\n', "x.tos")
    r = m.declarations[0]
    assert (r.span.file, r.span.line, r.span.column, r.span.end_line, r.span.end_column) == ("x.tos", 1, 1, 4, 2)
    when = r.clause("when")
    name = when.expr.operand
    assert (name.span.line, name.span.column, name.span.end_line, name.span.end_column) == (3, 9, 3, 15)
    assert (when.expr.span.column, when.expr.span.end_column) == (9, 26)
    assert (when.span.column, when.span.end_column) == (3, 26)
    assert r.name.span.column == 6


def test_spans_take_no_part_in_equality_or_hash() -> None:
    a = parse_text('rule r { title "t" when a > 1 }')
    b = parse_text('\n\n   rule   r {\n title "t"\n\n when a>1 }')
    assert a == b and hash(a) == hash(b)
    assert a.declarations[0].span != b.declarations[0].span


# ---- recovery ----------------------------------------------------------------------


def test_every_broken_declaration_is_reported() -> None:
    text = (
        'rule a { title "t" wehn x }\n'
        "const b = \n"
        'rule c { title "t" when (x }\n'
        "list d = [1, 2\n"
        'rule e { title "t" when x }\n'
        "const f = @\n"
    )
    out = syntax_error(text)
    assert out.count("error:") == 5
    for where in ("t.tos:1:20:", "t.tos:3:1:", "t.tos:3:28:", "t.tos:5:1:", "t.tos:6:11:"):
        assert where in out


def test_missing_brace_points_at_the_next_declaration() -> None:
    out = syntax_error('rule a {\n  title "t"\n  when x\n\nrule b { title "t" when y }\n')
    assert out.splitlines()[0] == "t.tos:5:1: error: expected '}', found keyword 'rule'"
    assert "a '}' may be missing before this" in out


def test_keywords_in_strings_and_comments_do_not_cut_declarations() -> None:
    m = parse_text('rule r { title "rule x { const y" # rule z {\n when true }')
    assert len(m.declarations) == 1
