"""3. Streaming: the pack fed the log in batches of 1k, 10k and 100k events.

One evaluator, ``feed()`` once per batch (zero-copy slices of the in-memory
table, cut before the clock starts), then ``flush()``; answers equal to the
whole-table run. The per-batch overhead is the slope of time against the
number of batches (the report fits it from the 1k and 100k runs).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from benchmarks import common
from benchmarks.common import PackRun, answer_of

SIZES = [1_000, 10_000, 100_000]


@pytest.mark.parametrize("batch", SIZES)
def test_streaming(benchmark: Any, batch: int, pack: Any, table: pa.Table, pack_run: PackRun, budget: float,
                   n_events: int) -> None:
    batches = [table.slice(i, batch) for i in range(0, table.num_rows, batch)]

    def run() -> list[Any]:
        ev = pack.stream()
        out: list[Any] = []
        for b in batches:
            out += ev.feed(b)
        return out + ev.flush()

    def check(vs: list[Any]) -> None:
        assert answer_of(vs) == pack_run.answer

    common.measure(benchmark, run, check=check, budget=budget, estimate=pack_run.seconds, events=n_events,
                   batch=batch, batches=len(batches))
