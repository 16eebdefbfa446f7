"""Tests of the synthetic usage-log generator (:mod:`tosengine.generator`).

Besides the generator's own contract (determinism, schema, order, nulls, heavy
tail, output formats), these tests check that it fits the shipped rule pack in
``rules/``: an independent SQL (DuckDB) transcription of the pack's 17 rules
must report every planted violator under the rules its ground truth names, and
nothing else. The transcription is by hand, from the ``.tos`` files; when the
engine can load the pack, ``test_engine_finds_planted_violators`` checks the
same with the engine itself.

Run ``python -m tests.test_generator --events 1000000`` for the same check on
a bigger log (prints every rule's hits).
"""

from __future__ import annotations

import gzip
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq
import pytest

from tosengine.generator import (
    ARROW_SCHEMA,
    DEFAULT_START_MS,
    MIN_EVENTS,
    GeneratedLog,
    PlantedViolator,
    generate,
    truth_path,
    write_log,
)
from tosengine.language.schema import DEFAULT_SCHEMA

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
N = 100_000
SEED = 7
DAY = 86_400_000
HOUR = 3_600_000
MINUTE = 60_000


@pytest.fixture(scope="module")
def log() -> GeneratedLog:
    return generate(N, seed=SEED)


def _col(table: pa.Table, name: str) -> np.ndarray:
    return table[name].to_numpy(zero_copy_only=False)


# --------------------------------------------------------------------------
# The generator's contract
# --------------------------------------------------------------------------


def test_deterministic_for_a_seed(log: GeneratedLog) -> None:
    again = generate(N, seed=SEED)
    assert again.table.equals(log.table)
    assert again.truth == log.truth
    other = generate(N, seed=SEED + 1)
    assert not other.table.equals(log.table)
    assert other.truth == log.truth  # the planted cast does not depend on the seed


