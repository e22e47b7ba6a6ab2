"""The Python word-level pass gives exactly the Rust tokenizer's ids and trains exactly its vocabulary."""

from __future__ import annotations

import glob
import os
import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, processors, trainers

from textcnn.config import TokenizerConfig
from textcnn.data import word_encoder
from textcnn.data.tokenizer import (
    SPECIALS,
    UNK,
    _normalizer,
    _pre_tokenizer,
    encode_flat,
    train_tokenizer,
    train_word_level,
)
from textcnn.data.word_encoder import MIN_TEXTS, SEP, WordEncoder

CORPUS = [
    "A gorgeous, witty film.",
    "It doesn't work; the plot's a mess!",
    "They'll love it -- I'm sure. We'd've gone",
    "the film is n't funny , ca n't stop",
    "Witty and gorgeous: the best film of the year.",
    "don't won't can't isn't aren't 'twas rock'n'roll O'Neil's",
    "A mess of a film, dull and long... 3.5/10 #meh @you_2",
    "Café crème brûlée — naïve",  # not ASCII: counted through the Rust pre-tokenizer
] * 3

# ASCII with every character class the pattern distinguishes, control characters and separators
# included, plus the added tokens' text, and some non-ASCII that must take the Rust path.
ALPHABET = st.sampled_from(
    list("abnstT'`\"-_.,;:!?/#()[]{}019 ") + ["\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x00", "\x7f"]
    + ["n't", "'s", "'ll", "'ve", "'re", "'d", "'m", "[PAD]", "[UNK]", "[pad]", "é", "ß", "İ", "\u00a0", "😀", "ﬁ"]
)  # fmt: skip
TEXTS = st.lists(st.lists(ALPHABET, max_size=30).map("".join), min_size=1, max_size=80)


def _rust_word_tokenizer(texts, cfg: TokenizerConfig) -> Tokenizer:
    """What textcnn trained before the Python pass: Hugging Face's own WordLevelTrainer."""
    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.normalizer = _normalizer(cfg.lowercase)
    tok.pre_tokenizer = _pre_tokenizer()
    trainer = trainers.WordLevelTrainer(
        vocab_size=cfg.vocab_size or 10_000_000, min_frequency=cfg.min_frequency, special_tokens=SPECIALS,
        show_progress=False,
    )  # fmt: skip
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


@pytest.fixture(scope="module", params=[True, False], ids=["lowercase", "cased"])
def tok(request):
    return train_tokenizer(CORPUS, TokenizerConfig(lowercase=request.param))


def _rows(flat: np.ndarray, offsets: np.ndarray) -> list[list[int]]:
    return [flat[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:], strict=True)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=TEXTS)
def test_python_pass_gives_the_rust_ids(tok, texts):
    words = WordEncoder.of(tok)
    assert words is not None
    flat, offsets = words.encode(texts)
    assert flat.dtype == np.int32 and offsets[0] == 0 and len(offsets) == len(texts) + 1
    assert _rows(flat, offsets) == [e.ids for e in tok.encode_batch(texts)]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=TEXTS, limit=st.integers(1, 40))
def test_long_batches_go_in_groups_of_characters_with_the_same_ids(tok, monkeypatch, texts, limit):
    monkeypatch.setattr(word_encoder, "CHUNK_CHARS", limit)
    words = WordEncoder.of(tok)
    assert _rows(*words.encode(texts)) == [e.ids for e in tok.encode_batch(texts)]
    rust = (w for t in texts for w, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(t)))
    assert word_encoder.count_words(texts, words.lowercase, tok) == Counter(rust)


def test_the_fast_path_and_the_mixed_path_are_both_taken(tok):
    words = WordEncoder.of(tok)
    plain = ["a witty film", "", "don't", "  "]
    assert all(words.takes(t) for t in plain)
    assert not any(words.takes(t) for t in ["café", "a [PAD] b", "x\x00y", "[UNK]"])
    assert words.takes("[unk]")  # the added tokens match the raw text only, as in Rust
    mixed = plain + ["Café crème", "a [PAD] b", "x\x00y"] + plain
    assert _rows(*words.encode(mixed)) == [e.ids for e in tok.encode_batch(mixed)]
    assert _rows(*words.encode([])) == []


