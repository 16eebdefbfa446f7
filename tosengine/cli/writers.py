"""Output writers of ``tosengine run``: violations (jsonl, json, table) and dead letters.

Writers are separate from the run loop (:mod:`tosengine.cli.run`): the loop
hands each batch's violations and dead letters to them as soon as they are
produced, and the streaming formats write and flush them at once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Protocol

import orjson

from tosengine import ir
from tosengine.runtime.evaluator import DeadLetter
from tosengine.runtime.violation import Violation

FORMATS = ("table", "jsonl", "json")


class ViolationWriter(Protocol):
    """Receives violations batch by batch; ``close`` ends the output."""

    def write(self, violations: list[Violation]) -> None: ...

    def close(self) -> None: ...


class _Target:
    """A text stream: stdout, or a file opened (and closed) by the writer."""

    def __init__(self, path: Path | None, append: bool = False) -> None:
        self.path = path
        self._file: IO[str] | None = (open(path, "a" if append else "w", encoding="utf-8")
                                      if path is not None else None)

    @property
    def stream(self) -> IO[str]:
        # looked up on every write, so a test runner's replacement of sys.stdout is honoured
        return self._file if self._file is not None else sys.stdout

    def write(self, text: str) -> None:
        self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        else:
            self.stream.flush()


class JsonlWriter:
    """One JSON object per line, flushed after every batch (``append``: after what is there)."""

    def __init__(self, path: Path | None, append: bool = False) -> None:
        self.out = _Target(path, append)

    def write(self, violations: list[Violation]) -> None:
        if not violations:
            return
        self.out.write("".join(v.to_json().decode() + "\n" for v in violations))
        self.out.flush()

    def close(self) -> None:
        self.out.close()


class JsonWriter:
    """One JSON array, streamed: ``[`` first, each violation as it comes, ``]`` at the end."""

    def __init__(self, path: Path | None) -> None:
        self.out = _Target(path)
        self.count = 0
        self.out.write("[")

    def write(self, violations: list[Violation]) -> None:
        if not violations:
            return
        parts = []
        for v in violations:
            parts.append(("\n" if self.count == 0 else ",\n") + v.to_json().decode())
            self.count += 1
        self.out.write("".join(parts))
        self.out.flush()

    def close(self) -> None:
        self.out.write("\n]\n" if self.count else "]\n")
        self.out.close()


class TableWriter:
    """Collects the violations and prints them at the end as tables grouped by rule."""

    def __init__(self, path: Path | None, program: ir.Program) -> None:
        self.path = path
        self.program = program
        self.violations: list[Violation] = []

    def write(self, violations: list[Violation]) -> None:
        self.violations += violations

    def close(self) -> None:
        from tosengine.cli.summary import print_violations, text_console

        if self.path is None:
            print_violations(text_console(sys.stdout), self.violations, self.program)
            return
        with open(self.path, "w", encoding="utf-8") as fh:
            print_violations(text_console(fh), self.violations, self.program)


class CollectingWriter:
    """Keeps the violations in :attr:`violations` and writes nothing (``tosengine demo``)."""

    def __init__(self) -> None:
        self.violations: list[Violation] = []

    def write(self, violations: list[Violation]) -> None:
        self.violations += violations

    def close(self) -> None:
        pass


def violation_writer(fmt: str, path: Path | None, program: ir.Program) -> ViolationWriter:
    """The writer for ``--format`` ``fmt`` writing to ``path`` (stdout when None)."""
    if fmt == "jsonl":
        return JsonlWriter(path)
    if fmt == "json":
        return JsonWriter(path)
    if fmt == "table":
        return TableWriter(path, program)
    raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")


class DeadLetterWriter:
    """Dead letters as JSON Lines (:meth:`DeadLetter.to_dict`), flushed after every batch."""

    def __init__(self, path: Path, append: bool = False) -> None:
        self.stream = open(path, "ab" if append else "wb")

    def write(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        self.stream.write(b"".join(orjson.dumps(d.to_dict()) + b"\n" for d in letters))
        self.stream.flush()

    def close(self) -> None:
        self.stream.close()
