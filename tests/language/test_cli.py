"""The `tosengine check` and `tosengine fmt` commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tosengine.cli import app

from .helpers import REPO, rule

runner = CliRunner()
GOOD = rule("when n > 1")
MESSY = 'rule r { title "t" when n>1 }\n'


def run(*args: str):
    return runner.invoke(app, list(args))


def test_check_ok(tmp_path: Path) -> None:
    (tmp_path / "a.tos").write_text(GOOD)
    (tmp_path / "b.tos").write_text(rule("when true", "s") + rule("when true", "t"))
    result = run("check", str(tmp_path))
    assert result.exit_code == 0
    assert result.stdout == "ok: 3 rules in 2 files\n"
    one = run("check", str(tmp_path / "a.tos"))
    assert (one.exit_code, one.stdout) == (0, "ok: 1 rule in 1 file\n")


def test_check_reports_errors_to_stderr_with_exit_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("rules").mkdir()
    Path("rules/distill.tos").write_text('list blocked = ["x"]\n' + "\n" * 10 + 'rule r {\n  when  contry in blocked\n  title "t"\n}\n')
    result = run("check", "rules")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "rules/distill.tos:13:9: error: unknown field 'contry'\n"
        "   13 |   when  contry in blocked\n"
        "      |         ^^^^^^\n"
        "      = help: did you mean 'country'?\n"
    )


def test_check_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = run("check", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert "error: no such file or folder" in result.stderr
    assert run("check").exit_code == 2


def test_fmt_rewrites_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    messy, clean = tmp_path / "sub" / "messy.tos", tmp_path / "clean.tos"
    messy.write_text(MESSY)
    clean.write_text('rule q {\n  title     "t"\n\n  when      n > 1\n}\n')
    before = clean.read_text()
    result = run("fmt", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert messy.read_text() == 'rule r {\n  title     "t"\n\n  when      n > 1\n}\n'
    assert clean.read_text() == before
    assert "1 of 2 files reformatted" in result.stderr
    assert run("fmt", "--check", str(tmp_path)).exit_code == 0


def test_fmt_check_lists_files_and_changes_nothing(tmp_path: Path) -> None:
    f = tmp_path / "messy.tos"
    f.write_text(MESSY)
    result = run("fmt", "--check", str(f))
    assert result.exit_code == 1
    assert result.stdout == f"{f}\n"
    assert f.read_text() == MESSY


def test_fmt_leaves_broken_files_alone(tmp_path: Path) -> None:
    bad, good = tmp_path / "bad.tos", tmp_path / "good.tos"
    bad.write_text("rule r { title }")
    good.write_text(MESSY)
    result = run("fmt", str(tmp_path))
    assert result.exit_code == 1
    assert "bad.tos:1:16: error: expected a string in double quotes, found '}'" in result.stderr
    assert bad.read_text() == "rule r { title }"
    assert good.read_text() != MESSY  # the good file is still formatted


def test_fmt_normalises_line_ends_and_bom(tmp_path: Path) -> None:
    f = tmp_path / "crlf.tos"
    canonical = 'rule r {\n  title     "t"\n\n  when      n > 1\n}\n'
    f.write_bytes(b"\xef\xbb\xbf" + canonical.replace("\n", "\r\n").encode())
    assert run("fmt", "--check", str(f)).exit_code == 1
    assert run("fmt", str(f)).exit_code == 0
    assert f.read_bytes() == canonical.encode()


def test_fmt_missing_path(tmp_path: Path) -> None:
    assert run("fmt", str(tmp_path / "nope.tos")).exit_code == 2


@pytest.mark.parametrize("text", ["\x00\x01", "rule " * 1000, '"' * 50, "\ud800" if False else "é" * 10])
def test_no_traceback_for_hostile_files(tmp_path: Path, text: str) -> None:
    (tmp_path / "x.tos").write_text(text)
    for args in (["check", str(tmp_path)], ["fmt", "--check", str(tmp_path)]):
        result = run(*args)
        assert result.exit_code in (0, 1)
        assert "Traceback" not in result.stdout + result.stderr
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_console_script_end_to_end(tmp_path: Path) -> None:
    f = tmp_path / "r.tos"
    f.write_text(rule("when  contry == \"x\""))
    undecodable = tmp_path / "bin.tos"
    undecodable.write_bytes(b"\xff\xfe rule")
    cmd = [sys.executable, "-c", "from tosengine.cli import main; main()"]
    out = subprocess.run([*cmd, "check", str(f), str(undecodable)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert f"{f}:3:7: error: unknown field 'contry'" in out.stderr
    assert "      = help: did you mean 'country'?" in out.stderr
    assert f"{undecodable}: error: the file is not valid UTF-8 text" in out.stderr
    assert "Traceback" not in out.stderr
    usage = subprocess.run([*cmd, "check"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def test_check_and_fmt_never_load_the_evaluator() -> None:
    """`tosengine check`/`fmt` start fast: no numba, no Arrow, no kernels compiled."""
    probe = (
        "import sys\n"
        "from tosengine.cli import main\n"
        "for argv in (['check', 'rules'], ['fmt', '--check', 'rules']):\n"
        "    sys.argv = ['tosengine', *argv]\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as e:\n"
        "        assert e.code in (0, None), e.code\n"
        "heavy = sorted(m for m in ('numba', 'pyarrow', 'tosengine.compiler', 'tosengine.runtime') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
