"""Pretrained word vectors: read word2vec / GloVe / fastText files into an embedding matrix.

Kim (2014, arXiv:1408.5882) initialises the embedding layer of CNN-static, CNN-non-static and
CNN-multichannel from pretrained word vectors; `load_vectors` builds that matrix for a vocabulary:
row i holds the vector of the word with id i. This module only reads files: it does not download
anything, and it does not know about models or training (the embedding layer takes the tensor).

Where to get vectors (none are shipped; download one and pass its path as `model.embeddings`):

- word2vec GoogleNews, 300-d binary (what Kim used): `GoogleNews-vectors-negative300.bin.gz`,
  3M cased words and phrases, from https://code.google.com/archive/p/word2vec/
- GloVe (https://nlp.stanford.edu/projects/glove/): e.g. `glove.6B.300d.txt` (lowercased) or
  `glove.840B.300d.txt` (cased); plain text without a header line.
- fastText (https://fasttext.cc/docs/en/english-vectors.html): `crawl-300d-2M.vec(.gz)`; text with
  a "count dim" header. fastText `.bin` *model* files are a different format: use the `.vec`.

Formats read (each optionally gzipped, detected by the gzip magic bytes): word2vec binary ("V E"
header line, then per word: the word, a space, E little-endian float32, optionally a newline), and
text: word2vec text / fastText .vec (header) or GloVe (no header), one "word v1 ... vE" line per
word. `detect_format` decides from the content (see there); the file name only breaks a tie.

Rules:
- Files are streamed; only the vocabulary's words are kept. For text files only the first token of
  a line is split off and looked up; the floats are parsed only for vocabulary words.
- Duplicate words: the first occurrence wins. A line we would use whose value count is not the
  file's dimension (or whose values do not parse) is skipped and counted (`skipped_lines`).
- Binary words are decoded as UTF-8 with errors="replace", so a word with odd bytes still loads.
- Case fallback (`lowercase_fallback=True`): a vocabulary word with no exact entry takes the vector
  of a case variant (same `str.lower()`), the first such variant in the file; files are sorted by
  frequency, so that is the most frequent variant. An exact entry always wins, wherever it is.
- Words not found get U[-a, a] with a chosen so that their variance equals the variance of the
  found pretrained vectors (a^2 / 3 = var, Kim 2014); a = 0.25 if nothing is found. The padding row
  (id 0) is zero; the other special ids ([UNK], ...) are random like unknown words.
"""

from __future__ import annotations

import gzip
import io
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import torch

from textcnn.errors import VectorsError

log = logging.getLogger(__name__)

DEFAULT_INIT_RANGE = 0.25
"""`a` of U[-a, a] when no pretrained vector was found (Kim's code uses 0.25)."""

_GZIP_MAGIC = b"\x1f\x8b"
_FASTTEXT_BIN_MAGIC = (793712314).to_bytes(4, "little")
_CHUNK = 1 << 24  # 16 MiB reads for the binary format
_MAX_WORD_BYTES = 1 << 16  # a "word" longer than this means the file is not word2vec binary
_CONTROL_BYTES = frozenset(range(32)) - set(b"\t\n\r")


