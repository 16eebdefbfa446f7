"""The shipped pack end to end: a JSONL file through ``tosengine.evaluate`` gives the
same violations as an Arrow table streamed through ``RuleSet.stream()`` in any batch size."""

from __future__ import annotations

from pathlib import Path

import pytest

import tosengine
from tosengine.generator import MIN_EVENTS, generate, write_log

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_pack_on_a_jsonl_file_equals_the_stream_in_any_batch_size(tmp_path: Path) -> None:
    log = generate(MIN_EVENTS, seed=7)
    path = tmp_path / "usage.jsonl"
    write_log(log, path)
    rules = tosengine.compile(ROOT / "rules")

    whole = [v.to_dict() for v in tosengine.evaluate(str(ROOT / "rules"), str(path))]
    assert whole, "the planted violators must produce violations"
    assert {v["rule"] for v in whole} == {r.name for r in rules.rules}

    table = log.table
    for size in (4_999, 40_000):
        ev = rules.stream()
        got = []
        for start in range(0, table.num_rows, size):
            got += [v.to_dict() for v in ev.feed(table.slice(start, size))]
        got += [v.to_dict() for v in ev.flush()]
        assert got == whole, f"batch size {size}"
