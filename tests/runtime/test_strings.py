"""String interning: one code per distinct string, whatever the batch, slice or buffer.

The interner hashes and compares 8 bytes at a time and masks the last word
(or reads it byte by byte where a string ends within 8 bytes of its buffer's
end), so the properties below use strings that share long prefixes, differ
only in their last byte, straddle word boundaries, are empty or non-ASCII,
and sit at the very end of exactly sized buffers. A dictionary past
``PIPELINE_CODES`` interns through a second loop (hashes first, table entries
fetched ahead), so each property runs on a small and on a large dictionary.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from tosengine.compiler.prims import PIPELINE_CODES, hash_bytes, same_bytes
from tosengine.runtime.strings import StringDictionary

_PREFIX = "acct-0123456789abcdef-"  # longer than two words: differences fall past it


def _tricky(text: str, variant: int) -> str:
    return _PREFIX[: variant % (len(_PREFIX) + 1)] + text


strings = st.builds(_tricky, st.text(alphabet="ab\u00e9\u4e16\x00", max_size=19),
                    st.integers(0, 60))
batches = st.lists(st.lists(st.one_of(st.none(), strings), max_size=40), min_size=1, max_size=5)


def _exact_buffers(values: list[str | None], large: bool) -> pa.Array:
    """``values`` as an Arrow array whose data buffer ends exactly at the last string."""
    typ = pa.large_string() if large else pa.string()
    packed = pa.array(values, type=typ)
    _, offsets, data = packed.buffers()
    used = int(np.frombuffer(offsets, np.int64 if large else np.int32)[-1]) if values else 0
    exact = pa.py_buffer(bytes(memoryview(data)[:used])) if data is not None else None
    return pa.Array.from_buffers(typ, len(values), [packed.buffers()[0], offsets, exact],
                                 null_count=packed.null_count)


@settings(max_examples=300, deadline=None)
@given(batches, st.booleans(), st.integers(0, 3), st.booleans())
def test_equal_codes_exactly_for_equal_strings(batches: list[list[str | None]], large: bool,
                                               cut: int, big: bool) -> None:
    d = StringDictionary(("ab", _PREFIX))
    seen: dict[str, int] = {"ab": 1, _PREFIX: 2}
    filler = [f"{_PREFIX}{i}" for i in range(PIPELINE_CODES)]
    if big:  # past PIPELINE_CODES: the batches below take the prefetching loop
        seen.update(zip(filler, d.encode_strings(filler).tolist()))
        assert len(d) > PIPELINE_CODES
    for values in batches:
        if big:  # strings the small loop interned must be found by the large one
            values = [filler[len(values)], *values, filler[0]]
        array = _exact_buffers(values, large)
        if cut and len(values) > cut:  # a sliced array: offsets start past zero
            head = d.encode(array.slice(0, cut))
            codes = np.concatenate([head, d.encode(array.slice(cut))])
        else:
            codes = d.encode(array)
        assert codes.dtype == np.int32 and codes.shape == (len(values),)
        for v, c in zip(values, codes.tolist()):
            if v is None:
                assert c == 0
                continue
            assert seen.setdefault(v, c) == c, (v, c, seen[v])
            assert d.decode(c) == v
    assert sorted(seen.values()) == list(range(1, len(seen) + 1))
    assert len(d) == len(seen) + 1


@settings(max_examples=100, deadline=None)
@given(st.lists(strings, min_size=1, max_size=30, unique=True))
def test_codes_survive_growth_and_compaction(values: list[str]) -> None:
    d = StringDictionary()
    first = d.encode(pa.array(values)).tolist()
    for _ in range(3):  # the probe table is rebuilt as codes are reserved for bigger batches
        d.encode(pa.array(values * 50))
    assert d.encode(pa.array(values)).tolist() == first
    keep = np.array(first[::2], dtype=np.int64)
    remap = d.compact(keep)
    again = d.encode(_exact_buffers(values, False)).tolist()
    for v, old, new in zip(values, first, again):
        if old in keep:
            assert new == remap[old]
        assert d.decode(new) == v
    assert len(set(again)) == len(values)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40), st.binary(max_size=40), st.data())
def test_byte_compare_and_hash_agree_with_python(x: bytes, y: bytes, data: st.DataObject) -> None:
    """``same_bytes`` is bytes equality, and equal bytes hash alike wherever they lie."""
    n = data.draw(st.integers(0, min(len(x), len(y))), label="n")
    i = data.draw(st.integers(0, len(x) - n), label="i")
    j = data.draw(st.integers(0, len(y) - n), label="j")
    if data.draw(st.booleans(), label="make equal"):
        y = y[:j] + x[i:i + n] + y[j + n:]
        if n and data.draw(st.booleans(), label="then change one byte"):
            k = j + data.draw(st.integers(0, n - 1), label="k")
            y = y[:k] + bytes([y[k] ^ data.draw(st.integers(1, 255), label="xor")]) + y[k + 1:]
    a, b = np.frombuffer(x, np.uint8), np.frombuffer(y, np.uint8)
    equal = x[i:i + n] == y[j:j + n]
    assert bool(same_bytes(a, i, b, j, n)) == equal
    if equal:
        assert hash_bytes(a, i, i + n) == hash_bytes(b, j, j + n)


def test_byte_compare_sees_every_single_byte_difference() -> None:
    """Every length up to four words, every byte position, aligned or not, at a buffer's end or not."""
    rng = np.random.default_rng(7)
    for n in range(33):
        for i, j, slack in ((0, 0, 0), (1, 7, 0), (3, 0, 9), (0, 5, 3)):
            x = rng.integers(0, 256, i + n + slack, dtype=np.uint8)
            y = np.concatenate([rng.integers(0, 256, j, dtype=np.uint8), x[i:i + n],
                                rng.integers(0, 256, slack, dtype=np.uint8)])
            assert same_bytes(x, i, y, j, n)
            assert hash_bytes(x, i, i + n) == hash_bytes(y, j, j + n)
            for k in range(n):
                z = y.copy()
                z[j + k] ^= 0x80
                assert not same_bytes(x, i, z, j, n), (n, i, j, slack, k)
