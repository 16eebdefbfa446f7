"""Lowering to the IR: names resolved, consts and lists inlined, literals folded."""

from __future__ import annotations

from pathlib import Path

import pytest

from tosengine.ir import (
    Action, AggFunc, Aggregate, Binary, BinaryOp, Call, FieldRef, Func, InList, IsNull, KeyRef, Let, LetRef,
    Literal, Location, Placeholder, PlaceholderKind, Program, Rule, Severity, Unary, UnaryOp, Window,
    load_paths, load_text,
)
from tosengine.language import RuleError
from tosengine.language.schema import DEFAULT_SCHEMA
from tosengine.language.types import Type

from .helpers import rule

INT, FLOAT, BOOL, STRING, TS, DUR = Type.INT, Type.FLOAT, Type.BOOL, Type.STRING, Type.TIMESTAMP, Type.DURATION

SPEC_SET = """\
list research_partners = ["org-a", "org-b", "org-a"]

rule competing_model_training {
  title     "Outputs used to develop a competing model"
  clause    "Terms of Use 2(c)(iii)"
  quote     "use Output to develop models that compete with us"
  severity  high
  action    review
  tags      ["distillation"]

  per       org_id
  window    24h every 1h
  where     endpoint == "chat.completions"

  let requests       = count()
  let unique_prompts = distinct(prompt_hash)
  let with_logprobs  = fraction(logprobs)

  when      requests > 200_000 and unique_prompts / requests > 90% and with_logprobs > 0.5
  unless    org_id in research_partners
  cooldown  24h
  message   "{requests} requests, {unique_prompts} unique prompts, {with_logprobs:%} with logprobs"
}
"""


def test_spec_example_lowers_exactly() -> None:
    program = load_text(SPEC_SET, "spec.tos")
    requests, unique, with_lp = (LetRef("requests", INT), LetRef("unique_prompts", INT), LetRef("with_logprobs", FLOAT))
    expected = Rule(
        name="competing_model_training",
        title="Outputs used to develop a competing model",
        clause="Terms of Use 2(c)(iii)",
        quote="use Output to develop models that compete with us",
        severity=Severity.HIGH,
        action=Action.REVIEW,
        tags=("distillation",),
        key=("org_id",),
        window=Window(86_400_000, 3_600_000),
        where=Binary(BinaryOp.EQ, FieldRef("endpoint", STRING), Literal("chat.completions", STRING), BOOL),
        lets=(
            Let("requests", Aggregate(AggFunc.COUNT, None, INT), INT),
            Let("unique_prompts", Aggregate(AggFunc.DISTINCT, FieldRef("prompt_hash", STRING), INT), INT),
            Let("with_logprobs", Aggregate(AggFunc.FRACTION, FieldRef("logprobs", BOOL), FLOAT), FLOAT),
        ),
        when=Binary(
            BinaryOp.AND,
            Binary(
                BinaryOp.AND,
                Binary(BinaryOp.GT, requests, Literal(200_000, INT), BOOL),
                Binary(BinaryOp.GT, Binary(BinaryOp.DIV, unique, requests, FLOAT), Literal(0.9, FLOAT), BOOL),
                BOOL,
            ),
            Binary(BinaryOp.GT, with_lp, Literal(0.5, FLOAT), BOOL),
            BOOL,
        ),
        unless=InList(KeyRef("org_id", STRING), ("org-a", "org-b"), False),
        cooldown_ms=86_400_000,
        message=(
            Placeholder("requests", PlaceholderKind.LET, INT), " requests, ",
            Placeholder("unique_prompts", PlaceholderKind.LET, INT), " unique prompts, ",
            Placeholder("with_logprobs", PlaceholderKind.LET, FLOAT, "%"), " with logprobs",
        ),
    )
    assert program == Program(DEFAULT_SCHEMA, (expected,))
    assert program.rules[0].location == Location("spec.tos", 3, 1)


def when_ir(expr: str, prelude: str = ""):
    return load_text(prelude + rule(f"when {expr}")).rules[0].when


def test_defaults() -> None:
    r = load_text(rule("when true")).rules[0]
    assert (r.severity, r.action, r.tags, r.key, r.window, r.where, r.lets, r.unless, r.cooldown_ms, r.message,
            r.clause, r.quote) == (Severity.MEDIUM, Action.REVIEW, (), (), None, None, (), None, None, None, None, None)
    assert r.when == Literal(True, BOOL)


