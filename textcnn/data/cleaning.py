"""The messy-data policy: one batched, cached `Dataset.map` per split, the rows kept and why the others
went, and the seeded validation hold-out.

Messy data policy (each case is counted in the report):
- text: must be a string column (a numeric or list column is refused with a DataError that names it;
  CSV/TSV cells are always read as strings, so "123" or "NA" stay text). Missing (null) texts and
  empty / whitespace-only texts are dropped; texts are stripped of surrounding whitespace.
- labels: a ClassLabel feature gives the names. Otherwise strings are sorted and become names, those
  that differ only in case or spacing ('Positive', 'positive', 'POSITIVE') one class named by its
  most frequent spelling in train, noted (`data.merge_label_variants = false` keeps them apart);
  integers (and whole-number floats or numeric strings) are sorted, named by their value ("2", "5",
  "9") and mapped to contiguous ids 0..C-1 (a `label_text` / `<label>_text` column, as in SetFit
  datasets, names them when it matches one-to-one). Non-whole floats and list labels are refused.
- null / empty labels and missing-value markers (`labels.MISSING_LABELS`: N/A, #N/A, NA, NaN, null) mean "no
  label", and so does -1 (HF convention) with a ClassLabel or next to
  integer classes 0..K-1; elsewhere -1 is a class (polarity labels -1 / 1). Unlabelled rows are
  dropped from train and validation; a test split whose every label is missing is kept and flagged
  `test_labelled=False` (never scored); a partly labelled one loses its unlabelled rows.
- Labels the training data never uses are dropped from validation / test ("unknown label") unless the
  dataset's ClassLabel knows them; a ClassLabel class with no training rows is noted in the report.
- Exact duplicates (same text and label) are counted, not removed; texts with conflicting labels and
  validation / test texts that also occur in train are noted.
- Training data with a single class is refused; fewer rows than a batch is fine.

Not here: where data comes from (sources.py), label discovery (labels.py), the report's counts and notes
(report.py).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textcnn.data.labels import NO_LABEL, Labels, arrow_table, fold, label_key
from textcnn.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import datasets
    import numpy as np
    import pyarrow as pa

HELD_OUT = "held out for validation"


OVER_MAX = "beyond data.max_train_rows"


REASONS = ("missing text", "empty text", "no label", "unknown label")
"""Why a row is dropped while cleaning, in report order."""


WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""Every character `str.strip()` strips (`str.isspace`; a test checks): Arrow trims texts as Python would."""


def _clean_table(
    batch: pa.Table,
    *,
    text_column: str,
    label_column: str | None,
    mapping: dict,
    numeric: bool,
    folded: dict | None = None,
) -> pa.Table:
    """Raw rows -> text (stripped), label id (-1 = none) and the reason to drop the row ("" = keep), in
    Arrow: a batch's texts never become Python strings, and each distinct raw label is decided once."""
    import pyarrow as pa
    import pyarrow.compute as pc

    raw = batch.column(text_column)
    if pa.types.is_null(raw.type):  # every text missing
        raw = raw.cast(pa.string())
    text = pc.utf8_trim(raw, characters=WHITESPACE)
    if label_column:
        label, reason = _labels(batch.column(label_column), Labels([], mapping, numeric, folded=folded))
    else:
        label, reason = _labels(pa.nulls(batch.num_rows), Labels([], mapping, numeric))
    reason = pc.if_else(
        pc.is_null(raw), "missing text", pc.if_else(pc.equal(pc.utf8_length(text), 0), "empty text", reason)
    )
    return pa.table({"text": pc.fill_null(text, ""), "label": label, "_drop": reason})


def _labels(raw: pa.ChunkedArray | pa.Array, labels: Labels) -> tuple[pa.Array, pa.Array]:
    """Each raw label's id and reason to drop its row, deciding each distinct value once (`_label_of`)."""
    import json

    import pyarrow as pa

    if isinstance(raw, pa.ChunkedArray):
        raw = raw.combine_chunks()
    json_text = isinstance(raw.type, pa.ExtensionType)  # `datasets`' Json: rows mixing 1 and "1", as JSON text
    if json_text:
        raw = raw.storage
    try:
        encoded = raw.dictionary_encode()
        values, rows = encoded.dictionary.to_pylist(), encoded.indices
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):  # lists, structs: row by row
        values, rows = raw.to_pylist(), pa.array(range(len(raw)), pa.int64())
    if json_text:
        values = [None if v is None else json.loads(v) for v in values]
    decided = [_label_of(v, labels) for v in values + [None]]  # the last: a missing label
    rows = rows.fill_null(len(values))
    ids = pa.array([d[0] for d in decided], pa.int64()).take(rows)
    reasons = pa.array([d[1] for d in decided], pa.string()).take(rows)
    return ids, reasons


def _label_of(raw, labels: Labels) -> tuple[int, str]:
    """A raw label's id and the reason to drop its row ("" = keep)."""
    key = label_key(raw, labels.numeric)
    if key is None or key in (NO_LABEL, str(NO_LABEL)) and key not in labels.mapping:
        return NO_LABEL, "no label"
    i = labels.id_of(key)
    return (NO_LABEL, "unknown label") if i is None else (i, "")


