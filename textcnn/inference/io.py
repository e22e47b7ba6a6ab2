"""The file side of prediction: streaming any number of texts, reading lines, writing records.

`predict_stream` runs a `Predictor` over an iterable of any size in windows, so memory stays bounded
and results come back in input order (`scored_windows` gives each window's texts and Scores);
`read_lines` reads UTF-8 lines (a BOM, CRLF and lines that are not UTF-8 handled as `on_error`
says), `read_texts` a table's text column (csv, tsv, json, jsonl, parquet) or else the lines,
`read_folder` a folder's text files (one text a file, each record then names its "file");
`write_jsonl` / `write_json` / `write_csv` write records with every class probability
(`write_jsonl_scores`: the same JSONL straight from a window's Scores); `predict_file` wires them
for `textcnn predict --file`.

Not here: scoring (predictor.py), evaluation (evaluate.py).
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import numpy as np

from textcnn.data.archives import is_archive
from textcnn.data.encodings import bad_byte, escaped, inner_suffix
from textcnn.errors import DataError, PredictError
from textcnn.inference.predictor import Prediction, Predictor, Scores, check_top_k

log = logging.getLogger(__name__)

FORMATS = ("jsonl", "json", "csv")
"""Output formats of `write_predictions`."""
ON_ERROR = ("skip", "stop")
"""What `read_lines`, the JSON-lines and the csv readers do with a line they cannot read (not UTF-8, not a
record, more fields than the header)."""
STOP_HINT = "; fix the file or use --on-error skip"
BOM = b"\xef\xbb\xbf"
READ_BLOCK = 1 << 20
"""Bytes of whole lines `read_lines` decodes at a time."""
HEAD_BYTES = 1 << 16
"""Bytes of a file `read_lines` looks at to tell UTF-8 from UTF-16 and Windows-1252 (`encoding_of`)."""


def _bad_line(msg: str, number: int, on_error: str, skipped: list[int] | None) -> None:
    """Line `number` cannot be read (`msg` says why): stop with a PredictError (`on_error='stop'`), or log
    it as skipped and append its number to `skipped`."""
    if on_error == "stop":
        raise PredictError(msg + STOP_HINT) from None
    if skipped is None or len(skipped) < LOGGED_LINES:
        log.warning("%s; skipped", msg)
    elif len(skipped) == LOGGED_LINES:
        log.warning("further lines that cannot be read are skipped without a warning each (the summary counts them)")
    if skipped is not None:
        skipped.append(number)


LOGGED_LINES = 5
"""`_bad_line` logs the first this many skipped lines of a read that collects them (`skipped`) one by one;
the caller reports them all (`textcnn predict`'s summary line)."""


# ---------------------------------------------------------------------------------------------
# Streams


def predict_stream(
    predictor: Predictor,
    lines: Iterable[str],
    *,
    batch_size: int = 512,
    window: int = 20000,
    top_k: int | None = None,
) -> Iterator[Prediction]:
    """Predictions for any number of texts, in input order, holding at most two windows of `window` texts.

    Inside a window the texts are sorted by length into batches of `batch_size` (little padding);
    the window's results are yielded in input order. While a window is scored, the next one is read
    and tokenized in a second thread, so at most two windows are held at a time."""
    k = check_top_k(top_k, len(predictor.label_names))
    for texts, scores in scored_windows(predictor, lines, batch_size=batch_size, window=window):
        yield from predictor.predictions(texts, scores, k)


def scored_windows(
    predictor: Predictor, lines: Iterable[str], *, batch_size: int = 512, window: int = 20000
) -> Iterator[tuple[list[str], Scores]]:
    """(texts, their Scores) for consecutive windows of `window` texts of `lines`, in input order; the
    next window is read and tokenized in a second thread while this one is scored (numpy releases the
    GIL in the model's gathers and sums, so the two overlap)."""
    if window < 1:
        raise PredictError(f"window={window} must be >= 1")
    if batch_size < 1:
        raise PredictError(f"batch_size={batch_size} must be >= 1")
    from concurrent.futures import ThreadPoolExecutor  # here: not on the import path of one-sentence predict

    it = iter(lines)
    chunk = list(itertools.islice(it, window))
    if not chunk:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="textcnn-encode") as pool:
        pending = pool.submit(predictor.encode, chunk)
        while chunk:
            encoded = pending.result()  # this window's ids (or the PredictError its texts raised)
            following = list(itertools.islice(it, window))
            if following:
                pending = pool.submit(predictor.encode, following)
            yield chunk, predictor.score(chunk, batch_size=batch_size, encoded=encoded)
            chunk = following


