"""Mini-batching for the window machine: a rule's rows wait until it has work to do.

Rules share no state, and the pack's state is far bigger than the cache: fed
small batches, each rule starts every batch with its busy keys evicted by the
other rules. A rule none of whose windows can close in a batch (the batch's
watermark stays below the rule's next window end) cannot report anything in
that batch, so its selected rows wait here and are fed together with a later
batch's: when one of its windows is due, or once ``DEFER_EVENTS`` events
have gone by since its first waiting row. Flink's mini-batch aggregation makes
the same trade. Violations come out of the same ``feed()`` call as without
waiting: a rule's rows are fed in their order, before any window of the rule
closes, and nothing else touches the rule's state meanwhile.

A batch of more than ``DEFER_EVENTS`` events never waits, so large batches run as
before. A waiting rule's rows are copied, as they come, into buffers of its own
shaped like its select buffers (row numbers counted from the first event fed);
when it runs, those buffers stand in for its select buffers
(:meth:`DeferredRows.release` swaps them back). A checkpoint or a string
compaction first feeds every waiting row (:meth:`DeferredRows.take_all`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tosengine.compiler import layout
from tosengine.compiler.plan import RulePlan
from tosengine.runtime.state import State

DEFER_EVENTS = 1 << 16  # at most this many events go by before a waiting rule is fed

_SELECTED = ("SEL", "KW", "IA", "FA", "NA")  # what select writes for a windowed rule
_ROW_AXIS = (0, 0, 1, 1, 1)  # the row axis of each


@dataclass(frozen=True)
class Run:
    """What the window machine runs now: events, and where each rule starts in them.

    ``start[w]`` is the first event of ``ts`` fed to windowed rule ``w``;
    ``len(ts)`` for a rule that waits.
    """

    ts: np.ndarray
    skip: np.ndarray
    start: list[int]


class DeferredRows:
    """The rows of windowed rules that wait, and the events they fall among."""

    checkpoint_skip = ("args",)  # from the plan

    def __init__(self, rules: tuple[RulePlan, ...]) -> None:
        # the argument rows a rule's kernel reads: ints, floats, null flags (not of "truth" args)
        self.args = [([a.index for a in rp.args if not a.is_float],
                      [a.index for a in rp.args if a.is_float],
                      [a.index for a in rp.args if a.mode == "value"]) for rp in rules]
        self.next_event = 0  # number of the next batch's first event (0 = the first ever fed)
        # kept batches (oldest first): first event number, event times, skip masks
        self.batch_first: list[int] = []
        self.batch_ts: list[np.ndarray] = []
        self.batch_skip: list[np.ndarray] = []
        # per windowed rule: rows waiting, the first event of the batch of the first one,
        # and the buffers holding them (sel, kw, ia, fa, na; sel as event numbers)
        self.count: list[int] = [0] * len(rules)
        self.since: list[int] = [0] * len(rules)
        self.buffers: list[list[np.ndarray]] = [[] for _ in rules]
        self.swapped: list[tuple[int, list[np.ndarray]]] = []

    @property
    def waiting(self) -> bool:
        """Whether any rule has rows waiting."""
        return any(self.count)

    def waited(self, w: int) -> int:
        """Events fed since the batch of rule ``w``'s first waiting row (0 if none waits)."""
        return self.next_event - self.since[w] if self.count[w] else 0

    def take(self, state: State, ts: np.ndarray, skip: np.ndarray, watermark: int | None,
             enabled: bool) -> Run | None:
        """This batch's run (None if every rule waits); the rules that wait keep their rows.

        Call after ``select`` filled the batch's buffers and set every rule's
        ``M_NSEL``. ``watermark``: the highest event time so far less the
        allowed lateness. Call :meth:`release` after the run.
        """
        n = ts.shape[0]
        first = self.next_event
        due: list[int] = []
        kept = False  # whether a rule that waits has rows among this batch's events
        for w, m in enumerate(state.M):
            if (not enabled or watermark is None or watermark >= m[layout.M_NEXT_CLOSE]
                    or self.waited(w) + n > DEFER_EVENTS):
                due.append(w)
                continue
            if m[layout.M_NSEL] > 0:
                self._keep(state, w, first, int(m[layout.M_NSEL]))
                m[layout.M_NSEL] = 0
            kept = kept or self.count[w] > 0
        self.next_event += n
        if kept:
            self.batch_first.append(first)
            self.batch_ts.append(ts)
            self.batch_skip.append(skip)
        if not due:
            return None
        return self._run(state, due, first, ts, skip)

    def take_all(self, state: State) -> Run | None:
        """A run of every waiting row and no new batch (before a checkpoint, a string
        compaction or the end of input); None when nothing waits."""
        due = [w for w, c in enumerate(self.count) if c]
        if not due:
            return None
        for m in state.M:
            m[layout.M_CURSOR] = 0
            m[layout.M_NSEL] = 0
        return self._run(state, due, self.next_event, None, None)

    def release(self, state: State) -> None:
        """Give the rules their own select buffers back after a run."""
        for w, arrays in self.swapped:
            for name, a in zip(_SELECTED, arrays):
                state.lists.set(name, w, a)
        self.swapped = []

    def scratch_arrays(self) -> list[np.ndarray]:
        """The waiting rows' buffers: empty whenever a checkpoint is taken."""
        return [a for bufs in self.buffers for a in bufs]

    # -- internals ----------------------------------------------------------------

    def _current(self, state: State, w: int, nsel: int) -> list[np.ndarray]:
        """Views of the ``nsel`` rows select wrote for rule ``w`` in this batch."""
        out = []
        for name, axis in zip(_SELECTED, _ROW_AXIS):
            a = state.lists.py[name][w]
            out.append(a[:nsel] if axis == 0 else a[:, :nsel])
        return out

    def _keep(self, state: State, w: int, first: int, nsel: int) -> None:
        """Append this batch's ``nsel`` selected rows of rule ``w`` to its waiting rows."""
        c = self.count[w]
        if c == 0:
            self.since[w] = first
        bufs = self._room(state, w, c + nsel)
        sel, kw, ia, fa, na = self._current(state, w, nsel)
        np.add(sel, first, out=bufs[0][c:c + nsel])
        bufs[1][c:c + nsel] = kw
        # only the rows the kernels read (an argument is an int or a float, "truth" never null)
        for k, (rows, a) in enumerate(zip(self.args[w], (ia, fa, na))):
            for j in rows:
                bufs[2 + k][j, c:c + nsel] = a[j]
        self.count[w] = c + nsel

    def _room(self, state: State, w: int, rows: int) -> list[np.ndarray]:
        bufs = self.buffers[w]
        if bufs and bufs[0].shape[0] >= rows:
            return bufs
        cap = max(rows, 2 * bufs[0].shape[0] if bufs else 1024)
        grown = []
        for k, (name, axis) in enumerate(zip(_SELECTED, _ROW_AXIS)):
            like = state.lists.py[name][w]
            shape = (cap, *like.shape[1:]) if axis == 0 else (like.shape[0], cap)
            a = np.zeros(shape, dtype=like.dtype)
            c = self.count[w]
            if bufs and axis == 0:
                a[:c] = bufs[k][:c]
            elif bufs:
                a[:, :c] = bufs[k][:, :c]
            grown.append(a)
        self.buffers[w] = grown
        return grown

    def _run(self, state: State, due: list[int], first: int, ts: np.ndarray | None,
             skip: np.ndarray | None) -> Run:
        """Run ``due``; ``first``: the event number of ``ts`` (None: no new batch)."""
        waiting = [w for w in due if self.count[w]]
        if not waiting:  # the batch alone
            assert ts is not None and skip is not None
            return Run(ts, skip, [0 if w in due else ts.shape[0] for w in range(len(state.M))])
        origin = min(self.since[w] for w in waiting)  # event number of the run's first event
        kept = [i for i, f in enumerate(self.batch_first) if origin <= f < first]
        all_ts = np.concatenate([self.batch_ts[i] for i in kept] + ([] if ts is None else [ts]))
        all_skip = np.concatenate([self.batch_skip[i] for i in kept]
                                  + ([] if skip is None else [skip]))
        start = [all_ts.shape[0]] * len(state.M)
        for w in due:
            m = state.M[w]
            nsel = int(m[layout.M_NSEL])
            if not self.count[w]:  # this batch only: its rows' sel move by its offset
                start[w] = first - origin
                state.lists.py["SEL"][w][:nsel] += first - origin
                continue
            if nsel > 0:
                self._keep(state, w, first, nsel)
            start[w] = self.since[w] - origin
            total = self.count[w]
            bufs = self.buffers[w]
            bufs[0][:total] -= origin
            self.swapped.append((w, [state.lists.py[name][w] for name in _SELECTED]))
            for name, a in zip(_SELECTED, bufs):
                state.lists.set(name, w, a)
            m[layout.M_CURSOR] = 0
            m[layout.M_NSEL] = total
            self.count[w] = 0
        self._forget()
        return Run(all_ts, all_skip, start)

    def _forget(self) -> None:
        """Drop the kept batches no waiting row falls among any more."""
        firsts = [self.since[w] for w, c in enumerate(self.count) if c]
        lo = min(firsts) if firsts else self.next_event
        keep = [i for i, f in enumerate(self.batch_first) if f >= lo]
        self.batch_first = [self.batch_first[i] for i in keep]
        self.batch_ts = [self.batch_ts[i] for i in keep]
        self.batch_skip = [self.batch_skip[i] for i in keep]
