"""Classification metrics: accuracy, per-class precision / recall / F1, macro-F1, confusion matrix.

Pure functions of two sequences of label ids (lists, numpy arrays or torch tensors). The
conventions are scikit-learn's, so numbers can be compared with papers and other tools:
a precision, recall or F1 whose denominator is zero (no predictions, no true examples) is 0.0,
and macro-F1 is the unweighted mean over *all* labels, including labels with no support.
This module computes; it does not render tables or plots (the CLI and report.py do).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from textcnn.errors import MetricsError


@dataclass
class ClassificationReport:
    accuracy: float
    """Share of examples predicted correctly (0.0 for no examples)."""
    macro_f1: float
    """Unweighted mean of the per-class F1 over all labels."""
    labels: list[str]
    """Label names; label id i is labels[i]."""
    per_class: dict[str, dict[str, float | int]]
    """label -> {precision, recall, f1, support}; support is the number of true examples."""
    confusion_matrix: list[list[int]]
    """confusion_matrix[true][predicted] = count."""
    n: int
    """Number of examples."""
    split: str | None = None
    """Which split was scored (set by `evaluate_run`)."""
    source: str | None = None
    """Where its data came from: a local path or a hub id (set by `evaluate_run`)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (fractions in [0, 1], counts as ints)."""
        where = {k: v for k, v in (("split", self.split), ("source", self.source)) if v is not None}
        return {
            **where,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "labels": list(self.labels),
            "per_class": {k: dict(v) for k, v in self.per_class.items()},
            "confusion_matrix": [list(row) for row in self.confusion_matrix],
            "n": self.n,
        }


def _ids(y: Any, name: str) -> np.ndarray:
    """A 1-D int64 array from a list, numpy array or torch tensor (torch is not imported here)."""
    if hasattr(y, "detach"):  # torch.Tensor
        y = y.detach().cpu().numpy()
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise MetricsError(f"{name} must be one label id per example, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise MetricsError(f"{name} must hold integer label ids, got {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = _ids(y_true, "y_true"), _ids(y_pred, "y_pred")
    if len(t) != len(p):
        raise MetricsError(f"y_true has {len(t)} examples but y_pred has {len(p)}")
    return t, p


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Share of positions where y_pred equals y_true (0.0 when there are none)."""
    t, p = _pair(y_true, y_pred)
    return float((t == p).mean()) if len(t) else 0.0


def confusion_matrix(y_true: Any, y_pred: Any, num_labels: int) -> np.ndarray:
    """[num_labels, num_labels] int64 counts; rows are true labels, columns predicted labels."""
    t, p = _pair(y_true, y_pred)
    for name, arr in (("y_true", t), ("y_pred", p)):
        bad = arr[(arr < 0) | (arr >= num_labels)]
        if bad.size:
            raise MetricsError(f"{name} holds label id {int(bad[0])}, outside 0..{num_labels - 1}")
    counts = np.bincount(t * num_labels + p, minlength=num_labels * num_labels)
    return counts.reshape(num_labels, num_labels)  # (C * C,) -> (C, C)


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den element-wise, 0.0 where den is 0 (scikit-learn's zero_division=0)."""
    out = np.zeros(num.shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def classification_report(y_true: Any, y_pred: Any, label_names: list[str]) -> ClassificationReport:
    """Accuracy, macro-F1, per-class precision / recall / F1 / support and the confusion matrix."""
    if not label_names:
        raise MetricsError("label_names is empty")
    if len(set(label_names)) != len(label_names):
        raise MetricsError(f"label_names has duplicates: {label_names}")
    labels = [str(x) for x in label_names]
    cm = confusion_matrix(y_true, y_pred, len(labels))
    tp = np.diag(cm)
    predicted = cm.sum(axis=0)  # column sums: how often each label was predicted
    support = cm.sum(axis=1)  # row sums: how often each label is the truth
    precision = _safe_divide(tp, predicted)
    recall = _safe_divide(tp, support)
    f1 = _safe_divide(2 * tp, predicted + support)  # = 2PR / (P + R), 0.0 when tp + fp + fn = 0
    n = int(cm.sum())
    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(labels)
    }
    return ClassificationReport(
        accuracy=float(tp.sum() / n) if n else 0.0,
        macro_f1=float(f1.mean()),
        labels=labels,
        per_class=per_class,
        confusion_matrix=cm.tolist(),
        n=n,
    )
