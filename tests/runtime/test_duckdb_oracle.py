"""DuckDB as an independent oracle for windowed aggregates on 120,000 generated events.

Every window of every key is reported (``when requests >= 1``), so each
aggregate value of every (key, window) is compared with DuckDB's answer to the
equivalent SQL, for a tumbling and a sliding window; a second pair of rules
with real thresholds compares the set of firing windows with a ``HAVING``.
"""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import tosengine

H = 3_600_000
N = 120_000


@pytest.fixture(scope="module")
def events() -> pa.Table:
    rng = np.random.default_rng(7)
    ts = np.sort(rng.integers(1_767_571_200_000, 1_767_571_200_000 + 3 * 24 * H, N))
    ts[1000:1010] = ts[1000]  # ties
    ts[2000:2005] = (ts[2000] // H + 1) * H  # exactly on a window boundary
    ts.sort()  # in order: with no allowed lateness an earlier time would be late

    def nulls(p: float) -> np.ndarray:
        return rng.random(N) < p

    orgs = np.array([f"org-{i}" for i in range(40)], dtype=object)[
        np.minimum(rng.zipf(1.6, N) - 1, 39)]
    orgs[nulls(0.01)] = None
    accounts = np.array([f"acct-{i}" for i in range(500)], dtype=object)[rng.integers(0, 500, N)]
    tokens = rng.integers(1, 2000, N).astype(object)
    tokens[nulls(0.02)] = None
    temperature = (rng.integers(0, 9, N) * 0.25).astype(object)
    temperature[nulls(0.05)] = None
    logprobs = (rng.random(N) < 0.2).astype(object)
    logprobs[nulls(0.03)] = None
    prompts = np.array([f"p{i:05d}" for i in range(2000)], dtype=object)[rng.integers(0, 2000, N)]
    prompts[nulls(0.01)] = None
    endpoint = np.where(rng.random(N) < 0.9, "chat.completions", "embeddings")
    status = np.where(rng.random(N) < 0.03, 429, 200)
    return pa.table({
        "ts": pa.array(ts, pa.int64()),
        "org_id": pa.array(orgs, pa.string()),
        "account_id": pa.array(accounts, pa.string()),
        "input_tokens": pa.array(tokens, pa.int64()),
        "temperature": pa.array(temperature, pa.float64()),
        "logprobs": pa.array(logprobs, pa.bool_()),
        "prompt_hash": pa.array(prompts, pa.string()),
        "endpoint": pa.array(endpoint, pa.string()),
        "status": pa.array(status, pa.int64()),
    })


AGGREGATES = """
  let requests = count()
  let tokens   = sum(input_tokens)
  let mean_tok = avg(input_tokens)
  let temp_sd  = stddev(temperature)
  let prompts  = distinct(prompt_hash)
  let lp       = fraction(logprobs)
  let limited  = count(status == 429)
"""

SQL_AGGREGATES = """
  count(*) AS requests,
  sum(input_tokens) AS tokens,
  avg(input_tokens) AS mean_tok,
  stddev_pop(temperature) AS temp_sd,
  count(DISTINCT prompt_hash) AS prompts,
  sum(CASE WHEN logprobs THEN 1 ELSE 0 END) / count(*) AS lp,
  sum(CASE WHEN status = 429 THEN 1 ELSE 0 END) AS limited
"""


def rules(when_tumbling: str, when_sliding: str) -> str:
    return f"""
rule hourly {{
  title  "every org and hour"
  per    org_id
  window 1h
  where  endpoint == "chat.completions"
{AGGREGATES}
  when   {when_tumbling}
}}

rule six_hours {{
  title  "every account, 6h every 1h"
  per    account_id
  window 6h every 1h
{AGGREGATES}
  when   {when_sliding}
}}
"""


def sql_tumbling(having: str) -> str:
    return f"""
SELECT org_id AS key, (ts // {H}) * {H} AS window_start, {SQL_AGGREGATES}
FROM ev WHERE endpoint = 'chat.completions'
GROUP BY org_id, ts // {H} HAVING {having}"""


def sql_sliding(having: str) -> str:
    return f"""
WITH x AS (SELECT *, ts // {H} AS pane FROM ev),
     y AS (SELECT x.*, pane - o AS w FROM x, range(0, 6) t(o))
SELECT account_id AS key, w * {H} AS window_start, {SQL_AGGREGATES}
FROM y GROUP BY account_id, w HAVING {having}"""


def _ms(text: str) -> int:
    from tosengine.runtime.timeparse import parse_rfc3339

    ms = parse_rfc3339(text)
    assert ms is not None
    return ms


def engine_rows(violations, rule: str) -> dict[tuple, dict]:
    out = {}
    for v in violations:
        if v.rule == rule:
            key = (next(iter(v.key.values())), _ms(v.window_start))
            assert key not in out
            out[key] = v.values
    return out


def sql_rows(con, sql: str) -> dict[tuple, dict]:
    rel = con.sql(sql)
    cols = rel.columns
    return {(r[0], r[1]): dict(zip(cols[2:], r[2:])) for r in rel.fetchall()}


def assert_same(engine: dict, sql: dict) -> None:
    assert engine.keys() == sql.keys()
    for k, want in sql.items():
        got = engine[k]
        for name, w in want.items():
            g = got[name]
            if w is None or g is None:
                assert g is None and w is None, (k, name, g, w)
            elif isinstance(w, float) or isinstance(g, float):
                assert math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-9), (k, name, g, w)
            else:
                assert g == w, (k, name, g, w)


@pytest.fixture(scope="module")
def con(events):
    c = duckdb.connect()
    c.execute("SET threads = 1")
    c.register("ev", events)
    return c


def test_every_window_matches_duckdb(events, con):
    violations = tosengine.evaluate(rules("requests >= 1", "requests >= 1"), events)
    tumbling = engine_rows(violations, "hourly")
    sliding = engine_rows(violations, "six_hours")
    assert len(tumbling) > 1000 and len(sliding) > 10_000
    assert_same(tumbling, sql_rows(con, sql_tumbling("count(*) >= 1")))
    assert_same(sliding, sql_rows(con, sql_sliding("count(*) >= 1")))


def test_thresholds_match_duckdb_having(events, con):
    violations = tosengine.evaluate(
        rules("requests > 150 and prompts / requests > 90% and lp >= 0.15",
              "limited >= 4 or temp_sd > 0.77"),
        events,
    )
    tumbling = engine_rows(violations, "hourly")
    sliding = engine_rows(violations, "six_hours")
    want_t = sql_rows(con, sql_tumbling(
        "count(*) > 150 AND count(DISTINCT prompt_hash) / count(*) > 0.9 "
        "AND sum(CASE WHEN logprobs THEN 1 ELSE 0 END) / count(*) >= 0.15"))
    want_s = sql_rows(con, sql_sliding(
        "sum(CASE WHEN status = 429 THEN 1 ELSE 0 END) >= 4 OR stddev_pop(temperature) > 0.77"))
    assert 0 < len(want_t) < 2000 and 0 < len(want_s)
    assert_same(tumbling, want_t)
    assert_same(sliding, want_s)


def test_batch_sizes_do_not_change_the_answer(events):
    text = rules("requests >= 1", "requests >= 1")
    whole = tosengine.evaluate(text, events)
    rs = tosengine.compile(text)
    for size in (997, 10_000):
        ev = rs.stream()
        got = []
        for b in events.to_batches(max_chunksize=size):
            got += ev.feed(b)
        got += ev.flush()
        assert sorted(v.to_json() for v in got) == sorted(v.to_json() for v in whole)
