"""Label discovery and mapping: how a split's raw label values become class names and ids 0..C-1.

The rules are the "labels" lines of the messy-data policy (cleaning.py): a ClassLabel gives the names;
otherwise strings are sorted, integers (and whole-number floats or numeric strings) are sorted and named
by their value, a `label_text` column names them when it matches one-to-one; -1 next to 0..K-1, an
empty cell and `MISSING_LABELS` ("N/A", "null", ...) mean "no label". `match_labels` maps an evaluation
split onto a trained run's names.

Not here: dropping rows (cleaning.py), the report (report.py). `datasets` and `pyarrow` are imported
inside the functions that need them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textcnn.data.columns import describe, is_string
from textcnn.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import datasets
    import pyarrow as pa

log = logging.getLogger(__name__)

NO_LABEL = -1
MISSING_LABELS = frozenset({"n/a", "na", "nan", "null", "#n/a"})
"""Label cells that mean "no label" (any case), as spreadsheets and pandas write a missing value: such a
row is dropped as unlabelled, never trained as a class of its own ("none" is not here: it is a class in
some sets)."""


@dataclass
class Labels:
    """How raw label values become ids: names, and a map from normalized raw values to ids."""

    names: list[str]
    mapping: dict[Any, int]
    numeric: bool
    """Normalize raw values as numbers (ints, whole floats, numeric strings) rather than as strings."""
    classlabel: bool = False
    folded: dict[str, int] | None = None
    """String labels merged by spelling (`fold`): folded raw value -> id, for spellings `mapping` lacks
    ('POSITIVE' in a test split whose train had 'Positive'); None: exact values only."""
    merged: list[tuple[str, list[str]]] = field(default_factory=list)
    """(class name, its other spellings in train) for each class several spellings were merged into."""

    def id_of(self, key: Any) -> int | None:
        """The id of a normalized raw value (`label_key`), or None when it is not a class."""
        if key in self.mapping:
            return self.mapping[key]
        if self.folded is not None and isinstance(key, str):
            return self.folded.get(fold(key))
        return None


def fold(name: str) -> str:
    """A label's spelling-free form: case-folded, runs of whitespace as one space ('Very  Positive' ->
    'very positive'); labels with the same form are one class unless `data.merge_label_variants` is off."""
    return " ".join(name.casefold().split())


def label_key(value: Any, numeric: bool) -> Any:
    """Normalize one raw label: None for missing; ints for numbers when `numeric`; stripped strings otherwise."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value if numeric else str(value)
    s = str(value).strip()
    if not s or s.lower() in MISSING_LABELS:
        return None
    if numeric:
        try:
            return int(s)
        except ValueError:
            pass
        try:
            f = float(s)
        except ValueError:
            return s
        if math.isnan(f):
            return None
        return int(f) if f.is_integer() else f
    return s


def unique_values(ds: datasets.Dataset, column: str) -> list[Any]:
    import pyarrow.compute as pc

    return pc.unique(arrow_table(ds).column(column)).to_pylist()


def arrow_table(ds: datasets.Dataset) -> pa.Table:
    """The dataset's rows as a pyarrow Table (zero-copy when there is no indices mapping)."""
    return ds.with_format("arrow")[:]