def read_lines(path: str | Path, on_error: str = "skip", skipped: list[int] | None = None) -> Iterator[str]:
    """The texts of a UTF-8 file, one per line ('-' reads stdin), without the line ending.

    A UTF-8 byte-order mark is dropped, "\\r\\n" endings are handled, and every line is one text (an
    empty line is an empty text). A file (not stdin) that starts with a UTF-16 byte-order mark, or whose
    first bytes are Windows-1252 and not UTF-8, is read in that (`encoding_of`); a gzip, bz2 or xz file is
    read as the text it holds (`_open_input`); lines that end in a lone "\\r" (classic Mac OS) are lines. A line that is not valid UTF-8 (or that) is logged with its line number and
    skipped (`on_error='skip'`; its number is appended to `skipped` when given) or stops the reading
    with a PredictError that names the line (`on_error='stop'`)."""
    if on_error not in ON_ERROR:
        raise PredictError(f"on_error={on_error!r} is not one of {', '.join(ON_ERROR)}")
    name = "stdin" if str(path) == "-" else str(path)
    if str(path) == "-":
        yield from _decode_lines(sys.stdin.buffer, name, on_error, skipped)
        return
    p = Path(path)
    if not p.exists():
        raise PredictError(f"input file {p} does not exist")
    if p.is_dir():
        raise PredictError(f"input {p} is a folder, not a file of texts")
    f, compressed = _open_input(p)
    try:
        with f:
            encoding, lone_cr = "utf-8", False
            if f.seekable():  # not a pipe (`--file <(...)`), which cannot be read twice
                head = f.read(HEAD_BYTES)
                encoding = encoding_of(head, name, f)
                lone_cr = b"\r" in head and b"\n" not in head  # classic Mac OS line ends
                f.seek(0)
            if encoding == "utf-16":
                yield from _wide_lines(f, name)
                return
            if lone_cr:
                for before, block in _numbered_blocks(_cr_lines(f)):
                    yield from _decode_each(block, before, name, on_error, skipped, encoding)
                return
            yield from _decode_lines(f, name, on_error, skipped, encoding)
    except Exception as e:  # a read error; for compressed data also its decompressor's own errors
        if isinstance(e, (OSError, EOFError)) or (compressed and isinstance(e, _decompress_errors())):
            raise PredictError(_unreadable(p, compressed, e)) from None
        raise


def _decompress_errors() -> tuple[type[BaseException], ...]:
    """What damaged gzip and xz data raise besides OSError / EOFError (bz2 raises only those)."""
    import lzma
    import zlib

    return lzma.LZMAError, zlib.error


def _unreadable(p: Path, compressed: str | None, e: BaseException) -> str:
    reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return f"cannot read {p}" + (f" as {compressed} data" if compressed else "") + f": {reason}"


def _open_input(p: Path):
    """(`p` opened for reading bytes, the compression read through or None): a gzip, bz2 or xz file (by its
    first bytes, whatever its name: `data.txt.gz` is read as its text) through the standard library; a
    PredictError for a zstd file or a zip archive, which need a tool first, and for a file it cannot open.
    A pipe (`--file <(...)`) is read as it comes: its first bytes cannot be read twice."""
    try:
        f = open(p, "rb")  # noqa: SIM115 - closed by the caller, a generator that may stop early
    except OSError as e:
        raise PredictError(f"cannot read {p}: {e.strerror}") from None
    if not p.is_file():
        return f, None
    try:
        magic = f.read(10)
        f.seek(0)
    except OSError as e:
        f.close()
        raise PredictError(f"cannot read {p}: {e.strerror}") from None
    from textcnn.data.encodings import compression

    kind = (compression(magic) or ("",))[0]
    if not kind:
        return f, None  # a plain file: opened once
    f.close()
    if kind == "zstd":
        raise PredictError(
            f"{p} is compressed with zstd, which predict does not read: zstd -dc {p} | textcnn predict RUN"
        )
    if kind == "zip":
        from textcnn.data.sources import SPREADSHEETS

        if p.suffix.lower() in (*SPREADSHEETS, ".docx"):  # zips inside
            raise PredictError(f"{p} is a spreadsheet or document, not text: save it as CSV UTF-8 (or plain text)")
        raise PredictError(f"{p} is a zip archive: end its name in .zip, or unpack it and give what it holds")
    import bz2
    import gzip
    import lzma

    return {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}[kind](p, "rb"), kind


