"""Benchmarks of tosengine against DuckDB, Polars and plain readers (issue 5).

Not part of the default test run (``testpaths = ["tests"]``). One command runs
them all and rewrites the tables in ``docs/performance.md``::

    python -m benchmarks.run                       # 1M events
    python -m benchmarks.run --events 1000000,10000000
"""
