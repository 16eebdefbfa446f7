"""Lookup tables: a string function computed once per distinct string.

Each :class:`~tosengine.compiler.plan.Lut` of the plan becomes an array
indexed by the codes of its string group. When a batch brings new strings,
:meth:`LutTables.extend` computes the function for the new codes only, so the
kernels never see a Python string and each distinct value costs one call.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from tosengine.compiler.plan import Lut, LutKind, Plan
from tosengine.runtime.strings import StringDictionary

try:  # RE2 runs in linear time: a hostile log line cannot stall a `matches`
    import re2 as _re
except ImportError:  # pragma: no cover - google-re2 is a dependency
    import re as _re  # type: ignore[no-redef]

_DTYPES = {LutKind.BOOL: np.uint8, LutKind.INT: np.int64, LutKind.CODE: np.int32}


def _function(lut: Lut) -> Callable[[str], object]:
    op, arg = lut.op, lut.arg
    if op == "startswith":
        return lambda s: s.startswith(arg)  # type: ignore[arg-type]
    if op == "endswith":
        return lambda s: s.endswith(arg)  # type: ignore[arg-type]
    if op == "contains":
        return lambda s: arg in s  # type: ignore[operator]
    if op == "matches":
        pattern = _re.compile(arg)  # type: ignore[arg-type]
        return lambda s: pattern.search(s) is not None
    if op == "len":
        return len
    if op == "in":
        values = frozenset(arg)  # type: ignore[arg-type]
        return lambda s: s in values
    if op == "lower":
        return str.lower
    raise ValueError(f"unknown lookup-table function {op!r}")


class LutTables:
    """The lookup tables of a plan, kept in step with the string dictionaries."""

    def __init__(self, plan: Plan, dictionaries: list[StringDictionary]) -> None:
        self.plan = plan
        self.dictionaries = dictionaries
        self.functions = [_function(lut) for lut in plan.luts]
        self.arrays = [np.zeros(16, dtype=_DTYPES[lut.kind]) for lut in plan.luts]
        self.filled = [1 for _ in plan.luts]  # code 0 (null) maps to 0

    def extend(self) -> None:
        """Compute every table for codes added to its dictionary since the last call."""
        changed = True
        while changed:  # `lower` may intern new strings, which need entries too
            changed = False
            for k, lut in enumerate(self.plan.luts):
                d = self.dictionaries[lut.group]
                lo, hi = self.filled[k], len(d)
                if hi <= lo:
                    continue
                arr = self.arrays[k]
                if arr.shape[0] < hi:
                    grown = np.zeros(max(hi, 2 * arr.shape[0]), dtype=arr.dtype)
                    grown[: arr.shape[0]] = arr
                    self.arrays[k] = arr = grown
                fn = self.functions[k]
                values = [fn(s) for s in d.strings(lo, hi)]  # type: ignore[arg-type]
                if lut.kind == LutKind.CODE:
                    arr[lo:hi] = d.encode_strings(values)  # type: ignore[arg-type]
                    changed = True
                else:
                    arr[lo:hi] = np.asarray(values, dtype=arr.dtype)
                self.filled[k] = hi