def plan_labels(ds: datasets.Dataset, label: str, where: str, *, merge_variants: bool = True) -> Labels:
    """Label names and the raw value -> id map, from the training split. With `merge_variants`, string
    labels that differ only in case or spacing ('Positive', 'positive', 'POSITIVE') are one class, named
    by its most frequent spelling in `ds` (`_merge_spellings`)."""
    import datasets

    feature = ds.features[label]
    if isinstance(feature, datasets.ClassLabel):
        names = list(feature.names)
        mapping: dict[Any, int] = {i: i for i in range(len(names))}
        mapping.update({n: i for i, n in enumerate(names)})
        return Labels(names, mapping, numeric=True, classlabel=True)
    dtype = getattr(feature, "dtype", None)
    mixed = _json_scalars(ds, label) if type(feature).__name__ == "Json" else None
    if mixed is None and (not isinstance(feature, datasets.Value) or dtype in ("binary", "large_binary", "null")):
        raise DataError(
            f"label column {label!r} in {where} holds {describe(feature)} values, not one label per row "
            "(textcnn does single-label classification); choose another with --label-column"
        )
    raw = mixed if mixed is not None else [v for v in unique_values(ds, label) if v is not None]
    numeric = dtype != "bool" and not is_string(feature)
    if is_string(feature) or mixed is not None:
        keys = {label_key(v, numeric=True) for v in raw} - {None}
        numeric = bool(keys) and all(isinstance(k, (int, float)) for k in keys)
    keys = {label_key(v, numeric) for v in raw} - {None}
    if numeric:
        fractional = sorted(k for k in keys if isinstance(k, float))
        if fractional:
            raise DataError(
                f"label column {label!r} in {where} holds non-whole numbers (e.g. {fractional[0]}); "
                "textcnn classifies into discrete classes: bin the values or choose another --label-column"
            )
        values = sorted(keys)
        if NO_LABEL in values and values[1:] == list(range(len(values) - 1)) and len(values) > 2:
            values = values[1:]  # -1 next to 0..K-1: the HF "no label" marker, not a class
        names = _names_from_text_column(ds, label, values) or [str(v) for v in values]
    else:
        values = sorted(keys)
        names = [str(v) for v in values]
    rows = len(ds)
    if len(values) > 1000 or (rows >= 50 and len(values) > rows // 2):
        raise DataError(
            f"label column {label!r} in {where} has {len(values):,} distinct values in {rows:,} rows: "
            "is it really the label? choose one with --label-column"
        )
    if not numeric and merge_variants:
        return _merge_spellings(ds, label, values)
    return Labels(names, {v: i for i, v in enumerate(values)}, numeric=numeric)


def _merge_spellings(ds: datasets.Dataset, label: str, values: list[str]) -> Labels:
    """String labels with one id per `fold`ed form, named by the most frequent spelling (ties: the first
    in sort order); the names sorted. `values`: the distinct normalized (stripped) labels, sorted."""
    import pyarrow.compute as pc

    counts: dict[str, int] = {}
    column = arrow_table(ds).column(label)
    if is_string(ds.features[label]):
        for row in pc.value_counts(column).to_pylist():
            key = label_key(row["values"], numeric=False)
            if key is not None:
                counts[key] = counts.get(key, 0) + row["counts"]
    groups: dict[str, list[str]] = {}
    for v in values:
        groups.setdefault(fold(v), []).append(v)
    named = {f: min(spellings, key=lambda s: (-counts.get(s, 0), s)) for f, spellings in groups.items()}
    names = sorted(named.values())
    ids = {f: names.index(n) for f, n in named.items()}
    mapping = {v: ids[fold(v)] for v in values}
    merged = [
        (named[f], [s for s in spellings if s != named[f]]) for f, spellings in groups.items() if len(spellings) > 1
    ]
    return Labels(names, mapping, numeric=False, folded=ids, merged=sorted(merged))


def _json_scalars(ds: datasets.Dataset, label: str) -> list[Any] | None:
    """The distinct values of a column `datasets` typed as Json because its rows mix types (JSON lines
    with 1 in some and "1" in others), when every one is a single value; None when any is a list or an
    object (several labels per row)."""
    import json

    import pyarrow as pa
    import pyarrow.compute as pc

    column = arrow_table(ds).column(label)
    storage = pa.chunked_array([c.storage if isinstance(c, pa.ExtensionArray) else c for c in column.chunks])
    values = [json.loads(v) for v in pc.unique(storage).to_pylist() if v is not None]
    if any(isinstance(v, (list, dict)) for v in values):
        return None
    return [v for v in values if v is not None]


def _names_from_text_column(ds: datasets.Dataset, label: str, values: list[int]) -> list[str] | None:
    """Names from a `label_text`-style column (SetFit datasets) when it matches the ids one-to-one."""
    columns = list(ds.features)
    for cand in (f"{label}_text", f"{label}_name", "label_text", "label_name"):
        if cand not in columns or not is_string(ds.features[cand]):
            continue
        pairs = arrow_table(ds).select([label, cand]).group_by([label, cand]).aggregate([]).to_pylist()
        by_id: dict[Any, set[str]] = {}
        for row in pairs:
            key = label_key(row[label], numeric=True)
            if key is not None and row[cand] is not None:
                by_id.setdefault(key, set()).add(row[cand].strip())
        names = [next(iter(by_id[v])) if len(by_id.get(v, ())) == 1 else None for v in values]
        if all(names) and len(set(names)) == len(names):
            return names
    return None


def split_labels(plan: Labels, feature: Any) -> Labels:
    """The map for another split: a ClassLabel split with other names is remapped by name."""
    import datasets

    if not plan.classlabel or not isinstance(feature, datasets.ClassLabel) or feature.names == plan.names:
        return plan
    mapping: dict[Any, int] = {n: i for i, n in enumerate(plan.names)}
    mapping.update({j: mapping[n] for j, n in enumerate(feature.names) if n in mapping})
    return Labels(plan.names, mapping, numeric=True, classlabel=True)


def match_labels(ds: datasets.Dataset, label: str, names: list[str], where: str) -> Labels:
    """Map a split's labels onto a run's label names, by name, or as ids when the values are 0..C-1."""
    import datasets

    feature = ds.features[label]
    by_name: dict[Any, int] = {n: i for i, n in enumerate(names)}
    run = f"the run's labels ({', '.join(names)})"
    if isinstance(feature, datasets.ClassLabel):
        missing = [n for n in feature.names if n not in by_name]
        if missing:
            raise DataError(f"labels of {where} ({', '.join(feature.names)}) do not match {run}")
        mapping = dict(by_name)
        mapping.update({j: by_name[n] for j, n in enumerate(feature.names)})
        return Labels(names, mapping, numeric=True, classlabel=True)
    plan = plan_labels(ds, label, where, merge_variants=False)
    values = list(plan.mapping)  # normalized raw values present in the split
    forms = [fold(n) for n in names]
    by_form = {f: i for i, f in enumerate(forms) if forms.count(f) == 1}  # a run that kept variants apart: exact only
    if all(str(v) in by_name or fold(str(v)) in by_form for v in values):
        return Labels(names, {v: by_name.get(str(v), by_form.get(fold(str(v)))) for v in values}, numeric=plan.numeric)
    if plan.numeric and all(isinstance(v, int) and 0 <= v < len(names) for v in values):
        log.info("%s: integer labels taken as ids of %s", where, run)
        return Labels(names, {v: v for v in values}, numeric=True)
    unknown = [str(v) for v in values if str(v) not in by_name and fold(str(v)) not in by_form]
    raise DataError(f"labels of {where} ({', '.join(unknown[:5])}) are not among {run}; write them as those "
                    f"names, or as class ids 0-{len(names) - 1} in that order")  # fmt: skip
