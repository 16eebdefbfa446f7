"""Turn pytest-benchmark JSON files into the tables of ``docs/performance.md``.

``python -m benchmarks.report RUN_DIR [--doc docs/performance.md]`` reads
``RUN_DIR/run.json`` (written by :mod:`benchmarks.run`) and the
``bench-*.json`` files it names, and rewrites what lies between
``<!-- benchmarks:begin -->`` and ``<!-- benchmarks:end -->`` in the doc;
the prose around the markers stays. Every time is the best (minimum) of the
timed rounds, for every contestant alike.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BEGIN = "<!-- benchmarks:begin -->"
END = "<!-- benchmarks:end -->"
ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"


@dataclass
class Bench:
    name: str  # test function name
    param: str | None
    seconds: float  # min of the rounds
    median: float
    rounds: int
    info: dict[str, Any]


@dataclass
class SizeRun:
    """The benchmarks of one ``--events`` size (or the size-independent run)."""

    events: int
    benches: list[Bench] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)
    datetime: str = ""

    def get(self, name: str, param: object = None) -> Bench | None:
        for b in self.benches:
            if b.name == name and (param is None or b.param == str(param)):
                return b
        return None

    def all(self, name: str) -> list[Bench]:
        return [b for b in self.benches if b.name == name]


def load(path: Path, events: int) -> SizeRun:
    d = json.loads(path.read_text())
    run = SizeRun(events, machine=d.get("machine_info", {}), datetime=d.get("datetime", ""))
    for b in d["benchmarks"]:
        name = b["name"].split("[")[0]
        param = b["name"][len(name) + 1:-1] if "[" in b["name"] else None
        s = b["stats"]
        run.benches.append(Bench(name, param, s["min"], s["median"], s["rounds"], b.get("extra_info", {})))
    return run


# --------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------


def fmt_n(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return f"{n:,}"


def fmt_s(s: float | None) -> str:
    if s is None:
        return "–"
    if s >= 100:
        return f"{s:.0f} s"
    if s >= 1:
        return f"{s:.2f} s"
    return f"{s * 1000:.1f} ms" if s >= 0.001 else f"{s * 1e6:.0f} µs"


def fmt_rate(events: int, s: float | None) -> str:
    if not s:
        return "–"
    r = events / s
    if r >= 1e6:
        return f"{r / 1e6:.2f} M/s"
    return f"{r / 1e3:.0f} k/s"


def fmt_x(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.2f}x" if x < 10 else f"{x:.1f}x"


def fmt_bytes(b: float) -> str:
    if b >= 1 << 30:
        return f"{b / (1 << 30):.1f} GiB"
    if b >= 1 << 20:
        return f"{b / (1 << 20):.0f} MiB"
    return f"{b:.0f} B"


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(sep) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def status(value: float | None, goal: float, higher_is_better: bool = True) -> str:
    """'met' or 'missed: Nx short' (the factor that separates the value from the goal)."""
    if value is None:
        return "not measured"
    if higher_is_better:
        if value >= goal:
            return "**met**"
        return f"missed, {_factor(goal / value)} short" if value > 0 else "missed"
    if value <= goal:
        return "**met**"
    return f"missed, {_factor(value / goal)} over"


def _factor(x: float) -> str:
    return f"{x:.2f}x" if x < 1.1 else f"{x:.1f}x"


# --------------------------------------------------------------------------
# Derived numbers
# --------------------------------------------------------------------------


@dataclass
class Columnar:
    events: int
    pack: Bench | None
    parquet: Bench | None
    duck: dict[str, Bench]
    polars: dict[str, Bench]
    alone: dict[str, Bench]
    bandwidth_gbs: float | None
    bytes_per_event: float | None
    from_arrow: Bench | None

    @property
    def sum_duck(self) -> float | None:
        return sum(b.seconds for b in self.duck.values()) if self.duck else None

    @property
    def sum_polars(self) -> float | None:
        return sum(b.seconds for b in self.polars.values()) if self.polars else None

    @property
    def polars_missing(self) -> list[str]:
        """Rules with a DuckDB time but no Polars one (not run, e.g. out of memory): the Polars sum
        and its ratio are then lower bounds."""
        return [name for name in self.duck if name not in self.polars]

    def at_least(self, text: str) -> str:
        """``text`` for the Polars sum, marked as a lower bound when queries are missing."""
        return f"≥ {text} ({len(self.polars)} of {len(self.duck)} queries)" if self.polars_missing else text

    def ratio(self, other: float | None) -> float | None:
        if other is None or self.pack is None:
            return None
        return other / self.pack.seconds

    @property
    def bound_rate(self) -> float | None:
        if not self.bandwidth_gbs or not self.bytes_per_event:
            return None
        return self.bandwidth_gbs * 1e9 / self.bytes_per_event

    @property
    def bound_share(self) -> float | None:
        if self.bound_rate is None or self.pack is None:
            return None
        return (self.events / self.pack.seconds) / self.bound_rate

    def class_rate(self, kind: str) -> tuple[float | None, str]:
        """The slowest rule of a class alone, events/s (and its name)."""
        rules = [b for b in self.alone.values() if b.info.get("kind") == kind]
        if not rules:
            return None, ""
        worst = max(rules, key=lambda b: b.seconds)
        return self.events / worst.seconds, worst.param or ""


def columnar(run: SizeRun) -> Columnar:
    bw = run.get("test_memory_bandwidth")
    pack = run.get("test_pack_arrow")
    ok = lambda bs: {b.param: b for b in bs if b.info.get("checked")}  # noqa: E731
    return Columnar(
        run.events, pack, run.get("test_pack_parquet"), ok(run.all("test_duckdb")), ok(run.all("test_polars")),
        ok(run.all("test_rule_alone")),
        (bw.info["bytes"] / bw.seconds / 1e9) if bw else None,
        pack.info.get("bytes_per_event") if pack else None, run.get("test_polars_from_arrow"))


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------


def run_section(meta: dict[str, Any], runs: list[SizeRun]) -> list[str]:
    m = next((r.machine.get("tosengine_bench") for r in runs if r.machine.get("tosengine_bench")), {})
    v = m.get("versions", {})
    loads = [b.info[k] for r in runs for b in r.benches for k in ("load_before", "load_after") if k in b.info]
    cpus = [b.info["cpu_per_wall"] for r in runs for b in r.benches if "cpu_per_wall" in b.info]
    out = [
        f"- **Command**: `{meta.get('command', 'python -m benchmarks.run')}`"
        f" ({meta.get('started', '?')} to {meta.get('finished', '?')} UTC, {meta.get('wall_s', 0) / 60:.0f} min)",
        f"- **Machine**: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
        f"{fmt_bytes(m.get('memory_bytes', 0))} RAM; {m.get('os', '?')}",
        f"- **Versions**: tosengine {v.get('tosengine', '?')} (commit `{m.get('commit', '?')}`), "
        f"Python {v.get('python', '?')}, numpy {v.get('numpy', '?')}, numba {v.get('numba', '?')}, "
        f"pyarrow {v.get('pyarrow', '?')}, DuckDB {v.get('duckdb', '?')}, Polars {v.get('polars', '?')}, "
        f"orjson {v.get('orjson', '?')}, pytest-benchmark {v.get('pytest_benchmark', '?')}",
        "- **Threads**: one for everyone (DuckDB `SET threads=1`, `POLARS_MAX_THREADS=1`, "
        "Arrow CPU and I/O pools of 1, `NUMBA_NUM_THREADS=1`), except tosengine's JSONL run with "
        "`threads=2` (the caller and one read-ahead thread)",
    ]
    if loads:
        out.append(f"- **Load average** during the run: {min(loads):.2f} to {max(loads):.2f}; process CPU time per "
                   f"wall second over timed rounds: {min(cpus):.2f} to {max(cpus):.2f} "
                   "(the machine is shared: below 1.0 a benchmark did not have a core to itself)")
    out.append("- **Statistic**: the best (minimum) of the timed rounds, for every contestant; rounds fill a "
               f"{meta.get('budget', '?')} s budget per benchmark (at least one, after a checked warm-up run)")
    return out


def targets_section(sized: list[SizeRun], fixed: SizeRun | None) -> list[str]:
    cols = [columnar(r) for r in sized]
    head = ["target", "goal"] + [f"{fmt_n(c.events)} events" for c in cols] + ["status"]
    rows: list[list[str]] = []
    last = cols[-1] if cols else None

    def row(label: str, goal: str, values: list[float | None], shown: list[str], goal_v: float,
            higher: bool = True) -> None:
        rows.append([label, goal, *shown, status(values[-1] if values else None, goal_v, higher)])

    for label, goal, attr, g in [
        ("Columnar: whole pack vs **sum** of DuckDB queries", "≥ 5x", "sum_duck", 5.0),
        ("Columnar: whole pack vs **sum** of Polars queries", "≥ 3x", "sum_polars", 3.0),
    ]:
        vals = [c.ratio(getattr(c, attr)) for c in cols]
        shown = [c.at_least(fmt_x(x)) if attr == "sum_polars" else fmt_x(x) for c, x in zip(cols, vals)]
        complete = [c for c in cols if attr != "sum_polars" or not c.polars_missing]
        if complete and complete[-1] is not cols[-1]:  # a lower bound decides nothing: judge the largest whole run
            judged = complete[-1]
            rows.append([label, goal, *shown, status(judged.ratio(getattr(judged, attr)), g)
                         + f" at {fmt_n(judged.events)} (at {fmt_n(cols[-1].events)} only a lower bound)"])
        else:
            row(label, goal, vals, shown, g)
    for label, d in [("Columnar: whole pack vs slowest single DuckDB query", "duck"),
                     ("Columnar: whole pack vs slowest single Polars query", "polars")]:
        vals = [c.ratio(max((b.seconds for b in getattr(c, d).values()), default=None)) for c in cols]
        shown = [c.at_least(fmt_x(x)) if d == "polars" else fmt_x(x) for c, x in zip(cols, vals)]
        rows.append([label, "(orientation)", *shown, "–"])
    vals = [c.bound_share for c in cols]
    row("Columnar: share of the memory-bandwidth bound", "≥ 25%", vals,
        [f"{x * 100:.2f}%" if x is not None else "–" for x in vals], 0.25)

    def jsonl_ratio(r: SizeRun, other: str) -> float | None:
        t, o = r.get("test_jsonl_tosengine"), r.get(other)
        return o.seconds / t.seconds if t and o and t.info.get("checked") else None

    vals = [jsonl_ratio(r, "test_jsonl_orjson_loop") for r in sized]
    row("JSONL end to end vs bare `orjson.loads` loop", "≥ 3x", vals, [fmt_x(x) for x in vals], 3.0)
    vals = [jsonl_ratio(r, "test_jsonl_duckdb") for r in sized]
    row("JSONL end to end vs DuckDB `read_json` merely reading", "≥ 0.8x", vals, [fmt_x(x) for x in vals], 0.8)
    def two_cores(r: SizeRun) -> float | None:
        t, t2 = r.get("test_jsonl_tosengine"), r.get("test_jsonl_tosengine_two_cores")
        ok = t and t2 and t.info.get("checked") and t2.info.get("checked")
        return t.seconds / t2.seconds if ok else None  # type: ignore[union-attr]

    vals = [two_cores(r) for r in sized]
    row("JSONL end to end, two cores vs one (`threads=2`)", "≥ 1.5x", vals, [fmt_x(x) for x in vals], 1.5)
    for kind, goal_m in [("count/sum/fraction", 100), ("distinct", 50), ("sliding", 30)]:
        vals3 = [c.class_rate(kind) for c in cols]
        shown = [f"{x / 1e6:.2f} M/s (`{n}`)" if x else "–" for x, n in vals3]
        row(f"Columnar absolute, slowest {kind} rule alone, 100k batches", f"≥ {goal_m} M ev/s",
            [x for x, _ in vals3], shown, goal_m * 1e6)
    vals = []
    for r in sized:
        s, whole = r.get("test_streaming", 10_000), _whole_table(r)
        vals.append(whole / s.seconds if s and whole else None)
    row("Streaming in 10k batches vs the whole table (100k batches, same process)", "≥ 80%", vals,
        [f"{x * 100:.0f}%" if x is not None else "–" for x in vals], 0.8)
    blank = [""] * max(len(cols) - 1, 0)
    if fixed is not None:
        for scen, label, goal, g in [("cold", "Cold compile of the pack, nothing cached", "< 5 s", 5.0),
                                     ("cold_rules", "Cold compile of the pack, library already cached",
                                      "< 5 s", 5.0),
                                     ("warm", "Warm start from the kernel cache, new process", "< 0.5 s", 0.5)]:
            b = fixed.get(f"test_compile_{scen}")
            v = b.info.get("ready_s") if b else None
            rows.append([label, goal, *blank, fmt_s(v), status(v, g, higher_is_better=False)])
        b = fixed.get("test_check")
        rows.append(["`tosengine check rules/` (console script, whole process)", "< 0.3 s", *blank,
                     fmt_s(b.seconds if b else None), status(b.seconds if b else None, 0.3, higher_is_better=False)])
        b = fixed.get("test_memory_per_key", "tumbling")
        v = b.info.get("peak_bytes_per_key") if b else None
        rows.append(["Memory per active key, tumbling count/sum rule (peak RSS)", "< 200 B", *blank,
                     f"{v:.0f} B" if v is not None else "–", status(v, 200, higher_is_better=False)])
    out = table(head, rows, "ll" + "r" * len(cols) + "l")
    if len(cols) > 1:
        out.append("")
        out.append(f"The status is judged on the largest run ({fmt_n(cols[-1].events)} events); compile, "
                   "check and memory do not depend on the log size and are measured once.")
    return out


def columnar_section(r: SizeRun, rule_meta: dict[str, dict[str, Any]]) -> list[str]:
    c = columnar(r)
    n = c.events
    out = [f"#### {fmt_n(n)} events"]
    rows = []
    if c.pack:
        rows.append(["tosengine, whole pack (17 rules, one pass), Arrow table in 100k batches",
                     fmt_s(c.pack.seconds), fmt_rate(n, c.pack.seconds), "1.00x"])
    if c.parquet:
        rows.append(["tosengine, whole pack, Parquet file to violations (`evaluate(rules, path)`)",
                     fmt_s(c.parquet.seconds), fmt_rate(n, c.parquet.seconds),
                     fmt_x(c.ratio(c.parquet.seconds))])
    rows.append(["DuckDB, sum of the per-rule queries", fmt_s(c.sum_duck), fmt_rate(n, c.sum_duck),
                 fmt_x(c.ratio(c.sum_duck))])
    rows.append([c.at_least("Polars, sum of the per-rule queries"), fmt_s(c.sum_polars),
                 fmt_rate(n, c.sum_polars), fmt_x(c.ratio(c.sum_polars))])
    for label, d in [("DuckDB, slowest single query", c.duck), ("Polars, slowest single query", c.polars)]:
        if d:
            w = max(d.values(), key=lambda b: b.seconds)
            rows.append([f"{label} (`{w.param}`)", fmt_s(w.seconds), fmt_rate(n, w.seconds), fmt_x(c.ratio(w.seconds))])
    if c.from_arrow:
        rows.append(["Polars `from_arrow` of the table (once, not counted above)", fmt_s(c.from_arrow.seconds),
                     fmt_rate(n, c.from_arrow.seconds), "–"])
    out += table(["", "time", "events/s", "time / tosengine pack"], rows, "lrrr")
    if c.bound_rate and c.pack:
        cols = c.pack.info.get("columns", [])
        out += ["", f"Physical bound: a single-thread numpy sum over 1 GiB reads **{c.bandwidth_gbs:.1f} GB/s**; "
                f"the pack reads {len(cols)} columns ({', '.join(f'`{x}`' for x in cols)}), "
                f"**{c.bytes_per_event:.0f} bytes per event** as Arrow stores them (values, offsets, validity "
                f"bitmaps; all 18 columns: {c.pack.info.get('bytes_per_event_all_columns', 0):.0f} B). "
                f"Bound: {c.bound_rate / 1e6:.1f} M events/s; tosengine reaches "
                f"{n / c.pack.seconds / 1e6:.3f} M events/s, **{c.bound_share * 100:.2f}%** of it."]
    out += ["", "Per rule (each rule alone in tosengine; DuckDB and Polars answers checked equal to tosengine's "
            "(key, window start) after the cooldown before their times were kept):", ""]
    rows = []
    for name, meta in rule_meta.items():
        a, d, p = c.alone.get(name), c.duck.get(name), c.polars.get(name)
        rows.append([f"`{name}`", meta.get("kind", "?"), meta.get("window", ""),
                     fmt_rate(n, a.seconds) if a else "–", fmt_s(d.seconds) if d else "–",
                     fmt_s(p.seconds) if p else "not run" if name in c.polars_missing else "–",
                     str(a.info.get("violations", "")) if a else ""])
    out += table(["rule", "class", "window", "tosengine alone", "DuckDB", "Polars", "violations"], rows,
                 "lllrrrr")
    if c.polars_missing:
        out += ["", f"Polars queries not run at this size ({', '.join(f'`{x}`' for x in c.polars_missing)}): "
                "each explodes every event into its windows, more rows than "
                "`TOSENGINE_BENCH_POLARS_MAX_ROWS` allows (default 100M); at 10M events such a query exhausted the "
                "machine's memory with either Polars engine. The Polars sum and ratios above leave them "
                "out, so they are lower bounds."]
    return out


def jsonl_section(r: SizeRun) -> list[str]:
    n = r.events
    t = r.get("test_jsonl_tosengine")
    out = [f"#### {fmt_n(n)} events"]
    size = (t or r.get("test_jsonl_orjson_loop") or Bench("", None, 1, 1, 1, {})).info.get("file_bytes", 0)
    rows = []
    for name, label in [("test_jsonl_tosengine", "tosengine, whole pack, file to violations"),
                        ("test_jsonl_tosengine_two_cores", "tosengine, the same with `threads=2` (read ahead)"),
                        ("test_jsonl_orjson_loop", "bare `orjson.loads` loop over the lines"),
                        ("test_jsonl_pyarrow", "`pyarrow.json.read_json` (explicit schema)"),
                        ("test_jsonl_polars", "`polars.read_ndjson`"),
                        ("test_jsonl_duckdb", "DuckDB `read_json` into a temp table")]:
        b = r.get(name)
        if b is None:
            continue
        rows.append([label, fmt_s(b.seconds), fmt_rate(n, b.seconds), f"{size / b.seconds / 1e6:.0f} MB/s",
                     fmt_x(b.seconds / t.seconds) if t else "–"])
    out += table(["", "time", "events/s", "input", "time / tosengine"], rows, "lrrrr")
    out += ["", f"File: {fmt_bytes(size)} of JSON Lines from the generator."]
    two = r.get("test_jsonl_tosengine_two_cores")
    if two and t and "cpu_per_wall" in two.info:
        wait = two.info.get("cpu_wait_per_wall")
        out[-1] += (f" With `threads=2` the process used {two.info['cpu_per_wall']:.2f} s of CPU per wall second "
                    f"(one thread: {t.info.get('cpu_per_wall', 0):.2f})"
                    + (f" and the evaluating thread waited for a CPU {wait * 100:.0f}% of the time" if wait is not None
                       else "")
                    + ": when other processes hold a core, the two-core figure understates what two free cores give.")
    return out


def _whole_table(r: SizeRun) -> float | None:
    """The whole-table time streaming is compared with: the 100k-batch run of the same process.

    The whole-table run of section 1 feeds the same 100k batches, but in another
    process minutes away, and a shared machine's speed drifts between the two.
    """
    b = r.get("test_streaming", 100_000)
    if b is not None:
        return b.seconds
    c = columnar(r)
    return c.pack.seconds if c.pack else None


def streaming_section(r: SizeRun) -> list[str]:
    n = r.events
    c = columnar(r)
    whole = _whole_table(r)
    bs = {int(b.param): b for b in r.all("test_streaming")}
    out = [f"#### {fmt_n(n)} events"]
    rows = []
    for size in sorted(bs):
        b = bs[size]
        pct = f"{whole / b.seconds * 100:.0f}%" if whole else "–"
        rows.append([f"{size:,}", str(b.info.get("batches", "")), fmt_s(b.seconds), fmt_rate(n, b.seconds), pct])
    out += table(["batch (events)", "batches", "time", "events/s", "vs the 100k run"], rows)
    if c.pack and 100_000 in bs:
        out += ["", f"The whole-table run of section 1 feeds the same 100k batches in its own process: "
                f"{fmt_s(c.pack.seconds)} there against {fmt_s(bs[100_000].seconds)} here. Streaming is "
                "compared with the 100k run of this process, as the machine's speed drifts between processes."]
    if 1_000 in bs and 100_000 in bs:
        b1, b2 = bs[1_000], bs[100_000]
        nb1, nb2 = b1.info.get("batches", n // 1000), b2.info.get("batches", n // 100_000)
        over = (b1.seconds - b2.seconds) / max(nb1 - nb2, 1)
        out += ["", f"Per-batch overhead (slope between the 1k and 100k runs): **{fmt_s(over)} per `feed()`**."]
    return out


def compile_section(fixed: SizeRun) -> list[str]:
    rows = []
    for scen, label in [("cold", "cold, nothing cached"), ("cold_rules", "cold for this rule set (library cached)"),
                        ("warm", "warm start (both caches hold the pack)")]:
        b = fixed.get(f"test_compile_{scen}")
        if b is None:
            continue
        p = min(b.info.get("probes", [{}]), key=lambda x: x.get("ready_s", 1e9))
        rows.append([label, fmt_s(b.info.get("ready_s")), fmt_s(p.get("front_s")), fmt_s(p.get("kernels_s")),
                     fmt_s(p.get("first_s")), fmt_s(p.get("second_s")), fmt_s(p.get("import_s")),
                     fmt_s(b.seconds), str(b.rounds)])
    out = table(["start", "ready (compile)", "front end", "codegen", "first 100k", "second 100k",
                 "imports", "whole process", "rounds"], rows)
    b = fixed.get("test_check")
    if b:
        ip = b.info.get("in_process", {})
        out += ["", f"`tosengine check rules/`: **{fmt_s(b.seconds)}** for the whole process (best of "
                f"{b.rounds}; median {fmt_s(b.median)}); in process: imports {fmt_s(ip.get('import_s'))}, "
                f"checking {fmt_s(ip.get('check_s'))}; numba imported: {'yes' if ip.get('numba') else 'no'}, "
                "kernel caches written: no."]
    return out


def memory_section(fixed: SizeRun) -> list[str]:
    rows = []
    for b in fixed.all("test_memory_per_key"):
        i = b.info
        rows.append([f"`{i.get('kind')}`", " ".join(i.get("rule", "").split("\n")[3:4]).strip() or "",
                     f"{i.get('keys', 0):,}", f"{i.get('peak_bytes_per_key', 0):.0f} B",
                     f"{i.get('steady_bytes_per_key', 0):.0f} B",
                     f"{i.get('peak_bytes_per_key', 0) * 1e6 / (1 << 20):.0f} MiB"])
    return table(["rule", "window", "active keys", "peak per key", "resident after, per key", "peak per 1M keys"],
                 rows, "llrrrr")


def scaling_section(fixed: SizeRun) -> list[str]:
    out = []
    rs = sorted(fixed.all("test_rules"), key=lambda b: int(b.param or 0))
    if rs:
        base = rs[0]
        n = base.info.get("events", 0)
        rows = []
        for b in rs:
            k = int(b.param or 1)
            per_rule = (b.seconds / n * 1e9 / k) if n else 0
            rows.append([str(k), fmt_s(b.seconds), fmt_rate(n, b.seconds), f"{per_rule:.1f} ns",
                         fmt_x(b.seconds / base.seconds)])
        out += [f"Rules (one fused pass over {fmt_n(n)} events of the generated log):", ""]
        out += table(["rules", "time", "events/s", "per event per rule", "time vs 1 rule"], rows)
    ks = sorted(fixed.all("test_keys"), key=lambda b: int(b.param or 0))
    if ks:
        n = ks[0].info.get("events", 0)
        rows = [[f"{int(b.param or 0):,}", fmt_s(b.seconds), fmt_rate(n, b.seconds),
                 fmt_x(b.seconds / ks[0].seconds)] for b in ks]
        out += ["", f"Keys (one tumbling 1h count/sum rule over {fmt_n(n)} synthetic events):", ""]
        out += table(["distinct keys", "time", "events/s", "time vs 1k keys"], rows)
    return out


def rule_meta() -> dict[str, dict[str, Any]]:
    from benchmarks.test_columnar import PROGRAM, rule_kind

    out = {}
    for r in PROGRAM.rules:
        w = r.window
        if w is None:
            win = "event"
        else:
            win = _dur(w.length_ms) + ("" if w.length_ms == w.step_ms else f" every {_dur(w.step_ms)}")
        out[r.name] = {"kind": rule_kind(r), "window": win}
    return out


def _dur(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def render(run_dir: Path) -> str:
    meta = json.loads((run_dir / "run.json").read_text())
    sized = [load(run_dir / f, int(n)) for n, f in meta.get("sized", {}).items() if (run_dir / f).exists()]
    sized.sort(key=lambda r: r.events)
    fixed = load(run_dir / meta["fixed"], 0) if meta.get("fixed") and (run_dir / meta["fixed"]).exists() else None
    rm = rule_meta()
    out = [BEGIN, "", "<!-- generated by `python -m benchmarks.run`; edits between these markers are lost -->", ""]
    out += ["### The run", ""] + run_section(meta, sized + ([fixed] if fixed else [])) + [""]
    out += ["### Targets", ""] + targets_section(sized, fixed) + [""]
    out += ["### 1. Columnar throughput", ""]
    for r in sized:
        out += columnar_section(r, rm) + [""]
    out += ["### 2. JSONL end to end", ""]
    for r in sized:
        out += jsonl_section(r) + [""]
    out += ["### 3. Streaming", ""]
    for r in sized:
        out += streaming_section(r) + [""]
    if fixed is not None:
        out += ["### 4. Compile", ""] + compile_section(fixed) + [""]
        out += ["### 5. Memory per active key", ""] + memory_section(fixed) + [""]
        out += ["### 6. Scaling", ""] + scaling_section(fixed) + [""]
    failed = meta.get("failures") or []
    if failed:
        out += ["### Benchmarks that failed or were not kept", ""] + [f"- `{f}`" for f in failed] + [""]
    out.append(END)
    return "\n".join(out)


def write(run_dir: Path, doc: Path = DOC) -> None:
    text = render(run_dir)
    old = doc.read_text() if doc.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN in old and END in old:
        new = old[: old.index(BEGIN)] + text + old[old.index(END) + len(END):]
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    doc.write_text(new)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--doc", type=Path, default=DOC)
    a = ap.parse_args(argv)
    write(a.run_dir, a.doc)
    print(f"wrote {a.doc}")


if __name__ == "__main__":
    main()
