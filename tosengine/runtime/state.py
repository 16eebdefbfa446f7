"""Evaluator state: every array the kernels and the window machine read and write.

Per windowed rule (layouts in :mod:`tosengine.compiler.layout`): slot rows
``I``/``F`` (one row per active key: bookkeeping, key words and a ring of
panes of accumulators), the active list and free stack ``AL``, counters
``M``, the key → slot map (``KC``, an array indexed by string code, for a
single string key; ``KH``, a hash table, otherwise), exact-distinct tables
``S`` (and ``Q``/``R`` for sliding windows), the rows ``select`` wrote for this
batch, and the closed windows with what ``judge`` made of them. Per event
rule: the rows that fired with their values. Per rule with a ``cooldown``: a
table of key → time of its last report.

The window machine's arrays are grouped in numba typed lists (one entry per
windowed rule) so one call serves every rule. Tables grow geometrically when
the machine reports one full; hash sets are rebuilt keeping only entries an
open window can still read, and slots of keys whose windows are all evaluated
return to a free stack, so memory follows the active keys, not every key ever
seen.
"""

from __future__ import annotations

import numpy as np

from tosengine.compiler import layout
from tosengine.compiler.codegen import judge_io, select_outputs
from tosengine.compiler.plan import Plan, RulePlan, meta_size, ring_size
from tosengine.compiler.prims import ht_purge_live, ht_rehash_live
from tosengine.compiler.windows import (
    NEED_CLOSED,
    NEED_KEYS,
    NEED_Q,
    NEED_R,
    NEED_S,
    NEED_SLOTS,
    htw_rehash,
    list_append,
    list_set,
    new_list,
)

#: the window machine's per-rule array lists, in run_windows argument order
LISTS = ("P", "A", "G", "DD", "I", "F", "AL", "M", "KC", "KH", "SEL", "KW", "IA", "FA", "NA",
         "CW", "CWF", "CWN", "S", "Q", "R")


#: lists the window machine rewrites from scratch in every batch (selected rows, closed
#: windows): a checkpoint keeps only their shapes
SCRATCH_LISTS = ("SEL", "KW", "IA", "FA", "NA", "CW", "CWF", "CWN")


class InvalidSettings(ValueError):
    """Evaluator settings that cannot work with these rules (a usage error, not a bug)."""


class Lists:
    """Per-rule arrays both as Python lists (for Python code) and numba typed lists.

    The two hold the same numpy arrays; :meth:`set` replaces one in both.
    """

    checkpoint_skip = ("typed",)  # rebuilt from ``py`` by after_restore

    def __init__(self) -> None:
        self.py: dict[str, list[np.ndarray]] = {name: [] for name in LISTS}
        self.typed: dict[str, object] = {}

    def append(self, name: str, array: np.ndarray) -> None:
        self.py[name].append(array)
        if name in self.typed:
            list_append(self.typed[name], array)
        else:
            self.typed[name] = new_list(array)

    def set(self, name: str, index: int, array: np.ndarray) -> None:
        self.py[name][index] = array
        list_set(self.typed[name], index, array)

    def replace(self, name: str, arrays: list[np.ndarray]) -> None:
        self.py[name] = []
        self.typed.pop(name, None)
        for a in arrays:
            self.append(name, a)

    def args(self) -> list[object]:
        return [self.typed[name] for name in LISTS]

    def after_restore(self) -> None:
        """Rebuild the typed lists from the Python lists (after a checkpoint restore)."""
        self.typed = {}
        for name, arrays in self.py.items():
            self.replace(name, list(arrays))

# where a distinct table row holds the value (S: flag, slot, pane, value; R: flag, slot,
# value, pane; Q: slot, pane, value), see windows._distinct_set / _distinct_eager / _drain
_S_VALUE, _R_VALUE, _Q_VALUE = 3, 2, 2
MAX_RING = 1 << 16  # panes kept per key and rule: bounds what a lateness can cost
I64_MAX = np.iinfo(np.int64).max
I64_MIN = np.iinfo(np.int64).min


