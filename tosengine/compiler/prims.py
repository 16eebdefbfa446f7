"""A fixed library of numba primitives used by generated kernels and the runtime.

Everything here is compiled once per machine (``cache=True``) and never
depends on the rules. Generated kernel modules import these functions.

Hash tables are open-addressing, linear probing, stored in one 2-D int64 array
``tab`` of shape ``(capacity, width + 2)``: column 0 is 1 for a used entry,
columns ``1..width`` hold the key words and the last column the value.
Capacities are powers of two. Callers keep the load at or below one half
(the runtime grows or rebuilds a table before a kernel could overfill it).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir as llvm_ir
from numba import njit, types
from numba.extending import intrinsic

_JIT = dict(cache=True, nogil=True, error_model="numpy")
_INLINE = dict(_JIT, inline="always")

EMPTY = np.int64(-(2**63))  # "no pane / no slot" sentinel in state rows


def no_jit(*args, **kwargs):
    """Stand-in for ``numba.njit`` that leaves functions as plain Python (see interpreted_module)."""
    return lambda fn: fn


@njit(**_JIT)
def mix64(h: np.uint64) -> np.uint64:
    """The murmur3 64-bit finaliser: a cheap, well-spread bit mixer."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


@intrinsic
def _f64_as_i64(typingctx, x):
    """The bits of a float64 as an int64 (an LLVM bitcast)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def prefetch(typingctx, address):
    """Hint the CPU to fetch the cache line at ``address`` (an int64 address) for writing."""
    if address != types.int64:
        return None

    def codegen(context, builder, signature, args):
        i8p = llvm_ir.IntType(8).as_pointer()
        i32 = llvm_ir.IntType(32)
        fn = builder.module.declare_intrinsic("llvm.prefetch", (), llvm_ir.FunctionType(
            llvm_ir.VoidType(), [i8p, i32, i32, i32]))
        builder.call(fn, [builder.inttoptr(args[0], i8p), i32(1), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.none(types.int64), codegen


@njit(**_JIT)
def float_bits(x) -> np.int64:
    """A float's bit pattern as int64 (-0.0 as 0.0), so ``distinct`` can hash floats as words."""
    return _f64_as_i64(np.float64(x) + 0.0)


@njit(**_JIT)
def hash3(k0: np.int64, k1: np.int64, k2: np.int64, width: int) -> np.uint64:
    h = mix64(np.uint64(k0) + np.uint64(0x9E3779B97F4A7C15))
    if width > 1:
        h = mix64(h ^ (np.uint64(k1) + np.uint64(0x632BE59BD9B4E019)))
    if width > 2:
        h = mix64(h ^ (np.uint64(k2) + np.uint64(0x85157AF5D6A2B3C1)))
    return h


@njit(**_JIT)
def ht_upsert(tab, k0, k1, k2, width):
    """Index of the entry with this key, inserting it (value 0) if absent.

    Returns ``(index, inserted)``. The caller must have room for one more entry.
    """
    mask = tab.shape[0] - 1
    i = np.int64(hash3(k0, k1, k2, width) & np.uint64(mask))
    while True:
        if tab[i, 0] == 0:
            tab[i, 0] = 1
            tab[i, 1] = k0
            if width > 1:
                tab[i, 2] = k1
            if width > 2:
                tab[i, 3] = k2
            tab[i, width + 1] = 0
            return i, True
        if tab[i, 1] == k0 and (width < 2 or tab[i, 2] == k1) and (width < 3 or tab[i, 3] == k2):
            return i, False
        i = (i + 1) & mask


