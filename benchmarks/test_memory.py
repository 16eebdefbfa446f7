"""5. Memory: peak resident bytes per active key of one windowed rule (1M keys, fresh process).

See ``probe_memory.py`` for the method; the benchmark time is the probe
process's wall time, the numbers that matter are in ``extra_info``.
"""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import common

KEYS = 1_000_000
KINDS = ["tumbling", "sliding", "distinct", "sliding_distinct"]


@pytest.mark.parametrize("kind", KINDS)
def test_memory_per_key(benchmark: Any, kind: str) -> None:
    out: list[dict[str, Any]] = []

    def run() -> None:
        out.append(common.run_json([common.PYTHON, "-m", "benchmarks.probe_memory", kind, str(KEYS), "2"],
                                   timeout=1200))

    benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    (probe,) = out
    # every key's window is still open, and the state it holds shows in the process
    assert probe["active_keys"] == KEYS
    assert probe["peak_bytes_per_key"] > 0
    benchmark.extra_info.update(probe, checked=True, load_after=common.loadavg())
