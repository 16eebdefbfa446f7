"""Golden error messages: each bad snippet in tests/golden/errors with its exact rendering.

A case is ``errors/NAME.tos`` (or a folder ``errors/NAME/`` of files checked as
one rule set) next to ``errors/NAME.err``, the exact text of the RuleError.
Regenerate the expected files after a deliberate wording change with::

    TOSENGINE_UPDATE_GOLDEN=1 python -m pytest tests/language/test_golden_errors.py
    # or: python -m tests.language.test_golden_errors
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tosengine.language import RuleError, check_paths

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
ERRORS = GOLDEN / "errors"
CASES = sorted(p for p in ERRORS.iterdir() if p.suffix == ".tos" or p.is_dir())


def render(case: Path) -> str:
    """The rendered RuleError of a case, with paths relative to tests/golden."""
    old = os.getcwd()
    os.chdir(GOLDEN)
    try:
        check_paths([case.relative_to(GOLDEN).as_posix()])
    except RuleError as e:
        return e.render() + "\n"
    finally:
        os.chdir(old)
    raise AssertionError(f"{case.name} has no errors")


def expected_path(case: Path) -> Path:
    return case.with_suffix(".err") if case.suffix else case.parent / (case.name + ".err")


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_golden_error(case: Path) -> None:
    out = render(case)
    expected = expected_path(case)
    if os.environ.get("TOSENGINE_UPDATE_GOLDEN") or not expected.exists():
        expected.write_text(out, encoding="utf-8")
    assert out == expected.read_text(encoding="utf-8")


def test_enough_cases_covering_every_kind() -> None:
    assert len(CASES) >= 40
    kinds = {c.name.split("-")[0] for c in CASES}
    assert kinds == {"lex", "syntax", "names", "types", "rule"}
    codes = set()
    for c in CASES:
        codes |= {line.split("error:")[0] for line in expected_path(c).read_text().splitlines() if "error:" in line}
    assert len(CASES) == len({expected_path(c) for c in CASES})


def test_no_stray_expected_files() -> None:
    expected = {expected_path(c) for c in CASES}
    assert {p for p in ERRORS.glob("*.err")} == expected


if __name__ == "__main__":  # regenerate every expected file
    for case in CASES:
        expected_path(case).write_text(render(case), encoding="utf-8")
    print(f"wrote {len(CASES)} expected files", file=sys.stderr)
