"""Fixtures of the benchmarks: generated logs (cached on disk), the compiled pack, its answers.

Everyone runs on one thread: Polars (``POLARS_MAX_THREADS=1``, set before
Polars is imported), DuckDB (``SET threads=1`` in each connection), Arrow's
CPU and I/O pools, numba.
"""

from __future__ import annotations

import os

os.environ["POLARS_MAX_THREADS"] = os.environ.get("TOSENGINE_BENCH_POLARS_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import time  # noqa: E402
from typing import Any  # noqa: E402

import pyarrow as pa  # noqa: E402
import pytest  # noqa: E402

from benchmarks import common  # noqa: E402

pa.set_cpu_count(1)
pa.set_io_thread_count(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("tosengine benchmarks")
    g.addoption("--events", type=int, default=1_000_000, help="events in the generated log (default 1M)")
    g.addoption("--bench-budget", type=float, default=10.0,
                help="seconds of timed rounds per benchmark (at least one round; default 10)")


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    machine_info["tosengine_bench"] = common.machine()


@pytest.fixture(scope="session")
def n_events(request: pytest.FixtureRequest) -> int:
    return int(request.config.getoption("--events"))


@pytest.fixture(scope="session")
def budget(request: pytest.FixtureRequest) -> float:
    return float(request.config.getoption("--bench-budget"))


@pytest.fixture(scope="session")
def log_files(n_events: int) -> dict[str, Any]:
    return common.ensure_logs(n_events)


@pytest.fixture(scope="session")
def table(n_events: int, log_files: dict[str, Any]) -> pa.Table:
    """The generated log in memory, in record batches of 100k rows."""
    return common.load_table(n_events)


@pytest.fixture(scope="session")
def pack() -> Any:
    import tosengine

    return tosengine.compile(str(common.RULES))


@pytest.fixture(scope="session")
def pack_run(pack: Any, table: pa.Table) -> common.PackRun:
    """The pack over the whole table once (after a warm-up that loads the kernels): the reference answer."""
    from benchmarks.pack import engine_windows
    from benchmarks.common import PackRun, answer_of, run_pack

    run_pack(pack, table.slice(0, min(20_000, table.num_rows)))
    t0 = time.perf_counter()
    vs = run_pack(pack, table)
    dt = time.perf_counter() - t0
    return PackRun(vs, dt, engine_windows(vs, pack.program), answer_of(vs))
