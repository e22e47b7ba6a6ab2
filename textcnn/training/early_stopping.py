"""Early stopping on validation accuracy, and the best weights it keeps.

An object with its own `state_dict()` / `load_state_dict()` (as Lightning's callback), so a checkpoint
restores it exactly: the best accuracy so far, the epoch it was reached, how many evaluations since,
and a CPU copy of the weights at that point. `patience` evaluations without a strictly better
accuracy stop training (0: never).

Not here: when evaluations happen (trainer.py), writing the weights to disk (the trainer, via run.py).
"""

from __future__ import annotations

import torch


class EarlyStopping:
    def __init__(self, patience: int):
        self.patience = patience
        self.best_accuracy = -1.0
        self.best_epoch = 0
        self.bad_evals = 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    def update(self, accuracy: float, epoch: int, weights: dict[str, torch.Tensor]) -> bool:
        """Record one evaluation (`weights`: the model's state dict now); True when it is a new best."""
        if accuracy > self.best_accuracy:
            self.best_accuracy, self.best_epoch, self.bad_evals = accuracy, epoch, 0
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
            "best_accuracy": self.best_accuracy,
            "best_epoch": self.best_epoch,
            "bad_evals": self.bad_evals,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: dict) -> None:
        self.best_accuracy = float(state["best_accuracy"])
        self.best_epoch = int(state["best_epoch"])
        self.bad_evals = int(state["bad_evals"])
        self.best_weights = state.get("best_weights")
