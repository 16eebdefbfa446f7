"""4. Compile: cold compile of the shipped pack, warm start from the caches, ``tosengine check``.

Each round is a fresh process (``python -m benchmarks.probe_compile``) that
compiles the pack and runs it twice over a 100k-event sample; the benchmark
time is the whole process, the probe's ``ready_s`` (see its docstring) is the
compile or cache-load part alone.

* ``cold``: nothing cached (empty ``NUMBA_CACHE_DIR`` and ``TOSENGINE_CACHE_DIR``):
  numba compiles the window-machine library and the pack's kernels.
* ``cold_rules``: the library already compiled (a numba cache warmed by
  another rule set, ``LIBRARY_WARMUP``, that reaches every library function:
  keys of one and of two fields, tumbling and sliding ``distinct``, cooldowns,
  an event rule), the pack's own kernels not: what a new rule set costs once the
  machine has run any rules. The probe's ``jit_rules_s`` is numba compiling the
  pack's kernels; ``jit_library_s`` (library specialisations the warm-up did not
  reach) should be 0.
* ``warm``: both caches hold the pack: a new process loads machine code only.
* ``test_check``: ``tosengine check rules/`` (the console script) in a fresh
  process, with empty caches that must stay empty, and a probe that the
  command never imports numba.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from benchmarks import common

LIBRARY_WARMUP = """
rule warm_count {
  title  "library warm-up"
  per    account_id
  window 1h
  let requests = count()
  when   requests > 1000000000
}

rule warm_pairs {
  title  "library warm-up"
  per    account_id, ip
  window 1h every 10m
  let requests = count()
  let keys     = distinct(api_key_id)
  when   requests >= 1 and keys >= 1
  cooldown 1h
}

rule warm_distinct {
  title  "library warm-up"
  per    org_id
  window 1d
  let keys = distinct(api_key_id)
  when   keys > 1000000000
}

rule warm_event {
  title  "library warm-up"
  per    account_id
  when   status == 429
  cooldown 1h
}
"""


@pytest.fixture(scope="module")
def workdir() -> Any:
    d = Path(tempfile.mkdtemp(prefix="tosengine-bench-compile-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def sample(workdir: Path) -> str:
    from tosengine.generator import generate, write_log

    path = workdir / "sample.parquet"
    write_log(generate(100_000, seed=1), path)
    return str(path)


@pytest.fixture(scope="module")
def library_cache(workdir: Path, sample: str) -> Path:
    """A numba cache holding the whole window-machine library (compiled for LIBRARY_WARMUP)."""
    lib = workdir / "numba-library"
    warmup = workdir / "warmup.tos"
    warmup.write_text(LIBRARY_WARMUP)
    common.run_json([common.PYTHON, "-m", "benchmarks.probe_compile", str(warmup), sample],
                    env={"NUMBA_CACHE_DIR": str(lib), "TOSENGINE_CACHE_DIR": str(workdir / "warmup-kernels")})
    return lib


def _probe(workdir: Path, sample: str, scenario: str, library: Path | None, benchmark: Any,
           rounds: int) -> None:
    results: list[dict[str, Any]] = []
    counter = iter(range(1_000_000))
    warm_dirs = (workdir / "warm-numba", workdir / "warm-kernels")

    def setup() -> tuple[tuple, dict]:
        if scenario == "warm":
            nb, tc = warm_dirs
        else:
            i = next(counter)
            nb, tc = workdir / f"{scenario}-{i}-numba", workdir / f"{scenario}-{i}-kernels"
            if scenario == "cold_rules":
                assert library is not None
                shutil.copytree(library, nb)
        return (nb, tc), {}

    def run(nb: Path, tc: Path) -> None:
        results.append(common.run_json(
            [common.PYTHON, "-m", "benchmarks.probe_compile", str(common.RULES), sample],
            env={"NUMBA_CACHE_DIR": str(nb), "TOSENGINE_CACHE_DIR": str(tc)}))

    if scenario == "warm":  # fill the caches first
        run(*warm_dirs)
        results.clear()
    benchmark.pedantic(run, setup=setup, rounds=rounds, iterations=1, warmup_rounds=0)
    best = min(results, key=lambda r: r["ready_s"])
    benchmark.extra_info.update(scenario=scenario, probes=results, ready_s=best["ready_s"],
                                jit_rules_s=best["jit_rules_s"], jit_library_s=best["jit_library_s"],
                                import_s=min(r["import_s"] for r in results), checked=True,
                                load_after=common.loadavg())


def test_compile_cold(benchmark: Any, workdir: Path, sample: str) -> None:
    _probe(workdir, sample, "cold", None, benchmark, rounds=1)


def test_compile_cold_rules(benchmark: Any, workdir: Path, sample: str, library_cache: Path) -> None:
    _probe(workdir, sample, "cold_rules", library_cache, benchmark, rounds=1)


def test_compile_warm(benchmark: Any, workdir: Path, sample: str) -> None:
    _probe(workdir, sample, "warm", None, benchmark, rounds=5)


def test_check(benchmark: Any, workdir: Path) -> None:
    """``tosengine check rules/`` as a user runs it: the console script, a fresh process."""
    exe = Path(sys.executable).with_name("tosengine")
    cmd = [str(exe)] if exe.exists() else [common.PYTHON, "-m", "tosengine.cli"]
    nb, tc = workdir / "check-numba", workdir / "check-kernels"
    env = {"NUMBA_CACHE_DIR": str(nb), "TOSENGINE_CACHE_DIR": str(tc)}

    def run() -> str:
        e = dict(__import__("os").environ, **env)
        p = subprocess.run([*cmd, "check", str(common.RULES)], env=e, capture_output=True, text=True,
                           cwd=common.ROOT, timeout=120)
        assert p.returncode == 0, p.stderr
        return p.stdout

    out = benchmark.pedantic(run, rounds=10, iterations=1, warmup_rounds=1)
    assert out.startswith("ok:")
    # no kernels: nothing written to either cache, and numba never imported
    assert not nb.exists() or not any(nb.rglob("*")), "tosengine check wrote to the numba cache"
    # (the cache folder may hold the front end's Lark parser table; never a kernel module)
    assert not tc.exists() or not any(tc.rglob("tos_kernels*")), "tosengine check wrote kernels"
    code = ("import sys, time\nt = time.perf_counter()\nsys.argv = ['tosengine', 'check', sys.argv[1]]\n"
            "from tosengine.cli import main\nt1 = time.perf_counter()\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "t2 = time.perf_counter()\nimport json\n"
            "print(json.dumps({'numba': 'numba' in sys.modules, 'pyarrow': 'pyarrow' in sys.modules,"
            " 'import_s': t1 - t, 'check_s': t2 - t1}))")
    probe = common.run_json([common.PYTHON, "-c", code, str(common.RULES)], env=env)
    assert not probe["numba"], "tosengine check imported numba"
    benchmark.extra_info.update(in_process=probe, command=" ".join([Path(cmd[0]).name, "check", "rules/"]),
                                checked=True, load_after=common.loadavg())

