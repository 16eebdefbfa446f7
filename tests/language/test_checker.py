"""The checker: names, types and rule structure across a whole rule set."""

from __future__ import annotations

from pathlib import Path

import pytest

from tosengine.language import RuleError, SourceFile, check_paths, check_sources, check_text
from tosengine.language.types import Type

from .helpers import codes, errors, rule


def ok(text: str) -> None:
    check_text(text, "t.tos")


def fails(text: str, *fragments: str) -> str:
    out = errors(text)
    assert out, "expected errors"
    for f in fragments:
        assert f in out, f"{f!r} not in:\n{out}"
    return out


def windowed(body: str, per: str = "org_id") -> str:
    return rule(f"per {per}\nwindow 1h\n{body}")


# ---- names -----------------------------------------------------------------------


def test_names_resolve_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.tos").write_text('list blocked = ["x"]\nconst limit = 10\n')
    (tmp_path / "b.tos").write_text(rule("when country in blocked and n > limit"))
    checked = check_paths([tmp_path])
    assert [r.name for r in checked.rules] == ["r"]


def test_duplicates_name_both_places(tmp_path: Path) -> None:
    (tmp_path / "a.tos").write_text('const x = 1\nrule r { title "t" when true }\n')
    (tmp_path / "b.tos").write_text('list x = [1]\n\nrule r { title "t" when true }\n')
    with pytest.raises(RuleError) as e:
        check_paths([tmp_path])
    out = e.value.render()
    assert f"{tmp_path}/b.tos:1:6: error: duplicate name 'x': a const with this name is declared at {tmp_path}/a.tos:1:7" in out
    assert f"{tmp_path}/b.tos:3:6: error: duplicate name 'r': a rule with this name is declared at {tmp_path}/a.tos:2:6" in out
    assert "lists, consts and rules share one namespace" in out


@pytest.mark.parametrize(
    "body, message, help",
    [
        ("when contry == \"x\"", "unknown field 'contry'", "did you mean 'country'?"),
        ("when country in blokced", "unknown name 'blokced'", "did you mean 'blocked'?"),
        ("when n > limt", "unknown name 'limt'", "did you mean 'limit'?"),
        ("let total = 1\nwhen totl > 1", "unknown name 'totl'", "did you mean 'total'?"),
        ("when lenn(model) > 1", "unknown function 'lenn'", "did you mean 'len'?"),
        ("when cont() > 1", "unknown function 'cont'", "did you mean 'count'?"),
        ("severity hgh\nwhen true", "unknown severity 'hgh'", "did you mean 'high'?"),
        ("action blok\nwhen true", "unknown action 'blok'", "did you mean 'block'?"),
        ("when zzzzzz", "unknown name 'zzzzzz'", "a name in an expression is"),
    ],
)
def test_unknown_names_suggest(body: str, message: str, help: str) -> None:
    fails('list blocked = ["x"]\nconst limit = 1\n' + rule(body), message, f"= help: {help}")


def test_misspelt_keywords() -> None:
    fails(rule("wehn true"), "unknown clause 'wehn'", "did you mean 'when'?")
    fails(rule("when a adn b"), "found name 'adn'", "did you mean 'and'?")
    fails(rule("per org_id\nwindow 1h evry 5m\nwhen true"), "found name 'evry'", "did you mean 'every'?")
    fails("lsit x = [1]", "unknown declaration 'lsit'", "did you mean 'list'?")
    fails('list x frm "f.txt"', "found name 'frm'", "did you mean 'from'?")


def test_missing_list_file(tmp_path: Path) -> None:
    f = tmp_path / "a.tos"
    f.write_text('list xs from "nope.txt"\n' + rule("when country in xs"))
    with pytest.raises(RuleError) as e:
        check_paths([f])
    out = e.value.render()
    assert f"{f}:1:14: error: list file 'nope.txt' not found" in out
    assert f"= note: looked for {tmp_path}/nope.txt" in out
    assert "unknown name 'xs'" not in out


def test_const_cycles_name_every_place() -> None:
    out = fails("const a = b\nconst b = c\nconst c = a\n", "const cycle: a -> b -> c -> a")
    assert "'a' is declared at t.tos:1:7" in out and "'c' is declared at t.tos:3:7" in out
    fails("const a = a\n", "const cycle: a -> a")


def test_const_values() -> None:
    ok("const a = 1\nconst b = a\nconst c = -b\nconst d = 5m\nconst e = -2.5\n" + rule("when n > c and ts - ts > d"))
    fails("const a = 1 + 2", "a const value must be a literal or another const's name")
    fails("const a = country", "a const value must be a literal")
    fails('list l = [1]\nconst a = l', "list 'l' is not a const")
    fails('const a = -"x"', "operator '-' cannot take string")


