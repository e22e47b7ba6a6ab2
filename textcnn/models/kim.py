"""`cnn` and `cnn2d`: Kim (2014, arXiv:1408.5882) CNN for sentence classification.

`cnn` computes every filter width as one fused matrix product followed by shifted adds; `cnn2d` is
the same network in Kim's own formulation (the sentence as an image, (w x E) Conv2d kernels), kept
for comparison and checked against `cnn` with copied weights. `KimCNN.folded()` turns a trained
`cnn` into a lookup table for prediction (the embedding multiplied into the filters once).

Not here: the shared embedding / pooling pieces (layers.py), the table of models (registry.py).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from textcnn.errors import ConfigError
from textcnn.models.layers import (
    ACTIVATIONS,
    CNN_POOLINGS,
    MONOTONE,
    NEG_INF,
    Dropout,
    check_choice,
    embed_concat,
    embed_image,
    make_embeddings,
    max_pool_with_positions,
    pad_edges,
    pad_to,
    pool_over_time,
    window_mask,
)

log = logging.getLogger(__name__)


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


SPARSE_BACKWARD_DEVICES = ("cpu", "cuda")
"""Devices on which `_ConvMaxPool`'s backward runs as embedding_bag sums; elsewhere as dense GEMMs."""


def _dense_conv_max_backward(ctx, x, weight, pos, dpooled, col_feat, col_tap):
    """`_ConvMaxPool`'s backward as two dense GEMMs over a scattered dY (for devices without embedding_bag)."""
    B, T, D = x.shape
    dy = torch.zeros(B, T, col_feat.numel(), device=x.device)  # (B, T, N), fp32
    dy.scatter_(1, (pos[:, col_feat] + col_tap)[:, None, :], dpooled.float()[:, col_feat][:, None, :])
    dx = (dy @ weight.float().t()).to(x.dtype) if ctx.needs_input_grad[0] else None  # (B, T, D)
    dw = (x.reshape(B * T, D).float().t() @ dy.reshape(B * T, -1)).to(weight.dtype) if ctx.needs_input_grad[1] else None
    return dx, dw


