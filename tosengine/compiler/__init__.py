"""IR → numba kernels: plan the state layout, generate readable source, cache it on disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from tosengine import ir
from tosengine.compiler.cache import load_module
from tosengine.compiler.codegen import generate
from tosengine.compiler.plan import Plan, build_plan

__all__ = ["Kernels", "compile_program"]


@dataclass(frozen=True)
class Kernels:
    """The compiled form of a rule set: its plan and the generated kernel module."""

    plan: Plan
    source: str
    module: ModuleType
    path: Path


def compile_program(program: ir.Program) -> Kernels:
    """Plan, generate and import the kernels of ``program`` (jitted lazily by numba)."""
    plan = build_plan(program)
    source = generate(plan)
    module, path = load_module(source)
    return Kernels(plan, source, module, path)