# ---- schema --------------------------------------------------------------------------


def test_default_schema_applies() -> None:
    checked = check_text(rule("when org_id == \"x\""))
    assert checked.schema.time_field == "ts"


def test_custom_schema_replaces_the_default() -> None:
    schema = "schema { at timestamp time account string tokens int }\n"
    ok(schema + rule("when tokens > 1 and account == \"a\""))
    fails(schema + rule("when org_id == \"x\""), "unknown name 'org_id'")
    fails(schema + rule("when acount == \"x\""), "unknown field 'acount'", "did you mean 'account'?")


def test_schema_problems() -> None:
    fails("schema { at timestamp }", "the schema has no time field")
    fails("schema { a timestamp time b timestamp time }", "second time field 'b'")
    fails("schema { a string time }", "the time field 'a' must be a timestamp, not string")
    fails("schema { a timestamp time b strng }", "unknown field type 'strng'", "did you mean 'string'?")
    fails("schema { a timestamp time b int b int }", "duplicate schema field 'b', first declared at t.tos:1:27")
    fails("schema { a timestamp time }\nschema { b timestamp time }", "a rule set has at most one schema; the first is at t.tos:1:1")


def test_names_may_not_hide_fields() -> None:
    fails("const country = 1", "const 'country' has the same name as a schema field")
    fails(rule("let model = 1\nwhen true"), "let 'model' has the same name as a schema field")
    fails("const k = 1\n" + rule("let k = 1\nwhen true"), "let 'k' has the same name as the const declared at t.tos:1:7")


# ---- types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "n > 0.5",  # int widens to float
        "n + temperature > 1",
        "n / 2 > 0.5",
        "n % 3 == 1",
        "temperature % 2 > 0",
        "ts - 5m < ts",
        "ts + 1h > ts",
        "1h + ts > ts",
        "ts - ts > 30s",
        "-(5m) < 0ms",
        "abs(ts - ts) >= 0s",
        "country in [\"a\", \"b\"] and n in [1, 2] and temperature in [1, 2.5]",
        "model is null or n is not null",
        "not flagged and logprobs or flagged == logprobs",
        "startswith(model, \"gpt\") and endswith(model, \"x\") and contains(model, \"y\")",
        "matches(user_agent, \"^(?i)curl/[0-9.]+$\")",
        "lower(model) == \"x\" and len(model) > 3 and abs(-n) > 0 and abs(temperature) > 0.5",
        "hour(ts) == 3 and weekday(ts) < 5",
        "coalesce(n, 0) > 1 and coalesce(temperature, 1) > 0.5 and coalesce(model, \"x\") == \"y\"",
        "country in []",
    ],
)
def test_well_typed(expr: str) -> None:
    ok(rule(f"when {expr}"))


@pytest.mark.parametrize(
    "expr, message",
    [
        ("model < \"b\"", "strings cannot be ordered with '<'"),
        ("model >= model", "strings cannot be ordered with '>='"),
        ("n == \"1\"", "cannot compare int with string"),
        ("\"1\" != temperature", "cannot compare string with float"),
        ("flagged < logprobs", "cannot compare bool with bool using '<'"),
        ("ts > 5m", "cannot compare timestamp with duration using '>'"),
        ("n > 5m", "cannot compare int with duration using '>'"),
        ("n and flagged", "operator 'and' cannot combine int and bool"),
        ("not n", "operator 'not' cannot take int"),
        ("-model == \"x\"", "operator '-' cannot take string"),
        ("model + \"x\" == \"y\"", "operator '+' cannot combine string and string"),
        ("ts + ts > ts", "operator '+' cannot combine timestamp and timestamp"),
        ("5m - ts > ts", "operator '-' cannot combine duration and timestamp"),
        ("5m * 2 > 1m", "operator '*' cannot combine duration and int"),
        ("n", "'when' needs a true/false condition, not int"),
        ("n in [\"a\"]", "cannot look for int in a list of string"),
        ("n in [1.5]", "cannot look for int in a list of float"),
        ("model in model", "the right side of 'in' must be a list, not string"),
        ("[1, 2] == n", "a list is only allowed on the right side of 'in'"),
        ("n in [1, \"a\"]", "a list holds values of one type: this is a string, the first is an int"),
        ("n in [n]", "a list item must be a literal or a const name"),
        ("n in [[1]]", "a list cannot hold another list"),
        ("startswith(model, model)", "the pattern of startswith() must be a string literal or const"),
        ("contains(n, \"x\")", "argument 1 of contains() must be a string, not int"),
        ("endswith(model, 1)", "argument 2 of endswith() must be a string, not int"),
        ("matches(model, \"(\")", "invalid regular expression '(': missing )"),
        ("matches(model, \"a{1001}\")", "invalid regular expression"),
        ("len(n) > 1", "argument 1 of len() must be a string, not int"),
        ("hour(n) > 1", "argument 1 of hour() must be a timestamp, not int"),
        ("abs(model) == \"x\"", "argument 1 of abs() must be a number or a duration, not string"),
        ("lower(model, model) == \"x\"", "lower() takes 1 argument (s), got 2"),
        ("coalesce(model, 1) == 1", "coalesce() needs two values of one type, not string and int"),
        ("n > 9223372036854775808", "integer '9223372036854775808' does not fit in 64 bits"),
        ("n > 1e999", "the number 1e999 does not fit in 64 bits"),
        ("ts - ts > 10000000000000000000ms", "does not fit in 64 bits"),
        ("blocked == 1", "list 'blocked' is not a value"),
        ("other > 1", "'other' is a rule, not a value"),
    ],
)
def test_type_errors(expr: str, message: str) -> None:
    fails('list blocked = ["x"]\nrule other { title "t" when true }\n' + rule(f"when {expr}"), message)