@njit(**_JIT)
def ht_rehash_live(old, new, width, slots_state, col, pane_word, min_pane):
    """Rehash only entries still needed by an open window.

    Entries are keyed ``(slot, pane, value)`` (``pane_word`` = 2) or
    ``(slot, value)`` with the pane as value (``pane_word`` = -1). An entry is
    live while its pane is >= ``min_pane`` and >= ``slots_state[slot, col]``
    (the first pane any unevaluated window of that slot can still read).
    Returns the live count.
    """
    mask = new.shape[0] - 1
    live = 0
    for e in range(old.shape[0]):
        if old[e, 0] == 0:
            continue
        slot = old[e, 1]
        pane = old[e, pane_word] if pane_word > 0 else old[e, width + 1]
        if pane < min_pane or pane < slots_state[slot, col]:
            continue
        i = np.int64(hash3(old[e, 1], old[e, 2] if width > 1 else 0,
                           old[e, 3] if width > 2 else 0, width) & np.uint64(mask))
        while new[i, 0] != 0:
            i = (i + 1) & mask
        for c in range(old.shape[1]):
            new[i, c] = old[e, c]
        live += 1
    return live


@njit(**_JIT)
def ht_purge_live(tab, width, slots_state, col, pane_word, min_pane):
    """Drop, in place, the entries of ``tab`` no open window reads (as :func:`ht_rehash_live`).

    One pass in probe order, starting after a slot that was empty before any
    removal (no probe chain crosses it): a dead entry is cleared, a live one
    moves back to the first free slot on its probe path. Every slot a moved
    entry passes is then occupied, so each entry stays reachable; no table
    is allocated and memory is read and written in order. Returns the live count.
    """
    n = tab.shape[0]
    mask = n - 1
    s = 0
    while tab[s, 0] != 0:
        s += 1
    live = 0
    for k in range(1, n + 1):
        i = (s + k) & mask
        if tab[i, 0] == 0:
            continue
        slot = tab[i, 1]
        pane = tab[i, pane_word] if pane_word > 0 else tab[i, width + 1]
        if pane < min_pane or pane < slots_state[slot, col]:
            tab[i, 0] = 0
            continue
        live += 1
        j = np.int64(hash3(tab[i, 1], tab[i, 2] if width > 1 else 0,
                           tab[i, 3] if width > 2 else 0, width) & np.uint64(mask))
        while j != i and tab[j, 0] != 0:
            j = (j + 1) & mask
        if j != i:
            for c in range(tab.shape[1]):
                tab[j, c] = tab[i, c]
            tab[i, 0] = 0
    return live


# --------------------------------------------------------------------------
# String interning: Arrow string buffers -> dense int32 codes (0 = null)
# --------------------------------------------------------------------------