@dataclass
class VectorsResult:
    vectors: torch.Tensor
    """[V, E] float32; row i is the vector of vocabulary id i; the padding row (id 0) is zero."""
    found: int
    """Vocabulary words that got a pretrained vector (exactly or through a case variant)."""
    vocab_coverage: float
    """found / (V - number of special ids)."""
    token_coverage: float | None
    """Share of the training tokens whose word was found (None without token counts)."""
    dim: int
    """Vector size E, read from the file."""
    init_range: float
    """`a` of U[-a, a] used for the words not found."""
    words: int = 0
    """Vocabulary words looked up (V minus the special ids)."""
    by_case_variant: int = 0
    """Of `found`, the words that took a case variant's vector."""
    skipped_lines: int = 0
    """Lines of vocabulary words skipped because their values were malformed."""
    format: str = ""
    """'word2vec-bin' or 'text'."""

    def summary(self) -> str:
        """One line, e.g. 'found 12,345 of 14,800 words (83.4%), 96.1% of training tokens; dim 300; ...'."""
        parts = [f"found {self.found:,} of {self.words:,} words ({self.vocab_coverage:.1%})"]
        if self.by_case_variant:
            parts[0] += f" ({self.by_case_variant:,} by case variant)"
        if self.token_coverage is not None:
            parts[0] += f", {self.token_coverage:.1%} of training tokens"
        parts.append(f"dim {self.dim}")
        parts.append(f"unknown words U[-{self.init_range:.2f}, {self.init_range:.2f}]")
        if self.skipped_lines:
            s = "" if self.skipped_lines == 1 else "s"
            parts.append(f"{self.skipped_lines:,} malformed line{s} skipped")
        return "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# Opening and format detection


def _open(path: Path) -> IO[bytes]:
    """The file as a binary stream, transparently gunzipped (detected by magic bytes)."""
    if not path.is_file():
        raise VectorsError(f"vectors file {path} does not exist")
    with path.open("rb") as f:
        magic = f.read(2)
    if magic == _GZIP_MAGIC:
        return io.BufferedReader(gzip.GzipFile(path, "rb"), buffer_size=1 << 20)
    return path.open("rb", buffering=1 << 20)


def _parse_header(line: bytes) -> tuple[int, int] | None:
    """(count, dim) if `line` is a word2vec/fastText header 'V E', else None."""
    parts = line.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    count, dim = int(parts[0]), int(parts[1])
    return (count, dim) if dim > 0 else None


def detect_format(path: str | Path) -> str:
    """'word2vec-bin' or 'text' (word2vec text, GloVe, fastText .vec), gzipped or not.

    No 'V E' header line: text (GloVe). After a header: text if the next line is a word and E
    numbers; binary if the 4 * E bytes after the first word hold control bytes (raw float32 almost
    always does). Otherwise a .txt/.vec name means text and .bin binary; without a hint, binary if
    another word follows those 4 * E bytes.
    """
    path = Path(path)
    with _open(path) as f:
        head = f.read(1 << 16)
    if not head.strip():
        raise VectorsError(f"vectors file {path} is empty")
    if head[:4] == _FASTTEXT_BIN_MAGIC:
        raise VectorsError(f"{path} is a fastText .bin model, not vectors; use the matching .vec file")
    first, nl, rest = head.partition(b"\n")
    header = _parse_header(first)
    if header is None:
        if len(first.split()) < 2:
            raise VectorsError(f"{path} is not a vectors file: first line is neither 'count dim' nor 'word values'")
        return "text"
    # After the header, text has a line of `dim` numbers. Binary has the word, a space, 4 * dim bytes
    # of float32 (which for real vectors include control bytes that text never has), then the next word.
    dim = header[1]
    sample = rest.lstrip(b"\n")
    sp = sample.find(b" ")
    if sp < 0:
        return "text"
    values = sample[sp + 1 :].split(b"\n", 1)[0].split()
    if len(values) == dim and all(_is_number(v) for v in values):
        return "text"
    body = sample[sp + 1 : sp + 1 + 4 * dim]
    if set(body) & _CONTROL_BYTES:
        return "word2vec-bin"
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    if suffixes and suffixes[-1] in (".txt", ".vec"):
        return "text"
    if suffixes and suffixes[-1] == ".bin":
        return "word2vec-bin"
    after = sample[sp + 1 + 4 * dim :].lstrip(b"\n")
    next_word = after.split(b"\n", 1)[0].find(b" ")
    return "word2vec-bin" if len(body) == 4 * dim and (not after or next_word > 0) else "text"


def _is_number(token: bytes) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Loading