def test_min_int_literal_is_allowed() -> None:
    ok("const m = -9223372036854775808\n" + rule("when n > -9223372036854775808 and n > m"))


def test_let_types_flow() -> None:
    checked = check_text(windowed("let a = count()\nlet b = a / 2\nlet c = sum(temperature)\nlet d = max(ts) - min(ts)\nwhen b > 1 and c > 0 and d > 5m"))
    assert [(x.name, x.type) for x in checked.rules[0].lets] == [
        ("a", Type.INT), ("b", Type.FLOAT), ("c", Type.FLOAT), ("d", Type.DURATION)]


# ---- rule structure -----------------------------------------------------------------------


def test_title_and_when_are_required() -> None:
    fails(rule("when true", title=False), "rule 'r' has no 'title' clause")
    fails(rule("severity high"), "rule 'r' has no 'when' clause")


def test_clauses_at_most_once_except_let() -> None:
    fails(rule("when true\nwhen false"), "duplicate clause 'when': a rule has at most one")
    fails(rule("title \"again\"\nwhen true"), "duplicate clause 'title'")
    ok(rule("let a = 1\nlet b = 2\nwhen a < b"))


def test_windowed_rules() -> None:
    ok(windowed("let a = count()\nwhen a > 1 and org_id == \"x\""))
    fails(rule("window 1h\nwhen count() > 1"), "windowed rule 'r' needs 'per'")
    fails(rule("per org_id\nwindow 1h every 7m\nwhen count() > 1"), "the window length 1h is not a whole multiple of the step 7m")
    fails(rule("per org_id\nwindow 1m every 1h\nwhen count() > 1"), "the step 1h is longer than the window 1m")
    fails(rule("per org_id\nwindow 0s\nwhen count() > 1"), "the window length must be longer than zero")
    fails(rule("per org_id\nwindow 1h every 0ms\nwhen count() > 1"), "the window step must be longer than zero")
    fails(rule("per org_id\nwindow 5\nwhen count() > 1"), "expected a duration such as 5m or 24h, found number 5")
    fails(rule("per org_id\nwindow n\nwhen count() > 1"), "expected a duration such as 5m or 24h, not the field 'n'")
    fails("const w = 5\n" + rule("per org_id\nwindow w\nwhen count() > 1"), "expected a duration such as 5m or 24h, not int")
    ok("const day = 24h\nconst hour = 1h\n" + rule("per org_id\nwindow day every hour\ncooldown day\nwhen count() > 1"))


def test_aggregates_only_in_windowed_rules() -> None:
    fails(rule("when count() > 1"), "aggregate count() is only allowed in a windowed rule", "add a window")
    fails(rule("let a = sum(n)\nwhen a > 1"), "aggregate sum() is only allowed in a windowed rule")


def test_aggregates_never_in_where_and_never_nested() -> None:
    fails(windowed("where count() > 1\nwhen true"), "aggregate count() cannot be used in 'where'")
    fails(windowed("when sum(count()) > 1"), "aggregate count() cannot be used inside another aggregate")
    fails(windowed("let a = count()\nwhen sum(a) > 1"), "an aggregate's argument cannot use let 'a'")


def test_non_key_fields_only_inside_aggregates() -> None:
    fails(windowed("when n > 1"), "field 'n' is not a key field of this windowed rule", "use it inside an aggregate such as max(n)")
    ok(windowed("when max(n) > 1 and org_id != \"x\""))
    ok(windowed("where n > 1 and model == \"x\"\nwhen count() > 1"))


