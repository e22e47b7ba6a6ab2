"""Optimizers, including lazy (row-sparse) updates of the embedding.

Kim (2014) trains with Adadelta (rho 0.95, eps 1e-6). A dense Adadelta step touches every row of
the 300-d embedding, which dominates the step on CPU. With sparse embedding gradients
`SparseAdadelta` updates only the rows a batch used and still computes exactly what dense Adadelta
(Zeiler 2012, arXiv:1212.5701) computes. With Adam the sparse path is torch's SparseAdam, whose
lazy moments differ from dense Adam's. Dense parameters use torch's own foreach optimizers, except
Adadelta: `DenseAdadelta` computes the same update in fewer passes over memory.

Not here: what a model is (models.py) or how a step is scheduled (train.py).
"""

from __future__ import annotations

import torch
from torch import nn


class SparseAdadelta(torch.optim.Optimizer):
    """Adadelta for parameters with sparse gradients (nn.Embedding(sparse=True)), exact yet lazy.

    A dense Adadelta step on a row with zero gradient changes nothing but its running averages,
    which both decay by rho. So the decay a row missed since it was last touched is applied in
    closed form (rho ** missed_steps) when it is next touched: the result equals dense Adadelta
    (up to float rounding) while each step costs only the rows in the batch."""

    def __init__(self, params, lr: float = 1.0, rho: float = 0.95, eps: float = 1e-6):
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - torch.optim contract
        for group in self.param_groups:
            lr, rho, eps = group["lr"], group["rho"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float64)
                    # square_avg and acc_delta side by side, so a step gathers and scatters once
                    state["averages"] = torch.zeros((p.shape[0], 2, *p.shape[1:]), dtype=p.dtype, device=p.device)
                    state["last"] = torch.zeros(p.shape[0], dtype=torch.float64, device=p.device)
                state["step"] += 1
                grad = p.grad.coalesce() if p.grad.is_sparse else p.grad.to_sparse(1).coalesce()
                rows = grad.indices()[0]  # (R,) the rows this batch touched, each once
                g = grad.values()  # (R, E)
                # index_select / index_copy_ rather than t[rows]: much faster gathers and scatters on CPU
                # (R,) skipped steps, in float64: rho ** missed must not depend on the dtype `last` has
                missed = state["step"].to(p.device) - 1 - state["last"].index_select(0, rows).double()
                avg = state["averages"].index_select(0, rows)  # (R, 2, E)
                avg.mul_(torch.pow(rho, missed).to(p.dtype).view(-1, 1, 1))
                sq, acc = avg[:, 0], avg[:, 1]  # views into avg, (R, E) each
                sq.mul_(rho).addcmul_(g, g, value=1 - rho)
                delta = acc.add(eps).div_(sq.add(eps)).sqrt_().mul_(g)
                acc.mul_(rho).addcmul_(delta, delta, value=1 - rho)
                state["averages"].index_copy_(0, rows, avg)
                state["last"].index_fill_(0, rows, state["step"].item())
                p.index_copy_(0, rows, p.index_select(0, rows).sub_(delta, alpha=lr))

    def load_state_dict(self, state_dict) -> None:
        """torch casts every floating state tensor to its parameter's dtype on load; `step` and `last`
        (step counts) are float64 here, so put them back: a resumed run then computes exactly what an
        uninterrupted one does (with float32 `last`, rho ** missed was computed in float32 and a run
        resumed from a checkpoint drifted from the uninterrupted one)."""
        super().load_state_dict(state_dict)
        for st in self.state.values():
            for key in ("step", "last"):
                if key in st:
                    st[key] = st[key].to(torch.float64)


