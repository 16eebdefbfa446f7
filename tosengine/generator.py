"""Synthetic LLM API usage logs with planted terms-of-service violators.

:func:`generate` builds a realistic usage log in the default schema
(:data:`tosengine.language.schema.DEFAULT_SCHEMA`) as a pyarrow table, plus the
ground truth: which planted violator should trip which rule of the shipped
pack in ``rules/``. :func:`write_log` writes it as Parquet, JSON Lines or
gzip-compressed JSON Lines, with the ground truth next to it in
``<path>.truth.json``.

Everything is vectorised with numpy (no Python loop per event) and depends only
on ``n_events``, ``seed``, ``start_ms`` and ``days``.

Background traffic
------------------
* Organizations have Pareto-distributed activity (shape 0.9: a few huge ones,
  a long tail; the biggest carry a few percent of the traffic each, and the
  top 1% of accounts 25-45% of it). Each has one to 60
  accounts (more for bigger organizations, Zipf-weighted), each account one to
  five API keys.
* A key is used from one IP (65% of keys), two IPs (28%) or a serverless pool
  of 3 to 30 IPs (7%), all in one country; 5% of multi-IP keys have their other
  IPs in a second country (travel, CI in another region). IPs are unique per
  key. No background traffic comes from a sanctioned country.
* Traffic follows a sinusoidal diurnal curve in the local time of the key's
  country (peak around 16:00 local, trough at 04:00 at 25% of the peak).
* Endpoints ``chat.completions``, ``responses``, ``embeddings`` and
  ``completions``; models per endpoint; log-normal token counts calibrated on
  the real Azure 2023 LLM trace (chat input median ~900 tokens, output median
  ~140); per-key 429 rate (mean ~1.5%, at most 12%), ~1.5% other 4xx/5xx.
* Nulls where real logs have them (background shares): ``temperature`` when
  the client did not set it and on embeddings (~55%); ``logprobs`` and ``n`` on
  embeddings and responses (~34%); ``input_tokens`` on requests refused before
  the prompt is read (401, 403, 413, 429; ~2%) and ``output_tokens`` on every
  request not served (~3.3%); ``flagged`` when the request was not served
  (~3.3%); ``user_agent`` on ~2% of events; ``country`` (failed geolocation)
  on ~0.7%. Planted traffic shifts these shares in small logs.

Planted violators
-----------------
One or more per theme of the pack (``GeneratedLog.truth``; ``rules/README.md``
has the table): three distilling organizations (logprobs harvesting,
templated prompts, repeated high-temperature sampling), a key shared across
150 IPs in 9 countries, a Scrapy flood with a 429 storm, an account rotating
12 keys, 30 fresh accounts behind one IP, a 40-account farm on 2 IPs, traffic
from Iran and a few requests from Cuba, a reseller relaying 250 browsers, and
two accounts with high moderation-flag rates. Each is far past the thresholds
of the rules its ground truth names and below those of every other rule of
the pack, and the background stays below all of them. Volumes that only
matter in aggregate (the distillers, the shared key, the reseller, the
flagged account) grow with ``sqrt(n_events / 1e6)`` above one million events.
One more planted group is *exempt* rather than violating: many student
accounts behind a registered campus NAT address (``lists/shared_egress_ips.txt``),
which ``many_accounts_one_ip`` would report but for its ``unless``; it is in
:attr:`GeneratedLog.exempt`.
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Sequence

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tosengine.language.schema import DEFAULT_SCHEMA

__all__ = [
    "ARROW_SCHEMA",
    "DEFAULT_START_MS",
    "MIN_EVENTS",
    "GeneratedLog",
    "PlantedViolator",
    "generate",
    "truth_path",
    "write_log",
]

#: 2026-01-05T00:00:00Z (a Monday), the default start of a generated log.
DEFAULT_START_MS = 1_767_571_200_000

HOUR = 3_600_000
DAY = 24 * HOUR
_NULL_INT = np.iinfo(np.int64).min

_ARROW_TYPES = {
    "timestamp": pa.timestamp("ms", tz="UTC"),
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
}

#: Arrow schema of a generated table (the default schema, in its order).
ARROW_SCHEMA = pa.schema([pa.field(f.name, _ARROW_TYPES[f.type.value]) for f in DEFAULT_SCHEMA.fields])


@dataclass(frozen=True)
class PlantedViolator:
    """One planted violator: its theme, the rules it must trip, and its key.

    ``key`` holds the identifying fields of the violator (org, account, key,
    IP or model, where it has a single one). A violation of one of ``rules``
    matches it when every field of the violation's key that also appears in
    ``key`` has the same value.
    """

    theme: str
    rules: tuple[str, ...]
    key: dict[str, str]
    description: str

    def to_json(self) -> dict[str, Any]:
        return {"theme": self.theme, "rules": list(self.rules), "key": dict(self.key), "description": self.description}


@dataclass(frozen=True)
class GeneratedLog:
    """A generated usage log (sorted by ``ts``) and its ground truth.

    ``exempt`` lists planted traffic that looks like a violation but is
    exempted by an ``unless`` of the pack, so it must *not* be reported.
    """

    table: pa.Table
    truth: list[PlantedViolator]
    exempt: tuple[PlantedViolator, ...] = field(default=())


# --------------------------------------------------------------------------
# Vocabularies of the background
# --------------------------------------------------------------------------

# (country, share of keys, UTC offset of its main business time zone in hours)
_COUNTRIES: tuple[tuple[str, float, float], ...] = (
    ("US", 0.330, -6), ("IN", 0.080, 5.5), ("GB", 0.060, 0), ("DE", 0.055, 1),
    ("FR", 0.040, 1), ("BR", 0.040, -3), ("JP", 0.040, 9), ("CA", 0.040, -5),
    ("KR", 0.030, 9), ("AU", 0.020, 10), ("NL", 0.020, 1), ("ES", 0.020, 1),
    ("IT", 0.020, 1), ("SG", 0.020, 8), ("PL", 0.015, 1), ("MX", 0.015, -6),
    ("ID", 0.015, 7), ("SE", 0.010, 1), ("IL", 0.010, 2), ("TR", 0.010, 3),
    ("VN", 0.010, 7), ("PH", 0.010, 8), ("NG", 0.010, 1), ("ZA", 0.010, 2),
    ("AR", 0.010, -3), ("CH", 0.010, 1), ("IE", 0.010, 0), ("UA", 0.010, 2),
    ("TW", 0.010, 8), ("AE", 0.010, 4), ("KE", 0.005, 3), ("EG", 0.005, 2),
)

# Official SDKs and general HTTP clients, as sent by real API clients.
_SDK_AGENTS: tuple[tuple[str, float], ...] = (
    ("OpenAI/Python 1.58.1", 0.16), ("OpenAI/Python 1.54.4", 0.08),
    ("AsyncOpenAI/Python 1.58.1", 0.06), ("OpenAI/Python 1.35.13", 0.03),
    ("OpenAI/JS 4.77.0", 0.10), ("OpenAI/JS 4.67.3", 0.04),
    ("python-httpx/0.27.2", 0.05), ("python-requests/2.32.3", 0.06),
    ("python-requests/2.31.0", 0.02), ("axios/1.7.9", 0.05),
    ("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", 0.02),
    ("undici", 0.02), ("curl/8.5.0", 0.03), ("curl/7.81.0", 0.02),
    ("Go-http-client/2.0", 0.04), ("Go-http-client/1.1", 0.02),
    ("okhttp/4.12.0", 0.03), ("Java-http-client/21.0.5", 0.02),
    ("Apache-HttpClient/5.3.1 (Java/17.0.10)", 0.02), ("Ruby", 0.01),
    ("Dart/3.5 (dart:io)", 0.01), ("PostmanRuntime/7.43.0", 0.01),
    ("Microsoft.SemanticKernel/1.32.0", 0.01), ("reqwest/0.12.9", 0.01),
)

_ENDPOINTS = ("chat.completions", "responses", "embeddings", "completions")
_ENDPOINT_SHARE = np.array([0.58, 0.17, 0.17, 0.08])
_MODELS: dict[str, tuple[str, ...]] = {
    "chat.completions": ("nova-2-pro", "nova-2-mini", "nova-2-nano", "nova-reasoner-1"),
    "responses": ("nova-2-pro", "nova-reasoner-1", "nova-2-mini"),
    "embeddings": ("nova-embed-small", "nova-embed-large"),
    "completions": ("nova-instruct-1", "nova-instruct-1-16k"),
}
# log-normal token counts per endpoint: (input median, input sigma, output median, output sigma)
_TOKENS = {
    "chat.completions": (900.0, 1.0, 140.0, 0.85),
    "responses": (1600.0, 1.1, 300.0, 0.9),
    "embeddings": (150.0, 1.0, 0.0, 0.0),
    "completions": (350.0, 0.9, 60.0, 1.0),
}
_TEMPERATURES = np.array([0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 1.0, 1.2])
_TEMPERATURE_SHARE = np.array([0.22, 0.05, 0.12, 0.08, 0.10, 0.23, 0.05, 0.13, 0.02])
# status codes other than 200 and 429, with their probability per request
_ERRORS = ((400, 0.006), (401, 0.0008), (403, 0.0003), (404, 0.0004), (408, 0.0002), (413, 0.0002),
           (422, 0.0008), (500, 0.0025), (502, 0.0005), (503, 0.002), (504, 0.0004))
_REJECTED = (401, 403, 413, 429)  # refused before the prompt is read: no token counts

_SCRAPER_AGENT = "Scrapy/2.11.2 (+https://scrapy.org)"


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A bijective 64-bit mix: distinct inputs give distinct, random-looking outputs."""
    z = np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _salt(seed: int, k: int) -> int:
    """A 64-bit offset that separates the id spaces of seeds and entity kinds."""
    return ((seed * 0x9E3779B1 + k) << 32) % (1 << 64)


