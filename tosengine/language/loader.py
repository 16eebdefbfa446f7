"""Reading rule files, folders of them, and list files.

A rule set is one or more paths: ``.tos`` files, or folders read recursively
for ``.tos`` files. Files come in sorted path order. ``list NAME from "path"``
reads a text file relative to the declaring file: one value per line, ``#``
starts a comment, blank lines are ignored; the values are ints when every
value is an integer, strings otherwise.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from tosengine.language import limits, messages
from tosengine.language.diagnostics import Reporter
from tosengine.language.source import SourceFile
from tosengine.language.types import Type

__all__ = ["rule_files", "read_sources", "read_list_file", "list_file_path", "ListFileError"]

PathLike = str | os.PathLike


class ListFileError(Exception):
    """A list file cannot be used; ``message`` says why."""

    def __init__(self, message: messages.Message) -> None:
        super().__init__(message.text)
        self.message = message


def rule_files(paths: Sequence[PathLike], reporter: Reporter) -> list[Path]:
    """Every ``.tos`` file named by ``paths``, in sorted path order, once each.

    A missing path, or a folder without ``.tos`` files, is reported.
    """
    found: dict[str, Path] = {}
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            any_file = False
            for dirpath, dirnames, filenames in os.walk(p, followlinks=False):
                dirnames.sort()
                for fn in sorted(filenames):
                    if fn.endswith(".tos"):
                        f = Path(dirpath) / fn
                        if f.is_file():
                            any_file = True
                            found.setdefault(_identity(f), f)
            if not any_file:
                reporter.error(str(p), messages.no_rule_files(str(p)))
        elif p.is_file():
            found.setdefault(_identity(p), p)
        else:
            reporter.error(str(p), messages.path_not_found(str(p)))
    files = sorted(found.values())
    if len(files) > limits.MAX_FILES:
        reporter.error(None, messages.too_many_files(limits.MAX_FILES))
        return []
    return files


def _identity(p: Path) -> str:
    try:
        return str(p.resolve())
    except OSError:  # pragma: no cover - resolve of an unreadable path
        return str(p.absolute())


def read_sources(files: Sequence[Path], reporter: Reporter) -> list[SourceFile]:
    """The text of each file (UTF-8, a BOM dropped, CRLF read as LF)."""
    out = []
    for f in files:
        name = str(f)
        try:
            size = f.stat().st_size
            if size > limits.MAX_FILE_BYTES:
                reporter.error(name, messages.file_too_large(size, limits.MAX_FILE_BYTES))
                continue
            data = f.read_bytes()
        except OSError as e:
            reporter.error(name, messages.cannot_read(name, e.strerror or str(e)))
            continue
        text = decode(data, name, reporter)
        if text is not None:
            source = SourceFile(name, text)
            reporter.add_source(source)
            out.append(source)
    return out


def decode(data: bytes, name: str, reporter: Reporter) -> str | None:
    """Rule file bytes as text; reports bytes that are not UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        reporter.error(name, messages.not_utf8(e.start))
        return None
    return normalize(text)


def normalize(text: str) -> str:
    """Drop a byte-order mark and read CRLF line ends as LF."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n")


def list_file_path(declaring_file: str, path: str) -> Path:
    """Where ``list NAME from "path"`` looks: relative to the declaring file.

    Rule text that is not from a file (a name such as ``<rules>``) resolves
    relative to the working directory.
    """
    base = Path(".") if declaring_file.startswith("<") else Path(declaring_file).parent
    return base / path


_INT_LINE = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*\Z")


def read_list_file(path: Path, shown: str) -> tuple[tuple[int | str, ...], Type | None]:
    """The values of a list file and their type (None when it has none).

    Raises :class:`ListFileError` when it is missing, unreadable, too large,
    not UTF-8, or holds an integer that does not fit in 64 bits.
    """
    try:
        if not path.is_file():
            raise ListFileError(messages.list_file_missing(shown, str(path)))
        if path.stat().st_size > limits.MAX_LIST_FILE_BYTES:
            raise ListFileError(messages.list_file_too_large(shown, limits.MAX_LIST_FILE_BYTES))
        data = path.read_bytes()
    except OSError as e:
        raise ListFileError(messages.list_file_unreadable(shown, e.strerror or str(e))) from None
    try:
        text = normalize(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ListFileError(messages.list_file_unreadable(shown, f"not UTF-8 (bad byte at offset {e.start})")) from None
    values: list[str] = []
    lines: list[int] = []
    for n, line in enumerate(text.split("\n"), 1):
        value = line.split("#", 1)[0].strip()
        if value:
            values.append(value)
            lines.append(n)
    if not values:
        return (), None
    if all(_INT_LINE.match(v) for v in values):
        ints = []
        for v, n in zip(values, lines):
            i = int(v)
            if not limits.INT64_MIN <= i <= limits.INT64_MAX:
                raise ListFileError(messages.list_file_bad_int(shown, n, v))
            ints.append(i)
        return tuple(ints), Type.INT
    return tuple(values), Type.STRING
