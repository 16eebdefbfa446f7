"""The distinct tables' purge: dead entries go, live ones stay findable, in place.

:func:`ht_purge_live` drops entries no open window reads without copying the
table, moving each survivor back along its probe path. Checked on tables built
by :func:`ht_upsert` itself (so with real clusters and wrap-around), against
the copying :func:`ht_rehash_live`, and on both entry layouts (the pane as a
key word, or as the value). A table whose keys were rewritten (string codes
renumbered by compaction) breaks the purge's premise, so the state rehashes it
instead; the last test checks that path.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import tosengine
from tosengine.compiler.prims import ht_purge_live, ht_rehash_live, ht_upsert
from tosengine.ir import load_text

NSLOTS = 4


def _table(entries: list[tuple[int, int, int]], size: int, width: int) -> np.ndarray:
    """A table holding ``(slot, value, pane)`` entries: keyed ``(slot, value)`` with the pane
    as value (``width`` 2), or keyed ``(slot, pane, value)`` (``width`` 3)."""
    tab = np.zeros((size, width + 2), dtype=np.int64)
    for slot, value, pane in entries:
        if width == 2:
            e, _ = ht_upsert(tab, slot, value, 0, 2)
            tab[e, 3] = pane
        else:
            e, _ = ht_upsert(tab, slot, pane, value, 3)
            tab[e, 4] = value * 7
    return tab


def _entries(tab: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(row) for row in tab[tab[:, 0] != 0].tolist()}


entry_lists = st.lists(st.tuples(st.integers(0, NSLOTS - 1), st.integers(0, 40),
                                 st.integers(0, 9)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(entry_lists, st.sampled_from([2, 3]), st.lists(st.integers(0, 10), min_size=NSLOTS,
                                                       max_size=NSLOTS),
       st.integers(-1, 10), st.sampled_from([128, 256]))
def test_purge_keeps_exactly_the_live_entries_findable(entries, width, first, min_pane, size):
    tab = _table(entries, size, width)
    first_pane = np.array(first, dtype=np.int64).reshape(NSLOTS, 1)
    pane_word = -1 if width == 2 else 2
    copied = np.zeros_like(tab)
    want = ht_rehash_live(tab, copied, width, first_pane, 0, pane_word, min_pane)

    live = ht_purge_live(tab, width, first_pane, 0, pane_word, min_pane)

    assert live == want == int((tab[:, 0] != 0).sum())
    assert _entries(tab) == _entries(copied)
    for row in tab[tab[:, 0] != 0]:  # each survivor is found where a lookup probes
        keys = (row[1], row[2], row[3] if width == 3 else 0)
        e, inserted = ht_upsert(tab, *keys, width)
        assert not inserted and tab[e].tolist() == row.tolist()


def test_purge_moves_survivors_back_across_the_table_end():
    """Entries whose probe path wraps past the last slot move back to their home."""
    size = 16
    tab = np.zeros((size, 4), dtype=np.int64)
    wrapped = []
    value = 0
    while len(wrapped) < 3:  # keys whose home is the last slot: they wrap to 0, 1, ...
        e, _ = ht_upsert(np.zeros((size, 4), dtype=np.int64), 0, value, 0, 2)
        if e == size - 1:
            wrapped.append(value)
        value += 1
    for v in wrapped:
        e, _ = ht_upsert(tab, 0, v, 0, 2)
        tab[e, 3] = 5 if v == wrapped[0] else 9  # the first (at the home slot) dies
    assert sorted(np.flatnonzero(tab[:, 0]).tolist()) == [0, 1, size - 1]

    live = ht_purge_live(tab, 2, np.array([[7]], dtype=np.int64), 0, -1, 0)

    assert live == 2
    assert sorted(np.flatnonzero(tab[:, 0]).tolist()) == [0, size - 1]
    for v in wrapped[1:]:
        assert not ht_upsert(tab, 0, v, 0, 2)[1]


SLIDING_DISTINCT = """
rule prompts {
  title    "Distinct prompts"
  clause   "1"
  severity low
  action   log
  per      org_id
  window   4m every 1m
  let prompts = distinct(prompt_hash)
  when     prompts >= 40
  message  "{org_id}"
}
"""


def test_a_table_with_renumbered_keys_is_rehashed_not_purged():
    """After renumbering, entries sit anywhere relative to their new homes (a path may
    wrap past the table's end): the rebuild must leave every entry findable."""
    state = tosengine.compile(load_text(SLIDING_DISTINCT)).stream().state
    rng = np.random.default_rng(3)
    for _ in range(200):
        values = rng.choice(10_000, size=32, replace=False)
        tab = _table([(0, int(v), 1) for v in values], 64, 2)
        renumber = rng.permutation(10_000)
        used = tab[:, 0] != 0
        tab[used, 2] = renumber[tab[used, 2]]

        rebuilt, live = state._rebuild(0, tab, 2, -1, 0, np.iinfo(np.int64).min, rekeyed=True)

        assert live == 32
        for v in renumber[values]:
            e, inserted = ht_upsert(rebuilt, 0, int(v), 0, 2)
            assert not inserted and rebuilt[e, 3] == 1
