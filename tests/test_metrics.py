"""Metrics against hand-computed examples (a label never predicted, a label with no support), input
types, errors, and properties on random labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from textcnn.inference.metrics import (
    ClassificationReport,
    MetricsError,
    accuracy,
    classification_report,
    confusion_matrix,
)

LABELS = ["a", "b", "c", "d"]
# "c" has true examples but is never predicted; "d" is predicted once but has no true examples.
Y_TRUE = [0, 0, 0, 1, 1, 2, 2]
Y_PRED = [0, 0, 1, 1, 3, 0, 1]


def test_hand_computed_example():
    r = classification_report(Y_TRUE, Y_PRED, LABELS)
    assert isinstance(r, ClassificationReport)
    assert r.confusion_matrix == [
        [2, 1, 0, 0],
        [0, 1, 0, 1],
        [1, 1, 0, 0],
        [0, 0, 0, 0],
    ]
    assert r.n == 7 and r.labels == LABELS
    assert r.accuracy == pytest.approx(3 / 7)
    expected = {
        "a": (2 / 3, 2 / 3, 2 / 3, 3),
        "b": (1 / 3, 1 / 2, 0.4, 2),  # F1 = 2 * (1/3) * (1/2) / (1/3 + 1/2)
        "c": (0.0, 0.0, 0.0, 2),  # never predicted: precision 0/0 -> 0.0
        "d": (0.0, 0.0, 0.0, 0),  # no support: recall 0/0 -> 0.0
    }
    for label, (p, rec, f1, support) in expected.items():
        got = r.per_class[label]
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((p, rec, f1)), label
        assert got["support"] == support and isinstance(got["support"], int)
    assert r.macro_f1 == pytest.approx((2 / 3 + 0.4 + 0.0 + 0.0) / 4)  # over all four labels


def test_label_with_neither_support_nor_predictions_still_counts_in_macro_f1():
    r = classification_report([0, 1, 0, 1], [0, 1, 0, 1], ["neg", "pos", "neutral"])
    assert r.accuracy == 1.0
    assert r.per_class["neutral"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert r.macro_f1 == pytest.approx(2 / 3)


def test_inputs_may_be_lists_numpy_or_torch():
    ref = classification_report(Y_TRUE, Y_PRED, LABELS).to_dict()
    as_numpy = classification_report(np.array(Y_TRUE), np.array(Y_PRED, dtype=np.int32), LABELS).to_dict()
    as_torch = classification_report(torch.tensor(Y_TRUE), torch.tensor(Y_PRED), LABELS).to_dict()
    assert ref == as_numpy == as_torch
    assert accuracy(torch.tensor([1, 2, 3]), np.array([1, 2, 0])) == pytest.approx(2 / 3)


def test_to_dict_is_plain_json():
    d = classification_report(Y_TRUE, Y_PRED, LABELS).to_dict()
    assert set(d) == {"accuracy", "macro_f1", "labels", "per_class", "confusion_matrix", "n"}
    assert json.loads(json.dumps(d)) == d
    assert all(0.0 <= v <= 1.0 for k, v in d.items() if k in ("accuracy", "macro_f1"))
    assert all(type(x) is int for row in d["confusion_matrix"] for x in row)


def test_empty_inputs_score_zero():
    r = classification_report([], [], ["x", "y"])
    assert (r.accuracy, r.macro_f1, r.n) == (0.0, 0.0, 0)
    assert r.confusion_matrix == [[0, 0], [0, 0]]
    assert accuracy([], []) == 0.0


@pytest.mark.parametrize(
    ("y_true", "y_pred", "labels", "message"),
    [
        ([0, 1], [0], ["a", "b"], "2 examples but y_pred has 1"),
        ([0, 2], [0, 1], ["a", "b"], "y_true holds label id 2, outside 0..1"),
        ([0, 1], [-1, 1], ["a", "b"], "y_pred holds label id -1"),
        ([[0, 1]], [[0, 1]], ["a", "b"], "one label id per example"),
        ([0.0, 1.0], [0, 1], ["a", "b"], "integer label ids"),
        ([0], [0], [], "label_names is empty"),
        ([0], [0], ["a", "a"], "duplicates"),
    ],
)
def test_errors(y_true, y_pred, labels, message):
    with pytest.raises(MetricsError, match=message):
        classification_report(y_true, y_pred, labels)


@st.composite
def _labelled(draw):
    c = draw(st.integers(1, 6))
    pairs = draw(st.lists(st.tuples(st.integers(0, c - 1), st.integers(0, c - 1)), max_size=40))
    return c, pairs


@settings(max_examples=60, deadline=None)
@given(_labelled())
def test_properties_on_random_labels(case):
    c, pairs = case
    t = [a for a, _ in pairs]
    p = [b for _, b in pairs]
    r = classification_report(t, p, [f"l{i}" for i in range(c)])
    cm = np.array(r.confusion_matrix)
    assert cm.sum() == r.n == len(pairs)
    assert r.accuracy == pytest.approx(np.trace(cm) / len(pairs) if pairs else 0.0)
    assert r.accuracy == pytest.approx(accuracy(t, p))
    assert r.macro_f1 == pytest.approx(np.mean([v["f1"] for v in r.per_class.values()]))
    assert [v["support"] for v in r.per_class.values()] == [t.count(i) for i in range(c)]
    np.testing.assert_array_equal(confusion_matrix(t, p, c), cm)
    for v in r.per_class.values():
        assert 0.0 <= v["f1"] <= 1.0
        # F1 is the harmonic mean of precision and recall (0 when both are 0).
        pr = v["precision"] + v["recall"]
        assert v["f1"] == pytest.approx(2 * v["precision"] * v["recall"] / pr if pr else 0.0)
