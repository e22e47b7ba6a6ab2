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

`WordCount` counts words the same way for training a word-level vocabulary (tokenizer.py builds the
WordLevel model from the counts, as the Rust trainer orders them) and keeps each text's words as
provisional ids, mapped onto the vocabulary once it is cut: one pass over the training texts both
trains and encodes, and `add_shards` runs it over parts of a large set in forked processes at once.
`_regex_passes` picks the texts both classes tokenize in Python.

Not here: training and loading tokenizers, the Rust batch path (tokenizer.py), padding (ragged.py).
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import mmap
import os
import re
import signal
import sys
import threading
import unicodedata
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from textcnn.data.ragged import ragged, truncate

log = logging.getLogger(__name__)

CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
"""Hiragana, katakana and the Han ideographs (CJK Unified Ideographs, extension A, compatibility, and the
supplementary planes' extensions): the scripts written without spaces between words. Each of their
characters is a word of its own (as BERT's basic tokenizer makes each Han character), so a Chinese or
Japanese sentence is a sequence of characters, which the filters read as n-grams, not one unknown
"word" per sentence. Literal characters in the pattern (not escapes), so Python's re and the Rust
tokenizer's onig read the same classes."""
SOUTHEAST_ASIAN = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u19e0-\u19ff"
"""Thai, Lao, Myanmar and Khmer (and the Khmer symbols): written without spaces between words too, so each
of their characters (vowel signs and tone marks as well) is a word of its own, as CJK's are; a
whitespace-separated run of them is a phrase or a sentence, which as one word would almost never recur."""
SPLIT = CJK + SOUTHEAST_ASIAN
"""The characters that are each a word of their own."""


def _word_char(split: str) -> str:
    """A word character (`\\w`) that is not in `split`."""
    return f"[^\\W{split}]"


def _word_pattern(split: str) -> str:
    """Kim's clean_str, as one regex: clitics, a word up to a following n't, words, a character of
    `split`, single punctuation marks."""
    word_char = _word_char(split)
    return rf"n't|'(?:s|ve|re|d|ll|m)\b|{word_char}+?(?=n't\b)|{word_char}+|[{split}]|[^\w\s]"


_WORD_CHAR = _word_char(SPLIT)
WORD_PATTERN = _word_pattern(SPLIT)
CJK_WORD_PATTERN = _word_pattern(CJK)
"""The pattern of runs trained before Thai, Lao, Myanmar and Khmer characters were split (2026-12-01): a
run of them was one word. It finds the same words as WORD_PATTERN in every text without such a character;
such runs still predict with the Python pass, their texts holding one going to the Rust tokenizer
(`WordEncoder.defer`)."""
LEGACY_WORD_PATTERN = r"n't|'(?:s|ve|re|d|ll|m)\b|\w+?(?=n't\b)|\w+|[^\w\s]"
"""The pattern of runs trained before CJK characters were split: a run of them was one word. It finds
the same words as WORD_PATTERN in every text without a SPLIT character; such runs still predict with
the Python pass, their texts holding one going to the Rust tokenizer."""
PATTERNS = ((WORD_PATTERN, ""), (CJK_WORD_PATTERN, SOUTHEAST_ASIAN), (LEGACY_WORD_PATTERN, SPLIT))
"""Each word pattern a run's tokenizer.json may hold, with the characters that pattern does not split
where WORD_PATTERN does (a text holding one goes to the Rust tokenizer)."""
SEP = "\x00"
"""Separates the texts of a batch: a one-character token of its own (`[^\\w\\s]`), never part of a word."""
JOIN = f" {SEP} "
"""Joins the texts of a batch: the separator as a whitespace-separated token of its own (`Pieces`)."""
CHUNK_CHARS = 1 << 20
"""Characters joined into one regex pass: bounds the word strings held at once (~200,000 words)."""
MIN_TEXTS = 64
"""Batches smaller than this use the Rust tokenizer (building the encoder reads the whole vocabulary)."""

_FAST_PATTERN = rf"n't|'(?:s|ve|re|d|ll|m)\b(?!\v)|{_WORD_CHAR}+|[{SPLIT}]|[^\w\s]"


@functools.cache
def _any_of(chars: str) -> re.Pattern:
    return re.compile(f"[{chars}]")