@functools.cache
def _code_hash() -> str:
    """Hash of the cleaning code: `datasets` hashes module functions by name only, not by their code."""
    code = (_clean_table, _labels, _label_of, label_key, fold, Labels.id_of)
    src = "".join(inspect.getsource(f) for f in code) + WHITESPACE
    return hashlib.sha256(src.encode()).hexdigest()[:16]


def clean_split(ds: datasets.Dataset, text: str, label: str | None, labels: Labels, split: str) -> datasets.Dataset:
    """Map a raw split to columns text, label and _drop (cached by fingerprint)."""
    import datasets
    from datasets.fingerprint import Hasher

    kwargs = {"text_column": text, "label_column": label, "mapping": labels.mapping, "numeric": labels.numeric,
              "folded": labels.folded}  # fmt: skip
    keep = [text] + ([label] if label else [])
    ds = ds.select_columns(keep)
    fingerprint = Hasher.hash([ds._fingerprint, _code_hash(), kwargs])
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.Value("int64"), "_drop": datasets.Value("string")}
    )
    mapped = ds.with_format("arrow").map(
        _clean_table,
        batched=True,
        batch_size=10_000,
        fn_kwargs=kwargs,
        remove_columns=keep,
        features=features,
        new_fingerprint=fingerprint,
        desc=f"Cleaning {split}",
    )
    return mapped.with_format(None)


@dataclass
class Split:
    """A cleaned split: the dataset (kept rows) and the counts behind its report."""

    ds: datasets.Dataset
    labels: np.ndarray
    hashes: np.ndarray
    """(N,) uint64, one hash per text (`_text_hashes`): duplicates and overlaps are counted on these."""
    rows_in: int
    dropped: dict[str, int]
    labelled: bool


def finish_split(mapped: datasets.Dataset, keep_unlabelled: bool) -> Split:
    """Count the drop reasons and keep the usable rows (unlabelled ones too for an unlabelled test split)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    table = arrow_table(mapped)
    counts = {r["values"]: r["counts"] for r in pc.value_counts(table.column("_drop")).to_pylist()}
    labelled = counts.get("", 0) > 0
    keep_reasons = {""} | ({"no label"} if keep_unlabelled and not labelled else set())
    dropped = {r: counts.get(r, 0) for r in REASONS if r not in keep_reasons and counts.get(r, 0)}
    mask = pc.is_in(table.column("_drop"), value_set=pa.array(sorted(keep_reasons)))
    mask_np = mask.to_numpy(zero_copy_only=False)
    ds = mapped.remove_columns("_drop")
    if not mask_np.all():
        ds = ds.select(np.flatnonzero(mask_np))
    return Split(
        ds=ds,
        labels=table.column("label").to_numpy()[mask_np],
        hashes=_text_hashes(table.column("text"))[mask_np],
        rows_in=len(mapped),
        dropped=dropped,
        labelled=labelled,
    )


def _text_hashes(texts: pa.ChunkedArray, rows_per_block: int = 20_000) -> np.ndarray:
    """(N,) uint64: Python's own 64-bit hash of each text, taken in blocks of `rows_per_block` Python
    strings, so a large split is never held as Python strings at once (two different texts share a
    hash with probability ~N^2 / 2^64). The hashes are compared within one process only (they change
    with PYTHONHASHSEED): 0.25 s for 500,000 reviews, where a numpy polynomial hash over the Arrow
    buffers took 4.9 s."""
    import numpy as np

    out = np.empty(len(texts), dtype=np.int64)
    row = 0
    for chunk in texts.chunks:
        for start in range(0, len(chunk), rows_per_block):
            part = chunk.slice(start, rows_per_block).to_pylist()
            out[row : row + len(part)] = np.fromiter(map(hash, part), dtype=np.int64, count=len(part))
            row += len(part)
    return out.view(np.uint64)


def take_rows(s: Split, positions: np.ndarray, rows_in: int | None = None) -> Split:
    """The rows of a split at `positions` (kept-row positions, in order)."""
    import numpy as np

    positions = np.asarray(positions, dtype=np.int64)
    return Split(
        ds=s.ds.select(positions),
        labels=s.labels[positions],
        hashes=s.hashes[positions],
        rows_in=len(positions) if rows_in is None else rows_in,
        dropped={},
        labelled=s.labelled,
    )


def holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, stratified (train positions, validation positions), both in the original order.

    Each class gives its share of round(N * fraction) rows (largest remainders first) and keeps at
    least one row in train; the same labels, fraction and seed always give the same split.
    """
    import numpy as np

    n = len(labels)
    n_val = max(1, round(n * fraction))
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n_val / n
    take = np.floor(exact).astype(int)
    order = np.argsort(-(exact - take), kind="stable")
    take[order[: n_val - int(take.sum())]] += 1
    take = np.minimum(take, counts - 1)
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take, strict=True)]
    val = np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=int)
    if len(val) == 0:
        raise DataError(
            f"only {n} training rows: too few to hold out a validation set; add a validation split or more rows"
        )
    mask = np.ones(n, dtype=bool)
    mask[val] = False
    return np.flatnonzero(mask), val
