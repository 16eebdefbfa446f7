"""``tosengine run``: outputs, dead letters, strict mode, exit codes, several inputs, a live stdin stream."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

import tosengine
from tosengine.cli import app

RULES = """
rule burst {
  title     "Burst of requests"
  severity  high
  action    throttle
  per       account_id
  window    10s
  let requests = count()
  when      requests >= 3
  message   "{account_id}: {requests} requests"
}

rule blocked_country {
  title     "Request from a blocked country"
  severity  critical
  action    block
  when      country == "KP"
  message   "{account_id} from {country}"
}
"""

T0 = 1_767_571_200_000  # 2026-01-05T00:00:00Z


def ev(sec: float, account: str, country: str = "US") -> dict[str, object]:
    return {"ts": T0 + int(sec * 1000), "account_id": account, "country": country, "status": 200}


EVENTS = [ev(0, "a"), ev(1, "b"), ev(2, "a"), ev(3, "c", "KP"), ev(4, "a"), ev(12, "b"), ev(13, "b"),
          ev(14, "b"), ev(15, "d", "KP"), ev(25, "a")]


def lines(events: list[object]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


@pytest.fixture()
def rules(tmp_path: Path) -> Path:
    p = tmp_path / "rules.tos"
    p.write_text(RULES)
    return p


@pytest.fixture()
def log(tmp_path: Path) -> Path:
    p = tmp_path / "log.jsonl"
    p.write_bytes(lines(EVENTS))
    return p


def run(*args: object):
    return CliRunner().invoke(app, ["run", *map(str, args)])


def expected(rules: Path, *inputs: Path, **kw: object) -> list[dict]:
    return [v.to_dict() for v in tosengine.evaluate(str(rules), [str(i) for i in inputs], **kw)]


def test_jsonl_output_is_the_evaluated_violations(rules: Path, log: Path) -> None:
    result = run(rules, log, "--format", "jsonl")
    assert result.exit_code == 1, result.output
    got = [json.loads(line) for line in result.stdout.splitlines()]
    assert got == expected(rules, log)
    assert {(v["rule"], tuple(v["key"].values())) for v in got} == {
        ("burst", ("a",)), ("burst", ("b",)), ("blocked_country", ()), }
    assert len(got) == 4


def test_json_format_to_a_file(rules: Path, log: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = run(rules, log, "--format", "json", "--output", out)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert json.loads(out.read_text()) == expected(rules, log)
    dash = run(rules, log, "--format", "json", "--output", "-")
    assert json.loads(dash.stdout) == expected(rules, log)
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(lines([ev(0, "z")]))
    result = run(rules, empty, "--format", "json", "--output", out)
    assert result.exit_code == 0
    assert json.loads(out.read_text()) == []


def test_table_groups_violations_by_rule_in_rule_order(rules: Path, log: Path) -> None:
    result = run(rules, log)  # table is the default
    assert result.exit_code == 1
    text = result.stdout
    burst, blocked = text.index("burst: Burst of requests"), text.index("blocked_country: Request from a blocked")
    assert burst < blocked
    for msg in ("a: 3 requests", "b: 3 requests"):
        assert burst < text.index(msg) < blocked
    for msg in ("c from KP", "d from KP"):
        assert text.index(msg) > blocked
    assert "high / throttle · 2 violations" in text
    assert "critical / block · 2 violations" in text


def test_summary_goes_to_stderr(rules: Path, log: Path) -> None:
    result = run(rules, log, "--format", "jsonl")
    err = result.stderr
    assert "summary: 10 events from 1 source" in err
    assert "4 violations" in err
    assert str(log) in err
    rows = {line.split()[0]: line.split()[1:] for line in err.splitlines() if line.strip()}
    assert rows["burst"] == ["high", "2"]
    assert rows["blocked_country"] == ["critical", "2"]
    assert "━" not in err  # no progress bar when stderr is not a terminal


BAD = [
    b"not json at all",
    b"[1, 2, 3]",
    orjson.dumps({"ts": T0 + 5000, "account_id": "a", "status": "two hundred"}),
    orjson.dumps({"account_id": "a"}),
    orjson.dumps({"ts": "yesterday", "account_id": "a"}),
]


def _with_bad_lines(path: Path) -> None:
    good = [orjson.dumps(e) for e in EVENTS]
    mixed = []
    for i, g in enumerate(good):
        mixed.append(g)
        if i < len(BAD):
            mixed.append(BAD[i])
    mixed.append(orjson.dumps(ev(1, "late")))  # after t=25s: late with no allowed lateness
    path.write_bytes(b"\n".join(mixed) + b"\n")


def test_bad_lines_go_to_the_dead_letter_file_and_are_counted(rules: Path, log: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    _with_bad_lines(bad)
    dead = tmp_path / "dead.jsonl"
    result = run(rules, bad, "--format", "jsonl", "--dead-letter", dead)
    assert result.exit_code == 1
    got = [json.loads(line) for line in result.stdout.splitlines()]
    # the good events' violations are those of the clean log
    assert got == expected(rules, log)
    letters: list = []
    tosengine.evaluate(str(rules), str(bad), dead_letters=letters)
    records = [json.loads(line) for line in dead.read_text().splitlines()]
    assert records == [d.to_dict() for d in letters]
    assert [r["position"] for r in records] == [2, 4, 6, 8, 10, 16]
    reasons = [r["reason"] for r in records]
    assert reasons == ["not_json", "not_object", "wrong_type", "missing_time", "bad_time", "late"]
    assert all(r["source"] == str(bad) for r in records)
    summary = result.stderr
    assert "6 bad or late events" in summary
    for reason in reasons:
        assert any(line.split()[:2] == [reason, "1"] for line in summary.splitlines()), reason
    src = next(line for line in summary.splitlines() if line.startswith(str(bad)))
    assert src.split()[1:] == ["16", "5", "1"]  # events, bad, late


def test_a_file_of_only_bad_lines_ends_cleanly_with_the_summary(rules: Path, tmp_path: Path) -> None:
    bad = tmp_path / "only_bad.jsonl"
    bad.write_bytes(b"\n".join(BAD) + b"\n")
    result = run(rules, bad, "--format", "jsonl")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "summary: 5 events from 1 source" in result.stderr
    assert "0 violations; 5 bad or late events" in result.stderr


def test_strict_stops_at_the_first_bad_event_with_exit_3(rules: Path, tmp_path: Path, log: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    _with_bad_lines(bad)
    result = run(rules, bad, "--format", "jsonl", "--strict")
    assert result.exit_code == 3
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {bad}: line 2: not_json")
    assert "\n" not in last
    assert "summary: 2 events from 1 source" in result.stderr  # the good line 1 and the bad line 2
    clean = run(rules, log, "--format", "jsonl", "--strict")
    assert clean.exit_code == 1


def test_strict_names_the_row_of_a_table(rules: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"ts": pa.array([T0, T0 + 1000, None], pa.timestamp("ms", tz="UTC")),
                      "account_id": ["a", "b", "c"]})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    result = run(rules, path, "--strict")
    assert result.exit_code == 3
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {path}: row 2: missing_time")


def test_exit_zero(rules: Path, log: Path) -> None:
    result = run(rules, log, "--format", "jsonl", "--exit-zero")
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 4


def test_rule_errors_print_as_check_prints_them_with_exit_2(tmp_path: Path, log: Path) -> None:
    bad = tmp_path / "bad.tos"
    bad.write_text('rule r {\n  title "t"\n  when contry == "KP"\n}\n')
    check = CliRunner().invoke(app, ["check", str(bad)])
    result = run(bad, log)
    assert result.exit_code == 2
    assert check.exit_code == 1
    assert result.stderr == check.stderr
    assert "unknown field 'contry'" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("args, message", [
    (["{missing}"], "no such file or folder"),
    (["{txt}"], "unknown kind of file"),
    ([], "no input"),
    (["{log}", "--allowed-lateness", "soon"], "--allowed-lateness"),
    (["{log}", "--allowed-lateness", "100000d"], "is too long for rule"),
    (["-", "-"], "stdin (-) can be read only once"),
])
def test_usage_errors_exit_2(rules: Path, log: Path, tmp_path: Path, args: list[str], message: str) -> None:
    txt = tmp_path / "events.txt"
    txt.write_text("{}\n")
    names = {"missing": tmp_path / "nope.jsonl", "txt": txt, "log": log}
    result = run(rules, *[a.format(**names) for a in args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_unknown_format_is_a_usage_error(rules: Path, log: Path) -> None:
    assert run(rules, log, "--format", "xml").exit_code == 2
    assert run(rules, log, "--batch-size", "0").exit_code == 2


def test_allowed_lateness_admits_out_of_order_events(rules: Path, tmp_path: Path) -> None:
    path = tmp_path / "ooo.jsonl"
    path.write_bytes(lines([ev(0, "a"), ev(6, "x"), ev(1, "a"), ev(2, "a"), ev(30, "x")]))
    strict_time = run(rules, path, "--format", "jsonl", "--dead-letter", tmp_path / "d.jsonl")
    assert strict_time.exit_code == 0  # two of a's events are late: no burst
    assert [json.loads(r)["reason"] for r in (tmp_path / "d.jsonl").read_text().splitlines()] == ["late", "late"]
    lenient = run(rules, path, "--format", "jsonl", "--allowed-lateness", "30s",
                  "--dead-letter", tmp_path / "d2.jsonl")
    assert lenient.exit_code == 1
    assert [json.loads(x)["key"] for x in lenient.stdout.splitlines()] == [{"account_id": "a"}]
    assert (tmp_path / "d2.jsonl").read_text() == ""
    assert [json.loads(x) for x in lenient.stdout.splitlines()] == expected(
        rules, path, allowed_lateness="30s")


def test_several_inputs_are_read_in_order_as_one_stream(rules: Path, log: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "1.jsonl", tmp_path / "2.jsonl.gz"
    import gzip

    first.write_bytes(lines(EVENTS[:4]))
    second.write_bytes(gzip.compress(lines(EVENTS[4:])))
    result = run(rules, first, second, "--format", "jsonl")
    assert result.exit_code == 1
    assert [json.loads(x) for x in result.stdout.splitlines()] == expected(rules, log)
    rows = {line.split()[0]: line.split()[1:] for line in result.stderr.splitlines() if line.strip()}
    assert rows[str(first)] == ["4", "0", "0"]
    assert rows[str(second)] == ["6", "0", "0"]
    assert "summary: 10 events from 2 sources" in result.stderr


def test_batch_size_does_not_change_the_result(rules: Path, log: Path) -> None:
    whole = run(rules, log, "--format", "jsonl")
    small = run(rules, log, "--format", "jsonl", "--batch-size", "2")
    assert small.stdout == whole.stdout
    assert small.exit_code == 1


def test_progress_bar_on_request(rules: Path, log: Path) -> None:
    shown = run(rules, log, "--format", "jsonl", "--progress")
    bar = [line for line in shown.stderr.splitlines() if "━" in line]
    assert bar and "10 events" in bar[-1] and "events/s" in bar[-1] and "4 violations" in bar[-1]
    assert shown.stdout == run(rules, log, "--format", "jsonl").stdout


def test_rules_pack_runs_the_shipped_rules(log: Path) -> None:
    pack = run("--rules-pack", log, "--format", "jsonl", "--exit-zero")
    named = run(Path(__file__).resolve().parents[2] / "rules", log, "--format", "jsonl", "--exit-zero")
    assert pack.exit_code == 0, pack.output
    assert pack.stdout == named.stdout
    assert "summary: 10 events from 1 source" in pack.stderr


def _reader(stream, out: queue.Queue) -> None:
    for line in iter(stream.readline, b""):
        out.put(line)
    out.put(None)


@pytest.mark.slow
def test_stdin_stream_emits_violations_as_windows_close(rules: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from tosengine.cli import main; main()", "run", str(rules), "-",
         "--format", "jsonl"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    got: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, got), daemon=True).start()
    try:
        assert proc.stdin is not None
        # three events of account a in [0s, 10s), then one at 12s: the watermark passes 10s
        proc.stdin.write(lines([ev(0, "a"), ev(2, "a"), ev(4, "a"), ev(12, "b")]))
        proc.stdin.flush()
        line = got.get(timeout=120)
        assert line is not None, proc.stderr.read().decode() if proc.stderr else ""
        v = json.loads(line)
        assert (v["rule"], v["key"], v["values"]) == ("burst", {"account_id": "a"}, {"requests": 3})
        assert proc.poll() is None  # still running: stdin is open
        proc.stdin.write(lines([ev(13, "b"), ev(14, "b")]))
        proc.stdin.close()
        rest = []
        while (item := got.get(timeout=120)) is not None:
            rest.append(json.loads(item))
        assert [(v["rule"], v["key"]) for v in rest] == [("burst", {"account_id": "b"})]
        assert proc.wait(timeout=60) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_ctrl_c_keeps_the_output_so_far_and_prints_the_summary(rules: Path, tmp_path: Path) -> None:
    import signal

    out = tmp_path / "v.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from tosengine.cli import main; main()", "run", str(rules), "-",
         "--format", "jsonl", "--output", str(out)], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdin is not None and proc.stderr is not None
        proc.stdin.write(lines([ev(0, "a"), ev(2, "a"), ev(4, "a"), ev(12, "b")]))
        proc.stdin.flush()
        start = time.monotonic()
        while not out.exists() or not out.read_text():
            assert time.monotonic() - start < 120, "no violation written"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
        err = proc.stderr.read().decode()
        assert err.rstrip().endswith("interrupted")
        assert "summary: 4 events from 1 source" in err
        assert [json.loads(x)["key"] for x in out.read_text().splitlines()] == [{"account_id": "a"}]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_violations_stay_on_stdout_while_the_bar_draws_on_a_terminal(rules: Path, log: Path) -> None:
    """stderr a terminal, stdout a pipe (``tosengine run ... > out.jsonl``): the bar must not capture stdout."""
    import os
    import pty

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from tosengine.cli import main; main()", "run", str(rules), str(log),
             "--format", "jsonl"], stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL,
            env={**os.environ, "COLUMNS": "300"})  # room for the long temporary path
        os.close(slave)
        terminal = bytearray()
        threading.Thread(target=_drain, args=(master, terminal), daemon=True).start()
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 1
        assert [json.loads(x) for x in out.decode().splitlines()] == expected(rules, log)
        time.sleep(0.2)
        shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal.decode(errors="replace"))
        assert re.search(r"10 events +[\d,]+ events/s 4 violations", shown)  # the bar, on the terminal
        assert "summary: 10 events" in shown
        assert '"rule"' not in shown
    finally:
        os.close(master)


def _drain(fd: int, into: bytearray) -> None:
    import os

    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        into += chunk


@pytest.mark.slow
def test_shipped_rules_on_stdin_report_a_burst_when_its_window_closes() -> None:
    """``tosengine run rules/ -``: a 10 s flood is reported once the stream passes the window's end."""
    pack = Path(__file__).resolve().parents[2] / "rules"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from tosengine.cli import main; main()", "run", str(pack), "-",
         "--format", "jsonl"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    got: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, got), daemon=True).start()
    flood = [{"ts": T0 + i * 9, "ip": "203.0.113.9", "api_key_id": "k1", "account_id": "a1", "status": 200}
             for i in range(1_100)]  # 1,100 requests in 9.9 s, in the window [T0, T0 + 10 s)
    later = {"ts": T0 + 11_000, "ip": "198.51.100.1", "api_key_id": "k2", "account_id": "a2", "status": 200}
    try:
        assert proc.stdin is not None
        proc.stdin.write(lines([*flood, later]))
        proc.stdin.flush()
        line = got.get(timeout=300)
        assert line is not None, proc.stderr.read().decode() if proc.stderr else ""
        v = json.loads(line)
        assert (v["rule"], v["key"], v["values"]["requests"]) == ("request_burst_per_ip", {"ip": "203.0.113.9"}, 1100)
        assert proc.poll() is None  # reported while the stream is still open
        proc.stdin.close()
        while got.get(timeout=120) is not None:
            pass
        assert proc.wait(timeout=60) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
