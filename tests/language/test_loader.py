"""Reading rule files, folders and list files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tosengine.ir import InList, load_paths, load_text
from tosengine.language import RuleError, check_paths
from tosengine.language import limits

from .helpers import rule


def in_values(program) -> tuple:
    when = program.rules[0].when
    assert isinstance(when, InList)
    return when.values


def test_folders_are_read_recursively_in_sorted_path_order(tmp_path: Path) -> None:
    for rel in ["b.tos", "a/z.tos", "a/b/c.tos", "a-b.tos", "A.tos", "x/notes.md", "x/.hidden.tos"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"# {rel}\n")
    checked = check_paths([tmp_path])
    names = [Path(s.name).relative_to(tmp_path).as_posix() for s in checked.sources]
    assert names == ["A.tos", "a/b/c.tos", "a/z.tos", "a-b.tos", "b.tos", "x/.hidden.tos"]


def test_a_file_named_twice_is_read_once(tmp_path: Path) -> None:
    f = tmp_path / "r.tos"
    f.write_text(rule("when true"))
    assert len(check_paths([f, tmp_path, str(f)]).sources) == 1


def test_missing_paths_and_empty_folders(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuleError) as e:
        check_paths([tmp_path / "nope.tos", tmp_path / "empty"])
    assert [d.message for d in e.value.diagnostics] == [
        f"no .tos files in folder '{tmp_path / 'empty'}'", f"no such file or folder: '{tmp_path / 'nope.tos'}'"]


def test_errors_in_readable_files_are_reported_with_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "r.tos").write_text(rule("when contry"))
    with pytest.raises(RuleError) as e:
        check_paths([tmp_path / "r.tos", tmp_path / "gone"])
    assert len(e.value.diagnostics) == 2


def test_encoding(tmp_path: Path) -> None:
    f = tmp_path / "r.tos"
    f.write_bytes(b"\xef\xbb\xbf" + rule('when model == "\xc3\xa9"').replace("\n", "\r\n").encode())
    assert load_paths([f]).rules[0].name == "r"
    f.write_bytes(b'rule r { title "\xff" when true }')
    with pytest.raises(RuleError) as e:
        check_paths([f])
    assert str(e.value) == f"{f}: error: the file is not valid UTF-8 text (bad byte at offset 16)"


def test_file_size_limit(tmp_path: Path) -> None:
    f = tmp_path / "big.tos"
    f.write_text("#" * (limits.MAX_FILE_BYTES + 1))
    with pytest.raises(RuleError) as e:
        check_paths([f])
    assert "the file is too large" in str(e.value)


def test_list_files(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "names.txt").write_text("# header\nalpha\n\n  beta  # trailing comment\nalpha\n gamma delta \n")
    (tmp_path / "lists" / "ints.txt").write_text("1\n-2\n+3\n4_000\n\n# c\n")
    (tmp_path / "lists" / "mixed.txt").write_text("1\nx\n")
    (tmp_path / "lists" / "empty.txt").write_text("# nothing\n\n")
    (tmp_path / "sub").mkdir()
    src = tmp_path / "sub" / "r.tos"
    src.write_text(
        'list names from "../lists/names.txt"\nlist ints from "../lists/ints.txt"\n'
        'list mixed from "../lists/mixed.txt"\nlist empty from "../lists/empty.txt"\n'
        + rule("when model in names", "a") + rule("when n in ints", "b")
        + rule("when model in mixed", "c") + rule("when n in empty and model not in empty", "d")
    )
    prog = load_paths([src])
    assert prog.rules[0].when.values == ("alpha", "beta", "gamma delta")
    assert prog.rules[1].when.values == (1, -2, 3, 4000)
    assert prog.rules[2].when.values == ("1", "x")
    assert prog.rules[3].when.left.values == ()


def test_list_file_of_ints_is_int_typed(tmp_path: Path) -> None:
    (tmp_path / "ints.txt").write_text("1\n2\n")
    src = tmp_path / "r.tos"
    src.write_text('list ints from "ints.txt"\n' + rule("when model in ints"))
    with pytest.raises(RuleError) as e:
        check_paths([src])
    assert "cannot look for string in a list of int" in str(e.value)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "list file 'l.txt' not found"),
        ("9223372036854775808\n", "list file 'l.txt' line 1: integer '9223372036854775808' does not fit in 64 bits"),
        (b"\xff\xfe", "cannot read list file 'l.txt': not UTF-8 (bad byte at offset 0)"),
        ("dir", "list file 'l.txt' not found"),
    ],
)
def test_bad_list_files(tmp_path: Path, content, message: str) -> None:
    target = tmp_path / "l.txt"
    if content == "dir":
        target.mkdir()
    elif isinstance(content, bytes):
        target.write_bytes(content)
    elif content is not None:
        target.write_text(content)
    src = tmp_path / "r.tos"
    src.write_text('list l from "l.txt"\n' + rule("when model in l"))
    with pytest.raises(RuleError) as e:
        check_paths([src])
    assert message in str(e.value)
    assert len(e.value.diagnostics) == 1  # no cascade at the use of `l`


def test_list_file_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_LIST_FILE_BYTES", 10)
    (tmp_path / "l.txt").write_text("a\n" * 10)
    src = tmp_path / "r.tos"
    src.write_text('list l from "l.txt"\n' + rule("when model in l"))
    with pytest.raises(RuleError) as e:
        check_paths([src])
    assert "is too large (the limit is 10 bytes)" in str(e.value)


def test_list_files_of_rule_text_resolve_from_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "l.txt").write_text("x\n")
    monkeypatch.chdir(tmp_path)
    assert in_values(load_text('list l from "l.txt"\n' + rule("when model in l"))) == ("x",)
