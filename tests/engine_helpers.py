"""Running the engine the way the differential tests compare it with the reference."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence

from tosengine import ir
from tosengine.compiler import layout as Lo
from tosengine.runtime.ruleset import RuleSet

_NUMBER = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?")


def run_engine(program: ir.Program | RuleSet, batches: Sequence[object], lateness: int = 0,
               *, jit: bool = True) -> tuple[list[dict], list[int]]:
    """Feed ``batches`` to a fresh evaluator, flush; return (violation dicts, late positions)."""
    rs = program if isinstance(program, RuleSet) else RuleSet(program, jit=jit)
    ev = rs.stream(allowed_lateness_ms=lateness)
    out: list[dict] = []
    for b in batches:
        out += [v.to_dict() for v in ev.feed(b)]
    out += [v.to_dict() for v in ev.flush()]
    late = [d.position for d in ev.dead_letters if d.reason == "late"]
    return out, late


def _rounded(x: object) -> object:
    if isinstance(x, float):
        return float(f"{x:.9g}")
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, str):
        return _NUMBER.sub(lambda m: f"{float(m.group()):.6g}", x)
    return x


def canonical(v: dict) -> str:
    return json.dumps(_rounded(v), sort_keys=True, default=str)


def assert_same_violations(got: list[dict], want: list[dict]) -> None:
    """Equal as multisets; floats within 1e-9 relative (stddev may differ in the last bits)."""
    g = sorted(got, key=canonical)
    w = sorted(want, key=canonical)
    assert len(g) == len(w), _diff(g, w)
    for a, b in zip(g, w):
        assert a.keys() == b.keys()
        for k in a:
            if k == "values":
                assert a[k].keys() == b[k].keys(), (a, b)
                for name in a[k]:
                    x, y = a[k][name], b[k][name]
                    if isinstance(x, float) and isinstance(y, float):
                        assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9) or (
                            math.isinf(x) and x == y), (name, a, b)
                    else:
                        assert x == y and type(x) is type(y), (name, a, b)
            elif k == "message" and a[k] != b[k]:
                assert _rounded(a[k]) == _rounded(b[k]), (a, b)
            else:
                assert a[k] == b[k], (k, a, b)


def _diff(g: list[dict], w: list[dict]) -> str:
    gs, ws = {canonical(x) for x in g}, {canonical(x) for x in w}
    return (f"engine {len(g)} vs reference {len(w)}\nonly engine: {sorted(gs - ws)[:3]}\n"
            f"only reference: {sorted(ws - gs)[:3]}")


def check_slots(ev) -> int:
    """Assert the window machine's per-slot invariants (tests/compiler/test_window_state.py)
    for every active slot; return how many slots were checked."""
    st_ = ev.state
    checked = 0
    for w, rp in enumerate(st_.windows):
        I, AL, M = st_.I[w], st_.AL[w], st_.M[w]
        ring = int(M[Lo.M_RING])
        npanes = rp.rule.window.panes
        pbase, si = rp.pane_base, rp.pane_words_i
        for k in range(int(M[Lo.M_ACTIVE])):
            s = int(AL[k, Lo.AL_SLOT])
            nw, last = int(I[s, Lo.NEXT_WIN]), int(I[s, Lo.LAST_PANE])

            def pane_count(p: int) -> int:
                b = pbase + (p % ring) * si
                return int(I[s, b + Lo.CNT]) if I[s, b + Lo.STAMP] == p else 0

            assert last - nw < ring, (rp.rule.name, nw, last, ring)
            assert int(I[s, Lo.POS]) == k
            in_window = sum(pane_count(p) for p in range(nw, nw + npanes))
            if I[s, Lo.WCNT] < 0:
                assert int(AL[k, Lo.AL_DUE]) == last, (rp.rule.name, s)
                assert nw < last < nw + npanes and in_window < rp.min_events, (rp.rule.name, s)
                assert -int(I[s, Lo.WCNT]) - 1 == in_window, (rp.rule.name, s)
            else:
                assert int(AL[k, Lo.AL_DUE]) == nw, (rp.rule.name, s)
                assert int(I[s, Lo.WCNT]) == in_window, (rp.rule.name, s)
            for p in range(nw, last + 1):
                b = pbase + (p % ring) * si
                assert I[s, b + Lo.STAMP] == p or pane_count(p) == 0
            checked += 1
    return checked


def check_distinct_tables(ev) -> int:
    """Assert every entry of every exact-distinct table (S and R) is found where a lookup
    probes for it, once; return how many entries were checked."""
    from tosengine.compiler.prims import ht_upsert

    checked = 0
    for tables, width in ((ev.state.S, 3), (ev.state.R, 2)):
        for tab in tables:
            used = tab[tab[:, 0] != 0]
            assert len({tuple(row[1:1 + width]) for row in used.tolist()}) == len(used)
            probe = tab.copy()  # a miss would insert: look up in a copy
            for row in used:
                e, inserted = ht_upsert(probe, row[1], row[2], row[3] if width == 3 else 0, width)
                assert not inserted and probe[e].tolist() == row.tolist()
                checked += 1
    return checked