@intrinsic
def load_u64(typingctx, data, index):
    """The 8 bytes of a uint8 array at ``index`` as one word (an unaligned load).

    The caller keeps ``index + 8 <= len(data)``. Words are read in the
    machine's byte order (little-endian on x86-64 and arm64), so hashes
    built from them are for this process's tables, not a portable format.
    """
    if not (isinstance(data, types.Array) and data.dtype == types.uint8
            and isinstance(index, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, value=args[0])
        i = context.cast(builder, args[1], signature.args[1], types.intp)
        ptr = builder.bitcast(builder.gep(ary.data, [i]), llvm_ir.IntType(64).as_pointer())
        return builder.load(ptr, align=1)

    return types.uint64(data, index), codegen


@njit(**_INLINE)
def tail_word(data, i, end):
    """``data[i:end]`` (1 to 8 bytes) as a little-endian word, zero-padded."""
    if i + 8 <= data.shape[0]:
        w = load_u64(data, i)
        if end - i < 8:
            w &= (np.uint64(1) << np.uint64(8 * (end - i))) - np.uint64(1)
        return w
    w = np.uint64(0)
    s = np.uint64(0)
    while i < end:
        w |= np.uint64(data[i]) << s
        s += np.uint64(8)
        i += 1
    return w


@njit(**_INLINE)
def hash_bytes(data, start, end) -> np.uint64:
    """A fast 64-bit hash of ``data[start:end]``: a multiply per 8-byte word, then mix64."""
    h = np.uint64(end - start) * np.uint64(0x9E3779B97F4A7C15)
    i = start
    while i + 8 < end:
        h = (h ^ load_u64(data, i)) * np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(29)
        i += 8
    if i < end:
        h = (h ^ tail_word(data, i, end)) * np.uint64(0x9E3779B97F4A7C15)
    return mix64(h)


@njit(**_INLINE)
def same_bytes(a, i, b, j, n) -> bool:
    """Whether ``a[i:i+n]`` equals ``b[j:j+n]`` (8 bytes at a time)."""
    k = 0
    while k + 8 < n:
        if load_u64(a, i + k) != load_u64(b, j + k):
            return False
        k += 8
    if k == n:
        return True
    return tail_word(a, i + k, i + n) == tail_word(b, j + k, j + n)


# a dictionary with more codes than this no longer stays in cache between batches:
# interning hashes the whole batch first and fetches table entries ahead of use
PIPELINE_CODES = 4096
INTERN_AHEAD = 16  # values ahead whose table entry is fetched
CODE_AHEAD = 8  # values ahead whose first candidate's hash and start are fetched


@njit(**_JIT)
def intern_strings(offsets, data, valid, base, n, table, hashes, starts, arena, meta):
    """Intern ``n`` strings of an Arrow string array; return their codes.

    ``offsets``/``data`` are the Arrow buffers (``base`` is the array offset),
    ``valid`` a uint8 mask (1 = present) or an empty array for no nulls.
    The dictionary lives in ``table`` (int32 open addressing over codes),
    ``hashes``/``starts`` (per code) and ``arena`` (bytes); ``meta`` holds
    ``[n_codes, arena_used]``. Code 0 is null. The caller guarantees room for
    ``n`` new codes and for all bytes of the batch.
    """
    codes = np.empty(n, dtype=np.int32)
    mask = table.shape[0] - 1
    ncodes = meta[0]
    used = meta[1]
    has_valid = valid.shape[0] > 0
    ahead = ncodes > PIPELINE_CODES
    hs = np.empty(n if ahead else 0, dtype=np.uint64)
    for k in range(hs.shape[0]):
        hs[k] = hash_bytes(data, offsets[base + k], offsets[base + k + 1])
    tbase = table.ctypes.data
    hbase = hashes.ctypes.data
    sbase = starts.ctypes.data
    for k in range(n):
        if ahead:
            if k + INTERN_AHEAD < n:
                prefetch(tbase + np.int64(hs[k + INTERN_AHEAD] & np.uint64(mask)) * 4)
            if k + CODE_AHEAD < n:
                c = np.int64(table[np.int64(hs[k + CODE_AHEAD] & np.uint64(mask))])
                if c != 0:
                    prefetch(hbase + c * 8)
                    prefetch(sbase + c * 8)
        if has_valid and valid[k] == 0:
            codes[k] = 0
            continue
        a = offsets[base + k]
        b = offsets[base + k + 1]
        h = hs[k] if ahead else hash_bytes(data, a, b)
        i = np.int64(h & np.uint64(mask))
        while True:
            c = table[i]
            if c == 0:
                # new string
                c = ncodes
                ncodes += 1
                length = b - a
                for j in range(length):
                    arena[used + j] = data[a + j]
                starts[c] = used
                used += length
                starts[c + 1] = used
                hashes[c] = h
                table[i] = c
                break
            if hashes[c] == h and starts[c + 1] - starts[c] == b - a and \
                    same_bytes(arena, starts[c], data, a, b - a):
                break
            i = (i + 1) & mask
        codes[k] = c
    meta[0] = ncodes
    meta[1] = used
    return codes


@njit(**_JIT)
def rehash_strings(table, hashes, ncodes):
    """Fill an interner's new, all-zero probe table with codes ``1 .. ncodes - 1``."""
    mask = table.shape[0] - 1
    for c in range(1, ncodes):
        i = np.int64(hashes[c] & np.uint64(mask))
        while table[i] != 0:
            i = (i + 1) & mask
        table[i] = c


@njit(**_JIT)
def lateness(ts, bad, max_seen, allowed_lateness):
    """Mark late events: time below the watermark as it stood before them.

    Bad rows (``bad`` != 0) are skipped. Returns ``(late mask, new max_seen)``;
    a late event never moves the max.
    """
    n = ts.shape[0]
    late = np.zeros(n, dtype=np.uint8)
    m = max_seen
    for i in range(n):
        if bad[i]:
            continue
        t = ts[i]
        if m != EMPTY and t < m - allowed_lateness:
            late[i] = 1
        elif t > m:
            m = t
    return late, m
