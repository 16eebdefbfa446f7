"""Arrow record batches → the encoded numpy columns the kernels read.

Every schema field present in a batch is type-checked; a value of the wrong
type, or a missing/unreadable time, makes its row *bad* (reported with a
reason, never evaluated). Columns the rules read are encoded as the plan says
(see :mod:`tosengine.compiler.plan`): strings to dictionary codes, nulls to
masks, NaN to null, times to UTC milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from tosengine.compiler.codegen import col, mask
from tosengine.compiler.plan import Plan
from tosengine.language.schema import Schema
from tosengine.language.types import Type
from tosengine.runtime.reasons import BAD_TIME, MISSING_TIME, WRONG_TYPE
from tosengine.runtime.strings import StringDictionary
from tosengine.runtime.timeparse import time_ms


@dataclass
class EncodedBatch:
    """One batch ready for the kernels."""

    batch: pa.RecordBatch
    ts: np.ndarray  # int64 ms (0 where bad)
    bad: np.ndarray  # bool per row
    reasons: dict[int, tuple[str, str]] = field(default_factory=dict)  # row -> (reason, detail)
    args: dict[str, np.ndarray] = field(default_factory=dict)  # kernel argument name -> array

    @property
    def num_rows(self) -> int:
        return self.batch.num_rows


def _mark(bad: np.ndarray, reasons: dict, rows: np.ndarray, reason: str, detail: str) -> None:
    for r in np.flatnonzero(rows):
        r = int(r)
        if not bad[r]:
            bad[r] = True
            reasons[r] = (reason, detail)


def _bits(buffer: pa.Buffer, offset: int, n: int) -> np.ndarray:
    """Bits ``offset .. offset + n`` of an Arrow bitmap (least significant bit first) as bools."""
    first = offset // 8
    raw = np.frombuffer(buffer, np.uint8)[first: (offset + n + 7) // 8]
    return np.unpackbits(raw, bitorder="little")[offset - 8 * first: offset - 8 * first + n] \
        .view(bool)


def _valid(array: pa.Array) -> np.ndarray:
    if array.null_count == 0:
        return np.ones(len(array), dtype=bool)
    if pa.types.is_null(array.type) or array.buffers()[0] is None:
        return array.is_valid().to_numpy(zero_copy_only=False)
    return _bits(array.buffers()[0], array.offset, len(array))


_NUMPY = {pa.int64(): np.int64, pa.float64(): np.float64}


def _filled(array: pa.Array, to: pa.DataType, fill: object) -> np.ndarray:
    """``array`` cast to ``to`` with nulls as ``fill``, as numpy.

    An int64 or float64 array is read straight from its data buffer (zero-copy
    without nulls): Arrow's ``fill_null`` costs tens of microseconds per call.
    """
    if array.type == to and to in _NUMPY:
        n = len(array)
        raw = np.frombuffer(array.buffers()[1], _NUMPY[to])[array.offset: array.offset + n]
        if array.null_count == 0:
            return raw
        return np.where(_valid(array), raw, fill)
    return array.cast(to).fill_null(fill).to_numpy(zero_copy_only=False)


def _as_numeric(array: pa.Array, target: Type) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(values, null mask, wrong-type rows)`` for an int or float field."""
    n = len(array)
    t = array.type
    valid = _valid(array)
    if pa.types.is_dictionary(t):
        array = array.cast(t.value_type)
        t = array.type
    if pa.types.is_null(t):
        z = np.zeros(n, np.float64 if target is Type.FLOAT else np.int64)
        return z, np.ones(n, bool), np.zeros(n, bool)
    if target is Type.FLOAT:
        if pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t):
            vals = _filled(array, pa.float64(), 0.0)
            nan = np.isnan(vals)
            vals = np.where(nan, 0.0, vals)
            return vals, ~valid | nan, np.zeros(n, bool)
        return np.zeros(n, np.float64), ~valid, valid.copy()
    # int
    if pa.types.is_integer(t):
        if pa.types.is_uint64(t):
            raw = array.fill_null(0).to_numpy(zero_copy_only=False)
            big = raw > np.iinfo(np.int64).max
            return raw.astype(np.int64), ~valid | big, big & valid
        return _filled(array, pa.int64(), 0), ~valid, np.zeros(n, bool)
    if pa.types.is_floating(t):
        # tabular inputs (pandas) turn int columns with nulls into floats: accept
        # whole numbers, reject the rest
        f = _filled(array, pa.float64(), 0.0)
        nan = np.isnan(f)
        ok = ~nan & (f == np.floor(f)) & (np.abs(f) < 2.0**63)
        vals = np.where(ok, f, 0).astype(np.int64)
        return vals, ~valid | nan, valid & ~nan & ~ok
    return np.zeros(n, np.int64), ~valid, valid.copy()


