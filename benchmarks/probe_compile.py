"""Probe run in a fresh process by ``test_compile.py``: how long a rule set takes to become ready.

``python -m benchmarks.probe_compile RULES SAMPLE.parquet`` prints one JSON line:

* ``import_s``: ``import tosengine`` and its evaluator (numba, pyarrow, ...);
* ``front_s``: ``tosengine.compile(RULES)`` (parse, check, lower);
* ``kernels_s``: code generation and import of the kernel module (``rs.kernels``);
* ``first_s`` / ``second_s``: the pack over SAMPLE with a fresh evaluator, twice;
  the first run compiles (or loads from the caches) every jitted function it calls;
* ``ready_s = front_s + kernels_s + first_s - second_s``: what a start adds to
  evaluating the first batch, i.e. the compile (cold) or cache-load (warm) time.

The caches are whatever ``NUMBA_CACHE_DIR`` and ``TOSENGINE_CACHE_DIR`` say.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    t0 = time.perf_counter()
    rules, sample = sys.argv[1], sys.argv[2]
    import pyarrow.parquet as pq

    import tosengine
    import tosengine.runtime.ruleset  # noqa: F401 - the evaluator and numba

    table = pq.read_table(sample)
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
        "violations": len(vs), "rules": len(rs.rules), "events": table.num_rows,
        "kernel_cache_files": sum(len(f) for _, _, f in os.walk(cache)) if cache else None,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
