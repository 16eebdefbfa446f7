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

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
