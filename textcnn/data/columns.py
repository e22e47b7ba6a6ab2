"""Which columns of a dataset hold the text and the label: the given ones, else found by common names and types.

Not here: reading the data (sources.py), what the label values mean (labels.py). Imports nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textcnn.errors import ColumnNotFound, DataError

if TYPE_CHECKING:  # pragma: no cover
    import datasets


TEXT_NAMES = ("text", "sentence", "content", "review", "document", "review_text", "review_body", "reviewtext", "tweet",
              "comment", "body", "message", "utterance")  # fmt: skip
"""Column names taken for the text, in order of preference (case-insensitive)."""


LABEL_NAMES = ("label", "labels", "class", "category", "target", "sentiment", "polarity", "y", "intent", "rating",
               "stars", "star_rating", "overall", "score")  # fmt: skip
"""Column names taken for the label, in order of preference (case-insensitive)."""


def is_string(feature: Any) -> bool:
    return getattr(feature, "dtype", None) in ("string", "large_string")


def describe(feature: Any) -> str:
    dtype = getattr(feature, "dtype", None)
    return dtype if isinstance(dtype, str) and dtype != "list" else type(feature).__name__


def named(columns: list[str], names: tuple[str, ...], exclude: str | None = None) -> list[str]:
    """The columns (but `exclude`) that carry one of `names`, case-insensitively, in the order of `names`."""
    lower = {c.lower(): c for c in columns if c != exclude}
    return [lower[n] for n in names if n in lower]


def find_columns(
    features: datasets.Features,
    text_column: str | None = None,
    label_column: str | None = None,
    where: str = "the data",
    require_label: bool = True,
) -> tuple[str, str | None]:
    """The (text, label) column names: the given ones, else found by common names and types."""
    import datasets

    columns = list(features)
    listing = f"(columns: {', '.join(columns)})"
    for kind, given in (("text", text_column), ("label", label_column)):
        if given and given not in columns:
            raise ColumnNotFound(f"{kind} column {given!r} is not in {where} {listing}")

    label = label_column
    if label is None:
        found = named(columns, LABEL_NAMES, text_column)
        if not found:
            found = [c for c in columns if isinstance(features[c], datasets.ClassLabel) and c != text_column]
        if not found:
            found = [c for c in columns if c.lower().endswith("label") and c != text_column]
        if len(found) > 1 and found[0].lower() != "label":
            raise DataError(
                f"ambiguous label column in {where}: {', '.join(found)} {listing}; choose one with --label-column"
            )
        if not found and require_label:
            raise DataError(f"no label column found in {where} {listing}; choose one with --label-column")
        label = found[0] if found else None

    text = text_column
    if text is None:
        found = named(columns, TEXT_NAMES, label)
        if not found:
            found = [c for c in columns if c != label and is_string(features[c])]
        if len(found) > 1 and found[0].lower() != "text":
            raise DataError(
                f"ambiguous text column in {where}: {', '.join(found)} {listing}; choose one with --text-column"
            )
        if not found:
            raise DataError(f"no text column found in {where} {listing}; choose one with --text-column")
        text = found[0]
    if text == label:
        raise DataError(f"the text and label columns are both {text!r}; choose different columns {listing}")
    if not is_string(features[text]):
        strings = [c for c in columns if is_string(features[c]) and c != label]
        hint = f"string columns: {', '.join(strings)}" if strings else f"columns: {', '.join(columns)}"
        raise DataError(
            f"text column {text!r} in {where} holds {describe(features[text])} values, not text ({hint}); "
            "choose another with --text-column"
        )
    return text, label
