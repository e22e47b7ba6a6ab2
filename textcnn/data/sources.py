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

Messy data policy (each case is counted in the report):
- text: must be a string column (a numeric or list column is refused with a DataError that names it;
  CSV/TSV cells are always read as strings, so "123" or "NA" stay text). Missing (null) texts and
  empty / whitespace-only texts are dropped; texts are stripped of surrounding whitespace.
- labels: a ClassLabel feature gives the names. Otherwise strings are sorted and become names;
  integers (and whole-number floats or numeric strings) are sorted, named by their value ("2", "5",
  "9") and mapped to contiguous ids 0..C-1 (a `label_text` / `<label>_text` column, as in SetFit
  datasets, names them when it matches one-to-one). Non-whole floats and list labels are refused.
- null / empty labels mean "no label", and so does -1 (HF convention) with a ClassLabel or next to
  integer classes 0..K-1; elsewhere -1 is a class (polarity labels -1 / 1). Unlabelled rows are
  dropped from train and validation; a test split whose every label is missing is kept and flagged
  `test_labelled=False` (never scored); a partly labelled one loses its unlabelled rows.
- Labels the training data never uses are dropped from validation / test ("unknown label") unless the
  dataset's ClassLabel knows them; a ClassLabel class with no training rows is noted in the report.
- Exact duplicates (same text and label) are counted, not removed; texts with conflicting labels and
  validation / test texts that also occur in train are noted.
- Training data with a single class is refused; fewer rows than a batch is fine.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import logging
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textcnn.config import CONFIG_DIR, ConfigError, DataConfig, preset_path, read_toml
from textcnn.errors import ColumnNotFound, DataError, NoLabelledRows, SplitNotFound

if TYPE_CHECKING:  # pragma: no cover
    import datasets
    import numpy as np
    import pyarrow as pa

log = logging.getLogger(__name__)

TEXT_NAMES = ("text", "sentence", "content", "review", "document", "review_text", "tweet", "comment", "body")
"""Column names taken for the text, in order of preference (case-insensitive)."""
LABEL_NAMES = ("label", "labels", "class", "category", "target", "sentiment", "polarity", "y")
"""Column names taken for the label, in order of preference (case-insensitive)."""
VALIDATION_NAMES = ("validation", "valid", "dev", "val")
"""Split names used for model selection when data.validation_split is unset."""
FORMATS = {
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"sep": "\t"}),
    ".tab": ("csv", {"sep": "\t"}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
    ".ndjson": ("json", {}),
    ".parquet": ("parquet", {}),
    ".arrow": ("arrow", {}),
}
"""File suffix -> (datasets builder, its options); a trailing .gz / .bz2 / .xz / .zst is allowed."""
COMPRESSED = (".gz", ".bz2", ".xz", ".zst")

NO_LABEL = -1
UNLABELLED = "(unlabelled)"
"""class_counts key for rows without a label (an unlabelled test split)."""
HELD_OUT = "held out for validation"
OVER_MAX = "beyond data.max_train_rows"
REASONS = ("missing text", "empty text", "no label", "unknown label")
"""Why a row is dropped while cleaning, in report order."""


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
                shown = parts if len(parts) <= 6 else [*parts[:5], f"... {len(parts)} classes"]
                line += " | " + " ".join(shown)
            if r.duplicates:
                line += f" | {r.duplicates:,} duplicates"
            out.append(line)
        out += [f"note: {n}" for n in self.notes]
        return out


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


# ---------------------------------------------------------------------------------------------
# Presets


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
        local = _data_dir_copy([p.stem, data["hub_id"]])
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


# ---------------------------------------------------------------------------------------------
# Where the data comes from


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
    """$TEXTCNN_DATA_DIR/<name> for the first name that exists there (also the hub id's last part)."""
    return next((p for p in _data_dir_candidates(names) if p.exists()), None)


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
        names = [preset, hub_id, cfg.dataset if cfg.dataset and not _looks_like_path(cfg.dataset) else None]
        missing = " or ".join(str(p) for p in _data_dir_candidates(names))
        out.append(f"$TEXTCNN_DATA_DIR: no folder {missing}")
    if cfg.dataset and preset is None:
        out.append(f"a local file or folder {Path(cfg.dataset).expanduser().absolute()}: does not exist")
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
    local = _data_dir_copy([preset, hub_id, cfg.dataset if not _looks_like_path(cfg.dataset) else None])
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


