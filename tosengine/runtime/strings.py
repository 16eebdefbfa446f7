"""String dictionaries: strings become dense int32 codes once, at ingestion.

A :class:`StringDictionary` interns the strings of Arrow arrays with a numba
hash table over the raw Arrow buffers (no Python string per value). Code 0 is
null; the literals a rule set compares against are interned first, so their
codes are fixed and can be compiled into the kernels. Codes persist across
batches until :meth:`StringDictionary.compact` drops the strings no state
references any more (the evaluator then rewrites the codes its state holds).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tosengine.compiler.prims import intern_strings, rehash_strings

_EMPTY_U8 = np.zeros(0, dtype=np.uint8)


def _pow2_at_least(n: int) -> int:
    size = 16
    while size < n:
        size *= 2
    return size


class StringDictionary:
    """Interns strings to int32 codes (0 = null); grows as new values arrive."""

    def __init__(self, literals: tuple[str, ...] = ()) -> None:
        self.table = np.zeros(64, dtype=np.int32)
        self.hashes = np.zeros(32, dtype=np.uint64)
        self.starts = np.zeros(33, dtype=np.int64)
        self.arena = np.zeros(256, dtype=np.uint8)
        self.meta = np.array([1, 0], dtype=np.int64)  # [codes in use, arena bytes used]
        if literals:
            self.encode_strings(list(literals))
        self.fixed = len(self)  # null and the literals: never compacted away

    def __len__(self) -> int:
        """Number of codes in use, including the null code 0."""
        return int(self.meta[0])

    # -- growth -------------------------------------------------------------

    def _reserve(self, new_codes: int, new_bytes: int) -> None:
        n = int(self.meta[0])
        need_codes = n + new_codes
        if self.hashes.shape[0] < need_codes:
            size = max(need_codes, 2 * self.hashes.shape[0])
            hashes = np.zeros(size, dtype=np.uint64)
            hashes[:n] = self.hashes[:n]
            self.hashes = hashes
            starts = np.zeros(size + 1, dtype=np.int64)
            starts[: n + 1] = self.starts[: n + 1]
            self.starts = starts
        if self.table.shape[0] < 2 * need_codes:
            self.table = np.zeros(_pow2_at_least(2 * need_codes), dtype=np.int32)
            rehash_strings(self.table, self.hashes, n)
        need_bytes = int(self.meta[1]) + new_bytes
        if self.arena.shape[0] < need_bytes:
            arena = np.zeros(max(need_bytes, 2 * self.arena.shape[0]), dtype=np.uint8)
            arena[: self.meta[1]] = self.arena[: self.meta[1]]
            self.arena = arena

    # -- encoding -------------------------------------------------------------

    def encode(self, array: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Codes (int32, 0 = null) for a string, large string or dictionary array."""
        if isinstance(array, pa.ChunkedArray):
            if array.num_chunks == 0:
                return np.zeros(0, dtype=np.int32)
            return np.concatenate([self.encode(c) for c in array.chunks])
        t = array.type
        if pa.types.is_dictionary(t):
            dict_codes = self.encode(array.dictionary)
            idx = array.indices.to_numpy(zero_copy_only=False)
            if array.null_count:
                idx = np.where(array.is_valid().to_numpy(zero_copy_only=False), idx, 0)
                out = dict_codes[idx.astype(np.int64)]
                out[~array.is_valid().to_numpy(zero_copy_only=False)] = 0
                return out
            return dict_codes[idx.astype(np.int64)]
        if pa.types.is_null(t):
            return np.zeros(len(array), dtype=np.int32)
        if pa.types.is_string_view(t):
            array = array.cast(pa.large_string())
            t = array.type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
            raise TypeError(f"not a string array: {t}")
        n = len(array)
        if n == 0:
            return np.zeros(0, dtype=np.int32)
        _, off_buf, data_buf = array.buffers()
        off_dtype = np.int64 if pa.types.is_large_string(t) else np.int32
        offsets = np.frombuffer(off_buf, dtype=off_dtype)
        data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else _EMPTY_U8
        base = array.offset
        nbytes = int(offsets[base + n] - offsets[base])
        valid = (
            array.is_valid().to_numpy(zero_copy_only=False).view(np.uint8)
            if array.null_count
            else _EMPTY_U8
        )
        self._reserve(n, nbytes)
        return intern_strings(offsets, data, valid, base, n, self.table, self.hashes,
                              self.starts, self.arena, self.meta)

    def encode_strings(self, values: list[str | None]) -> np.ndarray:
        """Codes for Python strings (None = null)."""
        return self.encode(pa.array(values, type=pa.string()))

    # -- compaction -------------------------------------------------------------

    def compact(self, keep: np.ndarray) -> np.ndarray:
        """Forget every code not in ``keep``; return the old → new code map.

        ``keep`` lists codes still referenced by state. Code 0 and the literal
        codes are always kept, and kept codes keep their order, so literals keep
        their codes (compiled into the kernels). The map (int32, one entry per old
        code) sends a forgotten code to 0; a forgotten string seen again later is
        interned anew.
        """
        n = len(self)
        mask = np.zeros(n, dtype=bool)
        mask[: self.fixed] = True
        keep = np.asarray(keep, dtype=np.int64)
        mask[keep[(keep >= 0) & (keep < n)]] = True
        kept = np.flatnonzero(mask)
        remap = np.zeros(n, dtype=np.int32)
        remap[kept] = np.arange(kept.shape[0], dtype=np.int32)
        lengths = self.starts[kept + 1] - self.starts[kept]
        starts = np.zeros(_pow2_at_least(kept.shape[0] + 1) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1: kept.shape[0] + 1])
        total = int(starts[kept.shape[0]])
        gather = np.repeat(self.starts[kept] - starts[: kept.shape[0]], lengths)
        gather += np.arange(total, dtype=np.int64)
        arena = np.zeros(max(256, 2 * total), dtype=np.uint8)
        arena[:total] = self.arena[gather]
        hashes = np.zeros(starts.shape[0] - 1, dtype=np.uint64)
        hashes[: kept.shape[0]] = self.hashes[kept]
        self.starts, self.arena, self.hashes = starts, arena, hashes
        self.table = np.zeros(_pow2_at_least(2 * hashes.shape[0]), dtype=np.int32)
        self.meta[0], self.meta[1] = kept.shape[0], total
        rehash_strings(self.table, self.hashes, kept.shape[0])
        return remap

    # -- decoding -------------------------------------------------------------

    def decode(self, code: int) -> str | None:
        """The string of ``code`` (None for 0)."""
        if code == 0:
            return None
        a, b = int(self.starts[code]), int(self.starts[code + 1])
        return bytes(self.arena[a:b]).decode("utf-8", errors="replace")

    def strings(self, lo: int, hi: int) -> list[str | None]:
        """The strings of codes ``lo..hi-1`` as a list (None for code 0)."""
        if hi <= lo:
            return []
        first = max(lo, 1)
        out: list[str | None] = [None] if lo == 0 else []
        if hi > first:
            offsets = self.starts[first : hi + 1] - self.starts[first]
            data = self.arena[self.starts[first] : self.starts[hi]]
            arr = pa.Array.from_buffers(
                pa.large_binary(), hi - first,
                [None, pa.py_buffer(offsets.astype(np.int64)), pa.py_buffer(data.tobytes())],
            )
            out += [b.decode("utf-8", errors="replace") for b in arr.to_pylist()]
        return out
