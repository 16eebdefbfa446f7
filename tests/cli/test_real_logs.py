"""End to end over real public logs: ``tosengine run`` against an independent DuckDB transcription.

For each log in ``tests/data/real`` (provenance in its README) and its rule file
in ``docs/examples``, the CLI's JSON Lines output must equal, violation for
violation (rule, key, window, every ``let`` value; the request of an event
rule), what SQL computes from the same file. Windows are epoch-aligned: a
tumbling window of length L holds ``floor(t / L)``; a sliding one (L every S)
starts at every multiple of S with ``start <= t < start + L``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from tosengine.cli import app

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "real"
EXAMPLES = ROOT / "docs" / "examples"


def _ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _norm(v: object) -> object:
    return round(v, 9) if isinstance(v, float) else v


def run_cli(rules: str, log: str) -> set[tuple]:
    """The violations of ``tosengine run`` as comparable tuples."""
    result = CliRunner().invoke(app, ["run", str(EXAMPLES / rules), str(DATA / log), "--format", "jsonl",
                                      "--exit-zero", "--no-progress"])
    assert result.exit_code == 0, result.output
    return violation_tuples(result.stdout.splitlines())


def violation_tuples(lines: list[str]) -> set[tuple]:
    """(rule, key..., window start, let values...) of windowed violations; (rule, request) of event rules."""
    out = []
    for line in lines:
        v = json.loads(line)
        if v["window_start"] is None:
            out.append((v["rule"], v["request_id"]))
        else:
            out.append((v["rule"], *v["key"].values(), _ms(v["window_start"]),
                        *(_norm(x) for x in v["values"].values())))
    assert len(out) == len(set(out)), "a violation was reported twice"
    return set(out)


def sql(log: str, query: str) -> set[tuple]:
    """Rows of ``query`` over the log as the view ``e`` (``t`` is epoch milliseconds)."""
    con = duckdb.connect()
    con.execute(f"CREATE VIEW e AS SELECT epoch_ms(ts) AS t, * FROM read_json('{DATA / log}', "
                "format = 'newline_delimited', sample_size = -1)")
    rows = con.execute(query).fetchall()
    return {tuple(_norm(x) for x in r) for r in rows}


def sliding(length_ms: int, step_ms: int) -> str:
    """SQL: the starts of every sliding window holding event time ``t``."""
    k = length_ms // step_ms
    return f"unnest(range(floor(t / {step_ms})::BIGINT - {k - 1}, floor(t / {step_ms})::BIGINT + 1)) * {step_ms}"


def test_apache_access_log() -> None:
    log = "elastic_apache_access.jsonl.gz"
    expected = sql(log, """
        SELECT 'ip_request_burst', ip, floor(t / 60000)::BIGINT * 60000 AS ws, count(*) AS requests,
               count(DISTINCT endpoint)
        FROM e GROUP BY ip, ws HAVING requests >= 50
    """) | sql(log, """
        SELECT 'ip_not_found_storm', ip, floor(t / 3600000)::BIGINT * 3600000 AS ws,
               count(*) FILTER (WHERE status = 404) AS nf, nf / count(*)
        FROM e GROUP BY ip, ws HAVING nf >= 5
    """) | sql(log, f"""
        SELECT 'ip_many_user_agents', ip, ws, count(DISTINCT user_agent) AS agents, count(*)
        FROM (SELECT ip, user_agent, {sliding(2 * 3_600_000, 3_600_000)} AS ws FROM e)
        GROUP BY ip, ws HAVING agents >= 4
    """) | sql(log, "SELECT 'large_download', request_id FROM e WHERE bytes >= 5000000")
    got = run_cli("apache_access.tos", log)
    assert got == expected
    assert {r[0] for r in got} == {"ip_request_burst", "ip_not_found_storm", "ip_many_user_agents",
                                   "large_download"}


def test_azure_llm_trace() -> None:
    log = "azure_llm_2023.jsonl.gz"
    expected = sql(log, """
        SELECT 'context_token_surge', endpoint, floor(t / 60000)::BIGINT * 60000 AS ws, count(*),
               sum(input_tokens) AS tokens, max(input_tokens)
        FROM e GROUP BY endpoint, ws HAVING tokens > 800000
    """) | sql(log, f"""
        SELECT 'sustained_long_prompts', endpoint, ws, sum(input_tokens) AS tokens, avg(input_tokens) AS mean
        FROM (SELECT endpoint, input_tokens, {sliding(300_000, 60_000)} AS ws FROM e)
        GROUP BY endpoint, ws HAVING tokens > 3000000 AND mean > 1000
    """) | sql(log, """
        SELECT 'long_conversation_prompt', request_id FROM e WHERE endpoint = 'conversation' AND input_tokens > 6000
    """)
    got = run_cli("azure_llm.tos", log)
    assert got == expected
    assert {r[0] for r in got} == {"context_token_surge", "sustained_long_prompts", "long_conversation_prompt"}


def test_mooncake_trace() -> None:
    log = "mooncake_conversation.jsonl.gz"
    expected = sql(log, """
        SELECT 'conversation_hammering', prefix_id, floor(t / 600000)::BIGINT * 600000 AS ws,
               count(*) AS turns, sum(input_tokens)
        FROM e GROUP BY prefix_id, ws HAVING turns >= 10
    """) | sql(log, """
        SELECT 'verbatim_prompt_replay', prompt_hash, floor(t / 3600000)::BIGINT * 3600000 AS ws, count(*) AS sends
        FROM e GROUP BY prompt_hash, ws HAVING sends >= 3
    """) | sql(log, "SELECT 'huge_context', request_id FROM e WHERE input_tokens > 100000")
    got = run_cli("mooncake.tos", log)
    assert got == expected
    assert {r[0] for r in got} == {"conversation_hammering", "verbatim_prompt_replay", "huge_context"}


def test_s3_honeybucket_cloudtrail() -> None:
    log = "otrf_s3_honeybucket.jsonl.gz"
    expected = sql(log, "SELECT 'object_written', request_id FROM e WHERE endpoint = 'PutObject'") | sql(log, """
        SELECT 'probe_then_write', ip, floor(t / 86400000)::BIGINT * 86400000 AS ws, count(*),
               count(DISTINCT endpoint) AS kinds, count(*) FILTER (WHERE endpoint = 'PutObject') AS writes
        FROM e GROUP BY ip, ws HAVING kinds >= 2 AND writes >= 1
    """) | sql(log, """
        SELECT 'anonymous_sweep', user_agent, floor(t / 604800000)::BIGINT * 604800000 AS ws, count(*),
               count(DISTINCT ip) AS ips
        FROM e WHERE account_id = 'ANONYMOUS_PRINCIPAL' GROUP BY user_agent, ws HAVING ips >= 5
    """)
    got = run_cli("s3_honeybucket.tos", log)
    assert got == expected
    assert {r[0] for r in got} == {"object_written", "probe_then_write", "anonymous_sweep"}


def test_apache_log_in_source_order_needs_allowed_lateness(tmp_path: Path) -> None:
    """The source log is out of order within each minute: late events, then none with 59 s of lateness."""
    import gzip

    import orjson

    rows = [orjson.loads(line) for line in gzip.open(DATA / "elastic_apache_access.jsonl.gz")]
    rows.sort(key=lambda r: int(r["request_id"].split(":")[1]))  # the source line number
    replay = tmp_path / "apache_source_order.jsonl"
    replay.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    late_sql = duckdb.connect().execute(f"""
        SELECT count(*) FROM (
          SELECT t, max(t) OVER (ORDER BY line ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS seen
          FROM (SELECT epoch_ms(ts) AS t, split_part(request_id, ':', 2)::INT AS line
                FROM read_json('{replay}', format = 'newline_delimited')))
        WHERE t < seen
    """).fetchone()[0]
    dead = tmp_path / "dead.jsonl"
    result = CliRunner().invoke(app, ["run", str(EXAMPLES / "apache_access.tos"), str(replay), "-f", "jsonl",
                                      "--exit-zero", "--dead-letter", str(dead)])
    assert result.exit_code == 0
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert late_sql > 0 and len(letters) == late_sql
    assert {d["reason"] for d in letters} == {"late"}
    assert f"late      {late_sql:,}" in result.stderr

    result = CliRunner().invoke(app, ["run", str(EXAMPLES / "apache_access.tos"), str(replay), "-f", "jsonl",
                                      "--exit-zero", "--allowed-lateness", "59s"])
    assert "0 bad or late events" in result.stderr
    replayed = violation_tuples(result.stdout.splitlines())
    assert replayed == run_cli("apache_access.tos", "elastic_apache_access.jsonl.gz")