def _first_line(e: BaseException) -> str:
    """The first line of the innermost cause (datasets wraps parse errors in a generic one)."""
    while e.__cause__ is not None:
        e = e.__cause__
    if isinstance(e, UnicodeDecodeError):
        return f"not UTF-8 text ({e.reason} at byte {e.start}); save the file as UTF-8"
    text = str(e).strip().splitlines()
    msg = text[0] if text else type(e).__name__
    return msg if len(msg) <= 200 else msg[:197] + "..."


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
        close = [c for c in _suggest(cfg.dataset) if c != cfg.dataset]
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
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes and suffixes[-1] in FORMATS else None


def _csv_features(path: Path, sep: str) -> datasets.Features:
    """Read every CSV column as a string, so labels and texts are typed by us, not guessed per chunk."""
    import datasets
    import pandas as pd

    columns = list(pd.read_csv(path, sep=sep, nrows=0).columns)
    return datasets.Features({c: datasets.Value("string") for c in columns})


def _require_rows(f: Path, builder: str, sep: str) -> None:
    """An empty file, or a csv with a header and no rows, is a DataError in words that name the file."""
    if f.stat().st_size == 0:
        raise DataError(f"{f} is empty (0 bytes): expected a header line such as text,label and one row per example")
    if builder != "csv":
        return
    import pandas as pd

    try:
        head = pd.read_csv(f, sep=sep, nrows=1, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{f} holds no columns (only blank lines): expected a header line such as text,label") from None
    except Exception:
        return  # other parse problems are reported by the reader below, with its own words
    if len(head) == 0:
        raise DataError(f"{f} has a header line ({', '.join(map(str, head.columns))}) but no data rows")


def _read_files(split: str, files: list[Path]) -> datasets.Dataset:
    """Load the data files of one split (csv, tsv, json, jsonl, parquet, arrow) into one Dataset."""
    import datasets

    parts = []
    for f in files:
        suffix = _format_suffix(f)
        if suffix is None:
            raise DataError(f"{f}: unsupported file type; use csv, tsv, json, jsonl or parquet")
        builder, options = FORMATS[suffix]
        options = dict(options)
        _require_rows(f, builder, options.get("sep", ","))
        try:
            if builder == "csv":
                # Only empty cells are missing: "NA", "null" or "None" stay texts.
                options.update(
                    features=_csv_features(f, options.get("sep", ",")), keep_default_na=False, na_values=[""]
                )
            parts.append(datasets.load_dataset(builder, data_files={split: [str(f)]}, split=split, **options))
        except DataError:
            raise
        except Exception as e:  # pandas / pyarrow parse errors, bad encodings, empty files
            raise DataError(f"could not read {f}: {_first_line(e)}") from None
    if len(parts) == 1:
        return parts[0]
    try:
        return datasets.concatenate_datasets(parts)
    except Exception as e:
        raise DataError(f"the {split} files do not share the same columns and types: {_first_line(e)}") from None


def _load_local(p: Path, hub_config: str | None) -> datasets.DatasetDict:
    """A file (one 'train' split) or a folder: save_to_disk output, hub layout, or split-named files."""
    import datasets
    from datasets.data_files import DataFilesDict, get_data_patterns

    if p.is_file():
        return datasets.DatasetDict({"train": _read_files("train", [p])})
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
    try:
        patterns = get_data_patterns(str(p))
        found = DataFilesDict.from_patterns(patterns, base_path=str(p))
    except Exception:
        found = {}
    splits = {}
    for split, files in found.items():
        usable = sorted(Path(f) for f in files if _format_suffix(Path(f)) is not None)
        if usable:
            splits[str(split)] = usable
    if not splits:
        raise DataError(f"no data files (csv, tsv, json, jsonl, parquet) found in {p}")
    return datasets.DatasetDict({split: _read_files(split, files) for split, files in splits.items()})


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
        given = cfg.dataset and Path(cfg.dataset).expanduser() == local
        origin = cfg.hub_id or (cfg.dataset if cfg.dataset and not given else None)
        source = f"{local} (local copy of {origin})" if origin else str(local)
        return _load_local(local, cfg.hub_config), source, cfg
    config = f", config {cfg.hub_config!r}" if cfg.hub_config else ""
    return _load_hub(hub_id, cfg, preset), f"{hub_id} (Hugging Face Hub{config})", cfg


# ---------------------------------------------------------------------------------------------
# Columns and splits


def _is_string(feature: Any) -> bool:
    return getattr(feature, "dtype", None) in ("string", "large_string")


def _describe(feature: Any) -> str:
    dtype = getattr(feature, "dtype", None)
    return dtype if isinstance(dtype, str) and dtype != "list" else type(feature).__name__


def _pick(columns: list[str], names: tuple[str, ...], exclude: str | None) -> list[str]:
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
        found = _pick(columns, LABEL_NAMES, text_column)
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
        found = _pick(columns, TEXT_NAMES, label)
        if not found:
            found = [c for c in columns if c != label and _is_string(features[c])]
        if len(found) > 1 and found[0].lower() != "text":
            raise DataError(
                f"ambiguous text column in {where}: {', '.join(found)} {listing}; choose one with --text-column"
            )
        if not found:
            raise DataError(f"no text column found in {where} {listing}; choose one with --text-column")
        text = found[0]
    if text == label:
        raise DataError(f"the text and label columns are both {text!r}; choose different columns {listing}")
    if not _is_string(features[text]):
        strings = [c for c in columns if _is_string(features[c]) and c != label]
        hint = f"string columns: {', '.join(strings)}" if strings else f"columns: {', '.join(columns)}"
        raise DataError(
            f"text column {text!r} in {where} holds {_describe(features[text])} values, not text ({hint}); "
            "choose another with --text-column"
        )
    return text, label


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


# ---------------------------------------------------------------------------------------------
# Labels


@dataclass
class _Labels:
    """How raw label values become ids: names, and a map from normalized raw values to ids."""

    names: list[str]
    mapping: dict[Any, int]
    numeric: bool
    """Normalize raw values as numbers (ints, whole floats, numeric strings) rather than as strings."""
    classlabel: bool = False


def _label_key(value: Any, numeric: bool) -> Any:
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
    if not s:
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


def _unique(ds: datasets.Dataset, column: str) -> list[Any]:
    import pyarrow.compute as pc

    return pc.unique(_arrow(ds).column(column)).to_pylist()


def _arrow(ds: datasets.Dataset) -> pa.Table:
    """The dataset's rows as a pyarrow Table (zero-copy when there is no indices mapping)."""
    return ds.with_format("arrow")[:]


def _plan_labels(ds: datasets.Dataset, label: str, where: str) -> _Labels:
    """Label names and the raw value -> id map, from the training split."""
    import datasets

    feature = ds.features[label]
    if isinstance(feature, datasets.ClassLabel):
        names = list(feature.names)
        mapping: dict[Any, int] = {i: i for i in range(len(names))}
        mapping.update({n: i for i, n in enumerate(names)})
        return _Labels(names, mapping, numeric=True, classlabel=True)
    dtype = getattr(feature, "dtype", None)
    if not isinstance(feature, datasets.Value) or dtype in ("binary", "large_binary", "null"):
        raise DataError(
            f"label column {label!r} in {where} holds {_describe(feature)} values, not one label per row "
            "(textcnn does single-label classification); choose another with --label-column"
        )
    raw = [v for v in _unique(ds, label) if v is not None]
    numeric = dtype != "bool" and not _is_string(feature)
    if _is_string(feature):
        keys = {_label_key(v, numeric=True) for v in raw} - {None}
        numeric = bool(keys) and all(isinstance(k, (int, float)) for k in keys)
    keys = {_label_key(v, numeric) for v in raw} - {None}
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
    return _Labels(names, {v: i for i, v in enumerate(values)}, numeric=numeric)


def _names_from_text_column(ds: datasets.Dataset, label: str, values: list[int]) -> list[str] | None:
    """Names from a `label_text`-style column (SetFit datasets) when it matches the ids one-to-one."""
    columns = list(ds.features)
    for cand in (f"{label}_text", f"{label}_name", "label_text", "label_name"):
        if cand not in columns or not _is_string(ds.features[cand]):
            continue
        pairs = _arrow(ds).select([label, cand]).group_by([label, cand]).aggregate([]).to_pylist()
        by_id: dict[Any, set[str]] = {}
        for row in pairs:
            key = _label_key(row[label], numeric=True)
            if key is not None and row[cand] is not None:
                by_id.setdefault(key, set()).add(row[cand].strip())
        names = [next(iter(by_id[v])) if len(by_id.get(v, ())) == 1 else None for v in values]
        if all(names) and len(set(names)) == len(names):
            return names
    return None


def _split_labels(plan: _Labels, feature: Any) -> _Labels:
    """The map for another split: a ClassLabel split with other names is remapped by name."""
    import datasets

    if not plan.classlabel or not isinstance(feature, datasets.ClassLabel) or feature.names == plan.names:
        return plan
    mapping: dict[Any, int] = {n: i for i, n in enumerate(plan.names)}
    mapping.update({j: mapping[n] for j, n in enumerate(feature.names) if n in mapping})
    return _Labels(plan.names, mapping, numeric=True, classlabel=True)


# ---------------------------------------------------------------------------------------------
# Cleaning: one batched, cached Dataset.map per split


def _clean_batch(
    batch: dict[str, list], *, text_column: str, label_column: str | None, mapping: dict, numeric: bool
) -> dict[str, list]:
    """Raw rows -> text (stripped), label id (-1 = none) and the reason to drop the row ("" = keep)."""
    texts = batch[text_column]
    raw_labels = batch[label_column] if label_column else [None] * len(texts)
    out_text, out_label, out_drop = [], [], []
    for text, raw in zip(texts, raw_labels, strict=True):
        label, reason = NO_LABEL, ""
        key = _label_key(raw, numeric)
        if key is None:
            reason = "no label"
        elif key in mapping:
            label = mapping[key]
        elif key in (NO_LABEL, str(NO_LABEL)):
            reason = "no label"
        else:
            reason = "unknown label"
        text = text.strip() if text is not None else None
        if text is None:
            reason = "missing text"
        elif not text:
            reason = "empty text"
        out_text.append(text or "")
        out_label.append(label)
        out_drop.append(reason)
    return {"text": out_text, "label": out_label, "_drop": out_drop}


@functools.cache
def _code_hash() -> str:
    """Hash of the cleaning code: `datasets` hashes module functions by name only, not by their code."""
    src = "".join(inspect.getsource(f) for f in (_clean_batch, _label_key))
    return hashlib.sha256(src.encode()).hexdigest()[:16]


def _clean(ds: datasets.Dataset, text: str, label: str | None, labels: _Labels, split: str) -> datasets.Dataset:
    """Map a raw split to columns text, label and _drop (cached by fingerprint)."""
    import datasets
    from datasets.fingerprint import Hasher

    kwargs = {"text_column": text, "label_column": label, "mapping": labels.mapping, "numeric": labels.numeric}
    keep = [text] + ([label] if label else [])
    ds = ds.select_columns(keep)
    fingerprint = Hasher.hash([ds._fingerprint, _code_hash(), kwargs])
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.Value("int64"), "_drop": datasets.Value("string")}
    )
    return ds.map(
        _clean_batch,
        batched=True,
        batch_size=10_000,
        fn_kwargs=kwargs,
        remove_columns=keep,
        features=features,
        new_fingerprint=fingerprint,
        desc=f"Cleaning {split}",
    )


