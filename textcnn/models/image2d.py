"""`image2d`: a genuine image CNN over the (T x E) embedding matrix, for comparison with Kim's CNN.

Not here: the shared embedding / pooling pieces (layers.py), the table of models (registry.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from textcnn.errors import ConfigError
from textcnn.models.layers import ACTIVATIONS, NEG_INF, Dropout, check_choice, embed_image, make_embeddings, pad_to

log = logging.getLogger(__name__)


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
        check_choice("model.activation", activation, tuple(ACTIVATIONS))
        check_choice("model.pool2d", pool2d, ("max", "avg"))
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
        self.dropout = Dropout(dropout)
        self.embedding_dropout = Dropout(embedding_dropout)  # on the input words, training only
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
        ids = pad_to(ids, self.min_length, self.pad_id)
        act = ACTIVATIONS[self.activation]
        x = embed_image(self.embedding, self.embedding_static, ids)  # (B, C_in, T, E)
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


def image2d_flops(cfg, seq_len: int, num_classes: int) -> int:
    """image2d forward FLOPs: 2 * C_in * kh * kw * C_out per output position of each conv over the
    valid rows, plus the classifier."""
    c_in = 2 if cfg.embedding_mode == "multichannel" else 1
    E, L = cfg.embedding_dim, seq_len
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
