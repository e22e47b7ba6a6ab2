"""Scoring a run on a labelled split: `evaluate_run` -> accuracy, macro-F1, per-class P/R/F1, confusion.

The split is the run's own data (its recorded source) or another dataset with the same labels; the
report says which split of which data it scored. Data are loaded lazily through textcnn.data.

Not here: scoring texts (predictor.py), the metrics maths (metrics.py).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from textcnn.errors import PredictError
from textcnn.inference.predictor import Predictor
from textcnn.run import Run

if TYPE_CHECKING:  # pragma: no cover
    from textcnn.inference.metrics import ClassificationReport

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Evaluation


def evaluate_run(
    run: Run | Predictor | str | Path,
    data_path: str | Path | None = None,
    split: str | None = None,
    *,
    batch_size: int = 512,
    text_column: str | None = None,
    label_column: str | None = None,
) -> ClassificationReport:
    """Accuracy, macro-F1, per-class P/R/F1 and the confusion matrix of a run on a labelled split.

    Data: the run's own saved data config, or `data_path` (any dataset whose labels are the run's label
    names, or ids 0..C-1). Split: `split`, or by default the test split when it has labels, else the
    validation split (for the run's own data, the held-out one training used when there was none).
    A split whose every label is missing (-1) is refused with the reason. `text_column` / `label_column`
    name the columns of `data_path` (default: found by name); its csv rows with extra fields and JSON
    lines that are not records are skipped with a warning (`data.bad_lines = "skip"`). The report says
    which split it scored and where its data came from."""
    from textcnn.data.sources import DataError, load_data
    from textcnn.inference.metrics import classification_report

    predictor = (
        run if isinstance(run, Predictor) else Predictor(run) if isinstance(run, Run) else Predictor.from_run(run)
    )
    names = predictor.label_names
    cfg = predictor.config.data
    try:
        if data_path is None and split in (None, "train", "validation", "test"):
            data = load_data(cfg, seed=predictor.config.train.seed)  # exactly the splits training saw
            if list(data.label_names) != names:
                raise PredictError(f"the run's data now has labels {data.label_names}, but the run has {names}")
            name = split or ("test" if "test" in data.splits and data.test_labelled else "validation")
            if name not in data.splits:
                raise PredictError(f"{data.source} has no {name} split (splits: {', '.join(data.splits)})")
            if name == "test" and not data.test_labelled:
                raise PredictError(_unlabelled(f"the test split of {data.source}"))
            ds, source = data.splits[name], data.source
        else:
            if data_path is not None:  # other data: nothing of the run's dataset (hub id, columns) applies;
                # its broken lines are skipped with a warning, as `predict --file` skips them
                cfg = replace(cfg, path=str(data_path), dataset=None, hub_id=None, hub_config=None,
                              text_column=text_column, label_column=label_column, bad_lines="skip")  # fmt: skip
            ds, name = _load_labelled_split(cfg, split, names)
            source = str(data_path) if data_path is not None else (cfg.path or cfg.dataset or "")
    except DataError as e:
        raise PredictError(str(e)) from None
    texts = list(ds["text"])
    labels = np.asarray(list(ds["label"]), dtype=np.int64)
    if (labels < 0).all():
        raise PredictError(_unlabelled("this split"))
    keep = labels >= 0
    scores = predictor.score(texts, batch_size=batch_size)
    preds = scores.probs.argmax(axis=1)
    return replace(classification_report(labels[keep], preds[keep], names), split=name, source=source)


def _unlabelled(what: str) -> str:
    return (
        f"{what} has no labels (every label is missing or -1, which means 'no label'; the public SST-2 and "
        "GLUE test splits are like that), so it cannot be scored; use --split validation"
    )


def _load_labelled_split(cfg, split: str | None, names: list[str]):
    """`data.load_split` with the run's column names (other data may name them differently: then they are
    detected) and, when `split` is None, the first of test, validation, train that exists and has labels."""
    from textcnn.data.sources import load_raw, load_split
    from textcnn.errors import ColumnNotFound, NoLabelledRows, SplitNotFound

    candidates = [split] if split else ["test", "validation", "train"]
    # a file or folder of other data is read once (not once per split and column choice tried, each
    # saying its warnings again); the run's own data goes through its preset each time
    raw = load_raw(cfg) if cfg.path and not cfg.dataset else None
    last: Exception | None = None
    for name in candidates:
        for columns in ((cfg.text_column, cfg.label_column), (None, None)):
            try:
                choice = replace(cfg, text_column=columns[0], label_column=columns[1])
                ds, _ = load_split(choice, name, names, raw=raw)
                return ds, name
            except ColumnNotFound as e:
                last = e
                if columns == (None, None) or cfg.path and (cfg.text_column or cfg.label_column):
                    raise  # columns the user named for their own data: no guessing
                continue  # other data with other column names: detect them
            except NoLabelledRows as e:
                last = e
                if split:
                    raise PredictError(_unlabelled(f"split {name!r}")) from None
                break
            except SplitNotFound as e:
                last = e
                if split:
                    raise
                break  # try the next default split
    assert last is not None
    raise last
