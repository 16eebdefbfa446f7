"""Probe run in a fresh process by ``test_compile.py``: how long a rule set takes to become ready.

``python -m benchmarks.probe_compile RULES SAMPLE.parquet`` prints one JSON line:

* ``import_s``: ``import tosengine`` and its evaluator (numba, pyarrow, ...);
* ``front_s``: ``tosengine.compile(RULES)`` (parse, check, lower);
* ``kernels_s``: code generation and import of the kernel module (``rs.kernels``);
* ``first_s`` / ``second_s``: the pack over SAMPLE with a fresh evaluator, twice;
  the first run compiles (or loads from the caches) every jitted function it calls;
* ``ready_s = front_s + kernels_s + first_s - second_s``: what a start adds to
  evaluating the first batch, i.e. the compile (cold) or cache-load (warm) time;
* ``jit_rules_s`` / ``jit_library_s``: of that, the seconds numba spent compiling
  the rule set's generated kernels and the fixed library (window machine,
  interner, numba's own helpers), from numba's ``numba:compile`` events
  (outermost events only, so nested compiles count once; loads from numba's
  cache raise no event, so both are 0 on a warm start); ``jit_rules_functions``:
  how many generated kernels were compiled.

The caches are whatever ``NUMBA_CACHE_DIR`` and ``TOSENGINE_CACHE_DIR`` say.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any


def _compile_times() -> Any:
    """A registered numba listener summing outermost ``numba:compile`` events by owner."""
    from numba.core import event

    class CompileTimes(event.Listener):
        def __init__(self) -> None:
            self.depth = 0
            self.start = 0.0
            self.rules = self.library = 0.0
            self.rule_functions: set[str] = set()

        def on_start(self, ev: event.Event) -> None:
            if self.depth == 0:
                self.start = time.perf_counter()
            self.depth += 1

        def on_end(self, ev: event.Event) -> None:
            self.depth -= 1
            if self.depth:
                return
            spent = time.perf_counter() - self.start
            fn = ev.data["dispatcher"].py_func
            if fn.__module__.startswith("tos_kernels_"):
                self.rules += spent
                self.rule_functions.add(fn.__name__)
            else:
                self.library += spent

    times = CompileTimes()
    event.register("numba:compile", times)
    return times


def main() -> None:
    t0 = time.perf_counter()
    rules, sample = sys.argv[1], sys.argv[2]
    import pyarrow.parquet as pq

    import tosengine
    import tosengine.runtime.ruleset  # noqa: F401 - the evaluator and numba

    table = pq.read_table(sample)
    times = _compile_times()
    t1 = time.perf_counter()
    rs = tosengine.compile(rules)
    t2 = time.perf_counter()
    rs.kernels
    t3 = time.perf_counter()
    runs = []
    for _ in range(2):
        a = time.perf_counter()
        ev = rs.stream()
        vs = ev.feed(table) + ev.flush()
        runs.append(time.perf_counter() - a)
    cache = os.environ.get("TOSENGINE_CACHE_DIR", "")
    out = {
        "import_s": t1 - t0, "front_s": t2 - t1, "kernels_s": t3 - t2,
        "first_s": runs[0], "second_s": runs[1],
        "ready_s": (t2 - t1) + (t3 - t2) + runs[0] - runs[1],
        "jit_rules_s": times.rules, "jit_library_s": times.library,
        "jit_rules_functions": len(times.rule_functions),
        "violations": len(vs), "rules": len(rs.rules), "events": table.num_rows,
        "kernel_cache_files": sum(len(f) for _, _, f in os.walk(cache)) if cache else None,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