@functools.cache
def _patterns(flags: int) -> tuple[re.Pattern, re.Pattern, re.Pattern]:
    """The compiled patterns: re.ASCII classes for ASCII texts; Unicode classes for other texts, once
    safe_normalized. Compiled on first use: the SPLIT ranges make compiling them about 3 ms a pattern,
    which a one-sentence prediction (tokenized by Rust) would pay at import."""
    return re.compile(WORD_PATTERN, flags), re.compile(_FAST_PATTERN, flags), re.compile(r"n't\b", flags)


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
    full, fast, nt = _patterns(flags)
    if "\v" in text:
        return full.findall(text)
    if "n't" in text:
        text = nt.sub("\vn't", text)
    return fast.findall(text)


PIECES_LIMIT = 1 << 19
"""Distinct whitespace-separated tokens a `Pieces` remembers (about 60 MB of them); then it starts over."""


class Pieces:
    """`ids(text)`: the ids of the words of a normalized text (`find_words`), found once per distinct
    whitespace-separated token and remembered.

    No match of `WORD_PATTERN` (its lookarounds included) reaches across whitespace, and the Rust
    pre-tokenizer splits at whitespace before it applies the pattern: the words of a text are the
    words of its whitespace-separated tokens, end to end. Splitting at whitespace and one dict lookup
    per token cost less than the regex and a lookup per word (a token such as "film," is two words,
    and a corpus repeats its tokens). ASCII texts are split as bytes, whose whitespace is the ASCII
    `\\s` (`str.split` would also split at \\x1c-\\x1f); Unicode texts as str, whose whitespace is the
    Unicode `\\s`. `word_id(word)` gives a word's id; `lock`: one caller at a time."""

    def __init__(self, word_id: Callable[[str], int], flags: int) -> None:
        self.word_id, self.flags = word_id, flags
        self.lock = threading.Lock()
        self._forget()

    def _forget(self) -> None:
        self.types = _Types(self)  # token -> its number: where its ids are in `flat`
        self.starts, self.lens, self.flat = array("q"), array("q"), array("i")

    def learn(self, token: bytes | str) -> None:
        """Find the words of a token not seen before and keep their ids."""
        text = token.decode("ascii") if isinstance(token, bytes) else token
        ids = [self.word_id(w) for w in find_words(text, self.flags)]
        self.starts.append(len(self.flat))
        self.lens.append(len(ids))
        self.flat.extend(ids)

    def ids(self, text: str) -> np.ndarray:
        """(T,) int32: the ids of every word of `text`, in order."""
        with self.lock:
            if len(self.types) > PIECES_LIMIT:
                self._forget()
            tokens = text.encode("ascii").split() if self.flags == re.ASCII else text.split()
            kinds = np.fromiter(map(self.types.__getitem__, tokens), dtype=np.int64, count=len(tokens))
            flat = np.frombuffer(self.flat, dtype=np.int32)  # views: released before the next token is learnt
            starts = np.frombuffer(self.starts, dtype=np.int64)[kinds]
            lens = np.frombuffer(self.lens, dtype=np.int64)[kinds]
            n = int(lens.sum())
            if n == len(kinds):  # every token one word
                return flat[starts]
            return flat[np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(n)]