def test_encode_flat_uses_the_pass_for_large_batches_with_the_same_result(tok):
    texts = (CORPUS * 10)[: MIN_TEXTS + 5]
    a = encode_flat(tok, texts, 6, WordEncoder.of(tok))
    b = encode_flat(tok, texts, 6)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)
    assert (a[2] > 6).any()  # truncation took place


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(TEXTS, min_size=2, max_size=6), limit=st.sampled_from([3, 1 << 19]))
def test_one_encoder_remembers_its_tokens_across_batches_with_the_same_ids(tok, monkeypatch, batches, limit):
    """The tokens learnt from earlier batches (or forgotten past the limit) never change later ids."""
    monkeypatch.setattr(word_encoder, "PIECES_LIMIT", limit)
    words = WordEncoder.of(tok)
    for texts in batches:
        assert _rows(*words.encode(texts)) == [e.ids for e in tok.encode_batch(texts)]


def test_an_encoder_forgets_its_tokens_past_the_limit(tok, monkeypatch):
    monkeypatch.setattr(word_encoder, "PIECES_LIMIT", 3)
    words = WordEncoder.of(tok)
    words.encode([f"w{i} x{i}" for i in range(20)])
    assert len(words.pieces[re.ASCII].types) == 41  # 40 words and the separator
    few = ["a film", "Film"]
    assert _rows(*words.encode(few)) == [e.ids for e in tok.encode_batch(few)]
    assert set(words.pieces[re.ASCII].types) == {b"a", b"film", b"\x00"} | (set() if words.lowercase else {b"Film"})


def test_one_encoder_shared_by_threads_gives_each_the_rust_ids(tok):
    import concurrent.futures

    words = WordEncoder.of(tok)
    batches = [[f"{t} {i} w{i * j}" for j, t in enumerate(CORPUS)] for i in range(40)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda b: _rows(*words.encode(b)), batches))
    assert got == [[e.ids for e in tok.encode_batch(b)] for b in batches]


def test_only_the_word_scheme_gets_an_encoder():
    assert WordEncoder.of(train_tokenizer(CORPUS, TokenizerConfig(kind="bpe", vocab_size=80))) is None
    tok = train_tokenizer(CORPUS, TokenizerConfig())
    tok.post_processor = processors.TemplateProcessing(single="[UNK] $A", special_tokens=[("[UNK]", 1)])
    assert WordEncoder.of(tok) is None  # a post-processor adds tokens the pass would not


CHINESE = ["我喜欢这部电影", "这部电影很无聊", "好看! 日本語のテキスト", "a witty 电影"] * 20


def test_cjk_characters_are_words_of_their_own():
    tok = train_tokenizer(CHINESE, TokenizerConfig())
    assert tok.encode("我喜欢这部电影").tokens == list("我喜欢这部电影")  # not one unknown word a sentence
    assert tok.encode("a witty 电影 漢").tokens == ["a", "witty", "电", "影", "[UNK]"]
    assert [w for w, _ in tok.pre_tokenizer.pre_tokenize_str("abc漢字def")] == ["abc", "漢", "字", "def"]
    words = WordEncoder.of(tok)
    assert words.defer == "" and _rows(*words.encode(CHINESE)) == [e.ids for e in tok.encode_batch(CHINESE)]


SOUTHEAST = ["หนังเรื่องนี้สนุกมาก ชอบมากๆ", "ชอบมาก a witty film", "ພາສາລາວ ດີຫຼາຍ", "ភាសាខ្មែរ ល្អណាស់",
             "မြန်မာစာ ကောင်းတယ်"] * 20  # fmt: skip


def test_thai_lao_khmer_and_myanmar_characters_are_words_of_their_own():
    """Written without spaces between words, as Chinese is: a run of such characters was one word a phrase,
    which almost never recurs; now each character (vowel signs and tone marks too) is a word."""
    tok = train_tokenizer(SOUTHEAST + CORPUS, TokenizerConfig())
    assert tok.encode("ชอบมาก a witty film").tokens == ["ช", "อ", "บ", "ม", "า", "ก", "a", "witty", "film"]
    assert tok.encode("สนุก").tokens == ["ส", "น", "ุ", "ก"]  # the vowel sign U+0E38 a word of its own
    assert tok.encode("ລາວ ខ្មែរ မြန်").tokens == list("ລາວខ្មែរမြန်")
    words = WordEncoder.of(tok)
    assert words.defer == ""
    texts = SOUTHEAST + CORPUS + ["ชอบมาก"] * 70  # a Thai text without marks: the Python pass takes it
    assert words.takes("film") and _rows(*words.encode(texts)) == [e.ids for e in tok.encode_batch(texts)]


