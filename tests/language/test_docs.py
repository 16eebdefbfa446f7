"""Every example in docs/language.md and in the language contract parses, checks and means what it says."""

from __future__ import annotations

import hashlib

import re
from pathlib import Path

import pytest

from tosengine.ir import Action, Severity, Window, load_paths, load_text
from tosengine.language import RuleError, format_text, parse_text
from tosengine.language.functions import AGGREGATES, FUNCTIONS
from tosengine.language.parser import KEYWORDS
from tosengine.language.schema import DEFAULT_SCHEMA

from .helpers import REPO, SPEC_COPY, SPEC_ORIGINAL, code_blocks, spec_path

DOCS = REPO / "docs" / "language.md"
DOC_BLOCKS = code_blocks(DOCS.read_text(encoding="utf-8"))
TOS = [(code, line) for info, code, line in DOC_BLOCKS if info == "tos"]
TOS_ERRORS = [(code, line) for info, code, line in DOC_BLOCKS if info == "tos-error"]
_FROM = re.compile(r'from\s+"([^"]+)"')


def check_block(code: str, tmp_path: Path) -> None:
    """Check a block as a rule file, with every list file it reads present."""
    for rel in _FROM.findall(code):
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("# example values\nexample-1\nexample-2\n")
    f = tmp_path / "example.tos"
    f.write_text(code, encoding="utf-8")
    load_paths([f])


@pytest.mark.parametrize("code, line", TOS, ids=[f"line-{line}" for _, line in TOS])
def test_docs_examples_check(code: str, line: int, tmp_path: Path) -> None:
    check_block(code, tmp_path)
    out = format_text(code)
    assert format_text(out) == out and parse_text(out) == parse_text(code)


@pytest.mark.parametrize("code, line", TOS_ERRORS, ids=[f"line-{line}" for _, line in TOS_ERRORS])
def test_docs_mistakes_fail_as_stated(code: str, line: int, tmp_path: Path) -> None:
    first = code.splitlines()[0]
    assert first.startswith("# error: "), "a tos-error block starts with '# error: <the message>'"
    with pytest.raises(RuleError) as e:
        check_block(code, tmp_path)
    assert first[len("# error: "):] in e.value.render()


def test_docs_show_every_construct() -> None:
    text = "\n".join(code for code, _ in TOS)
    words = set(re.findall(r"[A-Za-z_]+", text))
    missing = (KEYWORDS | set(FUNCTIONS) | set(AGGREGATES)) - words - {"time"}
    assert not missing, f"no checked example uses {sorted(missing)}"
    assert "timestamp time" in text
    for literal in ("200_000", "90%", "12.5%" if "12.5%" in text else "%", "1.5e1", '\\"', "\\t", "\\u{",
                    "500ms" if "500ms" in text else "10m", "7d", "24h", "true", "false", "-5"):
        assert literal in text, literal
    for severity in ("critical", "high", "medium" if "medium" in text else "high"):
        assert severity in text
    assert len(TOS) >= 15 and len(TOS_ERRORS) >= 5


# ---- the language contract -------------------------------------------------------------

SPEC = spec_path().read_text(encoding="utf-8")
SPEC_BLOCKS = [code for info, code, _ in code_blocks(SPEC)]


def spec_block(start: str) -> str:
    (block,) = [b for b in SPEC_BLOCKS if b.startswith(start)]
    return block


def test_every_spec_block_is_covered() -> None:
    # the declaration forms, the default schema and the rule example; a new
    # block in the contract must get a test here
    assert [b.split("\n", 1)[0] for b in SPEC_BLOCKS] == [
        "schema { FIELD TYPE [time] ... }          # at most one per rule set",
        "schema {",
        "rule competing_model_training {",
    ]


# sha256 of the contract this front end implements; a change to the shared
# contract must be copied in (tests/language/data/spec-language.md) and read
SPEC_SHA256 = "6ee8fb970865f4f4ce5b8b14ab12bbb189244ec1a888e6f3bd3f1da569a9c1f3"


