"""Files of `LABEL:fine text` lines: Li & Roth's (2002) TREC question classification, as its authors and
SentEval ship it (`train_5500.label`, `TREC_10.label`; Windows-1252 bytes in a few questions):

    DESC:manner How did serfdom develop in and then leave Russia ?
    NUM:dist How far is it from Denver to Aspen ?

Read as columns `text`, `label` (the class before the colon: DESC, NUM, ..., Kim's six, the hub's
`coarse_label`) and `fine_label` (`DESC:manner`, the 50 fine classes: `--label-column fine_label`). The
`trec` preset reads such a local copy too, its `coarse_label` being this `label` (`sources._columns_of_copy`).

Not here: other files of rows (sources.py).
"""

from __future__ import annotations

import re
from pathlib import Path

from textcnn.data.folders import decode_text
from textcnn.errors import DataError

LINE = re.compile(r"([A-Za-z]+):(\S+)\s+(.*\S)")
"""A question line: coarse class, fine class, the question."""


def read_labelled_lines(f: Path) -> dict[str, list[str]]:
    """Columns text, label and fine_label of the `.label` file `f` (UTF-8, else Windows-1252; also
    compressed), blank lines skipped; a DataError naming the first line that is not `LABEL:fine text`."""
    from textcnn.data.sources import open_file  # .gz / .bz2 / .xz too

    try:
        with open_file(f, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read {f}: {getattr(e, 'strerror', None) or e}") from None
    text, _ = decode_text(raw)
    columns: dict[str, list[str]] = {"text": [], "label": [], "fine_label": []}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = LINE.fullmatch(line.strip())
        if m is None:
            shown = line if len(line) <= 60 else line[:57] + "..."
            raise DataError(f"{f} line {number} is not 'LABEL:fine question' (as 'NUM:dist How far ...?'): {shown!r}")
        columns["text"].append(m[3])
        columns["label"].append(m[1])
        columns["fine_label"].append(f"{m[1]}:{m[2]}")
    if not columns["text"]:
        raise DataError(f"{f} holds no 'LABEL:fine question' lines")
    return columns
