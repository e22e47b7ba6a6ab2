"""Tokenizers: Kim's word-level normalization, subword kinds, save/reload, cached dataset encoding."""

from __future__ import annotations

import numpy as np
import pytest

from textcnn.config import TokenizerConfig
from textcnn.data.tokenizer import (
    TokenizerError,
    encode_flat,
    encode_list,
    load_tokenizer,
    pad_id,
    tokenizer_stats,
    train_tokenizer,
    train_tokenizer_cached,
    truncation_note,
)

CORPUS = [
    "A gorgeous, witty film.",
    "It doesn't work; the plot's a mess!",
    "They'll love it -- I'm sure.",
    "the film is n't funny",
    "Witty and gorgeous, the best film of the year.",
    "A mess of a film, dull and long.",
] * 5


@pytest.fixture(scope="module")
def word_tok():
    return train_tokenizer(CORPUS, TokenizerConfig())


def test_word_tokenizer_splits_punctuation_and_clitics(word_tok):
    toks = word_tok.encode("It doesn't work; the plot's a MESS!").tokens
    assert toks == ["it", "does", "n't", "work", ";", "the", "plot", "'s", "a", "mess", "!"]


def test_specials_first(word_tok):
    assert word_tok.token_to_id("[PAD]") == 0
    assert word_tok.token_to_id("[UNK]") == 1
    assert pad_id(word_tok) == 0


def test_unknown_words_and_any_unicode_map_to_unk(word_tok):
    flat, offsets, n_tokens = encode_flat(word_tok, ["zebra 😀 café", "", "   "], max_length=10)
    assert flat.tolist() == [1, 1, 1] and offsets.tolist() == [0, 3, 3, 3]
    assert n_tokens.tolist() == [3, 0, 0]


def test_truncation_is_reported(word_tok):
    flat, offsets, n_tokens = encode_flat(word_tok, ["film " * 20, "a film", "film " * 7], max_length=5)
    film, a = word_tok.token_to_id("film"), word_tok.token_to_id("a")
    assert flat.tolist() == [film] * 5 + [a, film] + [film] * 5
    assert offsets.tolist() == [0, 5, 7, 12] and n_tokens.tolist() == [20, 2, 7]


def test_the_truncation_note_counts_the_cut_texts_and_names_a_length_that_reads_them(word_tok):
    texts = ["film " * n for n in range(1, 101)]  # 1..100 tokens
    enc = encode_list(word_tok, texts, [0] * 100, max_length=50)
    assert enc.truncated == 50 and enc.n_tokens.tolist() == list(range(1, 101))
    note = truncation_note(enc, 50)
    assert note.startswith("50 of 100 training texts (50%) are longer than tokenizer.max_length=50 tokens")
    assert note.endswith(
        "; --set tokenizer.max_length=96 reads 95% of the training texts whole (the longest has 100 tokens)"
    )
    assert truncation_note(encode_list(word_tok, texts, [0] * 100, max_length=100), 100) is None
    few = truncation_note(encode_list(word_tok, texts[:10] * 30 + texts[-1:], [0] * 301, max_length=50), 50)
    assert (
        few
        == "1 of 301 training texts (under 1%) are longer than tokenizer.max_length=50 tokens and are cut to their first 50"
    )


def test_no_lowercase_keeps_case():
    tok = train_tokenizer(CORPUS, TokenizerConfig(lowercase=False))
    assert "A" in tok.get_vocab() and "Witty" in tok.get_vocab()


def test_min_frequency_drops_rare_words():
    tok = train_tokenizer(CORPUS + ["unique_word_once"], TokenizerConfig(min_frequency=2))
    assert tok.token_to_id("unique_word_once") is None
    assert tok.token_to_id("film") is not None


@pytest.mark.parametrize("kind", ["bpe", "wordpiece", "unigram"])
def test_subword_kinds_train_and_reload(kind, tmp_path):
    tok = train_tokenizer(CORPUS, TokenizerConfig(kind=kind, vocab_size=80))
    assert tok.token_to_id("[PAD]") == 0 and tok.token_to_id("[UNK]") == 1
    assert tok.get_vocab_size() <= 80
    p = tmp_path / "tok.json"
    p.write_text(tok.to_str())
    again = load_tokenizer(p)
    text = "gorgeous witty films"
    assert again.encode(text).ids == tok.encode(text).ids
    # tokenizer.kind may name an existing file
    assert train_tokenizer([], TokenizerConfig(kind=str(p))).encode(text).ids == tok.encode(text).ids


