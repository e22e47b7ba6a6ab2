"""Which columns of a dataset hold the text and the label: the given ones, else found by common names and types.

Not here: reading the data (sources.py), what the label values mean (labels.py). Imports nothing heavy.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textcnn.errors import ColumnNotFound, DataError

if TYPE_CHECKING:  # pragma: no cover
    import datasets

log = logging.getLogger(__name__)


TEXT_NAMES = ("text", "sentence", "content", "review", "document", "review_text", "review_body", "reviewtext", "tweet",
              "comment", "body", "message", "utterance", "description", "abstract", "headline", "question", "query",
              "phrase", "title")  # fmt: skip
"""Column names taken for the text, in order of preference (as `key` compares names)."""


TEXT_PARTS = frozenset({"text", "body", "content", "review", "comment", "message", "sentence", "tweet", "description"})
"""Text names also taken as the last part of a column's name: Quora's question_text, Jigsaw's comment_text."""

TITLE_NAMES = ("title", "headline")
"""Text names (`TEXT_NAMES`) of a title: the one text column beside one of them is the body (a review's
"Review Text" beside its "Title", AG News' "Description")."""


LABEL_NAMES = ("label", "labels", "class", "category", "target", "sentiment", "polarity", "y", "intent", "rating",
               "stars", "star_rating", "overall", "score")  # fmt: skip
"""Column names taken for the label, in order of preference (as `key` compares names)."""


def is_string(feature: Any) -> bool:
    return getattr(feature, "dtype", None) in ("string", "large_string")


def describe(feature: Any) -> str:
    dtype = getattr(feature, "dtype", None)
    return dtype if isinstance(dtype, str) and dtype != "list" else type(feature).__name__


def key(name: str) -> str:
    """A column name as the lookups compare it: trimmed, lowercased, a run of spaces, hyphens or dots as one
    '_' (a spreadsheet's " Review Text " is review_text)."""
    return re.sub(r"[\s\-.]+", "_", str(name).strip().lower()).strip("_")


def match_name(given: str | None, columns: list[str]) -> str | None:
    """The column a user's name for it means: itself, else the one column equal to it as `key` compares
    names (--text-column description for a csv's "Description"); `given` unchanged when none or several."""
    if given is None or given in columns:
        return given
    same = [c for c in columns if key(c) == key(given)]
    return same[0] if len(same) == 1 else given


def named(columns: list[str], names: tuple[str, ...], exclude: str | None = None) -> list[str]:
    """The columns (but `exclude`) that carry one of `names` (compared by `key`), in the order of `names`."""
    keyed = {}
    for c in columns:
        if c != exclude:
            keyed.setdefault(key(c), c)
    return [keyed[n] for n in names if n in keyed]


LABEL_PARTS = frozenset(LABEL_NAMES) - {"y", "overall", "score"}
"""Label names also taken as the last (or first) part of a column's name: airline_sentiment, label_id."""

MAX_CLASSES_SEEN = 20
"""`few_values`: at most this many distinct values in the sample (and each seen four times on average)."""


def few_values(columns: list[str], text_column: str | None, rows: dict[str, list]) -> list[str]:
    """The columns (not named as texts, not `text_column`) whose values in the sample `rows` repeat as a
    label's do: at most `MAX_CLASSES_SEEN` distinct, a quarter of the sampled values at most (an id, a
    date, a score with decimals or a text does not); of several, the one that is not constant in the
    sample when only one is not."""
    out: dict[str, int] = {}
    if len(columns) < 2:
        return []  # the one column is the text
    for c in columns:
        values = [v for v in rows.get(c, []) if v is not None and v != ""]
        if c == text_column or key(c) in TEXT_NAMES or not values or isinstance(values[0], (list, dict)):
            continue
        distinct = len({str(v).strip().lower() for v in values})
        if distinct <= MAX_CLASSES_SEEN and 4 * distinct <= len(values):
            out[c] = distinct
    varied = [c for c, n in out.items() if n > 1]
    return varied if len(out) > 1 and len(varied) == 1 else list(out)  # beside a constant column (lang=en)


def may_be_text(values: list) -> bool:
    """Whether sampled cells may be texts: not all empty, numbers (an id, a score read from a csv as
    strings) or links."""
    cells = [v.strip() for v in values if isinstance(v, str) and v.strip()]
    if not cells:
        return False
    numbers = links = 0
    for cell in cells:
        links += cell.startswith(("http://", "https://", "www."))
        try:
            float(cell.replace(",", ""))
            numbers += 1
        except ValueError:
            pass
    return numbers < len(cells) and links < len(cells) / 2


TEXT_LENGTH_RATIO = 3.0
"""A column whose cells are on average this many times longer than every other string column's is taken
for the text when no column has a text name (`longest_text`)."""


