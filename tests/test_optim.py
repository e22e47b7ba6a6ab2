"""Lazy Adadelta equals torch's Adadelta on the rows a batch touches; max-norm."""

from __future__ import annotations

import copy

import torch
from torch import nn

from textcnn.training.optim import DenseAdadelta, SparseAdadelta, apply_max_norm, make_optimizer, scheduled_lr


def test_sparse_adadelta_matches_dense_adadelta_on_touched_rows():
    torch.manual_seed(0)
    dense = nn.Embedding(20, 4)
    sparse = nn.Embedding(20, 4, sparse=True)
    sparse.weight.data.copy_(dense.weight.data)
    od = torch.optim.Adadelta(dense.parameters(), lr=1.0, rho=0.95, eps=1e-6)
    osp = SparseAdadelta(sparse.parameters(), lr=1.0, rho=0.95, eps=1e-6)
    batches = [[1, 2, 2, 5], [3, 4], [1, 7], [2], [5, 5, 9], [1, 2, 3, 4, 5, 6, 7, 8, 9], [7]]
    for idx in batches * 3:  # rows touched at irregular intervals, some repeated within a batch
        for emb, opt in ((dense, od), (sparse, osp)):
            opt.zero_grad()
            (emb(torch.tensor([idx])) ** 2).sum().backward()
            opt.step()
    assert torch.allclose(dense.weight, sparse.weight, atol=1e-6)
    assert torch.allclose(od.state[dense.weight]["square_avg"][:10], _caught_up(osp, sparse.weight)[:10], rtol=1e-4)
    untouched = list(range(10, 20))
    assert torch.equal(sparse.weight[untouched], dense.weight[untouched])


def _caught_up(opt, p):
    """The sparse optimizer's running average with the decay it has not applied yet."""
    st = opt.state[p]
    missed = (st["step"] - st["last"]).unsqueeze(1)
    return st["averages"][:, 0] * (0.95**missed).float()


def test_make_optimizer_splits_sparse_and_dense():
    model = nn.Sequential(nn.Embedding(10, 3, sparse=True), nn.Linear(3, 2))
    opts = make_optimizer(model, "adadelta", lr=1.0)
    kinds = [type(o).__name__ for o in opts.optimizers]
    assert kinds == ["DenseAdadelta", "SparseAdadelta"]
    kinds = [type(o).__name__ for o in make_optimizer(model, "adam", lr=1e-3).optimizers]
    assert kinds == ["Adam", "SparseAdam"]


def _step_both(pairs, grads) -> None:
    """One step of each (parameters, optimizer) pair on the same gradients."""
    for ps, opt in pairs:
        for p, g in zip(ps, grads, strict=True):
            p.grad = g.clone()
        opt.step()


def test_dense_adadelta_matches_torchs_and_loads_its_state():
    torch.manual_seed(0)
    ours = [nn.Parameter(torch.randn(6, 5).t()), nn.Parameter(torch.randn(3))]  # one stored transposed, as KimCNN's W
    theirs = [nn.Parameter(p.detach().clone()) for p in ours]
    o1 = DenseAdadelta(ours, lr=1.0, rho=0.95, eps=1e-6, weight_decay=0.01)
    o2 = torch.optim.Adadelta(theirs, lr=1.0, rho=0.95, eps=1e-6, weight_decay=0.01)
    for step in range(25):
        _step_both(((ours, o1), (theirs, o2)), [torch.randn(p.shape) * (1 + step % 3) for p in ours])
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(o1.state[a]["acc_delta"], o2.state[b]["acc_delta"], rtol=1e-4, atol=1e-9)
        assert o1.state[a]["square_avg"].stride() == a.stride()  # state laid out as its parameter
    # a checkpoint written with torch's Adadelta (runs before this class) resumes with it
    resumed = [nn.Parameter(p.detach().clone()) for p in theirs]
    o3 = DenseAdadelta(resumed, lr=1.0, rho=0.95, eps=1e-6, weight_decay=0.01)
    o3.load_state_dict(copy.deepcopy(o2.state_dict()))  # as from a file: no state shared with o2
    _step_both(((resumed, o3), (theirs, o2)), [torch.randn(p.shape) for p in ours])
    for a, b in zip(resumed, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert float(o3.state[resumed[0]]["step"]) == 26


def test_max_norm_rescales_only_long_rows():
    w = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    apply_max_norm(w, 3.0)
    assert torch.allclose(w.norm(dim=1), torch.tensor([3.0, 0.5]))


def test_a_linear_schedule_falls_to_zero_by_step_and_set_lr_reaches_every_group():
    assert [scheduled_lr(0.5, "constant", s, 4) for s in range(4)] == [0.5] * 4
    assert [scheduled_lr(0.5, "linear", s, 4) for s in range(5)] == [0.5, 0.375, 0.25, 0.125, 0.0]
    model = nn.Sequential(nn.Embedding(10, 3, sparse=True), nn.Linear(3, 2))
    opt = make_optimizer(model, "adam", lr=0.01)
    opt.set_lr(0.002)
    assert [g["lr"] for o in opt.optimizers for g in o.param_groups] == [0.002, 0.002]
