"""`lstm`: the recurrent baseline Kim (2014) compares against, over packed sequences.

Not here: the shared embedding / pooling pieces (layers.py), the table of models (registry.py).
"""

from __future__ import annotations

import logging

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from textcnn.models.layers import LSTM_POOLINGS, NEG_INF, Dropout, check_choice, embed_concat, make_embeddings, pad_to

log = logging.getLogger(__name__)


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
        check_choice("model.pooling", pooling, LSTM_POOLINGS)
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
        self.dropout = Dropout(dropout)
        self.embedding_dropout = Dropout(embedding_dropout)  # on the input words, training only
        self.fc = nn.Linear(self.num_directions * hidden_size, num_classes)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        ids = pad_to(ids, 1, self.pad_id)
        B, T = ids.shape
        lengths = lengths.clamp(min=1, max=T)
        x = embed_concat(self.embedding, self.embedding_static, ids)  # (B, T, C_in*E)
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


def lstm_flops(cfg, seq_len: int, num_classes: int) -> int:
    """lstm forward FLOPs: 4 gates * 2 * (in + hidden) * hidden per step, direction and layer, max(L, 1)
    steps, plus the classifier; the elementwise gate maths is not counted."""
    c_in = 2 if cfg.embedding_mode == "multichannel" else 1
    d = 2 if cfg.bidirectional else 1
    steps, H, total, inp = max(seq_len, 1), cfg.hidden_size, 0, c_in * cfg.embedding_dim
    for _ in range(cfg.num_layers):
        total += d * steps * 4 * 2 * (inp + H) * H
        inp = d * H
    return total + 2 * d * H * num_classes
