"""Batching: ragged splits padded per batch (one routine), bucketed order (deterministic, sharded), eval order."""

from __future__ import annotations

import numpy as np
import torch

from textcnn.data.batching import (
    bucketed_batches,
    make_split,
    pad_batch,
    pad_rows,
    ragged,
    sorted_batches,
    subsample_rows,
)
from textcnn.data.tokenizer import Encoded


def _enc(lengths):
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = np.arange(2, 2 + offsets[-1], dtype=np.int64)
    return Encoded(ids, offsets, np.arange(len(lengths)) % 2, 0)


def test_split_is_ragged_int32_and_pads_each_batch_to_its_own_longest_row():
    enc = _enc([3, 0, 5, 1])
    sp = make_split(enc, pad_id=0)
    assert sp.ids.dtype == np.int32 and sp.ids.shape == (9,)  # tokens, not rows x longest
    ids, lengths, labels = sp.batch(np.array([3, 0]), min_length=4)
    assert ids.shape == (2, 4) and ids.dtype == torch.long  # longest in batch is 3, padded up to min_length 4
    assert ids.tolist() == [[10, 0, 0, 0], [2, 3, 4, 0]]
    assert lengths.tolist() == [1, 3] and labels.tolist() == [1, 0]
    ids, lengths, _ = sp.batch(np.array([1, 2]))
    assert ids.tolist() == [[0] * 5, [5, 6, 7, 8, 9]] and lengths.tolist() == [0, 5]


def test_pad_rows_matches_a_plain_loop_and_uses_the_pad_id():
    rng = np.random.default_rng(0)
    seqs = [rng.integers(2, 50, size=n).tolist() for n in rng.integers(0, 12, size=40)]
    flat, offsets = ragged(seqs)
    rows = rng.permutation(40)[:17]
    ids, lengths = pad_rows(flat, offsets, rows, min_length=3, pad_id=7)
    t = max(max(len(seqs[r]) for r in rows), 3)
    expect = [seqs[r] + [7] * (t - len(seqs[r])) for r in rows]
    assert ids.tolist() == expect and lengths.tolist() == [len(seqs[r]) for r in rows]
    empty, lens = pad_rows(*ragged([[], []]), [0, 1])  # no tokens at all: one pad column
    assert empty.tolist() == [[0], [0]] and lens.tolist() == [0, 0]


def test_subset_and_subsample_keep_rows_intact():
    enc = _enc([3, 0, 5, 1])
    sp = make_split(enc)
    sub = sp.subset(np.array([2, 3]))
    assert len(sub) == 2 and sub.ids.tolist() == enc.ids[3:9].tolist() and sub.labels.tolist() == [0, 1]
    assert subsample_rows(100, None, 0) is None and subsample_rows(100, 100, 0) is None
    a = subsample_rows(1000, 50, seed=3)
    assert len(a) == 50 and np.array_equal(a, np.sort(np.unique(a))) and np.array_equal(a, subsample_rows(1000, 50, 3))


def test_pad_batch():
    ids, lengths = pad_batch([[5, 6], [], [7]], min_length=3)
    assert ids.tolist() == [[5, 6, 0], [0, 0, 0], [7, 0, 0]]
    assert lengths.tolist() == [2, 0, 1]
    assert ids.dtype == torch.long


def test_bucketed_batches_cover_every_example_once_and_are_deterministic():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, size=1003)
    a = bucketed_batches(lengths, 50, seed=1, epoch=0, chunk=4)
    b = bucketed_batches(lengths, 50, seed=1, epoch=0, chunk=4)
    c = bucketed_batches(lengths, 50, seed=1, epoch=1, chunk=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=False))
    flat = np.sort(np.concatenate(a))
    assert np.array_equal(flat, np.arange(1003))
    # bucketing: padding inside a batch is far below that of random batches
    pad = sum(lengths[x].max() * len(x) - lengths[x].sum() for x in a)
    rand = sum(lengths[x].max() * len(x) - lengths[x].sum() for x in np.array_split(rng.permutation(1003), len(a)))
    assert pad < rand / 3


def test_ranks_get_disjoint_equal_shards_of_the_same_order():
    lengths = np.random.default_rng(0).integers(1, 30, size=517)
    full = bucketed_batches(lengths, 10, seed=3, epoch=2)
    shards = [bucketed_batches(lengths, 10, seed=3, epoch=2, rank=r, world_size=3) for r in range(3)]
    assert len({len(s) for s in shards}) == 1
    assert [x.tolist() for x in shards[1]] == [x.tolist() for x in full[1 : len(shards[0]) * 3 : 3]]
    seen = np.concatenate([np.concatenate(s) for s in shards])
    assert len(seen) == len(set(seen.tolist()))


def test_sorted_batches_are_length_sorted():
    lengths = np.array([5, 1, 3, 2, 4])
    batches = list(sorted_batches(lengths, 2))
    assert [b.tolist() for b in batches] == [[1, 3], [2, 4], [0]]


def test_sorted_batches_bound_the_padded_tokens_of_a_batch():
    lengths = np.array([100, 1, 3, 2, 50, 400, 0])
    batches = list(sorted_batches(lengths, 4, max_tokens=120))
    assert [b.tolist() for b in batches] == [[6, 1, 3, 2], [4], [0], [5]]  # 4 x 3 tokens; 2 x 100 > 120; 400 alone
    assert sorted(np.concatenate(batches).tolist()) == list(range(7))
    assert [b.tolist() for b in sorted_batches(lengths, 4, max_tokens=None)] == [[6, 1, 3, 2], [4, 0, 5]]
