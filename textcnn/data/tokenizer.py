"""Tokenizers: train, save, load and batch-encode with Hugging Face `tokenizers`.

The default is Kim (2014)'s word-level scheme: NFKC, optional lowercase, words split off punctuation
and English clitics ('s 've 're 'd 'll 'm n't), a vocabulary of every training word seen at least
`min_frequency` times. Subword tokenizers (BPE, WordPiece, Unigram) use the same normalizer and
pre-tokenizer. `[PAD]` is id 0 and `[UNK]` id 1 in every tokenizer trained here.

Encoding: `encode_flat` gives ragged ids (flat + offsets) for a list of texts; batches of word-level
texts go through the Python pass of `word_encoder.py` (the same ids, faster for sentences), the rest
through the Rust batch encoder. This module does not import `datasets` at module level: prediction
uses `encode_flat` only.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from textcnn.config import SUBWORD_KINDS, TokenizerConfig
from textcnn.data.ragged import ragged, truncate
from textcnn.data.word_encoder import MIN_TEXTS, WORD_PATTERN, WordCount, WordEncoder
from textcnn.errors import TokenizerError

log = logging.getLogger(__name__)

PAD, UNK = "[PAD]", "[UNK]"
SPECIALS = [PAD, UNK]
PAD_NAMES = (PAD, "<pad>", "<PAD>", "[pad]")
UNK_NAMES = (UNK, "<unk>", "<UNK>", "[unk]")


def _normalizer(lowercase: bool) -> normalizers.Normalizer:
    steps = [normalizers.NFKC()]
    if lowercase:
        steps.append(normalizers.Lowercase())
    return normalizers.Sequence(steps)


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="isolated")]
    )


def train_tokenizer(texts: Iterable[str], cfg: TokenizerConfig, length: int | None = None) -> Tokenizer:
    """Train a tokenizer of kind `cfg.kind` on `texts` (the train split), or load `cfg.kind` if it is a file."""
    if cfg.kind.endswith(".json"):
        return load_tokenizer(cfg.kind)
    vocab_size = cfg.vocab_size or 10_000_000
    if cfg.kind == "word":
        return train_word_level(texts, cfg)[0]
    if cfg.kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token=UNK, continuing_subword_prefix="##"))
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=cfg.min_frequency,
            special_tokens=SPECIALS,
            continuing_subword_prefix="##",
            show_progress=False,
        )
        tok.decoder = decoders.WordPiece()
    elif cfg.kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token=UNK))
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size, min_frequency=cfg.min_frequency, special_tokens=SPECIALS, show_progress=False
        )
        tok.decoder = decoders.WordPiece()
    elif cfg.kind == "unigram":
        tok = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size, special_tokens=SPECIALS, unk_token=UNK, show_progress=False
        )
    else:  # config validation rejects this earlier
        raise TokenizerError(f"unknown tokenizer kind {cfg.kind!r}; choose word, {', '.join(SUBWORD_KINDS)}")
    tok.normalizer = _normalizer(cfg.lowercase)
    tok.pre_tokenizer = _pre_tokenizer()
    tok.train_from_iterator(texts, trainer=trainer, length=length)
    if tok.token_to_id(PAD) != 0 or tok.token_to_id(UNK) != 1:  # the trainers put specials first
        raise TokenizerError("tokenizer training did not put [PAD]=0 and [UNK]=1 first")
    return tok


Ragged = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(ids truncated to a max length, offsets (N + 1,), full token counts (N,)): `encode_flat`'s result."""