@dataclass
class _Split:
    """A cleaned split: the dataset (kept rows) and the counts behind its report."""

    ds: datasets.Dataset
    labels: np.ndarray
    hashes: np.ndarray
    """(N,) uint64, one hash per text (`_text_hashes`): duplicates and overlaps are counted on these."""
    rows_in: int
    dropped: dict[str, int]
    labelled: bool


def _finish(mapped: datasets.Dataset, keep_unlabelled: bool) -> _Split:
    """Count the drop reasons and keep the usable rows (unlabelled ones too for an unlabelled test split)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    table = _arrow(mapped)
    counts = {r["values"]: r["counts"] for r in pc.value_counts(table.column("_drop")).to_pylist()}
    labelled = counts.get("", 0) > 0
    keep_reasons = {""} | ({"no label"} if keep_unlabelled and not labelled else set())
    dropped = {r: counts.get(r, 0) for r in REASONS if r not in keep_reasons and counts.get(r, 0)}
    mask = pc.is_in(table.column("_drop"), value_set=pa.array(sorted(keep_reasons)))
    mask_np = mask.to_numpy(zero_copy_only=False)
    ds = mapped.remove_columns("_drop")
    if not mask_np.all():
        ds = ds.select(np.flatnonzero(mask_np))
    return _Split(
        ds=ds,
        labels=table.column("label").to_numpy()[mask_np],
        hashes=_text_hashes(table.column("text"))[mask_np],
        rows_in=len(mapped),
        dropped=dropped,
        labelled=labelled,
    )


# ---------------------------------------------------------------------------------------------
# Held-out validation and the report


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


def _class_counts(labels: np.ndarray, names: list[str], labelled: bool) -> dict[str, int]:
    import numpy as np

    if not labelled:
        return {UNLABELLED: len(labels)}
    counts = np.bincount(labels[labels >= 0], minlength=len(names))
    return {name: int(c) for name, c in zip(names, counts, strict=True)}


def _text_hashes(texts: pa.ChunkedArray, rows_per_block: int = 20_000) -> np.ndarray:
    """(N,) uint64: a 64-bit polynomial hash of each text's UTF-8 bytes and its length, computed with
    numpy straight from the Arrow buffers in blocks, so a large split is never copied or turned into
    Python strings (two different texts share a hash with probability ~N^2 / 2^64)."""
    import numpy as np
    import pyarrow as pa

    out = np.empty(len(texts), dtype=np.uint64)
    row = 0
    for chunk in texts.chunks:
        offset_type = np.int32 if pa.types.is_string(chunk.type) else np.int64  # string / large_string
        for start in range(0, len(chunk), rows_per_block):
            part = chunk.slice(start, rows_per_block)
            offsets = np.frombuffer(part.buffers()[1], dtype=offset_type)[part.offset : part.offset + len(part) + 1]
            offsets = offsets.astype(np.int64)
            data = np.frombuffer(part.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]] if len(part) else []
            starts, lengths = offsets[:-1] - offsets[0], np.diff(offsets)
            pos = np.arange(len(data), dtype=np.int64) - np.repeat(starts, lengths)  # byte index within its text
            powers = np.cumprod(np.full(int(lengths.max(initial=0)) + 1, _HASH_BASE, dtype=np.uint64))
            terms = (np.asarray(data, dtype=np.uint64) + np.uint64(1)) * powers[pos]  # wraps mod 2^64
            sums = np.concatenate([np.zeros(1, dtype=np.uint64), np.cumsum(terms, dtype=np.uint64)])
            h = sums[starts + lengths] - sums[starts]
            out[row : row + len(part)] = h ^ (lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
            row += len(part)
    return out


_HASH_BASE = 0x100000001B3  # the 64-bit FNV prime, as a polynomial base


def _duplicates(hashes: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
    """(rows repeating an earlier (text, label) pair, texts that occur with more than one label)."""
    import numpy as np

    if len(hashes) == 0:
        return 0, 0
    pairs = np.unique(np.stack([hashes, labels.astype(np.uint64)], axis=1), axis=0)  # (P, 2) distinct pairs
    _, per_text = np.unique(pairs[:, 0], return_counts=True)
    return len(hashes) - len(pairs), int((per_text > 1).sum())


def _take(s: _Split, positions: np.ndarray, rows_in: int | None = None) -> _Split:
    """The rows of a split at `positions` (kept-row positions, in order)."""
    import numpy as np

    positions = np.asarray(positions, dtype=np.int64)
    return _Split(
        ds=s.ds.select(positions),
        labels=s.labels[positions],
        hashes=s.hashes[positions],
        rows_in=len(positions) if rows_in is None else rows_in,
        dropped={},
        labelled=s.labelled,
    )


# ---------------------------------------------------------------------------------------------
# Public entry points


def load_data(cfg: DataConfig, seed: int = 0) -> LoadedData:
    """Load, clean and split a dataset: train, validation (held out of train if absent) and test if present."""
    import numpy as np

    raw, source, cfg = _load_raw(cfg)
    train_name, val_name, test_name = _choose_splits(list(raw), cfg)
    where = f"{source} split {train_name!r}"
    text_col, label_col = find_columns(raw[train_name].features, cfg.text_column, cfg.label_column, where)
    assert label_col is not None
    plan = _plan_labels(raw[train_name], label_col, where)
    names = plan.names
    notes: list[str] = []

    def clean(split: str, role: str) -> _Split:
        ds = raw[split]
        columns = list(ds.features)
        if text_col not in columns:
            listing = ", ".join(columns)
            raise ColumnNotFound(f"text column {text_col!r} is not in {source} split {split!r} (columns: {listing})")
        label = label_col if label_col in columns else None
        if label is None and role != "test":
            notes.append(f"{role}: split {split!r} has no {label_col!r} column, so no labels")
        labels = _split_labels(plan, ds.features[label]) if label else plan
        if label and role != "train":
            _note_unknown_labels(ds, label, labels, role, notes)
        return _finish(_clean(ds, text_col, label, labels, split), keep_unlabelled=role == "test")

    train = clean(train_name, "train")
    if len(train.ds) == 0:
        reasons = ", ".join(f"{v:,} {k}" for k, v in train.dropped.items())
        raise DataError(f"no usable training rows in {source} ({reasons})")
    _require_two_classes(train.labels, names, source, "training data")

    validation = clean(val_name, "validation") if val_name else None
    if validation is not None and len(validation.ds) == 0:
        notes.append(f"validation split {val_name!r} has no labelled rows; holding out part of train instead")
        validation = None
    validation_from_train = validation is None
    train_dropped = dict(train.dropped)
    if validation_from_train:
        keep, val_pos = holdout(train.labels, cfg.validation_fraction, seed)
        validation = _take(train, val_pos)
        train_dropped[HELD_OUT] = len(val_pos)
        train = _take(train, keep, rows_in=train.rows_in)
        notes.append(
            f"no validation split: held out {len(val_pos):,} training rows "
            f"({cfg.validation_fraction:.0%}, stratified, seed {seed})"
        )
    if cfg.max_train_rows is not None:
        if cfg.max_train_rows < 1:
            raise DataError(f"data.max_train_rows={cfg.max_train_rows} must be >= 1")
        if cfg.max_train_rows < len(train.ds):
            train_dropped[OVER_MAX] = len(train.ds) - cfg.max_train_rows
            train = _take(train, np.arange(cfg.max_train_rows), rows_in=train.rows_in)
            _require_two_classes(train.labels, names, source, f"first {cfg.max_train_rows:,} training rows")

    test = clean(test_name, "test") if test_name else None
    if test is not None and len(test.ds) == 0:
        notes.append(f"test split {test_name!r} has no usable rows; it is left out")
        test = None
    test_labelled = bool(test is not None and test.labelled)

    parts = {"train": train, "validation": validation, "test": test}
    reports = _split_reports({k: v for k, v in parts.items() if v is not None}, train_dropped, names, notes)
    _note_classes(train, validation, names, notes)
    splits = {name: s.ds for name, s in parts.items() if s is not None}
    columns = f"text column {text_col!r}, label column {label_col!r}, {len(names)} classes"
    report = DataReport(splits=reports, notes=notes, source=f"{source}; {columns}")
    for line in report.lines():
        log.debug(line)
    return LoadedData(
        splits=splits,
        label_names=names,
        source=source,
        text_column=text_col,
        label_column=label_col,
        validation_from_train=validation_from_train,
        test_labelled=test_labelled,
        report=report,
    )


def _split_reports(
    parts: dict[str, _Split], train_dropped: dict[str, int], names: list[str], notes: list[str]
) -> dict[str, SplitReport]:
    """One SplitReport per split; notes texts with conflicting labels and texts shared with train."""
    import numpy as np

    reports: dict[str, SplitReport] = {}
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
            notes.append(f"train: {conflicts:,} texts occur with more than one label")
        overlap = int(np.isin(s.hashes, parts["train"].hashes).sum()) if name != "train" else 0
        if overlap:
            notes.append(f"{name}: {overlap:,} of {len(s.hashes):,} texts also occur in train")
    return reports


def _require_two_classes(labels: np.ndarray, names: list[str], source: str, what: str) -> None:
    import numpy as np

    present = np.unique(labels[labels >= 0])
    if len(present) < 2:
        only = f" ({names[present[0]]!r})" if len(present) else ""
        raise DataError(f"the {what} of {source} has only one class{only}; a classifier needs at least two")


def _note_unknown_labels(ds: datasets.Dataset, label: str, labels: _Labels, role: str, notes: list[str]) -> None:
    keys = {_label_key(v, labels.numeric) for v in _unique(ds, label)} - {None, NO_LABEL, str(NO_LABEL)}
    unknown = sorted((k for k in keys if k not in labels.mapping), key=str)
    if unknown:
        shown = ", ".join(repr(k) for k in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        notes.append(f"{role}: labels never seen in train ({shown}) are dropped as 'unknown label'")


def _note_classes(train: _Split, validation: _Split, names: list[str], notes: list[str]) -> None:
    import numpy as np

    in_train = np.bincount(train.labels[train.labels >= 0], minlength=len(names))
    in_val = np.bincount(validation.labels[validation.labels >= 0], minlength=len(names))
    for i, name in enumerate(names):
        if in_train[i] == 0 and in_val[i] > 0:
            notes.append(f"class {name!r} occurs in validation ({in_val[i]:,} rows) but never in train")
        elif in_train[i] == 0:
            notes.append(f"class {name!r} has no training rows")
    counts = in_train[in_train > 0]
    if len(counts) > 1 and counts.max() >= 10 * counts.min():
        notes.append(f"train is imbalanced: largest class {counts.max():,} rows, smallest {counts.min():,}")


def load_split(cfg: DataConfig, split: str, label_names: list[str] | None = None) -> tuple[datasets.Dataset, list[str]]:
    """One split as a (text, label) Dataset for evaluation, its labels mapped onto `label_names` (a run's).

    Rows without text or without a label are dropped (logged); labels the run does not know are an error.
    """
    raw, source, cfg = _load_raw(cfg)
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
    own = _plan_labels(ds, label_col, where) if label_names is None else None
    plan = own if own is not None else _match_labels(ds, label_col, list(label_names or []), where)
    s = _finish(_clean(ds, text_col, label_col, plan, name), keep_unlabelled=False)
    if len(s.ds) == 0:
        raise NoLabelledRows(f"{where} has no labelled rows to score")
    if s.dropped:
        log.warning("%s: dropped %s", where, ", ".join(f"{v:,} {k}" for k, v in s.dropped.items()))
    return s.ds, plan.names


def _match_labels(ds: datasets.Dataset, label: str, names: list[str], where: str) -> _Labels:
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
        return _Labels(names, mapping, numeric=True, classlabel=True)
    plan = _plan_labels(ds, label, where)
    values = list(plan.mapping)  # normalized raw values present in the split
    if all(str(v) in by_name for v in values):
        return _Labels(names, {v: by_name[str(v)] for v in values}, numeric=plan.numeric)
    if plan.numeric and all(isinstance(v, int) and 0 <= v < len(names) for v in values):
        log.info("%s: integer labels taken as ids of %s", where, run)
        return _Labels(names, {v: v for v in values}, numeric=True)
    unknown = [str(v) for v in values if str(v) not in by_name]
    raise DataError(f"labels of {where} ({', '.join(unknown[:5])}) are not among {run}")