def _hex_ids(prefix: str, salt: int, count: int) -> list[str]:
    """``count`` distinct ids ``prefix + 16 hex digits`` (entity ids; not per event)."""
    v = _splitmix64(np.arange(count, dtype=np.uint64) + np.uint64(salt))
    return [f"{prefix}{x:016x}" for x in v.tolist()]


class _Vocab:
    """Distinct strings of one column; events hold int32 codes (-1 = null)."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._index: dict[str, int] = {}

    def code(self, s: str) -> int:
        i = self._index.get(s)
        if i is None:
            i = self._index[s] = len(self.values)
            self.values.append(s)
        return i

    def codes(self, strings: Sequence[str]) -> np.ndarray:
        return np.fromiter((self.code(s) for s in strings), dtype=np.int32, count=len(strings))


_STRING_COLS = ("account_id", "org_id", "api_key_id", "ip", "country", "user_agent", "endpoint", "model")
_INT_COLS = ("status", "input_tokens", "output_tokens", "n")
_BOOL_COLS = ("logprobs", "flagged")


_LUT = 1 << 16


def _argsort_times(offsets: np.ndarray) -> np.ndarray:
    """Stable argsort of non-negative int64 offsets, as an LSD radix sort over 16-bit digits.

    numpy sorts 16-bit keys with a stable radix sort, which is several times
    faster on 10^7 values than its general stable sort.
    """
    order = np.argsort((offsets & 0xFFFF).astype(np.uint16), kind="stable")
    rest = offsets >> 16
    while rest.max(initial=0) > 0:
        digit = (rest & 0xFFFF).astype(np.uint16)[order]
        order = order[np.argsort(digit, kind="stable")]
        rest = rest >> 16
    return order


def _diurnal_times(rng: np.random.Generator, offsets_h: np.ndarray, start_ms: int, span_ms: int) -> np.ndarray:
    """Event times with a sinusoidal diurnal rate in each event's local time.

    ``offsets_h`` is the UTC offset (hours) of each event's location. A local
    clock time is drawn from the diurnal density over the span, shifted to
    UTC, and wrapped into ``[start_ms, start_ms + span_ms)``.
    """
    step = 60_000
    grid = np.arange(0, span_ms + step, step, dtype=np.float64)
    grid[-1] = span_ms
    hours = ((start_ms + grid) % DAY) / HOUR
    rate = 1.0 + 0.6 * np.sin(2.0 * np.pi * (hours - 10.0) / 24.0)
    cdf = np.concatenate(([0.0], np.cumsum((rate[1:] + rate[:-1]) * np.diff(grid) / 2.0)))
    cdf /= cdf[-1]
    # inverse CDF tabulated on a uniform grid, then linear interpolation by lookup
    table = np.interp(np.linspace(0.0, 1.0, _LUT + 1), cdf, grid)
    x = rng.random(len(offsets_h)) * _LUT
    i = np.minimum(x.astype(np.int64), _LUT - 1)
    local = table[i] + (x - i) * (table[i + 1] - table[i])
    utc = np.mod(local - offsets_h * HOUR, span_ms)
    return start_ms + np.minimum(utc.astype(np.int64), span_ms - 1)


def _lognormal_int(rng: np.random.Generator, median: np.ndarray | float, sigma: np.ndarray | float,
                   size: int, cap: int) -> np.ndarray:
    x = rng.lognormal(np.log(median), sigma, size)
    return np.clip(np.rint(x), 1, cap).astype(np.int64)


# --------------------------------------------------------------------------
# Events in index form
# --------------------------------------------------------------------------


class _Events:
    """Columns of a group of events, strings as vocabulary codes."""

    def __init__(self, cols: dict[str, np.ndarray]) -> None:
        self.cols = cols

    def __len__(self) -> int:
        return len(self.cols["ts"])

    @staticmethod
    def concat(parts: Sequence[_Events]) -> _Events:
        return _Events({k: np.concatenate([p.cols[k] for p in parts]) for k in parts[0].cols})


def _merge_sorted(a: _Events, b: _Events) -> _Events:
    """Merge two groups sorted by ``ts``; at equal times ``a`` comes first."""
    pos = np.searchsorted(a.cols["ts"], b.cols["ts"], side="right") + np.arange(len(b))
    in_a = np.ones(len(a) + len(b), dtype=bool)
    in_a[pos] = False
    out = {}
    for k, va in a.cols.items():
        v = np.empty(len(in_a), dtype=va.dtype)
        v[in_a] = va
        v[pos] = b.cols[k]
        out[k] = v
    return _Events(out)


class _Builder:
    """Shared vocabularies, plus a helper that fills plausible defaults for planted events."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.vocab = {c: _Vocab() for c in _STRING_COLS}

    def fresh_hashes(self, m: int) -> np.ndarray:
        """``m`` random non-zero 64-bit prompt hashes (0 is the null marker; collisions ~ m**2 / 2**65)."""
        raw = self.rng.bit_generator.random_raw(m)
        return raw | np.uint64(1)

    def strings(self, col: str, value: str | Sequence[str] | np.ndarray, m: int) -> np.ndarray:
        """Codes for ``m`` events: one string, a sequence to draw from uniformly, or codes."""
        v = self.vocab[col]
        if isinstance(value, str):
            return np.full(m, v.code(value), dtype=np.int32)
        if isinstance(value, np.ndarray):
            return value.astype(np.int32)
        codes = v.codes(list(value))
        return codes[self.rng.integers(0, len(codes), m)]

    def events(
        self,
        ts: np.ndarray,
        *,
        org: str | Sequence[str] | np.ndarray,
        account: str | Sequence[str] | np.ndarray,
        key: str | Sequence[str] | np.ndarray,
        ip: str | Sequence[str] | np.ndarray,
        country: str | Sequence[str] | np.ndarray,
        user_agent: str | Sequence[str] | np.ndarray,
        endpoint: str | Sequence[str] | np.ndarray = "chat.completions",
        model: str | Sequence[str] | np.ndarray = "nova-2-pro",
        p429: float = 0.01,
        status: np.ndarray | None = None,
        input_tokens: np.ndarray | None = None,
        output_tokens: np.ndarray | None = None,
        n: np.ndarray | int | None = 1,
        temperature: np.ndarray | float | None = 0.7,
        logprobs: np.ndarray | float = 0.0,
        flag_rate: float = 0.002,
        flagged: np.ndarray | None = None,
        prompt_hash: np.ndarray | None = None,
    ) -> _Events:
        rng = self.rng
        m = len(ts)
        cols: dict[str, np.ndarray] = {"ts": np.asarray(ts, dtype=np.int64)}
        for col, value in (("org_id", org), ("account_id", account), ("api_key_id", key), ("ip", ip),
                           ("country", country), ("user_agent", user_agent), ("endpoint", endpoint),
                           ("model", model)):
            cols[col] = self.strings(col, value, m)
        if status is None:
            status = np.where(rng.random(m) < p429, 429, 200).astype(np.int64)
        ok = status == 200
        rejected = np.isin(status, _REJECTED)
        if input_tokens is None:
            input_tokens = _lognormal_int(rng, 900.0, 1.0, m, 128_000)
        if output_tokens is None:
            output_tokens = _lognormal_int(rng, 140.0, 0.85, m, 16_384)
        cols["status"] = status
        cols["input_tokens"] = np.where(rejected, _NULL_INT, input_tokens)
        cols["output_tokens"] = np.where(ok, output_tokens, _NULL_INT)
        ep_code = cols["endpoint"]
        gen_with_n = np.isin(ep_code, [self.vocab["endpoint"].code("chat.completions"),
                                       self.vocab["endpoint"].code("completions")])
        if n is None:
            cols["n"] = np.full(m, _NULL_INT, dtype=np.int64)
        else:
            cols["n"] = np.where(gen_with_n, np.broadcast_to(np.asarray(n, dtype=np.int64), (m,)), _NULL_INT)
        if temperature is None:
            cols["temperature"] = np.full(m, np.nan)
        else:
            cols["temperature"] = np.broadcast_to(np.asarray(temperature, dtype=np.float64), (m,)).copy()
        if isinstance(logprobs, np.ndarray) and logprobs.dtype == np.bool_:
            lp = logprobs
        else:
            lp = rng.random(m) < float(logprobs)
        cols["logprobs"] = np.where(gen_with_n, lp.astype(np.int8), np.int8(-1)).astype(np.int8)
        if flagged is None:
            flagged = rng.random(m) < flag_rate
        cols["flagged"] = np.where(ok, flagged.astype(np.int8), np.int8(-1)).astype(np.int8)
        cols["prompt_hash"] = self.fresh_hashes(m) if prompt_hash is None else prompt_hash.astype(np.uint64)
        return _Events(cols)


