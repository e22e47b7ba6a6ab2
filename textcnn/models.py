"""Every model textcnn trains, behind one forward contract, plus build_model and analytic FLOPs.

- `cnn`: Kim (2014, arXiv:1408.5882) CNN for sentence classification, computed as one fused GEMM.
- `cnn2d`: the same network in Kim's own formulation, the sentence as an image and (w x E) Conv2d kernels.
- `image2d`: a genuine image CNN over the T x E embedding matrix (stacked small 2D convolutions).
- `lstm`: a (bi)LSTM baseline over packed sequences.

Every model maps token ids `[B, T]` and lengths `[B]` to float32 logits `[B, C]`; padding (positions at
or beyond `lengths`, id `pad_id`, whose embedding row is zero) never changes the result. Every model has
`min_length` (batches are padded to at least this many positions), `embedding` (the trainable or main
nn.Embedding), `embedding_static` (the frozen copy in multichannel mode, else None) and `fc` (the final
nn.Linear, whose rows the trainer max-norms).

Not here: training, tokenizers, loading word vectors (they arrive as a tensor), run folders.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from textcnn.config import ConfigError, ModelConfig

log = logging.getLogger(__name__)

EMBEDDING_MODES = ("rand", "static", "non-static", "multichannel")
ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh, "gelu": F.gelu, "identity": lambda x: x}
MONOTONE = ("relu", "tanh", "identity")
"""Non-decreasing activations: max_t f(c_t + b) == f(max_t c_t + b), so they can follow the pooling."""
CNN_POOLINGS = ("max", "avg", "kmax")
LSTM_POOLINGS = ("last", "max", "mean")
NEG_INF = float("-inf")


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


def _embed_concat(main: nn.Embedding, static: nn.Embedding | None, ids: torch.Tensor) -> torch.Tensor:
    """(B, T) ids -> (B, T, C_in * E) with the channels side by side (C_in = 2 in multichannel mode)."""
    x = main(ids)  # (B, T, E)
    if static is None:
        return x
    return torch.cat([x, static(ids)], dim=2)  # (B, T, E) x 2 -> (B, T, 2E)


def _embed_image(main: nn.Embedding, static: nn.Embedding | None, ids: torch.Tensor) -> torch.Tensor:
    """(B, T) ids -> (B, C_in, T, E): the sentence as a C_in-channel image."""
    x = main(ids)[:, None]  # (B, T, E) -> (B, 1, T, E)
    if static is None:
        return x
    return torch.cat([x, static(ids)[:, None]], dim=1)  # (B, 1, T, E) x 2 -> (B, 2, T, E)


def _pad_to(ids: torch.Tensor, min_length: int, pad_id: int) -> torch.Tensor:
    """Right-pad (B, T) ids with pad_id to at least min_length positions."""
    if ids.shape[1] >= min_length:
        return ids
    return F.pad(ids, (0, min_length - ids.shape[1]), value=pad_id)  # (B, T) -> (B, min_length)


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


# ---------------------------------------------------------------------------------------------
# The fused convolution: one GEMM for every width and tap, then shifted sums (see KimCNN)


def _tap_columns(widths: Sequence[int], feature_maps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each GEMM output column: (feature index in 0..nW*F-1, tap j within its window)."""
    feat, tap = [], []
    for i, w in enumerate(widths):
        for j in range(w):
            feat.append(torch.arange(i * feature_maps, (i + 1) * feature_maps))
            tap.append(torch.full((feature_maps,), j))
    return torch.cat(feat), torch.cat(tap)  # (sum(w)*F,), (sum(w)*F,)


def _shift_sum_forward(y: torch.Tensor, widths: Sequence[int], nf: int) -> torch.Tensor:
    """c[b, t, i*F + f] = sum_{j < w_i, t + j < T} y[b, t + j, off_i + j*F + f]  (B, T, sum(w)*F) -> (B, T, nW*F).

    Windows running past T (t > T - w) are partial sums; they are never valid windows."""
    B, T, _ = y.shape
    c = y.new_empty(B, T, len(widths) * nf)
    off = 0
    for i, w in enumerate(widths):
        out = c[:, :, i * nf : (i + 1) * nf]  # (B, T, F) view
        out.copy_(y[:, :, off : off + nf])
        for j in range(1, min(w, T)):
            out[:, : T - j] += y[:, j:, off + j * nf : off + (j + 1) * nf]
        off += w * nf
    return c


