"""Lazy Adadelta equals torch's Adadelta on the rows a batch touches; max-norm."""

from __future__ import annotations

import torch
from torch import nn

from textcnn.optim import SparseAdadelta, apply_max_norm, make_optimizer


def test_sparse_adadelta_matches_dense_adadelta_on_touched_rows():
    torch.manual_seed(0)
    dense = nn.Embedding(20, 4)
    sparse = nn.Embedding(20, 4, sparse=True)
    sparse.weight.data.copy_(dense.weight.data)
    od = torch.optim.Adadelta(dense.parameters(), lr=1.0, rho=0.95, eps=1e-6)
    osp = SparseAdadelta(sparse.parameters(), lr=1.0, rho=0.95, eps=1e-6)
    idx = torch.tensor([[1, 2, 2, 5]])  # the same rows every step, one repeated
    for _ in range(5):
        for emb, opt in ((dense, od), (sparse, osp)):
            opt.zero_grad()
            (emb(idx) ** 2).sum().backward()
            opt.step()
    assert torch.allclose(dense.weight, sparse.weight, atol=1e-6)
    untouched = [i for i in range(20) if i not in (1, 2, 5)]
    assert torch.equal(sparse.weight[untouched], dense.weight[untouched])


def test_make_optimizer_splits_sparse_and_dense():
    model = nn.Sequential(nn.Embedding(10, 3, sparse=True), nn.Linear(3, 2))
    opts = make_optimizer(model, "adadelta", lr=1.0)
    kinds = [type(o).__name__ for o in opts.optimizers]
    assert kinds == ["Adadelta", "SparseAdadelta"]
    kinds = [type(o).__name__ for o in make_optimizer(model, "adam", lr=1e-3).optimizers]
    assert kinds == ["Adam", "SparseAdam"]


def test_max_norm_rescales_only_long_rows():
    w = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    apply_max_norm(w, 3.0)
    assert torch.allclose(w.norm(dim=1), torch.tensor([3.0, 0.5]))
