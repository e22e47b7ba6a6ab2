"""Ragged token ids (textcnn/data/ragged.py): cutting rows to a length and padding a batch's rows."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from textcnn.data.ragged import pad_ragged, ragged, truncate

ROWS = st.lists(st.lists(st.integers(1, 99), max_size=12), max_size=15)


@given(rows=ROWS, max_length=st.integers(1, 10))
def test_truncate_cuts_every_row_to_its_first_max_length_ids(rows, max_length):
    flat, offsets = ragged(rows)
    cut, cut_offsets, full = truncate(flat, offsets, max_length)
    assert [cut[a:b].tolist() for a, b in zip(cut_offsets[:-1], cut_offsets[1:], strict=True)] == [
        r[:max_length] for r in rows
    ]
    assert full.tolist() == [len(r) for r in rows]


@given(rows=ROWS.filter(bool), min_length=st.integers(1, 6), data=st.data())
def test_pad_ragged_pads_the_rows_taken_to_their_longest(rows, min_length, data):
    flat, offsets = ragged(rows)
    take = data.draw(st.lists(st.integers(0, len(rows) - 1), min_size=1, max_size=6))
    ids, lengths = pad_ragged(flat, offsets, take, min_length=min_length, pad_id=0)
    width = max(min_length, max(len(rows[i]) for i in take), 1)
    assert ids.shape == (len(take), width) and lengths.tolist() == [len(rows[i]) for i in take]
    assert ids.tolist() == [rows[i] + [0] * (width - len(rows[i])) for i in take]
    assert np.asarray(ids).dtype == np.int64
