"""Keyed window state: the numpy arrays a compiled rule set reads and writes.

Per rule (see :mod:`tosengine.compiler.plan` for the row layouts):

* ``I``/``F`` — one int64/float64 row per key slot: bookkeeping, key words and
  a ring of panes (per-pane accumulators); the active-slot list and the
  free-slot stack live in two columns of ``I``;
* ``M`` — counters (active slots, free slots, next window to close, ...);
* ``K`` — key → slot: an int32 array indexed by string code for a single
  string key, else a hash table;
* per ``distinct``: ``S`` a hash set of (slot, pane, value); for sliding
  windows also ``Q`` (values waiting for their pane to complete) and ``R``
  (slot, value → latest pane).

Tables grow geometrically when a kernel reports one full; hash sets are
rebuilt keeping only entries an open window can still read, so memory follows
the active keys, not every key ever seen. Slots of keys whose windows are all
evaluated return to the free stack.
"""

from __future__ import annotations

import numpy as np

from tosengine.compiler.codegen import NEED_KEYS, NEED_OUT, NEED_Q, NEED_R, NEED_S, NEED_SLOTS
from tosengine.compiler.plan import (
    M_MAX_PANE,
    M_NEXT_CLOSE,
    M_NEXT_W,
    M_RMASK,
    Plan,
    RulePlan,
    meta_size,
    ring_size,
)
from tosengine.compiler.prims import ht_rehash, ht_rehash_live
from tosengine.runtime.strings import StringDictionary

I64_MAX = np.iinfo(np.int64).max
I64_MIN = np.iinfo(np.int64).min


def _grow_rows(a: np.ndarray, rows: int) -> np.ndarray:
    out = np.zeros((rows,) + a.shape[1:], dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


def _table(capacity: int, width: int) -> np.ndarray:
    return np.zeros((capacity, width + 2), dtype=np.int64)


class RuleState:
    """The state arrays of one rule."""

    def __init__(self, rp: RulePlan, allowed_lateness_ms: int, slots: int = 64) -> None:
        self.rp = rp
        self.arrays: dict[str, np.ndarray] = {}
        if not rp.needs_slots:
            return
        r = rp.index
        if rp.windowed:
            assert rp.rule.window is not None
            ring = ring_size(rp.rule.window, allowed_lateness_ms)
        else:
            ring = 1
        self.ring = ring
        wi = rp.pane_base + ring * rp.pane_words_i
        wf = max(ring * rp.pane_words_f, 1)
        self.arrays[f"I_{r}"] = np.zeros((slots, wi), dtype=np.int64)
        if rp.windowed:
            self.arrays[f"F_{r}"] = np.zeros((slots, wf), dtype=np.float64)
        m = np.zeros(meta_size(rp), dtype=np.int64)
        m[M_RMASK] = ring - 1
        m[M_NEXT_CLOSE] = I64_MAX
        m[M_NEXT_W] = 0
        m[M_MAX_PANE] = I64_MIN
        self.arrays[f"M_{r}"] = m
        if rp.key_string_only:
            self.arrays[f"K_{r}"] = np.full(64, -1, dtype=np.int32)
        else:
            self.arrays[f"K_{r}"] = _table(64, rp.key_width + 1)
        for d in rp.distincts:
            self.arrays[f"S_{r}_{d.index}"] = _table(256, 3)
            if rp.sliding:
                self.arrays[f"Q_{r}_{d.index}"] = np.zeros((256, 3), dtype=np.int64)
                self.arrays[f"R_{r}_{d.index}"] = _table(256, 2)

    def ensure_key_codes(self, dictionaries: list[StringDictionary], group: int) -> None:
        """Make the code → slot array of a single-string key cover every code."""
        name = f"K_{self.rp.index}"
        k = self.arrays[name]
        need = len(dictionaries[group])
        if k.shape[0] < need:
            grown = np.full(max(need, 2 * k.shape[0]), -1, dtype=np.int32)
            grown[: k.shape[0]] = k
            self.arrays[name] = grown

    def grow(self, need: int) -> None:
        """Make room for what a kernel reported missing."""
        r = self.rp.index
        a = self.arrays
        if need == NEED_SLOTS:
            rows = 2 * a[f"I_{r}"].shape[0]
            a[f"I_{r}"] = _grow_rows(a[f"I_{r}"], rows)
            if f"F_{r}" in a:
                a[f"F_{r}"] = _grow_rows(a[f"F_{r}"], rows)
        elif need == NEED_KEYS:
            old = a[f"K_{r}"]
            new = _table(2 * old.shape[0], self.rp.key_width + 1)
            ht_rehash(old, new, self.rp.key_width + 1)
            a[f"K_{r}"] = new
        elif NEED_S <= need < NEED_Q:
            a[f"S_{r}_{need - NEED_S}"] = self._rebuild(a[f"S_{r}_{need - NEED_S}"], 3, 2)
            self._set_count(need - NEED_S, 0, a[f"S_{r}_{need - NEED_S}"])
        elif NEED_Q <= need < NEED_R:
            q = a[f"Q_{r}_{need - NEED_Q}"]
            a[f"Q_{r}_{need - NEED_Q}"] = _grow_rows(q, 2 * q.shape[0])
        elif need >= NEED_R:
            a[f"R_{r}_{need - NEED_R}"] = self._rebuild(a[f"R_{r}_{need - NEED_R}"], 2, -1)
            self._set_count(need - NEED_R, 4, a[f"R_{r}_{need - NEED_R}"])
        else:
            raise AssertionError(f"unknown need {need}")

    def _rebuild(self, old: np.ndarray, width: int, pane_word: int) -> np.ndarray:
        """Rehash keeping live entries; double the table if it stays over a quarter full."""
        from tosengine.compiler.plan import RulePlan as _RP

        I = self.arrays[f"I_{self.rp.index}"]
        probe = _table(old.shape[0], width)
        live = ht_rehash_live(old, probe, width, I, _RP.NEXT_WIN, pane_word)
        if live * 4 <= old.shape[0]:
            return probe
        size = old.shape[0]
        while live * 4 > size:
            size *= 2
        new = _table(size, width)
        ht_rehash(probe, new, width)
        return new

    def _set_count(self, d: int, word: int, table: np.ndarray) -> None:
        from tosengine.compiler.plan import D_WORDS, M_DIST

        m = self.arrays[f"M_{self.rp.index}"]
        m[M_DIST + D_WORDS * d + word] = int(table[:, 0].sum())

    @property
    def nbytes(self) -> int:
        return sum(int(a.nbytes) for a in self.arrays.values())


class Outputs:
    """The violation rows kernels append to (grown on demand)."""

    def __init__(self, plan: Plan, rows: int = 1024) -> None:
        self.out_i = np.zeros((rows, plan.out_width_i), dtype=np.int64)
        self.out_f = np.zeros((rows, plan.out_width_f), dtype=np.float64)

    def grow(self, at_least: int = 0) -> None:
        rows = max(2 * self.out_i.shape[0], at_least)
        self.out_i = _grow_rows(self.out_i, rows)
        self.out_f = _grow_rows(self.out_f, rows)


__all__ = ["RuleState", "Outputs", "NEED_OUT"]