def test_schema_and_types(log: GeneratedLog) -> None:
    t = log.table
    assert t.num_rows == N
    assert t.column_names == list(DEFAULT_SCHEMA.names)
    assert t.schema == ARROW_SCHEMA
    assert t.schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    expected = {"string": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
    for f in DEFAULT_SCHEMA.fields:
        if not f.is_time:
            assert t.schema.field(f.name).type == expected[f.type.value], f.name
    assert t["ts"].null_count == 0
    for name in ("request_id", "account_id", "org_id", "api_key_id", "ip", "endpoint", "model", "status",
                 "prompt_hash"):
        assert t[name].null_count == 0, name
    assert pc.count_distinct(t["request_id"]).as_py() == N
    assert set(pc.unique(t["endpoint"]).to_pylist()) == {"chat.completions", "completions", "embeddings",
                                                         "responses"}


def test_time_order_span_and_start() -> None:
    g = generate(N, seed=1)
    ts = g.table["ts"].cast(pa.int64()).to_numpy()
    assert (np.diff(ts) >= 0).all()
    assert ts[0] >= DEFAULT_START_MS and ts[-1] < DEFAULT_START_MS + 2 * DAY
    start = DEFAULT_START_MS + 5 * HOUR + 123
    g = generate(N, seed=1, start_ms=start, days=1.5)
    ts = g.table["ts"].cast(pa.int64()).to_numpy()
    assert (np.diff(ts) >= 0).all()
    assert ts[0] >= start and ts[-1] < start + int(1.5 * DAY)


def test_diurnal_traffic(log: GeneratedLog) -> None:
    ts = log.table["ts"].cast(pa.int64()).to_numpy()
    per_hour = np.bincount((ts % DAY) // HOUR, minlength=24)
    assert per_hour.max() > 1.8 * per_hour.min()


def test_too_few_events_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least"):
        generate(MIN_EVENTS - 1)


# stated bounds for the share of nulls per column (see the generator's docstring)
NULL_BOUNDS = {
    "country": (0.002, 0.012),
    "user_agent": (0.008, 0.03),
    "temperature": (0.25, 0.70),
    "logprobs": (0.12, 0.45),
    "n": (0.12, 0.45),
    "input_tokens": (0.01, 0.10),
    "output_tokens": (0.015, 0.10),
    "flagged": (0.015, 0.10),
}


@pytest.mark.parametrize("column", sorted(NULL_BOUNDS))
def test_null_rates_within_bounds(log: GeneratedLog, column: str) -> None:
    lo, hi = NULL_BOUNDS[column]
    rate = log.table[column].null_count / log.table.num_rows
    assert lo <= rate <= hi, (column, rate)


def test_nulls_where_real_logs_have_them(log: GeneratedLog) -> None:
    t = log.table
    emb = pc.equal(t["endpoint"], "embeddings")
    for name in ("temperature", "logprobs", "n"):
        assert pc.all(pc.is_null(pc.filter(t[name], emb))).as_py(), name
    assert pc.all(pc.is_null(pc.filter(t["input_tokens"], pc.equal(t["status"], 429)))).as_py()
    assert pc.all(pc.is_null(pc.filter(t["flagged"], pc.not_equal(t["status"], 200)))).as_py()
    assert pc.all(pc.is_valid(pc.filter(t["flagged"], pc.equal(t["status"], 200)))).as_py()


def test_value_distributions(log: GeneratedLog) -> None:
    t = log.table
    status = _col(t, "status")
    bg = _background_mask(log)
    share_429 = (status[bg] == 429).mean()
    other_errors = ((status[bg] != 200) & (status[bg] != 429)).mean()
    assert 0.005 < share_429 < 0.05
    assert 0.005 < other_errors < 0.03
    assert pc.mean(pc.cast(t["logprobs"], pa.int8())).as_py() < 0.2
    assert pc.mean(pc.cast(t["flagged"], pa.int8())).as_py() < 0.02
    chat = pc.and_(pc.equal(t["endpoint"], "chat.completions"), pc.equal(t["status"], 200))
    inp = pc.filter(t["input_tokens"], chat).to_numpy()
    out = pc.filter(t["output_tokens"], chat).to_numpy()
    assert 300 < np.median(inp) < 2_500 and 50 < np.median(out) < 400
    rows = np.flatnonzero(chat.to_numpy(zero_copy_only=False) & _background_mask(log))
    assert 0.6 < np.log(_col(t, "input_tokens")[rows].astype(float)).std() < 1.6  # log-normal spread
    temps = pc.drop_null(t["temperature"]).to_numpy()
    assert temps.min() >= 0.0 and temps.max() <= 2.0
    n = pc.drop_null(t["n"]).to_numpy()
    assert (n >= 1).all() and (n == 1).mean() > 0.8
    agents = pc.value_counts(t["user_agent"]).to_pylist()
    assert any(a["values"] and a["values"].startswith("OpenAI/Python") for a in agents)


def _background_mask(log: GeneratedLog) -> np.ndarray:
    """Rows of background traffic: ids are 16 hex digits after the prefix, planted ones are named."""
    acc = log.table["account_id"]
    return pc.match_substring_regex(acc, r"^acct-[0-9a-f]{16}$").to_numpy(zero_copy_only=False)


def test_heavy_tail_and_entity_structure(log: GeneratedLog) -> None:
    t = log.table.filter(pa.array(_background_mask(log)))
    acc = _col(t, "account_id")
    _, counts = np.unique(acc, return_counts=True)
    counts = np.sort(counts)[::-1]
    top = max(1, len(counts) // 100)
    assert counts[:top].sum() / counts.sum() > 0.2  # top 1% of accounts carry 20x their fair share
    assert np.median(counts) < counts.mean() / 3  # long tail
    # several accounts per org for the big ones, several keys per account, 1-2 IPs per key mostly
    g = t.group_by("org_id").aggregate([("account_id", "count_distinct")])
    assert pc.max(g["account_id_count_distinct"]).as_py() >= 5
    g = t.group_by("account_id").aggregate([("api_key_id", "count_distinct")])
    assert pc.max(g["api_key_id_count_distinct"]).as_py() >= 3
    g = t.group_by("api_key_id").aggregate([("ip", "count_distinct"), ("country", "count_distinct")])
    ips = g["ip_count_distinct"].to_numpy()
    assert (ips <= 2).mean() > 0.85 and ips.max() <= 30
    assert g["country_count_distinct"].to_numpy().max() <= 2
    # an IP belongs to one key
    g = t.group_by("ip").aggregate([("api_key_id", "count_distinct")])
    assert pc.max(g["api_key_id_count_distinct"]).as_py() == 1


def test_no_background_traffic_from_sanctioned_countries(log: GeneratedLog) -> None:
    sanctioned = _read_list("sanctioned_countries.txt")
    bg = log.table.filter(pa.array(_background_mask(log)))
    assert not pc.any(pc.is_in(bg["country"], pa.array(sanctioned))).as_py()
    t = log.table
    assert pc.sum(pc.is_in(t["country"], pa.array(sanctioned))).as_py() == 240 + 6


def test_distiller_volume_exceeds_threshold(log: GeneratedLog) -> None:
    t = log.table
    mask = pc.and_(pc.equal(t["org_id"], "org-distill-1"), pc.equal(t["status"], 200)).to_numpy(
        zero_copy_only=False)
    ts = t["ts"].cast(pa.int64()).to_numpy()[mask]
    # busiest 24h sliding window (1h steps): events in [k*1h, k*1h + 24h)
    hours = np.bincount((ts - ts.min()) // HOUR)
    best = max(hours[i: i + 24].sum() for i in range(len(hours)))
    assert best > 10_000
    lp = t["logprobs"].filter(pa.array(mask)).to_numpy(zero_copy_only=False)
    assert lp.mean() > 0.5


def test_truth_is_well_formed(log: GeneratedLog) -> None:
    pack = _pack_rule_names()
    themes = {p.stem for p in RULES.glob("*.tos")}
    assert {v.theme for v in log.truth} == themes  # a planted violator for every theme
    covered = {r for v in log.truth for r in v.rules}
    assert covered == pack  # and every rule of the pack is exercised
    for v in (*log.truth, *log.exempt):
        assert isinstance(v, PlantedViolator)
        assert v.rules and set(v.rules) <= pack
        assert v.key and all(isinstance(k, str) and isinstance(x, str) for k, x in v.key.items())
        assert v.description


# --------------------------------------------------------------------------
# Output formats
# --------------------------------------------------------------------------

RFC3339_MS = re.compile(rb'^\{"ts":"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z",')


def _small(log: GeneratedLog, rows: int = 20_000) -> GeneratedLog:
    return GeneratedLog(log.table.slice(0, rows), log.truth, log.exempt)


def test_parquet_round_trip(log: GeneratedLog, tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    write_log(log, path)
    back = pq.read_table(path)
    assert back.schema == ARROW_SCHEMA
    assert back.equals(log.table)
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == -(-N // 131_072)
    truth = orjson.loads(Path(truth_path(path)).read_bytes())
    assert [v["key"] for v in truth["violators"]] == [v.key for v in log.truth]
    assert truth["events"] == N


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_jsonl_round_trip(log: GeneratedLog, tmp_path: Path, suffix: str) -> None:
    small = _small(log)
    path = tmp_path / f"log{suffix}"
    write_log(small, path)
    raw = gzip.open(path).read() if suffix.endswith(".gz") else path.read_bytes()
    lines = raw.split(b"\n")
    assert lines[-1] == b"" and len(lines) == small.table.num_rows + 1
    lines = lines[:-1]
    # every line: an object, ts first as RFC 3339 UTC with milliseconds, no nulls written
    assert all(RFC3339_MS.match(line) for line in lines)
    assert not any(b":null" in line for line in lines)
    objs = [orjson.loads(line) for line in lines]
    expected = small.table.to_pylist()
    for got, want in zip(objs, expected):
        ts = want.pop("ts")
        assert got.pop("ts") == ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
        want = {k: v for k, v in want.items() if v is not None}
        assert got == want
        assert list(got) == [k for k in DEFAULT_SCHEMA.names if k in got]  # schema order
        if "temperature" in got:
            assert isinstance(got["temperature"], float)
    # pyarrow reads it back to the same table
    source = pa.CompressedInputStream(pa.OSFile(str(path)), "gzip") if suffix.endswith(".gz") else str(path)
    back = pj.read_json(source, parse_options=pj.ParseOptions(explicit_schema=ARROW_SCHEMA))
    assert back.combine_chunks().equals(small.table.combine_chunks())
    assert Path(truth_path(path)).exists()


def test_jsonl_writes_awkward_strings(tmp_path: Path) -> None:
    weird = ['a "quoted" agent', "back\\slash", "tab\there", "ünïcødé", None]
    table = pa.table({
        "ts": pa.array([0, 1_000, 2_000_999, 3, 951_782_400_000_000], pa.timestamp("us", tz="UTC")),
        "user_agent": pa.array(weird, pa.string()),
        "temperature": pa.array([1.0, 0.5, None, 2.0, 1e-7], pa.float64()),
    })
    path = tmp_path / "weird.jsonl"
    write_log(GeneratedLog(table, []), path)
    objs = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [o.get("user_agent") for o in objs] == weird
    assert [o.get("temperature") for o in objs] == [1.0, 0.5, None, 2.0, 1e-7]
    assert [o["ts"] for o in objs] == ["1970-01-01T00:00:00.000Z", "1970-01-01T00:00:00.001Z",
                                       "1970-01-01T00:00:02.000Z", "1970-01-01T00:00:00.000Z",
                                       "2000-02-29T00:00:00.000Z"]


def test_jsonl_timestamps_agree_with_arrow_strftime() -> None:
    from tosengine.generator import _ts_fragment

    rng = np.random.default_rng(0)
    ms = np.concatenate([rng.integers(-62_135_596_800_000, 253_402_300_799_999, 20_000),
                         [0, -1, 951_782_400_000, 4_102_444_799_999, DEFAULT_START_MS]])
    col = pa.array(ms, pa.timestamp("ms", tz="UTC"))
    ours = _ts_fragment('"ts":', col).to_pylist()
    arrow = pc.strftime(col, format="%Y-%m-%dT%H:%M:%SZ").to_pylist()
    assert ours == [f'"ts":"{a}"' for a in arrow]


def test_unknown_suffix_is_an_error(log: GeneratedLog, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="parquet"):
        write_log(log, tmp_path / "log.csv")


# --------------------------------------------------------------------------
# The shipped pack, transcribed to SQL
# --------------------------------------------------------------------------


def _read_list(name: str) -> list[str]:
    values = []
    for line in (RULES / "lists" / name).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            values.append(line)
    return values


def _pack_rule_names() -> set[str]:
    return {m for p in RULES.glob("*.tos") for m in re.findall(r"^rule\s+(\w+)", p.read_text(), re.M)}


def _sql_list(values: list[str]) -> str:
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


@dataclass(frozen=True)
class Spec:
    """One rule of the pack: ``window`` is (length, step) in ms, or None for an event rule."""

    name: str
    per: tuple[str, ...]
    window: tuple[int, int] | None
    where: str
    aggs: str
    when: str
    unless: str | None = None
    having: str | None = None  # a necessary condition on the key's whole traffic (pruning only)


def _pack_specs() -> list[Spec]:
    gen = "('chat.completions', 'completions', 'responses')"
    scrapers = _sql_list(_read_list("scraper_user_agents.txt"))
    sanctioned = _sql_list(_read_list("sanctioned_countries.txt"))
    partners = _sql_list(_read_list("research_partners.txt"))
    egress = _sql_list(_read_list("shared_egress_ips.txt"))
    return [
        Spec("distillation_logprobs_harvest", ("org_id",), (DAY, HOUR),
             f"endpoint IN {gen} AND status = 200",
             "count(*) AS requests, count(DISTINCT prompt_hash) / count(*) AS prompt_ratio, "
             "count(*) FILTER (WHERE logprobs) / count(*) AS with_logprobs, avg(output_tokens) AS mean_output",
             "requests > 10000 AND prompt_ratio > 0.9 AND with_logprobs > 0.5 AND mean_output > 300",
             f"org_id IN {partners}", "count(*) > 10000"),
        Spec("distillation_templated_prompts", ("org_id",), (DAY, HOUR),
             f"endpoint IN {gen} AND status = 200 AND input_tokens IS NOT NULL",
             "count(*) AS requests, count(DISTINCT prompt_hash) / count(*) AS prompt_ratio, "
             "stddev_pop(input_tokens) / avg(input_tokens) AS input_cv, "
             "sum(output_tokens) / sum(input_tokens) AS output_ratio",
             "requests >= 5000 AND prompt_ratio > 0.95 AND input_cv < 0.10 AND output_ratio > 2",
             f"org_id IN {partners}", "count(*) >= 5000"),
        Spec("distillation_repeated_sampling", ("org_id", "model"), (DAY, DAY),
             "endpoint IN ('chat.completions', 'completions') AND status = 200",
             "count(*) AS requests, count(DISTINCT prompt_hash) / count(*) AS prompt_ratio, "
             "sum(coalesce(n, 1)) AS samples, min(temperature) AS min_temperature",
             "requests >= 2000 AND prompt_ratio < 0.02 AND min_temperature >= 0.9 AND samples >= 10000",
             f"org_id IN {partners}", "count(*) >= 2000"),
        Spec("api_key_many_ips", ("api_key_id",), (DAY, HOUR), "TRUE",
             "count(*) AS requests, count(DISTINCT ip) AS ips, count(DISTINCT country) AS countries",
             "ips >= 50 AND countries >= 3 AND requests >= 200", None, "count(DISTINCT ip) >= 50"),
        Spec("api_key_many_countries", ("api_key_id",), (HOUR, HOUR), "country IS NOT NULL",
             "count(DISTINCT country) AS countries", "countries >= 4", None, "count(DISTINCT country) >= 4"),
        Spec("request_burst_per_ip", ("ip",), (10_000, 10_000), "TRUE",
             "count(*) AS requests", "requests > 1000", None, "count(*) > 1000"),
        Spec("rate_limit_storm", ("api_key_id",), (5 * MINUTE, MINUTE), "TRUE",
             "count(*) FILTER (WHERE status = 429) AS rejected, "
             "count(*) FILTER (WHERE status = 429) / count(*) AS rejected_share",
             "rejected >= 500 AND rejected_share > 0.5", None, "count(*) FILTER (WHERE status = 429) >= 500"),
        Spec("scraper_user_agent", ("api_key_id",), None, "user_agent IS NOT NULL", "",
             f"user_agent IN {scrapers} OR starts_with(user_agent, 'Scrapy/') "
             "OR contains(lower(user_agent), 'headless') "
             "OR regexp_matches(user_agent, '(?i)(bot|crawler|spider|scraper)\\b')"),
        Spec("rate_limit_key_rotation", ("account_id", "ip"), (10 * MINUTE, MINUTE), "TRUE",
             "count(*) AS requests, count(DISTINCT api_key_id) AS keys", "keys >= 10 AND requests >= 500",
             None, "count(DISTINCT api_key_id) >= 10 AND count(*) >= 500"),
        Spec("many_accounts_one_ip", ("ip",), (DAY, HOUR), "TRUE",
             "count(DISTINCT account_id) AS accounts, count(DISTINCT org_id) AS orgs",
             "accounts >= 15 AND orgs >= 10", f"ip IN {egress}", "count(DISTINCT account_id) >= 15"),
        Spec("org_many_accounts_few_ips", ("org_id",), (DAY, DAY), "TRUE",
             "count(DISTINCT account_id) AS accounts, count(DISTINCT ip) / count(DISTINCT account_id) AS ipa",
             "accounts >= 20 AND ipa < 0.25", None, "count(DISTINCT account_id) >= 20"),
        Spec("sanctioned_country_access", ("account_id",), None, "TRUE", "", f"country IN {sanctioned}"),
        Spec("sanctioned_region_key_usage", ("api_key_id",), (DAY, 6 * HOUR), "country IS NOT NULL",
             f"count(*) FILTER (WHERE country IN {sanctioned}) AS sanctioned, "
             f"count(*) FILTER (WHERE country IN {sanctioned}) / count(*) AS share",
             "sanctioned >= 20 AND share > 0.1", None, f"count(*) FILTER (WHERE country IN {sanctioned}) >= 20"),
        Spec("reseller_many_client_agents", ("account_id",), (DAY, HOUR), "TRUE",
             "count(*) AS requests, count(DISTINCT user_agent) AS agents", "agents >= 30 AND requests >= 1000",
             None, "count(DISTINCT user_agent) >= 30 AND count(*) >= 1000"),
        Spec("reseller_browser_traffic", ("api_key_id",), (DAY, HOUR), "TRUE",
             "count(*) AS requests, count(DISTINCT user_agent) AS agents, "
             "count(*) FILTER (WHERE starts_with(user_agent, 'Mozilla/')) / count(*) AS browser_share",
             "requests >= 1000 AND browser_share > 0.5 AND agents >= 20", None,
             "count(*) >= 1000 AND count(DISTINCT user_agent) >= 20"),
        Spec("high_flagged_rate", ("account_id",), (DAY, HOUR), "flagged IS NOT NULL",
             "count(*) AS requests, count(*) FILTER (WHERE flagged) / count(*) AS rate",
             "requests >= 200 AND rate > 0.2", None, "count(*) FILTER (WHERE flagged) > 40"),
        Spec("flagged_content_burst", ("account_id",), (HOUR, HOUR), "TRUE",
             "count(*) FILTER (WHERE flagged) AS flagged_count, count(*) FILTER (WHERE flagged) / count(*) AS rate",
             "flagged_count >= 100 AND rate > 0.25", None, "count(*) FILTER (WHERE flagged) >= 100"),
    ]


def _spec_sql(s: Spec, *, with_unless: bool = True) -> str:
    per = ", ".join(s.per)
    unless = f" AND NOT coalesce(({s.unless}), false)" if s.unless and with_unless else ""
    if s.window is None:
        return f"SELECT DISTINCT {per} FROM ev WHERE ({s.where}) AND ({s.when}){unless}"
    length, step = s.window
    prune = ""
    if s.having:
        on = " AND ".join(f"f.{c} IS NOT DISTINCT FROM k.{c}" for c in s.per)
        prune = f"JOIN (SELECT {per} FROM f GROUP BY {per} HAVING {s.having}) k ON {on}"
    return f"""
        WITH f AS (SELECT * FROM ev WHERE {s.where}),
        x AS (SELECT f.*, unnest(range((f.t - {length}) // {step} + 1, f.t // {step} + 1)) AS wk FROM f {prune}),
        g AS (SELECT {per}, wk, {s.aggs} FROM x GROUP BY {per}, wk)
        SELECT DISTINCT {per} FROM g WHERE ({s.when}){unless}"""


def pack_hits(table: pa.Table, *, with_unless: bool = True) -> dict[str, list[dict[str, str]]]:
    """Keys that break each rule of the pack somewhere in ``table`` (per the SQL transcription)."""
    import duckdb  # a test dependency

    con = duckdb.connect()
    con.register("raw", table)
    con.execute("CREATE TABLE ev AS SELECT *, epoch_ms(ts) AS t FROM raw")
    hits = {}
    for s in _pack_specs():
        rows = con.execute(_spec_sql(s, with_unless=with_unless)).fetchall()
        hits[s.name] = [dict(zip(s.per, r)) for r in rows]
    return hits


def _matches(hit: dict[str, str], key: dict[str, str]) -> bool:
    shared = set(hit) & set(key)
    return bool(shared) and all(hit[f] == key[f] for f in shared)


def check_pack(log: GeneratedLog, hits: dict[str, list[dict[str, str]]]) -> tuple[list[str], list[str]]:
    """(missing, unexplained): planted violations not found, and hits no violator explains."""
    missing = [f"{r} {v.key}" for v in log.truth for r in v.rules if not any(_matches(h, v.key) for h in hits[r])]
    unexplained = [f"{r} {h}" for r, hs in hits.items() for h in hs
                   if not any(r in v.rules and _matches(h, v.key) for v in log.truth)]
    return missing, unexplained


def test_pack_transcription_matches_the_rule_files() -> None:
    assert {s.name for s in _pack_specs()} == _pack_rule_names()


def test_planted_violators_found_and_background_clear(log: GeneratedLog) -> None:
    hits = pack_hits(log.table)
    missing, unexplained = check_pack(log, hits)
    assert missing == []
    assert unexplained == []


def test_exempt_traffic_would_trip_without_unless(log: GeneratedLog) -> None:
    (campus,) = log.exempt
    assert campus.key["ip"] in _read_list("shared_egress_ips.txt")
    hits = pack_hits(log.table, with_unless=False)
    assert any(_matches(h, campus.key) for h in hits["many_accounts_one_ip"])


def test_rule_quotes_are_in_the_terms_document() -> None:
    doc = re.sub(r"\s+", " ", (ROOT / "docs" / "terms-example.md").read_text().replace("**", ""))
    for path in RULES.glob("*.tos"):
        for quote in re.findall(r'^\s*quote\s+"((?:[^"\\]|\\.)*)"', path.read_text(), re.M):
            assert quote.replace('\\"', '"') in doc, (path.name, quote)


# --------------------------------------------------------------------------
# The engine on the whole pack: every planted violator found, nothing unexplained
# --------------------------------------------------------------------------


@pytest.mark.slow
def test_engine_finds_planted_violators(log: GeneratedLog) -> None:
    import tosengine

    violations = tosengine.evaluate(str(RULES), log.table)
    hits: dict[str, list[dict[str, str]]] = {name: [] for name in _pack_rule_names()}
    for v in violations:
        hits[v.rule].append(dict(v.key))
    missing, unexplained = check_pack(log, hits)
    assert missing == []
    assert unexplained == []


# --------------------------------------------------------------------------
# Calibration on bigger logs: python -m tests.test_generator --events 1000000
# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    import argparse
    import time

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    g = generate(args.events, seed=args.seed)
    t1 = time.perf_counter()
    hits = pack_hits(g.table)
    t2 = time.perf_counter()
    print(f"generated {args.events:,} events in {t1 - t0:.1f} s; SQL check in {t2 - t1:.1f} s")
    for rule, hs in hits.items():
        print(f"  {rule:32s} {len(hs):3d}  {hs[:3]}")
    missing, unexplained = check_pack(g, hits)
    print("missing:", missing or "none")
    print("unexplained:", unexplained or "none")
    return 1 if missing or unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
