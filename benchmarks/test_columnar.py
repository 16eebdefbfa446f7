"""1. Columnar throughput: the shipped pack over Arrow/Parquet vs DuckDB and Polars per rule.

* ``test_memory_bandwidth``: a numpy sum over a 1 GiB int64 array (the
  physical bound: bandwidth / bytes per event the pack reads).
* ``test_pack_arrow``: the whole pack (17 rules, one fused pass) over the log
  in memory as an Arrow table of 100k-row record batches: ``feed(table)``,
  ``flush()``.
* ``test_pack_parquet``: the same from the Parquet file, ``tosengine.evaluate(rules, path)``.
* ``test_rule_alone[rule]``: each rule compiled and run on its own (the
  per-class absolute numbers: count/sum/fraction, exact distinct, sliding).
* ``test_duckdb[rule]`` / ``test_polars[rule]``: each windowed rule as a DuckDB
  query (``SET threads=1``) over the same registered Arrow table, and as a
  Polars lazy query (``POLARS_MAX_THREADS=1``, streaming engine) over
  ``pl.from_arrow(table)``; a Polars query whose exploded rows would pass
  ``TOSENGINE_BENCH_POLARS_MAX_ROWS`` (default 100M) is skipped and reported.
  The set of (key, window start) after the cooldown must equal tosengine's
  before the time is kept.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from benchmarks import common
from benchmarks.common import PackRun, answer_of, run_pack
from benchmarks.pack import pack_queries
from tosengine import ir

PROGRAM = ir.load_paths([common.RULES])
QUERIES, UNTRANSLATED = pack_queries(PROGRAM)
RULE_NAMES = [r.name for r in PROGRAM.rules]
QUERY_NAMES = [q.name for q in QUERIES]
BANDWIDTH_BYTES = 1 << 30


def rule_kind(rule: ir.Rule) -> str:
    if rule.window is None:
        return "event"
    q = next((q for q in QUERIES if q.name == rule.name), None)
    if q is not None:
        return q.kind
    return "sliding" if rule.window.length_ms != rule.window.step_ms else "tumbling"


def test_memory_bandwidth(benchmark: Any, budget: float) -> None:
    """Single-thread read bandwidth: ``np.add.reduce`` over 1 GiB of int64."""
    a = np.ones(BANDWIDTH_BYTES // 8, dtype=np.int64)

    def check(s: Any) -> None:
        assert s == a.size

    common.measure(benchmark, lambda: int(a.sum()), check=check, budget=min(budget, 3.0),
                   max_rounds=10, bytes=BANDWIDTH_BYTES)
    del a


def test_pack_arrow(benchmark: Any, pack: Any, table: pa.Table, pack_run: PackRun, budget: float,
                    n_events: int) -> None:
    cols = common.pack_columns(pack.program)

    def check(vs: list[Any]) -> None:
        assert answer_of(vs) == pack_run.answer

    common.measure(benchmark, lambda: run_pack(pack, table), check=check, budget=budget,
                   estimate=pack_run.seconds, events=n_events, rules=len(pack.rules),
                   violations=len(pack_run.violations), columns=cols,
                   bytes_per_event=common.bytes_per_event(table, cols),
                   bytes_per_event_all_columns=table.nbytes / table.num_rows, batch_rows=common.BATCH)


def test_pack_parquet(benchmark: Any, pack: Any, log_files: dict[str, Any], pack_run: PackRun,
                      budget: float, n_events: int) -> None:
    import tosengine

    path = str(log_files["parquet"])

    def check(vs: list[Any]) -> None:
        assert answer_of(vs) == pack_run.answer

    common.measure(benchmark, lambda: tosengine.evaluate(pack, path), check=check, budget=budget,
                   estimate=pack_run.seconds, events=n_events, file_bytes=os.path.getsize(path))


@pytest.mark.parametrize("rule", RULE_NAMES)
def test_rule_alone(benchmark: Any, rule: str, table: pa.Table, pack_run: PackRun, budget: float,
                    n_events: int) -> None:
    import time

    import tosengine

    r = PROGRAM.rule(rule)
    rs = tosengine.compile(ir.Program(PROGRAM.schema, (r,)))
    warm = table.slice(0, max(table.num_rows // 20, 1))
    run_pack(rs, warm)  # loads (or compiles) the kernels
    t0 = time.perf_counter()
    run_pack(rs, warm)
    estimate = (time.perf_counter() - t0) * 20
    want = frozenset(a for a in pack_run.answer if a[0] == rule)

    def check(vs: list[Any]) -> None:
        assert answer_of(vs) == want

    common.measure(benchmark, lambda: run_pack(rs, table), check=check, budget=budget, estimate=estimate,
                   events=n_events, rule=rule, kind=rule_kind(r), violations=len(want))


@pytest.fixture(scope="module")
def duck(table: pa.Table) -> Any:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads=1").fetchall()
    assert con.execute("SELECT current_setting('threads')").fetchall()[0][0] == 1
    con.register("ev", table)
    yield con
    con.close()


@pytest.fixture(scope="module")
def polars_frame(table: pa.Table) -> Any:
    import polars as pl

    return pl.from_arrow(table)


def _windows_check(q: Any, pack_run: PackRun):  # type: ignore[no-untyped-def]
    want = pack_run.windows[q.name]

    def check(rows: list[tuple]) -> None:
        got = q.windows(rows)
        assert got == want, f"{q.name}: only SQL {sorted(got - want)[:5]}, only tosengine {sorted(want - got)[:5]}"

    return check


@pytest.mark.parametrize("rule", QUERY_NAMES)
def test_duckdb(benchmark: Any, rule: str, duck: Any, pack_run: PackRun, budget: float, n_events: int) -> None:
    q = next(q for q in QUERIES if q.name == rule)
    common.measure(benchmark, lambda: q.run_duckdb(duck), check=_windows_check(q, pack_run), budget=budget,
                   events=n_events, rule=rule, kind=q.kind, sql=q.sql(), violations=len(pack_run.windows[rule]))


def test_polars_from_arrow(benchmark: Any, table: pa.Table, budget: float, n_events: int) -> None:
    """The one-off conversion of the Arrow table to a Polars frame (not counted in the queries)."""
    import polars as pl

    def check(df: Any) -> None:
        assert df.height == table.num_rows

    assert pl.thread_pool_size() == int(os.environ["POLARS_MAX_THREADS"])
    common.measure(benchmark, lambda: pl.from_arrow(table), check=check, budget=budget, events=n_events)


#: Exploded rows above which a Polars query is not run: at 10M events the 24-window
#: sliding queries (240M rows, several holding a near-unique string) exhausted 24 GB
#: with either engine and the kernel killed the whole benchmark process.
POLARS_MAX_ROWS = int(os.environ.get("TOSENGINE_BENCH_POLARS_MAX_ROWS", 100_000_000))


@pytest.mark.parametrize("rule", QUERY_NAMES)
def test_polars(benchmark: Any, rule: str, polars_frame: Any, pack_run: PackRun, budget: float,
                n_events: int) -> None:
    import polars as pl

    q = next(q for q in QUERIES if q.name == rule)
    rows = n_events * q.rows_per_event
    if rows > POLARS_MAX_ROWS:
        pytest.skip(f"explodes to {rows:,} rows, above TOSENGINE_BENCH_POLARS_MAX_ROWS={POLARS_MAX_ROWS:,} "
                    "(out of memory on a 24 GB machine)")
    common.measure(benchmark, lambda: q.run_polars(pl, polars_frame), check=_windows_check(q, pack_run),
                   budget=budget, events=n_events, rule=rule, kind=q.kind,
                   plan=q.polars(pl, polars_frame.lazy()).explain(), violations=len(pack_run.windows[rule]))


def test_every_windowed_rule_is_translated() -> None:
    assert UNTRANSLATED == [], f"windowed rules without a SQL/Polars translation: {UNTRANSLATED}"