def test_a_run_trained_before_thai_was_split_keeps_its_words_and_the_pass():
    """A tokenizer.json with the CJK-only pattern of 2026-11/12 (a run of Thai characters one word) still
    gets the Python pass; its texts holding Thai, Lao, Khmer or Myanmar take the Rust tokenizer."""
    import json

    tok = train_tokenizer(SOUTHEAST + CHINESE + CORPUS, TokenizerConfig())
    spec = json.loads(tok.to_str())
    spec["pre_tokenizer"]["pretokenizers"][1]["pattern"]["Regex"] = word_encoder.CJK_WORD_PATTERN
    spec["model"]["vocab"]["ชอบมาก"] = len(spec["model"]["vocab"])
    older = Tokenizer.from_str(json.dumps(spec))
    assert older.encode("ชอบมาก 电影").tokens == ["ชอบมาก", "电", "影"]
    words = WordEncoder.of(older)
    assert words is not None and words.defer == word_encoder.SOUTHEAST_ASIAN
    texts = SOUTHEAST + CHINESE + CORPUS + ["ชอบมาก"] * 70
    assert _rows(*words.encode(texts)) == [e.ids for e in older.encode_batch(texts)]


def test_a_run_trained_before_cjk_was_split_keeps_its_words_and_the_pass():
    """A tokenizer.json with the legacy pattern (a run of CJK characters one word) still gets the Python
    pass for other texts; its texts holding CJK take the Rust tokenizer, so every id is the run's own."""
    import json

    tok = train_tokenizer(CHINESE + CORPUS, TokenizerConfig())
    spec = json.loads(tok.to_str())
    spec["pre_tokenizer"]["pretokenizers"][1]["pattern"]["Regex"] = word_encoder.LEGACY_WORD_PATTERN
    spec["model"]["vocab"]["我喜欢这部电影"] = len(spec["model"]["vocab"])
    legacy = Tokenizer.from_str(json.dumps(spec))
    assert legacy.encode("我喜欢这部电影").tokens == ["我喜欢这部电影"]
    words = WordEncoder.of(legacy)
    assert words is not None and words.defer == word_encoder.SPLIT
    texts = CHINESE + CORPUS + SOUTHEAST
    assert _rows(*words.encode(texts)) == [e.ids for e in legacy.encode_batch(texts)]


@pytest.mark.parametrize(
    "cfg",
    [TokenizerConfig(), TokenizerConfig(lowercase=False, min_frequency=2), TokenizerConfig(vocab_size=9)],
    ids=["default", "cased-min2", "capped"],
)
def test_training_gives_the_rust_trainers_tokenizer(cfg):
    texts = CORPUS + ["b a c a b d e e e", "x y z z y [PAD] q q", None]
    ours = train_tokenizer(texts, cfg)
    theirs = _rust_word_tokenizer([t if isinstance(t, str) else "" for t in texts], cfg)
    assert ours.to_str() == theirs.to_str()


def test_the_separator_is_never_a_vocabulary_word(tok):
    assert SEP not in tok.get_vocab()