class _ShiftSum(torch.autograd.Function):
    """The conv's window sums from the fused GEMM output, with a backward that writes each tap once."""

    @staticmethod
    def forward(ctx, y, widths, nf):
        ctx.widths, ctx.nf = widths, nf
        return _shift_sum_forward(y, widths, nf)

    @staticmethod
    def backward(ctx, dc):
        widths, nf = ctx.widths, ctx.nf
        B, T, _ = dc.shape
        dy = dc.new_empty(B, T, sum(widths) * nf)
        off = 0
        for i, w in enumerate(widths):
            g = dc[:, :, i * nf : (i + 1) * nf]  # (B, T, F)
            for j in range(w):
                blk = dy[:, :, off + j * nf : off + (j + 1) * nf]  # (B, T, F) view
                if j < T:
                    blk[:, j:] = g[:, : T - j]
                blk[:, : min(j, T)] = 0.0
            off += w * nf
        return dy, None, None


class _ShiftSumMax(torch.autograd.Function):
    """Window sums, masked max over time and its argmax in one op; backward scatters into the GEMM output.

    Returns (pooled pre-bias values (B, nW*F), winning window starts (B, nW*F))."""

    @staticmethod
    def forward(ctx, y, valid, widths, nf, col_feat, col_tap):
        B, T, _ = y.shape
        c = _shift_sum_forward(y, widths, nf)  # (B, T, nW*F)
        c.view(B, T, len(widths), nf).masked_fill_(~valid[..., None], NEG_INF)  # (B, T, nW, F) view
        pooled, pos = c.max(dim=1)  # (B, nW*F) each; ties -> the first window
        ctx.save_for_backward(pos, col_feat, col_tap)
        ctx.T = T
        ctx.mark_non_differentiable(pos)
        return pooled, pos

    @staticmethod
    def backward(ctx, dpooled, _dpos):
        pos, col_feat, col_tap = ctx.saved_tensors
        B = pos.shape[0]
        rows = pos[:, col_feat] + col_tap  # (B, sum(w)*F): time step each GEMM column's gradient lands on
        dy = dpooled.new_zeros(B, ctx.T, col_feat.numel())
        dy.scatter_(1, rows[:, None, :], dpooled[:, col_feat][:, None, :])  # (B, 1, N) into (B, T, N)
        return dy, None, None, None, None, None


# ---------------------------------------------------------------------------------------------
# cnn: Kim's CNN


def _kim_input(m: nn.Module, vocab_size, embedding_dim, widths, feature_maps, activation, pooling, k,
               embedding_mode, vectors, sparse, pad_id) -> None:  # fmt: skip
    """What `cnn` and `cnn2d` share before their convolutions: checks, embeddings, widths, min_length.

    Called first in both constructors (then the convolutions, then `_kim_head`), so parameters are
    created, and drawn from the seeded RNG, in the same order in both."""
    _check_choice("model.activation", activation, tuple(ACTIVATIONS))
    _check_choice("model.pooling", pooling, CNN_POOLINGS)
    m.embedding, m.embedding_static = make_embeddings(
        vocab_size, embedding_dim, embedding_mode, vectors=vectors, sparse=sparse, pad_id=pad_id
    )
    m.in_channels = 2 if m.embedding_static is not None else 1
    m.widths = tuple(int(w) for w in widths)
    m.feature_maps = feature_maps
    m.activation, m.pooling, m.k, m.pad_id = activation, pooling, k, pad_id
    m.min_length = max(m.widths) + (k - 1 if pooling == "kmax" else 0)


def _kim_head(m: nn.Module, num_classes: int, dropout: float, embedding_dropout: float) -> None:
    """What `cnn` and `cnn2d` share after their convolutions: dropouts and the classifier `fc`."""
    m.dropout = nn.Dropout(dropout)
    m.embedding_dropout = nn.Dropout(embedding_dropout)  # on the input words, training only
    n_features = len(m.widths) * m.feature_maps * (m.k if m.pooling == "kmax" else 1)
    m.fc = nn.Linear(n_features, num_classes)


