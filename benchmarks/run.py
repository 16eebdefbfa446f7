"""Run every benchmark and rewrite the tables in ``docs/performance.md``.

    python -m benchmarks.run                                  # 1M events (about 10 minutes on 2 cores)
    python -m benchmarks.run --events 1000000,10000000        # both sizes
    python -m benchmarks.run --report-only RUN_DIR            # re-render the doc from a finished run

For each ``--events`` size, a pytest process per file runs ``test_columnar.py``,
``test_jsonl.py`` and ``test_streaming.py`` on a log generated with
``tosengine.generator`` (cached as Parquet and JSONL under
``$TOSENGINE_BENCH_DATA``, default ``<tmp>/tosengine-bench``); then one more
process runs the size-independent ``test_compile.py``, ``test_memory.py`` and
``test_scaling.py``. Each writes pytest-benchmark JSON into the run folder;
:mod:`benchmarks.report` turns them into the doc's tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import common, report

SIZED = ["benchmarks/test_columnar.py", "benchmarks/test_jsonl.py", "benchmarks/test_streaming.py"]
FIXED = ["benchmarks/test_compile.py", "benchmarks/test_memory.py", "benchmarks/test_scaling.py"]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def pytest(files: list[str], events: int, budget: float, out: Path, log: Path, extra: list[str]) -> list[str]:
    """Run one pytest process; return the failed/errored test ids."""
    cmd = [sys.executable, "-m", "pytest", *files, "--events", str(events), "--bench-budget", str(budget),
           "--benchmark-json", str(out), "--benchmark-columns=min,median,rounds", "--benchmark-sort=name",
           "-p", "no:cacheprovider", "-q", "-rfEs", *extra]
    env = dict(os.environ, POLARS_MAX_THREADS="1", NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    print("$", shlex.join(cmd), flush=True)
    failures = []
    with subprocess.Popen(cmd, cwd=common.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as p, open(log, "a") as fh:
        assert p.stdout is not None
        for line in p.stdout:
            sys.stdout.write(line)
            fh.write(line)
            if line.startswith(("FAILED ", "ERROR ")):
                failures.append(line.strip())
    if p.returncode not in (0, 1):  # 1: some tests failed, reported above
        failures.append(f"pytest {' '.join(files)} exited {p.returncode}")
    return failures


def merge(parts: list[Path], out: Path) -> None:
    """One pytest-benchmark JSON of the benchmarks of ``parts`` (machine facts of the first)."""
    if not parts:
        return
    docs = [json.loads(p.read_text()) for p in parts]
    merged = dict(docs[0], benchmarks=[b for d in docs for b in d["benchmarks"]])
    out.write_text(json.dumps(merged))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", default="1000000", help="comma-separated log sizes (default 1000000)")
    ap.add_argument("--budget", type=float, default=10.0, help="seconds of timed rounds per benchmark (default 10)")
    ap.add_argument("--run-dir", type=Path, default=None, help="where the JSON results go")
    ap.add_argument("--doc", type=Path, default=report.DOC)
    ap.add_argument("--report-only", type=Path, default=None, metavar="RUN_DIR")
    ap.add_argument("--skip-fixed", action="store_true", help="only the size-dependent benchmarks")
    ap.add_argument("--clean-data", action="store_true", help="delete the generated logs afterwards")
    ap.add_argument("-k", default=None, help="pytest -k expression (partial runs)")
    a = ap.parse_args(argv)
    if a.report_only:
        report.write(a.report_only, a.doc)
        print(f"wrote {a.doc}")
        return 0
    sizes = [int(x.replace("_", "")) for x in a.events.split(",") if x.strip()]
    run_dir = a.run_dir or common.data_dir() / "runs" / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    extra = ["-k", a.k] if a.k else []
    meta: dict[str, object] = {
        "command": "python -m benchmarks.run" + ("" if argv is None and len(sys.argv) <= 1 else
                                                   " " + shlex.join(argv if argv is not None else sys.argv[1:])),
        "started": _now(), "budget": a.budget, "sizes": sizes, "sized": {}, "fixed": None, "failures": [],
        "data_dir": str(common.data_dir()),
    }
    t0 = time.time()
    failures: list[str] = []
    for n in sizes:
        parts = []
        for f in SIZED:  # a process per file: one killed (out of memory) loses only its own results
            part = run_dir / f"bench-{n}-{Path(f).stem}.json"
            failures += pytest([f], n, a.budget, part, run_dir / "pytest.log", extra)
            if part.exists():
                parts.append(part)
        out = f"bench-{n}.json"
        merge(parts, run_dir / out)
        meta["sized"][str(n)] = out  # type: ignore[index]
    if not a.skip_fixed:
        failures += pytest(FIXED, min(sizes), a.budget, run_dir / "bench-fixed.json", run_dir / "pytest.log", extra)
        meta["fixed"] = "bench-fixed.json"
    meta.update(finished=_now(), wall_s=time.time() - t0, failures=failures)
    (run_dir / "run.json").write_text(json.dumps(meta, indent=2))
    report.write(run_dir, a.doc)
    print(f"results in {run_dir}; wrote {a.doc}")
    if a.clean_data:
        for n in sizes:
            for p in common.log_paths(n).values():
                for q in (p, Path(str(p) + ".truth.json")):
                    q.unlink(missing_ok=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
