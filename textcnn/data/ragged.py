"""Ragged token ids: every example's ids end to end (`flat`) with `offsets`, and the one padding routine.

Row i is flat[offsets[i]:offsets[i+1]], so memory grows with the tokens, not with rows x the longest
row. `pad_ragged` pads the rows a batch takes to that batch's own longest row. numpy only: training
(batching.py wraps it into tensors) and the torch-free prediction engines pad through the same code.

Not here: tokenization (tokenizer.py), batch order (batching.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def ragged(seqs: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Token id lists -> (flat ids (total,) int32, offsets (N + 1,) int64): row i is flat[offsets[i]:offsets[i+1]]."""
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in seqs], out=offsets[1:])
    flat = np.fromiter((t for s in seqs for t in s), dtype=np.int32, count=int(offsets[-1]))
    return flat, offsets


def truncate(flat: np.ndarray, offsets: np.ndarray, max_length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ragged ids -> (ids with every row cut to its first `max_length`, their offsets, the full lengths).

    Only the rows that are too long are visited: a whole training split (tens of millions of ids) is cut
    with one byte a token of mask besides the result."""
    full = np.diff(offsets)
    if len(full) == 0 or full.max() <= max_length:
        return flat, offsets, full
    long = np.flatnonzero(full > max_length)
    excess = full[long] - max_length  # (R,) ids dropped from each long row
    before = np.cumsum(excess) - excess  # (R,) ids dropped from the long rows before it
    dropped = np.repeat(offsets[long] + max_length - before, excess) + np.arange(int(excess.sum()))
    keep = np.ones(len(flat), dtype=bool)
    keep[dropped] = False
    cut = np.zeros_like(offsets)
    np.cumsum(np.minimum(full, max_length), out=cut[1:])
    return flat[keep], cut, full


def pad_ragged(
    flat: np.ndarray, offsets: np.ndarray, rows: np.ndarray | Sequence[int], min_length: int = 1, pad_id: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(ids [B, T] int64, lengths [B] int64) for `rows` of a ragged split.

    T = max(longest of these rows, min_length, 1); positions past a row's length hold pad_id. No
    Python loop over rows: one gather of B*T ids."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = offsets[rows]  # (B,)
    lens = offsets[rows + 1] - starts  # (B,)
    t = max(int(lens.max()) if len(rows) else 0, min_length, 1)
    pos = np.arange(t)  # (T,)
    valid = pos[None, :] < lens[:, None]  # (B, T)
    out = np.full((len(rows), t), pad_id, dtype=np.int64)
    if len(flat):
        take = np.minimum(starts[:, None] + pos[None, :], len(flat) - 1)  # (B, T), clipped for the pad slots
        np.copyto(out, flat[take], where=valid)
    return out, lens