def test_consts_and_lists_are_inlined() -> None:
    prelude = 'const limit = 1_000\nconst alias = limit\nconst label = "x"\nlist xs = [label, "y"]\nlist ns = [3, 1, 3, -2]\n'
    assert when_ir("n > alias", prelude) == Binary(BinaryOp.GT, FieldRef("n", INT), Literal(1000, INT), BOOL)
    assert when_ir("model in xs", prelude) == InList(FieldRef("model", STRING), ("x", "y"), False)
    assert when_ir("n not in ns", prelude) == InList(FieldRef("n", INT), (3, 1, -2), True)
    assert when_ir("temperature in ns", prelude) == InList(FieldRef("temperature", FLOAT), (3.0, 1.0, -2.0), False)
    assert when_ir("temperature in [1, 1.0, 2.5]") == InList(FieldRef("temperature", FLOAT), (1.0, 2.5), False)
    assert when_ir("startswith(model, label)", prelude) == Call(
        Func.STARTSWITH, (FieldRef("model", STRING), Literal("x", STRING)), BOOL)


@pytest.mark.parametrize(
    "expr, value, type_",
    [
        ("1 + 2 * 3", 7, INT),
        ("7 % 3", 1, INT),
        ("-7 % 3", 2, INT),  # floor modulo, as at run time
        ("7 % -3", -2, INT),
        ("9223372036854775807 + 1", -(2**63), INT),  # 64-bit wrap
        ("-9223372036854775808 - 1", 2**63 - 1, INT),
        ("3037000500 * 3037000500", (3037000500 * 3037000500 + 2**63) % 2**64 - 2**63, INT),
        ("-9223372036854775808", -(2**63), INT),
        ("-(5)", -5, INT),
        ("- -5", 5, INT),
        ("7 / 2", 3.5, FLOAT),
        ("1 + 0.5", 1.5, FLOAT),
        ("5.5 % 2", 1.5, FLOAT),
        ("-5.5 % 2", 0.5, FLOAT),
        ("90%", 0.9, FLOAT),
        ("12.5% * 2", 0.25, FLOAT),
        ("-0.5", -0.5, FLOAT),
        ("1h + 30m", 5_400_000, DUR),
        ("1h - 2h", -3_600_000, DUR),
        ("-(5m)", -300_000, DUR),
        ("1 < 2", True, BOOL),
        ("1 == 1.0", True, BOOL),
        ("2 >= 2.5", False, BOOL),
        ("\"a\" != \"b\"", True, BOOL),
        ("true and false", False, BOOL),
        ("true or false", True, BOOL),
        ("not true", False, BOOL),
        ("5m > 1m", True, BOOL),
        ("1 is null", False, BOOL),
        ("\"x\" is not null", True, BOOL),
        ("\"a\" in [\"a\", \"b\"]", True, BOOL),
        ("2 not in [1, 2]", False, BOOL),
    ],
)
def test_literal_folding(expr: str, value: object, type_: Type) -> None:
    prog = load_text(rule(f"let v = {expr}\nwhen true"))
    folded = prog.rules[0].lets[0].expr
    assert folded == Literal(value, type_)
    assert type(folded.value) is type(value)


@pytest.mark.parametrize("expr", ["1 / 0", "1 % 0", "1.5 % 0", "0.0 / 0", "0 / 0.0"])
def test_null_results_are_left_for_run_time(expr: str) -> None:
    v = load_text(rule(f"let v = {expr}\nwhen true")).rules[0].lets[0].expr
    assert isinstance(v, Binary)
    assert all(isinstance(x, Literal) for x in (v.left, v.right))


def test_partial_folding() -> None:
    assert when_ir("n > 2 * 3") == Binary(BinaryOp.GT, FieldRef("n", INT), Literal(6, INT), BOOL)
    assert when_ir("-n < 0") == Binary(BinaryOp.LT, Unary(UnaryOp.NEG, FieldRef("n", INT), INT), Literal(0, INT), BOOL)
    assert when_ir("not flagged") == Unary(UnaryOp.NOT, FieldRef("flagged", BOOL), BOOL)
    assert when_ir("(model) is null") == IsNull(FieldRef("model", STRING), False)


