"""Early stopping on validation accuracy, loss or macro-F1, and the best weights it keeps.

An object with its own `state_dict()` / `load_state_dict()` (as Lightning's callback), so a checkpoint
restores it exactly: the best score so far (the accuracy; minus the loss with `by="loss"`; the macro-F1
with `by="macro_f1"`; with
`by="last"` the evaluation's number, so the latest is always kept), the accuracy and epoch of that
evaluation, how many evaluations since, and a CPU copy of the weights at that point. `patience`
evaluations without a strictly better score stop training (0: never).

Not here: when evaluations happen (trainer.py), writing the weights to disk (the trainer, via run.py).
"""

from __future__ import annotations

import torch


class EarlyStopping:
    def __init__(self, patience: int, by: str = "accuracy"):
        self.patience = patience
        self.by = by
        self.best_score = -float("inf")
        self.best_accuracy = -1.0  # the accuracy of the kept evaluation
        self.best_epoch = 0
        self.bad_evals = 0
        self.evals = 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    def update(
        self, accuracy: float, loss: float, epoch: int, weights: dict[str, torch.Tensor], *, macro_f1: float
    ) -> bool:
        """Record one evaluation (`weights`: the model's state dict now); True when it is a new best."""
        score = {"accuracy": accuracy, "loss": -loss, "macro_f1": macro_f1, "last": float(self.evals)}[self.by]
        self.evals += 1
        if score > self.best_score:
            self.best_score, self.best_accuracy, self.best_epoch, self.bad_evals = score, accuracy, epoch, 0
            self.best_weights = {k: v.detach().clone().cpu() for k, v in weights.items()}
            return True
        self.bad_evals += 1
        return False

    @property
    def should_stop(self) -> bool:
        return bool(self.patience) and self.bad_evals >= self.patience

    def state_dict(self) -> dict:
        """Scalars under their names; the best weights (tensors, or None) under `best_weights`."""
        return {
            "best_score": self.best_score,
            "best_accuracy": self.best_accuracy,
            "best_epoch": self.best_epoch,
            "bad_evals": self.bad_evals,
            "evals": self.evals,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: dict) -> None:
        self.best_accuracy = float(state["best_accuracy"])
        self.best_score = float(state.get("best_score", self.best_accuracy))  # older checkpoints: by accuracy
        self.best_epoch = int(state["best_epoch"])
        self.bad_evals = int(state["bad_evals"])
        self.evals = int(state.get("evals", 0))
        self.best_weights = state.get("best_weights")
