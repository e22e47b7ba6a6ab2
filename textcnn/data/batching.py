"""Batches: length-bucketed order and padded tensors.

A split is padded once into a single int64 matrix (rows sorted as in the split, padded to the
longest example); a batch is a row selection sliced to its own longest example, so no Python list
is touched per step. The order of batches is a pure function of (seed, epoch, rank, world size):
that is what makes resuming and data-parallel training exact.

Not here: tokenization (tokenizer.py) and what a model does with padding (models.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from textcnn.data.tokenizer import Encoded


def pad_batch(seqs: Sequence[Sequence[int]], min_length: int = 1, pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad token id lists into (ids [B, T], lengths [B]) with T = max(longest, min_length)."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    t = max(int(lengths.max()) if len(seqs) else 0, min_length, 1)
    ids = torch.full((len(seqs), t), pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        if len(s):
            ids[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return ids, lengths


@dataclass
class PaddedSplit:
    """A whole split as padded tensors (on CPU, or on the training device)."""

    ids: torch.Tensor  # (N, Tmax) int64
    lengths: torch.Tensor  # (N,) int64
    labels: torch.Tensor  # (N,) int64
    lengths_np: np.ndarray  # (N,) for building the batch order without touching tensors

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def tokens(self) -> int:
        return int(self.lengths_np.sum())

    def batch(self, index: np.ndarray | torch.Tensor, min_length: int = 1) -> tuple[torch.Tensor, ...]:
        """(ids [B, T], lengths [B], labels [B]) for the rows in `index`, T = longest row (>= min_length)."""
        idx = torch.as_tensor(index, dtype=torch.long, device=self.ids.device)
        t = max(int(self.lengths_np[np.asarray(index)].max()) if len(index) else 1, min_length)
        return self.ids[idx, :t], self.lengths[idx], self.labels[idx]

    def to(self, device: torch.device | str) -> PaddedSplit:
        return PaddedSplit(self.ids.to(device), self.lengths.to(device), self.labels.to(device), self.lengths_np)


def pad_split(enc: Encoded, min_length: int = 1, pad_id: int = 0) -> PaddedSplit:
    """Pad every example of a split once: (N, Tmax) with Tmax = max(longest, min_length)."""
    lengths = enc.lengths
    n = len(lengths)
    tmax = max(int(lengths.max()) if n else 0, min_length, 1)
    ids = np.full((n, tmax), pad_id, dtype=np.int64)
    # Scatter the flat ids into their rows without a Python loop over examples.
    rows = np.repeat(np.arange(n), lengths)
    cols = np.arange(len(enc.ids)) - np.repeat(enc.offsets[:-1], lengths)
    ids[rows, cols] = enc.ids
    return PaddedSplit(
        ids=torch.from_numpy(ids),
        lengths=torch.from_numpy(lengths.astype(np.int64)),
        labels=torch.from_numpy(enc.labels.astype(np.int64)),
        lengths_np=lengths,
    )


def bucketed_batches(
    lengths: np.ndarray,
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    chunk: int = 100,
    rank: int = 0,
    world_size: int = 1,
) -> list[np.ndarray]:
    """The batch order of one epoch: shuffle, sort by length inside chunks of `chunk` batches, cut into
    batches, shuffle the batches. Deterministic in (seed, epoch). With several ranks each takes every
    `world_size`-th batch of the same order (every rank gets the same number of batches; up to
    world_size - 1 batches at the end of an epoch are dropped, as DistributedSampler does)."""
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(len(lengths))
    span = batch_size * chunk
    batches: list[np.ndarray] = []
    for start in range(0, len(perm), span):
        part = perm[start : start + span]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    order = rng.permutation(len(batches))
    batches = [batches[i] for i in order]
    if world_size > 1:
        usable = len(batches) - len(batches) % world_size
        batches = batches[rank:usable:world_size]
    return batches


def sorted_batches(lengths: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Evaluation order: by length, so padding is minimal (callers put results back in input order)."""
    order = np.argsort(lengths, kind="stable")
    for i in range(0, len(order), batch_size):
        yield order[i : i + batch_size]
