"""Compiled kernels: nopython only, and cached on disk so a second process does not compile.

Each check runs the shipped pack in a fresh Python process with its own cache
folder (``TOSENGINE_CACHE_DIR``): the first process compiles and writes the
cache, the second must load every kernel from it (numba's dispatcher counts
cache hits and misses per function).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, sys
import numba
import tosengine
from tosengine.compiler import windows

from tosengine.generator import MIN_EVENTS, generate

rs = tosengine.compile(sys.argv[1])
# a log with planted violators, so that every kernel (judge too) has work
events = generate(MIN_EVENTS, seed=5).table
violations = tosengine.evaluate(rs, events)
module = rs.kernels.module
# every jitted function of the generated module (select_<r>; judge_<r> is numpy), found
# by type rather than by name so that none escapes the check
kernels = {name: f for name, f in vars(module).items()
           if isinstance(f, numba.core.dispatcher.Dispatcher) and f.py_func.__module__ == module.__name__}
expected = sorted(f"select_{rp.index}" for rp in rs.kernels.plan.rules)
kernels["run_windows"] = windows.run_windows
report = {}
for name, f in kernels.items():
    report[name] = {
        "hits": sum(f.stats.cache_hits.values()),
        "misses": sum(f.stats.cache_misses.values()),
        "nopython": bool(f.targetoptions.get("nopython")),
        "signatures": len(f.signatures),
        "nopython_signatures": len(f.nopython_signatures),
    }
print(json.dumps({"kernels": report, "expected": expected, "violations": len(violations),
                  "cache_file": str(rs.kernels.path)}))
"""


def _probe(cache: Path) -> dict:
    env = dict(os.environ, TOSENGINE_CACHE_DIR=str(cache))
    out = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "rules")], env=env,
                         capture_output=True, text=True, timeout=540, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    """The same pack run twice, each time in a new process sharing one cache folder."""
    cache = tmp_path_factory.mktemp("kernel-cache")
    return cache, _probe(cache), _probe(cache)


@pytest.mark.slow
def test_second_process_loads_every_kernel_from_the_cache(probes: tuple[Path, dict, dict]) -> None:
    cache, first, second = probes
    assert Path(first["cache_file"]).is_relative_to(cache)
    # one jitted select kernel per rule, and the window machine
    assert sorted(set(first["kernels"]) - {"run_windows"}) == first["expected"]
    assert len(first["expected"]) > 2
    for name, k in first["kernels"].items():
        if name != "run_windows":  # the library may be cached already by other tests
            assert k["misses"] >= 1, f"{name} was not compiled in the first process (cache was empty)"

    assert second["cache_file"] == first["cache_file"]
    assert second["violations"] == first["violations"]
    for name, k in second["kernels"].items():
        assert k["misses"] == 0, f"{name} was compiled again in the second process"
        assert k["hits"] >= 1, f"{name} did not come from the cache"


@pytest.mark.slow
def test_every_kernel_is_nopython(probes: tuple[Path, dict, dict]) -> None:
    for report in probes[1:]:
        for name, k in report["kernels"].items():
            assert k["nopython"], name
            assert k["signatures"] >= 1, name
            # no object-mode fallback: every compiled signature is a nopython one
            assert k["nopython_signatures"] == k["signatures"], name
