"""Where the time goes: the shipped pack (or each rule alone) with a per-stage breakdown.

    python -m benchmarks.profile                  # the whole pack, 1M events
    python -m benchmarks.profile --rules          # every rule alone, then the pack
    python -m benchmarks.profile --events 200000 --repeat 3
    python -m benchmarks.profile --batch 10000    # fed as a stream of 10k-event batches

Times are process CPU seconds (``time.process_time``), the best of
``--repeat`` runs, so that other work on a shared machine inflates them less
than wall-clock times. Stages: ``encode`` (Arrow → codes and masks, string
interning), ``select`` (the generated per-event kernel), ``windows`` (the
window machine: keys, panes, distinct sets, closing windows), ``grow``
(tables the machine reported full), ``judge`` (the generated per-window
kernel and building violations). The rest is Python glue. For a native
profile of one run use ``py-spy record --native -- python -m benchmarks.profile``.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from typing import Any, Callable

from benchmarks import common


def _wrap(obj: Any, name: str, label: str, acc: dict[str, float]) -> Callable[[], None]:
    fn = getattr(obj, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[label] += time.process_time() - t0

    setattr(obj, name, timed)
    return lambda: setattr(obj, name, fn)


def profile(rs: Any, table: Any, repeat: int,
            batch: int | None = None) -> tuple[float, dict[str, float], int]:
    """Best-of-``repeat`` CPU seconds of one pass of ``rs`` over ``table``, its stages, violations.

    ``batch``: feed the table as slices of this many events (default: whole).
    """
    from tosengine.runtime import evaluator as E

    warm = rs.stream()
    warm.feed(table.slice(0, min(20_000, table.num_rows)))
    warm.flush()
    step = batch or table.num_rows
    batches = [table.slice(i, step) for i in range(0, table.num_rows, step)]
    best: tuple[float, dict[str, float], int] | None = None
    for _ in range(repeat):
        acc: dict[str, float] = defaultdict(float)
        undo = [_wrap(E, "encode_batch", "encode", acc),
                _wrap(rs.kernels.module, "select", "select", acc),
                _wrap(E.Evaluator, "_run_windows", "windows", acc),
                _wrap(E.State, "grow", "grow", acc),
                _wrap(E.Evaluator, "_windowed_violations", "judge", acc),
                _wrap(E.Evaluator, "_event_violations", "event rules", acc)]
        try:
            t0 = time.process_time()
            ev = rs.stream()
            n = sum(len(ev.feed(b)) for b in batches) + len(ev.flush())
            total = time.process_time() - t0
        finally:
            for u in reversed(undo):
                u()
        acc["windows"] -= acc["grow"]  # grow runs inside _run_windows
        if best is None or total < best[0]:
            best = (total, dict(acc), n)
    assert best is not None
    return best


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--rules", action="store_true", help="every rule alone as well")
    ap.add_argument("--batch", type=int, default=None,
                    help="feed batches of this many events (default: the whole table)")
    a = ap.parse_args(argv)
    import tosengine
    from tosengine import ir

    table = common.load_table(a.events)
    program = ir.load_paths([common.RULES])
    sets = [(r.name, ir.Program(program.schema, (r,))) for r in program.rules] if a.rules else []
    sets.append(("whole pack", program))
    stages = ["encode", "select", "windows", "grow", "judge", "event rules"]
    print(f"{'':32s} {'cpu s':>7s} {'M ev/s':>7s} " + " ".join(f"{s:>11s}" for s in stages) + "  violations")
    for name, prog in sets:
        total, acc, n = profile(tosengine.compile(prog), table, a.repeat, a.batch)
        print(f"{name:32s} {total:7.3f} {a.events / total / 1e6:7.2f} "
              + " ".join(f"{acc.get(s, 0.0):11.3f}" for s in stages) + f"  {n}", flush=True)


if __name__ == "__main__":
    main()