def test_bad_tokenizer_file_is_one_clear_error(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(TokenizerError, match="not a valid tokenizer.json"):
        load_tokenizer(p)
    with pytest.raises(TokenizerError, match="does not exist"):
        load_tokenizer(tmp_path / "missing.json")


def test_encode_dataset_is_cached_and_matches_in_memory_encoding(word_tok, tmp_path):
    datasets = pytest.importorskip("datasets")
    from textcnn.data.tokenizer import encode_dataset

    csv = tmp_path / "d.csv"
    csv.write_text("text,label\n" + "\n".join(f'"{t}",{i % 2}' for i, t in enumerate(CORPUS)) + "\n")
    ds = datasets.load_dataset("csv", data_files=str(csv), split="train", cache_dir=str(tmp_path / "cache"))
    a = encode_dataset(ds, word_tok, 6)
    b = encode_list(word_tok, CORPUS, [i % 2 for i in range(len(CORPUS))], 6)
    assert np.array_equal(a.ids, b.ids) and np.array_equal(a.offsets, b.offsets)
    assert np.array_equal(a.labels, b.labels)
    assert a.truncated == b.truncated > 0
    cache_files = {f["filename"] for f in ds.map(lambda x: x).cache_files}
    assert cache_files  # file-backed, so .map results are cached by fingerprint
    # the second encoding reads the cache: same fingerprinted file, same ids
    c = encode_dataset(ds, word_tok, 6)
    assert np.array_equal(a.ids, c.ids)
    # in memory (no cache files) and carved (an indices mapping): the same ids for the rows selected
    rows = [7, 0, 3, 3, 12]
    mem = datasets.Dataset.from_dict({"text": CORPUS, "label": [i % 2 for i in range(len(CORPUS))]}).select(rows)
    d = encode_dataset(mem, word_tok, 6)
    e = encode_list(word_tok, [CORPUS[i] for i in rows], [i % 2 for i in rows], 6)
    assert np.array_equal(d.ids, e.ids) and np.array_equal(d.offsets, e.offsets)
    assert np.array_equal(d.labels, e.labels)


def test_encoded_ids_are_int32_and_the_tokenizer_is_cached_by_fingerprint(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    from textcnn.data import tokenizer as tokmod
    from textcnn.data.tokenizer import encode_dataset

    csv = tmp_path / "d.csv"
    csv.write_text("text,label\n" + "\n".join(f'"{t}",{i % 2}' for i, t in enumerate(CORPUS)) + "\n")
    ds = datasets.load_dataset("csv", data_files=str(csv), split="train", cache_dir=str(tmp_path / "cache"))
    first, ids = train_tokenizer_cached(ds, TokenizerConfig(), 6)
    assert first.to_str() == train_tokenizer(CORPUS, TokenizerConfig()).to_str()
    # the ids of the training pass are the ones encoding gives, truncation included
    plain = encode_list(first, CORPUS, [i % 2 for i in range(len(CORPUS))], 6)
    assert all(np.array_equal(x, y) for x, y in zip(ids, (plain.ids, plain.offsets, plain.n_tokens), strict=True))
    written = encode_dataset(ds, first, 6, ids)  # written to the cache as they are
    assert written.ids.dtype == np.int32 and written.truncated == plain.truncated > 0
    assert np.array_equal(written.ids, plain.ids) and np.array_equal(written.offsets, plain.offsets)
    assert np.array_equal(written.labels, plain.labels)
    with monkeypatch.context() as m:  # a later run finds them in the cache: nothing is encoded again
        m.setattr(tokmod, "encode_flat", lambda *a, **k: pytest.fail("encoded again"))
        again = encode_dataset(ds, first, 6)
    assert np.array_equal(again.ids, plain.ids) and np.array_equal(again.offsets, plain.offsets)
    assert np.array_equal(again.labels, plain.labels) and again.truncated == plain.truncated
    monkeypatch.setattr(tokmod, "train_word_level", lambda *a, **k: pytest.fail("trained again"))
    again, no_ids = train_tokenizer_cached(ds, TokenizerConfig(), 6)
    assert again.to_str() == first.to_str() and no_ids is None  # read back
    with pytest.raises(pytest.fail.Exception):  # other settings: another key
        train_tokenizer_cached(ds, TokenizerConfig(lowercase=False))
    monkeypatch.setattr(tokmod, "WORD_PATTERN", tokmod.WORD_PATTERN + "|x")  # another word pattern: another key
    with pytest.raises(pytest.fail.Exception):
        train_tokenizer_cached(ds, TokenizerConfig())


def test_a_large_set_is_counted_in_parts_on_several_cores_with_the_same_result(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    from textcnn.data import tokenizer as tokmod

    csv = tmp_path / "d.csv"
    csv.write_text("text,label\n" + "\n".join(f'"{t}",{i % 2}' for i, t in enumerate(CORPUS * 7)) + "\n")
    ds = datasets.load_dataset("csv", data_files=str(csv), split="train", cache_dir=str(tmp_path / "cache"))
    ds = ds.select(range(3, len(ds)))  # an indices mapping, as a carved train split has
    monkeypatch.setattr(tokmod, "PARALLEL_BYTES", 0)
    assert len(tokmod._text_shards(ds, 3)) == 3 and len(tokmod._text_shards(ds, 1)) == 1
    assert [t for s in tokmod._text_shards(ds, 3) for t in s()] == ds["text"]  # pyarrow's gather, in order
    assert list(tokmod._texts_of(ds.select([5, 2, 9]), batch=2)) == [ds["text"][i] for i in (5, 2, 9)]

    class Opaque:  # a dataset whose Arrow layout is not the one known: read through `datasets` itself
        def __len__(self):
            return len(ds)

        def select(self, rows):
            return ds.select(rows)

    assert list(tokmod._texts_of(Opaque(), 4, 11, batch=3)) == ds["text"][4:11]
    tok, ids = tokmod.train_tokenizer_cached(ds, TokenizerConfig(), 6, workers=3)
    texts = ds["text"]
    assert tok.to_str() == train_tokenizer(texts, TokenizerConfig()).to_str()
    plain = encode_list(tok, texts, [0] * len(texts), 6)
    assert all(np.array_equal(x, y) for x, y in zip(ids, (plain.ids, plain.offsets, plain.n_tokens), strict=True))
    # another split of a new tokenizer: encoded in parts the same way, its counts unused
    in_parts = tokmod.encode_in_parts(ds, tok, 6, workers=2)
    assert all(np.array_equal(x, y) for x, y in zip(in_parts, ids, strict=True))
    assert tokmod.encode_in_parts(ds, tok, 6, workers=1) is None
    assert tokmod.encode_in_parts(ds, train_tokenizer(texts, TokenizerConfig(kind="bpe", vocab_size=60)), 6, 2) is None
    written = tokmod.encode_dataset(ds, tok, 6, ids)  # labels gathered by pyarrow, rows as selected
    assert written.labels.tolist() == ds["label"] and np.array_equal(written.ids, plain.ids)
    monkeypatch.setattr(tokmod, "encode_flat", lambda *a, **k: pytest.fail("encoded again"))
    again = tokmod.encode_dataset(ds, tok, 6)  # found where `datasets` looks for it
    assert again.labels.tolist() == ds["label"] and np.array_equal(again.ids, plain.ids)


def test_stats(word_tok):
    enc = encode_list(word_tok, CORPUS, [0] * len(CORPUS), 5)
    st = tokenizer_stats(word_tok, {"train": enc}, 5, ["A witty zebra"])
    s = st["splits"]["train"]
    assert s["examples"] == len(CORPUS)
    assert s["truncated"] == enc.truncated > 0
    full = [len(word_tok.encode(t).ids) for t in CORPUS]  # the texts' own lengths, not cut to max_length 5
    assert (s["length_max"], s["tokens"]) == (max(full), sum(full)) and max(full) > 5
    assert st["examples"][0]["tokens"] == ["a", "witty", "[UNK]"]


def test_gather_takes_rows_chunk_by_chunk_in_the_order_asked():
    pa = pytest.importorskip("pyarrow")
    from textcnn.data.tokenizer import gather

    column = pa.chunked_array([["a", "b", "c"], [], ["d"], ["e", "f"]])
    for rows in ([0, 1, 2, 3, 4, 5], [5, 0, 3, 3, 1], [4], [], [2, 3]):
        assert gather(column, np.array(rows, dtype=np.int64)).to_pylist() == [column[i].as_py() for i in rows]
