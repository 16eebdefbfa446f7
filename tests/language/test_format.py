"""fmt: canonical layout, every comment kept, idempotent, same AST after formatting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tosengine.ir import load_text
from tosengine.language import RuleError, check_paths, format_text, parse_file, parse_text

from .helpers import GOLDEN, RULES_DIR, rule_pack_files, spec_path
from .strategies import rule_set_texts

UPDATE = bool(os.environ.get("TOSENGINE_UPDATE_GOLDEN"))
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def comment_texts(text: str) -> list[str]:
    return sorted(c.text.rstrip() for c in parse_file(text).comments)


def assert_format_properties(text: str, filename: str = "<rules>") -> str:
    out = format_text(text, filename)
    assert format_text(out, filename) == out, "fmt is not idempotent"
    assert parse_text(out, filename) == parse_text(text, filename), "fmt changed the AST"
    assert comment_texts(out) == comment_texts(text), "fmt lost or changed a comment"
    assert out == "" or out.endswith("\n") and not out.endswith("\n\n")
    assert all(line == line.rstrip() for line in out.split("\n")), "trailing whitespace"
    return out


# ---- properties over generated rule sets -------------------------------------


@SETTINGS
@given(rule_set_texts())
def test_generated_rule_sets_check_and_lower(text: str) -> None:
    program = load_text(text)
    assert program.rules
    # the formatted text means exactly the same program
    assert load_text(format_text(text)) == program


@SETTINGS
@given(rule_set_texts())
def test_fmt_is_idempotent_keeps_comments_and_ast(text: str) -> None:
    assert_format_properties(text)


# ---- the shipped rule pack ---------------------------------------------------------

PACK = rule_pack_files()


@pytest.mark.parametrize("path", PACK, ids=lambda p: p.name)
def test_fmt_properties_on_rule_pack(path: Path) -> None:
    assert_format_properties(path.read_text(encoding="utf-8"), str(path))


@pytest.mark.parametrize("path", PACK, ids=lambda p: p.name)
def test_rule_pack_is_in_canonical_layout(path: Path) -> None:
    """`tosengine fmt --check rules/` passes: the shipped files are what fmt writes."""
    text = path.read_text(encoding="utf-8")
    assert format_text(text, str(path)) == text


def test_rule_pack_checks() -> None:
    assert len(PACK) >= 7  # one file per theme
    checked = check_paths([RULES_DIR])
    assert len(checked.sources) == len(PACK)


# ---- golden layouts ------------------------------------------------------------------

FMT_DIR = GOLDEN / "fmt"
FMT_CASES = sorted(FMT_DIR.glob("*.tos"))


@pytest.mark.parametrize("path", FMT_CASES, ids=lambda p: p.stem)
def test_fmt_golden(path: Path) -> None:
    expected_path = path.with_suffix(".fmt")
    out = assert_format_properties(path.read_text(encoding="utf-8"))
    if UPDATE or not expected_path.exists():
        expected_path.write_text(out, encoding="utf-8")
    assert out == expected_path.read_text(encoding="utf-8")
    assert format_text(out) == out


def test_fmt_golden_cases_exist() -> None:
    assert len(FMT_CASES) >= 5


# ---- layout details ---------------------------------------------------------------------

SPEC_RULE_START = "rule competing_model_training {"


def spec_example_rule() -> str:
    text = spec_path().read_text(encoding="utf-8")
    start = text.index(SPEC_RULE_START)
    return text[start : text.index("\n}\n", start) + 3]


def test_spec_example_is_already_canonical() -> None:
    rule = spec_example_rule()
    assert format_text(rule) == rule


def test_clause_order_groups_and_let_alignment() -> None:
    messy = (
        'rule r { message "{a}" when a > 1 let a = count() let bb = 2 per org_id '
        'window 1h title "t" severity high where n > 0 }'
    )
    assert format_text(messy) == (
        "rule r {\n"
        '  title     "t"\n'
        "  severity  high\n"
        "\n"
        "  per       org_id\n"
        "  window    1h\n"
        "  where     n > 0\n"
        "\n"
        "  let a  = count()\n"
        "  let bb = 2\n"
        "\n"
        "  when      a > 1\n"
        '  message   "{a}"\n'
        "}\n"
    )


def test_long_conditions_break_before_operators() -> None:
    cond = " and ".join(f"field_number_{i} > {i}" for i in range(8))
    out = format_text(f'rule r {{ title "t" when {cond} or flagged }}')
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  when"))
    assert lines[start] == "  when      field_number_0 > 0"
    assert lines[start + 1] == "              and field_number_1 > 1"
    assert lines[start + 8] == "            or flagged"
    assert all(len(line) <= 100 for line in lines)


def test_parenthesised_long_condition_breaks_inside() -> None:
    inner = " or ".join(f"country == \"c{i:02d}\"" for i in range(8))
    out = format_text(f'rule r {{ title "t" when flagged and ({inner}) }}')
    assert "            and (country == \"c00\"\n" in out
    assert "                 or country == \"c01\"\n" in out
    assert out.rstrip().endswith('or country == "c07")\n}')


def test_comments_in_odd_places_are_kept() -> None:
    text = (
        "# file header\n"
        "rule # after the keyword\n r { # after the brace\n"
        "  when a > # inside an expression\n 1\n"
        "  title \"t\" # after the title\n"
        "  # before nothing\n"
        "} # after the rule\n"
        "list xs = [ # after the bracket\n \"a\", # after a\n # before b\n \"b\" # after b\n # at the end\n]\n"
        "# the very end"
    )
    out = assert_format_properties(text)
    assert out == (
        "# file header\n"
        "# after the keyword\n"
        "rule r {  # after the brace\n"
        "  title     \"t\"  # after the title\n"
        "\n"
        "  # inside an expression\n"
        "  when      a > 1\n"
        "  # before nothing\n"
        "}  # after the rule\n"
        "\n"
        "list xs = [  # after the bracket\n"
        "  \"a\",  # after a\n"
        "  # before b\n"
        "  \"b\",  # after b\n"
        "  # at the end\n"
        "]\n"
        "# the very end\n"
    )


def test_blank_lines_between_declarations() -> None:
    text = "const a = 1\nconst bb = 2\n\n\n\nconst c = 3\nrule r { title \"t\" when true }\nconst d = 4\n"
    assert format_text(text) == (
        "const a  = 1\nconst bb = 2\n\nconst c = 3\n\nrule r {\n  title     \"t\"\n\n  when      true\n}\n\nconst d = 4\n"
    )


def test_literals_keep_their_spelling_and_strings_are_canonical() -> None:
    text = 'const a = 200_000\nconst b = 1.5e3\nconst c = 12.5%\nconst d = 1_000ms\nconst e = "tab\\u{9}nl\\nq\\"é\\u{e9}"\n'
    out = format_text(text)
    assert "200_000" in out and "1.5e3" in out and "12.5%" in out and "1_000ms" in out
    assert 'const e = "tab\\tnl\\nq\\"éé"' in out


def test_modulo_and_percent_stay_apart() -> None:
    out = format_text('rule r { title "t" when n%3 == 1 and 90% > 0.5 and n % (2) == 0 }')
    assert "n % 3 == 1 and 90% > 0.5 and n % (2) == 0" in out
    assert parse_text(out) == parse_text('rule r { title "t" when n%3 == 1 and 90% > 0.5 and n % (2) == 0 }')


def test_schema_layout() -> None:
    out = format_text("schema { ts timestamp time\n output_tokens int  country string }")
    assert out == "schema {\n  ts             timestamp time\n  output_tokens  int\n  country        string\n}\n"


def test_fmt_refuses_text_with_syntax_errors() -> None:
    with pytest.raises(RuleError):
        format_text("rule r { title }")


def test_empty_and_comment_only_files() -> None:
    assert format_text("") == ""
    assert format_text("\n\n  \n") == ""
    assert format_text("# only\n\n\n# comments   \n") == "# only\n\n# comments\n"
