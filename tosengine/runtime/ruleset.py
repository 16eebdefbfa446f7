"""A compiled rule set: the checked program and its kernels."""

from __future__ import annotations

from functools import cached_property

from tosengine import ir
from tosengine.compiler import Kernels, compile_program
from tosengine.runtime.evaluator import Evaluator


class RuleSet:
    """A checked rule set, compiled to numba kernels on first use.

    Create one with :func:`tosengine.compile`. Evaluate a stream with
    :meth:`stream`; the kernels are shared by every evaluator of the set.
    """

    def __init__(self, program: ir.Program, *, jit: bool = True) -> None:
        self.program = program
        self.jit = jit

    @cached_property
    def kernels(self) -> Kernels:
        """The generated, jitted kernels (built and disk-cached on first access)."""
        return compile_program(self.program, jit=self.jit)

    @property
    def rules(self) -> tuple[ir.Rule, ...]:
        return self.program.rules

    @property
    def fingerprint(self) -> str:
        """sha256 of the checked rules; equal rule sets have equal fingerprints."""
        return self.program.fingerprint()

    def stream(self, *, allowed_lateness_ms: int = 0) -> Evaluator:
        """A new streaming evaluator with empty state."""
        return Evaluator(self.kernels, allowed_lateness_ms=allowed_lateness_ms)

    def __repr__(self) -> str:
        return f"<RuleSet {len(self.rules)} rules {self.fingerprint[:12]}>"
