"""The pieces every model shares: embeddings (Kim 2014 section 2.1: rand, static, non-static,
multichannel), masks and pooling over time (max, average, Kalchbrenner et al. 2014 k-max).

Not here: any whole model (kim.py, image2d.py, lstm.py), the table of models (registry.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from textcnn.errors import ConfigError
from textcnn.models.registry import CNN_POOLINGS, LSTM_POOLINGS  # noqa: F401 - the models check against these

EMBEDDING_MODES = ("rand", "static", "non-static", "multichannel")
ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh, "gelu": F.gelu, "identity": lambda x: x}
MONOTONE = ("relu", "tanh", "identity")
"""Non-decreasing activations: max_t f(c_t + b) == f(max_t c_t + b), so they can follow the pooling."""
NEG_INF = float("-inf")


def check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(allowed)}")


KEY_LEVELS = 1 << 16
"""Dropout masks compare 16-bit random keys: the keep probability is a multiple of 1/65,536."""


def keep_mask(shape: torch.Size | tuple[int, ...], keep: float, device: torch.device) -> tuple[torch.Tensor, float]:
    """A boolean mask, True with probability `keep`, and that probability as drawn.

    On CPU each 64-bit draw of the generator gives four 16-bit keys (`random_` over the full int64 range,
    viewed as int16; True where key < round(keep * 65,536) - 32,768), so the mask costs a quarter of the
    draws `torch.rand` makes: 0.42 against 0.93 ms for a (50, 17, 300) batch of embedded words on 2
    cores. The probability is then round(keep * 65,536) / 65,536 (within 7.7e-6 of `keep`), returned so
    the caller scales by it exactly. Elsewhere `torch.rand(shape) < keep` (GPU generators are fast)."""
    if device.type != "cpu":
        return torch.rand(shape, device=device) < keep, keep
    n = math.prod(shape)
    threshold = round(keep * KEY_LEVELS)
    keys = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2**63), 2**63 - 1).view(torch.int16)[:n]
    return (keys < threshold - KEY_LEVELS // 2).view(shape), threshold / KEY_LEVELS


class Dropout(nn.Dropout):
    """`nn.Dropout` (same module, same semantics: zero with probability p, scale the rest by 1/(1 - p))
    with a cheaper mask: on CPU `bernoulli_`, which nn.Dropout draws with, took 2.5 ms for a (50, 17,
    300) batch of embedded words, 15-17% of an SST-2 `cnn` training step; `keep_mask` draws it from
    16-bit keys (the keep probability a multiple of 1/65,536, the scale its exact inverse)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        mask, keep = keep_mask(x.shape, 1.0 - self.p, x.device)
        mask = mask.to(x.dtype)  # 1 with probability keep
        return x * mask.mul_(1.0 / keep) if keep > 0 else x * mask


# ---------------------------------------------------------------------------------------------
# Embeddings (Kim 2014, section 2.1: rand, static, non-static, multichannel)


def make_embedding(
    vocab_size: int,
    dim: int,
    *,
    vectors: torch.Tensor | None = None,
    trainable: bool = True,
    sparse: bool = False,
    pad_id: int = 0,
) -> nn.Embedding:
    """An nn.Embedding initialised from `vectors` [V, E] or, without them, U[-0.25, 0.25] (Kim); pad row zero."""
    emb = nn.Embedding(vocab_size, dim, padding_idx=pad_id, sparse=sparse and trainable)
    with torch.no_grad():
        if vectors is None:
            emb.weight.uniform_(-0.25, 0.25)
        else:
            if tuple(vectors.shape) != (vocab_size, dim):
                raise ConfigError(
                    f"word vectors have shape {tuple(vectors.shape)} but the model needs ({vocab_size}, {dim}) "
                    "(vocabulary size, model.embedding_dim)"
                )
            emb.weight.copy_(vectors)
        emb.weight[pad_id].zero_()
    emb.weight.requires_grad_(trainable)
    return emb


def make_embeddings(
    vocab_size: int, dim: int, mode: str, *, vectors: torch.Tensor | None, sparse: bool, pad_id: int
) -> tuple[nn.Embedding, nn.Embedding | None]:
    """(main, static copy or None) for an embedding mode.

    rand / non-static: one trainable table; static: one frozen table; multichannel: a trainable table and
    a frozen copy with the same initial values (Kim's two channels). `vectors` initialise the table in
    every mode; without them the table is random (so static without vectors is a frozen random table).
    """
    if mode not in EMBEDDING_MODES:
        raise ConfigError(f"model.embedding_mode={mode!r} is not one of {', '.join(EMBEDDING_MODES)}")
    main = make_embedding(vocab_size, dim, vectors=vectors, trainable=mode != "static", sparse=sparse, pad_id=pad_id)
    static = None
    if mode == "multichannel":
        static = make_embedding(vocab_size, dim, vectors=main.weight.detach().clone(), trainable=False, pad_id=pad_id)
    return main, static


def embed_concat(main: nn.Embedding, static: nn.Embedding | None, ids: torch.Tensor) -> torch.Tensor:
    """(B, T) ids -> (B, T, C_in * E) with the channels side by side (C_in = 2 in multichannel mode)."""
    x = main(ids)  # (B, T, E)
    if static is None:
        return x
    return torch.cat([x, static(ids)], dim=2)  # (B, T, E) x 2 -> (B, T, 2E)


