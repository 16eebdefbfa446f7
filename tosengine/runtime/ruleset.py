"""A compiled rule set: the checked program and its kernels."""

from __future__ import annotations

from functools import cached_property

from tosengine import ir
from tosengine.compiler import Kernels, compile_program
from tosengine.runtime.checkpoint import Checkpoint, read_checkpoint, restore_into, saved_lateness
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

    def stream(self, *, allowed_lateness_ms: int = 0, max_keys: int | None = None) -> Evaluator:
        """A new streaming evaluator with empty state.

        ``max_keys`` caps the keys open in windows over all rules: a batch that
        goes over it raises :class:`~tosengine.runtime.evaluator.StateLimitExceeded`
        (carrying that batch's violations) instead of state being dropped.
        """
        return Evaluator(self.kernels, allowed_lateness_ms=allowed_lateness_ms,
                         max_keys=max_keys)

    def restore(self, data: bytes | Checkpoint) -> Evaluator:
        """An evaluator continuing from a checkpoint of an evaluator of these rules.

        ``data`` comes from :meth:`Evaluator.checkpoint` or
        :func:`~tosengine.runtime.checkpoint.load_checkpoint`; the caller's input
        position is on the result's ``position``. Raises
        :class:`~tosengine.runtime.checkpoint.CheckpointError` for a corrupt
        checkpoint, one of other rules or of an engine with another state layout.
        """
        ck = data if isinstance(data, Checkpoint) else read_checkpoint(data)
        lateness = saved_lateness(ck)
        return restore_into(self.stream(allowed_lateness_ms=lateness), ck)

    def __repr__(self) -> str:
        return f"<RuleSet {len(self.rules)} rules {self.fingerprint[:12]}>"
