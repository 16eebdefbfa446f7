"""Array layouts shared by the plan, the generic window machinery and the runtime.

Per windowed rule the runtime keeps:

``I`` (int64, one row per key slot)::

    NEXT_WIN  first window index not yet evaluated for this key
    LAST_PANE highest pane holding events of this key
    WCNT      events of this key in window NEXT_WIN (kept as events arrive and
              NEXT_WIN moves, so closing need not add up the window's panes);
              -1 - that count while the key is dormant (see windows._close)
    POS       position of the slot in the active list (``AL``)
    KEY0..    the key words (string codes, ints, bools, times), then one word
              of key null bits
    panes     a ring of panes, SI words each: STAMP (pane index held), CNT,
              FIRST, LAST (event times), then the rule's own accumulators

``AL`` (int64, as many rows as ``I``): the active list and the free stack::

    AL_SLOT   the slot at this position of the active list
    AL_DUE    the next window at which that slot needs closing's attention:
              its NEXT_WIN, or a dormant key's LAST_PANE; closing passes over
              the others reading only this dense list, not their rows
    AL_FREE   (column used as the stack of free slots)

``F`` (float64, one row per slot): a ring of panes of SF float accumulators.

``M`` (int64): the rule's counters, ``M_*`` below.

``P`` (int64): the rule's constant parameters, ``P_*`` below; ``A``, ``G``
and ``DD`` describe its accumulators, aggregates and distinct sets.

A closed window becomes one row of ``CW`` (int64: window index, events, first
and last time, key words, key null bits, integer aggregates), ``CWF`` (float
aggregates) and ``CWN`` (aggregate null flags).
"""

from __future__ import annotations

# slot row columns of I
NEXT_WIN, LAST_PANE, WCNT, POS, KEY0 = range(5)

# active list columns of AL
AL_SLOT, AL_DUE, AL_FREE = range(3)
AL_WORDS = 3

# pane block words (int row); the rule's own accumulators follow
STAMP, CNT, FIRST, LAST = range(4)
PANE_FIXED = 4

# counters M
M_ACTIVE = 0  # active slots
M_FREE = 1  # slots on the free stack
M_UNUSED = 2  # next never-used slot
M_NEXT_CLOSE = 3  # the watermark at which this rule's next window closes
M_RING = 4  # panes per slot row (pane p is at p % M_RING)
M_NEXT_W = 5  # every window below this index has been evaluated for all keys
M_MAX_PANE = 6  # highest pane holding events, over all keys
M_KEYS = 7  # entries in the key hash table
M_CURSOR = 8  # next selected row of this batch to feed
M_NSEL = 9  # selected rows in this batch
M_NCW = 10  # closed-window rows written in this batch
M_POS = 11  # next event of this batch to feed (a position in the batch, not a selected row)
M_DIST = 12  # per distinct aggregate, D_WORDS counters from here
D_S_COUNT, D_Q_COUNT, D_Q_SORTED, D_R_COUNT = range(4)
D_WORDS = 4

# parameters P
P_LENGTH = 0
P_STEP = 1
P_PANES = 2
P_KEYMODE = 3  # KEY_CODE: one string key, code -> slot array; KEY_HASH: hash table
P_KEYW = 4  # number of key fields
P_PBASE = 5  # first pane column of I
P_SI = 6  # int words per pane
P_SF = 7  # float words per pane
P_NACC = 8
P_NDIST = 9
P_NAGG = 10
P_DIST0 = 11  # index of this rule's first distinct table in the global lists
P_MINCNT = 12  # windows with fewer events cannot fire: not evaluated (plan.min_events)
P_SIZE = 13
KEY_CODE, KEY_HASH = 1, 2

# accumulator descriptor rows A[a]: kind, offset in its pane block, argument,
# argument is float, and two auxiliary offsets
A_KIND, A_OFF, A_ARG, A_ARGF, A_AUX1, A_AUX2 = range(6)
A_WORDS = 6
ACC_STAMP, ACC_CNT, ACC_FIRST, ACC_LAST = 0, 1, 2, 3
ACC_TRUE, ACC_NN = 4, 5
ACC_SUM_I, ACC_SUM_F, ACC_MIN_I, ACC_MIN_F, ACC_MAX_I, ACC_MAX_F = 6, 7, 8, 9, 10, 11
ACC_MEAN, ACC_M2, ACC_DCNT = 12, 13, 14  # MEAN: AUX1 = nn acc index, AUX2 = m2 acc index

# aggregate descriptor rows G[g]: function, float output, three accumulator indexes
G_FUNC, G_FLOAT, G_ACC1, G_ACC2, G_ACC3 = range(5)
G_WORDS = 5
AGG_COUNT, AGG_FRACTION, AGG_SUM, AGG_AVG, AGG_MIN, AGG_MAX, AGG_STDDEV, AGG_DISTINCT = range(8)

# distinct descriptor rows DD[d]: argument, dcnt accumulator index
DD_ARG, DD_ACC = range(2)
DD_WORDS = 2

# closed-window rows
CW_W, CW_CNT, CW_FIRST, CW_LAST, CW_KEY0 = range(5)


def cw_agg0(key_width: int) -> int:
    """First aggregate column of a closed-window row."""
    return CW_KEY0 + key_width + 1


def pane_base(key_width: int) -> int:
    """First pane column of a slot row."""
    return KEY0 + key_width + 1
