"""Datasets laid out as one folder per class of text files, one text a file: `DIR/CLASS/*.txt`, or with
split folders above them, `DIR/train/CLASS/*.txt` and `DIR/test/CLASS/*.txt` (IMDB's aclImdb, the 20
Newsgroups "bydate" archive, scikit-learn's `load_files` layout). The folder name is the label.

A file is a text when its name ends in .txt or has no suffix (20 Newsgroups' posts), and is not hidden;
other files beside the folders (aclImdb's `imdbEr.txt`, `labeledBow.feat`, a README) are not part of
it. A folder of unlabelled texts (aclImdb's `train/unsup`) is left out, with a warning. Files are read
as UTF-8; one that is not is read as Windows-1252 (20 Newsgroups' posts are Latin-1), counted in a
warning.

And datasets laid out as one file per class, one text a line, as the sentence benchmarks of Kim (2014)
ship: Pang & Lee's `rt-polaritydata/rt-polarity.pos` and `.neg`, `quote.tok.gt9.5000` and
`plot.tok.gt9.5000` (Subj), SentEval's `custrev.pos`, `mpqa.neg`, `subj.objective`, or `pos.txt` and
`neg.txt` (`class_files`). The part of the file names that differs is the label.

Not here: files of rows (sources.py), cleaning and splitting (cleaning.py).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from textcnn.data.encodings import WESTERN, WIDE, compression
from textcnn.errors import DataError

log = logging.getLogger(__name__)

SPLIT_FOLDERS = {"train": "train", "test": "test", "validation": "validation", "valid": "validation",
                 "val": "validation", "dev": "validation"}  # fmt: skip
"""Split folder name -> the split it holds."""
UNLABELLED = frozenset({"unsup", "unlabeled", "unlabelled"})
"""Class-level folder names that hold texts without a label (aclImdb's train/unsup)."""
TEXT_SUFFIXES = ("", ".txt")


def _is_text_name(name: str) -> bool:
    """A file name that is a text of these layouts: not hidden, .txt or no suffix."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in TEXT_SUFFIXES


def _texts_in(folder: Path) -> list[Path] | None:
    """The text files of `folder`, sorted, from one listing; None when it holds a folder."""
    texts = []
    with os.scandir(folder) as entries:
        for e in entries:  # the listing's own file kinds: no stat per file
            if e.is_dir():
                return None
            if _is_text_name(e.name) and e.is_file():
                texts.append(Path(e.path))
    return sorted(texts)


def _classes(folder: Path) -> dict[str, list[Path]] | None:
    """{class folder name: its text files} when `folder` holds at least two folders, every one of them
    (but hidden ones) holding text files and no folders; else None."""
    subs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(subs) < 2:
        return None
    classes = {}
    for d in subs:
        texts = _texts_in(d)
        if not texts:
            return None
        classes[d.name] = texts
    return classes


def _refuse_one_class(folder: Path) -> None:
    """A DataError when `folder` holds nothing but one folder of text files (not fastText's): a dataset of
    class folders with a single class, which would otherwise be read as files of rows and fail on its
    first .txt as a fastText file without labels."""
    entries = [e for e in folder.iterdir() if not e.name.startswith(".")]
    if len(entries) != 1 or not entries[0].is_dir():
        return
    texts = _texts_in(entries[0])
    if not texts or (labels := entries[0].name).lower() in UNLABELLED:
        return
    with open(texts[0], "rb") as f:
        head = f.read(4096)
    if any("__label__".encode(enc) in head for enc in ("utf-8", "utf-16-le", "utf-16-be")):
        return  # a folder of fastText files (data/train.txt): files of rows
    files = f"{len(texts):,} file" + "s" * (len(texts) != 1)
    raise DataError(
        f"{folder} holds one folder of text files ({labels}/, {files}): a dataset of class folders needs "
        "one folder per class, at least two (e.g. pos/ and neg/)"
    )


def class_folders(p: Path) -> dict[str, dict[str, list[Path]]] | None:
    """{split: {label: text files}} for a folder in one of the layouts above, else None; a DataError for
    one whose only class folder is a single one (nothing to tell apart)."""
    if not p.is_dir():
        return None
    subs = sorted(d for d in p.iterdir() if d.is_dir() and not d.name.startswith("."))
    if subs and all(d.name.lower() in SPLIT_FOLDERS for d in subs):
        subs.sort(key=lambda d: ("train", "validation", "test").index(SPLIT_FOLDERS[d.name.lower()]))
        splits = {}
        for d in subs:
            classes = _classes(d)
            if classes is None:
                _refuse_one_class(d)
                return None
            split = SPLIT_FOLDERS[d.name.lower()]
            if split in splits:
                raise DataError(f"{p}: two folders hold the {split} split ({d.name} and another); keep one")
            splits[split] = classes
        return splits if "train" in splits else None
    classes = _classes(p)
    if classes is None:
        _refuse_one_class(p)
        return None
    return {"train": classes}


def read_text_file(f: Path) -> tuple[str, bool]:
    """One file's text, stripped of surrounding whitespace, and whether it was UTF-8 (`decode_text`)."""
    text, utf8 = decode_text(_bytes_of(f))
    return text.strip(), utf8


def decode_text(raw: bytes) -> tuple[str, bool]:
    """`raw` as text, UTF-8 (a byte-order mark dropped) or else Windows-1252 (which decodes any bytes), and
    whether it was UTF-8."""
    try:
        return raw.decode("utf-8-sig"), True
    except UnicodeDecodeError:
        return raw.decode(WESTERN, errors="replace"), False


def _bytes_of(f: Path) -> bytes:
    try:
        return f.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {f}: {e.strerror}") from None


def text_files(root: Path) -> list[Path]:
    """Every text file below `root` (its sub-folders too; hidden files and folders left out), sorted by
    path: what `textcnn predict --file DIR` reads, one text a file."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(folder, f) for f in files if _is_text_name(f)]
    return sorted(found)


def read_class_folders(p: Path, layout: dict[str, dict[str, list[Path]]]) -> dict[str, dict[str, list[str]]]:
    """{split: {"text": [...], "label": [...]}} of a `class_folders` layout: each file's content (stripped of
    surrounding whitespace) and its folder's name."""
    out: dict[str, dict[str, list[str]]] = {}
    western = 0
    for split, classes in layout.items():
        texts: list[str] = []
        labels: list[str] = []
        for label, files in classes.items():
            if label.lower() in UNLABELLED:
                log.warning("%s: left out %s/ (%d files): a folder of unlabelled texts", p, label, len(files))
                continue
            for f in files:
                text, utf8 = read_text_file(f)
                western += not utf8
                texts.append(text)
                labels.append(label)
        out[split] = {"text": texts, "label": labels}
    if western:
        log.warning("%s: %d files are not UTF-8: read as Windows-1252 (%s)", p, western, WESTERN)
    n = sum(len(v["text"]) for v in out.values())
    shape = ", ".join(f"{split} {len(v['text']):,}" for split, v in out.items())
    log.warning("%s: one folder per class of text files, one text a file: %s texts (%s)", p, f"{n:,}", shape)
    return out


CLASS_NAME = re.compile(r"[^\W\d_][^\W\d]*(?:-[^\W\d]+)*")
"""A class named by a file: letters (and '_' or '-' between them), no digits (pos, objective, very_negative)."""
MAX_CLASS_FILES = 100
"""`class_files`: a folder of more files than this is not one file per class."""
NOT_DATA = ("readme", "license", "licence", "changelog", "citation")
"""Name parts of the files beside the data that are not data (rt-polaritydata.README.1.0.txt)."""


def class_files(p: Path) -> dict[str, Path] | None:
    """{label: file} when `p` is a folder of one file per class, one text a line: two to `MAX_CLASS_FILES`
    files (hidden ones and a README, licence, ... left out), no folders, none of them a table, a fastText
    file, one of separated columns (`sources.separated`) or compressed, each named apart from the others
    by the same parts of its name (`labels_of`: pos in rt-polarity.pos, quote in quote.tok.gt9.5000) that
    are a class's (`CLASS_NAME`) and not a split's (train.txt and test.txt are splits, not classes); else
    None."""
    from textcnn.data.sources import FORMATS, fasttext_lines, separated

    if not p.is_dir():
        return None
    files = []
    for e in sorted(p.iterdir()):
        if e.name.startswith("."):
            continue
        if e.is_dir():
            return None
        if not any(word in e.name.lower() for word in NOT_DATA):
            files.append(e)
    if not 2 <= len(files) <= MAX_CLASS_FILES:
        return None
    for f in files:
        suffix = f.suffix.lower()
        if (suffix in FORMATS and suffix != ".txt") or suffix in (".gz", ".bz2", ".xz", ".zst", ".zip", ".tar"):
            return None
        with open(f, "rb") as fh:
            head = fh.read(4096)
        if not head.strip() or compression(head) or fasttext_lines(f) or separated(f):
            return None
    labels = labels_of([f.name for f in files])
    if labels is None or any(label.lower() in SPLIT_FOLDERS or not CLASS_NAME.fullmatch(label) for label in labels):
        return None  # train.txt and test.txt are splits; essay1.txt and essay2.txt are not classes either
    return dict(zip(labels, files, strict=True))


def labels_of(names: list[str]) -> list[str] | None:
    """The labels of files named `names`: the dot-separated parts in which the names differ (all of them
    having as many parts), else each name without a .txt suffix; None when two would be the same."""
    parts = [name.split(".") for name in names]
    if len({len(x) for x in parts}) == 1:
        differ = [i for i in range(len(parts[0])) if len({x[i] for x in parts}) > 1]
        labels = [".".join(x[i] for i in differ) for x in parts]
    else:
        labels = [name[: -len(".txt")] if name.lower().endswith(".txt") else name for name in names]
    return labels if all(labels) and len(set(labels)) == len(labels) else None


def read_class_files(p: Path, files: dict[str, Path]) -> dict[str, list[str]]:
    """{"text": [...], "label": [...]} of a `class_files` layout: every non-blank line of each file (stripped
    of surrounding whitespace; UTF-8, UTF-16 after its byte-order mark, else Windows-1252) and its label."""
    texts: list[str] = []
    labels: list[str] = []
    western = []
    counts: dict[str, int] = {}
    for label, f in files.items():
        raw = _bytes_of(f)
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = raw.decode(WIDE, errors="replace")
        else:
            text, utf8 = decode_text(raw)
            if not utf8:
                western.append(f.name)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        texts += lines
        labels += [label] * len(lines)
        counts[label] = len(lines)
    if western:
        log.warning("%s: %s %s not UTF-8: read as Windows-1252 (%s)", p, ", ".join(western),
                    "is" if len(western) == 1 else "are", WESTERN)  # fmt: skip
    shown = ", ".join(f"{f.name} ({label}, {counts[label]:,})" for label, f in files.items())
    log.warning("%s: one file per class, one text a line, the label from the file's name: %s", p, shown)
    return {"text": texts, "label": labels}