@pytest.mark.parametrize(
    "call, message",
    [
        ("count(n)", "argument 1 of count() must be a condition, not int"),
        ("count(flagged, flagged)", "count() takes 0 or 1 arguments, got 2"),
        ("sum()", "sum() takes 1 argument, got 0"),
        ("sum(model)", "argument 1 of sum() must be an int, a float or a duration, not string"),
        ("avg(ts)", "argument 1 of avg() must be an int or a float, not timestamp"),
        ("min(flagged)", "argument 1 of min() must be an int, a float, a timestamp or a duration, not bool"),
        ("fraction(n)", "argument 1 of fraction() must be a condition, not int"),
        ("stddev(model)", "argument 1 of stddev() must be an int or a float, not string"),
    ],
)
def test_aggregate_arguments(call: str, message: str) -> None:
    fails(windowed(f"when {call} > 1"), message)


def test_lets() -> None:
    fails(rule("let a = b\nlet b = 1\nwhen a > 1"), "let 'b' is used before it is declared (at t.tos:4:5)", "a let may use only earlier lets")
    fails(rule("let a = a + 1\nwhen a > 1"), "let 'a' refers to itself")
    fails(rule("let a = 1\nlet a = 2\nwhen a > 1"), "duplicate let 'a', first declared at t.tos:3:5")
    fails(rule("let a = 1\nwhere a > 1\nwhen true"), "'where' cannot use let 'a'")
    ok(rule("let a = n + 1\nlet b = a * 2\nwhen b > a"))


def test_cooldown() -> None:
    ok(rule("cooldown 1h\nwhen true"))
    fails(rule("cooldown 0ms\nwhen true"), "the cooldown must be longer than zero")
    fails(rule("cooldown \"1h\"\nwhen true"), "expected a duration such as 5m or 24h, found string \"1h\"")


def test_tags_must_be_strings() -> None:
    ok("const t = \"x\"\n" + rule("tags [\"a\", t]\nwhen true"))
    fails(rule("tags [\"a\", 1]\nwhen true"), "a tag must be a string, not int")


# ---- messages -----------------------------------------------------------------------------


def test_message_placeholders() -> None:
    ok(rule('let a = n\nwhen true\nmessage "{a} {n} {model} {{literal}} {a:,d} {temperature:.2f} {a:%}"'))
    ok(windowed('let a = count()\nlet f = fraction(flagged)\nwhen true\nmessage "{org_id}: {a:,} {f:.1%} {f:.2e}"'))
    fails(windowed('when true\nmessage "{model}"'), "message placeholder '{model}' is not a let or a key field of this windowed rule")
    fails(rule('when true\nmessage "{modle}"'), "message placeholder '{modle}' is not a let or an event field", "did you mean 'model'?")
    fails(rule('when true\nmessage "{n:x}"'), "unknown format ':x'")
    fails(rule('when true\nmessage "{model:.2f}"'), "format ':.2f' cannot format 'model', a string")
    fails(rule('when true\nmessage "{temperature:d}"'), "format ':d' cannot format 'temperature', a float")
    fails(rule('when true\nmessage "{n"'), "message template: a '{' without its '}'")
    fails(rule('when true\nmessage "n}"'), "message template: a lone '}'")
    fails(rule('when true\nmessage "{}"'), "message template: an empty placeholder '{}'")


def test_placeholder_errors_point_into_the_string() -> None:
    out = errors(rule('when true\nmessage "a \\"q\\" {modle}"'))
    assert "t.tos:4:18: error: message placeholder '{modle}'" in out
    assert "    4 | message \"a \\\"q\\\" {modle}\"\n      |                  ^^^^^^^" in out


# ---- everything at once -------------------------------------------------------------------


def test_every_independent_error_is_reported() -> None:
    text = (
        "const a = b\n"
        'list xs = ["x", 1]\n'
        "rule one {\n  title \"t\"\n  severity hgh\n  when contry == \"x\" and count() > 1\n}\n"
        "rule two {\n  per org_id\n  window 1h every 7m\n  when n > 1\n}\n"
        "rule three { title \"t\" wehn true }\n"
    )
    out = errors(text)
    assert [c for c in codes(text)] == ["E302", "E414", "E315", "E301", "E504", "E501", "E503", "E506", "E202"]
    assert out.count("error:") == 9


def test_sources_in_memory() -> None:
    a = SourceFile("a.tos", "const limit = 3\n")
    b = SourceFile("b.tos", rule("when n > limit"))
    assert check_sources([a, b]).files == ("a.tos", "b.tos")