TABLES = (".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".json", ".parquet", ".arrow", ".feather")
"""Suffixes (before an optional .gz / .bz2 / .xz) `read_texts` reads as tables: their text column."""


def read_texts(
    path: str | Path, on_error: str = "skip", skipped: list[int] | None = None, *, text_column: str | None = None,
    default_column: str | None = None,
) -> Iterator[str]:  # fmt: skip
    """The texts of a file: for a table (csv, tsv, json, jsonl, parquet, Arrow: `table_suffix`), the cells
    of its text column (`text_column`, else `default_column` (the run's own) when the table has it, else
    the first of the usual names: text, sentence, review, ...), as for a .txt or suffixless file of
    separated columns (`sources.table_separator`); for TREC's .label files, the questions; for anything
    else, its lines (`read_lines`). Every row gives one text, in order (a missing cell: an empty text).
    `on_error` and `skipped` are for lines: of a text file, of JSON lines (one that is not a record) and of
    a csv (a row with more fields than the header)."""
    p = Path(path)
    suffix = table_suffix(p) if str(path) != "-" else None
    if _format_suffix(p) == ".label" and p.is_file():  # TREC's "NUM:dist How far ...?": the questions
        from textcnn.data.labelled_lines import read_labelled_lines

        try:
            return iter(read_labelled_lines(p)["text"])
        except DataError as e:
            raise PredictError(str(e)) from None
    if suffix is None and p.is_file() and str(path) != "-":
        from textcnn.data.sources import table_separator

        if sep := table_separator(p):  # read as training reads it: the text column's cells, not whole lines
            return _separated_cells(p, sep, text_column, default_column, on_error, skipped)
    if suffix is None:
        if text_column is not None:
            raise PredictError(f"--text-column is for tables (csv, tsv, json, jsonl, parquet); {path} is read as lines")
        return read_lines(path, on_error=on_error, skipped=skipped)
    if not p.is_file():
        raise PredictError(f"input file {p} does not exist" if not p.exists() else f"input {p} is not a file")
    if suffix in (".jsonl", ".ndjson", ".json"):
        reader = _jsonl_cells if suffix != ".json" else _json_cells
        return reader(p, text_column, default_column, on_error, skipped)
    if suffix == ".parquet":
        return _parquet_cells(p, text_column, default_column)
    if suffix in (".arrow", ".feather"):
        return _arrow_cells(p, text_column, default_column)
    return _csv_cells(p, text_column, default_column, on_error, skipped)


def _separated_cells(
    p: Path, sep: str, given: str | None, default: str | None, on_error: str, skipped: list[int] | None
) -> Iterator[str]:
    """The text cells of a .txt or suffixless file of columns separated by `sep` (`sources.table_separator`);
    its lines, separators and all, with a warning, when its first line names no text column and none is
    given (unlabelled "id<TAB>text" lines)."""
    cells = _csv_cells(p, given, default, on_error, skipped, sep=sep)
    try:
        first = next(cells)
    except StopIteration:
        return
    except NoTextColumn as e:
        if given is not None:
            raise
        log.warning("%s: its first line names no text column %s: read one text a line, separators and all",
                    p.name, e.columns)  # fmt: skip
        yield from read_lines(p, on_error=on_error, skipped=skipped)
        return
    yield first
    yield from cells


def table_suffix(p: Path) -> str | None:
    """The table format of a file name (`TABLES`, a compression suffix allowed after it), or None."""
    suffix = _format_suffix(p)
    return suffix if suffix in TABLES else None


def _format_suffix(p: Path) -> str | None:
    """A file name's last suffix before a compression suffix `read_texts` opens (.gz / .bz2 / .xz), lowercased,
    or None."""
    return inner_suffix(p, (".gz", ".bz2", ".xz"))


def _text_columns(columns: list[str], given: str | None, default: str | None, p: Path) -> list[str]:
    """The column whose cells are the texts (`_text_column`), or the columns a name like title+body
    joins (`sources.joined_parts`, as training reads it): the cells of one row joined by `_join`
    (`sources.join_cells`)."""
    from textcnn.data.sources import joined_parts

    parts = joined_parts(given, columns) if given is not None else joined_parts(default, columns)
    return parts or [_text_column(columns, given, default, p)]


def _join(cells: Iterable[str]) -> str:
    from textcnn.data.sources import join_cells  # on first use: predict imports no more than it needs

    return join_cells(cells)


def _row_text(values: Sequence[Any], p: Path, number: int) -> str:
    """Row `number`'s text from the value of its text column, or from those of the columns it joins."""
    if len(values) == 1:
        return _cell(values[0], p, number)
    return _join(_cell(v, p, number) for v in values)


def _text_column(columns: list[str], given: str | None, default: str | None, p: Path) -> str:
    from textcnn.data.columns import match_name  # names in any case, as training matches them

    given, default = match_name(given, columns), match_name(default, columns)
    listing = f"(columns: {', '.join(map(str, columns))})"
    if given is not None:
        if given not in columns:
            raise PredictError(f"text column {given!r} is not in {p} {listing}")
        return given
    if default in columns:
        return default
    from textcnn.data.columns import TEXT_NAMES, named

    found = named(columns, TEXT_NAMES)
    if found:
        return found[0]
    if len(columns) == 1:
        return columns[0]
    raise NoTextColumn(f"no text column found in {p} {listing}; choose one with --text-column", listing)


class NoTextColumn(PredictError):
    """A table none of whose columns is found to be the text column (`columns`: they, in words)."""

    def __init__(self, message: str, columns: str):
        super().__init__(message)
        self.columns = columns


def _not_text(p: Path, why: str) -> str:
    """What to say of a csv that is not text in its encoding (`why`): compressed data (its first bytes say
    so, though its name says csv), or a file to save as UTF-8."""
    from textcnn.data.encodings import compressed_note

    with open(p, "rb") as raw:
        note = compressed_note(raw.read(10))
    return f"{p}: {note}" if note else f"{p} is not UTF-8 text ({why}); save it as UTF-8"


def _csv_cells(
    p: Path, given: str | None, default: str | None, on_error: str = "stop", skipped: list[int] | None = None,
    sep: str | None = None,
) -> Iterator[str]:  # fmt: skip
    """The text cells of a csv / tsv (`sep`: by default a tab for a .tsv / .tab, else a comma or the one its
    header shows). A row with more fields than the header (a text holding the separator unquoted) is
    logged with its line number and skipped (`on_error='skip'`, its number appended to `skipped`) or stops
    the reading."""
    from textcnn.data.sources import (
        ExtraFields,
        csv_layout,
        note_repeated_headers,
        open_csv_text,
        quote_hint,
        quotes_are_text,
    )

    try:
        sep, skip, names, encoding, escape = csv_layout(
            p, sep or ("\t" if table_suffix(p) in (".tsv", ".tab") else ","), strict=on_error == "stop"
        )
    except ExtraFields as e:
        raise PredictError(f"{e}{STOP_HINT}") from None
    quoting, done, checked = csv.QUOTE_MINIMAL, 0, False
    repeated: list[int] = []  # data rows (1-based) that repeat the header
    dropped = 0  # rows skipped for their extra fields
    with open_csv_text(p, encoding) as f:
        try:
            for _ in range(skip):
                f.readline()
            reader = csv.reader(f, delimiter=sep, escapechar=escape)
            header = names or next(reader, None)
            if header is None:
                return
            if escaped(header):
                raise PredictError(_not_text(p, "its header line holds bytes that are not"))
            idx = [header.index(c) for c in _text_columns(header, given, default, p)]

            def text(row: list[str]) -> str:
                if len(idx) == 1:
                    return row[idx[0]] if idx[0] < len(row) else ""
                return _join(row[i] for i in idx if i < len(row))

            def header_again(row: list[str]) -> bool:
                """The header repeated (csv files joined with theirs, as training drops them): counted."""
                if row == header and len(header) > 1:
                    repeated.append(done + len(repeated) + 1)
                    return True
                return False

            for row in reader:
                if header_again(row):
                    continue
                number = reader.line_num + skip
                if len(row) > len(header):
                    problem = f": {len(row)} fields but the header has {len(header)}; {quote_hint(sep)}"
                else:
                    problem = " is not valid UTF-8" if escaped(row) else ""
                if problem:
                    _bad_line(f"{p} line {number}{problem}", number, on_error, skipped)
                    dropped += 1
                    continue
                cell = text(row)
                if "\n" in cell and not checked:  # one look at the whole file, for the first such cell only
                    checked = True
                    if quotes_are_text(p, sep, skip, encoding, len(header), escape) is not None:
                        quoting = csv.QUOTE_NONE  # a quote mark that opens a text ran on: read on without quoting
                        break
                done += 1
                yield cell
        except UnicodeDecodeError as e:  # UTF-16
            raise PredictError(_not_text(p, e.reason)) from None
        except csv.Error as e:
            raise PredictError(f"cannot read {p} as csv: {e}") from None
    if quoting == csv.QUOTE_NONE:  # as training reads such a file (`sources._quotes_are_text`)
        log.warning('%s: read as one row per line from row %s on, its quote marks (") part of the texts: read as '
                    "csv quoting, a text that opens with one runs on over the lines after it", p.name, f"{done + 1:,}")  # fmt: skip
        with open_csv_text(p, encoding) as f:
            for _ in range(skip + (names is None)):
                f.readline()
            lines = csv.reader(f, delimiter=sep, quoting=csv.QUOTE_NONE)  # a row a line
            for row in itertools.islice(lines, done + len(repeated) + dropped, None):
                if header_again(row):
                    continue
                if escaped(row):
                    number = lines.line_num + skip + (names is None)
                    _bad_line(f"{p} line {number} is not valid UTF-8", number, on_error, skipped)
                    continue
                done += 1
                yield text(row)
    if repeated:
        note_repeated_headers(p.name, repeated, "skipped")


def _jsonl_cells(
    p: Path, given: str | None, default: str | None, on_error: str = "stop", skipped: list[int] | None = None
) -> Iterator[str]:
    """JSON lines (blank lines skipped). A line that is not a JSON object (or not UTF-8) is logged with its
    number and skipped (`on_error='skip'`, its number appended to `skipped`) or stops the reading."""
    from textcnn.data.sources import open_file

    def records() -> Iterator[tuple[int, dict]]:
        with open_file(p, "rb") as f:
            for number, raw in enumerate(f, start=1):
                if number == 1:
                    raw = raw.removeprefix(BOM)
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw.decode("utf-8"))
                    problem = None if isinstance(record, dict) else f"a JSON {type(record).__name__}, not an object"
                except UnicodeDecodeError as e:
                    problem = f"not valid UTF-8 ({bad_byte(raw, e)})"
                except ValueError as e:
                    problem = f"not a JSON object ({getattr(e, 'msg', e)}, column {getattr(e, 'colno', '?')})"
                if problem is None:
                    yield number, record
                    continue
                _bad_line(f"{p} line {number} is {problem}", number, on_error, skipped)

    yield from _record_cells(records(), p, given, default)