class _Collector:
    """Writes the vectors of vocabulary words (exact or case variant) into a [V, E] matrix."""

    def __init__(self, vocab: dict[str, int], specials: tuple[int, ...], lowercase_fallback: bool):
        self.size = max(vocab.values()) + 1
        self.specials = {0} | {s for s in specials if 0 <= s < self.size}  # id 0 is always padding
        self.exact: dict[bytes, int] = {}
        self.lower: dict[bytes, list[int]] = {}
        for word, i in vocab.items():
            if i in self.specials:
                continue
            try:
                wb = word.encode("utf-8")
            except UnicodeEncodeError:  # lone surrogates cannot be in a file either
                continue
            self.exact[wb] = i
            if lowercase_fallback:
                self.lower.setdefault(word.lower().encode("utf-8"), []).append(i)
        self.out: np.ndarray | None = None
        self.is_exact = np.zeros(self.size, dtype=bool)
        self.have = np.zeros(self.size, dtype=bool)
        self.skipped = 0

    def start(self, dim: int) -> None:
        self.dim = dim
        self.out = np.zeros((self.size, dim), dtype=np.float32)

    def targets(self, wb: bytes) -> tuple[int, list[int]]:
        """(id this word is the exact entry for, or -1; ids still without a vector that are its case variants)."""
        i = self.exact.get(wb)
        if not self.lower and (i is not None or wb.isascii()):  # fast path without case fallback
            return (-1, []) if i is None or self.is_exact[i] else (i, [])
        if wb.isascii():
            key = wb.lower()
        else:
            s = wb.decode("utf-8", "replace")
            sb = s.encode("utf-8")
            if i is None and sb != wb:  # odd bytes: the replacement-decoded word may be a vocabulary word
                i = self.exact.get(sb)
            key = s.lower().encode("utf-8")
        if i is None or self.is_exact[i]:  # not a vocabulary word, or a duplicate: the first one won
            i = -1
        ids = self.lower.get(key)
        if not ids:
            return i, []
        return i, [j for j in ids if j != i and not self.have[j]]

    def put(self, exact: int, variants: list[int], vec: np.ndarray) -> None:
        assert self.out is not None
        if exact >= 0:
            self.out[exact] = vec
            self.is_exact[exact] = True
            self.have[exact] = True
        for j in variants:
            self.out[j] = vec
            self.have[j] = True


def _read_text(f: IO[bytes], col: _Collector, path: Path) -> None:
    lines: Iterator[bytes] = iter(f)
    first = next(lines, b"").removeprefix(b"\xef\xbb\xbf")
    header = _parse_header(first)
    if header is not None:
        dim = header[1]
        pending: list[bytes] = []
    else:
        dim = len(first.split()) - 1
        if dim < 1:
            raise VectorsError(f"{path} is not a vectors file: first line is neither 'count dim' nor 'word values'")
        pending = [first]
    col.start(dim)
    for source in (pending, lines):
        for line in source:
            sp = line.find(b" ")
            if sp <= 0:
                continue  # blank line, or no value at all
            exact, variants = col.targets(line[:sp])
            if exact < 0 and not variants:
                continue
            values = line[sp + 1 :].split()
            if len(values) != dim:
                col.skipped += 1
                continue
            try:
                vec = np.array(values, dtype=np.float32)
            except ValueError:
                vec = None
            if vec is None or not np.isfinite(vec).all():
                col.skipped += 1
                continue
            col.put(exact, variants, vec)


