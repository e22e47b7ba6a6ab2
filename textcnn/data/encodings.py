"""Which text encoding a file is in, told from its first bytes: UTF-8, UTF-16 after its byte-order mark,
or Windows-1252 (what spreadsheets on Windows write); and whether it is compressed data instead
(`compression`). Training's csv reader (sources.csv_layout) and `predict --file`'s line reader
(inference/io.py) decide it here, the same way.

Not here: opening or reading files (sources.py, io.py). Imports only the standard library (numpy in
`utf8_further`).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import PurePath
from typing import BinaryIO


def decoded(raw: bytes, encoding: str, *, whole: bool = False) -> str | None:
    """`raw` decoded strictly in `encoding` (a BOM dropped; unless `raw` is the `whole` file, a character
    cut by its end left out), or None when it holds bytes that are not. Strictly, not with
    errors="replace": a text may hold U+FFFD itself (scraped reviews do: 183 of MR's 9,596 texts), which
    is no sign of a file in another encoding."""
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        if whole or e.reason not in ("unexpected end of data", "truncated data"):  # (UTF-8, UTF-16)
            return None
        text = raw[: e.start].decode(encoding)
    return text.removeprefix("\ufeff")


COMPRESSIONS = (
    (b"\x1f\x8b", "gzip", ".gz"), (b"BZh", "bz2", ".bz2"), (b"\xfd7zXZ\x00", "xz", ".xz"),
    (b"\x28\xb5\x2f\xfd", "zstd", ".zst"), (b"PK\x03\x04", "zip", ".zip"),
)  # fmt: skip
"""(first bytes, name, file suffix) of the compressed formats a text file may turn out to be."""


def inner_suffix(p: PurePath, compressed: Collection[str]) -> str | None:
    """A file name's last suffix, lowercased, before a trailing compression suffix among `compressed`
    (reviews.csv.gz: .csv), or None for a name without one."""
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] in compressed:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else None


def compression(head: bytes) -> tuple[str, str] | None:
    """(name, suffix) of the compressed format whose first bytes `head` (at least 10 of them) are, or None
    for anything else (a text that starts with "BZh" is not bz2: its header goes on with a digit and
    "1AY&SY")."""
    for magic, name, suffix in COMPRESSIONS:
        if head.startswith(magic) and (name != "bz2" or (head[3:4].isdigit() and head[4:10] == b"1AY&SY")):
            return name, suffix
    return None


def compressed_note(head: bytes) -> str | None:
    """What to say of a file read as text whose first bytes `head` are a compressed format's (its name did
    not say so), or None when they are not."""
    packed = compression(head)
    if packed is None:
        return None
    if packed[0] == "zip":
        return "a zip archive, not text: end the file's name in .zip (or unpack it)"
    return f"{packed[0]}-compressed data, not text: end the file's name in {packed[1]} (or unpack it)"


WESTERN = "cp1252"
"""The encoding a csv that is not UTF-8 is read in when it is valid Windows-1252 (`text_encoding`)."""
WIDE = "utf-16"
"""The encoding of a file that starts with a UTF-16 byte-order mark (`text_encoding`)."""
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def text_encoding(raw: bytes, *, whole: bool = False) -> str:
    """'utf-8'; WIDE for a file whose first bytes `raw` (`sources._head_bytes`, `io.read_lines`) are a UTF-16 byte-order mark (as
    Windows PowerShell's Out-File and Excel's "Unicode text" write); or WESTERN for one that is not UTF-8,
    holds no UTF-8 character of several bytes at all (so not UTF-8 with a stray byte, which stays an error)
    and is valid Windows-1252: what spreadsheets on Windows write for Western languages ("café" as one
    byte 0xE9). `whole`: `raw` is the whole file, so a last byte that starts a UTF-8 character cannot
    be one cut by the end of the head ("a fine caf\xe9" is Windows-1252). A file that is UTF-8 with some
    lines that are not (rows pasted from another file) is 'utf-8', those lines bad lines
    (`not_utf8_lines`) that the readers name; `utf8_further` finds such a file whose first bytes alone
    look Windows-1252."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) and decoded(raw, WIDE) is not None:
        return WIDE
    if not raw or decoded(raw, "utf-8", whole=whole) is not None:
        return "utf-8"
    if b"\x00" in raw or _UTF8_MULTIBYTE.search(raw):
        return "utf-8"
    try:
        raw.decode(WESTERN)
    except UnicodeDecodeError:
        return "utf-8"
    return WESTERN


def utf8_further(fh: BinaryIO) -> bool:
    """Whether the rest of the binary stream `fh` (read to its end) holds a UTF-8 character of several bytes:
    then a file whose first bytes are Windows-1252 is UTF-8 further on, a mix of the two, not one."""
    import numpy as np

    last = b""
    while chunk := fh.read(1 << 22):
        if not chunk.isascii():  # a lead byte followed by a continuation byte (numpy: 5x a regex's speed)
            a = np.frombuffer(last + chunk, np.uint8)
            if ((a[:-1] >= 0xC2) & (a[:-1] <= 0xF4) & ((a[1:] & 0xC0) == 0x80)).any():
                return True
        last = chunk[-1:]  # a character across two chunks
    return False


def bad_byte(raw: bytes, e: UnicodeDecodeError) -> str:
    """Where a line's first undecodable byte is: "byte 0xff at column 3"."""
    return f"byte 0x{raw[e.start]:02x} at column {e.start + 1}"


def not_utf8_lines(fh: BinaryIO) -> tuple[list[int], str]:
    """The numbers (from 1) of the lines of the binary stream `fh` that are not UTF-8, read to its end in
    blocks of lines (one decode a block, line by line only in a block that fails), and where the first
    one's first bad byte is (`bad_byte`; "" when every line is UTF-8)."""
    bad: list[int] = []
    where, before = "", 0
    while block := fh.readlines(1 << 20):
        try:
            b"".join(block).decode("utf-8")
        except UnicodeDecodeError:
            for number, line in enumerate(block, start=before + 1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as e:
                    where = where or bad_byte(line, e)
                    bad.append(number)
        before += len(block)
    return bad, where


_SURROGATES = re.compile("[\udc80-\udcff]")
"""What errors="surrogateescape" makes of the bytes that are not UTF-8 (`escaped`)."""


def escaped(cells: list[str]) -> bool:
    """Whether text read with errors="surrogateescape" held bytes that are not UTF-8: a row or line the
    lenient readers and `predict --file` skip as a bad line."""
    return any(not cell.isascii() and _SURROGATES.search(cell) for cell in cells)


def encoding_note(name: str, encoding: str) -> str:
    """The warning that a file is read in `encoding` (WESTERN or WIDE), not UTF-8."""
    if encoding == WIDE:
        return f"{name} is UTF-16 (it starts with a UTF-16 byte-order mark): read as that"
    return f"{name} is not UTF-8: read as Windows-1252 ({encoding}); save it as UTF-8 if it is in another encoding"