class _Types(dict):
    """token -> its number in a `Pieces`; a token not seen before is learnt (its words found) first."""

    def __init__(self, pieces: Pieces) -> None:
        super().__init__()
        self.pieces = pieces

    def __missing__(self, token: bytes | str) -> int:
        self.pieces.learn(token)
        i = self[token] = len(self)
        return i


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

    def __init__(
        self, tok: Any, vocab: dict[str, int], unk: int, lowercase: bool, added: list[str], defer: str = ""
    ) -> None:
        self.tok = tok
        self.defer = defer
        """Characters (regex class ranges) the tokenizer's pattern does not split where WORD_PATTERN does:
        a text holding one goes to the Rust tokenizer. Empty for WORD_PATTERN's runs (`PATTERNS`)."""
        self.vocab = dict(vocab)
        self.vocab[SEP] = -1  # texts holding SEP are never encoded here, so a vocabulary entry for it is moot
        self.unk = unk
        self.lowercase = lowercase
        self.added = added
        lookup = self.vocab.get
        self.pieces = {f: Pieces(lambda w: lookup(w, unk), f) for f in (re.ASCII, re.UNICODE)}

    @classmethod
    def of(cls, tok: Any) -> WordEncoder | None:
        """The encoder for `tok` if it is textcnn's word-level scheme, else None."""
        try:
            spec = json.loads(tok.to_str())
        except (ValueError, AttributeError):
            return None
        found = [(low, defer) for pattern, defer in PATTERNS if (low := _spec_matches(spec, pattern)) is not None]
        if not found:
            return None
        lowercase, defer = found[0]
        vocab = spec["model"]["vocab"]
        added = [a["content"] for a in spec.get("added_tokens") or []]
        return cls(tok, vocab, vocab[spec["model"]["unk_token"]], lowercase, added, defer)

    def takes(self, text: str) -> bool:
        """Whether `encode` tokenizes this text itself (else it hands it to the Rust tokenizer)."""
        return text.isascii() and SEP not in text and not _has_added(self.added, text, text.lower())

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
        parts, rest = _regex_passes(texts, self.lowercase, self.added, self._encode_fast, defer=self.defer)
        if rest:
            enc = self.tok.encode_batch_fast([texts[i] for i in rest])
            parts.append((rest, ragged([e.ids for e in enc])))
        return parts[0][1] if len(parts) == 1 and len(parts[0][0]) == n else _merge(n, parts)

    def _encode_fast(self, normalized: str, n: int, flags: int) -> tuple[np.ndarray, np.ndarray]:
        """Ragged ids of the `n` texts that `normalized` holds, joined by SEP (and normalized as the
        tokenizer normalizes): the words of each whitespace-separated token, known or found (`Pieces`)."""
        ids = self.pieces[flags].ids(normalized)
        return _cut_at(ids, ids < 0, n)  # SEP's vocabulary id is -1


Pass = Callable[[str, int, int], tuple[np.ndarray, np.ndarray]]
"""(texts joined by SEP and normalized, how many, regex flags) -> their ragged ids."""


def _regex_passes(
    texts: list[str], lowercase: bool, added: list[str], run: Pass, defer: str = ""
) -> tuple[list[tuple[list[int], tuple[np.ndarray, np.ndarray]]], list[int]]:
    """The texts of a group that the regex passes tokenize exactly, through `run`: ASCII texts (one pass
    over the whole group when every text is ASCII) and non-ASCII texts that `safe_normalized` takes,
    neither holding the separator or an added token (nor a character of `defer`: an older tokenizer's
    pattern leaves those unsplit). -> ([(rows, ragged ids)], the other rows)."""
    n = len(texts)
    joined = JOIN.join(texts)
    lowered = joined.lower()
    plain = joined.count(SEP) == n - 1 and not _has_added(added, joined, lowered)  # no text holds either
    if plain and joined.isascii():
        return [(list(range(n)), run(lowered if lowercase else joined, n, re.ASCII))], []
    mine, unicode, normalized, rest = [], [], [], []
    for i, t in enumerate(texts):
        if plain or (SEP not in t and not _has_added(added, t, t.lower())):
            if t.isascii():
                mine.append(i)
                continue
            norm = safe_normalized(t, lowercase)
            if norm is not None and not _has_added(added, norm, norm) and not (defer and _any_of(defer).search(norm)):
                unicode.append(i)
                normalized.append(norm)
                continue
        rest.append(i)
    parts = []
    if mine:
        sub = JOIN.join(texts[i] for i in mine)
        parts.append((mine, run(sub.lower() if lowercase else sub, len(mine), re.ASCII)))
    if unicode:
        parts.append((unicode, run(JOIN.join(normalized), len(unicode), re.UNICODE)))
    return parts, rest