def _json_cells(
    p: Path, given: str | None, default: str | None, on_error: str = "stop", skipped: list[int] | None = None
) -> Iterator[str]:
    """A .json: one object laid out by columns (as training reads it: `json_columns`), a list of
    records, or JSON lines (`_jsonl_cells`, with `on_error` and `skipped`)."""
    from textcnn.data.sources import head_text, json_columns, open_file

    columns = json_columns(p)
    if columns is not None:
        chosen = _text_columns(list(columns), given, default, p)
        for number, values in enumerate(zip(*(columns[c] for c in chosen), strict=True), start=1):
            yield _row_text(values, p, number)
        return
    if not (head_text(p) or "").lstrip().startswith("["):  # JSON lines: read line by line, not loaded whole
        yield from _jsonl_cells(p, given, default, on_error, skipped)
        return
    with open_file(p, "rt", encoding="utf-8-sig") as f:  # strict: a byte that is not UTF-8 is the error below
        try:
            data = json.load(f)
        except (ValueError, UnicodeDecodeError) as e:
            raise PredictError(f"{p} is not valid JSON ({str(e).splitlines()[0]})") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise PredictError(f"{p}: expected a JSON list of objects, JSON lines or an object of columns")
    yield from _record_cells(enumerate(data, start=1), p, given, default)


