"""The shape of the generated module: per-rule kernels behind the evaluator's two entry points.

``select`` and ``judge`` keep the argument lists the evaluator passes
(``select_args`` / ``judge_args``) and call one ``select_<r>`` per rule (jitted)
and one ``judge_<r>`` per windowed rule (numpy over all closed windows at once),
each taking only the arrays its rule uses. The numpy ``judge_<r>`` must decide
every window as the reference does, nulls and mixed outcomes in one call included.
"""

from __future__ import annotations

import inspect

import numba

from tosengine.compiler import compile_program
from tosengine.compiler.codegen import judge_args, judge_io, select_args, select_outputs
from tosengine.ir import load_text
from tests.engine_helpers import assert_same_violations, run_engine
from tests.reference import reference_evaluate

T0 = 1_700_000_000_000

RULES = """
rule busy_key {
  title    "busy key"
  clause   "1"
  severity low
  action   log
  per      api_key_id
  window   1m
  let reqs = count()
  let big  = coalesce(max(input_tokens), 0) + 1
  let avg  = sum(input_tokens) / count()
  when     reqs >= 2 and (big > 10 or avg < 3)
  unless   not (reqs < 6) and big > 500
  message  "{api_key_id}: {reqs} requests, max {big}"
}

rule refused {
  title    "refused request"
  clause   "2"
  severity info
  action   log
  per      api_key_id
  when     status == 429 and input_tokens is null
  message  "{api_key_id}: refused"
}
"""


def _events() -> list[dict]:
    """Keys whose windows end up firing, not firing, or null for each clause, all closing together."""
    out = []
    for k in range(40):
        n = 1 + k % 8  # 1..8 events: below, at and above the count thresholds
        for j in range(n):
            tokens = None if (k % 5 == 0 or (k % 3 == 0 and j == 0)) else (k * 37 + j * 11) % 900
            out.append({"ts": T0 + 1000 * j + k, "api_key_id": f"key-{k}",
                        "input_tokens": tokens, "status": 429 if (k + j) % 4 == 0 else 200})
    out.sort(key=lambda e: e["ts"])
    out.append({"ts": T0 + 10 * 60_000, "api_key_id": "late-closer", "input_tokens": 1, "status": 200})
    return out


def test_entry_points_keep_the_evaluators_argument_lists() -> None:
    kernels = compile_program(load_text(RULES))
    module, plan = kernels.module, kernels.plan
    assert list(inspect.signature(module.select).parameters) == select_args(plan)
    assert list(inspect.signature(module.judge).parameters) == judge_args(plan)
    jitted = sorted(name for name, f in vars(module).items()
                    if isinstance(f, numba.core.dispatcher.Dispatcher)
                    and f.py_func.__module__ == module.__name__)
    assert jitted == ["select_0", "select_1"]
    assert not isinstance(module.judge_0, numba.core.dispatcher.Dispatcher)
    # each kernel takes its own rule's output arrays and no other rule's
    outputs = {name for rp in plan.rules for name in select_outputs(rp)}
    for rp in plan.rules:
        params = set(inspect.signature(getattr(module, f"select_{rp.index}").py_func).parameters)
        assert params & outputs <= set(select_outputs(rp))
        assert params & set(select_outputs(rp))
    params = set(inspect.signature(module.judge_0).parameters)
    assert params - {"ncw"} <= set(judge_io(plan.rules[0])) | {f"lut_{i}" for i in range(len(plan.luts))}


def test_numpy_judge_decides_every_window_of_a_batch_as_the_reference() -> None:
    program = load_text(RULES)
    events = _events()
    want = reference_evaluate(program, events)
    assert 5 < len(want.violations) < len(events)  # some windows fire, some do not
    for batches in ([events], [events[i:i + 7] for i in range(0, len(events), 7)]):
        for jit in (False, True):
            got, late = run_engine(program, batches, jit=jit)
            assert late == want.late
            assert_same_violations(got, want.violations)
