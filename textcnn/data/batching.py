"""Batches: length-bucketed order, and padding per batch from compact (ragged) token ids.

A split is held as its flat token ids (int32, every example's ids end to end) and offsets, so its
memory grows with its tokens, not with rows x the longest row. A batch is padded when it is taken,
to its own longest example, by `pad_rows` (ragged.py's `pad_ragged` as tensors): the one padding
routine of the package (training, evaluation and prediction all pad through it). The order of
batches is a pure function of (seed, epoch, rank, world size): that is what makes resuming and
data-parallel training exact.

Not here: tokenization (tokenizer.py) and what a model does with padding (models/).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from textcnn.data.ragged import pad_ragged, ragged
from textcnn.data.tokenizer import Encoded


def pad_rows(
    flat: np.ndarray, offsets: np.ndarray, rows: np.ndarray | Sequence[int], min_length: int = 1, pad_id: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """`ragged.pad_ragged` as tensors: (ids [B, T] int64, lengths [B] int64) for `rows` of a ragged split."""
    ids, lens = pad_ragged(flat, offsets, rows, min_length, pad_id)
    return torch.from_numpy(ids), torch.from_numpy(lens)


def pad_batch(seqs: Sequence[Sequence[int]], min_length: int = 1, pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad token id lists into (ids [B, T], lengths [B]) with T = max(longest, min_length, 1) (via `pad_rows`)."""
    flat, offsets = ragged(seqs)
    return pad_rows(flat, offsets, np.arange(len(seqs)), min_length, pad_id)


@dataclass
class Split:
    """A whole split as ragged token ids; `batch` pads the rows it is given (ids on `device`)."""

    ids: np.ndarray  # (total_tokens,) int32, every example's ids end to end (host memory)
    offsets: np.ndarray  # (N + 1,) int64
    lengths: torch.Tensor  # (N,) int64, on `device`
    labels: torch.Tensor  # (N,) int64, on `device`; -1 = no label
    lengths_np: np.ndarray  # (N,) for building the batch order without touching tensors
    pad_id: int = 0
    device: torch.device = torch.device("cpu")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def tokens(self) -> int:
        return int(self.lengths_np.sum())

    def batch(self, index: np.ndarray | torch.Tensor, min_length: int = 1) -> tuple[torch.Tensor, ...]:
        """(ids [B, T], lengths [B], labels [B]) for the rows in `index`, T = longest row (>= min_length)."""
        index = np.asarray(index, dtype=np.int64)
        ids, lengths = pad_rows(self.ids, self.offsets, index, min_length, self.pad_id)
        if self.device.type == "cpu":
            return ids, lengths, self.labels[torch.from_numpy(index)]
        idx = torch.from_numpy(index).to(self.device, non_blocking=True)
        return ids.to(self.device, non_blocking=True), self.lengths[idx], self.labels[idx]

    def subset(self, rows: np.ndarray) -> Split:
        """The examples `rows` (in that order) as a split of their own (copies only their ids)."""
        rows = np.asarray(rows, dtype=np.int64)
        lens = self.lengths_np[rows]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        starts = self.offsets[rows]
        flat = self.ids[np.repeat(starts - offsets[:-1], lens) + np.arange(int(offsets[-1]))]
        idx = torch.from_numpy(rows).to(self.labels.device)
        return Split(flat, offsets, self.lengths[idx], self.labels[idx], lens, self.pad_id, self.device)

    def to(self, device: torch.device | str) -> Split:
        """Labels and lengths on `device`; token ids stay in host memory and go over one batch at a time."""
        device = torch.device(device)
        return Split(self.ids, self.offsets, self.lengths.to(device), self.labels.to(device), self.lengths_np,
                     self.pad_id, device)  # fmt: skip


def make_split(enc: Encoded, pad_id: int = 0) -> Split:
    """A split of encoded examples, kept ragged (int32 ids, no padding until a batch is taken)."""
    lengths = enc.lengths.astype(np.int64)
    return Split(
        ids=np.asarray(enc.ids, dtype=np.int32),
        offsets=np.asarray(enc.offsets, dtype=np.int64),
        lengths=torch.from_numpy(lengths),
        labels=torch.tensor(enc.labels, dtype=torch.long),  # a copy: the cache's labels are read-only
        lengths_np=lengths,
        pad_id=pad_id,
    )


def subsample_rows(n: int, cap: int | None, seed: int) -> np.ndarray | None:
    """A fixed, seeded choice of `cap` of n rows (sorted), or None when n <= cap (use every row)."""
    if not cap or n <= cap:
        return None
    return np.sort(np.random.default_rng([seed, 7]).choice(n, size=cap, replace=False))


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


EVAL_MAX_TOKENS = 4_096
"""Padded tokens per evaluation batch at most: bounds the activations (B x T x filters) of long texts and
keeps them in cache. A `cnn`'s (B, T, 1,200) GEMM output at 32,768 tokens is 79 MB in bf16, read and
written again by the window sums; at 4,096 it is 10 MB. SST-2's 872 validation sentences: 68 ms a pass
against 172 ms in bf16, 113 against 227 ms in fp32 (docs/results/speed/eval_batches.py); texts of 115 and 573 tokens, and `lstm`, `cnn2d` and
`image2d`, gain too (1.2-2.6x), with the same losses and accuracies (docs/results/speed/README.md)."""


def sorted_batches(
    lengths: np.ndarray, batch_size: int, max_tokens: int | None = EVAL_MAX_TOKENS
) -> Iterator[np.ndarray]:
    """Evaluation order: by length, so padding is minimal (callers put results back in input order).

    Each batch holds at most `batch_size` rows and, once padded to its longest row, at most
    `max_tokens` tokens (but always at least one row), so long texts never make one huge batch."""
    order = np.argsort(lengths, kind="stable")
    i, n = 0, len(order)
    while i < n:
        end = min(i + batch_size, n)
        if max_tokens:
            # rows are sorted, so a batch [i, j) pads to lengths[order[j - 1]]: the largest j that fits
            longest = np.maximum(lengths[order[i:end]], 1)
            fits = np.flatnonzero(longest * np.arange(1, end - i + 1) <= max_tokens)
            end = i + (int(fits[-1]) + 1 if len(fits) else 1)
        yield order[i:end]
        i = end