class KimCNN(nn.Module):
    """Kim (2014, arXiv:1408.5882) CNN: parallel 1D convolutions of several widths, pooling over time,
    dropout, a linear classifier; settings as studied by Zhang & Wallace (2015, arXiv:1510.03820).

    The convolutions are computed as ONE matrix product: with X the (B*T, C_in*E) embeddings and
    W (C_in*E, sum(w)*F) holding every width's every tap, Y = X @ W and the feature map of width w at
    window start t is sum_{j<w} Y[t + j, block(w, j)] (`_ShiftSum`). That is exactly the FLOPs of the
    convolutions in one large GEMM forward and backward, faster on CPU than one nn.Conv1d per width
    (measured on 2 Xeon cores, SST-2 train, batch 50, forward + backward: 7.3 s an epoch against 10.8 s).
    Conv1d weight of width i, tap j: W[:, off_i + j*F : off_i + (j+1)*F].T (see `conv1d_weights`).
    Max pooling with a non-decreasing activation fuses sums, mask and max (`_ShiftSumMax`) and adds the
    bias and activation after the max (the same value).

    Masking: for length L only window starts 0..max(L - w, 0) compete in the pooling, so padding never
    wins; a sentence shorter than w, and an empty one, gets one window over zero pad vectors (its
    feature is f(bias + the real tokens' part)), never NaN.

    Multichannel (Kim's two channels from the same vectors, one frozen and one fine-tuned; "each filter
    is applied to both channels and the results are added"): each filter has its own weight slice for
    each channel and the two responses are summed, which is what a conv2d with 2 input channels
    computes (and `cnn2d` does); here the channels are concatenated along the embedding axis, C_in*E
    rows of W. (Sharing one slice between the channels is the special case of equal slices.)
    """

    def __init__(
        self,
        *,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 300,
        widths: Sequence[int] = (3, 4, 5),
        feature_maps: int = 100,
        activation: str = "relu",
        pooling: str = "max",
        k: int = 2,
        dropout: float = 0.5,
        embedding_dropout: float = 0.0,
        embedding_mode: str = "rand",
        vectors: torch.Tensor | None = None,
        sparse: bool = False,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        _kim_input(self, vocab_size, embedding_dim, widths, feature_maps, activation, pooling, k,
                   embedding_mode, vectors, sparse, pad_id)  # fmt: skip
        in_dim = self.in_channels * embedding_dim
        self.conv_weight = nn.Parameter(torch.empty(in_dim, sum(self.widths) * feature_maps))
        self.conv_bias = nn.Parameter(torch.empty(len(self.widths) * feature_maps))
        self._init_conv(in_dim)
        col_feat, col_tap = _tap_columns(self.widths, feature_maps)
        self.register_buffer("_widths_t", torch.tensor(self.widths), persistent=False)
        self.register_buffer("_col_feat", col_feat, persistent=False)
        self.register_buffer("_col_tap", col_tap, persistent=False)
        _kim_head(self, num_classes, dropout, embedding_dropout)

    def _init_conv(self, in_dim: int) -> None:
        """nn.Conv1d's default init per width: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C_in*E*w."""
        off, nf = 0, self.feature_maps
        with torch.no_grad():
            for i, w in enumerate(self.widths):
                bound = 1.0 / math.sqrt(in_dim * w)
                self.conv_weight[:, off : off + w * nf].uniform_(-bound, bound)
                self.conv_bias[i * nf : (i + 1) * nf].uniform_(-bound, bound)
                off += w * nf

    def conv1d_weights(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(weight (F, C_in*E, w), bias (F,)) per width, as nn.Conv1d would hold them (views)."""
        out, off, nf = [], 0, self.feature_maps
        for i, w in enumerate(self.widths):
            blk = self.conv_weight[:, off : off + w * nf].view(-1, w, nf)  # (C_in*E, w*F) -> (C_in*E, w, F)
            out.append((blk.permute(2, 0, 1), self.conv_bias[i * nf : (i + 1) * nf]))  # -> (F, C_in*E, w)
            off += w * nf
        return out

    def _gemm(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> Y (B, T, sum(w)*F), every width's every tap in one matrix product."""
        x = _embed_concat(self.embedding, self.embedding_static, ids)  # (B, T, C_in*E)
        x = self.embedding_dropout(x)
        return x @ self.conv_weight  # (B, T, C_in*E) @ (C_in*E, sum(w)*F) -> (B, T, sum(w)*F)

    def feature_maps_pre_bias(self, ids: torch.Tensor) -> torch.Tensor:
        """Convolution outputs without bias, (B, T, nW*F); windows past T - w are partial (never valid)."""
        return _ShiftSum.apply(self._gemm(ids), self.widths, self.feature_maps)

    def features(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Pooled features before dropout: (B, nW*F), or (B, nW*F*k) for kmax."""
        ids = _pad_to(ids, self.min_length, self.pad_id)
        valid = window_mask(lengths, ids.shape[1], self._widths_t)  # (B, T, nW)
        if self.pooling == "max" and self.activation in MONOTONE:
            pooled, _ = _ShiftSumMax.apply(
                self._gemm(ids), valid, self.widths, self.feature_maps, self._col_feat, self._col_tap
            )
            return ACTIVATIONS[self.activation](pooled + self.conv_bias)
        c = self.feature_maps_pre_bias(ids)
        return pool_over_time(c, self.conv_bias, valid, activation=self.activation, pooling=self.pooling, k=self.k)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(ids, lengths))).float()

    def pooled_features(
        self, ids: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For max pooling: (features (B, nW*F), winning window starts (B, nW*F), widths (nW*F,)).

        In eval mode `model.fc(features)` equals the logits. A feature's n-gram is tokens
        [start, start + width) clipped to the sentence."""
        if self.pooling != "max":
            raise ConfigError(f"pooled_features needs model.pooling='max', not {self.pooling!r}")
        ids = _pad_to(ids, self.min_length, self.pad_id)
        valid = window_mask(lengths, ids.shape[1], self._widths_t)  # (B, T, nW)
        widths = self._widths_t.repeat_interleave(self.feature_maps)  # (nW*F,)
        if self.activation in MONOTONE:
            pooled, pos = _ShiftSumMax.apply(
                self._gemm(ids), valid, self.widths, self.feature_maps, self._col_feat, self._col_tap
            )
            return ACTIVATIONS[self.activation](pooled + self.conv_bias), pos, widths
        c = self.feature_maps_pre_bias(ids)
        return (*max_pool_with_positions(c, self.conv_bias, valid, activation=self.activation), widths)


# ---------------------------------------------------------------------------------------------
# cnn2d: Kim's CNN in his own (image) formulation


class KimCNN2d(nn.Module):
    """Kim (2014, arXiv:1408.5882) CNN as Kim's code writes it: the sentence is a C_in-channel image
    (B, C_in, T, E) (C_in = 2 in multichannel mode) and each width w is an nn.Conv2d with (w x E)
    kernels. Pooling and masking are those of `cnn` (`pool_over_time`); with the same weights
    (`copy_cnn_weights`) it computes exactly what `cnn` computes, usually more slowly.
    """

    def __init__(
        self,
        *,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 300,
        widths: Sequence[int] = (3, 4, 5),
        feature_maps: int = 100,
        activation: str = "relu",
        pooling: str = "max",
        k: int = 2,
        dropout: float = 0.5,
        embedding_dropout: float = 0.0,
        embedding_mode: str = "rand",
        vectors: torch.Tensor | None = None,
        sparse: bool = False,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        _kim_input(self, vocab_size, embedding_dim, widths, feature_maps, activation, pooling, k,
                   embedding_mode, vectors, sparse, pad_id)  # fmt: skip
        self.convs = nn.ModuleList(nn.Conv2d(self.in_channels, feature_maps, (w, embedding_dim)) for w in self.widths)
        self.register_buffer("_widths_t", torch.tensor(self.widths), persistent=False)
        _kim_head(self, num_classes, dropout, embedding_dropout)

    def feature_maps_pre_bias(self, ids: torch.Tensor) -> torch.Tensor:
        """Convolution outputs without bias, (B, T, nW*F); the w - 1 missing end windows are zeros."""
        x = _embed_image(self.embedding, self.embedding_static, ids)  # (B, C_in, T, E)
        x = self.embedding_dropout(x)
        maps = []
        for w, conv in zip(self.widths, self.convs, strict=True):
            c = F.conv2d(x, conv.weight)  # (B, F, T-w+1, 1)
            c = c[:, :, :, 0].transpose(1, 2)  # (B, F, T-w+1, 1) -> (B, T-w+1, F)
            maps.append(F.pad(c, (0, 0, 0, w - 1)))  # (B, T-w+1, F) -> (B, T, F)
        return torch.cat(maps, dim=2)  # (B, T, nW*F)

    def features(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        ids = _pad_to(ids, self.min_length, self.pad_id)
        valid = window_mask(lengths, ids.shape[1], self._widths_t)  # (B, T, nW)
        bias = torch.cat([conv.bias for conv in self.convs])  # (nW*F,)
        c = self.feature_maps_pre_bias(ids)
        return pool_over_time(c, bias, valid, activation=self.activation, pooling=self.pooling, k=self.k)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(ids, lengths))).float()

    def pooled_features(
        self, ids: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """As `KimCNN.pooled_features`: (features (B, nW*F), window starts (B, nW*F), widths (nW*F,))."""
        if self.pooling != "max":
            raise ConfigError(f"pooled_features needs model.pooling='max', not {self.pooling!r}")
        ids = _pad_to(ids, self.min_length, self.pad_id)
        valid = window_mask(lengths, ids.shape[1], self._widths_t)  # (B, T, nW)
        bias = torch.cat([conv.bias for conv in self.convs])  # (nW*F,)
        c = self.feature_maps_pre_bias(ids)
        values, pos = max_pool_with_positions(c, bias, valid, activation=self.activation)
        return values, pos, self._widths_t.repeat_interleave(self.feature_maps)


@torch.no_grad()
def copy_cnn_weights(src: KimCNN, dst: KimCNN2d) -> None:
    """Give a cnn2d model the weights of a cnn model of the same shape (embeddings, convolutions, fc)."""
    if (src.widths, src.feature_maps, src.in_channels) != (dst.widths, dst.feature_maps, dst.in_channels):
        raise ValueError("copy_cnn_weights needs the same widths, feature_maps and embedding mode")
    dst.embedding.weight.copy_(src.embedding.weight)
    if src.embedding_static is not None:
        dst.embedding_static.weight.copy_(src.embedding_static.weight)
    E = src.embedding.embedding_dim
    for (w1d, b), conv, w in zip(src.conv1d_weights(), dst.convs, src.widths, strict=True):
        # (F, C_in*E, w) -> (F, C_in, E, w) -> (F, C_in, w, E)
        conv.weight.copy_(w1d.reshape(src.feature_maps, src.in_channels, E, w).transpose(2, 3))
        conv.bias.copy_(b)
    dst.fc.load_state_dict(src.fc.state_dict())


# ---------------------------------------------------------------------------------------------
# image2d: an image CNN over the embedding matrix


Geometry = list[tuple[tuple[int, int], tuple[int, int], tuple[int, int]]]
"""Per image2d block: (kernel (t, e), stride (t, e), padding (t, e)) of its conv."""


def image2d_geometry(*, blocks: int, kernel_size: int, stride: int, padding: int, patch: int) -> Geometry:
    """Block 1 reads (kernel_size x patch) patches, `patch` apart along E; later blocks are square."""
    first = ((kernel_size, patch), (stride, patch), (padding, 0))
    rest = ((kernel_size, kernel_size), (stride, stride), (padding, padding))
    return [first] + [rest] * (blocks - 1)


def _conv_out(n, kernel: int, stride: int, padding: int):
    return (n + 2 * padding - kernel) // stride + 1


def _image2d_rows(geometry: Geometry, n):
    """Rows (an int, or a tensor of valid rows per sentence) after each conv and each pooling:
    [conv1, pool1, conv2, pool2, ..., conv_last]. Pooling pads odd row counts, so it never drops a row;
    a valid count never falls below 1 (the output position that exists for any input)."""
    out = []
    for i, (kernel, st, pd) in enumerate(geometry):
        n = _conv_out(n, kernel[0], st[0], pd[0])
        n = n.clamp(min=1) if isinstance(n, torch.Tensor) else n
        out.append(n)
        if i < len(geometry) - 1:
            n = (n + 1) // 2
            out.append(n)
    return out


def _image2d_min_length(geometry: Geometry) -> int:
    """Fewest input rows for which every conv keeps at least one row."""
    n = 1
    while min(_image2d_rows(geometry, n)) < 1:
        n += 1
    return n


def _image2d_columns(geometry: Geometry, e: int) -> list[int]:
    """Columns (along the embedding axis) after each conv; 2x2 pooling floors odd column counts."""
    out = []
    for i, (kernel, st, pd) in enumerate(geometry):
        e = _conv_out(e, kernel[1], st[1], pd[1])
        out.append(e)
        if i < len(geometry) - 1:
            e //= 2
    return out


class ImageCNN(nn.Module):
    """A genuine image CNN over the (T x E) embedding matrix, C_in = 1 (2 in multichannel mode) channels.

    Blocks of conv -> [BatchNorm] -> activation, with 2x2 pooling (max or avg) between blocks, as in
    VGG-style image CNNs (Zhang & Wallace 2015, arXiv:1510.03820, discuss why Kim's (w x E) kernels are
    the natural choice for text; this model is the comparison). Block 1's kernel is
    (kernel_size x patch) with stride (stride, patch): it reads non-overlapping groups of `patch`
    embedding dimensions, which keeps the large first layer cheap; later blocks use square kernels.
    At the end a masked max over time keeps, for every channel, each position along the (reduced)
    embedding axis: features (B, C_last * E_last), then dropout and the classifier.

    Masking: rows at or beyond a sentence's (reduced) length are zeroed after every block, so they
    act exactly like the convolution's own zero padding, pooling windows are padded to full size
    and masked (max: -inf, avg: divided by the valid count), and the final max runs over valid rows.
    A sentence therefore gets the same logits alone and inside a padded batch. An empty sentence is
    one row of pad vectors (its features come from biases), never NaN.
    """

    def __init__(
        self,
        *,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 300,
        channels: Sequence[int] = (32, 64, 128),
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        patch: int = 4,
        pool2d: str = "max",
        activation: str = "relu",
        batch_norm: bool = False,
        dropout: float = 0.5,
        embedding_dropout: float = 0.0,
        embedding_mode: str = "rand",
        vectors: torch.Tensor | None = None,
        sparse: bool = False,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        _check_choice("model.activation", activation, tuple(ACTIVATIONS))
        _check_choice("model.pool2d", pool2d, ("max", "avg"))
        self.embedding, self.embedding_static = make_embeddings(
            vocab_size, embedding_dim, embedding_mode, vectors=vectors, sparse=sparse, pad_id=pad_id
        )
        self.in_channels = 2 if self.embedding_static is not None else 1
        self.activation, self.pool2d, self.pad_id = activation, pool2d, pad_id
        self.geometry = image2d_geometry(
            blocks=len(channels),
            kernel_size=kernel_size,
            stride=stride,
            padding=padding,
            patch=min(patch, embedding_dim),
        )
        chans = [self.in_channels, *channels]
        self.convs = nn.ModuleList(
            nn.Conv2d(chans[i], chans[i + 1], kernel, stride=st, padding=pd, bias=not batch_norm)
            for i, (kernel, st, pd) in enumerate(self.geometry)
        )
        self.norms = nn.ModuleList(nn.BatchNorm2d(c) if batch_norm else nn.Identity() for c in channels)
        for conv in self.convs:  # He init keeps the signal alive through the stack (PyTorch's default fades)
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)
        self.min_length = _image2d_min_length(self.geometry)
        e_last = min(_image2d_columns(self.geometry, embedding_dim))
        if e_last < 1:
            raise ConfigError(
                f"image2d: model.embedding_dim={embedding_dim} is too small for {len(channels)} blocks of this geometry"
            )
        self.dropout = nn.Dropout(dropout)
        self.embedding_dropout = nn.Dropout(embedding_dropout)  # on the input words, training only
        self.fc = nn.Linear(channels[-1] * e_last, num_classes)

    def _pool(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Masked 2x2 pooling (B, C, T, E) -> (B, C, ceil(T/2), E//2); rows = valid rows of x, (B,)."""
        B, C, T, E = x.shape
        if T % 2:
            x = F.pad(x, (0, 0, 0, 1))  # (B, C, T, E) -> (B, C, T+1, E)
        valid = torch.arange(x.shape[2], device=x.device)[None, :] < rows[:, None]  # (B, T')
        if self.pool2d == "max":
            return F.max_pool2d(x.masked_fill(~valid[:, None, :, None], NEG_INF), 2)
        counts = F.avg_pool1d(valid[:, None, :].to(x.dtype), 2, 2)  # (B, 1, T'/2): share of valid rows
        pooled = F.avg_pool2d(x * valid[:, None, :, None], 2)  # (B, C, T'/2, E//2)
        return pooled / counts[:, :, :, None].clamp(min=0.5)  # (B, 1, T'/2, 1) broadcast

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        ids = _pad_to(ids, self.min_length, self.pad_id)
        act = ACTIVATIONS[self.activation]
        x = _embed_image(self.embedding, self.embedding_static, ids)  # (B, C_in, T, E)
        x = self.embedding_dropout(x)
        rows = _image2d_rows(self.geometry, lengths)  # valid rows after each conv / pooling, each (B,)
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            x = act(norm(conv(x)))  # (B, C_i, T_i, E_i)
            n = rows[2 * i]
            valid = torch.arange(x.shape[2], device=x.device)[None, :] < n[:, None]  # (B, T_i)
            if i < len(self.convs) - 1:
                x = self._pool(x, n)  # (B, C_i, ceil(T_i/2), E_i//2)
                pooled_valid = torch.arange(x.shape[2], device=x.device)[None, :] < rows[2 * i + 1][:, None]  # (B, T)
                x = x.masked_fill(~pooled_valid[:, None, :, None], 0.0)  # all-pad windows (-inf after max) -> 0
        feats = x.masked_fill(~valid[:, None, :, None], NEG_INF).amax(2)  # (B, C, T, E') -> (B, C, E')
        return self.fc(self.dropout(feats.flatten(1))).float()  # (B, C, E') -> (B, C*E')


# ---------------------------------------------------------------------------------------------
# lstm: the recurrent baseline


class LSTMClassifier(nn.Module):
    """A (bi)LSTM sentence classifier (the usual baseline Kim 2014 compares against).

    Embeddings -> LSTM over packed sequences (pack_padded_sequence, enforce_sorted=False), so padding is
    never processed -> pooling of the outputs: `last` (final hidden state of each direction), `max` or
    `mean` over the valid time steps -> dropout -> fc. Dropout is also applied between stacked layers.
    Multichannel mode feeds the two embedding channels side by side (2E inputs). An empty sentence is
    read as one pad token (its length is clamped to 1), never NaN.
    """

    def __init__(
        self,
        *,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 300,
        hidden_size: int = 150,
        num_layers: int = 1,
        bidirectional: bool = True,
        pooling: str = "max",
        dropout: float = 0.5,
        embedding_dropout: float = 0.0,
        embedding_mode: str = "rand",
        vectors: torch.Tensor | None = None,
        sparse: bool = False,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        _check_choice("model.pooling", pooling, LSTM_POOLINGS)
        self.embedding, self.embedding_static = make_embeddings(
            vocab_size, embedding_dim, embedding_mode, vectors=vectors, sparse=sparse, pad_id=pad_id
        )
        self.in_channels = 2 if self.embedding_static is not None else 1
        self.pooling, self.pad_id, self.min_length = pooling, pad_id, 1
        self.num_directions = 2 if bidirectional else 1
        self.lstm = nn.LSTM(
            self.in_channels * embedding_dim,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.embedding_dropout = nn.Dropout(embedding_dropout)  # on the input words, training only
        self.fc = nn.Linear(self.num_directions * hidden_size, num_classes)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        ids = _pad_to(ids, 1, self.pad_id)
        B, T = ids.shape
        lengths = lengths.clamp(min=1, max=T)
        x = _embed_concat(self.embedding, self.embedding_static, ids)  # (B, T, C_in*E)
        x = self.embedding_dropout(x)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, (h, _) = self.lstm(packed)
        if self.pooling == "last":
            h = h.view(self.lstm.num_layers, self.num_directions, B, -1)[-1]  # (L*D, B, H) -> (D, B, H)
            feats = h.transpose(0, 1).reshape(B, -1)  # (D, B, H) -> (B, D*H)
        elif self.pooling == "max":
            y, _ = pad_packed_sequence(out, batch_first=True, padding_value=NEG_INF, total_length=T)  # (B, T, D*H)
            feats = y.amax(1)  # (B, D*H)
        else:
            y, _ = pad_packed_sequence(out, batch_first=True, padding_value=0.0, total_length=T)  # (B, T, D*H)
            feats = y.sum(1) / lengths[:, None].to(y.dtype)  # (B, D*H)
        return self.fc(self.dropout(feats)).float()


# ---------------------------------------------------------------------------------------------
# build, count, FLOPs


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(allowed)}")


def build_model(
    cfg: ModelConfig,
    vocab_size: int,
    num_classes: int,
    *,
    vectors: torch.Tensor | None = None,
    sparse: bool = False,
    pad_id: int = 0,
) -> nn.Module:
    """The model `cfg.name` names, sized for the vocabulary and label set; `vectors` [V, E] initialise it."""
    common = dict(
        vocab_size=vocab_size,
        num_classes=num_classes,
        embedding_dim=cfg.embedding_dim,
        dropout=cfg.dropout,
        embedding_dropout=cfg.embedding_dropout,
        embedding_mode=cfg.embedding_mode,
        vectors=vectors,
        sparse=sparse,
        pad_id=pad_id,
    )
    if cfg.name in ("cnn", "cnn2d"):
        cls = KimCNN if cfg.name == "cnn" else KimCNN2d
        return cls(
            **common,
            widths=cfg.widths,
            feature_maps=cfg.feature_maps,
            activation=cfg.activation,
            pooling=cfg.pooling,
            k=cfg.k,
        )
    if cfg.name == "image2d":
        return ImageCNN(
            **common,
            channels=cfg.channels,
            kernel_size=cfg.kernel_size,
            stride=cfg.stride,
            padding=cfg.padding,
            patch=cfg.patch,
            pool2d=cfg.pool2d,
            activation=cfg.activation,
            batch_norm=cfg.batch_norm,
        )
    if cfg.name == "lstm":
        return LSTMClassifier(
            **common,
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_layers,
            bidirectional=cfg.bidirectional,
            pooling=cfg.pooling,
        )
    raise ConfigError(f"model.name={cfg.name!r} is not one of cnn, cnn2d, image2d, lstm")


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (all of them, frozen embeddings included, unless trainable_only)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def flops_per_example(cfg: ModelConfig, seq_len: int, vocab_size: int, num_classes: int) -> int:
    """Analytic forward FLOPs for one example of `seq_len` tokens (a multiply-add is 2 FLOPs).

    Counts convolutions / matrix products on valid positions and the classifier; embedding lookups,
    activations, pooling, normalisation and the LSTM's elementwise gate maths are not counted.
    cnn / cnn2d: 2 * C_in*E * F * w per valid window (max(L - w + 1, 1) of them) per width; pass the
    padded length to count what a padded batch computes. image2d: 2 * C_in * kh * kw * C_out per output
    position of each conv over the valid rows. lstm: 4 gates * 2 * (in + hidden) * hidden per step and
    direction and layer, max(L, 1) steps. `vocab_size` does not change the count (lookups are free)."""
    del vocab_size  # embedding lookups cost no FLOPs
    c_in = 2 if cfg.embedding_mode == "multichannel" else 1
    E, L = cfg.embedding_dim, seq_len
    if cfg.name in ("cnn", "cnn2d"):
        conv = sum(2 * c_in * E * cfg.feature_maps * w * max(L - w + 1, 1) for w in cfg.widths)
        n_features = len(cfg.widths) * cfg.feature_maps * (cfg.k if cfg.pooling == "kmax" else 1)
        return conv + 2 * n_features * num_classes
    if cfg.name == "image2d":
        geometry = image2d_geometry(
            blocks=len(cfg.channels), kernel_size=cfg.kernel_size, stride=cfg.stride, padding=cfg.padding,
            patch=min(cfg.patch, E),
        )  # fmt: skip
        rows = [int(r) for r in _image2d_rows(geometry, torch.tensor(max(L, 0)))[::2]]  # valid rows after each conv
        cols = _image2d_columns(geometry, E)
        chans = [c_in, *cfg.channels]
        total = sum(
            2 * chans[i] * kh * kw * chans[i + 1] * rows[i] * cols[i] for i, ((kh, kw), _, _) in enumerate(geometry)
        )
        return total + 2 * cfg.channels[-1] * cols[-1] * num_classes
    if cfg.name == "lstm":
        d = 2 if cfg.bidirectional else 1
        steps, H, total, inp = max(L, 1), cfg.hidden_size, 0, c_in * E
        for _ in range(cfg.num_layers):
            total += d * steps * 4 * 2 * (inp + H) * H
            inp = d * H
        return total + 2 * d * H * num_classes
    raise ConfigError(f"model.name={cfg.name!r} is not one of cnn, cnn2d, image2d, lstm")
