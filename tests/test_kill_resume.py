"""Kill ``tosengine run --state`` with SIGKILL at random points, resume, and get the same output.

A generated log of 1,000,000 events is evaluated once without interruption.
Then the same run with ``--state`` is killed several times — once while it is
writing a checkpoint (a test hook makes the write pause halfway; the previous
checkpoint must survive), the others at random moments after a checkpoint —
and restarted each time with the same command. The final
violations file must equal the uninterrupted one byte for byte after sorting
its lines: nothing lost, nothing doubled.
"""

from __future__ import annotations

import gzip
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tosengine.cli import app
from tosengine.cli import resume as resume_module
from tosengine.generator import generate, write_log
from tosengine.runtime.checkpoint import SLOW_WRITE_ENV

PACK = Path(__file__).resolve().parents[1] / "tosengine" / "rules"
EVENTS = 1_000_000
KILLS = 4  # the second during a checkpoint write


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from tosengine.cli import main; main()", *args]


def _wait(pred, proc: subprocess.Popen, timeout: float = 120) -> bool:
    """Wait until ``pred()``; False if the process ended first."""
    deadline = time.monotonic() + timeout
    while not pred():
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.02)
    return True


@pytest.mark.slow
def test_sigkill_and_resume_gives_the_uninterrupted_output(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    for name in ("key_sharing.tos", "scraping.tos", "multi_account.tos"):
        shutil.copy(PACK / name, rules / name)
    shutil.copytree(PACK / "lists", rules / "lists")
    log = tmp_path / "log.jsonl"
    write_log(generate(EVENTS, seed=7), log)

    ref = tmp_path / "ref.jsonl"
    base = ["run", str(rules), str(log), "-f", "jsonl", "--no-progress", "--exit-zero"]
    subprocess.run(_cli(*base, "-o", str(ref)), check=True, capture_output=True, timeout=300)
    want = sorted(ref.read_bytes().splitlines())
    assert len(want) >= 5

    out, state, dead = tmp_path / "out.jsonl", tmp_path / "state", tmp_path / "dead.jsonl"
    cmd = _cli(*base, "-o", str(out), "--dead-letter", str(dead), "--state", str(state),
               "--checkpoint-every", "100000", "--batch-size", "16384")
    ckpt = state / "checkpoint"
    rng = random.Random(int(os.environ.get("TOSENGINE_KILL_SEED", "0")) or None)
    kills = resumed = 0
    for attempt in range(KILLS + 1):
        resumed += ckpt.exists()
        env = dict(os.environ)
        if attempt == 1:
            env[SLOW_WRITE_ENV] = "30"  # every checkpoint write pauses halfway
            previous = ckpt.read_bytes()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        if attempt < KILLS:
            if attempt == 1:  # mid-write: the temporary file exists, the rename has not happened
                alive = _wait(lambda: any(state.glob(".checkpoint.*.tmp")), proc)
            else:
                before = ckpt.stat().st_mtime_ns if ckpt.exists() else 0
                alive = _wait(lambda: ckpt.exists() and ckpt.stat().st_mtime_ns != before, proc)
                time.sleep(rng.uniform(0, 1.5))
            if alive and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
        _, err = proc.communicate(timeout=300)
        if attempt == 1:
            assert ckpt.read_bytes() == previous  # the interrupted write changed nothing
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, err.decode()
    assert proc.returncode == 0, err.decode()
    assert kills == KILLS and resumed == KILLS
    assert not ckpt.exists()  # removed once the run completed
    assert sorted(out.read_bytes().splitlines()) == want
    assert dead.read_bytes() == b""


# -- in-process: several inputs of every kind, stdin, usage errors ---------------------

RULES = """
rule busy_key {
  title    "busy key"
  clause   "1"
  severity low
  action   log
  per      api_key_id
  window   1m every 20s
  let calls = count()
  let ips   = distinct(ip)
  when     calls >= 3
  cooldown 1m
  message  "{api_key_id}: {calls} calls from {ips} ips"
}
"""


class Crash(Exception):
    """Stands for the process dying right after a checkpoint."""


def _inputs(tmp_path: Path) -> list[Path]:
    t0 = 1_700_000_000_000
    rows = [{"ts": t0 + 450 * i, "api_key_id": f"k{i % 7}", "ip": f"10.0.0.{i % 5}"}
            for i in range(3000)]
    lines = [orjson_line(r) for r in rows]
    lines[100] = b"{not json"
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz", tmp_path / "c.parquet"
    a.write_bytes(b"".join(lines[:1000]))
    b.write_bytes(gzip.compress(b"".join(lines[1000:2000])))
    pq.write_table(pa.Table.from_pylist(rows[2000:]), c, row_group_size=100)
    return [a, b, c]


def orjson_line(r: dict) -> bytes:
    return orjson.dumps(r) + b"\n"


def _run(args: list) -> object:
    return CliRunner().invoke(app, ["run", *map(str, args)])


@pytest.mark.parametrize("crash_after", [1, 4, 8])
def test_resume_across_jsonl_gzip_and_parquet_inputs(tmp_path, monkeypatch, crash_after):
    """Crash right after checkpoint 1 (in the JSON Lines file), 4 (gzip) or 8 (Parquet)."""
    rules = tmp_path / "r.tos"
    rules.write_text(RULES)
    inputs = _inputs(tmp_path)
    ref, ref_dead = tmp_path / "ref.jsonl", tmp_path / "ref-dead.jsonl"
    common = [rules, *inputs, "-f", "jsonl", "--no-progress", "--batch-size", 256]
    assert _run([*common, "-o", ref, "--dead-letter", ref_dead]).exit_code == 1
    out, dead, state = tmp_path / "out.jsonl", tmp_path / "dead.jsonl", tmp_path / "st"
    args = [*common, "-o", out, "--dead-letter", dead, "--state", state,
            "--checkpoint-every", 256]
    saved = {"n": 0}
    real_save = resume_module.Resume.save

    def save_then_crash(self, session):
        real_save(self, session)
        saved["n"] += 1
        if saved["n"] == crash_after:
            session.writer.write(session.evaluator.flush())  # output past the checkpoint
            raise Crash

    monkeypatch.setattr(resume_module.Resume, "save", save_then_crash)
    crashed = _run(args)
    assert isinstance(crashed.exception, Crash)
    position = resume_module.load_checkpoint(state / "checkpoint").position
    assert position["index"] == {1: 0, 4: 1, 8: 2}[crash_after]
    monkeypatch.setattr(resume_module.Resume, "save", real_save)
    resumed = _run(args)
    assert resumed.exit_code == 1, resumed.output
    assert out.read_bytes() == ref.read_bytes()
    assert dead.read_bytes() == ref_dead.read_bytes()
    assert not (state / "checkpoint").exists()


def test_state_usage_errors(tmp_path):
    rules = tmp_path / "r.tos"
    rules.write_text(RULES)
    inputs = _inputs(tmp_path)
    res = _run([rules, inputs[0], "--state", tmp_path / "st"])  # table format
    assert res.exit_code == 2 and "--state needs --format jsonl" in res.output
    state = tmp_path / "st"
    state.mkdir()
    (state / "checkpoint").write_bytes(b"garbage")
    res = _run([rules, inputs[0], "-f", "jsonl", "-o", tmp_path / "o.jsonl", "--state", state])
    assert res.exit_code == 2 and "not a tosengine checkpoint" in res.output


def test_state_of_other_inputs_or_rules_is_refused(tmp_path, monkeypatch):
    rules = tmp_path / "r.tos"
    rules.write_text(RULES)
    inputs = _inputs(tmp_path)
    out, state = tmp_path / "o.jsonl", tmp_path / "st"

    def crash(self, session):
        resume_module.save_checkpoint(session.evaluator, self.path, position={
            "inputs": self.inputs, "index": 0, "offset": 0, "rows": 0, "output_bytes": 0,
            "dead_bytes": 0, "stats": {"sources": {}, "violations": {}, "dead_letters": {}}})
        raise Crash

    monkeypatch.setattr(resume_module.Resume, "save", crash)
    _run([rules, inputs[0], "-f", "jsonl", "-o", out, "--state", state, "--checkpoint-every", 1])
    res = _run([rules, inputs[1], "-f", "jsonl", "-o", out, "--state", state])
    assert res.exit_code == 2 and "other inputs" in res.output
    res = _run([rules, inputs[0], "-f", "jsonl", "-o", out, "--state", state,
                "--allowed-lateness", "5s"])
    assert res.exit_code == 2 and "--allowed-lateness 0ms, not 5000ms" in res.output
    rules.write_text(RULES.replace("calls >= 3", "calls >= 4"))
    res = _run([rules, inputs[0], "-f", "jsonl", "-o", out, "--state", state])
    assert res.exit_code == 2 and "different rules" in res.output


def test_max_keys_stops_with_exit_4_after_writing_the_batch(tmp_path):
    rules = tmp_path / "r.tos"
    rules.write_text(RULES)
    inputs = _inputs(tmp_path)
    out = tmp_path / "o.jsonl"
    ok = _run([rules, inputs[0], "-f", "jsonl", "-o", out, "--max-keys", 7, "--no-progress"])
    assert ok.exit_code == 1  # 7 keys: within the cap
    res = _run([rules, inputs[0], "-f", "jsonl", "-o", out, "--max-keys", 6, "--no-progress",
                "--batch-size", 500])
    assert res.exit_code == 4 and "more than max_keys=6" in res.output


def test_resume_of_a_replayed_stdin(tmp_path, monkeypatch):
    """stdin resumes by skipping the bytes already consumed of the same stream, replayed."""
    rules = tmp_path / "r.tos"
    rules.write_text(RULES)
    data = (tmp_path / "a.jsonl")
    data.write_bytes(b"".join(orjson_line({"ts": 1_700_000_000_000 + 450 * i,
                                           "api_key_id": f"k{i % 7}", "ip": f"10.0.0.{i % 5}"})
                              for i in range(3000)))
    ref, out, state = tmp_path / "ref.jsonl", tmp_path / "out.jsonl", tmp_path / "st"
    common = [rules, "-", "-f", "jsonl", "--no-progress", "--batch-size", 256]
    invoke = lambda args: CliRunner().invoke(app, ["run", *map(str, args)],  # noqa: E731
                                             input=data.read_bytes())
    assert invoke([*common, "-o", ref]).exit_code == 1
    real_save = resume_module.Resume.save

    def save_then_crash(self, session):
        real_save(self, session)
        raise Crash

    monkeypatch.setattr(resume_module.Resume, "save", save_then_crash)
    args = [*common, "-o", out, "--state", state, "--checkpoint-every", 1000]
    assert isinstance(invoke(args).exception, Crash)
    assert resume_module.load_checkpoint(state / "checkpoint").position["offset"] > 0
    monkeypatch.setattr(resume_module.Resume, "save", real_save)
    assert invoke(args).exit_code == 1
    assert out.read_bytes() == ref.read_bytes()
