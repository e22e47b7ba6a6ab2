"""Data files read leniently (`data.bad_lines = "skip"`): csv / tsv rows with more fields than the header,
JSON lines that are not a record and lines that are not UTF-8 in a UTF-8 file are skipped, counted and
named in a warning, and every other row is kept. The default ("error") stops at the first such line and
names it, since a skipped line is a lost example; a user whose file has a few broken lines among many
asks for this instead.

Python's csv and json modules, one row at a time: slower than the `datasets` readers, which stop at such a
line, so used only when asked for. A row with fewer fields than the header is not skipped here: its
missing cells are empty, as the strict reader has them, and cleaning drops a row without text or label
and counts it in the data report.

Not here: how a csv's layout is found (sources.csv_layout), the strict readers (sources._read_files).
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

from textcnn.data.encodings import escaped

log = logging.getLogger("textcnn.data.sources")  # the reading warnings' logger


def read_csv(
    f: Path, sep: str, skip: int, encoding: str, names: list[str], has_header: bool, escape: str | None = None
) -> dict[str, list]:
    """The columns `names` of a csv read with csv quoting after `skip` lines (and its header line when
    `has_header`), every cell a string and an empty cell None (as the strict reader reads them); rows with
    more fields than `names`, and rows holding bytes that are not UTF-8, skipped and said in a warning each."""
    from textcnn.data.sources import open_csv_text

    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # a long document is one field (pandas has no limit)
    columns: dict[str, list[str | None]] = {n: [] for n in names}
    bad: list[int] = []
    not_utf8: list[int] = []
    with open_csv_text(f, encoding) as fh:
        for _ in range(skip):
            fh.readline()
        reader = csv.reader((line.replace("\x00", "") for line in fh), delimiter=sep, escapechar=escape)  # no NULs
        if has_header:
            next(reader, None)
        for row in reader:
            if not row:
                continue  # a blank line
            if len(row) > len(names):
                bad.append(reader.line_num + skip)
                continue
            if escaped(row):
                not_utf8.append(reader.line_num + skip)
                continue
            row = row + [""] * (len(names) - len(row))
            for name, cell in zip(names, row, strict=True):
                columns[name].append(cell or None)
    _note_skipped(f, bad, f"more fields than the header's {len(names)} ({', '.join(names)})")
    _note_skipped(f, not_utf8, "not UTF-8")
    return columns


def read_json_lines(f: Path) -> dict[str, list[Any]]:
    """The columns of a JSON lines file's records, every key any record has (None where a record lacks
    it); lines that are not a JSON object, and lines that are not UTF-8, skipped and said in a warning each."""
    from textcnn.data.sources import open_file

    records, bad, not_utf8 = [], [], []
    with open_file(f, "rt", encoding="utf-8-sig", errors="surrogateescape") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            if escaped([line]):
                not_utf8.append(n)
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if isinstance(record, dict):
                records.append(record)
            else:
                bad.append(n)
    _note_skipped(f, bad, "not a JSON record")
    _note_skipped(f, not_utf8, "not UTF-8")
    keys = dict.fromkeys(k for r in records for k in r)
    return {str(k): [r.get(k) for r in records] for k in keys}


def _note_skipped(f: Path, lines: list[int], why: str) -> None:
    from textcnn.data.sources import first_numbers

    if not lines:
        return
    shown = first_numbers(lines)
    log.warning("%s: skipped %s line%s (%s; data.bad_lines=skip): line%s %s", f.name, f"{len(lines):,}",
                "s" if len(lines) > 1 else "", why, "s" if len(lines) > 1 else "", shown)  # fmt: skip
