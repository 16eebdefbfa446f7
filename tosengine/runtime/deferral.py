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

Batches of ``DEFER_EVENTS`` events or more never wait, so large batches run as
before; the select buffers never grow beyond ``DEFER_EVENTS`` plus a batch.
"""

from __future__ import annotations

import numpy as np

from tosengine.compiler import layout
from tosengine.runtime.state import State

DEFER_EVENTS = 1 << 16  # at most this many events go by before a waiting rule is fed

_SELECTED = ("SEL", "KW", "IA", "FA", "NA")  # what select wrote for a windowed rule
_ROW_AXIS = (0, 0, 1, 1, 1)  # the row axis of each


class Run:
    """What the window machine runs now: events, and where each rule starts in them.

    ``start[w]`` is the first event of ``ts`` fed to windowed rule ``w``;
    ``len(ts)`` for a rule that waits.
    """

    def __init__(self, ts: np.ndarray, skip: np.ndarray, start: list[int]) -> None:
        self.ts, self.skip, self.start = ts, skip, start


class DeferredRows:
    """The rows of windowed rules that wait, and the events they fall among."""

    def __init__(self, rules: int) -> None:
        self.seq = 0  # number of the next batch
        # waiting batches: their numbers, event times and skip masks (oldest first)
        self.batch_seq: list[int] = []
        self.batch_ts: list[np.ndarray] = []
        self.batch_skip: list[np.ndarray] = []
        # per windowed rule: its waiting rows, one (batch number, sel, kw, ia, fa, na) per batch
        self.rows: list[list[tuple]] = [[] for _ in range(rules)]
        self.events: list[int] = [0] * rules  # events gone by since a rule's first waiting row
        self.swapped: list[tuple[int, list[np.ndarray]]] = []

    @property
    def waiting(self) -> bool:
        """Whether any rule has rows waiting."""
        return any(self.rows)

    def take(self, state: State, ts: np.ndarray, skip: np.ndarray, watermark: int | None,
             enabled: bool) -> Run | None:
        """This batch's run (None if every rule waits); the rules that wait keep their rows.

        Call after ``select`` filled the batch's buffers and set every rule's
        ``M_NSEL``. ``watermark``: the highest event time so far less the
        allowed lateness. Call :meth:`release` after the run.
        """
        seq = self.seq
        self.seq += 1
        n = ts.shape[0]
        due: list[int] = []
        for w, m in enumerate(state.M):
            if (not enabled or watermark is None or watermark >= m[layout.M_NEXT_CLOSE]
                    or self.events[w] + n > DEFER_EVENTS):
                due.append(w)
            elif m[layout.M_NSEL] > 0 or self.rows[w]:
                self._keep(state, w, seq, int(m[layout.M_NSEL]))
                self.events[w] += n
                m[layout.M_NSEL] = 0
        if any(self.rows[w] for w in range(len(state.M)) if w not in due):
            self.batch_seq.append(seq)
            self.batch_ts.append(ts)
            self.batch_skip.append(skip)
        if not due:
            return None
        return self._run(state, due, seq, ts, skip)

    def take_all(self, state: State) -> Run | None:
        """A run of every waiting row, with no new batch (before a checkpoint, a
        compaction or the end of input); None when nothing waits."""
        due = [w for w, rows in enumerate(self.rows) if rows]
        if not due:
            return None
        for w, m in enumerate(state.M):
            m[layout.M_CURSOR] = 0
            m[layout.M_NSEL] = 0
        empty_ts, empty_skip = np.zeros(0, np.int64), np.zeros(0, np.uint8)
        return self._run(state, due, self.seq, empty_ts, empty_skip, current=False)

    def release(self, state: State) -> None:
        """Give the rules their own select buffers back after a run."""
        for w, arrays in self.swapped:
            for name, a in zip(_SELECTED, arrays):
                state.lists.set(name, w, a)
        self.swapped = []

    # -- internals ----------------------------------------------------------------

    def _keep(self, state: State, w: int, seq: int, nsel: int) -> None:
        if nsel == 0:
            return
        parts = []
        for name, axis in zip(_SELECTED, _ROW_AXIS):
            a = state.lists.py[name][w]
            parts.append((a[:nsel] if axis == 0 else a[:, :nsel]).copy())
        self.rows[w].append((seq, *parts))

    def _run(self, state: State, due: list[int], seq: int, ts: np.ndarray, skip: np.ndarray,
             current: bool = True) -> Run:
        waiting = [w for w in due if self.rows[w]]
        if not waiting:  # the batch alone
            return Run(ts, skip, [0 if w in due else ts.shape[0] for w in range(len(state.M))])
        lo = min(self.rows[w][0][0] for w in waiting)
        keep = [i for i, s in enumerate(self.batch_seq) if s >= lo and s != seq]
        offsets: dict[int, int] = {}
        pos = 0
        for i in keep:
            offsets[self.batch_seq[i]] = pos
            pos += self.batch_ts[i].shape[0]
        if current:
            offsets[seq] = pos
        all_ts = np.concatenate([self.batch_ts[i] for i in keep] + ([ts] if current else []))
        all_skip = np.concatenate([self.batch_skip[i] for i in keep] + ([skip] if current else []))
        start = [all_ts.shape[0]] * len(state.M)
        for w in due:
            m = state.M[w]
            if not self.rows[w]:
                start[w] = offsets[seq]
                if m[layout.M_NSEL] > 0:  # sel indexes this batch, now at offsets[seq]
                    self._swap(state, w, [(seq, *self._current(state, w, int(m[layout.M_NSEL])))],
                               offsets)
                continue
            parts = list(self.rows[w])
            if current and m[layout.M_NSEL] > 0:
                parts.append((seq, *self._current(state, w, int(m[layout.M_NSEL]))))
            start[w] = offsets[self.rows[w][0][0]]
            self._swap(state, w, parts, offsets)
            self.rows[w] = []
            self.events[w] = 0
        self._forget(state, seq)
        return Run(all_ts, all_skip, start)

    def _current(self, state: State, w: int, nsel: int) -> list[np.ndarray]:
        out = []
        for name, axis in zip(_SELECTED, _ROW_AXIS):
            a = state.lists.py[name][w]
            out.append(a[:nsel] if axis == 0 else a[:, :nsel])
        return out

    def _swap(self, state: State, w: int, parts: list[tuple], offsets: dict[int, int]) -> None:
        """Give rule ``w`` the concatenation of ``parts`` as its select output for this run."""
        sel = np.concatenate([p[1] + offsets[p[0]] for p in parts])
        arrays = [sel] + [np.concatenate([p[k] for p in parts], axis=_ROW_AXIS[k - 1])
                          for k in range(2, 6)]
        self.swapped.append((w, [state.lists.py[name][w] for name in _SELECTED]))
        for name, a in zip(_SELECTED, arrays):
            state.lists.set(name, w, np.ascontiguousarray(a))
        m = state.M[w]
        m[layout.M_CURSOR] = 0
        m[layout.M_NSEL] = sel.shape[0]

    def _forget(self, state: State, seq: int) -> None:
        """Drop the waiting batches no rule's rows fall among any more."""
        firsts = [rows[0][0] for rows in self.rows if rows]
        lo = min(firsts) if firsts else seq + 1
        keep = [i for i, s in enumerate(self.batch_seq) if s >= lo]
        self.batch_seq = [self.batch_seq[i] for i in keep]
        self.batch_ts = [self.batch_ts[i] for i in keep]
        self.batch_skip = [self.batch_skip[i] for i in keep]