def train_word_level(
    texts: Iterable[str] | None,
    cfg: TokenizerConfig,
    max_length: int | None = None,
    shards: list[Callable[[], Iterable[str]]] | None = None,
) -> tuple[Tokenizer, Ragged | None]:
    """The word-level tokenizer `trainers.WordLevelTrainer` would train (the same tokenizer.json, tested),
    with the words counted by `word_encoder.WordCount`: 2-3x faster on SST-2 and MR. The vocabulary
    is the special tokens, then every word seen at least `min_frequency` times by decreasing count
    (ties in code-point order), cut at `vocab_size` entries. With `max_length`, also the texts' ids
    (`encode_flat(tok, texts, max_length)`), from the same pass over them. `shards` (instead of
    `texts`): callables that each give the texts of one consecutive part, counted at the same time in
    forked processes (`WordCount.add_shards`)."""
    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.normalizer = _normalizer(cfg.lowercase)
    tok.pre_tokenizer = _pre_tokenizer()
    if shards is None:
        shards = [lambda: texts or ()]
    count = WordCount(cfg.lowercase, tok, max_length, added=SPECIALS)
    count.add_shards([lambda s=s: (t if isinstance(t, str) else "" for t in s()) for s in shards])
    least = max(cfg.min_frequency, 1)
    ranked = sorted((-c, w) for w, c in zip(count.index, count.counts.tolist(), strict=True) if c >= least)
    vocab = {w: i for i, w in enumerate((SPECIALS + [w for _, w in ranked])[: cfg.vocab_size or None])}
    tok.model = models.WordLevel(vocab, unk_token=UNK)
    tok.add_special_tokens(SPECIALS)
    return tok, (count.encode(vocab, vocab[UNK]) if max_length is not None else None)


PARALLEL_BYTES = 16 << 20
"""Training sets with at least this much text count their words on several cores (`workers`)."""