def test_names_resolve_by_context() -> None:
    prog = load_text(rule(
        "per org_id\nwindow 1h\nwhere n > 1\nlet c = count(model == \"m\")\nlet k = org_id\nwhen c > 1 and k != \"x\""
        "\nmessage \"{org_id} {k} {c:,d}\""))
    r = prog.rules[0]
    assert r.where == Binary(BinaryOp.GT, FieldRef("n", INT), Literal(1, INT), BOOL)
    assert r.lets[0].expr == Aggregate(
        AggFunc.COUNT, Binary(BinaryOp.EQ, FieldRef("model", STRING), Literal("m", STRING), BOOL), INT)
    assert r.lets[1].expr == KeyRef("org_id", STRING)
    assert r.message == (
        Placeholder("org_id", PlaceholderKind.KEY, STRING), " ", Placeholder("k", PlaceholderKind.LET, STRING), " ",
        Placeholder("c", PlaceholderKind.LET, INT, ",d"))
    event = load_text(rule("per org_id\nlet big = n > 10\nwhen big and org_id == \"x\"\ncooldown 1h\nmessage \"{org_id} {model} {big}\""))
    e = event.rules[0]
    assert e.when == Binary(BinaryOp.AND, LetRef("big", BOOL),
                            Binary(BinaryOp.EQ, FieldRef("org_id", STRING), Literal("x", STRING), BOOL), BOOL)
    assert [p.kind for p in e.message if isinstance(p, Placeholder)] == [
        PlaceholderKind.KEY, PlaceholderKind.FIELD, PlaceholderKind.LET]
    assert (e.key, e.cooldown_ms, e.window) == (("org_id",), 3_600_000, None)


def test_every_function_and_aggregate_lowers() -> None:
    funcs = ("startswith(model, \"a\") and endswith(model, \"b\") and contains(model, \"c\") and matches(model, \"d\") "
             "and lower(model) == \"x\" and len(model) > 1 and abs(n) > 1 and hour(ts) > 1 and weekday(ts) > 1 "
             "and coalesce(n, 1.5) > 1")
    calls = []

    def walk(e):
        if isinstance(e, Call):
            calls.append(e.func)
        for child in ("left", "right", "operand"):
            if hasattr(e, child):
                walk(getattr(e, child))
        for a in getattr(e, "args", ()):
            walk(a)

    walk(when_ir(funcs))
    assert set(calls) == set(Func)
    aggs = load_text(rule("per org_id\nwindow 1h\n" + "".join(
        f"let a{i} = {call}\n" for i, call in enumerate(
            ["count()", "count(flagged)", "sum(n)", "avg(n)", "min(ts)", "max(temperature)", "stddev(n)",
             "distinct(model)", "fraction(logprobs)"])) + "when true")).rules[0].lets
    assert [a.expr.func for a in aggs] == [AggFunc.COUNT, AggFunc.COUNT, AggFunc.SUM, AggFunc.AVG, AggFunc.MIN,
                                           AggFunc.MAX, AggFunc.STDDEV, AggFunc.DISTINCT, AggFunc.FRACTION]
    assert [a.type for a in aggs] == [INT, INT, INT, FLOAT, TS, FLOAT, FLOAT, INT, FLOAT]
    coalesce = when_ir("coalesce(n, 1.5) > 1").left
    assert coalesce.type is FLOAT


def test_fingerprint_ignores_layout_and_locations() -> None:
    a = load_text(SPEC_SET)
    b = load_text("\n\n# moved\n" + SPEC_SET.replace("\n  ", "\n      "))
    assert a == b and a.fingerprint() == b.fingerprint()
    assert a.rules[0].location != b.rules[0].location


def test_load_paths_orders_rules_by_file_then_position(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.tos").write_text(rule("when true", "b1") + rule("when true", "b2"))
    (tmp_path / "a.tos").write_text(rule("when true", "a1"))
    (tmp_path / "sub" / "c.tos").write_text(rule("when true", "c1"))
    (tmp_path / "notes.txt").write_text("not rules")
    prog = load_paths([tmp_path])
    assert [r.name for r in prog.rules] == ["a1", "b1", "b2", "c1"]
    assert prog.rules[3].location == Location(str(tmp_path / "sub" / "c.tos"), 1, 1)
    assert [r.name for r in load_paths([str(tmp_path / "b.tos")]).rules] == ["b1", "b2"]


def test_load_functions_raise_rule_error(tmp_path: Path) -> None:
    with pytest.raises(RuleError):
        load_text("rule r {")
    with pytest.raises(RuleError) as e:
        load_paths([tmp_path / "missing"])
    assert "no such file or folder" in str(e.value)


def test_custom_schema_program() -> None:
    prog = load_text("schema {\n at timestamp time\n tokens int\n}\n" + rule("when tokens > 1"))
    assert prog.schema.time_field == "at"
    assert prog.schema.names == ("at", "tokens")
