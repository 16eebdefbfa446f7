"""The keyed window machine: a fixed, cached numba library every rule set shares.

Generated code (see :mod:`tosengine.compiler.codegen`) does the rule-specific
part: it selects each windowed rule's rows (``where``), computes its key words
and aggregate arguments, and later judges closed windows (``let``, ``when``,
``unless``). Everything stateful happens here, driven by per-rule descriptors
(:mod:`tosengine.compiler.layout`): key slots, panes, accumulators, exact
distinct sets, the watermark, closing windows, and cooldowns. Because none of
it depends on the rules it is compiled once per machine and cached, and a new
rule set compiles only its small expression functions.

``run_windows`` processes one batch rule by rule, and each rule segment by
segment: a segment ends where the watermark reaches the rule's next window
end; the segment's rows are fed (two-phase: rows were selected before), then
the windows the watermark has passed are closed into closed-window rows. It never allocates
state: when a table is full it records what is needed in ``ctl`` and returns 1;
the runtime grows that table and calls again, which resumes exactly there.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.typed import List

from tosengine.compiler.layout import (
    A_ARG,
    A_ARGF,
    A_AUX1,
    A_AUX2,
    A_KIND,
    A_OFF,
    ACC_CNT,
    ACC_DCNT,
    ACC_FIRST,
    ACC_LAST,
    ACC_M2,
    ACC_MAX_F,
    ACC_MAX_I,
    ACC_MEAN,
    ACC_MIN_F,
    ACC_MIN_I,
    ACC_NN,
    ACC_STAMP,
    ACC_SUM_F,
    ACC_SUM_I,
    ACC_TRUE,
    AGG_AVG,
    AGG_COUNT,
    AGG_DISTINCT,
    AGG_FRACTION,
    AGG_MAX,
    AGG_MIN,
    AGG_STDDEV,
    AGG_SUM,
    AL_DUE,
    AL_FREE,
    AL_SLOT,
    CNT,
    CW_CNT,
    CW_FIRST,
    CW_KEY0,
    CW_LAST,
    CW_W,
    D_Q_COUNT,
    D_Q_SORTED,
    D_R_COUNT,
    D_S_COUNT,
    D_WORDS,
    DD_ACC,
    DD_ARG,
    FIRST,
    G_ACC1,
    G_ACC2,
    G_ACC3,
    G_FLOAT,
    G_FUNC,
    KEY0,
    KEY_CODE,
    LAST,
    LAST_PANE,
    M_ACTIVE,
    M_CURSOR,
    M_DIST,
    M_FREE,
    M_KEYS,
    M_MAX_PANE,
    M_NCW,
    M_NEXT_CLOSE,
    M_NEXT_W,
    M_NSEL,
    M_POS,
    M_RING,
    M_UNUSED,
    NEXT_WIN,
    P_DIST0,
    P_KEYMODE,
    P_KEYW,
    P_LENGTH,
    P_MINCNT,
    P_NACC,
    P_NAGG,
    P_NDIST,
    P_PANES,
    P_PBASE,
    P_SF,
    P_SI,
    P_STEP,
    PANE_FIXED,
    POS,
    STAMP,
    WCNT,
)
from tosengine.compiler.prims import EMPTY, hash3, ht_upsert, mix64, prefetch

_JIT = dict(cache=True, nogil=True, error_model="numpy")

I64_MAX = np.int64(2**63 - 1)
I64_MIN = np.int64(-(2**63))

# ctl words shared with the runtime
C_RULE, C_WM, C_LATENESS, C_NEED, C_NEED_RULE = range(5)
CTL_SIZE = 5
# what a full table needs (C_NEED); distinct tables add their distinct index
NEED_SLOTS, NEED_KEYS, NEED_CLOSED = 1, 2, 3
NEED_S, NEED_Q, NEED_R = 100, 200, 300
PREFETCH = 8  # rows ahead whose state is fetched before it is needed


# --------------------------------------------------------------------------
# hash tables over rows of key words (any width)
# --------------------------------------------------------------------------


@njit(**_JIT)
def hash_words(keys, row, width):
    h = np.uint64(0x9E3779B97F4A7C15) ^ np.uint64(width)
    for c in range(width):
        h = mix64(h ^ (np.uint64(keys[row, c]) + np.uint64(0x632BE59BD9B4E019)))
    return h


@njit(**_JIT)
def htw_find(tab, keys, row, width):
    """Entry of ``tab`` whose key is ``keys[row, :width]``, or -1.

    ``tab`` rows: used flag, ``width`` key words, value.
    """
    mask = tab.shape[0] - 1
    i = np.int64(hash_words(keys, row, width) & np.uint64(mask))
    while tab[i, 0] != 0:
        same = True
        for c in range(width):
            if tab[i, 1 + c] != keys[row, c]:
                same = False
                break
        if same:
            return i
        i = (i + 1) & mask
    return np.int64(-1)


@njit(**_JIT)
def htw_insert(tab, keys, row, width):
    """Insert an absent key; returns its entry (value 0). The caller ensures room."""
    mask = tab.shape[0] - 1
    i = np.int64(hash_words(keys, row, width) & np.uint64(mask))
    while tab[i, 0] != 0:
        i = (i + 1) & mask
    tab[i, 0] = 1
    for c in range(width):
        tab[i, 1 + c] = keys[row, c]
    tab[i, width + 1] = 0
    return i


@njit(**_JIT)
def htw_delete(tab, index, width):
    """Remove entry ``index`` (backward-shift deletion keeps probe chains whole)."""
    mask = tab.shape[0] - 1
    i = index
    j = i
    while True:
        j = (j + 1) & mask
        if tab[j, 0] == 0:
            break
        home = np.int64(hash_words(tab[:, 1:], j, width) & np.uint64(mask))
        if (j > i and (home <= i or home > j)) or (j < i and (home <= i and home > j)):
            for c in range(tab.shape[1]):
                tab[i, c] = tab[j, c]
            i = j
    tab[i, 0] = 0


@njit(**_JIT)
def htw_rehash(old, new, width, min_value):
    """Copy entries of ``old`` whose value is >= ``min_value`` into empty ``new``."""
    live = 0
    for e in range(old.shape[0]):
        if old[e, 0] != 0 and old[e, width + 1] >= min_value:
            i = htw_insert(new, old[:, 1:], e, width)
            new[i, width + 1] = old[e, width + 1]
            live += 1
    return live


# --------------------------------------------------------------------------
# cooldown
# --------------------------------------------------------------------------


@njit(**_JIT)
def apply_cooldown(start, n, times, keys, width, fire, reported, tab, count, cooldown):
    """Report fired rows unless the same key reported less than ``cooldown`` ago.

    Rows are taken in order from ``start``; ``tab`` maps key words to the time
    of the key's last reported violation. Returns -1 when done, or the row to
    resume at once ``tab`` is grown (``count[0]`` holds its entries).
    """
    for q in range(start, n):
        if fire[q] == 0:
            reported[q] = 0
            continue
        e = htw_find(tab, keys, q, width)
        if e >= 0 and times[q] < tab[e, width + 1] + cooldown:
            reported[q] = 0
            continue
        if e < 0:
            if (count[0] + 1) * 2 > tab.shape[0]:
                return q
            e = htw_insert(tab, keys, q, width)
            count[0] += 1
        tab[e, width + 1] = times[q]
        reported[q] = 1
    return -1


# --------------------------------------------------------------------------
# the window machine
# --------------------------------------------------------------------------


@njit(**_JIT)
def _acc_init(kind):
    if kind == ACC_FIRST or kind == ACC_MIN_I:
        return I64_MAX
    if kind == ACC_LAST or kind == ACC_MAX_I:
        return I64_MIN
    if kind == ACC_STAMP:
        return EMPTY
    return np.int64(0)


@njit(**_JIT)
def _facc_init(kind):
    if kind == ACC_MIN_F:
        return np.inf
    if kind == ACC_MAX_F:
        return -np.inf
    return 0.0


@njit(**_JIT)
def _release(I, AL, M, KC, KH, p, s, k):
    """Free slot ``s`` at active position ``k``: drop its key, push it on the free stack."""
    kw = p[P_KEYW]
    if p[P_KEYMODE] == KEY_CODE:
        KC[I[s, KEY0]] = -1
    else:
        e = _key_entry(KH, I, s, kw)
        _key_delete(KH, e, kw + 1)
        M[M_KEYS] -= 1
    I[s, NEXT_WIN] = I64_MAX
    last = AL[M[M_ACTIVE] - 1, AL_SLOT]
    AL[k, AL_SLOT] = last
    AL[k, AL_DUE] = AL[M[M_ACTIVE] - 1, AL_DUE]
    I[last, POS] = k
    M[M_ACTIVE] -= 1
    AL[M[M_FREE], AL_FREE] = s
    M[M_FREE] += 1


@njit(**_JIT)
def _key_entry(KH, I, s, kw):
    return htw_find(KH, I[:, KEY0:], s, kw + 1)


@njit(**_JIT)
def _key_delete(KH, e, width):
    htw_delete(KH, e, width)


@njit(**_JIT)
def _feed(r, hi, ts, p, A, DD, I, F, AL, M, KC, KH, sel, kw, ia, fa, na, S, Q, R, ctl):
    """Feed this rule's selected rows below ``hi``; 0 when done, 1 when a table is full.

    Two passes over the rows: keys, panes and the plain accumulators row by
    row (:func:`_feed_rows`); then each distinct aggregate over the same rows
    with its tables taken out of their typed lists once (an access to a
    typed list costs two atomic reference-count updates, too much per row).
    Rows are taken only as far as every distinct table has room for (one new
    entry per row at most), so the second pass never stops half way.
    """
    npanes = p[P_PANES]
    step = p[P_STEP]
    ndist = p[P_NDIST]
    dist0 = p[P_DIST0]
    pbase = p[P_PBASE]
    si = p[P_SI]
    ring = M[M_RING]
    # in-order input (no allowed lateness): a sliding distinct value moves to its
    # latest pane at once; no per-pane set, no queue (see _drain)
    eager = npanes > 1 and ctl[C_LATENESS] == 0
    q0 = M[M_CURSOR]
    nsel = M[M_NSEL]
    q1 = q0
    while q1 < nsel and sel[q1] < hi:
        q1 += 1
    if q1 == q0:
        return 0
    lim = q1
    need = 0
    for d in range(ndist):
        g = dist0 + d
        base = M_DIST + D_WORDS * d
        if eager:
            room = R[g].shape[0] // 2 - M[base + D_R_COUNT] - 1
            code = NEED_R + d
        else:
            room = S[g].shape[0] // 2 - M[base + D_S_COUNT] - 1
            code = NEED_S + d
            if npanes > 1 and Q[g].shape[0] - M[base + D_Q_COUNT] < room:
                room = Q[g].shape[0] - M[base + D_Q_COUNT]
                code = NEED_Q + d
        if q0 + room < lim:
            lim = max(q0 + room, q0)
            need = code
    if lim == q0:
        ctl[C_NEED] = need
        ctl[C_NEED_RULE] = r
        return 1
    slots = np.empty(lim - q0, dtype=np.int64)
    q = _feed_rows(r, q0, lim, ts, p, A, I, F, AL, M, KC, KH, sel, kw, ia, fa, na, ctl, slots)
    for d in range(ndist):
        g = dist0 + d
        j = DD[d, DD_ARG]
        dcnt_off = A[DD[d, DD_ACC], A_OFF]
        base = M_DIST + D_WORDS * d
        if eager:
            _distinct_eager(q0, q, slots, ts, sel, step, ia[j], na[j], R[g], I, M, base, pbase, si,
                            ring, dcnt_off)
        else:
            _distinct_set(q0, q, slots, ts, sel, step, npanes, ia[j], na[j], S[g], Q[g], I, M, base,
                          pbase, si, ring, dcnt_off)
    M[M_CURSOR] = q
    if q < lim:  # _feed_rows stopped for key slots (ctl says which)
        return 1
    if lim < q1:
        ctl[C_NEED] = need
        ctl[C_NEED_RULE] = r
        return 1
    return 0


@njit(**_JIT)
def _feed_rows(r, q0, q1, ts, p, A, I, F, AL, M, KC, KH, sel, kw, ia, fa, na, ctl, slots):
    """Keys, panes and plain accumulators of rows ``q0..q1``; the row reached (``q1`` when done).

    Stops early when the key table or the slot rows are full (``ctl`` says which).
    Each row's slot goes to ``slots[q - q0]`` for the distinct pass.
    """
    length_panes = p[P_PANES]
    step = p[P_STEP]
    kwidth = p[P_KEYW]
    pbase = p[P_PBASE]
    si = p[P_SI]
    sf = p[P_SF]
    nacc = p[P_NACC]
    ring = M[M_RING]
    code_keys = p[P_KEYMODE] == KEY_CODE
    # slot rows are read at random: fetch the pane block of the row PREFETCH rows ahead
    ibase = I.ctypes.data
    irow = I.shape[1] * 8
    q = q0
    while q < q1:
        if code_keys and q + PREFETCH < q1:
            s2 = np.int64(KC[kw[q + PREFETCH, 0]])
            if s2 >= 0:
                pane2 = ts[sel[q + PREFETCH]] // step
                prefetch(ibase + s2 * irow)
                prefetch(ibase + s2 * irow + (pbase + (pane2 % ring) * si) * 8)
        i = sel[q]
        t = ts[i]
        pane = t // step
        # -- the key's slot
        if code_keys:
            s = np.int64(KC[kw[q, 0]])
            e = np.int64(-1)
        else:
            e = htw_find(KH, kw, q, kwidth + 1)
            s = KH[e, kwidth + 2] if e >= 0 else np.int64(-1)
        if s < 0:
            if not code_keys and (M[M_KEYS] + 1) * 2 > KH.shape[0]:
                ctl[C_NEED] = NEED_KEYS
                ctl[C_NEED_RULE] = r
                return q
            if M[M_FREE] > 0:
                M[M_FREE] -= 1
                s = AL[M[M_FREE], AL_FREE]
            elif M[M_UNUSED] < I.shape[0]:
                s = M[M_UNUSED]
                M[M_UNUSED] += 1
            else:
                ctl[C_NEED] = NEED_SLOTS
                ctl[C_NEED_RULE] = r
                return q
            if code_keys:
                KC[kw[q, 0]] = s
            else:
                e = htw_insert(KH, kw, q, kwidth + 1)
                KH[e, kwidth + 2] = s
                M[M_KEYS] += 1
            for c in range(kwidth + 1):
                I[s, KEY0 + c] = kw[q, c]
            I[s, NEXT_WIN] = pane - (length_panes - 1)
            I[s, WCNT] = 0
            I[s, LAST_PANE] = pane
            for ri in range(ring):
                I[s, pbase + ri * si + STAMP] = EMPTY
            I[s, POS] = M[M_ACTIVE]
            AL[M[M_ACTIVE], AL_SLOT] = s
            AL[M[M_ACTIVE], AL_DUE] = I[s, NEXT_WIN]
            M[M_ACTIVE] += 1
        elif I[s, WCNT] < 0:
            # a dormant key wakes: the windows it was not evaluated for are all
            # closed (below M_NEXT_W) and could not fire; it goes on from the first
            # open one, counting its events from whichever side reads fewer panes
            w0 = I[s, NEXT_WIN]
            nw = max(w0, M[M_NEXT_W])
            last = I[s, LAST_PANE]
            if nw - w0 < last - nw + 1:  # window w0's events less the panes that left
                n = -I[s, WCNT] - 1 - _window_events(I, s, w0, nw - w0, pbase, si, ring)
            else:  # the panes from nw to LAST_PANE
                n = _window_events(I, s, nw, max(last - nw + 1, 0), pbase, si, ring)
            I[s, NEXT_WIN] = nw
            I[s, WCNT] = n
            AL[I[s, POS], AL_DUE] = nw
        slots[q - q0] = s
        # -- the pane
        b = pbase + (pane % ring) * si
        bf = (pane % ring) * sf
        if I[s, b + STAMP] != pane:
            I[s, b + CNT] = 0
            I[s, b + FIRST] = I64_MAX
            I[s, b + LAST] = I64_MIN
            for a in range(PANE_FIXED, nacc):
                if A[a, A_KIND] == ACC_MIN_F or A[a, A_KIND] == ACC_MAX_F or \
                        A[a, A_KIND] == ACC_MEAN or A[a, A_KIND] == ACC_M2 or \
                        A[a, A_KIND] == ACC_SUM_F:
                    F[s, bf + A[a, A_OFF]] = _facc_init(A[a, A_KIND])
                else:
                    I[s, b + A[a, A_OFF]] = _acc_init(A[a, A_KIND])
            I[s, b + STAMP] = pane
        if pane > I[s, LAST_PANE]:
            I[s, LAST_PANE] = pane
        if pane - (length_panes - 1) < I[s, NEXT_WIN]:
            # an earlier event (within the allowed lateness) opens earlier windows
            I[s, NEXT_WIN] = pane - (length_panes - 1)
            I[s, WCNT] = _window_events(I, s, I[s, NEXT_WIN], length_panes, pbase, si, ring)
            AL[I[s, POS], AL_DUE] = I[s, NEXT_WIN]
        if pane < I[s, NEXT_WIN] + length_panes:
            I[s, WCNT] += 1
        if pane > M[M_MAX_PANE]:
            M[M_MAX_PANE] = pane
        # -- accumulate: every rule's fixed four (STAMP, CNT, FIRST, LAST), then its own
        I[s, b + CNT] += 1
        if t < I[s, b + FIRST]:
            I[s, b + FIRST] = t
        if t > I[s, b + LAST]:
            I[s, b + LAST] = t
        for a in range(PANE_FIXED, nacc):
            kind = A[a, A_KIND]
            off = A[a, A_OFF]
            j = A[a, A_ARG]
            if kind == ACC_TRUE:
                I[s, b + off] += ia[j, q]
            elif na[j, q] != 0:
                continue
            elif kind == ACC_NN:
                I[s, b + off] += 1
            elif kind == ACC_SUM_I:
                I[s, b + off] += ia[j, q]
            elif kind == ACC_SUM_F:
                F[s, bf + off] += fa[j, q]
            elif kind == ACC_MIN_I:
                if ia[j, q] < I[s, b + off]:
                    I[s, b + off] = ia[j, q]
            elif kind == ACC_MAX_I:
                if ia[j, q] > I[s, b + off]:
                    I[s, b + off] = ia[j, q]
            elif kind == ACC_MIN_F:
                if fa[j, q] < F[s, bf + off]:
                    F[s, bf + off] = fa[j, q]
            elif kind == ACC_MAX_F:
                if fa[j, q] > F[s, bf + off]:
                    F[s, bf + off] = fa[j, q]
            elif kind == ACC_MEAN:
                # Welford; the nn accumulator (AUX1) comes earlier, so it already counts x
                x = fa[j, q] if A[a, A_ARGF] != 0 else np.float64(ia[j, q])
                k = I[s, b + A[A[a, A_AUX1], A_OFF]]
                m2 = A[A[a, A_AUX2], A_OFF]
                d0 = x - F[s, bf + off]
                F[s, bf + off] += d0 / k
                F[s, bf + m2] += d0 * (x - F[s, bf + off])
        q += 1
    return q


@njit(**_JIT)
def _distinct_set(q0, q1, slots, ts, sel, step, npanes, vals, nulls, Sg, Qg, I, M, base, pbase, si,
                  ring, dcnt_off):
    """One distinct aggregate over rows ``q0..q1``: first sightings per (slot, pane, value).

    Tumbling: a first sighting counts in its pane at once. Sliding: it is
    queued for :func:`_drain`, which moves each value to its latest pane.
    The caller made room for one new entry per row.
    """
    sbase = Sg.ctypes.data
    smask = Sg.shape[0] - 1
    srow = np.int64(Sg.shape[1] * 8)  # bytes per table entry
    for q in range(q0, q1):
        if q + PREFETCH < q1:
            h = hash3(slots[q + PREFETCH - q0], ts[sel[q + PREFETCH]] // step, vals[q + PREFETCH], 3)
            prefetch(sbase + np.int64(h & np.uint64(smask)) * srow)
        if nulls[q] != 0:
            continue
        s = slots[q - q0]
        pane = ts[sel[q]] // step
        de, new = ht_upsert(Sg, s, pane, vals[q], 3)
        if not new:
            continue
        M[base + D_S_COUNT] += 1
        if npanes > 1:
            qn = M[base + D_Q_COUNT]
            Qg[qn, 0] = s
            Qg[qn, 1] = pane
            Qg[qn, 2] = vals[q]
            if qn > 0 and pane < Qg[qn - 1, 1]:
                M[base + D_Q_SORTED] = 0
            M[base + D_Q_COUNT] = qn + 1
        else:
            I[s, pbase + (pane % ring) * si + dcnt_off] += 1


@njit(**_JIT)
def _distinct_eager(q0, q1, slots, ts, sel, step, vals, nulls, Rg, I, M, base, pbase, si, ring,
                    dcnt_off):
    """One sliding distinct aggregate over in-order rows ``q0..q1``, without set or queue.

    What :func:`_drain` does later for out-of-order input, done at once: the
    value's count moves from the pane of its previous sighting (while an open
    window still reads that pane) to this row's pane, which is at or after it.
    The caller made room for one new entry per row.
    """
    rbase = Rg.ctypes.data
    rmask_t = Rg.shape[0] - 1
    rrow = np.int64(Rg.shape[1] * 8)  # bytes per table entry
    for q in range(q0, q1):
        if q + PREFETCH < q1:
            h = hash3(slots[q + PREFETCH - q0], vals[q + PREFETCH], 0, 2)
            prefetch(rbase + np.int64(h & np.uint64(rmask_t)) * rrow)
        if nulls[q] != 0:
            continue
        s = slots[q - q0]
        pane = ts[sel[q]] // step
        e, new = ht_upsert(Rg, s, vals[q], 0, 2)
        if new:
            M[base + D_R_COUNT] += 1
        else:
            prev = Rg[e, 3]
            if prev == pane:
                continue
            if prev >= I[s, NEXT_WIN]:
                I[s, pbase + (prev % ring) * si + dcnt_off] -= 1
        Rg[e, 3] = pane
        I[s, pbase + (pane % ring) * si + dcnt_off] += 1


@njit(**_JIT)
def _drain(M, I, Q, R, base, pbase, si, ring, dcnt_off, frontier):
    """Move queued distinct values of panes <= frontier into each key's histogram.

    A value counts in the pane of its latest occurrence up to the frontier; a
    sliding window's distinct count is then the sum of its panes' histograms.
    """
    qn = M[base + D_Q_COUNT]
    m = 0
    while m < qn and Q[m, 1] <= frontier:
        s = Q[m, 0]
        pane = Q[m, 1]
        e, new = ht_upsert(R, s, Q[m, 2], 0, 2)
        if new:
            M[base + D_R_COUNT] += 1
        else:
            prev = R[e, 3]
            if prev >= I[s, NEXT_WIN] and prev != pane:
                I[s, pbase + (prev % ring) * si + dcnt_off] -= 1
        R[e, 3] = pane
        I[s, pbase + (pane % ring) * si + dcnt_off] += 1
        m += 1
    if m > 0:
        for j in range(m, qn):
            for c in range(3):
                Q[j - m, c] = Q[j, c]
        M[base + D_Q_COUNT] = qn - m


@njit(**_JIT)
def _sort_queue(q, qn):
    order = np.argsort(q[:qn, 1], kind="mergesort")
    tmp = np.empty((qn, 3), dtype=np.int64)
    for j in range(qn):
        for c in range(3):
            tmp[j, c] = q[order[j], c]
    for j in range(qn):
        for c in range(3):
            q[j, c] = tmp[j, c]


@njit(**_JIT)
def _window_events(I, s, w, npanes, pbase, si, ring):
    """Events of slot ``s`` in window ``w`` (the CNT words of its panes)."""
    n = np.int64(0)
    for pp in range(w, w + npanes):
        b = pbase + (pp % ring) * si
        if I[s, b + STAMP] == pp:
            n += I[s, b + CNT]
    return n


@njit(**_JIT)
def _advance(I, s, w, npanes, pbase, si, ring):
    """Window ``w`` of slot ``s`` is evaluated: move NEXT_WIN to ``w + 1`` and keep WCNT.

    The window loses pane ``w`` and gains pane ``w + npanes``.
    """
    if I[s, NEXT_WIN] != w:  # not expected; recount rather than trust WCNT
        I[s, NEXT_WIN] = w + 1
        I[s, WCNT] = _window_events(I, s, w + 1, npanes, pbase, si, ring)
        return
    b = pbase + (w % ring) * si
    if I[s, b + STAMP] == w:
        I[s, WCNT] -= I[s, b + CNT]
    pp = w + npanes
    b = pbase + (pp % ring) * si
    if I[s, b + STAMP] == pp:
        I[s, WCNT] += I[s, b + CNT]
    I[s, NEXT_WIN] = w + 1


@njit(**_JIT)
def _next_window(I, AL, M, KC, KH, p, s, k, w, npanes, pbase, si, ring):
    """Window ``w`` of slot ``s`` (active position ``k``) is done: move on to ``w + 1``,
    or release the slot when no later window holds its events. True if it stays active."""
    _advance(I, s, w, npanes, pbase, si, ring)
    if w + 1 > I[s, LAST_PANE]:
        _release(I, AL, M, KC, KH, p, s, k)
        return False
    AL[k, AL_DUE] = w + 1
    return True


@njit(**_JIT)
def _close(r, wm, final, p, A, G, DD, I, F, AL, M, KC, KH, CW, CWF, CWN, Q, R, ctl):
    """Close every window of this rule that ends at or before ``wm`` (all if final).

    Each window visits the active keys due for it (``AL_DUE``). A key whose
    window holds too few events (``P_MINCNT``) and all of its events goes
    dormant: no later window can fire before its next event, so it is next due
    only at its last window (to be released), unless an event wakes it first
    (:func:`_feed_rows`). Without this, a key seen once in a 24-pane window was
    visited 24 times.

    Idempotent up to where it stopped: a call that returns 1 (a table is full)
    can simply be repeated once the table has grown.
    """
    length = p[P_LENGTH]
    step = p[P_STEP]
    npanes = p[P_PANES]
    kwidth = p[P_KEYW]
    pbase = p[P_PBASE]
    si = p[P_SI]
    sf = p[P_SF]
    nacc = p[P_NACC]
    nagg = p[P_NAGG]
    ndist = p[P_NDIST]
    dist0 = p[P_DIST0]
    ring = M[M_RING]
    agg0 = CW_KEY0 + kwidth + 1
    minc = p[P_MINCNT]
    w_lo = M[M_NEXT_W]
    w_hi = (wm - length) // step
    if final:
        w_hi = M[M_MAX_PANE]
    w_end = min(w_hi, M[M_MAX_PANE])
    if npanes > 1:
        for d in range(ndist):
            base = M_DIST + D_WORDS * d
            if (M[base + D_R_COUNT] + M[base + D_Q_COUNT] + 1) * 2 > R[dist0 + d].shape[0]:
                ctl[C_NEED] = 300 + d
                ctl[C_NEED_RULE] = r
                return 1
            if M[base + D_Q_SORTED] == 0:
                _sort_queue(Q[dist0 + d], M[base + D_Q_COUNT])
                M[base + D_Q_SORTED] = 1
    ci = np.zeros(nacc, dtype=np.int64)
    cf = np.zeros(nacc, dtype=np.float64)
    ibase = I.ctypes.data
    irow = I.shape[1] * 8
    w = w_lo
    while w <= w_end:
        if npanes > 1:
            for d in range(ndist):
                _drain(M, I, Q[dist0 + d], R[dist0 + d], M_DIST + D_WORDS * d, pbase, si,
                       ring, A[DD[d, DD_ACC], A_OFF], w + npanes - 1)
        # the lowest NEXT_WIN after this window is the next window any key needs: a gap
        # in event time must not cost one pass over the keys per empty window
        w_next = I64_MAX
        k = 0
        while k < M[M_ACTIVE]:
            # fetch the row header and the two panes _advance reads of the slot PREFETCH
            # ahead, if closing will read them
            if k + PREFETCH < M[M_ACTIVE] and AL[k + PREFETCH, AL_DUE] <= w:
                s2 = AL[k + PREFETCH, AL_SLOT]
                prefetch(ibase + s2 * irow)
                prefetch(ibase + s2 * irow + (pbase + (w % ring) * si) * 8)
                prefetch(ibase + s2 * irow + (pbase + ((w + npanes) % ring) * si) * 8)
            due = AL[k, AL_DUE]
            if due > w:  # decided from the active list alone: the key's row is not read
                if due < w_next:
                    w_next = due
                k += 1
                continue
            s = AL[k, AL_SLOT]
            if I[s, WCNT] < 0:
                # dormant, and w is its last window (LAST_PANE): nothing can fire
                _release(I, AL, M, KC, KH, p, s, k)
                continue
            if minc > 1 and I[s, WCNT] < minc:
                # too few events for ``when`` to hold: nothing to combine or judge
                if w < I[s, LAST_PANE] < w + npanes:
                    # and window w holds all the key's events, so every later window
                    # holds fewer: dormant until its next event (see _feed_rows) or its
                    # last window, instead of one visit per window
                    I[s, WCNT] = -1 - I[s, WCNT]  # negative while dormant, the count kept
                    AL[k, AL_DUE] = I[s, LAST_PANE]
                    w_next = min(w_next, I[s, LAST_PANE])
                    k += 1
                    continue
                if _next_window(I, AL, M, KC, KH, p, s, k, w, npanes, pbase, si, ring):
                    w_next = min(w_next, w + 1)
                    k += 1
                continue
            # combine the panes of window w
            for a in range(nacc):
                kind = A[a, A_KIND]
                ci[a] = _acc_init(kind)
                cf[a] = _facc_init(kind)
                if kind == ACC_MEAN:
                    ci[a] = 0
            for pp in range(w, w + npanes):
                b = pbase + (pp % ring) * si
                bf = (pp % ring) * sf
                if I[s, b + STAMP] != pp:
                    continue
                for a in range(nacc):
                    kind = A[a, A_KIND]
                    off = A[a, A_OFF]
                    if kind == ACC_FIRST or kind == ACC_MIN_I:
                        if I[s, b + off] < ci[a]:
                            ci[a] = I[s, b + off]
                    elif kind == ACC_LAST or kind == ACC_MAX_I:
                        if I[s, b + off] > ci[a]:
                            ci[a] = I[s, b + off]
                    elif kind == ACC_MIN_F:
                        if F[s, bf + off] < cf[a]:
                            cf[a] = F[s, bf + off]
                    elif kind == ACC_MAX_F:
                        if F[s, bf + off] > cf[a]:
                            cf[a] = F[s, bf + off]
                    elif kind == ACC_SUM_F:
                        cf[a] += F[s, bf + off]
                    elif kind == ACC_MEAN:
                        # Chan et al.: merge (n, mean, M2) of this pane into the running one
                        nb = I[s, b + A[A[a, A_AUX1], A_OFF]]
                        if nb > 0:
                            m2a = A[a, A_AUX2]
                            mb = F[s, bf + off]
                            m2b = F[s, bf + A[m2a, A_OFF]]
                            if ci[a] == 0:
                                cf[a] = mb
                                cf[m2a] = m2b
                                ci[a] = nb
                            else:
                                tot = ci[a] + nb
                                dd = mb - cf[a]
                                cf[a] += dd * nb / tot
                                cf[m2a] += m2b + dd * dd * ci[a] * nb / tot
                                ci[a] = tot
                    elif kind == ACC_M2 or kind == ACC_STAMP:
                        pass
                    else:
                        ci[a] += I[s, b + off]
            if ci[1] > 0:  # accumulator 1 is CNT: the window holds events
                o = M[M_NCW]
                if o >= CW.shape[0]:
                    # out of closed-window rows: stop; calling again redoes nothing,
                    # since every key already evaluated for w has NEXT_WIN > w
                    ctl[C_NEED] = 3
                    ctl[C_NEED_RULE] = r
                    return 1
                CW[o, CW_W] = w
                CW[o, CW_CNT] = ci[1]
                CW[o, CW_FIRST] = ci[2]
                CW[o, CW_LAST] = ci[3]
                for c in range(kwidth + 1):
                    CW[o, CW_KEY0 + c] = I[s, KEY0 + c]
                for g in range(nagg):
                    func = G[g, G_FUNC]
                    a1 = G[g, G_ACC1]
                    a2 = G[g, G_ACC2]
                    null = False
                    vi = np.int64(0)
                    vf = 0.0
                    if func == AGG_COUNT or func == AGG_DISTINCT:
                        vi = ci[a1]
                    elif func == AGG_FRACTION:
                        vf = ci[a1] / ci[a2]
                    elif func == AGG_SUM or func == AGG_MIN or func == AGG_MAX:
                        null = ci[a2] == 0
                        vi = ci[a1]
                        vf = cf[a1]
                    elif func == AGG_AVG:
                        null = ci[a2] == 0
                        if G[g, G_ACC3] != 0:  # float argument
                            vf = cf[a1] / max(ci[a2], 1)
                        else:
                            vf = ci[a1] / max(ci[a2], 1)
                    elif func == AGG_STDDEV:
                        null = ci[a1] == 0
                        vf = np.sqrt(cf[a2] / max(ci[a1], 1))
                    CWN[o, g] = null
                    if G[g, G_FLOAT] != 0:
                        CWF[o, g] = vf
                    else:
                        CW[o, agg0 + g] = vi
                M[M_NCW] = o + 1
            if _next_window(I, AL, M, KC, KH, p, s, k, w, npanes, pbase, si, ring):
                w_next = min(w_next, w + 1)
                k += 1
        w = max(w + 1, w_next)
    if w_hi + 1 > M[M_NEXT_W]:
        M[M_NEXT_W] = w_hi + 1
    M[M_NEXT_CLOSE] = (wm // step + 1) * step
    if final:
        M[M_NEXT_CLOSE] = I64_MAX
    return 0


@njit(**_JIT)
def run_windows(ctl, final, ts, skip, P, A, G, DD, I, F, AL, M, KC, KH, SEL, KW, IA, FA, NA,
                CW, CWF, CWN, S, Q, R):
    """Feed one batch to every windowed rule and close the windows it completes.

    Rule by rule: rules share no state, so each takes the whole batch while its
    state is in cache (see :func:`_run_rule`). With ``final``, close every
    window instead (end of input). Returns 0 when done, 1 when a table must
    grow first (``ctl[C_NEED]``, ``ctl[C_NEED_RULE]``); calling again after
    growing resumes where it stopped.
    """
    n = ts.shape[0]
    nrules = len(P)
    L = ctl[C_LATENESS]
    if not final and ctl[C_WM] == EMPTY:
        j = 0
        while j < n and skip[j]:
            j += 1
        if j == n:
            return 0
        ctl[C_WM] = ts[j] - L
        for r in range(nrules):
            step = P[r][P_STEP]
            M[r][M_NEXT_CLOSE] = (ctl[C_WM] // step + 1) * step
            M[r][M_NEXT_W] = (ctl[C_WM] - P[r][P_LENGTH]) // step + 1
    for r in range(ctl[C_RULE], nrules):
        ctl[C_RULE] = r
        if _run_rule(r, final, ts, skip, L, P[r], A[r], G[r], DD[r], I[r], F[r], AL[r], M[r],
                     KC[r], KH[r], SEL[r], KW[r], IA[r], FA[r], NA[r], CW[r], CWF[r], CWN[r],
                     S, Q, R, ctl) != 0:
            return 1
    ctl[C_RULE] = 0
    return 0


@njit(**_JIT)
def _run_rule(r, final, ts, skip, L, p, A, G, DD, I, F, AL, M, KC, KH, sel, kw, ia, fa, na,
              CW, CWF, CWN, S, Q, R, ctl):
    """One rule's part of :func:`run_windows`, from event ``M[M_POS]`` of the batch.

    Segment by segment: a segment ends at the first event whose watermark reaches
    the rule's next window end; its selected rows are fed, then the windows that
    watermark has passed are closed. Feeding and closing are idempotent up to where
    they stopped, so a call that returned 1 can simply be repeated.
    """
    if final:
        return _close(r, ctl[C_WM], True, p, A, G, DD, I, F, AL, M, KC, KH, CW, CWF, CWN, Q, R,
                      ctl)
    n = ts.shape[0]
    pos = M[M_POS]
    while pos < n:
        nc = M[M_NEXT_CLOSE]
        seg = pos
        while seg < n and (skip[seg] or ts[seg] - L < nc):
            seg += 1
        if _feed(r, seg, ts, p, A, DD, I, F, AL, M, KC, KH, sel, kw, ia, fa, na, S, Q, R, ctl) != 0:
            return 1
        if seg < n:
            wm = ts[seg] - L
            if wm > ctl[C_WM]:
                ctl[C_WM] = wm
            if _close(r, wm, False, p, A, G, DD, I, F, AL, M, KC, KH, CW, CWF, CWN, Q, R, ctl) != 0:
                return 1
        M[M_POS] = seg
        pos = seg
    return 0


# --------------------------------------------------------------------------
# typed lists, built and edited by cached functions: numba's own typed-list
# methods are compiled again in every process, which would cost a warm start
# most of a second
# --------------------------------------------------------------------------


@njit(**_JIT)
def new_list(first):
    """A typed list holding ``first``."""
    out = List()
    out.append(first)
    return out


@njit(**_JIT)
def list_append(items, item):
    items.append(item)


@njit(**_JIT)
def list_set(items, index, item):
    items[index] = item
