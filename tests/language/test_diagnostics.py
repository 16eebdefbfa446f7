"""Errors for people: the rendering, suggestions, and the one exception type."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tosengine.language import Diagnostic, RuleError, Span, check_paths, check_text
from tosengine.language.diagnostics import suggest

from .helpers import errors, rule

EXPECTED = """\
rules/distill.tos:12:9: error: unknown field 'contry'
   12 |   when  contry in blocked
      |         ^^^^^^
      = help: did you mean 'country'?"""


def test_rendering_matches_the_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rules").mkdir()
    lines = ['list blocked = ["xx"]'] + ["# filler"] * 8 + ["rule r {", '  title "t"', "  when  contry in blocked", "}"]
    (tmp_path / "rules" / "distill.tos").write_text("\n".join(lines) + "\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuleError) as e:
        check_paths(["rules/distill.tos"])
    assert str(e.value) == EXPECTED
    (d,) = e.value.diagnostics
    assert (d.code, d.message, d.help, d.location) == ("E301", "unknown field 'contry'", "did you mean 'country'?",
                                                       "rules/distill.tos:12:9")
    assert (d.span.line, d.span.column, d.span.end_line, d.span.end_column) == (12, 9, 12, 15)


def test_one_error_type_with_every_diagnostic() -> None:
    with pytest.raises(RuleError) as e:
        check_text(rule("when contry > 1 and modle == \"x\""), "t.tos")
    assert isinstance(e.value, Exception)
    assert [d.message for d in e.value.diagnostics] == ["unknown field 'contry'", "unknown field 'modle'"]
    assert str(e.value) == e.value.render() == "\n\n".join(d.render() for d in e.value.diagnostics)


def test_diagnostics_are_sorted_by_file_and_position(tmp_path: Path) -> None:
    (tmp_path / "b.tos").write_text(rule("when zz1", "q"))
    (tmp_path / "a.tos").write_text(rule("when true\nseverity nope") + rule("when zz2", "s"))
    with pytest.raises(RuleError) as e:
        check_paths([tmp_path])
    assert [(Path(d.span.file).name, d.span.line) for d in e.value.diagnostics] == [("a.tos", 4), ("a.tos", 8), ("b.tos", 3)]


def test_expected_things_are_words_not_terminal_names() -> None:
    cases = {
        rule("per org_id\nwindow 24\nwhen true"): "expected a duration such as 5m or 24h, found number 24",
        "rule r { title when true }": "expected a string in double quotes, found keyword 'when'",
        "rule r { title \"t\" when }": "expected an expression, found '}'",
        "rule r { title \"t\" when a b }": "unknown clause 'b'",
        "rule r title": "expected '{', found keyword 'title'",
        "const = 1": "expected a name, found '='",
        "list x [1]": "expected '=' or 'from', found '['",
        "rule r { title \"t\" when f(a b) }": "expected an operator, ',' or ')', found name 'b'",
        "rule r { title \"t\" when a = 1 }": "expected an operator, found '='",
        "schema { ts timestamp time, x int }": "expected a name or '}', found ','",
        "const x = 1 2": "expected an operator or the end of the declaration, found number 2",
        "rul r { }": "unknown declaration 'rul'",
        "rule r { title \"t\" when true": "expected a new clause or '}', found end of file",
        "rule r { title \"t\" when a adn b }": "expected an operator, a new clause or '}', found name 'adn'",
    }
    for text, message in cases.items():
        out = errors(text)
        assert message in out, (text, out)
    for name in ("DURATION", "RBRACE", "LPAR", "$END", "NAME", "COMP_OP", "Expected one of"):
        assert all(name not in errors(t) for t in cases)


@pytest.mark.parametrize(
    "word, candidates, best",
    [
        ("contry", ["country", "count", "model"], "country"),
        ("wehn", ["when", "where", "window"], "when"),
        ("hgh", ["low", "high"], "high"),
        ("blok", ["block", "log"], "block"),
        ("Country", ["country"], "country"),
        ("orgid", ["org_id", "ip"], "org_id"),
        ("xyz", ["country", "model"], None),
        ("a", ["b"], "b"),
        ("prmopt_hsah", ["prompt_hash"], "prompt_hash"),
        ("completely_different", ["prompt_hash"], None),
    ],
)
def test_suggestions(word: str, candidates: list[str], best: str | None) -> None:
    assert suggest(word, candidates) == best


def test_long_lines_are_cut_around_the_caret() -> None:
    text = 'rule r { title "' + "x" * 300 + '" when zz > 1 }'

    out = errors(text)
    line, caret = out.splitlines()[1:3]
    assert line.startswith("    1 | ...") and len(line) < 140
    assert caret.index("^^") == line.index("zz")


def test_tabs_and_control_characters_keep_the_caret_aligned() -> None:
    out = errors('rule r {\n\ttitle "t"\n\twhen\tcontry\n}')
    line, caret = out.splitlines()[1:3]
    assert line == "    3 |  when contry"
    assert caret.index("^") == line.index("contry")


def test_diagnostics_without_a_place() -> None:
    assert Diagnostic("E101", "no such file or folder: 'x'", file="x").render() == "x: error: no such file or folder: 'x'"
    assert Diagnostic("E608", "too many rule files").render() == "error: too many rule files"
    d = Diagnostic("E1", "m", Span("f.tos", 1, 1, 1, 1), help="h", notes=("n",), source_line="abc")
    assert d.render() == "f.tos:1:1: error: m\n    1 | abc\n      | ^\n      = help: h\n      = note: n"
    with pytest.raises(ValueError):
        RuleError([])


def test_multi_line_span_underlines_to_the_end_of_the_first_line() -> None:
    out = errors('rule r {\n  title "t"\n  when n +\n    "x" > 1\n}')
    assert "    3 |   when n +\n      |        ^^^" in out


def test_errors_at_end_of_file_point_at_the_last_token() -> None:
    out = errors("rule r {\n  title \"t\"\n  when x >")
    assert out.splitlines()[0] == "t.tos:3:10: error: expected an expression, found end of file"


def test_error_codes_are_stable() -> None:
    assert [d.code for d in RuleErrorOf(rule("when contry > 1"))] == ["E301"]
    assert [d.code for d in RuleErrorOf("rule r { wehn }")] == ["E202"]


def RuleErrorOf(text: str) -> tuple[Diagnostic, ...]:  # noqa: N802 - reads like a type
    with pytest.raises(RuleError) as e:
        check_text(text)
    return e.value.diagnostics


def test_no_environment_needed() -> None:
    assert "TOSENGINE" not in "".join(os.environ.get("PYTHONPATH", ""))  # the front end reads no settings
