"""The data report: per-split counts (rows in, kept, dropped by reason, class balance, duplicates) and
the notes about the data (conflicting labels, overlap with train, unseen or missing classes, imbalance).

Not here: cleaning (cleaning.py); printing (the CLI renders `DataReport.lines()`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textcnn.data.labels import NO_LABEL, Labels, fold, label_key, unique_values
from textcnn.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import datasets
    import numpy as np

    from textcnn.data.cleaning import Split

UNLABELLED = "(unlabelled)"
"""class_counts key for rows without a label (an unlabelled test split)."""


@dataclass
class SplitReport:
    """What happened to one split: rows in, rows kept, rows dropped by reason, class balance."""

    rows_in: int
    rows_kept: int
    dropped: dict[str, int]
    """reason -> count; rows_in == rows_kept + sum(dropped.values())."""
    class_counts: dict[str, int]
    """label name -> kept rows (unlabelled rows under "(unlabelled)")."""
    duplicates: int
    """Kept rows whose exact (text, label) already occurred earlier in the split."""


def abbreviated(per_class: list[str], at_most: int) -> list[str]:
    """One entry per class, or, for more than `at_most` classes, the first `at_most - 1` and how many."""
    if len(per_class) <= at_most:
        return per_class
    return [*per_class[: at_most - 1], f"... {len(per_class)} classes"]


@dataclass
class DataReport:
    """Per-split reports and notes about the data (printed before training)."""

    splits: dict[str, SplitReport]
    notes: list[str]
    source: str = ""
    """Where the data came from, and which columns."""

    def lines(self) -> list[str]:
        """A short human-readable summary, one line per split plus the notes."""
        out = [f"data: {self.source}"] if self.source else []
        width = max((len(s) for s in self.splits), default=0)
        for name, r in self.splits.items():
            line = f"{name:<{width}}  {r.rows_kept:>9,} {'row' if r.rows_kept == 1 else 'rows'}"
            dropped = {k: v for k, v in r.dropped.items() if v}
            if dropped:
                line += f" of {r.rows_in:,} (" + ", ".join(f"{v:,} {k}" for k, v in dropped.items()) + ")"
            total = sum(r.class_counts.values())
            if set(r.class_counts) == {UNLABELLED}:
                line += " | unlabelled, not scored"
            elif total:
                parts = [f"{k} {100 * v / total:.0f}%" for k, v in r.class_counts.items()]
                shown = abbreviated(parts, 6)
                line += " | " + " ".join(shown)
            if r.duplicates:
                line += f" | {r.duplicates:,} duplicates"
            out.append(line)
        out += [f"note: {n}" for n in self.notes]
        return out


def split_reports(
    parts: dict[str, Split], train_dropped: dict[str, int], names: list[str], notes: list[str]
) -> dict[str, SplitReport]:
    """One SplitReport per split; notes texts with conflicting labels and texts shared with train."""
    import numpy as np

    reports: dict[str, SplitReport] = {}
    train_sorted = np.sort(parts["train"].hashes)
    for name, s in parts.items():
        duplicates, conflicts = _duplicates(s.hashes, s.labels)
        reports[name] = SplitReport(
            rows_in=s.rows_in,
            rows_kept=len(s.ds),
            dropped=dict(train_dropped if name == "train" else s.dropped),
            class_counts=_class_counts(s.labels, names, s.labelled),
            duplicates=duplicates,
        )
        if name == "train" and conflicts:
            notes.append(
                f"train: {conflicts:,} {'text occurs' if conflicts == 1 else 'texts occur'} with more than one label"
            )
        overlap = _occurring(s.hashes, train_sorted) if name != "train" else 0
        if overlap:
            notes.append(
                f"{name}: {overlap:,} of {len(s.hashes):,} texts also {'occurs' if overlap == 1 else 'occur'} in train"
            )
    return reports


def _occurring(values: np.ndarray, pool_sorted: np.ndarray) -> int:
    """How many of `values` occur in `pool_sorted` (`np.isin(values, pool).sum()`, which took 0.5 s for the
    50,000 and 450,000 hashes of a 500,000-row set: about 20x this binary search)."""
    import numpy as np

    if len(pool_sorted) == 0:
        return 0
    at = np.minimum(np.searchsorted(pool_sorted, values), len(pool_sorted) - 1)
    return int((pool_sorted[at] == values).sum())


def _class_counts(labels: np.ndarray, names: list[str], labelled: bool) -> dict[str, int]:
    import numpy as np

    if not labelled:
        return {UNLABELLED: len(labels)}
    counts = np.bincount(labels[labels >= 0], minlength=len(names))
    return {name: int(c) for name, c in zip(names, counts, strict=True)}


def _duplicates(hashes: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
    """(rows repeating an earlier (text, label) pair, texts that occur with more than one label)."""
    import numpy as np

    if len(hashes) == 0:
        return 0, 0
    # by text, then label: a two-key sort (np.unique(axis=0) sorts the rows as bytes, about 10x slower)
    order = np.lexsort((labels, hashes))
    h, y = hashes[order], labels[order]
    pair_starts = np.flatnonzero(np.r_[True, (h[1:] != h[:-1]) | (y[1:] != y[:-1])])  # (P,) distinct pairs
    first_of_text = np.r_[True, h[pair_starts[1:]] != h[pair_starts[:-1]]]  # (P,) the first pair of each text
    per_text = np.diff(np.r_[np.flatnonzero(first_of_text), len(pair_starts)])  # distinct labels of each text
    return len(hashes) - len(pair_starts), int((per_text > 1).sum())


def require_two_classes(labels: np.ndarray, names: list[str], source: str, what: str) -> None:
    import numpy as np

    present = np.unique(labels[labels >= 0])
    if len(present) < 2:
        only = f" ({names[present[0]]!r})" if len(present) else ""
        raise DataError(f"the {what} of {source} has only one class{only}; a classifier needs at least two")


def note_unknown_labels(ds: datasets.Dataset, label: str, labels: Labels, role: str, notes: list[str]) -> None:
    keys = {label_key(v, labels.numeric) for v in unique_values(ds, label)} - {None, NO_LABEL, str(NO_LABEL)}
    unknown = sorted((k for k in keys if labels.id_of(k) is None), key=str)
    if unknown:
        shown = ", ".join(repr(k) for k in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        notes.append(f"{role}: labels never seen in train ({shown}) are dropped as 'unknown label'")


def note_merged_labels(labels: Labels, notes: list[str]) -> None:
    """Say which spellings of a label became one class (`labels.plan_labels`, data.merge_label_variants)."""
    for name, others in labels.merged:
        notes.append(
            f"labels {', '.join(map(repr, sorted([name, *others])))} differ only in case or spacing: one class, "
            f"{name!r} (the most frequent; --set data.merge_label_variants=false keeps them apart)"
        )


def note_classes(train: Split, validation: Split, names: list[str], notes: list[str]) -> None:
    import numpy as np

    variants: dict[str, list[str]] = {}
    for name in names:  # "Positive" and "positive" kept apart (data.merge_label_variants=false): say so
        variants.setdefault(fold(name), []).append(name)
    for same in (v for v in variants.values() if len(v) > 1):
        notes.append(f"labels {', '.join(map(repr, same))} differ only in case or spacing: they are separate classes")

    in_train = np.bincount(train.labels[train.labels >= 0], minlength=len(names))
    in_val = np.bincount(validation.labels[validation.labels >= 0], minlength=len(names))
    for i, name in enumerate(names):
        if in_train[i] == 0 and in_val[i] > 0:
            notes.append(f"class {name!r} occurs in validation ({in_val[i]:,} rows) but never in train")
        elif in_train[i] == 0:
            notes.append(f"class {name!r} has no training rows")
    total = in_train + in_val
    common = int(np.median(total[total > 0])) if (total > 0).any() else 0
    for i, name in enumerate(names):
        if 0 < total[i] <= 2 and common >= 50:  # "Total,300" under a table: a class of its own
            notes.append(f"class {name!r} has only {total[i]} row{'s' if total[i] > 1 else ''} (a typical class "
                         f"{common:,}): a summary line or a stray value? remove it from the data if so")  # fmt: skip
    counts = in_train[in_train > 0]
    if len(counts) > 1 and counts.max() >= 10 * counts.min():
        notes.append(f"train is imbalanced: largest class {counts.max():,} rows, smallest {counts.min():,}")