# --------------------------------------------------------------------------
# Background traffic
# --------------------------------------------------------------------------


def _random_public_ips(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct IPv4 addresses outside private, reserved and documentation ranges."""
    excluded = (  # (network, prefix length)
        (0x0A000000, 8), (0x7F000000, 8), (0x64400000, 10), (0xA9FE0000, 16), (0xAC100000, 12),
        (0xC0A80000, 16), (0xC0000200, 24), (0xC6336400, 24), (0xCB007100, 24), (0xC6120000, 15),
        (0xC0000000, 24),
    )
    out = np.empty(0, dtype=np.uint64)
    while len(out) < count:
        cand = rng.integers(0x01000000, 0xE0000000, int(count * 1.2) + 16, dtype=np.uint64)
        keep = np.ones(len(cand), dtype=bool)
        for net, bits in excluded:
            keep &= (cand >> np.uint64(32 - bits)) != np.uint64(net >> (32 - bits))
        cand = cand[keep]
        allv = np.concatenate([out, cand])
        _, first = np.unique(allv, return_index=True)
        out = allv[np.sort(first)]
    out = out[:count]
    a, b, c, d = (out >> np.uint64(24)), (out >> np.uint64(16)) & np.uint64(255), \
        (out >> np.uint64(8)) & np.uint64(255), out & np.uint64(255)
    return [f"{w}.{x}.{y}.{z}" for w, x, y, z in zip(a.tolist(), b.tolist(), c.tolist(), d.tolist())]


def _background(bld: _Builder, n: int, start_ms: int, span_ms: int, seed: int) -> _Events:
    rng = bld.rng
    V = bld.vocab

    # -- organizations, accounts, keys: heavy-tailed weights ----------------
    n_orgs = max(50, int(6 * math.sqrt(max(n, 1))))
    org_w = rng.pareto(0.9, n_orgs) + 1.0
    org_w = np.minimum(org_w, 0.04 * org_w.sum())
    rel = org_w / org_w.max()
    n_acc = np.minimum(1 + rng.poisson(0.6 + 24.0 * rel ** 0.6), 60)
    acc_org = np.repeat(np.arange(n_orgs), n_acc)
    n_accounts = len(acc_org)
    rank = np.arange(n_accounts) - np.repeat(np.cumsum(n_acc) - n_acc, n_acc)
    acc_raw = (rank + 1.0) ** -1.1 * rng.lognormal(0.0, 0.5, n_accounts)
    acc_w = org_w[acc_org] * acc_raw / np.bincount(acc_org, acc_raw)[acc_org]

    n_keys_acc = np.minimum(rng.geometric(0.6, n_accounts), 5)
    key_acc = np.repeat(np.arange(n_accounts), n_keys_acc)
    n_keys = len(key_acc)
    krank = np.arange(n_keys) - np.repeat(np.cumsum(n_keys_acc) - n_keys_acc, n_keys_acc)
    key_raw = (krank + 1.0) ** -1.3 * rng.lognormal(0.0, 0.4, n_keys)
    key_w = acc_w[key_acc] * key_raw / np.bincount(key_acc, key_raw)[key_acc]

    org_codes = V["org_id"].codes(_hex_ids("org-", _salt(seed, 1), n_orgs))
    acc_codes = V["account_id"].codes(_hex_ids("acct-", _salt(seed, 2), n_accounts))
    key_codes = V["api_key_id"].codes(_hex_ids("key-", _salt(seed, 3), n_keys))

    # -- per key: addresses, country, endpoint, model, agent, settings ------
    country_names = [c for c, _, _ in _COUNTRIES]
    country_p = np.array([s for _, s, _ in _COUNTRIES])
    country_p /= country_p.sum()
    country_off = np.array([o for _, _, o in _COUNTRIES])
    country_codes = V["country"].codes(country_names)

    u = rng.random(n_keys)
    ip_cnt = np.where(u < 0.65, 1, np.where(u < 0.93, 2, rng.integers(3, 31, n_keys)))
    ip_start = np.cumsum(ip_cnt) - ip_cnt
    n_ips = int(ip_cnt.sum())
    ip_codes = V["ip"].codes(_random_public_ips(rng, n_ips))
    key_country = rng.choice(len(_COUNTRIES), n_keys, p=country_p)
    ip_key = np.repeat(np.arange(n_keys), ip_cnt)
    ip_country = key_country[ip_key].copy()
    second = (ip_cnt[ip_key] >= 2) & (np.arange(n_ips) > ip_start[ip_key])
    travel_key = rng.random(n_keys) < 0.05
    other_country = rng.choice(len(_COUNTRIES), n_keys, p=country_p)
    move = second & travel_key[ip_key]
    ip_country[move] = other_country[ip_key][move]
    ip_offset = country_off[ip_country] + rng.normal(0.0, 1.0, n_ips)

    key_ep = rng.choice(len(_ENDPOINTS), n_keys, p=_ENDPOINT_SHARE)
    key_mrank = rng.integers(0, 3, n_keys)
    ua_names = [a for a, _ in _SDK_AGENTS]
    ua_p = np.array([s for _, s in _SDK_AGENTS])
    ua_p /= ua_p.sum()
    ua_codes = V["user_agent"].codes(ua_names)
    key_ua1 = rng.choice(len(ua_names), n_keys, p=ua_p)
    key_ua2 = rng.choice(len(ua_names), n_keys, p=ua_p)
    key_ua2_share = np.where(rng.random(n_keys) < 0.12, 0.3, 0.0)
    key_temp = np.where(rng.random(n_keys) < 0.55,
                        _TEMPERATURES[rng.choice(len(_TEMPERATURES), n_keys, p=_TEMPERATURE_SHARE)], np.nan)
    key_p429 = np.minimum(rng.beta(0.6, 40.0, n_keys), 0.12)

    # -- per org and per account --------------------------------------------
    u = rng.random(n_orgs)
    org_logprobs = np.where(u < 0.90, rng.uniform(0.0, 0.02, n_orgs),
                            np.where(u < 0.98, rng.uniform(0.05, 0.2, n_orgs), rng.uniform(0.2, 0.4, n_orgs)))
    u = rng.random(n_orgs)
    org_repeat = np.where(u < 0.70, rng.uniform(0.0, 0.05, n_orgs),
                          np.where(u < 0.95, rng.uniform(0.05, 0.3, n_orgs), rng.uniform(0.3, 0.6, n_orgs)))
    org_in_mult = np.exp(np.clip(rng.normal(0.0, 0.35, n_orgs), -0.69, 0.69))
    org_out_mult = np.exp(np.clip(rng.normal(0.0, 0.35, n_orgs), -0.69, 0.69))
    org_salt = rng.bit_generator.random_raw(n_orgs)
    acc_flag = np.minimum(rng.lognormal(np.log(0.0015), 0.8, n_accounts), 0.015)

    # -- events ----------------------------------------------------------------
    # Events per key are multinomial; the events of a key are then spread over
    # time and sorted, and every other attribute is drawn in time order (they
    # are independent given key and address, so the order does not matter).
    counts = rng.multinomial(n, key_w / key_w.sum())
    key = np.repeat(np.arange(n_keys, dtype=np.int32), counts)
    u = rng.random(n, dtype=np.float32)
    cnt = ip_cnt[key]
    sel = np.where(cnt <= 2, (u >= 0.7) & (cnt == 2), (u * cnt).astype(np.int64))
    ip = ip_start[key] + sel
    ts = _diurnal_times(rng, ip_offset[ip], start_ms, span_ms)
    order = _argsort_times(ts - start_ms)
    ts, key, ip = ts[order], key[order], ip[order]
    acc = key_acc[key]
    org = acc_org[acc]

    def uniform() -> np.ndarray:
        return rng.random(n, dtype=np.float32)

    ep = key_ep[key].astype(np.int8)
    other = np.flatnonzero(uniform() >= 0.85)
    ep[other] = rng.choice(len(_ENDPOINTS), len(other), p=_ENDPOINT_SHARE)
    ep_codes = V["endpoint"].codes(list(_ENDPOINTS))
    model_table = np.full((len(_ENDPOINTS), 4), -1, dtype=np.int32)
    n_models = np.zeros(len(_ENDPOINTS), dtype=np.int64)
    for i, e in enumerate(_ENDPOINTS):
        model_table[i, : len(_MODELS[e])] = V["model"].codes(list(_MODELS[e]))
        n_models[i] = len(_MODELS[e])
    mrank = key_mrank[key]
    other = np.flatnonzero(uniform() < 0.15)
    mrank[other] += rng.integers(1, 3, len(other))
    model = model_table[ep, mrank % n_models[ep]]

    status = np.where(uniform() < key_p429[key], 429, 200)
    err_p = np.cumsum([p for _, p in _ERRORS])
    v = uniform()
    hit = np.flatnonzero((v < err_p[-1]) & (status == 200))
    status[hit] = np.array([c for c, _ in _ERRORS])[np.searchsorted(err_p, v[hit], side="right")]

    in_med = np.array([_TOKENS[e][0] for e in _ENDPOINTS])[ep] * org_in_mult[org]
    in_sig = np.array([_TOKENS[e][1] for e in _ENDPOINTS])[ep]
    out_med = np.array([max(_TOKENS[e][2], 1.0) for e in _ENDPOINTS])[ep] * org_out_mult[org]
    out_sig = np.array([_TOKENS[e][3] for e in _ENDPOINTS])[ep]
    input_tokens = _lognormal_int(rng, in_med, in_sig, n, 128_000)
    is_emb = ep == _ENDPOINTS.index("embeddings")
    output_tokens = _lognormal_int(rng, out_med, out_sig, n, 16_384)
    output_tokens[is_emb] = 0

    n_param = np.ones(n, dtype=np.int64)
    other = np.flatnonzero(uniform() >= 0.965)
    n_param[other] = rng.integers(2, 6, len(other))
    temperature = key_temp[key]
    temperature[is_emb] = np.nan
    logprobs = uniform() < org_logprobs[org]

    prompt_hash = bld.fresh_hashes(n)
    rep = np.flatnonzero(uniform() < org_repeat[org])
    prompt_hash[rep] = _splitmix64(org_salt[org[rep]] + rng.integers(0, 20, len(rep)).astype(np.uint64)) \
        | np.uint64(1)

    user_agent = key_ua1[key]
    other = np.flatnonzero(uniform() < key_ua2_share[key])
    user_agent[other] = key_ua2[key[other]]
    ua = ua_codes[user_agent]
    ua[uniform() < 0.02] = -1
    country = country_codes[ip_country[ip]]
    country[uniform() < 0.007] = -1
    flagged = uniform() < acc_flag[acc]

    return bld.events(
        ts, org=org_codes[org], account=acc_codes[acc], key=key_codes[key], ip=ip_codes[ip],
        country=country, user_agent=ua, endpoint=ep_codes[ep], model=model,
        status=status, input_tokens=input_tokens, output_tokens=output_tokens, n=n_param,
        temperature=temperature, logprobs=logprobs, flagged=flagged, prompt_hash=prompt_hash,
    )


# --------------------------------------------------------------------------
# Planted violators
# --------------------------------------------------------------------------


def _interval(start_ms: int, span_ms: int, frac: float, dur_ms: int, align_ms: int | None = None) -> tuple[int, int]:
    """An activity interval ``[a, b)`` of about ``dur_ms`` inside the span.

    Centred near ``start + frac * span``; with ``align_ms``, kept inside one
    tumbling window ``[k * align, (k + 1) * align)`` so that a tumbling-window
    rule sees all of it at once.
    """
    end = start_ms + span_ms
    centre = start_ms + int(frac * span_ms)
    if align_ms is not None:
        k = centre // align_ms
        lo, hi = max(k * align_ms, start_ms), min((k + 1) * align_ms, end)
        dur = min(dur_ms, int((hi - lo) * 0.95))
        a = lo + (hi - lo - dur) // 2
        return a, a + dur
    dur = min(dur_ms, int(span_ms * 0.9))
    a = min(max(centre - dur // 2, start_ms), end - dur)
    return a, a + dur


def _uniform_ts(rng: np.random.Generator, m: int, a: int, b: int) -> np.ndarray:
    return rng.integers(a, max(b, a + 1), m, dtype=np.int64)


def _browser_agents(count: int) -> list[str]:
    """``count`` distinct, realistic browser user agents (end users of a reseller)."""
    out: dict[str, None] = {}
    i = 0
    while len(out) < count:
        kind = i % 5
        major = 118 + (i // 5) % 14
        build = 5993 + (i * 37) % 900
        patch = (i * 13) % 200
        minor = (i // 70) % 7
        if kind == 0:
            ua = (f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  f"Chrome/{major}.0.{build}.{patch} Safari/537.36")
        elif kind == 1:
            ua = (f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
                  f"Chrome/{major}.0.{build}.{patch} Safari/537.36")
        elif kind == 2:
            ua = f"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{major}.0) Gecko/20100101 Firefox/{major}.{minor}"
        elif kind == 3:
            ua = (f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_{minor} like Mac OS X) AppleWebKit/605.1.15 "
                  f"(KHTML, like Gecko) Version/17.{minor} Mobile/15E{148 + (i // 5) % 14} Safari/604.1")
        else:
            ua = (f"Mozilla/5.0 (Linux; Android 14; Pixel {7 + patch % 3}) AppleWebKit/537.36 "
                  f"(KHTML, like Gecko) Chrome/{major}.0.{build}.{patch} Mobile Safari/537.36")
        out[ua] = None
        i += 1
    return list(out)


def _ips(prefix: str, first: int, count: int) -> list[str]:
    return [f"{prefix}.{first + i}" for i in range(count)]


def _planted(bld: _Builder, n: int, start_ms: int, span_ms: int
             ) -> tuple[list[_Events], list[PlantedViolator], list[PlantedViolator]]:
    """Planted violators (and the exempt campus NAT), scaled for ``n`` events."""
    rng = bld.rng
    f = min(max(1.0, math.sqrt(n / 1_000_000)), 5.0)
    parts: list[_Events] = []
    truth: list[PlantedViolator] = []
    exempt: list[PlantedViolator] = []
    sdk = [a for a, _ in _SDK_AGENTS[:6]]

    def times(m: int, frac: float, dur: int, align: int | None = None) -> np.ndarray:
        a, b = _interval(start_ms, span_ms, frac, dur, align)
        return _uniform_ts(rng, m, a, b)

    # 1. Distillation with logprobs: org-distill-1, 15,000+ requests in 18h.
    m = round(15_000 * f)
    ts = times(m, 0.30, 18 * HOUR)
    parts.append(bld.events(
        ts, org="org-distill-1", account=["acct-distill-1a", "acct-distill-1b"],
        key=["key-distill-1a", "key-distill-1b", "key-distill-1c", "key-distill-1d"],
        ip=["198.18.10.1", "198.18.10.2"], country="US", user_agent="OpenAI/Python 1.58.1",
        endpoint=rng.choice(bld.vocab["endpoint"].codes(["chat.completions", "completions"]), m, p=[0.9, 0.1]),
        model="nova-2-pro", input_tokens=_lognormal_int(rng, 500.0, 0.8, m, 128_000),
        output_tokens=_lognormal_int(rng, 900.0, 0.4, m, 16_384), temperature=0.8, logprobs=0.85))
    parts[-1].cols["model"] = np.where(parts[-1].cols["endpoint"] == bld.vocab["endpoint"].code("completions"),
                                       bld.vocab["model"].code("nova-instruct-1"),
                                       parts[-1].cols["model"]).astype(np.int32)
    truth.append(PlantedViolator(
        "distillation", ("distillation_logprobs_harvest",), {"org_id": "org-distill-1"},
        f"{m} generation requests in 18h, all prompts distinct, 85% with logprobs, ~900-token outputs"))

    # 2. Templated prompts: org-distill-2, 7,500+ requests of near-constant length.
    m = round(7_500 * f)
    ts = times(m, 0.55, 16 * HOUR)
    parts.append(bld.events(
        ts, org="org-distill-2", account="acct-distill-2", key="key-distill-2", ip="198.18.20.1",
        country="DE", user_agent="python-httpx/0.27.2", model="nova-2-pro",
        input_tokens=np.rint(rng.normal(420.0, 10.0, m)).astype(np.int64),
        output_tokens=_lognormal_int(rng, 1300.0, 0.35, m, 16_384), temperature=0.9, logprobs=0.0))
    truth.append(PlantedViolator(
        "distillation", ("distillation_templated_prompts",), {"org_id": "org-distill-2"},
        f"{m} requests in 16h from one template: distinct prompts of 420±10 tokens, ~3x output per input token"))

    # 3. Repeated sampling: org-distill-3, 25 prompts sampled 3,000+ times at n=8, T>=1.
    m = round(3_000 * f)
    ts = times(m, 0.75, 14 * HOUR, DAY)
    pool = bld.fresh_hashes(25)
    parts.append(bld.events(
        ts, org="org-distill-3", account="acct-distill-3", key=["key-distill-3a", "key-distill-3b"],
        ip="198.18.30.1", country="SG", user_agent="AsyncOpenAI/Python 1.58.1", model="nova-2-pro",
        p429=0.005, output_tokens=_lognormal_int(rng, 400.0, 0.5, m, 16_384), n=8,
        temperature=rng.choice([1.0, 1.1, 1.2], m), prompt_hash=pool[rng.integers(0, 25, m)]))
    truth.append(PlantedViolator(
        "distillation", ("distillation_repeated_sampling",), {"org_id": "org-distill-3", "model": "nova-2-pro"},
        f"{m} requests in one UTC day over 25 distinct prompts, n=8, temperature 1.0-1.2"))

    # 4. Shared key: key-shared-1 used from 150 IPs in 9 countries.
    m = round(2_400 * f)
    ts = times(m, 0.45, 20 * HOUR)
    countries = ["US", "DE", "BR", "IN", "VN", "NG", "ID", "TR", "PH"]
    ips = _ips("198.18.40", 1, 150)
    ip_idx = rng.integers(0, 150, m)
    ip_country = np.array(bld.vocab["country"].codes(countries))[np.arange(150) % 9]
    parts.append(bld.events(
        ts, org="org-shared-1", account="acct-shared-1", key="key-shared-1",
        ip=bld.vocab["ip"].codes(ips)[ip_idx], country=ip_country[ip_idx], user_agent=sdk[:5]))
    truth.append(PlantedViolator(
        "key_sharing", ("api_key_many_ips", "api_key_many_countries"),
        {"org_id": "org-shared-1", "account_id": "acct-shared-1", "api_key_id": "key-shared-1"},
        f"one key, {m} requests in 20h from 150 IPs in 9 countries (about {m // 20} an hour)"))

    # 5. Scraper: Scrapy user agent, a trickle, then a 40 s flood at 150/s, 85% rejected with 429.
    burst = 6_000
    a, _ = _interval(start_ms, span_ms, 0.62, 40_000)
    ts_burst = _uniform_ts(rng, burst, a, a + 40_000)
    ts_trickle = _uniform_ts(rng, 300, max(start_ms, a - 6 * HOUR), a)
    ts = np.concatenate([ts_trickle, ts_burst])
    status = np.concatenate([np.full(300, 200), np.where(rng.random(burst) < 0.85, 429, 200)]).astype(np.int64)
    parts.append(bld.events(
        ts, org="org-scrape-1", account="acct-scrape-1", key="key-scrape-1", ip="203.0.113.77", country="US",
        user_agent=_SCRAPER_AGENT, model="nova-2-mini", status=status,
        input_tokens=_lognormal_int(rng, 200.0, 0.6, len(ts), 128_000), temperature=None))
    truth.append(PlantedViolator(
        "scraping", ("request_burst_per_ip", "rate_limit_storm", "scraper_user_agent"),
        {"org_id": "org-scrape-1", "account_id": "acct-scrape-1", "api_key_id": "key-scrape-1",
         "ip": "203.0.113.77"},
        "Scrapy user agent; 300 requests over 6h, then 6,000 requests in 40 s (150/s), 85% rejected with 429"))

    # 6. Key rotation: one account cycles 12 keys from one address, 1,000 requests in 7 minutes.
    m = 1_000
    ts = times(m, 0.20, 7 * 60_000)
    keys = [f"key-evade-1-{i:02d}" for i in range(1, 13)]
    parts.append(bld.events(
        ts, org="org-evade-1", account="acct-evade-1", key=bld.vocab["api_key_id"].codes(keys)[np.arange(m) % 12],
        ip="198.51.100.14", country="GB", user_agent="OpenAI/Python 1.54.4", model="nova-2-mini", p429=0.3))
    truth.append(PlantedViolator(
        "scraping", ("rate_limit_key_rotation",),
        {"org_id": "org-evade-1", "account_id": "acct-evade-1", "ip": "198.51.100.14"},
        "1,000 requests in 7 minutes rotated over 12 API keys of one account from one IP, 30% rate limited"))

    # 7. Fresh accounts behind one IP: 30 accounts of 30 new orgs, 40 requests each, in 6h.
    per, k = 40, 30
    m = per * k
    ts = times(m, 0.40, 6 * HOUR)
    who = np.repeat(np.arange(k), per)
    parts.append(bld.events(
        ts, org=bld.vocab["org_id"].codes([f"org-fresh-{i:02d}" for i in range(1, k + 1)])[who],
        account=bld.vocab["account_id"].codes([f"acct-fresh-{i:02d}" for i in range(1, k + 1)])[who],
        key=bld.vocab["api_key_id"].codes([f"key-fresh-{i:02d}" for i in range(1, k + 1)])[who],
        ip="198.51.100.200", country="US", user_agent="python-requests/2.32.3", model="nova-2-nano"))
    truth.append(PlantedViolator(
        "multi_account", ("many_accounts_one_ip",), {"ip": "198.51.100.200"},
        "30 fresh accounts, each in its own new organization, 40 requests each from one IP within 6h"))

    # 8. Account farm: org-farm-1 with 40 accounts driven from 2 IPs within one UTC day.
    per, k = 40, 40
    m = per * k
    ts = times(m, 0.25, 12 * HOUR, DAY)
    who = np.repeat(np.arange(k), per)
    parts.append(bld.events(
        ts, org="org-farm-1",
        account=bld.vocab["account_id"].codes([f"acct-farm-{i:02d}" for i in range(1, k + 1)])[who],
        key=bld.vocab["api_key_id"].codes([f"key-farm-{i:02d}" for i in range(1, k + 1)])[who],
        ip=bld.vocab["ip"].codes(["203.0.113.50", "203.0.113.51"])[who % 2], country="US",
        user_agent="OpenAI/JS 4.77.0", model="nova-2-mini"))
    truth.append(PlantedViolator(
        "multi_account", ("org_many_accounts_few_ips",), {"org_id": "org-farm-1"},
        "one organization, 40 accounts with 40 requests each, all from 2 IP addresses in one UTC day"))

    # Exempt: a campus NAT (listed in shared_egress_ips) with 20 students' accounts in 20 orgs.
    per, k = 30, 20
    m = per * k
    ts = times(m, 0.50, 8 * HOUR)
    who = np.repeat(np.arange(k), per)
    parts.append(bld.events(
        ts, org=bld.vocab["org_id"].codes([f"org-campus-{i:02d}" for i in range(1, k + 1)])[who],
        account=bld.vocab["account_id"].codes([f"acct-campus-{i:02d}" for i in range(1, k + 1)])[who],
        key=bld.vocab["api_key_id"].codes([f"key-campus-{i:02d}" for i in range(1, k + 1)])[who],
        ip="192.0.2.10", country="NL", user_agent=sdk, model="nova-2-mini"))
    exempt.append(PlantedViolator(
        "multi_account", ("many_accounts_one_ip",), {"ip": "192.0.2.10"},
        "20 student accounts of 20 organizations behind a registered campus NAT (lists/shared_egress_ips.txt): "
        "exempted by `unless`, must not be reported"))

    # 9. Sanctioned country: an account operating from Iran, and one with a few requests from Cuba.
    m = 240
    ts = times(m, 0.35, 10 * HOUR)
    parts.append(bld.events(
        ts, org="org-sanction-1", account="acct-sanction-1", key="key-sanction-1",
        ip=["203.0.113.120", "203.0.113.121"], country="IR", user_agent="python-requests/2.31.0"))
    truth.append(PlantedViolator(
        "sanctioned_regions", ("sanctioned_country_access", "sanctioned_region_key_usage"),
        {"org_id": "org-sanction-1", "account_id": "acct-sanction-1", "api_key_id": "key-sanction-1"},
        "240 requests in 10h, all geolocated to Iran (IR)"))
    ts_home = times(300, 0.5, 20 * HOUR)
    a, b = _interval(start_ms, span_ms, 0.5, HOUR)
    ts_away = _uniform_ts(rng, 6, a, b)
    ts = np.concatenate([ts_home, ts_away])
    away = np.arange(306) >= 300
    parts.append(bld.events(
        ts, org="org-travel-1", account="acct-travel-1", key="key-travel-1",
        ip=np.where(away, bld.vocab["ip"].code("198.51.100.90"), bld.vocab["ip"].code("198.18.90.1")),
        country=np.where(away, bld.vocab["country"].code("CU"), bld.vocab["country"].code("US")),
        user_agent="OpenAI/JS 4.77.0", model="nova-2-mini"))
    truth.append(PlantedViolator(
        "sanctioned_regions", ("sanctioned_country_access",),
        {"org_id": "org-travel-1", "account_id": "acct-travel-1", "api_key_id": "key-travel-1"},
        "300 requests from the US and 6 within one hour from Cuba (CU): reported once, key not suspended"))

    # 10. Reseller: one account and key relaying 250 distinct end-user browsers.
    m = round(1_800 * f)
    ts = times(m, 0.65, 20 * HOUR)
    parts.append(bld.events(
        ts, org="org-resell-1", account="acct-resell-1", key="key-resell-1",
        ip=["198.18.100.1", "198.18.100.2", "198.18.100.3"], country="SG",
        user_agent=_browser_agents(250), model=["nova-2-pro", "nova-2-mini"]))
    truth.append(PlantedViolator(
        "reselling", ("reseller_many_client_agents", "reseller_browser_traffic"),
        {"org_id": "org-resell-1", "account_id": "acct-resell-1", "api_key_id": "key-resell-1"},
        f"{m} requests in 20h relayed from 250 distinct browser user agents through one account and key"))

    # 11. Prohibited content: a steady 35% flag rate, and a one-hour burst at 55%.
    m = round(600 * f)
    ts = times(m, 0.45, 20 * HOUR)
    parts.append(bld.events(
        ts, org="org-flag-1", account="acct-flag-1", key="key-flag-1", ip="198.18.110.1", country="CA",
        user_agent="OpenAI/Python 1.35.13", model="nova-2-mini", flag_rate=0.35))
    truth.append(PlantedViolator(
        "prohibited_content", ("high_flagged_rate",),
        {"org_id": "org-flag-1", "account_id": "acct-flag-1", "api_key_id": "key-flag-1"},
        f"{m} requests in 20h, 35% flagged by moderation"))
    m = 420
    ts = times(m, 0.70, 50 * 60_000, HOUR)
    parts.append(bld.events(
        ts, org="org-flag-2", account="acct-flag-2", key="key-flag-2", ip="198.18.120.1", country="AU",
        user_agent="axios/1.7.9", model="nova-2-nano", flag_rate=0.55))
    truth.append(PlantedViolator(
        "prohibited_content", ("flagged_content_burst", "high_flagged_rate"),
        {"org_id": "org-flag-2", "account_id": "acct-flag-2", "api_key_id": "key-flag-2"},
        "420 requests within one UTC hour, 55% flagged by moderation"))

    return parts, truth, exempt


def _planted_size(n: int) -> int:
    f = min(max(1.0, math.sqrt(n / 1_000_000)), 5.0)
    scaled = round(15_000 * f) + round(7_500 * f) + round(3_000 * f) + round(2_400 * f) + round(1_800 * f) \
        + round(600 * f)
    return scaled + 6_300 + 1_000 + 1_200 + 1_600 + 600 + 240 + 306 + 420


#: The smallest ``n_events`` accepted: the planted traffic must stay at most
#: half of the log.
MIN_EVENTS = 2 * _planted_size(0)


# --------------------------------------------------------------------------
# Arrow
# --------------------------------------------------------------------------

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_HEX_PAIRS = np.frombuffer(b"".join(bytes([_HEX[i >> 4], _HEX[i & 15]]) for i in range(256)), dtype=np.uint16)
_CHUNK = 1 << 22


def _hex_strings(values: np.ndarray, prefix: str, valid: np.ndarray | None = None) -> pa.ChunkedArray:
    """``prefix + 16 hex digits`` of each uint64, built without a Python loop per value."""
    p = np.frombuffer(prefix.encode(), dtype=np.uint8)
    w = len(p) + 16
    chunks = []
    for lo in range(0, max(len(values), 1), _CHUNK):
        v = values[lo: lo + _CHUNK]
        m = len(v)
        b = v.astype(">u8").view(np.uint8).reshape(m, 8)
        buf = np.empty((m, w), dtype=np.uint8)
        buf[:, : len(p)] = p
        buf[:, len(p):] = _HEX_PAIRS[b].view(np.uint8).reshape(m, 16)
        offsets = np.arange(m + 1, dtype=np.int32) * np.int32(w)
        bitmap = None
        null_count = 0
        if valid is not None:
            vv = valid[lo: lo + _CHUNK]
            null_count = int(m - vv.sum())
            if null_count:
                bitmap = pa.py_buffer(np.packbits(vv, bitorder="little").tobytes())
        chunks.append(pa.StringArray.from_buffers(m, pa.py_buffer(offsets), pa.py_buffer(buf),
                                                  bitmap, null_count if bitmap is not None else 0))
    return pa.chunked_array(chunks, type=pa.string())


def _to_table(ev: _Events, vocab: dict[str, _Vocab], seed: int) -> pa.Table:
    c = ev.cols
    n = len(ev)
    arrays: dict[str, Any] = {}
    arrays["ts"] = pa.array(c["ts"], type=pa.timestamp("ms", tz="UTC"))
    rid = _splitmix64(np.arange(n, dtype=np.uint64) + np.uint64(_salt(seed, 4)))
    arrays["request_id"] = _hex_strings(rid, "req_")
    for col in _STRING_COLS:
        codes = c[col]
        values = pa.array(vocab[col].values, type=pa.string())
        arrays[col] = values.take(pa.array(codes, mask=codes < 0, type=pa.int32()))
    for col in _INT_COLS:
        v = c[col]
        arrays[col] = pa.array(v, mask=v == _NULL_INT, type=pa.int64())
    t = c["temperature"]
    arrays["temperature"] = pa.array(t, mask=np.isnan(t), type=pa.float64())
    for col in _BOOL_COLS:
        v = c[col]
        arrays[col] = pa.array(v == 1, mask=v < 0, type=pa.bool_())
    ph = c["prompt_hash"]
    arrays["prompt_hash"] = _hex_strings(ph, "", valid=ph != 0)
    return pa.Table.from_arrays([arrays[f.name] for f in ARROW_SCHEMA], schema=ARROW_SCHEMA)


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def generate(n_events: int, seed: int = 0, *, start_ms: int | None = None, days: float = 2.0) -> GeneratedLog:
    """Generate ``n_events`` usage events over ``days`` days from ``start_ms``.

    The result is sorted by ``ts`` (epoch milliseconds, UTC) and depends only
    on the arguments. ``start_ms`` defaults to :data:`DEFAULT_START_MS`
    (2026-01-05T00:00:00Z). ``n_events`` must be at least :data:`MIN_EVENTS`
    so that the planted violators fit; at least one day is recommended, since
    most rules use 24-hour windows.
    """
    n_events = int(n_events)
    if n_events < MIN_EVENTS:
        raise ValueError(f"n_events must be at least {MIN_EVENTS} to hold the planted violators, got {n_events}")
    if not days > 0:
        raise ValueError(f"days must be positive, got {days}")
    start = DEFAULT_START_MS if start_ms is None else int(start_ms)
    span = int(round(days * DAY))
    if span < HOUR:
        raise ValueError("the log must span at least one hour")

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x7053]))
    bld = _Builder(rng)
    parts, truth, exempt = _planted(bld, n_events, start, span)
    planted = sum(len(p) for p in parts)
    assert planted == _planted_size(n_events), (planted, _planted_size(n_events))
    background = _background(bld, n_events - planted, start, span, int(seed))  # sorted by ts
    plants = _Events.concat(parts)
    order = np.argsort(plants.cols["ts"], kind="stable")
    plants = _Events({k: v[order] for k, v in plants.cols.items()})
    ev = _merge_sorted(background, plants)
    return GeneratedLog(_to_table(ev, bld.vocab, int(seed)), truth, tuple(exempt))


def truth_path(path: str | os.PathLike[str]) -> str:
    """Where :func:`write_log` puts the ground truth for a log written to ``path``."""
    return os.fspath(path) + ".truth.json"


def write_log(log: GeneratedLog, path: str | os.PathLike[str]) -> None:
    """Write ``log`` to ``path`` (``.parquet``, ``.jsonl`` or ``.jsonl.gz``) and its ground truth.

    Parquet is written with row groups of 131,072 rows (zstd). JSON Lines hold
    one object per event with the fields in schema order, ``ts`` as RFC 3339
    UTC with milliseconds (``2026-01-05T00:00:00.123Z``) and null fields left
    out; ``.jsonl.gz`` is one gzip member (deflate level 1, compressed in
    parallel blocks as pigz does). The ground truth goes to
    ``<path>.truth.json``.
    """
    p = os.fspath(path)
    low = p.lower()
    if low.endswith(".parquet"):
        pq.write_table(log.table, p, row_group_size=131_072, compression="zstd")
    elif low.endswith(".jsonl.gz"):
        with open(p, "wb") as fh:
            _write_jsonl(log.table, fh, gzip_level=1)
    elif low.endswith(".jsonl"):
        with open(p, "wb") as fh:
            _write_jsonl(log.table, fh)
    else:
        raise ValueError(f"unknown log format for {p!r}: use .parquet, .jsonl or .jsonl.gz")
    doc = {
        "format": "tosengine-generator-truth/1",
        "events": log.table.num_rows,
        "match": "a violation of one of `rules` matches a violator when every field of the violation's "
                 "key that also appears in `key` has the same value",
        "violators": [v.to_json() for v in log.truth],
        "exempt": [v.to_json() for v in log.exempt],
    }
    with open(truth_path(p), "wb") as fh:
        fh.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")


# --------------------------------------------------------------------------
# JSON Lines: built with pyarrow string kernels and numpy, one batch per task
# --------------------------------------------------------------------------

_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'
_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)


def _fixed_width(rows: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A string array from an ``(n, w)`` uint8 matrix of fixed-width values."""
    n, w = rows.shape
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(w)
    bitmap, nulls = None, 0
    if valid is not None and not valid.all():
        bitmap, nulls = pa.py_buffer(np.packbits(valid, bitorder="little")), int(n - valid.sum())
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(rows)),
                                       bitmap, nulls)