def _record_cells(
    records: Iterator[tuple[int, dict]], p: Path, given: str | None, default: str | None
) -> Iterator[str]:
    """The text cell of each (number, record): the column chosen from the keys of the first 100 records
    (a record without it: an empty text)."""
    first = list(itertools.islice(records, 100))
    if not first:
        return
    keys = list(dict.fromkeys(k for _, r in first for k in _leaf_keys(r)))
    chosen = _text_columns(keys, given, default, p)
    for number, record in itertools.chain(first, records):
        yield _row_text([_lookup(record, c) for c in chosen], p, number)


def _leaf_keys(record: dict, prefix: str = "") -> Iterator[str]:
    """A record's keys, a nested object's as parent.child (as training names them: `sources.unnest`)."""
    for k, v in record.items():
        if isinstance(v, dict) and v:
            yield from _leaf_keys(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}"


def _lookup(record: dict, column: str) -> Any:
    """`record[column]`, or for parent.child the child of the nested object (None when absent)."""
    if column in record:
        return record[column]
    parts = column.split(".")
    for i in range(1, len(parts)):
        inner = record.get(".".join(parts[:i]))
        if isinstance(inner, dict):
            return _lookup(inner, ".".join(parts[i:]))
    return None


def _parquet_cells(p: Path, given: str | None, default: str | None) -> Iterator[str]:
    import pyarrow.parquet as pq

    try:
        f = pq.ParquetFile(p)
    except Exception as e:  # pyarrow's own errors for a damaged or non-parquet file
        raise PredictError(f"cannot read {p} as parquet: {str(e).splitlines()[0]}") from None
    return _batch_cells(p, f.schema_arrow, lambda tops: f.iter_batches(columns=tops, batch_size=20_000), given, default)


def _arrow_cells(p: Path, given: str | None, default: str | None) -> Iterator[str]:
    """The text cells of an Arrow IPC file (.arrow, .feather v2: the file format) or stream (.arrow, as
    `datasets` writes its cache files)."""
    import pyarrow as pa

    try:
        reader = pa.ipc.open_file(p)
        batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
    except pa.ArrowInvalid:
        try:
            reader = pa.ipc.open_stream(p)
        except Exception as e:
            raise PredictError(f"cannot read {p} as Arrow: {str(e).splitlines()[0]}") from None
        batches = iter(reader)
    return _batch_cells(p, reader.schema, lambda tops: (b.select(tops) for b in batches), given, default)


def _batch_cells(p: Path, schema, batches: Callable, given: str | None, default: str | None) -> Iterator[str]:
    """The text cells of a columnar file of `schema` read by `batches(top-level columns)`, in order."""
    import pyarrow as pa

    names = [x for field in schema for x in _leaf_names(field)]  # a struct's fields as parent.child
    chosen = _text_columns(names, given, default, p)
    tops = [c if c in schema.names else next(n for n in schema.names if c.startswith(f"{n}.")) for c in chosen]
    tops = list(dict.fromkeys(tops))

    def values(batch, column: str) -> list:
        if column in batch.schema.names:
            return batch.column(column).to_pylist()
        table = pa.Table.from_batches([batch]).flatten()  # struct fields as parent.child columns
        while column not in table.column_names:
            table = table.flatten()
        return table.column(column).to_pylist()

    number = 0
    for batch in batches(tops):
        for row in zip(*(values(batch, c) for c in chosen), strict=True):
            number += 1
            yield _row_text(row, p, number)


