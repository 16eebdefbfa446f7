"""The windowed rules of the shipped pack as DuckDB SQL and Polars queries.

Hand translations of ``rules/*.tos`` (adapted from the SQL transcription in
``tests/test_generator.py``, without its pruning joins: these are the queries
a user replacing tosengine would write). Window, key and cooldown come from
the compiled pack itself, so only ``where``, the aggregates, ``when`` and
``unless`` are transcribed here.

Every query returns the *firing* windows of one rule, as rows
``(*key, window_index)``; the window is ``[wk*step, wk*step + length)`` in
epoch milliseconds. :func:`apply_cooldown` then applies the rule's cooldown
(in window order per key, as ``docs/semantics.md`` says) outside the timed
region, so the result can be compared with tosengine's violations as a set of
``(key, window_start)``.

Sliding windows (``window L every S``) put each event in ``L/S`` windows: the
SQL query unnests ``range(first, last + 1)`` window indices per event, the
Polars query explodes ``int_ranges`` the same way. Tumbling windows group by
``t // L`` directly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from tosengine import ir

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"


def read_list(name: str) -> list[str]:
    out = []
    for line in (RULES / "lists" / name).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def _sql_list(values: list[str]) -> str:
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


@dataclass(frozen=True)
class Translation:
    """One windowed rule in SQL (strings over table ``ev``) and Polars (expression builders)."""

    name: str
    where: str | None  # SQL boolean over event columns
    aggs: str  # SQL select list of aggregates (named)
    when: str  # SQL over the aggregate names
    unless: str | None  # SQL over key columns
    pl_where: Callable[[Any], Any] | None  # pl -> Expr
    pl_aggs: Callable[[Any], list[Any]]  # pl -> [Expr]
    pl_when: Callable[[Any], Any]
    pl_unless: Callable[[Any], Any] | None = None
    columns: tuple[str, ...] = ()  # event columns the where/aggregates read


def translations() -> dict[str, Translation]:
    gen = ["chat.completions", "completions", "responses"]
    sanctioned = read_list("sanctioned_countries.txt")
    partners = read_list("research_partners.txt")
    egress = read_list("shared_egress_ips.txt")
    S = _sql_list

    def distinct(pl: Any, c: str) -> Any:  # distinct() counts non-null values only
        return pl.col(c).drop_nulls().n_unique()

    def frac(pl: Any, e: Any) -> Any:  # count(e) / count(): null counts as not true
        return e.fill_null(False).sum() / pl.len()

    def cnt(pl: Any, e: Any) -> Any:
        return e.fill_null(False).sum()

    ts = [
        Translation(
            "distillation_logprobs_harvest",
            f"endpoint IN {S(gen)} AND status = 200",
            "count(*) AS requests, count(DISTINCT prompt_hash) / count(*) AS prompt_ratio, "
            "count(*) FILTER (WHERE logprobs) / count(*) AS with_logprobs, avg(output_tokens) AS mean_output",
            "requests > 10000 AND prompt_ratio > 0.9 AND with_logprobs > 0.5 AND mean_output > 300",
            f"org_id IN {S(partners)}",
            lambda pl: pl.col("endpoint").is_in(gen) & (pl.col("status") == 200),
            lambda pl: [pl.len().alias("requests"),
                        (distinct(pl, "prompt_hash") / pl.len()).alias("prompt_ratio"),
                        frac(pl, pl.col("logprobs")).alias("with_logprobs"),
                        pl.col("output_tokens").mean().alias("mean_output")],
            lambda pl: (pl.col("requests") > 10_000) & (pl.col("prompt_ratio") > 0.9)
            & (pl.col("with_logprobs") > 0.5) & (pl.col("mean_output") > 300),
            lambda pl: pl.col("org_id").is_in(partners),
            ("endpoint", "status", "prompt_hash", "logprobs", "output_tokens"),
        ),
        Translation(
            "distillation_templated_prompts",
            f"endpoint IN {S(gen)} AND status = 200 AND input_tokens IS NOT NULL",
            "count(*) AS requests, count(DISTINCT prompt_hash) / count(*) AS prompt_ratio, "
            "stddev_pop(input_tokens) / avg(input_tokens) AS input_cv, "
            "sum(output_tokens) / sum(input_tokens) AS output_ratio",
            "requests >= 5000 AND prompt_ratio > 0.95 AND input_cv < 0.10 AND output_ratio > 2",
            f"org_id IN {S(partners)}",
            lambda pl: pl.col("endpoint").is_in(gen) & (pl.col("status") == 200)
            & pl.col("input_tokens").is_not_null(),
            lambda pl: [pl.len().alias("requests"),
                        (distinct(pl, "prompt_hash") / pl.len()).alias("prompt_ratio"),
                        (pl.col("input_tokens").std(ddof=0) / pl.col("input_tokens").mean()).alias("input_cv"),
                        (pl.col("output_tokens").sum() / pl.col("input_tokens").sum()).alias("output_ratio")],
            lambda pl: (pl.col("requests") >= 5_000) & (pl.col("prompt_ratio") > 0.95)
            & (pl.col("input_cv") < 0.10) & (pl.col("output_ratio") > 2),
            lambda pl: pl.col("org_id").is_in(partners),
            ("endpoint", "status", "input_tokens", "prompt_hash", "output_tokens"),
        ),
        Translation(
            "distillation_repeated_sampling",
            "endpoint IN ('chat.completions', 'completions') AND status = 200",
            "count(*) AS requests, count(DISTINCT prompt_hash) / count(*) AS prompt_ratio, "
            "sum(coalesce(n, 1)) AS samples, min(temperature) AS min_temperature",
            "requests >= 2000 AND prompt_ratio < 0.02 AND min_temperature >= 0.9 AND samples >= 10000",
            f"org_id IN {S(partners)}",
            lambda pl: pl.col("endpoint").is_in(["chat.completions", "completions"]) & (pl.col("status") == 200),
            lambda pl: [pl.len().alias("requests"),
                        (distinct(pl, "prompt_hash") / pl.len()).alias("prompt_ratio"),
                        pl.col("n").fill_null(1).sum().alias("samples"),
                        pl.col("temperature").min().alias("min_temperature")],
            lambda pl: (pl.col("requests") >= 2_000) & (pl.col("prompt_ratio") < 0.02)
            & (pl.col("min_temperature") >= 0.9) & (pl.col("samples") >= 10_000),
            lambda pl: pl.col("org_id").is_in(partners),
            ("endpoint", "status", "prompt_hash", "n", "temperature"),
        ),
        Translation(
            "api_key_many_ips", None,
            "count(*) AS requests, count(DISTINCT ip) AS ips, count(DISTINCT country) AS countries",
            "ips >= 50 AND countries >= 3 AND requests >= 200", None,
            None,
            lambda pl: [pl.len().alias("requests"), distinct(pl, "ip").alias("ips"),
                        distinct(pl, "country").alias("countries")],
            lambda pl: (pl.col("ips") >= 50) & (pl.col("countries") >= 3) & (pl.col("requests") >= 200),
            None, ("ip", "country"),
        ),
        Translation(
            "api_key_many_countries", "country IS NOT NULL",
            "count(DISTINCT country) AS countries", "countries >= 4", None,
            lambda pl: pl.col("country").is_not_null(),
            lambda pl: [distinct(pl, "country").alias("countries")],
            lambda pl: pl.col("countries") >= 4,
            None, ("country",),
        ),
        Translation(
            "request_burst_per_ip", None, "count(*) AS requests", "requests > 1000", None,
            None, lambda pl: [pl.len().alias("requests")], lambda pl: pl.col("requests") > 1_000,
            None, (),
        ),
        Translation(
            "rate_limit_storm", None,
            "count(*) FILTER (WHERE status = 429) AS rejected, "
            "count(*) FILTER (WHERE status = 429) / count(*) AS rejected_share",
            "rejected >= 500 AND rejected_share > 0.5", None,
            None,
            lambda pl: [cnt(pl, pl.col("status") == 429).alias("rejected"),
                        frac(pl, pl.col("status") == 429).alias("rejected_share")],
            lambda pl: (pl.col("rejected") >= 500) & (pl.col("rejected_share") > 0.5),
            None, ("status",),
        ),
        Translation(
            "rate_limit_key_rotation", None,
            "count(*) AS requests, count(DISTINCT api_key_id) AS keys", "keys >= 10 AND requests >= 500", None,
            None,
            lambda pl: [pl.len().alias("requests"), distinct(pl, "api_key_id").alias("keys")],
            lambda pl: (pl.col("keys") >= 10) & (pl.col("requests") >= 500),
            None, ("api_key_id",),
        ),
        Translation(
            "many_accounts_one_ip", None,
            "count(DISTINCT account_id) AS accounts, count(DISTINCT org_id) AS orgs",
            "accounts >= 15 AND orgs >= 10", f"ip IN {S(egress)}",
            None,
            lambda pl: [distinct(pl, "account_id").alias("accounts"), distinct(pl, "org_id").alias("orgs")],
            lambda pl: (pl.col("accounts") >= 15) & (pl.col("orgs") >= 10),
            lambda pl: pl.col("ip").is_in(egress),
            ("account_id", "org_id"),
        ),
        Translation(
            "org_many_accounts_few_ips", None,
            "count(DISTINCT account_id) AS accounts, count(DISTINCT ip) / count(DISTINCT account_id) AS ipa",
            "accounts >= 20 AND ipa < 0.25", None,
            None,
            lambda pl: [distinct(pl, "account_id").alias("accounts"),
                        (distinct(pl, "ip") / distinct(pl, "account_id")).alias("ipa")],
            lambda pl: (pl.col("accounts") >= 20) & (pl.col("ipa") < 0.25),
            None, ("account_id", "ip"),
        ),
        Translation(
            "sanctioned_region_key_usage", "country IS NOT NULL",
            f"count(*) FILTER (WHERE country IN {S(sanctioned)}) AS sanctioned, "
            f"count(*) FILTER (WHERE country IN {S(sanctioned)}) / count(*) AS share",
            "sanctioned >= 20 AND share > 0.1", None,
            lambda pl: pl.col("country").is_not_null(),
            lambda pl: [cnt(pl, pl.col("country").is_in(sanctioned)).alias("sanctioned"),
                        frac(pl, pl.col("country").is_in(sanctioned)).alias("share")],
            lambda pl: (pl.col("sanctioned") >= 20) & (pl.col("share") > 0.1),
            None, ("country",),
        ),
        Translation(
            "reseller_many_client_agents", None,
            "count(*) AS requests, count(DISTINCT user_agent) AS agents, count(DISTINCT ip) AS ips",
            "agents >= 30 AND requests >= 1000", None,
            None,
            lambda pl: [pl.len().alias("requests"), distinct(pl, "user_agent").alias("agents"),
                        distinct(pl, "ip").alias("ips")],
            lambda pl: (pl.col("agents") >= 30) & (pl.col("requests") >= 1_000),
            None, ("user_agent", "ip"),
        ),
        Translation(
            "reseller_browser_traffic", None,
            "count(*) AS requests, count(DISTINCT user_agent) AS agents, "
            "count(*) FILTER (WHERE starts_with(user_agent, 'Mozilla/')) / count(*) AS browser_share",
            "requests >= 1000 AND browser_share > 0.5 AND agents >= 20", None,
            None,
            lambda pl: [pl.len().alias("requests"), distinct(pl, "user_agent").alias("agents"),
                        frac(pl, pl.col("user_agent").str.starts_with("Mozilla/")).alias("browser_share")],
            lambda pl: (pl.col("requests") >= 1_000) & (pl.col("browser_share") > 0.5) & (pl.col("agents") >= 20),
            None, ("user_agent",),
        ),
        Translation(
            "high_flagged_rate", "flagged IS NOT NULL",
            "count(*) AS requests, count(*) FILTER (WHERE flagged) AS flagged_count, "
            "count(*) FILTER (WHERE flagged) / count(*) AS rate",
            "requests >= 200 AND rate > 0.2", None,
            lambda pl: pl.col("flagged").is_not_null(),
            lambda pl: [pl.len().alias("requests"), cnt(pl, pl.col("flagged")).alias("flagged_count"),
                        frac(pl, pl.col("flagged")).alias("rate")],
            lambda pl: (pl.col("requests") >= 200) & (pl.col("rate") > 0.2),
            None, ("flagged",),
        ),
        Translation(
            "flagged_content_burst", None,
            "count(*) AS requests, count(*) FILTER (WHERE flagged) AS flagged_count, "
            "count(*) FILTER (WHERE flagged) / count(*) AS rate",
            "flagged_count >= 100 AND rate > 0.25", None,
            None,
            lambda pl: [pl.len().alias("requests"), cnt(pl, pl.col("flagged")).alias("flagged_count"),
                        frac(pl, pl.col("flagged")).alias("rate")],
            lambda pl: (pl.col("flagged_count") >= 100) & (pl.col("rate") > 0.25),
            None, ("flagged",),
        ),
    ]
    return {t.name: t for t in ts}


@dataclass(frozen=True)
class RuleQuery:
    """A windowed rule of the compiled pack and its translation."""

    rule: ir.Rule
    tr: Translation

    @property
    def name(self) -> str:
        return self.rule.name

    @property
    def per(self) -> tuple[str, ...]:
        return self.rule.key

    @property
    def length(self) -> int:
        assert self.rule.window is not None
        return self.rule.window.length_ms

    @property
    def step(self) -> int:
        assert self.rule.window is not None
        return self.rule.window.step_ms

    @property
    def kind(self) -> str:
        """count/sum/fraction tumbling, distinct tumbling, or sliding (the issue's three classes)."""
        if self.length != self.step:
            return "sliding"
        return "distinct" if "DISTINCT" in self.tr.aggs else "count/sum/fraction"

    # -- DuckDB ---------------------------------------------------------------

    def sql(self, table: str = "ev") -> str:
        per = ", ".join(self.per)
        cols = ", ".join(dict.fromkeys([*self.per, *self.tr.columns]))
        where = f"WHERE {self.tr.where}" if self.tr.where else ""
        if self.length == self.step:
            wk = f"epoch_ms(ts) // {self.step}"
            x = f"SELECT {cols}, {wk} AS wk FROM {table} {where}"
        else:
            t = "epoch_ms(ts)"
            x = (f"SELECT {cols}, unnest(range(({t} - {self.length}) // {self.step} + 1, {t} // {self.step} + 1))"
                 f" AS wk FROM {table} {where}")
        unless = f" AND NOT coalesce(({self.tr.unless}), false)" if self.tr.unless else ""
        return (f"WITH x AS ({x}), g AS (SELECT {per}, wk, {self.tr.aggs} FROM x GROUP BY {per}, wk) "
                f"SELECT {per}, wk FROM g WHERE coalesce(({self.tr.when}), false){unless}")

    def run_duckdb(self, con: Any, table: str = "ev") -> list[tuple]:
        return con.execute(self.sql(table)).fetchall()

    # -- Polars ---------------------------------------------------------------

    def polars(self, pl: Any, lf: Any) -> Any:
        """A LazyFrame of the firing (key..., wk) rows over ``lf`` (the events)."""
        t = pl.col("ts").dt.epoch("ms")
        if self.tr.pl_where is not None:
            lf = lf.filter(self.tr.pl_where(pl))
        cols = list(dict.fromkeys([*self.per, *self.tr.columns]))
        if self.length == self.step:
            lf = lf.select(*[pl.col(c) for c in cols], (t // self.step).alias("wk"))
        else:
            lf = lf.select(*[pl.col(c) for c in cols],
                           pl.int_ranges((t - self.length) // self.step + 1, t // self.step + 1).alias("wk"))
            lf = lf.explode("wk")
        g = lf.group_by([*self.per, "wk"]).agg(self.tr.pl_aggs(pl))
        cond = self.tr.pl_when(pl).fill_null(False)
        if self.tr.pl_unless is not None:
            cond = cond & ~self.tr.pl_unless(pl).fill_null(False)
        return g.filter(cond).select([*self.per, "wk"])

    def run_polars(self, pl: Any, df: Any) -> list[tuple]:
        # the streaming engine: on these queries faster than the in-memory one (1M events,
        # api_key_many_ips 4.4 s vs 11.6 s) and it holds less of the exploded rows at once
        return self.polars(pl, df.lazy()).collect(engine="streaming").rows()

    @property
    def rows_per_event(self) -> int:
        """Rows the SQL/Polars translation makes of one event (its windows: 1 when tumbling)."""
        return -(-self.length // self.step)

    # -- answers --------------------------------------------------------------

    def windows(self, rows: list[tuple]) -> set[tuple]:
        """Firing rows → the (rule, key, window_start_ms) set left after the cooldown."""
        return apply_cooldown(self.name, rows, len(self.per), self.step, self.length, self.rule.cooldown_ms)


def apply_cooldown(name: str, rows: list[tuple], width: int, step: int, length: int,
                   cooldown_ms: int | None) -> set[tuple]:
    """Report a window unless the same key reported one less than ``cooldown`` before (window end times)."""
    by_key: dict[tuple, list[int]] = {}
    for r in rows:
        by_key.setdefault(tuple(r[:width]), []).append(int(r[width]))
    out = set()
    for key, wks in by_key.items():
        last: int | None = None
        for wk in sorted(set(wks)):
            t = wk * step + length
            if cooldown_ms is not None and last is not None and t < last + cooldown_ms:
                continue
            last = t
            out.add((name, key, wk * step))
    return out


def pack_queries(program: ir.Program) -> tuple[list[RuleQuery], list[str]]:
    """(queries for the pack's windowed rules, names of windowed rules without a translation)."""
    trs = translations()
    qs, missing = [], []
    for r in program.rules:
        if r.window is None:
            continue
        if r.name in trs:
            qs.append(RuleQuery(r, trs[r.name]))
        else:
            missing.append(r.name)
    return qs, missing


def _ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def engine_windows(violations: list[Any], program: ir.Program) -> dict[str, set[tuple]]:
    """tosengine's windowed violations as {rule: {(rule, key, window_start_ms)}}."""
    out: dict[str, set[tuple]] = {r.name: set() for r in program.rules if r.window is not None}
    for v in violations:
        if v.window_start is None:
            continue
        out[v.rule].add((v.rule, tuple(v.key.values()), _ms(v.window_start)))
    return out