def _grow_rows(a: np.ndarray, rows: int) -> np.ndarray:
    out = np.zeros((rows,) + a.shape[1:], dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


def _grow_cols(a: np.ndarray, cols: int) -> np.ndarray:
    out = np.zeros((a.shape[0], cols), dtype=a.dtype)
    out[:, : a.shape[1]] = a
    return out


def hash_table(capacity: int, width: int) -> np.ndarray:
    """An empty hash table for keys of ``width`` words (see windows.htw_*)."""
    return np.zeros((capacity, width + 2), dtype=np.int64)


def _descriptor(rows: list[list[int]], width: int) -> np.ndarray:
    return np.array(rows, dtype=np.int64).reshape(-1, width)


def _rehashed(table: np.ndarray, j: int, through, width: int) -> np.ndarray:
    """``table`` with key word ``j`` rewritten by ``through``, rehashed into a fresh table."""
    used = table[:, 0] != 0
    table[used, 1 + j] = through(table[used, 1 + j])
    new = hash_table(table.shape[0], width)
    htw_rehash(table, new, width, I64_MIN)
    return new


class Cooldowns:
    """Key → time of the last reported violation, for one rule with a cooldown."""

    def __init__(self, key_width: int, cooldown_ms: int) -> None:
        self.width = key_width + 1  # key words + null bits
        self.cooldown_ms = cooldown_ms
        self.table = hash_table(64, self.width)
        self.count = np.zeros(1, dtype=np.int64)

    def grow(self, horizon: int | None) -> None:
        """Drop keys whose cooldown ends by ``horizon``; double the table if it stays busy.

        ``horizon`` is the earliest time a violation still to be reported can have.
        """
        floor = I64_MIN if horizon is None else horizon - self.cooldown_ms + 1
        old = self.table
        probe = hash_table(old.shape[0], self.width)
        live = htw_rehash(old, probe, self.width, floor)
        size = old.shape[0]
        while live * 4 > size:
            size *= 2
        if size != old.shape[0]:
            bigger = hash_table(size, self.width)
            htw_rehash(probe, bigger, self.width, I64_MIN)
            probe = bigger
        self.table = probe
        self.count[0] = live


class State:
    """All evaluator state for one compiled rule set and allowed lateness."""

    def __init__(self, plan: Plan, allowed_lateness_ms: int) -> None:
        self.plan = plan
        self.windows = plan.window_rules
        # per-batch buffers by name (select/judge args): rewritten every batch, so a checkpoint
        # keeps only their shapes -- state that must survive a batch never goes here
        self.arrays: dict[str, np.ndarray] = {}
        self.batch_cap = 0
        self.cooldowns = {
            rp.index: Cooldowns(rp.key_width, rp.rule.cooldown_ms)
            for rp in plan.rules if rp.rule.cooldown_ms is not None
        }
        self.lists = L = Lists()
        for rp in self.windows:
            assert rp.rule.window is not None
            ring = ring_size(rp.rule.window, allowed_lateness_ms)
            if ring > MAX_RING:
                raise InvalidSettings(
                    f"allowed lateness of {allowed_lateness_ms} ms is too long for rule "
                    f"{rp.rule.name!r}: its windows step every {rp.rule.window.step_ms} ms, so "
                    f"each key would keep {ring} panes (at most {MAX_RING})")
            L.append("P", np.array(rp.params(), dtype=np.int64))
            L.append("A", _descriptor(rp.acc_rows(), layout.A_WORDS))
            L.append("G", _descriptor(rp.agg_rows(), layout.G_WORDS))
            L.append("DD", _descriptor(rp.distinct_rows(), layout.DD_WORDS))
            slots = 64
            L.append("I", np.zeros((slots, rp.pane_base + ring * rp.pane_words_i), np.int64))
            L.append("F", np.zeros((slots, ring * max(rp.pane_words_f, 1)), np.float64))
            L.append("AL", np.zeros((slots, layout.AL_WORDS), np.int64))
            m = np.zeros(meta_size(rp), dtype=np.int64)
            m[layout.M_RING] = ring
            m[layout.M_NEXT_CLOSE] = I64_MAX
            m[layout.M_MAX_PANE] = I64_MIN
            L.append("M", m)
            L.append("KC", np.full(64 if rp.keymode == layout.KEY_CODE else 1, -1, np.int32))
            L.append("KH", hash_table(64 if rp.keymode == layout.KEY_HASH else 2,
                                      rp.key_width + 1))
            for _ in rp.distincts:
                L.append("S", hash_table(256, 3))
                L.append("Q", np.zeros((256 if rp.sliding else 1, 3), np.int64))
                L.append("R", hash_table(256 if rp.sliding else 2, 2))
            closed = 256
            L.append("CW", np.zeros((closed, rp.cw_agg0 + max(len(rp.aggs), 1)), np.int64))
            L.append("CWF", np.zeros((closed, max(len(rp.aggs), 1)), np.float64))
            L.append("CWN", np.zeros((closed, max(len(rp.aggs), 1)), np.uint8))
            self._judge_buffers(rp, closed)
        if not L.py["S"]:  # a typed list needs one element to have a type
            L.append("S", hash_table(2, 3))
            L.append("Q", np.zeros((1, 3), np.int64))
            L.append("R", hash_table(2, 2))
        self.reserve(1024)

    def __getattr__(self, name: str) -> list[np.ndarray]:
        """``state.I``, ``state.M``...: the Python list of one of the machine's lists."""
        if name in LISTS:
            return self.__dict__["lists"].py[name]
        raise AttributeError(name)

    # -- per-batch buffers -------------------------------------------------------

    def reserve(self, rows: int) -> None:
        """Make every ``select`` output hold ``rows`` rows."""
        if rows <= self.batch_cap:
            return
        cap = max(rows, 2 * self.batch_cap)
        for rp in self.plan.rules:
            r = rp.index
            lets = max(len(rp.rule.lets), 1)
            kw = np.zeros((cap, rp.key_width + 1), np.int64)
            if rp.windowed:
                nargs = max(len(rp.args), 1)
                bufs = [np.zeros(cap, np.int64), kw, np.zeros((nargs, cap), np.int64),
                        np.zeros((nargs, cap), np.float64), np.zeros((nargs, cap), np.uint8)]
            else:
                bufs = [np.zeros(cap, np.int64), kw, np.zeros((cap, lets), np.int64),
                        np.zeros((cap, lets), np.float64), np.zeros((cap, lets), np.uint8)]
            for name, arr in zip(select_outputs(rp), bufs):
                self.arrays[name] = arr
        if self.windows:
            for name in ("sel", "kw", "ia", "fa", "na"):
                self.lists.replace(name.upper(),
                                   [self.arrays[f"{name}_{rp.index}"] for rp in self.windows])
        self.batch_cap = cap

    def _judge_buffers(self, rp: RulePlan, rows: int) -> None:
        r = rp.index
        lets = max(len(rp.rule.lets), 1)
        names = judge_io(rp)[3:]
        for name, arr in zip(names, [np.zeros(rows, np.uint8), np.zeros((rows, lets), np.int64),
                                     np.zeros((rows, lets), np.float64),
                                     np.zeros((rows, lets), np.uint8)]):
            self.arrays[name] = arr
        w = rp.window_index
        self.arrays[f"cw_{r}"] = self.lists.py["CW"][w]
        self.arrays[f"cwf_{r}"] = self.lists.py["CWF"][w]
        self.arrays[f"cwn_{r}"] = self.lists.py["CWN"][w]

    def ensure_key_codes(self, sizes: dict[int, int]) -> None:
        """Make each single-string key's code → slot array cover ``sizes[rule]`` codes."""
        for rp in self.windows:
            if rp.keymode != layout.KEY_CODE:
                continue
            w = rp.window_index
            need = sizes[rp.index]
            kc = self.KC[w]
            if kc.shape[0] < need:
                grown = np.full(max(need, 2 * kc.shape[0]), -1, dtype=np.int32)
                grown[: kc.shape[0]] = kc
                self.lists.set("KC", w, grown)

    # -- growth ------------------------------------------------------------------

    def grow(self, need: int, w: int) -> None:
        """Make room for what the window machine reported missing in windowed rule ``w``."""
        rp = self.windows[w]
        L = self.lists
        if need == NEED_SLOTS:
            rows = 2 * self.I[w].shape[0]
            L.set("I", w, _grow_rows(self.I[w], rows))
            L.set("F", w, _grow_rows(self.F[w], rows))
            L.set("AL", w, _grow_rows(self.AL[w], rows))
        elif need == NEED_KEYS:
            old = self.KH[w]
            width = rp.key_width + 1
            new = hash_table(2 * old.shape[0], width)
            htw_rehash(old, new, width, I64_MIN)
            L.set("KH", w, new)
        elif need == NEED_CLOSED:
            rows = 2 * self.CW[w].shape[0]
            for name in ("CW", "CWF", "CWN"):
                L.set(name, w, _grow_rows(L.py[name][w], rows))
            self._judge_buffers(rp, rows)
        elif NEED_S <= need < NEED_Q:
            self._rebuild_sets(w, need - NEED_S)
        elif NEED_Q <= need < NEED_R:
            g = rp.dist0 + need - NEED_Q
            L.set("Q", g, _grow_rows(self.Q[g], 2 * self.Q[g].shape[0]))
        elif need >= NEED_R:
            self._rebuild_latest(w, need - NEED_R)
        else:
            raise AssertionError(f"unknown need {need}")

    def _rebuild_sets(self, w: int, d: int, rekeyed: bool = False) -> None:
        """Rebuild the (slot, pane, value) set ``S`` of distinct aggregate ``d`` of rule ``w``."""
        rp = self.windows[w]
        g = rp.dist0 + d
        # distinct values are deduplicated per pane only until the pane is drained
        # (sliding) or its window closed (tumbling): panes below this are done
        done_below = int(self.M[w][layout.M_NEXT_W]) + rp.rule.window.panes - 1
        table, live = self._rebuild(w, self.S[g], 3, 2, 0, done_below, rekeyed)
        self.lists.set("S", g, table)
        self.M[w][layout.M_DIST + layout.D_WORDS * d + layout.D_S_COUNT] = live

    def _rebuild_latest(self, w: int, d: int, rekeyed: bool = False) -> None:
        """Rebuild the (slot, value) → latest pane table ``R`` of distinct aggregate ``d``."""
        g = self.windows[w].dist0 + d
        at = layout.M_DIST + layout.D_WORDS * d
        queued = int(self.M[w][at + layout.D_Q_COUNT])
        table, live = self._rebuild(w, self.R[g], 2, -1, queued, I64_MIN, rekeyed)
        self.lists.set("R", g, table)
        self.M[w][at + layout.D_R_COUNT] = live

    def _rebuild(self, w: int, old: np.ndarray, width: int, pane_word: int, coming: int,
                 min_pane: int, rekeyed: bool = False) -> tuple[np.ndarray, int]:
        """Drop entries no open window can still read, with room for ``coming`` more.

        Returns the table and its entry count. The table stays at most a quarter full
        after the rebuild, so rebuilds are rare. Dead entries are dropped in place and
        only a table that must grow is copied, unless the entries' keys were rewritten
        (``rekeyed``): then every entry has a new home and the table is rehashed.
        """
        rows = self.I[w]  # slot rows: NEXT_WIN is the first pane a slot's open windows read
        if rekeyed:
            probe = hash_table(old.shape[0], width)
            live = ht_rehash_live(old, probe, width, rows, layout.NEXT_WIN, pane_word,
                                  min_pane)
            old = probe
        else:
            live = ht_purge_live(old, width, rows, layout.NEXT_WIN, pane_word, min_pane)
        size = old.shape[0]
        while (live + coming + 1) * 4 > size:
            size *= 2
        if size == old.shape[0]:
            return old, live
        new = hash_table(size, width)
        ht_rehash_live(old, new, width, rows, layout.NEXT_WIN, pane_word, min_pane)
        return new, live

    # -- string codes held by state (for dictionary compaction) ------------------

    def live_codes(self, keys: list[tuple[int, int]], distincts: list[tuple[int, int]],
                   watermark: int | None) -> list[np.ndarray]:
        """String codes still held in key word ``j`` of rule ``r`` for each ``(r, j)`` of ``keys``
        and in distinct set ``d`` of rule ``r`` for each ``(r, d)`` of ``distincts``.

        Key slots hold a key while any of its windows is open; cooldown tables
        hold it until its cooldown has run out (expired entries are dropped first);
        distinct tables hold values until they are rebuilt.
        """
        out = []
        for r, d in distincts:
            rp = self.plan.rules[r]
            g = rp.dist0 + d
            qn = int(self.M[rp.window_index][layout.M_DIST + layout.D_WORDS * d + layout.D_Q_COUNT])
            s_tab, r_tab = self.S[g], self.R[g]
            out += [s_tab[s_tab[:, 0] != 0, _S_VALUE], r_tab[r_tab[:, 0] != 0, _R_VALUE],
                    self.Q[g][:qn, _Q_VALUE]]
        for r, j in keys:
            rp = self.plan.rules[r]
            if rp.windowed:
                w = rp.window_index
                if rp.keymode == layout.KEY_CODE:
                    out.append(np.flatnonzero(self.KC[w] >= 0))
                else:
                    kh = self.KH[w]
                    out.append(kh[kh[:, 0] != 0, 1 + j])
            if r in self.cooldowns:
                cd = self.cooldowns[r]
                cd.grow(watermark)
                out.append(cd.table[cd.table[:, 0] != 0, 1 + j])
        return out

    def remap_codes(self, keys: list[tuple[int, int]], distincts: list[tuple[int, int]],
                    remap: np.ndarray) -> None:
        """Rewrite the codes :meth:`live_codes` found through ``remap`` (old code → new code)."""

        def through(col: np.ndarray) -> np.ndarray:
            ok = (col >= 0) & (col < remap.shape[0])
            return np.where(ok, remap[np.where(ok, col, 0)], 0)

        for r, d in distincts:
            rp = self.plan.rules[r]
            w, g = rp.window_index, rp.dist0 + d
            for tab, col in ((self.S[g], _S_VALUE), (self.R[g], _R_VALUE), (self.Q[g], _Q_VALUE)):
                tab[:, col] = through(tab[:, col])
            self._rehash_distinct(w, d)

        for r, j in keys:
            rp = self.plan.rules[r]
            if rp.windowed:
                w = rp.window_index
                slots = self.I[w]
                slots[:, layout.KEY0 + j] = through(slots[:, layout.KEY0 + j])
                if rp.keymode == layout.KEY_CODE:
                    old = self.KC[w][: remap.shape[0]]
                    held = np.flatnonzero(old >= 0)
                    kc = np.full(max(64, int(remap.max(initial=0)) + 1), -1, dtype=np.int32)
                    kc[remap[held]] = old[held]
                    self.lists.set("KC", w, kc)
                else:
                    self.lists.set("KH", w, _rehashed(self.KH[w], j, through,
                                                       rp.key_width + 1))
            if r in self.cooldowns:
                cd = self.cooldowns[r]
                cd.table = _rehashed(cd.table, j, through, cd.width)

    def _rehash_distinct(self, w: int, d: int) -> None:
        """Rebuild distinct set ``d`` of windowed rule ``w`` (S and R) after its values changed."""
        self._rebuild_sets(w, d, rekeyed=True)
        self._rebuild_latest(w, d, rekeyed=True)

    @property
    def active_keys(self) -> int:
        """Key slots in use over all windowed rules."""
        return sum(int(m[layout.M_ACTIVE]) for m in self.M)

    def scratch_arrays(self) -> list[np.ndarray]:
        """Arrays every batch overwrites before reading (per-batch buffers, closed windows)."""
        out = list(self.arrays.values())
        for name in SCRATCH_LISTS:
            out += self.lists.py[name]
        return out

    @property
    def nbytes(self) -> int:
        """Bytes held by key and window state (not the per-batch buffers)."""
        total = 0
        for name in ("I", "F", "AL", "M", "KC", "KH", "S", "Q", "R"):
            total += sum(int(a.nbytes) for a in self.lists.py[name])
        total += sum(int(c.table.nbytes) for c in self.cooldowns.values())
        return total
