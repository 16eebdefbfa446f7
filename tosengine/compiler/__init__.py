"""IR → numba kernels: plan the state layout, generate readable source, cache it on disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from tosengine import ir
from tosengine.compiler.cache import interpreted_module, load_module
from tosengine.compiler.codegen import generate
from tosengine.compiler.plan import Plan, build_plan

__all__ = ["Kernels", "compile_program"]


@dataclass(frozen=True)
class Kernels:
    """The compiled form of a rule set: its plan and the generated kernel module."""

    plan: Plan
    source: str
    module: ModuleType
    path: Path | None  # the cached module file (None when interpreted)


def compile_program(program: ir.Program, *, jit: bool = True) -> Kernels:
    """Plan, generate and import the kernels of ``program`` (jitted lazily by numba).

    With ``jit=False`` the same generated code runs as plain Python: slow, but
    with no compile time (used by the differential tests on tiny inputs).
    """
    plan = build_plan(program)
    source = generate(plan)
    if not jit:
        return Kernels(plan, source, interpreted_module(source), None)
    module, path = load_module(source)
    return Kernels(plan, source, module, path)
