"""2. JSONL end to end: file to violations, against plain readers of the same file.

* ``test_jsonl_tosengine``: ``tosengine.evaluate(rules, "log.jsonl")``, the
  whole pack, file to sorted violations (answers equal to the Arrow run's).
* ``test_jsonl_tosengine_two_cores``: the same with ``threads=2``: a second
  thread reads and parses the next batch while the pack evaluates one (the only
  benchmark allowed two threads; every library pool stays at one thread, and
  ``pyarrow.json`` is called with ``use_threads=False`` either way).
* ``test_jsonl_orjson_loop``: ``for line in file: orjson.loads(line)``.
* ``test_jsonl_pyarrow``: ``pyarrow.json.read_json`` (``use_threads=False``,
  the generator's explicit schema) to an Arrow table.
* ``test_jsonl_polars``: ``polars.read_ndjson`` (``POLARS_MAX_THREADS=1``,
  inferred schema) to a DataFrame.
* ``test_jsonl_duckdb``: DuckDB ``read_json`` (``threads=1``, inferred
  schema) materialised into a temporary table: every column parsed.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from benchmarks import common
from benchmarks.common import PackRun, answer_of


@pytest.fixture(scope="module")
def jsonl(log_files: dict[str, Any]) -> str:
    return str(log_files["jsonl"])


def _info(path: str) -> dict[str, Any]:
    return {"file_bytes": os.path.getsize(path)}


def test_jsonl_tosengine(benchmark: Any, pack: Any, jsonl: str, pack_run: PackRun, budget: float,
                         n_events: int) -> None:
    import tosengine

    def check(vs: list[Any]) -> None:
        assert answer_of(vs) == pack_run.answer

    common.measure(benchmark, lambda: tosengine.evaluate(pack, jsonl), check=check, budget=budget,
                   events=n_events, **_info(jsonl))


def test_jsonl_tosengine_two_cores(benchmark: Any, pack: Any, jsonl: str, pack_run: PackRun,
                                   budget: float, n_events: int) -> None:
    import tosengine
    from tosengine.runtime import readahead

    calls: list[int] = []  # the file really goes through the read-ahead thread
    real = readahead.readahead

    def spied(items: Any, depth: int = readahead.DEPTH) -> Any:
        calls.append(1)
        return real(items, depth)

    def check(vs: list[Any]) -> None:
        assert answer_of(vs) == pack_run.answer

    readahead.readahead = spied  # type: ignore[assignment]
    try:
        common.measure(benchmark, lambda: tosengine.evaluate(pack, jsonl, threads=2), check=check,
                       budget=budget, events=n_events, threads=2, **_info(jsonl))
    finally:
        readahead.readahead = real  # type: ignore[assignment]
    assert calls, "threads=2 did not read ahead in a second thread"


def test_jsonl_orjson_loop(benchmark: Any, jsonl: str, budget: float, n_events: int) -> None:
    import orjson

    def loop() -> int:
        n = 0
        loads = orjson.loads
        with open(jsonl, "rb") as fh:
            for line in fh:
                loads(line)
                n += 1
        return n

    def check(n: int) -> None:
        assert n == n_events

    common.measure(benchmark, loop, check=check, budget=budget, events=n_events, **_info(jsonl))


def test_jsonl_pyarrow(benchmark: Any, jsonl: str, budget: float, n_events: int) -> None:
    import pyarrow.json as pj

    from tosengine.generator import ARROW_SCHEMA

    def read() -> int:
        return pj.read_json(jsonl, read_options=pj.ReadOptions(use_threads=False),
                            parse_options=pj.ParseOptions(explicit_schema=ARROW_SCHEMA)).num_rows

    def check(n: int) -> None:
        assert n == n_events

    common.measure(benchmark, read, check=check, budget=budget, events=n_events, **_info(jsonl))


def test_jsonl_polars(benchmark: Any, jsonl: str, budget: float, n_events: int) -> None:
    import polars as pl

    assert pl.thread_pool_size() == int(os.environ["POLARS_MAX_THREADS"])

    def check(n: int) -> None:
        assert n == n_events

    common.measure(benchmark, lambda: pl.read_ndjson(jsonl).height, check=check, budget=budget,
                   events=n_events, **_info(jsonl))


def test_jsonl_duckdb(benchmark: Any, jsonl: str, budget: float, n_events: int) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads=1").fetchall()
    path = jsonl.replace("'", "''")

    def read() -> int:
        con.execute(f"CREATE OR REPLACE TEMP TABLE j AS SELECT * FROM read_json('{path}', "
                    "format='newline_delimited')").fetchall()
        n = con.execute("SELECT count(*) FROM j").fetchall()[0][0]
        con.execute("DROP TABLE j").fetchall()
        return n

    def check(n: int) -> None:
        assert n == n_events

    common.measure(benchmark, read, check=check, budget=budget, events=n_events, **_info(jsonl))
    con.close()
