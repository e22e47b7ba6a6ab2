"""Kim's word-level tokenization of many texts at once in Python: the ids the Rust tokenizer gives, faster.

Hugging Face `tokenizers` pays a fixed cost per text (normalizer, pre-tokenizer and model objects,
offsets), which dominates for sentences: on SST-2 phrases it encoded about 50,000 texts a second on
both cores of the project's 2-core machine, where one regex pass over the texts joined by a
separator, plus a dict lookup per word, did about 180,000 a second on one. This module is that pass, for the tokenizers `tokenizer.py`
trains with `kind = "word"` (NFKC, optional lowercase, `WORD_PATTERN`, WordLevel).

Exact by construction on the texts it takes, and tested against the Rust tokenizer: ASCII texts
(there NFKC is the identity, Unicode lowercasing is ASCII lowercasing, and the ASCII classes of
Python's `re` are onig's), holding no added token (`[PAD]`, `[UNK]`, which the Rust side matches in
the raw text) and no separator character; and, normalized here (NFKC, lowercase), non-ASCII texts whose
characters Python's Unicode classes treat as onig's do (`safe_normalized`: letters, punctuation,
symbols). The other texts of a batch go to the Rust tokenizer and the results are merged in input
order. `WordEncoder.of(tok)` is None for any other tokenizer (subword
kinds, a user's own tokenizer.json): those always use Rust.

`count_words` counts words the same way for training a word-level vocabulary (tokenizer.py builds the
WordLevel model from the counts, as the Rust trainer orders them).

Not here: training and loading tokenizers, the Rust batch path (tokenizer.py), padding (ragged.py).
"""

from __future__ import annotations

import itertools
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from textcnn.data.ragged import ragged

# Kim's clean_str, as one regex: clitics, a word up to a following n't, words, single punctuation marks.
WORD_PATTERN = r"n't|'(?:s|ve|re|d|ll|m)\b|\w+?(?=n't\b)|\w+|[^\w\s]"
SEP = "\x00"
"""Joins the texts of a batch: a one-character token of its own (`[^\\w\\s]`), never part of a word."""
CHUNK_CHARS = 1 << 20
"""Characters joined into one regex pass: bounds the word strings held at once (~200,000 words)."""
MIN_TEXTS = 64
"""Batches smaller than this use the Rust tokenizer (building the encoder reads the whole vocabulary)."""

_FAST_PATTERN = r"n't|'(?:s|ve|re|d|ll|m)\b(?!\v)|\w+|[^\w\s]"
_PATTERNS = {  # ASCII texts: re.ASCII classes; other texts, once safe_normalized: Unicode classes
    flags: (re.compile(WORD_PATTERN, flags), re.compile(_FAST_PATTERN, flags), re.compile(r"n't\b", flags))
    for flags in (re.ASCII, re.UNICODE)
}
SAFE_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So"})
"""Unicode categories on which Python's `\\w`, `\\s` and `\\b` agree with onig's (the Rust regex):
letters are word characters to both; punctuation (but connectors, which are word characters to onig)
and symbols are neither word nor space to either. Marks, numbers other than ASCII digits, spaces,
controls and unassigned characters are left to Rust."""
OLD_UNICODE = unicodedata.ucd_3_2_0
"""Unicode 3.2's tables: a character must be assigned, and in `SAFE_CATEGORIES`, in them too."""
_NOT_SPACE_TO_RUST = frozenset("\x1c\x1d\x1e\x1f")  # whitespace to Python's Unicode \s, not to Rust


def safe_normalized(text: str, lowercase: bool) -> str | None:
    """`text` as the Rust normalizer makes it (NFKC, then lowercase), when Python's Unicode regex finds
    the words of it that onig would (every character ASCII or in `SAFE_CATEGORIES`); else None.

    Characters Unicode 3.2 had not assigned are left to Rust, whose Unicode tables are older than
    Python's (NFKC maps U+1078C, new in Unicode 14, to "ɗ" here and leaves it there), and so is a
    capital sigma: Python lowercases it to a final sigma at the end of a word."""
    if any(not c.isascii() and OLD_UNICODE.category(c) == "Cn" for c in set(text)):
        return None
    n = unicodedata.normalize("NFKC", text)
    if lowercase:
        if "\u03a3" in n:
            return None
        n = n.lower()
    for c in set(n):
        if c.isascii():
            if c in _NOT_SPACE_TO_RUST:
                return None
        elif unicodedata.category(c) not in SAFE_CATEGORIES or OLD_UNICODE.category(c) not in SAFE_CATEGORIES:
            return None
    return n