def _check_only(array: pa.Array, t: Type) -> np.ndarray:
    """Wrong-type rows of a field the kernels do not read."""
    at = array.type
    if pa.types.is_dictionary(at):
        at = at.value_type
    if pa.types.is_null(at):
        return np.zeros(len(array), bool)
    ok = {
        Type.STRING: pa.types.is_string(at) or pa.types.is_large_string(at)
        or pa.types.is_string_view(at),
        Type.BOOL: pa.types.is_boolean(at),
        Type.INT: pa.types.is_integer(at),
        Type.FLOAT: pa.types.is_floating(at) or pa.types.is_integer(at),
        Type.TIMESTAMP: True,
    }[t]
    if t is Type.INT and pa.types.is_floating(at):
        return _as_numeric(array, Type.INT)[2]
    if t is Type.TIMESTAMP:
        return time_ms(array)[1] & _valid(array)
    return np.zeros(len(array), bool) if ok else _valid(array)


def encode_batch(plan: Plan, schema: Schema, dictionaries: list[StringDictionary],
                 batch: pa.RecordBatch,
                 prior: dict[int, tuple[str, str]] | None = None) -> EncodedBatch:
    """Validate and encode ``batch``; ``prior`` are rows already known to be bad."""
    n = batch.num_rows
    names = batch.schema.names
    bad = np.zeros(n, dtype=bool)
    reasons: dict[int, tuple[str, str]] = {}
    for r, why in (prior or {}).items():
        bad[r] = True
        reasons[r] = why

    tf = schema.time_field
    if tf in names:
        ts, tbad = time_ms(batch.column(tf))
        tvalid = _valid(batch.column(tf))
        _mark(bad, reasons, ~tvalid, MISSING_TIME, tf)
        _mark(bad, reasons, tbad & tvalid, BAD_TIME, tf)
    else:
        ts = np.zeros(n, np.int64)
        _mark(bad, reasons, np.ones(n, bool), MISSING_TIME, tf)

    used = {c.name: c for c in plan.columns}
    args: dict[str, np.ndarray] = {}
    for f in schema.fields:
        if f.is_time:
            continue
        array = batch.column(f.name) if f.name in names else None
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        c = used.get(f.name)
        if c is None:
            if array is not None:
                _mark(bad, reasons, _check_only(array, f.type), WRONG_TYPE, f.name)
            continue
        if array is None:
            array = pa.nulls(n)
        if f.type is Type.STRING:
            at = array.type.value_type if pa.types.is_dictionary(array.type) else array.type
            if pa.types.is_string(at) or pa.types.is_large_string(at) or \
                    pa.types.is_string_view(at) or pa.types.is_null(at):
                codes = dictionaries[c.group].encode(array)  # type: ignore[index]
            else:
                _mark(bad, reasons, _valid(array), WRONG_TYPE, f.name)
                codes = np.zeros(n, np.int32)
            args[col(f.name)] = codes
        elif f.type is Type.BOOL:
            at = array.type
            if pa.types.is_boolean(at):
                valid = _valid(array)
                vals = _bits(array.buffers()[1], array.offset, n) & valid
                args[col(f.name)] = vals.view(np.uint8)
                args[mask(f.name)] = (~valid).view(np.uint8)
            else:
                valid = _valid(array) if not pa.types.is_null(at) else np.zeros(n, bool)
                _mark(bad, reasons, valid, WRONG_TYPE, f.name)
                args[col(f.name)] = np.zeros(n, np.uint8)
                args[mask(f.name)] = np.ones(n, np.uint8)
        elif f.type is Type.TIMESTAMP:
            vals, tb = time_ms(array)
            valid = _valid(array)
            _mark(bad, reasons, tb & valid, WRONG_TYPE, f.name)
            args[col(f.name)] = vals
            args[mask(f.name)] = (~valid).view(np.uint8)
        else:
            vals, nulls, wrong = _as_numeric(array, f.type)
            _mark(bad, reasons, wrong, WRONG_TYPE, f.name)
            args[col(f.name)] = np.ascontiguousarray(vals)
            args[mask(f.name)] = np.ascontiguousarray(nulls).view(np.uint8)
    return EncodedBatch(batch, np.ascontiguousarray(ts, dtype=np.int64), bad, reasons, args)


def raw_value(batch: pa.RecordBatch, name: str, row: int) -> object:
    """The Python value of field ``name`` at ``row`` (None if absent)."""
    if name not in batch.schema.names:
        return None
    return batch.column(name)[row].as_py()


__all__ = ["EncodedBatch", "encode_batch", "raw_value", "MISSING_TIME", "BAD_TIME", "WRONG_TYPE"]
