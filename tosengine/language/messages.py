"""Every error the front end can report, worded in one place.

Each function returns a :class:`Message`: a stable code (``E1xx`` reading,
``E2xx`` syntax, ``E3xx`` names, ``E4xx`` types, ``E5xx`` rule structure,
``E6xx`` limits), a one-line lower-case sentence with user text in quotes, and
an optional help line. Messages speak the policy author's language, never the
parser's: "expected a duration such as 5m or 24h", not terminal names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from tosengine.language.ast import CLAUSE_ORDER


@dataclass(frozen=True, slots=True)
class Message:
    """What is wrong (``text``), a stable ``code``, and an optional ``help``."""

    code: str
    text: str
    help: str | None = None
    notes: tuple[str, ...] = ()


def _q(text: str, limit: int = 40) -> str:
    """User text in single quotes, shortened when long."""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"'{text}'"


def did_you_mean(name: str | None) -> str | None:
    """The help line for a suggested name."""
    return f"did you mean '{name}'?" if name else None


def one_of(words: Iterable[str], conj: str = "or") -> str:
    """``a, b or c``."""
    items = list(words)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conj} {items[-1]}"


# ---- reading files (E1xx) ------------------------------------------------


def path_not_found(path: str) -> Message:
    return Message("E101", f"no such file or folder: {_q(path, 200)}")


def no_rule_files(path: str) -> Message:
    return Message("E102", f"no .tos files in folder {_q(path, 200)}")


def cannot_read(path: str, reason: str) -> Message:
    return Message("E103", f"cannot read {_q(path, 200)}: {reason}")


def not_utf8(offset: int) -> Message:
    return Message("E104", f"the file is not valid UTF-8 text (bad byte at offset {offset})")


def file_too_large(size: int, limit: int) -> Message:
    return Message("E105", f"the file is too large ({size} bytes; the limit is {limit})")


def unexpected_character(char: str) -> Message:
    hints = {
        "!": "use 'not' to negate, or '!=' for 'not equal'",
        "&": "use 'and' to combine conditions",
        "|": "use 'or' to combine conditions",
        "'": "strings use double quotes, as in \"text\"",
        ";": "clauses and declarations need no separator",
        ":": "a let is written 'let name = expression'",
        ".": "a number needs a digit before the point, as in 0.5",
    }
    shown = char if char.isprintable() and not char.isspace() else f"U+{ord(char):04X}"
    quoted = '"\'"' if char == "'" else _q(shown)
    return Message("E110", f"unexpected character {quoted}", hints.get(char))


def unterminated_string() -> Message:
    return Message(
        "E111", "unterminated string", "a string ends with \" on the same line; write \\n for a line break"
    )


def invalid_escape(escape: str) -> Message:
    return Message(
        "E112",
        f"unknown escape {_q(escape)} in string",
        "the escapes are \\\", \\\\, \\n, \\t and \\u{...}",
    )


def invalid_unicode_escape(escape: str) -> Message:
    return Message(
        "E113",
        f"invalid unicode escape {_q(escape)}",
        "write \\u{...} with 1 to 6 hex digits naming a code point, as in \\u{e9}",
    )


def invalid_number(text: str) -> Message:
    if any(c.isalpha() for c in text.rstrip("%")):
        help = "a duration is a whole number followed by ms, s, m, h or d, such as 500ms or 24h"
    else:
        help = "write numbers as 42, 200_000, 0.5 or 90% (underscores go between digits)"
    return Message("E114", f"invalid number {_q(text)}", help)


# ---- syntax (E2xx) ------------------------------------------------------


def unexpected(found: str, expected: str) -> Message:
    return Message("E201", f"expected {expected}, found {found}")


def unknown_clause(word: str, suggestion: str | None) -> Message:
    help = did_you_mean(suggestion) or f"a rule clause is one of: {', '.join(CLAUSE_ORDER)}"
    return Message("E202", f"unknown clause {_q(word)}", help)


def unknown_declaration(word: str, suggestion: str | None) -> Message:
    help = did_you_mean(suggestion) or "a rule file holds schema, list, const and rule declarations"
    return Message("E203", f"unknown declaration {_q(word)}", help)


def keyword_as_name(word: str) -> Message:
    return Message(
        "E204", f"expected a name, found keyword {_q(word)}", f"{_q(word)} is a reserved word; choose another name"
    )


def chained_comparison(op: str) -> Message:
    return Message(
        "E205",
        f"comparisons do not chain: unexpected {_q(op)}",
        "write two comparisons joined by 'and', as in a < b and b < c",
    )


def duplicate_clause(keyword: str) -> Message:
    return Message("E206", f"duplicate clause {_q(keyword)}: a rule has at most one")


def assignment_in_expression() -> Message:
    return Message("E207", "expected an operator, found '='", "use '==' to compare values")


def missing_close(found: str, closer: str) -> Message:
    return Message("E208", f"expected {closer}, found {found}", f"a {closer} may be missing before this")


# ---- names (E3xx) -------------------------------------------------------


def unknown_field(name: str, suggestion: str | None) -> Message:
    return Message("E301", f"unknown field {_q(name)}", did_you_mean(suggestion))


def unknown_name(name: str, suggestion: str | None) -> Message:
    return Message("E302", f"unknown name {_q(name)}", did_you_mean(suggestion) or
                   "a name in an expression is a schema field, a list, a const or an earlier let")


def unknown_function(name: str, suggestion: str | None) -> Message:
    return Message("E303", f"unknown function {_q(name)}", did_you_mean(suggestion))


def duplicate_name(kind: str, name: str, first: str, first_kind: str) -> Message:
    return Message(
        "E304",
        f"duplicate name {_q(name)}: a {first_kind} with this name is declared at {first}",
        notes=() if kind == first_kind else ("lists, consts and rules share one namespace",),
    )


def duplicate_schema_field(name: str, first: str) -> Message:
    return Message("E305", f"duplicate schema field {_q(name)}, first declared at {first}")


def unknown_type(name: str, suggestion: str | None) -> Message:
    return Message(
        "E306",
        f"unknown field type {_q(name)}",
        did_you_mean(suggestion) or "the field types are int, float, bool, string and timestamp",
    )


def second_schema(first: str) -> Message:
    return Message("E307", f"a rule set has at most one schema; the first is at {first}")


def no_time_field() -> Message:
    return Message(
        "E308", "the schema has no time field", "mark the event-time field with 'time', as in: ts timestamp time"
    )


def second_time_field(name: str, first: str) -> Message:
    return Message("E309", f"second time field {_q(name)}; the schema's time field is declared at {first}")


def time_field_type(name: str, type_name: str) -> Message:
    return Message("E310", f"the time field {_q(name)} must be a timestamp, not {type_name}")


def list_file_missing(path: str, resolved: str) -> Message:
    return Message("E311", f"list file {_q(path, 200)} not found", notes=(f"looked for {resolved}",))


def list_file_unreadable(path: str, reason: str) -> Message:
    return Message("E312", f"cannot read list file {_q(path, 200)}: {reason}")


def const_cycle(names: list[str], where: list[str]) -> Message:
    chain = " -> ".join(names + names[:1])
    return Message("E313", f"const cycle: {chain}", notes=tuple(f"'{n}' is declared at {w}" for n, w in zip(names, where)))


def name_hides_field(kind: str, name: str) -> Message:
    return Message("E314", f"{kind} {_q(name)} has the same name as a schema field", "choose another name")


def unknown_severity(word: str, suggestion: str | None) -> Message:
    return Message(
        "E315",
        f"unknown severity {_q(word)}",
        did_you_mean(suggestion) or "the severities are info, low, medium, high and critical",
    )


def unknown_action(word: str, suggestion: str | None) -> Message:
    return Message(
        "E316",
        f"unknown action {_q(word)}",
        did_you_mean(suggestion) or "the actions are log, warn, review, throttle, suspend and block",
    )


def duplicate_let(name: str, first: str) -> Message:
    return Message("E317", f"duplicate let {_q(name)}, first declared at {first}")


def let_used_before(name: str, declared: str) -> Message:
    return Message(
        "E318", f"let {_q(name)} is used before it is declared (at {declared})", "a let may use only earlier lets"
    )


def let_in_aggregate(name: str) -> Message:
    return Message(
        "E516", f"an aggregate's argument cannot use let {_q(name)}", "an aggregate's argument is computed for each event"
    )


def rule_as_value(name: str) -> Message:
    return Message("E327", f"{_q(name)} is a rule, not a value")


def let_in_own_definition(name: str) -> Message:
    return Message("E319", f"let {_q(name)} refers to itself")


def duplicate_per_field(name: str) -> Message:
    return Message("E320", f"field {_q(name)} appears twice in 'per'")


def list_as_value(name: str) -> Message:
    return Message(
        "E321", f"list {_q(name)} is not a value", f"test membership with: x in {name}"
    )




def not_a_const(name: str, kind: str) -> Message:
    return Message("E323", f"{kind} {_q(name)} is not a const", "only literals and const names are allowed here")


def let_hides_name(name: str, kind: str, where: str) -> Message:
    return Message("E324", f"let {_q(name)} has the same name as the {kind} declared at {where}", "choose another name")


def list_file_bad_int(path: str, line: int, text: str) -> Message:
    return Message("E325", f"list file {_q(path, 200)} line {line}: integer {_q(text)} does not fit in 64 bits")




# ---- types (E4xx) -------------------------------------------------------


def operand_types(op: str, left: str, right: str) -> Message:
    return Message("E401", f"operator {_q(op)} cannot combine {left} and {right}")


def operand_type(op: str, operand: str) -> Message:
    return Message("E402", f"operator {_q(op)} cannot take {operand}")


def condition_type(clause: str, got: str) -> Message:
    return Message("E403", f"'{clause}' needs a true/false condition, not {got}")


def compare_string_number(left: str, right: str) -> Message:
    return Message(
        "E404", f"cannot compare {left} with {right}", "a string never equals a number; compare like with like"
    )


def string_ordering(op: str) -> Message:
    return Message(
        "E405",
        f"strings cannot be ordered with {_q(op)}",
        "strings support ==, !=, in and the string functions such as startswith",
    )


def compare_types(op: str, left: str, right: str) -> Message:
    return Message("E406", f"cannot compare {left} with {right} using {_q(op)}")


def in_needs_list(got: str) -> Message:
    return Message("E407", f"the right side of 'in' must be a list, not {got}")


def in_element_type(left: str, elem: str) -> Message:
    return Message("E408", f"cannot look for {left} in a list of {elem}", "'in' needs a list of the left side's type")


def argument_type(func: str, index: int, expected: str, got: str) -> Message:
    return Message("E409", f"argument {index} of {func}() must be {expected}, not {got}")


def argument_count(func: str, expected: str, got: int) -> Message:
    return Message("E410", f"{func}() takes {expected}, got {got}")


def pattern_not_literal(func: str) -> Message:
    return Message(
        "E411", f"the pattern of {func}() must be a string literal or const", "patterns are compiled once, before any event"
    )


def invalid_regex(pattern: str, reason: str) -> Message:
    return Message("E412", f"invalid regular expression {_q(pattern)}: {reason}", "matches() uses RE2 syntax")


def int_out_of_range(text: str) -> Message:
    return Message("E413", f"integer {_q(text)} does not fit in 64 bits")


def a_type(type_name: str) -> str:
    """``an int``, ``a string``."""
    return f"an {type_name}" if type_name[:1] in "aeiou" else f"a {type_name}"


def mixed_list(first: str, other: str) -> Message:
    return Message("E414", f"a list holds values of one type: this is {a_type(other)}, the first is {a_type(first)}")


def list_item_not_constant() -> Message:
    return Message("E415", "a list item must be a literal or a const name")


def const_not_constant() -> Message:
    return Message("E416", "a const value must be a literal or another const's name")


def duration_expected(got: str) -> Message:
    return Message("E417", f"expected a duration such as 5m or 24h, not {got}")


def tag_not_string(got: str) -> Message:
    return Message("E418", f"a tag must be a string, not {got}")


def coalesce_types(left: str, right: str) -> Message:
    return Message("E419", f"coalesce() needs two values of one type, not {left} and {right}")


def nested_list() -> Message:
    return Message("E420", "a list cannot hold another list")


def list_in_expression() -> Message:
    return Message("E421", "a list is only allowed on the right side of 'in'")


def value_overflow(what: str) -> Message:
    return Message("E422", f"{what} does not fit in 64 bits")


# ---- rule structure (E5xx) ---------------------------------------------


def missing_clause(rule: str, keyword: str) -> Message:
    hint = {"title": 'add a title such as: title "One line for people"',
            "when": "add the condition that makes a violation: when EXPR"}[keyword]
    return Message("E501", f"rule {_q(rule)} has no '{keyword}' clause", hint)


def window_needs_per(rule: str) -> Message:
    return Message("E502", f"windowed rule {_q(rule)} needs 'per'", "name the key fields, as in: per org_id")


def window_not_multiple(length: str, step: str) -> Message:
    return Message("E503", f"the window length {length} is not a whole multiple of the step {step}")


def aggregate_in_event_rule(func: str) -> Message:
    return Message(
        "E504",
        f"aggregate {func}() is only allowed in a windowed rule",
        "add a window, as in: window 1h",
    )


def nested_aggregate(func: str) -> Message:
    return Message("E505", f"aggregate {func}() cannot be used inside another aggregate")


def field_outside_aggregate(name: str) -> Message:
    return Message(
        "E506",
        f"field {_q(name)} is not a key field of this windowed rule",
        f"use it inside an aggregate such as max({name}), or add it to 'per'",
    )


def aggregate_in_where(func: str) -> Message:
    return Message(
        "E507", f"aggregate {func}() cannot be used in 'where'", "'where' filters single events before aggregation"
    )


def let_in_where(name: str) -> Message:
    return Message("E508", f"'where' cannot use let {_q(name)}", "'where' filters single events before any let")


def duration_not_positive(what: str) -> Message:
    return Message("E509", f"the {what} must be longer than zero")


def unknown_placeholder(name: str, suggestion: str | None, windowed: bool) -> Message:
    what = "a let or a key field of this windowed rule" if windowed else "a let or an event field"
    return Message("E510", f"message placeholder {_q('{' + name + '}')} is not {what}", did_you_mean(suggestion))


def bad_format_spec(spec: str) -> Message:
    return Message(
        "E511",
        f"unknown format {_q(':' + spec)}",
        "write {name:%} for a percentage, or a format such as {name:.2f}, {name:.1e}, {name:,d} or {name:,}",
    )


def spec_for_type(spec: str, name: str, type_name: str) -> Message:
    return Message("E512", f"format {_q(':' + spec)} cannot format {_q(name)}, a {type_name}")


def message_syntax(problem: str) -> Message:
    return Message("E513", f"message template: {problem}", "write {name} or {name:spec}; write {{ and }} for braces")


def step_longer_than_window(step: str, length: str) -> Message:
    return Message("E514", f"the step {step} is longer than the window {length}")




# ---- limits (E6xx) ------------------------------------------------------


def too_deep(limit: int) -> Message:
    return Message("E601", f"expression nested too deeply (more than {limit} levels)", "split it into lets")


def too_many_declarations(limit: int) -> Message:
    return Message("E602", f"too many declarations in the rule set (the limit is {limit})")


def string_too_long(length: int, limit: int) -> Message:
    return Message("E603", f"string too long ({length} characters; the limit is {limit})")


def name_too_long(length: int, limit: int) -> Message:
    return Message("E604", f"name too long ({length} characters; the limit is {limit})")


def too_many_lets(limit: int) -> Message:
    return Message("E605", f"too many lets in one rule (the limit is {limit})")


def list_file_too_large(path: str, limit: int) -> Message:
    return Message("E606", f"list file {_q(path, 200)} is too large (the limit is {limit} bytes)")


def too_many_errors(limit: int) -> Message:
    return Message("E607", f"stopped after {limit} errors")


def too_many_files(limit: int) -> Message:
    return Message("E608", f"too many rule files (the limit is {limit})")