class DenseAdadelta(torch.optim.Optimizer):
    """torch.optim.Adadelta's update (and state: `step`, `square_avg`, `acc_delta`, so checkpoints load
    either way) in ten foreach passes: delta = sqrt((acc + eps) / (sq + eps)) * g, the one square root
    `SparseAdadelta` takes, where torch takes two and divides after (equal up to rounding). The step is
    memory-bound on the 360k filter weights; on 2 cores it took 0.80 ms against torch's 1.18 ms, a
    tenth of an SST-2 `cnn` training step (docs/results/speed/README.md)."""

    def __init__(self, params, lr: float = 1.0, rho: float = 0.95, eps: float = 1e-6, weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - torch.optim contract
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            lr, rho, eps, decay = group["lr"], group["rho"], group["eps"], group["weight_decay"]
            grads = [p.grad for p in params]
            if decay:
                grads = torch._foreach_add(grads, params, alpha=decay)
            for p in params:
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["acc_delta"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            states = [self.state[p] for p in params]
            sq, acc = [st["square_avg"] for st in states], [st["acc_delta"] for st in states]
            torch._foreach_add_([st["step"] for st in states], 1)
            torch._foreach_mul_(sq, rho)
            torch._foreach_addcmul_(sq, grads, grads, value=1 - rho)
            delta = torch._foreach_add(acc, eps)
            torch._foreach_div_(delta, torch._foreach_add(sq, eps))
            torch._foreach_sqrt_(delta)
            torch._foreach_mul_(delta, grads)
            torch._foreach_mul_(acc, rho)
            torch._foreach_addcmul_(acc, delta, delta, value=1 - rho)
            torch._foreach_add_(params, delta, alpha=-lr)


class Optimizers:
    """Several torch optimizers behind one step / zero_grad / state_dict (dense + sparse groups)."""

    def __init__(self, optimizers: list[torch.optim.Optimizer]):
        self.optimizers = optimizers

    def step(self) -> None:
        for o in self.optimizers:
            o.step()

    def set_lr(self, lr: float) -> None:
        for o in self.optimizers:
            for group in o.param_groups:
                group["lr"] = lr

    def zero_grad(self) -> None:
        for o in self.optimizers:
            o.zero_grad(set_to_none=True)

    def state_dict(self) -> list[dict]:
        return [o.state_dict() for o in self.optimizers]

    def load_state_dict(self, states: list[dict]) -> None:
        if len(states) != len(self.optimizers):
            raise ValueError(f"checkpoint has {len(states)} optimizer states, expected {len(self.optimizers)}")
        for o, s in zip(self.optimizers, states, strict=True):
            o.load_state_dict(s)


def make_optimizer(
    model: nn.Module,
    name: str,
    *,
    lr: float,
    weight_decay: float = 0.0,
    rho: float = 0.95,
    eps: float = 1e-6,
) -> Optimizers:
    """Dense parameters get `name` from torch.optim; sparse-gradient embeddings its lazy counterpart."""
    sparse, dense = [], []
    for mod in model.modules():
        if isinstance(mod, nn.Embedding) and mod.sparse and mod.weight.requires_grad:
            sparse.append(mod.weight)
    sparse_ids = {id(p) for p in sparse}
    dense = [p for p in model.parameters() if p.requires_grad and id(p) not in sparse_ids]
    opts: list[torch.optim.Optimizer] = []
    fused = {"foreach": True}
    if name == "adadelta":
        if dense:
            opts.append(DenseAdadelta(dense, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay))
        if sparse:
            opts.append(SparseAdadelta(sparse, lr=lr, rho=rho, eps=eps))
    elif name in ("adam", "adamw"):
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        if dense:
            opts.append(cls(dense, lr=lr, eps=eps, weight_decay=weight_decay, **fused))
        if sparse:
            opts.append(torch.optim.SparseAdam(sparse, lr=lr, eps=eps))
    elif name == "sgd":
        if dense:
            opts.append(torch.optim.SGD(dense, lr=lr, weight_decay=weight_decay, **fused))
        if sparse:
            opts.append(torch.optim.SGD(sparse, lr=lr))
    else:
        raise ValueError(f"unknown optimizer {name!r}")
    return Optimizers(opts)


def scheduled_lr(lr: float, schedule: str, step: int, total_steps: int) -> float:
    """The learning rate for optimizer step `step` (0-based) of `total_steps`: `lr` throughout
    (constant), or falling linearly to 0 at the last step (linear). A function of the step alone, so a
    resumed run continues on the same curve."""
    if schedule == "constant":
        return lr
    if schedule == "linear":
        return lr * max(0.0, 1.0 - step / max(1, total_steps))
    raise ValueError(f"unknown learning-rate schedule {schedule!r}")


@torch.no_grad()
def apply_max_norm(weight: torch.Tensor, max_norm: float) -> None:
    """Kim's constraint: rescale each row (one class's weights) to L2 norm <= max_norm, in place."""
    norms = weight.norm(dim=1, keepdim=True)  # (C, 1)
    weight.mul_(torch.clamp(max_norm / (norms + 1e-12), max=1.0))
