"""6. Scaling: events/s as rules grow 1 → 10 → 50 (one fused pass), and as keys grow 1k → 1M.

* ``test_rules[R]``: R variants of one tumbling count/sum/fraction rule
  (keys cycling over account_id, api_key_id, org_id, ip, model; thresholds
  and windows varied so that no two rules are equal) over the generated log
  (at most 1M events), in 100k batches.
* ``test_keys[K]``: one tumbling rule (``per account_id window 1h``,
  ``count()`` and ``sum(output_tokens)``) over 1M synthetic events spread over
  two days with K distinct keys drawn uniformly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from benchmarks import common
from benchmarks.common import answer_of, run_pack

RULE_COUNTS = [1, 10, 50]
KEY_COUNTS = [1_000, 10_000, 100_000, 1_000_000]
KEY_EVENTS = 1_000_000
SCALE_EVENTS = 1_000_000
KEYS = ["account_id", "api_key_id", "org_id", "ip", "model"]
WINDOWS = ["1h", "30m", "2h", "10m", "6h"]


def variant(i: int) -> str:
    key = KEYS[i % len(KEYS)]
    window = WINDOWS[(i // len(KEYS)) % len(WINDOWS)]
    return (f"rule scale_{i:02d} {{\n"
            f'  title "scaling variant {i}"\n'
            f"  per {key}\n  window {window}\n  where status == 200 or status == 429\n"
            f"  let requests = count()\n  let tokens = sum(output_tokens)\n"
            f"  let rejected_share = fraction(status == 429)\n"
            f"  when requests > {500 + 7 * i} and rejected_share > {50 + i % 40}%\n"
            f"  cooldown 1h\n}}\n")


def variants(count: int) -> str:
    return "\n".join(variant(i) for i in range(count))


@pytest.fixture(scope="module")
def scale_table(table: pa.Table) -> pa.Table:
    return table.slice(0, min(SCALE_EVENTS, table.num_rows))


def _warm_estimate(rs: Any, t: pa.Table) -> float:
    import time

    part = t.slice(0, max(t.num_rows // 20, 1))
    run_pack(rs, part)  # loads (or compiles) the kernels
    t0 = time.perf_counter()
    run_pack(rs, part)
    return (time.perf_counter() - t0) * 20


@pytest.mark.parametrize("rules", RULE_COUNTS)
def test_rules(benchmark: Any, rules: int, scale_table: pa.Table, budget: float) -> None:
    import tosengine

    rs = tosengine.compile(variants(rules))
    assert len(rs.rules) == rules
    estimate = _warm_estimate(rs, scale_table)
    first = answer_of(run_pack(rs, scale_table))

    def check(vs: list[Any]) -> None:
        assert answer_of(vs) == first

    common.measure(benchmark, lambda: run_pack(rs, scale_table), check=check, budget=budget,
                   estimate=estimate, events=scale_table.num_rows, rules=rules, violations=len(first),
                   text=variant(0))


def key_table(keys: int, events: int = KEY_EVENTS) -> pa.Table:
    import pyarrow.compute as pc

    from tosengine.generator import ARROW_SCHEMA, DEFAULT_START_MS

    rng = np.random.default_rng(keys)
    ts = np.sort(DEFAULT_START_MS + rng.integers(0, 2 * 86_400_000, events))
    k = rng.integers(0, keys, events)
    cols = {}
    for f in ARROW_SCHEMA:
        if f.name == "ts":
            cols[f.name] = pa.array(ts, pa.int64()).cast(f.type)
        elif f.name == "account_id":
            cols[f.name] = pc.binary_join_element_wise(pa.scalar("acct-"), pc.cast(pa.array(k), pa.string()), "")
        elif f.name == "output_tokens":
            cols[f.name] = pa.array(rng.integers(1, 1000, events))
        else:
            cols[f.name] = pa.nulls(events, f.type)
    return common.rechunk(pa.table(cols, schema=ARROW_SCHEMA), common.BATCH)


KEY_RULE = """
rule keys_probe {
  title  "keys scaling"
  per    account_id
  window 1h
  let requests = count()
  let tokens   = sum(output_tokens)
  when   requests >= 8 and tokens >= 0
}
"""
KEY_THRESHOLD = 8


def busy_windows(t: pa.Table) -> int:
    """(key, hour) windows holding at least KEY_THRESHOLD events, counted with numpy."""
    import pyarrow.compute as pc

    keys = pc.dictionary_encode(t.column("account_id")).combine_chunks().indices.to_numpy()
    hours = pc.cast(t.column("ts"), pa.int64()).to_numpy() // 3_600_000
    _, counts = np.unique(keys.astype(np.int64) * (1 << 32) + (hours - hours.min()), return_counts=True)
    return int((counts >= KEY_THRESHOLD).sum())


@pytest.mark.parametrize("keys", KEY_COUNTS)
def test_keys(benchmark: Any, keys: int, budget: float) -> None:
    import tosengine

    t = key_table(keys)
    rs = tosengine.compile(KEY_RULE)
    estimate = _warm_estimate(rs, t)

    want = busy_windows(t)

    def check(vs: list[Any]) -> None:
        assert len(vs) == want

    common.measure(benchmark, lambda: run_pack(rs, t), check=check, budget=budget, estimate=estimate,
                   events=t.num_rows, keys=keys, violations=want)