def longest_text(candidates: list[str], rows: dict[str, list]) -> str | None:
    """The one of several string columns that holds the text, judged on a sample `rows`: its cells are on
    average `TEXT_LENGTH_RATIO` times longer than each other's (an id, a date or a title beside a review),
    and hold several words; None when no column stands out so."""

    def mean_length(c: str) -> float:
        cells = [v for v in rows.get(c, []) if isinstance(v, str)]
        return sum(map(len, cells)) / max(len(cells), 1)

    means = sorted(((mean_length(c), c) for c in candidates), reverse=True)
    (top, column), (second, _) = means[0], means[1]
    words = [len(v.split()) for v in rows.get(column, []) if isinstance(v, str)]
    if top >= TEXT_LENGTH_RATIO * max(second, 1.0) and sum(words) >= 3 * max(len(words), 1):
        return column
    return None


def find_columns(
    features: datasets.Features,
    text_column: str | None = None,
    label_column: str | None = None,
    where: str = "the data",
    require_label: bool = True,
    rows: Callable[[], dict[str, list]] | None = None,
) -> tuple[str, str | None]:
    """The (text, label) column names: the given ones, else found by common names and types. `rows`: a
    sample of the first rows by column, asked for only when no column is named as a label (`few_values`
    then finds one whose values repeat) or several string columns could be the text (`longest_text` then
    picks the one that plainly is), each said in a warning."""
    import functools

    import datasets

    if rows is not None:
        rows = functools.cache(rows)  # read once however many of the rules below ask for it
    columns = list(features)
    listing = f"(columns: {', '.join(columns)})"
    text_column, label_column = match_name(text_column, columns), match_name(label_column, columns)
    for kind, given in (("text", text_column), ("label", label_column)):
        if given and given not in columns:
            raise ColumnNotFound(f"{kind} column {given!r} is not in {where} {listing}")

    label = label_column
    if label is None:
        found = named(columns, LABEL_NAMES, text_column)
        if not found:
            found = [c for c in columns if isinstance(features[c], datasets.ClassLabel) and c != text_column]
        if not found:
            found = [c for c in columns if key(c).endswith("label") and c != text_column]
        if not found:  # airline_sentiment, label_id: a label name as the last part, else as the first
            for part in (-1, 0):
                found = found or [c for c in columns if c != text_column and key(c).split("_")[part] in LABEL_PARTS]
            if len(found) == 1:
                log.warning("%s: taking %r for the label column, by its name (--label-column chooses another)",
                            where, found[0])  # fmt: skip
        if not found and rows is not None and (few := few_values(columns, text_column, rows())):
            if len(few) == 1:
                log.warning("%s: taking %r for the label column: the only one whose values repeat, as classes do "
                            "(--label-column chooses another)", where, few[0])  # fmt: skip
            found = few
        if len(found) > 1 and key(found[0]) != "label":
            sample = rows() if rows is not None else {}
            flags = all(c in sample and {str(v) for v in sample[c]} <= {"0", "1"} for c in found)
            multi = " (columns of 0 / 1 flags: a multi-label table; textcnn is single-label)" if flags else ""
            raise DataError(
                f"ambiguous label column in {where}: {', '.join(found)}{multi} {listing}; choose one with --label-column"
            )
        if not found and require_label:
            raise DataError(f"no label column found in {where} {listing}; choose one with --label-column")
        label = found[0] if found else None

    text = text_column
    if text is None:
        found = named(columns, TEXT_NAMES, label)
        if not found:  # a text name as the last part of one column's name: question_text, comment_text
            parts = [
                c for c in columns if c != label and is_string(features[c]) and key(c).split("_")[-1] in TEXT_PARTS
            ]
            if len(parts) == 1:
                log.warning("%s: taking %r for the text column, by its name (--text-column chooses another)", where,
                            parts[0])  # fmt: skip
                found = parts
        bodies = [c for c in found if key(c) not in TITLE_NAMES]
        if len(found) > 1 and key(found[0]) != "text" and len(bodies) == 1:  # a "text" column is taken quietly
            titles = [c for c in columns if c in found and c != bodies[0]]
            log.warning("%s: taking %r for the text column, not %s beside it, a title (--text-column '%s' joins "
                        "them)", where, bodies[0], " or ".join(map(repr, titles)),
                        "+".join(c for c in columns if c in found))  # fmt: skip
            found = bodies
        if not found:
            found = [c for c in columns if c != label and is_string(features[c])]
            if len(found) > 1 and rows is not None:  # a csv's ids, numbers and links are strings too
                texts = [c for c in found if may_be_text(rows().get(c, []))]
                if len(texts) == 1:
                    log.warning("%s: taking %r for the text column: of %s, the only one whose cells are not "
                                "numbers or links (--text-column chooses another)", where, texts[0],
                                ", ".join(found))  # fmt: skip
                found = texts or found
            if len(found) > 1 and rows is not None and (longest := longest_text(found, rows())) is not None:
                log.warning("%s: taking %r for the text column: its cells are the longest of %s (--text-column "
                            "chooses another)", where, longest, ", ".join(found))  # fmt: skip
                found = [longest]
        if len(found) > 1 and key(found[0]) != "text":
            raise DataError(
                f"ambiguous text column in {where}: {', '.join(found)} {listing}; choose one with --text-column, "
                f"or join them: --text-column '{'+'.join(sorted(found[:2], key=columns.index))}'"
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