def test_spec_copy_is_current() -> None:
    """The copy in the repo (CI has only the clone) is the contract, byte for byte."""
    assert hashlib.sha256(SPEC_COPY.read_bytes()).hexdigest() == SPEC_SHA256
    if SPEC_ORIGINAL.is_file():  # next to a working checkout
        assert hashlib.sha256(SPEC_ORIGINAL.read_bytes()).hexdigest() == SPEC_SHA256


def test_spec_schema_is_the_default_schema() -> None:
    program = load_text(spec_block("schema {\n"))
    assert program.schema == DEFAULT_SCHEMA
    assert load_text("").schema == DEFAULT_SCHEMA


def test_spec_rule_example_checks_and_means_what_it_says() -> None:
    rule = spec_block("rule ")
    for prelude in ('list research_partners = ["org-partner"]\n',
                    spec_block("schema {\n") + '\nlist research_partners = ["org-partner"]\n'):
        (r,) = load_text(prelude + rule).rules
        assert (r.name, r.severity, r.action, r.tags, r.key) == (
            "competing_model_training", Severity.HIGH, Action.REVIEW, ("distillation",), ("org_id",))
        assert r.window == Window(24 * 3_600_000, 3_600_000) and r.cooldown_ms == 24 * 3_600_000
        assert [let.name for let in r.lets] == ["requests", "unique_prompts", "with_logprobs"]
    assert format_text(rule) == rule  # the contract's layout is the canonical one


def test_spec_rule_example_needs_its_list() -> None:
    with pytest.raises(RuleError) as e:
        load_text(spec_block("rule "))
    assert "unknown name 'research_partners'" in str(e.value)


def test_spec_declaration_forms(tmp_path: Path) -> None:
    forms = spec_block("schema { FIELD")
    for head in ("schema {", "list NAME = [", "list NAME from", "const NAME =", "rule NAME {"):
        assert head in forms
    (tmp_path / "relative").mkdir()
    (tmp_path / "relative" / "path.txt").write_text("a\n# comment\n\nb\n")
    f = tmp_path / "forms.tos"
    f.write_text(
        "schema { ts timestamp time  name string }  # at most one per rule set\n"
        'list names = ["a", "b"]\nlist from_file from "relative/path.txt"\nconst limit = 3\n'
        'rule r { title "t" when name in names or name in from_file }\n'
    )
    assert load_paths([f]).rules[0].when.right.values == ("a", "b")


def test_spec_literal_examples() -> None:
    expressions = SPEC[SPEC.index("## Expressions"):SPEC.index("## Time and windows")]
    assert "`90%` (= 0.9)" in expressions
    values = {"42": 42, "200_000": 200_000, "0.9": 0.9, "90%": 0.9, "true": True, "false": False,
              "500ms": 500, "30s": 30_000, "5m": 300_000, "1h": 3_600_000, "7d": 604_800_000}
    for text, value in values.items():
        assert text in expressions
        (decl,) = parse_text(f"const c = {text}").declarations
        assert decl.value.value == value and type(decl.value.value) is type(value)
    assert parse_text('const c = "a\\"b\\\\c\\nd\\te\\u{e9}"').declarations[0].value.value == 'a"b\\c\nd\te\u00e9'


def test_spec_functions_and_aggregates_exist() -> None:
    expressions = SPEC[SPEC.index("Per-event functions"):SPEC.index("Types are checked")]
    names = set(re.findall(r"`([a-z]+)\(", expressions))
    assert names == set(FUNCTIONS) | set(AGGREGATES)


def test_spec_precedence_line_matches_the_grammar() -> None:
    assert "`or`; `and`; `not`; comparison" in SPEC
    a = parse_text('rule r { title "t" when not a or b and c == 1 + 2 * -d }')
    b = parse_text('rule r { title "t" when (not a) or (b and (c == (1 + (2 * (-d))))) }')
    from .test_parser import shape

    def strip(s: object) -> object:
        if isinstance(s, tuple) and s[0] == "()":
            return strip(s[1])
        return tuple(strip(x) for x in s) if isinstance(s, tuple) else s

    def get(m):
        return shape(m.declarations[0].clause("when").expr)

    assert strip(get(a)) == strip(get(b))
