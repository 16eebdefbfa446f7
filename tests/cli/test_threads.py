"""``tosengine run --threads 2``: the same output, dead letters, summary and checkpoints as one thread.

Inputs: JSON Lines with bad and late lines, gzip and Parquet, read in small
batches so that the reader runs ahead over many of them.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tosengine.cli import app
from tosengine.cli import resume as resume_module
from tosengine.runtime.readahead import THREAD_NAME
from tests.cli.test_run import RULES, T0

N = 6_000


class Crash(Exception):
    """Stands for the process dying right after a checkpoint."""


def rows() -> list[dict[str, object]]:
    """An event every 400 ms over 30 accounts; a burst of ``hot`` now and then; some from KP."""
    out = []
    for i in range(N):
        account = "hot" if i % 1_000 < 3 else f"a{i % 30}"
        out.append({"ts": T0 + 400 * i - (20_000 if i % 997 == 0 else 0), "account_id": account,
                    "country": "KP" if i % 1_201 == 0 else "US", "status": 200})
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    d = tmp_path_factory.mktemp("threads")
    rules = d / "rules.tos"
    rules.write_text(RULES)
    evs = rows()
    lines = [orjson.dumps(e) + b"\n" for e in evs]
    for at in (5, 1_500):
        lines[at] = b"{not json\n"
    lines[900] = b'{"ts": "yesterday", "account_id": "x"}\n'
    a, b, c = d / "a.jsonl", d / "b.jsonl.gz", d / "c.parquet"
    a.write_bytes(b"".join(lines[:2_000]))
    b.write_bytes(gzip.compress(b"".join(lines[2_000:4_000])))
    pq.write_table(pa.Table.from_pylist(evs[4_000:]), c, row_group_size=300)
    return rules, [a, b, c]


def run(*args: object):
    return CliRunner().invoke(app, ["run", *map(str, args)])


def without_elapsed(summary: str) -> str:
    return re.sub(r" in [\d.]+ s \([\d,]+ events/s\)", "", summary)


def test_two_threads_write_what_one_writes(inputs: tuple[Path, list[Path]], tmp_path: Path) -> None:
    rules, files = inputs
    results = {}
    for threads in (1, 2):
        dead = tmp_path / f"dead{threads}.jsonl"
        r = run(rules, *files, "-f", "jsonl", "--batch-size", 256, "--dead-letter", dead,
                "--threads", threads)
        results[threads] = (r.exit_code, r.stdout, dead.read_text(), without_elapsed(r.stderr))
    assert results[1] == results[2]
    code, out, dead_text, summary = results[2]
    assert code == 1
    assert {json.loads(line)["rule"] for line in out.splitlines()} == {"burst", "blocked_country"}
    reasons = [json.loads(line)["reason"] for line in dead_text.splitlines()]
    assert reasons.count("not_json") == 2 and reasons.count("bad_time") == 1
    assert "late" in reasons
    assert f"summary: {N:,} events from 3 sources" in summary
    assert [t for t in threading.enumerate() if t.name == THREAD_NAME] == []


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_threads_below_one_is_a_usage_error(inputs: tuple[Path, list[Path]], value: str) -> None:
    rules, files = inputs
    r = run(rules, files[0], "--threads", value)
    assert r.exit_code == 2
    assert "--threads" in r.stderr
    assert r.stdout == ""


def test_stdin_with_two_threads(inputs: tuple[Path, list[Path]]) -> None:
    rules, files = inputs
    one = run(rules, files[0], "-f", "jsonl")
    piped = CliRunner().invoke(app, ["run", str(rules), "-", "-f", "jsonl", "--threads", "2"],
                               input=files[0].read_bytes())
    assert piped.exit_code == one.exit_code == 1
    assert piped.stdout == one.stdout


def test_strict_stops_the_reader(inputs: tuple[Path, list[Path]]) -> None:
    rules, files = inputs
    r = run(rules, *files, "-f", "jsonl", "--batch-size", 64, "--strict", "--threads", 2)
    assert r.exit_code == 3
    assert f"error: {files[0]}: line 6: not_json" in r.stderr
    assert [t for t in threading.enumerate() if t.name == THREAD_NAME] == []


def test_checkpoints_and_resume_with_two_threads(inputs: tuple[Path, list[Path]], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Crash after the 4th checkpoint (in the gzip file) of a two-thread run; resume on one thread,
    and the other way round: the checkpoints are the same and the output is the uninterrupted one."""
    rules, files = inputs
    common = [rules, *files, "-f", "jsonl", "--no-progress", "--batch-size", 256]
    ref, ref_dead = tmp_path / "ref.jsonl", tmp_path / "ref-dead.jsonl"
    assert run(*common, "-o", ref, "--dead-letter", ref_dead).exit_code == 1
    real_save = resume_module.Resume.save
    positions = []
    for crashed_with, resumed_with in ((2, 1), (1, 2)):
        out, dead, state = (tmp_path / f"{crashed_with}{x}" for x in ("out.jsonl", "dead.jsonl", "st"))
        args = [*common, "-o", out, "--dead-letter", dead, "--state", state, "--checkpoint-every", 600]
        saved = {"n": 0}

        def save_then_crash(self, session):  # noqa: ANN001, ANN202
            real_save(self, session)
            saved["n"] += 1
            if saved["n"] == 4:
                raise Crash

        monkeypatch.setattr(resume_module.Resume, "save", save_then_crash)
        crashed = run(*args, "--threads", crashed_with)
        assert isinstance(crashed.exception, Crash)
        positions.append(resume_module.load_checkpoint(state / "checkpoint").position)
        monkeypatch.setattr(resume_module.Resume, "save", real_save)
        resumed = run(*args, "--threads", resumed_with)
        assert resumed.exit_code == 1, resumed.output
        assert out.read_bytes() == ref.read_bytes()
        assert dead.read_bytes() == ref_dead.read_bytes()
    assert positions[0] == positions[1]
    assert positions[0]["index"] == 1  # in the gzip file
    assert [t for t in threading.enumerate() if t.name == THREAD_NAME] == []
