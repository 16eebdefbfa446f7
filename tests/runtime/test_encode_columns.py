"""Columns → numpy, whatever the array's offset or nulls.

int64 and float64 arrays are read straight from their Arrow data buffer (and
nulls then filled by numpy), other types go through Arrow's cast; validity and
bool values are unpacked from their bitmaps. Each must agree with the plain
reading written out below, on sliced arrays (offsets not a multiple of 8) too.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tosengine import ir
from tosengine.compiler.plan import build_plan
from tosengine.language.types import Type
from tosengine.runtime.encode import _as_numeric, _valid, encode_batch

ints = st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), max_size=30)
floats = st.lists(st.one_of(st.none(), st.floats(allow_infinity=True)), max_size=30)


def _arrow(values: list, typ: pa.DataType, start: int) -> pa.Array:
    """``values[start:]`` as a slice of an array whose null slots hold garbage, not zeros."""
    garbage = True if pa.types.is_boolean(typ) else 7 if pa.types.is_integer(typ) else 7.5
    data = pa.array([garbage if v is None else v for v in values], type=typ)
    validity = pa.array(values, type=typ).buffers()[0]
    nulls = sum(v is None for v in values)
    array = pa.Array.from_buffers(typ, len(values), [validity, data.buffers()[1]], nulls)
    return array.slice(min(start, len(values)))


def _expect(values: list, target: Type) -> tuple[list, list[bool], list[bool]]:
    """Values with nulls (and NaN for floats) as 0, the null mask, and wrong-type rows."""
    out, nulls, wrong = [], [], []
    for v in values:
        missing = v is None or (isinstance(v, float) and math.isnan(v))
        whole = v is not None and not missing and (
            isinstance(v, int) or (math.isfinite(v) and v == int(v) and abs(v) < 2.0**63))
        bad = target is Type.INT and not missing and not whole
        out.append(0 if missing or bad else (int(v) if target is Type.INT else float(v)))
        nulls.append(missing)
        wrong.append(bad)
    return out, nulls, wrong


@settings(max_examples=200, deadline=None)
@given(ints, st.integers(0, 5), st.sampled_from([pa.int64(), pa.int32(), pa.float64()]),
       st.booleans())
def test_int_fields(values: list, start: int, typ: pa.DataType, with_nulls: bool) -> None:
    if not with_nulls:
        values = [v for v in values if v is not None]
    if typ == pa.int32():
        values = [None if v is None else int(np.int32(v & 0x7FFFFFFF)) for v in values]
    if typ == pa.float64():
        values = [None if v is None else float(v) for v in values]
    got = _as_numeric(_arrow(values, typ, start), Type.INT)
    want = _expect(values[min(start, len(values)):], Type.INT)
    assert got[0].dtype == np.int64
    assert got[0].tolist() == want[0]
    assert got[1].tolist() == want[1]
    assert got[2].tolist() == want[2]


@settings(max_examples=200, deadline=None)
@given(floats, st.integers(0, 5), st.booleans(), st.booleans())
@example([1.5, math.nan, -0.0], 1, False, False)  # NaN without nulls: null, read as 0
def test_float_fields(values: list, start: int, from_ints: bool, with_nulls: bool) -> None:
    if not with_nulls:
        values = [v for v in values if v is not None]
    typ = pa.float64()
    if from_ints:
        values = [None if v is None or not math.isfinite(v) else int(v) % 1000 for v in values]
        typ = pa.int64()
    got = _as_numeric(_arrow(values, typ, start), Type.FLOAT)
    want = _expect(values[min(start, len(values)):], Type.FLOAT)
    assert got[0].dtype == np.float64
    assert got[0].tolist() == want[0]
    assert got[1].tolist() == want[1]
    assert not got[2].any()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.booleans()), max_size=40), st.integers(0, 19))
def test_bool_fields_and_validity(values: list, start: int) -> None:
    program = ir.load_text(BOOL_RULE)
    plan = build_plan(program)
    rows = values[min(start, len(values)):]
    array = _arrow(values, pa.bool_(), start)
    batch = pa.RecordBatch.from_arrays(
        [pa.array([0] * len(rows), type=pa.timestamp("ms", tz="UTC")), array], ["ts", "logprobs"])
    enc = encode_batch(plan, program.schema, [], batch)
    assert _valid(array).tolist() == [v is not None for v in rows]
    assert enc.args["c_logprobs"].tolist() == [int(bool(v)) for v in rows]
    assert enc.args["m_logprobs"].tolist() == [int(v is None) for v in rows]


BOOL_RULE = """
rule with_logprobs {
  title    "Logprobs"
  clause   "1"
  severity low
  action   log
  when     logprobs
  message  "x"
}
"""