def embed_image(main: nn.Embedding, static: nn.Embedding | None, ids: torch.Tensor) -> torch.Tensor:
    """(B, T) ids -> (B, C_in, T, E): the sentence as a C_in-channel image."""
    x = main(ids)[:, None]  # (B, T, E) -> (B, 1, T, E)
    if static is None:
        return x
    return torch.cat([x, static(ids)[:, None]], dim=1)  # (B, 1, T, E) x 2 -> (B, 2, T, E)


def pad_to(ids: torch.Tensor, min_length: int, pad_id: int) -> torch.Tensor:
    """Right-pad (B, T) ids with pad_id to at least min_length positions."""
    if ids.shape[1] >= min_length:
        return ids
    return F.pad(ids, (0, min_length - ids.shape[1]), value=pad_id)  # (B, T) -> (B, min_length)


def pad_edges(ids: torch.Tensor, lengths: torch.Tensor, edge: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Kim's sentence padding: `edge` pad tokens before and after every sentence (B, T) -> (B, T + 2*edge).

    The pads count as part of the sentence (lengths + 2*edge), so the windows that hang over either end
    of the sentence compete in the pooling, as they do in Kim (2014)'s code (edge = max width - 1)."""
    if edge == 0:
        return ids, lengths
    return F.pad(ids, (edge, edge), value=pad_id), lengths + 2 * edge


# ---------------------------------------------------------------------------------------------
# Pooling over time with masks (Kim 2014 max-over-time; average; Kalchbrenner et al. 2014 k-max)


def window_mask(lengths: torch.Tensor, T: int, widths: torch.Tensor) -> torch.Tensor:
    """valid[b, t, i]: window start t is valid for width widths[i] and length lengths[b].

    Valid starts are 0..max(L - w, 0): a sentence shorter than w (even an empty one) gets exactly one
    window, over its tokens and zero pad vectors."""
    last = (lengths[:, None] - widths[None, :]).clamp(min=0)  # (B, nW)
    return torch.arange(T, device=lengths.device)[None, :, None] <= last[:, None, :]  # (B, T, nW)


def pool_over_time(
    c: torch.Tensor,
    bias: torch.Tensor,
    valid: torch.Tensor,
    *,
    activation: str,
    pooling: str,
    k: int,
) -> torch.Tensor:
    """Pool pre-bias feature maps c (B, T, nW*F) over the valid windows -> features (B, nW*F) or (B, nW*F*k).

    max: f(c + b) then the max over valid windows (for non-decreasing f computed as f(max c + b), the
    same value). avg: f(c + b) averaged over valid windows. kmax (Kalchbrenner et al. 2014): the k
    largest pre-activation values of each map in their original order, then bias and f, as in their
    DCNN; when fewer than k windows are valid the missing slots are 0. Features are filter-major
    (feature index = filter * k + slot)."""
    B, T, N = c.shape
    nW = valid.shape[2]
    act = ACTIVATIONS[activation]
    c4 = c.view(B, T, nW, N // nW)  # (B, T, nW*F) -> (B, T, nW, F)
    invalid = ~valid[..., None]  # (B, T, nW, 1)
    if pooling == "max":
        if activation in MONOTONE:
            return act(c4.masked_fill(invalid, NEG_INF).amax(1).reshape(B, N) + bias)  # (B, nW, F) -> (B, N)
        a = act(c + bias).view(B, T, nW, N // nW)  # (B, T, nW*F) -> (B, T, nW, F)
        return a.masked_fill(invalid, NEG_INF).amax(1).reshape(B, N)  # (B, nW, F) -> (B, N)
    if pooling == "avg":
        a = act(c + bias).view(B, T, nW, N // nW)  # (B, T, nW*F) -> (B, T, nW, F)
        weights = valid / valid.sum(1, keepdim=True)  # (B, T, nW), each column sums to 1
        return (a * weights[..., None]).sum(1).reshape(B, N)  # (B, nW, F) -> (B, N)
    if pooling == "kmax":
        masked = c.masked_fill(invalid.expand(B, T, nW, N // nW).reshape(B, T, N), NEG_INF)  # (B, T, N)
        # A stable sort keeps ties in index order, so the choice never depends on trailing padding.
        top = torch.sort(masked, dim=1, descending=True, stable=True).indices[:, :k]  # (B, k, N)
        vals = masked.gather(1, top.sort(dim=1).values)  # (B, k, N), in sentence order
        missing = vals == NEG_INF  # (B, k, N)
        out = act(vals.masked_fill(missing, 0.0) + bias).masked_fill(missing, 0.0)  # (B, k, N)
        return out.transpose(1, 2).reshape(B, N * k)  # (B, k, N) -> (B, N, k) -> (B, N*k)
    raise ConfigError(f"model.pooling={pooling!r} is not one of {', '.join(CNN_POOLINGS)}")


def max_pool_with_positions(
    c: torch.Tensor, bias: torch.Tensor, valid: torch.Tensor, *, activation: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Max pooling that also names the winning window: (features (B, nW*F), window starts (B, nW*F)).

    For a non-decreasing activation the winner is the pre-activation argmax (so a ReLU that zeroes every
    window still names one), otherwise the argmax of the activations; ties go to the first window."""
    B, T, N = c.shape
    nW = valid.shape[2]
    act = ACTIVATIONS[activation]
    a = c if activation in MONOTONE else act(c + bias)  # (B, T, N)
    a4 = a.view(B, T, nW, N // nW)  # (B, T, nW*F) -> (B, T, nW, F)
    values, pos = a4.masked_fill(~valid[..., None], NEG_INF).max(dim=1)  # (B, nW, F) each
    values, pos = values.reshape(B, N), pos.reshape(B, N)  # (B, nW, F) -> (B, nW*F)
    return (act(values + bias) if activation in MONOTONE else values), pos
