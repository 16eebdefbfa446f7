"""The streaming evaluator: batches in, violations out, keyed window state kept between."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa

from tosengine import ir
from tosengine.compiler import Kernels
from tosengine.compiler.codegen import (
    C_LATENESS,
    C_NEED,
    C_NEED_RULE,
    C_OUT,
    C_PHASE,
    C_POS,
    C_RULE,
    C_WM,
    CTL_SIZE,
    NEED_OUT,
    NEED_SLOTS,
    PH_FIND,
    col,
    mask,
    run_args,
)
from tosengine.compiler.plan import Plan
from tosengine.compiler.prims import EMPTY, lateness
from tosengine.language.types import Type
from tosengine.runtime.encode import EncodedBatch, encode_batch
from tosengine.runtime.inputs import RawBatch, record_batches
from tosengine.runtime.luts import LutTables
from tosengine.runtime.render import json_value, message
from tosengine.runtime.state import Outputs, RuleState
from tosengine.runtime.strings import StringDictionary
from tosengine.runtime.timeparse import format_ms, time_ms
from tosengine.runtime.violation import Violation

LATE = "late"
RAW_LIMIT = 1024  # characters of a bad event kept in its dead-letter record


@dataclass(frozen=True)
class DeadLetter:
    """An event that was not evaluated: where it came from and why."""

    source: str | None
    position: int  # line number (JSONL, 1-based) or row index (tables)
    reason: str  # not_json, not_object, missing_time, bad_time, wrong_type, late, ...
    detail: str  # e.g. the field with the wrong type
    raw: str  # the event (or line) as text, cut to RAW_LIMIT characters

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "position": self.position, "reason": self.reason,
                "detail": self.detail, "raw": self.raw}


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

    def __init__(self, kernels: Kernels, *, allowed_lateness_ms: int = 0) -> None:
        if allowed_lateness_ms < 0:
            raise ValueError("allowed lateness must be >= 0")
        self.kernels = kernels
        self.plan: Plan = kernels.plan
        self.program: ir.Program = kernels.plan.program
        self.allowed_lateness_ms = int(allowed_lateness_ms)
        self.dictionaries = [StringDictionary(g.literals) for g in self.plan.groups]
        self.luts = LutTables(self.plan, self.dictionaries)
        self.states = [RuleState(rp, self.allowed_lateness_ms) for rp in self.plan.rules]
        self.outputs = Outputs(self.plan)
        self.ctl = np.zeros(CTL_SIZE, dtype=np.int64)
        self.ctl[C_WM] = EMPTY
        self.ctl[C_LATENESS] = self.allowed_lateness_ms
        self.max_seen = np.int64(EMPTY)
        self.dead_letters: list[DeadLetter] = []
        self.counts: Counter[str] = Counter()
        self.finished = False
        self.rows_fed = 0  # events fed so far: in-memory inputs are numbered from here
        self._string_let_groups = self._let_groups()

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
        self.ctl[C_RULE] = 0
        self.ctl[C_OUT] = 0
        run = self.kernels.module.run
        args = self._args(run_args(self.plan), self._empty_batch(), np.zeros(0, np.uint8), True)
        while run(*args) != 0:
            self._grow()
            args = self._args(run_args(self.plan), self._empty_batch(), np.zeros(0, np.uint8),
                              True)
        return sort_violations(self._decode(None), self.program)


    def take_dead_letters(self) -> list[DeadLetter]:
        """Return and forget the dead letters collected so far."""
        out, self.dead_letters = self.dead_letters, []
        return out

    # -- batches --------------------------------------------------------------

    def _feed_raw(self, raw: RawBatch, base: int) -> list[Violation]:
        if raw.batch.num_rows == 0:
            return []
        self.rows_fed += raw.batch.num_rows
        enc = encode_batch(self.plan, self.program.schema, self.dictionaries, raw.batch, raw.bad)
        self.luts.extend()
        for st in self.states:
            if st.rp.needs_slots and st.rp.key_string_only:
                st.ensure_key_codes(self.dictionaries,
                                    self.plan.group_of_field(st.rp.rule.key[0]).id)
        bad = enc.bad.view(np.uint8)
        late, self.max_seen = lateness(enc.ts, bad, self.max_seen, self.allowed_lateness_ms)
        skip = late | bad
        self.counts["events"] += enc.num_rows
        self._dead_letters(raw, enc, late, 0 if raw.source is not None else base)
        self.ctl[C_POS] = 0
        self.ctl[C_PHASE] = PH_FIND
        self.ctl[C_OUT] = 0
        run = self.kernels.module.run
        names = run_args(self.plan)
        while run(*self._args(names, enc, skip, False)) != 0:
            self._grow()
        return self._decode(enc)

    def _empty_batch(self) -> EncodedBatch:
        """Zero-row columns of the right dtypes (``run`` with ``final`` reads no rows)."""
        args: dict[str, np.ndarray] = {}
        for c in self.plan.columns:
            if c.name == self.plan.time_field:
                continue
            dtype = {Type.STRING: np.int32, Type.FLOAT: np.float64, Type.BOOL: np.uint8}.get(
                c.type, np.int64)
            args[col(c.name)] = np.zeros(0, dtype)
            if c.type is not Type.STRING:
                args[mask(c.name)] = np.zeros(0, np.uint8)
        return EncodedBatch(pa.record_batch([], names=[]), np.zeros(0, np.int64),
                            np.zeros(0, bool), {}, args)

    def _args(self, names: list[str], enc: EncodedBatch, skip: np.ndarray,
              final: bool) -> list[object]:
        out: list[object] = []
        for name in names:
            if name == "ctl":
                out.append(self.ctl)
            elif name == "final":
                out.append(final)
            elif name == "ts":
                out.append(enc.ts)
            elif name == "late":
                out.append(skip)
            elif name == "out_i":
                out.append(self.outputs.out_i)
            elif name == "out_f":
                out.append(self.outputs.out_f)
            elif name.startswith("lut_"):
                out.append(self.luts.arrays[int(name[4:])])
            elif name[:2] in ("I_", "F_", "M_", "K_", "S_", "Q_", "R_"):
                rule = int(name.split("_")[1])
                out.append(self.states[rule].arrays[name])
            else:
                out.append(enc.args[name])
        for a in out:
            # one numba signature for every batch: columns are always read-only
            # (zero-copy Arrow views are; our own arrays are made so)
            if isinstance(a, np.ndarray) and a is not self.ctl and a.flags.writeable and (
                    a is enc.ts or a is skip or any(a is v for v in enc.args.values())):
                a.flags.writeable = False
        return out

    def _grow(self) -> None:
        need = int(self.ctl[C_NEED])
        if need == NEED_OUT:
            self.outputs.grow()
            return
        st = self.states[int(self.ctl[C_NEED_RULE])]
        if need == NEED_SLOTS and not st.rp.windowed and self.watermark is not None:
            # an event rule's cooldown slots: first release those that expired
            sweep = getattr(self.kernels.module, f"sweep_{st.rp.index}")
            from tosengine.compiler.codegen import rule_state_args

            sweep(self.watermark, *[st.arrays[n] for n in rule_state_args(st.rp)])
            from tosengine.compiler.plan import M_FREE

            if st.arrays[f"M_{st.rp.index}"][M_FREE] > 0:
                return
        st.grow(need)

    # -- results --------------------------------------------------------------

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
                           text[:RAW_LIMIT]))
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

    def _decode(self, enc: EncodedBatch | None) -> list[Violation]:
        plan = self.plan
        n = int(self.ctl[C_OUT])
        oi, of = self.outputs.out_i, self.outputs.out_f
        has_request_id = "request_id" in self.program.schema
        out = []
        for o in range(n):
            row = oi[o]
            rp = plan.rules[int(row[plan.O_RULE])]
            rule = rp.rule
            keynull = int(row[plan.o_keynull])
            key_raw = {}
            for j, (name, t) in enumerate(zip(rule.key, rp.key_types)):
                key_raw[name] = None if (keynull >> j) & 1 else self._word(
                    int(row[plan.O_KEY0 + j]), t, name)
            letnull = int(row[plan.O_LETNULL])
            lets_raw: dict[str, object] = {}
            for j, let in enumerate(rule.lets):
                if (letnull >> j) & 1:
                    lets_raw[let.name] = None
                elif let.type is Type.FLOAT:
                    lets_raw[let.name] = float(of[o, j])
                elif let.type is Type.STRING:
                    g = self._string_let_groups[(rp.index, let.name)]
                    lets_raw[let.name] = self.dictionaries[g].decode(int(row[plan.o_let0 + j]))
                elif let.type is Type.BOOL:
                    lets_raw[let.name] = bool(row[plan.o_let0 + j])
                else:
                    lets_raw[let.name] = int(row[plan.o_let0 + j])
            ev_row = int(row[plan.O_ROW])
            if rule.window is not None:
                w = int(row[plan.O_WIN])
                start = w * rule.window.step_ms
                window = (format_ms(start), format_ms(start + rule.window.length_ms))
            else:
                window = (None, None)
            request_id = None
            if rule.window is None and has_request_id and enc is not None:
                rid = _field_value(enc.batch, "request_id", ev_row)
                request_id = rid if isinstance(rid, str) else None

            def lookup(p: ir.Placeholder, enc=enc, ev_row=ev_row, lets_raw=lets_raw,
                       key_raw=key_raw) -> object:
                if p.kind is ir.PlaceholderKind.LET:
                    return lets_raw[p.name]
                if p.name in key_raw:
                    return key_raw[p.name]
                if enc is None:
                    return None
                if p.type is Type.TIMESTAMP:
                    col = enc.batch.column(p.name) if p.name in enc.batch.schema.names else None
                    if col is None or not col[ev_row].is_valid:
                        return None
                    return int(time_ms(col.slice(ev_row, 1))[0][0])
                return _field_value(enc.batch, p.name, ev_row)

            types = {let.name: let.type for let in rule.lets}
            out.append(Violation.model_construct(
                rule=rule.name,
                title=rule.title,
                clause=rule.clause,
                severity=rule.severity.value,
                action=rule.action.value,
                key={k: json_value(v, t) for (k, v), t in zip(key_raw.items(), rp.key_types)},
                window_start=window[0],
                window_end=window[1],
                time=format_ms(int(row[plan.O_TIME])),
                values={k: json_value(v, types[k]) for k, v in lets_raw.items()},
                message=message(rule.message, lookup),
                events=int(row[plan.O_EVENTS]),
                first_seen=format_ms(int(row[plan.O_FIRST])),
                last_seen=format_ms(int(row[plan.O_LAST])),
                request_id=request_id,
            ))
        self.counts["violations"] += n
        self.ctl[C_OUT] = 0
        return out


def _field_value(batch: pa.RecordBatch, name: str, row: int) -> object:
    if name not in batch.schema.names:
        return None
    return batch.column(name)[row].as_py()


def _row_json(batch: pa.RecordBatch, row: int) -> str:
    rec = {k: v for k, v in batch.slice(row, 1).to_pylist()[0].items() if v is not None}
    return orjson.dumps(rec, default=str).decode()


def _time_key(v: Violation) -> str:
    return v.time


def sort_violations(vs: list[Violation], program: ir.Program) -> list[Violation]:
    """Sort by time, then rule order, then key (null first)."""
    order = {r.name: i for i, r in enumerate(program.rules)}

    def key(v: Violation) -> tuple:
        return (v.time, order[v.rule],
                tuple((x is not None, x if x is not None else 0) for x in v.key.values()))

    return sorted(vs, key=key)
