"""Hostile rule text: the front end only ever raises RuleError, and quickly."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tosengine.ir import load_text
from tosengine.language import RuleError, format_text, limits
from tosengine.language.parser import KEYWORDS

from .helpers import rule_pack_files
from .strategies import rule_set_texts

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
#: Seconds any single input may take (the real time is milliseconds).
BUDGET = 10.0


def survive(text: str) -> None:
    """Check, lower and format ``text``: fine, or RuleError; nothing else, fast."""
    start = time.perf_counter()
    for step in (lambda: load_text(text, "fuzz.tos"), lambda: format_text(text, "fuzz.tos")):
        try:
            step()
        except RuleError as e:
            assert e.diagnostics
            rendered = e.render()
            assert "error:" in rendered
            assert "Traceback" not in rendered
    assert time.perf_counter() - start < BUDGET


PIECES = sorted(KEYWORDS) + [
    "{", "}", "(", ")", "[", "]", ",", "=", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%",
    '"', '"str"', '"\\q"', '"\\u{110000}"', "\\", "#", "# c\n", "\n", " ", "\t", "1", "200_000", "2__0",
    "1.5", "1e", "90%", "5m", "0s", "5x", "9" * 30, "count", "count(", "sum(", "org_id", "ts", "x", "_",
    "é", "\x00", "@", "!", "'", ";", "\ufeff",
]


@SETTINGS
@given(st.text(max_size=400))
def test_random_text(text: str) -> None:
    survive(text)


@SETTINGS
@given(st.lists(st.sampled_from(PIECES), max_size=80).map(" ".join))
def test_random_token_soup(text: str) -> None:
    survive(text)


@st.composite
def mutated(draw, base: st.SearchStrategy[str]) -> str:
    text = draw(base)
    for _ in range(draw(st.integers(1, 4))):
        n = len(text)
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 20)))
        kind = draw(st.sampled_from(["delete", "insert", "duplicate", "replace", "swap"]))
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "insert":
            text = text[:i] + draw(st.sampled_from(PIECES)) + text[i:]
        elif kind == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        elif kind == "replace":
            text = text[:i] + draw(st.text(max_size=3)) + text[j:]
        else:
            text = text[:i] + text[j:] + text[i:j]
    return text


@SETTINGS
@given(mutated(rule_set_texts()))
def test_mutated_valid_rule_sets(text: str) -> None:
    survive(text)


PACK_TEXTS = [p.read_text(encoding="utf-8") for p in rule_pack_files()]


@SETTINGS
@given(mutated(st.sampled_from(PACK_TEXTS) if PACK_TEXTS else rule_set_texts()))
def test_mutated_rule_pack_files(text: str) -> None:
    survive(text)


# ---- inputs built to hurt ------------------------------------------------------

N = 30_000
HOSTILE = {
    "deep parentheses": 'rule r { title "t" when ' + "(" * N + "true" + ")" * N + " }",
    "unclosed parentheses": 'rule r { title "t" when ' + "(" * N,
    "deep unary minus": "const c = " + "-" * N + "1",
    "deep not": 'rule r { title "t" when ' + "not " * (N // 4) + "true }",
    "long and chain": 'rule r { title "t" when ' + " and ".join(["true"] * 5_000) + " }",
    "deep lists": "list l = " + "[" * N + "]" * N,
    "deep calls": 'rule r { title "t" when ' + "abs(" * N + "1" + ")" * N + " > 0 }",
    "deep brackets after a string": 'rule r { title "((((" when ' + "[" * N,
    "many rules": "".join(f'rule r{i} {{ title "t" when n > {i} }}\n' for i in range(2_000)),
    "one rule, many syntax errors": "rule r {\n" + "  wehn x\n" * 5_000 + "}\n",
    "many bad declarations": "const = \n" * 5_000,
    "long string": 'rule r { title "' + "x" * 200_000 + '" when true }',
    "long name": "const " + "a" * 100_000 + " = 1",
    "long line error": "const c = " + "1 + " * 5_000 + "@",
    "huge int": "const c = " + "9" * 100_000,
    "huge float": "const c = " + "9" * 100_000 + ".5",
    "huge percent": "const c = " + "9" * 100_000 + "%",
    "huge duration": "const c = " + "9" * 100_000 + "ms",
    "too large file": "# " + "x" * (1 << 20) + "\n",
    "nul bytes": "rule r { title \"t\x00\" when \x00 }",
    "lone surrogate": 'const c = "\ud800"',
    "many placeholders": 'rule r { title "t" when true message "' + "{n}" * 20_000 + '" }',
    "bad placeholders": 'rule r { title "t" when true message "' + "{" * 5_000 + '" }',
    "regex bomb": 'rule r { title "t" when matches(model, "' + "(a*)*" * 200 + '") }',
    "many lets": 'rule r { title "t" ' + "".join(f"let v{i} = {i} " for i in range(1_200)) + "when true }",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_inputs(name: str) -> None:
    survive(HOSTILE[name])


def test_deep_nesting_is_a_clear_error() -> None:
    with pytest.raises(RuleError) as e:
        load_text(HOSTILE["deep parentheses"])
    assert e.value.render().startswith("<rules>:1:89: error: expression nested too deeply (more than 64 levels)")


def test_nesting_up_to_the_limit_is_fine() -> None:
    depth = limits.MAX_DEPTH - 1  # the comparison is one more level
    load_text('rule r { title "t" when ' + "(" * (depth - 1) + "n" + ")" * (depth - 1) + " > 1 }")
    with pytest.raises(RuleError):
        load_text('rule r { title "t" when ' + "(" * depth + "n" + ")" * depth + " > 1 }")


def test_limits_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_DECLARATIONS", 1_000)
    cases = {
        "too large file": "too large",
        "long string": "string too long",
        "long name": "name too long",
        "many rules": "too many declarations",
        "many bad declarations": "stopped after 100 errors",
        "huge int": "does not fit in 64 bits",
        "huge float": "does not fit in 64 bits",
        "huge percent": "does not fit in 64 bits",
        "huge duration": "does not fit in 64 bits",
        "many lets": "too many lets",
        "deep calls": "nested too deeply",
        "deep lists": "nested too deeply",
        "long and chain": "nested too deeply",
    }
    for name, words in cases.items():
        with pytest.raises(RuleError) as e:
            load_text(HOSTILE[name])
        assert words in e.value.render(), name