def _leaf_names(field, prefix: str = "") -> Iterator[str]:
    import pyarrow as pa

    if pa.types.is_struct(field.type) and field.type.num_fields:
        for child in field.type:
            yield from _leaf_names(child, f"{prefix}{field.name}.")
    else:
        yield f"{prefix}{field.name}"


def _cell(value: Any, p: Path, number: int) -> str:
    """A table cell as a text: a string, or "" for a missing one."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PredictError(f"{p} row {number}: the text column holds {type(value).__name__} values, not text")
    return value


def _decode_lines(f, name: str, on_error: str, skipped: list[int] | None, encoding: str = "utf-8") -> Iterator[str]:
    """Blocks of whole lines decoded at once (a block that is not valid in `encoding` is decoded line by
    line, to name and skip the bad lines): the same texts as line by line, several times faster."""
    number = 0  # lines read before this block
    while block := f.readlines(READ_BLOCK):
        data = b"".join(block)
        if number == 0 and data.startswith(BOM):
            data = data[len(BOM) :]
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            yield from _decode_each(block, number, name, on_error, skipped, encoding)
        else:
            text = text.replace("\r\n", "\n")
            if text.endswith("\n") or text.endswith("\r"):  # "\r": the file's last line, without a newline
                text = text[:-1]
            yield from text.split("\n")
        number += len(block)


def encoding_of(head: bytes, name: str, rest: BinaryIO | None = None) -> str:
    """'utf-8', or UTF-16 or Windows-1252 for a file whose first bytes `head` are that and not UTF-8, as
    training reads such a csv (`encodings.text_encoding`; a warning says so); 'utf-8' for one whose `rest`
    (the stream after the head, read to its end) is UTF-8 (`encodings.utf8_further`: its other lines are
    bad lines)."""
    from textcnn.data.encodings import WESTERN, encoding_note, text_encoding, utf8_further

    encoding = text_encoding(head, whole=len(head) < HEAD_BYTES)
    if encoding == WESTERN and rest is not None and len(head) >= HEAD_BYTES and utf8_further(rest):
        encoding = "utf-8"
    if encoding != "utf-8":
        log.warning("%s", encoding_note(name, encoding))
    return encoding


def _wide_lines(f, name: str) -> Iterator[str]:
    """The lines of a UTF-16 file (`encoding_of`): decoded as a stream, since its line ends are two bytes."""
    import io

    try:
        for line in io.TextIOWrapper(f, encoding="utf-16", newline=""):
            line = line[:-1] if line.endswith("\n") else line
            yield line[:-1] if line.endswith("\r") else line
    except UnicodeDecodeError as e:
        raise PredictError(f"{name} is not valid UTF-16 ({e.reason}); save it as UTF-8") from None


def _cr_lines(f) -> Iterator[bytes]:
    """The lines of a file whose lines end in a lone "\\r" (classic Mac OS; Excel for Mac's "CSV
    (Macintosh)"), each with its "\\r", read in blocks."""
    rest = b""
    while chunk := f.read(READ_BLOCK):
        lines = (rest + chunk).split(b"\r")
        rest = lines.pop()
        yield from (line + b"\r" for line in lines)
    if rest:
        yield rest


def _numbered_blocks(lines: Iterator[bytes], size: int = 4096) -> Iterator[tuple[int, list[bytes]]]:
    """(lines before the block, the block) for consecutive blocks of `size` lines."""
    before = 0
    while block := list(itertools.islice(lines, size)):
        yield before, block
        before += len(block)


def _decode_each(
    block: list[bytes], before: int, name: str, on_error: str, skipped: list[int] | None, encoding: str = "utf-8"
) -> Iterator[str]:
    what = "UTF-8" if encoding == "utf-8" else encoding
    for number, raw in enumerate(block, start=before + 1):
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            yield raw.decode(encoding)
        except UnicodeDecodeError as e:
            _bad_line(f"{name} line {number} is not valid {what} ({bad_byte(raw, e)})", number, on_error, skipped)


# ---------------------------------------------------------------------------------------------
# Writers: every record has every class probability, in input order


def write_jsonl(
    predictions: Iterable[Prediction], out: TextIO, *, top: bool = False, files: list[str] | None = None
) -> int:
    """One JSON object per line (`files`: each one's file, as a first key "file"); returns the number written.

    Each line is exactly `json.dumps(p.to_dict(top), ensure_ascii=False)`, formatted directly (strings
    through json's own C string encoder, floats by repr as json does): 3x faster for large files."""
    n = 0
    lines: dict[tuple[str, ...], Any] = {}  # one formatter per label set (every record of a run has the same)
    buf: list[str] = []
    for p in predictions:
        names = tuple(p.probabilities)
        line = lines.get(names) or lines.setdefault(names, _jsonl_formatter(list(names), top))
        row = list(p.probabilities.values())
        record = line(p.text, names.index(p.label), row, p.truncated, p.n_tokens, p.n_unknown,
                      [names.index(label) for label, _ in p.top])  # fmt: skip
        buf.append(record if files is None else _with_file(files[n], record))
        n += 1
        if len(buf) >= 4096:
            out.write("\n".join(buf) + "\n")
            buf.clear()
    if buf:
        out.write("\n".join(buf) + "\n")
    return n


def write_jsonl_scores(
    texts: list[str], s: Scores, names: list[str], out: TextIO, k: int | None = None, files: list[str] | None = None
) -> int:
    """`write_jsonl` of `Predictor.predictions(texts, s, k)` (the same bytes), straight from the scores:
    no Prediction objects. `k`: list the k most probable labels under "top" (None: no "top"); `files`:
    each text's file, as a first key "file" (a folder's texts)."""
    line = _jsonl_formatter(names, k is not None)
    rows = s.probs.tolist()
    best = s.probs.argmax(axis=1).tolist()
    many = k is not None and k > 1
    tops = np.argsort(-s.probs, axis=1, kind="stable")[:, :k].tolist() if many else [[b] for b in best]
    records = zip(texts, best, rows, s.truncated, s.n_tokens, s.n_unknown, tops, strict=True)
    if files is None:
        out.write("".join(line(t, b, row, tr, nt, nu, top) + "\n" for t, b, row, tr, nt, nu, top in records))
    else:
        out.write("".join(_with_file(f, line(*r)) + "\n" for f, r in zip(files, records, strict=True)))
    return len(texts)


def _with_file(file: str, record: str) -> str:
    """A JSON record's line with "file" as its first key."""
    from json.encoder import encode_basestring as enc

    return '{"file": ' + enc(file) + ", " + record[1:]


def _jsonl_formatter(names: list[str], top: bool):
    """(text, index of the label, probability row, truncated, n_tokens, n_unknown, indices of the top labels)
    -> json.dumps(Prediction.to_dict(top), ensure_ascii=False), without building the dict: one format
    template per label set."""
    from json.encoder import encode_basestring as enc  # the C encoder json.dumps uses with ensure_ascii=False

    keys = [enc(name) for name in names]
    brace = [key.replace("{", "{{").replace("}", "}}") for key in keys]  # label names inside the template
    template = (
        '{{"text": {}, "label": {}, "probability": {!r}, "probabilities": {{'
        + ", ".join(f"{key}: {{!r}}" for key in brace)
        + '}}, "truncated": {}, "n_tokens": {}, "n_unknown": {}, "empty": {}'
    ).format
    flag = ("false", "true")

    def line(text: str, b: int, row: list[float], truncated: bool, n_tokens: int, n_unknown: int, top_idx) -> str:
        out = template(enc(text), keys[b], row[b], *row, flag[truncated], n_tokens, n_unknown, flag[n_tokens == 0])
        if top:
            out += ', "top": [' + ", ".join(f'{{"label": {keys[j]}, "probability": {row[j]!r}}}' for j in top_idx) + "]"
        return out + "}"

    return line


def write_json(
    predictions: Iterable[Prediction], out: TextIO, *, top: bool = False, files: list[str] | None = None
) -> int:
    """One JSON array of records, written as it streams (`files`: each one's file, as a first key "file");
    returns the number written."""
    n = 0
    out.write("[")
    for p in predictions:
        record = p.to_dict(top) if files is None else {"file": files[n], **p.to_dict(top)}
        out.write(("\n  " if n == 0 else ",\n  ") + json.dumps(record, ensure_ascii=False))
        n += 1
    out.write("\n]\n" if n else "]\n")
    return n


def write_csv(
    predictions: Iterable[Prediction],
    out: TextIO,
    label_names: list[str] | None = None,
    *,
    top: bool = False,
    files: list[str] | None = None,
) -> int:
    """CSV with a header: text, label, probability, p_<label> for every label, flags (`files`: each row's
    file, in a first column "file"). `top` is ignored (every probability is already a column)."""
    del top
    it = iter(predictions)
    first = next(it, None)
    names = list(label_names) if label_names is not None else (list(first.probabilities) if first else [])
    lead = ["file"] if files is not None else []
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [*lead, "text", "label", "probability", *(f"p_{name}" for name in names), "truncated", "n_tokens",
         "n_unknown", "empty"]
    )  # fmt: skip
    n = 0
    for p in itertools.chain([first] if first is not None else [], it):
        probs = p.probabilities
        writer.writerow(
            [*([files[n]] if files is not None else []), p.text, p.label, p.probability,
             *(probs[name] for name in names), p.truncated, p.n_tokens, p.n_unknown, p.empty]
        )  # fmt: skip
        n += 1
    return n