def find_words(text: str, flags: int = re.ASCII) -> list[str]:
    """`re.findall(WORD_PATTERN, text, flags)`, about 1.5x faster.

    The pattern's lazy alternative `\\w+?(?=n't\\b)` (the word before a "n't": "do" of "don't") tries its
    lookahead at every letter of every word. Here a vertical tab goes before each "n't" at a word
    boundary first, which splits those words where that alternative would (whitespace only
    separates), so the pattern without it finds the same words. Its `'s`-style alternative must not
    end at an inserted tab (`(?!\\v)`: in the text as given, the "n't" touches it with no boundary). A
    text that holds a vertical tab of its own takes the full pattern. tests/test_word_encoder.py checks
    it against the full pattern on every short string over the characters that matter."""
    full, fast, nt = _PATTERNS[flags]
    if "\v" in text:
        return full.findall(text)
    if "n't" in text:
        text = nt.sub("\vn't", text)
    return fast.findall(text)


def _spec_matches(spec: dict[str, Any], word_pattern: str) -> bool | None:
    """The tokenizer.json `spec` is textcnn's word scheme: None if not, else whether it lowercases."""
    norm, pre, model = spec.get("normalizer") or {}, spec.get("pre_tokenizer") or {}, spec.get("model") or {}
    steps = [n.get("type") for n in norm.get("normalizers", [])] if norm.get("type") == "Sequence" else None
    if steps not in (["NFKC"], ["NFKC", "Lowercase"]):
        return None
    pres = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else []
    if len(pres) != 2 or pres[0].get("type") != "WhitespaceSplit":
        return None
    split = pres[1]
    if (split.get("type"), split.get("pattern"), split.get("behavior"), split.get("invert")) != (
        "Split",
        {"Regex": word_pattern},
        "Isolated",
        False,
    ):
        return None
    if model.get("type") != "WordLevel" or model.get("unk_token") not in model.get("vocab", {}):
        return None
    if spec.get("post_processor") is not None or spec.get("truncation") is not None or spec.get("padding") is not None:
        return None
    return steps == ["NFKC", "Lowercase"]