def _cut_at(ids: np.ndarray, is_sep: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ids of `n` texts joined by SEP (where `is_sep`, (T,) bool) -> (their ids without the n - 1
    separators, offsets (n + 1,))."""
    seps = np.flatnonzero(is_sep)  # (n - 1,): no text here holds SEP
    lengths = np.diff(np.concatenate([[-1], seps, [len(ids)]])) - 1
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return ids[~is_sep], offsets


def _has_added(added: list[str], raw: str, lowered: str) -> bool:
    """An added token in the raw text, or in its lowercased form (conservative: the Rust side may match
    a normalized added token there)."""
    return any(a in raw or a in lowered for a in added)


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


class _Index(dict):
    """word -> provisional id, in order of first sight: a missing word gets the next id."""

    def __missing__(self, word: str) -> int:
        i = self[word] = len(self)
        return i


class WordCount:
    """The words of many texts counted as the Rust WordLevel trainer counts them and, with `max_length`,
    each text's words kept as provisional ids (in order of first sight), mapped onto the vocabulary by
    `encode` once it is cut: one regex pass over the training texts both counts and encodes them (the
    ids `WordEncoder.encode` gives, truncated to `max_length`), where training a tokenizer and then
    encoding took two.

    Counting: ASCII texts by the regex pass, non-ASCII ones that `safe_normalized` takes by the Unicode
    regex pass, the others through `tok`'s own normalizer and pre-tokenizer. Keeping ids: a text that
    `WordEncoder` would hand to Rust (an added token in it, the separator, characters left to Rust) is
    counted here and encoded by `tok` in `encode`."""

    def __init__(self, lowercase: bool, tok: Any, max_length: int | None = None, added: Iterable[str] = ()) -> None:
        self.lowercase = lowercase
        self.tok = tok
        self.max_length = max_length
        self.added = list(added)
        self.index = _Index({SEP: 0})  # separators get id 0 and are dropped before counting
        self.counts = np.zeros(1, dtype=np.int64)
        self.ids = _IdBlocks()  # the kept (truncated) provisional ids of every text, end to end
        self.lengths: list[np.ndarray] = []  # per group: each text's kept ids
        self.full: list[np.ndarray] = []  # per group: each text's token count before truncation
        self.deferred: list[tuple[int, str]] = []  # (row, text) that `encode` hands to `tok`
        self.rows = 0
        self.pieces = {f: Pieces(self.index.__getitem__, f) for f in (re.ASCII, re.UNICODE)}

    def add(self, texts: Iterable[str]) -> WordCount:
        for group in _by_chars(texts, CHUNK_CHARS):
            self._add_group(group)
            self.rows += len(group)
        return self

    def add_shards(self, shards: list[Callable[[], Iterable[str]]]) -> WordCount:
        """`add` the texts of every shard, in order: the first here and each other one in a forked process
        at the same time (one core each), merged as they finish. Not on Linux (where forking a process
        that has loaded torch is not safe: macOS) every shard is added here, as is the shard of a helper
        that fails."""
        import multiprocessing  # here: prediction imports this module and never forks

        if len(shards) < 2 or not sys.platform.startswith("linux"):
            for shard in shards:
                self.add(shard())
            return self
        ctx = multiprocessing.get_context("fork")
        helpers = []
        quiet = "TOKENIZERS_PARALLELISM" not in os.environ
        if quiet:  # the Rust tokenizer would warn in a forked child if this process used its threads
            os.environ["TOKENIZERS_PARALLELISM"] = "false"
        try:
            for shard in shards[1:]:
                recv, send = ctx.Pipe(duplex=False)
                p = ctx.Process(target=self._shard_child, args=(send, shard), daemon=True)
                p.start()
                send.close()
                helpers.append((p, recv, shard))
        finally:
            if quiet:
                del os.environ["TOKENIZERS_PARALLELISM"]
        try:
            self.add(shards[0]())
            for p, recv, shard in helpers:
                try:
                    self._merge_child(recv)
                except (EOFError, OSError, RuntimeError) as e:
                    log.warning("a tokenizing process failed (%s); its texts are counted here", e)
                    self.add(shard())
                finally:
                    recv.close()
                    p.join()
        finally:
            for p, _, _ in helpers:
                if p.is_alive():
                    p.terminate()
        return self

    def _shard_child(self, send: Any, shard: Callable[[], Iterable[str]]) -> None:
        """In a forked process: count (and keep the ids of) one shard, send the result to the parent."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles ^C and ends its helpers
        sent = False
        try:
            child = WordCount(self.lowercase, self.tok, self.max_length, self.added).add(shard())
            full, lengths = _joined(child.full, np.int64), _joined(child.lengths, np.int64)
            send.send(("ok", list(child.index), child.counts, child.rows, child.deferred, full, lengths, child.ids.n))
            sent = True
            for block in child.ids.take():  # raw, straight from the arrays (`send_bytes` would copy them)
                view = memoryview(block).cast("B")
                while view:
                    view = view[os.write(send.fileno(), view) :]
        except BaseException as e:  # noqa: BLE001 - reported to the parent, which counts the shard itself
            if not sent:  # else the parent reads ids: it sees them end early (EOFError)
                send.send(("error", f"{type(e).__name__}: {e}"))
        finally:
            send.close()

    def _merge_child(self, recv: Any) -> None:
        """Add what `_shard_child` sent: its words, counts, kept ids and rows after this count's."""
        msg = recv.recv()
        if msg[0] != "ok":
            raise RuntimeError(msg[1])
        _, words, counts, rows, deferred, full, lengths, n_ids = msg
        block = self.ids.reserve(n_ids)
        ids = block[1]
        view = memoryview(ids).cast("B")  # read into the array (`recv_bytes_into` reads into a buffer first)
        while view:
            got = os.readv(recv.fileno(), [view])
            if not got:
                raise EOFError("the tokenizing process stopped sending")
            view = view[got:]
        remap = np.fromiter(map(self.index.__getitem__, words), dtype=np.int32, count=len(words))
        self._count(np.zeros(0, np.int32))  # grows the counts to the words just added
        self.counts[remap] += counts
        if self.max_length is not None:
            _remap(remap, ids, ids)
            self.ids.hold(block)
            self.lengths.append(lengths)
            self.full.append(full)
            self.deferred += [(self.rows + r, t) for r, t in deferred]
        self.rows += rows

    def counter(self) -> Counter:
        """The counts as a Counter of words (every word counted at least once)."""
        return Counter({w: int(c) for w, c in zip(self.index, self.counts.tolist(), strict=True) if c})

    def _add_group(self, texts: list[str]) -> None:
        parts, rest = _regex_passes(texts, self.lowercase, self.added, self._ids)
        extra: list[str] = []  # the words of the other texts, counted here; Rust encodes them (`encode`)
        for i in rest:
            t = texts[i]
            if t.isascii():
                extra += find_words(t.lower() if self.lowercase else t)
            elif (norm := safe_normalized(t, self.lowercase)) is not None:
                extra += find_words(norm, re.UNICODE)
            else:
                extra += [w for w, _ in self.tok.pre_tokenizer.pre_tokenize_str(self.tok.normalizer.normalize_str(t))]
            if self.max_length is not None:
                self.deferred.append((self.rows + i, t))
        self._count(np.fromiter(map(self.index.__getitem__, extra), dtype=np.int32, count=len(extra)))
        self._keep(len(texts), parts)

    def _ids(self, normalized: str, n: int, flags: int) -> tuple[np.ndarray, np.ndarray]:
        """Provisional ragged ids of the `n` texts `normalized` holds, joined by SEP; counted."""
        ids = self.pieces[flags].ids(normalized)
        ids, offsets = _cut_at(ids, ids == 0, n)  # SEP's provisional id is 0
        self._count(ids)
        return ids, offsets

    def _count(self, ids: np.ndarray) -> None:
        if len(self.counts) < len(self.index):  # room for the words seen since
            self.counts = np.concatenate([self.counts, np.zeros(len(self.index) - len(self.counts), np.int64)])
        if len(ids):
            self.counts += np.bincount(ids, minlength=len(self.counts))

    def _keep(self, n: int, parts: list[tuple[list[int], tuple[np.ndarray, np.ndarray]]]) -> None:
        if self.max_length is None:
            return
        if len(parts) == 1 and len(parts[0][0]) == n:
            flat, offsets = parts[0][1]
        else:
            flat, offsets = _merge(n, parts)  # deferred rows stay empty until `encode`
        flat, offsets, full = truncate(flat, offsets, self.max_length)
        self.ids.append(flat)
        self.lengths.append(np.diff(offsets))
        self.full.append(full)

    def encode(self, vocab: dict[str, int], unk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids truncated to `max_length`, their offsets (N + 1,), full token counts (N,)) of every text
        added, with `vocab`: `encode_flat`'s result for the same texts."""
        if self.max_length is None:
            raise ValueError("WordCount kept no ids (no max_length)")
        remap = np.fromiter(map(vocab.get, self.index, itertools.repeat(unk)), dtype=np.int32, count=len(self.index))
        full, lengths = _joined(self.full, np.int64), _joined(self.lengths, np.int64)
        self.full, self.lengths = [], []
        rows = np.array([r for r, _ in self.deferred], dtype=np.int64)  # ascending; empty rows so far
        enc = self.tok.encode_batch_fast([t for _, t in self.deferred]) if self.deferred else []
        d_flat, d_off, full[rows] = truncate(*ragged([e.ids for e in enc]), self.max_length)
        kept_at = np.cumsum(lengths)[rows]  # (D,) where they go among the kept ids (their own lengths are 0)
        lengths[rows] = np.diff(d_off)
        offsets = np.zeros(len(full) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.empty(int(offsets[-1]), dtype=np.int32)
        for j, r in enumerate(rows.tolist()):
            flat[offsets[r] : offsets[r + 1]] = d_flat[d_off[j] : d_off[j + 1]]
        at = 0  # position among the kept ids
        for block in self.ids.take():  # each block freed once mapped: about one copy of the ids at a time
            a = 0
            while a < len(block):  # up to the next deferred row's place, after the Rust ids of the k before it
                k = int(np.searchsorted(kept_at, at + a, side="right"))
                end = len(block) if k == len(kept_at) else min(len(block), int(kept_at[k]) - at)
                start = at + a + int(d_off[k])
                _remap(remap, block[a:end], flat[start : start + end - a])
                a = end
            at += len(block)
        return flat, offsets, full


class _IdBlocks:
    """int32 ids appended end to end into anonymous memory maps of `BLOCK` ids (256 MB of address space,
    resident as they fill). `take` gives them back in steps and returns each step's memory to the
    system once given, so mapping them into the final array never holds two copies of the ids."""

    BLOCK = 1 << 26
    STEP = 1 << 22

    def __init__(self) -> None:
        self.blocks: list[tuple[mmap.mmap, np.ndarray]] = []  # (map, its ids so far)
        self.n = 0  # ids held

    @staticmethod
    def reserve(n: int) -> tuple[mmap.mmap, np.ndarray]:
        """A new map for exactly `n` ids, not held yet: fill it, then `hold` it."""
        m = mmap.mmap(-1, max(n, 1) * 4)
        return m, np.frombuffer(m, dtype=np.int32)[:n]

    def hold(self, block: tuple[mmap.mmap, np.ndarray]) -> None:
        """Hold a block from `reserve` after the ids held so far (later ids go to a new block)."""
        self.blocks.append(block)
        self.n += len(block[1])

    def append(self, ids: np.ndarray) -> None:
        while len(ids):
            if not self.blocks or len(self.blocks[-1][1]) == len(self.blocks[-1][0]) // 4:
                m, _ = self.reserve(self.BLOCK)
                self.blocks.append((m, np.frombuffer(m, dtype=np.int32)[:0]))
            m, held = self.blocks[-1]
            k = min(len(m) // 4 - len(held), len(ids))
            whole = np.frombuffer(m, dtype=np.int32)
            whole[len(held) : len(held) + k] = ids[:k]
            self.blocks[-1] = (m, whole[: len(held) + k])
            self.n += k
            ids = ids[k:]

    def take(self) -> Iterator[np.ndarray]:
        """The ids held, in order, `STEP` at a time; each step's memory is released once the next is asked for."""
        release = hasattr(mmap, "MADV_DONTNEED")  # else (not Linux) a block is freed with its last view
        while self.blocks:
            m, held = self.blocks.pop(0)
            for a in range(0, len(held), self.STEP):
                yield held[a : a + self.STEP]
                lo = -(-a * 4 // mmap.PAGESIZE) * mmap.PAGESIZE  # the whole pages of this step
                hi = min(len(held), a + self.STEP) * 4 // mmap.PAGESIZE * mmap.PAGESIZE
                if release and hi > lo:
                    m.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
        self.n = 0


def _joined(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate([np.zeros(0, dtype)] + arrays)


def _remap(remap: np.ndarray, ids: np.ndarray, out: np.ndarray, step: int = 1 << 20) -> None:
    """out[:] = remap[ids], `step` ids at a time (`out` may be `ids`): numpy would first copy all of
    `ids` to 64-bit indices, twice the memory of the ids themselves."""
    for a in range(0, len(ids), step):
        out[a : a + step] = remap[ids[a : a + step]]


def count_words(texts: Iterable[str], lowercase: bool, tok: Any) -> Counter:
    """How often each word of `texts` occurs, as the Rust WordLevel trainer counts them (`WordCount`)."""
    return WordCount(lowercase, tok).add(texts).counter()


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