def _read_binary(f: IO[bytes], col: _Collector, path: Path) -> None:
    header = _parse_header(f.readline())
    if header is None:
        raise VectorsError(f"{path} has no 'count dim' header line, so it is not word2vec binary")
    count, dim = header
    col.start(dim)
    nbytes = 4 * dim
    buf, pos, done = b"", 0, 0
    while done < count:
        sp = buf.find(b" ", pos)
        if sp < 0 or sp + 1 + nbytes > len(buf):
            more = f.read(_CHUNK)
            if not more:
                if buf[pos:].strip():
                    log.warning("%s: truncated after %d of %d vectors", path, done, count)
                    col.skipped += 1
                break
            if sp < 0 and len(buf) - pos > _MAX_WORD_BYTES:
                raise VectorsError(f"{path}: no word separator in {_MAX_WORD_BYTES} bytes; not word2vec binary")
            buf, pos = buf[pos:] + more, 0
            continue
        word = buf[pos:sp].lstrip(b"\n")  # the writer may end each vector with a newline
        pos = sp + 1 + nbytes
        done += 1
        exact, variants = col.targets(word)
        if exact >= 0 or variants:
            vec = np.frombuffer(buf, dtype="<f4", count=dim, offset=sp + 1)
            if not np.isfinite(vec).all():
                col.skipped += 1
                continue
            col.put(exact, variants, vec)
    if done < count and not col.skipped:
        log.warning("%s: header promised %d vectors, read %d", path, count, done)


def _variance(vectors: np.ndarray, rows: np.ndarray) -> float:
    """Variance of all entries of vectors[rows], in float64, in blocks (no full-size copy)."""
    idx = np.flatnonzero(rows)
    total, total_sq, n = 0.0, 0.0, 0
    for start in range(0, len(idx), 65536):
        block = vectors[idx[start : start + 65536]].astype(np.float64)
        total += float(block.sum())
        total_sq += float(np.square(block).sum())
        n += block.size
    if n == 0:
        return 0.0
    mean = total / n
    return max(total_sq / n - mean * mean, 0.0)


def load_vectors(
    path: str | Path,
    vocab: dict[str, int],
    *,
    token_counts: dict[str, int] | None = None,
    specials: tuple[int, ...] = (0, 1),
    seed: int = 0,
    lowercase_fallback: bool = True,
) -> VectorsResult:
    """Build the [V, E] embedding matrix for `vocab` (word -> id) from a vectors file.

    `token_counts` (word -> count in the training data) gives `token_coverage`. `specials` are ids
    that are not words ([PAD]=0, [UNK]=1); id 0 is the padding row and stays zero. `seed` fixes the
    random rows. See the module docstring for formats and rules.
    """
    path = Path(path)
    if not vocab:
        raise VectorsError("cannot load vectors for an empty vocabulary")
    col = _Collector(vocab, specials, lowercase_fallback)
    try:
        fmt = detect_format(path)
        with _open(path) as f:
            (_read_binary if fmt == "word2vec-bin" else _read_text)(f, col, path)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise VectorsError(f"cannot read {path}: {e}") from None
    out = col.out
    assert out is not None
    found = int(col.have.sum())
    words = len(set(vocab.values()) - col.specials)
    a = math.sqrt(3.0 * _variance(out, col.have)) if found else 0.0
    if not found:
        log.warning("%s: none of the %d vocabulary words has a vector; check tokenizer.lowercase", path, words)
    if a == 0.0:  # nothing found (or constant vectors): Kim's fixed range
        a = DEFAULT_INIT_RANGE
    missing = np.flatnonzero(~col.have)
    rng = np.random.default_rng(seed)
    out[missing] = rng.uniform(-a, a, size=(len(missing), out.shape[1])).astype(np.float32)
    out[0] = 0.0  # the padding row
    token_coverage = None
    if token_counts is not None:
        total = sum(token_counts.values())
        covered = sum(c for w, c in token_counts.items() if (i := vocab.get(w)) is not None and col.have[i])
        token_coverage = covered / total if total else None
    result = VectorsResult(
        vectors=torch.from_numpy(out),
        found=found,
        vocab_coverage=found / words if words else 0.0,
        token_coverage=token_coverage,
        dim=col.dim,
        init_range=a,
        words=words,
        by_case_variant=int((col.have & ~col.is_exact).sum()),
        skipped_lines=col.skipped,
        format=fmt,
    )
    log.info("%s: %s", path.name, result.summary())
    return result