class WordEncoder:
    """`encode(texts)` -> (flat int32 ids, offsets (N + 1,) int64), exactly as `tok.encode_batch` would
    give them (untruncated). Build with `WordEncoder.of(tok)`."""

    def __init__(self, tok: Any, vocab: dict[str, int], unk: int, lowercase: bool, added: list[str]) -> None:
        self.tok = tok
        self.vocab = dict(vocab)
        self.vocab[SEP] = -1  # texts holding SEP are never encoded here, so a vocabulary entry for it is moot
        self.unk = unk
        self.lowercase = lowercase
        self.added = added

    @classmethod
    def of(cls, tok: Any) -> WordEncoder | None:
        """The encoder for `tok` if it is textcnn's word-level scheme, else None."""
        try:
            spec = json.loads(tok.to_str())
        except (ValueError, AttributeError):
            return None
        lowercase = _spec_matches(spec, WORD_PATTERN)
        if lowercase is None:
            return None
        vocab = spec["model"]["vocab"]
        added = [a["content"] for a in spec.get("added_tokens") or []]
        return cls(tok, vocab, vocab[spec["model"]["unk_token"]], lowercase, added)

    def takes(self, text: str) -> bool:
        """Whether `encode` tokenizes this text itself (else it hands it to the Rust tokenizer)."""
        return text.isascii() and SEP not in text and not self._has_added(text, text.lower())

    def _has_added(self, raw: str, lowered: str) -> bool:
        """An added token in the raw text, or in its lowercased form (conservative: the Rust side may match
        a normalized added token there)."""
        return any(a in raw or a in lowered for a in self.added)

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        groups = list(_by_chars(texts, CHUNK_CHARS))
        if len(groups) <= 1:
            return self._encode_group(texts)
        parts = [self._encode_group(g) for g in groups]  # bounded transient memory for long texts
        flat = np.concatenate([ids for ids, _ in parts])
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(np.concatenate([np.diff(off) for _, off in parts]), out=offsets[1:])
        return flat, offsets

    def _encode_group(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        n = len(texts)
        if n == 0:
            return np.zeros(0, np.int32), np.zeros(1, np.int64)
        joined = SEP.join(texts)
        if joined.isascii() and joined.count(SEP) == n - 1:
            lowered = joined.lower()
            if not self._has_added(joined, lowered):
                return self._encode_fast(lowered if self.lowercase else joined, n)
        mine, unicode, normalized, rest = [], [], [], []
        for i, t in enumerate(texts):
            if self.takes(t):
                mine.append(i)
            elif (norm := self._unicode_normalized(t)) is not None:
                unicode.append(i)
                normalized.append(norm)
            else:
                rest.append(i)
        parts = []
        if mine:
            sub = SEP.join(texts[i] for i in mine)
            parts.append((mine, self._encode_fast(sub.lower() if self.lowercase else sub, len(mine))))
        if unicode:
            parts.append((unicode, self._encode_fast(SEP.join(normalized), len(unicode), re.UNICODE)))
        if rest:
            enc = self.tok.encode_batch_fast([texts[i] for i in rest])
            parts.append((rest, ragged([e.ids for e in enc])))
        return _merge(n, parts)

    def _unicode_normalized(self, text: str) -> str | None:
        """A non-ASCII text normalized for the Unicode regex pass, or None: Rust encodes it."""
        if SEP in text or self._has_added(text, text.lower()):
            return None
        n = safe_normalized(text, self.lowercase)
        return None if n is None or self._has_added(n, n) else n

    def _encode_fast(self, normalized: str, n: int, flags: int = re.ASCII) -> tuple[np.ndarray, np.ndarray]:
        """Ragged ids of the `n` texts that `normalized` holds, joined by SEP (and normalized as the
        tokenizer normalizes): one regex pass for the words, one dict lookup each."""
        words = find_words(normalized, flags)
        ids = np.fromiter(map(self.vocab.get, words, itertools.repeat(self.unk)), dtype=np.int32, count=len(words))
        seps = np.flatnonzero(ids < 0)  # (N - 1,) positions of the separators
        ends = np.append(seps, len(ids))  # (N,) end of each text (exclusive)
        lengths = ends - np.concatenate([[0], seps + 1])
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return ids[ids >= 0], offsets


def _merge(n: int, parts: list[tuple[list[int], tuple[np.ndarray, np.ndarray]]]) -> tuple[np.ndarray, np.ndarray]:
    """Ragged (flat, offsets) of row subsets -> one ragged batch of n rows in input order."""
    lengths = np.zeros(n, dtype=np.int64)
    for rows, (_, off) in parts:
        lengths[rows] = np.diff(off)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.zeros(int(offsets[-1]), dtype=np.int32)
    for rows, (ids, off) in parts:
        rows_a = np.asarray(rows, dtype=np.int64)
        lens = np.diff(off)
        shift = np.repeat(offsets[rows_a] - off[:-1], lens)  # where each subset token lands
        flat[np.arange(len(ids)) + shift] = ids
    return flat, offsets


def count_words(texts: Iterable[str], lowercase: bool, tok: Any) -> Counter:
    """How often each word of `texts` occurs, as the Rust WordLevel trainer counts them: ASCII texts by the
    regex pass, non-ASCII ones that `safe_normalized` takes by the Unicode regex pass, the others
    through `tok`'s own normalizer and pre-tokenizer."""
    counts: Counter = Counter()
    for chunk in _by_chars(texts, CHUNK_CHARS):
        plain = [t for t in chunk if t.isascii()]
        joined = "\n".join(plain)
        counts.update(find_words(joined.lower() if lowercase else joined))
        unicode = []
        for t in chunk:
            if t.isascii():
                continue
            n = safe_normalized(t, lowercase)
            if n is not None:
                unicode.append(n)
            else:
                words = tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(t))
                counts.update(w for w, _ in words)
        counts.update(find_words("\n".join(unicode), re.UNICODE))
    return counts


def _by_chars(texts: Iterable[str], limit: int) -> Iterator[list[str]]:
    """Consecutive groups of `texts` of about `limit` characters each (a longer text is a group alone)."""
    group: list[str] = []
    size = 0
    for t in texts:
        group.append(t)
        size += len(t) + 1
        if size >= limit:
            yield group
            group, size = [], 0
    if group:
        yield group
