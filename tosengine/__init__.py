"""tosengine: terms-of-service compliance rules, compiled to fused numba kernels.

Public API::

    rules = tosengine.compile("rules/")            # path to a file or folder, or rule text
    violations = tosengine.evaluate(rules, "events.jsonl")
    ev = rules.stream(allowed_lateness_ms=30_000)  # streaming: ev.feed(batch) ... ev.flush()

Importing ``tosengine`` is cheap: the evaluator (and numba) load on first use
of an attribute that needs them, so ``tosengine check`` never pays for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "DeadLetter",
    "Evaluator",
    "RuleError",
    "RuleSet",
    "Violation",
    "compile",
    "evaluate",
    "write_jsonl",
]

_LAZY = {
    "compile": "tosengine.api",
    "evaluate": "tosengine.api",
    "RuleSet": "tosengine.runtime.ruleset",
    "Evaluator": "tosengine.runtime.evaluator",
    "DeadLetter": "tosengine.runtime.evaluator",
    "Violation": "tosengine.runtime.violation",
    "write_jsonl": "tosengine.runtime.violation",
    "RuleError": "tosengine.language",
}

if TYPE_CHECKING:  # pragma: no cover
    from tosengine.api import compile, evaluate
    from tosengine.language import RuleError
    from tosengine.runtime.evaluator import DeadLetter, Evaluator
    from tosengine.runtime.ruleset import RuleSet
    from tosengine.runtime.violation import Violation, write_jsonl


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tosengine' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