class _ConvMaxPool(torch.autograd.Function):
    """The fused convolution GEMM, window sums, masked max over time and its argmax in one op.

    Forward: Y = x @ W (B, T, sum(w)*F), the window sums of `_shift_sum_forward`, masked max. Returns
    (pooled pre-bias values (B, nW*F), winning window starts (B, nW*F)).

    Backward: max pooling passes a feature's gradient to its winning window only, so of dY's
    B*T*sum(w)*F entries just B*sum(w)*F are non-zero (one time step per GEMM column per sentence;
    1/T of them). The two dense backward GEMMs (dW = x^T dY, dx = dY W^T, 2/3 of a dense conv's FLOPs)
    become weighted row sums over exactly those entries, `embedding_bag(mode="sum")` with per-sample
    weights: dW's column n sums the rows of x its gradient lands on, dx's row (b, t) sums the columns
    of W whose gradient lands on it (entries sorted by row). Same gradients up to summation order, in
    fp32 whatever the forward's precision."""

    @staticmethod
    def forward(ctx, x, weight, valid, widths, nf, col_feat, col_tap):
        B, T, _ = x.shape
        c = _shift_sum_forward(x @ weight, widths, nf)  # (B, T, C_in*E) @ (C_in*E, sum(w)*F) -> (B, T, nW*F)
        c.view(B, T, len(widths), nf).masked_fill_(~valid[..., None], NEG_INF)  # (B, T, nW, F) view
        pooled, pos = c.max(dim=1)  # (B, nW*F) each; ties -> the first window
        ctx.save_for_backward(x, weight, pos, col_feat, col_tap)
        ctx.mark_non_differentiable(pos)
        return pooled, pos

    @staticmethod
    def backward(ctx, dpooled, _dpos):
        x, weight, pos, col_feat, col_tap = ctx.saved_tensors
        B, T, D = x.shape
        if x.device.type not in SPARSE_BACKWARD_DEVICES:  # e.g. MPS, where embedding_bag may be missing
            return (*_dense_conv_max_backward(ctx, x, weight, pos, dpooled, col_feat, col_tap), *[None] * 5)
        with torch.autocast(x.device.type, enabled=False):
            g = dpooled.float().t()[col_feat]  # (N, B): each GEMM column's gradient, per sentence
            start = torch.arange(0, B * T, T, device=x.device)  # (B,): sentence b's first row of x
            rows = pos.t()[col_feat] + col_tap[:, None] + start  # (N, B): the row of x (B*T, D) it lands on
            dx = dw = None
            if ctx.needs_input_grad[1]:  # dW[:, n] = sum_b g[n, b] * x[rows[n, b]]
                dw = F.embedding_bag(rows, x.reshape(B * T, D).float(), mode="sum", per_sample_weights=g)
                dw = dw.t().to(weight.dtype)  # (N, D) -> (D, N), the layout KimCNN stores W in
            if ctx.needs_input_grad[0]:  # dx[r] = sum over entries (n, b) landing on row r of g[n, b] * W[:, n]
                flat = rows.reshape(-1)  # (N*B,), entry n*B + b
                key = flat.to(torch.int16 if B * T < 2**15 else torch.int32)  # narrow keys sort 2-3x faster
                order = torch.argsort(key, stable=True)  # entries grouped by row
                counts = torch.bincount(flat, minlength=B * T)
                offsets = counts.cumsum(0) - counts  # (B*T,): where each row's entries start; empty rows sum to 0
                wt = weight.t().float().contiguous()  # (N, D): no copy for KimCNN's transposed storage
                dx = F.embedding_bag(order // B, wt, offsets, mode="sum", per_sample_weights=g.reshape(-1)[order])
                dx = dx.view(B, T, D).to(x.dtype)
        return dx, dw, None, None, None, None, None


# ---------------------------------------------------------------------------------------------
# cnn: Kim's CNN


def _kim_input(m: nn.Module, vocab_size, embedding_dim, widths, feature_maps, activation, pooling, k,
               embedding_mode, vectors, sparse, pad_id, edge_padding) -> None:  # fmt: skip
    """What `cnn` and `cnn2d` share before their convolutions: checks, embeddings, widths, min_length.

    Called first in both constructors (then the convolutions, then `_kim_head`), so parameters are
    created, and drawn from the seeded RNG, in the same order in both."""
    check_choice("model.activation", activation, tuple(ACTIVATIONS))
    check_choice("model.pooling", pooling, CNN_POOLINGS)
    m.embedding, m.embedding_static = make_embeddings(
        vocab_size, embedding_dim, embedding_mode, vectors=vectors, sparse=sparse, pad_id=pad_id
    )
    m.in_channels = 2 if m.embedding_static is not None else 1
    m.widths = tuple(int(w) for w in widths)
    m.feature_maps = feature_maps
    m.activation, m.pooling, m.k, m.pad_id = activation, pooling, k, pad_id
    m.min_length = max(m.widths) + (k - 1 if pooling == "kmax" else 0)
    m.edge = max(m.widths) - 1 if edge_padding else 0  # pad tokens added before and after each sentence


def _kim_head(m: nn.Module, num_classes: int, dropout: float, embedding_dropout: float) -> None:
    """What `cnn` and `cnn2d` share after their convolutions: dropouts and the classifier `fc`."""
    m.dropout = Dropout(dropout)
    m.embedding_dropout = Dropout(embedding_dropout)  # on the input words, training only
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
    Max pooling with a non-decreasing activation fuses GEMM, sums, mask and max (`_ConvMaxPool`) and adds
    the bias and activation after the max (the same value); its backward reads only the winning windows,
    so of the three GEMMs only the forward one is dense.

    Masking: for length L only window starts 0..max(L - w, 0) compete in the pooling, so padding never
    wins; a sentence shorter than w, and an empty one, gets one window over zero pad vectors (its
    feature is f(bias + the real tokens' part)), never NaN. With `edge_padding` (Kim's code; the
    default for small training sets) the sentence first gets max(w) - 1 pad tokens at each end, which
    count as part of it, so windows over its first and last words compete as well (`layers.pad_edges`).

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
        edge_padding: bool = False,
    ) -> None:
        super().__init__()
        _kim_input(self, vocab_size, embedding_dim, widths, feature_maps, activation, pooling, k,
                   embedding_mode, vectors, sparse, pad_id, edge_padding)  # fmt: skip
        in_dim = self.in_channels * embedding_dim
        # (C_in*E, sum(w)*F), stored transposed (its .t() is contiguous): `_ConvMaxPool`'s backward reads
        # W's columns as rows and writes dW row by row, so neither needs a transposed copy.
        self.conv_weight = nn.Parameter(torch.empty(sum(self.widths) * feature_maps, in_dim).t())
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
        weight = torch.empty(self.conv_weight.shape)  # drawn row-major whatever the parameter's layout
        with torch.no_grad():
            for i, w in enumerate(self.widths):
                bound = 1.0 / math.sqrt(in_dim * w)
                weight[:, off : off + w * nf].uniform_(-bound, bound)
                self.conv_bias[i * nf : (i + 1) * nf].uniform_(-bound, bound)
                off += w * nf
            self.conv_weight.copy_(weight)

    def conv1d_weights(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(weight (F, C_in*E, w), bias (F,)) per width, as nn.Conv1d would hold them (views)."""
        out, off, nf = [], 0, self.feature_maps
        for i, w in enumerate(self.widths):
            blk = self.conv_weight[:, off : off + w * nf].view(-1, w, nf)  # (C_in*E, w*F) -> (C_in*E, w, F)
            out.append((blk.permute(2, 0, 1), self.conv_bias[i * nf : (i + 1) * nf]))  # -> (F, C_in*E, w)
            off += w * nf
        return out

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> the convolution's input (B, T, C_in*E), input dropout applied."""
        return self.embedding_dropout(embed_concat(self.embedding, self.embedding_static, ids))

    def _gemm(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> Y (B, T, sum(w)*F), every width's every tap in one matrix product."""
        return self._embed(ids) @ self.conv_weight  # (B, T, C_in*E) @ (C_in*E, sum(w)*F) -> (B, T, sum(w)*F)

    def _conv_max(self, ids: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Max pooling over the fused convolution: (pre-bias maxima (B, nW*F), window starts (B, nW*F))."""
        args = (self.widths, self.feature_maps, self._col_feat, self._col_tap)
        return _ConvMaxPool.apply(self._embed(ids), self.conv_weight, valid, *args)

    def prepare_compile(self) -> None:
        """Before `torch.compile` (`train.compile`): the fused op stays eager. Its backward's shapes depend
        on the data (the bincount that groups entries), and its window sums loop over the batch's length,
        so dynamo recompiled whenever a batch's length crossed a guard: traced, a step took 11x as long;
        eager, about what an uncompiled one does (docs/results/speed/README.md)."""
        self._conv_max = torch.compiler.disable(self._conv_max)

    def feature_maps_pre_bias(self, ids: torch.Tensor) -> torch.Tensor:
        """Convolution outputs without bias, (B, T, nW*F); windows past T - w are partial (never valid)."""
        return _ShiftSum.apply(self._gemm(ids), self.widths, self.feature_maps)

    def features(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Pooled features before dropout: (B, nW*F), or (B, nW*F*k) for kmax."""
        ids, lengths = pad_edges(ids, lengths, self.edge, self.pad_id)
        ids = pad_to(ids, self.min_length, self.pad_id)
        valid = window_mask(lengths, ids.shape[1], self._widths_t)  # (B, T, nW)
        if self.pooling == "max" and self.activation in MONOTONE:
            pooled, _ = self._conv_max(ids, valid)
            return ACTIVATIONS[self.activation](pooled + self.conv_bias)
        c = self.feature_maps_pre_bias(ids)
        return pool_over_time(c, self.conv_bias, valid, activation=self.activation, pooling=self.pooling, k=self.k)

    def folded(self) -> FoldedKimCNN:
        """This model for inference with the embedding multiplied into the filters once (same logits)."""
        return FoldedKimCNN(self)

    def folded_table_bytes(self) -> int:
        """Size of the folded table `folded()` builds: vocabulary x sum(widths) x feature_maps floats."""
        return self.embedding.num_embeddings * self.conv_weight.shape[1] * 4

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(ids, lengths))).float()

    def pooled_features(
        self, ids: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For max pooling: (features (B, nW*F), winning window starts (B, nW*F), widths (nW*F,)).

        In eval mode `model.fc(features)` equals the logits. A feature's n-gram is tokens
        [start, start + width) clipped to the sentence; with edge padding a start can be negative (a
        window hanging over the sentence's beginning)."""
        if self.pooling != "max":
            raise ConfigError(f"pooled_features needs model.pooling='max', not {self.pooling!r}")
        ids, lengths = pad_edges(ids, lengths, self.edge, self.pad_id)
        ids = pad_to(ids, self.min_length, self.pad_id)
        valid = window_mask(lengths, ids.shape[1], self._widths_t)  # (B, T, nW)
        widths = self._widths_t.repeat_interleave(self.feature_maps)  # (nW*F,)
        if self.activation in MONOTONE:
            pooled, pos = self._conv_max(ids, valid)
            return ACTIVATIONS[self.activation](pooled + self.conv_bias), pos - self.edge, widths
        c = self.feature_maps_pre_bias(ids)
        values, pos = max_pool_with_positions(c, self.conv_bias, valid, activation=self.activation)
        return values, pos - self.edge, widths


# ---------------------------------------------------------------------------------------------
# The folded CNN: embeddings x convolution weights as one lookup table


class FoldedKimCNN:
    """Exact inference for `cnn` (KimCNN) with the embedding table folded into the convolution.

    The model computes Y = emb[ids] @ W, (B, T, C_in*E) @ (C_in*E, sum(w)*F), and sums shifted blocks
    of Y into window responses. Since emb[ids] @ W == (emb @ W)[ids], one product P = emb @ W over the
    vocabulary, (V, sum(w)*F), replaces a matrix product per token with a row lookup; the window sum
    over a width's w taps is one `embedding_bag(mode="sum")` over a (w*V, F) table. Pooling, bias,
    activation and classifier are the model's own (`pool_over_time`, `fc`), so the logits equal the
    model's up to float rounding. Worth it when a job has more tokens than the vocabulary has rows.
    """

    def __init__(self, model) -> None:
        self.model = model
        with torch.inference_mode():
            emb = model.embedding.weight
            if model.embedding_static is not None:
                emb = torch.cat([emb, model.embedding_static.weight], dim=1)  # (V, E) x 2 -> (V, 2E)
            folded = emb.float() @ model.conv_weight.float()  # (V, C_in*E) @ (C_in*E, sum(w)*F) -> (V, sum(w)*F)
            self.vocab = folded.shape[0]
            nf, off, self.tables = model.feature_maps, 0, []
            for w in model.widths:
                block = folded[:, off : off + w * nf].reshape(self.vocab, w, nf)  # (V, w*F) -> (V, w, F)
                self.tables.append(block.transpose(0, 1).reshape(w * self.vocab, nf).contiguous())  # -> (w*V, F)
                off += w * nf
        self.widths_t = torch.tensor(model.widths, device=folded.device)

    def __call__(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        m = self.model
        ids, lengths = pad_edges(ids, lengths, m.edge, m.pad_id)
        B, T = ids.shape
        nf, maps = m.feature_maps, []
        for w, table in zip(m.widths, self.tables, strict=True):
            padded = F.pad(ids, (0, w - 1), value=m.pad_id)  # (B, T) -> (B, T + w - 1)
            taps = padded.unfold(1, w, 1) + torch.arange(w, device=ids.device) * self.vocab  # (B, T, w)
            c = F.embedding_bag(taps.reshape(B * T, w), table, mode="sum")  # (B*T, w) -> (B*T, F)
            maps.append(c.view(B, T, nf))  # (B*T, F) -> (B, T, F)
        c = torch.cat(maps, dim=2)  # (B, T, nW*F)
        valid = window_mask(lengths, T, self.widths_t)  # (B, T, nW)
        features = pool_over_time(c, m.conv_bias, valid, activation=m.activation, pooling=m.pooling, k=m.k)
        return m.fc(features).float()


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
        edge_padding: bool = False,
    ) -> None:
        super().__init__()
        _kim_input(self, vocab_size, embedding_dim, widths, feature_maps, activation, pooling, k,
                   embedding_mode, vectors, sparse, pad_id, edge_padding)  # fmt: skip
        self.convs = nn.ModuleList(nn.Conv2d(self.in_channels, feature_maps, (w, embedding_dim)) for w in self.widths)
        self.register_buffer("_widths_t", torch.tensor(self.widths), persistent=False)
        _kim_head(self, num_classes, dropout, embedding_dropout)

    def feature_maps_pre_bias(self, ids: torch.Tensor) -> torch.Tensor:
        """Convolution outputs without bias, (B, T, nW*F); the w - 1 missing end windows are zeros."""
        x = embed_image(self.embedding, self.embedding_static, ids)  # (B, C_in, T, E)
        x = self.embedding_dropout(x)
        maps = []
        for w, conv in zip(self.widths, self.convs, strict=True):
            c = F.conv2d(x, conv.weight)  # (B, F, T-w+1, 1)
            c = c[:, :, :, 0].transpose(1, 2)  # (B, F, T-w+1, 1) -> (B, T-w+1, F)
            maps.append(F.pad(c, (0, 0, 0, w - 1)))  # (B, T-w+1, F) -> (B, T, F)
        return torch.cat(maps, dim=2)  # (B, T, nW*F)

    def features(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        ids, lengths = pad_edges(ids, lengths, self.edge, self.pad_id)
        ids = pad_to(ids, self.min_length, self.pad_id)
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
        ids, lengths = pad_edges(ids, lengths, self.edge, self.pad_id)
        ids = pad_to(ids, self.min_length, self.pad_id)
        valid = window_mask(lengths, ids.shape[1], self._widths_t)  # (B, T, nW)
        bias = torch.cat([conv.bias for conv in self.convs])  # (nW*F,)
        c = self.feature_maps_pre_bias(ids)
        values, pos = max_pool_with_positions(c, bias, valid, activation=self.activation)
        return values, pos - self.edge, self._widths_t.repeat_interleave(self.feature_maps)


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


def kim_flops(cfg, seq_len: int, num_classes: int) -> int:
    """cnn / cnn2d forward FLOPs: 2 * C_in*E * F * w per valid window (max(L - w + 1, 1) of them, L
    counting the edge padding) per width, plus the classifier. Pass the padded length to count what a padded batch computes."""
    c_in = 2 if cfg.embedding_mode == "multichannel" else 1
    E, L = cfg.embedding_dim, seq_len + (2 * (max(cfg.widths) - 1) if cfg.edge_padding else 0)  # unset: off
    conv = sum(2 * c_in * E * cfg.feature_maps * w * max(L - w + 1, 1) for w in cfg.widths)
    n_features = len(cfg.widths) * cfg.feature_maps * (cfg.k if cfg.pooling == "kmax" else 1)
    return conv + 2 * n_features * num_classes
