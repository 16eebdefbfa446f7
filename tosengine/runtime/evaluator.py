"""The streaming evaluator: batches in, violations out, keyed window state kept between."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa

from tosengine import ir
from tosengine.compiler import Kernels, layout
from tosengine.compiler.codegen import judge_args, select_args
from tosengine.compiler.plan import Plan, RulePlan
from tosengine.compiler.prims import EMPTY, lateness
from tosengine.compiler.windows import (
    C_LATENESS,
    C_NEED,
    C_NEED_RULE,
    C_RULE,
    C_WM,
    CTL_SIZE,
    apply_cooldown,
    run_windows,
)
from tosengine.language.types import Type
from tosengine.runtime.deferral import DeferredRows, Run
from tosengine.runtime.encode import EncodedBatch, encode_batch
from tosengine.runtime.inputs import RawBatch, raw_text, record_batches
from tosengine.runtime.reasons import LATE
from tosengine.runtime.luts import LutTables
from tosengine.runtime.render import json_value, message
from tosengine.runtime.state import InvalidSettings, State
from tosengine.runtime.strings import StringDictionary
from tosengine.runtime.timeparse import format_ms, time_ms
from tosengine.runtime.violation import Violation

COMPACT_MIN = 1 << 16  # strings in a dictionary before it is first compacted
COMPACT_DEAD = 0.5  # compact only when at least this share of a dictionary's strings is dead


@dataclass(frozen=True)
class DeadLetter:
    """An event that was not evaluated: where it came from and why."""

    source: str | None
    position: int  # line number (JSONL, 1-based) or row index (tables)
    reason: str  # not_json, not_object, missing_time, bad_time, wrong_type, late, ...
    detail: str  # e.g. the field with the wrong type
    raw: str  # the event (or line) as text, cut to inputs.RAW_BYTES bytes

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "position": self.position, "reason": self.reason,
                "detail": self.detail, "raw": self.raw}


class StateLimitExceeded(RuntimeError):
    """More keys are open than the evaluator's ``max_keys`` allows.

    Raised by :meth:`Evaluator.feed` after the batch that went over the limit
    was fully evaluated: its violations are on :attr:`violations` (nothing is
    lost) and the evaluator is consistent, so the caller may flush, checkpoint,
    or raise the limit and go on.
    """

    def __init__(self, active_keys: int, max_keys: int, violations: list[Violation]) -> None:
        super().__init__(f"{active_keys} keys are open in windows, more than max_keys="
                         f"{max_keys}; raise the limit or shorten the windows")
        self.active_keys = active_keys
        self.max_keys = max_keys
        self.violations = violations


class EvaluatorFinished(RuntimeError):
    """``feed()`` after ``flush()``: the input has already ended."""


class Evaluator:
    """Evaluates a compiled rule set over a stream of batches.

    Create one with :meth:`RuleSet.stream`. :meth:`feed` takes any accepted
    form of events and returns the violations whose windows closed (and the
    event-rule violations) in that batch; :meth:`flush` ends the input and
    returns the rest. Events that cannot be evaluated are collected in
    :attr:`dead_letters` with their reason, and counted in :attr:`counts`.
    """

    def __init__(self, kernels: Kernels, *, allowed_lateness_ms: int = 0,
                 max_keys: int | None = None) -> None:
        if allowed_lateness_ms < 0:
            raise InvalidSettings("allowed lateness must be >= 0")
        if max_keys is not None and max_keys < 1:
            raise InvalidSettings("max_keys must be >= 1")
        self.max_keys = max_keys
        self.kernels = kernels
        self.plan: Plan = kernels.plan
        self.program: ir.Program = kernels.plan.program
        self.allowed_lateness_ms = int(allowed_lateness_ms)
        self.dictionaries = [StringDictionary(g.literals) for g in self.plan.groups]
        self.luts = LutTables(self.plan, self.dictionaries)
        self.state = State(self.plan, self.allowed_lateness_ms)
        self.deferred = DeferredRows(self.plan.window_rules)
        self.ctl = np.zeros(CTL_SIZE, dtype=np.int64)
        self.ctl[C_WM] = EMPTY
        self.ctl[C_LATENESS] = self.allowed_lateness_ms
        self.counts_buf = np.zeros(max(len(self.plan.rules), 1), dtype=np.int64)
        self.max_seen = np.int64(EMPTY)
        self.dead_letters: list[DeadLetter] = []
        self.counts: Counter[str] = Counter()
        self.finished = False
        self.rows_fed = 0  # events fed so far: in-memory inputs are numbered from here
        self.position: object = None  # the caller's input position, set by RuleSet.restore
        self._string_let_groups = self._let_groups()
        self._key_groups = {
            rp.index: self.plan.group_of_field(rp.rule.key[0]).id
            for rp in self.plan.window_rules if rp.keymode == layout.KEY_CODE
        }
        self._code_keys = self._string_key_words()
        self._compact_at = [COMPACT_MIN] * len(self.dictionaries)

    # -- public ---------------------------------------------------------------

    @property
    def watermark(self) -> int | None:
        """Highest event time seen minus the allowed lateness (None before any event)."""
        if self.max_seen == EMPTY:
            return None
        return int(self.max_seen) - self.allowed_lateness_ms

    def feed(self, events: object) -> list[Violation]:
        """Evaluate a batch of events; return the violations it completed, sorted."""
        if self.finished:
            raise EvaluatorFinished("this evaluator was flushed; create a new one")
        out: list[Violation] = []
        base = self.rows_fed
        for raw in record_batches(events, self.program.schema):
            out += self._feed_raw(raw, base)
        return sort_violations(out, self.program)

    def flush(self) -> list[Violation]:
        """End of input: close every open window and return the remaining violations."""
        if self.finished:
            return []
        self.finished = True
        if not self.plan.window_rules:
            return []
        self.feed_waiting_rows()
        self._run_windows(np.zeros(0, np.int64), np.zeros(0, np.uint8), final=True)
        return sort_violations(self._windowed_violations(), self.program)

    def checkpoint(self, position: object = None) -> bytes:
        """All state as bytes, with the caller's JSON-able input ``position``.

        Call it between batches. :meth:`RuleSet.restore` turns the bytes back into
        an evaluator that continues exactly where this one is (see
        :mod:`tosengine.runtime.checkpoint` for the format). Dead letters not yet
        taken are included.
        """
        from tosengine.runtime.checkpoint import checkpoint_bytes

        return checkpoint_bytes(self, position)

    def take_dead_letters(self) -> list[DeadLetter]:
        """Return and forget the dead letters collected so far."""
        out, self.dead_letters = self.dead_letters, []
        return out

    # -- batches --------------------------------------------------------------

    def _feed_raw(self, raw: RawBatch, base: int) -> list[Violation]:
        n = raw.batch.num_rows
        if n == 0:
            return []
        self.rows_fed += n
        enc = encode_batch(self.plan, self.program.schema, self.dictionaries, raw.batch, raw.bad)
        self.luts.extend()
        self.state.ensure_key_codes({r: len(self.dictionaries[g])
                                     for r, g in self._key_groups.items()})
        bad = enc.bad.view(np.uint8)
        late, self.max_seen = lateness(enc.ts, bad, self.max_seen, self.allowed_lateness_ms)
        skip = late | bad
        self.counts["events"] += n
        self._dead_letters(raw, enc, late, 0 if raw.source is not None else base)

        st = self.state
        st.reserve(n)
        counts = self.counts_buf
        self.kernels.module.select(*self._args(select_args(self.plan), enc, skip))
        out: list[Violation] = []
        if self.plan.window_rules:
            for rp in self.plan.window_rules:
                m = st.M[rp.window_index]
                m[layout.M_CURSOR] = 0
                m[layout.M_NSEL] = counts[rp.index]
            # rules wait only once the machine knows their next window end, and never
            # with max_keys (every batch's keys must be in state to be counted)
            wait = self.max_keys is None and self.ctl[C_WM] != EMPTY
            run = self.deferred.take(st, enc.ts, skip, self.watermark, wait)
            if run is not None:
                self._run_deferred(run)
                out += self._windowed_violations()
        out += self._event_violations(enc, counts)
        self._compact()
        if self.max_keys is not None and self.state.active_keys > self.max_keys:
            raise StateLimitExceeded(self.state.active_keys, self.max_keys,
                                     sort_violations(out, self.program))
        return out

    def _args(self, names: list[str], enc: EncodedBatch, skip: np.ndarray) -> list[object]:
        out: list[object] = []
        arrays = self.state.arrays
        for name in names:
            if name == "ts":
                out.append(enc.ts)
            elif name == "skip":
                out.append(skip)
            elif name == "counts":
                out.append(self.counts_buf)
            elif name.startswith("lut_"):
                out.append(self.luts.arrays[int(name[4:])])
            elif name in arrays:
                out.append(arrays[name])
            else:
                a = enc.args[name]
                # one numba signature for every batch: columns are always read-only
                if a.flags.writeable:
                    a.flags.writeable = False
                out.append(a)
        if enc.ts.flags.writeable:
            enc.ts.flags.writeable = False
        if skip.flags.writeable:
            skip.flags.writeable = False
        return out

    def _run_windows(self, ts: np.ndarray, skip: np.ndarray, final: bool,
                     start: list[int] | None = None) -> None:
        """Feed ``ts`` to the window machine, rule ``w`` from event ``start[w]`` (default 0)."""
        st = self.state
        for w, m in enumerate(st.M):
            m[layout.M_NCW] = 0
            m[layout.M_POS] = 0 if start is None else start[w]
        self.ctl[C_RULE] = 0
        for a in (ts, skip):
            a.flags.writeable = False
        while run_windows(self.ctl, final, ts, skip, *st.lists.args()) != 0:
            st.grow(int(self.ctl[C_NEED]), int(self.ctl[C_NEED_RULE]))

    def feed_waiting_rows(self) -> None:
        """Feed the rows that wait for their rule's next window end into state now.

        Results do not change (no window can close on them; see
        :mod:`tosengine.runtime.deferral`). A checkpoint, a string compaction and
        :meth:`flush` call it first.
        """
        run = self.deferred.take_all(self.state)
        if run is None:
            return
        self._run_deferred(run)
        assert not any(m[layout.M_NCW] for m in self.state.M), "a waiting rule closed a window"

    def _run_deferred(self, run: Run) -> None:
        """The window machine over ``run`` (with waiting rows swapped in), then swap back."""
        try:
            self._run_windows(run.ts, run.skip, final=False, start=run.start)
        finally:
            self.deferred.release(self.state)

    # -- dictionary compaction -------------------------------------------------

    def _string_key_words(self) -> dict[int, tuple[list[tuple[int, int]], list[tuple[int, int]]]]:
        """Per compactable group: where state holds its codes.

        ``(keys, distincts)``: the ``(rule, key word)`` pairs of string keys, and the
        ``(rule, distinct)`` pairs of exact-distinct sets over its strings. A group
        whose strings are kept in state anywhere else is never compacted (there is
        no such place today; the check keeps a new one from being missed).
        """
        held: dict[int, tuple[list[tuple[int, int]], list[tuple[int, int]]]] = {
            g.id: ([], []) for g in self.plan.groups}
        for rp in self.plan.rules:
            for j, (name, t) in enumerate(zip(rp.rule.key, rp.key_types)):
                if t is Type.STRING:
                    held[self.plan.group_of_field(name).id][0].append((rp.index, j))
        blocked: set[int] = set()
        for rp in self.plan.window_rules:
            lets = {let.name: let.expr for let in rp.rule.lets}
            distinct_args = {a: d for d, (a, _) in enumerate(rp.distincts)}
            for a in rp.args:
                if a.mode == "value" and a.expr.type is Type.STRING:
                    g = self.plan.string_group(a.expr, lets)
                    if a.index in distinct_args:
                        held[g][1].append((rp.index, distinct_args[a.index]))
                    else:
                        blocked.add(g)
        return {g: h for g, h in held.items() if g not in blocked}

    def _compact(self) -> None:
        """Drop strings no open state refers to, once a dictionary has doubled since last time."""
        for g, (keys, distincts) in self._code_keys.items():
            d = self.dictionaries[g]
            if len(d) < self._compact_at[g]:
                continue
            self.feed_waiting_rows()  # waiting rows hold codes too
            live = self.state.live_codes(keys, distincts, self.watermark)
            keep = self._with_lut_codes(g, np.concatenate(live) if live else np.zeros(0, np.int64))
            self._compact_at[g] = max(COMPACT_MIN, 2 * len(d))
            held = np.zeros(len(d), dtype=bool)
            held[keep[(keep >= 0) & (keep < len(d))]] = True
            if np.count_nonzero(held) > (1 - COMPACT_DEAD) * len(d):
                continue  # too little to drop to be worth rewriting every code the state holds
            remap = d.compact(keep)
            self.state.remap_codes(keys, distincts, remap)
            self._remap_luts(g, remap)
            self._compact_at[g] = max(COMPACT_MIN, 2 * len(d))  # its size after compaction

    def _with_lut_codes(self, group: int, keep: np.ndarray) -> np.ndarray:
        """``keep`` and the literals, plus the codes their strings map to in ``group``'s code
        tables (``lower``)."""
        tables = [self.luts.arrays[k][: self.luts.filled[k]] for k, lut in enumerate(self.plan.luts)
                  if lut.group == group and lut.kind == "code"]
        if not tables:
            return keep
        # the literals are always kept, so what they map to must be kept too
        fixed = np.arange(self.dictionaries[group].fixed, dtype=np.int64)
        keep = np.unique(np.concatenate([keep, fixed]))
        while True:  # lower(lower(s)) == lower(s): one round adds all, the next confirms it
            more = np.unique(np.concatenate([keep] + [t[keep[keep < t.shape[0]]] for t in tables]))
            if more.shape[0] == keep.shape[0]:
                return keep
            keep = more

    def _remap_luts(self, group: int, remap: np.ndarray) -> None:
        """Reorder the tables of ``group`` after its compaction (code tables' values too)."""
        old_of_new = np.concatenate([[0], np.flatnonzero(remap > 0)])
        luts = self.luts
        for k, lut in enumerate(self.plan.luts):
            if lut.group != group:
                continue
            arr = np.zeros(max(16, old_of_new.shape[0]), dtype=luts.arrays[k].dtype)
            arr[: old_of_new.shape[0]] = luts.arrays[k][old_of_new]
            if lut.kind == "code":
                arr[: old_of_new.shape[0]] = remap[arr[: old_of_new.shape[0]]]
            luts.arrays[k] = arr
            luts.filled[k] = old_of_new.shape[0]

    # -- results --------------------------------------------------------------

    def _windowed_violations(self) -> list[Violation]:
        st = self.state
        ncw = np.array([m[layout.M_NCW] for m in st.M], dtype=np.int64)
        if not ncw.any():
            return []
        self.kernels.module.judge(*[
            self.luts.arrays[int(a[4:])] if a.startswith("lut_") else
            ncw if a == "ncw" else st.arrays[a] for a in judge_args(self.plan)])
        out: list[Violation] = []
        for rp in self.plan.window_rules:
            n = int(ncw[rp.window_index])
            if n == 0:
                continue
            r = rp.index
            cw = st.CW[rp.window_index]
            fire = st.arrays[f"fire_{r}"]
            w = rp.rule.window
            assert w is not None
            if rp.rule.cooldown_ms is not None:
                times = cw[:n, layout.CW_W] * w.step_ms + w.length_ms
                keys = np.ascontiguousarray(
                    cw[:n, layout.CW_KEY0: layout.CW_KEY0 + rp.key_width + 1])
                rows = self._cooldown(rp, times, keys, fire, n)
            else:
                rows = np.flatnonzero(fire[:n])
            bounds: dict[int, tuple[str, str]] = {}  # window index -> its start and end
            for q in rows:
                q = int(q)
                wi = int(cw[q, layout.CW_W])
                if wi not in bounds:
                    start = wi * w.step_ms
                    bounds[wi] = (format_ms(start), format_ms(start + w.length_ms))
                out.append(self._violation(
                    rp, cw[q, layout.CW_KEY0: layout.CW_KEY0 + rp.key_width + 1], q,
                    bounds[wi][1], int(cw[q, layout.CW_CNT]), format_ms(int(cw[q, layout.CW_FIRST])),
                    format_ms(int(cw[q, layout.CW_LAST])), bounds[wi], None, -1))
        return out

    def _event_violations(self, enc: EncodedBatch, counts: np.ndarray) -> list[Violation]:
        st = self.state
        out: list[Violation] = []
        for rp in self.plan.rules:
            if rp.windowed:
                continue
            r = rp.index
            n = int(counts[r])
            if n == 0:
                continue
            rows_arr = st.arrays[f"row_{r}"]
            kw = st.arrays[f"kw_{r}"]
            if rp.rule.cooldown_ms is not None:
                times = enc.ts[rows_arr[:n]]
                fire = np.ones(n, np.uint8)
                picked = self._cooldown(rp, times, kw[:n], fire, n)
            else:
                picked = range(n)
            for q in picked:
                q = int(q)
                row = int(rows_arr[q])
                t = int(enc.ts[row])
                when = format_ms(t)
                out.append(self._violation(rp, kw[q], q, when, 1, when, when, (None, None), enc,
                                           row))
        return out

    def _cooldown(self, rp: RulePlan, times: np.ndarray, keys: np.ndarray, fire: np.ndarray,
                  n: int) -> np.ndarray:
        cd = self.state.cooldowns[rp.index]
        reported = np.zeros(n, np.uint8)
        times = np.ascontiguousarray(times, dtype=np.int64)
        start = 0
        while True:
            start = apply_cooldown(start, n, times, keys, cd.width, fire, reported, cd.table,
                                   cd.count, cd.cooldown_ms)
            if start < 0:
                return np.flatnonzero(reported)
            # a key may be forgotten only once no row still to come can fall in its
            # cooldown: the rest of these rows (closing several windows at once, they
            # can lie far below the watermark) and later ones (at or above it)
            horizon = int(times[start:n].min())
            if self.watermark is not None:
                horizon = min(horizon, self.watermark)
            cd.grow(horizon)

    def _violation(self, rp: RulePlan, key_words: np.ndarray, q: int, time: str, events: int,
                   first: str, last: str, window: tuple[str | None, str | None],
                   enc: EncodedBatch | None, row: int) -> Violation:
        rule = rp.rule
        st = self.state
        r = rp.index
        keynull = int(key_words[rp.key_width])
        key_raw: dict[str, object] = {}
        for j, (name, t) in enumerate(zip(rule.key, rp.key_types)):
            key_raw[name] = None if (keynull >> j) & 1 else self._word(int(key_words[j]), t, name)
        lvi, lvf, lvn = st.arrays[f"lvi_{r}"], st.arrays[f"lvf_{r}"], st.arrays[f"lvn_{r}"]
        lets_raw: dict[str, object] = {}
        for j, let in enumerate(rule.lets):
            if lvn[q, j]:
                lets_raw[let.name] = None
            elif let.type is Type.FLOAT:
                lets_raw[let.name] = float(lvf[q, j])
            elif let.type is Type.STRING:
                g = self._string_let_groups[(r, let.name)]
                lets_raw[let.name] = self.dictionaries[g].decode(int(lvi[q, j]))
            elif let.type is Type.BOOL:
                lets_raw[let.name] = bool(lvi[q, j])
            else:
                lets_raw[let.name] = int(lvi[q, j])
        request_id = None
        if enc is not None and "request_id" in self.program.schema:
            rid = _field_value(enc.batch, "request_id", row)
            request_id = rid if isinstance(rid, str) else None

        def lookup(p: ir.Placeholder) -> object:
            if p.kind is ir.PlaceholderKind.LET:
                return lets_raw[p.name]
            if p.name in key_raw:
                return key_raw[p.name]
            if enc is None:
                return None
            if p.type is Type.TIMESTAMP:
                if p.name not in enc.batch.schema.names:
                    return None
                column = enc.batch.column(p.name)
                if not column[row].is_valid:
                    return None
                return int(time_ms(column.slice(row, 1))[0][0])
            return _field_value(enc.batch, p.name, row)

        types = {let.name: let.type for let in rule.lets}
        self.counts["violations"] += 1
        return Violation.model_construct(
            rule=rule.name,
            title=rule.title,
            clause=rule.clause,
            severity=rule.severity.value,
            action=rule.action.value,
            key={k: json_value(v, t) for (k, v), t in zip(key_raw.items(), rp.key_types)},
            window_start=window[0],
            window_end=window[1],
            time=time,
            values={k: json_value(v, types[k]) for k, v in lets_raw.items()},
            message=message(rule.message, lookup),
            events=events,
            first_seen=first,
            last_seen=last,
            request_id=request_id,
        )

    def _dead_letters(self, raw: RawBatch, enc: EncodedBatch, late: np.ndarray,
                      base: int) -> None:
        rows = sorted(set(enc.reasons) | set(np.flatnonzero(late).tolist()))
        for row in rows:
            if row in enc.reasons:
                reason, detail = enc.reasons[row]
            else:
                reason, detail = LATE, format_ms(int(enc.ts[row]))
            text = raw.raw.get(row)
            if text is None:
                text = _row_json(raw.batch, row)
            self.dead_letters.append(
                DeadLetter(raw.source, base + raw.position(row), reason, detail,
                           raw_text(text.encode("utf-8", "surrogatepass"))))
            self.counts[f"dead_letter.{reason}"] += 1

    def _let_groups(self) -> dict[tuple[int, str], int]:
        out = {}
        for rp in self.plan.rules:
            lets = {let.name: let.expr for let in rp.rule.lets}
            for let in rp.rule.lets:
                if let.type is Type.STRING:
                    out[(rp.index, let.name)] = self.plan.string_group(let.expr, lets)
        return out

    def _word(self, word: int, t: Type, field: str) -> object:
        if t is Type.STRING:
            return self.dictionaries[self.plan.group_of_field(field).id].decode(int(word))
        if t is Type.BOOL:
            return bool(word)
        return int(word)


def _field_value(batch: pa.RecordBatch, name: str, row: int) -> object:
    if name not in batch.schema.names:
        return None
    return batch.column(name)[row].as_py()


def _row_json(batch: pa.RecordBatch, row: int) -> str:
    rec = {k: v for k, v in batch.slice(row, 1).to_pylist()[0].items() if v is not None}
    return orjson.dumps(rec, default=str).decode()


def sort_violations(vs: list[Violation], program: ir.Program) -> list[Violation]:
    """Sort by time, then rule order, then key (null first)."""
    order = {r.name: i for i, r in enumerate(program.rules)}

    def key(v: Violation) -> tuple:
        return (v.time, order[v.rule],
                tuple((x is not None, x if x is not None else 0) for x in v.key.values()))

    return sorted(vs, key=key)