def _put_digits(out: np.ndarray, col: int, value: np.ndarray, width: int) -> None:
    for i in range(width - 1, -1, -1):
        out[:, col + i] = _DIGITS[value % 10]
        value = value // 10


def _ts_fragment(prefix: str, col: pa.Array) -> pa.Array | None:
    """``prefix + '"YYYY-MM-DDTHH:MM:SS.mmmZ"'`` per row, or None when numpy cannot do it."""
    if col.null_count:
        return None
    ms = col.cast(pa.timestamp("ms", tz="UTC"), safe=False).cast(pa.int64()).to_numpy()  # floor to ms
    if len(ms) and (ms.min() < -62_135_596_800_000 or ms.max() > 253_402_300_799_999):
        return None  # outside years 1..9999
    days, rem = np.divmod(ms, DAY)
    # civil date from days since 1970-01-01 (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms")
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    p = np.frombuffer(prefix.encode(), dtype=np.uint8)
    k = len(p)
    rows = np.empty((len(ms), k + 26), dtype=np.uint8)
    rows[:, :k] = p
    template = np.frombuffer(b'"0000-00-00T00:00:00.000Z"', dtype=np.uint8)
    rows[:, k:] = template
    _put_digits(rows, k + 1, year, 4)
    _put_digits(rows, k + 6, month, 2)
    _put_digits(rows, k + 9, day, 2)
    _put_digits(rows, k + 12, rem // HOUR, 2)
    _put_digits(rows, k + 15, (rem // 60_000) % 60, 2)
    _put_digits(rows, k + 18, (rem // 1000) % 60, 2)
    _put_digits(rows, k + 21, rem % 1000, 3)
    return _fixed_width(rows)


def _few_distinct(col: pa.Array) -> bool:
    """Whether a column has few distinct values (judged on a sample), so rendering each once pays."""
    sample = col.slice(0, 2048)
    return len(sample) > 0 and len(pc.unique(sample)) * 8 <= len(sample)


def _by_dictionary(key: str, col: pa.Array) -> pa.Array:
    """Fragments rendered once per distinct value with orjson, then gathered."""
    enc = pc.dictionary_encode(col)
    lits = [None if v is None else key + orjson.dumps(v).decode() for v in enc.dictionary.to_pylist()]
    return pa.array(lits, type=pa.string()).take(enc.indices)


def _fragment(name: str, col: pa.Array) -> pa.Array:
    """``"name":value`` for each row as a JSON fragment; null where the value is null."""
    key = orjson.dumps(name).decode() + ":"
    t = col.type
    if pa.types.is_timestamp(t):
        frag = _ts_fragment(key, col)
        if frag is not None:
            return frag
        text = pc.strftime(col.cast(pa.timestamp("ms", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")
        return pc.binary_join_element_wise(key + '"', text, '"', "")
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        if _few_distinct(col) or pc.any(pc.match_substring_regex(col, _NEEDS_ESCAPE)).as_py():
            return _by_dictionary(key, col)
        return pc.binary_join_element_wise(key + '"', col, '"', "")
    if pa.types.is_boolean(t):
        return pc.if_else(col, key + "true", key + "false")
    if pa.types.is_integer(t):
        return pc.binary_join_element_wise(key, pc.cast(col, pa.string()), "")
    if pa.types.is_floating(t):
        if _few_distinct(col):
            return _by_dictionary(key, pc.if_else(pc.is_finite(col), col, None))
        finite = pc.is_finite(col)
        col = pc.if_else(finite, col, None)  # NaN and infinities are not JSON: null
        s = pc.cast(col, pa.string())
        # Arrow writes 1.0 as "1"; keep floats recognisable as floats in JSON.
        bare = pc.match_substring_regex(s, r"^-?[0-9]+$")
        s = pc.if_else(bare, pc.binary_join_element_wise(s, ".0", ""), s)
        return pc.binary_join_element_wise(key, s, "")
    raise TypeError(f"cannot write column {name} of type {t} as JSON")


def _format_batch(batch: pa.RecordBatch) -> memoryview:
    """The JSON Lines text of one batch (a view of an Arrow buffer)."""
    frags = [_fragment(name, col) for name, col in zip(batch.schema.names, batch.columns)]
    body = pc.binary_join_element_wise(*frags, ",", null_handling="skip")
    lines = pc.binary_join_element_wise("{", body, "}\n", "")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    lo, hi = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    return memoryview(lines.buffers()[2])[lo:hi]


def _deflate_block(data: memoryview, level: int) -> bytes:
    """Raw deflate of one block, ending on a byte boundary (sync flush), so blocks concatenate."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)


def _write_jsonl(table: pa.Table, out: BinaryIO, gzip_level: int | None = None,
                 batch_rows: int = 65_536) -> None:
    """Write ``table`` as JSON Lines (optionally one gzip member), formatting batches in parallel threads.

    pyarrow kernels and zlib release the GIL, so batches format and compress
    concurrently; they are written in order.
    """
    workers = max(1, min(8, os.cpu_count() or 1))
    crc, size = 0, 0
    if gzip_level is not None:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")  # gzip header: deflate, no name, mtime 0

    def job(batch: pa.RecordBatch) -> tuple[memoryview, bytes | None]:
        text = _format_batch(batch)
        return text, (_deflate_block(text, gzip_level) if gzip_level is not None else None)

    def emit(result: tuple[memoryview, bytes | None]) -> None:
        nonlocal crc, size
        text, packed = result
        if packed is None:
            out.write(text)
        else:
            crc = zlib.crc32(text, crc)
            size += len(text)
            out.write(packed)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[tuple[memoryview, bytes | None]]] = deque()
        for batch in table.to_batches(max_chunksize=batch_rows):
            pending.append(pool.submit(job, batch))
            if len(pending) >= 2 * workers:
                emit(pending.popleft().result())
        while pending:
            emit(pending.popleft().result())
    if gzip_level is not None:
        out.write(zlib.compressobj(gzip_level, zlib.DEFLATED, -15).flush(zlib.Z_FINISH))  # final empty block
        out.write(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