def train_tokenizer_cached(
    ds, cfg: TokenizerConfig, max_length: int | None = None, workers: int = 1
) -> tuple[Tokenizer, Ragged | None]:
    """`train_tokenizer` on the "text" column of a `datasets.Dataset`, cached beside the dataset's Arrow
    cache under a key of (its fingerprint, the tokenizer settings): a second run on the same data
    loads the tokenizer (milliseconds) instead of counting every word again. Uncached for in-memory
    datasets (no cache files).

    With `max_length`, a word-level tokenizer trained here also brings the split's ids, from the same
    pass over the texts (for `encode_dataset(..., ids=)`); else the second item is None. A word-level
    tokenizer counts a large set (`PARALLEL_BYTES`) in `workers` processes, one part each."""
    if cfg.kind.endswith(".json"):
        return load_tokenizer(cfg.kind), None
    path = None
    files, fingerprint = getattr(ds, "cache_files", None), getattr(ds, "_fingerprint", None)
    if files and fingerprint:
        # The word pattern is part of the key: a tokenizer cached before CJK (or Thai, ...) characters were split
        # is not reused.
        settings = f"{fingerprint}|{sorted(vars(cfg).items())}|{WORD_PATTERN}|tokenizer-v1"
        key = hashlib.sha256(settings.encode()).hexdigest()[:32]
        path = Path(files[0]["filename"]).parent / f"textcnn-tokenizer-{key}.json"
        if path.is_file():
            try:
                return Tokenizer.from_file(str(path)), None
            except Exception:  # a damaged cache file: train again and overwrite it
                log.warning("ignoring unreadable cached tokenizer %s", path)
    ids = None
    if cfg.kind == "word":
        tok, ids = train_word_level(None, cfg, max_length, shards=_text_shards(ds, workers))
    else:
        tok = train_tokenizer(_texts_of(ds), cfg, length=len(ds))
    if path is not None:
        try:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(tok.to_str(), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as e:  # a read-only cache is not an error: the next run trains again
            log.info("tokenizer not cached (%s)", e)
    return tok, ids


def _texts_of(ds, start: int = 0, stop: int | None = None, batch: int = 10_000) -> Iterator[str]:
    """The texts of rows [start, stop) of a `datasets.Dataset`, in order, `batch` at a time."""
    stop = len(ds) if stop is None else stop
    for a in range(start, stop, batch):
        yield from _column_part(ds, "text", a, min(batch, stop - a)).to_pylist()


def _column_part(ds, name: str, start: int, n: int):
    """Rows [start, start + n) of a column of a `datasets.Dataset`, as Arrow. A split carved out of a
    larger table (an indices mapping) is read by `gather`: `datasets` gathers such rows one slice at
    a time (about 15 us a row, 7 s for 500,000 reviews)."""
    table, indices = getattr(getattr(ds, "data", None), "table", None), getattr(ds, "_indices", None)
    try:
        column = table.column(name)
        rows = indices.column(0) if indices is not None else None
    except AttributeError:  # another `datasets` layout: its own reader
        return ds.select(range(start, start + n)).with_format("arrow")[:][name]
    if rows is None:
        return column.slice(start, n)
    return gather(column, rows.slice(start, n).to_numpy().astype(np.int64))


def gather(column, rows: np.ndarray):
    """`column.take(rows)` for a chunked Arrow column, chunk by chunk: pyarrow's own take joins every
    chunk of the column into one array first (for a memory-mapped cache, a copy of all of it:
    +286 MB and 0.6 s for the texts of 500,000 reviews, to take 20,000)."""
    import pyarrow as pa

    if len(rows) == 0:
        return column.slice(0, 0).combine_chunks()
    bounds = np.cumsum([0] + [len(c) for c in column.chunks])
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    which = np.searchsorted(bounds, ordered, side="right") - 1  # (n,) each row's chunk
    cuts = np.flatnonzero(np.r_[True, which[1:] != which[:-1], True])
    parts = [
        column.chunk(int(which[a])).take(pa.array(ordered[a:b] - bounds[which[a]]))
        for a, b in itertools.pairwise(cuts.tolist())
    ]
    got = pa.concat_arrays(parts)
    if np.array_equal(order, np.arange(len(rows))):
        return got
    back = np.empty_like(order)
    back[order] = np.arange(len(rows))
    return got.take(pa.array(back))


def _text_shards(ds, workers: int) -> list[Callable[[], Iterator[str]]]:
    """`ds`'s texts as `workers` consecutive parts, or as one when it holds less than `PARALLEL_BYTES` of text."""
    table = getattr(ds, "data", None)
    size = table.column("text").nbytes * len(ds) / max(table.num_rows, 1) if table is not None else 0
    n = min(workers, len(ds)) if size >= PARALLEL_BYTES else 1
    bounds = [len(ds) * i // n for i in range(n + 1)]
    return [lambda a=a, b=b: _texts_of(ds, a, b) for a, b in itertools.pairwise(bounds)]


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load a tokenizer.json; it must have a padding token (id 0 is assumed by the models)."""
    p = Path(path)
    if not p.is_file():
        raise TokenizerError(f"tokenizer file {p} does not exist")
    try:
        tok = Tokenizer.from_file(str(p))
    except Exception as e:  # the Rust side raises a plain Exception with a JSON error
        raise TokenizerError(f"{p} is not a valid tokenizer.json: {str(e).splitlines()[0]}") from None
    pad_id(tok)
    return tok


def pad_id(tok: Tokenizer) -> int:
    """Id of the tokenizer's padding token; 0 for every tokenizer trained here."""
    for name in PAD_NAMES:
        i = tok.token_to_id(name)
        if i is not None:
            return i
    raise TokenizerError(f"the tokenizer has no padding token (looked for {', '.join(PAD_NAMES)})")


def unk_id(tok: Tokenizer) -> int | None:
    for name in UNK_NAMES:
        i = tok.token_to_id(name)
        if i is not None:
            return i
    return None


def _encode(tok: Tokenizer, texts: list[str]) -> list[list[int]]:
    # encode_batch_fast skips offsets (tokenizers >= 0.21); both run in Rust, in parallel.
    enc = tok.encode_batch_fast(texts) if hasattr(tok, "encode_batch_fast") else tok.encode_batch(texts)
    return [e.ids for e in enc]


def encode_flat(
    tok: Tokenizer, texts: list[str], max_length: int, words: WordEncoder | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flat int32 ids, each text truncated to `max_length`; offsets (N + 1,) int64; each text's full
    token count (N,) int64: a text was truncated when its count exceeds `max_length`). Non-strings are
    empty texts. `words` (`WordEncoder.of(tok)`): the Python word-level pass for batches of at least
    `MIN_TEXTS` texts, the same ids (word_encoder.py); else the Rust batch encoder."""
    texts = [t if isinstance(t, str) else "" for t in texts]
    if words is not None and len(texts) >= MIN_TEXTS:
        flat, offsets = words.encode(texts)
    else:
        flat, offsets = ragged(_encode(tok, texts))
    return truncate(flat, offsets, max_length)


@dataclass
class Encoded:
    """One split as flat token ids: example i is ids[offsets[i]:offsets[i+1]] (already truncated).

    Compact: int32 ids end to end (memory grows with tokens, not with rows x the longest row)."""

    ids: np.ndarray  # (total_tokens,) int32
    offsets: np.ndarray  # (N + 1,) int64
    labels: np.ndarray  # (N,) int64, -1 = no label
    truncated: int  # examples longer than max_length
    n_tokens: np.ndarray | None = None  # (N,) int64 token counts before truncation (None: not counted)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.labels)

    def sequences(self) -> Iterator[np.ndarray]:
        for a, b in zip(self.offsets[:-1], self.offsets[1:], strict=True):
            yield self.ids[a:b]

    def cut(self, max_length: int) -> Encoded:
        """The same split with every example cut to its first `max_length` ids (the ids of encoding it
        with that `max_length`)."""
        ids, offsets, _ = truncate(self.ids, self.offsets, max_length)
        full = self.n_tokens if self.n_tokens is not None else self.lengths
        return Encoded(ids, offsets, self.labels, int((full > max_length).sum()), self.n_tokens)


def encode_in_parts(ds, tok: Tokenizer, max_length: int, workers: int) -> Ragged | None:
    """The ids of a large split (`PARALLEL_BYTES`) for a word-level `tok`, by the word pass in `workers`
    processes at once (`WordCount.add_shards`, its counts unused): for `encode_dataset(..., ids=)`.
    None for other tokenizers, small splits or one worker: `encode_dataset` encodes those itself."""
    words = WordEncoder.of(tok)
    shards = _text_shards(ds, workers) if words is not None else []
    if len(shards) < 2:
        return None
    count = WordCount(words.lowercase, tok, max_length, words.added).add_shards(shards)
    return count.encode(tok.get_vocab(), words.unk)


def encode_dataset(ds, tok: Tokenizer, max_length: int, ids: Ragged | None = None) -> Encoded:
    """Encode a `datasets.Dataset` with columns text/label, once: `Dataset.map` caches the result by
    fingerprint (dataset + tokenizer + max length), so a second run with the same data and tokenizer
    reads the ids back from the cache (memory-mapped, int32) instead of tokenizing again.

    Each batch of 20,000 texts is tokenized by `encode_flat` (word-level: the Python pass of
    word_encoder.py; other kinds: the Rust batch API on every core) and written as one Arrow list
    array of int32 ids. `ids`: the split's ids already (`train_tokenizer_cached`), written as they are.
    `datasets` would gather the rows of a carved split one slice at a time (most of the time here):
    the texts and labels are read by `gather` instead (`_column_part`)."""
    import datasets
    import pyarrow as pa

    words: list[WordEncoder | None] = []  # built on the first batch: a cached encoding never needs it

    def encode_batch(batch: pa.Table, rows: list[int]) -> pa.Table:
        a, b = (rows[0], rows[-1] + 1) if rows else (0, 0)  # rows are consecutive
        if ids is not None:
            offsets = ids[1][a : b + 1]
            flat, offsets, full = ids[0][offsets[0] : offsets[-1]], offsets - offsets[0], ids[2][a:b]
        else:
            if not words:
                words.append(WordEncoder.of(tok))
            texts = _column_part(ds, "text", a, b - a).to_pylist()
            flat, offsets, full = encode_flat(tok, texts, max_length, words[0])
        lists = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(flat, type=pa.int32()))
        return pa.table({"label": batch.column("label"), "ids": lists, "n_tokens": pa.array(full)})

    # An explicit fingerprint: the tokenizer's full JSON, the length and this function's version.
    key = f"{getattr(ds, '_fingerprint', '')}|{tok.to_str()}|{max_length}|encode-v2"
    fingerprint = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    features = datasets.Features(
        {
            "label": ds.features["label"],
            "ids": datasets.Sequence(datasets.Value("int32")),
            "n_tokens": datasets.Value("int64"),
        }
    )
    # The map runs over the labels only: `encode_batch` reads its texts by `_column_part`. Where `ds`
    # is cached on disk, over a copy of its labels in memory, gathered at once, writing to the file
    # `ds.map` would look for (a later run reads it back from there).
    source, where = ds.select_columns(["label"]), {}
    cache_path = getattr(ds, "_get_cache_file_path", None)
    if getattr(ds, "cache_files", None) and datasets.is_caching_enabled() and cache_path is not None:
        label_table = pa.table({"label": _column_part(ds, "label", 0, len(ds))})
        info = datasets.DatasetInfo(features=datasets.Features({"label": ds.features["label"]}))
        source = datasets.Dataset(datasets.table.InMemoryTable(label_table), info=info)
        where = {"cache_file_name": cache_path(fingerprint)}
    mapped = source.with_format("arrow").map(
        encode_batch,
        batched=True,
        with_indices=True,
        new_fingerprint=fingerprint,
        batch_size=20_000,
        remove_columns=source.column_names,
        features=features,
        desc="tokenizing",
        **where,
    )
    table = mapped.data.table if hasattr(mapped.data, "table") else mapped.data
    labels = np.asarray(table.column("label").to_numpy(), dtype=np.int64)
    if ids is not None:  # what was just written (or is cached for the same data and tokenizer): no second copy
        full = np.asarray(ids[2], dtype=np.int64)
        return Encoded(
            ids=ids[0], offsets=ids[1], labels=labels, truncated=int((full > max_length).sum()), n_tokens=full
        )
    col = table.column("ids").combine_chunks()  # one int32 copy of the ids (the cache file's batches joined)
    offsets = col.offsets.to_numpy().astype(np.int64)
    flat = col.values.to_numpy(zero_copy_only=False)[offsets[0] : offsets[-1]]
    offsets -= offsets[0]
    n_tokens = np.asarray(table.column("n_tokens").to_numpy(), dtype=np.int64)
    return Encoded(
        ids=flat, offsets=offsets, labels=labels, truncated=int((n_tokens > max_length).sum()), n_tokens=n_tokens
    )


def encode_list(tok: Tokenizer, texts: list[str], labels: list[int] | np.ndarray, max_length: int) -> Encoded:
    """Encode in memory (no cache): for small inputs and for callers without `datasets`."""
    words = WordEncoder.of(tok) if len(texts) >= MIN_TEXTS else None  # encode_flat would not use it below
    flat, offsets, full = encode_flat(tok, texts, max_length, words)
    return Encoded(flat, offsets, np.asarray(labels, dtype=np.int64), int((full > max_length).sum()), full)


def truncation_note(enc: Encoded, max_length: int, split: str = "training") -> str | None:
    """One line for the data report when texts of `enc` are longer than `max_length` tokens (they are cut
    to their first `max_length`): how many, and the length that reads 95% of all of them whole."""
    if not enc.truncated:
        return None
    share = enc.truncated / len(enc)
    pct = f"{share:.0%}" if share >= 0.01 else "under 1%"
    note = (
        f"{enc.truncated:,} of {len(enc):,} {split} texts ({pct}) are longer than tokenizer.max_length={max_length}"
        f" tokens and are cut to their first {max_length}"
    )
    if enc.n_tokens is not None and len(enc.n_tokens):
        p95, longest = int(np.ceil(np.percentile(enc.n_tokens, 95))), int(enc.n_tokens.max())
        if p95 > max_length:
            note += f"; --set tokenizer.max_length={p95} reads 95% of the {split} texts whole (the longest has {longest:,} tokens)"
    return note


def tokenizer_stats(tok: Tokenizer, splits: dict[str, Encoded], max_length: int, examples: list[str]) -> dict:
    """What a user needs to choose settings: vocabulary size, unknown-token rate, the texts' length
    percentiles (before truncation: their own lengths, not `max_length`'s cut) and how many are cut."""
    unk = unk_id(tok)
    out: dict = {"vocab_size": tok.get_vocab_size(), "max_length": max_length, "splits": {}}
    for name, enc in splits.items():
        lengths = enc.n_tokens if enc.n_tokens is not None else enc.lengths
        unk_rate = float((enc.ids == unk).mean()) if unk is not None and len(enc.ids) else 0.0
        pct = np.percentile(lengths, [50, 90, 95, 99, 100]).tolist() if len(lengths) else [0] * 5
        out["splits"][name] = {
            "examples": len(enc),
            "tokens": int(lengths.sum()),
            "unk_rate": unk_rate,
            "length_p50": pct[0],
            "length_p90": pct[1],
            "length_p95": pct[2],
            "length_p99": pct[3],
            "length_max": pct[4],
            "truncated": enc.truncated,
        }
    out["examples"] = [{"text": t, "tokens": tok.encode(t).tokens} for t in examples]
    return out
