"""Shared helpers of the benchmarks: data files, timing with checked answers, machine facts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
PYTHON = sys.executable
SEED = 0
BATCH = 100_000  # rows per record batch of the columnar benchmarks


def data_dir() -> Path:
    """Where generated logs are kept between runs (``$TOSENGINE_BENCH_DATA``)."""
    env = os.environ.get("TOSENGINE_BENCH_DATA")
    d = Path(env) if env else Path(tempfile.gettempdir()) / "tosengine-bench"
    d.mkdir(parents=True, exist_ok=True)
    return d


def log_paths(n: int) -> dict[str, Path]:
    base = data_dir() / f"log-{n}-seed{SEED}"
    return {"parquet": base.with_suffix(".parquet"), "jsonl": base.with_suffix(".jsonl")}


def ensure_logs(n: int, formats: tuple[str, ...] = ("parquet", "jsonl")) -> dict[str, Path]:
    """Generate ``n`` events with ``tosengine.generator`` once and write them as Parquet and JSONL.

    The Parquet file is written first; the JSONL file is written from the same
    table, so both hold the same events.
    """
    from tosengine.generator import generate, write_log

    paths = log_paths(n)
    todo = [f for f in formats if not paths[f].exists()]
    if todo:
        log = generate(n, seed=SEED)
        for f in todo:
            tmp = paths[f].with_name(paths[f].name + ".part" + paths[f].suffix)
            write_log(log, tmp)
            os.replace(tmp, paths[f])
            truth = Path(str(tmp) + ".truth.json")
            if truth.exists():
                os.replace(truth, Path(str(paths[f]) + ".truth.json"))
        del log
    return paths


def load_table(n: int, batch: int = BATCH) -> Any:
    """The generated log as one Arrow table in record batches of ``batch`` rows."""
    import pyarrow.parquet as pq

    paths = ensure_logs(n, ("parquet",))
    table = pq.read_table(paths["parquet"], use_threads=False)
    return rechunk(table, batch)


def rechunk(table: Any, rows: int) -> Any:
    import pyarrow as pa

    table = table.combine_chunks()
    return pa.Table.from_batches(table.to_batches(max_chunksize=rows), schema=table.schema)


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


def run_queue_s() -> float | None:
    """Seconds the calling thread has waited for a CPU while runnable (Linux schedstat; None elsewhere)."""
    try:
        return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def measure(benchmark: Any, fn: Callable[[], Any], *, check: Callable[[Any], None] | None = None,
            budget: float, estimate: float | None = None, max_rounds: int = 10,
            events: int | None = None, **info: Any) -> Any:
    """Time ``fn`` with pytest-benchmark, keeping the times only when ``check`` passes.

    Without ``estimate`` ``fn`` runs once first (a warm-up whose answer is
    checked). The number of rounds fills ``budget`` seconds (1 to ``max_rounds``).
    The answer of the last timed round is checked again; ``extra_info`` records
    ``checked``, the load average before and after, the process CPU time
    per wall second over the timed rounds (below 1 for a single-threaded
    benchmark means it did not have a core to itself), and the share of the
    wall time the calling thread spent runnable but waiting for a CPU (other
    processes had the cores).
    """
    if estimate is None:
        t0 = time.perf_counter()
        first = fn()
        estimate = time.perf_counter() - t0
        if check is not None:
            check(first)
        del first
    rounds = max(1, min(max_rounds, int(budget / max(estimate, 1e-6))))
    load0 = loadavg()
    q0, c0, w0 = run_queue_s(), os.times(), time.perf_counter()
    result = benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)
    c1, w1, q1 = os.times(), time.perf_counter(), run_queue_s()
    cpu = (c1.user + c1.system - c0.user - c0.system) / max(w1 - w0, 1e-9)
    if check is not None:
        check(result)
    benchmark.extra_info.update(checked=check is not None, load_before=load0, load_after=loadavg(),
                                cpu_per_wall=round(cpu, 3), **info)
    if q0 is not None and q1 is not None:
        benchmark.extra_info["cpu_wait_per_wall"] = round((q1 - q0) / max(w1 - w0, 1e-9), 3)
    if events is not None:
        benchmark.extra_info["events"] = events
    return result


# --------------------------------------------------------------------------
# The rule pack
# --------------------------------------------------------------------------


@dataclass
class PackRun:
    violations: list[Any]
    seconds: float  # one whole pass over the table, kernels already loaded
    windows: dict[str, set[tuple]]  # windowed violations per rule: (rule, key, window_start_ms)
    answer: frozenset[tuple]  # every violation as (rule, key, window_start, time)


def answer_of(violations: list[Any]) -> frozenset[tuple]:
    return frozenset((v.rule, tuple(v.key.values()), v.window_start, v.time) for v in violations)


def run_pack(pack: Any, batches: Any) -> list[Any]:
    ev = pack.stream()
    out = ev.feed(batches)
    return out + ev.flush()



def pack_columns(program: Any) -> list[str]:
    """The event columns the pack reads: the time field, every key and every field referenced."""
    from tosengine import ir

    names: set[str] = {program.schema.time_field}

    def walk(node: Any) -> None:
        if isinstance(node, ir.FieldRef):
            names.add(node.name)
        if dataclasses.is_dataclass(node) and not isinstance(node, type):
            for f in dataclasses.fields(node):
                walk(getattr(node, f.name))
        elif isinstance(node, (tuple, list)):
            for x in node:
                walk(x)

    for rule in program.rules:
        names.update(rule.key)
        walk(rule)
    return [n for n in program.schema.names if n in names]


def bytes_per_event(table: Any, columns: list[str]) -> float:
    """Arrow bytes of ``columns`` per row: values, offsets and validity bitmaps, as stored."""
    return sum(table.column(c).nbytes for c in columns) / table.num_rows


def run_json(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 1800) -> dict[str, Any]:
    """Run a probe that prints one JSON object on its last stdout line."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    versions: dict[str, str] = {"python": platform.python_version()}
    for mod in ("tosengine", "numpy", "numba", "pyarrow", "duckdb", "polars", "orjson", "pytest_benchmark"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # pragma: no cover - a missing optional package
            versions[mod] = "-"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except Exception:  # pragma: no cover
        commit = "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_bytes": mem, "os": platform.platform(),
            "versions": versions, "commit": commit}
