"""Datasets for textcnn: where data comes from, which columns and splits, label ids, and the data report.

What it is: `load_data(cfg.data)` turns a dataset preset (configs/<name>.toml), a Hugging Face hub id
or local files into `train` / `validation` (/ `test`) `datasets.Dataset`s with exactly two columns,
`text` (string) and `label` (int64; -1 = no label), plus the label names and a `DataReport` that says
what was kept, what was dropped and why. `load_split` reads one split for `textcnn evaluate`;
`list_presets` describes the shipped presets for `textcnn datasets`.

What it is not: no tokenization, batching or tensors (tokenizer.py, batching.py), and it never prints:
the report is returned and the CLI renders it. `datasets`, `pyarrow` and `numpy` are imported inside
the functions that need them, so importing this module (e.g. for `list_presets`) is instant.

Where data comes from, first match wins: `data.path` (--data PATH); `$TEXTCNN_DATA_DIR/<preset>` (or
the last part of the hub id); the dataset given as a local file or folder; the hub through
`datasets.load_dataset` and its normal cache (HF_HOME / HF_DATASETS_CACHE), so a second run works
offline.

Local files: csv / tsv (`csv_layout` checks the first lines: another separator, a spreadsheet's
"sep=;" line, no header line, a text holding the separator unquoted), json (a list of records, JSON lines, or one
object laid out by columns: `json_columns`), jsonl, parquet, arrow, fastText .txt; `open_file`
opens them through .gz / .bz2 / .xz; an archive (.zip, .tar.gz, ...) is unpacked once and read as what it
holds (archives.py). `textcnn predict --file` reads tables with the same helpers.

The messy-data policy (what happens to each odd input) is written at the top of cleaning.py; label
discovery is labels.py, column discovery columns.py, the report report.py.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from textcnn.config import CONFIG_DIR, SELECT_FRACTION, ConfigError, DataConfig, preset_path, read_toml
from textcnn.data.archives import is_archive, unpacked
from textcnn.data.cleaning import HELD_OUT, OVER_MAX, Split, clean_split, finish_split, holdout, take_rows
from textcnn.data.columns import describe, find_columns, is_string, match_name
from textcnn.data.encodings import (
    WESTERN,
    compressed_note,
    decoded,
    encoding_note,
    inner_suffix,
    not_utf8_lines,
    text_encoding,
    utf8_further,
)
from textcnn.data.folders import SPLIT_FOLDERS, class_files, class_folders, read_class_files, read_class_folders
from textcnn.data.labelled_lines import read_labelled_lines
from textcnn.data.labels import Labels, match_labels, plan_labels, split_labels
from textcnn.data.report import (
    DataReport,
    note_classes,
    note_merged_labels,
    note_unknown_labels,
    require_two_classes,
    split_reports,
)
from textcnn.errors import ColumnNotFound, DataError, NoLabelledRows, SplitNotFound

if TYPE_CHECKING:  # pragma: no cover
    import datasets

log = logging.getLogger(__name__)

# `DataError` and `holdout` stay importable from here for existing callers (homes: errors.py, cleaning.py).
__all__ = ["DataError", "LoadedData", "holdout", "list_presets", "load_data", "load_split", "resolved_path"]

VALIDATION_NAMES = ("validation", "valid", "dev", "val")
"""Split names used for model selection when data.validation_split is unset."""
SAMPLE_ROWS = 200
"""Training rows `find_columns` looks at when it must tell the text column from other string columns."""


FORMATS = {
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"sep": "\t"}),
    ".tab": ("csv", {"sep": "\t"}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
    ".ndjson": ("json", {}),
    ".parquet": ("parquet", {}),
    ".arrow": ("arrow", {}),
    ".feather": ("arrow", {}),  # Feather v2 is the Arrow IPC file format
    ".txt": ("fasttext", {}),
    ".label": ("labelled_lines", {}),
}
"""File suffix -> (datasets builder, its options); a trailing .gz / .bz2 / .xz / .zst is allowed."""


COMPRESSED = (".gz", ".bz2", ".xz", ".zst")
SPREADSHEETS = (".xlsx", ".xls", ".xlsm", ".ods", ".numbers")


@dataclass
class LoadedData:
    """Clean splits ready for tokenization, with their label names and report."""

    splits: dict[str, datasets.Dataset]
    """"train", "validation" and "test" if present; columns exactly "text" (string), "label" (int64)."""
    label_names: list[str]
    source: str
    """Human-readable: the local path or hub id the data came from."""
    text_column: str
    label_column: str
    validation_from_train: bool
    """True when validation was held out of train (no validation split, or it had no labels)."""
    test_labelled: bool
    """False when there is no test split or every test label is missing (-1)."""
    report: DataReport
    validation_fraction: float | None = None
    """The share of train held out for validation (None: the data has a validation split)."""


def _preset_table(name: str | None) -> tuple[str, dict[str, Any]] | None:
    """(preset name, parsed TOML) when `name` is a dataset preset (a configs/*.toml with [data])."""
    if not name:
        return None
    try:
        p = preset_path(name)
        raw = read_toml(p) if p is not None else None
    except ConfigError:
        return None
    if raw is None or "hub_id" not in raw.get("data", {}):
        return None
    return p.stem, raw


def list_presets() -> list[dict[str, Any]]:
    """The dataset presets in configs/: name, hub_id, columns, classes, splits, description, url, local copy."""
    out = []
    for p in sorted(CONFIG_DIR.glob("*.toml")):
        raw = read_toml(p)
        data, meta = raw.get("data", {}), raw.get("preset", {})
        if "hub_id" not in data:
            continue  # a model preset (cnn.toml, ...), not a dataset
        local = _data_dir_copy([p.stem, data["hub_id"], *meta.get("local_names", [])])
        out.append(
            {
                "name": p.stem,
                "hub_id": data["hub_id"],
                "hub_config": data.get("hub_config"),
                "text_column": data.get("text_column"),
                "label_column": data.get("label_column"),
                "classes": list(meta.get("classes", [])),
                "splits": list(meta.get("splits", [])),
                "description": meta.get("description", ""),
                "url": meta.get("url", f"https://huggingface.co/datasets/{data['hub_id']}"),
                "local": str(local) if local else None,
            }
        )
    return out


def _with_preset(cfg: DataConfig) -> tuple[DataConfig, str | None]:
    """Fill unset fields from the dataset's preset (load_config already does this; Python users may not)."""
    found = _preset_table(cfg.dataset)
    if found is None:
        return cfg, None
    name, raw = found
    values = dict(vars(cfg))
    for key, value in raw.get("data", {}).items():
        if key in values and values[key] in (None, "") and key != "path":
            values[key] = value
    return DataConfig(**values), name


def local_names(preset: str | None) -> list[str]:
    """Other names of a preset's local copy, from its [preset] table's `local_names` (SentEval ships SST-2 as
    SST/binary)."""
    found = _preset_table(preset)
    return list(found[1].get("preset", {}).get("local_names", [])) if found else []


def data_folder(root: str | Path, name: str) -> Path:
    """The folder of dataset `name` in `root`: `root`/`name` in any case (`in_folder`), else one of the
    preset's `local_names` there; `root`/`name` when none exists."""
    for candidate in (name, *local_names(name)):
        if (p := in_folder(root, candidate)).exists():
            return p
    return Path(root).expanduser() / name


def _data_dir_candidates(names: Iterable[str | None]) -> list[Path]:
    """$TEXTCNN_DATA_DIR/<name> for each name (and the hub id's last part), in order; [] when unset."""
    root = os.environ.get("TEXTCNN_DATA_DIR")
    if not root:
        return []
    out: list[Path] = []
    for name in names:
        if not name:
            continue
        for cand in (name, name.rstrip("/").split("/")[-1]):
            p = Path(root).expanduser() / cand
            if cand and p not in out:
                out.append(p)
    return out


def _data_dir_copy(names: Iterable[str | None]) -> Path | None:
    """$TEXTCNN_DATA_DIR/<name> for the first name that exists there (also the hub id's last part), in any
    case (`in_folder`)."""
    return next((q for p in _data_dir_candidates(names) if (q := in_folder(p.parent, p.name)).exists()), None)


def in_folder(root: str | Path, name: str) -> Path:
    """`root`/`name`, or the one entry of `root` named so in another case (SentEval's data/downstream/MR for
    mr); `root`/`name` when there is none (or several)."""
    p = Path(root).expanduser() / name
    if p.exists() or not p.parent.is_dir():
        return p
    same = [e for e in p.parent.iterdir() if e.name.lower() == p.name.lower()]
    return same[0] if len(same) == 1 else p


def data_dir_problem() -> str | None:
    """What is wrong with $TEXTCNN_DATA_DIR itself (set, but not a folder), or None."""
    root = os.environ.get("TEXTCNN_DATA_DIR")
    if not root:
        return None
    p = Path(root).expanduser()
    if not p.is_dir():
        return f"TEXTCNN_DATA_DIR={root} does not exist (from {Path.cwd()}: {p.absolute()})"
    return None


def _suggest(name: str | None) -> list[str]:
    """Preset names (and folders under $TEXTCNN_DATA_DIR) close to a mistyped `name`."""
    import difflib

    if not name or "/" in name or "\\" in name:
        return []
    known = [p.stem for p in CONFIG_DIR.glob("*.toml") if "hub_id" in read_toml(p).get("data", {})]
    root = os.environ.get("TEXTCNN_DATA_DIR")
    if root and Path(root).expanduser().is_dir():
        known += [d.name for d in Path(root).expanduser().iterdir() if d.is_dir() and not d.name.startswith(".")]
    by_lower = {k.lower(): k for k in sorted(set(known))}
    return [by_lower[m] for m in difflib.get_close_matches(name.lower(), list(by_lower), n=2, cutoff=0.6)]


def _tried(cfg: DataConfig, preset: str | None, hub_id: str | None) -> list[str]:
    """Every place a dataset was looked for before the hub, each with its path and why it did not hold it."""
    out = ["--data: not given"]
    root = os.environ.get("TEXTCNN_DATA_DIR")
    if not root:
        out.append("$TEXTCNN_DATA_DIR: not set")
    elif data_dir_problem():
        out.append(str(data_dir_problem()))
    else:
        names = [preset, hub_id, cfg.dataset if cfg.dataset and not _looks_like_path(cfg.dataset) else None,
                 *local_names(preset)]  # fmt: skip
        missing = " or ".join(str(p) for p in _data_dir_candidates(names))
        out.append(f"$TEXTCNN_DATA_DIR: no folder {missing}")
    if cfg.dataset and preset is None:
        out.append(f"a local file or folder {Path(cfg.dataset).expanduser().absolute()}: does not exist")
    elif cfg.dataset and Path(cfg.dataset).exists():  # ./emotion beside the preset emotion
        out.append(
            f"the local {cfg.dataset}: not read, {cfg.dataset!r} being a preset (pass ./{cfg.dataset} to read it)"
        )
    return out


def _looks_like_path(s: str) -> bool:
    suffix = _format_suffix(Path(s))
    return s.startswith((".", "/", "~")) or "\\" in s or suffix is not None or s.count("/") > 1


def _resolve(cfg: DataConfig, preset: str | None) -> tuple[Path | None, str | None]:
    """(local path, None) or (None, hub id): where to read the data from."""
    hub_id = cfg.hub_id
    if not hub_id and cfg.dataset and not _looks_like_path(cfg.dataset) and not Path(cfg.dataset).exists():
        hub_id = cfg.dataset
    if cfg.path:
        p = Path(cfg.path).expanduser()
        if not p.exists():
            raise DataError(f"data path {cfg.path} does not exist (given with --data / data.path)")
        return p, None
    local = _data_dir_copy([preset, hub_id, cfg.dataset if not _looks_like_path(cfg.dataset) else None,
                            *local_names(preset)])  # fmt: skip
    if local is not None:
        return local, None
    if cfg.dataset and preset is None:
        p = Path(cfg.dataset).expanduser()
        if p.exists():
            return p, None
        if _looks_like_path(cfg.dataset):
            raise DataError(f"dataset {cfg.dataset} is not a preset, and no such file or folder exists")
    if not hub_id:
        raise DataError(
            "no dataset given: name a preset (see `textcnn datasets`), a Hugging Face hub id, or a local file/folder"
        )
    return None, hub_id


def _first_line(e: BaseException, f: Path | None = None) -> str:
    """The first line of the innermost cause (datasets wraps parse errors in a generic one); `f`: the file
    being read, whose first bytes say whether it is compressed data the reader took for text."""
    while e.__cause__ is not None:
        e = e.__cause__
    if isinstance(e, UnicodeDecodeError):
        heads = [bytes(e.object[:10])]  # the reader's chunk: the file's start only when it failed in the first
        if f is not None:
            with contextlib.suppress(Exception), open_file(f, "rb") as fh:  # a sniff: the error stays
                heads.append(fh.read(10))
        if note := next(filter(None, map(compressed_note, heads)), None):
            return note
        return f"not UTF-8 text ({e.reason} at byte {e.start}); save the file as UTF-8"
    text = str(e).strip().splitlines()
    msg = text[0] if text else type(e).__name__
    return msg if len(msg) <= 200 else msg[:197] + "..."


def _not_utf8(f: Path, hint_from: int | None = None) -> str | None:
    """What to say of the lines of `f` that are not UTF-8 (`encodings.not_utf8_lines`: every one counted,
    the first named, its first bad byte shown), with how to skip them (SKIP_HINT) when none is before line
    `hint_from` (a csv's header line cannot be skipped); None when every line is UTF-8 or `f` cannot be
    read again (the caller then says what its reader said)."""
    with contextlib.suppress(Exception), open_file(f, "rb") as fh:  # a sniff for the message: the error stays
        lines, where = not_utf8_lines(fh)
        if lines:
            hint = SKIP_HINT if hint_from is not None and lines[0] >= hint_from else ""
            if len(lines) == 1:
                return f"line {lines[0]:,} is not UTF-8 ({where}); save the file as UTF-8{hint}"
            return (f"{len(lines):,} lines are not UTF-8 (lines {first_numbers(lines)}; line {lines[0]:,}: {where}); "
                    f"save the file as UTF-8{hint}")  # fmt: skip
    return None


def _hub_problem(endpoint: str, timeout: float = 3.0) -> str | None:
    """Why the hub (or the proxy in front of it) cannot be reached, found in at most `timeout` s; None if it can.

    `datasets` would retry for about 25 s with warnings before giving up; one TCP connect says the same.
    """
    import socket
    from urllib.parse import urlparse

    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy") or os.environ.get("ALL_PROXY")
    url = urlparse(proxy if proxy and endpoint.startswith("https") else endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return None
    except OSError as e:
        return (getattr(e, "strerror", None) or str(e) or type(e).__name__).strip()


@contextlib.contextmanager
def _hub_offline(offline: bool):
    """Put `datasets` and `huggingface_hub` in offline mode (the cache only) for the duration."""
    import datasets
    from huggingface_hub import constants

    saved = (datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE)
    if offline:
        datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = saved


def _load_hub(hub_id: str, cfg: DataConfig, preset: str | None) -> datasets.DatasetDict:
    """The hub (or its cache). Fails within seconds when the hub is unreachable and the data are not cached,
    with one message that lists every place tried and how to work offline."""
    import datasets
    from huggingface_hub import constants

    endpoint = os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
    cache = datasets.config.HF_DATASETS_CACHE
    offline = bool(datasets.config.HF_HUB_OFFLINE or constants.HF_HUB_OFFLINE)
    hub = f"the Hugging Face Hub {endpoint}: skipped (HF_HUB_OFFLINE=1)" if offline else ""
    if not offline:
        problem = _hub_problem(endpoint)
        if problem is not None:
            hub, offline = f"the Hugging Face Hub {endpoint}: unreachable ({problem})", True
    missing_dir = [p for p in _data_dir_candidates([preset, hub_id]) if not p.exists()]
    if not offline and missing_dir:
        log.warning("TEXTCNN_DATA_DIR has no %s; loading %s from the Hugging Face Hub", missing_dir[0], hub_id)
    try:
        with _hub_offline(offline):
            dd = datasets.load_dataset(hub_id, cfg.hub_config)
    except Exception as e:  # the hub raises many types: ConnectionError, HTTP errors, offline-mode errors
        name = type(e).__name__
        not_found = name == "DatasetNotFoundError" or isinstance(e, FileNotFoundError)
        if not offline and not not_found:
            raise DataError(f"could not load {hub_id!r} from the Hugging Face Hub: {_first_line(e)}") from None
        what = cfg.dataset or hub_id
        close = [c for c in _suggest(cfg.dataset) if c != cfg.dataset] if preset is None else []  # sst2: no sst5
        hint = f": did you mean {' or '.join(close)}?" if close else "."
        tried = [*_tried(cfg, preset, hub_id), f"the Hugging Face cache {cache}: not there"]
        tried.append(hub or f"the Hugging Face Hub {endpoint}: no dataset {hub_id!r}")
        local = preset or hub_id.rstrip("/").split("/")[-1]
        raise DataError(
            f"cannot find dataset {what!r}{hint} Tried: " + "; ".join(tried) + ". To work offline: set "
            f"HF_HUB_OFFLINE=1 and TEXTCNN_DATA_DIR=DIR (a folder holding DIR/{local}/), or pass --data PATH"
        ) from None
    if isinstance(dd, datasets.Dataset):
        dd = datasets.DatasetDict({"train": dd})
    return dd


def _format_suffix(p: Path) -> str | None:
    """The `FORMATS` suffix of a file name (a compression suffix allowed after it), or None."""
    suffix = inner_suffix(p, COMPRESSED)
    return suffix if suffix in FORMATS else None


def _csv_columns(f: Path, layout: CsvLayout) -> list[str]:
    """The column names of a csv read with its layout (`csv_layout`), as pandas reads them, from one read of
    its header and first row; a DataError in words that name the file for a file of blank lines or a
    header without rows. Other parse problems propagate: the caller names the file."""
    import pandas as pd

    try:
        head = pd.read_csv(f, sep=layout.sep, nrows=1, skiprows=layout.skip, encoding=layout.encoding, dtype=str,
                           keep_default_na=False, header=None if layout.names else "infer", names=layout.names,
                           escapechar=layout.escape)  # fmt: skip
    except pd.errors.EmptyDataError:
        raise DataError(f"{f} holds no columns (only blank lines): expected a header line such as text,label") from None
    if len(head) == 0:
        raise DataError(f"{f} has a header line ({', '.join(map(str, head.columns))}) but no data rows")
    return [str(c) for c in head.columns]


def _quotes_are_text(f: Path, layout: CsvLayout, ds: datasets.Dataset) -> bool:
    """Whether `ds`, `f` read with csv quoting, took quote marks that are part of the texts for quoting
    (a tweet that opens with '"', a 12" screen): then the reader runs on to the next quote mark and reads
    the lines between as one text, losing their rows. Asked only when some cell holds a line break (one
    look at the texts' bytes); then `quotes_are_text` decides, and a True is said in a warning."""
    import numpy as np

    table = ds.data.table
    buffers = [chunk.buffers()[2] for c in table.column_names if table[c].type == "string" for chunk in table[c].chunks]
    if not any(b is not None and (np.frombuffer(b, np.uint8) == 10).any() for b in buffers):
        return False  # the common case (40 ms for 227 MB of texts): no cell spans lines
    lines = quotes_are_text(f, layout.sep, layout.skip, layout.encoding, len(ds.column_names), layout.escape)
    if lines is None or lines - (layout.names is None) <= len(ds):
        return False
    log.warning(
        '%s: read as one row per line, its quote marks (") part of the texts: read as csv quoting, a text that '
        "opens with one ran on over the lines after it (%s rows instead of %s)",
        f.name, f"{len(ds):,}", f"{lines - (layout.names is None):,}",
    )  # fmt: skip
    return True


def _without_repeated_headers(f: Path, ds: datasets.Dataset) -> datasets.Dataset:
    """`ds` without the rows whose every cell is its column's name: the header lines of csv files joined
    into one (`cat a.csv b.csv`), which would otherwise be an example of a class named "label"; said in
    a warning."""
    import numpy as np
    import pyarrow.compute as pc

    table = ds.data.table
    if len(ds.column_names) < 2 or any(table[c].type != "string" for c in ds.column_names):
        return ds
    same = None
    for c in ds.column_names:  # column by column, stopping at the first that never holds its own name
        eq = pc.fill_null(pc.equal(table[c], c), False)
        same = eq if same is None else pc.and_(same, eq)
        if not pc.any(same).as_py():
            return ds
    header = same.to_numpy(zero_copy_only=False)
    note_repeated_headers(f.name, [int(i) + 1 for i in np.flatnonzero(header)], "dropped")
    return ds.select(np.flatnonzero(~header))


def first_numbers(numbers: list[int], shown: int = 5) -> str:
    """Line or row numbers for a warning: the first `shown`, then "..." when there are more."""
    return ", ".join(f"{n:,}" for n in numbers[:shown]) + (", ..." if len(numbers) > shown else "")


def note_repeated_headers(name: str, rows: list[int], done: str) -> None:
    """The warning for header lines repeated inside a csv (at data `rows`, 1-based), `done`: dropped (from
    training data) or skipped (by `predict --file`)."""
    shown = first_numbers(rows)
    log.warning("%s: %s %s repeated header line%s (data rows %s: files joined with their headers)",
                name, done, f"{len(rows):,}", "s" if len(rows) > 1 else "", shown)  # fmt: skip


def quotes_are_text(
    f: Path, sep: str, skip: int, encoding: str, n_fields: int, escape: str | None = None
) -> int | None:
    """The csv `f`'s number of non-blank lines (after `skip`) when its quote marks are characters of its
    texts, else None: its quoting is broken (a quoted cell that never closes, or closes with a character
    after the quote mark other than the separator: csv's strict reading fails) and yet every line, read
    without quoting, has the header's `n_fields` fields. A file with real quoted cells (over several
    lines, or holding the separator) reads strictly, so it keeps csv quoting."""
    import csv

    def rows(**reading) -> Iterator[list[str]]:
        with open_csv_text(f, encoding) as fh:
            for _ in range(skip):
                fh.readline()
            yield from csv.reader(fh, delimiter=sep, escapechar=escape, **reading)

    try:
        for _ in rows(strict=True):
            pass
        return None
    except csv.Error:
        pass  # broken quoting: is the file one row per line without it?
    lines = 0
    for row in rows(quoting=csv.QUOTE_NONE):
        if row:
            if len(row) != n_fields:
                return None
            lines += 1
    return lines


def _require_bytes(f: Path, builder: str) -> None:
    """An empty file is a DataError in words that name the file and what it should hold."""
    if f.stat().st_size == 0:
        expected = {
            "csv": "a header line such as text,label and one row per example",
            "json": 'JSON records such as {"text": "a gorgeous film", "label": "positive"}',
            "fasttext": "one line per example such as __label__positive a gorgeous film",
        }.get(builder, "a data file")
        raise DataError(f"{f} is empty (0 bytes): expected {expected}")


OTHER_SEPARATORS = (";", "\t", "|")
"""Separators a `.csv` may use instead of commas (spreadsheet exports in many locales write ';')."""
HEAD_BYTES = 1 << 16
"""How much of a csv / tsv `csv_layout` reads to check its header against its first rows."""


def open_file(f: Path, mode: str = "rb", **kwargs: Any):
    """`open`, or gzip's, bz2's or lzma's for a .gz, .bz2 or .xz file (same arguments)."""
    import bz2
    import gzip
    import lzma

    return {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(f.suffix.lower(), open)(f, mode, **kwargs)


def open_csv_text(f: Path, encoding: str = "utf-8"):
    """A csv / tsv opened as text in `encoding` for Python's csv module (`newline=""`; a UTF-8 byte-order
    mark dropped); in UTF-8 a byte that is not becomes a lone surrogate, so that the line holding it is
    found (`encodings.escaped`) instead of the whole read failing."""
    if encoding == "utf-8":
        return open_file(f, "rt", encoding="utf-8-sig", errors="surrogateescape", newline="")
    return open_file(f, "rt", encoding=encoding, newline="")


def _head_bytes(f: Path) -> tuple[bytes, bool] | None:
    """(the first HEAD_BYTES of a (possibly compressed) file, cut after its last whole line; whether that is
    the whole file), or None for a compression the standard library cannot read (.zst) or a file it
    cannot open."""
    import lzma

    if f.suffix.lower() == ".zst":
        return None
    try:
        with open_file(f) as fh:
            raw = fh.read(HEAD_BYTES)
    except (OSError, EOFError, lzma.LZMAError):
        return None  # the reader below names the problem
    if len(raw) < HEAD_BYTES:
        return raw, True
    return (raw[: raw.rindex(b"\n") + 1] if b"\n" in raw else raw), False


def _head_in_its_encoding(f: Path) -> tuple[str | None, str]:
    """(`_head_bytes` decoded in the file's encoding, or None when they are not text in it or cannot be read;
    that encoding: 'utf-8', or Windows-1252 or UTF-16 for a file that is not, `encodings.text_encoding`)."""
    raw, whole = _head_bytes(f) or (b"", True)
    encoding = text_encoding(raw, whole=whole) if raw else "utf-8"
    if encoding == WESTERN and not whole:
        with open_file(f) as fh:
            fh.read(len(raw))
            if utf8_further(fh):
                encoding = "utf-8"  # UTF-8 further on: its lines that are not are bad lines, named by the reader
    head = decoded(raw, encoding, whole=whole) if raw else None
    if head is None and encoding == "utf-8" and decoded(raw.split(b"\n", 1)[0], encoding) is not None:
        head = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")  # bad lines below a UTF-8 first line
    return head, encoding


def head_text(f: Path) -> str | None:
    """`_head_bytes` decoded as UTF-8 (bad bytes replaced, a BOM dropped)."""
    head = _head_bytes(f)
    return None if head is None else head[0].decode("utf-8", errors="replace").removeprefix("\ufeff")


class ExtraFields(DataError):
    """A csv row with more fields than its header (`csv_layout`); each reader adds how to get past it."""


class CsvLayout(NamedTuple):
    """How to read a csv / tsv (`csv_layout`)."""

    sep: str
    skip: int
    """Lines before the header (a spreadsheet's "sep=;" line, comment lines: `_comment_lines`)."""
    names: list[str] | None
    """Column names for a file whose first line is already data (None: the first line names them)."""
    encoding: str = "utf-8"
    """'utf-8', or Windows-1252 or UTF-16 for a file that is not (`encodings.text_encoding`)."""
    escape: str | None = None
    """'\\' for a file whose quoted texts escape their quote marks with a backslash (\\"), as Kaggle's
    labeledTrainData.tsv (IMDB) does, rather than doubling them (""); else None (`_escape`)."""


def csv_layout(f: Path, sep: str, strict: bool = True) -> CsvLayout:
    """How to read a csv / tsv, checked on its first lines: `sep`, or the one a spreadsheet's "sep=;" first
    line names (that line skipped), or, for a .csv whose header has no comma but splits on ';', a tab or
    '|' into several columns, that one; column names `text` / `label` when the first line is data, not
    names (`_headerless_names`); UTF-16 after its byte-order mark, or Windows-1252 for a file that is not
    UTF-8 but is that (`encodings.text_encoding`); each said in a warning. When `strict`, a DataError when
    one of the first rows has more fields than the header: a text holding an unquoted separator, which
    pandas would otherwise take as an index column, silently shifting every column by one (the lenient
    reader, `data.bad_lines = "skip"`, skips such rows instead)."""
    head, encoding = _head_in_its_encoding(f)
    if not head or "\x00" in head:  # not text in that encoding: the reader says so
        return CsvLayout(sep, 0, None)
    if encoding != "utf-8":
        log.warning("%s", encoding_note(f.name, encoding))
    return _layout(f, head, sep, encoding, strict)


def quote_hint(sep: str) -> str:
    """What the errors that find a text holding the separator unquoted tell the user to do."""
    if sep == "\t":
        return "a text that holds the separator tab must be quoted"
    return f'a text that holds the separator {sep!r} must be quoted ("a dull{sep} boring film"{sep}neg)'


def _layout(f: Path, head: str, sep: str, encoding: str, strict: bool = True) -> CsvLayout:
    """`csv_layout` of a file whose first lines are `head` (decoded in `encoding`)."""
    excel = re.match(r"sep=([^\r\n])\r?\n", head)  # Excel's separator line
    skip = int(excel is not None)
    if excel:
        sep, head = excel.group(1), head[excel.end() :]
    seps = [sep] if excel or sep != "," else [sep, *OTHER_SEPARATORS]  # a .csv may turn out ';'-separated
    if comments := max(_comment_lines(head, x) for x in seps):
        log.warning("%s: skipped %d comment line%s (starting with #) before its header", f.name, comments,
                    "s" if comments > 1 else "")  # fmt: skip
        skip += comments
        head = "".join(head.splitlines(keepends=True)[comments:])
    rows = _first_rows(head, sep, 21)
    if not rows:
        return CsvLayout(sep, skip, None, encoding)
    if len(rows[0][1]) == 1 and sep == "," and not excel:
        for other in OTHER_SEPARATORS:
            names = (_first_rows(head, other, 1) or [(1, [])])[0][1]
            if len(names) >= 2 and all(n.strip() and n.isprintable() for n in names):  # column names, not bytes
                log.warning("%s: reading it as %r-separated (its header line has no comma)", f.name, other)
                inner = _layout(f, head, other, encoding, strict)
                return inner._replace(skip=inner.skip + skip)
    if titles := _title_lines(head, sep):  # checked once no other separator splits the first line
        first = head.splitlines()[0].strip()
        log.warning("%s: skipped %d line%s before its header (a title: %r)", f.name, titles, "s" if titles > 1 else "",
                    first if len(first) <= 60 else first[:57] + "...")  # fmt: skip
        skip += titles
        head = "".join(head.splitlines(keepends=True)[titles:])
        rows = _first_rows(head, sep, 21)
    header = rows[0][1]
    for line, row in rows[1:]:
        if strict and len(row) > len(header):
            raise ExtraFields(
                f"{f}: line {line + skip} has {len(row)} fields but the header has {len(header)} "
                f"({', '.join(header)}); {quote_hint(sep)}"
            )
    names = _headerless_names(header, [row for _, row in rows[1:] if len(row) <= len(header)])
    if names is not None:
        log.warning("%s: its first line is data, not column names: read as columns %s", f.name, ", ".join(names))
    if escape := _escape(head):
        log.warning('%s: its texts escape quote marks with a backslash (\\"): read as quote marks', f.name)
    return CsvLayout(sep, skip, names, encoding, escape)


def _escape(head: str) -> str | None:
    """'\\' when the first lines `head` of a csv hold a quote mark escaped with a backslash inside a quoted
    cell (\\" before another character than the separator or the line's end), else None."""
    return "\\" if re.search(r'\\"(?=[^\r\n,;\t|])', head) else None


def _comment_lines(head: str, sep: str) -> int:
    """How many lines at the top of `head` are comments before the header (a tool's export notes): lines
    starting with '#' (blank lines between them too), each with fewer fields than the line after them,
    which has two or more. A first data row that starts with '#' (a hashtag) has as many fields as the
    rows after it, so it is never one."""
    import csv

    lines = head.splitlines(keepends=True)
    n = 0
    while n < len(lines) and (lines[n].startswith("#") or not lines[n].strip()):
        n += 1
    if n == len(lines) or not any(line.startswith("#") for line in lines[:n]):
        return 0
    after = _first_rows("".join(lines[n:]), sep, 1)
    width = len(after[0][1]) if after else 0
    if width < 2 or any(len(next(csv.reader([line], delimiter=sep), [])) >= width for line in lines[:n]):
        return 0
    return n


def _title_lines(head: str, sep: str, most: int = 4) -> int:
    """How many lines at the top of `head` (at most `most`) are a title before the header, as a report or
    spreadsheet export writes one ("Reviews exported 2024-01-01", a blank line, then text,label): each
    one field or blank, and the header and the five rows after it all of one width, two or more. 0 when
    the first line is the header or the rows disagree (a header "text,label" above rows of three fields
    is a text holding the separator, not a title)."""
    import csv

    lines = head.splitlines(keepends=True)
    for n in range(1, min(most, len(lines)) + 1):
        rows = _first_rows("".join(lines[n:]), sep, 6)
        width = len(rows[0][1]) if rows else 0
        if len(rows) < 6 or width < 2 or any(len(row) != width for _, row in rows):
            continue
        if all(len(next(csv.reader([line], delimiter=sep), [])) <= 1 for line in lines[:n]):
            while not lines[n].strip():  # the blank lines after the title too: the header comes next
                n += 1
            return n
    return 0


def _headerless_names(first: list[str], body: list[list[str]]) -> list[str] | None:
    """Column names for a file without a header line, or None when `first` names its columns. A first
    line is data when none of its cells is a usual column name (text, label, ...) and one column's first
    cell recurs below it in a column of few distinct values: a label ("pos" in "a fine film,pos"; of
    several such, the one of fewest values but one: sentiment140's "NO_QUERY" column is constant). That
    column is `label`, the column of the most letters `text` (not a date's digits), any other `column<N>`."""
    from textcnn.data.columns import LABEL_NAMES, TEXT_NAMES

    known = {n.lower() for n in (*TEXT_NAMES, *LABEL_NAMES)}
    if len(first) < 2 or len(body) < 4 or any(c.strip().lower() in known for c in first):
        return None
    columns = [[r[j].strip() for r in body if j < len(r)] for j in range(len(first))]
    labels = [j for j, col in enumerate(columns) if first[j].strip() in col and len(set(col)) <= len(col) // 2]
    if not labels:
        return None
    label = min(labels, key=lambda j: (len(set(columns[j])) < 2, len(set(columns[j]))))  # a constant: last resort
    text = max(
        (j for j in range(len(first)) if j != label), key=lambda j: sum(c.isalpha() for x in columns[j] for c in x)
    )
    return ["label" if j == label else "text" if j == text else f"column{j + 1}" for j in range(len(first))]


def _first_rows(head: str, delimiter: str, n: int) -> list[tuple[int, list[str]]]:
    """(line number where it ends, fields) of the first `n` non-blank csv rows of `head`; [] when the csv
    module cannot read them (NUL bytes and the like: the reader names the problem)."""
    import csv
    import io

    reader = csv.reader(io.StringIO(head, newline=None), delimiter=delimiter)  # "\r\n" and "\r" end lines too
    out = []
    try:
        for row in reader:
            if row:
                out.append((reader.line_num, row))
                if len(out) == n:
                    break
    except csv.Error:
        return []
    return out


FASTTEXT_LABEL = "__label__"
_FASTTEXT_LINE = re.compile(r"\s*((?:__label__\S+(?:\s+|$))*)(.*?)((?:(?:^|\s+)__label__\S+)*)\s*$", re.S)
"""(labels before the text, the text, labels after it): fastText reads a line's labels wherever they are,
and exports put them first ('__label__pos a fine film') or last ('a fine film __label__pos')."""


def _fasttext_rows(batch: dict[str, list], indices: list[int], *, name: str) -> dict[str, list]:
    """fastText lines ('__label__positive a gorgeous film') -> text and label (None: a line without one)."""
    texts, labels = [], []
    for line, i in zip(batch["text"], indices, strict=True):
        before, text, after = _FASTTEXT_LINE.match(line).groups()
        tags = before.split() + after.split()
        if len(tags) > 1:
            raise DataError(
                f"{name} line {i + 1} has {len(tags)} labels ({', '.join(t[len(FASTTEXT_LABEL) :] for t in tags)}); "
                "textcnn does single-label classification"
            )
        texts.append(text)
        labels.append(tags[0][len(FASTTEXT_LABEL) :] if tags else None)
    return {"text": texts, "label": labels}


def _separated_without_suffix(f: Path) -> bool:
    """A split file without a suffix (SentEval's SST/binary/sentiment-train) of separated columns."""
    return not f.suffix and f.is_file() and separated(f) is not None


SEPARATOR_NAMES = {"\t": "tab", ";": "semicolon", "|": "'|'", "@": "'@'"}
"""Separators `separated` finds, with their names; '@' is the Financial PhraseBank's (text@positive)."""


def table_separator(f: Path) -> str | None:
    """The separator of `f`, a .txt or a file without a table format's suffix, when it is read as a table of
    separated columns (`separated`: the SMS Spam Collection's "ham<TAB>text" lines, the emotion set's
    "text;label"), said in a warning; else None. Training and `predict --file` read such a file alike."""
    if _format_suffix(f) not in (None, ".txt") or f.suffix.lower() in SPREADSHEETS or not (found := separated(f)):
        return None
    sep, n = found
    log.warning("%s: read as %s-separated columns (each of its first lines has %d %s%s, none a fastText "
                "__label__)", f.name, SEPARATOR_NAMES[sep], n, SEPARATOR_NAMES[sep], "s" if n > 1 else "")  # fmt: skip
    return sep


def fasttext_lines(f: Path) -> bool:
    """Whether the first non-blank line of `f` holds a fastText label (`__label__pos`) at its start or end."""
    head, _ = _head_in_its_encoding(f)
    return _labelled_line(next((line for line in (head or "").splitlines() if line.strip()), ""))


def _labelled_line(line: str) -> bool:
    words = line.split()
    return bool(words) and (words[0].startswith(FASTTEXT_LABEL) or words[-1].startswith(FASTTEXT_LABEL))


def separated(f: Path, lines: int = 50) -> tuple[str, int] | None:
    """(separator, count) when every one of the first `lines` non-blank lines of `f` (two or more) holds the
    same number, one or more, of a tab, else of a semicolon, a "|" or an "@" where those lines are also a table
    with a label (a header naming a column as the readers do, or a column of recurring values:
    `_headerless_names`), and the first line holds no fastText label; else None."""
    head, _ = _head_in_its_encoding(f)
    if not head:
        return None
    rows = [line for line in head.splitlines() if line.strip()][:lines]
    if len(rows) < 2 or _labelled_line(rows[0]):
        return None
    for sep in SEPARATOR_NAMES:
        counts = {line.count(sep) for line in rows}
        if len(counts) != 1 or not (n := counts.pop()):
            continue
        if sep == "\t" or _a_table(head, sep):
            return sep, n
    return None


def _a_table(head: str, sep: str) -> bool:
    """Whether the first rows of `head`, split on `sep`, have a header naming a text or label column or a
    column of recurring values (`_headerless_names`)."""
    from textcnn.data.columns import LABEL_NAMES, TEXT_NAMES, key

    rows = [row for _, row in _first_rows(head, sep, 51)]
    if not rows:
        return False
    if any(key(c) in (*TEXT_NAMES, *LABEL_NAMES) for c in rows[0]):
        return True
    return _headerless_names(rows[0], rows[1:]) is not None


def _read_fasttext(f: Path, split: str) -> datasets.Dataset:
    """A .txt of fastText lines as columns text and label (cached by `datasets`), read in UTF-8, or in
    UTF-16 or Windows-1252 as a csv is (`csv_layout`); a DataError when its first line has no label."""
    import inspect

    import datasets
    from datasets.fingerprint import Hasher

    head, encoding = _head_in_its_encoding(f)
    if not _labelled_line(next((line for line in (head or head_text(f) or "").splitlines() if line.strip()), "")):
        raise DataError(
            f"{f}: a .txt is read as fastText lines ('__label__positive a gorgeous film'), and its first line has "
            "no __label__ at its start or end; give a table (csv, tsv, json, jsonl, parquet) instead, or use "
            "`textcnn predict --file` for unlabelled texts"
        )
    if encoding != "utf-8":
        log.warning("%s", encoding_note(f.name, encoding))
    with _quiet("datasets.packaged_modules"):
        raw = datasets.load_dataset("text", data_files={split: [str(f)]}, split=split, encoding=encoding)
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.Value("string")})
    code = inspect.getsource(_fasttext_rows) + _FASTTEXT_LINE.pattern
    return raw.map(_fasttext_rows, batched=True, with_indices=True, fn_kwargs={"name": str(f)},
                   remove_columns=["text"], features=features, new_fingerprint=Hasher.hash([raw._fingerprint, code]),
                   desc=f"Reading {f.name}")  # fmt: skip


def json_columns(f: Path) -> dict[str, list] | None:
    """The columns of a .json file holding one object laid out by columns, as pandas' `to_json` writes
    them by default ({"text": {"0": ..., "1": ...}, "label": {...}}), or with orient="split" / "index",
    or as lists ({"text": [...], "label": [...]}), or the records one key of an object holds beside
    metadata ({"version": "1.0", "data": [{"text": ..., "label": ...}, ...]}); None for a list of
    records or JSON lines (the `datasets` reader takes those)."""
    import json

    head = (head_text(f) or "").lstrip()
    if not head.startswith("{"):
        return None
    try:
        _, end = json.JSONDecoder().raw_decode(head)
    except ValueError:
        end = None  # a first object longer than the head: one object, read below
    if end is not None and head[end:].strip():
        return None  # JSON lines
    try:
        with open_file(f, "rt", encoding="utf-8-sig") as fh:
            data = json.load(fh)
    except (ValueError, UnicodeDecodeError, OSError):
        return None  # the datasets reader names the problem
    if not isinstance(data, dict) or not data:
        return None
    values = list(data.values())
    if set(data) >= {"columns", "data"} and isinstance(data["columns"], list):  # orient="split"
        rows = data["data"] if isinstance(data["data"], list) else []
        return {str(c): [r[i] if isinstance(r, list) and i < len(r) else None for r in rows]
                for i, c in enumerate(data["columns"])}  # fmt: skip
    wrapped = [k for k, v in data.items() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)]
    if len(wrapped) == 1 and not any(isinstance(v, list) for k, v in data.items() if k != wrapped[0]):
        rows = data[wrapped[0]]  # {"version": ..., "data": [records]}: the records, the rest metadata
        if len(data) > 1:
            log.warning("%s: reading the records under %r (beside %s)", f.name, wrapped[0],
                        ", ".join(repr(k) for k in data if k != wrapped[0]))  # fmt: skip
        return {str(k): [r.get(k) for r in rows] for k in dict.fromkeys(k for r in rows for k in r)}
    if all(isinstance(v, list) for v in values) and len({len(v) for v in values}) == 1:
        return {str(k): v for k, v in data.items()}
    if all(isinstance(v, dict) for v in values):
        if all(str(k).isdigit() for k in data):  # orient="index": row number -> record
            keys = list(dict.fromkeys(k for v in values for k in v))
            return {str(k): [v.get(k) for v in values] for k in keys}
        index = list(dict.fromkeys(i for v in values for i in v))  # orient="columns": column -> row -> value
        return {str(k): [v.get(i) for i in index] for k, v in data.items()}
    return None


def _bad_json_line(f: Path) -> str | None:
    """For JSON lines that the reader rejected: "line N is not a JSON record (why)" for the first line that
    is not, counted from 1 as editors count; None when the file is not JSON lines (its first line alone is
    not a record: a list of records, an object over several lines) or every line reads."""
    import json

    try:
        with open_file(f, "rt", encoding="utf-8-sig", errors="replace") as fh:
            first = True
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as e:
                    return None if first else f"line {n} is not a JSON record ({e.msg}, column {e.colno})"
                if not isinstance(record, dict):
                    return None if first else f"line {n} is not a JSON record (a {type(record).__name__})"
                first = False
    except OSError:
        return None
    return None


def _csv_options(f: Path, layout: CsvLayout) -> dict[str, Any]:
    """The `datasets` csv reader's options for a file of this layout: every column read as a string, and
    only empty cells missing ("NA", "null" or "None" stay texts). An option is set only where the layout
    needs it: every option is part of the data's cache key."""
    import datasets

    names = _csv_columns(f, layout)
    options: dict[str, Any] = {"sep": layout.sep, "keep_default_na": False, "na_values": [""]}
    options["features"] = datasets.Features({c: datasets.Value("string") for c in names})
    if layout.skip:
        options["skiprows"] = layout.skip
    if layout.names:
        options.update(header=None, names=layout.names)
    if layout.encoding != "utf-8":
        options["encoding"] = layout.encoding
    if layout.escape:
        options["escapechar"] = layout.escape
    return options


def _read_files(split: str, files: list[Path], bad_lines: str = "error") -> datasets.Dataset:
    """Load the data files of one split (csv, tsv, json, jsonl, parquet, arrow) into one Dataset
    (`_read_parts`, `_joined`)."""
    return _joined(split, _read_parts(split, files, bad_lines))


def _read_parts(split: str, files: list[Path], bad_lines: str = "error") -> list[datasets.Dataset]:
    """Load the data files of one split (csv, tsv, json, jsonl, parquet, arrow), a Dataset each. With
    `bad_lines` "skip", csv rows with more fields than the header, JSON lines that are not a record and
    lines that are not UTF-8 are skipped and said in a warning (`lenient`); "error" stops and names them."""
    import datasets

    parts = []
    for f in files:
        suffix, sep = _format_suffix(f), table_separator(f)
        if sep is not None:
            suffix = ".tsv"
        if suffix is None:
            sheet = " (a spreadsheet: save it as CSV UTF-8)" if f.suffix.lower() in SPREADSHEETS else ""
            raise DataError(f"{f}: unsupported file type{sheet}; use csv, tsv, json, jsonl, parquet or fastText .txt")
        builder, options = FORMATS[suffix]
        options = dict(options, **({"sep": sep} if sep is not None else {}))
        _require_bytes(f, builder)
        lenient = bad_lines == "skip"
        try:
            layout = csv_layout(f, options.get("sep", ","), strict=not lenient) if builder == "csv" else None
        except ExtraFields as e:
            raise DataError(f"{e}{SKIP_HINT}") from None
        try:
            if suffix == ".json" and (columns := json_columns(f)) is not None:
                parts.append(datasets.Dataset.from_dict(columns, split=datasets.Split(split)))
            elif lenient and (layout is not None or _json_lines(f, builder)):
                parts.append(_read_leniently(f, split, layout))
            elif builder == "fasttext":
                parts.append(_read_fasttext(f, split))
            elif builder == "labelled_lines":  # TREC's train_5500.label: "NUM:dist How far ...?"
                parts.append(datasets.Dataset.from_dict(read_labelled_lines(f), split=datasets.Split(split)))
            else:
                if layout is not None:
                    options.update(_csv_options(f, layout))
                with _quiet("datasets.packaged_modules"):  # it logs a failure before raising it; we report it once
                    ds = datasets.load_dataset(builder, data_files={split: [str(f)]}, split=split, **options)
                    if layout is not None and _quotes_are_text(f, layout, ds):
                        options["quoting"] = 3  # csv.QUOTE_NONE: a quote mark is a character of the text
                        ds = datasets.load_dataset(builder, data_files={split: [str(f)]}, split=split, **options)
                if builder == "json":
                    _check_utf8(f, ds)
                parts.append(_without_repeated_headers(f, ds) if layout is not None else ds)
        except DataError:
            raise
        except Exception as e:  # pandas / pyarrow parse errors, bad encodings, columns arrow cannot hold together
            why = _first_line(e, f)
            if layout is not None and "fields in line" in why:  # pandas: "Expected 2 fields in line 62, saw 3"
                why += f" ({quote_hint(layout.sep)}){SKIP_HINT}"
            if why.startswith("not UTF-8 text") or builder == "json" and re.search(r"utf-?8", why, re.I):
                # which lines: pandas says a byte of its chunk, pyarrow a position; skippable past a csv's header
                hint_from = layout.skip + 2 if layout is not None else 1 if _json_lines(f, builder) else None
                why = _not_utf8(f, hint_from) or why
            if builder == "json" and (line := _bad_json_line(f)) is not None:
                # pyarrow's "JSON parse error: ... in row 300" counts rows from 0, blank lines not at all
                why = line + SKIP_HINT
            raise DataError(f"could not read {f}: {why}") from None
    return parts


def _joined(split: str, parts: list[datasets.Dataset]) -> datasets.Dataset:
    """The files of one split (`_read_parts`) as one Dataset."""
    import datasets

    if len(parts) == 1:
        return parts[0]
    try:
        return datasets.concatenate_datasets(parts)
    except Exception as e:
        raise DataError(f"the {split} files do not share the same columns and types: {_first_line(e)}") from None


SKIP_HINT = "; --set data.bad_lines=skip skips such lines"


def _check_utf8(f: Path, ds: datasets.Dataset) -> None:
    """A DataError naming the lines of `f` that are not UTF-8, when the strings pyarrow's JSON reader read
    from it hold such bytes (it keeps them as they are, and every later string operation fails on them)."""
    import pyarrow as pa

    try:
        ds.data.table.validate(full=True)
    except pa.ArrowInvalid:
        if (why := _not_utf8(f, 1 if _json_lines(f, "json") else None)) is None:
            raise
        raise DataError(f"could not read {f}: {why}") from None


def _json_lines(f: Path, builder: str) -> bool:
    """Whether `f`, read by the json builder, is JSON lines (not one array or object over the file)."""
    return builder == "json" and not (head_text(f) or "").lstrip().startswith("[")


def _read_leniently(f: Path, split: str, layout: CsvLayout | None) -> datasets.Dataset:
    """A csv (`layout`) or JSON lines file read by `lenient`, skipping the lines that do not parse."""
    import datasets

    from textcnn.data import lenient

    if layout is None:
        columns = lenient.read_json_lines(f)
        if not columns:
            raise DataError(f"{f} holds no JSON record")
        return datasets.Dataset.from_dict(columns, split=datasets.Split(split))
    names = layout.names or _pandas_names(f, layout)
    columns = lenient.read_csv(f, layout.sep, layout.skip, layout.encoding, names, has_header=layout.names is None,
                               escape=layout.escape)  # fmt: skip
    if not any(columns.values()):
        raise DataError(f"{f} has a header line ({', '.join(names)}) but no data rows")
    features = datasets.Features({c: datasets.Value("string") for c in names})
    return _without_repeated_headers(f, datasets.Dataset.from_dict(columns, features, split=datasets.Split(split)))


def _pandas_names(f: Path, layout: CsvLayout) -> list[str]:
    """The column names pandas gives the header line of `f` (an empty name 'Unnamed: i', a repeated one
    'name.1'), read from that line alone, so that a row with extra fields below cannot shift them."""
    import io

    import pandas as pd

    head, _ = _head_in_its_encoding(f)
    if head is None:  # not text (compressed, though its name says csv?), or a first line that is not UTF-8
        with open_file(f, "rb") as fh:
            note = compressed_note(fh.read(10))
        note = note or _not_utf8(f) or "not readable as UTF-8 text; save the file as UTF-8"
        raise DataError(f"could not read {f}: {note}")
    lines = head.removeprefix("\ufeff").splitlines(keepends=True)[layout.skip :]
    if not lines:
        raise DataError(f"{f} holds no columns (only blank lines): expected a header line such as text,label")
    header = pd.read_csv(io.StringIO(lines[0]), sep=layout.sep, nrows=0, dtype=str)
    return [str(c) for c in header.columns]


@contextlib.contextmanager
def _quiet(logger: str):
    """No log records from `logger` (and its children) below CRITICAL while inside."""
    lg = logging.getLogger(logger)
    level = lg.level
    lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        lg.setLevel(level)


def _load_local(p: Path, hub_config: str | None, bad_lines: str = "error") -> datasets.DatasetDict:
    """A file (one 'train' split) or a folder: save_to_disk output, hub layout, one folder per class of
    text files (folders.py), or split-named files (`_read_files`, `bad_lines` as there); or an archive
    (.zip, .tar.gz, ...) holding one of those (`archives.unpacked`)."""
    import datasets
    from datasets.data_files import DataFilesDict, get_data_patterns

    if p.is_file() and is_archive(p):  # a .zip or tarball: what it holds, unpacked once into the cache
        p = unpacked(p, Path(datasets.config.HF_DATASETS_CACHE))
    if p.is_file():
        return datasets.DatasetDict({"train": _read_files("train", [p], bad_lines)})
    if (p / "dataset_dict.json").is_file() or (p / "state.json").is_file():
        dd = datasets.load_from_disk(str(p))
        return dd if isinstance(dd, datasets.DatasetDict) else datasets.DatasetDict({"train": dd})
    if hub_config and (p / hub_config).is_dir():
        p = p / hub_config  # hub layout with one folder per configuration (e.g. emotion/split/)
    readme = p / "README.md"
    if readme.is_file() and re.search(r"^configs:", readme.read_text(encoding="utf-8", errors="replace"), re.M):
        try:  # a full hub snapshot: its README says which files form which split
            return datasets.load_dataset(str(p), hub_config)
        except Exception as e:
            raise DataError(f"could not read the dataset folder {p}: {_first_line(e)}") from None
    if (layout := class_folders(p)) is not None:  # DIR/[SPLIT/]CLASS/*.txt: one text a file
        return datasets.DatasetDict(
            {split: datasets.Dataset.from_dict(cols) for split, cols in read_class_folders(p, layout).items()}
        )
    if (files := class_files(p)) is not None:  # DIR/rt-polarity.pos, DIR/rt-polarity.neg: one text a line
        return datasets.DatasetDict({"train": datasets.Dataset.from_dict(read_class_files(p, files))})
    try:
        patterns = get_data_patterns(str(p))
        found = DataFilesDict.from_patterns(patterns, base_path=str(p))
    except Exception:
        found = {}
    splits = {}
    for split, files in found.items():
        usable = sorted(
            Path(f) for f in files if _format_suffix(Path(f)) is not None or _separated_without_suffix(Path(f))
        )
        if usable:
            splits[str(split)] = usable
    if list(splits) == ["train"] and len(splits["train"]) > 1:  # the hub's patterns want a suffix after "train"
        words = {f: SPLIT_FOLDERS.get(re.split(r"[-_. ]", f.name)[-1].lower()) for f in splits["train"]}
        if all(words.values()) and "train" in words.values():  # sentiment-train, sentiment-dev, sentiment-test
            splits = {s: [f for f in splits["train"] if words[f] == s] for s in dict.fromkeys(words.values())}
    if not splits:
        raise DataError(f"no data files (csv, tsv, json, jsonl, parquet, fastText .txt) found in {p}")
    _left_out(p, splits)
    out = {}
    for split, files in splits.items():
        parts = _read_parts(split, files, bad_lines)
        if list(splits) == ["train"]:
            parts = _labelled_by_name(p, files, parts)
        out[split] = _joined(split, parts)
    return datasets.DatasetDict(out)


def _left_out(p: Path, splits: dict[str, list[Path]]) -> None:
    """The data files at the top of folder `p` that no split took (their names name none), said in a
    warning; except TREC's test file, TREC_10.label beside train_5500.label, which `splits` gets as its
    test split."""
    from textcnn.data.folders import NOT_DATA

    taken = {f.resolve() for files in splits.values() for f in files}
    left = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".") and f.resolve() not in taken
                  and _format_suffix(f) is not None and not any(w in f.name.lower() for w in NOT_DATA))  # fmt: skip
    labels = [_format_suffix(f) == ".label" for f in [*splits.get("train", []), *left]]
    if list(splits) == ["train"] and len(left) == 1 and all(labels):
        splits["test"] = left
    elif left:
        log.warning("%s: left out %s: %s no split (train, validation / dev, test)", p, ", ".join(f.name for f in left),
                    "its name names" if len(left) == 1 else "their names name")  # fmt: skip


def _class_words(stems: list[str]) -> list[str] | None:
    """The class each file stem names: the one word of letters left of each when the words all stems share
    at their start and end are taken off (positive_reviews, negative_reviews: positive, negative; Fake,
    True); None when a stem leaves none, several or one with digits (Sarcasm_Headlines_Dataset and
    Sarcasm_Headlines_Dataset_v2 are versions of one table, data1 and data2 parts of one)."""
    words = [re.split(r"[-_ ]+", stem) for stem in stems]
    while all(len(w) > 1 for w in words) and len({w[0].lower() for w in words}) == 1:
        words = [w[1:] for w in words]
    while all(len(w) > 1 for w in words) and len({w[-1].lower() for w in words}) == 1:
        words = [w[:-1] for w in words]
    labels = [w[0] if len(w) == 1 else "" for w in words]
    if not all(re.fullmatch(r"[^\W\d_]{2,}", x) for x in labels) or len({x.lower() for x in labels}) < len(labels):
        return None
    return labels


def _labelled_by_name(p: Path, files: list[Path], parts: list[datasets.Dataset]) -> list[datasets.Dataset]:
    """The tables `files` of folder `p` (`parts`, as read), each given a label column of the class its
    file's name names (`_class_words`) when they are one table per class: two or more, of the same columns, none of them
    named as a label (the fake-news set's Fake.csv and True.csv: title, text, subject, date); else as they
    are."""
    from textcnn.data.columns import LABEL_NAMES, LABEL_PARTS, key, named
    from textcnn.data.folders import MAX_CLASS_FILES

    if not 2 <= len(files) <= MAX_CLASS_FILES or any(f.suffix.lower() == ".txt" for f in files):
        return parts
    if any(word.lower() in SPLIT_FOLDERS for f in files for word in re.split(r"[-_. ]", f.name)):
        return parts  # train_part1.csv, train_part2.csv: parts of a split, not classes
    labels = _class_words([f.name.split(".")[0] for f in files])
    columns = parts[0].column_names
    if labels is None or any(x.column_names != columns for x in parts) or named(columns, LABEL_NAMES):
        return parts
    if any(key(c).split("_")[i] in LABEL_PARTS for c in columns for i in (0, -1)):  # airline_sentiment, label_id
        return parts
    log.warning("%s: no label column in %s: one table per class, the label from the file's name (%s; "
                "--label-column chooses a column)", p, ", ".join(f.name for f in files), ", ".join(labels))  # fmt: skip
    return [x.add_column("label", [label] * len(x)) for x, label in zip(parts, labels, strict=True)]


def resolved_path(cfg: DataConfig) -> Path | None:
    """The local file or folder `load_data(cfg)` reads, as an absolute path; None when it reads the hub.

    A run saves it as its data.path, so the run finds its data again without $TEXTCNN_DATA_DIR."""
    cfg, preset = _with_preset(cfg)
    local, _ = _resolve(cfg, preset)
    return local.expanduser().resolve() if local is not None else None


def _load_raw(cfg: DataConfig) -> tuple[datasets.DatasetDict, str, DataConfig]:
    """The dataset's splits as stored, a human-readable source, and the config with preset fields filled."""
    cfg, preset = _with_preset(cfg)
    local, hub_id = _resolve(cfg, preset)
    if local is not None:
        named = Path(cfg.dataset).expanduser() if cfg.dataset else None  # a file named is the data, not a copy
        given = named is not None and (named.resolve() == local.resolve() or _format_suffix(named) is not None)
        origin = cfg.hub_id or (cfg.dataset if cfg.dataset and not given else None)
        source = f"{local} (local copy of {origin})" if origin else str(local)
        dd = _load_local(local, cfg.hub_config, cfg.bad_lines)
        if preset is not None:
            cfg = _columns_of_copy(cfg, preset, dd, local)
    else:
        config = f", config {cfg.hub_config!r}" if cfg.hub_config else ""
        dd, source = _load_hub(hub_id, cfg, preset), f"{hub_id} (Hugging Face Hub{config})"
    return joined(unnest(dd), cfg.text_column), source, cfg


def _columns_of_copy(cfg: DataConfig, preset: str, dd: datasets.DatasetDict, local: Path) -> DataConfig:
    """`cfg` with the preset's text or label column unset where its local copy `dd` is in another layout and
    lacks it (SentEval's SST/binary: text, label where the hub's SST-2 has sentence, label), so that the
    column is found by name, said in a warning; a column the user named is kept."""
    found = _preset_table(preset)
    hub = found[1].get("data", {}) if found else {}
    columns = next(iter(dd.values())).column_names if dd else []
    unset = {}
    for field in ("text_column", "label_column"):
        name = getattr(cfg, field)
        if name and name == hub.get(field) and name not in columns and not joined_parts(name, columns):
            log.warning("%s has no column %r (the hub's %s): its %s found by name", local, name, preset,
                        field.replace("_", " "))  # fmt: skip
            unset[field] = None
    return replace(cfg, **unset) if unset else cfg


def joined_parts(name: str | None, columns: list[str]) -> list[str] | None:
    """The columns a text column named `a+b` joins (title+body: each text is the cells of both, joined by a
    space), when the data has no column of that name but has every part; else None."""
    if not name or "+" not in name or name in columns:
        return None
    parts = [match_name(x.strip(), columns) or "" for x in name.split("+")]  # in any case, as a column name is
    return parts if all(parts) and all(x in columns for x in parts) else None


def join_cells(cells: Iterable[str | None]) -> str:
    """One text from the cells of joined columns: joined by a space, missing and blank ones left out."""
    return " ".join(c.strip() for c in cells if c and c.strip())


def joined(dd: datasets.DatasetDict, name: str | None) -> datasets.DatasetDict:
    """`dd` with the text column `name` when it joins columns (`joined_parts`), in every split that has
    them: the parts' strings joined by a space, missing and empty cells left out."""
    import datasets

    first = next(iter(dd.values()), None)
    parts = joined_parts(name, list(first.features) if first is not None else [])
    if parts is None:
        return dd
    for x in parts:
        if not is_string(first.features[x]):
            what = describe(first.features[x])
            raise DataError(f"column {x!r} of the text column {name!r} holds {what} values, not text")

    def join(batch: dict[str, list]) -> dict[str, list]:
        return {name: [join_cells(row) for row in zip(*(batch[x] for x in parts), strict=True)]}

    return datasets.DatasetDict(
        {k: ds.map(join, batched=True) if set(parts) <= set(ds.features) else ds
         for k, ds in dd.items()}
    )  # fmt: skip


def unnest(dd: datasets.DatasetDict) -> datasets.DatasetDict:
    """Fields of nested objects as columns of their own, named parent.child (a JSON line's
    `{"text": ..., "meta": {"label": ...}}` has columns text and meta.label): an object column can be
    neither the text nor the label, its fields can (`--label-column meta.label`, or found by name)."""
    if not any(isinstance(f, dict) for split in dd.values() for f in split.features.values()):
        return dd
    return dd.flatten()


def _choose_splits(available: list[str], cfg: DataConfig) -> tuple[str, str | None, str | None]:
    listing = f"(splits: {', '.join(available)})"
    if cfg.train_split not in available:
        raise DataError(f"split {cfg.train_split!r} not found {listing}; set data.train_split")
    for key in ("validation_split", "test_split"):
        name = getattr(cfg, key)
        if name is not None and name not in available:
            raise DataError(f"split {name!r} (data.{key}) not found {listing}")
    validation = cfg.validation_split
    if validation is None:
        validation = next((s for s in VALIDATION_NAMES if s in available and s != cfg.train_split), None)
    test = cfg.test_split
    if test is None and "test" in available and "test" not in (cfg.train_split, validation):
        test = "test"
    return cfg.train_split, validation, test


def load_data(cfg: DataConfig, seed: int = 0, fraction: Callable[[int], float] | None = None) -> LoadedData:
    """Load, clean and split a dataset: train, validation (held out of train if absent) and test if present.

    The share held out is `cfg.validation_fraction`, or when unset `fraction(training rows)` (the caller's
    rule: `config.holdout_fraction`), else SELECT_FRACTION."""
    raw, source, cfg = _load_raw(cfg)
    train_name, val_name, test_name = _choose_splits(list(raw), cfg)
    where = f"{source} split {train_name!r}"
    train_ds = raw[train_name]
    text_col, label_col = find_columns(
        train_ds.features, cfg.text_column, cfg.label_column, where, rows=lambda: train_ds[:SAMPLE_ROWS]
    )
    assert label_col is not None
    plan = plan_labels(raw[train_name], label_col, where, merge_variants=cfg.merge_label_variants)
    names = plan.names
    notes: list[str] = []
    note_merged_labels(plan, notes)
    clean = functools.partial(_clean_role, raw, source, text_col, label_col, plan, notes)

    train = clean(train_name, "train")
    if len(train.ds) == 0:
        reasons = ", ".join(f"{v:,} {k}" for k, v in train.dropped.items())
        raise DataError(f"no usable training rows in {source} ({reasons})")
    require_two_classes(train.labels, names, source, "training data")

    validation = clean(val_name, "validation") if val_name else None
    if validation is not None and len(validation.ds) == 0:
        notes.append(f"validation split {val_name!r} has no labelled rows; holding out part of train instead")
        validation = None
    validation_from_train = validation is None
    train_dropped = dict(train.dropped)
    share = None
    if validation_from_train:
        offered = min(len(train.ds), cfg.max_train_rows or len(train.ds))  # the rows training is given
        share = cfg.validation_fraction or (fraction(offered) if fraction else SELECT_FRACTION)
        watched = cfg.validation_fraction is None and share < SELECT_FRACTION
        train, validation = _hold_out_validation(train, share, watched, seed, train_dropped, notes)
    train = _cap_train_rows(train, cfg, train_dropped, names, source)

    test = clean(test_name, "test") if test_name else None
    if test is not None and len(test.ds) == 0:
        notes.append(f"test split {test_name!r} has no usable rows; it is left out")
        test = None

    parts = {"train": train, "validation": validation, "test": test}
    reports = split_reports({k: v for k, v in parts.items() if v is not None}, train_dropped, names, notes)
    note_classes(train, validation, names, notes)
    columns = f"text column {text_col!r}, label column {label_col!r}, {len(names)} classes"
    report = DataReport(splits=reports, notes=notes, source=f"{source}; {columns}")
    for line in report.lines():
        log.debug(line)
    return LoadedData(
        splits={name: s.ds for name, s in parts.items() if s is not None},
        label_names=names,
        source=source,
        text_column=text_col,
        label_column=label_col,
        validation_from_train=validation_from_train,
        test_labelled=bool(test is not None and test.labelled),
        report=report,
        validation_fraction=share,
    )


def _clean_role(
    raw: datasets.DatasetDict,
    source: str,
    text_col: str,
    label_col: str,
    plan: Labels,
    notes: list[str],
    split: str,
    role: str,
) -> Split:
    """Clean one split in its role ("train", "validation", "test"), noting a missing label column or unseen labels."""
    ds = raw[split]
    columns = list(ds.features)
    if text_col not in columns:
        listing = ", ".join(columns)
        raise ColumnNotFound(f"text column {text_col!r} is not in {source} split {split!r} (columns: {listing})")
    label = label_col if label_col in columns else None
    if label is None and role != "test":
        notes.append(f"{role}: split {split!r} has no {label_col!r} column, so no labels")
    labels = split_labels(plan, ds.features[label]) if label else plan
    if label and role != "train":
        note_unknown_labels(ds, label, labels, role, notes)
    return finish_split(clean_split(ds, text_col, label, labels, split), keep_unlabelled=role == "test")


def _hold_out_validation(
    train: Split, share: float, watched: bool, seed: int, train_dropped: dict[str, int], notes: list[str]
) -> tuple[Split, Split]:
    """(train, validation): a seeded, stratified `share` of train held out for validation (`watched`: the
    smaller share of a run that keeps its last epoch, said in the note)."""
    keep, val_pos = holdout(train.labels, share, seed)
    validation = take_rows(train, val_pos)
    train_dropped[HELD_OUT] = len(val_pos)
    why = "; the last epoch is kept, so they only watch training" if watched else ""
    notes.append(
        f"no validation split: held out {len(val_pos):,} training row{'' if len(val_pos) == 1 else 's'} "
        f"({share:.0%}, stratified, seed {seed}{why})"
    )
    return take_rows(train, keep, rows_in=train.rows_in), validation


def _cap_train_rows(
    train: Split, cfg: DataConfig, train_dropped: dict[str, int], names: list[str], source: str
) -> Split:
    """The first `data.max_train_rows` training rows (all of them when unset)."""
    import numpy as np

    if cfg.max_train_rows is None:
        return train
    if cfg.max_train_rows < 1:
        raise DataError(f"data.max_train_rows={cfg.max_train_rows} must be >= 1")
    if cfg.max_train_rows < len(train.ds):
        train_dropped[OVER_MAX] = len(train.ds) - cfg.max_train_rows
        train = take_rows(train, np.arange(cfg.max_train_rows), rows_in=train.rows_in)
        require_two_classes(train.labels, names, source, f"first {cfg.max_train_rows:,} training rows")
    return train


def load_raw(cfg: DataConfig) -> tuple[datasets.DatasetDict, str]:
    """The splits of a dataset as stored and a readable source, read once for several `load_split(raw=)`
    calls (each split, each column choice) over the same data."""
    raw, source, _ = _load_raw(cfg)
    return raw, source


def load_split(
    cfg: DataConfig,
    split: str,
    label_names: list[str] | None = None,
    *,
    raw: tuple[datasets.DatasetDict, str] | None = None,
) -> tuple[datasets.Dataset, list[str]]:
    """One split as a (text, label) Dataset for evaluation, its labels mapped onto `label_names` (a run's).

    Rows without text or without a label are dropped (logged); labels the run does not know are an error.
    `raw`: what `load_raw(cfg)` returned for this data (no preset then fills `cfg`'s columns).
    """
    if raw is None:
        dd, source, cfg = _load_raw(cfg)
    else:
        dd, source = raw
    raw = dd
    available = list(raw)
    name = split
    if name not in available and name in VALIDATION_NAMES:
        name = next((s for s in VALIDATION_NAMES if s in available), name)
    if name not in available:
        raise SplitNotFound(f"split {split!r} not found in {source} (splits: {', '.join(available)})")
    ds = raw[name]
    where = f"{source} split {name!r}"
    text_col, label_col = find_columns(ds.features, cfg.text_column, cfg.label_column, where, require_label=False)
    if label_col is None:
        raise DataError(f"{where} has no label column, so it cannot be scored (columns: {', '.join(ds.features)})")
    own = plan_labels(ds, label_col, where, merge_variants=cfg.merge_label_variants) if label_names is None else None
    plan = own if own is not None else match_labels(ds, label_col, list(label_names or []), where)
    s = finish_split(clean_split(ds, text_col, label_col, plan, name), keep_unlabelled=False)
    if len(s.ds) == 0:
        raise NoLabelledRows(f"{where} has no labelled rows to score")
    if s.dropped:
        log.warning("%s: dropped %s", where, ", ".join(f"{v:,} {k}" for k, v in s.dropped.items()))
    return s.ds, plan.names
