"""Probe run in a fresh process by ``test_memory.py``: resident memory per active key of a windowed rule.

``python -m benchmarks.probe_memory KIND KEYS [EVENTS_PER_KEY]`` builds a log of
KEYS distinct ``account_id`` values with EVENTS_PER_KEY events each, all in
the first hour of one day (so every key has open windows when the input ends;
nothing is flushed), and feeds it in 100k-event batches to one rule:

* ``tumbling``: ``window 24h``, ``count()`` and ``sum(output_tokens)``;
* ``sliding``: the same over ``window 24h every 1h`` (each key in 24 open windows);
* ``distinct``: ``window 24h``, ``distinct(ip)`` (EVENTS_PER_KEY distinct addresses per key);
* ``sliding_distinct``: ``distinct(ip)`` over ``window 24h every 1h``.

The kernels are loaded and the log built before the baseline is taken; the
peak (``VmHWM``, reset through ``/proc/self/clear_refs``) minus the baseline
``VmRSS``, divided by KEYS, is the peak bytes per active key. Prints one JSON line.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import time

RULES = {
    "tumbling": ("24h", "let requests = count()\n  let tokens = sum(output_tokens)", "requests"),
    "sliding": ("24h every 1h", "let requests = count()\n  let tokens = sum(output_tokens)", "requests"),
    "distinct": ("24h", "let ips = distinct(ip)", "ips"),
    "sliding_distinct": ("24h every 1h", "let ips = distinct(ip)", "ips"),
}
DAY_MS = 86_400_000
START_MS = 1_767_571_200_000  # 2026-01-05T00:00:00Z


def rule_text(kind: str) -> str:
    window, lets, name = RULES[kind]
    return (f'rule memory_probe {{\n  title "memory probe"\n  per account_id\n  window {window}\n'
            f"  {lets}\n  when {name} > 1_000_000_000\n}}\n")


def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def build(keys: int, per_key: int, prefix: str = "acct-") -> object:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from tosengine.generator import ARROW_SCHEMA

    n = keys * per_key
    k = np.repeat(np.arange(keys, dtype=np.int64), per_key)
    rng = np.random.default_rng(0)
    order = np.argsort(rng.random(n), kind="stable")  # keys interleaved, as in real traffic
    k = k[order]
    ts = np.sort(START_MS + rng.integers(0, 3_600_000, n))
    ids = pc.binary_join_element_wise(pa.scalar(prefix), pc.cast(pa.array(k), pa.string()), "")
    ip = pc.binary_join_element_wise("10.", pc.cast(pa.array(k % 65536), pa.string()), ".",
                                     pc.cast(pa.array(np.arange(n) % 256), pa.string()), "")
    cols = {}
    for f in ARROW_SCHEMA:
        if f.name == "ts":
            cols[f.name] = pa.array(ts, pa.int64()).cast(f.type)
        elif f.name == "account_id":
            cols[f.name] = ids
        elif f.name == "ip":
            cols[f.name] = ip
        elif f.name == "output_tokens":
            cols[f.name] = pa.array(rng.integers(1, 1000, n))
        else:
            cols[f.name] = pa.nulls(n, f.type)
    return pa.table(cols, schema=ARROW_SCHEMA)


def main() -> None:
    kind, keys = sys.argv[1], int(sys.argv[2])
    per_key = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    import tosengine

    rs = tosengine.compile(rule_text(kind))
    warm = rs.stream()
    warm.feed(build(1000, 2, prefix="warm-"))
    warm.flush()
    del warm
    table = build(keys, per_key)
    batches = table.to_batches(max_chunksize=100_000)
    gc.collect()
    exact = _reset_peak()
    base = _status()
    maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    ev = rs.stream()
    for b in batches:
        ev.feed(b)
    dt = time.perf_counter() - t0
    active = ev.state.active_keys
    gc.collect()
    after = _status()
    peak = after["VmHWM"] if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    base_rss = base["VmRSS"] if exact else maxrss0
    print(json.dumps({
        "kind": kind, "keys": keys, "active_keys": active, "events_per_key": per_key, "events": keys * per_key,
        "rule": rule_text(kind), "baseline_rss": base_rss, "peak_rss": peak, "after_rss": after["VmRSS"],
        "peak_bytes_per_key": (peak - base_rss) / keys, "steady_bytes_per_key": (after["VmRSS"] - base_rss) / keys,
        "exact_peak": exact, "feed_s": dt, "table_bytes": table.nbytes,
    }))


if __name__ == "__main__":
    main()
