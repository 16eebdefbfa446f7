"""``tosengine generate``: the log in each format, its ground truth, usage errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tosengine.cli import app
from tosengine.generator import MIN_EVENTS, generate

N = MIN_EVENTS  # the smallest log that holds every planted violator


def run(*args: object):
    return CliRunner().invoke(app, ["generate", *map(str, args)])


@pytest.fixture(scope="module")
def reference():
    return generate(N, 7)


def test_parquet_log_and_truth(tmp_path: Path, reference) -> None:
    out = tmp_path / "log.parquet"
    result = run("--events", N, "--seed", 7, "-o", out)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == N
    assert table.equals(reference.table)
    truth = json.loads(Path(f"{out}.truth.json").read_text())
    assert truth["events"] == N
    assert [v["key"] for v in truth["violators"]] == [v.key for v in reference.truth]
    assert f"wrote {N:,} events to {out}" in result.stdout


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_json_lines_logs(tmp_path: Path, suffix: str, reference) -> None:
    out = tmp_path / f"log{suffix}"
    assert run("--events", N, "--seed", 7, "--output", out).exit_code == 0
    data = out.read_bytes()
    if suffix.endswith(".gz"):
        data = gzip.decompress(data)
    rows = data.splitlines()
    assert len(rows) == N
    first = json.loads(rows[0])
    assert first["request_id"] == reference.table.column("request_id")[0].as_py()
    assert Path(f"{out}.truth.json").exists()


def test_same_seed_same_log_other_seed_other_log(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    run("-n", N, "-s", 1, "-o", a)
    run("-n", N, "-s", 1, "-o", b)
    run("-n", N, "-s", 2, "-o", c)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


@pytest.mark.parametrize("args, message", [
    (["--events", N, "-o", "{tmp}/log.csv"], "must end in"),
    (["--events", N - 1, "-o", "{tmp}/log.parquet"], f"at least {MIN_EVENTS:,}"),
    (["--events", N, "-o", "{tmp}/no/such/log.parquet"], "no such folder"),
    (["--events", N, "--days", 0.01, "-o", "{tmp}/log.parquet"], "at least one hour"),
])
def test_usage_errors(tmp_path: Path, args: list, message: str) -> None:
    result = run(*[str(a).format(tmp=tmp_path) for a in args])
    assert result.exit_code == 2
    assert message in result.stderr
