"""``tosengine demo``: every planted violator found, nothing unexplained; the truth matching itself."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from tosengine.cli import app
from tosengine.cli.demo import check_truth
from tosengine.generator import PlantedViolator, generate
from tosengine.runtime.violation import Violation

EVENTS = 100_000  # above generator.MIN_EVENTS; the planted violators are full size up to 1M


@pytest.mark.slow
def test_demo_finds_every_planted_violator() -> None:
    result = CliRunner().invoke(app, ["demo", "--events", str(EVENTS), "--seed", "3"])
    assert result.exit_code == 0, result.output
    truth = generate(EVENTS, 3).truth
    out = result.stdout
    found = re.findall(r"^  found  (\w+): (.*) \(", out, flags=re.M)
    assert len(found) == len(truth)
    assert [theme for theme, _ in found] == [p.theme for p in truth]
    assert "MISSED" not in out
    assert out.rstrip().endswith(f"{len(truth)} of {len(truth)} planted violators found; "
                                 "0 violations match no planted pattern")
    # the violations table is grouped by rule, and the summary went to stderr
    for rule in {r for p in truth for r in p.rules}:
        assert re.search(rf"^{rule}: ", out, flags=re.M), rule
    assert f"summary: {EVENTS:,} events from 1 source" in result.stderr


def _v(rule: str, **key: str) -> Violation:
    return Violation(rule=rule, title="t", clause=None, severity="high", action="review", key=key,
                     window_start=None, window_end=None, time="2026-01-05T00:00:00.000Z", values={},
                     message=None, events=1, first_seen="2026-01-05T00:00:00.000Z",
                     last_seen="2026-01-05T00:00:00.000Z", request_id=None)


def test_check_truth_matches_rule_and_shared_key_fields() -> None:
    truth = [PlantedViolator("t", ("r1", "r2"), {"org_id": "o1", "account_id": "a1"}, ""),
             PlantedViolator("u", ("r3",), {"ip": "1.2.3.4"}, "")]
    vs = [_v("r1", account_id="a1"),         # matches the first (shared field equal)
          _v("r1", account_id="a2"),         # same rule, other account: unexpected
          _v("r3", ip="1.2.3.4", model="m"),  # model is not in the truth's key: ignored
          _v("r2", org_id="o2")]              # wrong org: unexpected, and r2 is missed
    findings, unexpected = check_truth(vs, truth)
    assert [(f.found, f.missed) for f in findings] == [(("r1",), ("r2",)), (("r3",), ())]
    assert unexpected == [vs[1], vs[3]]