DATA = os.environ.get("TEXTCNN_DATA_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))


@pytest.mark.parametrize("name", ["mr", "trec", "sst5"])
def test_real_sets_train_and_encode_the_same(name):
    files = sorted(glob.glob(os.path.join(DATA, name, "**", "*.parquet"), recursive=True))
    if not files:
        pytest.skip(f"no local copy of {name} under {DATA}")
    import pyarrow.parquet as pq

    texts = []
    for f in files:
        table = pq.read_table(f)
        texts += table.column("text" if "text" in table.column_names else "sentence").to_pylist()
    cfg = TokenizerConfig()
    ours = train_tokenizer(texts, cfg)
    assert ours.to_str() == _rust_word_tokenizer(texts, cfg).to_str()
    rust = [e.ids for e in ours.encode_batch_fast(texts)]
    assert _rows(*WordEncoder.of(ours).encode(texts)) == rust
    one_pass, (flat, offsets, full) = train_word_level(texts, cfg, 40)
    assert one_pass.to_str() == ours.to_str()
    assert _rows(flat, offsets) == [ids[:40] for ids in rust] and full.tolist() == [len(ids) for ids in rust]


def test_find_words_is_the_word_pattern_on_every_short_string():
    """The faster pass (a tab before each "n't", the pattern without its lazy lookahead) finds exactly the
    pattern's words: every string of up to 6 of the characters its alternatives turn on."""
    import itertools
    import re

    full = re.compile(word_encoder.WORD_PATTERN, re.ASCII)
    chars = ["n", "'", "t", "d", "l", "s", " ", "\v"]
    checked = 0
    for n in range(7):
        for combo in itertools.product(chars, repeat=n):
            text = "".join(combo)
            assert word_encoder.find_words(text) == full.findall(text), repr(text)
            checked += 1
    assert checked == sum(len(chars) ** n for n in range(7))
    long = "They don't, we'lln't; 'dn't isn't n'tx 'lln't ain't\x00can't\nwon't " * 50
    assert word_encoder.find_words(long) == full.findall(long)
    wide = re.compile(word_encoder.WORD_PATTERN)  # and with CJK characters, in the Unicode pass
    for n in range(7):
        for combo in itertools.product(["n", "'", "t", "s", "中", "ก", " ", "\v"], repeat=n):
            text = "".join(combo)
            assert word_encoder.find_words(text, re.UNICODE) == wide.findall(text), repr(text)


# Characters where Python's Unicode classes, its NFKC or its lowercasing could part from Rust's: marks,
# connector punctuation, numbers, spaces, a final sigma, Turkish and Greek title case, ligatures,
# fullwidth forms, zero-width joiners, controls, CJK, scripts with vowel signs, and U+1078C (new in
# Unicode 14: Python NFKC maps it, the Rust tables do not know it).
TRICKY = list(
    "éßİıΣσςǅᾈﬁﬓ½²٣‿⁀＿Ａｂ１。、「」“”‘’—–…€£¥©®™°±×÷→√∞♥★😀👍🏽\u200d\u0301\u0307\u00a0\u2028\u2029\u3000\x85"
)
TRICKY += list("中文字한국어кириллицаΑΒΓक्षिअंग्रेज़ीالعربية") + list("ชอบมากๆสนุกที่ລາວຫຼខ្មែរမြန်")
UNICODE_TEXTS = st.lists(
    st.lists(st.one_of(ALPHABET, st.sampled_from(TRICKY), st.characters(exclude_categories=("Cs",))), max_size=25).map(
        "".join
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=UNICODE_TEXTS)
def test_non_ascii_texts_get_the_rust_words_and_ids(tok, texts):
    """Non-ASCII texts whose characters Python and Rust class alike take the Unicode regex pass; every
    word counted and every id must still be Rust's."""
    words = WordEncoder.of(tok)
    rust = (w for t in texts for w, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(t)))
    assert word_encoder.count_words(texts, words.lowercase, tok) == Counter(rust)
    assert _rows(*words.encode(texts)) == [e.ids for e in tok.encode_batch(texts)]


def test_the_unicode_pass_takes_letters_punctuation_and_symbols_only(tok):
    safe = word_encoder.safe_normalized
    assert safe("Café crème — naïve “quoted” ﬁne €5", True) == "café crème — naïve “quoted” fine €5"
    assert safe("Στο ΣΠΙΤΙ", True) is None  # a capital sigma: Python lowercases it by context
    assert safe("İstanbul", True) is None  # lowercases to i + a combining dot (a mark)
    assert safe("a\u0301 ½", False) == "á 1⁄2"  # NFKC composes and decomposes first, as Rust's does
    for text in ("x\u0301", "x‿y", "〇", "٣", "a\u2028b", "a\x85b", "a\x1cb", "👍🏽\u200d"):
        assert safe(text, False) is None, repr(text)
    words = WordEncoder.of(tok)
    mixed = ["Café crème — naïve"] * 3 + ["İstanbul", "plain ascii"]
    assert _rows(*words.encode(mixed)) == [e.ids for e in tok.encode_batch(mixed)]


@settings(max_examples=120, deadline=None)
@given(texts=UNICODE_TEXTS, max_length=st.integers(1, 8), lowercase=st.booleans(), limit=st.integers(1, 80))
def test_one_pass_trains_the_rust_vocabulary_and_gives_the_rust_ids(texts, max_length, lowercase, limit):
    """Counting and encoding in one pass (provisional ids mapped onto the vocabulary once it is cut) gives
    the Rust trainer's tokenizer and, for every text, the ids its encoder gives, truncated the same way:
    added tokens, separators and characters left to Rust included, over groups of any size."""
    cfg = TokenizerConfig(lowercase=lowercase)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(word_encoder, "CHUNK_CHARS", limit)
        mp.setattr(word_encoder._IdBlocks, "BLOCK", 5)  # Rust's ids placed across blocks and steps too
        mp.setattr(word_encoder._IdBlocks, "STEP", 3)
        tok, (flat, offsets, full) = train_word_level(texts, cfg, max_length)
    rust = _rust_word_tokenizer(texts, cfg)
    assert tok.to_str() == rust.to_str()
    enc = rust.encode_batch(texts)
    assert _rows(flat, offsets) == [e.ids[:max_length] for e in enc]
    assert full.tolist() == [len(e.ids) for e in enc]
    assert flat.dtype == np.int32 and offsets.dtype == np.int64


def test_one_pass_with_no_texts():
    tok, (flat, offsets, full) = train_word_level([], TokenizerConfig(), 5)
    assert tok.get_vocab() == {"[PAD]": 0, "[UNK]": 1}
    assert len(flat) == len(full) == 0 and offsets.tolist() == [0]


def test_shards_counted_in_other_processes_give_the_one_pass_result(caplog, monkeypatch):
    """Parts counted at the same time in forked processes, merged in order: the tokenizer and the ids of
    one pass, rows left to Rust included; a process that fails has its part counted here instead."""
    texts = CORPUS * 5 + ["x\x00y [PAD] z", "Στο ΣΠΙΤΙ", "only in the last part"] + CORPUS[:7]
    cfg = TokenizerConfig(lowercase=True)
    one = train_word_level(texts, cfg, 6)
    parts = [texts[:9], texts[9:9], texts[9:50], texts[50:]]
    parent = os.getpid()

    def part(p, fail=False):
        def texts_of():
            if fail and os.getpid() != parent:
                raise RuntimeError("a helper's failure")
            return iter(p)

        return texts_of

    for fail in (False, True):
        shards = [part(p, fail and i == 2) for i, p in enumerate(parts)]
        caplog.clear()
        tok, ids = train_word_level(None, cfg, 6, shards=shards)
        assert ("a helper's failure" in caplog.text) == fail  # then counted in this process
        assert tok.to_str() == one[0].to_str()
        assert all(np.array_equal(a, b) for a, b in zip(ids, one[1], strict=True))

    taken = word_encoder._IdBlocks.take

    def dies_sending(self):  # in a helper: the header went out, then the process ends mid-ids
        if os.getpid() != parent:
            raise RuntimeError("gone")
        return taken(self)

    monkeypatch.setattr(word_encoder._IdBlocks, "take", dies_sending)
    caplog.clear()
    tok, ids = train_word_level(None, cfg, 6, shards=[part(p) for p in parts])
    assert "stopped sending" in caplog.text
    assert tok.to_str() == one[0].to_str()
    assert all(np.array_equal(a, b) for a, b in zip(ids, one[1], strict=True))


def test_id_blocks_give_the_ids_back_in_order_and_release_them(monkeypatch):
    import mmap

    page = mmap.PAGESIZE // 4  # ids a page holds
    monkeypatch.setattr(word_encoder._IdBlocks, "BLOCK", 3 * page)
    monkeypatch.setattr(word_encoder._IdBlocks, "STEP", page)
    blocks = word_encoder._IdBlocks()
    blocks.append(np.arange(0, 5 * page, dtype=np.int32))  # two blocks
    helper = blocks.reserve(page + 1)
    helper[1][:] = np.arange(5 * page, 6 * page + 1)  # a helper's ids, read in place
    assert blocks.n == 5 * page  # not held until told
    blocks.hold(helper)
    blocks.hold(blocks.reserve(0))
    blocks.append(np.arange(6 * page + 1, 7 * page, dtype=np.int32))
    assert blocks.n == 7 * page
    steps = [s.copy() for s in blocks.take()]  # each step used before the next is asked for
    assert np.array_equal(np.concatenate(steps), np.arange(7 * page)) and blocks.n == 0
    assert max(len(s) for s in steps) == page


def test_shards_are_counted_in_one_process_off_linux(monkeypatch):
    texts = CORPUS * 3
    cfg = TokenizerConfig()
    monkeypatch.setattr(word_encoder.sys, "platform", "darwin")
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked"))
    tok, ids = train_word_level(None, cfg, 6, shards=[lambda: iter(texts[:10]), lambda: iter(texts[10:])])
    one = train_word_level(texts, cfg, 6)
    assert tok.to_str() == one[0].to_str()
    assert all(np.array_equal(a, b) for a, b in zip(ids, one[1], strict=True))