def write_predictions(
    predictions: Iterable[Prediction],
    out: TextIO,
    fmt: str = "jsonl",
    *,
    label_names: list[str] | None = None,
    top: bool = False,
    files: list[str] | None = None,
) -> int:
    """Write records in `fmt` (jsonl, json or csv); returns the number written. `files`: each record's
    file (a folder's texts), written first ("file")."""
    if fmt == "jsonl":
        return write_jsonl(predictions, out, top=top, files=files)
    if fmt == "json":
        return write_json(predictions, out, top=top, files=files)
    if fmt == "csv":
        return write_csv(predictions, out, label_names, files=files)
    raise PredictError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")


@dataclass
class FileSummary:
    """What `predict_file` did."""

    written: int
    skipped_lines: list[int]
    """Line numbers that were not valid UTF-8 (on_error='skip')."""
    empty: int
    truncated: int


def predict_file(
    predictor: Predictor,
    path: str | Path,
    out: TextIO,
    *,
    fmt: str = "jsonl",
    top_k: int | None = None,
    on_error: str = "skip",
    batch_size: int = 512,
    window: int = 20000,
    text_column: str | None = None,
) -> FileSummary:
    """Read texts from `path` ('-': stdin; a table's text column, `read_texts`), predict them in streaming
    windows and write records to `out`."""
    if fmt not in FORMATS:
        raise PredictError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    k = check_top_k(top_k, len(predictor.label_names))
    skipped: list[int] = []
    files: list[str] | None = None
    archive = Path(path) if str(path) != "-" and Path(path).is_file() and is_archive(Path(path)) else None
    if archive is not None:
        path = _unpacked(archive)
    if str(path) != "-" and Path(path).is_dir():
        if text_column is not None:
            raise PredictError(f"--text-column is for tables; {path} is a folder of text files, one text a file")
        try:
            files, lines = read_folder(Path(path))
        except PredictError:
            if archive is None:
                raise
            held = sorted(str(f.relative_to(path)) for f in Path(path).rglob("*") if f.is_file())
            listed = ", ".join(held[:5]) + (", ..." if len(held) > 5 else "")
            raise PredictError(
                f"{archive} holds no text files but {listed}: give one of them to --file (unpacked in {path})"
            ) from None
    else:
        default = getattr(getattr(predictor.config, "data", None), "text_column", None)  # the run's own
        lines = read_texts(path, on_error=on_error, skipped=skipped, text_column=text_column, default_column=default)
    if fmt == "jsonl":  # straight from each window's scores: no Prediction objects
        n = empty = truncated = 0
        for texts, s in scored_windows(predictor, lines, batch_size=batch_size, window=window):
            names = files[n : n + len(texts)] if files is not None else None
            n += write_jsonl_scores(texts, s, predictor.label_names, out, k if top_k is not None else None, names)
            empty += s.n_tokens.count(0)
            truncated += sum(s.truncated)
        return FileSummary(n, skipped, empty, truncated)
    counts = {"empty": 0, "truncated": 0}

    def counted(preds: Iterable[Prediction]) -> Iterator[Prediction]:
        for p in preds:
            counts["empty"] += p.n_tokens == 0
            counts["truncated"] += p.truncated
            yield p

    stream = predict_stream(predictor, lines, batch_size=batch_size, window=window, top_k=top_k)
    n = write_predictions(
        counted(stream), out, fmt, label_names=predictor.label_names, top=top_k is not None, files=files
    )
    return FileSummary(n, skipped, counts["empty"], counts["truncated"])


def _unpacked(p: Path) -> Path:
    """What the archive `p` holds (the one file or folder at its top, else its top folder), unpacked once
    into the `datasets` cache as training unpacks a dataset (`archives.unpacked`)."""
    import datasets

    from textcnn.data.archives import unpacked

    try:
        return unpacked(p, Path(datasets.config.HF_DATASETS_CACHE))
    except DataError as e:
        raise PredictError(str(e)) from None


def read_folder(root: Path) -> tuple[list[str], Iterator[str]]:
    """A folder of text files (`folders.text_files`: its sub-folders too), one text a file: each file's
    path relative to `root`, and an iterator of their texts (UTF-8, else Windows-1252, counted in a
    warning at the end), read as they are predicted."""
    from textcnn.data.folders import read_text_file, text_files

    paths = text_files(root)
    if not paths:
        raise PredictError(f"{root} is a folder without text files (.txt, or files without a suffix)")

    def texts() -> Iterator[str]:
        western = 0
        for f in paths:
            text, utf8 = read_text_file(f)
            western += not utf8
            yield text
        if western:
            log.warning("%s: %d files are not UTF-8: read as Windows-1252", root, western)

    return [f.relative_to(root).as_posix() for f in paths], texts()
