"""A table of plain text cells, drawn as rich draws its default table, without importing rich.

`textcnn predict RUN "text"` prints one small table and exits; importing rich for it cost about 40 ms
of a 0.45 s cold prediction. Every other table goes through rich (common.console).

Cells are the user's text: control characters (an escape sequence in a review) are shown as U+FFFD,
never sent to the terminal; East Asian wide characters count two columns. On a terminal the table fits
its width (the widest column is cut with "…") and the header is bold; elsewhere (a file, a pipe) it is
never cut, as common.console never wraps there.

`printable` does the same for the user's text in the commands' rich output (explain, evaluate), which
rich sends as it is.

Not here: rich tables (the commands), the predictions themselves (textcnn.inference).
"""

from __future__ import annotations

import os
import shutil
import sys
import unicodedata
from collections.abc import Sequence
from typing import TextIO

HEAVY_HEAD = ("┏━┳┓", "┃┃┃", "┡━╇┩", "││││", "└─┴┘")
"""rich's default box: top, header, header rule, body, bottom (left, line, between, right)."""
ASCII = ("+-++", "|||", "+-++", "||||", "+-++")
"""For an output that cannot encode the box characters."""
MIN_CUT_WIDTH = 10
"""A column cut to fit a terminal keeps at least this many columns."""


def cell_width(text: str) -> int:
    """Terminal columns of `text`: 2 for East Asian wide and fullwidth characters, 0 for combining marks."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def printable(text: str, keep: str = "") -> str:
    """`text` with every control or other non-printable character (but those in `keep`) shown as U+FFFD,
    one for one: an escape sequence in a user's text is shown, never sent to the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else "\ufffd" for c in text)


def cut(text: str, width: int) -> str:
    """`text` cut to at most `width` columns, ending in "…" when it was cut."""
    if cell_width(text) <= width:
        return text
    out, used = [], 0
    for c in text:
        w = cell_width(c)
        if used + w > width - 1:
            break
        out.append(c)
        used += w
    return "".join(out) + "…"


def render(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[int] = (), width: int | None = None,
    bold: bool = False, ascii_only: bool = False,
) -> str:  # fmt: skip
    """The table as text, one line per row, ending in a newline. `right`: the indices of right-justified
    columns; `width`: the most columns it may take (None: no limit); `bold`: the header in bold (ANSI)."""
    cells = [[printable(h) for h in headers]] + [[printable(c) for c in row] for row in rows]
    widths = [max(cell_width(r[i]) for r in cells) for i in range(len(headers))]
    if width is not None:
        over = sum(widths) + 3 * len(widths) + 1 - width
        widest = max(range(len(widths)), key=widths.__getitem__)
        if over > 0:
            widths[widest] = max(MIN_CUT_WIDTH, widths[widest] - over)
            cells = [[cut(c, widths[i]) for i, c in enumerate(r)] for r in cells]
    top, head, rule, body, bottom = ASCII if ascii_only else HEAVY_HEAD

    def line(chars: str) -> str:
        left, fill, between, end = chars
        return left + between.join(fill * (w + 2) for w in widths) + end

    def row(chars: str, r: list[str], style: bool) -> str:
        parts = []
        for i, (c, w) in enumerate(zip(r, widths, strict=True)):
            pad = " " * (w - cell_width(c))
            text = pad + c if i in right else c + pad
            parts.append(f"\x1b[1m {text} \x1b[0m" if style else f" {text} ")
        return chars[0] + chars[1].join(parts) + chars[-1]

    lines = [line(top), row(head, cells[0], bold), line(rule)]
    lines += [row(body, r, False) for r in cells[1:]]
    lines.append(line(bottom))
    return "\n".join(lines) + "\n"


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[int] = (), out: TextIO | None = None
) -> None:
    """`render` to `out` (stdout): fitted to the terminal with a bold header when it is one (and TERM is
    not "dumb"); box characters when its encoding has them."""
    out = out or sys.stdout
    terminal = out.isatty() and os.environ.get("TERM") != "dumb"
    columns = os.environ.get("COLUMNS")
    width = int(columns) if columns and columns.isdigit() else shutil.get_terminal_size().columns if terminal else None
    try:
        "┏━│".encode(getattr(out, "encoding", None) or "utf-8")  # a StringIO has none: it holds str
        ascii_only = False
    except (LookupError, UnicodeEncodeError):
        ascii_only = True
    text = render(headers, rows, right=right, width=width, bold=terminal, ascii_only=ascii_only)
    out.write(text)
    out.flush()
