"""Batching: padded splits, bucketed order (deterministic, sharded), eval order."""

from __future__ import annotations

import numpy as np
import torch

from textcnn.data.batching import bucketed_batches, pad_batch, pad_split, sorted_batches
from textcnn.data.tokenizer import Encoded


def _enc(lengths):
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = np.arange(2, 2 + offsets[-1], dtype=np.int64)
    return Encoded(ids, offsets, np.arange(len(lengths)) % 2, 0)


def test_pad_split_rows_hold_each_example():
    enc = _enc([3, 0, 5, 1])
    ps = pad_split(enc, min_length=4)
    assert ps.ids.shape == (4, 5)
    assert ps.ids[0, :3].tolist() == enc.ids[0:3].tolist() and ps.ids[0, 3:].tolist() == [0, 0]
    assert ps.ids[1].tolist() == [0] * 5
    ids, lengths, labels = ps.batch(np.array([3, 0]), min_length=4)
    assert ids.shape == (2, 4)  # longest in batch is 3, padded up to min_length 4
    assert lengths.tolist() == [1, 3] and labels.tolist() == [1, 0]


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
